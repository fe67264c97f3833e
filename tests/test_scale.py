"""Scale: the streamed scan gives the report of the in-memory one, with bounded results, over every executor.

The in-memory path (records loaded, then judged) is the reference: a streamed scan of the
same outputs, cut into byte ranges and chunks, judged serially, in forked workers or on a real
Dask cluster (``distributed.LocalCluster``), must produce the same report. The built-in
run-level checks judge columns: a property test compares them with the record-based checks.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import api
from harness.api import judge as judge_module
from harness.checks import RunView
from harness.checks.builtin import run as record_checks
from harness.checks.builtin.structured import is_missing, resolve
from harness.clock import FixedClock
from harness.evaluation import columns, executors
from harness.evaluation.columns import RunColumns
from harness.evaluation.partial import STREAM_SCOPE_CASES, key_hashes
from harness.evaluation.scanner import _number
from harness.model import OutputRecord
from harness.model.output import case_key
from harness.outputs import load_outputs

ROOT = Path(__file__).resolve().parents[1]
CLOCK = FixedClock("2026-12-03T12:00:00Z")

# --- the columnar run-level checks equal the record-based ones ------------------------------------

_ids = st.sampled_from(["a", "A", "a ", "b", "c", "c\u200b", "d", "e"])
_numbers = st.one_of(st.integers(-5, 5000), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
                     st.just(10**400), st.just(True), st.just("12"), st.none())
_groups = st.one_of(st.sampled_from(["x", "y", "z"]), st.integers(0, 2), st.just(True), st.none(), st.just(1.0))


@st.composite
def _view(draw: Any) -> tuple[list[OutputRecord], set[int]]:
    records = []
    for i in range(draw(st.integers(0, 25))):
        fields: dict[str, Any] = {"case_id": draw(_ids)}
        if draw(st.booleans()):
            fields["latency_ms"] = draw(_numbers)
        if draw(st.booleans()):
            fields["slice"] = {"group": draw(_groups)}
        records.append(OutputRecord(fields["case_id"], "{}", i + 1, fields))
    failed = {i for i in range(len(records)) if draw(st.booleans())}
    return records, failed


def _columns(records: Sequence[OutputRecord], failed: set[int], base: RunColumns | None = None) -> RunColumns:
    groups: dict[str, int] = {}
    codes = []
    for record in records:
        value = resolve(record, "slice.group")
        codes.append(-1 if is_missing(value) or value is None else groups.setdefault(str(value), len(groups)))
    return RunColumns(np.array([i in failed for i in range(len(records))], dtype=bool),
                      key_hashes([case_key(r.case_id) for r in records]),
                      {"latency_ms": np.array([_number(resolve(r, "latency_ms")) for r in records], dtype=float)},
                      {"slice.group": (np.array(codes, dtype=np.int32), list(groups))},
                      lambda i: records[i].case_id, base)


def _record_view(records: Sequence[OutputRecord], failed: set[int], base: RunView | None = None) -> RunView:
    keys = [case_key(r.case_id) for r in records]
    return RunView(records, frozenset(failed), base, keys if len(set(keys)) != len(keys) else None)


OF = {"check": "not_contains", "value": "x", "id": "inner"}
RULES = [
    ("rate", {"of": OF, "min": 0.5}),
    ("quantile", {"q": 0.9, "max": 1000}),
    ("quantile", {"q": 0.5, "min": 10, "field": "latency_ms"}),
    ("quantile", {"q": 0.33, "max": 100, "min": 5}),
    ("disparity", {"of": OF, "by": "slice.group", "max_gap": 0.2}),
    ("disparity", {"of": OF, "by": "slice.group", "max_gap": 0.5, "min_count": 2}),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_view(), st.sampled_from(range(len(RULES))))
def test_columnar_run_checks_equal_the_record_checks(view: tuple[list[OutputRecord], set[int]], which: int) -> None:
    records, failed = view
    name, options = RULES[which]
    expected = getattr(record_checks, name)(options, _record_view(records, failed))
    assert getattr(columns, name)(options, _columns(records, failed)) == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_view(), _view(), st.sampled_from([0.0, 0.1, 0.5]))
def test_columnar_baseline_equals_the_record_check(now: tuple[list[OutputRecord], set[int]],
                                                    before: tuple[list[OutputRecord], set[int]],
                                                    max_drop: float) -> None:
    options = {"of": OF, "max_drop": max_drop}
    expected = record_checks.baseline(options, _record_view(*now, _record_view(*before)))
    assert columns.baseline(options, _columns(*now, _columns(*before))) == expected


# --- a repository judging with every kind of check, a plugin's run-level check among them ------------

PLUGIN = '''
import os
from pathlib import Path

from harness.checks import RunOutcome, check


@check("spread", level="run", options={"properties": {"of": {"$ref": "#/$defs/inner_rule"}}, "required": ["of"]})
def spread(options, run):
    """What a plugin's run-level check sees: records, case keys, failures."""
    keys = len(set(run.case_keys()))
    lines = sum(record.line for record in run.records)
    return RunOutcome("fail" if run.failed else "pass",
                      f"{len(run.records)} records, {keys} cases, {len(run.failed)} failed, lines {lines}",
                      float(len(run.failed)), 0.0, flipped=tuple((r.case_id, "seen") for r in run.records[:2]))


@check("tripwire", options={"properties": {"marker": {"type": "string"}}, "required": ["marker"]})
def tripwire(options, record, case):
    """Kills the process running it, once: the first time, when its marker file is not there yet."""
    marker = Path(options["marker"])
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), 9)
    return []


@check("slow", options={"properties": {"seconds": {"type": "number"}}, "required": ["seconds"]})
def slow(options, record, case):
    """Takes its time over every output."""
    import time

    time.sleep(options["seconds"])
    return []
'''


def _repository(root: Path, *, extra_policy: str | None = None) -> Path:
    for name in ("policies", "evals"):
        shutil.copytree(ROOT / name, root / name)
    (root / "scale_checks.py").write_text(PLUGIN)
    playbook = root / "policies" / "playbook.yaml"
    playbook.write_text(playbook.read_text() + "\nplugins: [scale_checks]\n")
    (root / "policies" / "quality" / "plugin-spread.yaml").write_text(
        "id: quality.plugin-spread\nversion: 1.0.0\ntitle: A plugin's run-level check\nseverity: sev3\n"
        "on_fail: warn\nowner: qa@example.com\nrules:\n"
        "  - id: spread-of-refusals\n    check: spread\n    of: {check: refusal, must: answer}\n")
    if extra_policy is not None:
        (root / "policies" / "quality" / "extra.yaml").write_text(extra_policy)
    return root


def _records(seed: int, n: int) -> list[dict[str, Any]]:
    """The shipped example outputs (they answer the eval cases), production-like records, and repeats."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gate_throughput as bench
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    path = Path(os.environ.get("PYTEST_TMP", "/tmp")) / f"harness-scale-{os.getpid()}-{seed}-{n}.jsonl"
    bench.generate(path, n, seed)
    generated = [json.loads(line) for line in path.read_text().splitlines()]
    path.unlink()
    examples = [json.loads(line) for line in (ROOT / "examples/outputs/acme-support-1.2.1.jsonl").read_text()
                .splitlines() if line.strip()]
    rng = random.Random(seed)
    records = examples + generated
    for record in rng.sample(records, 40):  # repeated case ids, some written differently, some slower
        again = dict(record, latency_ms=record.get("latency_ms", 100) * 3)
        if rng.random() < 0.5:
            again["case_id"] = again["case_id"].upper() + " "
        records.insert(rng.randrange(len(records)), again)
    return records


def _write(folder: Path, records: Sequence[Mapping[str, Any]], pieces: int = 3) -> Path:
    """The records cut into files of several formats in ``folder`` (sorted by name = input order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir()
    size = -(-len(records) // pieces)
    for i in range(pieces):
        chunk = records[i * size:(i + 1) * size]
        text = "".join(json.dumps(r) + "\n" for r in chunk).encode()
        if i % 3 == 0:
            (folder / f"part-{i}.jsonl").write_bytes(text)
        elif i % 3 == 1:
            (folder / f"part-{i}.jsonl.gz").write_bytes(gzip.compress(text))
        else:
            rows = [{**r, "slice": r.get("slice"), "tags": r.get("tags")} for r in chunk]
            pq.write_table(pa.Table.from_pylist(rows), folder / f"part-{i}.parquet")
    return folder


def _comparable(report: Mapping[str, Any]) -> dict[str, Any]:
    """A report without what differs between two runs of the same judgement (ids, times, the files named)."""
    data = dict(report)
    run = dict(data.pop("run"))
    for key in ("id", "started_at", "finished_at"):
        run.pop(key)
    data["run"] = run
    data["results"] = [{k: v for k, v in r.items() if k != "file"} for r in data["results"]]
    # a streamed scan lists the first STREAM_SCOPE_CASES case ids of each scope group, and says so
    data["scopes"] = [{**g, "cases": g["cases"][:STREAM_SCOPE_CASES]} for g in data["scopes"]]
    data["warnings"] = [w for w in data["warnings"] if not w.startswith("scopes list at most")]
    data["summary"] = {k: v for k, v in data["summary"].items() if k != "results_file"}
    return data


@pytest.fixture(scope="module")
def scale_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    root = _repository(tmp_path_factory.mktemp("scale"))
    records = _records(11, 3000)
    inputs = _write(root / "logs", records)
    single = root / "all.jsonl"
    single.write_text("".join(json.dumps(r) + "\n" for r in records))
    yield root, inputs, single


def _scan(root: Path, outputs: Any, **options: Any) -> api.GateResult:
    return api.run_scan(outputs, policies=root / "policies", evals=root / "evals", clock=CLOCK,
                        baseline=ROOT / "examples/outputs/acme-support-1.0.0.jsonl", **options)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_streamed_scan_reports_what_the_in_memory_scan_reports(scale_repo: tuple[Path, Path, Path],
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 workers: int) -> None:
    root, _inputs, single = scale_repo
    reference = _scan(root, load_outputs(single)).report.to_dict()
    assert reference["summary"]["results"] > 100
    kinds = {a["check"] for a in reference["aggregates"]}
    assert {"rate", "quantile", "disparity", "baseline", "spread"} <= kinds
    spread = next(a for a in reference["aggregates"] if a["check"] == "spread")
    assert spread["status"] == "fail" and "records" in spread["message"]
    assert reference["run"]["outputs"]["duplicate_records"] == 40
    # small byte ranges and chunks: many partials, merged in order
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", 64 * 1024)
    monkeypatch.setattr(executors, "CHUNK_RECORDS", 500)
    streamed = _scan(root, single, workers=workers).report.to_dict()
    assert _comparable(streamed) == _comparable(reference)
    assert max(len(g["cases"]) for g in reference["scopes"]) > STREAM_SCOPE_CASES
    assert any(w.startswith(f"scopes list at most {STREAM_SCOPE_CASES} case ids") for w in streamed["warnings"])


def test_a_directory_of_formats_is_one_input_and_results_name_their_file(scale_repo: tuple[Path, Path, Path]
                                                                         ) -> None:
    root, inputs, single = scale_repo
    reference = _comparable(_scan(root, load_outputs(single)).report.to_dict())
    result = _scan(root, inputs)
    report = result.report.to_dict()
    files = {r["file"] for r in report["results"] if r["line"] is not None}
    assert files == {str(inputs / "part-0.jsonl"), str(inputs / "part-1.jsonl.gz"), str(inputs / "part-2.parquet")}
    # the same findings as over the one file, each at its line in its own file
    same = _comparable(report)
    by_case = {(r["case_id"], r["policy"], r["rule"]): r for r in reference["results"]}
    for item in same["results"]:
        expected = by_case[(item["case_id"], item["policy"], item["rule"])]
        assert {k: v for k, v in item.items() if k != "line"} == {k: v for k, v in expected.items() if k != "line"}
    assert same["policies"] == reference["policies"]
    # the plugin's figure sums the records' lines: per file here, over the one file there
    assert [a for a in same["aggregates"] if a["check"] != "spread"] == \
        [a for a in reference["aggregates"] if a["check"] != "spread"]
    digests = [f"{__import__('hashlib').sha256(p.read_bytes()).hexdigest()}  {p}\n" for p in sorted(inputs.iterdir())]
    assert report["run"]["outputs"]["sha256"] == __import__("hashlib").sha256("".join(digests).encode()).hexdigest()


def test_past_the_cap_the_report_lists_the_first_results_and_the_results_file_holds_all(
        scale_repo: tuple[Path, Path, Path], tmp_path: Path) -> None:
    root, _, single = scale_repo
    everything = _scan(root, single, max_results=None).report.to_dict()
    total = everything["summary"]["results"]
    side = tmp_path / "results.jsonl"
    capped = _scan(root, single, max_results=25, results_file=side).report.to_dict()
    assert capped["summary"]["results"] == total and capped["summary"]["results_listed"] == 25
    assert capped["summary"]["results_file"] == str(side)
    assert capped["results"] == everything["results"][:25]
    assert capped["policies"] == everything["policies"]  # counts stay exact
    assert any(f"{total} results, the first 25 kept" in w for w in capped["warnings"])
    lines = side.read_text().splitlines()
    assert [json.loads(line) for line in lines] == everything["results"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


# --- Dask: a real local cluster, a worker killed mid-run -------------------------------------------

@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as local:
        yield local


def test_a_dask_scan_reports_what_the_local_scan_reports(scale_repo: tuple[Path, Path, Path], cluster: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root, inputs, _single = scale_repo
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", 128 * 1024)  # the JSONL file in several ranges too
    local = _scan(root, inputs).report.to_dict()
    remote = _scan(root, inputs, executor="dask", scheduler=cluster.scheduler_address).report.to_dict()
    assert remote == local | {"run": remote["run"]}
    assert {k: v for k, v in remote["run"].items() if k not in ("id", "started_at", "finished_at")} == \
        {k: v for k, v in local["run"].items() if k not in ("id", "started_at", "finished_at")}


def test_a_worker_killed_mid_run_does_not_change_the_report(tmp_path: Path, cluster: Any) -> None:
    marker = tmp_path / "killed"
    root = _repository(tmp_path / "repo", extra_policy=(
        "id: quality.tripwire\nversion: 1.0.0\ntitle: Kills its worker once\nseverity: sev3\non_fail: warn\n"
        f"owner: qa@example.com\nrules:\n  - id: trip\n    check: tripwire\n    marker: {json.dumps(str(marker))}\n"))
    inputs = _write(root / "logs", _records(5, 1200), pieces=4)
    marker.write_text("not this time")
    local = _scan(root, inputs).report.to_dict()
    marker.unlink()
    workers = set(cluster.scheduler_info["workers"])
    remote = _scan(root, inputs, executor="dask", scheduler=cluster.scheduler_address).report.to_dict()
    assert marker.exists()  # a worker ran the tripwire and was killed by it
    assert _comparable(remote) == _comparable(local)
    deadline = time.monotonic() + 60
    while len(cluster.scheduler_info["workers"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)  # the nanny brings the killed worker back for the next test
    assert set(cluster.scheduler_info["workers"]) != workers


# --- interruption and bad input through the command -----------------------------------------------

def _ctrl_c_as_at_a_terminal() -> None:
    """In the child, before it runs Python: SIGINT's default disposition. A test run started in the background by a
    shell without job control (``nohup pytest &``) ignores SIGINT, its children inherit that, and Python then leaves
    it ignored: the scan would never see the Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_a_scan_with_exit_130_and_writes_nothing(tmp_path: Path) -> None:
    root = _repository(tmp_path / "repo", extra_policy=(
        "id: quality.slow\nversion: 1.0.0\ntitle: Slow\nseverity: sev3\non_fail: warn\nowner: qa@example.com\n"
        "rules:\n  - id: slowly\n    check: slow\n    seconds: 0.002\n"))
    logs = root / "logs.jsonl"
    logs.write_text("".join(json.dumps(r) + "\n" for r in _records(3, 20000)))
    report, side = tmp_path / "report.json", tmp_path / "all.jsonl"
    process = subprocess.Popen([sys.executable, "-m", "harness", "scan", "--outputs", str(logs),
                                "--policies", str(root / "policies"), "--evals", str(root / "evals"),
                                "--format", "json", "--output", str(report), "--results-file", str(side)],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_ctrl_c_as_at_a_terminal)
    time.sleep(6)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "harness: interrupted" in err
    assert not report.exists() and not side.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs.jsonl", "repo"] or \
        sorted(p.name for p in tmp_path.iterdir()) == ["repo"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          check=False)


def test_a_corrupt_gzip_member_in_a_directory_is_bad_input_and_no_report(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    good = "".join(json.dumps({"case_id": f"c{i}", "output": "fine"}) + "\n" for i in range(50)).encode()
    (logs / "day-1.jsonl").write_bytes(good)
    broken = bytearray(gzip.compress(good) + gzip.compress(good))
    broken[len(broken) - 30] ^= 0xFF  # inside the second member's deflate stream
    (logs / "day-2.jsonl.gz").write_bytes(bytes(broken))
    done = _cli("scan", "--outputs", str(logs), "--policies", str(ROOT / "policies"), "--evals",
                str(ROOT / "evals"), "--format", "json", "--output", str(tmp_path / "r.json"), cwd=tmp_path)
    assert done.returncode == 4, done.stderr
    assert f"{logs / 'day-2.jsonl.gz'}" in done.stderr
    assert not (tmp_path / "r.json").exists()


def test_a_parquet_file_without_the_output_column_is_bad_input(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "day.parquet"
    pq.write_table(pa.Table.from_pylist([{"case_id": "a", "response": "hi"}]), path)
    done = _cli("scan", "--outputs", str(path), "--policies", str(ROOT / "policies"), "--evals",
                str(ROOT / "evals"), cwd=tmp_path)
    assert done.returncode == 4, done.stderr
    assert str(path) in done.stderr and "output" in done.stderr
    mapped = _cli("scan", "--outputs", str(path), "--map", "output=response", "--policies", str(ROOT / "policies"),
                  "--evals", str(ROOT / "evals"), "--format", "json", cwd=tmp_path)
    assert mapped.returncode == 0, mapped.stderr
    assert json.loads(mapped.stdout)["run"]["outputs"]["records"] == 1


def test_a_partition_a_dask_worker_cannot_read_is_bad_input(tmp_path: Path, cluster: Any) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text(json.dumps({"case_id": "a", "output": "fine"}) + "\n")
    (logs / "b.jsonl").write_text('{"case_id": "b", "output": "fine"}\n{"case_id": "c", "output": NaN}\n')
    done = _cli("scan", "--outputs", str(logs), "--executor", "dask", "--scheduler", cluster.scheduler_address,
                "--policies", str(ROOT / "policies"), "--evals", str(ROOT / "evals"), cwd=tmp_path)
    assert done.returncode == 4, done.stderr
    assert f"{logs / 'b.jsonl'}:2" in done.stderr


class _Bars:
    """What a progress bar is told during a streamed scan."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int, int]] = []

    def loading(self, done: int, total: int) -> None:
        self.calls.append(("loading", done, total, 0))

    def judging(self, done: int, total: int) -> None:
        self.calls.append(("judging", done, total, 0))

    def scanning(self, done: int, total: int, records: int, unit: str = "bytes") -> None:
        self.calls.append((unit, done, total, records))


def test_a_streamed_scan_reports_its_progress_in_bytes_and_records(scale_repo: tuple[Path, Path, Path],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root, _, single = scale_repo
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", 256 * 1024)
    bars = _Bars()
    _scan(root, single, progress=bars)
    assert {kind for kind, *_ in bars.calls} == {"bytes"}
    done = [d for _, d, _, _ in bars.calls]
    records = [r for *_, r in bars.calls]
    assert done == sorted(done) and records == sorted(records) and len(done) > 2
    assert done[-1] == bars.calls[-1][2] == single.stat().st_size  # every byte, of the whole file
    assert records[-1] == sum(1 for line in single.read_text().splitlines() if line.strip())
