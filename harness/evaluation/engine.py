"""The evaluation: every rule in scope over every output, then the run-level rules, then per-policy outcomes.

An exception inside a check is an ``error`` result, which fails its policy (the gate
fails closed). Waivers turn failures of the rules they cover into ``waived`` results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

from ..clock import SYSTEM_CLOCK
from ..errors import InputError, InputErrors, Location
from ..model import Finding, OutputRecord, Outputs, Policy, Rule
from ..model.output import case_key
from ..model.policy import mask_mode
from ..model.waiver import parse_date
from ..project import Project
from ..text.mask import mask_text
from .executors import executor_for
from .results import Aggregate, Evaluation, PolicyOutcome, Result, ScopeGroup
from .run_level import RunRule, run_level, waiver_for
from .scanner import CheckCrashed, Scanner, Unit

Progress = Callable[[int, int], None]
#: how many unmatched case ids a warning names
SHOW_IDS = 5
#: how many repeated case ids an error lists before it says how many more there are
SHOW_REPEATS = 20


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
                units.append(Unit(index, rule, rule.impl, True, len(units), policy.mask_of(rule)))
                continue
            inner = None
            if rule.inner is not None:
                inner = Unit(index, rule.inner, rule.inner.impl, False, len(units), policy.mask_of(rule.inner))
                units.append(inner)
            run_rules.append((index, rule, inner))
    first_suite = len(subjects) - len(project.suites)
    case_units: dict[str, list[Unit]] = {}
    key = len(units)
    for offset, suite in enumerate(project.suites):
        private = any(rule.check == "pii" for case in suite.cases for rule in case.expect)
        for case in suite.cases:
            case_units[case.id] = [Unit(first_suite + offset, rule, rule.impl, True, key + i,
                                        mask_mode(rule, private=private))
                                   for i, rule in enumerate(case.expect)]
            key += len(case.expect)
    return units, run_rules, case_units


def evaluate(project: Project, outputs: Outputs, baseline: Outputs | None = None, *,
             today: dt.date | str | None = None, progress: Progress | None = None,
             require_all_cases: bool = True, workers: int | None = 1,
             allow_repeats: bool | None = None, allow_unmatched: bool | None = None) -> Evaluation:
    """Judge ``outputs`` with every active or draft policy and eval suite of ``project``.

    ``today`` is the date waivers are judged against (a date or ``YYYY-MM-DD``; default: today, UTC). With
    ``require_all_cases`` (the gate), an eval case with no output fails its suite; without
    it (a scan of production logs), suites judge only the cases that are present.
    ``workers`` > 1 judges large runs in that many forked processes (same results); ``None``: one per CPU.
    A case id on more than one record (of ``outputs`` or ``baseline``) is an ``InputError`` naming both
    lines unless ``allow_repeats`` (default: only without ``require_all_cases``, as in a scan). Allowed,
    repeats are counted in a warning, and the run-level rules and a fractional ``max_failures`` judge
    each case id once, failing it when any of its records fails: repeating records never helps a run pass.
    A record whose case id matches no eval case (of ``outputs`` or ``baseline``, when the project has eval
    cases) is an ``InputError`` too unless ``allow_unmatched`` (default: as ``allow_repeats``): records
    beyond the suites would be judged by the policies and the run-level rules, and could dilute them.
    """
    if not (allow_repeats if allow_repeats is not None else not require_all_cases):
        for judged in (outputs, baseline):
            if judged is not None:
                _refuse_repeats(judged)
    if project.cases and not (allow_unmatched if allow_unmatched is not None else not require_all_cases):
        for judged in (outputs, baseline):
            if judged is not None:
                _refuse_unmatched(judged, project.cases)
    if isinstance(today, str):
        today = parse_date(today)
    today = today or SYSTEM_CLOCK.today()
    waivers = [w for w in project.waivers if w.in_force(today)]
    warnings = [f"waiver for {w.policy} (ticket {w.ticket}) {w.lapse(today)} and was not applied"
                for w in project.waivers if not w.in_force(today)]
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
    per_case = _per_case_counts(outputs, subjects, failed, plan_subjects, plan_cases) if outputs.repeats() else None
    outcomes = [_outcome(policy, index, aggregates, checked[index] + missing[index],
                         len(failed[index]) + missing[index], waived[index] - failed[index], errors[index],
                         None if per_case is None else (per_case[index][0] + missing[index],
                                                        per_case[index][1] + missing[index]))
                for index, policy in enumerate(subjects)]
    for outcome in outcomes:
        if outcome.checked == 0 and (require_all_cases or outcome.policy.kind == "policy"):
            warnings.append(f"{outcome.policy.id} applied to no outputs (check its applies_to)")
    unmatched = [case for case in dict.fromkeys(r.case_id for r in outputs.records) if case not in project.cases]
    if project.cases and unmatched and require_all_cases:
        shown = ", ".join(unmatched[:SHOW_IDS]) + (f" and {len(unmatched) - SHOW_IDS} more"
                                                    if len(unmatched) > SHOW_IDS else "")
        warnings.append(f"{len(unmatched)} case id(s) in the outputs match no eval case: {shown}")
    warnings += _repeat_warnings(outputs, "outputs") + (_repeat_warnings(baseline, "baseline") if baseline else [])
    scopes = [ScopeGroup(tuple(subjects[i].id for i in plan_subjects[plan_id]), tuple(plan_cases[plan_id]))
              for plan_id in sorted(plan_subjects)]
    scopes += [ScopeGroup((policy_id,), tuple(cases)) for policy_id, cases in missing_cases.items()]
    return Evaluation(tuple(outcomes), tuple(results), tuple(aggregates), total,
                      len(baseline.records) if baseline else None, tuple(warnings), tuple(scopes))


def _refuse_repeats(outputs: Outputs) -> None:
    """An ``InputError`` per record whose case id an earlier record had (an eval case is answered once)."""
    _refuse(outputs, [(r.line, r.case_id, f"repeats line {r.first_line}") for r in outputs.repeats()],
            "expected each case id once (an eval case has one answer; `harness scan` accepts repeats in production"
            " logs)", "repeating a case id")


def _refuse_unmatched(outputs: Outputs, cases: Mapping[str, object]) -> None:
    """An ``InputError`` per record whose case id no eval case has (a gate judges the suites' cases)."""
    _refuse(outputs, [(r.line, r.case_id, "matches no eval case") for r in outputs.records if r.case_id not in cases],
            "expected the id of a case of the eval suites (pass --allow-unmatched to judge outputs beyond them too)",
            "whose case id matches no eval case")


def _refuse(outputs: Outputs, bad: Sequence[tuple[int, str, str]], expected: str, more: str) -> None:
    """The first ``SHOW_REPEATS`` bad records (line, case id, what is wrong) as input errors, and how many more."""
    errors = [InputError(f"case_id {mask_text(repr(case_id))} {what}; {expected}", Location(outputs.path, line))
              for line, case_id, what in bad[:SHOW_REPEATS]]
    if len(bad) > SHOW_REPEATS:
        errors.append(InputError(f"and {len(bad) - SHOW_REPEATS} more records {more}", Location(outputs.path)))
    InputErrors.raise_if_any(errors)


def _repeat_warnings(outputs: Outputs, what: str) -> list[str]:
    """What a report says of repeated case ids, where they are allowed (production logs)."""
    repeats = outputs.repeats()
    if not repeats:
        return []
    first = repeats[0]
    return [f"{outputs.repeated_ids} case id(s) of the {what} are on more than one record ({len(repeats)} repeated"
            f" record(s); {first.case_id} on lines {first.first_line} and {first.line}): run-level rules judged"
            " each case id once, failing it when any of its records failed"]


def _per_case_counts(outputs: Outputs, subjects: Sequence[Policy], failed: Sequence[set[int]],
                     plan_subjects: dict[int, tuple[int, ...]], plan_cases: Sequence[dict[str, None]]
                     ) -> list[tuple[int, int]]:
    """Per subject: (cases failing any per-output rule, cases checked), each case once (``case_key``)."""
    counts = []
    for index in range(len(subjects)):
        cases: set[str] = set()
        for plan_id, members in plan_subjects.items():
            if index in members:
                cases.update(plan_cases[plan_id])
        counts.append((len({case_key(outputs.records[i].case_id) for i in failed[index]}),
                       len({case_key(case) for case in cases})))
    return counts


def _exceeded(policy: Policy, n_failed: int, checked: int, per_case: tuple[int, int] | None) -> bool:
    """Whether failures exceed ``max_failures``; a fraction is taken over case ids when ids repeat (no dilution)."""
    if per_case is not None and policy.max_failures.fraction is not None:
        return policy.max_failures.exceeded(*per_case)
    return policy.max_failures.exceeded(n_failed, checked)


def _outcome(policy: Policy, index: int, aggregates: Sequence[Aggregate], checked: int, n_failed: int,
             waived: set[int], n_errors: int, per_case: tuple[int, int] | None = None) -> PolicyOutcome:
    own = [a for a in aggregates if a.policy == policy.id]
    n_waived = len(waived) + sum(a.status == "waived" for a in own)
    n_errors += sum(a.status == "error" for a in own)
    run_failed = tuple(a.rule for a in own if a.status == "fail")
    if n_errors:
        status = "error"
    elif _exceeded(policy, n_failed, checked, per_case) or run_failed:
        status = "fail"
    elif n_waived:
        status = "waived"
    else:
        status = "pass"
    return PolicyOutcome(policy, status, checked, n_failed, n_waived, n_errors, run_failed)
