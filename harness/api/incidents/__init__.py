"""The incident workflow: one function per step, each recording a timestamped event with its actor.

    from harness.api import incidents
    desk = incidents.desk("incidents", policies="policies", evals="evals")
    opened = incidents.open_incident(desk, title="...", severity="sev1", model="m", model_version="1.2", by="me@x")
    incidents.contain(desk, opened.incident.id, action="disable-endpoint", by="me@x")

Every step reads the incident under its lock, checks the transitions table (a step out of
order is an ``InputError`` naming the missing step), runs what it runs (a containment hook,
a notice's delivery, the evidence copy) and appends its event; nothing is recorded when it
is refused. ``at`` back-fills the time of a step (never before the previous event, never in
the future). Nothing here prints or exits. :mod:`.desk` holds what every step shares,
:mod:`.opening` opening (by hand or from a report), :mod:`.steps` the other steps,
:mod:`.views` reading.
"""

from __future__ import annotations

from .desk import Desk, StepResult, desk
from .opening import failing_results, open_from, open_from_report, open_incident
from .steps import (
    add_evidence,
    classify,
    close,
    contain,
    escalate,
    notify,
    record_rca,
    remediate,
    reopen,
    review,
    rollback_refusal,
    sign_off,
    unsent_notices,
)
from .views import IncidentView, list_incidents, running_clocks, verify_evidence, view

__all__ = [
    "Desk",
    "IncidentView",
    "StepResult",
    "add_evidence",
    "classify",
    "close",
    "contain",
    "desk",
    "escalate",
    "failing_results",
    "list_incidents",
    "notify",
    "open_from",
    "open_from_report",
    "open_incident",
    "record_rca",
    "remediate",
    "reopen",
    "review",
    "rollback_refusal",
    "running_clocks",
    "sign_off",
    "unsent_notices",
    "verify_evidence",
    "view",
]
