"""Hostile runs: figures that overflow, non-finite numbers, JSON Schema patterns that backtrack and references
that fetch.

A quantile of ``-1.7e308`` and ``1.7e308`` was ``-inf`` (a promote, and ``-Infinity`` in the
JSON report); a plugin's ``inf`` became ``null`` in the report and its verdict stood; a json
rule's schema ``pattern`` ran through Python's backtracking ``re``, and its ``$ref`` to another document
was fetched while judging an output (with no deadline).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from harness.api import run_gate
from harness.checks import CHECKS, RunOutcome, RunView, check, get_check
from harness.cli import main
from harness.errors import InputError, InputErrors
from harness.model import Verdict
from harness.outputs import records_from_dicts


def _strict(text: str) -> Any:
    """JSON as the standard reads it, refusing NaN and the infinities (which strict JSON does not have)."""
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} in the report")
    return json.loads(text, parse_constant=refuse)


def _view(values: list[Any], field: str = "score") -> RunView:
    return RunView(list(records_from_dicts([{"case_id": f"c{i}", "output": "", field: v}
                                            for i, v in enumerate(values)]).records))


def _quantile(options: Mapping[str, Any], values: list[Any]) -> RunOutcome:
    chk = get_check("quantile")
    outcome: RunOutcome = chk.fn(chk.prepare({"field": "score", **options}), _view(values))
    return outcome


# --- quantiles that cannot overflow --------------------------------------------------------------

SCORE_POLICY = """
    - {id: median-score, check: quantile, field: score, q: 0.5, max: -1}
"""


def test_the_median_of_the_largest_doubles_is_zero_not_minus_infinity(repo: Any, policy_text: Any) -> None:
    repo.policy("p.yaml", policy_text(SCORE_POLICY))
    outputs = repo.outputs("out.jsonl", [{"case_id": "a", "output": "x", "score": -1.7e308},
                                         {"case_id": "b", "output": "y", "score": 1.7e308}])
    result = run_gate(outputs, policies=repo.policies, evals=repo.evals)
    [aggregate] = result.report.aggregates
    assert (aggregate.status, aggregate.value) == ("fail", 0.0)  # 0 is above the maximum -1: never a promote
    assert result.verdict is Verdict.BLOCK
    assert _strict(result.report.to_json())["aggregates"][0]["value"] == 0.0


@pytest.mark.parametrize(("q", "values", "expected"), [
    pytest.param(0.5, [-1.7e308, 1.7e308], 0.0, id="opposite-extremes"),
    pytest.param(0.75, [-1.7976931348623157e308, 1.7976931348623157e308], 8.988465674311579e307, id="largest"),
    pytest.param(0.3, [1.7976931348623157e308] * 3, 1.7976931348623157e308, id="all-largest"),
    # 0.95 * 9 is 8.549999999999999 in floats (numpy's position too); 64 + 36 * 0.549999999999999... exactly
    pytest.param(0.95, [12, 5, 40, 7, 100, 33, 8, 21, 64, 3], 83.79999999999995, id="p95"),
])
def test_quantiles_are_exact_and_finite(q: float, values: list[float], expected: float) -> None:
    outcome = _quantile({"q": q, "max": 1.7976931348623157e308}, values)
    assert outcome.status == "pass"
    assert outcome.value == expected  # exact: computed in fractions, rounded once


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20),
       q=st.floats(0, 1))
def test_a_quantile_is_finite_between_the_extremes_and_agrees_with_numpy(values: list[float], q: float) -> None:
    outcome = _quantile({"q": q, "min": -1.7976931348623157e308}, values)
    assert outcome.status == "pass" and outcome.value is not None
    assert math.isfinite(outcome.value) and min(values) <= outcome.value <= max(values)
    with np.errstate(all="ignore"):
        reference = float(np.quantile(np.asarray(values), q))
    scale = max(map(abs, values))
    if math.isfinite(reference) and scale < 1e300:  # where numpy does not overflow; it rounds twice, this once
        assert outcome.value == pytest.approx(reference, rel=1e-9, abs=1e-12 * scale)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
def test_non_finite_values_are_refused_by_the_quantile_rule(value: float) -> None:
    view = RunView([records_from_dicts([{"case_id": "a", "output": "", "score": 1}]).records[0]._replace(
        fields={"score": value})])
    chk = get_check("quantile")
    outcome = chk.fn(chk.prepare({"field": "score", "q": 0.5, "max": 10}), view)
    assert outcome.status == "error"
    assert "`score` is not a finite number in 1 of 1 outputs" in outcome.message


def test_an_integer_too_large_for_a_double_is_an_error_not_a_crash() -> None:
    outcome = _quantile({"q": 0.5, "max": 10}, [1, 10**400])
    assert outcome.status == "error" and "not a finite number" in outcome.message


# --- a run-level figure that is not finite is an error --------------------------------------

@pytest.mark.parametrize(("returned", "named"), [
    pytest.param({"value": math.inf}, "value inf", id="value-inf"),
    pytest.param({"value": math.nan}, "value nan", id="value-nan"),
    pytest.param({"threshold": -math.inf}, "threshold -inf", id="threshold"),
    pytest.param({"details": {"slices": {"a": {"rate": math.nan}}}}, "details.slices.a.rate nan", id="details"),
    pytest.param({"value": np.float64("inf")}, "value inf", id="numpy-inf"),
    pytest.param({"value": 10**400}, "value 1" + "0" * 38 + "…", id="integer-beyond-a-double"),
    pytest.param({"value": "0.5"}, "value '0.5'", id="not-a-number"),
])
def test_a_plugin_figure_that_is_not_finite_fails_closed(repo: Any, policy_text: Any, returned: dict[str, Any],
                                                         named: str) -> None:
    @check("test-overflow", level="run")
    def overflow(options: Mapping[str, Any], run: RunView) -> RunOutcome:
        return RunOutcome("pass", "all good", **{"value": 1.0, "threshold": 2.0, **returned})

    repo.policy("p.yaml", policy_text("- {id: figure, check: test-overflow}\n"))
    outputs = repo.outputs("out.jsonl", [{"case_id": "a", "output": "x"}])
    with CHECKS.registered("test-overflow", overflow):
        result = run_gate(outputs, policies=repo.policies, evals=repo.evals)
    [aggregate] = result.report.aggregates
    assert aggregate.status == "error"
    assert f"gave {named}, not a finite number" in aggregate.message
    assert result.verdict is Verdict.BLOCK  # an error fails its policy: never a promote
    report = _strict(result.report.to_json())
    assert report["aggregates"][0]["status"] == "error"


# --- JSON Schema patterns go through RE2 -------------------------------------------------------

EVIL = "a" * 28 + "!"


def _json(schema: Mapping[str, Any], output: str) -> list[str]:
    chk = get_check("json")
    record = records_from_dicts([{"case_id": "a", "output": output}]).records[0]
    return [f.message for f in chk.fn(chk.prepare({"schema": schema}), record, None)]


@pytest.mark.timeout(60)  # a guard: Python's re takes minutes on these
@pytest.mark.parametrize(("schema", "output", "message"), [
    pytest.param({"type": "string", "pattern": "^(a+)+$"}, json.dumps(EVIL), f"$: '{EVIL}' does not match",
                 id="pattern"),
    pytest.param({"type": "object", "additionalProperties": False, "patternProperties": {"^(a+)+$": {}}},
                 json.dumps({EVIL: 1}), "$: Additional properties are not allowed", id="additional-properties"),
    pytest.param({"type": "object", "patternProperties": {"^(a+)+$": {"type": "string"}}, "properties": {
        "k": {"pattern": "^(a+)+$"}}}, json.dumps({EVIL: 1, "k": EVIL}), "$.k: ", id="pattern-properties-and-nested"),
    pytest.param({"$schema": "http://json-schema.org/draft-07/schema#", "properties": {"x": {"$ref": "#"}},
                  "pattern": "^(a+)+$"}, json.dumps({"x": EVIL}), "$.x: ", id="ref-to-a-root-of-another-draft"),
])
def test_a_backtracking_pattern_cannot_stall_a_json_rule(schema: dict[str, Any], output: str, message: str) -> None:
    assert any(m.startswith(message) for m in _json(schema, output))


@pytest.mark.parametrize(("schema", "instance"), [
    ({"pattern": "^[a-z]+-\\d+$"}, "order-12"),
    ({"pattern": "^[a-z]+-\\d+$"}, "Order-12"),
    ({"pattern": "b"}, "abc"),
    ({"pattern": "^b"}, "abc"),
    ({"pattern": "^x"}, 12),
    ({"patternProperties": {"^s_": {"type": "string"}}}, {"s_a": "x", "n": 1}),
    ({"patternProperties": {"^s_": {"type": "string"}}}, {"s_a": 1}),
    ({"patternProperties": {"^s_": {}}, "additionalProperties": False}, {"s_a": 1}),
    ({"patternProperties": {"^s_": {}}, "additionalProperties": False}, {"s_a": 1, "t": 2}),
    ({"properties": {"t": {}}, "patternProperties": {"^s_": {}}, "additionalProperties": {"type": "integer"}},
     {"t": "x", "s_a": "y", "u": 3}),
    ({"properties": {"t": {}}, "patternProperties": {"^s_": {}}, "additionalProperties": {"type": "integer"}},
     {"u": "3"}),
    ({"additionalProperties": False, "properties": {"a": {}}}, {"a": 1, "b": 2, "c": 3}),
    ({"propertyNames": {"pattern": "^[a-z]+$"}}, {"ok": 1, "Not": 2}),
    ({"items": {"pattern": "^\\d{3}$"}}, ["123", "12"]),
])
def test_re2_patterns_judge_as_jsonschema_does(schema: dict[str, Any], instance: Any) -> None:
    assert (_json(schema, json.dumps(instance)) == []) is Draft202012Validator(schema).is_valid(instance)


@pytest.mark.parametrize(("schema", "where", "what"), [
    pytest.param({"properties": {"id": {"pattern": "^(?=x)"}}}, "$.rules[0].schema.properties.id.pattern",
                 "look-aheads are not supported", id="look-ahead"),
    pytest.param({"patternProperties": {"(a)\\1": {}}}, "$.rules[0].schema.patternProperties",
                 "invalid RE2 pattern", id="back-reference"),
    pytest.param({"properties": {"x": {"$schema": "http://json-schema.org/draft-07/schema#", "pattern": "a"}}},
                 "$.rules[0].schema.properties.x['$schema']", "declare the draft only at the top", id="nested-schema"),
    pytest.param({"patternProperties": {"a": {}}, "unevaluatedProperties": False}, "$.rules[0].schema",
                 "use `additionalProperties`", id="unevaluated-properties"),
])
def test_a_schema_pattern_re2_cannot_run_is_refused_at_load_time(repo: Any, policy_text: Any, schema: dict[str, Any],
                                                                 where: str, what: str) -> None:
    repo.policy("p.yaml", policy_text(f"- {{id: api, check: json, schema: {json.dumps(schema)}}}\n"))
    with pytest.raises(InputErrors) as info:
        run_gate(repo.outputs("out.jsonl", [{"case_id": "a", "output": "{}"}]), policies=repo.policies,
                 evals=repo.evals)
    [error] = info.value.errors
    assert str(error).startswith(f"{repo.policies / 'p.yaml'}:")
    assert where in str(error) and what in str(error)


def test_patterns_in_data_keywords_are_data_not_regular_expressions() -> None:
    schema = {"enum": [{"pattern": "(?=not a regex)"}], "properties": {"pattern": {"type": "string"}}}
    assert _json(schema, json.dumps({"pattern": "(?=not a regex)"})) == []


@pytest.mark.timeout(30)  # a guard: /slow never answers
def test_loading_a_json_rule_fetches_no_schema_it_refers_to(http_server: Any) -> None:
    """fastjsonschema fetched remote ``$ref``s when the rule was prepared (a server that never answers: a hang)."""
    chk = get_check("json")
    with pytest.raises(InputError, match="refers to a document outside this schema, which the gate never fetches"):
        chk.prepare({"schema": {"properties": {"a": {"$ref": f"{http_server.url}/slow/schema.json"}}}})
    assert http_server.received == []


# --- a json rule's schema refers only to itself: resolved at load time, never fetched ----------------

@pytest.mark.timeout(30)  # a guard: a fetch from /slow would never end
@pytest.mark.parametrize("ref", ["other.json#/x", "slow/other.json#/x"], ids=["answers", "never-answers"])
def test_a_json_rule_referring_to_another_document_is_refused_before_any_output_is_judged(
        repo: Any, policy_text: Any, http_server: Any, monkeypatch: Any, capsys: Any, ref: str) -> None:
    """jsonschema fetched ``other.json`` from the rule's ``$id`` host while judging, with no deadline."""
    monkeypatch.chdir(repo.root)
    schema = {"$id": f"{http_server.url}/root.json", "properties": {"a": {"$ref": ref}}}
    written = repo.policy("p.yaml", policy_text(f"- {{id: api, check: json, schema: {json.dumps(schema)}}}\n"))
    column = written.read_text().splitlines()[8].index(json.dumps(ref)) + 1
    outputs = repo.outputs("out.jsonl", [{"case_id": "a", "output": '{"a": "text"}'}])
    assert main(["gate", "--outputs", str(outputs)]) == 4
    err = capsys.readouterr().err
    assert (f"policies/p.yaml:9:{column}: $.rules[0].schema.properties.a['$ref']: `$ref` {ref!r} refers to a"
            " document outside this schema, which the gate never fetches") in err
    assert "nothing was judged" in err
    assert main(["validate"]) == 4
    assert "$.rules[0].schema.properties.a['$ref']" in capsys.readouterr().err
    assert http_server.received == []


def test_a_schema_with_a_url_id_is_judged_without_a_request(repo: Any, policy_text: Any, http_server: Any) -> None:
    """References within the schema (by pointer, by its own URL, by an anchor) resolve locally; nothing is fetched."""
    schema = {"$id": f"{http_server.url}/root.json", "$defs": {"n": {"type": "integer"}, "s": {"$anchor": "s",
              "type": "string"}}, "properties": {"a": {"$ref": "#/$defs/n"}, "b": {"$ref": "root.json#/$defs/n"},
              "c": {"$ref": "#s"}}}
    repo.policy("p.yaml", policy_text(f"- {{id: api, check: json, schema: {json.dumps(schema)}}}\n"))
    outputs = repo.outputs("out.jsonl", [{"case_id": "ok", "output": '{"a": 1, "b": 2, "c": "x"}'},
                                         {"case_id": "bad", "output": '{"a": "1", "b": "2", "c": 3}'}])
    result = run_gate(outputs, policies=repo.policies, evals=repo.evals)
    assert [(r.case_id, r.message) for r in result.report.results] == [
        ("bad", "$.a: '1' is not of type 'integer'; $.b: '2' is not of type 'integer'; $.c: 3 is not of type"
                " 'string'")]
    assert http_server.received == []


@pytest.mark.timeout(30)  # a guard: a fetch from /slow would never end
def test_a_reference_that_slips_past_the_load_time_check_is_still_never_fetched(http_server: Any) -> None:
    """The validator's registry is empty: there is nothing it could retrieve a schema with."""
    rule = get_check("json").prepare({"schema": {"type": "object"}})
    stray = rule.validator.evolve(schema={"$ref": f"{http_server.url}/slow/x.json"})
    with pytest.raises(Exception, match="Unresolvable"):
        stray.is_valid({})
    assert http_server.received == []


@pytest.mark.parametrize(("schema", "where", "what"), [
    pytest.param({"properties": {"a": {"$id": "http://example.com/sub.json", "$ref": "#/x"}}, "x": {}},
                 "$.rules[0].schema.properties.a['$ref']", "`$ref` '#/x' points to nothing in the part of the schema"
                 " under the nested `$id` 'http://example.com/sub.json', where `#` means that part", id="nested-id"),
    pytest.param({"properties": {"a": {"$ref": "#/$defs/missing"}}}, "$.rules[0].schema.properties.a['$ref']",
                 "`$ref` '#/$defs/missing' points to nothing in the schema", id="pointer-to-nowhere"),
    pytest.param({"items": {"$ref": "#nowhere"}}, "$.rules[0].schema.items['$ref']",
                 "`$ref` '#nowhere' points to nothing", id="no-such-anchor"),
    pytest.param({"allOf": [{"$ref": "#/allOf/first"}]}, "$.rules[0].schema.allOf[0]['$ref']",
                 "points to nothing", id="pointer-into-a-list-by-name"),
    pytest.param({"$ref": "https://json-schema.org/draft/2020-12/schema"}, "$.rules[0].schema['$ref']",
                 "refers to a document outside this schema", id="metaschema-url"),
    pytest.param({"$ref": "file:///etc/passwd"}, "$.rules[0].schema['$ref']",
                 "refers to a document outside this schema, which the gate never fetches (no network, no files)",
                 id="file"),
    pytest.param({"$dynamicRef": "other.json#meta"}, "$.rules[0].schema['$dynamicRef']",
                 "refers to a document outside this schema", id="dynamic-ref"),
    pytest.param({"const": {"$ref": "http://example.com/x.json"}, "properties": {"a": {"$ref": "#/const"}}},
                 "$.rules[0].schema.properties.a['$ref']", "`$ref` '#/const' points into `const`, which holds data",
                 id="into-data"),
    pytest.param({"required": ["a"], "properties": {"b": {"$ref": "#/required"}}},
                 "$.rules[0].schema.properties.b['$ref']", "`$ref` '#/required' points to a list, not a schema",
                 id="to-a-list"),
    pytest.param({"components": {"x": {"type": 5}}, "properties": {"a": {"$ref": "#/components/x"}}},
                 "$.rules[0].schema.properties.a['$ref']", "`$ref` '#/components/x' points to something that is"
                 " not a valid JSON Schema: 5 is not valid under any of the given schemas", id="to-an-invalid-schema"),
    pytest.param({"components": {"x": {"$ref": "other.json"}}, "properties": {"a": {"$ref": "#/components/x"}}},
                 "$.rules[0].schema.components.x['$ref']", "`$ref` 'other.json' refers to a document outside",
                 id="through-a-reference"),
])
def test_a_reference_the_schema_cannot_satisfy_is_refused_at_load_time(
        repo: Any, policy_text: Any, monkeypatch: Any, capsys: Any, schema: dict[str, Any], where: str,
        what: str) -> None:
    monkeypatch.chdir(repo.root)
    repo.policy("p.yaml", policy_text(f"- {{id: api, check: json, schema: {json.dumps(schema)}}}\n"))
    assert main(["validate"]) == 4
    [line, summary] = capsys.readouterr().err.splitlines()
    assert line.startswith("policies/p.yaml:9:") and f": {where}: " in line and what in line, line
    assert summary == "harness: 1 error(s)"


@pytest.mark.parametrize(("schema", "good", "bad"), [
    pytest.param({"items": {"$ref": "#"}, "type": "array"}, [[[]]], [[1]], id="recursive"),
    pytest.param({"components": {"x": {"type": "integer"}}, "properties": {"a": {"$ref": "#/components/x"}}},
                 {"a": 1}, {"a": "1"}, id="outside-the-keywords-but-a-schema"),
    pytest.param({"properties": {"a": {"$id": "http://example.com/sub.json", "$defs": {"n": {"type": "integer"}},
                                       "$ref": "#/$defs/n"}}}, {"a": 1}, {"a": "1"}, id="nested-id-own-defs"),
    pytest.param({"$defs": {"sub": {"$id": "urn:example:sub", "type": "integer"}},
                  "properties": {"a": {"$ref": "urn:example:sub"}}}, {"a": 1}, {"a": "1"}, id="by-nested-id"),
    pytest.param({"$dynamicAnchor": "node", "type": "object", "properties": {"next": {"$dynamicRef": "#node"}}},
                 {"next": {"next": {}}}, {"next": {"next": 1}}, id="dynamic-ref"),
])
def test_references_within_the_schema_are_followed(schema: dict[str, Any], good: Any, bad: Any) -> None:
    assert _json(schema, json.dumps(good)) == []
    assert _json(schema, json.dumps(bad)) != []


@pytest.mark.timeout(60)  # a guard, as above
def test_a_schema_with_patterns_keeps_its_fast_validator_and_it_matches_with_re2() -> None:
    from fastjsonschema import JsonSchemaValueException

    rule = get_check("json").prepare({"schema": {"type": "object", "properties": {"id": {"pattern": "^(a+)+$"}},
                                                 "patternProperties": {"^(b+)+$": {"type": "integer"}}}})
    assert rule.fast is not None  # 20 times faster than jsonschema on the outputs that pass
    rule.fast({"id": "aaa", "bbb": 1})
    with pytest.raises(JsonSchemaValueException):
        rule.fast({"id": EVIL})
    with pytest.raises(JsonSchemaValueException):
        rule.fast({"bbbb": "not an integer"})
