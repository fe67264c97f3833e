"""The evaluation engine: runs every rule in scope over every output, then the run-level rules.

One pass over the records. For each record, one ``re2.Set`` scan tells which prefilter
patterns occur; a check whose prefilter pattern is absent is known to pass and is not
called. The rest are called; an exception inside a check is an ``error`` result, which
fails its policy (the gate fails closed). Run-level rules then see, per policy, the
records in scope and where their inner rule failed.
"""

from __future__ import annotations

import datetime as dt
import gc
import multiprocessing as mp
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .checks import Check, get_check
from .checks.aggregate import RunOutcome, RunView
from .loader import Project
from .outputs import Outputs, paused_gc
from .records import EvalCase, EvalSuite, Finding, OutputRecord, Policy, Rule, Scope, Waiver
from .regex import SET_MAX_CHARS, PatternSet

#: Outputs longer than this skip the prefilter (see ``regex.SET_MAX_CHARS``): a silent miss of
#: ``re2.Set`` must never turn into a pass.
PREFILTER_MAX_CHARS = SET_MAX_CHARS
Progress = Callable[[int, int], None]
_NO_TAGS: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Result:
    """A non-passing result of one rule on one output (or one case)."""

    policy: str
    rule: str
    case_id: str
    status: str  # fail | error | waived
    message: str
    findings: tuple[Finding, ...] = ()
    line: int | None = None
    waiver: str | None = None


@dataclass(frozen=True, slots=True)
class Aggregate:
    """The outcome of one run-level rule of one policy."""

    policy: str
    rule: str
    check: str
    outcome: RunOutcome
    waiver: str | None = None

    @property
    def status(self) -> str:
        return "waived" if self.waiver and self.outcome.status == "fail" else self.outcome.status


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    policy: Policy
    status: str  # pass | fail | waived | error
    checked: int
    failed: int
    waived: int
    errors: int


@dataclass(frozen=True)
class Evaluation:
    """Everything the engine found; the gate and the reporters read it, nothing changes it."""

    outcomes: tuple[PolicyOutcome, ...]
    results: tuple[Result, ...]
    aggregates: tuple[Aggregate, ...]
    records: int
    baseline_records: int | None = None
    warnings: tuple[str, ...] = ()
    _scope: tuple[Sequence[OutputRecord], Sequence[int], Mapping[int, tuple[str, ...]]] | None = \
        field(default=None, repr=False, compare=False)

    def cases_in_scope(self, policy_id: str) -> list[str]:
        """Case ids of the outputs a policy checked, in order of first appearance."""
        if self._scope is None:
            return []
        records, scope_ids, plan_policies = self._scope
        plans = {plan for plan, ids in plan_policies.items() if policy_id in ids}
        return list(dict.fromkeys(r.case_id for r, plan in zip(records, scope_ids, strict=True)
                                  if plan in plans))


def suite_as_policy(suite: EvalSuite) -> Policy:
    """An eval suite judged like a policy: its cases' ``expect`` rules and their outputs."""
    return Policy(
        id=suite.policy_id, version=suite.version, title=suite.description or suite.suite,
        severity=suite.severity, on_fail=suite.on_fail, owner=suite.owner, rules=(),
        source=suite.source, lessons_from=(suite.from_incident,) if suite.from_incident else (),
        scope=Scope(suites=frozenset({suite.suite})), kind="suite",
    )


@dataclass(frozen=True, slots=True)
class _Unit:
    subject: int
    rule: Rule
    check: Check
    counts: bool  # False: an inner rule that only feeds a run-level check
    key: int  # position in the engine's unit table


@dataclass
class _ScopePlan:
    id: int
    subjects: tuple[int, ...]
    always: list[_Unit] = field(default_factory=list)
    by_slot: dict[int, list[_Unit]] = field(default_factory=dict)


class _Scanner:
    """One pass of units over a list of records."""

    def __init__(self, subjects: Sequence[Policy], units: Sequence[_Unit],
                 cases: Mapping[str, EvalCase], case_units: Mapping[str, list[_Unit]]) -> None:
        self.subjects, self.units, self.cases, self.case_units = subjects, units, cases, case_units
        slots: dict[str, int] = {}
        self._slot_of: dict[int, int] = {}
        for unit in units:
            prefilter = unit.check.prefilter(unit.rule.prepared) if unit.check.prefilter else None
            if prefilter is not None:
                self._slot_of[unit.key] = slots.setdefault(prefilter, len(slots))
        self.patterns = PatternSet(list(slots))
        self.plans: dict[tuple[str | None, frozenset[str]], _ScopePlan] = {}

    def plan(self, suite: str | None, tags: frozenset[str]) -> _ScopePlan:
        """The units that apply to outputs of a suite with these tags (built once per combination)."""
        key = (suite, tags)
        plan = self.plans.get(key)
        if plan is None:
            subjects = tuple(i for i, s in enumerate(self.subjects) if s.scope.covers(tags, suite))
            plan = _ScopePlan(len(self.plans), subjects)
            for unit in self.units:
                if unit.subject in subjects:
                    slot = self._slot_of.get(unit.key)
                    if slot is None:
                        plan.always.append(unit)
                    else:
                        plan.by_slot.setdefault(slot, []).append(unit)
            self.plans[key] = plan
        return plan

    def scan(self, records: Sequence[OutputRecord], on_result: OnResult,
             progress: Callable[[int], None] | None = None, with_cases: bool = True, workers: int = 1) -> list[int]:
        """Run the units over every record; returns the scope-plan id of every record.

        With ``workers`` > 1 and enough records, chunks of records are judged in forked
        processes (the records are inherited, not copied) and their results replayed here
        in record order, so the outcome is the same as a serial run.
        """
        if workers > 1 and len(records) >= PARALLEL_MIN_RECORDS and "fork" in mp.get_all_start_methods():
            return self._scan_parallel(records, on_result, progress, with_cases, workers)
        scope_ids = [0] * len(records)
        with paused_gc():
            self._scan_range(records, 0, len(records), scope_ids, on_result, progress, with_cases)
        return scope_ids

    def _scan_range(self, records: Sequence[OutputRecord], begin: int, end: int, scope_ids: list[int],
                    on_result: OnResult, progress: Callable[[int], None] | None, with_cases: bool) -> None:
        everything = list(range(len(self.patterns)))
        plans: dict[tuple[str | None, frozenset[str], tuple[str, ...]], _ScopePlan] = {}
        for index in range(begin, end):
            record = records[index]
            case = self.cases.get(record.case_id)
            own = record.fields.get("tags")
            key = (case.suite if case is not None else None, case.tags if case is not None else _NO_TAGS,
                   tuple(own) if own else ())
            plan = plans.get(key)
            if plan is None:
                plan = plans[key] = self.plan(key[0], key[1] | frozenset(key[2]))
            scope_ids[index - begin] = plan.id
            units: list[_Unit] = plan.always
            if plan.by_slot:
                text = record.output
                hits = everything if len(text) > PREFILTER_MAX_CHARS else self.patterns.matches(text)
                extra = [u for slot in hits for u in plan.by_slot.get(slot, ())]
                if extra:
                    units = units + extra
            if with_cases and case is not None and case.id in self.case_units:
                units = units + self.case_units[case.id]
            for unit in units:
                try:
                    findings = unit.check.fn(unit.rule.prepared, record, case)
                except Exception as exc:
                    on_result(unit, index, record, CheckCrashed(f"{type(exc).__name__}: {exc}"))
                else:
                    if findings:
                        on_result(unit, index, record, findings)
            if progress is not None and index % 5000 == 4999:
                progress(index + 1)

    def _scan_parallel(self, records: Sequence[OutputRecord], on_result: OnResult,
                       progress: Callable[[int], None] | None, with_cases: bool, workers: int) -> list[int]:
        global _FORKED
        size = max(1000, -(-len(records) // (workers * 8)))
        chunks = [(begin, min(begin + size, len(records))) for begin in range(0, len(records), size)]
        units = {u.key: u for u in self.units} | {u.key: u for us in self.case_units.values() for u in us}
        scope_ids = [0] * len(records)
        _FORKED = (self, records, with_cases)
        gc.collect()
        gc.freeze()  # keep the collector from touching (and so copying) the inherited records
        try:
            with mp.get_context("fork").Pool(workers) as pool:
                for begin, local_ids, local_plans, events in pool.imap(_scan_chunk, chunks):
                    ids = {plan_id: self.plan(*key).id for plan_id, key in local_plans.items()}
                    scope_ids[begin:begin + len(local_ids)] = [ids[i] for i in local_ids]
                    for key, index, outcome in events:
                        on_result(units[key], index, records[index], outcome)
                    if progress is not None:
                        progress(begin + len(local_ids))
        finally:
            _FORKED = None
            gc.unfreeze()
        return scope_ids


class CheckCrashed(Exception):
    """A check raised: the engine records it as an ``error`` result (the gate fails closed)."""


OnResult = Callable[[_Unit, int, OutputRecord, "Sequence[Finding] | CheckCrashed"], None]
PARALLEL_MIN_RECORDS = 50_000
_FORKED: tuple[_Scanner, Sequence[OutputRecord], bool] | None = None


def _scan_chunk(chunk: tuple[int, int]) -> tuple[int, list[int], dict[int, tuple[str | None, frozenset[str]]],
                                                 list[tuple[int, int, Any]]]:
    """In a forked worker: judge one chunk of the inherited records, return what was found."""
    assert _FORKED is not None
    scanner, records, with_cases = _FORKED
    begin, end = chunk
    gc.disable()  # this worker process only builds acyclic results (see outputs.paused_gc)
    events: list[tuple[int, int, Any]] = []
    local_ids = [0] * (end - begin)
    scanner._scan_range(records, begin, end, local_ids,
                        lambda unit, index, record, outcome: events.append((unit.key, index, outcome)),
                        None, with_cases)
    return begin, local_ids, {plan.id: key for key, plan in scanner.plans.items()}, events


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _waiver_for(waivers: Sequence[Waiver], policy: str, rule: str, case_id: str) -> Waiver | None:
    return next((w for w in waivers if w.covers(policy, rule, case_id)), None)


def _message(rule: Rule, findings: Sequence[Finding]) -> str:
    if rule.message:
        return rule.message
    messages = list(dict.fromkeys(f.message for f in findings))
    text = "; ".join(messages[:3])
    return text + (f" (+{len(messages) - 3} more)" if len(messages) > 3 else "")


def evaluate(project: Project, outputs: Outputs, baseline: Outputs | None = None, *,
             today: str | None = None, progress: Progress | None = None,
             require_all_cases: bool = True, workers: int = 1) -> Evaluation:
    """Judge ``outputs`` with every active or draft policy and eval suite of ``project``.

    With ``require_all_cases`` (the gate), an eval case with no output fails its suite;
    without it (a scan of production logs), suites judge only the cases that are present.
    ``workers`` > 1 judges large runs in that many forked processes (same results).
    """
    today = today or _today()
    waivers = [w for w in project.waivers if not w.expired(today)]
    warnings = [f"waiver for {w.policy} (ticket {w.ticket}) expired on {w.expires} and was not applied"
                for w in project.waivers if w.expired(today)]
    subjects = [p for p in project.policies if p.status != "deprecated"]
    subjects += [suite_as_policy(s) for s in project.suites]

    units: list[_Unit] = []
    run_rules: list[tuple[int, Rule, _Unit | None]] = []
    for index, policy in enumerate(subjects):
        for rule in policy.rules:
            check = get_check(rule.check)
            if check.level == "output":
                units.append(_Unit(index, rule, check, True, len(units)))
                continue
            inner = None
            if rule.inner is not None:
                inner = _Unit(index, rule.inner, get_check(rule.inner.check), False, len(units))
                units.append(inner)
            run_rules.append((index, rule, inner))
    suite_index = {s.suite: len(subjects) - len(project.suites) + i for i, s in enumerate(project.suites)}
    case_units: dict[str, list[_Unit]] = {}
    n_case_units = 0
    for suite in project.suites:
        for case in suite.cases:
            case_units[case.id] = [_Unit(suite_index[suite.suite], rule, get_check(rule.check), True,
                                         len(units) + n_case_units + i) for i, rule in enumerate(case.expect)]
            n_case_units += len(case.expect)

    results: list[Result] = []
    failed: list[set[int]] = [set() for _ in subjects]
    waived: list[set[int]] = [set() for _ in subjects]
    errors = [0] * len(subjects)
    inner_failed: dict[int, set[int]] = {}

    def on_result(unit: _Unit, index: int, record: OutputRecord,
                  outcome: Sequence[Finding] | BaseException) -> None:
        if not unit.counts:
            inner_failed.setdefault(unit.key, set()).add(index)
            if not isinstance(outcome, BaseException):
                return
        policy = subjects[unit.subject]
        if isinstance(outcome, BaseException):
            errors[unit.subject] += 1
            results.append(Result(policy.id, unit.rule.id, record.case_id, "error",
                                  f"check {unit.rule.check!r} crashed: {outcome}",
                                  line=record.line))
            return
        waiver = _waiver_for(waivers, policy.id, unit.rule.id, record.case_id)
        (waived if waiver else failed)[unit.subject].add(index)
        results.append(Result(policy.id, unit.rule.id, record.case_id, "waived" if waiver else "fail",
                              _message(unit.rule, outcome), tuple(outcome), record.line,
                              waiver.ticket if waiver else None))

    scanner = _Scanner(subjects, units, project.cases, case_units)
    total = len(outputs.records)
    scope_ids = scanner.scan(outputs.records, on_result,
                             (lambda done: progress(done, total)) if progress else None, workers=workers)
    if progress:
        progress(total, total)
    plan_subjects = {plan.id: plan.subjects for plan in scanner.plans.values()}
    per_plan = [0] * len(plan_subjects)
    for plan_id in scope_ids:
        per_plan[plan_id] += 1
    checked = [0] * len(subjects)
    for plan_id, count in enumerate(per_plan):
        for subject in plan_subjects[plan_id]:
            checked[subject] += count

    # cases of eval suites with no output at all
    seen_cases = {record.case_id for record in outputs.records}
    missing = [0] * len(subjects)
    for suite in project.suites if require_all_cases else ():
        index = suite_index[suite.suite]
        for case in suite.cases:
            if case.id not in seen_cases:
                waiver = _waiver_for(waivers, suite.policy_id, "output", case.id)
                missing[index] += 0 if waiver else 1
                results.append(Result(suite.policy_id, "output", case.id, "waived" if waiver else "fail",
                                      "missing output: no record has this case_id",
                                      waiver=waiver.ticket if waiver else None))

    aggregates = _run_level(subjects, run_rules, outputs, baseline, scanner, scope_ids, inner_failed,
                            waivers, results)

    outcomes = []
    for index, policy in enumerate(subjects):
        own = [a for a in aggregates if a.policy == policy.id]
        n_failed = len(failed[index]) + missing[index]
        n_checked = checked[index] + missing[index]
        n_waived = len(waived[index] - failed[index]) + sum(a.status == "waived" for a in own)
        n_errors = errors[index] + sum(a.status == "error" for a in own)
        limit = policy.max_failures
        over = n_failed > limit if isinstance(limit, int) else n_failed > limit * n_checked
        if n_errors:
            status = "error"
        elif over or any(a.status == "fail" for a in own):
            status = "fail"
        elif n_waived:
            status = "waived"
        else:
            status = "pass"
        if n_checked == 0 and (require_all_cases or policy.kind == "policy"):
            warnings.append(f"{policy.id} applied to no outputs (check its applies_to)")
        outcomes.append(PolicyOutcome(policy, status, n_checked, n_failed, n_waived, n_errors))
    unmatched = len(seen_cases - project.cases.keys())
    if project.cases and unmatched and require_all_cases:
        warnings.append(f"{unmatched} case id(s) in the outputs match no eval case")
    plan_policies = {plan: tuple(subjects[i].id for i in ids) for plan, ids in plan_subjects.items()}
    return Evaluation(tuple(outcomes), tuple(results), tuple(aggregates), total,
                      len(baseline.records) if baseline else None, tuple(warnings),
                      (outputs.records, scope_ids, plan_policies))


def _run_level(subjects: Sequence[Policy], run_rules: Sequence[tuple[int, Rule, _Unit | None]],
               outputs: Outputs, baseline: Outputs | None, scanner: _Scanner, scope_ids: list[int],
               inner_failed: Mapping[int, set[int]], waivers: Sequence[Waiver],
               results: list[Result]) -> list[Aggregate]:
    if not run_rules:
        return []
    plan_subjects = {plan.id: set(plan.subjects) for plan in scanner.plans.values()}
    base_view: dict[int, tuple[list[OutputRecord], set[int]]] = {}
    base_scope: list[int] = []
    base_failed: dict[int, set[int]] = {}
    if baseline is not None and any(rule.check == "baseline" for _, rule, _ in run_rules):
        inner_units = [u for _, rule, u in run_rules if rule.check == "baseline" and u is not None]

        def on_base(unit: _Unit, index: int, record: OutputRecord, outcome: Any) -> None:
            base_failed.setdefault(unit.key, set()).add(index)

        base_scanner = _Scanner(subjects, inner_units, scanner.cases, {})
        base_scope = base_scanner.scan(baseline.records, on_base, with_cases=False)
        base_plans = {plan.id: set(plan.subjects) for plan in base_scanner.plans.values()}

    aggregates = []
    for subject, rule, inner in run_rules:
        indices = [i for i, plan in enumerate(scope_ids) if subject in plan_subjects[plan]]
        fails = inner_failed.get(inner.key, set()) if inner else set()
        view_base = None
        if baseline is not None and rule.check == "baseline":
            if subject not in base_view:
                base_idx = [i for i, plan in enumerate(base_scope) if subject in base_plans[plan]]
                base_view[subject] = ([baseline.records[i] for i in base_idx], set(base_idx))
            base_records, base_idx_set = base_view[subject]
            base_fails = base_failed.get(inner.key, set()) if inner else set()
            ordered = sorted(base_idx_set)
            view_base = RunView(base_records, frozenset(p for p, i in enumerate(ordered) if i in base_fails))
        view = RunView([outputs.records[i] for i in indices],
                       frozenset(p for p, i in enumerate(indices) if i in fails), view_base)
        policy = subjects[subject]
        try:
            outcome = get_check(rule.check).fn(rule.prepared, view)
        except Exception as exc:
            outcome = RunOutcome("error", f"check {rule.check!r} crashed: {type(exc).__name__}: {exc}")
        waiver = _waiver_for(waivers, policy.id, rule.id, "*") if outcome.status == "fail" else None
        aggregates.append(Aggregate(policy.id, rule.id, rule.check, outcome, waiver.ticket if waiver else None))
        if outcome.status == "error":
            results.append(Result(policy.id, rule.id, "*", "error", outcome.message))
        for case_id, what in outcome.flipped:
            results.append(Result(policy.id, rule.id, case_id, "waived" if waiver else "fail", what))
    return aggregates
