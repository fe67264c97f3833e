"""One pass of per-output rules over records, skipping checks whose prefilter proves a pass.

For each record, one ``re2.Set`` scan tells which prefilter patterns occur; a check whose
prefilter pattern is absent is known to pass and is not called. The units that apply to
a record depend on its suite and tags, so they are grouped into scope plans built once
per combination. An exception inside a check becomes a :class:`CheckCrashed` outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model import EvalCase, Finding, OutputRecord, Policy, Rule
from ..text.regex import SET_MAX_CHARS, PatternSet

#: Outputs longer than this skip the prefilter (see ``text.regex.SET_MAX_CHARS``): a silent miss
#: of ``re2.Set`` must never turn into a pass.
PREFILTER_MAX_CHARS = SET_MAX_CHARS
_NO_TAGS: frozenset[str] = frozenset()


class CheckCrashed(Exception):
    """A check raised: the engine records it as an ``error`` result (the gate fails closed)."""


@dataclass(frozen=True, slots=True)
class Unit:
    """One rule of one subject (policy or suite) as the scanner runs it."""

    subject: int
    rule: Rule
    check: Any  # harness.checks.Check
    counts: bool  # False: an inner rule that only feeds a run-level check
    key: int  # position in the engine's unit table
    mask: str = "none"  # how its findings show what they matched (``Policy.mask_of``)


@dataclass
class ScopePlan:
    id: int
    subjects: tuple[int, ...]
    always: list[Unit] = field(default_factory=list)
    by_slot: dict[int, list[Unit]] = field(default_factory=dict)


OnResult = Callable[[Unit, int, OutputRecord, "Sequence[Finding] | CheckCrashed"], None]


def _unexpected(findings: Any) -> Any:
    """What a check returned when it is not a list or tuple: a sequence of findings still counts."""
    if isinstance(findings, Sequence) and not isinstance(findings, str | bytes):
        return list(findings)
    return CheckCrashed(f"returned {type(findings).__name__}, not a list of findings (an empty list is a pass)")


def _plain_findings(findings: Any, mask: str) -> Sequence[Finding] | CheckCrashed:
    """Findings as the harness's own records (a subclass from a plugin becomes a plain Finding), masked as
    their rule says."""
    if isinstance(findings, CheckCrashed):
        return findings
    plain = []
    for item in findings:
        if type(item) is Finding:
            plain.append(item)
        elif isinstance(item, Finding):  # keeps results picklable across worker processes
            plain.append(Finding(item.kind, item.message, item.start, item.end, item.masked))
        else:
            return CheckCrashed(f"returned a {type(item).__name__} among its findings, not a Finding")
    if mask != "none":
        plain = [finding.masked_as(mask) for finding in plain]
    return plain


class Scanner:
    """The units of a run, their prefilter set, and the scope plans built so far."""

    def __init__(self, subjects: Sequence[Policy], units: Sequence[Unit],
                 cases: Mapping[str, EvalCase], case_units: Mapping[str, list[Unit]]) -> None:
        self.subjects, self.units, self.cases, self.case_units = subjects, units, cases, case_units
        slots: dict[str, int] = {}
        self._slot_of: dict[int, int] = {}
        for unit in units:
            prefilter = unit.check.prefilter(unit.rule.prepared) if unit.check.prefilter else None
            if prefilter is not None:
                self._slot_of[unit.key] = slots.setdefault(prefilter, len(slots))
        self.patterns = PatternSet(list(slots))
        self.plans: dict[tuple[str | None, frozenset[str]], ScopePlan] = {}

    def all_units(self) -> dict[int, Unit]:
        """Every unit by key, the case units included."""
        return {u.key: u for u in self.units} | {u.key: u for us in self.case_units.values() for u in us}

    def plan(self, suite: str | None, tags: frozenset[str]) -> ScopePlan:
        """The units that apply to outputs of a suite with these tags (built once per combination)."""
        key = (suite, tags)
        plan = self.plans.get(key)
        if plan is None:
            subjects = tuple(i for i, s in enumerate(self.subjects) if s.scope.covers(tags, suite))
            plan = ScopePlan(len(self.plans), subjects)
            for unit in self.units:
                if unit.subject in subjects:
                    slot = self._slot_of.get(unit.key)
                    if slot is None:
                        plan.always.append(unit)
                    else:
                        plan.by_slot.setdefault(slot, []).append(unit)
            self.plans[key] = plan
        return plan

    def scan_range(self, records: Sequence[OutputRecord], begin: int, end: int, scope_ids: list[int],
                   on_result: OnResult, progress: Callable[[int], None] | None, with_cases: bool) -> None:
        """Judge ``records[begin:end]``; ``scope_ids[i - begin]`` gets the scope plan of record ``i``."""
        everything = list(range(len(self.patterns)))
        plans: dict[tuple[str | None, frozenset[str], tuple[str, ...]], ScopePlan] = {}
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
            units: list[Unit] = plan.always
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
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # SystemExit from a check's code too: never a pass
                    on_result(unit, index, record, CheckCrashed(f"{type(exc).__name__}: {exc}"))
                    continue
                if type(findings) is not list and type(findings) is not tuple:
                    findings = _unexpected(findings)
                if findings:
                    on_result(unit, index, record, _plain_findings(findings, unit.mask))
            if progress is not None and index % 5000 == 4999:
                progress(index + 1)
