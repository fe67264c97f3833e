"""Hostile inputs for this round's faster scan: the columnar lane, the byte ranges and the report's fast path.

Each test holds a fast path to the path it replaces: the lane's report to the record-by-record scan's
(``lane.ENABLED`` off and on, ``lane.MIN_BYTES = 0``), two workers' to one's, the JSON ``Report.to_json`` writes
from the records to the JSON of ``to_dict()``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from harness import api
from harness.clock import FixedClock
from harness.evaluation import lane
from harness.evaluation.scanner import PREFILTER_MAX_CHARS
from harness.outputs.sources import partitions
from harness.report import FindingReport, Report, ResultReport
from harness.report.model import _written_as_records

pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parents[1]
CLOCK = FixedClock("2026-12-04T10:00:00Z")

#: run-level rules grouping by a string, an integer-or-anything and a boolean, figures, and a prefilter rule
POLICY = """id: fairness.attacks-r3
version: 1.0.0
title: Run-level rules and a prefilter rule over hostile production records
severity: sev3
on_fail: warn
owner: qa@example.com
applies_to:
  tags: [support-bot, order-api]
rules:
  - {id: parity-by-group, check: disparity, of: {check: regex, pattern: 'sorry', must: not_match}, by: slice.group,
     max_gap: 0.01, min_count: 1}
  - {id: parity-by-cohort, check: disparity, of: {check: regex, pattern: 'sorry', must: not_match}, by: cohort,
     max_gap: 0.01, min_count: 1}
  - {id: score-p90, check: quantile, field: score, q: 0.9, max: 0.5}
  - {id: latency-p50, check: quantile, field: latency_ms, q: 0.5, max: 10}
  - {id: no-secret, check: regex, pattern: 'secret-[0-9]+', must: not_match}
"""


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("attacks-r3")
    for name in ("policies", "evals"):
        shutil.copytree(ROOT / name, root / name)
    (root / "policies" / "fairness" / "attacks-r3.yaml").write_text(POLICY)
    return root


def _records(n: int, seed: int, *, group: Callable[[random.Random, int], Any] | None = None,
             cohort: Callable[[random.Random, int], Any] | None = None) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    records = []
    for i in range(n):
        record: dict[str, Any] = {
            "case_id": f"r3-{i:05d}",
            "output": rng.choice(["sorry, no", "Here you go.", "secret-12 ok", "mail jane.doe@gmail.com"]),
            "latency_ms": rng.choice([12, 900.5, 31]),
            "tags": rng.choice([["support-bot"], ["order-api"], ["support-bot", "x"], ["x"]]),
            "slice": {"group": group(rng, i) if group else rng.choice(["a", "b"])},
            "score": rng.choice([0.1, 0.7, 1, 0.95]),
        }
        if cohort is not None:
            record["cohort"] = cohort(rng, i)
        records.append(record)
    return records


def _text(records: list[dict[str, Any]], *, ascii_only: bool = True) -> str:
    return "".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in records)


def _scan(root: Path, path: Path, monkeypatch: pytest.MonkeyPatch, *, columnar: bool, workers: int = 1
          ) -> dict[str, Any] | str:
    """The report (without the run's id and times), or the error's message."""
    monkeypatch.setattr(lane, "ENABLED", columnar)
    monkeypatch.setattr(lane, "MIN_BYTES", 0)
    lane.STATS.clear()
    try:
        report = api.run_scan(path, policies=root / "policies", evals=root / "evals", clock=CLOCK,
                              workers=workers, max_results=None).report.to_dict()
    except Exception as exc:  # the error named is what is compared
        return f"{type(exc).__name__}: {exc}"
    report["run"] = {k: v for k, v in report["run"].items() if k not in ("id", "started_at", "finished_at")}
    return report


def _same_reports(root: Path, path: Path, monkeypatch: pytest.MonkeyPatch, *, workers: tuple[int, ...] = (1,),
                  columns: bool = True) -> dict[str, Any]:
    """The record scan's report, after checking the lane's is the same (``columns``: the lane judged some blocks
    from columns, with one worker; else it may step aside for every block)."""
    by_records = _scan(root, path, monkeypatch, columnar=False)
    for count in workers:
        by_columns = _scan(root, path, monkeypatch, columnar=True, workers=count)
        if count == 1:
            assert (lane.STATS["columns"] >= 1) if columns else sum(lane.STATS.values()) >= 1, lane.STATS
        assert by_columns == by_records, count
    assert isinstance(by_records, dict), by_records
    return by_records


# --- the report's fast path ----------------------------------------------------------------------------------------

def _refilled(record: Any, name: str) -> Any:
    """``record`` with field ``name`` taken out of its ``__dict__`` and put back: last in the dict's order."""
    value = getattr(record, name)
    object.__delattr__(record, name)
    object.__setattr__(record, name, value)
    return record


def _old_json(report: Report) -> str:
    """``Report.to_json`` before its fast path: the JSON of ``to_dict()``."""
    data = report.to_dict()
    try:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"
    except orjson.JSONEncodeError:
        return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


@pytest.mark.parametrize("which", ["result", "finding"])
def test_a_record_whose_fields_are_in_another_order_is_written_in_the_schemas_order(which: str) -> None:
    finding = FindingReport("email", 1, 2, "j***@gmail.com")
    result = ResultReport("c-1", "p", "r", "fail", "m", 3, None, (finding,), 5)
    if which == "result":
        _refilled(result, "case_id")
    else:
        _refilled(finding, "kind")
    report = dataclasses.replace(_empty_report(), results=(result,))
    assert report.to_json() == _old_json(report)
    assert not _written_as_records(report.results)


@pytest.mark.parametrize("cap", [None, 0, 7], ids=["every-result", "no-result-listed", "seven-listed"])
def test_a_scans_report_with_hostile_text_is_the_json_of_to_dict(repository: Path, tmp_path: Path, cap: int | None
                                                                 ) -> None:
    """Through a real scan: masked excerpts of NUL, bidi, astral and combining characters, failed results and
    run-level errors, a cap on the results listed and the results file beside it."""
    records = _records(400, 12)
    rng = random.Random(12)
    for record in records:
        record["output"] += rng.choice(["", " secret-7 \x00 \u202e 😀 é", " jane.doe@gmail.com\u0301 secret-1"])
    path = tmp_path / "hostile.jsonl"
    path.write_text(_text(records, ascii_only=False), encoding="utf-8")
    side = tmp_path / "all.jsonl"
    report = api.run_scan(path, policies=repository / "policies", evals=repository / "evals", clock=CLOCK,
                          max_results=cap, results_file=side).report
    assert report.to_json() == _old_json(report)
    everything = [json.loads(line) for line in side.read_text(encoding="utf-8").splitlines()]
    assert report.to_dict()["results"] == everything[:cap]
    assert "fail" in {r["status"] for r in everything} <= {"fail", "waived", "error"}
    assert "jane.doe@gmail.com" not in report.to_json() and len(everything) > 100


@functools.cache
def _example_report() -> Report:
    examples = ROOT / "examples" / "outputs"
    return api.run_gate(examples / "acme-support-1.2.0.jsonl", policies=ROOT / "policies", evals=ROOT / "evals",
                        baseline=examples / "acme-support-1.0.0.jsonl", clock=CLOCK).report


def _empty_report() -> Report:
    return dataclasses.replace(_example_report(), results=())


# --- the lane against the record-by-record scan --------------------------------------------------------------------

def _mixed_cohort(rng: random.Random, i: int) -> Any:
    """A group field of strings in most rows, and an integer, a boolean, an object, an array, a float or the
    string of an integer in a few: pyarrow stops at each, the lane leaves those rows to the strict parser."""
    return {5: 1, 300: True, 700: {"x": 1}, 900: [1], 1100: 1.5, 1300: "1"}.get(i, rng.choice(["1", "2", "True"]))


Values = Callable[[random.Random, int], Any] | None
#: (the slice.group values, the cohort values, whether the lane judges some blocks from columns)
GROUPS: dict[str, tuple[Values, Values, bool]] = {
    "strings-among-other-types": (None, _mixed_cohort, True),
    "any-type-in-every-row": (None, lambda rng, i: rng.choice(["1", 1, True, "True", 2, 2.5, {"a": 1}, [], ""]),
                              False),
    "empty-nul-non-ascii-names": (lambda rng, i: rng.choice(["", "\x00", "a\x00b", "é", "e\u0301", "😀", " ", "None"]),
                                  lambda rng, i: rng.choice([0, -1, 2**63 - 1, -(2**63)]), True),
    "an-object-as-the-group": (lambda rng, i: {"x": rng.choice([1, 2])}, lambda rng, i: rng.choice([True, False]),
                               False),
    "an-object-in-some-rows": (lambda rng, i: {"x": 1} if i % 500 == 7 else rng.choice(["a", "b"]), None, True),
    "floats-and-huge-integers": (lambda rng, i: rng.choice([1.0, 2.5]), lambda rng, i: rng.choice([2**64, 10**30, 3]),
                                 False),
}


@pytest.mark.parametrize("ascii_only", [True, False], ids=["escaped", "utf-8"])
@pytest.mark.parametrize("name", GROUPS)
def test_hostile_group_values_are_grouped_as_the_record_scan_groups_them(repository: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          name: str, ascii_only: bool) -> None:
    group, cohort, columns = GROUPS[name]
    path = tmp_path / "groups.jsonl"
    path.write_text(_text(_records(1500, 3, group=group, cohort=cohort), ascii_only=ascii_only), encoding="utf-8")
    report = _same_reports(repository, path, monkeypatch, columns=columns)
    rules = {a["rule"] for a in report["aggregates"] if a["policy"] == "fairness.attacks-r3"}
    assert {"parity-by-group", "parity-by-cohort", "score-p90", "latency-p50"} <= rules


def test_many_scope_plans_group_as_the_record_scan_does(repository: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    tags = [f"t{k}" for k in range(7)] + ["support-bot", "order-api"]
    records = _records(2500, 4, group=lambda rng, i: rng.choice("abcde"),
                       cohort=lambda rng, i: rng.choice([1, 2, 3]))
    rng = random.Random(4)
    for record in records:
        record["tags"] = rng.sample(tags, rng.randint(0, 5))
    path = tmp_path / "plans.jsonl"
    path.write_text(_text(records))
    report = _same_reports(repository, path, monkeypatch)
    assert len(report["scopes"]) > 20  # tags making many scope plans


def test_figures_huge_tiny_negative_and_integers_beyond_floats(repository: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    records = _records(2000, 6)
    values = [1e308, -1e308, 1.7976931348623157e308, 2**63 - 1, -(2**63), 2**64, 2**70, -0.0, 5e-324, -5,
              2**53 + 1, 1e-320]
    for k, value in enumerate(values):
        records[50 + k * 150]["score"] = value
        records[60 + k * 150]["latency_ms"] = value if value >= 0 else 3
    path = tmp_path / "figures.jsonl"
    path.write_text(_text(records))
    _same_reports(repository, path, monkeypatch)
    for i, record in enumerate(records):  # every row's figure beyond what a float holds exactly
        record["score"] = -(2**62) - i if i % 2 else 2**62 + i
    path.write_text(_text(records))
    _same_reports(repository, path, monkeypatch)


def test_outputs_at_the_prefilters_length_in_characters_not_bytes(repository: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    records = _records(1500, 5)
    tail = " mail jane.doe@gmail.com secret-99"
    heads = ["é" * (PREFILTER_MAX_CHARS - len(tail)), "é" * (PREFILTER_MAX_CHARS - len(tail) + 1),
             "😀" * (PREFILTER_MAX_CHARS - len(tail)), "x" * (PREFILTER_MAX_CHARS - len(tail)),
             "é" * (PREFILTER_MAX_CHARS // 2)]
    for k, head in enumerate(heads):
        records[100 + k * 200].update(output=head + tail, tags=["support-bot"])
    for ascii_only in (False, True):
        path = tmp_path / f"long-{ascii_only}.jsonl"
        path.write_text(_text(records, ascii_only=ascii_only), encoding="utf-8")
        report = _same_reports(repository, path, monkeypatch)
        long_ones = {f"r3-{100 + k * 200:05d}" for k in range(len(heads))}
        found = {r["case_id"] for r in report["results"] if r["rule"] == "no-secret"}
        assert long_ones <= found  # every one judged, at the limit and past it


BLANKS = ["\n", "   \n", "\t\n", "\r\n", "\x0b\x0c\n", "\n\n\n", " \t \r\n",
          "  " + json.dumps({"case_id": "sp-1", "output": "secret-1", "tags": ["support-bot"]}) + "\n",
          json.dumps({"case_id": "t-1", "output": "secret-2", "tags": ["support-bot"]}) + "   \n"]


@pytest.mark.parametrize("end", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_blank_and_indented_lines_mid_block(repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            end: str) -> None:
    lines = _text(_records(2000, 7)).splitlines(True)
    for k, line in enumerate(BLANKS):
        lines.insert(37 + k * 211, line)
    path = tmp_path / "blanks.jsonl"
    path.write_text("".join(lines).replace("\n", end), encoding="utf-8", newline="")
    report = _same_reports(repository, path, monkeypatch)
    assert {"sp-1", "t-1"} <= {r["case_id"] for r in report["results"]}


@pytest.mark.parametrize("line", [
    b'{"case_id": "bad-1", "output": "\xff\xfe", "tags": ["support-bot"]}',
    b'{"case_id": "bad-2", "output": "\xed\xa0\x80", "tags": ["support-bot"]}',
    b'{"case_id": "bad-3", "output": "sorry\\ud800no", "tags": ["support-bot"]}',
    b'\xef\xbb\xbf{"case_id": "bad-4", "output": "fine", "tags": ["support-bot"]}',
    b'{"case_id": "bad-5", "output": "fine", "score": 1e400, "tags": ["support-bot"]}',
], ids=["invalid-utf-8", "encoded-surrogate", "lone-surrogate-escape", "byte-order-mark", "infinite-figure"])
def test_lines_the_strict_parser_refuses_are_named_alike(repository: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch, line: bytes) -> None:
    lines = _text(_records(1500, 8)).encode().splitlines(True)
    lines.insert(900, line + b"\n")
    path = tmp_path / "refused.jsonl"
    path.write_bytes(b"".join(lines))
    by_records = _scan(repository, path, monkeypatch, columnar=False)
    assert isinstance(by_records, str) and "refused.jsonl:901: " in by_records, by_records
    assert _scan(repository, path, monkeypatch, columnar=True) == by_records


@pytest.mark.parametrize(("records", "split"), [(2000, 4096), (2000, 10007), (1, 7), (3, 50), (7, 1)])
def test_equal_byte_ranges_mid_line_and_mid_character_over_workers(repository: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch, records: int,
                                                                   split: int) -> None:
    from harness.api import judge as judge_module

    path = tmp_path / "ranges.jsonl"
    path.write_text(_text(_records(records, 9, group=lambda rng, i: rng.choice(["é😀", "ü", "a"])),
                          ascii_only=False), encoding="utf-8")
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", split)
    cuts = {p.start for p in partitions(path, split_bytes=split, split_into=2)}
    text = path.read_bytes()
    assert any(0 < at < len(text) and text[at - 1:at] != b"\n" for at in cuts)  # ranges start mid-line
    _same_reports(repository, path, monkeypatch, workers=(1, 2, 3))


class _OwnExecutor:
    """An executor of the caller's (the API takes any): its ``workers`` is None, "as many as there are"."""

    workers = None

    def __init__(self) -> None:
        from harness.evaluation.executors import SerialExecutor

        self.inner = SerialExecutor()

    def judge_records(self, *args: Any, **kwargs: Any) -> None:
        self.inner.judge_records(*args, **kwargs)

    def judge_partitions(self, *args: Any, **kwargs: Any) -> None:
        self.inner.judge_partitions(*args, **kwargs)


@pytest.mark.parametrize("workers", [None, 0, -3, "4"])
def test_an_executor_without_a_worker_count_scans_in_byte_ranges(repository: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 workers: Any) -> None:
    from harness.api import judge as judge_module

    path = tmp_path / "own.jsonl"
    path.write_text(_text(_records(300, 10)))
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", 4096)
    reference = api.run_scan(path, policies=repository / "policies", evals=repository / "evals", clock=CLOCK,
                             workers=1).report.to_dict()
    own = _OwnExecutor()
    own.workers = workers
    report = api.run_scan(path, policies=repository / "policies", evals=repository / "evals", clock=CLOCK,
                          executor=own).report.to_dict()
    assert {k: v for k, v in report.items() if k != "run"} == {k: v for k, v in reference.items() if k != "run"}
    assert len(partitions(path, split_bytes=4096, split_into=workers)) == len(partitions(path, split_bytes=4096))


def _scan_with_results_file(tmp_path: Path) -> int:
    """`harness scan` of 50 outputs with personal data, a JSON report and a results file, in ``tmp_path``."""
    from harness.cli import main

    logs = tmp_path / "logs.jsonl"
    logs.write_text("".join(json.dumps({"case_id": f"c-{i}", "output": f"mail jane{i}@example.org"}) + "\n"
                            for i in range(50)))
    return main(["scan", "--outputs", str(logs), "--policies", str(ROOT / "policies"), "--evals", str(ROOT / "evals"),
                 "--format", "json", "--output", str(tmp_path / "report.json"),
                 "--results-file", str(tmp_path / "all.jsonl")])


@pytest.mark.parametrize("where", ["_write_report", "_append_summary"])
def test_an_interruption_after_judging_leaves_no_results_file_and_no_report(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch,
                                                                             where: str) -> None:
    """Ctrl-C between the end of judging and the report written: exit 130, neither file (the results file used to
    be named as the evaluation ended, before the report was written)."""
    from harness.cli import gate as gate_cli

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(gate_cli, where, interrupted)
    if where == "_append_summary":  # called only when there is a step summary to append to
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    assert _scan_with_results_file(tmp_path) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs.jsonl"]


def test_a_results_file_is_named_with_its_report(tmp_path: Path) -> None:
    assert _scan_with_results_file(tmp_path) == 0
    lines = (tmp_path / "all.jsonl").read_text().splitlines()
    assert len(lines) == json.loads((tmp_path / "report.json").read_text())["summary"]["results"] >= 50
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.jsonl", "logs.jsonl", "report.json"]
