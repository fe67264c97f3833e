"""A partial sent from a worker process (pickled: case ids compressed, results as rows of their fields) merges into
the same evaluation as the partial itself; a run-level column first seen in a later partial is missing (NaN, -1)
for the records before it, and one a later partial lacks is missing for that partial's records."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.evaluation import InputFacts, Merger, finish, prepare
from harness.evaluation.partial import Partial
from harness.evaluation.results import Result, result_rows, results_from_rows
from harness.model import Finding
from harness.outputs import load_outputs
from harness.project import load_project

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def project() -> Any:
    return load_project(ROOT / "policies", ROOT / "evals")


def _partials(project: Any, *, two_files: bool = False, size: int = 7) -> tuple[Any, list[Partial]]:
    """The example outputs that fail most, judged ``size`` records a partial (of two files, alternately: as records
    in memory, each partial knows its lines)."""
    records = load_outputs(ROOT / "examples" / "outputs" / "acme-support-1.2.0.jsonl").records
    judging = prepare(project, today="2026-12-01")
    return judging, [judging.scan(records, begin, min(begin + size, len(records)),
                                  part=begin // size % 2 if two_files else 0)
                     for begin in range(0, len(records), size)]


def _merged(judging: Any, partials: list[Partial], *, files: list[str] | None = None) -> Merger:
    merger = Merger(judging, files=files)
    for partial in partials:
        merger.add(partial)
    return merger


def _relative(partials: list[Partial]) -> list[Partial]:
    """The partials as byte ranges of a file would give them: lines counted from each one's start."""
    for partial in partials:
        first = int(partial.line_numbers[0]) - 1 if partial.records else 0
        partial.line_numbers = partial.line_numbers - first
        partial.results = [Result(r.policy, r.rule, r.case_id, r.status, r.message, r.findings,
                                  None if r.line is None else r.line - first, r.waiver, r.file)
                           for r in partial.results]
        partial.relative_lines, partial.lines = True, partial.records
    return partials


@pytest.mark.parametrize(("two_files", "relative"), [(False, False), (True, False), (False, True), (True, True)],
                         ids=["one file", "two files", "byte ranges of one file", "byte ranges of two files"])
def test_a_pickled_partial_merges_as_the_partial_itself(project: Any, two_files: bool, relative: bool) -> None:
    judging, partials = _partials(project, two_files=two_files)
    if relative:
        partials = _relative(partials)
    assert sum(len(p.results) for p in partials) > 5, "the example outputs must fail some rules"
    sent = [pickle.loads(pickle.dumps(p)) for p in partials]
    files = ["a.jsonl", "b.jsonl"] if two_files else None
    here = _merged(judging, partials, files=files)
    there = _merged(prepare(project, today="2026-12-01"), sent, files=files)
    assert there.results == here.results  # their lines and files too
    if relative and not two_files:  # the lines were moved back to where they are in the input
        assert [r.line for r in here.results] == [r.line for r in _merged(*_partials(project)).results]
    assert [there.case_id(i) for i in range(there.records)] == [here.case_id(i) for i in range(here.records)]
    assert [there.where(i, 1) for i in range(there.records)] == [here.where(i, 1) for i in range(here.records)]
    facts = InputFacts("x.jsonl", "0" * 64, here.records)
    a, b = finish(here, facts), finish(there, facts)
    assert a.results == b.results and a.outcomes == b.outcomes and a.aggregates == b.aggregates


def test_what_a_pickled_partial_carries() -> None:
    """The wire format (a format check, not a behaviour): case ids compressed, results as rows."""
    partial = Partial(records=1, results=[Result("p", "r", "c-1", "fail", "m", (), 1)], case_text="c-1",
                      case_ends=np.array([3]))
    sent = pickle.loads(pickle.dumps(partial))
    assert (sent.results, sent.case_text) == ([], "")
    assert sent.result_rows and sent.case_packed


def test_a_partial_pickled_twice_keeps_every_result_and_case_id() -> None:
    finding = Finding("pii", "an e-mail address", 3, 9, "a***@x.example")
    first = Partial(records=2, results=[Result("p", "r", "c-1", "fail", "m", (finding,), 1)],
                    case_text="c-1c-2", case_ends=np.array([3, 6]))
    again = pickle.loads(pickle.dumps(pickle.loads(pickle.dumps(first))))
    again.results.append(Result("p", "r", "c-2", "waived", "m", (), 2, "T-1", "f.jsonl"))
    last = pickle.loads(pickle.dumps(again))
    assert last.all_results() == [*first.results, again.results[0]]
    assert [last.case_id(0), last.case_id(1)] == ["c-1", "c-2"]
    moved = last.all_results(10, "g.jsonl")
    assert [(r.line, r.file) for r in moved] == [(11, "g.jsonl"), (12, "g.jsonl")]
    assert moved[0].findings == (finding,)


def test_results_keep_their_order_through_any_number_of_trips() -> None:
    received = pickle.loads(pickle.dumps(Partial(results=[Result("p", "r", "c-1", "fail", "m", (), 1)])))
    received.results.append(Result("p", "r", "c-2", "fail", "m", (), 2))
    again = pickle.loads(pickle.dumps(received))
    assert [r.case_id for r in received.all_results()] == [r.case_id for r in again.all_results()] == ["c-1", "c-2"]


def test_every_field_of_a_result_survives_the_rows() -> None:
    finding = Finding("pii", "an e-mail address", 3, 9, "a***@x.example")
    result = Result("policy", "rule", "case", "waived", "message", (finding,), 7, "T-9", "day-1.jsonl")
    assert results_from_rows(result_rows([result])) == [result]
    assert results_from_rows(result_rows([result]), 5, "day-2.jsonl", moved=True) == [result.moved(5, "day-2.jsonl")]
    assert results_from_rows(result_rows([result]), 0, None, moved=True) == [result.moved(0, None)]
    no_line = Result("policy", "rule", "case", "fail", "message")
    assert results_from_rows(result_rows([no_line]), 5, "f", moved=True) == [no_line.moved(5, "f")]


def test_a_received_partial_judged_further_keeps_its_case_ids(project: Any) -> None:
    records = load_outputs(ROOT / "examples" / "outputs" / "acme-support-1.2.0.jsonl").records
    scanner = prepare(project, today="2026-12-01").scanner
    received = pickle.loads(pickle.dumps(scanner.scan(records[:3], Partial())))
    scanner.scan(records[3:6], received)
    assert [received.case_id(i) for i in range(6)] == [r.case_id for r in records[:6]]


def test_empty_case_ids_survive_the_trip() -> None:
    sent = pickle.loads(pickle.dumps(Partial(records=2, case_text="", case_ends=np.array([0, 0]))))
    assert [sent.case_id(0), sent.case_id(1)] == ["", ""]


def test_a_case_id_that_is_not_ascii_survives_the_trip() -> None:
    text = "é-1\ud800x中"
    partial = Partial(records=3, case_text=text, case_ends=np.array([3, 5, 6]))
    sent = pickle.loads(pickle.dumps(partial))
    assert [sent.case_id(i) for i in range(3)] == ["é-1", "\ud800x", "中"]


def _numbered(records: int, numbers: dict[str, Any], groups: dict[str, Any]) -> Partial:
    return Partial(records=records, plans=np.zeros(records, np.int32), keys=np.arange(records, dtype=np.uint64),
                   line_numbers=np.arange(1, records + 1, dtype=np.int64), case_text="x" * records,
                   case_ends=np.arange(1, records + 1), plan_keys=[(None, frozenset())], plan_counts=[records],
                   plan_cases=[{}], numbers=numbers, groups=groups)


def test_a_column_first_seen_later_is_missing_before_and_where_a_partial_lacks_it(project: Any) -> None:
    merger = Merger(prepare(project, today="2026-12-01"))
    merger.add(_numbered(2, {}, {}))
    merger.add(_numbered(3, {"latency_ms": np.array([1.0, 2.0, 3.0])},
                         {"slice.group": (np.array([0, 1, -1], np.int32), ["a", "b"])}))
    merger.add(_numbered(1, {}, {}))
    merger.add(_numbered(2, {"latency_ms": np.array([4.0, np.nan])},
                         {"slice.group": (np.array([1, 0], np.int32), ["c", "a"])}))
    numbers = merger.numbers_of("latency_ms")
    assert np.array_equal(numbers, [np.nan, np.nan, 1, 2, 3, np.nan, 4, np.nan], equal_nan=True)
    codes, labels = merger.groups_of("slice.group")
    assert labels == ["a", "b", "c"]
    assert codes.tolist() == [-1, -1, 0, 1, -1, -1, 0, 2]
    assert merger.records == 8
