"""Run-level checks: rate, quantile, disparity, baseline; called as the engine calls them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

from harness.checks import CHECKS, RunOutcome, RunView, check, get_check
from harness.errors import InputError
from harness.evaluation import evaluate
from harness.model import OutputRecord
from harness.outputs import load_outputs, records_from_dicts
from harness.project import load_project

OF = {"check": "regex", "pattern": "bad"}


def records(items: Sequence[Mapping[str, Any]]) -> list[OutputRecord]:
    full = [{"case_id": f"c{i}", "output": "", **item} for i, item in enumerate(items)]
    return list(records_from_dicts(full).records)


def view(items: Sequence[Mapping[str, Any]], failed: Iterable[int] = (),
         baseline: RunView | None = None) -> RunView:
    return RunView(records(items), failed=frozenset(failed), baseline=baseline)


def run(name: str, options: Mapping[str, Any], the_view: RunView) -> RunOutcome:
    chk = get_check(name)
    outcome = chk.fn(chk.prepare(options), the_view)
    assert isinstance(outcome, RunOutcome) and outcome.status in {"pass", "fail", "error"}
    return outcome


# --- rate -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("failed", "minimum", "status", "value"),
    [
        ((), 1.0, "pass", 1.0),
        ((0, 1), 0.8, "pass", 0.8),
        ((0, 1), 0.81, "fail", 0.8),
        (range(10), 0.0, "pass", 0.0),
        (range(10), 0.1, "fail", 0.0),
    ],
    ids=["all-pass", "at-minimum", "just-below", "all-fail-min-zero", "all-fail"],
)
def test_rate(failed: Iterable[int], minimum: float, status: str, value: float) -> None:
    outcome = run("rate", {"of": OF, "min": minimum}, view([{}] * 10, failed))
    assert (outcome.status, outcome.value, outcome.threshold) == (status, pytest.approx(value), minimum)
    assert f"({10 - len(list(failed))}/10)" in outcome.message


def test_rate_empty_scope_passes() -> None:
    outcome = run("rate", {"of": OF, "min": 1.0}, view([]))
    assert outcome.status == "pass" and "no outputs" in outcome.message


# --- quantile ---------------------------------------------------------------------------

LATENCIES = [12, 5, 40, 7, 100, 33, 8, 21, 64, 3]  # sorted: 3 5 7 8 12 21 33 40 64 100


@pytest.mark.parametrize(
    ("options", "status", "value"),
    [
        # p95, linear: position 0.95 * 9 = 8.55 -> 64 + 0.55 * (100 - 64) = 83.8
        ({"q": 0.95, "max": 90}, "pass", 83.8),
        ({"q": 0.95, "max": 80}, "fail", 83.8),
        ({"q": 0.95, "max": 83.8}, "pass", 83.8),
        # p50: position 4.5 -> 12 + 0.5 * (21 - 12) = 16.5
        ({"q": 0.5, "max": 16}, "fail", 16.5),
        # p5: position 0.45 -> 3 + 0.45 * (5 - 3) = 3.9
        ({"q": 0.05, "min": 4}, "fail", 3.9),
        ({"q": 0.05, "min": 3.5}, "pass", 3.9),
        ({"q": 0.0, "min": 3}, "pass", 3.0),
        ({"q": 1.0, "max": 100}, "pass", 100.0),
        ({"q": 0.5, "min": 10, "max": 20}, "pass", 16.5),
        ({"q": 0.5, "min": 17, "max": 20}, "fail", 16.5),
    ],
    ids=["p95-under-max", "p95-over-max", "p95-at-max", "p50-over-max", "p5-under-min", "p5-over-min",
         "q0-is-min", "q1-is-max", "within-min-and-max", "below-min-with-max"],
)
def test_quantile(options: dict[str, Any], status: str, value: float) -> None:
    outcome = run("quantile", options, view([{"latency_ms": v} for v in LATENCIES]))
    assert outcome.status == status
    assert outcome.value == pytest.approx(value)


def test_quantile_message_and_threshold() -> None:
    outcome = run("quantile", {"q": 0.95, "max": 80}, view([{"latency_ms": v} for v in LATENCIES]))
    assert outcome.message.startswith("p95 latency_ms = 83.8")
    assert "above the maximum 80" in outcome.message
    assert outcome.threshold == 80


def test_quantile_of_another_field() -> None:
    items = [{"slice": {"score": s}} for s in (0.2, 0.4, 0.6, 0.8)]
    outcome = run("quantile", {"q": 0.5, "field": "slice.score", "min": 0.5}, view(items))
    assert outcome.status == "pass" and outcome.value == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("items", "missing"),
    [
        ([{"latency_ms": 1}, {}, {"latency_ms": 3}], 1),
        ([{}, {}], 2),
        ([{"latency_ms": 1}, {"slice": {"x": 1}}], 1),
    ],
    ids=["one-missing", "all-missing", "other-fields-only"],
)
def test_quantile_missing_values_are_an_error(items: list[dict[str, Any]], missing: int) -> None:
    outcome = run("quantile", {"q": 0.5, "max": 10}, view(items))
    assert outcome.status == "error"
    assert outcome.details == {"missing": missing}
    assert f"in {missing} of {len(items)} outputs" in outcome.message


@pytest.mark.parametrize(
    "bad",
    [True, "12", None, {"a": 1}, [1, 2]],
    ids=["boolean", "numeric-string", "null", "object", "array"],
)
def test_quantile_non_numbers_are_an_error(bad: Any) -> None:
    items = [{"slice": {"v": 1}}, {"slice": {"v": bad}}]
    outcome = run("quantile", {"q": 0.5, "field": "slice.v", "max": 10}, view(items))
    assert outcome.status == "error" and outcome.details == {"missing": 1}


def test_quantile_empty_scope_passes() -> None:
    assert run("quantile", {"q": 0.5, "max": 1}, view([])).status == "pass"


def test_quantile_prepare_needs_max_or_min() -> None:
    with pytest.raises(InputError, match="needs `max`, `min` or both"):
        get_check("quantile").prepare({"q": 0.5})


# --- disparity --------------------------------------------------------------------------

def slices(*groups: tuple[Any, int, int]) -> tuple[list[dict[str, Any]], set[int]]:
    """Records for (group, count, failures) triples; a group of ... means no slice at all."""
    items: list[dict[str, Any]] = []
    failed: set[int] = set()
    for group, count, failures in groups:
        for k in range(count):
            if k < failures:
                failed.add(len(items))
            items.append({} if group is ... else {"slice": {"group": group}})
    return items, failed


@pytest.mark.parametrize(
    ("max_gap", "status"),
    [(0.4, "fail"), (0.5, "pass"), (0.6, "pass")],
    ids=["gap-over", "gap-at-max", "gap-under"],
)
def test_disparity_gap_across_groups(max_gap: float, status: str) -> None:
    items, failed = slices(("en", 4, 0), ("es", 4, 2), ("fr", 4, 1))
    outcome = run("disparity", {"of": OF, "by": "slice.group", "max_gap": max_gap}, view(items, failed))
    assert outcome.status == status
    assert outcome.value == pytest.approx(0.5) and outcome.threshold == max_gap
    assert "en 1.00 vs es 0.50" in outcome.message
    assert outcome.details["slices"] == {
        "en": {"count": 4, "pass_rate": 1.0},
        "es": {"count": 4, "pass_rate": 0.5},
        "fr": {"count": 4, "pass_rate": 0.75},
    }
    assert outcome.details["by"] == "slice.group" and "missing" not in outcome.details


def test_disparity_min_count_excludes_small_slices() -> None:
    items, failed = slices(("en", 5, 0), ("es", 5, 1), ("tiny", 2, 2))
    options = {"of": OF, "by": "slice.group", "max_gap": 0.3}
    assert run("disparity", options, view(items, failed)).status == "fail"  # tiny: 0.0 vs en 1.0
    outcome = run("disparity", {**options, "min_count": 3}, view(items, failed))
    assert outcome.status == "pass" and outcome.value == pytest.approx(0.2)
    assert outcome.details["slices"]["tiny"] == {"count": 2, "pass_rate": 0.0}  # reported, not compared


@pytest.mark.parametrize(
    "groups",
    [(("en", 5, 3),), (("en", 5, 0), ("es", 1, 1))],
    ids=["single-slice", "other-slice-too-small"],
)
def test_disparity_that_cannot_compare_is_an_error_not_a_pass(groups: tuple[tuple[Any, int, int], ...]) -> None:
    items, failed = slices(*groups)
    outcome = run("disparity", {"of": OF, "by": "slice.group", "max_gap": 0.0, "min_count": 2},
                  view(items, failed))
    assert outcome.status == "error" and "fewer than two slices" in outcome.message


def test_disparity_with_no_outputs_in_scope_passes() -> None:
    outcome = run("disparity", {"of": OF, "by": "slice.group", "max_gap": 0.0}, view([], set()))
    assert outcome.status == "pass" and outcome.message == "no outputs in scope"


def test_baseline_without_common_cases_is_an_error() -> None:
    base = RunView(records_from_dicts([{"case_id": "other", "output": "x"}]).records)
    now = RunView(records_from_dicts([{"case_id": "c1", "output": "x"}]).records, baseline=base)
    assert run("baseline", {"of": OF, "max_drop": 0}, now).status == "error"
    assert run("baseline", {"compare": "json"}, now).status == "error"


def test_disparity_missing_group_values_are_counted() -> None:
    items, failed = slices(("en", 3, 0), ("es", 3, 0), (..., 2, 2), (None, 1, 1))
    outcome = run("disparity", {"of": OF, "by": "slice.group", "max_gap": 0.0}, view(items, failed))
    assert outcome.status == "pass"  # the failing records without a group are not a slice
    assert outcome.details["missing"] == 3
    assert set(outcome.details["slices"]) == {"en", "es"}


def test_disparity_non_string_groups() -> None:
    items, failed = slices((1, 2, 0), (2, 2, 1), (True, 2, 2))
    outcome = run("disparity", {"of": OF, "by": "slice.group", "max_gap": 0.5}, view(items, failed))
    assert set(outcome.details["slices"]) == {"1", "2", "True"}
    assert outcome.status == "fail" and outcome.value == pytest.approx(1.0)


def test_disparity_by_top_level_field() -> None:
    items = [{"model": "a"}, {"model": "a"}, {"model": "b"}, {"model": "b"}]
    outcome = run("disparity", {"of": OF, "by": "model", "max_gap": 0.4}, view(items, {2}))
    assert outcome.status == "fail" and outcome.value == pytest.approx(0.5)


# --- baseline: pass rate of an inner rule -------------------------------------------------

def cases(*ids: str) -> list[dict[str, Any]]:
    return [{"case_id": c} for c in ids]


BASE_IDS = ("a", "b", "c", "d")


@pytest.mark.parametrize(
    ("max_drop", "status"),
    [(None, "fail"), (0.25, "fail"), (0.5, "pass"), (0.75, "pass")],
    ids=["default-zero", "over-max-drop", "at-max-drop", "within-max-drop"],
)
def test_baseline_pass_rate_drop(max_drop: float | None, status: str) -> None:
    base = view(cases(*BASE_IDS), failed={3})                      # a b c pass, d fails
    now = view(cases(*BASE_IDS), failed={0, 1, 3}, baseline=base)  # a b flip, d still fails
    options: dict[str, Any] = {"of": OF} if max_drop is None else {"of": OF, "max_drop": max_drop}
    outcome = run("baseline", options, now)
    assert outcome.status == status
    assert outcome.value == pytest.approx(0.5)
    assert [case for case, _ in outcome.flipped] == ["a", "b"]
    assert all(what == "passed on the baseline, fails now" for _, what in outcome.flipped)
    assert outcome.details == {"baseline_rate": 0.75, "rate": 0.25}
    assert "2 case(s) flipped" in outcome.message


def test_baseline_improvement_passes_with_nothing_flipped() -> None:
    base = view(cases(*BASE_IDS), failed={0, 1})
    outcome = run("baseline", {"of": OF}, view(cases(*BASE_IDS), failed={1}, baseline=base))
    assert outcome.status == "pass" and outcome.flipped == () and outcome.value == pytest.approx(-0.25)
    assert "drop 0.000" in outcome.message


def test_baseline_case_with_several_outputs_fails_if_any_output_fails() -> None:
    base = view(cases("a", "a", "b", "b"))
    now = view(cases("a", "a", "b", "b"), failed={1}, baseline=base)
    outcome = run("baseline", {"of": OF, "max_drop": 0.5}, now)
    assert outcome.flipped == (("a", "passed on the baseline, fails now"),)
    assert outcome.details == {"baseline_rate": 1.0, "rate": 0.5}
    assert outcome.status == "pass"


def test_baseline_new_failing_case_is_not_a_flip() -> None:
    base = view(cases("a"))
    outcome = run("baseline", {"of": OF, "max_drop": 1}, view(cases("a", "new"), failed={1}, baseline=base))
    assert outcome.flipped == ()


def test_baseline_without_baseline_is_an_error() -> None:
    outcome = run("baseline", {"of": OF}, view(cases("a")))
    assert outcome.status == "error" and "--baseline" in outcome.message
    outcome = run("baseline", {"compare": "json"}, view(cases("a")))
    assert outcome.status == "error"


def test_baseline_empty_scope_passes() -> None:
    assert run("baseline", {"of": OF}, view([], baseline=view(cases("a")))).status == "pass"


# --- baseline: compare json --------------------------------------------------------------

def compare(before: str, after: str) -> RunOutcome:
    base = view([{"case_id": "k", "output": before}])
    return run("baseline", {"compare": "json"}, view([{"case_id": "k", "output": after}], baseline=base))


@pytest.mark.parametrize(
    ("before", "after", "flips", "why"),
    [
        ('{"a": 1, "b": 2}', '{"a": 1}', True, "dictionary item removed at root['b']"),
        ('{"a": 1}', '{"a": "1"}', True, "type changes at root['a']"),
        ('{"a": {"b": [1]}}', '{"a": {"b": {}}}', True, "type changes at root['a']['b']"),
        ('{"a": null}', '{"a": 1}', True, "type changes"),
        ('{"a": true}', '{"a": 1}', True, "type changes"),
        ('[{"x": 1, "y": 2}]', '[{"x": 1}]', True, "dictionary item removed"),
        ('{"a": 1, "b": 2, "c": 3}', "{}", True, "dictionary item removed at root['a']"),
        ('{"answer": "x", "sources": []}', '{"error": "x"}', True, "dictionary item removed at root['answer']"),
        ('{"o": {"p": 1, "q": 2}}', '{"o": {"r": 1}}', True, "dictionary item removed at root['o']['p']"),
        ('[{"x": 1, "y": 2}, {"x": 5, "y": 6}]', '[{"x": 1, "y": 3}, {"x": 5}]', True,
         "dictionary item removed at root[1]['y']"),
        ('[{"a": 1}]', '[{"a": "1"}]', True, "type changes at root[0]['a']"),
        ('{"a": 1}', '{"a": 2}', False, None),
        ('{"a": "x"}', '{"a": "y"}', False, None),
        ('{"s": 1}', '{"s": 0.5}', False, None),
        ('{"t": ["a", "b"]}', '{"t": ["a", "c"]}', False, None),
        ('{"a": 1}', '{"a": 1, "new": 2}', False, None),
        ('{"a": 1, "b": 2}', '{"b": 2, "a": 1}', False, None),
        ('{"a": 1}', '```json\n{"a": 1}\n```', False, None),
        ('{"a": 1}', "Sorry, I cannot answer.", True, "JSON on the baseline, now not valid JSON"),
        ('{"a": 1}', "", True, "not valid JSON"),
        ('{"a": 1}', "NaN", True, "not valid JSON"),
    ],
    ids=["removed-key", "type-change", "nested-type-change", "null-to-number", "bool-to-number",
         "removed-key-in-list", "all-keys-removed", "disjoint-keys", "nested-disjoint-keys",
         "removed-key-in-changed-list-item", "type-change-in-changed-list-item", "value-change",
         "string-value-change", "int-to-float-is-a-value",
         "list-value-change", "added-key", "key-order", "fenced-candidate", "candidate-not-json",
         "candidate-empty", "candidate-nan"],
)
def test_baseline_compare_json(before: str, after: str, flips: bool, why: str | None) -> None:
    outcome = compare(before, after)
    assert outcome.status == ("fail" if flips else "pass")
    assert outcome.details == {"compared": 1}
    if flips:
        [(case_id, what)] = outcome.flipped
        assert case_id == "k" and why is not None and why in what
    else:
        assert outcome.flipped == ()


def test_baseline_compare_json_lists_flipped_cases_exactly() -> None:
    base = view([
        {"case_id": "keep", "output": '{"a": 1}'},
        {"case_id": "removed", "output": '{"a": 1, "b": 2}'},
        {"case_id": "broken", "output": '{"a": 1}'},
        {"case_id": "base-not-json", "output": "prose"},
        {"case_id": "gone", "output": '{"a": 1}'},
    ])
    now = view([
        {"case_id": "keep", "output": '{"a": 5}'},
        {"case_id": "removed", "output": '{"a": 1}'},
        {"case_id": "broken", "output": "{oops"},
        {"case_id": "base-not-json", "output": '{"a": 1}'},
        {"case_id": "new", "output": "not json"},
    ], baseline=base)
    outcome = run("baseline", {"compare": "json"}, now)
    assert outcome.status == "fail"
    assert [case for case, _ in outcome.flipped] == ["removed", "broken"]
    assert outcome.details == {"compared": 3}  # base-not-json and gone are not compared
    assert outcome.message.startswith("2 of 3 JSON case(s)")


def test_baseline_compare_json_many_changes_are_summarised() -> None:
    outcome = compare('{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1}', "{}")
    [(_, what)] = outcome.flipped
    assert "(+2 more)" in what


def test_baseline_compare_json_deep_nesting_does_not_crash() -> None:
    deep = "[" * 800 + "1" + "]" * 800
    assert compare(deep, deep).status in {"pass", "fail"}
    assert compare("[" * 100_000 + "]" * 100_000, '{"a": 1}').status == "error"  # nothing comparable


# --- prepare errors ---------------------------------------------------------------------

@pytest.mark.parametrize(
    "options",
    [{}, {"max_drop": 0.1}, {"of": OF, "compare": "json"}],
    ids=["neither", "max_drop-only", "both"],
)
def test_baseline_prepare_needs_exactly_one_of_of_or_compare(options: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="exactly one of `of`"):
        get_check("baseline").prepare(options)


@pytest.mark.parametrize("options", [{"of": OF}, {"compare": "json"}], ids=["of", "compare"])
def test_baseline_prepare_accepts_one(options: dict[str, Any]) -> None:
    assert get_check("baseline").prepare(options) == options


# --- how the engine calls a run-level check ----------------------------------------------

SPY_OPTIONS = {"properties": {"of": {"$ref": "#/$defs/inner_rule"}}, "required": ["of"]}
IN_SCOPE = [
    {"case_id": "a", "output": "bad", "tags": ["bot"]},
    {"case_id": "b", "output": "fine", "tags": ["bot"]},
    {"case_id": "out-of-scope", "output": "bad"},
    {"case_id": "d", "output": "bad again", "tags": ["bot"]},
    {"case_id": "e", "output": "fine", "tags": ["bot", "other"]},
]


@pytest.mark.parametrize("workers", [1, 2], ids=["serial", "forked"])
def test_the_engine_calls_a_run_level_check_once_with_the_records_in_scope(
        repo: Any, policy_text: Any, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    import harness.evaluation.executors as executors

    monkeypatch.setattr(executors, "PARALLEL_MIN_RECORDS", 2)
    calls: list[RunView] = []

    @check("test-run-spy", level="run", options=SPY_OPTIONS)
    def spy(options: Mapping[str, Any], run_view: RunView) -> RunOutcome:
        calls.append(run_view)
        return RunOutcome("fail", "seen", 0.5, 0.9)

    repo.policy("p.yaml", policy_text("- {id: spy, check: test-run-spy, of: {check: regex, pattern: bad}}\n",
                                      extra="applies_to: {tags: [bot]}"))
    with CHECKS.registered("test-run-spy", spy):
        project = load_project(repo.policies, repo.evals)
        outputs = load_outputs(repo.outputs("out.jsonl", IN_SCOPE))
        evaluation = evaluate(project, outputs, today="2026-01-01", workers=workers)
    [seen] = calls
    assert [r.case_id for r in seen.records] == ["a", "b", "d", "e"]
    assert seen.failed == frozenset({0, 2})  # positions in the view where the inner rule failed
    assert seen.baseline is None
    [aggregate] = evaluation.aggregates
    assert (aggregate.policy, aggregate.rule, aggregate.status) == ("test.policy", "spy", "fail")
    assert aggregate.outcome == RunOutcome("fail", "seen", 0.5, 0.9)
    assert evaluation.results == ()  # the inner rule's failures feed the run-level rule only
