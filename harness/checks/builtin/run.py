"""Run-level checks: rates, quantiles, disparities between slices, regressions against a baseline.

Each gets a ``RunView`` of the records in its policy's scope, with the records on which
its inner (``of:``) rule failed, and returns a ``RunOutcome``. pandas does the arithmetic of a run judged record
by record; a streamed scan counts its columns with numpy (``evaluation.columns``).

Production logs may hold a case id on several records. Repeating a record must never move
a verdict toward pass, so when ids repeat each rule judges every case id once, by its worst:
a case fails when any of its records failed (``rate``, ``disparity``, ``baseline``); a
``quantile`` takes each case's largest value against ``max`` and its smallest against ``min``.
On the baseline's side a case passed when any of its records passed, and ``compare: json``
compares every output of a case with the first JSON output of that case on the baseline.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from ...errors import InputError
from ...model.output import case_key
from ..base import RunOutcome, RunView, check
from .structured import FIELD_PATH, is_missing, parse_json_output, resolve

_INNER = {"$ref": "#/$defs/inner_rule"}


def _empty() -> RunOutcome:
    return RunOutcome("pass", "no outputs in scope")


def _repeats(run: RunView) -> bool:
    """Whether a case id is on more than one of the records in scope."""
    return len(set(run.case_keys())) != len(run.records)


def _case_status(view: RunView, *, worst: bool = True, keys: Sequence[str] | None = None) -> dict[str, bool]:
    """Per case (``keys``, else the view's case keys): did every output of it pass the inner rule (``worst``),
    or did any."""
    status: dict[str, bool] = {}
    for i, key in enumerate(view.case_keys() if keys is None else keys):
        passed = i not in view.failed
        known = status.get(key)
        status[key] = passed if known is None else (known and passed if worst else known or passed)
    return status


@check("rate", level="run", options={"properties": {
    "of": _INNER, "min": {"type": "number", "minimum": 0, "maximum": 1}}, "required": ["of", "min"]})
def rate(options: Mapping[str, Any], run: RunView) -> RunOutcome:
    """The inner rule's pass rate over the outputs in scope is at least ``min``."""
    n = len(run.records)
    if n == 0:
        return _empty()
    passed, each = n - len(run.failed), ""
    if _repeats(run):
        cases = _case_status(run)
        n, passed, each = len(cases), sum(cases.values()), " case ids, each once"
    value = passed / n
    status = "pass" if value >= options["min"] else "fail"
    return RunOutcome(status, f"pass rate {value:.3f} ({passed}/{n}{each}), minimum {options['min']}",
                      value, options["min"])


def _prepare_quantile(options: Mapping[str, Any]) -> Mapping[str, Any]:
    if "max" not in options and "min" not in options:
        raise InputError("a quantile rule needs `max`, `min` or both")
    return options


def _is_number(value: Any) -> bool:
    # a numeric string ("12") is not a number; neither is a boolean
    return isinstance(value, int | float) and not isinstance(value, bool)


@check("quantile", level="run", prepare=_prepare_quantile, options={"properties": {
    "field": {**FIELD_PATH, "default": "latency_ms"}, "q": {"type": "number", "minimum": 0, "maximum": 1},
    "max": {"type": "number"}, "min": {"type": "number"}}, "required": ["q"]})
def quantile(options: Mapping[str, Any], run: RunView) -> RunOutcome:
    """The ``q`` quantile of a numeric field (default ``latency_ms``) is within ``min``..``max``."""
    path = options.get("field", "latency_ms")
    if not run.records:
        return _empty()
    raw = [resolve(r, path) for r in run.records]
    numbers = [_as_float(v) for v in raw if type(v) in (int, float)]
    missing = len(raw) - len(numbers)
    if missing:
        return RunOutcome("error", f"`{path}` is missing or not a number in {missing} of {len(raw)} outputs",
                          details={"missing": missing})
    infinite = sum(not math.isfinite(v) for v in numbers)
    if infinite:
        return RunOutcome("error", f"`{path}` is not a finite number in {infinite} of {len(raw)} outputs;"
                          " expected finite numbers", details={"not_finite": infinite})
    q, label = options["q"], f"p{options['q'] * 100:g} {path}"
    high = low = None
    if not _repeats(run):
        high = low = _quantile(numbers, q)
        high_label = low_label = label
    else:  # each case once, by the value that judges it worst
        each = f" ({len(set(run.case_keys()))} case ids, each by its %s value)"
        high_label, low_label = label + each % "largest", label + each % "smallest"
        high = _quantile(_per_case(run, numbers, max), q) if "max" in options else None
        low = _quantile(_per_case(run, numbers, min), q) if "min" in options else None
    return quantile_outcome(options, high, low, high_label, low_label)


def quantile_outcome(options: Mapping[str, Any], high: float | None, low: float | None, high_label: str,
                     low_label: str) -> RunOutcome:
    """A quantile rule's verdict on the figures it judges by (the largest and smallest values per case when
    ids repeat)."""
    if "max" in options and high is not None and high > options["max"]:
        return RunOutcome("fail", f"{high_label} = {high:g}, above the maximum {options['max']:g}", high,
                          options["max"])
    if "min" in options and low is not None and low < options["min"]:
        return RunOutcome("fail", f"{low_label} = {low:g}, below the minimum {options['min']:g}", low,
                          options["min"])
    value, shown = (high, high_label) if "max" in options else (low, low_label)
    return RunOutcome("pass", f"{shown} = {value:g}", value, options.get("max", options.get("min")))


def _as_float(value: int | float) -> float:
    """A JSON number as a float; an integer too large for one becomes infinity (and so an error)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _per_case(run: RunView, values: Sequence[float], pick: Callable[[float, float], float]) -> list[float]:
    """One value per case id: ``pick`` (``max`` or ``min``) of the values of its records."""
    chosen: dict[str, float] = {}
    for key, value in zip(run.case_keys(), values, strict=True):
        known = chosen.get(key)
        chosen[key] = value if known is None else pick(known, value)
    return list(chosen.values())


def _quantile(values: Sequence[float] | Any, q: float) -> float:
    """The ``q`` quantile, interpolated linearly between order statistics (numpy's default), computed exactly.

    ``a + (b - a) * t`` in floats overflows when ``b - a`` does (``-1.7e308`` and ``1.7e308``
    give ``-inf``); in fractions the result lies between ``a`` and ``b``, so it is always finite.
    """
    import numpy as np

    position = q * (len(values) - 1)  # in floats, as numpy: p33 of 7 values is the third, not just below it
    below = math.floor(position)
    above = min(below + 1, len(values) - 1)
    ordered = np.partition(np.asarray(values, dtype="float64"), (below, above))
    a, b = float(ordered[below]), float(ordered[above])
    fraction = Fraction(position) - below
    if fraction == 0 or a == b:
        return a
    return float(Fraction(a) + (Fraction(b) - Fraction(a)) * fraction)


@check("disparity", level="run", options={"properties": {
    "of": _INNER, "by": FIELD_PATH, "max_gap": {"type": "number", "minimum": 0, "maximum": 1},
    "min_count": {"type": "integer", "minimum": 1, "default": 1,
                  "description": "Slices with fewer records are reported but not compared."}},
    "required": ["of", "by", "max_gap"]})
def disparity(options: Mapping[str, Any], run: RunView) -> RunOutcome:
    """The largest gap of the inner rule's pass rate between values of ``by`` is at most ``max_gap``."""
    import pandas as pd

    if not run.records:
        return _empty()
    groups = [resolve(r, options["by"]) for r in run.records]
    frame = pd.DataFrame({"group": [None if is_missing(g) or g is None else str(g) for g in groups],
                          "case": run.case_keys(), "passed": run.pass_flags()})
    return disparity_outcome(options, frame, _repeats(run))


def disparity_outcome(options: Mapping[str, Any], frame: Any, repeats: bool) -> RunOutcome:
    """A disparity rule's verdict on a frame of (group or None, case, passed), one row per record in scope."""
    path, min_count = options["by"], options.get("min_count", 1)
    missing = int(frame["group"].isna().sum())
    frame = frame.dropna(subset=["group"])
    if repeats:  # each case id once per slice, failing when any of its records there failed
        frame = frame.groupby(["group", "case"], sort=False)["passed"].min().reset_index()
    stats = frame.groupby("group")["passed"].agg(["count", "mean"]).sort_index()
    details: dict[str, Any] = {
        "by": path,
        "slices": {g: {"count": int(row["count"]), "pass_rate": round(float(row["mean"]), 4)}
                   for g, row in stats.iterrows()},
    }
    if missing:
        details["missing"] = missing
    if repeats:
        details["counted"] = "case ids, each once per slice"
    compared = stats[stats["count"] >= min_count]
    if len(compared) < 2:
        return RunOutcome("error", f"cannot compare: fewer than two slices of `{path}` with at least {min_count}"
                          f" outputs ({missing} output(s) without `{path}`)", None, options["max_gap"], details)
    # ordered by pass rate, ties by name: the ends are two different slices even when all rates are equal
    ranked = sorted(compared["mean"].items(), key=lambda item: (item[1], item[0]))
    (worst, low), (best, high) = ranked[0], ranked[-1]
    gap = float(high - low)
    message = (f"pass-rate gap {gap:.3f} across `{path}` ({best} {high:.2f} vs {worst} {low:.2f}),"
               f" maximum {options['max_gap']}")
    return RunOutcome("fail" if gap > options["max_gap"] else "pass", message, gap, options["max_gap"], details)


def disparity_slices_outcome(options: Mapping[str, Any], slices: Mapping[str, tuple[int, int]], missing: int,
                             repeats: bool) -> RunOutcome:
    """A disparity rule's verdict on each slice's count of outputs (of case ids, each once, when ids repeat) and of
    those that passed, ``missing`` outputs having no group: :func:`disparity_outcome` from counts, without pandas.

    A slice's pass rate is ``passed / count`` (what pandas' mean of the flags gives: a sum of ones is exact), the
    slices are listed by name and ranked by rate, ties by name."""
    path, min_count = options["by"], options.get("min_count", 1)
    rates = {name: passed / count for name, (count, passed) in slices.items()}
    details: dict[str, Any] = {
        "by": path,
        "slices": {name: {"count": slices[name][0], "pass_rate": round(rates[name], 4)} for name in sorted(slices)},
    }
    if missing:
        details["missing"] = missing
    if repeats:
        details["counted"] = "case ids, each once per slice"
    ranked = sorted((rate, name) for name, rate in rates.items() if slices[name][0] >= min_count)
    if len(ranked) < 2:
        return RunOutcome("error", f"cannot compare: fewer than two slices of `{path}` with at least {min_count}"
                          f" outputs ({missing} output(s) without `{path}`)", None, options["max_gap"], details)
    (low, worst), (high, best) = ranked[0], ranked[-1]
    gap = high - low
    message = (f"pass-rate gap {gap:.3f} across `{path}` ({best} {high:.2f} vs {worst} {low:.2f}),"
               f" maximum {options['max_gap']}")
    return RunOutcome("fail" if gap > options["max_gap"] else "pass", message, gap, options["max_gap"], details)


def _prepare_baseline(options: Mapping[str, Any]) -> Mapping[str, Any]:
    if ("of" in options) == ("compare" in options):
        raise InputError("a baseline rule needs exactly one of `of` (a rule whose pass rate is compared)"
                         " or `compare: json`")
    return options


def _structure_changes(before: Any, after: Any) -> list[str]:
    from deepdiff import DeepDiff

    # threshold_to_diff_deeper=0: by default DeepDiff reports two dicts sharing few keys as
    # one "values_changed" (so {"a": 1, "b": 2} -> {} went unnoticed)
    diff = DeepDiff(before, after, ignore_order=True, view="tree", threshold_to_diff_deeper=0)
    changes = []
    for kind in ("dictionary_item_removed", "type_changes", "iterable_item_removed"):
        for item in diff.get(kind, []):
            if kind == "type_changes" and _is_number(item.t1) and _is_number(item.t2):
                continue  # 1 -> 0.5 is a value change: JSON has a single number type
            changes.append(f"{kind.replace('_', ' ')} at {item.path()}")
    for item in diff.get("values_changed", []):
        # with ignore_order, list items paired as "changed" are not diffed further: do it here
        containers = isinstance(item.t1, dict | list) and isinstance(item.t2, dict | list)
        if containers and not (item.t1 is before and item.t2 is after):
            changes += [c.replace(" at root", f" at {item.path()}", 1)
                        for c in _structure_changes(item.t1, item.t2)]
    return changes


@check("baseline", level="run", prepare=_prepare_baseline, options={"properties": {
    "of": _INNER, "max_drop": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
    "compare": {"enum": ["json"],
                "description": "Compare JSON outputs case by case (keys removed or types changed flip a case)."}}})
def baseline(options: Mapping[str, Any], run: RunView) -> RunOutcome:
    """No regression against the last-known-good outputs; every case that flipped is listed."""
    if not run.records:
        return _empty()
    if run.baseline is None:
        return RunOutcome("error", "this rule compares against a baseline: pass --baseline FILE")
    if options.get("compare") == "json":
        return _compare_json(run, run.baseline)
    # cases matched across the two files as a reader sees their ids (letter case, spaces, invisible characters)
    keys, base_keys = [case_key(r.case_id) for r in run.records], [case_key(r.case_id) for r in run.baseline.records]
    after = _case_status(run, keys=keys)
    before = _case_status(run.baseline, worst=False, keys=base_keys)
    names: dict[str, str] = {}  # each case by the first id it has in the candidate's outputs
    for key, record in zip(keys, run.records, strict=True):
        names.setdefault(key, record.case_id)
    if not after.keys() & before.keys():
        return RunOutcome("error", "the baseline has no outputs for the cases in scope: nothing to compare")
    rate_after = sum(after.values()) / len(after)
    rate_before = sum(before.values()) / len(before)
    flipped = tuple((names[case], "passed on the baseline, fails now")
                    for case, ok in sorted(after.items()) if not ok and before.get(case, False))
    return baseline_outcome(options, rate_before, rate_after, flipped)


def baseline_outcome(options: Mapping[str, Any], rate_before: float, rate_after: float,
                     flipped: tuple[tuple[str, str], ...]) -> RunOutcome:
    """A baseline rule's verdict on the two pass rates and the cases that flipped to fail."""
    drop = rate_before - rate_after
    max_drop = options.get("max_drop", 0)
    status = "fail" if drop > max_drop + 1e-12 else "pass"
    message = (f"pass rate {rate_after:.3f} vs baseline {rate_before:.3f} (drop {max(drop, 0):.3f},"
               f" maximum {max_drop}); {len(flipped)} case(s) flipped to fail")
    return RunOutcome(status, message, drop, max_drop, {"baseline_rate": rate_before, "rate": rate_after},
                      flipped)


def _compare_json(run: RunView, base: RunView) -> RunOutcome:
    now: dict[str, dict[str, None]] = {}  # every distinct output of each case, in order
    for record in run.records:
        now.setdefault(record.case_id, {})[record.output] = None
    flipped = []
    compared: set[str] = set()
    for record in base.records:
        if record.case_id in compared or record.case_id not in now:
            continue
        before, problem = parse_json_output(record.output, allow_fences=True)
        if problem is not None:
            continue
        compared.add(record.case_id)  # the first JSON output of a case on the baseline is its reference
        what = next(filter(None, (_json_change(before, output) for output in now[record.case_id])), None)
        if what is not None:
            flipped.append((record.case_id, what))
    if not compared:
        return RunOutcome("error", "no case in scope has JSON output on the baseline: nothing to compare")
    status = "fail" if flipped else "pass"
    message = f"{len(flipped)} of {len(compared)} JSON case(s) changed structure against the baseline"
    return RunOutcome(status, message, float(len(flipped)), 0.0, {"compared": len(compared)}, tuple(flipped))


def _json_change(before: Any, output: str) -> str | None:
    """How an output breaks the structure of the baseline's JSON ``before``, or None when it keeps it."""
    after, problem = parse_json_output(output, allow_fences=True)
    if problem is not None:
        return f"JSON on the baseline, now {problem}"
    try:
        changes = _structure_changes(before, after)
    except RecursionError:
        changes = ["nested too deeply to compare"]
    if not changes:
        return None
    shown = "; ".join(changes[:3]) + (f" (+{len(changes) - 3} more)" if len(changes) > 3 else "")
    return f"structure changed: {shown}"
