"""``--format text``: the summary for people (colour only when asked; wrapped only on a terminal)."""

from __future__ import annotations

import io

from ...text.normalize import one_line
from ..model import Report, ResultReport, SelectionReport

MAX_RESULTS = 25
STYLES = {"promote": "bold green", "block": "bold red", "rollback": "bold magenta", "pass": "green",
          "fail": "red", "waived": "yellow", "error": "bold red"}
#: the width used when not writing to a terminal: wide enough that no line is wrapped mid-message
UNWRAPPED = 100_000


def _escape(text: object) -> str:
    from rich.markup import escape as escape_markup

    # no line break in a value can forge a line ("Verdict: PROMOTE"); the "a]" makes a trailing "[" or "[/" of this
    # value escaped too, which would otherwise make a tag with what follows it ("[" then "/" + "]": "[/]")
    escaped = escape_markup(one_line(text) + "a]")[:-2]
    return escaped + "\\" if escaped.endswith("\\") and not escaped.endswith("\\\\") else escaped


def selection_line(selection: SelectionReport) -> str:
    """A partial run in words: the patterns, what ran, and that it cannot promote."""
    asked = " ".join([*(f"--select {p}" for p in selection.select), *(f"--deselect {p}" for p in selection.deselect)])
    ran = [*selection.policies, *(f"eval:{s}" for s in selection.suites)]
    return (f"only {len(ran)} of the policies and suites ran ({asked}): {', '.join(ran)}; a partial gate cannot"
            " promote")


def _findings(result: ResultReport) -> str:
    """The masked excerpts of a result's findings (kinds alone add nothing to the message)."""
    excerpts = [f for f in result.findings if f.masked]
    shown = [f"{f.kind} {one_line(f.masked)}" for f in excerpts[:3]]
    more = len(excerpts) - len(shown)
    return ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")


def render(report: Report, *, color: bool = False, width: int | None = None) -> str:
    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=width or UNWRAPPED,
                      highlight=False, emoji=False, soft_wrap=width is None)
    run = report.run
    model = " ".join(filter(None, [run.model, run.model_version])) or "unknown model"
    repeats = "; ".join(f"{what}: {file.duplicates()}" for what, file in (("outputs", run.outputs),
                                                                         ("baseline", run.baseline))
                        if file is not None and file.duplicate_records)
    table = Table(title=f"harness {run.kind} — {_escape(model)} — {run.outputs.records} outputs"
                  + (f" ({repeats})" if repeats else ""), title_justify="left", expand=False)
    for column in ("policy", "version", "sev", "on fail", "status", "checked", "failed", "waived"):
        table.add_column(column, justify="right" if column in ("checked", "failed", "waived") else "left")
    for p in report.policies:
        failed = str(p.failed) + (f" + run-level {', '.join(map(_escape, p.run_failed))}" if p.run_failed else "")
        table.add_row(_escape(p.id), _escape(p.version), _escape(p.severity), p.on_fail,
                      f"[{STYLES[p.status]}]{p.status}[/]", str(p.checked), failed, str(p.waived))
    console.print(table, soft_wrap=False, width=width or 200)
    if run.backdated:
        console.print(f"[bold yellow]backdated:[/] judged as of {_escape(run.judged_on)} (--backdate),"
                      " not the day it ran")
    if run.selection is not None:
        console.print(f"[bold yellow]partial:[/] {_escape(selection_line(run.selection))}")
    for a in report.aggregates:
        console.print(f"  [{STYLES[a.status]}]{a.status:>6}[/] {_escape(a.policy)} / {_escape(a.rule)}:"
                      f" {_escape(a.message)}")
    failing = [r for r in report.results if r.status != "waived"]
    if failing:
        console.print(f"\n[bold]Failures[/] ({len(failing)}):")
        for r in failing[:MAX_RESULTS]:
            where = f" (line {r.line})" if r.line else ""
            findings = _findings(r)
            console.print(f"  [{STYLES[r.status]}]✗[/] {_escape(r.case_id)}{where} {_escape(r.policy)}/"
                          f"{_escape(r.rule)}: {_escape(r.message)}"
                          + (f" [dim]— found: {_escape(findings)}[/]" if findings else ""))
        if len(failing) > MAX_RESULTS:
            console.print(f"  … and {len(failing) - MAX_RESULTS} more (use --format json for all)")
    waived = sum(r.status == "waived" for r in report.results)
    if waived:
        console.print(f"\n[yellow]{waived} waived result(s)[/]")
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {_escape(warning)}")
    verdict = f"[{STYLES[report.verdict.value]}]{report.verdict.value.upper()}[/]"
    if run.kind == "scan":
        console.print(f"\nScan: {len(failing)} failing result(s); as a gate these outputs would get {verdict}")
    else:
        console.print(f"\nVerdict: {verdict}")
    for reason in report.reasons:
        console.print(f"  {_escape(reason)}")
    return buffer.getvalue()
