"""The quick yes of a project's documents (jsonschema_rs, the ``fast`` extra) never accepts what jsonschema refuses.

Loading a project judged each policy, suite, playbook and waivers file with jsonschema. jsonschema_rs
now says yes first, with jsonschema's own ``re`` and format checker for ``pattern`` and ``format``, and
jsonschema only explains a no: the errors of an invalid file are word for word those of before.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import InputErrors
from harness.io import rust_schema, schema
from harness.io.yaml import YamlDocument, load_yaml, parse_yaml
from harness.project import inspect_project, load_project

ROOT = Path(__file__).resolve().parents[1]
needs_rs = pytest.mark.skipif(rust_schema.jsonschema_rs_module() is None,
                              reason="jsonschema_rs (the `fast` extra) is not installed")


def _checks() -> Mapping[str, Any]:
    return load_project(ROOT / "policies", ROOT / "evals").checks


CHECKS = _checks()


def _schema_of(path: Path) -> tuple[str, Mapping[str, Any] | None]:
    """The schema a shipped file is read with, and the checks it is read with (as the loader does)."""
    if path.name == "playbook.yaml":
        return "playbook", None
    if path.name == "waivers.yaml":
        return "waivers", None
    return ("eval" if path.parts[-3] == "evals" or "evals" in path.parts else "policy"), CHECKS


SHIPPED = sorted([*(ROOT / "policies").rglob("*.yaml"), *(ROOT / "evals").rglob("*.yaml")])
SHIPPED = [path for path in SHIPPED if path.name != "signoffs.yaml" and "templates" not in path.parts]


def slow_errors(document: YamlDocument, name: str, checks: Mapping[str, Any] | None) -> list[str]:
    """The errors of jsonschema alone: what every small file got before."""
    original = schema._quick_yes
    schema._quick_yes = lambda *args: False  # type: ignore[assignment]
    try:
        return [str(e) for e in schema.schema_errors(document, name, checks)]
    finally:
        schema._quick_yes = original  # type: ignore[assignment]


def errors(document: YamlDocument, name: str, checks: Mapping[str, Any] | None) -> list[str]:
    return [str(e) for e in schema.schema_errors(document, name, checks)]


def jsonschema_refuses(data: Any, name: str, checks: Mapping[str, Any] | None) -> bool:
    return any(True for _ in schema.validator(name, checks).iter_errors(data))


@needs_rs
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_document_gets_the_quick_yes(path: Path) -> None:
    name, checks = _schema_of(path)
    judge = schema.rust_validator(name, checks)
    assert judge is not None
    document = load_yaml(path, str(path))
    assert judge(document.data) is True
    assert not jsonschema_refuses(document.data, name, checks)


@needs_rs
@pytest.mark.parametrize(("name", "checks"), [("policy", CHECKS), ("eval", CHECKS), ("playbook", None),
                                              ("waivers", None)])
def test_each_project_schema_has_a_jsonschema_rs_judge(name: str, checks: Mapping[str, Any] | None) -> None:
    assert schema.rust_validator(name, checks) is not None


# --- invalid documents: the errors of before ------------------------------------------------------------------------

POLICY = (ROOT / "policies" / "quality" / "format.yaml").read_text("utf-8")
SUITE = (ROOT / "evals" / "quality" / "order-api-format.yaml").read_text("utf-8")
PLAYBOOK = (ROOT / "policies" / "playbook.yaml").read_text("utf-8")
WAIVERS = (ROOT / "policies" / "waivers.yaml").read_text("utf-8")


@pytest.mark.parametrize(("text", "name"), [
    pytest.param(POLICY.replace("severity: sev3", "severity: sev3x"), "policy", id="severity-pattern"),
    pytest.param(POLICY.replace("version: 2.0.1", "version: '2.0.1\\n'"), "policy", id="dollar-before-newline"),
    pytest.param(POLICY.replace("id: quality.order-api-format", 'id: "quality.order\\n"'), "policy",
                 id="id-with-newline"),
    pytest.param(POLICY.replace("max_failures: 0", "max_failures: .inf"), "policy", id="infinity"),
    pytest.param(POLICY.replace("max_failures: 0", "max_failures: .nan"), "policy", id="nan"),
    pytest.param(POLICY.replace("max_failures: 0", "max_failures: 100000000000000000000000"), "policy",
                 id="big-integer"),
    pytest.param(POLICY.replace("max_failures: 0", "max_failures: 0\nunknown: 1"), "policy", id="unknown-key"),
    pytest.param(POLICY.replace("    allow_fences: false", "    allow_fences: 1"), "policy", id="check-option"),
    pytest.param(POLICY.replace("    allow_fences: false", "    allow_fences: false\n    mask: half"), "policy",
                 id="common-option"),
    pytest.param(POLICY.replace("check: length", "check: lenght"), "policy", id="unknown-check"),
    pytest.param(POLICY + "deep: " + "[" * 100 + "]" * 100 + "\n", "policy", id="deep"),
    pytest.param(SUITE.replace("cases:", "cases_file: /etc/cases.jsonl\ncases:"), "eval", id="look-ahead-pattern"),
    pytest.param(SUITE.replace("cases:", "cases_file: a/../../b.jsonl\ncases:"), "eval", id="look-ahead-dots"),
    pytest.param(SUITE.replace("cases:", "cases_file: 'a.jsonl\\n'\ncases:"), "eval", id="look-ahead-newline"),
    pytest.param(SUITE.replace("severity: sev3", "severity: 3"), "eval", id="suite-type"),
    pytest.param(PLAYBOOK + "\nextra: true\n", "playbook", id="playbook-key"),
    pytest.param(WAIVERS.replace("waivers:", "waivers:\n  - {policy: x, reason: r, approver: a, ticket: t,"
                                             " approved: 2026-01-01, expires: 2026-02-30}"), "waivers",
                 id="format-date"),
    pytest.param(WAIVERS.replace("waivers:", "waivers:\n  - {policy: x, reason: r, approver: a, ticket: t,"
                                             " approved: 2026-01-01, expires: 2026-02-03}"), "waivers",
                 id="format-date-valid"),
])
def test_the_errors_of_a_document_are_those_of_jsonschema_alone(text: str, name: str) -> None:
    document = parse_yaml(text, "doc.yaml")
    checks = CHECKS if name in ("policy", "eval") else None
    assert errors(document, name, checks) == slow_errors(document, name, checks)
    judge = schema.rust_validator(name, checks)
    if judge is not None and jsonschema_refuses(document.data, name, checks):
        assert judge(document.data) is False


def test_a_document_that_is_no_json_value_is_left_to_jsonschema() -> None:
    """jsonschema_rs reads a tuple as an array and takes an infinity for a number below any maximum."""
    assert schema._json_document({"a": [1, 2.5, "x", None, True, {"b": []}]})
    assert schema._json_document(_nested(60))
    for odd in ({"a": (1, 2)}, {"a": math.inf}, {"a": math.nan}, {1: "a"}, {"a": 2 ** 64}, {"a": b"x"},
                {"a": {1, 2}}, _nested(70)):
        assert not schema._json_document(odd), odd


@needs_rs
@pytest.mark.parametrize("change", [
    pytest.param(lambda policy: policy["rules"][0].update(q=math.inf), id="infinity"),
    pytest.param(lambda policy: policy.update(rules=tuple(policy["rules"])), id="tuple"),  # an array to jsonschema_rs
])
def test_what_is_no_json_value_is_left_to_jsonschema(change: Any) -> None:
    policy = yaml.safe_load(POLICY)
    policy["rules"] = [{"id": "p95", "check": "quantile", "field": "latency_ms", "q": 0.95, "max": 10}]
    judge = schema.rust_validator("policy", CHECKS)
    assert judge is not None and judge(policy) is True
    assert not jsonschema_refuses(policy, "policy", CHECKS)
    change(policy)
    assert jsonschema_refuses(policy, "policy", CHECKS)
    assert judge(policy) is False


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


# --- differential: shipped documents, changed at random -------------------------------------------------------------

def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _paths(value, (*prefix, i))


def _documents() -> list[tuple[str, str, Any]]:
    found = []
    for path in SHIPPED:
        name, _ = _schema_of(path)
        found.append((str(path.relative_to(ROOT)), name, load_yaml(path, str(path)).data))
    return found


DOCUMENTS = _documents()
_WORDS = st.sampled_from(["", "x", "sev2", "sev9", "block", "warn", "json", "regex", "pii", "length", "1.0.0",
                          "1.0", "INC-2026-0001", "INC-7", "2026-01-01", "2026-02-30", "a.b", "no pii", "30m",
                          "3 days", "match", "a.jsonl", "/a.jsonl", "a/../b.jsonl", "x\n", "order-api", "é"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 200), st.sampled_from([0.5, 1.5, -1.0, 1e300, 2 ** 63]),
                     _WORDS, st.text(max_size=5))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_WORDS, inner, max_size=3),
                       max_leaves=6)


@st.composite
def changed_documents(draw: st.DrawFn) -> tuple[str, Any]:
    _, name, data = draw(st.sampled_from(DOCUMENTS))
    data = copy.deepcopy(data)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(data))))
        if not path:
            continue
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(_VALUES)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(_WORDS)] = draw(_VALUES)
        else:
            parent.append(draw(_VALUES))
    return name, data


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(changed_documents())
def test_changed_documents_get_the_errors_of_jsonschema_alone(changed: tuple[str, Any]) -> None:
    name, data = changed
    checks = CHECKS if name in ("policy", "eval") else None
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    document = parse_yaml(text, "doc.yaml")
    judge = schema.rust_validator(name, checks)
    if judge is not None and judge(document.data):
        assert not jsonschema_refuses(document.data, name, checks)
    assert errors(document, name, checks) == slow_errors(document, name, checks)


# --- without jsonschema_rs: jsonschema judges, as before -------------------------------------------------------------

def test_without_jsonschema_rs_a_project_loads_as_before(monkeypatch: pytest.MonkeyPatch, repo: Any,
                                                         policy_text: Any) -> None:
    monkeypatch.setattr(rust_schema, "jsonschema_rs_module", lambda: None)
    monkeypatch.setattr(schema, "_RUST", OrderedDict())
    assert schema.rust_validator("policy", CHECKS) is None
    project = load_project(ROOT / "policies", ROOT / "evals")
    assert {p.id for p in project.policies} >= {"quality.order-api-format"}
    repo.policy("p.yaml", policy_text("- {id: r, check: pii}\n").replace("severity: sev2", "severity: high"))
    with pytest.raises(InputErrors) as raised:
        load_project(repo.policies, repo.evals)
    assert [str(e) for e in raised.value.errors] == [
        f"{repo.policies}/p.yaml:4:11: $.severity: 'high' has the wrong form; use a severity like sev1"]


@needs_rs
def test_with_and_without_jsonschema_rs_an_invalid_project_has_the_same_errors(monkeypatch: pytest.MonkeyPatch,
                                                                              repo: Any, policy_text: Any) -> None:
    repo.policy("p.yaml", policy_text("- {id: r, check: regex, pattern: x, must: sometimes}\n"))
    repo.policy("q.yaml", policy_text("- {id: r, check: pii}\n").replace("id: ", "id: q", 1))
    _, fast = inspect_project(repo.policies, repo.evals)
    monkeypatch.setattr(rust_schema, "jsonschema_rs_module", lambda: None)
    monkeypatch.setattr(schema, "_RUST", OrderedDict())
    _, slow = inspect_project(repo.policies, repo.evals)
    assert [str(e) for e in fast] == [str(e) for e in slow] != []
