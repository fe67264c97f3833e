"""The report's fast paths give what the record paths they replace give, byte for byte.

``build_report`` makes its results in one pass (the case ids masked together, each message once, the
records made without their ``__init__``), and ``Report.to_json`` hands results of plain values to orjson as
records instead of building ``to_dict()`` first. Each is held here to the path it replaces: every result
through ``ResultReport(...)`` and ``mask_text``, and the JSON text of ``to_dict()``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import json
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.api import GateResult, run_gate
from harness.checks import RunOutcome
from harness.clock import FixedClock
from harness.evaluation import Aggregate, Evaluation, Result, ScopeGroup
from harness.gate import decide
from harness.model import Finding, Verdict
from harness.project import Project
from harness.report import FileRef, FindingReport, Report, ResultReport, Summary
from harness.report.build import build_report, result_report, result_reporter, source_lines
from harness.report.model import _written_as_records, make_finding_report, make_result_report
from harness.text.mask import mask_text

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "outputs"
NOON = "2026-11-27T12:00:00Z"
EMAIL = "jane.doe@gmail.com"
#: personal data, non-ASCII text, bidi controls and astral characters, in case ids, messages and excerpts
NASTY = (f"case {EMAIL}", "cas-é-😀", "call +1 415 555 0134", "\u202ekcab\u202c 4111 1111 1111 1111",
         "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "plain-0001", "")


def old_json(report: Report) -> str:
    """``Report.to_json`` as it was: the JSON of ``to_dict()`` (orjson; ``json`` for what orjson cannot write)."""
    data = report.to_dict()
    try:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"
    except orjson.JSONEncodeError:
        return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def outcome(write: Callable[[], str]) -> str | type[BaseException]:
    """The text written, or the kind of error raised instead."""
    try:
        return write()
    except Exception as exc:  # the kind of error is what is compared
        return type(exc)


def reference_results(project: Project, results: tuple[Result, ...]) -> tuple[ResultReport, ...]:
    """The report's results as ``build_report`` made them, one ``result_report`` call each: every text masked
    by ``mask_text``, the line of the rule (of the case, and its cases file, for an eval suite) looked up."""
    rule_lines, case_lines = source_lines(project)
    cases_files = {s.policy_id: s.cases_path for s in project.suites}
    made = []
    for r in results:
        if r.policy in cases_files:
            line, cases_file = case_lines.get((r.policy, r.case_id)), cases_files[r.policy]
        else:
            line, cases_file = rule_lines.get((r.policy, r.rule)), None
        made.append(ResultReport(
            mask_text(r.case_id), r.policy, r.rule, r.status, mask_text(r.message), r.line, r.waiver,
            tuple(FindingReport(f.kind, f.start, f.end, mask_text(f.masked) if f.masked else f.masked)
                  for f in r.findings), line, r.file, cases_file if line is not None else None))
    return tuple(made)


@pytest.fixture(scope="module")
def judged() -> GateResult:
    """The shipped rollback example (results of policies and suites, a waived one, run-level rules, scopes)."""
    return run_gate(EXAMPLES / "acme-support-1.2.0.jsonl", policies=ROOT / "policies", evals=ROOT / "evals",
                    baseline=EXAMPLES / "acme-support-1.0.0.jsonl", clock=FixedClock(NOON))


def _more_results(project: Project, line: int) -> list[Result]:
    """Results of every kind the engine gives: each status, with and without findings and excerpts, from a
    policy, from a suite (with a cases file), from no known policy, from one of several input files."""
    policy, suite = project.policies[0], project.suites[0]
    rule = policy.rules[0].id
    case = suite.cases[0].id
    made = []
    for i, text in enumerate(NASTY):
        findings = (Finding("email", "an address", 3, 3 + len(EMAIL), f"{EMAIL} {text}"),
                    Finding("regex", "a phrase", None, None, None), Finding("phone", "a number", 0, 0, ""))
        made += [
            Result(policy.id, rule, text, "fail", f"{text}: found", findings[: i % 4], line + i, None),
            Result(policy.id, rule, f"{text} (w)", "waived", f"waived {text}", findings[:1], None, "WVR-7 ✓"),
            Result(policy.id, f"no-such-rule-{i}", text, "error", text, (), i, None, f"part-{i}.jsonl"),
            Result(suite.policy_id, "expect-0", case, "fail", f"case {text}", findings[1:], i + 1),
            Result(suite.policy_id, "expect-0", f"unknown {text}", "fail", text, (), None),
            Result(f"eval:gone-{i}", "r", text, "error", text, findings, -i),
        ]
    return made


def _more_aggregates(policy: str, huge: int) -> list[Aggregate]:
    details = {EMAIL: {"count": huge, "rate": 0.25}, "jane.doe@gmail.com ": [1, "ünï", None, True],
               "nested": {"deeper": [{"x": -huge, "y": 1e300}], "😀": "\u202e"}}
    return [Aggregate(policy, f"rule-{status}", "disparity",
                      RunOutcome(status, f"{status} for {EMAIL}", value, 0.1, details,
                                 ((EMAIL, "passed, now fails"), ("plain-0001", "x"))), waiver)
            for status, value, waiver in (("pass", 0.5, None), ("fail", 2.0 ** 0.5, "WVR-1"), ("error", None, None),
                                          ("fail", 7, None))]


def _evaluation(judged: GateResult, *, huge: int, line: int) -> tuple[Project, Evaluation]:
    """The example's project (its first suite read from a cases file) and evaluation, with more of each part."""
    project = judged.project
    suite = project.suites[0]
    suite = dataclasses.replace(suite, cases_path="evals/cases ✓.jsonl",
                                case_lines=tuple(range(7, 7 + len(suite.cases))))
    project = dataclasses.replace(project, suites=(suite, *project.suites[1:]))
    evaluation = judged.evaluation
    evaluation = dataclasses.replace(
        evaluation, results=(*evaluation.results, *_more_results(project, line)),
        aggregates=(*evaluation.aggregates, *_more_aggregates(project.policies[0].id, huge)),
        scopes=(*evaluation.scopes, ScopeGroup((project.policies[0].id,), tuple(dict.fromkeys(NASTY)))),
        warnings=(*evaluation.warnings, f"a warning naming {EMAIL}"))
    return project, evaluation


def _build(judged: GateResult, project: Project, evaluation: Evaluation) -> Report:
    return build_report(project, judged.outputs, evaluation, decide(evaluation.outcomes), kind="gate",
                        started_at=NOON, finished_at=NOON, judged_on=dt.date(2026, 11, 27),
                        baseline=judged.baseline, warnings=[f"said by the caller: {EMAIL}"])


@pytest.mark.parametrize(("huge", "line"), [(2**40, 1), (2**70, 1), (1, 2**64), (1, -(2**63) - 1)],
                         ids=["64-bit", "huge-int-in-details", "huge-line", "huge-negative-line"])
def test_build_report_lists_each_result_as_result_report_does_and_writes_the_json_of_to_dict(
        judged: GateResult, huge: int, line: int) -> None:
    project, evaluation = _evaluation(judged, huge=huge, line=line)
    report = _build(judged, project, evaluation)
    expected = reference_results(project, evaluation.results)

    assert report.results == expected
    assert [list(vars(r)) for r in report.results] == [list(vars(r)) for r in expected]
    assert [[list(vars(f)) for f in r.findings] for r in report.results] == [
        [list(vars(f)) for f in r.findings] for r in expected]
    assert report.to_json() == old_json(dataclasses.replace(report, results=expected)) == old_json(report)
    text = report.to_json()
    assert EMAIL not in text and "4111 1111 1111 1111" not in text and "j***@gmail.com" in text
    assert '"source_file": "evals/cases \u2713.jsonl"' in text
    assert {r.status for r in report.results} == {"fail", "waived", "error"}
    assert {a.status for a in report.aggregates} == {"pass", "fail", "waived", "error"}


def test_plain_results_take_the_fast_path_and_odd_ones_the_record_path(judged: GateResult) -> None:
    project, evaluation = _evaluation(judged, huge=1, line=1)
    report = _build(judged, project, evaluation)
    assert _written_as_records(report.results)  # the test above covered the fast path
    odd = _odd(report.results[0], line=1.5)
    assert not _written_as_records((*report.results, odd))


def test_result_report_and_the_results_file_reporter_agree_with_the_report(judged: GateResult) -> None:
    project, evaluation = _evaluation(judged, huge=1, line=1)
    report = _build(judged, project, evaluation)
    reporter = result_reporter(project)
    assert tuple(reporter(r) for r in evaluation.results) == report.results
    made = result_report(evaluation.results[-1], 3, "masked id", "cases.jsonl")
    assert list(vars(made)) == [f.name for f in dataclasses.fields(ResultReport)]
    assert (made.case_id, made.source_line, made.source_file) == ("masked id", 3, "cases.jsonl")


@pytest.mark.parametrize("state", ["enabled", "disabled", "frozen"])
def test_building_a_report_leaves_the_garbage_collector_as_it_was(judged: GateResult, state: str) -> None:
    """The collector is paused while the records are made: it must be as before afterwards, and objects frozen by
    someone else (a server before it forks) stay frozen."""
    project, evaluation = _evaluation(judged, huge=1, line=1)
    enabled = state != "disabled"
    if not enabled:
        gc.disable()
    if state == "frozen":
        gc.freeze()
    frozen = gc.get_freeze_count()
    assert (frozen > 0) == (state == "frozen")
    try:
        report = _build(judged, project, evaluation)
        assert (gc.isenabled(), gc.get_freeze_count()) == (enabled, frozen)
    finally:
        gc.unfreeze()
        gc.enable()
    assert report.results == reference_results(project, evaluation.results)


def test_made_records_are_the_records_their_init_makes() -> None:
    finding = make_finding_report("email", 1, 2, "j***@x.com")
    made = make_result_report("c", "p", "r", "fail", "m", 4, None, (finding,), 9, "f.jsonl", "cases.jsonl")
    built = ResultReport("c", "p", "r", "fail", "m", 4, None, (FindingReport("email", 1, 2, "j***@x.com"),), 9,
                         "f.jsonl", "cases.jsonl")
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
    assert list(vars(made)) == list(vars(built)) == [f.name for f in dataclasses.fields(ResultReport)]
    assert list(vars(finding)) == [f.name for f in dataclasses.fields(FindingReport)]
    assert make_result_report("c", "p", "r", "fail", "m", None, None) == ResultReport("c", "p", "r", "fail", "m",
                                                                                     None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.case_id = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.masked = "raw"  # type: ignore[misc]


class _Text(str):
    pass


@dataclasses.dataclass(frozen=True)
class _MoreResult(ResultReport):
    extra: str = "not in the report"


def _with_extra(result: ResultReport) -> ResultReport:
    object.__setattr__(result, "extra", "not a field")
    return result


def _without(result: ResultReport, name: str) -> ResultReport:
    object.__delattr__(result, name)
    object.__setattr__(result, "other", 1)
    return result


BASE = ResultReport("case-1", "p", "r", "fail", "m", 3, None, (FindingReport("email", 1, 2, "j***@x.com"),), 5)


def _odd(result: ResultReport = BASE, **changes: Any) -> ResultReport:
    """``result`` with fields changed, to values of any type (a record's types are not checked when made)."""
    return dataclasses.replace(result, **changes)


def _finding(*values: Any) -> FindingReport:
    return FindingReport(*values)


ODD: dict[str, Callable[[], ResultReport]] = {
    "nan-line": lambda: _odd(line=float("nan")),
    "inf-source-line": lambda: _odd(source_line=float("-inf")),
    "nan-finding-start": lambda: _odd(findings=(_finding("k", float("nan"), 1, None),)),
    "float-line": lambda: _odd(line=1.5),
    "float-finding-end": lambda: _odd(findings=(_finding("k", 1, 2.0, "x"),)),
    "bool-line": lambda: _odd(line=True),
    "huge-finding-start": lambda: _odd(findings=(_finding("k", 2**65, 1, None),)),
    "str-subclass": lambda: _odd(case_id=_Text("sub")),
    "verdict-status": lambda: _odd(status=Verdict.BLOCK),
    "nan-in-tuple": lambda: _odd(waiver=("w", float("nan"))),
    "tuple-of-text": lambda: _odd(waiver=("w", "x")),
    "mapping": lambda: _odd(waiver=types.MappingProxyType({"b": 1, "a": [2]})),
    "dict-int-keys": lambda: _odd(waiver={1: "x"}),
    "summary": lambda: _odd(waiver=Summary(1, 1, 0, 0, 0, 1)),
    "record-in-field": lambda: _odd(waiver=FileRef("p", "s")),
    "findings-list": lambda: _odd(findings=list(BASE.findings)),
    "other-record-in-findings": lambda: _odd(findings=(FileRef("p", "s"),)),
    "result-subclass": lambda: _MoreResult(*(getattr(BASE, f.name) for f in dataclasses.fields(ResultReport))),
    "extra-attribute": lambda: _with_extra(_odd()),
    "field-swapped-for-another": lambda: _without(_odd(), "waiver"),
    "object": lambda: _odd(message=object()),
}


@pytest.mark.parametrize("make", ODD.values(), ids=ODD.keys())
def test_odd_results_are_written_as_to_dict_writes_them_or_refused_alike(judged: GateResult,
                                                                           make: Callable[[], ResultReport]) -> None:
    report = dataclasses.replace(judged.report, results=(*judged.report.results, make()))
    assert outcome(report.to_json) == outcome(lambda: old_json(report))


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6),
                    st.sampled_from(NASTY))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=2).map(tuple) | st.dictionaries(
    st.text(max_size=3), inner, max_size=2), max_leaves=4)
FINDINGS = st.builds(FindingReport, SCALARS, SCALARS, SCALARS, SCALARS)
RESULTS = st.builds(ResultReport, SCALARS, SCALARS, VALUES, SCALARS, st.text(max_size=6), SCALARS, VALUES,
                    st.lists(FINDINGS, max_size=3).map(tuple), SCALARS, SCALARS, SCALARS)
PLAIN = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1),
                  st.text(max_size=6), st.sampled_from(NASTY))
PLAIN_RESULTS = st.builds(make_result_report, PLAIN, PLAIN, PLAIN, PLAIN, PLAIN, PLAIN, PLAIN,
                          st.lists(st.builds(make_finding_report, PLAIN, PLAIN, PLAIN, PLAIN), max_size=3).map(tuple),
                          PLAIN, PLAIN, PLAIN)


@settings(max_examples=200, deadline=None)
@given(results=st.lists(st.one_of(RESULTS, PLAIN_RESULTS), min_size=1, max_size=4).map(tuple))
def test_any_results_are_written_as_to_dict_writes_them(judged: GateResult, results: tuple[Any, ...]) -> None:
    report = dataclasses.replace(judged.report, results=results)
    assert outcome(report.to_json) == outcome(lambda: old_json(report))
