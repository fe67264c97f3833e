"""The typed, versioned report of a run, its audit store, and the renderers that read it."""

from __future__ import annotations

from .build import build_report
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
    RunInfo,
    ScopeReport,
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
    "RunInfo",
    "ScopeReport",
    "StoredReport",
    "Summary",
    "build_report",
    "freeze",
    "load_report",
    "render",
    "report_bytes",
    "store_report",
]
