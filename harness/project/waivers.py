"""Waivers (``policies/waivers.yaml``): checked against the policies and cases they name, and the playbook's limits.

The playbook's ``waiver_rules`` say, per severity, how many days a waiver may run from its
approval, which roles may approve it and whether it may waive a whole policy: name neither
``rule`` nor ``cases``, or name the policy's only rule (or, for an eval suite, any rule)
without ``cases``, or, with other waivers in force on the same day, every rule of it without
``cases``. Naming every case in scope, alone or with such waivers, is no less: every case of
an eval suite, or for a policy every eval case of the project (the gate judges no other case
id). A waiver beyond them is an error of the file, so ``harness validate`` reports it and the
gate refuses to judge (exit 4) rather than waive too much.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Set
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Any

from ..errors import InputError
from ..model import EvalCase, Playbook, Waiver
from ..model.playbook import WaiverRule
from ..model.waiver import parse_date
from .rules import Problems

_WHERE_RULES = "waiver_rules in playbook.yaml"


def build_waivers(problems: Problems, known: Mapping[str, frozenset[str]], case_ids: Mapping[str, EvalCase],
                  playbook: Playbook, severities: Mapping[str, str]) -> tuple[Waiver, ...]:
    """The waivers of a checked document; every unknown policy, rule or case, and every waiver beyond
    the playbook's ``waiver_rules`` for its policy's severity (``severities``: policy id to severity), is a problem."""
    cases = case_ids.keys()
    scopes = _Scopes(case_ids)
    waivers: list[tuple[int, Waiver]] = []
    items = problems.document.data.get("waivers")
    for i, raw in enumerate(items if isinstance(items, list) else ()):
        if problems.schema_error_under(("waivers", i)) or not _names_known(problems, i, raw, known, cases):
            continue
        waiver = _waiver(problems, i, raw)
        if waiver is None:
            continue
        if not _within_rules(problems, i, waiver, playbook, severities.get(waiver.policy, ""),
                             known[waiver.policy], scopes[waiver.policy]):
            continue
        waivers.append((i, waiver))
    reported = _refuse_rules_that_add_up(problems, waivers, known, playbook, severities)
    _refuse_cases_that_add_up(problems, waivers, known, playbook, severities, scopes, reported)
    return tuple(waiver for _, waiver in waivers)


class _Scopes(dict[str, Set[str]]):
    """Policy id (one of those known) to the case ids a gate can judge for it, worked out when first asked: a
    suite's cases, or for a policy every eval case (the keys of the cases themselves: a suite of 100,000 cases
    made a copy of them per policy, and the scopes of every suite cost a step per case even without a waiver)."""

    def __init__(self, cases: Mapping[str, EvalCase]) -> None:
        super().__init__()
        self.cases = cases

    def __missing__(self, policy: str) -> Set[str]:
        if not policy.startswith("eval:"):
            return self.cases.keys()
        for suite, ids in _suites_of(self.cases).items():
            self[suite] = frozenset(ids)
        return self.setdefault(policy, frozenset())


def _suites_of(cases: Mapping[str, EvalCase]) -> dict[str, set[str]]:
    """Suite (``eval:<suite>``) to the ids of its cases (a suite's cases follow each other: a step per suite)."""
    suites: dict[str, set[str]] = {}
    for suite, run in groupby(zip(map(_SUITE, cases.values()), cases, strict=True), key=_FIRST):
        suites.setdefault(f"eval:{suite}", set()).update(map(_SECOND, run))
    return suites


_SUITE, _FIRST, _SECOND = attrgetter("suite"), itemgetter(0), itemgetter(1)


def _covered(waivers: Iterable[Waiver], rules: frozenset[str], scope: Set[str]) -> str | None:
    """The rule that ``waivers`` waive in every case of ``scope`` together ("" for every rule), and so waive the
    whole policy; ``None`` when they waive less or ``scope`` is empty. ``rules`` empty stands for an eval suite,
    whose rules are its cases' expectations: one rule waived in every case is the whole suite."""
    if not scope:
        return None
    waivers = list(waivers)

    def every_case(rule: str | None) -> bool:
        named: set[str] = set()
        for waiver in waivers:
            if waiver.rule is None or waiver.rule == rule:
                if waiver.cases is None:
                    return True
                named |= waiver.cases
        return named >= scope

    if not rules:
        return next((str(w.rule or "") for w in waivers if every_case(w.rule)), None)
    return "" if all(every_case(rule) for rule in rules) else None


def _names_known(problems: Problems, i: int, raw: Mapping[str, Any], known: Mapping[str, frozenset[str]],
                 cases: Set[str]) -> bool:
    if raw["policy"] not in known:
        problems.add(f"waiver names unknown policy {raw['policy']!r}", ("waivers", i, "policy"))
        return False
    if "rule" in raw and known[raw["policy"]] and raw["rule"] not in known[raw["policy"]]:
        rules = ", ".join(sorted(known[raw["policy"]]))
        problems.add(f"policy {raw['policy']!r} has no rule {raw['rule']!r}; its rules: {rules}",
                     ("waivers", i, "rule"))
        return False
    if raw["policy"].startswith("eval:") and "cases" in raw:
        unknown = sorted(set(raw["cases"]) - cases)
        if unknown:
            problems.add(f"waiver names unknown case id(s): {', '.join(unknown)}", ("waivers", i, "cases"))
            return False
    return True


def _date(problems: Problems, i: int, raw: Mapping[str, Any], key: str) -> dt.date | None:
    try:
        return parse_date(raw[key])
    except ValueError as exc:
        problems.add(str(exc), ("waivers", i, key))
        return None


def _waiver(problems: Problems, i: int, raw: Mapping[str, Any]) -> Waiver | None:
    approved, expires = _date(problems, i, raw, "approved"), _date(problems, i, raw, "expires")
    if approved is None or expires is None:
        return None
    if expires < approved:
        problems.add(f"expires {expires.isoformat()} before it was approved ({approved.isoformat()}); expected"
                     " an expiry date on or after the approval date", ("waivers", i, "expires"))
        return None
    return Waiver(
        policy=raw["policy"], reason=raw["reason"], approver=raw["approver"], ticket=raw["ticket"],
        expires=expires, approved=approved, rule=raw.get("rule"),
        cases=frozenset(raw["cases"]) if "cases" in raw else None,
        location=problems.document.locate(("waivers", i)),
    )


def _whole(waiver: Waiver, rules: frozenset[str], severity: str, scope: Set[str]) -> str | None:
    """How the waiver waives every failure of its policy, in words; ``None`` when it waives less."""
    if waiver.whole_policy:
        return f"waives the whole {severity} policy {waiver.policy}"
    if waiver.cases is not None:
        suite = waiver.policy.startswith("eval:")
        if _covered([waiver], frozenset() if suite else rules, scope) is None:
            return None
        where = (f"every case of the {severity} eval suite {waiver.policy}" if suite
                 else f"every eval case of the project ({len(scope)}), all a gate can judge, under the {severity}"
                 f" policy {waiver.policy}")
        what = f"rule {waiver.rule!r} in " if waiver.rule is not None else ""
        return f"names {what}{where}, and so waives the whole {'suite' if suite else 'policy'}"
    if waiver.policy.startswith("eval:"):  # a suite's rules are its cases' expectations: one rule runs through all
        return (f"waives rule {waiver.rule!r} in every case of the {severity} eval suite {waiver.policy}, and so the"
                " whole suite")
    if rules == {waiver.rule}:
        return (f"waives rule {waiver.rule!r}, the only rule of the {severity} policy {waiver.policy}, and so the"
                " whole policy")
    return None


def _within_rules(problems: Problems, i: int, waiver: Waiver, playbook: Playbook, severity: str,
                  rules: frozenset[str], scope: Set[str]) -> bool:
    """Whether the waiver keeps to the playbook's rule for its policy's severity; each breach is a problem."""
    rule = playbook.waiver_rules.get(severity)
    if rule is None:
        problems.add(f"policy {waiver.policy} is {severity} and {_WHERE_RULES} has no entry for {severity}:"
                     f" its policies cannot be waived; expected an entry {severity}: {{max_days, approvers}}",
                     ("waivers", i, "policy"))
        return False
    before = len(problems.errors)
    whole = _whole(waiver, rules, severity, scope)
    if whole is not None and not rule.whole_policy:
        expected = ("a `rule` or `cases` to waive" if waiver.whole_policy else
                    "`cases` that leave out at least one case" if waiver.cases is not None else "`cases` to waive")
        problems.add(f"{whole}, which {_WHERE_RULES} forbids; expected {expected}", ("waivers", i))
    if waiver.days > rule.max_days:
        problems.add(f"runs {waiver.days} days from its approval on {waiver.approved.isoformat()}; a waiver of a"
                     f" {severity} policy may run at most {rule.max_days} days ({_WHERE_RULES}), so expires"
                     f" {(waiver.approved + dt.timedelta(days=rule.max_days)).isoformat()} at the latest",
                     ("waivers", i, "expires"))
    allowed = _approver_addresses(rule, playbook)
    if _address(waiver.approver) not in allowed.values():
        problems.add(f"{waiver.approver!r} may not approve a waiver of a {severity} policy; expected"
                     f" {_approvers_text(rule, allowed)}", ("waivers", i, "approver"))
    return len(problems.errors) == before


def _refuse_rules_that_add_up(problems: Problems, waivers: list[tuple[int, Waiver]],
                              known: Mapping[str, frozenset[str]], playbook: Playbook,
                              severities: Mapping[str, str]) -> set[str]:
    """A problem where waivers of single rules (no ``cases``) in force on one day name every rule of a policy
    whose severity may not be waived whole: together they waive it whole. Named at the last of them in the file."""
    reported: set[str] = set()
    for _, waiver in waivers:
        severity = severities.get(waiver.policy, "")
        rule = playbook.waiver_rules.get(severity)
        if (waiver.rule is None or waiver.cases is not None or rule is None or rule.whole_policy
                or waiver.policy in reported):
            continue
        day = waiver.approved  # the sets in force only grow at an approval date: checking each one is enough
        together = [(j, other) for j, other in waivers if other.policy == waiver.policy and other.rule is not None
                    and other.cases is None and other.in_force(day)]
        rules = known[waiver.policy]
        if len(together) > 1 and rules and {other.rule for _, other in together} >= rules:
            last = max(j for j, _ in together)
            others = ", ".join(f"$.waivers[{j}]" for j, _ in together if j != last)
            problems.add(f"together with {others} it waives every rule of the {severity} policy {waiver.policy} on"
                         f" {day.isoformat()}, and so the whole policy, which {_WHERE_RULES} forbids; expected"
                         " `cases` to waive", ("waivers", last))
            reported.add(waiver.policy)
    return reported


def _refuse_cases_that_add_up(problems: Problems, waivers: list[tuple[int, Waiver]],
                              known: Mapping[str, frozenset[str]], playbook: Playbook,
                              severities: Mapping[str, str], scopes: Mapping[str, Set[str]],
                              reported: set[str]) -> None:
    """A problem where waivers with ``cases`` and others of one policy in force on one day waive, for one rule or
    for none, every case in scope (and, for a policy, every rule), of a severity that may not be waived whole.
    Named at the last of them in the file, as for rules that add up."""
    for _, waiver in waivers:
        severity = severities.get(waiver.policy, "")
        rule = playbook.waiver_rules.get(severity)
        if waiver.cases is None or rule is None or rule.whole_policy or waiver.policy in reported:
            continue
        day = waiver.approved  # as for rules: the sets in force only grow at an approval date
        suite = waiver.policy.startswith("eval:")
        together = [(j, other) for j, other in waivers if other.policy == waiver.policy and other.in_force(day)]
        covered = _covered((other for _, other in together), frozenset() if suite else known[waiver.policy],
                           scopes[waiver.policy])
        if covered is None:
            continue
        if suite:
            together = [(j, other) for j, other in together if other.rule in (None, covered or None)]
        if len(together) < 2:
            continue
        last = max(j for j, _ in together)
        others = ", ".join(f"$.waivers[{j}]" for j, _ in together if j != last)
        what = (f"{f'rule {covered!r} in ' if covered else ''}every case of the {severity} eval suite"
                f" {waiver.policy}" if suite else f"every rule in every eval case of the project"
                f" ({len(scopes[waiver.policy])}), all a gate can judge, under the {severity} policy {waiver.policy}")
        problems.add(f"together with {others} it waives {what} on {day.isoformat()}, and so the whole"
                     f" {'suite' if suite else 'policy'}, which {_WHERE_RULES} forbids; expected `cases` that leave"
                     " out at least one case", ("waivers", last))
        reported.add(waiver.policy)


def _address(text: str) -> str:
    return text.strip().casefold()


def _approver_addresses(rule: WaiverRule, playbook: Playbook) -> dict[str, str]:
    """Role to address, for the roles of ``rule`` that the playbook's ``roles:`` names."""
    return {role: _address(playbook.roles[role]) for role in rule.approvers if role in playbook.roles}


def _approvers_text(rule: WaiverRule, allowed: Mapping[str, str]) -> str:
    if not rule.approvers:
        return f"no one: {_WHERE_RULES} lists no approvers for {rule.severity}"
    if not allowed:
        return f"the address of {' or '.join(rule.approvers)}, which roles: in playbook.yaml does not name"
    return " or ".join(f"the {role} ({address})" for role, address in allowed.items())


def waiver_rule_problems(problems: Problems, playbook: Playbook) -> None:
    """Record every ``waiver_rules`` entry of the playbook document that names an unknown severity or role."""
    written = problems.document.data.get("waiver_rules")
    if not isinstance(written, dict) or problems.schema_error_under(("waiver_rules",)):
        return
    for severity, rule in written.items():
        if severity not in playbook.severities:
            defined = ", ".join(sorted(playbook.severities))
            problems.add(f"unknown severity {severity!r}; the playbook defines: {defined}",
                         ("waiver_rules", severity), key=True)
        for j, role in enumerate(rule["approvers"]):
            if role not in playbook.roles:
                known = ", ".join(sorted(playbook.roles)) or "none"
                problems.add(f"unknown role {role!r}; expected a key of roles: ({known})",
                             ("waiver_rules", severity, "approvers", j))


def expired_waivers(waivers: Iterable[Waiver] | Any, today: dt.date | str) -> list[InputError]:
    """Waivers that do not apply on ``today``: past their ``expires`` date, or approved only later.

    They no longer (or not yet) apply, and validate says so. ``waivers`` may be a
    :class:`~harness.project.Project` (its waivers) and ``today`` an ISO date.
    """
    waivers = getattr(waivers, "waivers", waivers)
    if isinstance(today, str):
        today = parse_date(today)
    return [_lapse_error(w, today) for w in waivers if not w.in_force(today)]


def future_approvals(waivers: Iterable[Waiver], today: dt.date) -> list[InputError]:
    """Waivers approved after ``today``, the clock's date (never a ``--today`` the caller chose).

    An approval cannot lie in the future: judged as of a later date, such a waiver would apply
    before anyone approved it. The gate refuses to judge with one (exit 4), as with a waiver
    beyond the playbook's rules.
    """
    return [InputError(f"waiver for {_named(w)} was approved on {w.approved.isoformat()}, after today"
                       f" ({today.isoformat()}, UTC): an approval date cannot lie in the future; expected the date it"
                       " was approved, on or before today", w.location)
            for w in waivers if w.approved > today]


def _named(waiver: Waiver) -> str:
    return f"{waiver.policy}{'/' + waiver.rule if waiver.rule else ''} (ticket {waiver.ticket})"


def _lapse_error(waiver: Waiver, today: dt.date) -> InputError:
    what = f"waiver for {_named(waiver)}"
    if waiver.expired(today):
        return InputError(f"{what} expired on {waiver.expires.isoformat()}; it no longer applies: renew it with a"
                          " new date or remove it", waiver.location)
    return InputError(f"{what} was approved on {waiver.approved.isoformat()}, after {today.isoformat()}, the date"
                      " judged against; it does not apply yet: expected an approval date on or before it",
                      waiver.location)
