"""Release gate and incident-response harness for AI systems.

Policies as code and regression evals judge a candidate model's outputs; the gate
decides promote, block or roll back, and reports what it decided and why. The library
API is :mod:`harness.api` (``run_gate``, ``run_scan``, ``validate``, ``record_release``,
``run_rollback``...); the ``harness`` command is a thin face over it.

The public names below are imported on first use, so that ``harness --version`` and
``harness --help`` start without loading the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS = {
    "api": ("GateResult", "Validation", "move_alias", "plan_rollback", "record_release", "rollback_context",
            "run_gate", "run_rollback", "run_scan", "validate"),
    "checks": ("CHECKS", "Check", "RunOutcome", "RunView", "check"),
    "clock": ("Clock", "FixedClock", "SystemClock"),
    "errors": ("EnvError", "ExitCode", "HarnessError", "InputError", "InputErrors", "Location"),
    "evaluation": ("Aggregate", "Evaluation", "PolicyOutcome", "Result", "evaluate"),
    "gate": ("Decision", "decide"),
    "model": ("EvalCase", "EvalSuite", "Finding", "MaxFailures", "OnFail", "OutputRecord", "Outputs", "Playbook",
              "Policy", "Rule", "Verdict", "Waiver"),
    "outputs": ("load_outputs", "records_from_dicts"),
    "project": ("Project", "expired_waivers", "load_project"),
    "report": ("Report", "build_report", "render"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "CHECKS",
    "Aggregate",
    "Check",
    "Clock",
    "Decision",
    "EnvError",
    "EvalCase",
    "EvalSuite",
    "Evaluation",
    "ExitCode",
    "Finding",
    "FixedClock",
    "GateResult",
    "HarnessError",
    "InputError",
    "InputErrors",
    "Location",
    "MaxFailures",
    "OnFail",
    "OutputRecord",
    "Outputs",
    "Playbook",
    "Policy",
    "PolicyOutcome",
    "Project",
    "Report",
    "Result",
    "Rule",
    "RunOutcome",
    "RunView",
    "SystemClock",
    "Validation",
    "Verdict",
    "Waiver",
    "__version__",
    "build_report",
    "check",
    "decide",
    "evaluate",
    "expired_waivers",
    "load_outputs",
    "load_project",
    "move_alias",
    "plan_rollback",
    "record_release",
    "records_from_dicts",
    "render",
    "rollback_context",
    "run_gate",
    "run_rollback",
    "run_scan",
    "validate",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .api import (
        GateResult,
        Validation,
        move_alias,
        plan_rollback,
        record_release,
        rollback_context,
        run_gate,
        run_rollback,
        run_scan,
        validate,
    )
    from .checks import CHECKS, Check, RunOutcome, RunView, check
    from .clock import Clock, FixedClock, SystemClock
    from .errors import EnvError, ExitCode, HarnessError, InputError, InputErrors, Location
    from .evaluation import Aggregate, Evaluation, PolicyOutcome, Result, evaluate
    from .gate import Decision, decide
    from .model import (
        EvalCase,
        EvalSuite,
        Finding,
        MaxFailures,
        OnFail,
        OutputRecord,
        Outputs,
        Playbook,
        Policy,
        Rule,
        Verdict,
        Waiver,
    )
    from .outputs import load_outputs, records_from_dicts
    from .project import Project, expired_waivers, load_project
    from .report import Report, build_report, render
