"""Run-level rules: each sees the records in its policy's scope and where its inner rule failed.

The built-in ones judge columns (:mod:`harness.evaluation.columns`); a run-level check from a
plugin sees the records of its scope, kept for it. A figure that is not a finite number (an
overflow, NaN from a plugin) makes the rule an ``error``: nothing can be concluded from it,
and the report holds strict JSON only.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..checks import RunOutcome, RunView
from ..model import OutputRecord, Rule
from ..model.output import case_key
from .results import Aggregate, Result
from .scanner import Unit, waiver_for

if TYPE_CHECKING:
    from .engine import Judging, Merger

RunRule = tuple[int, Rule, "Unit | None"]  # (subject index, the run-level rule, its inner unit)


def in_scope(plans: np.ndarray, plan_subjects: Mapping[int, tuple[int, ...]], subject: int) -> np.ndarray:
    """Positions of the records whose scope plan includes ``subject``, in input order."""
    members = [plan_id for plan_id, subjects in plan_subjects.items() if subject in subjects]
    if not members:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.isin(plans, members))



def _view(judging: Judging, merger: Merger, position: int, subject: int, rule: Rule, inner: Unit | None,
          plans: np.ndarray, keys: np.ndarray, plan_subjects: Mapping[int, tuple[int, ...]],
          inner_failed: Mapping[int, np.ndarray]) -> tuple[Any, Any]:
    """What a run-level rule judges (columns, or a RunView of records) and the function that judges it."""
    from .columns import COLUMNAR, RunColumns, columnar

    scope = in_scope(plans, plan_subjects, subject)
    fails = inner_failed.get(inner.key, _NONE) if inner else _NONE
    failed = np.isin(scope, fails)
    if columnar(rule.impl, rule.prepared):
        base = None
        if judging.baseline_partial is not None and rule.check == "baseline":
            partial = judging.baseline_partial
            base_plans = {plan_id: judging.baseline_scanner.plan(*key).subjects  # type: ignore[union-attr]
                          for plan_id, key in enumerate(partial.plan_keys)}
            base_scope = in_scope(partial.plans, base_plans, subject)
            base_fails = np.asarray(partial.inner_failed.get(inner.key, ()) if inner else (), dtype=np.int64)
            base = RunColumns(np.isin(base_scope, base_fails), partial.keys[base_scope], {}, {}, partial.case_id)
        numbers: dict[str, np.ndarray] = {}
        groups: dict[str, tuple[np.ndarray, list[str]]] = {}
        if rule.check == "quantile":
            path = rule.prepared.get("field", "latency_ms")
            numbers[path] = merger.numbers_of(path)[scope]
        elif rule.check == "disparity":
            codes, labels = merger.groups_of(rule.prepared["by"])
            groups[rule.prepared["by"]] = (codes[scope], labels)
        columns = RunColumns(failed, keys[scope], numbers, groups, lambda i: merger.case_id(int(scope[i])), base,
                             distinct=merger.distinct)
        return columns, COLUMNAR[rule.impl.name]
    flags = failed.tolist()
    if position in merger.outputs or (rule.check == "baseline" and rule.prepared.get("compare") == "json"):
        records = [OutputRecord(case_id, output, 0, {}) for case_id, output in merger.outputs.get(position, ())]
        base_view = None
        if judging.baseline is not None:
            base_records = [r for r in judging.baseline.records if subject in _plan_of(judging, r)]
            base_view = RunView(base_records)
        if not len(scope):
            return RunView([]), rule.impl.fn
        return RunView(records, frozenset(), base_view), _compare_json
    records = merger.kept.get(position, [])
    return RunView(records, frozenset(i for i, bad in enumerate(flags) if bad), None,
                   [case_key(r.case_id) for r in records] if _repeated(keys) else None), rule.impl.fn


_NONE = np.zeros(0, dtype=np.int64)


def _repeated(keys: np.ndarray) -> bool:
    return len(np.unique(keys)) != len(keys)


def _plan_of(judging: Judging, record: OutputRecord) -> tuple[int, ...]:
    """The subjects judging a record of the baseline (its suite and tags)."""
    case = judging.project.cases.get(record.case_id)
    own = record.fields.get("tags")
    tags = (case.tags if case is not None else frozenset()) | frozenset(own or ())
    return judging.scanner.plan(case.suite if case is not None else None, tags).subjects


def _compare_json(options: Any, run: RunView) -> RunOutcome:
    from ..checks.builtin.run import _compare_json as compare

    if run.baseline is None:
        return RunOutcome("error", "this rule compares against a baseline: pass --baseline FILE")
    return compare(run, run.baseline)


def judge_run_rule(judging: Judging, merger: Merger, position: int, run_rule: RunRule, plans: np.ndarray,
                   keys: np.ndarray, plan_subjects: Mapping[int, tuple[int, ...]],
                   inner_failed: Mapping[int, np.ndarray]) -> tuple[Aggregate, list[Result]]:
    """One run-level rule's aggregate, and the results it adds (an error, the cases it flipped)."""
    subject, rule, inner = run_rule
    policy = judging.subjects[subject]
    try:
        view, fn = _view(judging, merger, position, subject, rule, inner, plans, keys, plan_subjects, inner_failed)
        outcome = fn(rule.prepared, view)
        if not isinstance(outcome, RunOutcome):
            raise TypeError(f"returned {type(outcome).__name__}, not a RunOutcome")
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit from a check's code too: never a pass
        outcome = RunOutcome("error", f"check {rule.check!r} crashed: {type(exc).__name__}: {exc}")
    figure = _not_finite(outcome)
    if figure is not None:
        outcome = RunOutcome("error", f"check {rule.check!r} gave {figure}, not a finite number; nothing can"
                             f" be concluded from it (it said: {outcome.message})")
    waiver = waiver_for(judging.waivers, policy.id, rule.id, "*") if outcome.status == "fail" else None
    results = []
    if outcome.status == "error":
        results.append(Result(policy.id, rule.id, "*", "error", outcome.message))
    for case_id, what in outcome.flipped:
        results.append(Result(policy.id, rule.id, case_id, "waived" if waiver else "fail", what))
    return Aggregate(policy.id, rule.id, rule.check, outcome, waiver.ticket if waiver else None), results


def _not_finite(outcome: RunOutcome) -> str | None:
    """The first figure of an outcome that is not a finite number (``value inf``), or None."""
    for name in ("value", "threshold"):
        number = getattr(outcome, name)
        if number is not None and not _finite(number):
            return f"{name} {_shown(number)}"
    return _not_finite_detail(outcome.details, "details")


def _finite(number: Any) -> bool:
    """A real number a double can hold (not a boolean, not NaN or an infinity, no integer beyond 1.8e308)."""
    if isinstance(number, bool) or not isinstance(number, numbers.Real):
        return False
    try:
        return math.isfinite(float(number))
    except OverflowError:
        return False


def _not_finite_detail(value: Any, path: str) -> str | None:
    if isinstance(value, Mapping):
        return next((found for key, item in value.items()
                     if (found := _not_finite_detail(item, f"{path}.{key}")) is not None), None)
    if isinstance(value, list | tuple):
        return next((found for i, item in enumerate(value)
                     if (found := _not_finite_detail(item, f"{path}[{i}]")) is not None), None)
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) and not math.isfinite(value):
        return f"{path} {_shown(value)}"
    return None


def _shown(number: Any) -> str:
    """A figure as a message shows it: ``inf``, ``nan`` (numpy's numbers too), or the repr of a non-number."""
    if isinstance(number, numbers.Real) and not isinstance(number, numbers.Integral):
        return repr(float(number))
    text = repr(number)
    return text if len(text) <= 40 else text[:39] + "…"
