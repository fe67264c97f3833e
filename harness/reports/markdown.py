"""``--format markdown``: a summary for pull requests and ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

from typing import Any

from ..engine import Evaluation
from . import reporter

MAX_ROWS = 50
ICONS = {"promote": "✅", "block": "⛔", "rollback": "⏪", "pass": "✅", "fail": "❌", "waived": "⚠️",
         "error": "💥"}


def escape(text: Any) -> str:
    """Make untrusted text inert in Markdown and the HTML it may be rendered to."""
    value = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "\\`*_[]|#":
        value = value.replace(ch, "\\" + ch)
    return " ".join(value.split())


def code(text: Any) -> str:
    """Untrusted text as a Markdown code span: rendered literally, so only backticks and breaks matter."""
    return "`" + " ".join(str(text).replace("`", "'").split()) + "`"


@reporter("markdown")
def render(report: dict[str, Any], evaluation: Evaluation, *, color: bool = False) -> str:
    run = report["run"]
    verdict = report["verdict"]
    model = " ".join(filter(None, [run["model"], run["model_version"]])) or "unknown model"
    lines = [
        f"## {ICONS[verdict]} harness {run['kind']}: **{verdict}** for {escape(model)}",
        "",
        f"{run['outputs']['records']} outputs from `{escape(run['outputs']['path'])}`"
        f" (sha256 `{run['outputs']['sha256'][:12]}`), {len(report['policies'])} policies and suites.",
        "",
    ]
    if report["reasons"]:
        lines += ["**Decided by:**", *[f"- {escape(r)}" for r in report["reasons"]], ""]
    lines += ["| policy | version | severity | on fail | status | checked | failed | waived |",
              "|---|---|---|---|---|---:|---:|---:|"]
    for p in report["policies"]:
        lines.append(f"| {escape(p['id'])} | {escape(p['version'])} | {p['severity']} | {p['on_fail']} |"
                     f" {ICONS[p['status']]} {p['status']} | {p['checked']} | {p['failed']} | {p['waived']} |")
    if report["aggregates"]:
        lines += ["", "| policy | run-level rule | status | result |", "|---|---|---|---|"]
        for a in report["aggregates"]:
            lines.append(f"| {escape(a['policy'])} | {escape(a['rule'])} ({a['check']}) |"
                         f" {ICONS[a['status']]} {a['status']} | {escape(a['message'])} |")
    failing = [r for r in report["results"] if r["status"] != "waived"]
    if failing:
        lines += ["", f"### Failures ({len(failing)})", "", "| case | policy | rule | message | findings |",
                  "|---|---|---|---|---|"]
        for r in failing[:MAX_ROWS]:
            findings = ", ".join(f"{f['kind']} {code(f['masked'])}" if f["masked"] else f["kind"]
                                 for f in r["findings"][:3])
            lines.append(f"| {escape(r['case_id'])} | {escape(r['policy'])} | {escape(r['rule'])} |"
                         f" {escape(r['message'])} | {findings} |")
        if len(failing) > MAX_ROWS:
            lines.append(f"\n… and {len(failing) - MAX_ROWS} more in the JSON report.")
    waived = [r for r in report["results"] if r["status"] == "waived"]
    if waived:
        lines += ["", f"Waived: {len(waived)} result(s) under "
                  + ", ".join(sorted({escape(r['waiver']) for r in waived})) + "."]
    for warning in report["warnings"]:
        lines.append(f"\n> ⚠️ {escape(warning)}")
    return "\n".join(lines) + "\n"
