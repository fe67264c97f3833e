"""Load the policy repository: playbook, plugins, policies, eval suites and waivers.

Every file is schema-checked before use and every problem is collected, so that
``harness validate`` lists all of them at once. Each error names the file, the line and
column, the JSON path and what was expected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import InputError, InputErrors, Location
from ..io.files import display_path, yaml_files
from ..io.schema import schema_errors
from ..io.yaml import PathKey, YamlDocument, load_yaml
from ..model import DEFAULT_PLAYBOOK, EvalCase, EvalSuite, Playbook, Policy, Source, Waiver
from ..outputs.jsonl import paused_gc
from .case_rules import SharedRules
from .cases_file import with_cases_file
from .documents import build_policy, build_suite
from .plugins import project_checks
from .rules import Problems
from .waivers import build_waivers, waiver_rule_problems

PLAYBOOK = "playbook.yaml"
WAIVERS = "waivers.yaml"
_ID = attrgetter("id")


@dataclass(frozen=True)
class Project:
    """Everything the gate judges with: the loaded, cross-checked policy repository."""

    playbook: Playbook
    policies: tuple[Policy, ...]
    suites: tuple[EvalSuite, ...]
    waivers: tuple[Waiver, ...] = ()
    cases: Mapping[str, EvalCase] = field(default_factory=dict)
    #: the checks this project's rules may use: registered ones plus the playbook's plugins
    checks: Mapping[str, Any] = field(default_factory=dict, repr=False)
    policies_dir: Path = Path("policies")

    @property
    def sources(self) -> tuple[tuple[str, str, Source], ...]:
        """(id, version, source) of every policy and suite file used, for reports."""
        items = [(p.id, p.version, p.source) for p in self.policies]
        items += [(s.policy_id, s.version, s.source) for s in self.suites]
        return tuple(items)


class _Loading:
    """One load of a repository: the errors found so far, file by file."""

    def __init__(self) -> None:
        self.errors: list[InputError] = []
        #: each cases file read so far: the suite naming it, and that suite's file
        self.cases_files: dict[str, tuple[str, str]] = {}

    def read(self, path: Path, schema: str, checks: Mapping[str, Any] | None = None) -> Problems | None:
        """A document and its problems so far, or ``None`` when it cannot be read at all."""
        if path.is_symlink() and not path.exists():
            try:
                target = f" (to {os.readlink(path)!r})"
            except OSError:
                target = ""
            self.errors.append(InputError(f"broken symbolic link{target}; expected the file it points to, or no"
                                          " link at all", Location(display_path(path))))
            return None
        try:
            document = load_yaml(path, display_path(path))
        except InputError as exc:
            self.errors.append(exc)
            return None
        if document.data is None:
            self.errors.append(InputError("the file is empty", Location(document.path, 1, 1)))
            return None
        problems = Problems(document, schema_errors(document, schema, checks))
        if not isinstance(document.data, dict):
            self.errors.extend(problems.errors)
            return None
        return problems

    def keep(self, problems: Problems) -> None:
        self.errors.extend(problems.errors)


def _present(path: Path) -> bool:
    """Whether the repository has this file: a broken symbolic link counts, so that reading it fails loudly
    instead of the defaults (no waivers, the default playbook) being used in silence."""
    return path.is_symlink() or path.exists()


def _playbook(path: Path, loading: _Loading) -> tuple[Playbook, Problems | None]:
    if not _present(path):
        return DEFAULT_PLAYBOOK, None
    problems = loading.read(path, "playbook")
    if problems is None:
        return DEFAULT_PLAYBOOK, None
    if problems.errors:
        return DEFAULT_PLAYBOOK, problems
    doc = problems.document
    playbook = Playbook.from_data(doc.data, Source(doc.path, doc.sha256))
    waiver_rule_problems(problems, playbook)
    return playbook, problems


def read_playbook(policies_dir: Path | str = "policies") -> Playbook:
    """Only the playbook of a policy repository (the defaults when it has none); ``InputErrors`` if invalid."""
    loading = _Loading()
    playbook, problems = _playbook(Path(policies_dir) / PLAYBOOK, loading)
    if problems is not None:
        loading.keep(problems)
    InputErrors.raise_if_any(loading.errors)
    return playbook


class _Places:
    """Where each id was first defined, read from the document only when an id is defined twice (a large
    suite's positions are not read unless something needs them)."""

    def __init__(self) -> None:
        self.first: dict[str, tuple[YamlDocument, PathKey] | _Listed] = {}

    def claim(self, value: str, problems: Problems, parts: PathKey, message: str, shown: PathKey) -> None:
        """Record that ``value`` is defined at ``parts``; a second definition is a problem (at ``shown``)
        naming the first."""
        first = self.first.get(value)
        if first is None:
            self.first[value] = (problems.document, parts)
            return
        where = first.locate(value) if isinstance(first, _Listed) else first[0].locate(first[1])
        problems.add(message.format(value=value, where=f"{where.file}:{where.line}"), shown)

    def claim_cases(self, problems: Problems, raw_cases: list[Any]) -> None:
        """Record the ids of a suite's cases (``cases[i].id``); each defined before is a problem, in case order.

        The usual suite, whose cases are mappings with ids of their own, is claimed whole without a step per
        case; where each was defined is worked out only if it is defined again (:class:`_Listed`)."""
        ids: list[Any] | None
        try:
            ids = list(map(dict.get, raw_cases, repeat("id")))
        except TypeError:  # a case that is no mapping (the schema says so)
            ids = None
        if ids is not None and set(map(type, ids)) <= {str}:
            fresh: dict[str, tuple[YamlDocument, PathKey] | _Listed] = dict.fromkeys(
                ids, _Listed(problems.document, ids))
            if len(fresh) == len(ids) and self.first.keys().isdisjoint(fresh):
                if self.first:
                    self.first.update(fresh)
                else:
                    self.first = fresh
                return
        self.claim_each(problems, raw_cases)

    def claim_each(self, problems: Problems, raw_cases: list[Any]) -> None:
        """:meth:`claim_cases` a case at a time."""
        claimed = self.first
        document = problems.document
        for i, raw in enumerate(raw_cases):
            case_id = raw.get("id") if isinstance(raw, dict) else None
            if isinstance(case_id, str):
                if case_id not in claimed:  # the usual case, claimed without a call
                    claimed[case_id] = (document, ("cases", i, "id"))
                    continue
                self.claim(case_id, problems, ("cases", i, "id"), "duplicate case id {value!r} (also defined at"
                           " {where})", ("cases", i, "id"))


class _Listed:
    """The ids of one suite's cases, each defined once, in case order: where one is defined, when asked."""

    __slots__ = ("_index", "document", "ids")

    def __init__(self, document: YamlDocument, ids: list[str]) -> None:
        self.document, self.ids = document, ids
        self._index: dict[str, int] | None = None

    def locate(self, value: str) -> Location:
        if self._index is None:
            self._index = {case_id: i for i, case_id in enumerate(self.ids)}
        return self.document.locate(("cases", self._index[value], "id"))


def _claim(problems: Problems, key: str, what: str, places: _Places) -> None:
    """Record where the document's ``key`` (an id) is defined; a second definition is a problem naming the first."""
    value = problems.document.data.get(key)
    if not isinstance(value, str):
        return  # the schema says what is wrong with it
    places.claim(value, problems, (key,), f"duplicate {what} {{value!r}} (also defined in {{where}})", (key,))


def _suite(path: Path, loading: _Loading, checks: Mapping[str, Any], playbook: Playbook, shared: SharedRules,
           case_places: _Places, suite_places: _Places) -> EvalSuite | None:
    """The suite of one file (its cases file read too), its problems kept in ``loading``."""
    problems = loading.read(path, "eval", checks)
    if problems is None:
        return None
    problems = with_cases_file(problems, checks)
    doc = problems.document
    cases_path = getattr(doc, "cases_path", None)
    if cases_path is not None:  # one suite per cases file: a second would claim every case a second time
        named = str(Path(cases_path).resolve())
        first = loading.cases_files.get(named)
        if first is not None:
            problems.add(f"{cases_path} is the cases file of suite {first[0]!r} ({first[1]}) too; expected one"
                         " suite per cases file", ("cases_file",))
            loading.keep(problems)
            return None
        loading.cases_files[named] = (str(doc.data.get("suite")), display_path(path))
    _claim(problems, "suite", "suite", suite_places)
    raw_cases = doc.data.get("cases")
    if isinstance(raw_cases, list):
        case_places.claim_cases(problems, raw_cases)
    suite = build_suite(problems, playbook, checks, shared)
    loading.keep(problems)
    return suite


def inspect_project(policies_dir: Path | str = "policies",
                    evals_dir: Path | str | None = "evals") -> tuple[Project, list[InputError]]:
    """Load everything that loads, and list every problem of everything else.

    The project holds the policies and suites without problems; ``harness validate``
    reports the errors and still runs the examples of the policies that loaded.
    """
    with paused_gc(lasting=True):  # a large suite builds hundreds of thousands of acyclic objects, kept
        return _inspect(Path(policies_dir), evals_dir)


def _inspect(policies_dir: Path, evals_dir: Path | str | None) -> tuple[Project, list[InputError]]:
    loading = _Loading()
    if not policies_dir.is_dir():
        raise InputError("policies directory not found", Location(display_path(policies_dir)))
    playbook, playbook_problems = _playbook(policies_dir / PLAYBOOK, loading)
    if playbook_problems is not None:
        checks = project_checks(playbook.plugins, policies_dir.resolve().parent,
                                lambda message, i: playbook_problems.add(message, ("plugins", i)))
        loading.keep(playbook_problems)
    else:
        checks = project_checks((), policies_dir, lambda message, i: None)

    policies: list[Policy] = []
    first_seen = _Places()
    paths, unreadable = yaml_files(policies_dir, exclude=(PLAYBOOK, WAIVERS, "signoffs.yaml"))
    loading.errors.extend(unreadable)
    for path in paths:
        problems = loading.read(path, "policy", checks)
        if problems is None:
            continue
        _claim(problems, "id", "policy id", first_seen)
        policy = build_policy(problems, playbook, checks)
        loading.keep(problems)
        if policy is not None:
            policies.append(policy)

    suites: list[EvalSuite] = []
    cases: dict[str, EvalCase] = {}
    case_places, suite_places = _Places(), _Places()
    if evals_dir is not None:
        evals_path = Path(evals_dir)
        if not evals_path.is_dir():
            raise InputError("evals directory not found", Location(display_path(evals_path)))
        paths, unreadable = yaml_files(evals_path)
        loading.errors.extend(unreadable)
        shared = SharedRules(checks)
        for path in paths:
            suite = _suite(path, loading, checks, playbook, shared, case_places, suite_places)
            if suite is not None:
                suites.append(suite)
                cases.update(zip(map(_ID, suite.cases), suite.cases, strict=True))

    known = {p.id: frozenset(r.id for r in p.rules) for p in policies}
    known |= {s.policy_id: frozenset({"output"}) | s.rule_ids() for s in suites}
    waivers: tuple[Waiver, ...] = ()
    if _present(policies_dir / WAIVERS):
        problems = loading.read(policies_dir / WAIVERS, "waivers")
        if problems is not None:
            severities = {p.id: p.severity for p in policies} | {s.policy_id: s.severity for s in suites}
            waivers = build_waivers(problems, known, cases, playbook, severities)
            loading.keep(problems)
    project = Project(playbook, tuple(policies), tuple(suites), waivers, MappingProxyType(cases),
                      MappingProxyType(checks), policies_dir)
    return project, loading.errors


def load_project(policies_dir: Path | str = "policies", evals_dir: Path | str | None = "evals") -> Project:
    """Load and cross-check everything; raise ``InputErrors`` listing every problem found."""
    project, errors = inspect_project(policies_dir, evals_dir)
    InputErrors.raise_if_any(errors)
    return project
