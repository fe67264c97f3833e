"""Release gate and incident-response harness for AI systems.

Policies as code and regression evals judge a candidate model's outputs; the gate
decides promote, block or roll back, and reports what it decided and why.

The public names below are imported on first use, so that ``harness --version`` and
``harness --help`` start without loading the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "engine": ("Aggregate", "Evaluation", "PolicyOutcome", "Result", "evaluate"),
    "errors": ("ExitCode", "HarnessError", "InputError", "InputErrors", "Location"),
    "gate": ("Decision", "decide"),
    "loader": ("Project", "expired_waivers", "load_project"),
    "outputs": ("Outputs", "load_outputs", "records_from_dicts"),
    "records": ("EvalCase", "EvalSuite", "Finding", "OnFail", "OutputRecord", "Playbook", "Policy", "Rule",
                "Verdict", "Waiver"),
    "report": ("RunInfo", "build_report"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "Aggregate",
    "Decision",
    "EvalCase",
    "EvalSuite",
    "Evaluation",
    "ExitCode",
    "Finding",
    "HarnessError",
    "InputError",
    "InputErrors",
    "Location",
    "OnFail",
    "OutputRecord",
    "Outputs",
    "Playbook",
    "Policy",
    "PolicyOutcome",
    "Project",
    "Result",
    "Rule",
    "RunInfo",
    "Verdict",
    "Waiver",
    "__version__",
    "build_report",
    "decide",
    "evaluate",
    "expired_waivers",
    "load_outputs",
    "load_project",
    "records_from_dicts",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .engine import Aggregate, Evaluation, PolicyOutcome, Result, evaluate
    from .errors import ExitCode, HarnessError, InputError, InputErrors, Location
    from .gate import Decision, decide
    from .loader import Project, expired_waivers, load_project
    from .outputs import Outputs, load_outputs, records_from_dicts
    from .records import (
        EvalCase,
        EvalSuite,
        Finding,
        OnFail,
        OutputRecord,
        Playbook,
        Policy,
        Rule,
        Verdict,
        Waiver,
    )
    from .report import RunInfo, build_report
