"""Load the policy repository: playbook, policies, eval suites and waivers.

Every file is schema-checked before use and every problem is collected, so that
``harness validate`` can list all of them at once. Each error names the file, the
line and column, the JSON path and what was expected.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .checks import get_check
from .errors import InputError, InputErrors, Location
from .records import EvalCase, EvalSuite, OnFail, Playbook, Policy, Rule, Scope, Source, Waiver
from .schema import schema_errors
from .yamlio import PathKey, YamlDocument, json_path, load_yaml

PLAYBOOK = "playbook.yaml"
WAIVERS = "waivers.yaml"
_RULE_META = ("id", "check", "message", "description", "of")

DEFAULT_SEVERITIES: Mapping[str, Mapping[str, Any]] = {
    "sev1": {"meaning": "critical: safety or privacy breach", "sla": {"contain": "1h"}},
    "sev2": {"meaning": "major: model quality or ethical failure", "sla": {"rca": "24h"}},
    "sev3": {"meaning": "minor: functional defect", "sla": {"fix": "72h"}},
}


@dataclass(frozen=True)
class Project:
    """Everything the gate judges with: the loaded, cross-checked policy repository."""

    playbook: Playbook
    policies: tuple[Policy, ...]
    suites: tuple[EvalSuite, ...]
    waivers: tuple[Waiver, ...] = ()
    cases: Mapping[str, EvalCase] = field(default_factory=dict)

    @property
    def sources(self) -> tuple[tuple[str, str, Source], ...]:
        """(id, version, source) of every policy and suite file used, for reports."""
        items = [(p.id, p.version, p.source) for p in self.policies]
        items += [(s.policy_id, s.version, s.source) for s in self.suites]
        return tuple(items)


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path) if path.is_absolute() else str(path)
    except ValueError:
        return str(path)


def yaml_files(directory: Path, *, exclude: Iterable[str] = ()) -> list[Path]:
    skip = {directory / name for name in exclude}
    found = [p for pattern in ("*.yaml", "*.yml") for p in directory.rglob(pattern)]
    return sorted(p for p in found if p not in skip and p.is_file())


class _Collector:
    """Accumulates errors while loading goes on, so every problem is reported in one pass."""

    def __init__(self) -> None:
        self.errors: list[InputError] = []

    def load(self, path: Path, schema: str) -> YamlDocument | None:
        try:
            document = load_yaml(path, display_path(path))
        except InputError as exc:
            self.errors.append(exc)
            return None
        if document.data is None:
            self.errors.append(InputError("the file is empty", Location(document.path, 1, 1)))
            return None
        problems = schema_errors(document, schema)
        self.errors.extend(problems)
        return None if problems else document


def _rule(
    raw: Mapping[str, Any], parts: PathKey, doc: YamlDocument, default_id: str, errors: _Collector
) -> Rule | None:
    try:
        check = get_check(raw["check"])
    except InputError as exc:
        errors.errors.append(InputError(exc.message, doc.locate((*parts, "check"))))
        return None
    inner = None
    if "of" in raw:
        inner = _rule(raw["of"], (*parts, "of"), doc, f"{raw.get('id', default_id)}.of", errors)
        if inner is None:
            return None
    options = MappingProxyType({k: v for k, v in raw.items() if k not in _RULE_META or k == "of"})
    try:
        prepared = check.prepare(options, json_path(parts))
    except InputError as exc:
        errors.errors.append(InputError(exc.message, doc.locate((*parts, *exc.subpath))))
        return None
    return Rule(
        id=raw.get("id", default_id), check=check.name, options=options, prepared=prepared,
        inner=inner, message=raw.get("message"), json_path=json_path(parts),
    )


def _rules(items: list[Any], parts: PathKey, doc: YamlDocument, errors: _Collector,
           id_prefix: str = "") -> tuple[Rule, ...]:
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(items):
        default = raw.get("id") or raw["check"]
        if default in seen and "id" not in raw:
            default = f"{default}#{i + 1}"
        rule = _rule(raw, (*parts, i), doc, id_prefix + default, errors)
        if rule is None:
            continue
        if rule.id in seen:
            errors.errors.append(InputError(
                f"duplicate rule id {rule.id!r} (first at {json_path((*parts, seen[rule.id]))})",
                doc.locate((*parts, i, "id"))))
            continue
        seen[rule.id] = i
        rules.append(rule)
    return tuple(rules)


def load_playbook(path: Path, errors: _Collector) -> Playbook:
    if not path.exists():
        return Playbook(DEFAULT_SEVERITIES, {})
    document = errors.load(path, "playbook")
    if document is None:
        return Playbook(DEFAULT_SEVERITIES, {})
    return Playbook(document.data["severities"], document.data, Source(document.path, document.sha256))


def read_playbook(policies_dir: Path | str = "policies") -> Playbook:
    """Only the playbook of a policy repository (the defaults when it has none); ``InputErrors`` if invalid."""
    errors = _Collector()
    playbook = load_playbook(Path(policies_dir) / PLAYBOOK, errors)
    InputErrors.raise_if_any(errors.errors)
    return playbook


def _policy(doc: YamlDocument, playbook: Playbook, errors: _Collector) -> Policy | None:
    data = doc.data
    before = len(errors.errors)
    if data["severity"] not in playbook.severities:
        known = ", ".join(sorted(playbook.severities))
        errors.errors.append(InputError(
            f"unknown severity {data['severity']!r}; the playbook defines: {known}",
            doc.locate(("severity",))))
    rules = _rules(data["rules"], ("rules",), doc, errors)
    if len(errors.errors) > before:
        return None
    scope = data.get("applies_to", {})
    examples = data.get("examples", {})
    return Policy(
        id=data["id"], version=data["version"], title=data["title"], severity=data["severity"],
        on_fail=OnFail(data["on_fail"]), owner=data["owner"], rules=rules,
        source=Source(doc.path, doc.sha256), status=data.get("status", "active"),
        description=data.get("description", ""), lessons_from=tuple(data.get("lessons_from", ())),
        scope=Scope(frozenset(scope.get("tags", ())), frozenset(scope.get("suites", ()))),
        max_failures=data.get("max_failures", 0),
        examples_pass=tuple(examples.get("pass", ())), examples_fail=tuple(examples.get("fail", ())),
    )


def _suite(doc: YamlDocument, playbook: Playbook, errors: _Collector) -> EvalSuite | None:
    data = doc.data
    before = len(errors.errors)
    severity = data.get("severity", "sev2")
    if severity not in playbook.severities:
        errors.errors.append(InputError(
            f"unknown severity {severity!r}; the playbook defines: {', '.join(sorted(playbook.severities))}",
            doc.locate(("severity",))))
    cases = []
    for i, raw in enumerate(data["cases"]):
        expect = _rules(raw.get("expect", []), ("cases", i, "expect"), doc, errors)
        for j, rule in enumerate(expect):
            if get_check(rule.check).uses_case and "value" not in rule.options and "reference" not in raw:
                errors.errors.append(InputError(
                    f"`{rule.check}` needs a `value` or the case's `reference`",
                    doc.locate(("cases", i, "expect", j))))
        cases.append(EvalCase(
            id=raw["id"], suite=data["suite"], input=raw["input"], reference=raw.get("reference"),
            tags=frozenset(data.get("tags", ())) | frozenset(raw.get("tags", ())),
            slice=MappingProxyType(dict(raw.get("slice", {}))), expect=expect,
        ))
    if len(errors.errors) > before:
        return None
    return EvalSuite(
        suite=data["suite"], cases=tuple(cases), source=Source(doc.path, doc.sha256),
        version=str(data.get("version", "0")), severity=severity,
        on_fail=OnFail(data.get("on_fail", "block")), owner=data.get("owner", ""),
        description=data.get("description", ""), from_incident=data.get("from_incident"),
        tags=frozenset(data.get("tags", ())),
    )


def _waivers(path: Path, known: Mapping[str, frozenset[str]], errors: _Collector,
             case_ids: Iterable[str]) -> tuple[Waiver, ...]:
    if not path.exists():
        return ()
    doc = errors.load(path, "waivers")
    if doc is None:
        return ()
    waivers = []
    for i, raw in enumerate(doc.data["waivers"]):
        if raw["policy"] not in known:
            errors.errors.append(InputError(f"waiver names unknown policy {raw['policy']!r}",
                                            doc.locate(("waivers", i, "policy"))))
            continue
        if "rule" in raw and known[raw["policy"]] and raw["rule"] not in known[raw["policy"]]:
            rules = ", ".join(sorted(known[raw["policy"]]))
            errors.errors.append(InputError(
                f"policy {raw['policy']!r} has no rule {raw['rule']!r}; its rules: {rules}",
                doc.locate(("waivers", i, "rule"))))
            continue
        if raw["policy"].startswith("eval:") and "cases" in raw:
            unknown = sorted(set(raw["cases"]) - set(case_ids))
            if unknown:
                errors.errors.append(InputError(f"waiver names unknown case id(s): {', '.join(unknown)}",
                                                doc.locate(("waivers", i, "cases"))))
                continue
        location = doc.locate(("waivers", i))
        waivers.append(Waiver(
            policy=raw["policy"], reason=raw["reason"], approver=raw["approver"], ticket=raw["ticket"],
            expires=raw["expires"], rule=raw.get("rule"),
            cases=frozenset(raw["cases"]) if "cases" in raw else None,
            location=f"{location.file}:{location.line}",
        ))
    return tuple(waivers)


def load_project(policies_dir: Path | str = "policies", evals_dir: Path | str | None = "evals") -> Project:
    """Load and cross-check everything; raise ``InputErrors`` listing every problem found."""
    policies_dir, errors = Path(policies_dir), _Collector()
    if not policies_dir.is_dir():
        raise InputError("policies directory not found", Location(display_path(policies_dir)))
    playbook = load_playbook(policies_dir / PLAYBOOK, errors)

    policies: list[Policy] = []
    first_seen: dict[str, str] = {}
    for path in yaml_files(policies_dir, exclude=(PLAYBOOK, WAIVERS)):
        doc = errors.load(path, "policy")
        policy = _policy(doc, playbook, errors) if doc is not None else None
        if doc is None or policy is None:
            continue
        if policy.id in first_seen:
            errors.errors.append(InputError(
                f"duplicate policy id {policy.id!r} (also defined in {first_seen[policy.id]})",
                doc.locate(("id",))))
            continue
        first_seen[policy.id] = f"{doc.path}:{doc.locate(('id',)).line}"
        policies.append(policy)

    suites: list[EvalSuite] = []
    cases: dict[str, EvalCase] = {}
    case_places: dict[str, str] = {}
    suite_places: dict[str, str] = {}
    if evals_dir is not None:
        evals_path = Path(evals_dir)
        if not evals_path.is_dir():
            raise InputError("evals directory not found", Location(display_path(evals_path)))
        for path in yaml_files(evals_path):
            doc = errors.load(path, "eval")
            suite = _suite(doc, playbook, errors) if doc is not None else None
            if doc is None or suite is None:
                continue
            if suite.suite in suite_places:
                errors.errors.append(InputError(
                    f"duplicate suite {suite.suite!r} (also defined in {suite_places[suite.suite]})",
                    doc.locate(("suite",))))
                continue
            suite_places[suite.suite] = doc.path
            for i, case in enumerate(suite.cases):
                where = doc.locate(("cases", i, "id"))
                if case.id in case_places:
                    errors.errors.append(InputError(
                        f"duplicate case id {case.id!r} (also defined at {case_places[case.id]})", where))
                    continue
                case_places[case.id] = f"{where.file}:{where.line}"
                cases[case.id] = case
            suites.append(suite)

    known = {p.id: frozenset(r.id for r in p.rules) for p in policies}
    known |= {s.policy_id: frozenset({"output"}) | {r.id for c in s.cases for r in c.expect} for s in suites}
    waivers = _waivers(policies_dir / WAIVERS, known, errors, cases.keys())
    InputErrors.raise_if_any(errors.errors)
    return Project(playbook, tuple(policies), tuple(suites), waivers, MappingProxyType(cases))


def expired_waivers(project: Project, today: str) -> list[InputError]:
    """Waivers past their ``expires`` date: they no longer apply, and validate says so."""
    return [
        InputError(f"waiver for {w.policy}{'/' + w.rule if w.rule else ''} (ticket {w.ticket}) expired on "
                   f"{w.expires}; it no longer applies: renew it with a new date or remove it",
                   Location(w.location.rsplit(':', 1)[0], int(w.location.rsplit(':', 1)[1])))
        for w in project.waivers if w.expired(today)
    ]
