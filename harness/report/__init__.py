"""The typed, versioned report of a run, its audit store, and the renderers that read it.

Reading a report needs only :mod:`.model`: ``from harness.report import Report, render`` does not
load the engine. ``build_report`` (which reads an evaluation) is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .model import (
    REPORT_VERSION,
    AggregateReport,
    FileRef,
    FindingReport,
    OutputsFile,
    PolicyFile,
    PolicyReport,
    Report,
    ResultReport,
    RuleReport,
    RunInfo,
    ScopeReport,
    SelectionReport,
    Summary,
    freeze,
)
from .renderers import REPORTERS, render
from .store import StoredReport, load_report, report_bytes, store_report

__all__ = [
    "REPORTERS",
    "REPORT_VERSION",
    "AggregateReport",
    "FileRef",
    "FindingReport",
    "OutputsFile",
    "PolicyFile",
    "PolicyReport",
    "Report",
    "ResultReport",
    "RuleReport",
    "RunInfo",
    "ScopeReport",
    "SelectionReport",
    "StoredReport",
    "Summary",
    "build_report",
    "freeze",
    "load_report",
    "render",
    "report_bytes",
    "store_report",
]


def __getattr__(name: str) -> Any:
    if name == "build_report":
        from .build import build_report

        return build_report
    raise AttributeError(f"module 'harness.report' has no attribute {name!r}")


if TYPE_CHECKING:
    from .build import build_report
