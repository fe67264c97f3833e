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

from ..clock import parse_timestamp
from ..errors import InputError, InputErrors, Location
from ..io.files import display_path
from ..io.yaml import YamlDocument, json_path, load_yaml
from .model import Incident
from .store import EVENTS_SUFFIX, INCIDENT_ID, IncidentStore

if TYPE_CHECKING:
    from ..project.loader import Project

#: a policy id (policy.schema.json) or an eval suite as reports name it (``eval:<suite>``)
POLICY_REF = re.compile(r"^(?:[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9][a-z0-9_-]*)*|eval:[a-z0-9][a-z0-9_.-]*)$")
#: how far ``at`` may be after ``recorded_at`` (the writer's own tolerance for ``--at`` in the future)
_RECORDING_SLACK = dt.timedelta(seconds=1)


def check_incidents(store: IncidentStore, project: Project) -> list[InputError]:
    """Every problem of the incidents folder and of the references between it and ``project``; ``[]`` when the
    folder does not exist."""
    if not store.directory.is_dir():
        return []
    problems = _stray_files(store)
    incidents, unreadable = store.load_all()
    problems += unreadable
    known = frozenset(store.ids())  # a record that does not read is still known: its own error says why
    problems += _references_to_incidents(project, known)
    policies = frozenset(p.id for p in project.policies)
    suites = frozenset(s.suite for s in project.suites)
    for incident in incidents:
        problems += _recorded_times(incident)
        problems += _record_references(incident)
        problems += _event_references(incident, known, policies, suites)
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


def _each_once(problems: list[InputError]) -> list[InputError]:
    return list(InputErrors(problems).errors) if problems else []


def incidents_directory(policies_dir: Path) -> Path:
    """Where a repository keeps its incidents: ``incidents/`` beside its ``policies/``."""
    return Path(policies_dir).parent / "incidents"
