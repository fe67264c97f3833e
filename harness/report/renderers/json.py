"""``--format json``: the report exactly as ``report.schema.json`` describes it (``Report.to_json``)."""

from __future__ import annotations

from ..model import Report


def render(report: Report, *, color: bool = False, width: int | None = None) -> str:
    return report.to_json()
