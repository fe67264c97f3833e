"""The audit report: build it from a repository, render it, write it where the caller asks.

``harness audit`` is a face over these functions:

    from harness.api.audit import build_audit_report, render_audit, write_audit
    report = build_audit_report(policies="policies", evals="evals", incidents="incidents")
    report.summary["chain"], report.to_json()
    write_audit(report, "audit-report.html", fmt="html")

Nothing here prints or exits. A repository that does not load is ``InputErrors`` (exit 4); a
decision log that cannot be read at all is an ``EnvError`` (exit 6); a broken hash chain, a
missing log, no git or no promoted release are findings of the report, never errors.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..audit import FORMATS, AuditReport, render
from ..audit.build import RECENT_DECISIONS, Sources, build_audit
from ..clock import SYSTEM_CLOCK, Clock
from ..errors import EnvError, InputError, Location

PathLike = str | Path


def build_audit_report(*, policies: PathLike = "policies", evals: PathLike | None = "evals",
                       incidents: PathLike = "incidents", decision_log: PathLike | None = None,
                       reports_dir: PathLike | None = None, today: dt.date | None = None,
                       recent: int = RECENT_DECISIONS, clock: Clock = SYSTEM_CLOCK) -> AuditReport:
    """The audit report of a repository, as of ``clock`` (its time is the report's; its date judges the waivers
    unless ``today`` is given).

    ``decision_log`` and ``reports_dir`` default to the playbook's ``release.decision_log`` and
    ``release.reports_dir``; ``recent`` is how many of the latest gate decisions are shown for each
    policy and suite of the traceability matrix.
    """
    from ..project import read_playbook

    if recent < 1:
        raise InputError(f"recent: expected at least 1 decision to show, got {recent}")
    release = read_playbook(policies).release
    sources = Sources(Path(policies), None if evals is None else Path(evals), Path(incidents),
                      Path(decision_log) if decision_log is not None else release.decision_log,
                      Path(reports_dir) if reports_dir is not None else release.reports_dir)
    return build_audit(sources, clock=clock, today=today, recent=recent)


def render_audit(report: AuditReport, fmt: str = "markdown") -> str:
    """The report as ``markdown``, ``html`` (one self-contained page) or ``json`` text."""
    return render(report, fmt)


def check_audit_path(path: PathLike, *, policies: PathLike = "policies", evals: PathLike | None = "evals",
                     incidents: PathLike = "incidents", decision_log: PathLike | None = None) -> None:
    """Refuse (``InputError``, exit 4) a path the report must not be written to, before anything is read.

    As for the gate's ``--output``: a path inside the policies, evals or incidents folders, the
    decision log and the files named after it (``.head``, ``.lock``), the registry's file, the
    rollback state and the stored reports.
    """
    from ..project import read_playbook
    from .reports import check_report_path

    settings = read_playbook(policies).release.with_overrides(
        decision_log=None if decision_log is None else Path(decision_log))
    check_report_path(path, settings=settings, policies=policies, evals=evals, incidents=incidents)


def write_audit(report: AuditReport, path: PathLike, *, fmt: str = "markdown") -> Path:
    """Render the report and write it atomically to ``path``, after :func:`check_audit_path` with the report's
    own sources. A write that fails is an ``EnvError`` (exit 6) naming the file."""
    from ..io.files import write_atomic

    repository = report.repository
    check_audit_path(path, policies=repository.policies, evals=repository.evals, incidents=repository.incidents,
                     decision_log=repository.decision_log)
    if fmt not in FORMATS:
        raise InputError(f"unknown audit format {fmt!r}; expected one of: {', '.join(FORMATS)}")
    content = render(report, fmt)
    try:
        write_atomic(Path(path), content)
    except OSError as exc:
        raise EnvError(f"cannot write the audit report: {exc.strerror or exc}", Location(file=str(path))) from None
    return Path(path)
