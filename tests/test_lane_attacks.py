"""Inputs built to make the columnar lane of a streamed scan differ from the record-by-record scan, or stall.

As in ``test_lane``: every test scans one input with the lane and without it and compares what a user sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_lane import CLOCK, _comparable, _generated, _repository, _write

from harness import api
from harness.checks import CHECKS, check
from harness.errors import InputErrors
from harness.evaluation import lane
from harness.model import Finding

pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _repository(tmp_path_factory.mktemp("lane-attacks"))


def _errors(root: Path, path: Path, monkeypatch: pytest.MonkeyPatch, columnar: bool) -> str:
    monkeypatch.setattr(lane, "ENABLED", columnar)
    monkeypatch.setattr(lane, "MIN_BYTES", 0)  # the lane reads these small files too
    with pytest.raises(InputErrors) as caught:
        api.run_scan(path, policies=root / "policies", evals=root / "evals", clock=CLOCK, workers=1)
    return str(caught.value)


def test_past_the_error_limit_the_lane_names_the_errors_the_record_scan_names(
        repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """30 lines the strict parser refuses, each one the lane leaves to it alone (a ``null``): the scan stops at
    the 20th, and so must the lane (it named all 30)."""
    broken = [f'{{"case_id": null, "output": "answer {i}"}}' for i in range(30)]
    path = _write(tmp_path / "broken.jsonl", _generated(11, 400, tmp_path), broken)
    by_records = _errors(repository, path, monkeypatch, False)
    by_columns = _errors(repository, path, monkeypatch, True)
    assert by_columns == by_records
    lines = by_records.splitlines()
    assert lines[0].endswith("broken.jsonl: stopped after 20 broken lines")
    assert len(lines) == 21 and all("$.case_id: expected a non-empty string, got None" in x for x in lines[1:])


@pytest.mark.timeout(60)  # a guard: the old search decoded the rest of the block again after each bad line
@pytest.mark.timeout(120)
def test_many_lines_not_utf8_get_the_errors_of_the_record_scan_in_linear_time(repository: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """pyarrow keeps bytes that are not UTF-8 in its strings; the lane finds them by validating its columns and
    leaves the piece to the strict parser (once: not again per bad line, which took time quadratic in a block)."""
    lines = [b'{"case_id": "u-%d", "output": "caf\xc3\xa9 %s"}' % (i, b"y" * 400) for i in range(16_000)]
    for i in {5, 6, 1999, 15_999} | set(range(100, 16_000, 7)):
        lines[i] = lines[i].replace(b"\xc3\xa9", b"\xe9")  # Latin-1, not UTF-8
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert _errors(repository, path, monkeypatch, True) == _errors(repository, path, monkeypatch, False)


def _garbage_columns(prepared: Any, view: Any) -> Any:
    return prepared["garbage"]


@check("test-lane-garbage", columns=_garbage_columns, options={"properties": {"garbage": {}}})
def _garbage(prepared: Any, record: Any, case: Any) -> list[Finding]:
    """Fails every output whose case id ends in 7."""
    return [Finding("test", "ends in 7")] if record.case_id.endswith("7") else []


@pytest.mark.parametrize("garbage", [None, [], "x", {"0": []}, {10**6: [["not a finding"]]}, {-1: []}])
def test_a_plugin_columns_hook_returning_garbage_changes_nothing(repository: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                garbage: Any) -> None:
    """The hook's answer is not judged from unless it maps rows of the block to findings: the records are then
    judged by ``fn``, as without the lane (it crashed, or invented results at rows that do not exist)."""
    import json
    import shutil

    root = tmp_path / "repo"
    shutil.copytree(repository, root)
    rule = json.dumps({"id": "garbage", "check": "test-lane-garbage", "garbage": garbage})
    (root / "policies" / "quality" / "lane-garbage.yaml").write_text(
        "id: quality.lane-garbage\nversion: 1.0.0\ntitle: A plugin's columns hook\nseverity: sev3\n"
        f"on_fail: warn\nowner: qa@example.com\nrules:\n  - {rule}\n")
    path = _write(tmp_path / "plain.jsonl", _generated(12, 300, tmp_path))
    reports = []
    with CHECKS.registered("test-lane-garbage", _garbage):
        for columnar in (False, True):
            monkeypatch.setattr(lane, "ENABLED", columnar)
            monkeypatch.setattr(lane, "MIN_BYTES", 0)  # the lane reads these small files too
            result = api.run_scan(path, policies=root / "policies", evals=root / "evals", clock=CLOCK, workers=1)
            reports.append(_comparable(result.report.to_dict()))
    assert reports[1] == reports[0]
    failed = [r for r in reports[0]["results"] if r["policy"] == "quality.lane-garbage"]
    assert failed and all(r["case_id"].endswith("7") and r["status"] == "fail" for r in failed)


MEMORY_PROBE = """
import json, sys
import pyarrow
from harness import api
from harness.evaluation import lane
lane.ENABLED = sys.argv[3] == "on"
lane.MIN_BYTES = 0
result = api.run_scan(sys.argv[1], policies=sys.argv[2] + "/policies", evals=sys.argv[2] + "/evals", workers=1)
print(json.dumps({"peak": pyarrow.default_memory_pool().max_memory(), "results": result.report.summary.results,
                  "stats": dict(lane.STATS)}))
"""


def test_lines_with_keys_of_their_own_do_not_make_pyarrow_hold_a_slot_for_every_key_on_every_row(
        repository: Path, tmp_path: Path) -> None:
    """16,000 records, each with a key no other has: read whole, pyarrow's table would hold 16,000 x 16,000
    slots (3.7 GB); read in pieces it holds a few MB, and the report is the record-by-record scan's."""
    import json
    import subprocess
    import sys

    lines = [json.dumps({"case_id": f"own-{i}", "output": "Your order has shipped.", f"k{i}": i})
             for i in range(16_000)]
    path = tmp_path / "own-keys.jsonl"
    path.write_text("\n".join(lines) + "\n")
    runs = {}
    for mode in ("on", "off"):
        out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path), str(repository), mode],
                             capture_output=True, text=True, timeout=600, check=True)
        runs[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    assert runs["on"]["stats"].get("pieces", 0) >= 1 and runs["on"]["stats"].get("columns", 0) >= 15
    assert runs["on"]["peak"] < 200 * 2**20, runs["on"]
    assert runs["on"]["results"] == runs["off"]["results"] > 0


def test_gzip_with_a_results_cap_and_a_results_file_gives_what_the_record_scan_gives(
        repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip
    import json

    from test_lane import _varied

    path = tmp_path / "day.jsonl.gz"
    path.write_bytes(gzip.compress(_write(tmp_path / "day.jsonl", _varied(_generated(21, 3000, tmp_path), 21))
                                   .read_bytes()))
    seen = []
    for columnar in (False, True):
        monkeypatch.setattr(lane, "ENABLED", columnar)
        monkeypatch.setattr(lane, "MIN_BYTES", 0)
        lane.STATS.clear()
        results = tmp_path / f"results-{columnar}.jsonl"
        report = api.run_scan(path, policies=repository / "policies", evals=repository / "evals", clock=CLOCK,
                              workers=1, max_results=50, results_file=results).report.to_dict()
        assert (lane.STATS["columns"] > 0) == columnar
        report["summary"] = {k: v for k, v in report["summary"].items() if k != "results_file"}
        seen.append((_comparable(report), [json.loads(line) for line in results.read_text().splitlines()]))
    assert seen[0] == seen[1]
    (report, every), _ = seen
    assert len(report["results"]) == 50 < report["summary"]["results"] == len(every)


@pytest.mark.timeout(300)
def test_a_dask_scan_through_the_lane_reports_what_the_local_record_scan_reports(
        repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dask workers are processes of their own: they read a piece of 4 MiB or more through the lane."""
    distributed = pytest.importorskip("distributed")
    from harness.api import judge as judge_module

    path = _write(tmp_path / "big.jsonl", _generated(22, 9000, tmp_path))
    assert path.stat().st_size >= lane.MIN_BYTES
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", 2 << 20)  # pieces of 2 MiB: record by record on the client
    monkeypatch.setattr(lane, "ENABLED", False)
    local = _comparable(api.run_scan(path, policies=repository / "policies", evals=repository / "evals",
                                     clock=CLOCK, workers=1).report.to_dict())
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", 64 << 20)  # one piece: through the lane on the worker
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as cluster:
        remote = _comparable(api.run_scan(path, policies=repository / "policies", evals=repository / "evals",
                                          clock=CLOCK, executor="dask",
                                          scheduler=cluster.scheduler_address).report.to_dict())
        with distributed.Client(cluster) as client:
            stats = client.run(lambda: dict(__import__("harness.evaluation.lane", fromlist=["STATS"]).STATS))
    assert sum(worker.get("columns", 0) for worker in stats.values()) > 0, stats  # the worker read columns
    assert remote == local
    assert local["summary"]["results"] > 100
