"""The library API: the one place where the stages are tied together.

The ``harness`` command and (next) the pytest plugin are thin faces over these
functions. Nothing here prints or exits; results are typed records, failures are
:class:`~harness.errors.HarnessError` subclasses that carry their exit code.

    from harness.api import run_gate
    result = run_gate("outputs.jsonl", baseline="baseline.jsonl")
    result.verdict, result.exit_code, result.report.to_json()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .audit import build_audit_report, check_audit_path, render_audit, write_audit
    from .github import step_outputs, write_step_outputs
    from .governance import check_since, policy_diff, policy_history
    from .judge import MAX_RESULTS, GateResult, Progress, Validation, load, run_gate, run_scan, schema, validate
    from .policy_tests import PolicyTestReport, run_policy_tests
    from .release import (
        AuditTrail,
        DecisionLog,
        ManualMove,
        RecordedRelease,
        RegistryView,
        connect,
        move_alias,
        read_decision_log,
        record_release,
        registry_view,
        release_settings,
        verify_audit_trail,
        verify_decision_log,
        verify_decision_log_signatures,
    )
    from .reports import append_summary, check_report_path, write_report
    from .rollback import (
        ReleaseOutcome,
        RollbackPlan,
        RollbackResponse,
        plan_rollback,
        release_verdict,
        respond_to_rollback,
        rollback_context,
        run_rollback,
    )

#: public name -> the module of this package that defines it; imported on first use, so that
#: ``from harness.api import incidents`` (the incident commands) does not load the gate's engine
_HOMES = {
    'AuditTrail': 'release',
    'DecisionLog': 'release',
    'GateResult': 'judge',
    'ManualMove': 'release',
    'PolicyTestReport': 'policy_tests',
    'Progress': 'judge',
    'RecordedRelease': 'release',
    'RegistryView': 'release',
    'ReleaseOutcome': 'rollback',
    'RollbackPlan': 'rollback',
    'RollbackResponse': 'rollback',
    'Validation': 'judge',
    'append_summary': 'reports',
    'build_audit_report': 'audit',
    'check_audit_path': 'audit',
    'check_report_path': 'reports',
    'check_since': 'governance',
    'connect': 'release',
    'load': 'judge',
    'move_alias': 'release',
    'plan_rollback': 'rollback',
    'policy_diff': 'governance',
    'policy_history': 'governance',
    'read_decision_log': 'release',
    'record_release': 'release',
    'registry_view': 'release',
    'release_settings': 'release',
    'release_verdict': 'rollback',
    'render_audit': 'audit',
    'respond_to_rollback': 'rollback',
    'rollback_context': 'rollback',
    'run_gate': 'judge',
    'run_policy_tests': 'policy_tests',
    'run_rollback': 'rollback',
    'run_scan': 'judge',
    'MAX_RESULTS': 'judge',
    'schema': 'judge',
    'step_outputs': 'github',
    'validate': 'judge',
    'verify_audit_trail': 'release',
    'verify_decision_log': 'release',
    'verify_decision_log_signatures': 'release',
    'write_audit': 'audit',
    'write_report': 'reports',
    'write_step_outputs': 'github',
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{home}", __name__), name)


__all__ = [
    "MAX_RESULTS",
    "AuditTrail",
    "DecisionLog",
    "GateResult",
    "ManualMove",
    "PolicyTestReport",
    "Progress",
    "RecordedRelease",
    "RegistryView",
    "ReleaseOutcome",
    "RollbackPlan",
    "RollbackResponse",
    "Validation",
    "append_summary",
    "build_audit_report",
    "check_audit_path",
    "check_report_path",
    "check_since",
    "connect",
    "load",
    "move_alias",
    "plan_rollback",
    "policy_diff",
    "policy_history",
    "read_decision_log",
    "record_release",
    "registry_view",
    "release_settings",
    "release_verdict",
    "render_audit",
    "respond_to_rollback",
    "rollback_context",
    "run_gate",
    "run_policy_tests",
    "run_rollback",
    "run_scan",
    "schema",
    "step_outputs",
    "validate",
    "verify_audit_trail",
    "verify_decision_log",
    "verify_decision_log_signatures",
    "write_audit",
    "write_report",
    "write_step_outputs",
]
