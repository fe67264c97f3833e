"""The columnar lane of a streamed scan reports exactly what the record-by-record scan reports.

Every test scans the same input twice, with the lane (``lane.ENABLED``) and without it, and compares the
whole reports (or the whole error messages): the lane is only a faster way to the same partials.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness import api
from harness.clock import FixedClock
from harness.errors import InputErrors
from harness.evaluation import lane

pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parents[1]
CLOCK = FixedClock("2026-12-03T10:00:00Z")

EXTRA = """id: quality.lane-fields
version: 1.0.0
title: Field rules on every kind of value
severity: sev3
on_fail: warn
owner: qa@example.com
rules:
  - {id: retries-bounded, check: field, path: retries, min: 0, max: 2}
  - {id: retries-known, check: field, path: retries, one_of: [0, 1, 2, 3]}
  - {id: not-flagged, check: field, path: flagged, equals: false}
  - {id: region-pattern, check: field, path: meta.region, pattern: '^[a-z]{2}-[a-z]+$'}
  - {id: no-debug, check: field, path: debug, exists: false}
  - {id: short-case-ids, check: field, path: case_id, pattern: '^[a-z]+-[0-9]+$'}
  - {id: score-floor, check: field, path: score, min: 0.5}
  - {id: channel-set, check: field, path: meta.channel, one_of: [web, app]}
"""


def _repository(root: Path) -> Path:
    for name in ("policies", "evals"):
        shutil.copytree(ROOT / name, root / name)
    (root / "policies" / "quality" / "lane-fields.yaml").write_text(EXTRA)
    return root


def _generated(seed: int, n: int, folder: Path) -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gate_throughput as bench
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    path = folder / f"generated-{seed}-{n}.jsonl"
    bench.generate(path, n, seed)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    path.unlink()
    return records


def _varied(records: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The records with every shape a log may have: fields absent, of several types, nested, repeated."""
    rng = random.Random(seed)
    varied = []
    for i, record in enumerate(records):
        record = dict(record)
        roll = rng.random()
        if roll < 0.1:
            record["retries"] = rng.choice([0, 1, 2, 3, 7])
        if 0.1 <= roll < 0.15:
            record["flagged"] = rng.choice([True, False])
        if 0.15 <= roll < 0.3:
            record["meta"] = {"region": rng.choice(["eu-west", "us-east", "EU", "x"]),
                              "channel": rng.choice(["web", "app", "phone"]),
                              "seen": "2026-11-18T11:06:43Z"}
        if 0.3 <= roll < 0.32:
            record["debug"] = {"trace": ["a", "b"], "level": 3}
        if i in (10, 1000, 2000):  # a type other records do not share: pyarrow stops at it, the lane retries
            record["debug"] = {"trace": [1, 2, {"deep": "yes"}]}
        if 0.32 <= roll < 0.34:
            record.pop("tags", None)
        if 0.34 <= roll < 0.36:
            record["tags"] = []
        if 0.36 <= roll < 0.38:
            record["tags"] = ["support-bot", "order-api"]
        if 0.38 <= roll < 0.40:
            record.pop("slice", None)
        if 0.40 <= roll < 0.42:
            record["latency_ms"] = int(record.get("latency_ms", 10))  # integers among floats
        if 0.42 <= roll < 0.43:
            record.pop("latency_ms", None)
        if 0.43 <= roll < 0.45:
            record["output"] += " null NaN Infinity \ufeff"  # words the lane parses alone
        if 0.45 <= roll < 0.46:
            record["output"] = "é" * 70_000  # past the prefilter's length
        if 0.46 <= roll < 0.47:
            record["case_id"] = record["case_id"].upper()
        if 0.47 <= roll < 0.48:
            record.pop("model", None)
            record["timestamp"] = "yesterday"
        varied.append(record)
        if roll > 0.995:  # a repeated case id
            varied.append(dict(record, latency_ms=5000))
    return varied


def _examples() -> list[dict[str, Any]]:
    """The shipped outputs answering the eval cases: their records go through the suites' rules."""
    text = (ROOT / "examples/outputs/acme-support-1.2.1.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _write(path: Path, records: Sequence[Mapping[str, Any]], extra_lines: Sequence[str] = ()) -> Path:
    lines = [json.dumps(r, ensure_ascii=bool(i % 2)) for i, r in enumerate(records)]
    for k, line in enumerate(extra_lines):
        lines.insert((k * 997 + 137) % (len(lines) + 1), line)  # mid-block, after rows the lane read
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _comparable(report: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(report)
    run = dict(data.pop("run"))
    for key in ("id", "started_at", "finished_at"):
        run.pop(key)
    data["run"] = run
    return data


def _scan(root: Path, outputs: Path, monkeypatch: pytest.MonkeyPatch, *, columnar: bool,
          baseline: Path | None = ROOT / "examples/outputs/acme-support-1.0.0.jsonl", **options: Any) -> dict[str, Any]:
    monkeypatch.setattr(lane, "ENABLED", columnar)
    monkeypatch.setattr(lane, "MIN_BYTES", 0)  # the lane reads these small files too
    lane.STATS.clear()
    result = api.run_scan(outputs, policies=root / "policies", evals=root / "evals", clock=CLOCK,
                          baseline=baseline, **options)
    return _comparable(result.report.to_dict())


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _repository(tmp_path_factory.mktemp("lane"))


def test_the_lane_reports_what_the_record_scan_reports(repository: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    records = _examples() + _varied(_generated(5, 4000, tmp_path), 5)
    random.Random(5).shuffle(records)  # suite cases among production records: the lane steps aside for them
    path = _write(tmp_path / "mixed.jsonl", records)
    by_records = _scan(repository, path, monkeypatch, columnar=False, workers=1)
    assert lane.STATS["columns"] == 0
    by_columns = _scan(repository, path, monkeypatch, columnar=True, workers=1)
    assert lane.STATS["columns"] > 1, lane.STATS  # the lane judged most of the input from columns
    assert by_columns == by_records
    # what makes the comparison worth it: failures of every per-output kind and every run-level one
    rules = {(r["policy"], r["rule"]) for r in by_records["results"]}
    for rule in ("retries-bounded", "retries-known", "not-flagged", "region-pattern", "no-debug", "short-case-ids",
                 "channel-set", "utc-timestamp", "approved-model", "per-output-latency"):
        assert ("quality.lane-fields", rule) in rules or ("quality.record-provenance", rule) in rules or \
            ("quality.latency", rule) in rules, rule
    assert {"privacy.no-pii", "security.no-internal-leakage"} <= {r["policy"] for r in by_records["results"]}
    assert {"quantile", "disparity", "baseline"} <= {a["check"] for a in by_records["aggregates"]}
    from harness.project import load_project

    suites = {suite.policy_id for suite in load_project(repository / "policies", repository / "evals").suites}
    assert suites & {r["policy"] for r in by_records["results"]}  # the suite cases' own rules judged them


def test_the_lane_in_byte_ranges_and_worker_processes(repository: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.api import judge as judge_module
    from harness.evaluation import executors

    records = _varied(_generated(8, 3000, tmp_path), 8)
    path = _write(tmp_path / "ranges.jsonl", records)
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", 96 * 1024)
    monkeypatch.setattr(executors, "CHUNK_RECORDS", 700)
    monkeypatch.setattr(executors, "LANE_BLOCK_LINES", 256)
    by_records = _scan(repository, path, monkeypatch, columnar=False, workers=2)
    by_columns = _scan(repository, path, monkeypatch, columnar=True, workers=2)
    assert by_columns == by_records
    assert by_records["summary"]["results"] > 50


HOSTILE = {
    "a key twice": '{"case_id": "dup-1", "output": "fine", "output": "my email is a@b.example"}',
    "a nested key twice": '{"case_id": "dup-2", "output": "fine", "slice": {"group": "a", "group": "b"}}',
    "a key twice, escaped": '{"case_id": "dup-3", "output": "fine", "outp\\u0075t": "a@b.example"}',
    "NaN": '{"case_id": "nan-1", "output": "fine", "latency_ms": NaN}',
    "Infinity": '{"case_id": "inf-1", "output": "fine", "latency_ms": -Infinity}',
    "NaN in an object": '{"case_id": "nan-2", "output": "fine", "slice": {"group": "a", "score": NaN}}',
    "Infinity in an array": '{"case_id": "inf-2", "output": "fine", "scores": [1.5, Infinity]}',
    "NaN as the only value of a field": '{"case_id": "nan-3", "output": "fine", "weight": NaN}',
    "a number too large": '{"case_id": "big-1", "output": "fine", "latency_ms": 1e999}',
    "a null case id": '{"case_id": null, "output": "fine"}',
    "a null model": '{"case_id": "null-1", "output": "fine", "model": null}',
    "an empty case id": '{"case_id": "", "output": "fine"}',
    "no output": '{"case_id": "none-1"}',
    "an array": '[1, 2, 3]',
    "a byte-order mark": '\ufeff{"case_id": "bom-1", "output": "fine"}',
    "two objects": '{"case_id": "two-1", "output": "a"}{"case_id": "two-2", "output": "b"}',
    "a negative latency": '{"case_id": "neg-1", "output": "fine", "latency_ms": -1}',
    "a number among tags": '{"case_id": "tag-1", "output": "fine", "tags": ["support-bot", 7]}',
    "a numeric model": '{"case_id": "mod-1", "output": "fine", "model": 3}',
    "a string latency": '{"case_id": "lat-1", "output": "fine", "latency_ms": "12"}',
    "a list slice": '{"case_id": "sl-1", "output": "fine", "slice": ["a"]}',
    "deep nesting": '{"case_id": "deep-1", "output": "fine", "x": ' + "[" * 1100 + "]" * 1100 + "}",
    "a lone surrogate": '{"case_id": "sur-1", "output": "\\ud800"}',
    "trailing text": '{"case_id": "tr-1", "output": "fine"} ok',
    "a trailing comma": '{"case_id": "tc-1", "output": "fine",}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_line_gets_the_same_error_with_and_without_the_lane(repository: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      name: str) -> None:
    records = _generated(3, 400, tmp_path)
    path = _write(tmp_path / "hostile.jsonl", records, [HOSTILE[name]])
    errors = []
    for columnar in (False, True):
        with pytest.raises(InputErrors) as caught:
            _scan(repository, path, monkeypatch, columnar=columnar, workers=1)
        errors.append(str(caught.value))
    assert errors[1] == errors[0]
    assert "hostile.jsonl:138: " in errors[0]  # the line, after 137 records


def test_invalid_utf8_gets_the_same_error_with_and_without_the_lane(repository: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    records = _generated(4, 300, tmp_path)
    path = _write(tmp_path / "bytes.jsonl", records)
    text = path.read_bytes().split(b"\n")
    text.insert(150, b'{"case_id": "utf-1", "output": "\xc0\xaf"}')
    path.write_bytes(b"\n".join(text))
    errors = []
    for columnar in (False, True):
        with pytest.raises(InputErrors) as caught:
            _scan(repository, path, monkeypatch, columnar=columnar, workers=1)
        errors.append(str(caught.value))
    assert errors[1] == errors[0] and "bytes.jsonl:151: " in errors[0]


def test_values_whose_type_pyarrow_cannot_keep_are_judged_record_by_record(repository: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Floats that may have been integers, timestamps pyarrow recognises, booleans read as numbers."""
    records = _generated(6, 500, tmp_path)
    for i, record in enumerate(records):
        record["score"] = [0.25, 1.0, 3][i % 3]  # 1.0 and 3 are a float and an integer in the JSON
        record["retries"] = float(i % 4) if i % 7 else i % 4
        record["meta"] = {"region": "2026-11-18T11:06:43Z" if i % 2 else "eu-west", "channel": i % 3 == 0}
    path = _write(tmp_path / "types.jsonl", records)
    by_records = _scan(repository, path, monkeypatch, columnar=False, workers=1)
    by_columns = _scan(repository, path, monkeypatch, columnar=True, workers=1)
    assert by_columns == by_records
    messages = {r["message"] for r in by_records["results"] if r["rule"] == "retries-bounded"}
    assert messages == {"`retries` is 3.0, max is 2", "`retries` is 3, max is 2"}  # each as its record writes it


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX")
def test_a_field_map_turns_the_lane_off_and_changes_nothing(repository: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    records = [{"request_id": r["case_id"], "response": {"text": r["output"]}, "latency_ms": r.get("latency_ms", 1)}
               for r in _generated(7, 300, tmp_path)]
    path = _write(tmp_path / "mapped.jsonl", records)
    from harness.outputs.sources import FieldMap

    fields = FieldMap.parse("output=response.text,case_id=request_id")
    by_records = _scan(repository, path, monkeypatch, columnar=False, workers=1, field_map=fields, baseline=None)
    by_columns = _scan(repository, path, monkeypatch, columnar=True, workers=1, field_map=fields, baseline=None)
    assert lane.STATS["columns"] == 0
    assert by_columns == by_records



@pytest.mark.parametrize("ids", [["gen-0001", "ABC-x", "a_b", "~!@#$%^&*()_+{}|:<>?"], ["gen 1", "x"],
                                 ["é-1", "B"], ["tab\tid", "Q"], ["ǅ", "K"], ["nul\x00id", "A"], ["ＡＢＣ", "abc"],
                                 ["a\u200bb", "ab"]])
def test_the_lane_hashes_case_keys_as_the_records_do(ids: list[str]) -> None:
    import pyarrow as pa

    from harness.evaluation.partial import key_hashes
    from harness.model.output import case_key

    assert lane._case_keys(pa.array(ids), ids).tolist() == key_hashes([case_key(c) for c in ids]).tolist()


def test_a_small_input_is_read_record_by_record(repository: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Setting up pyarrow takes most of a second: below lane.MIN_BYTES a piece is faster read without it."""
    path = _write(tmp_path / "small.jsonl", _generated(9, 200, tmp_path))
    assert path.stat().st_size < lane.MIN_BYTES
    reports = []
    for size in (lane.MIN_BYTES, path.stat().st_size):
        monkeypatch.setattr(lane, "MIN_BYTES", size)
        lane.STATS.clear()
        result = api.run_scan(path, policies=repository / "policies", evals=repository / "evals", clock=CLOCK,
                              workers=1)
        reports.append(_comparable(result.report.to_dict()))
        assert (lane.STATS["columns"] > 0) == (size == path.stat().st_size), lane.STATS
    assert reports[0] == reports[1]


@pytest.mark.parametrize("name", ["a key twice", "a nested key twice", "NaN", "a number too large",
                                  "a number among tags", "two objects", "a null model", "a string latency"])
def test_a_hostile_line_past_a_blocks_first_piece_gets_the_same_error(repository: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      name: str) -> None:
    """Past its first 1,024 lines a block is read with the first piece's fields and types: a line pyarrow stops
    at there sends the block piece by piece, and the strict parser still names the error."""
    records = _generated(12, 1600, tmp_path)
    lines = [json.dumps(r) for r in records]
    lines.insert(1500, HOSTILE[name])
    path = tmp_path / "late.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    errors = []
    for columnar in (False, True):
        with pytest.raises(InputErrors) as caught:
            _scan(repository, path, monkeypatch, columnar=columnar, workers=1)
        errors.append(str(caught.value))
        if columnar and name != "a null model":  # a null is found before pyarrow reads the line
            assert lane.STATS["pieces"] >= 1, lane.STATS
    assert errors[1] == errors[0]
    assert "late.jsonl:1501: " in errors[0]
