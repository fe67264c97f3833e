"""Reading incidents: one with its clocks and what is due next, the list, every running clock, the vault's check."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ...incidents.clocks import IncidentClock, incident_clocks, next_due
from ...incidents.lifecycle import State
from ...incidents.model import Incident
from .desk import Desk


@dataclass(frozen=True)
class IncidentView:
    """An incident with its clocks as of now."""

    incident: Incident
    clocks: tuple[IncidentClock, ...]
    now: dt.datetime
    referenced_by: tuple[str, ...] = ()

    @property
    def next_due(self) -> IncidentClock | None:
        return next_due(list(self.clocks))

    def to_json(self) -> dict[str, Any]:
        nxt = self.next_due
        return {**self.incident.to_json(), "referenced_by": list(self.referenced_by),
                "clocks": [c.to_json(self.now) for c in self.clocks],
                "next_due": nxt.to_json(self.now) if nxt else None}


def view(desk: Desk, incident: Incident | str) -> IncidentView:
    """An incident (or its id) with its clocks."""
    current = desk.store.load(incident) if isinstance(incident, str) else incident
    refs = desk.references.get(current.id, ())
    return IncidentView(current, tuple(incident_clocks(current, desk.playbook, referenced=bool(refs))),
                        desk.clock.now(), refs)


def list_incidents(desk: Desk, *, open_only: bool = False, severity: str | None = None) -> list[IncidentView]:
    """Every incident (or the open ones, or one severity's), with clocks; ``InputErrors`` if a record is broken."""
    from ...errors import InputErrors

    found, problems = desk.store.load_all()
    InputErrors.raise_if_any(problems)
    if severity is not None:
        desk.severity(severity)
    return [view(desk, i) for i in found
            if (not open_only or i.state is not State.CLOSED) and (severity is None or i.severity == severity)]


def running_clocks(desk: Desk) -> list[tuple[IncidentView, IncidentClock]]:
    """Every running (or overdue) clock of every open incident, nearest deadline first."""
    out = [(v, c) for v in list_incidents(desk, open_only=True) for c in v.clocks if c.running]
    out.sort(key=lambda pair: pair[1].due_at)
    return out


def verify_evidence(desk: Desk, incident: str) -> tuple[list[str], list[str]]:
    """Re-hash the incident's vault: the problems (an empty list: intact), and notes: intact files left writable,
    files no event names (a copy left by an interrupted ``evidence add``)."""
    from ...incidents.evidence import strays, verify, writable

    current = desk.store.load(incident)
    vault = desk.store.vault(incident)
    return verify(current, vault), [*writable(current, vault), *strays(current, vault)]
