"""The domain records: frozen, typed, built only from schema-checked data.

Policies and rules, eval suites and cases, model outputs, findings, waivers, the
playbook and the verdict. Once loaded nothing mutates them; a new state is a new record.
"""

from __future__ import annotations

from .finding import MASK_MODES, Finding
from .output import OutputRecord, Outputs
from .playbook import (
    DEFAULT_PLAYBOOK,
    ContainmentAction,
    HealthCheck,
    Hook,
    LifecycleRules,
    NoticeSettings,
    NotifierSpec,
    Playbook,
    RegulatoryClock,
    ReleaseSettings,
    ReviewFollowUp,
    Severity,
    format_duration,
    parse_duration,
)
from .policy import Example, MaxFailures, OnFail, Policy, Rule, Scope, Source
from .suite import EvalCase, EvalSuite
from .verdict import Verdict
from .waiver import Waiver

__all__ = [
    "DEFAULT_PLAYBOOK",
    "MASK_MODES",
    "ContainmentAction",
    "EvalCase",
    "EvalSuite",
    "Example",
    "Finding",
    "HealthCheck",
    "Hook",
    "LifecycleRules",
    "MaxFailures",
    "NoticeSettings",
    "NotifierSpec",
    "OnFail",
    "OutputRecord",
    "Outputs",
    "Playbook",
    "Policy",
    "RegulatoryClock",
    "ReleaseSettings",
    "ReviewFollowUp",
    "Rule",
    "Scope",
    "Severity",
    "Source",
    "Verdict",
    "Waiver",
    "format_duration",
    "parse_duration",
]
