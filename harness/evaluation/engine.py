"""The evaluation: every rule in scope over every output, then the run-level rules, then per-policy outcomes.

An exception inside a check is an ``error`` result, which fails its policy (the gate
fails closed). Waivers turn failures of the rules they cover into ``waived`` results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from ..clock import SYSTEM_CLOCK
from ..model import Finding, OutputRecord, Outputs, Policy, Rule
from ..project import Project
from .executors import executor_for
from .results import Aggregate, Evaluation, PolicyOutcome, Result, ScopeGroup
from .run_level import RunRule, run_level, waiver_for
from .scanner import CheckCrashed, Scanner, Unit

Progress = Callable[[int, int], None]
#: how many unmatched case ids a warning names
SHOW_IDS = 5


def _message(rule: Rule, findings: Sequence[Finding]) -> str:
    if rule.message:
        return rule.message
    messages = list(dict.fromkeys(f.message for f in findings))
    text = "; ".join(messages[:3])
    return text + (f" (+{len(messages) - 3} more)" if len(messages) > 3 else "")


def _units(project: Project, subjects: Sequence[Policy]) -> tuple[list[Unit], list[RunRule], dict[str, list[Unit]]]:
    units: list[Unit] = []
    run_rules: list[RunRule] = []
    for index, policy in enumerate(subjects):
        for rule in policy.rules:
            if rule.impl.level == "output":
                units.append(Unit(index, rule, rule.impl, True, len(units)))
                continue
            inner = None
            if rule.inner is not None:
                inner = Unit(index, rule.inner, rule.inner.impl, False, len(units))
                units.append(inner)
            run_rules.append((index, rule, inner))
    first_suite = len(subjects) - len(project.suites)
    case_units: dict[str, list[Unit]] = {}
    key = len(units)
    for offset, suite in enumerate(project.suites):
        for case in suite.cases:
            case_units[case.id] = [Unit(first_suite + offset, rule, rule.impl, True, key + i)
                                   for i, rule in enumerate(case.expect)]
            key += len(case.expect)
    return units, run_rules, case_units


def evaluate(project: Project, outputs: Outputs, baseline: Outputs | None = None, *,
             today: dt.date | str | None = None, progress: Progress | None = None,
             require_all_cases: bool = True, workers: int | None = 1) -> Evaluation:
    """Judge ``outputs`` with every active or draft policy and eval suite of ``project``.

    ``today`` is the date waivers are judged against (a date or ``YYYY-MM-DD``; default: today, UTC). With
    ``require_all_cases`` (the gate), an eval case with no output fails its suite; without
    it (a scan of production logs), suites judge only the cases that are present.
    ``workers`` > 1 judges large runs in that many forked processes (same results); ``None``: one per CPU.
    """
    if isinstance(today, str):
        today = dt.date.fromisoformat(today)
    today = today or SYSTEM_CLOCK.today()
    waivers = [w for w in project.waivers if not w.expired(today)]
    warnings = [f"waiver for {w.policy} (ticket {w.ticket}) expired on {w.expires.isoformat()} and was not applied"
                for w in project.waivers if w.expired(today)]
    subjects = [p for p in project.policies if p.status != "deprecated"]
    subjects += [suite.as_policy() for suite in project.suites]
    suite_index = {s.suite: len(subjects) - len(project.suites) + i for i, s in enumerate(project.suites)}
    units, run_rules, case_units = _units(project, subjects)

    results: list[Result] = []
    failed: list[set[int]] = [set() for _ in subjects]
    waived: list[set[int]] = [set() for _ in subjects]
    errors = [0] * len(subjects)
    inner_failed: dict[int, set[int]] = {}

    def on_result(unit: Unit, index: int, record: OutputRecord, outcome: Sequence[Finding] | CheckCrashed) -> None:
        if not unit.counts:
            inner_failed.setdefault(unit.key, set()).add(index)
            if not isinstance(outcome, CheckCrashed):
                return
        policy = subjects[unit.subject]
        if isinstance(outcome, CheckCrashed):
            errors[unit.subject] += 1
            results.append(Result(policy.id, unit.rule.id, record.case_id, "error",
                                  f"check {unit.rule.check!r} crashed: {outcome}", line=record.line))
            return
        waiver = waiver_for(waivers, policy.id, unit.rule.id, record.case_id)
        (waived if waiver else failed)[unit.subject].add(index)
        results.append(Result(policy.id, unit.rule.id, record.case_id, "waived" if waiver else "fail",
                              _message(unit.rule, outcome), tuple(outcome), record.line,
                              waiver.ticket if waiver else None))

    scanner = Scanner(subjects, units, project.cases, case_units)
    total = len(outputs.records)
    scope_ids = executor_for(workers).scan(scanner, outputs.records, on_result,
                                           (lambda done: progress(done, total)) if progress else None)
    if progress:
        progress(total, total)
    plan_subjects = {plan.id: plan.subjects for plan in scanner.plans.values()}
    per_plan = [0] * len(plan_subjects)
    plan_cases: list[dict[str, None]] = [{} for _ in plan_subjects]
    for record, plan_id in zip(outputs.records, scope_ids, strict=True):
        per_plan[plan_id] += 1
        plan_cases[plan_id][record.case_id] = None
    checked = [0] * len(subjects)
    for plan_id, count in enumerate(per_plan):
        for subject in plan_subjects[plan_id]:
            checked[subject] += count

    # cases of eval suites with no output at all
    seen_cases = {record.case_id for record in outputs.records}
    missing = [0] * len(subjects)
    missing_cases: dict[str, list[str]] = {}
    for suite in project.suites if require_all_cases else ():
        index = suite_index[suite.suite]
        for case in suite.cases:
            if case.id not in seen_cases:
                waiver = waiver_for(waivers, suite.policy_id, "output", case.id)
                missing[index] += 0 if waiver else 1
                missing_cases.setdefault(suite.policy_id, []).append(case.id)
                results.append(Result(suite.policy_id, "output", case.id, "waived" if waiver else "fail",
                                      "missing output: no record has this case_id",
                                      waiver=waiver.ticket if waiver else None))

    aggregates = run_level(subjects, run_rules, outputs, baseline, scanner, scope_ids, inner_failed,
                           waivers, results)
    outcomes = [_outcome(policy, index, aggregates, checked[index] + missing[index],
                         len(failed[index]) + missing[index], waived[index] - failed[index], errors[index])
                for index, policy in enumerate(subjects)]
    for outcome in outcomes:
        if outcome.checked == 0 and (require_all_cases or outcome.policy.kind == "policy"):
            warnings.append(f"{outcome.policy.id} applied to no outputs (check its applies_to)")
    unmatched = [case for case in dict.fromkeys(r.case_id for r in outputs.records) if case not in project.cases]
    if project.cases and unmatched and require_all_cases:
        shown = ", ".join(unmatched[:SHOW_IDS]) + (f" and {len(unmatched) - SHOW_IDS} more"
                                                    if len(unmatched) > SHOW_IDS else "")
        warnings.append(f"{len(unmatched)} case id(s) in the outputs match no eval case: {shown}")
    scopes = [ScopeGroup(tuple(subjects[i].id for i in plan_subjects[plan_id]), tuple(plan_cases[plan_id]))
              for plan_id in sorted(plan_subjects)]
    scopes += [ScopeGroup((policy_id,), tuple(cases)) for policy_id, cases in missing_cases.items()]
    return Evaluation(tuple(outcomes), tuple(results), tuple(aggregates), total,
                      len(baseline.records) if baseline else None, tuple(warnings), tuple(scopes))


def _outcome(policy: Policy, index: int, aggregates: Sequence[Aggregate], checked: int, n_failed: int,
             waived: set[int], n_errors: int) -> PolicyOutcome:
    own = [a for a in aggregates if a.policy == policy.id]
    n_waived = len(waived) + sum(a.status == "waived" for a in own)
    n_errors += sum(a.status == "error" for a in own)
    run_failed = tuple(a.rule for a in own if a.status == "fail")
    if n_errors:
        status = "error"
    elif policy.max_failures.exceeded(n_failed, checked) or run_failed:
        status = "fail"
    elif n_waived:
        status = "waived"
    else:
        status = "pass"
    return PolicyOutcome(policy, status, checked, n_failed, n_waived, n_errors, run_failed)
