"""The incident desk: the store, the policy repository it answers to, the clock; and what every step checks."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ...clock import SYSTEM_CLOCK, Clock, format_timestamp
from ...errors import InputError
from ...incidents.lifecycle import Facts, refusal
from ...incidents.model import Incident
from ...incidents.store import LOCK_TIMEOUT_S, IncidentStore, Transaction
from ...model.playbook import Playbook
from ...model.waiver import parse_date

PathLike = str | os.PathLike[str]
#: how far back ``--at`` may lie for a step the harness performs itself (the time it takes to run a command)
LIVE = dt.timedelta(minutes=1)


@dataclass
class Desk:
    """Where the incidents live and what they are judged by: the store, the policy repository, the clock."""

    store: IncidentStore
    policies_dir: Path
    evals_dir: Path | None
    clock: Clock = SYSTEM_CLOCK
    #: the notifier config to use instead of the playbook's (``--notifier``), for every channel
    notifier: Mapping[str, Any] | None = None

    @cached_property
    def playbook(self) -> Playbook:
        from ...project import read_playbook

        return read_playbook(self.policies_dir)

    @cached_property
    def project(self) -> Any:
        """The policy repository, loaded once per desk (its policies and suites, their lessons)."""
        from ...project.loader import load_project

        return load_project(self.policies_dir, self.evals_dir)

    @cached_property
    def references(self) -> Mapping[str, tuple[str, ...]]:
        """Incident id -> the policies (``lessons_from``) and eval suites (``from_incident``, as ``eval:NAME``) naming
        it, read from their YAML alone (as ``harness metrics`` and the register read them): ``show``, ``list``,
        ``clocks`` and ``close`` need no policy compiled."""
        from ...incidents.register import lesson_references

        return {incident: (*lessons.policies, *(f"eval:{suite}" for suite in lessons.suites))
                for incident, lessons in lesson_references(self.policies_dir, self.evals_dir).items()}

    @property
    def known_lessons(self) -> tuple[frozenset[str], frozenset[str]]:
        """The policy ids and eval suite names of the repository (a review's links must exist)."""
        return frozenset(p.id for p in self.project.policies), frozenset(s.suite for s in self.project.suites)

    @property
    def strict(self) -> tuple[str, ...]:
        """The severities held to the strict rules (``lifecycle.strict_severities``)."""
        return self.playbook.lifecycle.strict_severities

    def wait_s(self) -> float:
        """How long a step waits for another one on the same incident: longer than any hook or delivery may run."""
        playbook = self.playbook
        hooks = [a.hook.timeout_s for a in playbook.containment.values() if a.hook is not None]
        notifiers = [float(spec.options.get("timeout_s", 10)) for spec in playbook.notices.notifiers.values()]
        return LOCK_TIMEOUT_S + max([0.0, *hooks]) + sum(notifiers) + 10.0

    def notifier_for(self, channel: str | None) -> tuple[str, Any]:
        """The notifier of a channel (``notices.notifiers``; else ``release.notifier``), and the name it is
        recorded under: the channel's, or the notifier's kind when the command line gave one."""
        from ...release.notify import notifier_from_config

        if self.notifier is not None:
            config: Mapping[str, Any] = self.notifier
            name = str(config.get("kind", "notifier"))
        else:
            spec = self.playbook.notices.notifiers.get(channel or "") or self.playbook.release.notifier
            config, name = spec.config(), channel or spec.kind
        return name, notifier_from_config(config, base=Path.cwd(), clock=self.clock)

    def refuse_unless(self, tx: Transaction, event: str, **facts: Any) -> None:
        """``InputError`` when the transitions table (and the facts) refuse ``event`` now."""
        incident = tx.incident
        if incident.severity not in self.playbook.severities:
            raise InputError(f"{incident.id}: severity {incident.severity!r} is not one of the playbook's"
                             f" ({', '.join(self.playbook.severities)}); fix the record or classify it")
        if incident.detected > self.clock.now() + dt.timedelta(seconds=1):
            raise InputError(f"{incident.id}: detected {format_timestamp(incident.detected)} lies in the future;"
                             " fix the record")
        # once of a strict severity, always held to its rules: a downgrade after the review closes nothing early
        severity = incident.strictest(self.strict)
        problem = refusal(incident.state, event, Facts(severity=severity, strict_severities=self.strict, **facts))
        if problem:
            raise InputError(f"{incident.id}: {problem}")

    def check_at(self, at: dt.datetime | None, previous: dt.datetime | None = None) -> None:
        """Refuse ``at`` before anything runs (a hook, a delivery, a copy): ahead of now, or before ``previous``."""
        if at is None:
            return
        if previous is not None and at < previous:
            raise InputError(f"--at {format_timestamp(at)} is before the incident's previous event"
                             f" ({format_timestamp(previous)}); steps are recorded in time order")
        now = self.clock.now()
        if at > now + dt.timedelta(seconds=1):
            raise InputError(f"--at {format_timestamp(at)} is in the future (now: {format_timestamp(now)}); steps"
                             " are recorded when they happened")

    def check_live(self, at: dt.datetime | None, by_hand: bool, what: str) -> None:
        """A step the harness performs (a hook, a delivery) is recorded when it runs: ``at`` more than a minute
        back is refused unless the step was done outside the harness and is only recorded (``by_hand``)."""
        if by_hand or at is None:
            return
        now = self.clock.now()
        if at < now - LIVE:
            raise InputError(f"--at {format_timestamp(at)} is in the past, but the harness {what} now and records"
                             " when it did; to record one done outside the harness at that time, add --by-hand"
                             " (nothing is run or sent, and the event says so)")

    def severity(self, severity: str) -> str:
        if severity not in self.playbook.severities:
            raise InputError(f"unknown severity {severity!r}: expected one of"
                             f" {', '.join(self.playbook.severities)} (the playbook's severities)")
        return severity


def desk(incidents: PathLike = "incidents", *, policies: PathLike = "policies", evals: PathLike | None = "evals",
         clock: Clock = SYSTEM_CLOCK, notifier: Mapping[str, Any] | None = None) -> Desk:
    """The incident desk over ``incidents/`` and the policy repository."""
    return Desk(IncidentStore(Path(incidents), clock=clock), Path(policies), Path(evals) if evals is not None else None,
                clock, notifier)


@dataclass(frozen=True)
class StepResult:
    """What a step did: the incident after it, and lines saying what happened."""

    incident: Incident
    said: tuple[str, ...] = ()
    #: False when what the step ran failed (a hook, a delivery): recorded, but the step did not succeed
    ok: bool = True

    def then(self, other: StepResult) -> StepResult:
        """This step followed by ``other``: the later incident, both sayings, ok only if both were."""
        return StepResult(other.incident, (*self.said, *other.said), self.ok and other.ok)


def parse_day(text: str, option: str) -> str:
    """A date ``YYYY-MM-DD`` (years 1900 to 2099) as given; ``InputError`` naming the option otherwise."""
    try:
        day = parse_date(text)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None
    if not 1900 <= day.year <= 2099:
        raise InputError(f"{option} {text}: expected a date between 1900 and 2099")
    return text


def parse_flags(flags: Iterable[str]) -> dict[str, bool]:
    """``personal_data`` sets a flag, ``no-personal_data`` clears it."""
    out: dict[str, bool] = {}
    for flag in flags:
        name, value = (flag[3:], False) if flag.startswith("no-") else (flag, True)
        if not name.replace("_", "").isascii() or not name.replace("_", "").isalnum() or not name[:1].isalpha() \
                or name != name.lower():
            raise InputError(f"flag {flag!r}: expected a lower-case name like personal_data (or no-personal_data)")
        out[name] = value
    return out


def relative(path: str) -> str:
    """``path`` relative to the working directory when it lies below it (records stay portable)."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return path
