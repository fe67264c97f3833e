"""The sha256 of a file judged in byte ranges is computed by a thread beside the run: it is the file's own digest,
and a run that ends by an error or an interruption leaves no thread reading on."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import harness.evaluation as evaluation
from harness import api
from harness.api import judge as judge_module
from harness.errors import InputErrors

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ROOT / "examples" / "outputs" / "acme-support-1.2.0.jsonl"


def _scan(path: Path) -> Any:
    return api.run_scan(path, policies=ROOT / "policies", evals=ROOT / "evals", workers=1)


@pytest.fixture
def ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small files judged in byte ranges, hashed a few hundred bytes at a time."""
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", 4096)
    monkeypatch.setattr(judge_module, "_HASH_CHUNK", 512)


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
