"""What the engine found: results, run-level outcomes, per-policy outcomes. Plain frozen data."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..checks import RunOutcome
from ..model import Finding, Policy


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
    #: the file of the input holding the output, when the input is several files (a directory, a glob)
    file: str | None = None

    def __reduce__(self) -> tuple[type[Result], tuple[Any, ...]]:
        # pickled by its fields (a worker process sends thousands of results): the slots dataclass's own
        # __getstate__ is Python code, several times slower per result
        return Result, _ROW(self)

    def moved(self, lines: int, file: str | None) -> Result:
        """This result with its line ``lines`` further on and in ``file`` (as ``dataclasses.replace``, a few times
        faster: the merger moves every result of a byte range)."""
        return Result(self.policy, self.rule, self.case_id, self.status, self.message, self.findings,
                      None if self.line is None else self.line + lines, self.waiver, file)


_FIELDS = tuple(f.name for f in dataclasses.fields(Result))
#: a result's fields as a tuple, in the order ``Result`` takes them
_ROW = operator.attrgetter(*_FIELDS)
_LINE, _FILE = _FIELDS.index("line"), _FIELDS.index("file")


def result_rows(results: Iterable[Result]) -> list[tuple[Any, ...]]:
    """Each result's fields as a tuple, in the order ``Result`` takes them (they pickle as plain tuples)."""
    return list(map(_ROW, results))


def results_from_rows(rows: Iterable[tuple[Any, ...]], lines: int = 0, file: str | None = None, *,
                      moved: bool = False) -> list[Result]:
    """The results of :func:`result_rows`; with ``moved``, as :meth:`Result.moved` ``(lines, file)`` gives them, each
    made once."""
    if not moved:
        return [Result(*row) for row in rows]
    found = []
    for row in rows:
        fields = list(row)
        if fields[_LINE] is not None:
            fields[_LINE] += lines
        fields[_FILE] = file
        found.append(Result(*fields))
    return found


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
    """How one policy (or eval suite) fared over the run.

    ``checked`` counts the outputs in its scope (plus eval cases with no output);
    ``failed`` the outputs that failed any of its per-output rules, each once;
    ``run_failed`` the run-level rules that failed, which fail the policy whatever ``failed`` says.
    """

    policy: Policy
    status: str  # pass | fail | waived | error
    checked: int
    failed: int
    waived: int
    errors: int
    run_failed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScopeGroup:
    """Outputs judged by the same set of policies: those policies, and the case ids of the outputs."""

    policies: tuple[str, ...]
    cases: tuple[str, ...]


@dataclass(frozen=True)
class InputFacts:
    """What a report says of the outputs judged: where, their sha256, how many records, repeated case ids,
    and how many records named each model and version."""

    path: str
    sha256: str
    records: int
    repeated_ids: int = 0
    repeated_records: int = 0
    field_counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def most_common(self, name: str) -> str | None:
        """The most frequent value of a counted field (``model``, ``model_version``); ties: the first seen."""
        counts = self.field_counts.get(name) or {}
        return max(counts, key=counts.__getitem__) if counts else None

    def values(self, name: str) -> set[str]:
        return set(self.field_counts.get(name) or {})


@dataclass(frozen=True)
class Evaluation:
    """Everything the engine found; the gate and the report read it, nothing changes it."""

    outcomes: tuple[PolicyOutcome, ...]
    results: tuple[Result, ...]
    aggregates: tuple[Aggregate, ...]
    records: int
    baseline_records: int | None = None
    warnings: tuple[str, ...] = ()
    #: which cases each policy checked, grouped so that every case id is listed once per group
    scopes: tuple[ScopeGroup, ...] = ()
    #: every result found, when ``results`` keeps only the first of them (``--max-results``)
    results_total: int | None = None
    facts: InputFacts | None = None

    @property
    def results_cut(self) -> bool:
        """Whether results were left out (they are counted in ``results_total``)."""
        return self.results_total is not None and self.results_total > len(self.results)

    def cases_in_scope(self, policy_id: str) -> list[str]:
        """Case ids of the outputs a policy checked, in order of first appearance."""
        cases: dict[str, None] = {}
        for group in self.scopes:
            if policy_id in group.policies:
                cases.update(dict.fromkeys(group.cases))
        return list(cases)
