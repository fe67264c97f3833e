"""The lane's run-level columns (groups, figures), the merger's moved results and the byte ranges' sizes.

The lane encodes a group column with pyarrow and takes figures from the columns; the tests compare its
reports with the record-by-record scan's on inputs where run-level rules group and measure production
records of several scope plans, by strings, integers and booleans, with values missing.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness import api
from harness.clock import FixedClock
from harness.evaluation import lane
from harness.evaluation.results import Result
from harness.model import Finding
from harness.outputs.sources import partitions

pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parents[1]
CLOCK = FixedClock("2026-12-04T10:00:00Z")

GROUPS = """id: fairness.lane-groups
version: 1.0.0
title: Run-level rules over production records of several scope plans
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
  - {id: parity-by-vip, check: disparity, of: {check: regex, pattern: 'sorry', must: not_match}, by: vip,
     max_gap: 0.01, min_count: 1}
  - {id: score-p90, check: quantile, field: score, q: 0.9, max: 0.5}
  - {id: latency-p50, check: quantile, field: latency_ms, q: 0.5, max: 10}
"""


def _records(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    tag_sets = [["support-bot"], ["order-api"], ["support-bot", "order-api"], [], None]
    records = []
    for i in range(n):
        record: dict[str, Any] = {"case_id": f"g-{i:05d}",
                                  "output": rng.choice(["sorry, no", "Here you go.", "Sure: it ships today."]),
                                  "latency_ms": rng.choice([12, 900.5, 31])}
        tags = rng.choice(tag_sets)
        if tags is not None:
            record["tags"] = tags
        if rng.random() < 0.9:
            record["slice"] = {"group": rng.choice(["a", "b", "c", "é", "d e"])}
        if rng.random() < 0.8:
            record["cohort"] = rng.choice([1, 2, 3, 40])
        if rng.random() < 0.7:
            record["vip"] = rng.choice([True, False])
        record["score"] = rng.choice([0.1, 0.7, 1, 0.95])  # integers among floats
        records.append(record)
    return records


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("groups")
    for name in ("policies", "evals"):
        shutil.copytree(ROOT / name, root / name)
    (root / "policies" / "fairness" / "lane-groups.yaml").write_text(GROUPS)
    return root


def _scan(root: Path, path: Path, monkeypatch: pytest.MonkeyPatch, *, columnar: bool, **options: Any
          ) -> dict[str, Any]:
    monkeypatch.setattr(lane, "ENABLED", columnar)
    monkeypatch.setattr(lane, "MIN_BYTES", 0)
    lane.STATS.clear()
    report = api.run_scan(path, policies=root / "policies", evals=root / "evals", clock=CLOCK, **options
                          ).report.to_dict()
    report["run"] = {k: v for k, v in report["run"].items() if k not in ("id", "started_at", "finished_at")}
    return report


@pytest.mark.parametrize("workers", [1, 2])
def test_groups_and_figures_of_several_plans_are_the_record_scans(repository: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   workers: int) -> None:
    from harness.api import judge as judge_module
    from harness.evaluation import executors

    path = tmp_path / "groups.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _records(6000, workers)))
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", 128 * 1024)
    monkeypatch.setattr(executors, "LANE_BLOCK_LINES", 700)
    by_records = _scan(repository, path, monkeypatch, columnar=False, workers=workers)
    by_columns = _scan(repository, path, monkeypatch, columnar=True, workers=workers)
    if workers == 1:
        assert lane.STATS["columns"] > 1, lane.STATS
    assert by_columns == by_records
    aggregates = {a["rule"]: a for a in by_records["aggregates"] if a["policy"] == "fairness.lane-groups"}
    # what makes the comparison worth it: every rule judged groups or figures, and found them apart
    assert set(aggregates) == {"parity-by-group", "parity-by-cohort", "parity-by-vip", "score-p90", "latency-p50"}
    statuses = [a["status"] for a in aggregates.values()]
    assert set(statuses) <= {"pass", "fail"} and statuses.count("fail") >= 3, [a["message"]
                                                                              for a in aggregates.values()]
    named = json.dumps(aggregates["parity-by-group"]["details"], ensure_ascii=False)
    assert all(f'"{group}"' in named for group in ("a", "b", "c", "é", "d e")), named


def test_a_moved_result_is_the_result_with_its_line_shifted_and_its_file() -> None:
    result = Result("p", "r", "c-1", "fail", "m", (Finding("regex", "x", 1, 2, "ab"),), 7, "T-1", None)
    assert result.moved(10, "day-2.jsonl") == dataclasses.replace(result, line=17, file="day-2.jsonl")
    assert dataclasses.replace(result, line=None).moved(3, None) == dataclasses.replace(result, line=None)
    # every field is carried: a field added to Result without adding it to `moved` fails here
    every = {f.name: f"v-{f.name}" for f in dataclasses.fields(Result)}
    every["line"] = 1
    assert dataclasses.asdict(Result(**every).moved(0, every["file"])) == every


@pytest.mark.parametrize(("size", "workers", "count"), [(100, 1, 4), (100, 2, 4), (90, 2, 4), (100, 3, 6),
                                                        (65, 2, 4), (64, 2, 2), (129, 4, 8), (100, 7, 7),
                                                        (40, 64, 40)])
def test_byte_ranges_are_equal_and_as_many_as_a_multiple_of_the_workers(tmp_path: Path, size: int, workers: int,
                                                                        count: int) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"x" * size)
    parts = partitions(path, split_bytes=32, split_into=workers)
    assert len(parts) == count
    ranges = [(p.start, p.end if p.end is not None else size) for p in parts]
    assert ranges[0][0] == 0 and ranges[-1][1] == size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))  # no gap, no overlap
    widths = [end - start for start, end in ranges]
    assert max(widths) <= 32 and max(widths) - min(widths) <= 1


def test_results_and_findings_pickle_with_every_field() -> None:
    import pickle

    every = {f.name: f"v-{f.name}" for f in dataclasses.fields(Result)}
    every["line"] = 3
    every["findings"] = (Finding("pii", "email", 4, 9, "a***@x.example"), Finding("regex", "m"))
    result = Result(**every)
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        copy = pickle.loads(pickle.dumps(result, protocol=protocol))
        assert copy == result and dataclasses.asdict(copy) == dataclasses.asdict(result)
        assert type(copy.findings[0]) is Finding
    finding = Finding(**{f.name: f"v-{f.name}" for f in dataclasses.fields(Finding)})
    assert pickle.loads(pickle.dumps(finding)) == finding
