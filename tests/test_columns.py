"""The columnar ``disparity`` (numpy counts) gives, field for field and in the same order, the verdict of the pandas
arithmetic it replaced (``checks.builtin.run.disparity_outcome`` over a frame of the same columns)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checks.builtin import run as record_checks
from harness.evaluation import columns
from harness.evaluation.columns import RunColumns
from harness.evaluation.partial import key_hashes

OF = {"check": "not_contains", "value": "x", "id": "inner"}
#: names whose order differs by code point, letter case, length and digits ("10" before "9")
LABELS = ["b", "a", "B", "é", "10", "9", "a b", "zz", "Ω", "z"]


def _by_pandas(options: dict[str, Any], run: RunColumns) -> Any:
    """The columnar disparity as it was: a pandas frame of (group or None, case key, passed)."""
    if len(run) == 0:
        return record_checks._empty()
    codes, labels = run.groups[options["by"]]
    names = np.array([*labels, None], dtype=object)
    frame = pd.DataFrame({"group": names[np.where(codes >= 0, codes, len(labels))], "case": run.keys,
                          "passed": ~run.failed})
    return record_checks.disparity_outcome(options, frame, run.repeats())


def _run(codes: list[int], failed: list[bool], cases: list[str], labels: list[str]) -> RunColumns:
    return RunColumns(np.array(failed, dtype=bool), key_hashes(cases), {},
                      {"slice": (np.array(codes, dtype=np.int32), labels)}, lambda i: cases[i])


@st.composite
def _rows(draw: Any) -> tuple[list[int], list[bool], list[str], list[str]]:
    labels = draw(st.lists(st.sampled_from(LABELS), unique=True, max_size=len(LABELS)))
    n = draw(st.integers(0, 60))
    codes = draw(st.lists(st.integers(-1, len(labels) - 1), min_size=n, max_size=n))
    # mostly passing, mostly failing or even: equal rates (ties) come up often
    failed = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    pool = draw(st.integers(1, 80))  # few ids: cases repeat, in one slice or several
    cases = [f"case-{draw(st.integers(0, pool))}" for _ in range(n)]
    return codes, failed, cases, labels


@settings(max_examples=400, deadline=None)
@given(rows=_rows(), max_gap=st.sampled_from([0.0, 0.1, 0.25, 1.0]), min_count=st.integers(1, 4))
def test_disparity_without_pandas_is_the_pandas_verdict(rows: tuple[list[int], list[bool], list[str], list[str]],
                                                        max_gap: float, min_count: int) -> None:
    run = _run(*rows)
    options = {"of": OF, "by": "slice", "max_gap": max_gap, "min_count": min_count}
    assert repr(columns.disparity(options, run)) == repr(_by_pandas(options, run))


@pytest.mark.parametrize("repeat", [False, True], ids=["distinct ids", "repeated ids"])
def test_disparity_on_many_records_is_the_pandas_verdict(repeat: bool) -> None:
    rng = np.random.default_rng(7)
    n = 50_000
    codes = rng.integers(-1, len(LABELS), n).tolist()
    failed = (rng.random(n) < rng.random(len(LABELS) + 1)[np.array(codes)]).tolist()
    cases = [f"gen-{i:07d}" for i in (rng.integers(0, n // 3, n) if repeat else range(n))]
    run = _run(codes, failed, cases, LABELS)
    assert run.repeats() is repeat
    for options in ({"of": OF, "by": "slice", "max_gap": 0.05},
                    {"of": OF, "by": "slice", "max_gap": 0.5, "min_count": 4_700}):
        outcome = columns.disparity(options, run)
        assert repr(outcome) == repr(_by_pandas(options, run))
        assert list(outcome.details["slices"]) == sorted(LABELS)


@pytest.mark.parametrize(("codes", "failed", "status"), [
    ([0, 0, 1, 1], [False, False, False, False], "pass"),  # a tie: two different slices are compared
    ([-1, -1, -1], [True, False, True], "error"),  # no group anywhere
    ([0, 0, 0], [True, False, False], "error"),  # a single slice
])
def test_disparity_edges(codes: list[int], failed: list[bool], status: str) -> None:
    run = _run(codes, failed, [f"c{i}" for i in range(len(codes))], ["x", "y"])
    options = {"of": OF, "by": "slice", "max_gap": 0.0}
    outcome = columns.disparity(options, run)
    assert outcome.status == status
    assert repr(outcome) == repr(_by_pandas(options, run))
