"""benchmarks/gate_throughput.py: a smoke run of every configuration, and the input files it builds."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gate_throughput.py"
CONFIGS = ("harness_w1", "harness_w2", "harness_dask", "floor_1p", "floor_2p", "baseline_re")


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gate_throughput", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_run_reports_every_configuration(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--records", "2000", "--repeat", "1", "--skip-dask", "--format", "json",
         "--workdir", str(tmp_path / "work")],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert list(summary["configurations"]) == list(CONFIGS)
    (result,) = summary["results"]
    assert result["records"] == 2000
    assert sum(result["kinds"].values()) == 2000
    configs = result["configurations"]
    assert set(configs) == set(CONFIGS)
    assert configs["harness_dask"] == {"status": "skipped", "reason": "--skip-dask"}
    for key in CONFIGS[:2] + CONFIGS[3:]:
        entry = configs[key]
        assert entry["status"] == "ok", (key, entry)
        for field in ("median_s", "cpu_s", "records_per_s", "x_floor", "baseline_over"):
            assert entry[field] > 0, (key, field, entry)
        if key != "baseline_re":
            assert entry["peak_mb"] > 0 and entry["tree_peak_mb"] > 0, (key, entry)
    assert configs["floor_1p"]["x_floor"] == 1.0
    assert configs["floor_1p"]["outputs_matched"] == configs["floor_2p"]["outputs_matched"] > 0
    assert configs["baseline_re"]["measured_records"] == 2000 and configs["baseline_re"]["scaled"] is False
    assert set(summary["linearity"]) == set(CONFIGS)
    # the generated file was removed (no --keep), the work dir given was not
    assert list((tmp_path / "work").iterdir()) == []


def test_inputs_reused_and_tiled(tmp_path: Path) -> None:
    bench = _module()
    inputs = bench.Inputs(tmp_path, 7, True)
    first = inputs.prepare(300)
    assert first["how"] == "generated"
    path = Path(first["path"])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 300
    again = bench.Inputs(tmp_path, 7, True).prepare(300)
    assert again["how"] == "reused" and again["bytes"] == first["bytes"]
    assert bench.Inputs(tmp_path, 8, True).prepare(300)["how"] == "generated"  # another seed: another file

    tiled = tmp_path / "tiled.jsonl"
    bench.tile(path, tiled, 3, 900)
    records = [json.loads(line) for line in tiled.read_text(encoding="utf-8").splitlines()]
    source = [json.loads(line) for line in lines]
    assert [r["case_id"] for r in records] == [f"gen-{i:06d}" for i in range(1, 901)]
    assert [r["timestamp"] for r in records] == sorted({r["timestamp"] for r in records})  # distinct, rising
    assert records[:300] == source
    for k in (1, 2):
        block = records[300 * k:300 * (k + 1)]
        assert [{**r, "case_id": "", "timestamp": ""} for r in block] == \
            [{**r, "case_id": "", "timestamp": ""} for r in source]


def test_the_timed_runs_use_the_bytecode_cache(monkeypatch: Any, capsys: Any) -> None:
    """The children run as an installed harness does (bytecode compiled, PYTHONDONTWRITEBYTECODE not passed on);
    a tree that cannot be compiled is said on standard error and in the header, never on standard output (which
    may be the JSON summary)."""
    bench_env = _module().bench_env
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    assert "PYTHONDONTWRITEBYTECODE" not in bench_env.environment()
    assert bench_env.environment(PYTHONPATH="x")["PYTHONPATH"] == "x"
    monkeypatch.setattr(sys, "pycache_prefix", "/dev/null/pyc")  # no bytecode can be written there
    said = bench_env.compile_tree(ROOT)
    out, err = capsys.readouterr()
    assert out == ""
    assert "could not" in said and err
