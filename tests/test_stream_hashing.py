"""The sha256 of a file judged in byte ranges is computed by a thread beside the run (from the start of `harness scan`):
it is the file's own digest, of the file as the scan read it, and a run that ends by an error or an interruption
leaves no thread reading on."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import harness.evaluation as evaluation
from harness import api
from harness.api import judge as judge_module
from harness.cli import main
from harness.errors import InputErrors
from harness.outputs import digests as digests_module
from harness.outputs import sources as sources_module

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ROOT / "examples" / "outputs" / "acme-support-1.2.0.jsonl"


def _scan(path: Path) -> Any:
    return api.run_scan(path, policies=ROOT / "policies", evals=ROOT / "evals", workers=1)


def _cli_scan(path: Path, report: Path) -> int:
    return main(["scan", "--outputs", str(path), "--policies", str(ROOT / "policies"), "--evals", str(ROOT / "evals"),
                 "--format", "json", "--output", str(report), "--workers", "1"])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def _nothing_prefetched() -> Iterator[None]:
    yield
    digests_module.forget()


@pytest.fixture
def ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files of more than 4 KiB read in byte ranges (by the scan and by a prefetch), hashed 512 bytes at a time."""
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", 4096)
    monkeypatch.setattr(sources_module, "RANGE_BYTES", 4096)
    monkeypatch.setattr(digests_module, "CHUNK", 512)


class _Gate:
    """A sha256 for the digests module whose every ``update`` counts and waits until the gate opens, or ``wait``
    seconds (a file of 55 chunks is then hashed in about 55 times that: its thread is alive meanwhile)."""

    def __init__(self, wait: float) -> None:
        self.open = threading.Event()
        self.updates = 0
        gate = self

        class Gated:
            def __init__(self) -> None:
                self.digest = hashlib.sha256()

            def update(self, data: Any) -> None:
                gate.updates += 1
                gate.open.wait(wait)
                self.digest.update(data)

            def hexdigest(self) -> str:
                return self.digest.hexdigest()

        self.module = types.SimpleNamespace(sha256=Gated)


def _gated(monkeypatch: pytest.MonkeyPatch, wait: float) -> Iterator[_Gate]:
    gated = _Gate(wait)
    monkeypatch.setattr(digests_module, "hashlib", gated.module)
    yield gated
    gated.open.set()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Gate]:
    """Hashing slowed to 50 ms a chunk."""
    yield from _gated(monkeypatch, 0.05)


@pytest.fixture
def closed_gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Gate]:
    """Hashing that waits (up to a minute) for the test to open the gate."""
    yield from _gated(monkeypatch, 60)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What each FileDigests made in the test hashes, in order."""
    made: list[Any] = []
    real = digests_module.FileDigests

    class Counted(real):  # type: ignore[misc, valid-type]
        def __init__(self, paths: Any) -> None:
            made.append(tuple(paths))
            super().__init__(paths)

    monkeypatch.setattr(digests_module, "FileDigests", Counted)
    return made


def _threads(before: set[threading.Thread]) -> list[str]:
    return [t.name for t in threading.enumerate() if t not in before and t.is_alive()]


@pytest.mark.usefixtures("ranges")
def test_the_report_holds_the_files_own_digest() -> None:
    assert _scan(OUTPUTS).report.run.outputs.sha256 == _sha(OUTPUTS)


@pytest.mark.usefixtures("ranges", "gate")
def test_an_interrupted_start_leaves_no_thread_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluation, "prepare", interrupted)
    before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        _scan(OUTPUTS)
    assert _threads(before) == []


@pytest.mark.usefixtures("ranges")
@pytest.mark.usefixtures("gate")
def test_a_broken_input_leaves_no_thread_reading(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(OUTPUTS.read_bytes() + b'{"case_id": "x", "output": \n')
    before = set(threading.enumerate())
    with pytest.raises(InputErrors):
        _scan(broken)
    assert _threads(before) == []


@pytest.mark.usefixtures("ranges")
def test_a_stopped_thread_reads_no_further_chunk(closed_gate: _Gate) -> None:
    digests = digests_module.FileDigests([str(OUTPUTS)]).start()
    while closed_gate.updates < 1:  # the thread is hashing its first chunk (of 55)
        threading.Event().wait(0.001)
    stopping = threading.Thread(target=digests.stop)
    stopping.start()
    while not digests._stop.is_set():
        threading.Event().wait(0.001)
    closed_gate.open.set()
    stopping.join(10)
    assert not stopping.is_alive()
    assert closed_gate.updates == 1
    assert digests.result() == {}


@pytest.mark.usefixtures("ranges")
def test_harness_scan_hashes_its_input_once_from_the_start(tmp_path: Path, counted: list[Any],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digests_module, "SETTLED_SECONDS", 0)  # (a fresh checkout's file counts as settled)
    real_load = api.load
    monkeypatch.setattr(api, "load", lambda *a, **k: (counted.append("rules loaded"), real_load(*a, **k))[1])
    report = tmp_path / "scan.json"
    assert _cli_scan(OUTPUTS, report) in (0, 1, 2, 3)
    assert json.loads(report.read_text())["run"]["outputs"]["sha256"] == _sha(OUTPUTS)
    assert counted == [(str(OUTPUTS),), "rules loaded"]  # hashed from before the rules were loaded, once
    assert digests_module._EARLY == {}


def _rewritten_in_place(path: Path) -> None:
    """The same size, the same inode, the modification time put back (as ``cp -p`` or ``rsync -t`` leave it)."""
    info = path.stat()
    data = bytearray(path.read_bytes())
    data[data.index(b"I can"):data.index(b"I can") + 5] = b"U CAN"
    with path.open("r+b") as handle:
        handle.write(data)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert path.stat().st_size == info.st_size and path.stat().st_mtime_ns == info.st_mtime_ns


def _replaced_same_size(path: Path) -> None:
    other = path.with_suffix(".new")
    other.write_bytes(path.read_bytes().replace(b"I can", b"U CAN", 1))
    os.replace(other, path)


@pytest.mark.usefixtures("ranges")
@pytest.mark.parametrize("change", [_rewritten_in_place, _replaced_same_size], ids=["in place", "renamed over"])
def test_a_file_changed_after_its_prefetch_is_hashed_as_the_scan_reads_it(tmp_path: Path, counted: list[Any],
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          change: Any) -> None:
    monkeypatch.setattr(digests_module, "SETTLED_SECONDS", 0)  # only the change itself tells
    day = tmp_path / "day.jsonl"
    day.write_bytes(OUTPUTS.read_bytes())
    first = _sha(day)
    with digests_module.prefetched(day):
        assert digests_module._EARLY[(str(day),)].result() == {str(day): first}
        change(day)
        result = _scan(day)
    assert result.report.run.outputs.sha256 == _sha(day) != first
    assert len(counted) == 2  # the prefetch's, left for the scan's own


@pytest.mark.usefixtures("ranges")
def test_a_file_written_just_before_is_hashed_by_the_scan_itself(tmp_path: Path, counted: list[Any]) -> None:
    day = tmp_path / "day.jsonl"
    day.write_bytes(OUTPUTS.read_bytes())  # changed less than SETTLED_SECONDS ago: could change again unseen
    with digests_module.prefetched(day):
        digests_module._EARLY[(str(day),)].result()
        assert _scan(day).report.run.outputs.sha256 == _sha(day)
    assert len(counted) == 2


@pytest.mark.usefixtures("ranges")
@pytest.mark.parametrize("change", [_rewritten_in_place, _replaced_same_size], ids=["in place", "renamed over"])
def test_a_digest_of_a_file_changed_since_is_no_digest(tmp_path: Path, change: Any) -> None:
    day = tmp_path / "day.jsonl"
    day.write_bytes(OUTPUTS.read_bytes())
    digests = digests_module.FileDigests([str(day)]).start()
    assert digests.result() == {str(day): _sha(day)}
    change(day)
    assert digests.result() == {}


@pytest.mark.usefixtures("ranges")
def test_a_prefetch_no_scan_took_is_dropped_and_stopped(gate: _Gate) -> None:
    before = set(threading.enumerate())
    with digests_module.prefetched(OUTPUTS):
        (first,) = digests_module._EARLY.values()
        assert _threads(before) == ["harness-sha256"]
        digests_module.prefetch(OUTPUTS)  # a newer prefetch stops the older one
        assert not first._thread.is_alive()
        assert len(_threads(before)) == 1
    assert digests_module._EARLY == {}
    assert _threads(before) == []


@pytest.mark.usefixtures("ranges")
def test_a_scan_of_other_files_stops_a_prefetch(tmp_path: Path, gate: _Gate) -> None:
    other = tmp_path / "other.jsonl"
    other.write_bytes(OUTPUTS.read_bytes())
    digests_module.prefetch(OUTPUTS)
    (early,) = digests_module._EARLY.values()
    gate.open.set()
    _scan(other)
    assert not early._thread.is_alive() and digests_module._EARLY == {}


def test_a_prefetch_of_what_is_not_one_readable_file_does_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"case_id": "a", "output": "x"}\n' * 1000)
    before = set(threading.enumerate())
    for source in (tmp_path / "missing.jsonl", tmp_path / "*.jsonl", tmp_path):
        digests_module.prefetch(source, split_bytes=1024)
    assert digests_module._EARLY == {} and _threads(before) == []


def test_an_unreadable_file_is_named_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = open

    def failing(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path).endswith("day.jsonl") and threading.current_thread().name == "harness-sha256":
            raise OSError(5, "Input/output error")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", failing)
    day = tmp_path / "day.jsonl"
    day.write_bytes(OUTPUTS.read_bytes())
    digests = digests_module.FileDigests([str(day), str(OUTPUTS)]).start()
    assert digests.result() == {str(OUTPUTS): _sha(OUTPUTS)}  # the next file is hashed all the same
    assert digests.errors == {str(day): "Input/output error"}


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every file hashed by a child process (none is too small for one); the children started, in order."""
    monkeypatch.setattr(digests_module, "PROCESS_MIN_BYTES", 0)
    started: list[Any] = []
    real = digests_module.subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> Any:
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(digests_module.subprocess, "Popen", popen)
    return started


def test_a_large_file_is_hashed_by_a_child_process(tmp_path: Path, children: list[Any]) -> None:
    day = tmp_path / "day.jsonl"
    day.write_bytes(OUTPUTS.read_bytes() * 3)
    digests = digests_module.FileDigests([str(day), str(OUTPUTS)]).start()
    assert digests.result() == {str(day): _sha(day), str(OUTPUTS): _sha(OUTPUTS)}
    assert len(children) == 2 and all(child.returncode == 0 for child in children)


@pytest.mark.parametrize("child", [
    "import sys; sys.exit(3)",  # fails
    "print('0' * 63)",  # answers what is no digest
    "import sys; sys.stdout.write('f' * 64); sys.exit(1)",  # a digest, and a failure
], ids=["exit-3", "not-a-digest", "digest-and-failure"])
def test_a_failing_child_leaves_the_file_to_the_thread(monkeypatch: pytest.MonkeyPatch, children: list[Any],
                                                      child: str) -> None:
    monkeypatch.setattr(digests_module, "_CHILD", child)
    digests = digests_module.FileDigests([str(OUTPUTS)]).start()
    assert digests.result() == {str(OUTPUTS): _sha(OUTPUTS)}
    assert len(children) == 1


def test_no_interpreter_to_start_leaves_the_file_to_the_thread(monkeypatch: pytest.MonkeyPatch,
                                                               children: list[Any]) -> None:
    monkeypatch.setattr(digests_module.sys, "executable", str(ROOT / "no-such-python"))
    digests = digests_module.FileDigests([str(OUTPUTS)]).start()
    assert digests.result() == {str(OUTPUTS): _sha(OUTPUTS)}
    assert children == []  # Popen raised before a child existed


def test_a_stopped_run_kills_the_child_hashing(monkeypatch: pytest.MonkeyPatch, children: list[Any]) -> None:
    monkeypatch.setattr(digests_module, "_CHILD", "import time; time.sleep(60)")
    digests = digests_module.FileDigests([str(OUTPUTS), str(OUTPUTS)]).start()
    while not children:
        threading.Event().wait(0.001)
    digests.stop()
    assert not digests._thread.is_alive()
    assert children[0].wait(10) != 0  # killed, not finished
    assert len(children) == 1  # the next file was not started
    assert digests.result() == {}
