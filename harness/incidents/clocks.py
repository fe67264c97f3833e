"""The clocks of an incident: every deadline the playbook sets, counted from the times it names.

- the severity's SLAs (``severities.<sev>.sla``): ``contain`` and ``rca`` and ``fix`` from
  detection, stopped by the first containment (an action that stops the harm, or a rollback),
  the first RCA and the resolution;
- the review (``review_within``) from the resolution, stopped by the review;
- the policy update (``metrics.policy_update_lag``) from the review, met once a policy
  (``lessons_from``) or eval suite (``from_incident``) of the repository references the incident;
- the notices: each regulatory clock whose condition the incident's flags meet (from the
  moment the team became aware), and the internal notice; stopped by a notice that was sent.

A clock is met when it stopped at or before its deadline (exactly on time is on time),
breached when it stopped after it, running while time is left and overdue once it is past.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..clock import format_timestamp
from ..model.playbook import Playbook, format_duration, parse_duration
from .model import Incident

#: the SLA clocks a severity may set, and what each is stopped by
SLA_CLOCKS = {"contain": "containment", "rca": "root-cause analysis", "fix": "resolution"}


@dataclass(frozen=True)
class IncidentClock:
    """One deadline of one incident."""

    incident: str
    #: contain | rca | fix | review | policy_update | notice:<clock id>
    name: str
    description: str
    started_at: dt.datetime
    due_at: dt.datetime
    stopped_at: dt.datetime | None = None
    #: for clocks met without a moment (the policy update): whether the condition holds now
    satisfied: bool = False

    @property
    def allowed(self) -> dt.timedelta:
        return self.due_at - self.started_at

    def status(self, now: dt.datetime) -> str:
        """``met``, ``breached``, ``running`` or ``overdue``."""
        if self.stopped_at is not None:
            return "met" if self.stopped_at <= self.due_at else "breached"
        if self.satisfied:
            return "met"
        return "running" if now <= self.due_at else "overdue"

    def left(self, now: dt.datetime) -> dt.timedelta:
        """Time left until the deadline (negative once overdue)."""
        return self.due_at - now

    @property
    def running(self) -> bool:
        return self.stopped_at is None and not self.satisfied

    def to_json(self, now: dt.datetime) -> dict[str, Any]:
        out: dict[str, Any] = {
            "incident": self.incident, "clock": self.name, "description": self.description,
            "started_at": format_timestamp(self.started_at), "due_at": format_timestamp(self.due_at),
            "allowed": format_duration(self.allowed), "status": self.status(now),
            "stopped_at": format_timestamp(self.stopped_at) if self.stopped_at else None,
        }
        if self.running:
            out["seconds_left"] = int(self.left(now).total_seconds())
        return out


def describe_left(delta: dt.timedelta) -> str:
    """``2h 5m left`` or ``overdue by 1d 3h``."""
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    text = " ".join(parts)
    return f"{text} left" if delta.total_seconds() >= 0 else f"overdue by {text}"


def incident_clocks(incident: Incident, playbook: Playbook, *, referenced: bool = False) -> list[IncidentClock]:
    """Every clock of ``incident`` that has started, in the order of their deadlines.

    ``referenced``: whether a policy or eval suite of the repository names the incident
    (meets the policy-update clock).
    """
    from .notices import applicable_notices

    clocks: list[IncidentClock] = []
    stops = {"contain": incident.contained_at, "rca": incident.rca_completed_at, "fix": incident.resolved_at}
    sla: dict[str, IncidentClock] = {}
    # the current severity's SLAs, and those of a severity held when its deadline came (a later downgrade does not
    # take a deadline back); of two with one name, the earlier deadline
    order = list(playbook.severities)
    for held in incident.severities_held:
        severity = playbook.severities.get(held)
        for name, allowed in (severity.sla.items() if severity else ()):
            deadline = incident.detected + allowed
            if name not in SLA_CLOCKS or (held != incident.severity and incident.severity_at(deadline, order) != held):
                continue
            if name not in sla or deadline < sla[name].due_at:
                sla[name] = IncidentClock(incident.id, name, f"{held}: {SLA_CLOCKS[name]} within"
                                          f" {format_duration(allowed)} of detection", incident.detected,
                                          deadline, stops[name])
    clocks.extend(sla.values())
    if playbook.review_within is not None and incident.resolved_at is not None:
        clocks.append(IncidentClock(incident.id, "review", f"post-incident review within"
                                    f" {format_duration(playbook.review_within)} of resolution", incident.resolved_at,
                                    incident.resolved_at + playbook.review_within, incident.review_completed_at))
    lag = playbook.metrics.get("policy_update_lag")
    if lag and incident.review_completed_at is not None:
        allowed = parse_duration(str(lag))
        clocks.append(IncidentClock(incident.id, "policy_update", f"a policy or eval suite encoding the lesson within"
                                    f" {format_duration(allowed)} of the review", incident.review_completed_at,
                                    incident.review_completed_at + allowed, satisfied=referenced))
    for due in applicable_notices(incident, playbook):
        sent = incident.sent(due.audience, due.clock)
        clocks.append(IncidentClock(incident.id, f"notice:{due.clock}:{due.audience}" if due.clock == "internal"
                                    else f"notice:{due.clock}",
                                    f"notice to {due.audience}: {due.regime}", due.start, due.due_at,
                                    sent[0].at if sent else None))
    clocks.sort(key=lambda c: c.due_at)
    return clocks


def next_due(clocks: list[IncidentClock]) -> IncidentClock | None:
    """The running clock with the nearest deadline."""
    running = [c for c in clocks if c.running]
    return min(running, key=lambda c: c.due_at) if running else None
