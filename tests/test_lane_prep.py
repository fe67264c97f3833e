"""The lane's cheaper per-line work gives what the slower forms gave.

Each helper is compared with the form it replaced (kept here as the reference): which lines are clean, where
the first piece ends, which case ids a scope lists. And a block read with the fields and types of the block
before it (``Scanner.lane_shape``, no inference) is judged as the record-by-record scan judges it, whether the
guess holds or pyarrow refuses it and the block is read as before.
"""

from __future__ import annotations

import random
import types
from pathlib import Path
from typing import Any

import pytest
from test_lane import _comparable, _generated, _repository, _varied, _write

from harness import api
from harness.api import judge as judge_module
from harness.clock import FixedClock
from harness.evaluation import executors, lane
from harness.evaluation.scanner import Scanner
from harness.outputs import sources

pytest.importorskip("pyarrow")

CLOCK = FixedClock("2026-12-04T10:00:00Z")


def _clean_lines_before(lines: list[bytes]) -> list[int]:
    return [i for i, line in enumerate(lines)
            if line and (line[0] not in lane._BLANK or not line.isspace()) and not line.startswith(lane._BOM)]


def test_clean_lines_are_the_lines_the_strict_test_keeps() -> None:
    rng = random.Random(7)
    pieces = [b'{"a": 1}', b"", b" ", b"\t", b" {}", b"\r", b"\xef\xbb\xbf{}", b"\xef", b"x", b"\x0b", b"{"]
    for _ in range(3000):
        lines = [rng.choice(pieces) for _ in range(rng.randint(0, 12))]
        assert lane._clean_lines(lines, lane._BLANK) == _clean_lines_before(lines), lines


def test_the_first_piece_ends_where_the_pieces_did() -> None:
    rng = random.Random(8)
    for _ in range(500):
        colons = [rng.choice([0, 1, 5, 64, 9000, 16_384]) for _ in range(rng.randint(1, 3000))]
        assert lane._piece_ends(colons, first_only=True) == lane._piece_ends(colons)[:1]


def _scope_counts_before(cap: int, partial: Any, case_ids: list[str], in_plan: dict[int, list[int]]) -> None:
    for slot, positions in in_plan.items():
        partial.plan_counts[slot] += len(positions)
        scoped = partial.plan_cases[slot]
        if len(scoped) < cap:
            scoped.update(dict.fromkeys(case_ids if len(positions) == len(case_ids)
                                        else [case_ids[i] for i in positions]))
            if len(scoped) > cap:
                for extra in list(scoped)[cap:]:
                    del scoped[extra]
                partial.plan_cases_cut = True
        elif any(case_ids[i] not in scoped for i in positions):
            partial.plan_cases_cut = True


def test_a_scope_lists_the_first_case_ids_up_to_its_cap_and_says_when_it_cut() -> None:
    rng = random.Random(9)
    for _ in range(3000):
        cap = rng.randint(1, 12)
        before, after = (types.SimpleNamespace(plan_counts=[0, 0], plan_cases=[{}, {}], plan_cases_cut=False)
                         for _ in range(2))
        for _ in range(rng.randint(1, 4)):
            ids = [f"c{rng.randint(0, 15)}" for _ in range(rng.randint(0, 10))]
            some = sorted(rng.sample(range(len(ids)), rng.randint(0, len(ids))))
            in_plan = ({0: some, 1: [i for i in range(len(ids)) if i not in some]} if rng.random() < 0.5
                       else {0: list(range(len(ids)))})
            _scope_counts_before(cap, before, ids, in_plan)
            Scanner.scope_counts(types.SimpleNamespace(scope_cap=cap), after, ids, in_plan)  # type: ignore[arg-type]
            assert (after.plan_counts, [list(d) for d in after.plan_cases], after.plan_cases_cut) == \
                (before.plan_counts, [list(d) for d in before.plan_cases], before.plan_cases_cut)


def _scan(root: Path, path: Path, monkeypatch: pytest.MonkeyPatch, *, columnar: bool, workers: int) -> Any:
    monkeypatch.setattr(lane, "ENABLED", columnar)
    lane.STATS.clear()
    result = api.run_scan(path, policies=root / "policies", evals=root / "evals", clock=CLOCK, workers=workers)
    return _comparable(result.report.to_dict())


def _small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of about 100 lines (read 32 KiB at a time), first pieces of 64."""
    monkeypatch.setattr(lane, "MIN_BYTES", 0)
    monkeypatch.setattr(lane, "PIECE_LINES", 64)
    monkeypatch.setattr(executors, "LANE_BLOCK_LINES", 100)
    monkeypatch.setattr(sources, "_BLOCK", 32 * 1024)
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", 256 * 1024)  # several partitions: two workers fork


@pytest.mark.parametrize("workers", [1, 2])
def test_blocks_read_with_the_last_blocks_fields_are_judged_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 workers: int) -> None:
    """Small blocks of varied records (fields that come and go, integers among floats, objects whose members
    change type): some blocks take the last block's fields, others refuse them and are read as before."""
    root = _repository(tmp_path / "repo")
    records = _varied(_generated(21, 4000, tmp_path), 21)
    for i in range(700, len(records), 1500):  # a field no block before had, in the middle of the file
        records[i] = dict(records[i], surprise={"deep": [1, 2]})
    path = _write(tmp_path / "outputs.jsonl", records)
    _small_blocks(monkeypatch)
    by_records = _scan(root, path, monkeypatch, columnar=False, workers=workers)
    by_columns = _scan(root, path, monkeypatch, columnar=True, workers=workers)
    assert by_columns == by_records
    if workers == 1:  # (the workers' counts stay in their processes)
        assert lane.STATS["shaped"] > 3 and lane.STATS["unshaped"] > 3, dict(lane.STATS)
    assert by_records["summary"]["results"] > 50


def test_a_block_with_the_same_fields_of_other_types_is_read_again(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The last block's latency was a float, the next one's integers (read as floats by its shape: a field rule
    on it then judges record by record) and then strings (refused: read as before, the strict parser names
    them)."""
    root = _repository(tmp_path / "repo")
    (root / "policies" / "quality" / "retries.yaml").write_text(
        "id: quality.retries\nversion: 1.0.0\ntitle: Retries\nseverity: sev3\non_fail: warn\n"
        "owner: qa@example.com\nrules:\n  - {id: retries-known, check: field, path: retries, one_of: [0, 1, 2]}\n")
    records: list[dict[str, Any]] = []
    for i in range(3000):
        retries: Any = 1.5 if i < 1000 else (i % 4 if i < 2000 else str(i % 4))
        records.append({"case_id": f"c-{i}", "output": f"answer {i}", "retries": retries, "latency_ms": 10 + i % 3})
    path = _write(tmp_path / "outputs.jsonl", records)
    _small_blocks(monkeypatch)
    by_records = _scan(root, path, monkeypatch, columnar=False, workers=1)
    by_columns = _scan(root, path, monkeypatch, columnar=True, workers=1)
    assert by_columns == by_records
    assert lane.STATS["shaped"] >= 1 and lane.STATS["unshaped"] >= 1, dict(lane.STATS)
    failed = {r["case_id"] for r in by_records["results"] if r["rule"] == "retries-known"}
    assert {"c-0", "c-1003", "c-2001"} <= failed and "c-1001" not in failed  # 1.5, 3 and "1" are not known
