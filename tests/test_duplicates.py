"""Repeated case ids: an error in a gate; in a scan, counted in the report and never a way to pass.

The attack: 2,000 copies of one fast record appended to a slow run turned a p95 latency
breach into a promote. A gate's outputs answer each eval case once, so a repeat is invalid
input naming both lines; production logs may repeat ids, so a scan accepts them, says so in
every format, and its run-level rules judge each case id once by its worst record.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.api import run_gate, run_scan
from harness.checks import RunOutcome, RunView, get_check
from harness.errors import InputErrors
from harness.evaluation import evaluate
from harness.model import Verdict
from harness.outputs import load_outputs, records_from_dicts
from harness.project import load_project
from harness.report import Report, render

ROOT = Path(__file__).resolve().parents[1]
ROLLBACK = ROOT / "examples" / "outputs" / "acme-support-1.2.0.jsonl"
BASELINE = ROOT / "examples" / "outputs" / "acme-support-1.0.0.jsonl"
OF = {"check": "regex", "pattern": "bad"}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(path: Path, records: Sequence[Mapping[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _padding(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The attack: 2,000 copies of the fastest record, and 50 of each parity-suite record that was answered."""
    fastest = min(records, key=lambda r: r["latency_ms"])
    answered = [r for r in records if r["case_id"].startswith("parity-") and "can't" not in r["output"]]
    assert answered
    return [fastest] * 2000 + answered * 50


def _padded(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return records + _padding(records)


# --- a gate refuses repeated case ids --------------------------------------------------------

def test_a_gate_refuses_a_case_id_answered_twice_naming_both_lines(tmp_path: Path) -> None:
    records = _lines(ROLLBACK)
    outputs = _write(tmp_path / "out.jsonl", [*records[:3], records[1], *records[3:]])
    with pytest.raises(InputErrors) as info:
        run_gate(outputs, policies=ROOT / "policies", evals=ROOT / "evals")
    [error] = info.value.errors
    assert str(error).startswith(f"{outputs}:4: case_id '{records[1]['case_id']}' repeats line 2;")
    assert "expected each case id once" in str(error)


def test_a_gate_refuses_repeats_in_the_baseline_too(tmp_path: Path) -> None:
    base = _lines(BASELINE)
    baseline = _write(tmp_path / "base.jsonl", [*base, base[0]])
    with pytest.raises(InputErrors) as info:
        run_gate(ROLLBACK, policies=ROOT / "policies", evals=ROOT / "evals", baseline=baseline)
    assert [str(e).split(";")[0] for e in info.value.errors] == [
        f"{baseline}:{len(base) + 1}: case_id '{base[0]['case_id']}' repeats line 1"]


def test_the_gate_command_exits_4_on_the_padding_attack(workdir: Path) -> None:
    padded = _write(workdir / "padded.jsonl", _padded(_lines(ROLLBACK)))
    done = subprocess.run([sys.executable, "-m", "harness", "gate", "--outputs", str(padded)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 4, done.stderr
    assert "repeats line" in done.stderr
    repeats = len(_padding(_lines(ROLLBACK)))
    assert f"and {repeats - 20} more records repeating a case id" in done.stderr  # the first 20 are named


# --- a scan accepts them, and padding changes nothing -----------------------------------------

@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """The rollback example scanned as it is and padded with 2,050 copies of passing records."""
    padded = _write(tmp_path_factory.mktemp("padded") / "padded.jsonl", _padded(_lines(ROLLBACK)))
    kwargs: dict[str, Any] = {"policies": ROOT / "policies", "evals": ROOT / "evals", "baseline": BASELINE}
    return run_scan(ROLLBACK, **kwargs), run_scan(padded, **kwargs)


def test_padding_a_scan_moves_no_run_level_figure_and_no_verdict(scans: tuple[Any, Any]) -> None:
    plain, padded = scans
    assert plain.verdict is Verdict.ROLLBACK
    assert padded.verdict is plain.verdict
    figures = {(a.policy, a.rule): (a.status, a.outcome.value) for a in plain.evaluation.aggregates}
    assert figures[("quality.latency", "p95-latency")][0] == "fail"
    assert figures[("fairness.refusal-parity", "answer-rate-parity-by-group")][0] == "fail"
    assert {(a.policy, a.rule): (a.status, a.outcome.value) for a in padded.evaluation.aggregates} == figures
    assert [o.status for o in padded.evaluation.outcomes] == [o.status for o in plain.evaluation.outcomes]


def test_the_report_of_a_padded_scan_says_so_in_every_format(scans: tuple[Any, Any]) -> None:
    plain, padded = scans
    assert (plain.report.run.outputs.duplicate_case_ids, plain.report.run.outputs.duplicate_records) == (0, 0)
    padding = _padding(_lines(ROLLBACK))
    ids, repeats = len({r["case_id"] for r in padding}), len(padding)
    outputs = padded.report.run.outputs
    assert (outputs.duplicate_case_ids, outputs.duplicate_records) == (ids, repeats)
    data = json.loads(render(padded.report, "json"))
    assert data["run"]["outputs"]["duplicate_records"] == repeats
    assert Report.from_json(padded.report.to_json()) == padded.report
    assert f"{ids} case id(s) repeated on {repeats} more record(s)" in render(padded.report, "text")
    assert f"{ids} case id(s) repeated on {repeats} more record(s)" in render(padded.report, "markdown")
    assert f'<property name="outputs.duplicate_records" value="{repeats}" />' in render(padded.report, "junit")
    assert any("run-level rules judged each case id once" in w for w in padded.report.warnings)
    assert not any("more than one record" in w for w in plain.report.warnings)


# --- each run-level check, called as the engine calls it --------------------------------------

def _view(items: Sequence[Mapping[str, Any]], failed: Sequence[int] = (), baseline: RunView | None = None) -> RunView:
    return RunView(list(records_from_dicts([{"output": "", **item} for item in items]).records),
                   frozenset(failed), baseline)


def _run(name: str, options: Mapping[str, Any], view: RunView) -> RunOutcome:
    check = get_check(name)
    outcome: RunOutcome = check.fn(check.prepare(options), view)
    return outcome


#: a run: (case id, value, slice, inner rule passed)
RUNS = st.lists(st.tuples(st.sampled_from("abcdefgh"), st.integers(0, 10_000), st.sampled_from("xy"), st.booleans()),
                min_size=1, max_size=12, unique_by=lambda item: item[0])
#: how padding picks records: indices into the run (copied), or new values for an existing case id
PADDING = st.lists(st.tuples(st.integers(0, 100), st.integers(0, 10_000), st.booleans()), min_size=1, max_size=30)
CHECKS = [
    pytest.param("rate", {"of": OF, "min": 0.6}, id="rate"),
    pytest.param("quantile", {"q": 0.9, "max": 5000}, id="quantile-max"),
    pytest.param("quantile", {"q": 0.2, "min": 2000}, id="quantile-min"),
    pytest.param("quantile", {"q": 0.5, "min": 1000, "max": 8000}, id="quantile-both"),
    pytest.param("disparity", {"of": OF, "by": "slice.group", "max_gap": 0.3}, id="disparity"),
    pytest.param("baseline", {"of": OF, "max_drop": 0.1}, id="baseline"),
]
RANK = {"pass": 0, "fail": 1, "error": 2}


def _as_view(run: Sequence[tuple[str, int, str, bool]], baseline: RunView | None = None) -> RunView:
    items = [{"case_id": case, "latency_ms": value, "slice": {"group": group}} for case, value, group, _ in run]
    return _view(items, [i for i, (_, _, _, passed) in enumerate(run) if not passed], baseline)


@pytest.mark.parametrize(("name", "options"), CHECKS)
@settings(max_examples=60, deadline=None)
@given(run=RUNS, padding=PADDING)
def test_copies_of_records_change_no_outcome(name: str, options: dict[str, Any], run: list[Any],
                                              padding: list[Any]) -> None:
    base = _as_view(run)
    copies = [run[index % len(run)] for index, _, _ in padding]
    plain, padded = _run(name, options, _as_view(run, base)), _run(name, options, _as_view(run + copies, base))
    assert (padded.status, padded.value) == (plain.status, plain.value)


@pytest.mark.parametrize(("name", "options"), [c for c in CHECKS if c.id != "disparity"])
@settings(max_examples=60, deadline=None)
@given(run=RUNS, padding=PADDING)
def test_more_records_of_a_case_never_move_an_outcome_toward_pass(name: str, options: dict[str, Any], run: list[Any],
                                                                 padding: list[Any]) -> None:
    """Not copies: any value, pass or fail, under a case id already in the run (its slice kept)."""
    base = _as_view(run)
    extra = [(run[i % len(run)][0], value, run[i % len(run)][2], passed) for i, value, passed in padding]
    plain, padded = _run(name, options, _as_view(run, base)), _run(name, options, _as_view(run + extra, base))
    assert RANK[padded.status] >= RANK[plain.status]


def test_padding_the_baseline_with_failures_cannot_hide_a_regression() -> None:
    base = _view([{"case_id": c} for c in "abcd"])
    now = _view([{"case_id": c} for c in "abcd"], failed=[0], baseline=base)
    assert _run("baseline", {"of": OF}, now).status == "fail"
    padded_base = _view([{"case_id": c} for c in "abcd" + "a" * 10], failed=range(4, 14))
    padded = _view([{"case_id": c} for c in "abcd"], failed=[0], baseline=padded_base)
    outcome = _run("baseline", {"of": OF}, padded)
    assert outcome.status == "fail"
    assert outcome.flipped == (("a", "passed on the baseline, fails now"),)


def test_compare_json_judges_every_output_of_a_case_not_the_last() -> None:
    base = _view([{"case_id": "k", "output": '{"a": 1}'}])
    broken_first = _view([{"case_id": "k", "output": "not json"}, {"case_id": "k", "output": '{"a": 2}'}],
                         baseline=base)
    outcome = _run("baseline", {"compare": "json"}, broken_first)
    assert outcome.status == "fail"
    assert outcome.details == {"compared": 1}


def test_a_quantile_of_repeated_ids_takes_each_case_at_its_worst() -> None:
    slow = [{"case_id": f"s{i}", "latency_ms": 9000} for i in range(5)]
    fast_copies = [{"case_id": "f", "latency_ms": 10}] * 2000
    outcome = _run("quantile", {"q": 0.5, "max": 2000}, _view(slow + fast_copies))
    assert outcome.status == "fail" and outcome.value == 9000
    assert "6 case ids, each by its largest value" in outcome.message


# --- a fractional max_failures is not diluted either -------------------------------------------

def test_a_fractional_max_failures_counts_case_ids_when_they_repeat(repo: Any, policy_text: Any) -> None:
    repo.policy("p.yaml", policy_text("- {id: no-bad, check: regex, pattern: bad, must: not_match}\n",
                                      extra="max_failures: '10%'"))
    records = [{"case_id": f"c{i}", "output": "bad" if i == 0 else "fine"} for i in range(5)]
    project = load_project(repo.policies, repo.evals)
    padded = load_outputs(repo.outputs("out.jsonl", records + [records[1]] * 40))
    outcome = evaluate(project, padded, require_all_cases=False).outcomes[0]
    assert (outcome.status, outcome.checked, outcome.failed) == ("fail", 45, 1)  # 1 of 5 cases, not 1 of 45 records


def test_the_library_can_allow_or_refuse_repeats_explicitly(repo: Any, policy_text: Any) -> None:
    repo.policy("p.yaml", policy_text("- {id: no-bad, check: regex, pattern: bad, must: not_match}\n"))
    project = load_project(repo.policies, repo.evals)
    outputs = load_outputs(repo.outputs("out.jsonl", [{"case_id": "a", "output": "x"}] * 2))
    assert evaluate(project, outputs, allow_repeats=True).records == 2
    with pytest.raises(InputErrors, match=r"out\.jsonl:2: case_id 'a' repeats line 1"):
        evaluate(project, outputs, require_all_cases=False, allow_repeats=False)


def test_ids_that_differ_only_by_invisible_characters_or_spaces_are_repeats():
    from harness.outputs.jsonl import records_from_dicts

    ids = ["case-1", "case-1\u200b", "case-1 ", "case-1\u00a0", "CASE-1", "ｃａｓｅ-1", "case-2"]
    outputs = records_from_dicts([{"case_id": i, "output": "ok"} for i in ids])
    assert len(outputs.repeats()) == 5 and outputs.repeated_ids == 1


def _disguised(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The padding with each copy's case id disguised: capitals, a zero-width space, a trailing space."""
    variants = [str.upper, lambda s: s + "\u200b", lambda s: s + " "]
    return [{**r, "case_id": variants[n % 3](r["case_id"])} for n, r in enumerate(_padding(records))]


def test_padding_with_disguised_ids_moves_no_run_level_figure_either(scans: tuple[Any, Any], tmp_path: Path) -> None:
    """Run-level rules grouped raw ids: `CASE-1`, `case-1\u200b` and `case-1 ` were three cases there, while
    the report counted them as repeats of one."""
    plain, _ = scans
    padded = _write(tmp_path / "disguised.jsonl", _lines(ROLLBACK) + _disguised(_lines(ROLLBACK)))
    run = run_scan(padded, policies=ROOT / "policies", evals=ROOT / "evals", baseline=BASELINE)
    figures = {(a.policy, a.rule): (a.status, a.outcome.value) for a in plain.evaluation.aggregates}
    assert {(a.policy, a.rule): (a.status, a.outcome.value) for a in run.evaluation.aggregates} == figures
    assert run.verdict is plain.verdict


def test_padding_a_gate_with_new_case_ids_is_refused_too(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The attack with fresh ids instead of repeats: 2,000 fast records `smalltalk-N` turned a p95 latency
    breach into a promote, with only a warning that they matched no eval case."""
    from harness.cli import main

    records = _lines(ROLLBACK)
    padded = records + [{"case_id": f"smalltalk-{n}", "output": "Happy to help!", "latency_ms": 300}
                        for n in range(2000)]
    _write(Path("padded.jsonl"), padded)
    assert main(["gate", "--outputs", "padded.jsonl", "--today", "2026-11-27", "--backdate"]) == 4
    err = capsys.readouterr().err
    line = len(records) + 1
    assert f"padded.jsonl:{line}: case_id 'smalltalk-0' matches no eval case; expected the id of a case" in err
    assert "and 1980 more records whose case id matches no eval case" in err
    # a user who means to judge outputs beyond the suites says so, and the report counts them
    run = run_gate(Path("padded.jsonl"), allow_unmatched=True, baseline=BASELINE)
    assert "2000 case id(s) in the outputs match no eval case: smalltalk-0" in " ".join(run.report.warnings)
