"""Run-level rules: each sees the records in its policy's scope and where its inner rule failed.

A figure that is not a finite number (an overflow, NaN from a plugin) makes the rule an
``error``: nothing can be concluded from it, and the report holds strict JSON only.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from ..checks import RunOutcome, RunView
from ..model import OutputRecord, Outputs, Policy, Rule, Waiver
from ..model.output import case_key
from .executors import SerialExecutor
from .results import Aggregate, Result
from .scanner import Scanner, Unit

RunRule = tuple[int, Rule, "Unit | None"]  # (subject index, the run-level rule, its inner unit)


def waiver_for(waivers: Sequence[Waiver], policy: str, rule: str, case_id: str) -> Waiver | None:
    return next((w for w in waivers if w.covers(policy, rule, case_id)), None)


def _baseline_failures(subjects: Sequence[Policy], run_rules: Sequence[RunRule], scanner: Scanner,
                       baseline: Outputs) -> tuple[list[int], dict[int, set[int]], dict[int, set[int]]]:
    """Scan the baseline with the inner rules of ``baseline`` checks: scope ids, plan subjects, failures."""
    inner_units = [u for _, rule, u in run_rules if rule.check == "baseline" and u is not None]
    failed: dict[int, set[int]] = {}

    def on_base(unit: Unit, index: int, record: OutputRecord, outcome: Any) -> None:
        failed.setdefault(unit.key, set()).add(index)

    base_scanner = Scanner(subjects, inner_units, scanner.cases, {})
    scope = SerialExecutor().scan(base_scanner, baseline.records, on_base, with_cases=False)
    plans = {plan.id: set(plan.subjects) for plan in base_scanner.plans.values()}
    return scope, plans, failed


def run_level(subjects: Sequence[Policy], run_rules: Sequence[RunRule], outputs: Outputs,
              baseline: Outputs | None, scanner: Scanner, scope_ids: list[int],
              inner_failed: Mapping[int, set[int]], waivers: Sequence[Waiver],
              results: list[Result]) -> list[Aggregate]:
    """Judge every run-level rule; flipped cases and errors are appended to ``results``."""
    if not run_rules:
        return []
    plan_subjects = {plan.id: set(plan.subjects) for plan in scanner.plans.values()}
    base_scope: list[int] = []
    base_plans: dict[int, set[int]] = {}
    base_failed: dict[int, set[int]] = {}
    if baseline is not None and any(rule.check == "baseline" for _, rule, _ in run_rules):
        base_scope, base_plans, base_failed = _baseline_failures(subjects, run_rules, scanner, baseline)
    base_views: dict[int, tuple[list[OutputRecord], list[int]]] = {}

    aggregates = []
    for subject, rule, inner in run_rules:
        indices = [i for i, plan in enumerate(scope_ids) if subject in plan_subjects[plan]]
        fails = inner_failed.get(inner.key, set()) if inner else set()
        view_base = None
        if baseline is not None and rule.check == "baseline":
            if subject not in base_views:
                idx = [i for i, plan in enumerate(base_scope) if subject in base_plans[plan]]
                base_views[subject] = ([baseline.records[i] for i in idx], idx)
            base_records, base_idx = base_views[subject]
            base_fails = base_failed.get(inner.key, set()) if inner else set()
            view_base = RunView(base_records, frozenset(p for p, i in enumerate(base_idx) if i in base_fails))
        view = RunView([outputs.records[i] for i in indices],
                       frozenset(p for p, i in enumerate(indices) if i in fails), view_base,
                       [case_key(outputs.records[i].case_id) for i in indices] if outputs.repeats() else None)
        policy = subjects[subject]
        try:
            outcome = rule.impl.fn(rule.prepared, view)
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
        waiver = waiver_for(waivers, policy.id, rule.id, "*") if outcome.status == "fail" else None
        aggregates.append(Aggregate(policy.id, rule.id, rule.check, outcome, waiver.ticket if waiver else None))
        if outcome.status == "error":
            results.append(Result(policy.id, rule.id, "*", "error", outcome.message))
        for case_id, what in outcome.flipped:
            results.append(Result(policy.id, rule.id, case_id, "waived" if waiver else "fail", what))
    return aggregates


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
