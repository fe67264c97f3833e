"""One pass of per-output rules over records, skipping checks whose prefilter proves a pass.

For each record, one ``re2.Set`` scan tells which prefilter patterns occur; a check whose
prefilter pattern is absent is known to pass and is not called. The units that apply to
a record depend on its suite and tags, so they are grouped into scope plans built once
per combination. An exception inside a check becomes an ``error`` result. What the pass
finds goes into a :class:`~harness.evaluation.partial.Partial`, with the few per-record
columns the run-level rules read.
"""

from __future__ import annotations

import functools
from array import array
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..model import EvalCase, Finding, OutputRecord, Policy, Rule, Waiver
from ..model.output import case_key
from ..text.regex import SET_MAX_CHARS, PatternSet
from .partial import SCOPE_CASES_CAP, Partial, key_hashes
from .results import Result

#: Outputs longer than this skip the prefilter (see ``text.regex.SET_MAX_CHARS``): a silent miss
#: of ``re2.Set`` must never turn into a pass.
PREFILTER_MAX_CHARS = SET_MAX_CHARS
#: whether the prefilter reads the folded views of an output that is not ASCII (``Check.prefilter_views``) rather
#: than sending it to every check that folds (a switch for comparing the two; read when a scanner is made)
PREFILTER_VIEWS = True
_NO_TAGS: frozenset[str] = frozenset()
#: the record fields whose most common value names the run's model and version
COUNTED_FIELDS = ("model", "model_version")


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


@dataclass(frozen=True)
class RunNeeds:
    """What the run-level rules read of each record in their scope, beyond its inner rule's failures.

    ``numbers`` and ``groups``: field paths per subject, kept as columns; ``kept``: run-rule
    positions (per subject) whose check sees whole records; ``compare``: run-rule positions (per subject)
    of ``baseline`` rules with ``compare: json``, which keep the outputs of the cases the baseline has
    JSON for (``compare_cases``).
    """

    numbers: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    groups: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    kept: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    compare: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    compare_cases: frozenset[str] = frozenset()


@dataclass
class ScopePlan:
    id: int
    subjects: tuple[int, ...]
    key: tuple[str | None, frozenset[str]] = (None, frozenset())
    always: list[Unit] = field(default_factory=list)
    by_slot: dict[int, list[Unit]] = field(default_factory=dict)
    numbers: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    kept: tuple[int, ...] = ()
    compare: tuple[int, ...] = ()


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


def message_of(rule: Rule, findings: Sequence[Finding]) -> str:
    """What a failing result says: the rule's message, else its findings' (the first three)."""
    if rule.message:
        return rule.message
    messages = list(dict.fromkeys(f.message for f in findings))
    text = "; ".join(messages[:3])
    return text + (f" (+{len(messages) - 3} more)" if len(messages) > 3 else "")


def waiver_for(waivers: Sequence[Waiver], policy: str, rule: str, case_id: str) -> Waiver | None:
    return next((w for w in waivers if w.covers(policy, rule, case_id)), None)


class Scanner:
    """The units of a run, their prefilter set, the waivers in force, and the scope plans built so far."""

    def __init__(self, subjects: Sequence[Policy], units: Sequence[Unit],
                 cases: Mapping[str, EvalCase], case_units: Mapping[str, list[Unit]],
                 waivers: Sequence[Waiver] = (), needs: RunNeeds | None = None) -> None:
        self.subjects, self.units, self.cases, self.case_units = subjects, units, cases, case_units
        self.waivers = tuple(waivers)
        self.needs = needs or RunNeeds()
        slots: dict[str, int] = {}
        self._slot_of: dict[int, int] = {}
        in_views: dict[Any, dict[str, int]] = {}  # views function -> its patterns' slots
        for unit in units:
            prefilter = unit.check.prefilter(unit.rule.prepared) if unit.check.prefilter else None
            if prefilter is None:
                continue
            finer = getattr(unit.check, "prefilter_views", None) if PREFILTER_VIEWS else None
            finer = finer(unit.rule.prepared) if finer is not None else None
            if finer is None:
                self._slot_of[unit.key] = slots.setdefault(prefilter, len(slots))
            else:
                pattern, views = finer
                slot = self._slot_of[unit.key] = slots.setdefault(pattern, len(slots))
                in_views.setdefault(views, {})[pattern] = slot
        self.patterns = PatternSet(list(slots))
        #: per views function: the set of the patterns sought in those views, and each one's slot
        self._views = [(views, PatternSet(list(found)).utf8_matcher(), list(found.values()))
                       for views, found in in_views.items()]
        self.plans: dict[tuple[str | None, frozenset[str]], ScopePlan] = {}
        #: how many results a partial keeps (the rest counted), when no one wants every result; None: all
        self.keep_results: int | None = None
        #: how many case ids a partial lists per scope plan
        self.scope_cap = SCOPE_CASES_CAP
        #: the fields and types (a pyarrow schema) of the last block of lines the columnar lane read whole, which
        #: it tries first on the next block (``lane.Lane``): no inference of them per block
        self.lane_shape: Any = None
        #: units that run on every output of their scope and judge many records in one call
        self._batch_units = [u for u in units if u.key not in self._slot_of and u.key >= 0
                             and getattr(u.check, "batch", None) is not None]

    def hits(self) -> Callable[[bytes], list[int]]:
        """What finds the prefilter slots an output's UTF-8 bytes hit, in slot order (the order its checks run in):
        one ``re2.Set`` match of the text; for a text that is not ASCII, also of its folded views
        (``Check.prefilter_views``; views that cannot be made, or are longer than :data:`PREFILTER_MAX_CHARS`,
        hit every slot of their checks); every slot for a text longer than that."""
        match, views, everything = self.patterns.utf8_matcher(), self._views, list(range(len(self.patterns)))

        def hits(data: bytes) -> list[int]:
            if len(data) > PREFILTER_MAX_CHARS and len(data.decode()) > PREFILTER_MAX_CHARS:
                return everything
            found = match(data)
            if not views or data.isascii():
                if len(found) > 1:
                    found.sort()
                return found
            text, more = data.decode(), set(found)
            for views_of, matches, slots in views:
                try:
                    for view in views_of(text):
                        seen = view.text
                        if len(seen) > PREFILTER_MAX_CHARS:
                            more.update(slots)
                        else:
                            more.update(slots[i] for i in matches(seen.encode()))
                except KeyboardInterrupt:
                    raise
                except BaseException:  # a plugin's views that fail: its checks judge the output, as without them
                    more.update(slots)
            return sorted(more)

        return hits

    def text_hits(self) -> Callable[[str], list[int]]:
        """:meth:`hits` of a text; every slot for a text UTF-8 cannot encode (a lone surrogate: its checks say
        what they make of it)."""
        hits, everything = self.hits(), list(range(len(self.patterns)))

        def text_hits(text: str) -> list[int]:
            try:
                data = text.encode()
            except UnicodeEncodeError:
                return everything
            return hits(data)

        return text_hits

    def plan(self, suite: str | None, tags: frozenset[str]) -> ScopePlan:
        """The units that apply to outputs of a suite with these tags (built once per combination)."""
        key = (suite, tags)
        plan = self.plans.get(key)
        if plan is None:
            subjects = tuple(i for i, s in enumerate(self.subjects) if s.scope.covers(tags, suite))
            needs = self.needs

            def gathered(table: Mapping[int, tuple[Any, ...]]) -> tuple[Any, ...]:
                return tuple(dict.fromkeys(item for s in subjects for item in table.get(s, ())))

            plan = ScopePlan(len(self.plans), subjects, key, numbers=gathered(needs.numbers),
                             groups=gathered(needs.groups), kept=gathered(needs.kept),
                             compare=gathered(needs.compare))
            for unit in self.units:
                if unit.subject in subjects:
                    slot = self._slot_of.get(unit.key)
                    if slot is None:
                        plan.always.append(unit)
                    else:
                        plan.by_slot.setdefault(slot, []).append(unit)
            self.plans[key] = plan
        return plan

    def _batched(self, records: Sequence[OutputRecord]) -> dict[int, Mapping[int, Sequence[Finding]]]:
        """The findings of the checks that run on every output and judge many records in one call, by unit key
        (a unit whose ``batch`` raises is left out: its check is then called record by record)."""
        found: dict[int, Mapping[int, Sequence[Finding]]] = {}
        for unit in self._batch_units:
            try:
                found[unit.key] = unit.check.batch(unit.rule.prepared, records)
            except KeyboardInterrupt:
                raise
            except BaseException:
                continue
        return found

    def scan(self, records: Sequence[OutputRecord], partial: Partial, *, begin: int = 0, end: int | None = None,
             with_cases: bool = True, with_keys: bool = True) -> Partial:
        """Judge ``records[begin:end]`` into ``partial`` (positions from its ``records`` count on)."""
        end = len(records) if end is None else end
        if begin or end != len(records):
            records = records[begin:end]
        plans: dict[tuple[str | None, frozenset[str], tuple[str, ...]], ScopePlan] = {}
        local: dict[int, int] = {}  # scanner plan id -> the partial's plan index
        plan_of = array("i")
        cases, case_units, judge = self.cases, self.case_units, self.judge
        batched = self._batched(records) if self._batch_units else {}
        matches = self.text_hits()
        first = partial.records
        in_plan: dict[int, list[int]] = {}  # the partial's plan index -> positions in this batch
        for index, record in enumerate(records):
            case_id = record.case_id
            case = cases.get(case_id)
            own = record.fields.get("tags")
            key = (case.suite, case.tags, tuple(own) if own else ()) if case is not None else (
                None, _NO_TAGS, tuple(own) if own else ())
            plan = plans.get(key)
            if plan is None:
                plan = plans[key] = self.plan(key[0], key[1] | frozenset(key[2]))
            slot = local.get(plan.id)
            if slot is None:
                slot = local[plan.id] = len(partial.plan_keys)
                partial.plan_keys.append((key[0], key[1] | frozenset(key[2])))
                partial.plan_counts.append(0)
                partial.plan_cases.append({})
                in_plan[slot] = []
            plan_of.append(slot)
            in_plan[slot].append(index)
            units: list[Unit] = plan.always
            if plan.by_slot:
                hits = matches(record.output)
                if hits:
                    extra = [u for hit in hits for u in plan.by_slot.get(hit, ())]
                    if extra:
                        units = units + extra
            if with_cases and case is not None:
                units = units + case_units[case_id]
            if units:
                judge(partial, first + index, record, case_id, record.line, case, units, batched, index)
        self._columns(records, partial, plan_of, in_plan, {p.id: p for p in plans.values()}, local, with_keys)
        self.trim(partial)
        return partial

    def judge(self, partial: Partial, position: int, record: OutputRecord | None, case_id: str, line: int,
              case: EvalCase | None, units: Sequence[Unit], batched: Mapping[int, Mapping[int, Any]],
              index: int) -> None:
        """Run ``units`` on one record into ``partial`` (``batched``: findings already known per unit key, by
        ``index``; ``record`` may be None when every unit's findings are known)."""
        results, failed, waived, errors, inner = (partial.results, partial.failed, partial.waived, partial.errors,
                                                  partial.inner_failed)
        waivers, subjects = self.waivers, self.subjects
        for unit in units:
            found = batched.get(unit.key)
            if found is not None:
                findings: Any = found.get(index)
                if not findings:
                    continue
            else:
                try:
                    findings = unit.check.fn(unit.rule.prepared, record, case)
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # SystemExit from a check's code too: never a pass
                    findings = CheckCrashed(f"{type(exc).__name__}: {exc}")
                else:
                    if type(findings) is not list and type(findings) is not tuple:
                        findings = _unexpected(findings)
                    if not findings:
                        continue
            findings = _plain_findings(findings, unit.mask)
            if not unit.counts:
                inner.setdefault(unit.key, []).append(position)
                if not isinstance(findings, CheckCrashed):
                    continue
            policy = subjects[unit.subject]
            if isinstance(findings, CheckCrashed):
                errors[unit.subject] = errors.get(unit.subject, 0) + 1
                results.append(Result(policy.id, unit.rule.id, case_id, "error",
                                      f"check {unit.rule.check!r} crashed: {findings}", line=line))
                continue
            waiver = waiver_for(waivers, policy.id, unit.rule.id, case_id) if waivers else None
            (waived if waiver else failed).setdefault(unit.subject, []).append(position)
            results.append(Result(policy.id, unit.rule.id, case_id, "waived" if waiver else "fail",
                                  message_of(unit.rule, findings), tuple(findings), line,
                                  waiver.ticket if waiver else None))

    def trim(self, partial: Partial) -> None:
        """Only the first results of a run are listed: count the rest."""
        keep, results = self.keep_results, partial.results
        if keep is not None and len(results) > keep:
            partial.results_dropped += len(results) - keep
            del results[keep:]

    def scope_counts(self, partial: Partial, case_ids: list[str], in_plan: Mapping[int, list[int]]) -> None:
        """Count a batch's records per scope plan (``in_plan``: the partial's plan index -> positions in the
        batch) and list their case ids, up to the cap."""
        for slot, positions in in_plan.items():
            partial.plan_counts[slot] += len(positions)
            scoped = partial.plan_cases[slot]
            cap = self.scope_cap
            if len(scoped) < cap:
                ids = case_ids if len(positions) == len(case_ids) else [case_ids[i] for i in positions]
                if len(scoped) + len(ids) <= cap:
                    scoped.update(dict.fromkeys(ids))
                else:  # the first ones up to the cap; cut when another follows
                    for case_id in ids:
                        if case_id not in scoped:
                            if len(scoped) >= cap:
                                partial.plan_cases_cut = True
                                break
                            scoped[case_id] = None
            elif not partial.plan_cases_cut and any(case_ids[i] not in scoped for i in positions):
                partial.plan_cases_cut = True

    def _columns(self, records: Sequence[OutputRecord], partial: Partial, plan_of: array,
                 in_plan: dict[int, list[int]], plans: Mapping[int, ScopePlan], local: Mapping[int, int],
                 with_keys: bool) -> None:
        """The per-record columns of a batch: plans, lines, case ids and keys, counts, run-level figures."""
        from ..checks.builtin.structured import is_missing, values_at

        read = functools.cache(lambda path: values_at(records, path))  # each path's column once per batch

        plan_at = {slot: plans[plan_id] for plan_id, slot in local.items()}
        case_ids = [record.case_id for record in records]
        self.scope_counts(partial, case_ids, in_plan)
        for name in COUNTED_FIELDS:
            counter = partial.field_counts.setdefault(name, Counter())
            counter.update(value for record in records if type(value := record.fields.get(name)) is str)
        numbers: dict[str, list[float]] = {}
        groups: dict[str, tuple[list[int], dict[str, int]]] = {}
        for slot, positions in in_plan.items():
            plan = plan_at[slot]
            for path in plan.numbers:
                column = numbers.setdefault(path, [np.nan] * len(records))
                values = read(path)
                for i in positions:
                    column[i] = _number(values[i])
            for path in plan.groups:
                codes, labels = groups.setdefault(path, ([-1] * len(records), {}))
                values = read(path)
                for i in positions:
                    value = values[i]
                    codes[i] = -1 if is_missing(value) or value is None else labels.setdefault(str(value), len(labels))
            for rule_position in plan.kept:
                partial.kept.setdefault(rule_position, []).extend(records[i] for i in positions)
            if plan.compare:
                wanted = self.needs.compare_cases
                for i in positions:
                    if case_ids[i] in wanted:
                        for rule_position in plan.compare:
                            partial.outputs.setdefault(rule_position, []).append((case_ids[i], records[i].output))
        lines = array("q", [record.line for record in records])
        self.close(partial, partial.records + len(records), plan_of, lines, case_ids, numbers, groups, with_keys)

    @staticmethod
    def close(partial: Partial, position: int, plan_column: array, lines: array, case_ids: list[str],
               numbers: Mapping[str, Any], groups: Mapping[str, tuple[Any, dict[str, int]]],
               with_keys: bool, keys: np.ndarray | None = None, lengths: np.ndarray | None = None) -> None:
        """Append this batch's columns to the partial's (``keys``: the case keys' hashes, and ``lengths``: the case ids'
        lengths, when known; ``numbers`` and ``groups``' codes: a list or an array per path, at most one item per
        record, -1 / NaN past its end)."""
        added = position - partial.records
        partial.unpack()  # (a partial that came pickled, judged further)

        def grown(old: Any, new: np.ndarray) -> np.ndarray:
            return new if old is None or not len(old) else np.concatenate([old, new])

        partial.plans = grown(partial.plans, np.frombuffer(plan_column, dtype=np.int32).copy()
                              if added else np.zeros(0, np.int32))
        partial.line_numbers = grown(partial.line_numbers, np.frombuffer(lines, dtype=np.int64).copy()
                                     if added else np.zeros(0, np.int64))
        if with_keys:
            if keys is None:
                keys = key_hashes([case_key(c) for c in case_ids])
            partial.keys = grown(partial.keys, keys)
        if lengths is None:
            lengths = np.fromiter((len(c) for c in case_ids), dtype=np.int64, count=len(case_ids))
        ends = np.cumsum(lengths) + len(partial.case_text)
        partial.case_ends = grown(partial.case_ends, ends)
        partial.case_text += "".join(case_ids)
        for path in set(partial.numbers) | set(numbers):
            column = np.asarray(numbers.get(path, ()), dtype=np.float64)
            if len(column) < added:
                column = np.concatenate([column, np.full(added - len(column), np.nan)])
            old = partial.numbers.get(path)
            if old is None:
                old = np.full(partial.records, np.nan)
            partial.numbers[path] = np.concatenate([old, column])
        for path in set(partial.groups) | set(groups):
            codes, labels = groups.get(path, ((), {}))
            new = np.asarray(codes, dtype=np.int32)
            if len(new) < added:
                new = np.concatenate([new, np.full(added - len(new), -1, np.int32)])
            old_codes, old_labels = partial.groups.get(path, (np.full(partial.records, -1, np.int32), []))
            known = {label: i for i, label in enumerate(old_labels)}
            remap = np.array([known.setdefault(label, len(known)) for label in labels] or [0], dtype=np.int32)
            new = np.where(new >= 0, remap[np.maximum(new, 0)], -1).astype(np.int32)
            partial.groups[path] = (np.concatenate([old_codes, new]), list(known))
        partial.records = position


def _number(value: Any) -> float:
    """A record's value as a run-level figure: a JSON number as a float (an integer too large for one is
    infinity); NaN where it is missing or not a number (a boolean, a numeric string)."""
    if type(value) is float:
        return value
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            return np.inf if value > 0 else -np.inf
    return np.nan
