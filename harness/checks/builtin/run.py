"""Run-level checks: rates, quantiles, disparities between slices, regressions against a baseline.

Each gets a ``RunView`` of the records in its policy's scope, with the records on which
its inner (``of:``) rule failed, and returns a ``RunOutcome``. pandas does the arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ...errors import InputError
from ..base import RunOutcome, RunView, check
from .structured import FIELD_PATH, is_missing, parse_json_output, resolve

_INNER = {"$ref": "#/$defs/inner_rule"}


def _empty() -> RunOutcome:
    return RunOutcome("pass", "no outputs in scope")


@check("rate", level="run", options={"properties": {
    "of": _INNER, "min": {"type": "number", "minimum": 0, "maximum": 1}}, "required": ["of", "min"]})
def rate(options: Mapping[str, Any], run: RunView) -> RunOutcome:
    """The inner rule's pass rate over the outputs in scope is at least ``min``."""
    n = len(run.records)
    if n == 0:
        return _empty()
    value = 1 - len(run.failed) / n
    status = "pass" if value >= options["min"] else "fail"
    return RunOutcome(status, f"pass rate {value:.3f} ({n - len(run.failed)}/{n}), minimum {options['min']}",
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
    import pandas as pd

    path = options.get("field", "latency_ms")
    if not run.records:
        return _empty()
    raw = [resolve(r, path) for r in run.records]
    numbers = [float(v) for v in raw if type(v) in (int, float)]
    missing = len(raw) - len(numbers)
    values = pd.Series(numbers, dtype="float64")
    if missing:
        return RunOutcome("error", f"`{path}` is missing or not a number in {missing} of {len(raw)} outputs",
                          details={"missing": missing})
    q = options["q"]
    value = float(values.quantile(q, interpolation="linear"))
    if not math.isfinite(value):
        return RunOutcome("error", f"p{q * 100:g} of `{path}` is not a finite number (values too large to"
                          " interpolate); nothing can be concluded from it")
    label = f"p{q * 100:g} {path} = {value:g}"
    if "max" in options and value > options["max"]:
        return RunOutcome("fail", f"{label}, above the maximum {options['max']:g}", value, options["max"])
    if "min" in options and value < options["min"]:
        return RunOutcome("fail", f"{label}, below the minimum {options['min']:g}", value, options["min"])
    return RunOutcome("pass", label, value, options.get("max", options.get("min")))


@check("disparity", level="run", options={"properties": {
    "of": _INNER, "by": FIELD_PATH, "max_gap": {"type": "number", "minimum": 0, "maximum": 1},
    "min_count": {"type": "integer", "minimum": 1, "default": 1,
                  "description": "Slices with fewer records are reported but not compared."}},
    "required": ["of", "by", "max_gap"]})
def disparity(options: Mapping[str, Any], run: RunView) -> RunOutcome:
    """The largest gap of the inner rule's pass rate between values of ``by`` is at most ``max_gap``."""
    import pandas as pd

    path, min_count = options["by"], options.get("min_count", 1)
    if not run.records:
        return _empty()
    groups = [resolve(r, path) for r in run.records]
    frame = pd.DataFrame({"group": [None if is_missing(g) or g is None else str(g) for g in groups],
                          "passed": run.pass_flags()})
    missing = int(frame["group"].isna().sum())
    frame = frame.dropna(subset=["group"])
    stats = frame.groupby("group")["passed"].agg(["count", "mean"]).sort_index()
    details: dict[str, Any] = {
        "by": path,
        "slices": {g: {"count": int(row["count"]), "pass_rate": round(float(row["mean"]), 4)}
                   for g, row in stats.iterrows()},
    }
    if missing:
        details["missing"] = missing
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


def _prepare_baseline(options: Mapping[str, Any]) -> Mapping[str, Any]:
    if ("of" in options) == ("compare" in options):
        raise InputError("a baseline rule needs exactly one of `of` (a rule whose pass rate is compared)"
                         " or `compare: json`")
    return options


def _case_status(view: RunView) -> dict[str, bool]:
    """Per case id: did every output of that case pass the inner rule."""
    status: dict[str, bool] = {}
    for i, record in enumerate(view.records):
        status[record.case_id] = status.get(record.case_id, True) and i not in view.failed
    return status


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
    after, before = _case_status(run), _case_status(run.baseline)
    if not after.keys() & before.keys():
        return RunOutcome("error", "the baseline has no outputs for the cases in scope: nothing to compare")
    rate_after = sum(after.values()) / len(after)
    rate_before = sum(before.values()) / len(before)
    flipped = tuple((case, "passed on the baseline, fails now")
                    for case, ok in sorted(after.items()) if not ok and before.get(case, False))
    drop = rate_before - rate_after
    max_drop = options.get("max_drop", 0)
    status = "fail" if drop > max_drop + 1e-12 else "pass"
    message = (f"pass rate {rate_after:.3f} vs baseline {rate_before:.3f} (drop {max(drop, 0):.3f},"
               f" maximum {max_drop}); {len(flipped)} case(s) flipped to fail")
    return RunOutcome(status, message, drop, max_drop, {"baseline_rate": rate_before, "rate": rate_after},
                      flipped)


def _compare_json(run: RunView, base: RunView) -> RunOutcome:
    now = {r.case_id: r.output for r in run.records}
    flipped = []
    compared = 0
    for record in base.records:
        before, problem = parse_json_output(record.output, allow_fences=True)
        if problem is not None or record.case_id not in now:
            continue
        compared += 1
        after, problem = parse_json_output(now[record.case_id], allow_fences=True)
        if problem is not None:
            flipped.append((record.case_id, f"JSON on the baseline, now {problem}"))
            continue
        try:
            changes = _structure_changes(before, after)
        except RecursionError:
            changes = ["nested too deeply to compare"]
        if changes:
            shown = "; ".join(changes[:3]) + (f" (+{len(changes) - 3} more)" if len(changes) > 3 else "")
            flipped.append((record.case_id, f"structure changed: {shown}"))
    if compared == 0:
        return RunOutcome("error", "no case in scope has JSON output on the baseline: nothing to compare")
    status = "fail" if flipped else "pass"
    message = f"{len(flipped)} of {compared} JSON case(s) changed structure against the baseline"
    return RunOutcome(status, message, float(len(flipped)), 0.0, {"compared": compared}, tuple(flipped))
