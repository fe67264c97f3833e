"""Building the report of a run from what the engine found and the gate decided.

Personal data is masked here, once, in every message, detail and key, case id and model
name, so that no renderer can show it: a ``disparity`` grouped by e-mail address reports masked groups,
each group still its own entry when two addresses mask alike.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..errors import InputError
from ..evaluation import Evaluation, InputFacts, Result
from ..gate import Decision
from ..model import Outputs, Policy, Source
from ..outputs import paused_gc
from ..project import Project
from ..text.mask import mask_data, mask_many, mask_text
from .model import (
    REPORT_VERSION,
    AggregateReport,
    FileRef,
    OutputsFile,
    PolicyFile,
    PolicyReport,
    Report,
    ResultReport,
    RuleReport,
    RunInfo,
    ScopeReport,
    SelectionReport,
    Summary,
    freeze,
    make_finding_report,
    make_result_report,
)

if TYPE_CHECKING:
    from ..project.selection import Selection


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return round(number, 6) if math.isfinite(number) else None


def _plain(value: Any) -> Any:
    """Details as strict JSON data (numpy numbers become Python numbers; non-finite numbers become null)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


def _masked_name(name: str | None) -> str | None:
    return None if name is None else mask_text(name)


def _file(outputs: Outputs | InputFacts) -> OutputsFile:
    """What the report says of an outputs file, repeated case ids included."""
    if isinstance(outputs, InputFacts):
        return OutputsFile(outputs.path, outputs.sha256, outputs.records, outputs.repeated_ids,
                           outputs.repeated_records)
    return OutputsFile(outputs.path, outputs.sha256, len(outputs), outputs.repeated_ids, len(outputs.repeats()))


#: messages repeat across results (a rule's message, a finding's wording): each is masked once
_masked = functools.lru_cache(maxsize=16_384)(mask_text)


def result_report(result: Result, line: int | None = None, case_id: str | None = None,
                  source_file: str | None = None) -> ResultReport:
    """One result as the report lists it: case id, message and findings masked; ``line``: the rule's (or the
    case's) line in its policy or suite file (or in ``source_file``: a suite's cases file); ``case_id``: the
    case id already masked."""
    return make_result_report(
        mask_text(result.case_id) if case_id is None else case_id, result.policy, result.rule, result.status,
        _masked(result.message), result.line, result.waiver,
        tuple([make_finding_report(f.kind, f.start, f.end, _masked(f.masked) if f.masked else f.masked)
               for f in result.findings]), line, result.file, source_file if line is not None else None)


def _result_reports(project: Project, results: Sequence[Result],
                    lines: tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]) -> tuple[ResultReport, ...]:
    """Every result as :func:`result_report` gives it, with its line as :func:`_where` finds it.

    A report lists up to a million results: the case ids are masked together (``mask_many``), and the records
    are made with the collector paused (``paused_gc(lasting=True)``).
    """
    where = _where(project, lines)
    reports = []
    with paused_gc(lasting=True):
        for result, shown_id in zip(results, mask_many([r.case_id for r in results]), strict=True):
            line, source_file = where(result)
            reports.append(result_report(result, line, shown_id, source_file))
    return tuple(reports)


def result_reporter(project: Project) -> Callable[[Result], ResultReport]:
    """A function giving each result as the report lists it, with the line of its rule (or case) in its file."""
    where = _where(project, source_lines(project))

    def report(result: Result) -> ResultReport:
        line, source_file = where(result)
        return result_report(result, line, source_file=source_file)

    return report


def _where(project: Project, lines: tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]
           ) -> Callable[[Result], tuple[int | None, str | None]]:
    """Where a result's rule (or case) is (``lines``: :func:`source_lines`): its line, and the file when that is
    a suite's cases file."""
    rule_lines, case_lines = lines
    suites = {s.policy_id for s in project.suites}
    cases_files = {s.policy_id: s.cases_path for s in project.suites if s.cases_path is not None}

    def where(result: Result) -> tuple[int | None, str | None]:
        if result.policy in suites:
            return case_lines.get((result.policy, result.case_id)), cases_files.get(result.policy)
        return rule_lines.get((result.policy, result.rule)), None

    return where


def run_id(kind: str, started_at: str, outputs: Outputs | InputFacts, baseline: Outputs | None,
           sources: list[Source]) -> str:
    """A run id derived from what was judged and when: the same inputs at the same time give the same id."""
    digest = hashlib.sha256()
    for part in (kind, started_at, outputs.path, outputs.sha256, baseline.sha256 if baseline else "",
                 *(f"{s.path}={s.sha256}" for s in sources)):
        digest.update(part.encode("utf-8") + b"\0")
    return digest.hexdigest()[:32]


def _positions(source: Source) -> dict[str, int] | None:
    """The line of every JSON path of a policy or suite file, read again; ``None`` when the file changed since."""
    from ..io.yaml import json_path, load_yaml

    try:
        document = load_yaml(source.path)
    except (InputError, OSError):
        return None
    if document.sha256 != source.sha256:  # not the bytes judged with: no line is better than a wrong one
        return None
    return {json_path(parts): line for parts, (line, _) in document.positions.items()}


def source_lines(project: Project) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """Where each rule starts in its policy file, and each eval case in its suite file (1-based lines).

    ``(policy id, rule id) -> line`` and ``(suite's report id, case id) -> line``; what cannot be located is
    left out. Annotations (``--format github``, ``sarif``) point there.
    """
    rules: dict[tuple[str, str], int] = {}
    cases: dict[tuple[str, str], int] = {}
    for policy in project.policies:
        lines = _positions(policy.source) or {}
        rules.update(((policy.id, r.id), lines[r.json_path]) for r in policy.rules if r.json_path in lines)
    for suite in project.suites:
        if suite.cases_path is not None:  # the lines of its cases file, as read when the suite was loaded
            cases.update(((suite.policy_id, case.id), line) for case, line in zip(suite.cases, suite.case_lines,
                                                                                 strict=False))
            continue
        lines = _positions(suite.source) or {}
        cases.update(((suite.policy_id, case.id), lines[f"$.cases[{i}]"]) for i, case in enumerate(suite.cases)
                     if f"$.cases[{i}]" in lines)
    return rules, cases


def _rules(policy: Policy, lines: Mapping[tuple[str, str], int]) -> tuple[RuleReport, ...]:
    return tuple(RuleReport(r.id, r.check, lines.get((policy.id, r.id)), r.message) for r in policy.rules)


def build_report(project: Project, outputs: Outputs | InputFacts, evaluation: Evaluation, decision: Decision, *,
                 kind: str, started_at: str, finished_at: str, judged_on: dt.date, model: str | None = None,
                 model_version: str | None = None, baseline: Outputs | None = None, backdated: bool = False,
                 selection: Selection | None = None, warnings: Sequence[str] = (),
                 results_file: str | None = None) -> Report:
    """The report of one run; ``model`` and ``model_version`` default to the most common in the outputs.

    ``selection``: only the selected policies and suites ran; ``warnings`` are said besides the engine's own;
    ``results_file``: where every result was written (when the report lists only the first of them).
    """
    if evaluation.facts is not None:
        outputs = dataclasses.replace(evaluation.facts, path=outputs.path, sha256=outputs.sha256)
    playbook = project.playbook.source
    sources = [src for _, _, src in project.sources] + ([playbook] if playbook else [])
    run = RunInfo(
        id=run_id(kind, started_at, outputs, baseline, sources), kind=kind, started_at=started_at,
        finished_at=finished_at, judged_on=judged_on.isoformat(),
        model=_masked_name(model or outputs.most_common("model")),
        model_version=_masked_name(model_version or outputs.most_common("model_version")),
        outputs=_file(outputs), baseline=None if baseline is None else _file(baseline),
        playbook=None if playbook is None else FileRef(playbook.path, playbook.sha256),
        policies=tuple(PolicyFile(pid, version, src.sha256, src.path) for pid, version, src in project.sources),
        backdated=backdated,
        selection=None if selection is None else SelectionReport(selection.select, selection.deselect,
                                                                 selection.policies, selection.suites),
    )
    outcomes = evaluation.outcomes
    lines = source_lines(project)
    rule_lines = lines[0]
    return Report(
        report_version=REPORT_VERSION,
        harness_version=__version__,
        run=run,
        verdict=decision.verdict,
        reasons=decision.reasons,
        summary=Summary(policies=len(outcomes), passed=sum(o.status == "pass" for o in outcomes),
                        failed=sum(o.status == "fail" for o in outcomes),
                        waived=sum(o.status == "waived" for o in outcomes),
                        errors=sum(o.status == "error" for o in outcomes),
                        results=evaluation.results_total if evaluation.results_total is not None
                        else len(evaluation.results),
                        results_listed=len(evaluation.results), results_file=results_file),
        policies=tuple(
            PolicyReport(o.policy.id, o.policy.version, o.policy.title, o.policy.kind, o.policy.severity,
                         o.policy.on_fail.value, o.policy.status, o.status, o.checked, o.failed, o.waived,
                         o.errors, o.run_failed, _rules(o.policy, rule_lines))
            for o in outcomes),
        results=_result_reports(project, evaluation.results, lines),
        aggregates=tuple(
            AggregateReport(a.policy, a.rule, a.check, a.status, mask_text(a.outcome.message),
                            _number(a.outcome.value), _number(a.outcome.threshold),
                            freeze(mask_data(_plain(a.outcome.details))),
                            tuple(mask_many([case for case, _ in a.outcome.flipped])),
                            a.waiver, rule_lines.get((a.policy, a.rule)))
            for a in evaluation.aggregates),
        warnings=tuple(mask_text(w) for w in (*evaluation.warnings, *warnings)),
        scopes=tuple(ScopeReport(g.policies, tuple(mask_many(g.cases))) for g in evaluation.scopes),
    )
