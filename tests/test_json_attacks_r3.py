"""Attacks on the quick yes of a ``json`` rule's schema and of the project's documents (jsonschema_rs).

jsonschema_rs may judge a value only where it says what jsonschema (Draft 2020-12, RE2 for ``pattern``)
says, both ways: a schema under ``not`` turns any no of jsonschema_rs that jsonschema would not give into a
yes that jsonschema refuses, a silent pass. These tests build such schemas (keywords of older drafts that
jsonschema_rs still reads, numbers at the edges of 53 and 64 bits, texts beyond the Basic Multilingual Plane)
and check that jsonschema_rs either agrees or is not asked; and that a broken jsonschema_rs install leaves
the gate working with jsonschema alone.
"""

from __future__ import annotations

import json
import sys
from collections import OrderedDict
from collections.abc import Iterator
from importlib.abc import MetaPathFinder
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.checks.builtin.structured import JsonRule, json_check
from harness.errors import InputError
from harness.io import json_schema, rust_schema, schema
from harness.model import OutputRecord

needs_rs = pytest.mark.skipif(rust_schema.jsonschema_rs_module() is None,
                              reason="jsonschema_rs (the `fast` extra) is not installed")


def prepare(rule_schema: dict[str, Any]) -> JsonRule:
    rule: JsonRule = json_check.prepare({"schema": rule_schema})
    return rule


def findings(rule: JsonRule, output: str) -> list[tuple[str, str]]:
    return [(f.kind, f.message) for f in json_check.fn(rule, OutputRecord("c", output, 1, {}), None)]


def alone(rule: JsonRule) -> JsonRule:
    """The same rule judged by jsonschema alone."""
    return JsonRule(rule.validator, rule.allow_fences)


def jsonschema_accepts(rule_schema: dict[str, Any], value: Any) -> bool:
    return not list(prepare(rule_schema).validator.iter_errors(value))


# --- keywords jsonschema_rs reads in Draft 2020-12 where jsonschema does not -------------------------------------

@needs_rs
@pytest.mark.parametrize(("rule_schema", "output"), [
    pytest.param({"not": {"dependencies": {"a": ["b"]}}}, '{"a": 1}', id="dependencies-names"),
    pytest.param({"not": {"dependencies": {"a": {"required": ["b"]}}}}, '{"a": 1}', id="dependencies-schema"),
    pytest.param({"type": "object", "properties": {"o": {"not": {"dependencies": {"a": ["b"]}}}}},
                 '{"o": {"a": 1}}', id="dependencies-inside"),
])
def test_a_keyword_of_an_older_draft_gives_no_silent_pass(rule_schema: dict[str, Any], output: str) -> None:
    """jsonschema_rs reads draft 7's ``dependencies`` even in Draft 2020-12, which has none: under ``not`` its
    no became a yes to a value jsonschema refuses."""
    rule = prepare(rule_schema)
    expected = findings(alone(rule), output)
    assert expected != []
    assert findings(rule, output) == expected
    assert rule.quick is None or rule.quick(orjson.loads(output)) is False


@pytest.mark.parametrize("rule_schema", [
    pytest.param({"dependencies": {"a": ["b"]}}, id="dependencies"),
    pytest.param({"properties": {"a": {"additionalItems": False}}}, id="additionalItems"),
    pytest.param({"x-note": "a", "type": "string"}, id="unknown"),
    pytest.param({"$defs": {"a": {"nullable": True}}, "$ref": "#/$defs/a"}, id="unknown-behind-a-reference"),
])
def test_only_the_keywords_both_read_alike_get_jsonschema_rs(rule_schema: dict[str, Any]) -> None:
    assert not rust_schema.rust_judges_alike(rule_schema)


@pytest.mark.parametrize("rule_schema", [
    pytest.param({"type": "object", "title": "t", "description": "d", "default": {}, "examples": [{}],
                  "$comment": "c", "deprecated": False, "readOnly": False, "writeOnly": False,
                  "properties": {"dependencies": {"type": "string"}, "x-a": {"format": "date"}},
                  "required": ["dependencies"], "dependentRequired": {"x-a": ["dependencies"]}}, id="annotations"),
    pytest.param({"$defs": {"a": {"type": "integer"}}, "definitions": {"b": {"type": "string"}},
                  "anyOf": [{"$ref": "#/$defs/a"}, {"$ref": "#/definitions/b"}]}, id="definitions"),
])
def test_the_names_of_properties_are_no_keywords(rule_schema: dict[str, Any]) -> None:
    assert rust_schema.rust_judges_alike(rule_schema)


# --- differential: jsonschema_rs says what jsonschema says, both ways ----------------------------------------------

_KEYS = st.sampled_from(["a", "b", "dependencies", "x-a", "\U0001f600", "e\u0301"])
_NUMBERS = st.one_of(
    st.sampled_from([0, -0.0, 1, 1.0, 0.5, 2 ** 53, 2 ** 53 + 1, float(2 ** 53), 2 ** 63 - 1, -(2 ** 63),
                     float(2 ** 63), 2 ** 64 - 1, float(2 ** 64), 1e19, 1.7976931348623157e308, 5e-324]),
    st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False))
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS,
                     st.text(st.sampled_from(["a", "b", "\U0001f600", "e", "\u0301", "\x00", "\n"]), max_size=3))
VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
                      max_leaves=8)
#: schema numbers: what rust_reads_alike takes (64-bit integers, finite floats)
_SCHEMA_NUMBERS = _NUMBERS.filter(lambda n: -(2 ** 63) <= n < 2 ** 63 if isinstance(n, int) else True)


def _schemas(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    sub: st.SearchStrategy[Any] = st.booleans() if depth <= 0 else st.one_of(st.booleans(), _schemas(depth - 1))
    types = st.sampled_from(["string", "integer", "number", "object", "array", "boolean", "null"])
    keyword = st.one_of(
        st.tuples(st.just("type"), st.one_of(types, st.lists(types, min_size=1, max_size=2, unique=True))),
        st.tuples(st.just("enum"), st.lists(VALUES, min_size=1, max_size=3)),
        st.tuples(st.just("const"), VALUES),
        st.tuples(st.sampled_from(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]), _SCHEMA_NUMBERS),
        st.tuples(st.sampled_from(["minLength", "maxLength", "minItems", "maxItems", "minProperties",
                                   "maxProperties", "minContains", "maxContains"]), st.integers(0, 2)),
        st.tuples(st.just("required"), st.lists(_KEYS, max_size=2, unique=True)),
        st.tuples(st.just("properties"), st.dictionaries(_KEYS, sub, max_size=2)),
        st.tuples(st.sampled_from(["additionalProperties", "items", "contains", "not", "if", "then", "else",
                                   "propertyNames"]), sub),
        st.tuples(st.sampled_from(["allOf", "anyOf", "oneOf", "prefixItems"]), st.lists(sub, min_size=1, max_size=2)),
        st.tuples(st.just("dependentRequired"), st.dictionaries(_KEYS, st.lists(_KEYS, max_size=2, unique=True),
                                                                 max_size=2)),
        st.tuples(st.just("dependentSchemas"), st.dictionaries(_KEYS, sub, max_size=2)),
        # keywords of older drafts and of OpenAPI: jsonschema's Draft 2020-12 reads none of them
        st.tuples(st.just("dependencies"), st.dictionaries(_KEYS, st.one_of(st.lists(_KEYS, max_size=2, unique=True),
                                                                            sub), max_size=2)),
        st.tuples(st.sampled_from(["additionalItems", "definitions", "extends", "disallow"]), sub),
        st.tuples(st.sampled_from(["nullable", "exclusiveMinimum", "exclusiveMaximum"]), st.booleans()),
        st.tuples(st.sampled_from(["divisibleBy", "requires", "discriminator", "x-a"]), _SCALARS),
    )
    return st.lists(keyword, max_size=3).map(dict)


def _valid_schema(rule_schema: dict[str, Any]) -> bool:
    try:
        prepare(rule_schema)
    except InputError:
        return False
    return True


@needs_rs
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(_schemas(2).filter(_valid_schema), st.lists(VALUES, min_size=1, max_size=6))
@example({"not": {"dependencies": {"a": ["b"]}}}, [{"a": 1}])
@example({"not": {"minimum": float(2 ** 64)}}, [2 ** 64 - 1])
@example({"not": {"const": [float(2 ** 53)]}}, [[2 ** 53 + 1]])
@example({"not": {"maxLength": 1}}, ["\U0001f600", "e\u0301"])
def test_jsonschema_rs_says_what_jsonschema_says_both_ways(rule_schema: dict[str, Any], values: list[Any]) -> None:
    """Wherever jsonschema_rs is asked, its yes and its no are jsonschema's: a no it gave alone would be a yes
    under ``not``. The values are those orjson reads (the only ones given to it)."""
    quick = json_schema.rust_validator(rule_schema)
    if quick is None:
        return  # not asked: jsonschema alone
    for value in values:
        try:
            read = orjson.loads(orjson.dumps(value))
        except orjson.JSONEncodeError:
            continue  # an integer orjson cannot write: the check would not give it to jsonschema_rs either
        assert quick(read) is jsonschema_accepts(rule_schema, read), (rule_schema, read)
        output = json.dumps(read)
        for judged in (rule_schema, {"not": rule_schema}, {"anyOf": [rule_schema, {"const": "x"}]}):
            rule = prepare(judged)  # the explainer passes over what jsonschema_rs accepts: the same findings
            assert findings(rule, output) == findings(alone(rule), output), (judged, output)


# --- fastjsonschema (the quick yes without jsonschema_rs, and for values only json reads) ---------------------------

@pytest.mark.parametrize(("rule_schema", "output"), [
    pytest.param({"not": {"dependencies": {"a": ["b"]}}}, '{"a": 1}', id="dependencies"),
    pytest.param({"not": {"contentMediaType": "application/json"}}, '"not json"', id="content-media-type"),
    pytest.param({"definitions": {"a": {"type": "string"}}, "$ref": "#/definitions/a", "maxLength": 2}, '"abc"',
                 id="beside-a-reference"),
    pytest.param({"properties": {"x": {"type": "string"}}, "items": {"$ref": "#/properties/x", "maxLength": 2}},
                 '["abc"]', id="beside-an-inner-reference"),
    pytest.param({"definitions": {"a": {"minimum": 3}},
                  "properties": {"p": {"$ref": "#/definitions/a", "type": "integer"}}}, '{"p": 3.5}',
                 id="type-beside-a-reference"),
])
@pytest.mark.parametrize("installed", [True, False], ids=["with-jsonschema_rs", "without"])
def test_fastjsonschema_gives_no_silent_pass(monkeypatch: pytest.MonkeyPatch, rule_schema: dict[str, Any],
                                             output: str, installed: bool) -> None:
    """fastjsonschema reads by draft 7: ``dependencies`` and ``contentMediaType`` (which Draft 2020-12 reads
    not), and nothing beside a ``$ref`` (where Draft 2020-12 reads all): without jsonschema_rs, or where it is
    not asked, its quick yes passed these outputs."""
    if not installed:
        monkeypatch.setattr(rust_schema, "jsonschema_rs_module", lambda: None)
    rule = prepare(rule_schema)
    expected = findings(alone(rule), output)
    assert expected != []
    assert findings(rule, output) == expected


def test_a_default_is_never_written_into_the_output_another_rule_reads() -> None:
    """fastjsonschema filled in ``default`` values, in the parsed output that the next rule judging the same
    output reads: a rule requiring ``approved`` passed an output without it."""
    with_default = prepare({"type": "object", "uniqueItems": True, "properties": {"approved": {"default": True}}})
    requiring = prepare({"required": ["approved"]})
    record = OutputRecord("c", '{"n": 1}', 1, {})
    assert json_check.fn(with_default, record, None) == ()
    assert [f.message for f in json_check.fn(requiring, record, None)] == ["$: 'approved' is a required property"]


# --- a broken or unknown jsonschema_rs ------------------------------------------------------------------------------

class _Broken(MetaPathFinder):
    """An install of jsonschema_rs whose import fails with more than ``ImportError`` (a stale extension)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name == "jsonschema_rs":
            raise AttributeError("module 'jsonschema_rs.jsonschema_rs' has no attribute 'Draft202012Validator'")
        return None


@pytest.fixture()
def fresh_rs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """jsonschema_rs looked up anew, and the documents' judges built anew, for the test and after it."""
    cached = getattr(rust_schema, "_jsonschema_rs", None)
    if cached is not None:
        cached.cache_clear()
    monkeypatch.setattr(schema, "_RUST", OrderedDict())
    yield
    if cached is not None:
        cached.cache_clear()


def test_a_broken_jsonschema_rs_leaves_jsonschema_to_judge(monkeypatch: pytest.MonkeyPatch, fresh_rs: None) -> None:
    monkeypatch.delitem(sys.modules, "jsonschema_rs", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_Broken(), *sys.meta_path])
    assert rust_schema.jsonschema_rs_module() is None
    rule = prepare({"type": "object", "required": ["a"]})
    assert rule.quick is None
    assert findings(rule, "{}") == [("json_schema", "$: 'a' is a required property")]
    assert schema.rust_validator("policy") is None


@pytest.mark.parametrize("version", ["0.18.0", "0.62.0", "1.0.0", "0.61.2rc1"])
def test_a_version_the_quick_yes_was_not_checked_against_is_not_used(monkeypatch: pytest.MonkeyPatch,
                                                                      fresh_rs: None, version: str) -> None:
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "version", lambda name: version)
    assert rust_schema.jsonschema_rs_module() is None
    assert prepare({"type": "object"}).quick is None


# --- values nested nearly as deep as orjson reads (1023 levels) -----------------------------------------------------

def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(("rule_schema", "output"), [
    pytest.param({"$defs": {"any": {}}, "anyOf": [{"type": "string"}, {"$ref": "#/$defs/any"}]}, _deep(1000),
                 id="a-yes-jsonschema-cannot-give"),
    pytest.param({"$defs": {"n": {"type": "integer"}}, "properties": {
        "a": {"anyOf": [{"type": "string"}, {}]}, "b": {"$ref": "#/$defs/n"}}}, '{"a": ' + _deep(1000) + ', "b": "x"}',
                 id="an-explanation"),
    pytest.param({"not": {"type": "string"}}, _deep(1000), id="not"),
])
def test_a_value_too_deep_for_jsonschema_gets_its_finding(rule_schema: dict[str, Any], output: str) -> None:
    """jsonschema runs out of stack when it words an error about a value 1,000 levels deep, which orjson reads:
    jsonschema_rs's yes, or its explainer passing over that part, gave findings other than jsonschema's."""
    rule = prepare(rule_schema)
    expected = findings(alone(rule), output)
    if rule.fast is not None:
        assert findings(rule, output) in ([], expected)  # fastjsonschema's yes, as before jsonschema_rs
    else:
        assert findings(rule, output) == expected


_SHARED = {"definitions": {"s": {"type": "string", "maxLength": 2}, "n": {"minimum": 3}}}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.one_of(_schemas(2), st.builds(lambda ref, rest: {**_SHARED, "$ref": ref, **rest},
                                        st.sampled_from(["#/definitions/s", "#/definitions/n"]), _schemas(1)))
       .filter(_valid_schema), st.lists(VALUES, min_size=1, max_size=6))
def test_without_jsonschema_rs_the_findings_are_those_of_jsonschema_alone(monkeypatch: pytest.MonkeyPatch,
                                                                          rule_schema: dict[str, Any],
                                                                          values: list[Any]) -> None:
    """fastjsonschema's quick yes (draft 7), where jsonschema_rs is not installed, under ``not`` too."""
    monkeypatch.setattr(rust_schema, "jsonschema_rs_module", lambda: None)
    for judged in (rule_schema, {**{k: v for k, v in rule_schema.items() if k == "definitions"}, "not": rule_schema}):
        rule = prepare(judged)
        for value in values:
            output = json.dumps(value)
            assert findings(rule, output) == findings(alone(rule), output), (judged, output)
