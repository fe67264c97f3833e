"""Opening an incident: by hand, or drafted from a failed gate or scan (``--from-report``, ``--open-incident``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...clock import format_timestamp
from ...errors import InputError
from .desk import LIVE, Desk, PathLike, StepResult, parse_flags
from .steps import add_evidence, escalate

#: the largest report ``--from-report`` reads (a report of a million failing results is about this size)
MAX_REPORT_BYTES = 512 * 1024 * 1024
#: the schema line every record opened by the harness starts with
HEADER = "# yaml-language-server: $schema=../harness/schemas/incident.schema.json\n"


def open_incident(desk: Desk, *, title: str, severity: str, model: str, model_version: str, by: str,
                  at: dt.datetime | None = None, became_aware: dt.datetime | None = None, summary: str | None = None,
                  category: str | None = None, endpoint: str | None = None, flags: Iterable[str] = (),
                  failing_policies: Sequence[str] = (), source: Mapping[str, Any] | None = None,
                  versions: Mapping[str, Any] | None = None, evidence: Sequence[Path] = (),
                  evidence_label: str | None = None) -> StepResult:
    """Open the next free ``INC-YYYY-NNNN`` (detected at ``at`` or now); a severity in
    ``notices.escalate_on_open`` tells the ``escalate_to`` roles at once (recorded as notices).
    """
    desk.severity(severity)
    desk.check_at(at)
    desk.check_at(became_aware)
    detected = at or desk.clock.now()
    if evidence:
        from ...incidents.evidence import check_sources

        check_sources(evidence)  # refused before anything is recorded
    record: dict[str, Any] = {"title": title, "summary": summary, "severity": severity, "category": category,
                              "detected": format_timestamp(detected),
                              "became_aware": format_timestamp(became_aware) if became_aware else None,
                              "reported_by": by, "model": model, "model_version": model_version,
                              "endpoint": endpoint, "versions": dict(versions) if versions else None,
                              "flags": parse_flags(flags) or None,
                              "failing_policies": list(failing_policies) or None,
                              "source": dict(source) if source else None}
    incident = desk.store.create({k: v for k, v in record.items() if v is not None}, header=HEADER)
    step = StepResult(incident, (f"opened {incident.id} ({severity}): {title}", f"record: {incident.record.path}"))
    if evidence:
        step = step.then(add_evidence(desk, incident.id, evidence, by=by, at=detected, label=evidence_label))
    if severity in desk.playbook.notices.escalate_on_open:
        if at is not None and at < desk.clock.now() - LIVE:  # back-filled: the escalation was done back then
            step = dataclasses.replace(step, said=(*step.said, f"{incident.id}: opened back-filled, so nobody was told"
                                                   " now; record the escalation made then with incident notify"
                                                   " --audience escalation --by-hand --at TIME"))
        else:
            step = step.then(escalate(desk, incident.id, by=by, roles=desk.playbook.notices.escalate_to))
    return step


def open_from_report(desk: Desk, report: PathLike, *, by: str, at: dt.datetime | None = None,
                     title: str | None = None, severity: str | None = None, flags: Iterable[str] = ()) -> StepResult:
    """Draft an incident from a failed gate or scan report (its JSON): the severity of the most severe failing
    policy, the model and version of the run, and the failing results, masked as in the report, as evidence.
    """
    from ...io.files import sha256_file
    from ...report.model import Report

    path = Path(report)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InputError(f"--from-report {path}: not a regular file (a FIFO, a device or a folder)")
            if info.st_size > MAX_REPORT_BYTES:
                raise InputError(f"--from-report {path}: larger than {MAX_REPORT_BYTES >> 20} MiB; open the incident"
                                 " by hand and add the report with incident evidence add")
            data = handle.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"--from-report {path}: cannot read: {exc.strerror}") from None
    try:
        parsed = Report.from_json(data)
    except (ValueError, InputError) as exc:
        raise InputError(f"--from-report {path}: not a harness JSON report ({exc})") from None
    return open_from(desk, parsed, path=path, sha256=sha256_file(path), by=by, at=at, title=title,
                     severity=severity, flags=flags)


def failing_results(report: Any) -> dict[str, Any]:
    """What failed in a report, as a JSON-ready document: the run, the verdict, the failing policies, every
    non-passing result and aggregate (masked, as the report holds them)."""
    data = report.to_dict()
    return {
        "run": {"id": report.run.id, "kind": report.run.kind, "model": report.run.model,
                "model_version": report.run.model_version, "outputs": report.run.outputs.path,
                "outputs_sha256": report.run.outputs.sha256},
        "verdict": report.verdict.value,
        "policies": [{"id": p.id, "version": p.version, "severity": p.severity, "status": p.status,
                      "failed": p.failed} for p in report.policies if p.status in ("fail", "error")],
        "results": data["results"],
        "aggregates": [a for a in data["aggregates"] if a["status"] != "pass"],
    }


def open_from(desk: Desk, report: Any, *, path: Path | None, sha256: str | None, by: str,
              at: dt.datetime | None = None, title: str | None = None, severity: str | None = None,
              flags: Iterable[str] = ()) -> StepResult:
    """:func:`open_from_report` for a :class:`~harness.report.model.Report` in memory (``gate --open-incident``).

    A failing policy whose severity the playbook does not know counts as the most severe (fail closed).
    """
    failing = [p for p in report.policies if p.status in ("fail", "error")]
    if not failing:
        raise InputError(f"{path or 'the report'}: no policy failed (verdict {report.verdict.value}); nothing to open"
                         " an incident for")
    order = list(desk.playbook.severities)
    rank = {name: i for i, name in enumerate(order)}
    worst = min(failing, key=lambda p: rank.get(p.severity, -1))
    chosen = severity or (worst.severity if worst.severity in rank else order[0])
    run = report.run
    if not run.model or not run.model_version:
        raise InputError(f"{path or 'the report'}: the run names no model or model version; give --model and"
                         " --model-version to the gate, or open the incident by hand")
    names = ", ".join(p.id for p in failing[:3]) + (f" and {len(failing) - 3} more" if len(failing) > 3 else "")
    source: dict[str, Any] = {"kind": run.kind if run.kind in ("gate", "scan") else "manual", "run_id": run.id,
                              "verdict": report.verdict.value}
    if path is not None:
        source["report"] = str(path)
    if sha256:
        source["sha256"] = sha256
    with tempfile.TemporaryDirectory(prefix="harness-incident-") as tmp:
        results = Path(tmp) / f"failing-results-{run.id}.json"
        results.write_text(json.dumps(failing_results(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        evidence = [results]
        if path is None:  # a report in memory (gate --open-incident): kept as evidence too
            from ...io.files import sha256_file

            whole = Path(tmp) / f"report-{run.id}.json"
            whole.write_text(report.to_json(), encoding="utf-8")
            source["sha256"] = sha256_file(whole)
            evidence.append(whole)
        step = open_incident(
            desk, title=title or f"{run.kind} verdict {report.verdict.value} on {run.model} {run.model_version}:"
                                 f" {names} failed",
            severity=chosen, model=run.model, model_version=run.model_version, by=by, at=at, flags=flags,
            summary=f"{len(report.results)} failing results; reasons: " + "; ".join(report.reasons)[:2000],
            failing_policies=[p.id for p in failing], source=source,
            versions={"policies": {p.id: p.version for p in run.policies}}, evidence=evidence,
            evidence_label=f"{run.kind} run {run.id}")
    if path is not None:
        step = step.then(add_evidence(desk, step.incident.id, [path], by=by, at=at))
    return step
