"""The report: the one document every format renders (JSON contract: report.schema.json)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import __version__
from .engine import Evaluation
from .gate import Decision
from .loader import Project
from .outputs import Outputs
from .pii import mask_text


@dataclass(frozen=True)
class RunInfo:
    """What was run, on what, and when: filled in by the caller (CLI or library)."""

    kind: str  # gate | scan
    started_at: str
    finished_at: str
    model: str | None = None
    model_version: str | None = None


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    return round(float(value), 6)


def build_report(project: Project, outputs: Outputs, evaluation: Evaluation, decision: Decision,
                 run: RunInfo, baseline: Outputs | None = None) -> dict[str, Any]:
    """The report as plain data, exactly as ``--format json`` writes it."""
    model = run.model or outputs.most_common("model")
    version = run.model_version or outputs.most_common("model_version")
    outcomes = evaluation.outcomes
    return {
        "harness_version": __version__,
        "run": {
            "id": uuid.uuid4().hex,
            "kind": run.kind,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "model": model,
            "model_version": version,
            "outputs": {"path": outputs.path, "sha256": outputs.sha256, "records": len(outputs)},
            "baseline": None if baseline is None else
            {"path": baseline.path, "sha256": baseline.sha256, "records": len(baseline)},
            "playbook": None if project.playbook.source is None else
            {"path": project.playbook.source.path, "sha256": project.playbook.source.sha256},
            "policies": [{"id": pid, "version": version_, "sha256": src.sha256, "path": src.path}
                         for pid, version_, src in project.sources],
        },
        "verdict": decision.verdict.value,
        "reasons": list(decision.reasons),
        "summary": {
            "policies": len(outcomes),
            **{status: sum(o.status == status for o in outcomes)
               for status in ("pass", "fail", "waived", "error")},
            "results": len(evaluation.results),
        },
        "policies": [
            {"id": o.policy.id, "version": o.policy.version, "title": o.policy.title,
             "kind": o.policy.kind, "severity": o.policy.severity, "on_fail": o.policy.on_fail.value,
             "policy_status": o.policy.status, "status": o.status, "checked": o.checked,
             "failed": o.failed, "waived": o.waived, "errors": o.errors}
            for o in outcomes
        ],
        "results": [
            {"case_id": r.case_id, "policy": r.policy, "rule": r.rule, "status": r.status,
             "message": mask_text(r.message), "line": r.line, "waiver": r.waiver,
             "findings": [{"kind": f.kind, "start": f.start, "end": f.end, "masked": f.masked}
                          for f in r.findings]}
            for r in evaluation.results
        ],
        "aggregates": [
            {"policy": a.policy, "rule": a.rule, "check": a.check, "status": a.status,
             "message": mask_text(a.outcome.message), "value": _number(a.outcome.value),
             "threshold": _number(a.outcome.threshold), "details": _plain(a.outcome.details),
             "flipped": [case for case, _ in a.outcome.flipped], "waiver": a.waiver}
            for a in evaluation.aggregates
        ],
        "warnings": list(evaluation.warnings),
    }


def _plain(value: Any) -> Any:
    """Details as JSON-safe plain data (numpy numbers and the like become Python numbers)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
