"""Incidents as records: the response lifecycle, its clocks, containment, notices, RCA, review and metrics.

``incidents/INC-YYYY-NNNN.yaml`` is what people write (commands never rewrite it);
``INC-YYYY-NNNN.events.jsonl`` is what the workflow commands append; ``evidence/INC-…/``
the content-addressed vault. :mod:`.lifecycle` is the transitions table, :mod:`.model` the
state the events add up to, :mod:`.store` the locked, atomic reading and writing.
"""

from __future__ import annotations

from .lifecycle import TRANSITIONS, State
from .model import ROOT_CAUSE_TYPES, Event, FollowUp, Incident, Record, fold
from .store import INCIDENT_ID, IncidentStore, Transaction, append_event, check_id, check_incident, incident_path

__all__ = [
    "INCIDENT_ID",
    "ROOT_CAUSE_TYPES",
    "TRANSITIONS",
    "Event",
    "FollowUp",
    "Incident",
    "IncidentStore",
    "Record",
    "State",
    "Transaction",
    "append_event",
    "check_id",
    "check_incident",
    "fold",
    "incident_path",
]
