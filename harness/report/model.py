"""The report: a typed, versioned, frozen record of one gate or scan, and its JSON form.

``Report.to_json()`` writes exactly ``harness/schemas/report.schema.json``;
``Report.from_json()`` reads it back into an equal report. Every renderer reads a
``Report`` and nothing else, so a report fetched from the audit store renders the same
as the one the gate produced. The JSON text is deterministic: the same inputs and the
same clock give the same bytes, whose sha256 the registry and the decision log record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import math
import operator
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import InputError
from ..model import Verdict

#: the version of the report's JSON form; a reader refuses versions it does not know
REPORT_VERSION = 1



@dataclass(frozen=True, slots=True)
class FileRef:
    """A file the run read: where, and its sha256."""

    path: str
    sha256: str


@dataclass(frozen=True, slots=True)
class OutputsFile:
    """An outputs file the run read: where, its sha256, how many records it held, and how many repeated a case id.

    ``duplicate_case_ids`` case ids were on more than one record, and ``duplicate_records``
    records repeated a case id an earlier record had (a scan allows them, a gate refuses them).
    """

    path: str
    sha256: str
    records: int
    duplicate_case_ids: int = 0
    duplicate_records: int = 0

    def duplicates(self) -> str:
        """The repeats in words for a summary line ("3 case id(s) repeated on 5 more record(s)"), or ""."""
        if not self.duplicate_records:
            return ""
        return f"{self.duplicate_case_ids} case id(s) repeated on {self.duplicate_records} more record(s)"


@dataclass(frozen=True, slots=True)
class PolicyFile:
    id: str
    version: str
    sha256: str
    path: str


@dataclass(frozen=True, slots=True)
class SelectionReport:
    """A partial run (``--select``, ``--deselect``): the patterns given, and the policies and eval suites run.

    A partial gate never promotes: what it did not run could fail.
    """

    select: tuple[str, ...]
    deselect: tuple[str, ...]
    policies: tuple[str, ...]
    suites: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What was run, on what, and when."""

    id: str
    kind: str  # gate | scan
    started_at: str
    finished_at: str
    judged_on: str  # the date (UTC) waivers were judged against
    model: str | None
    model_version: str | None
    outputs: OutputsFile
    baseline: OutputsFile | None
    playbook: FileRef | None
    policies: tuple[PolicyFile, ...]
    #: the run was judged as of a date before the day it ran (``--today`` in the past, ``--backdate``)
    backdated: bool = False
    #: only the policies and suites selected ran (``None``: all of them)
    selection: SelectionReport | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    policies: int
    passed: int
    failed: int
    waived: int
    errors: int
    results: int
    #: how many of the results the report lists (the first ones, in input order): fewer than ``results`` past
    #: the cap (``--max-results``); every one of them is then in the results file, when one was written
    results_listed: int | None = None
    results_file: str | None = None


@dataclass(frozen=True, slots=True)
class RuleReport:
    """A rule of a policy: its id, its check, the line it starts on in the policy file, and its message."""

    id: str
    check: str
    line: int | None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyReport:
    """One policy or eval suite: what it is and how it fared (see ``PolicyOutcome``)."""

    id: str
    version: str
    title: str
    kind: str  # policy | suite
    severity: str
    on_fail: str
    policy_status: str
    status: str
    checked: int
    failed: int
    waived: int
    errors: int
    run_failed: tuple[str, ...] = ()
    #: the policy's rules (an eval suite's are its cases' expectations, not listed)
    rules: tuple[RuleReport, ...] = ()


#: ``FindingReport`` and ``ResultReport`` keep their fields in a ``__dict__`` (no ``__slots__``): a report lists up
#: to a million of them, which orjson writes from that dict several times faster than from slots, and which
#: :func:`make_finding_report` and :func:`make_result_report` fill without the frozen ``__init__``'s call per field
@dataclass(frozen=True)
class FindingReport:
    kind: str
    start: int | None
    end: int | None
    masked: str | None


@dataclass(frozen=True)
class ResultReport:
    """A non-passing result; the message and findings are masked."""

    case_id: str
    policy: str
    rule: str
    status: str
    message: str
    line: int | None
    waiver: str | None
    findings: tuple[FindingReport, ...] = ()
    #: the line in the policy file of the rule (in an eval suite's file: of the case) that judged it
    source_line: int | None = None
    #: the file holding the output, when the outputs were several files (a directory, a glob)
    file: str | None = None
    #: the file ``source_line`` is a line of, when it is not the policy's or suite's own: a suite's cases file
    source_file: str | None = None


_new = object.__new__


def make_finding_report(kind: str, start: int | None, end: int | None, masked: str | None) -> FindingReport:
    """``FindingReport(kind, start, end, masked)``, made a few times faster (a report holds one per finding)."""
    report = _new(FindingReport)
    fields = report.__dict__  # filled in field order, as ``__init__`` fills it
    fields["kind"] = kind
    fields["start"] = start
    fields["end"] = end
    fields["masked"] = masked
    return report


def make_result_report(case_id: str, policy: str, rule: str, status: str, message: str, line: int | None,
                       waiver: str | None, findings: tuple[FindingReport, ...] = (), source_line: int | None = None,
                       file: str | None = None, source_file: str | None = None) -> ResultReport:
    """``ResultReport(...)`` with the same arguments, made a few times faster (a report holds one per result)."""
    report = _new(ResultReport)
    fields = report.__dict__  # filled in field order, as ``__init__`` fills it
    fields["case_id"] = case_id
    fields["policy"] = policy
    fields["rule"] = rule
    fields["status"] = status
    fields["message"] = message
    fields["line"] = line
    fields["waiver"] = waiver
    fields["findings"] = findings
    fields["source_line"] = source_line
    fields["file"] = file
    fields["source_file"] = source_file
    return report


@dataclass(frozen=True, slots=True)
class AggregateReport:
    """A run-level rule's outcome; the message and the details (keys too) are masked."""

    policy: str
    rule: str
    check: str
    status: str
    message: str
    value: float | None
    threshold: float | None
    details: Mapping[str, Any]
    flipped: tuple[str, ...]
    waiver: str | None
    #: the line of the rule in the policy file
    source_line: int | None = None


@dataclass(frozen=True, slots=True)
class ScopeReport:
    """Outputs judged by the same policies: those policies and the outputs' case ids (each once)."""

    policies: tuple[str, ...]
    cases: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    report_version: int
    harness_version: str
    run: RunInfo
    verdict: Verdict
    reasons: tuple[str, ...]
    summary: Summary
    policies: tuple[PolicyReport, ...]
    results: tuple[ResultReport, ...]
    aggregates: tuple[AggregateReport, ...]
    warnings: tuple[str, ...] = ()
    scopes: tuple[ScopeReport, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON data, keys in schema order."""
        return _dump(self)

    def to_json(self) -> str:
        """The JSON text of the report: strict JSON (no NaN), deterministic, newline-terminated.

        orjson writes it (the standard encoder is slow with indentation: seconds for a million
        case ids); values orjson cannot write (integers beyond 64 bits) fall back to ``json``.
        Results holding plain values only (:func:`_written_as_records`) are handed to orjson as they are,
        which writes each the same as its ``to_dict()`` form, without building that form first.
        """
        if _written_as_records(self.results):
            results = self.results
            data = {key: results if name == "results" else _dump(getattr(self, name))
                    for name, key, _, _ in _fields(Report)}
            with contextlib.suppress(orjson.JSONEncodeError):  # an integer beyond 64 bits: the path below
                return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE).decode("utf-8")
        data = self.to_dict()
        try:
            return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"
        except orjson.JSONEncodeError:
            return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """A report from its JSON data; ``InputError`` for another version or a shape that is not a report."""
        version = data.get("report_version") if isinstance(data, Mapping) else None
        if version != REPORT_VERSION:
            raise InputError(f"report_version {version!r} is not supported; this harness reads version"
                             f" {REPORT_VERSION}")
        try:
            return typing.cast(Report, _load(cls, data, "$"))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a harness report: {exc}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Report:
        try:
            data = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
        except RecursionError:
            raise InputError("not a harness report: nested too deeply") from None
        except ValueError as exc:
            raise InputError(f"not a harness report: invalid JSON: {exc}") from None
        return cls.from_dict(data)


# -- (de)serialisation: driven by the dataclass fields and their annotations ------------------

_OUTCOMES = ("pass", "fail", "waived", "error")
#: the values a text field may hold (``report.schema.json``'s enums): renderers rely on them
_ALLOWED: dict[tuple[type, str], tuple[str, ...]] = {
    (RunInfo, "kind"): ("gate", "scan"),
    (PolicyReport, "kind"): ("policy", "suite"),
    (PolicyReport, "on_fail"): ("block", "rollback", "warn"),
    (PolicyReport, "policy_status"): ("draft", "active", "deprecated"),
    (PolicyReport, "status"): _OUTCOMES,
    (ResultReport, "status"): ("fail", "error", "waived"),
    (AggregateReport, "status"): _OUTCOMES,
}


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique: a second ``verdict`` must not win silently."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {twice!r}")
    return data


def _refuse_constant(name: str) -> Any:
    """``NaN`` and ``Infinity`` are not JSON: ``to_json`` never writes them, so a report holding one was not ours."""
    raise ValueError(f"{name} is not a JSON number")


#: field names whose JSON key differs (``pass`` is a Python keyword)
_KEYS: dict[tuple[type, str], str] = {(Summary, "passed"): "pass", (Summary, "failed"): "fail",
                                      (Summary, "errors"): "error"}


@functools.cache
def _fields(kind: type) -> tuple[tuple[str, str, Any, bool], ...]:
    """Per field of a report dataclass: its name, JSON key, type and whether it has a default (once per class)."""
    hints = typing.get_type_hints(kind)
    return tuple((f.name, _KEYS.get((kind, f.name), f.name), hints[f.name],
                  f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING)
                 for f in dataclasses.fields(kind))


def freeze(value: Any) -> Any:
    """Plain JSON data made immutable: objects become read-only mappings, arrays tuples."""
    if isinstance(value, Mapping):
        return types.MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


_PLAIN = (str, int, float, bool, type(None))
_TEXT = frozenset({str})


def as_data(value: Any) -> Any:
    """A report record (a result, a finding...) as plain JSON data, keys as in the report."""
    return _dump(value)


def _dump(value: Any) -> Any:
    kind = type(value)
    if kind is float and not math.isfinite(value):
        raise ValueError(f"{value!r} is not a JSON number: a report holds finite numbers only")
    if kind in _PLAIN:  # most values: no dispatch
        return value
    fields = _FIELDS_OF.get(kind)
    if fields is not None:
        data = {}
        for name, key in fields:
            item = getattr(value, name)
            data[key] = item if (type(item) is str or type(item) is int or item is None) else _dump(item)
        return data
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        _FIELDS_OF[kind] = tuple((name, key) for name, key, _, _ in _fields(typing.cast(type, kind)))
        return _dump(value)
    if isinstance(value, Verdict):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _dump(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if set(map(type, value)) <= _TEXT:  # case ids: a million of them in a large report
            return list(value)
        return [_dump(v) for v in value]
    return value


#: (field name, JSON key) per report dataclass, filled on first use
_FIELDS_OF: dict[type, tuple[tuple[str, str], ...]] = {}

#: what orjson writes as ``_dump`` does: ``float`` is not among them (orjson writes NaN as null, ``_dump`` refuses it)
_SCALARS = frozenset({str, int, bool, type(None)})


def _written_as_records(results: tuple[ResultReport, ...]) -> bool:
    """Whether orjson, given these results as they are, writes what it writes of their ``_dump``.

    orjson writes a dataclass instance from its ``__dict__``, in order: each must be a ``ResultReport`` whose
    ``__dict__`` holds its fields in their order and nothing else (as its ``__init__`` and
    :func:`make_result_report` leave it; a field deleted and set again comes last), its findings a tuple of such
    ``FindingReport``, and every other value a string, an integer, a boolean or None (orjson writes a NaN as null
    where ``_dump`` refuses it). The checks run over all the results at once, in C (``map``, ``set``): about a
    tenth of a second for a hundred thousand results (a fifth of building and writing their ``to_dict()``).
    """
    if type(results) is not tuple or not results or set(map(type, results)) != {ResultReport}:
        return False
    records = list(map(vars, results))
    try:
        if (not _in_order(records, _RESULT_NAMES)
                or not set(map(type, itertools.chain.from_iterable(map(_RESULT_VALUES, records)))) <= _SCALARS):
            return False
        findings = list(map(_FINDINGS, records))
        if set(map(type, findings)) != {tuple}:
            return False
        found = list(itertools.chain.from_iterable(findings))
        if not found:
            return True
        if set(map(type, found)) != {FindingReport}:
            return False
        records = list(map(vars, found))
        return (_in_order(records, _FINDING_NAMES)
                and set(map(type, itertools.chain.from_iterable(map(_FINDING_VALUES, records)))) <= _SCALARS)
    except KeyError:  # a field missing from a ``__dict__``
        return False


def _in_order(records: list[dict[str, Any]], names: tuple[str, ...]) -> bool:
    """Whether every ``__dict__`` holds ``names`` and nothing else, in that order: as many keys each, and all
    their keys in a row are ``names`` over and over (a dict holds a key once, so none can start another's)."""
    return (set(map(len, records)) == {len(names)}
            and list(itertools.chain.from_iterable(records)) == list(names) * len(records))


#: the fields of a result and of a finding, as ``_written_as_records`` reads them from a record's ``__dict__``
_RESULT_NAMES = tuple(f.name for f in dataclasses.fields(ResultReport))
_RESULT_VALUES = operator.itemgetter(*(name for name in _RESULT_NAMES if name != "findings"))
_FINDINGS = operator.itemgetter("findings")
_FINDING_NAMES = tuple(f.name for f in dataclasses.fields(FindingReport))
_FINDING_VALUES = operator.itemgetter(*_FINDING_NAMES)


@typing.no_type_check
def _load(kind: Any, data: Any, where: str) -> Any:
    if (kind is str or kind is int) and type(data) is kind:  # most values: skip the dispatch below
        return data
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind):
        if not isinstance(data, Mapping):
            raise TypeError(f"{where}: expected an object")
        fields = _fields(kind)
        unknown = set(data) - {key for _, key, _, _ in fields}
        if unknown:
            raise KeyError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        values = {}
        for name, key, hint, has_default in fields:
            if key not in data:
                if has_default:
                    continue
                raise KeyError(f"{where}.{key} is missing")
            values[name] = _load(hint, data[key], f"{where}.{key}")
            allowed = _ALLOWED.get((kind, name))
            if allowed is not None and values[name] not in allowed:
                raise ValueError(f"{where}.{key}: {values[name]!r} is not one of {', '.join(allowed)}")
        return kind(**values)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(kind)
        if data is None and type(None) in options:
            return None
        return _load(next(o for o in options if o is not type(None)), data, where)
    if origin is tuple:
        if not isinstance(data, list):
            raise TypeError(f"{where}: expected an array")
        item = typing.get_args(kind)[0]
        if item is str and all(type(v) is str for v in data):  # case ids: a million of them in a large report
            return tuple(data)
        return tuple(_load(item, v, f"{where}[{i}]") for i, v in enumerate(data))
    if origin is Mapping or kind is Mapping:
        if not isinstance(data, Mapping):
            raise TypeError(f"{where}: expected an object")
        return freeze(data)
    if kind is Verdict:
        return Verdict(data)

    if kind is Any:
        return data
    if kind is bool:
        if type(data) is not bool:
            raise TypeError(f"{where}: expected true or false, got {type(data).__name__}")
        return data
    expected = {str: str, int: int, float: (int, float)}.get(kind)
    if expected is not None and (not isinstance(data, expected) or isinstance(data, bool)):
        raise TypeError(f"{where}: expected {kind.__name__}, got {type(data).__name__}")
    return float(data) if kind is float else data
