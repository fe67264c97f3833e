"""The evaluation: every rule in scope over every output, then the run-level rules, then per-policy outcomes.

The input is judged in pieces (a partition of the input, a chunk of records in memory), each
into a :class:`~harness.evaluation.partial.Partial`; a :class:`Merger` folds them in input
order as they arrive and keeps what the report needs: the first ``max_results`` results (all of
them go to ``sink`` when one is given), exact counts, and a few small columns per record for
the run-level rules. So memory grows with the failures kept, not with the records.

An exception inside a check is an ``error`` result, which fails its policy (the gate
fails closed). Waivers turn failures of the rules they cover into ``waived`` results.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..clock import SYSTEM_CLOCK
from ..errors import InputError, InputErrors, Location
from ..model import OutputRecord, Outputs, Policy
from ..model.policy import mask_mode
from ..model.waiver import parse_date
from ..project import Project
from ..text.mask import mask_text
from .partial import SCOPE_CASES_CAP, Partial, PlanKey, pack_text, unpack_text
from .results import Aggregate, Evaluation, InputFacts, PolicyOutcome, Result, ScopeGroup
from .run_level import RunRule, in_scope, judge_run_rule
from .scanner import COUNTED_FIELDS, RunNeeds, Scanner, Unit, waiver_for

Progress = Callable[[int, int], None]
#: how many unmatched case ids a warning names
SHOW_IDS = 5
#: how many repeated case ids an error lists before it says how many more there are
SHOW_REPEATS = 20
#: how many results an evaluation keeps by default (every one of them goes to a ``sink`` when given)
MAX_RESULTS = 100_000
ResultSink = Callable[[Result], None]


class _CaseUnits(Mapping[str, list[Unit]]):
    """The units of each eval case's own rules, built the first time a record of the case is judged."""

    def __init__(self, project: Project, first_suite: int) -> None:
        self.cases = project.cases
        # a suite with a pii rule is private (its other rules' findings masked in full); the checks its cases run
        # are known without building every case's rules
        self.suites = {suite.suite: (first_suite + i, "pii" in suite.checks())
                       for i, suite in enumerate(project.suites)}
        self.built: dict[str, list[Unit]] = {}

    def __getitem__(self, case_id: str) -> list[Unit]:
        units = self.built.get(case_id)
        if units is None:
            case = self.cases[case_id]
            suite = self.suites.get(case.suite)  # None: its suite was not selected
            units = self.built[case_id] = [] if suite is None else [
                Unit(suite[0], rule, rule.impl, True, -1, mask_mode(rule, private=suite[1])) for rule in case.expect]
        return units

    def __contains__(self, case_id: object) -> bool:
        return case_id in self.cases

    def __iter__(self) -> Any:
        return iter(self.cases)

    def __len__(self) -> int:
        return len(self.cases)


@dataclass
class Judging:
    """Everything a pass over the outputs needs, prepared once: the subjects, the units, the scanner."""

    project: Project
    subjects: list[Policy]
    run_rules: list[RunRule]
    scanner: Scanner
    waivers: list[Any]
    warnings: list[str]
    baseline: Outputs | None = None
    baseline_partial: Partial | None = None
    baseline_scanner: Scanner | None = None

    def scan(self, records: Sequence[OutputRecord], begin: int = 0, end: int | None = None, *,
             part: int = 0) -> Partial:
        """Judge ``records[begin:end]`` into a new partial."""
        return self.scanner.scan(records, Partial(part=part), begin=begin, end=end)


def prepare(project: Project, baseline: Outputs | None = None, *, today: dt.date | str | None = None) -> Judging:
    """The subjects (active and draft policies, then eval suites), their units and the waivers in force."""
    if isinstance(today, str):
        today = parse_date(today)
    today = today or SYSTEM_CLOCK.today()
    waivers = [w for w in project.waivers if w.in_force(today)]
    warnings = [f"waiver for {w.policy} (ticket {w.ticket}) {w.lapse(today)} and was not applied"
                for w in project.waivers if not w.in_force(today)]
    subjects = [p for p in project.policies if p.status != "deprecated"]
    subjects += [suite.as_policy() for suite in project.suites]
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
    compare_cases = _compare_cases(baseline, run_rules)
    needs = _needs(run_rules, compare_cases)
    case_units = _CaseUnits(project, len(subjects) - len(project.suites))
    scanner = Scanner(subjects, units, project.cases, case_units, waivers, needs)
    judging = Judging(project, subjects, run_rules, scanner, waivers, warnings, baseline)
    if baseline is not None and any(rule.check == "baseline" for _, rule, _ in run_rules):
        inner_units = [u for _, rule, u in run_rules if rule.check == "baseline" and u is not None]
        judging.baseline_scanner = Scanner(subjects, inner_units, project.cases, {}, (), None)
        judging.baseline_partial = judging.baseline_scanner.scan(baseline.records, Partial(), with_cases=False)
    return judging


def _compare_cases(baseline: Outputs | None, run_rules: Sequence[RunRule]) -> frozenset[str]:
    """The case ids of the baseline whose outputs a ``compare: json`` rule may compare with."""
    if baseline is None or not any(rule.check == "baseline" and rule.prepared.get("compare") == "json"
                                   for _, rule, _ in run_rules):
        return frozenset()
    return frozenset(record.case_id for record in baseline.records)


def _needs(run_rules: Sequence[RunRule], compare_cases: frozenset[str]) -> RunNeeds:
    from .columns import columnar

    numbers: dict[int, list[str]] = {}
    groups: dict[int, list[str]] = {}
    kept: dict[int, list[int]] = {}
    compare: dict[int, list[int]] = {}
    for position, (subject, rule, _) in enumerate(run_rules):
        options = rule.prepared
        if columnar(rule.impl, options):
            if rule.check == "quantile":
                numbers.setdefault(subject, []).append(options.get("field", "latency_ms"))
            elif rule.check == "disparity":
                groups.setdefault(subject, []).append(options["by"])
        elif rule.check == "baseline" and rule.impl.name == "baseline" and options.get("compare") == "json":
            compare.setdefault(subject, []).append(position)
        else:
            kept.setdefault(subject, []).append(position)

    def frozen(table: Mapping[int, list[Any]]) -> dict[int, tuple[Any, ...]]:
        return {key: tuple(dict.fromkeys(items)) for key, items in table.items()}

    return RunNeeds(frozen(numbers), frozen(groups), frozen(kept), frozen(compare), compare_cases)


class Merger:
    """Folds partials, in input order, into one evaluation; keeps the first ``max_results`` results."""

    def __init__(self, judging: Judging, *, max_results: int | None = MAX_RESULTS, sink: ResultSink | None = None,
                 files: Sequence[str] | None = None, scope_cap: int = SCOPE_CASES_CAP) -> None:
        self.judging = judging
        self.scope_cap = judging.scanner.scope_cap = scope_cap
        self.max_results, self.sink = max_results, sink
        # without a sink, a piece need not keep more results than the run lists
        judging.scanner.keep_results = max_results if sink is None else None
        self.files = list(files) if files is not None and len(files) > 1 else None
        self.records = 0
        self.results: list[Result] = []
        self.results_total = 0
        self.failed: dict[int, list[np.ndarray]] = {}
        self.waived: dict[int, list[np.ndarray]] = {}
        self.errors: Counter[int] = Counter()
        self.inner: dict[int, list[np.ndarray]] = {}
        self.plan_ids: dict[PlanKey, int] = {}
        self.plan_counts: list[int] = []
        self.plan_cases: list[dict[str, None]] = []
        self.cases_cut = False
        self.columns: dict[str, list[np.ndarray]] = {"plans": [], "keys": [], "lines": []}
        self.numbers: dict[str, list[np.ndarray]] = {}
        self.group_labels: dict[str, dict[str, int]] = {}
        self.groups: dict[str, list[np.ndarray]] = {}
        self.kept: dict[int, list[OutputRecord]] = {}
        self.outputs: dict[int, list[tuple[str, str]]] = {}
        self.field_counts: dict[str, Counter[str]] = {name: Counter() for name in COUNTED_FIELDS}
        self.lines_seen: dict[int, int] = {}  # per file: lines of its byte ranges merged so far
        self.names: list[tuple[int, _Names]] = []  # (first position, case ids) to find a record's case id
        self._starts: list[int] = []
        self.sha256: dict[int, str] = {}
        #: once merged: whether every record has a case key of its own (no subset of them repeats one then)
        self.distinct = False

    def add(self, partial: Partial) -> None:
        base = self.records
        shift = self.lines_seen.get(partial.part, 0) if partial.relative_lines else 0
        self.lines_seen[partial.part] = self.lines_seen.get(partial.part, 0) + partial.lines
        if partial.sha256 is not None:
            self.sha256[partial.part] = partial.sha256
        file = self.files[partial.part] if self.files is not None else None
        for result in partial.all_results(shift, file):
            self._result(result)
        for found, into in ((partial.failed, self.failed), (partial.waived, self.waived),
                            (partial.inner_failed, self.inner)):
            for subject, positions in found.items():
                into.setdefault(subject, []).append(np.asarray(positions, dtype=np.int64) + base)
        self.results_total += partial.results_dropped
        self.errors.update(partial.errors)
        remap = np.zeros(max(len(partial.plan_keys), 1), dtype=np.int32)
        for local, key in enumerate(partial.plan_keys):
            plan_id = self.plan_ids.get(key)
            if plan_id is None:
                plan_id = self.plan_ids[key] = len(self.plan_counts)
                self.plan_counts.append(0)
                self.plan_cases.append({})
            remap[local] = plan_id
            self.plan_counts[plan_id] += partial.plan_counts[local]
            cases = self.plan_cases[plan_id]
            for case_id in partial.plan_cases[local]:
                if len(cases) >= self.scope_cap:
                    self.cases_cut = True
                    break
                cases[case_id] = None
        self.cases_cut |= partial.plan_cases_cut
        if partial.records:
            self.columns["plans"].append(remap[partial.plans].astype(np.int16 if len(remap) < 2**15 else np.int32))
            self.columns["keys"].append(partial.keys)
            lines = partial.line_numbers + shift
            self.columns["lines"].append(lines.astype(np.int32) if lines[-1] < 2**31 else lines)
        for path in set(self.numbers) | set(partial.numbers):
            column = partial.numbers.get(path)
            if path not in self.numbers:  # a path first seen now: NaN for the records before
                self.numbers[path] = [np.full(base, np.nan)] if base else []
            self.numbers[path].append(column if column is not None else np.full(partial.records, np.nan))
        for path in set(self.groups) | set(partial.groups):
            codes, labels = partial.groups.get(path, (np.full(partial.records, -1, np.int32), []))
            known = self.group_labels.setdefault(path, {})
            recode = np.array([known.setdefault(label, len(known)) for label in labels] or [0], dtype=np.int32)
            if path not in self.groups:  # -1 (missing) for the records before
                self.groups[path] = [np.full(base, -1, np.int32)] if base else []
            self.groups[path].append(np.where(codes >= 0, recode[np.maximum(codes, 0)], -1).astype(np.int32))
        for position, records in partial.kept.items():
            self.kept.setdefault(position, []).extend(
                [record._replace(line=record.line + shift) for record in records] if shift else records)
        for position, outputs in partial.outputs.items():
            self.outputs.setdefault(position, []).extend(outputs)
        for name, counts in partial.field_counts.items():
            self.field_counts.setdefault(name, Counter()).update(counts)
        if partial.records:
            packed = partial.case_packed if partial.case_packed is not None else pack_text(partial.case_text)
            self.names.append((base, _Names(packed, partial.case_ends, partial.part)))
            partial.case_text, partial.case_packed, partial.case_ends = "", None, None
        self.records += partial.records

    def _result(self, result: Result) -> None:
        self.results_total += 1
        if self.sink is not None:
            self.sink(result)
        if self.max_results is None or len(self.results) < self.max_results:
            self.results.append(result)

    def case_id(self, position: int) -> str:
        """The case id of the record at a position of the whole input."""
        base, names = self._names_at(position)
        return names(position - base)

    def where(self, position: int, line: int) -> str:
        """A record's line as a message names it: ``line N``, or ``FILE:N`` when the input is several files."""
        if self.files is None:
            return f"line {line}"
        _, names = self._names_at(position)
        return f"{self.files[names.part]}:{line}"

    def _names_at(self, position: int) -> tuple[int, _Names]:
        import bisect

        if len(self._starts) != len(self.names):
            self._starts = [base for base, _ in self.names]
        return self.names[bisect.bisect_right(self._starts, position) - 1]

    def column(self, name: str) -> np.ndarray:
        """A per-record column of the whole input, its pieces joined once (and let go)."""
        return _joined(self.columns, name, {"plans": np.int32, "keys": np.uint64, "lines": np.int64}[name])

    def numbers_of(self, path: str) -> np.ndarray:
        """The figures of a field path (NaN: missing or not a number), for every record."""
        return _joined(self.numbers, path, np.float64)

    def groups_of(self, path: str) -> tuple[np.ndarray, list[str]]:
        """The group codes of a field path (-1: missing) for every record, and the groups' names."""
        return _joined(self.groups, path, np.int32), list(self.group_labels.get(path, {}))


def _joined(table: dict[str, list[np.ndarray]], name: str, dtype: Any) -> np.ndarray:
    parts = table.get(name) or []
    if len(parts) != 1:
        parts[:] = [np.concatenate(parts) if parts else np.zeros(0, dtype)]
        table[name] = parts
    return parts[0]


class _Names:
    """The case ids of one partial's records, by position: kept compressed (ids repeat a prefix and a counter,
    so a few bytes each), read back only to name a record in a message."""

    __slots__ = ("ends", "part", "text")
    _last: tuple[_Names, str] | None = None  # the text last read back (one partial's at a time)

    def __init__(self, packed: bytes, ends: np.ndarray, part: int = 0) -> None:
        """``packed``: the ids, one after the other, as :func:`~.partial.pack_text` compressed them; ``ends``: where
        each one ends in that text."""
        self.text = packed
        self.ends = ends.astype(np.uint32) if not len(ends) or int(ends[-1]) < 2**32 else ends
        self.part = part

    def __call__(self, position: int) -> str:
        last = _Names._last
        if last is None or last[0] is not self:
            last = _Names._last = (self, unpack_text(self.text))
        start = int(self.ends[position - 1]) if position else 0
        return last[1][start:int(self.ends[position])]


def evaluate(project: Project, outputs: Outputs, baseline: Outputs | None = None, *,
             today: dt.date | str | None = None, progress: Progress | None = None,
             require_all_cases: bool = True, workers: int | None = 1,
             allow_repeats: bool | None = None, allow_unmatched: bool | None = None,
             max_results: int | None = None, sink: ResultSink | None = None) -> Evaluation:
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
    ``max_results`` (default: all) caps the results kept; ``sink`` receives every result, in order.
    """
    from .executors import executor_for

    if not (allow_repeats if allow_repeats is not None else not require_all_cases):
        for judged in (outputs, baseline):
            if judged is not None:
                _refuse_repeats(judged)
    if project.cases and not (allow_unmatched if allow_unmatched is not None else not require_all_cases):
        for judged in (outputs, baseline):
            if judged is not None:
                _refuse_unmatched(judged, project.cases)
    judging = prepare(project, baseline, today=today)
    merger = Merger(judging, max_results=max_results, sink=sink)
    total = len(outputs.records)
    executor_for(workers).judge_records(judging, outputs.records, merger.add,
                                        (lambda done: progress(done, total)) if progress else None)
    if progress:
        progress(total, total)
    return finish(merger, InputFacts(outputs.path, outputs.sha256, total),
                  seen=[record.case_id for record in outputs.records] if require_all_cases else None,
                  require_all_cases=require_all_cases)


def finish(merger: Merger, facts: InputFacts, *, seen: Sequence[str] | None = None,
           require_all_cases: bool = False) -> Evaluation:
    """The evaluation of everything merged: per-policy outcomes, run-level rules, warnings.

    ``seen``: every case id of the outputs, in order (the gate's missing and unmatched cases need them).
    """
    judging, project, subjects = merger.judging, merger.judging.project, merger.judging.subjects
    plans = merger.column("plans")
    keys = merger.column("keys")
    lines = merger.column("lines")
    plan_subjects = {plan_id: judging.scanner.plan(*key).subjects for key, plan_id in merger.plan_ids.items()}
    checked = [0] * len(subjects)
    for plan_id, count in enumerate(merger.plan_counts):
        for subject in plan_subjects[plan_id]:
            checked[subject] += count
    failed = {s: np.unique(np.concatenate(parts)) for s, parts in merger.failed.items()}
    waived = {s: np.unique(np.concatenate(parts)) for s, parts in merger.waived.items()}
    inner = {k: np.unique(np.concatenate(parts)) for k, parts in merger.inner.items()}
    repeats = _Repeats(keys, lines, merger)
    merger.distinct = not repeats.records

    # cases of eval suites with no output at all
    suite_index = {s.suite: len(subjects) - len(project.suites) + i for i, s in enumerate(project.suites)}
    seen_cases = set(seen) if seen is not None else set()
    missing = [0] * len(subjects)
    missing_cases: dict[str, list[str]] = {}
    for suite in project.suites if require_all_cases else ():
        index = suite_index[suite.suite]
        for case in suite.cases:
            if case.id not in seen_cases:
                waiver = waiver_for(judging.waivers, suite.policy_id, "output", case.id)
                missing[index] += 0 if waiver else 1
                missing_cases.setdefault(suite.policy_id, []).append(case.id)
                merger._result(Result(suite.policy_id, "output", case.id, "waived" if waiver else "fail",
                                      "missing output: no record has this case_id",
                                      waiver=waiver.ticket if waiver else None))

    aggregates = []
    for position, run_rule in enumerate(judging.run_rules):
        aggregate, results = judge_run_rule(judging, merger, position, run_rule, plans, keys, plan_subjects, inner)
        aggregates.append(aggregate)
        for result in results:
            merger._result(result)
    per_case = _per_case_counts(keys, plans, subjects, failed, plan_subjects) if repeats.records else None
    outcomes = []
    for index, policy in enumerate(subjects):
        fails = failed.get(index, np.zeros(0, np.int64))
        waived_only = np.setdiff1d(waived.get(index, np.zeros(0, np.int64)), fails)
        outcomes.append(_outcome(policy, aggregates, checked[index] + missing[index], len(fails) + missing[index],
                                 len(waived_only), merger.errors.get(index, 0),
                                 None if per_case is None else (per_case[index][0] + missing[index],
                                                                per_case[index][1] + missing[index])))
    warnings = list(judging.warnings)
    for outcome in outcomes:
        if outcome.checked == 0 and (require_all_cases or outcome.policy.kind == "policy"):
            warnings.append(f"{outcome.policy.id} applied to no outputs (check its applies_to)")
    if project.cases and require_all_cases and seen is not None:
        unmatched = [case for case in dict.fromkeys(seen) if case not in project.cases]
        if unmatched:
            shown = ", ".join(unmatched[:SHOW_IDS]) + (f" and {len(unmatched) - SHOW_IDS} more"
                                                        if len(unmatched) > SHOW_IDS else "")
            warnings.append(f"{len(unmatched)} case id(s) in the outputs match no eval case: {shown}")
    warnings += repeats.warnings("outputs")
    if judging.baseline is not None:
        warnings += _repeat_warnings(judging.baseline, "baseline")
    if merger.max_results is not None and merger.results_total > len(merger.results):
        warnings.append(f"{merger.results_total} results, the first {len(merger.results)} kept in the report"
                        " (every one of them is in the results file when one is written)")
    if merger.cases_cut:
        warnings.append(f"scopes list at most {merger.scope_cap} case ids per group of policies: the report's"
                        " scopes (and JUnit's test cases) are cut there; results and counts are complete")
    scopes = [ScopeGroup(tuple(subjects[i].id for i in plan_subjects[plan_id]), tuple(merger.plan_cases[plan_id]))
              for plan_id in sorted(plan_subjects)]
    scopes += [ScopeGroup((policy_id,), tuple(cases)) for policy_id, cases in missing_cases.items()]
    facts = dataclasses.replace(facts, records=merger.records, repeated_ids=repeats.ids,
                                repeated_records=repeats.records,
                                field_counts={k: dict(v) for k, v in merger.field_counts.items()})
    return Evaluation(tuple(outcomes), tuple(merger.results), tuple(aggregates), merger.records,
                      len(judging.baseline.records) if judging.baseline else None, tuple(warnings), tuple(scopes),
                      merger.results_total, facts)


class _Repeats:
    """Case ids on more than one record, from the key and line columns: counts and the first repeat."""

    def __init__(self, keys: np.ndarray, lines: np.ndarray, merger: Merger) -> None:
        self.records = self.ids = 0
        self.first: tuple[str, str, str] | None = None
        if not len(keys):
            return
        ordered = np.sort(keys)  # a vectorised sort: ten times faster than unique's, which needs the first of each
        if not (ordered[1:] == ordered[:-1]).any():
            return  # every key once: the usual log
        unique, first, counts = np.unique(keys, return_index=True, return_counts=True)
        self.records = len(keys) - len(unique)
        if not self.records:
            return
        self.ids = int((counts > 1).sum())
        is_first = np.zeros(len(keys), dtype=bool)
        is_first[first] = True
        position = int(np.argmin(is_first))  # the first record whose key came before
        original = int(first[np.searchsorted(unique, keys[position])])
        self.first = (merger.case_id(position), merger.where(original, int(lines[original])),
                      merger.where(position, int(lines[position])))

    def warnings(self, what: str) -> list[str]:
        """What a report says of repeated case ids, where they are allowed (production logs)."""
        if self.first is None:
            return []
        case_id, first_line, line = self.first
        where = (f"lines {first_line[5:]} and {line[5:]}" if first_line.startswith("line ") else
                 f"{first_line} and {line}")
        return [_repeat_message(what, self.ids, self.records, case_id, where)]


def _repeat_warnings(outputs: Outputs, what: str) -> list[str]:
    """What a report says of repeated case ids of outputs in memory (the baseline)."""
    repeats = outputs.repeats()
    if not repeats:
        return []
    first = repeats[0]
    return [_repeat_message(what, outputs.repeated_ids, len(repeats), first.case_id,
                            f"lines {first.first_line} and {first.line}")]


def _repeat_message(what: str, ids: int, records: int, case_id: str, where: str) -> str:
    return (f"{ids} case id(s) of the {what} are on more than one record ({records} repeated record(s); {case_id}"
            f" on {where}): run-level rules judged each case id once, failing it when any of its records failed")


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


def _per_case_counts(keys: np.ndarray, plans: np.ndarray, subjects: Sequence[Policy],
                     failed: Mapping[int, np.ndarray], plan_subjects: Mapping[int, tuple[int, ...]]
                     ) -> list[tuple[int, int]]:
    """Per subject: (cases failing any per-output rule, cases checked), each case once (``case_key``)."""
    counts = []
    for index in range(len(subjects)):
        scope = in_scope(plans, plan_subjects, index)
        fails = failed.get(index, np.zeros(0, np.int64))
        counts.append((len(np.unique(keys[fails])), len(np.unique(keys[scope]))))
    return counts


def _exceeded(policy: Policy, n_failed: int, checked: int, per_case: tuple[int, int] | None) -> bool:
    """Whether failures exceed ``max_failures``; a fraction is taken over case ids when ids repeat (no dilution)."""
    if per_case is not None and policy.max_failures.fraction is not None:
        return policy.max_failures.exceeded(*per_case)
    return policy.max_failures.exceeded(n_failed, checked)


def _outcome(policy: Policy, aggregates: Sequence[Aggregate], checked: int, n_failed: int,
             n_waived_outputs: int, n_errors: int, per_case: tuple[int, int] | None = None) -> PolicyOutcome:
    own = [a for a in aggregates if a.policy == policy.id]
    n_waived = n_waived_outputs + sum(a.status == "waived" for a in own)
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


__all__ = ["MAX_RESULTS", "Judging", "Merger", "evaluate", "finish", "prepare"]
