"""Incident metrics for people and machines: a text table, JSON, or CSV (see :mod:`.metrics`)."""

from __future__ import annotations

import json
from typing import Any

from ..clock import format_timestamp
from ..errors import InputError
from ..model.playbook import format_duration
from .metrics import FORMATS, PLAYBOOK_SIGNER, Metrics, RateFigure, TimeFigure, _human, _seconds
from .register import to_csv


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _figure_line(figure: TimeFigure | RateFigure) -> tuple[str, str, str, str, str]:
    if isinstance(figure, RateFigure):
        sign = "<=" if figure.bound == "max" else ">="
        target = "-" if figure.target is None else f"{sign} {_percent(figure.target)}"
        value = f"{figure.numerator}/{figure.denominator} = {_percent(figure.value)}"
        state = "no data" if figure.value is None else "BREACHED" if figure.breached else "ok"
        return figure.name, "all", value, target, state
    value = f"median {_human(figure.median)}, p90 {_human(figure.p90)} (n={figure.count})" if figure.count else "-"
    limits = [f"<= {format_duration(figure.target)}"] if figure.target is not None else []
    if figure.share_target < 1.0:
        limits.append(f"{_percent(figure.share_target)} within")
    target = ", ".join(limits) or "-"
    if not figure.judged:
        state = f"not measured ({figure.not_measured})" if figure.not_measured else \
            "no target" if figure.count else "no data"
    else:
        state = f"{figure.within}/{figure.judged} within"
        if figure.overdue:
            state += f", {figure.overdue} overdue"
        if figure.not_measured:
            state += f", {figure.not_measured} not measured"
        state += ": BREACHED" if figure.breached else ": ok"
    return figure.name, figure.scope, value, target, state


#: the columns of ``--format csv``, one line a figure: durations in seconds, shares from 0 to 1
CSV_COLUMNS = ("figure", "scope", "count", "median_s", "p90_s", "target_s", "numerator", "denominator", "share",
               "share_target", "overdue", "not_measured", "breached")


def _csv_row(figure: TimeFigure | RateFigure) -> tuple[Any, ...]:
    if isinstance(figure, RateFigure):
        return (figure.name, "all", figure.denominator, None, None, None, figure.numerator, figure.denominator,
                figure.value, figure.target, None, None, figure.breached)
    return (figure.name, figure.scope, figure.count, _seconds(figure.median), _seconds(figure.p90),
            _seconds(figure.target), figure.within, figure.judged, figure.within_share, figure.share_target,
            figure.overdue, figure.not_measured, figure.breached)


def render_metrics(metrics: Metrics, fmt: str = "text") -> str:
    """The metrics as a ``text`` table, a ``json`` document or ``csv`` (one line a figure, :data:`CSV_COLUMNS`)."""
    if fmt == "json":
        return json.dumps(metrics.to_json(), indent=2, ensure_ascii=True) + "\n"
    if fmt == "csv":
        return to_csv(CSV_COLUMNS, (_csv_row(f) for f in metrics.figures()))
    lines = [_figure_line(f) for f in metrics.figures()]
    if fmt != "text":
        raise InputError(f"unknown metrics format {fmt!r}; expected one of: {', '.join(FORMATS)}")
    scope = f" detected since {metrics.since.isoformat()}" if metrics.since else ""
    out = [f"Incident metrics: {metrics.incidents} incident(s){scope}, computed at"
           f" {format_timestamp(metrics.computed_at)}", ""]
    header = ("figure", "scope", "value", "target", "status")
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    for row in [header, *lines]:
        out.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    follow = metrics.follow_ups
    out += ["", f"follow-ups: {follow['done']} done, {follow['dropped']} dropped, {follow['open']} open"
                f" ({follow['overdue']} overdue)"]
    if metrics.repeats:
        out.append("repeats: " + ", ".join(f"{a} repeats {b}" for a, b in sorted(metrics.repeats.items())))
    ind = metrics.indicators
    signoff = ind.playbook_signoff
    out += ["", "success indicators:",
            f"  zero open sev1:      {'yes' if ind.zero_open_sev1 else 'no (' + ', '.join(ind.open_sev1) + ')'}",
            f"  RCAs within SLA:     {'yes' if ind.rcas_within_sla else 'no'}",
            "  playbook signed off: " + (f"yes, by {signoff.by} ({signoff.role}) at {format_timestamp(signoff.at)}"
                                          if signoff else f"no valid {PLAYBOOK_SIGNER} sign-off of playbook.yaml")]
    out += [f"note: {note}" for note in metrics.notes]
    if metrics.breaches:
        out += ["", "off target: " + "; ".join(metrics.breaches)]
    return "\n".join(out) + "\n"
