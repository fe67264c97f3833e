"""``--format markdown``: a summary for pull requests and ``$GITHUB_STEP_SUMMARY``.

Untrusted text is escaped for the place it lands: a table cell (``|`` would end the
cell, ``<`` could open HTML) or a code span inside a cell (rendered literally, but a
``|`` still splits the row in GitHub's tables, so it is written ``\\|`` there too).
"""

from __future__ import annotations

from typing import Any

from ...text.normalize import printable
from ..model import PolicyReport, Report
from .terminal import selection_line

MAX_ROWS = 50
ICONS = {"promote": "✅", "block": "⛔", "rollback": "⏪", "pass": "✅", "fail": "❌", "waived": "⚠️",
         "error": "💥"}
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\\": "\\\\", "`": "\\`", "*": "\\*",
                          "_": "\\_", "[": "\\[", "]": "\\]", "|": "\\|", "#": "\\#", "~": "\\~",
                          "@": "&#64;"})  # no @mention from model output


def escape(text: Any) -> str:
    """Untrusted text made inert in a Markdown table cell and the HTML it may be rendered to."""
    return " ".join(printable(str(text)).translate(_ESCAPES).split())


def code(text: Any) -> str:
    """Untrusted text as a code span in a table cell: backticks cannot end it, ``|`` cannot split the row."""
    inner = " ".join(printable(str(text)).replace("`", "'").split()).replace("|", "\\|")
    return f"`{inner}`" if inner else "` `"


def failed_cell(policy: PolicyReport) -> str:
    """The failed count, saying so when run-level rules failed the policy (``0`` alone would mislead)."""
    if policy.run_failed:
        return f"{policy.failed} + run-level {', '.join(escape(r) for r in policy.run_failed)}"
    return str(policy.failed)


def _repeats(report: Report) -> str:
    """The phrase for repeated case ids in a scan (' its 3 case id(s) repeated on 5 more record(s),'), or ''."""
    files = (("its", report.run.outputs), ("the baseline's", report.run.baseline))
    return "".join(f" {what} {file.duplicates()}," for what, file in files if file is not None and file.duplicates())


def render(report: Report, *, color: bool = False, width: int | None = None) -> str:
    run, verdict = report.run, report.verdict.value
    model = " ".join(filter(None, [run.model, run.model_version])) or "unknown model"
    lines = [
        f"## {ICONS[verdict]} harness {run.kind}: **{verdict}** for {escape(model)}",
        "",
        f"{run.outputs.records} outputs from {code(run.outputs.path)} (sha256 `{run.outputs.sha256[:12]}`),"
        f"{_repeats(report)} {len(report.policies)} policies and suites.",
        "",
    ]
    if run.backdated:
        lines += [f"**Backdated:** judged as of {escape(run.judged_on)} (`--backdate`), not the day it ran.", ""]
    if run.selection is not None:
        lines += [f"**Partial:** {escape(selection_line(run.selection))}.", ""]
    if report.reasons:
        lines += ["**Decided by:**", *[f"- {escape(r)}" for r in report.reasons], ""]
    lines += ["| policy | version | severity | on fail | status | checked | failed | waived |",
              "|---|---|---|---|---|---:|---:|---:|"]
    for p in report.policies:
        lines.append(f"| {escape(p.id)} | {escape(p.version)} | {escape(p.severity)} | {p.on_fail} |"
                     f" {ICONS[p.status]} {p.status} | {p.checked} | {failed_cell(p)} | {p.waived} |")
    if report.aggregates:
        lines += ["", "| policy | run-level rule | status | result |", "|---|---|---|---|"]
        for a in report.aggregates:
            lines.append(f"| {escape(a.policy)} | {escape(a.rule)} ({escape(a.check)}) |"
                         f" {ICONS[a.status]} {a.status} | {escape(a.message)} |")
    failing = [r for r in report.results if r.status != "waived"]
    if failing:
        lines += ["", f"### Failures ({len(failing)})", "", "| case | policy | rule | message | findings |",
                  "|---|---|---|---|---|"]
        for r in failing[:MAX_ROWS]:
            findings = ", ".join(f"{escape(f.kind)} {code(f.masked)}" if f.masked else escape(f.kind)
                                 for f in r.findings[:3])
            lines.append(f"| {escape(r.case_id)} | {escape(r.policy)} | {escape(r.rule)} |"
                         f" {escape(r.message)} | {findings} |")
        if len(failing) > MAX_ROWS:
            lines.append(f"\n… and {len(failing) - MAX_ROWS} more in the JSON report.")
    waivers = sorted({r.waiver for r in report.results if r.status == "waived" and r.waiver})
    waived = sum(r.status == "waived" for r in report.results)
    if waived:
        lines += ["", f"Waived: {waived} result(s) under " + ", ".join(escape(w) for w in waivers) + "."]
    for warning in report.warnings:
        lines.append(f"\n> ⚠️ {escape(warning)}")
    return "\n".join(lines) + "\n"
