"""``--format text``: the terminal summary (colour only when writing to a terminal)."""

from __future__ import annotations

import io
import shutil
from typing import Any

from ..engine import Evaluation
from ..text import printable
from . import reporter

MAX_RESULTS = 25
STYLES = {"promote": "bold green", "block": "bold red", "rollback": "bold magenta", "pass": "green",
          "fail": "red", "waived": "yellow", "error": "bold red"}


@reporter("text")
def render(report: dict[str, Any], evaluation: Evaluation, *, color: bool = False) -> str:
    from rich.console import Console
    from rich.markup import escape as escape_markup
    from rich.table import Table

    def escape(text: object) -> str:
        return escape_markup(printable(text))

    buffer = io.StringIO()
    width = shutil.get_terminal_size((120, 24)).columns if color else 120
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=width,
                      highlight=False, emoji=False, soft_wrap=False)
    run = report["run"]
    model = " ".join(filter(None, [run["model"], run["model_version"]])) or "unknown model"
    table = Table(title=f"harness {run['kind']} — {escape(model)} — {run['outputs']['records']} outputs",
                  title_justify="left", expand=False)
    for column in ("policy", "version", "sev", "on fail", "status", "checked", "failed", "waived"):
        table.add_column(column, justify="right" if column in ("checked", "failed", "waived") else "left")
    for p in report["policies"]:
        status = f"[{STYLES[p['status']]}]{p['status']}[/]"
        table.add_row(escape(p["id"]), escape(p["version"]), p["severity"], p["on_fail"], status,
                      str(p["checked"]), str(p["failed"]), str(p["waived"]))
    console.print(table)
    for a in report["aggregates"]:
        console.print(f"  [{STYLES[a['status']]}]{a['status']:>6}[/] {escape(a['policy'])} / "
                      f"{escape(a['rule'])}: {escape(a['message'])}")
    failing = [r for r in report["results"] if r["status"] != "waived"]
    if failing:
        console.print(f"\n[bold]Failures[/] ({len(failing)}):")
        for r in failing[:MAX_RESULTS]:
            findings = ", ".join(f"{f['kind']} {printable(f['masked'])}" if f["masked"] else f["kind"]
                                 for f in r["findings"][:3])
            where = f" (line {r['line']})" if r["line"] else ""
            console.print(f"  [{STYLES[r['status']]}]✗[/] {escape(r['case_id'])}{where} "
                          f"{escape(r['policy'])}/{escape(r['rule'])}: {escape(r['message'])}"
                          + (f" [dim]{escape(findings)}[/]" if findings else ""))
        if len(failing) > MAX_RESULTS:
            console.print(f"  … and {len(failing) - MAX_RESULTS} more (use --format json for all)")
    waived = sum(r["status"] == "waived" for r in report["results"])
    if waived:
        console.print(f"\n[yellow]{waived} waived result(s)[/]")
    for warning in report["warnings"]:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    verdict = f"[{STYLES[report['verdict']]}]{report['verdict'].upper()}[/]"
    if run["kind"] == "scan":
        console.print(f"\nScan: {len(failing)} failing result(s); as a gate these outputs would get {verdict}")
    else:
        console.print(f"\nVerdict: {verdict}")
    for reason in report["reasons"]:
        console.print(f"  {escape(reason)}")
    return buffer.getvalue()
