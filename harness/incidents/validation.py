"""``harness validate`` over ``incidents/``: every record and events file, and the references both ways.

What is checked, each problem located at its file, line and field:

- every ``INC-YYYY-NNNN.yaml`` record against ``incident.schema.json`` and every line of its
  ``.events.jsonl`` against ``incident-event.schema.json``; the events replayed through the
  lifecycle (a step out of order, a time before the previous event); a YAML file in the
  folder whose name is not an incident id, and an events file without its record;
- times: every time is UTC ending in ``Z`` (the schemas) and the events are in order (the
  replay); an event's ``recorded_at`` is a real moment and not before its ``at`` (a step is
  back-filled, never recorded ahead of time). ``became_aware`` is *not* ordered against
  ``detected``: a team can know of a harm (a complaint) before its tooling detects it;
- references from the policy repository: a policy's ``lessons_from`` or an eval suite's
  ``from_incident`` naming an incident with no record is an error at that line of the
  policy or suite file;
- references from the incidents: a review naming a policy id or eval suite (by its
  ``suite`` name) the repository does not have, and an RCA's ``variant_of`` naming an
  unknown incident (or itself), are errors at that line of the events file. Retire a policy
  that a review links to with ``status: deprecated``, not by deleting it;
- forgeries a hand edit could slip past the workflow commands: a ``signed_off`` whose ``by`` is
  not the address of its ``role`` in the playbook's ``roles:`` (the record's own cannot make a signer);
  a ``closed`` of an incident that ever held a strict severity (``lifecycle.strict_severities``,
  a downgrade after the review changes nothing) without, at that point, a sign-off of the
  latest review, every follow-up done or dropped and every notice owed sent, or without a
  policy (``lessons_from``) or eval suite (``from_incident``) referencing it; a notice to an
  ``after_containment`` audience before the incident was contained; a severity the playbook
  does not define; a flag no regulatory clock uses and not one of :data:`KNOWN_FLAGS` (a typo
  would silently stop a clock); and, given ``now``, a time that lies in the future;
- ``failing_policies`` of a record and ``failing_policy`` of an RCA are history: they name
  the policies that failed *then*, which may since have been retired, so an id the
  repository no longer has is accepted. Only a malformed id (not a policy id such as
  ``privacy.no-pii``, nor ``eval:<suite>``) is an error.

Nothing is checked when the incidents folder does not exist: a repository without
``incidents/`` validates as before.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..clock import format_timestamp, parse_timestamp
from ..errors import InputError, InputErrors, Location
from ..io.files import display_path
from ..io.yaml import YamlDocument, json_path, load_yaml
from .lifecycle import Facts, State, refusal
from .model import Event, Incident, fold
from .notices import unsent
from .store import EVENTS_SUFFIX, INCIDENT_ID, IncidentStore

#: how far a step the harness performs may be dated before it was recorded (the time a command takes)
LIVE = dt.timedelta(minutes=1)

if TYPE_CHECKING:
    from ..model.playbook import Playbook
    from ..project.loader import Project

#: a policy id (policy.schema.json) or an eval suite as reports name it (``eval:<suite>``)
POLICY_REF = re.compile(r"^(?:[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9][a-z0-9_-]*)*|eval:[a-z0-9][a-z0-9_.-]*)$")
#: how far ``at`` may be after ``recorded_at`` (the writer's own tolerance for ``--at`` in the future)
_RECORDING_SLACK = dt.timedelta(seconds=1)
#: the flags the schema names, accepted even when no regulatory clock of the playbook uses them
KNOWN_FLAGS = ("personal_data", "serious_incident", "death", "widespread_infringement", "critical_infrastructure")


def check_incidents(store: IncidentStore, project: Project, *, now: dt.datetime | None = None) -> list[InputError]:
    """Every problem of the incidents folder and of the references between it and ``project``; ``[]`` when the
    folder does not exist. ``now`` (the validating clock's) makes a time after it an error; ``None`` skips that."""
    if not store.directory.is_dir():
        return []
    problems = _stray_files(store)
    incidents, unreadable = store.load_all()
    problems += unreadable
    known = frozenset(store.ids())  # a record that does not read is still known: its own error says why
    problems += _references_to_incidents(project, known)
    policies = frozenset(p.id for p in project.policies)
    suites = frozenset(s.suite for s in project.suites)
    referenced = frozenset([*(i for p in project.policies for i in p.lessons_from),
                            *(s.from_incident for s in project.suites if s.from_incident)])
    playbook = project.playbook
    for incident in incidents:
        problems += _recorded_times(incident)
        problems += _record_references(incident)
        problems += _event_references(incident, known, policies, suites)
        problems += _vocabulary(incident, playbook)
        problems += _signoffs(incident, playbook)
        problems += _performed(incident, playbook)
        problems += _early_notices(incident, playbook)
        problems += _closings(incident, playbook, incident.id in referenced)
        if now is not None:
            problems += _future_times(incident, now)
    return _each_once(problems)


def _stray_files(store: IncidentStore) -> list[InputError]:
    """YAML files that are not named as records (a typo hides a record) and events files without a record."""
    problems = []
    records = set(store.ids())
    for path in sorted(store.directory.iterdir()):
        name = path.name
        if name.startswith(".") or not path.is_file():
            continue
        if name.endswith(EVENTS_SUFFIX):
            ident = name.removesuffix(EVENTS_SUFFIX)
            if not INCIDENT_ID.match(ident):
                problems.append(InputError("not an incident's events file; expected a name like"
                                           f" INC-2026-0001{EVENTS_SUFFIX}", Location(display_path(path))))
            elif ident not in records:
                problems.append(InputError(f"events of {ident} without its record; expected {ident}.yaml beside it",
                                           Location(display_path(path))))
        elif path.suffix in (".yaml", ".yml") and (path.suffix == ".yml" or not INCIDENT_ID.match(path.stem)):
            problems.append(InputError(f"not an incident record name; expected a name like INC-2026-0001.yaml"
                                       f" (the id inside the file), got {name!r}", Location(display_path(path))))
    return problems


def _located(path: str, parts: tuple[str | int, ...], documents: dict[str, YamlDocument | None]) -> Location:
    """Where ``parts`` is in the YAML file ``path`` (the file alone when it cannot be read again)."""
    if path not in documents:
        try:
            documents[path] = load_yaml(path)
        except InputError:
            documents[path] = None
    document = documents[path]
    return document.locate(parts) if document is not None else Location(path, None, None, json_path(parts))


def _references_to_incidents(project: Project, known: frozenset[str]) -> list[InputError]:
    problems = []
    documents: dict[str, YamlDocument | None] = {}
    hint = f" (known: {', '.join(sorted(known)[-5:])})" if known else " (there are none)"
    for policy in project.policies:
        for i, incident in enumerate(policy.lessons_from):
            if incident not in known:
                problems.append(InputError(
                    f"lessons_from names {incident}, which has no record in incidents/{hint}; expected an"
                    " incident id of the repository", _located(policy.source.path, ("lessons_from", i), documents)))
    for suite in project.suites:
        if suite.from_incident and suite.from_incident not in known:
            problems.append(InputError(
                f"from_incident names {suite.from_incident}, which has no record in incidents/{hint}; expected an"
                " incident id of the repository", _located(suite.source.path, ("from_incident",), documents)))
    return problems


def _event_location(incident: Incident, line: int, field: str) -> Location:
    path = incident.events_path
    return Location(display_path(path) if path else None, line or None, None, field)


def _recorded_times(incident: Incident) -> list[InputError]:
    problems = []
    for event in incident.events:
        raw = event.get("recorded_at")
        try:
            recorded = parse_timestamp(raw)
        except (TypeError, ValueError):
            problems.append(InputError(f"recorded_at {raw!r} is not a real moment; expected a UTC time like"
                                       " 2026-03-09T15:42:00Z", _event_location(incident, event.line, "$.recorded_at")))
            continue
        if event.at > recorded + _RECORDING_SLACK:
            problems.append(InputError(
                f"{event.type} at {event.get('at')} is after the moment it was recorded ({raw}); a step is recorded"
                " when it happens or back-filled later, never ahead", _event_location(incident, event.line, "$.at")))
    return problems


def _record_references(incident: Incident) -> list[InputError]:
    bad = [(i, p) for i, p in enumerate(incident.record.failing_policies) if not POLICY_REF.match(p)]
    if not bad or incident.record.path is None:
        return []
    documents: dict[str, YamlDocument | None] = {}
    return [InputError(f"failing_policies: {policy!r} is not a policy id; expected one like privacy.no-pii or"
                       " eval:<suite>", _located(str(incident.record.path), ("failing_policies", i), documents))
            for i, policy in bad]


def _event_references(incident: Incident, known: frozenset[str], policies: frozenset[str],
                      suites: frozenset[str]) -> list[InputError]:
    problems = []

    def unknown(names: Iterable[str], have: frozenset[str], field: str, what: str, line: int) -> None:
        for i, name in enumerate(names):
            if name not in have:
                problems.append(InputError(
                    f"the review links to {what} {name!r}, which the repository does not have; expected one of:"
                    f" {', '.join(sorted(have)) or 'none'}", _event_location(incident, line, f"$.{field}[{i}]")))

    for event in incident.of_type("review"):
        unknown(event.get("policies") or (), policies, "policies", "policy", event.line)
        unknown(event.get("evals") or (), suites, "evals", "eval suite", event.line)
    for event in incident.of_type("rca"):
        variant = event.get("variant_of")
        if variant is not None and (variant == incident.id or variant not in known):
            why = "the incident itself" if variant == incident.id else "an incident with no record in incidents/"
            problems.append(InputError(f"variant_of names {variant}, {why}; expected an earlier incident it repeats",
                                       _event_location(incident, event.line, "$.variant_of")))
        failing = event.get("failing_policy")
        if failing is not None and not POLICY_REF.match(failing):
            problems.append(InputError(f"failing_policy {failing!r} is not a policy id; expected one like"
                                       " privacy.no-pii or eval:<suite>",
                                       _event_location(incident, event.line, "$.failing_policy")))
    return problems


def _record_location(incident: Incident, parts: tuple[str | int, ...],
                     documents: dict[str, YamlDocument | None]) -> Location:
    path = incident.record.path
    return _located(str(path), parts, documents) if path else Location(None, None, None, json_path(parts))


def _vocabulary(incident: Incident, playbook: Playbook) -> list[InputError]:
    """Severities the playbook does not define and flags nothing reads, in the record and in ``classified``."""
    problems: list[InputError] = []
    documents: dict[str, YamlDocument | None] = {}
    severities = ", ".join(playbook.severities) or "none"
    flags = sorted({*KNOWN_FLAGS, *(c.when for c in playbook.regulatory_clocks)})

    def severity_problem(severity: object) -> str | None:
        if severity in playbook.severities:
            return None
        return f"severity {severity!r} is not a severity of the playbook; expected one of: {severities}"

    def flag_problem(flag: str) -> str:
        return (f"flag {flag!r} is read by no regulatory clock of the playbook (when:); expected one of:"
                f" {', '.join(flags)}")

    problem = severity_problem(incident.record.severity)
    if problem:
        problems.append(InputError(problem, _record_location(incident, ("severity",), documents)))
    for flag in incident.record.flags:
        if flag not in flags:
            problems.append(InputError(flag_problem(flag), _record_location(incident, ("flags", flag), documents)))
    for event in incident.of_type("classified"):
        problem = severity_problem(event.get("severity"))
        if problem:
            problems.append(InputError(problem, _event_location(incident, event.line, "$.severity")))
        for flag in event.get("flags") or {}:
            if flag not in flags:
                where = _event_location(incident, event.line, f"$.flags.{flag}")
                problems.append(InputError(flag_problem(flag), where))
    return problems


def _signoffs(incident: Incident, playbook: Playbook) -> list[InputError]:
    """Each ``signed_off`` made by the address the playbook's ``roles:`` gives its role. Only the playbook counts:
    the record is anyone's to edit, so its ``roles:`` (who is on call) cannot make someone a signer."""
    from ..project.signoff import holder_problem

    problems = []
    for event in incident.of_type("signed_off"):
        role = str(event.get("role"))
        problem = holder_problem(playbook.roles, role, event.by)
        if problem:
            field = "$.role" if role not in playbook.roles else "$.by"
            problems.append(InputError(f"signed off as {role}: {problem}", _event_location(incident, event.line,
                                                                                            field)))
    return problems


def _performed(incident: Incident, playbook: Playbook) -> list[InputError]:
    """Steps the harness performs itself (a containment hook, a delivery) are recorded when they run: one dated
    over a minute before it was recorded must say ``by_hand``; a containment must match its action's ``contains``
    in the playbook."""
    problems = []
    for event in incident.of_type("contained", "notice"):
        if not event.get("by_hand") and incident.recorded(event) - event.at > LIVE:
            problems.append(InputError(
                f"{event.type} dated {event.get('at')} but recorded {event.get('recorded_at')}: the harness records a"
                " step it performs when it runs; one done outside it says by_hand: true",
                _event_location(incident, event.line, "$.at")))
        if event.type == "contained":
            action = playbook.containment.get(str(event.get("action")))
            if action is None:
                problems.append(InputError(f"unknown containment action {event.get('action')!r}; expected one of"
                                           f" {', '.join(playbook.containment) or 'none'}",
                                           _event_location(incident, event.line, "$.action")))
            elif bool(event.get("contains", True)) != action.contains:
                problems.append(InputError(f"contains: {str(event.get('contains')).lower()}, but the playbook says"
                                           f" {event.get('action')} contains: {str(action.contains).lower()}",
                                           _event_location(incident, event.line, "$.contains")))
    return problems


def _effective(event: Event) -> bool:
    """Whether a containment or rollback event stopped the harm (as :func:`.model.fold` counts it)."""
    return event.type in ("contained", "rollback") and event.get("outcome") == "done" and event.get("contains", True)


def _early_notices(incident: Incident, playbook: Playbook) -> list[InputError]:
    """A notice to an ``after_containment`` audience (customers, partners) recorded before containment."""
    problems = []
    contained = False
    for event in incident.events:
        contained = contained or _effective(event)
        audience = event.get("audience")
        if event.type == "notice" and not contained and audience in playbook.notices.after_containment:
            problems.append(InputError(
                f"a notice to {audience} at {event.get('at')}, before the incident was contained; a statement to"
                f" {', '.join(playbook.notices.after_containment)} is made only after containment",
                _event_location(incident, event.line, "$.audience")))
    return problems


def _closings(incident: Incident, playbook: Playbook, referenced: bool) -> list[InputError]:
    """Each ``closed`` of an incident that held a strict severity before it, with what closing needed then."""
    problems = []
    strict = playbook.lifecycle.strict_severities
    for n, event in enumerate(incident.events):
        if event.type != "closed":
            continue
        try:
            before = fold(incident.record, incident.events[:n], incident.events_path)
        except InputError:  # cannot happen for a folded incident; its own error is reported anyway
            continue
        severity = before.strictest(strict)
        if severity not in strict:
            continue
        owed = [f"{d.clock}:{d.audience}" if d.clock == "internal" else str(d.clock) for d in unsent(before, playbook)]
        facts = Facts(severity=severity, strict_severities=strict, signed_off=bool(before.signoffs),
                      open_follow_ups=tuple(f.id for f in before.follow_ups.values() if f.status == "open"),
                      unsent_notices=tuple(owed), referenced=referenced)
        problem = refusal(State.REVIEWED, "closed", facts)
        if problem:
            problems.append(InputError(f"closed at {event.get('at')}, but {problem}",
                                       _event_location(incident, event.line, "$.type")))
    return problems


def _future_times(incident: Incident, now: dt.datetime) -> list[InputError]:
    """Times after ``now``: nothing is detected, known or done ahead of the clock."""
    problems = []
    documents: dict[str, YamlDocument | None] = {}
    limit = now + _RECORDING_SLACK
    shown = format_timestamp(now)
    for name in ("detected", "became_aware"):
        raw = incident.record.get(name)
        if raw is not None and getattr(incident.record, name) > limit:
            problems.append(InputError(f"{name} {raw} lies in the future (now: {shown}); expected the moment it"
                                       " happened", _record_location(incident, (name,), documents)))
    for event in incident.events:
        for name in ("at", "recorded_at"):
            raw = event.get(name)
            try:
                moment = parse_timestamp(raw)
            except (TypeError, ValueError):
                continue  # _recorded_times says why
            if moment > limit:
                problems.append(InputError(f"{event.type} {name} {raw} lies in the future (now: {shown}); a step is"
                                           " recorded when it happened", _event_location(incident, event.line,
                                                                                        f"$.{name}")))
    return problems


def _each_once(problems: list[InputError]) -> list[InputError]:
    return list(InputErrors(problems).errors) if problems else []


def incidents_directory(policies_dir: Path) -> Path:
    """Where a repository keeps its incidents: ``incidents/`` beside its ``policies/``."""
    return Path(policies_dir).parent / "incidents"
