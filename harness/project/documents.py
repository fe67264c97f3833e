"""One policy file, one eval suite file: typed records from checked documents."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..io.yaml import PathKey
from ..model import EvalCase, EvalSuite, Example, MaxFailures, OnFail, Playbook, Policy, Rule, Scope, Source
from .case_rules import SharedRules
from .rules import Problems, build_rules


def _severity(data: Mapping[str, Any], playbook: Playbook, problems: Problems, default: str | None = None) -> str:
    severity = data.get("severity", default)
    if isinstance(severity, str) and severity not in playbook.severities and \
            not problems.schema_error_under(("severity",)):
        known = ", ".join(sorted(playbook.severities))
        problems.add(f"unknown severity {severity!r}; the playbook defines: {known}", ("severity",))
    return str(severity)


def _example(raw: Any, expect: Any, location: Any) -> Example:
    """An example written as a text, or as an output record (its ``output`` and the metadata rules read)."""
    if isinstance(raw, Mapping):
        return Example(raw["output"], expect, location,
                       MappingProxyType({k: v for k, v in raw.items() if k != "output"}))
    return Example(raw, expect, location)


def build_policy(problems: Problems, playbook: Playbook, checks: Mapping[str, Any]) -> Policy | None:
    """The policy of a document; ``None`` when it has any problem (all of them recorded)."""
    doc, data = problems.document, problems.document.data
    severity = _severity(data, playbook, problems)
    rules = build_rules(data.get("rules"), ("rules",), checks, problems)
    limit = MaxFailures()
    if "max_failures" in data and not problems.schema_error_under(("max_failures",)):
        try:
            limit = MaxFailures.parse(data["max_failures"])
        except ValueError as exc:
            problems.add(str(exc), ("max_failures",))
    if problems.errors:
        return None
    scope = data.get("applies_to", {})
    examples = data.get("examples", {})
    return Policy(
        id=data["id"], version=data["version"], title=data["title"], severity=severity,
        on_fail=OnFail(data["on_fail"]), owner=data["owner"], rules=rules,
        source=Source(doc.path, doc.sha256), status=data.get("status", "active"),
        description=data.get("description", ""), lessons_from=tuple(data.get("lessons_from", ())),
        scope=Scope(frozenset(scope.get("tags", ())), frozenset(scope.get("suites", ()))),
        max_failures=limit,
        examples=tuple(_example(raw, expect, doc.locate(("examples", expect, i)))
                       for expect in ("pass", "fail") for i, raw in enumerate(examples.get(expect, ()))),
    )


def build_suite(problems: Problems, playbook: Playbook, checks: Mapping[str, Any],
                shared: SharedRules | None = None) -> EvalSuite | None:
    """The eval suite of a document; ``None`` when it has any problem (all of them recorded).

    ``shared`` builds the cases' rules, preparing each distinct rule once across the suites it serves.
    """
    doc, data = problems.document, problems.document.data
    shared = shared if shared is not None else SharedRules(checks)
    severity = _severity(data, playbook, problems, "sev2")
    cases: list[EvalCase] = []
    raw_cases = data.get("cases") if isinstance(data.get("cases"), list) else []
    known = None
    if not problems.errors and raw_cases:  # schema-valid: the cases built at once, their rules when first read
        known = shared.cases(raw_cases, data["suite"], frozenset(data.get("tags", ())), problems)
    if known is not None:
        raw_cases = []
    for i, raw in enumerate(raw_cases):
        if not isinstance(raw, dict):
            continue

        def needs_reference(rule: Rule, parts: PathKey, raw: dict[str, Any] = raw) -> None:
            if rule.impl.uses_case and "value" not in rule.options and "reference" not in raw:
                problems.add(f"`{rule.check}` needs a `value` or the case's `reference`", parts)

        expect = shared.build(raw.get("expect", []), ("cases", i, "expect"), problems, needs_reference)
        if problems.errors:
            continue
        cases.append(EvalCase(
            id=raw["id"], suite=data["suite"], input=raw["input"], reference=raw.get("reference"),
            tags=frozenset(data.get("tags", ())) | frozenset(raw.get("tags", ())),
            slice=MappingProxyType(dict(raw.get("slice", {}))), expect=expect,
        ))
    if problems.errors:
        return None
    return EvalSuite(
        suite=data["suite"], cases=known.cases if known is not None else tuple(cases),
        source=Source(doc.path, doc.sha256),
        version=str(data.get("version", "0")), severity=severity,
        on_fail=OnFail(data.get("on_fail", "block")), owner=data.get("owner", ""),
        description=data.get("description", ""), from_incident=data.get("from_incident"),
        tags=frozenset(data.get("tags", ())), known_rule_ids=known.rule_ids if known is not None else None,
        known_checks=known.checks if known is not None else None,
        cases_path=getattr(doc, "cases_path", None), case_lines=getattr(doc, "case_lines", ()),
    )
