"""Release gate and incident-response harness for AI systems.

Policies as code and regression evals judge a candidate model's outputs; the gate
decides promote, block or roll back, and reports what it decided and why.
"""

__version__ = "0.1.0"

from .engine import Aggregate, Evaluation, PolicyOutcome, Result, evaluate  # noqa: E402
from .errors import ExitCode, HarnessError, InputError, InputErrors, Location  # noqa: E402
from .gate import Decision, decide  # noqa: E402
from .loader import Project, expired_waivers, load_project  # noqa: E402
from .outputs import Outputs, load_outputs, records_from_dicts  # noqa: E402
from .records import (  # noqa: E402
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
from .report import RunInfo, build_report  # noqa: E402

__all__ = [
    "Aggregate", "Decision", "EvalCase", "EvalSuite", "Evaluation", "ExitCode", "Finding",
    "HarnessError", "InputError", "InputErrors", "Location", "OnFail", "OutputRecord", "Outputs",
    "Playbook", "Policy", "PolicyOutcome", "Project", "Result", "Rule", "RunInfo", "Verdict",
    "Waiver", "__version__", "build_report", "decide", "evaluate", "expired_waivers",
    "load_outputs", "load_project", "records_from_dicts",
]
