"""The quick yeses of a ``json`` rule's schema never accept what jsonschema (with RE2) refuses.

jsonschema_rs (the ``fast`` extra) judges the values orjson read, fastjsonschema the others (and all of
them without jsonschema_rs); jsonschema explains every no, passing over the parts jsonschema_rs accepts.
Each test compares the findings a user reads with those of jsonschema alone, on the shipped order
schema and on schemas built to catch the two apart: patterns (Unicode ``\\s``, ``$``, classes),
numbers (an infinity, 2**53 + 1, ``multipleOf``), references (cycles), formats and unknown keywords.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import re2
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from harness.checks.builtin import structured
from harness.checks.builtin.structured import JsonRule, json_check
from harness.errors import InputError
from harness.io import rust_schema
from harness.io.rust_schema import portable_pattern, rust_judges_alike, rust_pattern
from harness.model import OutputRecord

ROOT = Path(__file__).resolve().parents[1]
needs_rs = pytest.mark.skipif(rust_schema.jsonschema_rs_module() is None,
                              reason="jsonschema_rs (the `fast` extra) is not installed")


def order_schema() -> dict[str, Any]:
    policy = yaml.safe_load((ROOT / "policies" / "quality" / "format.yaml").read_text("utf-8"))
    [rule] = [rule for rule in policy["rules"] if rule["id"] == "valid-order-json"]
    schema: dict[str, Any] = rule["schema"]
    return schema


ORDER = order_schema()
GOOD_ORDER = {"order_id": "A-48213", "status": "shipped", "currency": "USD", "total": 54.98,
              "items": [{"sku": "KT-2040", "name": "Acme KettlePro 1.7 L", "quantity": 1, "unit_price": 49.99}],
              "carrier": "UPS", "estimated_delivery": "2026-11-24", "updated_at": "2026-11-21T09:12:44Z"}


def prepare(schema: dict[str, Any], allow_fences: bool = False) -> JsonRule:
    rule: JsonRule = json_check.prepare({"schema": schema, "allow_fences": allow_fences})
    return rule


def alone(rule: JsonRule) -> JsonRule:
    """The same rule judged by jsonschema alone: no quick yes, no parts passed over."""
    return JsonRule(rule.validator, rule.allow_fences)


def findings(rule: JsonRule, output: str) -> list[tuple[str, str]]:
    """The findings, or the exception the check raises, which the engine reports as a crashed check (a lone
    surrogate against a pattern: RE2 cannot read it; an infinity against ``multipleOf``), with either validator."""
    try:
        return [(f.kind, f.message) for f in json_check.fn(rule, OutputRecord("c", output, 1, {}), None)]
    except (UnicodeEncodeError, OverflowError) as exc:
        return [("crashed", f"{type(exc).__name__}: {exc}")]


def assert_as_jsonschema_alone(rule: JsonRule, output: str) -> None:
    """The findings equal jsonschema's, and neither quick yes accepts a value jsonschema refuses."""
    expected, found = findings(alone(rule), output), findings(rule, output)
    if expected == [TOO_DEEP] and rule.fast is not None and (rule.quick is None or not _by_orjson(rule, output)):
        assert found in ([], expected)  # fastjsonschema's yes where jsonschema runs out of stack: as before
    else:
        assert found == expected
    value, problem = structured.parse_json_output(output, rule.allow_fences)
    if problem is not None:
        return
    too_deep = False
    try:
        refused = bool(list(rule.validator.iter_errors(value)))
    except (UnicodeEncodeError, OverflowError):
        refused = True
    except RecursionError:
        refused = too_deep = True
    if rule.quick is not None and refused:
        value, _, by_orjson = structured._parsed(output, rule.allow_fences)
        assert not (by_orjson and rule.quick(value)), output
    if rule.fast is not None and refused and not too_deep:
        with pytest.raises(Exception):  # noqa: B017 - fastjsonschema raises its own exception, or trips
            rule.fast(value)


TOO_DEEP = ("json_schema", "$: nested too deeply to validate against the schema")


def _by_orjson(rule: JsonRule, output: str) -> bool:
    return structured._parsed(output, rule.allow_fences)[2]


# --- schemas built to tell the validators apart --------------------------------------------------------------------

#: (id, schema, whether jsonschema_rs may judge it)
SCHEMAS: list[tuple[str, dict[str, Any], bool]] = [
    ("order", ORDER, True),
    ("ascii-classes", {"type": "string", "pattern": "^[A-Z]{2,4}-[0-9]{3,5}$"}, True),
    ("dot-and-dollar", {"type": "string", "pattern": "a.c$"}, True),
    ("negated-class", {"type": "string", "pattern": "^[^a-z]*$"}, True),
    ("alternation", {"type": "string", "pattern": "^(ab|c\\.d)+?e{1,3}(?:x|y)?$"}, True),
    ("unicode-space", {"type": "string", "pattern": "^\\s+$"}, False),  # \s: Unicode in Rust's regex, ASCII in RE2
    ("unicode-digit", {"type": "string", "pattern": "^\\d+$"}, False),
    ("word-boundary", {"type": "string", "pattern": "\\bab\\b"}, False),
    ("pattern-properties", {"type": "object", "patternProperties": {"^x-[a-z]+$": {"type": "integer"}},
                            "additionalProperties": False}, True),
    ("property-names", {"type": "object", "propertyNames": {"pattern": "^[a-z_]+$", "maxLength": 3}}, True),
    ("formats", {"type": "object", "properties": {"e": {"format": "email"}, "d": {"format": "date"},
                                                  "u": {"format": "uri"}}}, True),
    ("defs", {"$defs": {"item": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}},
              "type": "array", "items": {"$ref": "#/$defs/item"}}, True),
    # a keyword neither reads (`components`): jsonschema_rs reads some that jsonschema does not (`dependencies`)
    ("outside-keywords", {"components": {"x": {"type": "integer", "minimum": 3}},
                          "properties": {"a": {"$ref": "#/components/x"}, "b": {"$ref": "#/components/x"}}}, False),
    ("definitions", {"definitions": {"x": {"type": "integer", "minimum": 3}},
                     "properties": {"a": {"$ref": "#/definitions/x"}, "b": {"$ref": "#/definitions/x"}}}, True),
    ("recursive", {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}}}, False),
    ("mutual", {"$defs": {"a": {"type": "array", "items": {"$ref": "#/$defs/b"}},
                          "b": {"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"}, False),
    ("numbers", {"type": "object", "properties": {
        "i": {"type": "integer", "minimum": 0, "maximum": 9007199254740993},
        "x": {"exclusiveMaximum": 1.5, "exclusiveMinimum": -0.0},
        "c": {"const": 9007199254740993}, "e": {"enum": [1, "1", True, None, [1], {"a": 1}]}}}, True),
    ("bounded", {"maximum": 5}, True),
    ("multiple-of", {"multipleOf": 0.1}, False),  # 0.3: jsonschema_rs says yes, jsonschema no
    ("unique-items", {"type": "array", "uniqueItems": True}, False),
    ("arrays", {"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "integer"},
                "contains": {"type": "integer", "minimum": 2}, "minContains": 1, "maxContains": 2}, True),
    ("applicators", {"anyOf": [{"type": "string", "minLength": 2}, {"type": "integer"}],
                     "oneOf": [{"type": "string", "maxLength": 3}, {"type": ["integer", "string"]}],
                     "not": {"const": "no"},
                     "if": {"type": "integer"}, "then": {"minimum": 10}, "else": {"pattern": "^[a-z]+$"}}, True),
    ("dependent", {"type": "object", "dependentRequired": {"a": ["b"]},
                   "dependentSchemas": {"c": {"required": ["d"]}}}, True),
    ("lengths", {"type": "string", "minLength": 2, "maxLength": 3}, True),
    ("unknown-keyword-with-pattern", {"type": "string", "x-note": {"pattern": "\\d"}}, False),
    ("nested-id", {"properties": {"a": {"$id": "http://example.com/a", "type": "integer"}}}, False),
    ("nullable-pattern", {"type": ["string", "null"], "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}, True),
    # ECMA's `.` (jsonschema_rs) takes no "\r", U+2028 or U+2029; RE2's does: the quick yes reads it as [^\n]
    ("dot-negated", {"not": {"pattern": "^a.$"}}, True),
    ("dot-pattern-properties", {"type": "object", "patternProperties": {"^a.$": {"type": "integer"}}}, True),
    ("dot-property-names", {"not": {"propertyNames": {"pattern": "^a.$"}}}, True),
]
#: outputs chosen to find the differences (each judged against every schema)
OUTPUTS: list[str] = [
    json.dumps(GOOD_ORDER),
    json.dumps({**GOOD_ORDER, "status": "lost"}),
    json.dumps({**GOOD_ORDER, "order_id": "A-4821", "items": [{"sku": "kt-2040"}], "total": -1}),
    json.dumps({**GOOD_ORDER, "updated_at": "2026-11-21T09:12:44Z\n", "extra": 1}),
    json.dumps({**GOOD_ORDER, "items": []}),
    json.dumps({**GOOD_ORDER, "estimated_delivery": None, "carrier": None}),
    json.dumps({**GOOD_ORDER, "items": [{**GOOD_ORDER["items"][0], "quantity": 1.0}]}),  # 1.0 is an integer
    json.dumps({**GOOD_ORDER, "items": [{**GOOD_ORDER["items"][0], "quantity": 1.5}]}),
    json.dumps({**GOOD_ORDER, "total": 18446744073709551616}),  # beyond 64 bits: json reads it
    '{"order_id": "A-48213", "order_id": "A-4821"}',  # a repeated key: the last one counts
    "\xa0", '"\\u00a0"', '" \\t"', '"\\u2003"', '"\\u0663\\u0664"', '"12"', '"ab"', '"a ab"', '"abc"', '"abc\\n"',
    '"a\\nc"', '"AB-123"', '"AB-123\\n"', '"ABC"', '"abcd"', '"\\ud83d\\ude00x"', '"\\ud800"', '"no"', '"x"', '"e"',
    '"ab!e"', '"c.dee"', '"abe"', '"2026-11-24"', '"2026-11-24\\n"', 'null', "0", "0.3", "0.30000000000000004",
    "3", "5", "5.0", "5.000000000000001", "1e400", "-1e400", "9007199254740993", "9007199254740992.0", "1.0",
    "true", "[]", "[1]", "[1, 1]", "[1, 1.0]", '["a", 1, 2, 3]', '["a", 2]', '[1, true]', '[[1], [1.0]]',
    '[{"n": 1}, {"n": "1"}]', '[{"n": 1}, {}]', '{"a": 3, "b": 4}', '{"a": 2}', '{"a": "x"}', '{"x-ab": 1}',
    '{"x-AB": 1}', '{"x-ab": "1"}', '{"abc": 1, "ab_": 2}', '{"abcd": 1}', '{"A": 1}', '{"a": 1}', '{"c": 1}',
    '{"c": 1, "d": 2}', '{"a": 1, "b": 2}', '{"e": "not an e-mail", "d": "2026-02-30", "u": "no uri"}',
    '{"i": 9007199254740993}', '{"i": 9007199254740994}', '{"i": 9007199254740992.0}', '{"i": -1}',
    '{"x": 1.5}', '{"x": 0}', '{"x": -0.0}', '{"x": 1.4999999999999998}', '{"c": 9007199254740992.0}',
    '{"c": 9007199254740993}', '{"e": true}', '{"e": 1.0}', '{"e": "1"}', '{"e": [true]}', '{"e": {"a": 1.0}}',
    '{"kids": [{"kids": [{"kids": 1}]}]}', '{"a": {"$id": 1}}', "[[[[]]]]", "[1, [2, [3]]]",
    '{"items": [' + ", ".join(["1"] * 30) + "]}",
    '"a\\r"', '"a\\u2028"', '"a\\u2029"', '"a\\n"', '{"a\\r": "s"}', '{"a\\u2028": 1}', '{"a\\n": "s"}',
    "[" * 600 + "]" * 600, '{"kids": ' + "[{\"kids\": " * 300 + "[]" + "}]" * 300 + "}",
    "```json\n{}\n```", "not json", "[1,]", "NaN", '{"a": Infinity}',
]


@pytest.mark.parametrize(("schema", "rust"), [pytest.param(s, r, id=i) for i, s, r in SCHEMAS])
def test_the_findings_are_those_of_jsonschema_alone(schema: dict[str, Any], rust: bool) -> None:
    rule = prepare(schema)
    for output in OUTPUTS:
        assert_as_jsonschema_alone(rule, output)


@pytest.mark.parametrize(("schema", "rust"), [pytest.param(s, r, id=i) for i, s, r in SCHEMAS])
def test_jsonschema_rs_judges_only_the_schemas_it_reads_alike(schema: dict[str, Any], rust: bool) -> None:
    assert rust_judges_alike({k: v for k, v in schema.items() if k != "$schema"}) is rust
    if rust_schema.jsonschema_rs_module() is not None:
        rule = prepare(schema)
        assert (rule.quick is not None) is rust
        assert (rule.explainer is not None) is rust


@needs_rs
def test_the_shipped_order_schema_gets_jsonschema_rs_and_its_explainer() -> None:
    rule = prepare(ORDER)
    assert rule.quick is not None and rule.explainer is not None
    assert rule.quick(GOOD_ORDER) is True
    broken = {**GOOD_ORDER, "status": "lost", "items": [{**GOOD_ORDER["items"][0], "sku": "kt-2040"}]}
    assert rule.quick(broken) is False
    assert findings(rule, json.dumps(broken)) == [
        ("json_schema", "$.items[0].sku: 'kt-2040' does not match '^[A-Z]{2,4}-[0-9]{3,5}$'"),
        ("json_schema", "$.status: 'lost' is not one of ['pending', 'processing', 'shipped', 'delivered',"
                        " 'cancelled', 'returned']")]


@needs_rs
@pytest.mark.parametrize(("schema", "output"), [
    pytest.param({"maximum": 5}, "1e400", id="infinity-above-a-maximum"),
    pytest.param({"type": "array", "items": {"maximum": 5}}, "[1, 1e400]", id="infinity-inside"),
])
def test_a_value_only_json_reads_is_not_given_to_jsonschema_rs(schema: dict[str, Any], output: str) -> None:
    """jsonschema_rs takes an infinity for a number below any maximum: it judges only what orjson read."""
    rs = rust_schema.jsonschema_rs_module()
    assert rs.Draft202012Validator(schema).is_valid(json.loads(output)) is True  # what it would say
    rule = prepare(schema)
    assert rule.quick is not None
    assert findings(rule, output) == findings(alone(rule), output) != []


@needs_rs
@pytest.mark.parametrize(("schema", "output"), [
    pytest.param({"not": {"pattern": "^a.$"}}, '"a\\r"', id="not"),
    pytest.param({"patternProperties": {"^a.$": {"type": "integer"}}}, '{"a\\u2028": "s"}', id="pattern-properties"),
])
def test_a_dot_is_read_as_re2_reads_it(schema: dict[str, Any], output: str) -> None:
    """jsonschema_rs reads ``.`` as ECMA 262 does (no "\\r", U+2028, U+2029): as it is, it would say yes here."""
    rs = rust_schema.jsonschema_rs_module()
    assert rs.Draft202012Validator(schema, pattern_options=rs.RegexOptions()).is_valid(json.loads(output)) is True
    rule = prepare(schema)
    assert rule.quick is not None and rule.quick(json.loads(output)) is False
    assert findings(rule, output) == findings(alone(rule), output) != []


@needs_rs
def test_a_cycle_of_references_gets_no_jsonschema_rs() -> None:
    """jsonschema_rs says yes to ``{"$ref": "#"}``, on which jsonschema runs out of stack."""
    rs = rust_schema.jsonschema_rs_module()
    assert rs.Draft202012Validator({"$ref": "#"}).is_valid(1) is True
    rule = prepare({"$ref": "#"})
    assert rule.quick is None
    assert findings(rule, "1") == [("json_schema", "$: nested too deeply to validate against the schema")]


def test_multiple_of_is_judged_by_jsonschema_alone() -> None:
    """fastjsonschema's quick yes took 0.3 as a multiple of 0.1 (in decimals), where jsonschema says it is not."""
    rule = prepare({"multipleOf": 0.1})
    assert rule.fast is None and rule.quick is None
    assert findings(rule, "0.3") == [("json_schema", "$: 0.3 is not a multiple of 0.1")]
    assert findings(rule, "0.5") == []


def test_without_jsonschema_rs_fastjsonschema_gives_the_quick_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rust_schema, "jsonschema_rs_module", lambda: None)
    rule = prepare(ORDER)
    assert rule.quick is None and rule.explainer is None and rule.fast is not None
    for output in OUTPUTS:
        assert_as_jsonschema_alone(rule, output)


@pytest.mark.parametrize("pattern", [
    "", "^A-[0-9]{5}$", "^[A-Z]{2,4}-[0-9]{3,5}$", "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
    "a.c", "^[^a-z]*$", "(ab|cd)+?", "a??", "x{2,}", "x{0}", "[-a]", "[a-]", "[a-z-]", "[\\]\\-]", "\\.\\/\\$", "é+",
    "[à-ÿ]", "^(?:a|b)*$", "a\\nb", "[ ^]", "^", "$",
])
def test_patterns_the_three_engines_read_alike(pattern: str) -> None:
    assert portable_pattern(pattern)


@pytest.mark.parametrize("pattern", [
    "\\d", "\\w", "\\s", "\\b", "\\B", "\\D", "\\pL", "\\x41", "\\u0041", "\\1", "\\A", "\\z", "\\Z", "\\Q.\\E",
    "\\<", "(?i)a", "(?i:a)", "(?=a)", "(?!a)", "(?<=a)", "(?P<n>a)", "(?<n>a)", "[[:alpha:]]", "[a[b]]",
    "[a-z&&[^aeiou]]", "[a--b]", "[a~~b]", "[]a]", "[^]a]", "[a-z-0]", "[z-a]", "[\\.-z]", "a{,3}", "a{1, 3}",
    "a{", "a{x}", "a{3,2}", "{2}", "*a", "a**", "a*+", "a???", "^*", "(|a)", "a|", "|a", "()", "(a", "a)", "a]", "a}",
    "\\", "[a", "[]",
])
def test_patterns_one_engine_reads_otherwise_are_refused(pattern: str) -> None:
    assert not portable_pattern(pattern)


# --- differential: generated patterns, schemas and values -------------------------------------------------------

_CHARS = st.sampled_from(list("aAbBzZ09-_.:/ \n\r\t\xa0\u2003\u2028\u00e9\U0001f600\u212a\u0663$^[]"))
_LITERAL = st.sampled_from([*"abAZ09-_:é ", "\\.", "\\$", "\\-", "\\/", "\\[", "\\n"])
_CLASS = st.builds(lambda neg, items: f"[{'^' if neg else ''}{''.join(items)}]", st.booleans(),
                   st.lists(st.sampled_from(["a-z", "A-Z", "0-9", "_", "é", "\\]", "\\-", ".", " ", "à-ÿ"]),
                            min_size=1, max_size=3))
_QUANT = st.sampled_from(["", "", "*", "+", "?", "{2}", "{1,3}", "{0,}", "*?", "+?"])


def _atoms(depth: int) -> st.SearchStrategy[str]:
    simple = st.one_of(_LITERAL, _CLASS, st.just("."))
    if depth <= 0:
        return simple
    group = st.builds(lambda kind, branches: kind + "|".join(branches) + ")", st.sampled_from(["(", "(?:"]),
                      st.lists(_sequence(depth - 1), min_size=1, max_size=3))
    return st.one_of(simple, group)


def _sequence(depth: int) -> st.SearchStrategy[str]:
    return st.lists(st.builds(lambda a, q: a + q, _atoms(depth), _QUANT), min_size=1, max_size=3).map("".join)


#: small patterns (Python's ``re`` backtracks on nested quantifiers: the texts are short too)
PATTERNS = st.builds(lambda start, body, end: start + body + end, st.sampled_from(["", "^"]), _sequence(1),
                     st.sampled_from(["", "$"])).filter(lambda pattern: len(pattern) <= 40)


def _rust_matches(pattern: str, text: str) -> bool:
    """Whether jsonschema_rs finds the pattern in the text, the pattern in Rust's dialect (as the quick yes
    gives it)."""
    rs = rust_schema.jsonschema_rs_module()
    validator = rs.Draft202012Validator({"pattern": rust_pattern(pattern)}, pattern_options=rs.RegexOptions())
    return bool(validator.is_valid(text))


@needs_rs
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(PATTERNS, st.lists(st.text(_CHARS, max_size=8), min_size=1, max_size=6), st.data())
def test_generated_patterns_match_alike_in_rust_re2_and_python(pattern: str, texts: list[str],
                                                                 data: st.DataObject) -> None:
    assert portable_pattern(pattern)
    texts.append(data.draw(st.from_regex(re.compile(pattern), fullmatch=True)))  # one that matches
    compiled = re2.compile(pattern)
    for text in texts:
        rust = _rust_matches(pattern, text)
        assert rust == (compiled.search(text) is not None), (pattern, text)  # both ways: `not`, `patternProperties`
        assert not rust or re.search(pattern, text) is not None, (pattern, text)  # re's `$` takes a final "\n" too


@needs_rs
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.sampled_from(list("ab.^$|()[]{}*+?-\\,:dswnz09")), max_size=10),
       st.lists(st.text(_CHARS, max_size=6), min_size=1, max_size=6))
@example("a$", ["a\n"])
@example("[^a]", ["\n"])
@example("a.", ["a\r", "a\u2028", "a\u2029", "a\n"])  # ECMA's `.` takes none of the first three
def test_any_pattern_called_portable_matches_alike(pattern: str, texts: list[str]) -> None:
    assume(portable_pattern(pattern))
    try:
        compiled = re2.compile(pattern)
        re.compile(pattern)
    except Exception:
        assume(False)
    for text in texts:
        rust = _rust_matches(pattern, text)
        assert rust == (compiled.search(text) is not None), (pattern, text)  # both ways: `not`, `patternProperties`
        assert not rust or re.search(pattern, text) is not None, (pattern, text)  # re's `$` takes a final "\n" too


_KEYS = st.sampled_from(["a", "b", "c", "d", "n", "x-ab", "x-AB", "ab_", "status", "kids", "a\r", "x-\u2028",
                         "a\n"])
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2 ** 63), 2 ** 64), st.sampled_from([9007199254740993, 2 ** 53, -1, 0]),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.1, 0.3, 1.0, 1.5, -0.0, 1e300, 5e-324]),
    st.text(_CHARS, max_size=6), st.sampled_from(["2026-11-24", "AB-123", "abc", "a.c", "e", "ee"]))
VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
                      max_leaves=12)


def _schemas(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    sub: st.SearchStrategy[Any] = st.booleans() if depth <= 0 else st.one_of(st.booleans(), _schemas(depth - 1))
    types = st.sampled_from(["string", "integer", "number", "object", "array", "boolean", "null"])
    number = st.one_of(st.integers(-5, 10), st.sampled_from([0.5, 1.5, -0.0, 9007199254740993, 2 ** 53]))
    keyword = st.one_of(
        st.tuples(st.just("type"), st.one_of(types, st.lists(types, min_size=1, max_size=3, unique=True))),
        st.tuples(st.just("enum"), st.lists(_SCALARS, min_size=1, max_size=3)),
        st.tuples(st.just("const"), VALUES),
        st.tuples(st.sampled_from(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]), number),
        st.tuples(st.sampled_from(["minLength", "maxLength", "minItems", "maxItems", "minProperties",
                                   "maxProperties"]), st.integers(0, 3)),
        st.tuples(st.just("pattern"), PATTERNS),
        st.tuples(st.just("format"), st.sampled_from(["date", "email", "uri", "ipv4"])),
        st.tuples(st.just("required"), st.lists(_KEYS, max_size=2, unique=True)),
        st.tuples(st.just("properties"), st.dictionaries(_KEYS, sub, max_size=3)),
        st.tuples(st.just("patternProperties"), st.dictionaries(PATTERNS, sub, max_size=2)),
        st.tuples(st.sampled_from(["additionalProperties", "items", "contains", "not", "if", "then", "else",
                                   "propertyNames"]), sub),
        st.tuples(st.sampled_from(["allOf", "anyOf", "oneOf", "prefixItems"]), st.lists(sub, min_size=1, max_size=3)),
        st.tuples(st.just("dependentRequired"), st.dictionaries(_KEYS, st.lists(_KEYS, max_size=2, unique=True),
                                                                 max_size=2)),
        st.tuples(st.just("dependentSchemas"), st.dictionaries(_KEYS, sub, max_size=2)),
        st.tuples(st.just("$ref"), st.just("#/$defs/shared")),
    )
    return st.lists(keyword, max_size=4).map(dict)


#: with ``$defs`` (which fastjsonschema does not take) or without (a ``$ref`` then points to nothing: refused)
SCHEMA_STRATEGY = st.one_of(_schemas(2), st.builds(lambda schema, shared: {**schema, "$defs": {"shared": shared}},
                                                   _schemas(2), _schemas(1)))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(SCHEMA_STRATEGY, st.lists(VALUES, min_size=1, max_size=8))
def test_generated_schemas_and_values_give_the_findings_of_jsonschema_alone(schema: dict[str, Any],
                                                                            values: list[Any]) -> None:
    try:
        rule: JsonRule | None = prepare(schema)
    except InputError:
        rule = None
    assume(rule is not None)  # a schema refused when the rule is loaded (a `$ref` to nothing, a bad pattern)
    assert rule is not None
    for value in values:
        assert_as_jsonschema_alone(rule, json.dumps(value))
