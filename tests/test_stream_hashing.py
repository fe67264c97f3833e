"""The sha256 of a file judged in byte ranges is computed by a thread beside the run (from the start of `harness scan`):
it is the file's own digest, of the file as the scan read it, and a run that ends by an error or an interruption
leaves no thread reading on."""

from __future__ import annotations

import hashlib
import json
import threading
import time
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


@pytest.fixture
def ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small files judged in byte ranges, hashed a few hundred bytes at a time."""
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", 4096)
    monkeypatch.setattr(digests_module, "CHUNK", 512)


@pytest.fixture
def slow_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sha256 that takes 20 ms a chunk: the digest of a 28 KB file is still being made when a run ends early."""
    real = hashlib.sha256

    class Slow:
        def __init__(self, data: bytes = b"") -> None:
            self.digest = real(data)

        def update(self, data: Any) -> None:
            time.sleep(0.02)
            self.digest.update(data)

        def hexdigest(self) -> str:
            return self.digest.hexdigest()

    monkeypatch.setattr(hashlib, "sha256", Slow)


def _new_threads(before: set[threading.Thread]) -> list[str]:
    return [t.name for t in threading.enumerate() if t not in before and t.is_alive()]


@pytest.mark.usefixtures("ranges")
def test_the_report_holds_the_files_own_digest() -> None:
    result = _scan(OUTPUTS)
    assert result.report.run.outputs.sha256 == hashlib.sha256(OUTPUTS.read_bytes()).hexdigest()


@pytest.mark.usefixtures("ranges", "slow_hashing")
def test_an_interrupted_start_leaves_no_thread_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluation, "prepare", interrupted)
    before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        _scan(OUTPUTS)
    assert _new_threads(before) == []


@pytest.mark.usefixtures("ranges", "slow_hashing")
def test_a_broken_input_leaves_no_thread_reading(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(OUTPUTS.read_bytes() + b'{"case_id": "x", "output": \n')
    before = set(threading.enumerate())
    with pytest.raises(InputErrors):
        _scan(broken)
    assert _new_threads(before) == []


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The files each FileDigests made in this test hashes."""
    made: list[tuple[str, ...]] = []
    real = digests_module.FileDigests

    class Counted(real):  # type: ignore[misc, valid-type]
        def __init__(self, paths: Any) -> None:
            made.append(tuple(paths))
            super().__init__(paths)

    monkeypatch.setattr(digests_module, "FileDigests", Counted)
    return made


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan and the prefetch both read files of more than 4 KiB in byte ranges."""
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", 4096)
    monkeypatch.setattr(sources_module, "RANGE_BYTES", 4096)


@pytest.mark.usefixtures("small_ranges")
def test_harness_scan_hashes_its_input_once_from_the_start(tmp_path: Path, counted: list[Any],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real_load = api.load
    monkeypatch.setattr(api, "load", lambda *a, **k: (counted.append("rules loaded"), real_load(*a, **k))[1])
    report = tmp_path / "scan.json"
    code = main(["scan", "--outputs", str(OUTPUTS), "--policies", str(ROOT / "policies"), "--evals",
                 str(ROOT / "evals"), "--format", "json", "--output", str(report), "--workers", "1"])
    assert code in (0, 1, 2, 3)
    digest = json.loads(report.read_text())["run"]["outputs"]["sha256"]
    assert digest == hashlib.sha256(OUTPUTS.read_bytes()).hexdigest()
    assert counted == [(str(OUTPUTS),), "rules loaded"]  # hashed from before the rules were loaded, once
    assert digests_module._EARLY == {}


@pytest.mark.usefixtures("small_ranges")
def test_a_file_changed_after_its_prefetch_is_hashed_again(tmp_path: Path, counted: list[Any]) -> None:
    changing = tmp_path / "day.jsonl"
    changing.write_bytes(OUTPUTS.read_bytes())
    with digests_module.prefetched(changing):
        digests_module.digests_of([str(changing)]).result()  # (the prefetch has read it)
    with digests_module.prefetched(changing):
        digests_module._EARLY[(str(changing),)].result()
        with changing.open("ab") as handle:
            handle.write(b'{"case_id": "late", "output": "Added after the prefetch."}\n')
        assert digests_module.digests_of([str(changing)]).result() == {}  # not the digest of what it was
        result = _scan(changing)
    assert result.report.run.outputs.sha256 == hashlib.sha256(changing.read_bytes()).hexdigest()
    assert len(counted) == 3  # two prefetches and the scan's own


def test_a_prefetch_no_scan_took_is_dropped_and_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        slow_hashing: None) -> None:
    monkeypatch.setattr(sources_module, "RANGE_BYTES", 4096)
    before = set(threading.enumerate())
    with digests_module.prefetched(OUTPUTS):
        assert list(digests_module._EARLY) == [(str(OUTPUTS),)]
        assert _new_threads(before) == ["harness-sha256"]
        digests_module.prefetch(OUTPUTS)  # a newer prefetch stops the older one
        assert len(_new_threads(before)) == 1
    assert digests_module._EARLY == {}
    assert _new_threads(before) == []


def test_a_prefetch_of_what_cannot_be_read_does_nothing(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    for source in (tmp_path / "missing.jsonl", tmp_path / "*.nothing", tmp_path):
        digests_module.prefetch(source)
    assert digests_module._EARLY == {} and _new_threads(before) == []
