"""Incidents as records in ``incidents/INC-YYYY-NNNN.yaml``.

Today: checking that an incident exists and appending an event to its record (a rollback
documents itself there). The lifecycle, clocks, notices and metrics build on this package.
"""

from __future__ import annotations

from .store import INCIDENT_ID, append_event, check_incident, incident_path

__all__ = ["INCIDENT_ID", "append_event", "check_incident", "incident_path"]
