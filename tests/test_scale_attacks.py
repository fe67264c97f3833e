"""Attacks on the streamed ``harness scan``: where its results go, inputs read twice or disguised, hostile Parquet
values, a scheduler that is not one, and the same report from every executor on hostile data.

The defects these tests found in the engine (harness/evaluation, harness/api/judge.py) are fixed there.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from harness import api
from harness.api import judge as judge_module
from harness.cli import main
from harness.clock import FixedClock
from harness.errors import InputError
from harness.evaluation import executors
from harness.outputs import load_outputs, partitions
from harness.outputs.sources import covers

ROOT = Path(__file__).resolve().parents[1]
CLOCK = FixedClock("2026-12-03T12:00:00Z")
REPO = ("--policies", str(ROOT / "policies"), "--evals", str(ROOT / "evals"))
NOTHING_JUDGED = "harness: invalid input; nothing was judged (exit 4)"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          check=False, timeout=120)


def _main(*args: str, cwd: Path, capsys: pytest.CaptureFixture[str],
          monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[str]]:
    """The command run in this process (the refusals come before anything is judged); its code and stderr lines."""
    monkeypatch.chdir(cwd)
    code = main(list(args), clock=CLOCK)
    return code, capsys.readouterr().err.splitlines()


def _lines(records: Sequence[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --- --results-file and --output: never over an input, a record or each other -------------------------

@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "day-1.jsonl").write_bytes(_lines([{"case_id": "a", "output": "write to bob@example.com"}]))
    return folder


@pytest.mark.parametrize(("outputs", "options", "message"), [
    ("logs/day-1.jsonl", ["--results-file", "logs/day-1.jsonl"],
     "--results-file logs/day-1.jsonl is the --outputs file: the results would replace it; name another file"),
    ("logs/day-1.jsonl", ["--results-file", "link.jsonl"],
     "--results-file link.jsonl is the --outputs file: the results would replace it; name another file"),
    ("logs/day-1.jsonl", ["--results-file", "both.json", "--output", "./both.json"],
     "--output and --results-file are the same file (both.json): the report would replace the results;"
     " name two files"),
    ("logs/day-1.jsonl", ["--results-file", "logs"], "--results-file logs is a directory; name a file"),
    ("logs", ["--results-file", "logs/all-results.jsonl"],
     "--results-file logs/all-results.jsonl is read as part of --outputs logs: the results would replace an input"
     " or be judged as outputs by the next run; write it elsewhere"),
    ("logs/*.jsonl", ["--output", "logs/report.jsonl", "--format", "json"],
     "--output logs/report.jsonl is read as part of --outputs logs/*.jsonl: the report would replace an input"
     " or be judged as outputs by the next run; write it elsewhere"),
])
def test_a_results_file_over_an_input_or_the_report_is_refused_before_judging(
        tmp_path: Path, logs: Path, outputs: str, options: list[str], message: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "link.jsonl").symlink_to(logs / "day-1.jsonl")
    before = (logs / "day-1.jsonl").read_bytes()
    listing = _listing(tmp_path)
    code, err = _main("scan", "--outputs", outputs, *REPO, *options, cwd=tmp_path, capsys=capsys,
                      monkeypatch=monkeypatch)
    assert (code, err) == (4, [message, NOTHING_JUDGED])
    assert (logs / "day-1.jsonl").read_bytes() == before
    assert _listing(tmp_path) == listing  # nothing written, no temporary file left


def test_a_results_file_inside_the_policies_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    (tmp_path / "out.jsonl").write_bytes(_lines([{"case_id": "a", "output": "hi"}]))
    listing = _listing(policies)
    code, err = _main("scan", "--outputs", "out.jsonl", "--policies", "policies", "--evals", str(ROOT / "evals"),
                      "--results-file", "policies/results.yaml", cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert (code, err) == (4, ["--results-file policies/results.yaml is inside the --policies directory policies:"
                               " the results could replace a record or be read as one; write it elsewhere",
                               NOTHING_JUDGED])
    assert _listing(policies) == listing


def test_covers_names_exactly_the_files_a_later_scan_would_read(tmp_path: Path, logs: Path) -> None:
    day = logs / "day-1.jsonl"
    assert covers(day, day) and covers(str(day), tmp_path / "logs" / "." / "day-1.jsonl")
    assert not covers(day, logs / "day-2.jsonl")
    assert covers(logs, logs / "results.jsonl") and covers(logs, logs / "deep" / "er" / "r.JSONL.GZ")
    for kept in ("report.html", ".results.jsonl", "_tmp/results.jsonl", "deep/.hidden/r.jsonl"):
        assert not covers(logs, logs / kept), kept  # names a directory's walk never reads
    assert not covers(logs, tmp_path / "results.jsonl") and not covers(logs, logs)
    pattern = str(tmp_path / "lo*" / "**" / "*.jsonl")
    assert covers(pattern, logs / "r.jsonl") and covers(pattern, logs / "a" / "b" / "r.jsonl")
    assert not covers(pattern, logs / "r.json") and not covers(pattern, tmp_path / "other" / "r.jsonl")
    assert covers(str(tmp_path / "l?gs"), logs / "x.parquet")  # a folder the glob matches is walked
    assert not covers(str(tmp_path / "missing.jsonl"), tmp_path / "results.jsonl")


# --- a file in the input twice is read once ------------------------------------------------------------

def test_a_file_linked_twice_into_the_input_is_read_once(tmp_path: Path, logs: Path) -> None:
    (logs / "day-2.jsonl.gz").write_bytes(gzip.compress(_lines([{"case_id": "b", "output": "fine"}])))
    (logs / "latest.jsonl.gz").symlink_to("day-2.jsonl.gz")
    os.link(logs / "day-1.jsonl", logs / "zz-copy.jsonl")  # a hard link: the same file under another name
    expected = [str(logs / "day-1.jsonl"), str(logs / "day-2.jsonl.gz")]
    assert [p.display for p in partitions(logs)] == expected
    assert [p.display for p in partitions(str(logs / "*"))] == expected
    result = api.run_scan(logs, policies=ROOT / "policies", evals=ROOT / "evals", clock=CLOCK)
    facts = result.report.to_dict()["run"]["outputs"]
    assert facts["records"] == 2 and facts["duplicate_records"] == 0
    digests = "".join(f"{hashlib.sha256(Path(p).read_bytes()).hexdigest()}  {p}\n" for p in expected)
    assert facts["sha256"] == hashlib.sha256(digests.encode()).hexdigest()


# --- hostile Parquet values: refused naming the row and column, never changed ---------------------------

@pytest.mark.parametrize(("column", "message"), [
    (pa.array([b"ok", b"\xff", b"\xfe"], pa.binary()),
     "{path}:2: $.case_id: bytes that are not UTF-8 text (byte 0 of 1); expected UTF-8 text"),
    (pa.array([b"ok", b"\xff", b"\xfe"], pa.binary()).dictionary_encode(),
     "{path}:2: $.case_id: bytes that are not UTF-8 text (byte 0 of 1); expected UTF-8 text"),
    (pa.array([b"ok", b"x\xff", b"\xfe"], pa.binary_view()),
     "{path}:2: $.case_id: bytes that are not UTF-8 text (byte 1 of 2); expected UTF-8 text"),
])
def test_case_ids_that_are_not_utf8_are_refused_not_merged(tmp_path: Path, column: Any, message: str) -> None:
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"case_id": column, "output": ["a", "b", "c"]}), path)
    with pytest.raises(InputError) as info:
        load_outputs(path)
    lines = str(info.value).splitlines()
    assert lines[0] == message.format(path=path)
    assert lines[1].startswith(f"{path}:3: $.case_id: bytes that are not UTF-8 text")  # each row named


@pytest.mark.parametrize(("column", "message"), [
    (pa.array([[("k", 1), ("k", 2)]], pa.map_(pa.string(), pa.int64())),
     "$.meta: the map holds the key 'k' twice; expected each key once"),
    (pa.array([[(b"\xff", 1)]], pa.map_(pa.binary(), pa.int64())),
     "$.meta: bytes that are not UTF-8 text (byte 0 of 1); expected UTF-8 text"),
    (pa.array([[b"ok", b"\xc3"]], pa.list_(pa.binary())),
     "$.meta: bytes that are not UTF-8 text (byte 0 of 1); expected UTF-8 text"),
    (pa.array([2**62], pa.timestamp("us")),
     "$.meta: a value of type timestamp[us] that cannot be read: date value out of range; expected one that JSON"
     " can hold"),
])
def test_parquet_values_json_cannot_hold_are_errors_naming_row_and_column(tmp_path: Path, column: Any,
                                                                          message: str) -> None:
    path = tmp_path / "day.parquet"
    pq.write_table(pa.table({"case_id": ["a"], "output": ["hi"], "meta": column}), path)
    with pytest.raises(InputError) as info:
        load_outputs(path)
    assert str(info.value) == f"{path}:1: {message}"


def test_parquet_views_dictionaries_and_uuids_read_as_json_would_hold_them(tmp_path: Path) -> None:
    path = tmp_path / "day.parquet"
    pq.write_table(pa.table({
        "case_id": pa.array(["a", "a", "b"]).dictionary_encode(),
        "output": pa.array(["x", "y", "z"], pa.string_view()),
        "request": pa.array([b"0123456789abcdef"] * 3, pa.uuid()),
        "tags": pa.array([[b"t"], [], None], pa.list_(pa.binary())),
        "when": pa.array([dt.datetime(2026, 12, 3, 12)] * 3, pa.timestamp("ms", tz="UTC")),
    }), path)
    records = [(r.case_id, r.output, r.line, dict(r.fields)) for r in load_outputs(path)]
    uuid = "30313233-3435-3637-3839-616263646566"
    assert records == [
        ("a", "x", 1, {"case_id": "a", "request": uuid, "tags": ["t"], "when": "2026-12-03T12:00:00Z"}),
        ("a", "y", 2, {"case_id": "a", "request": uuid, "tags": [], "when": "2026-12-03T12:00:00Z"}),
        ("b", "z", 3, {"case_id": "b", "request": uuid, "when": "2026-12-03T12:00:00Z"}),
    ]


def test_a_gzip_file_named_parquet_is_read_as_gzip(tmp_path: Path) -> None:
    path = tmp_path / "day.parquet"
    path.write_bytes(gzip.compress(_lines([{"case_id": "a", "output": "hi"}])))
    assert [p.format for p in partitions(path)] == ["gzip"]
    assert [(r.case_id, r.output) for r in load_outputs(path)] == [("a", "hi")]


# --- --scheduler: an address, and an answer that is not Dask's ----------------------------------------

@pytest.mark.parametrize("address", ["notaurl", "tcp://host:99999", "http://host:8786", "tcp://host:", "host"])
def test_a_scheduler_that_is_no_address_is_refused_before_judging(tmp_path: Path, address: str,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "out.jsonl").write_bytes(_lines([{"case_id": "a", "output": "hi"}]))
    code, err = _main("scan", "--outputs", "out.jsonl", *REPO, "--executor", "dask", "--scheduler", address,
                      cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 4
    assert err == [
        f"--scheduler {address!r}: expected a Dask scheduler address [PROTOCOL://]HOST:PORT (protocol tcp, tls,"
        " ws, wss or ucx), e.g. tcp://scheduler.example:8786", NOTHING_JUDGED]


@pytest.fixture
def garbage_server() -> Iterator[int]:
    """A TCP server that answers anything with bytes that are not Dask's protocol."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                try:
                    conn.sendall(b"\xff\x00garbage garbage garbage\r\n" * 100)
                    conn.recv(100)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_a_scheduler_answering_garbage_is_an_error_naming_it(tmp_path: Path, garbage_server: int) -> None:
    (tmp_path / "out.jsonl").write_bytes(_lines([{"case_id": "a", "output": "hi"}]))
    address = f"tcp://127.0.0.1:{garbage_server}"
    done = _cli("scan", "--outputs", "out.jsonl", *REPO, "--executor", "dask", "--scheduler", address,
                cwd=tmp_path)
    assert done.returncode == 4, done.stderr
    assert f"cannot reach the Dask scheduler at {address}" in done.stderr
    assert done.stderr.splitlines()[-1] == NOTHING_JUDGED


# --- empty inputs, kill -9: never a result presented as complete, nothing half-written ---------------------

def test_an_input_of_empty_files_is_an_error_not_a_clean_scan(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "day-1.jsonl").write_bytes(b"")
    (logs / "day-2.jsonl.gz").write_bytes(gzip.compress(b"\n\n"))
    done = _cli("scan", "--outputs", "logs", *REPO, "--format", "json", cwd=tmp_path)
    assert done.returncode == 4, done.stderr
    assert done.stderr.splitlines() == ["logs: no output records: an empty run is an error, never a pass",
                                        NOTHING_JUDGED]


SLOW_PLUGIN = '''
import time
from harness.checks import check


@check("slow", options={"properties": {"seconds": {"type": "number"}}, "required": ["seconds"]})
def slow(options, record, case):
    """Takes its time over every output."""
    time.sleep(options["seconds"])
    return []
'''


def test_kill_9_mid_scan_leaves_no_results_file_and_no_temporary_file(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for name in ("policies", "evals"):
        shutil.copytree(ROOT / name, root / name)
    (root / "slow_checks.py").write_text(SLOW_PLUGIN)
    playbook = root / "policies" / "playbook.yaml"
    playbook.write_text(playbook.read_text() + "\nplugins: [slow_checks]\n")
    (root / "policies" / "quality" / "slow.yaml").write_text(
        "id: quality.slow\nversion: 1.0.0\ntitle: Slow\nseverity: sev3\non_fail: warn\nowner: qa@example.com\n"
        "rules:\n  - id: slowly\n    check: slow\n    seconds: 0.02\n")
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "logs.jsonl").write_bytes(_lines([{"case_id": f"c{i}", "output": "hi"} for i in range(2000)]))
    process = subprocess.Popen([sys.executable, "-m", "harness", "scan", "--outputs", "logs.jsonl",
                                "--policies", str(root / "policies"), "--evals", str(root / "evals"),
                                "--workers", "1", "--results-file", str(out / "results.jsonl")],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not any(out.iterdir()) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert process.poll() is None, "the scan ended before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert _listing(out) == []


# --- every executor: the same report and results on hostile data ------------------------------------------

HOSTILE_IDS = ["a\x00b", "\u202eevil\u202c", "\x1b[31mred\x1b[0m", "::error::forged", "line\nbreak", "C1", "c1 ",
               "everyday-01", "EVERYDAY-01 "]


def _hostile_records(n: int) -> list[dict[str, Any]]:
    records = []
    for i in range(n):
        case = HOSTILE_IDS[i % len(HOSTILE_IDS)] if i % 4 else f"gen-{i}"  # 4 and 9: every id comes
        output = (f"mail me at user{i % 17}@example.com" if i % 5 == 0 else
                  "I can't help with that." if i % 7 == 0 else f"Answer {i}: the order ships in {i % 9} days.")
        record: dict[str, Any] = {"case_id": case, "output": output, "latency_ms": float(i % 97) * 40,
                                  "model": "acme-support-assistant", "model_version": "1.2.1",
                                  "slice": {"locale": ["en-US", "de-DE", "fr-FR"][i % 3]}}
        if i % 11 == 0:
            record.pop("latency_ms")
        records.append(record)
    return records


def _hostile_inputs(folder: Path) -> Path:
    """Four files, one per format; the same case ids in each, the plain one judged in byte ranges."""
    folder.mkdir()
    records = _hostile_records(1600)
    chunks = [records[i::4] for i in range(4)]
    (folder / "day-0.jsonl").write_bytes(_lines(chunks[0]))
    (folder / "day-1.jsonl.gz").write_bytes(gzip.compress(_lines(chunks[1])))
    (folder / "day-2.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(_lines(chunks[2])))
    pq.write_table(pa.Table.from_pylist(chunks[3]), folder / "day-3.parquet", row_group_size=100)
    return folder


def _comparable(report: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(report)
    data["run"] = {k: v for k, v in data["run"].items() if k not in ("id", "started_at", "finished_at")}
    data["summary"] = {k: v for k, v in data["summary"].items() if k != "results_file"}
    return data


def test_every_executor_gives_the_same_report_and_results_on_hostile_data(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed")
    inputs = _hostile_inputs(tmp_path / "logs")
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", 16 * 1024)  # the plain file in several byte ranges
    monkeypatch.setattr(executors, "CHUNK_RECORDS", 64)
    assert len(partitions(inputs, split_bytes=judge_module.SPLIT_BYTES)) > 6

    def scan(name: str, **options: Any) -> tuple[dict[str, Any], str]:
        side = tmp_path / f"{name}.jsonl"
        result = api.run_scan(inputs, policies=ROOT / "policies", evals=ROOT / "evals", clock=CLOCK,
                              max_results=50, results_file=side, **options)
        return _comparable(result.report.to_dict()), side.read_text()

    serial, serial_side = scan("serial", workers=1)
    assert serial["run"]["outputs"]["records"] == 1600
    assert serial["summary"]["results"] > serial["summary"]["results_listed"] == 50
    assert {r["case_id"] for r in map(json.loads, serial_side.splitlines())} >= set(HOSTILE_IDS)
    assert "\x1b" not in serial_side.replace("\\u001b", "")  # escapes stay escaped in the JSON lines
    files = {r["file"] for r in map(json.loads, serial_side.splitlines()) if r["line"] is not None}
    assert files == {str(p) for p in inputs.iterdir()}
    forked = scan("forked", workers=2)
    assert forked == (serial, serial_side)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as cluster:
        remote = scan("dask", executor="dask", scheduler=cluster.scheduler_address)
    assert remote == (serial, serial_side)
