"""The fast paths of the ``field`` and ``json`` checks give the answers of the plain ones.

``field`` judges a column of values at once (each distinct value once, a pattern over many
distinct strings in one pyarrow call); ``json`` parses with orjson where it reads as ``json``
does, shares one parse between the rules judging the same output, and lets fastjsonschema's
quick yes test its patterns with RE2. Each test compares with the record-by-record or
``json``-module answer a user has always had, and with the exact messages.
"""

from __future__ import annotations

import json
import math
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checks.base import MISSING, Unsuitable
from harness.checks.builtin import structured
from harness.checks.builtin.structured import (
    field_check,
    field_columnar,
    field_findings,
    json_check,
    latency,
    parse_json_output,
    resolve,
    values_at,
)
from harness.model import Finding, OutputRecord

#: the shipped provenance rules' patterns (policies/quality/provenance.yaml)
TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z$"
SEMVER = r"^[0-9]+\.[0-9]+\.[0-9]+$"


def record(i: int, **fields: Any) -> OutputRecord:
    return OutputRecord(f"case-{i}", "an answer", i + 1, fields)


def one_by_one(options: dict[str, Any], records: list[OutputRecord]) -> dict[int, tuple[Finding, ...]]:
    """What the engine gets calling the check record by record (a fresh rule: no remembered verdicts)."""
    rule = field_check.prepare(options)
    found = {i: tuple(field_check.fn(rule, r, None)) for i, r in enumerate(records)}
    return {i: f for i, f in found.items() if f}


def batched(options: dict[str, Any], records: list[OutputRecord]) -> dict[int, tuple[Finding, ...]]:
    rule = field_check.prepare(options)
    assert field_check.batch is not None
    return {i: tuple(f) for i, f in field_check.batch(rule, records).items()}


#: values of every kind a record's field may hold, and texts near the patterns' edges
ODD_VALUES: list[Any] = [
    None, 0, 1, -1, 1.0, 0.0, -0.0, 1.5, True, False, "", "1", "1.2.3", "1.2.3\n", "1.2.3 ", " 1.2.3", "01.2.3",
    "１.２.３", "2026-11-18T11:06:43Z", "2026-11-18T11:06:43.120Z", "2026-11-18T11:06:43Z\n", "2026-11-18 11:06:43",
    "en-US", "EN-us", "é", "acme-support-assistant", [1], ["en-US"], {"a": 1}, {}, 10**30, "x" * 5000,
]
RULES: list[dict[str, Any]] = [
    {"path": "v", "pattern": SEMVER}, {"path": "v", "pattern": TIMESTAMP},
    {"path": "v", "pattern": "^[a-z]{2}-[A-Z]{2}$"}, {"path": "v", "pattern": SEMVER, "exists": True},
    {"path": "v", "pattern": "(?i)^EN-"}, {"path": "v", "pattern": r"\pL"},
    {"path": "v", "one_of": ["acme-support-assistant", 1, True, None]}, {"path": "v", "equals": 1},
    {"path": "v", "equals": 0.0}, {"path": "v", "not_equals": False}, {"path": "v", "min": 0, "max": 1.2},
    {"path": "v", "exists": False}, {"path": "v", "exists": True}, {"path": "v", "equals": [1]},
    {"path": "v", "pattern": SEMVER, "one_of": ["1.2.3"]},
]


def generated(n: int, seed: int) -> list[OutputRecord]:
    """``n`` records whose ``v`` is mostly unique semver-like or timestamp-like text, with the odd values mixed in."""
    out = []
    for i in range(n):
        k = (i * 7919 + seed) % 97
        if k < len(ODD_VALUES):
            out.append(record(i, v=ODD_VALUES[k]))
        elif k < 40:
            out.append(record(i))  # no `v` at all
        elif k < 70:
            out.append(record(i, v=f"{i % 13}.{i % 7}.{i}"))
        else:
            out.append(record(i, v=f"2026-11-{10 + i % 19:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}Z"))
    return out


@pytest.mark.parametrize("options", RULES, ids=lambda o: ",".join(f"{k}={v!r}" for k, v in o.items() if k != "path"))
def test_the_batch_of_a_column_fails_the_records_the_check_fails_one_by_one(options: dict[str, Any]) -> None:
    records = generated(600, seed=3)
    expected = one_by_one(options, records)
    assert batched(options, records) == expected
    # the all-text column, and a column of scalars only (no lists or objects), take their own paths
    only_strings = [r for r in records if type(r.fields.get("v")) is str]
    assert batched(options, only_strings) == one_by_one(options, only_strings)
    scalars = [r for r in records if not isinstance(r.fields.get("v"), list | dict)]
    assert batched(options, scalars) == one_by_one(options, scalars)


def test_a_column_of_one_kind_of_value_gives_the_messages_a_user_reads() -> None:
    records = [record(i, timestamp=f"2026-11-18T11:{i // 60 % 60:02d}:{i % 60:02d}Z") for i in range(300)]
    records[17] = record(17, timestamp="2026-11-18T11:00:17Z\n")  # RE2's `$` is the end of the text, not of a line
    records[40] = record(40, timestamp="18/11/2026 11:00")
    records[41] = record(41)
    records[42] = record(42, timestamp=1763463643)
    found = batched({"path": "timestamp", "pattern": TIMESTAMP}, records)
    mismatch = (Finding("field", f"`timestamp` does not match {TIMESTAMP!r}"),)
    assert found == {17: mismatch, 40: mismatch, 41: (Finding("field", "`timestamp` is missing"),), 42: mismatch}


def test_the_columnar_entry_point_takes_the_values_with_missing_marked() -> None:
    rule = field_check.prepare({"path": "slice.locale", "pattern": "^[a-z]{2}-[A-Z]{2}$"})
    values: list[Any] = ["en-US", MISSING, "de-DE", "english", None, "fr-FR"] * 30
    failing = field_columnar(rule, values)
    assert failing == [i for i in range(len(values)) if i % 6 in (1, 3, 4)]
    assert field_findings(rule, values[1]) == (Finding("field", "`slice.locale` is missing"),)
    assert field_findings(rule, values[3]) == (Finding("field", "`slice.locale` does not match '^[a-z]{2}-[A-Z]{2}$'"),)
    assert field_columnar(rule, []) == []


class Columns:
    """A column view as a streamed scan gives one: the values at each path, MISSING where a record has none."""

    def __init__(self, records: list[OutputRecord]) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def values(self, path: str) -> list[Any]:
        return [resolve(r, path) for r in self.records]

    def numbers(self, path: str) -> Any:
        """As the lane's view: floats, NaN where missing; Unsuitable when a value is not a number."""
        import numpy as np

        values = self.values(path)
        if any(value is not MISSING and type(value) not in (int, float) for value in values):
            raise Unsuitable(path)
        return np.array([np.nan if value is MISSING else float(value) for value in values])


def test_the_column_hooks_of_field_and_latency_give_what_their_batches_give() -> None:
    records = [*generated(300, seed=5), record(900, latency_ms=10), record(901, latency_ms=2500.5),
               record(902, latency_ms=True), record(903, latency_ms="9")]
    view = Columns(records)
    for options in RULES:
        rule = field_check.prepare(options)
        assert field_check.columns is not None and field_check.batch is not None
        assert field_check.columns(rule, view) == field_check.batch(rule, records)
    assert latency.columns is not None and latency.batch is not None
    limit = {"max_ms": 2000}
    with pytest.raises(Unsuitable):  # a boolean and a string among the latencies: judged record by record
        latency.columns(limit, view)
    numeric = records[:302]
    got = latency.columns(limit, Columns(numeric))
    assert got == latency.batch(limit, numeric)
    assert got[301] == (Finding("latency", "latency 2500.5 ms is over 2000 ms"),)
    assert got[0] == (Finding("latency", "`latency_ms` is missing"),)


@pytest.mark.parametrize("pattern", [SEMVER, TIMESTAMP, "^A-[0-9]{5}$", r"\bwarranty\b", "a.c", "[^a-z]", "x|^$",
                                     r"^\d+$", r"\s", "(?s)a.c", "(?m)^b$", "ü", r"(?i)straße", r"\pL{3}", "^$"])
def test_the_vectorised_pattern_test_matches_as_re2_does(pattern: str) -> None:
    rule = field_check.prepare({"path": "v", "pattern": pattern})
    texts = [*(t for t in ODD_VALUES if isinstance(t, str)),
        "a\nc", "abc", "b", "a\nb\nc", "warranty", "the warranty.", "warrantys", "A-12345", "A-123456", "A-12345\n",
        "٣٣", "123", "\t", "STRASSE", "straße", "ǅab", "", "\x00", "x", "über", "a" * 70_000 + "c"] * 5
    texts += [f"v{i}" for i in range(100)]  # more distinct values than are judged one by one
    expected = [i for i, t in enumerate(texts) if rule.pattern is not None and not rule.pattern.test(t)]
    assert field_columnar(rule, texts) == expected


def test_patterns_pyarrow_might_read_otherwise_and_texts_it_cannot_hold_are_tested_one_by_one() -> None:
    for pattern in (r"\pL", r"\p{Greek}", r"(?i)k", "(?si:a.b)", "é"):
        assert structured._arrow_unmatched(structured.compile_pattern(pattern), ["k", "K"]) is None
    semver = structured.compile_pattern(SEMVER)
    assert structured._arrow_unmatched(semver, ["1.2.3", "\ud800"]) is None  # a lone surrogate
    # and the column still judges the surrogate as the check does: RE2 cannot read it either, the check crashes
    rule = field_check.prepare({"path": "v", "pattern": SEMVER})
    with pytest.raises(UnicodeEncodeError):
        field_columnar(rule, ["1.2.3", "\ud800"] + [f"1.2.{i}" for i in range(100)])


def test_values_at_reads_every_record_as_resolve_does() -> None:
    records = [record(0, slice={"locale": "en-US"}), record(1, slice="en-US"), record(2), record(3, slice=None),
               record(4, slice=MappingProxyType({"locale": "de-DE"})), record(5, slice={"locale": {"x": 1}}),
               record(6, slice={"locale": None}), record(7, a={"b": {"c": 3}}), record(8, a={"b": [1]})]
    for path in ("slice.locale", "slice", "slice.locale.x", "a.b.c", "output", "case_id", "nothing.here"):
        assert values_at(records, path) == [resolve(r, path) for r in records], path
    assert values_at(records, "slice.locale")[:5] == ["en-US", MISSING, MISSING, MISSING, "de-DE"]
    proxied = OutputRecord("c", "o", 1, MappingProxyType({"slice": {"locale": "fr-FR"}}))
    assert resolve(proxied, "slice.locale") == values_at([proxied], "slice.locale")[0] == "fr-FR"


# --- json ---------------------------------------------------------------------------


def reference(text: str) -> tuple[Any, str | None]:
    """What ``parse_json_output`` has always answered: Python's ``json``, without NaN or Infinity."""
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON value")

    try:
        return json.loads(text, parse_constant=refuse), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return None, "not valid JSON: nested too deeply"
    except ValueError as exc:
        return None, f"not valid JSON: {str(exc)[:120]}"


def same(a: tuple[Any, str | None], b: tuple[Any, str | None]) -> bool:
    """Equal values of the same types (``1`` is not ``1.0``, ``-0.0`` is not ``0.0``) and equal messages."""
    return repr(a) == repr(b)


EDGE_TEXTS = [
    '{"a": 1, "b": 2, "a": 3}', "1" + "0" * 30, "18446744073709551615", "18446744073709551616",
    '{"n": -9223372036854775809}', '[0.1, 1e5, 1E+2, -0, -0.0, 5e-324, 1e-400]', "1e400", "-1e400",
    "[1.7976931348623157e309]",
    "NaN", "[Infinity]", "-Infinity", '"\\ud800"', '"\\ud83d\\ude00"', '"\ud800"', "\ufeff{}", '"\x01"', '"\x7f"',
    "\x0c1", "\u00a01", " 1 ", "1.", "01", "+1", ".5", "", " ", "1 2", '{"a":1}x', "[1,]", '"\\u0000"', "nul",
    "[" * 1100 + "]" * 1100, "[" * 30000 + "]" * 30000, "1" * 5000, '{"é": "ü", "k": [true, false, null]}',
    '{"order_id": "A-48213", "total": 12345678901234567890123}', '"' + "9" * 40 + '"', "123456789012345678",
]


@pytest.mark.parametrize("text", EDGE_TEXTS, ids=lambda t: repr(t)[:30])
def test_an_output_parses_to_what_json_reads_with_the_same_message(text: str) -> None:
    assert same(parse_json_output(text, False), reference(text))


def test_integers_beyond_64_bits_stay_integers() -> None:
    assert parse_json_output('{"n": 18446744073709551616}', False) == ({"n": 18446744073709551616}, None)
    assert parse_json_output("[1e400]", False) == ([math.inf], None)  # as json has always read it
    assert parse_json_output("NaN", False) == (None, "not valid JSON: NaN is not a JSON value")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**25), max_value=10**25)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from([None, 2]), st.integers(min_value=0, max_value=40), st.sampled_from(["", "x", "]"]))
def test_any_json_document_and_its_broken_prefixes_parse_as_json_reads_them(
        value: Any, indent: int | None, cut: int, tail: str) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=bool(cut % 2))
    assert same(parse_json_output(text, False), reference(text))
    broken = text[: len(text) * cut // 40] + tail
    assert same(parse_json_output(broken, False), reference(broken))


def test_two_rules_on_one_output_share_its_parse_but_never_another_outputs() -> None:
    fenced = '```json\n{"a": 1}\n```'
    assert parse_json_output(fenced, True) == ({"a": 1}, None)
    value, problem = parse_json_output(fenced, False)  # the same text, another reading: parsed again
    assert value is None and problem is not None and problem.startswith("not valid JSON: Expecting value")
    first = parse_json_output('{"a": [1, 2]}', False)
    assert parse_json_output('{"a": [1, 2]}', False) == first
    text = "".join(['{"b": ', "2}"])  # equal text, another object: its own parse
    assert parse_json_output(text, False) == ({"b": 2}, None)
    assert parse_json_output("[3]", False) == ([3], None)


ORDER_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["order_id", "items", "updated_at"],
    "properties": {
        "order_id": {"type": "string", "pattern": "^A-[0-9]{5}$"},
        "items": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["sku"],
            "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{2,4}-[0-9]{3,5}$"}}}},
        "updated_at": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"},
        "meta": {"type": "object", "patternProperties": {"^x-": {"type": "integer"}}, "additionalProperties": False}}}


@pytest.mark.parametrize(("output", "expected"), [
    ('{"order_id": "A-48213", "items": [{"sku": "KT-2040"}], "updated_at": "2026-11-21T09:12:44Z"}', []),
    ('{"order_id": "A-48213", "items": [{"sku": "KT-2040"}], "updated_at": "2026-11-21T09:12:44Z",'
     ' "meta": {"x-a": 1}}', []),
    ('{"order_id": "A-4821", "items": [{"sku": "KT-2040"}], "updated_at": "2026-11-21T09:12:44Z"}',
     [("json_schema", "$.order_id: 'A-4821' does not match '^A-[0-9]{5}$'")]),
    ('{"order_id": "A-48213\\n", "items": [{"sku": "kt-2040"}], "updated_at": "2026-11-21T09:12:44Z"}',
     [("json_schema", "$.items[0].sku: 'kt-2040' does not match '^[A-Z]{2,4}-[0-9]{3,5}$'"),
      ("json_schema", "$.order_id: 'A-48213\\n' does not match '^A-[0-9]{5}$'")]),
    ('{"order_id": "A-48213", "items": [{"sku": "KT-2040"}], "updated_at": "2026-11-21T09:12:44Z",'
     ' "meta": {"y": 1}}', [("json_schema", "$.meta: Additional properties are not allowed ('y' was unexpected)")]),
    ('{"order_id": "A-48213", "items": [{"sku": "KT-2040"}], "updated_at": 1}',
     [("json_schema", "$.updated_at: 1 is not of type 'string'")]),
    ('{"order_id": "A-48213", "total": 18446744073709551616}', [
        ("json_schema", "$: Additional properties are not allowed ('total' was unexpected)"),
        ("json_schema", "$: 'items' is a required property"),
        ("json_schema", "$: 'updated_at' is a required property")]),
    ("```json\n{}\n```", [("json", "not valid JSON: Expecting value at line 1 column 1")]),
], ids=["valid", "pattern-properties", "pattern", "two-patterns", "additional", "type", "big-int", "fenced"])
def test_the_json_check_with_a_schema_gives_the_findings_a_user_reads(output: str,
                                                                     expected: list[tuple[str, str]]) -> None:
    rule = json_check.prepare({"schema": ORDER_SCHEMA})
    assert rule.fast is not None  # the quick yes is in use
    found = json_check.fn(rule, OutputRecord("c", output, 1, {}), None)
    assert [(f.kind, f.message) for f in found] == expected
    # and with the quick yes out of the way, jsonschema alone says the same
    slow = structured.JsonRule(rule.validator, rule.allow_fences, None)
    assert list(json_check.fn(slow, OutputRecord("c", output, 1, {}), None)) == list(found)


def test_the_missing_marker_is_the_one_the_engine_knows() -> None:
    assert structured.MISSING is MISSING
    assert resolve(record(0), "model") is MISSING
    assert repr(MISSING) == "MISSING"
    assert field_check.fn(field_check.prepare({"path": "model", "exists": False}), record(0), None) == ()
