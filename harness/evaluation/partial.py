"""What one pass over one piece of the input found: a :class:`Partial`, mergeable in input order.

A piece is a partition of the input (a file, a byte range of a large JSON Lines file) or a
chunk of records already in memory. Its pass keeps what the run's report needs without
keeping the records: every non-passing result, per policy the positions of failing
records, and per record only a few small columns (its scope plan, its case key as a
64-bit hash, its line, the figures and groups that run-level rules read). Memory so grows
with the failures and by a few dozen bytes per record, never with the text of the outputs.
Everything in it pickles, so a forked process or a Dask worker can send it back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..model import OutputRecord
from .results import Result

#: how many case ids a scope group lists (JUnit's test cases) when outputs are judged in memory (a gate)
SCOPE_CASES_CAP = 200_000
#: the same for a streamed scan, whose outputs may be millions of production records: its report lists the
#: first case ids of each group (and every failing one among its results)
STREAM_SCOPE_CASES = 1_000
PlanKey = tuple["str | None", frozenset[str]]


def key_hashes(keys: list[str]) -> np.ndarray:
    """A stable 64-bit hash of each case key (the same in every process and on every machine).

    Two different keys hashing alike would count as one case: with 64 bits the chance is
    about n²/2⁶⁵ (one in 300,000 for ten million distinct keys).
    """
    if not keys:
        return np.zeros(0, dtype=np.uint64)
    from pandas.util import hash_array

    return hash_array(np.array(keys, dtype=object), categorize=False)


@dataclass
class Partial:
    """The findings and per-record columns of one piece of the input, positions counted from its start."""

    part: int = 0  # which file of the input (its index), for the results' file names
    records: int = 0
    #: lines read: for a byte range of a file, lines are counted from its start and shifted when merged
    lines: int = 0
    relative_lines: bool = False
    sha256: str | None = None
    consumed: int = 0  # bytes of the file read for this partial (a progress bar's measure)
    results: list[Result] = field(default_factory=list)
    results_dropped: int = 0  # results found past the first ones the run lists, only counted
    #: per subject (policy or suite index): positions of records failing (not waived) one of its per-output rules
    failed: dict[int, list[int]] = field(default_factory=dict)
    waived: dict[int, list[int]] = field(default_factory=dict)
    errors: dict[int, int] = field(default_factory=dict)
    #: per inner (``of:``) unit key: positions of records on which it failed
    inner_failed: dict[int, list[int]] = field(default_factory=dict)
    #: the scope plan of each record, as an index into ``plan_keys``
    plan_keys: list[PlanKey] = field(default_factory=list)
    plans: Any = None  # np.ndarray[int32]
    plan_counts: list[int] = field(default_factory=list)
    plan_cases: list[dict[str, None]] = field(default_factory=list)
    plan_cases_cut: bool = False
    keys: Any = None  # np.ndarray[uint64]: each record's case key hash
    line_numbers: Any = None  # np.ndarray[int64]
    case_text: str = ""  # every record's case id, concatenated
    case_ends: Any = None  # np.ndarray[int64]: where each case id ends in case_text
    #: run-level columns: numbers (NaN: missing or not a number) and groups (codes into labels; -1: missing)
    numbers: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, tuple[Any, list[str]]] = field(default_factory=dict)
    #: whole records kept for run-level checks without a columnar form (plugins): per run-rule position
    kept: dict[int, list[OutputRecord]] = field(default_factory=dict)
    #: (case id, output) of records in scope of a ``baseline`` rule with ``compare: json``, per run-rule position
    outputs: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    field_counts: dict[str, Counter[str]] = field(default_factory=dict)

    def case_id(self, position: int) -> str:
        """The case id of the record at ``position``."""
        start = int(self.case_ends[position - 1]) if position else 0
        return self.case_text[start:int(self.case_ends[position])]
