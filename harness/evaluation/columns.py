"""The built-in run-level checks over columns: the same verdicts as over records, without keeping the records.

A run-level rule reads, for each record in its scope, whether its inner rule failed, its
case (by the 64-bit hash of its case key, see :func:`~harness.evaluation.partial.key_hashes`),
and for ``quantile`` a number, for ``disparity`` a group. Those columns are merged from every
piece of the input, so a rule over ten million records holds about 20 bytes per record. The
arithmetic is exact: the same figures, messages and details as the record-based checks in
:mod:`harness.checks.builtin.run` (a test compares the two on every kind of rule).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import RunOutcome
from ..checks.builtin import run as records
from ..model.output import case_key


@dataclass(frozen=True)
class RunColumns:
    """The records in one run-level rule's scope, as columns (all the same length, in input order)."""

    failed: np.ndarray  # bool: its inner rule failed on the record
    keys: np.ndarray  # uint64: the record's case key hash
    numbers: Mapping[str, np.ndarray]  # float64 per field path; NaN: missing or not a number
    groups: Mapping[str, tuple[np.ndarray, Sequence[str]]]  # int32 codes per field path (-1: missing), labels
    names: Callable[[int], str]  # the case id of the record at a position
    baseline: RunColumns | None = None
    #: known to hold each case key once (the whole input does): no need to look
    distinct: bool = False

    def __len__(self) -> int:
        return len(self.failed)

    def repeats(self) -> bool:
        return not self.distinct and len(np.unique(self.keys)) != len(self.keys)


def _case_status(keys: np.ndarray, failed: np.ndarray, *,
                 worst: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per distinct key, in order of first appearance: (key, passed, first position); a case passed when every
    record of it passed (``worst``), or any."""
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    passed = np.ones(len(unique), dtype=bool) if worst else np.zeros(len(unique), dtype=bool)
    if worst:
        np.logical_and.at(passed, inverse, ~failed)
    else:
        np.logical_or.at(passed, inverse, ~failed)
    order = np.argsort(first, kind="stable")
    return unique[order], passed[order], first[order]


def rate(options: Mapping[str, Any], run: RunColumns) -> RunOutcome:
    n = len(run)
    if n == 0:
        return records._empty()
    passed, each = n - int(run.failed.sum()), ""
    if run.repeats():
        _, status, _ = _case_status(run.keys, run.failed)
        n, passed, each = len(status), int(status.sum()), " case ids, each once"
    value = passed / n
    outcome = "pass" if value >= options["min"] else "fail"
    return RunOutcome(outcome, f"pass rate {value:.3f} ({passed}/{n}{each}), minimum {options['min']}",
                      value, options["min"])


def quantile(options: Mapping[str, Any], run: RunColumns) -> RunOutcome:
    path = options.get("field", "latency_ms")
    if len(run) == 0:
        return records._empty()
    values = run.numbers[path]
    missing = int(np.isnan(values).sum())
    if missing:
        return RunOutcome("error", f"`{path}` is missing or not a number in {missing} of {len(values)} outputs",
                          details={"missing": missing})
    infinite = int(np.isinf(values).sum())
    if infinite:
        return RunOutcome("error", f"`{path}` is not a finite number in {infinite} of {len(values)} outputs;"
                          " expected finite numbers", details={"not_finite": infinite})
    q, label = options["q"], f"p{options['q'] * 100:g} {path}"
    high: float | None
    low: float | None
    if not run.repeats():
        high = low = records._quantile(values, q)
        high_label = low_label = label
    else:  # each case once, by the value that judges it worst
        unique, inverse = np.unique(run.keys, return_inverse=True)
        each = f" ({len(unique)} case ids, each by its %s value)"
        high_label, low_label = label + each % "largest", label + each % "smallest"
        high = low = None
        if "max" in options:
            largest = np.full(len(unique), -np.inf)
            np.maximum.at(largest, inverse, values)
            high = records._quantile(largest, q)
        if "min" in options:
            smallest = np.full(len(unique), np.inf)
            np.minimum.at(smallest, inverse, values)
            low = records._quantile(smallest, q)
    return records.quantile_outcome(options, high, low, high_label, low_label)


def disparity(options: Mapping[str, Any], run: RunColumns) -> RunOutcome:
    if len(run) == 0:
        return records._empty()
    codes, labels = run.groups[options["by"]]
    grouped = codes >= 0
    missing = len(codes) - int(np.count_nonzero(grouped))
    slice_of, passed = codes[grouped], ~run.failed[grouped]
    repeats = run.repeats()
    if repeats and len(slice_of):  # each case id once per slice, failing when any of its records there failed
        keys = run.keys[grouped]
        order = np.lexsort((keys, slice_of))
        slice_of, keys, passed = slice_of[order], keys[order], passed[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (slice_of[1:] != slice_of[:-1]) | (keys[1:] != keys[:-1])
        starts = np.flatnonzero(first)
        slice_of, passed = slice_of[starts], np.logical_and.reduceat(passed, starts)
    counts = np.bincount(slice_of, minlength=len(labels))
    passes = np.bincount(slice_of[passed], minlength=len(labels))
    slices = {labels[i]: (int(counts[i]), int(passes[i])) for i in np.flatnonzero(counts).tolist()}
    return records.disparity_slices_outcome(options, slices, missing, repeats)


def baseline(options: Mapping[str, Any], run: RunColumns) -> RunOutcome:
    if len(run) == 0:
        return records._empty()
    if run.baseline is None:
        return RunOutcome("error", "this rule compares against a baseline: pass --baseline FILE")
    after_keys, after, first = _case_status(run.keys, run.failed)
    before_keys, before, _ = _case_status(run.baseline.keys, run.baseline.failed, worst=False)
    known = dict(zip(before_keys.tolist(), before.tolist(), strict=True))
    if not any(key in known for key in after_keys.tolist()):
        return RunOutcome("error", "the baseline has no outputs for the cases in scope: nothing to compare")
    rate_after = float(after.sum()) / len(after)
    rate_before = float(before.sum()) / len(before)
    flips = [(case_key(run.names(int(position))), run.names(int(position)))
             for key, ok, position in zip(after_keys.tolist(), after.tolist(), first.tolist(), strict=True)
             if not ok and known.get(key, False)]
    flipped = tuple((name, "passed on the baseline, fails now") for _, name in sorted(flips))
    return records.baseline_outcome(options, rate_before, rate_after, flipped)


#: the built-in run-level checks that judge columns; any other run-level check sees whole records
COLUMNAR: dict[str, Callable[[Mapping[str, Any], RunColumns], RunOutcome]] = {
    "rate": rate, "quantile": quantile, "disparity": disparity, "baseline": baseline}


def columnar(check: Any, options: Mapping[str, Any]) -> bool:
    """Whether a run-level rule is judged over columns: a built-in check (``compare: json`` reads outputs)."""
    from ..checks.builtin import BUILTIN_CHECKS

    if check.name not in COLUMNAR or not any(check is builtin for builtin in BUILTIN_CHECKS):
        return False
    return not (check.name == "baseline" and options.get("compare") == "json")
