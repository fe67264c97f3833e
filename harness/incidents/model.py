"""An incident: the record people write, the events the harness appends, and the state they add up to.

``INC-YYYY-NNNN.yaml`` holds what was known at detection (identity, system, severity,
flags, the facts a regulator's notice needs); commands never rewrite it, so what a person
wrote stays byte for byte. ``INC-YYYY-NNNN.events.jsonl`` beside it holds one JSON event
a line, appended by the workflow commands. :func:`fold` replays the events through the
transitions table (:mod:`.lifecycle`) into an :class:`Incident`; an event the table
refuses, or a time before the one of the event before it, is an error at its line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..clock import format_timestamp, parse_timestamp
from ..errors import InputError, Location
from .lifecycle import State, next_state, state_refusal

ROOT_CAUSE_TYPES = ("data", "model", "infra", "policy", "human_error")


@dataclass(frozen=True)
class Record:
    """The human-written part of an incident (``incident.schema.json``)."""

    id: str
    title: str
    severity: str
    detected: dt.datetime
    model: str
    model_version: str
    became_aware: dt.datetime
    path: Path | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: Mapping[str, Any], path: Path | None = None) -> Record:
        """A record from a schema-checked mapping."""
        detected = parse_timestamp(data["detected"])
        aware = data.get("became_aware")
        return cls(data["id"], data["title"], data["severity"], detected, data["model"], str(data["model_version"]),
                   parse_timestamp(aware) if aware else detected, path, MappingProxyType(dict(data)))

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def flags(self) -> Mapping[str, bool]:
        return self.data.get("flags") or {}

    @property
    def failing_policies(self) -> tuple[str, ...]:
        return tuple(self.data.get("failing_policies") or ())


@dataclass(frozen=True)
class Event:
    """One appended event: its sequence number, type, time, actor and the fields of its type."""

    seq: int
    type: str
    at: dt.datetime
    by: str
    data: Mapping[str, Any]
    line: int = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def to_json(self) -> dict[str, Any]:
        return dict(self.data)


@dataclass(frozen=True)
class FollowUp:
    id: str
    text: str
    owner: str
    due: str
    added_at: dt.datetime
    status: str = "open"  # open | done | dropped
    ended_at: dt.datetime | None = None
    reason: str | None = None
    closed_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "text": self.text, "owner": self.owner, "due": self.due,
                               "status": self.status, "added_at": format_timestamp(self.added_at)}
        if self.ended_at:
            out["ended_at"] = format_timestamp(self.ended_at)
        if self.reason:
            out["reason"] = self.reason
        if self.closed_by:
            out["closed_by"] = self.closed_by
        return out


@dataclass(frozen=True)
class Incident:
    """The state the record and its events add up to. Built by :func:`fold`, never mutated."""

    record: Record
    events: tuple[Event, ...]
    state: State
    severity: str
    flags: Mapping[str, bool]
    follow_ups: Mapping[str, FollowUp]
    contained_at: dt.datetime | None = None
    rca_completed_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    review_completed_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    #: the sign-offs of the current review (a new review or a reopening clears them)
    signoffs: tuple[Event, ...] = ()
    events_path: Path | None = None

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def detected(self) -> dt.datetime:
        return self.record.detected

    @property
    def became_aware(self) -> dt.datetime:
        return self.record.became_aware

    @property
    def is_open(self) -> bool:
        return self.state is not State.CLOSED

    def of_type(self, *types: str) -> tuple[Event, ...]:
        """The events of these types, in order."""
        return tuple(e for e in self.events if e.type in types)

    def last(self, event_type: str) -> Event | None:
        found = self.of_type(event_type)
        return found[-1] if found else None

    @property
    def rca(self) -> Event | None:
        """The latest root-cause analysis (a later one amends an earlier one)."""
        return self.last("rca")

    @property
    def review(self) -> Event | None:
        """The latest review, unless the incident was reopened after it."""
        review = self.last("review")
        reopened = self.last("reopened")
        if review is None or (reopened is not None and reopened.seq > review.seq):
            return None
        return review

    @property
    def severities_held(self) -> tuple[str, ...]:
        """Every severity the incident has had, in order (the strict rules follow it after a downgrade)."""
        held = [self.record.severity, *(str(e.get("severity")) for e in self.of_type("classified"))]
        return tuple(dict.fromkeys(held))

    @staticmethod
    def recorded(event: Event) -> dt.datetime:
        """When ``event`` was written (its ``at`` when the line does not say)."""
        raw = event.get("recorded_at")
        try:
            return parse_timestamp(raw) if isinstance(raw, str) else event.at
        except ValueError:
            return event.at

    def severity_at(self, moment: dt.datetime, order: Sequence[str] = ()) -> str:
        """The severity at ``moment``. A raise counts from its ``at``; any other change (``order``: the severities,
        most severe first) from when it was recorded, if later: a downgrade back-dated to before a deadline that
        had passed does not lift that deadline."""
        severity = self.record.severity
        rank = {name: i for i, name in enumerate(order)}
        for event in self.of_type("classified"):
            new = str(event.get("severity"))
            raised = new in rank and severity in rank and rank[new] < rank[severity]
            if (event.at if raised else max(event.at, self.recorded(event))) <= moment:
                severity = new
        return severity

    def strictest(self, strict: tuple[str, ...] | list[str]) -> str:
        """The first of ``strict`` the incident ever held, else its severity now."""
        held = self.severities_held
        return next((s for s in strict if s in held), self.severity)

    @property
    def last_at(self) -> dt.datetime:
        """The time of the latest event (detection when there is none)."""
        return max([self.detected, *(e.at for e in self.events)])

    def sent(self, audience: str, clock: str | None = None) -> tuple[Event, ...]:
        """The notices delivered to ``audience`` (for ``clock`` when given)."""
        return tuple(e for e in self.of_type("notice") if e.get("outcome") == "sent" and e.get("audience") == audience
                     and (clock is None or e.get("clock") == clock))

    def timestamps(self) -> dict[str, str | None]:
        """The timeline: detected, became_aware, contained, rca_completed, resolved, review_completed, closed."""
        moments = {"detected": self.detected, "became_aware": self.became_aware, "contained": self.contained_at,
                   "rca_completed": self.rca_completed_at, "resolved": self.resolved_at,
                   "review_completed": self.review_completed_at, "closed": self.closed_at}
        return {name: format_timestamp(moment) if moment else None for name, moment in moments.items()}

    def to_json(self) -> dict[str, Any]:
        """The whole incident as DESIGN.md's record: the written part, the state, the timeline and every event."""
        return {
            **{k: v for k, v in self.record.data.items()},
            "state": self.state.label,
            "severity": self.severity,
            "severity_at_detection": self.record.severity,
            "flags": dict(self.flags),
            "timestamps": self.timestamps(),
            "follow_ups": [f.to_json() for f in self.follow_ups.values()],
            "events": [e.to_json() for e in self.events],
        }


def _refuse(message: str, event: Event, path: Path | None, field_name: str = "type") -> InputError:
    return InputError(message, Location(str(path) if path else None, event.line or None, None,
                                        f"$.{field_name}"))


class _Fold:
    def __init__(self, record: Record, path: Path | None) -> None:
        self.record = record
        self.path = path
        self.state = State.OPEN
        self.severity = record.severity
        self.flags: dict[str, bool] = dict(record.flags)
        self.follow_ups: dict[str, FollowUp] = {}
        self.moments: dict[str, dt.datetime | None] = dict.fromkeys(
            ("contained", "rca", "resolved", "review", "closed"))
        self.signoffs: list[Event] = []
        self.previous = record.detected
        self.seq = 0

    def apply(self, event: Event) -> None:
        if event.seq != self.seq + 1:
            raise _refuse(f"event number {event.seq} out of sequence (expected {self.seq + 1}): events are"
                          " appended, never removed or reordered", event, self.path, "seq")
        if event.at < self.previous:
            raise _refuse(f"{event.type} at {format_timestamp(event.at)} is before the previous event"
                          f" ({format_timestamp(self.previous)}); events are in time order", event, self.path, "at")
        problem = state_refusal(self.state, event.type)
        if problem:
            raise _refuse(problem, event, self.path)
        getattr(self, f"_on_{event.type}")(event)
        effective = event.get("outcome") == "done" and event.get("contains", True)
        self.state = next_state(self.state, event.type, effective=effective)
        self.previous = event.at
        self.seq = event.seq

    def _on_classified(self, event: Event) -> None:
        self.severity = event.get("severity")
        self.flags.update(event.get("flags") or {})

    def _effective(self, event: Event) -> None:
        if event.get("outcome") == "done" and event.get("contains", True) and self.moments["contained"] is None:
            self.moments["contained"] = event.at

    _on_contained = _effective
    _on_rollback = _effective

    def _on_evidence(self, event: Event) -> None:
        pass

    _on_notice = _on_evidence

    def _on_rca(self, event: Event) -> None:
        if self.moments["rca"] is None:
            self.moments["rca"] = event.at

    def _on_follow_up(self, event: Event) -> None:
        ident, action = event.get("id"), event.get("action")
        known = self.follow_ups.get(ident)
        if action == "added":
            if known is not None:
                raise _refuse(f"follow-up {ident} already exists", event, self.path, "id")
            missing = [k for k in ("text", "owner", "due") if not event.get(k)]
            if missing:
                raise _refuse(f"a follow-up needs {', '.join(missing)}", event, self.path, missing[0])
            self.follow_ups[ident] = FollowUp(ident, event.get("text"), event.get("owner"), event.get("due"), event.at)
            return
        if known is None:
            raise _refuse(f"unknown follow-up {ident} (known: {', '.join(self.follow_ups) or 'none'})",
                          event, self.path, "id")
        if known.status != "open":
            raise _refuse(f"follow-up {ident} is already {known.status}", event, self.path, "id")
        if action == "dropped" and not event.get("reason"):
            raise _refuse(f"dropping follow-up {ident} needs a reason", event, self.path, "reason")
        self.follow_ups[ident] = FollowUp(known.id, known.text, known.owner, known.due, known.added_at, action,
                                          event.at, event.get("reason"), event.get("closed_by"))

    def _on_resolved(self, event: Event) -> None:
        self.moments["resolved"] = event.at

    def _on_review(self, event: Event) -> None:
        self.moments["review"] = event.at
        self.signoffs = []

    def _on_signed_off(self, event: Event) -> None:
        self.signoffs.append(event)

    def _on_closed(self, event: Event) -> None:
        self.moments["closed"] = event.at

    def _on_reopened(self, event: Event) -> None:
        self.moments["closed"] = None
        self.moments["review"] = None
        self.signoffs = []


def event_from_json(raw: Mapping[str, Any], line: int = 0) -> Event:
    """An event from a schema-checked line."""
    return Event(int(raw["seq"]), raw["type"], parse_timestamp(raw["at"]), raw["by"], MappingProxyType(dict(raw)),
                 line)


def fold(record: Record, events: Sequence[Event], events_path: Path | None = None) -> Incident:
    """The incident ``record`` and ``events`` add up to; ``InputError`` at the first event the lifecycle refuses."""
    state = _Fold(record, events_path)
    for event in events:
        state.apply(event)
    m = state.moments
    return Incident(record, tuple(events), state.state, state.severity, MappingProxyType(state.flags),
                    MappingProxyType(state.follow_ups), m["contained"], m["rca"], m["resolved"], m["review"],
                    m["closed"] if state.state is State.CLOSED else None, tuple(state.signoffs), events_path)
