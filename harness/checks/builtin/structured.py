"""Per-output checks on structure and metadata: JSON, record fields, latency.

The ``field`` rules run on every record of a large scan, so they judge columns: the values at a
rule's path for a whole batch (:func:`values_at`), each distinct value judged once, and a pattern over
many distinct values (unique timestamps) tested in one vectorised call (:func:`field_columnar`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress
from typing import Any

import orjson
import re2

from ...errors import InputError
from ...io.json_schema import json_schema_validators
from ...model import EvalCase, Finding, OutputRecord
from ...text.regex import Pattern, compile_pattern
from ..base import MISSING, ColumnView, check

NO_FINDINGS: tuple[Finding, ...] = ()
#: the schema of an option naming a field of an output record
FIELD_PATH = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*(\\.[A-Za-z0-9_-]+)*$",
              "description": "Dotted path into an output record, e.g. latency_ms or slice.group."}
_FENCE = re2.compile(r"(?s)^\s*```(?:json|JSON)?[ \t]*\n(.*?)\n?```\s*$")


def resolve(record: OutputRecord, path: str) -> Any:
    """The value at a dotted ``path`` of a record (``slice.group``), or :data:`MISSING` (``harness.checks.base``'s:
    the sentinel of the columns a streamed scan reads too)."""
    if path == "output":
        return record.output
    if path == "case_id":
        return record.case_id
    value: Any = record.fields
    if "." not in path and type(value) is dict:
        return value.get(path, MISSING)
    for part in path.split("."):
        if type(value) is not dict and not isinstance(value, Mapping):
            return MISSING
        value = value.get(part, MISSING)
        if value is MISSING:
            return MISSING
    return value


def values_at(records: Sequence[OutputRecord], path: str) -> list[Any]:
    """The value at ``path`` of every record (:data:`MISSING` where there is none): ``resolve`` of each, one
    step of the path at a time over the whole column."""
    if path == "output":
        return [record.output for record in records]
    if path == "case_id":
        return [record.case_id for record in records]
    head, *rest = path.split(".")
    if not rest:
        return [record.fields.get(head, MISSING) for record in records]
    second = rest.pop(0)
    values = [value.get(second, MISSING) if type(value := record.fields.get(head, MISSING)) is dict
              else _step(value, second) for record in records]
    for part in rest:
        values = [value.get(part, MISSING) if type(value) is dict else _step(value, part) for value in values]
    return values


def _step(value: Any, part: str) -> Any:
    """``value[part]`` for a mapping that is no plain dict, else :data:`MISSING`."""
    return value.get(part, MISSING) if isinstance(value, Mapping) else MISSING


def is_missing(value: Any) -> bool:
    return value is MISSING


# --- json ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class JsonRule:
    validator: Any | None
    allow_fences: bool
    fast: Any | None = None  # a fastjsonschema validator: the quick yes; jsonschema explains a no
    #: jsonschema_rs's yes or no (the ``fast`` extra), for the values orjson read; then ``fast`` is not asked
    quick: Callable[[Any], bool] | None = None
    #: ``validator`` passing over what ``quick``'s twins accept, to explain its no (values orjson read)
    explainer: Any | None = None


def _prepare_json(options: Mapping[str, Any]) -> JsonRule:
    if "schema" not in options:
        return JsonRule(None, bool(options.get("allow_fences", False)))
    judges = json_schema_validators(options["schema"])
    return JsonRule(judges.validator, bool(options.get("allow_fences", False)), judges.fast, judges.quick,
                    judges.explainer)


#: every digit as ``0``, ``[`` and ``{`` as ``[``, every other byte as a space: 19 zeros in a row after it are 19 digits
#: in a row, perhaps an integer beyond 64 bits, which orjson would read as a float (``json``: an int); its ``[`` bound
#: how deep the value can be (:data:`_SHALLOW`). Several times cheaper than ``re``.
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x5B if b in (0x5B, 0x7B) else 0x20 for b in range(256))
_LONG_DIGITS = b"0" * 19
#: the last output parsed and what came of it: the rules judging one output (its schema, the baseline's
#: parse rate) parse it once. Keyed by the text object itself, which it holds, so no other text can match.
_last_parse: tuple[Any, bool, Any, str | None, bool] = (None, False, None, None, False)


def parse_json_output(text: str, allow_fences: bool) -> tuple[Any, str | None]:
    """Parse an output as JSON; returns (value, None) or (None, what went wrong).

    Strict JSON as Python's ``json`` reads it, without ``NaN`` or ``Infinity``: orjson gives the quick yes,
    and ``json`` reads whatever orjson refuses (and long integers), so a value and a message are ``json``'s.
    The value may be shared with the next rule judging the same output object: never change it.
    """
    value, problem, _ = _parsed(text, allow_fences)
    return value, problem


def _parsed(text: str, allow_fences: bool) -> tuple[Any, str | None, bool]:
    """:func:`parse_json_output`, and whether orjson read the value (finite numbers, integers of at most 64
    bits, valid Unicode, at most :data:`_SHALLOW` levels: what jsonschema_rs judges as jsonschema does)."""
    global _last_parse
    last = _last_parse
    if last[0] is text and last[1] == allow_fences:
        return last[2], last[3], last[4]
    value, problem, by_orjson = _parse(text, allow_fences)
    _last_parse = (text, allow_fences, value, problem, by_orjson)
    return value, problem, by_orjson


def _parse(text: str, allow_fences: bool) -> tuple[Any, str | None, bool]:
    if allow_fences:
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group(1)
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate, which json reads
        data = b""
    kinds = data.translate(_DIGITS_AS_ZEROS)
    if data and _LONG_DIGITS not in kinds:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # json says what is wrong, or reads what orjson cannot (1e400, deep nesting)
        else:
            return value, None, len(data) <= 2 * _SHALLOW or kinds.count(b"[") <= _SHALLOW or _shallow(value)
    try:
        return json.loads(text, parse_constant=_reject_constant), None, False
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", False
    except RecursionError:
        return None, "not valid JSON: nested too deeply", False
    except ValueError as exc:  # NaN/Infinity, or an integer beyond Python's digit limit
        return None, f"not valid JSON: {str(exc)[:120]}", False


#: the deepest a value orjson read may be for jsonschema_rs to judge it: jsonschema runs out of stack wording an error
#: about a value about 1,000 levels deep (orjson reads 1,023), and reports that; jsonschema_rs would say yes
_SHALLOW = 512


def _shallow(value: Any) -> bool:
    """Whether a value orjson read is at most :data:`_SHALLOW` levels deep (asked only of a text with more
    brackets than that)."""
    level = [value] if type(value) is dict or type(value) is list else []
    for _ in range(_SHALLOW):
        if not level:
            return True
        level = [each for node in level for each in (node.values() if type(node) is dict else node)
                 if type(each) is dict or type(each) is list]
    return not level


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


@check("json", prepare=_prepare_json, options={"properties": {
    "schema": {"type": "object", "description": "A JSON Schema (Draft 2020-12) the parsed output must satisfy."},
    "allow_fences": {"type": "boolean", "default": False,
                     "description": "Accept output wrapped in a ```json fenced block."}}})
def json_check(rule: JsonRule, record: OutputRecord, case: EvalCase | None) -> Sequence[Finding]:
    """The output parses as JSON and, with ``schema``, satisfies that JSON Schema."""
    value, problem, by_orjson = _parsed(record.output, rule.allow_fences)
    if problem is not None:
        return [Finding("json", problem)]
    validator = rule.validator
    if validator is None:
        return NO_FINDINGS
    if by_orjson and rule.quick is not None:
        try:
            if rule.quick(value):
                return NO_FINDINGS
        except Exception:
            pass
        else:
            validator = rule.explainer or validator
    elif rule.fast is not None:
        try:
            rule.fast(value)
            return NO_FINDINGS
        except Exception:
            pass
    findings = []
    try:
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))[:5]
    except RecursionError:
        return [Finding("json_schema", "$: nested too deeply to validate against the schema")]
    for error in errors:
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        message = error.message if len(error.message) <= 120 else error.message[:119] + "…"
        findings.append(Finding("json_schema", f"{where}: {message}"))
    return findings


# --- field --------------------------------------------------------------------------

_MEMO_MAX = 1024  # distinct field values whose verdict is remembered per rule
#: a column with more distinct values than this (unique timestamps) has a pattern rule test them in one call
_FEW_VALUES = 64
_NUMBER_KINDS = frozenset({int, float, bool})
#: the types whose values ``dict.fromkeys`` tells apart as the rules do (with at most one of the number types:
#: ``1``, ``1.0`` and ``True`` are one key, and ``true`` is not ``1`` to a rule)
_PLAIN_KINDS = frozenset({str, type(None), type(MISSING)}) | _NUMBER_KINDS
_MEMO_KINDS = (str, int, float, type(MISSING), type(None))
_STRINGS = {str}


@dataclass(frozen=True, slots=True)
class FieldRule:
    path: str
    options: Mapping[str, Any]
    pattern: Pattern | None
    #: verdicts of values seen before: model names and versions repeat a million times over
    memo: dict[Any, tuple[Finding, ...]] = field(default_factory=dict, compare=False, repr=False)
    #: the rule asks only for a string matching ``pattern``: a value's verdict is that match
    pattern_only: bool = False


_FIELD_TESTS = frozenset({"equals", "not_equals", "one_of", "min", "max", "pattern", "exists"})


def _prepare_field(options: Mapping[str, Any]) -> FieldRule:
    tests = _FIELD_TESTS & set(options)
    if not tests:
        raise InputError(f"a field rule needs at least one of: {', '.join(sorted(_FIELD_TESTS))}")
    pattern = compile_pattern(options["pattern"], subpath=("pattern",)) if "pattern" in options else None
    pattern_only = pattern is not None and tests <= {"pattern", "exists"} and options.get("exists", True) is True
    return FieldRule(options["path"], options, pattern, pattern_only=pattern_only)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: like ``==`` but ``true`` is not ``1`` and ``false`` is not ``0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def field_findings(rule: FieldRule, value: Any) -> tuple[Finding, ...]:
    """The findings of a prepared ``field`` rule on the value at its path (:data:`MISSING`: none); empty: a pass."""
    kind = type(value)
    if kind in _MEMO_KINDS:
        key = (kind, value)
        known = rule.memo.get(key)
        if known is None:
            known = tuple(_judge_field(rule, value))
            if len(rule.memo) < _MEMO_MAX:
                rule.memo[key] = known
        return known
    return tuple(_judge_field(rule, value))


def field_columnar(rule: FieldRule, values: Sequence[Any]) -> list[int]:
    """The positions in ``values`` that fail a prepared ``field`` rule, in ascending order.

    ``values`` holds the value at the rule's path (``rule.path``) of each record of a column, and
    :data:`MISSING` (``harness.checks.base.MISSING``, importable from here too) where a record
    has none: what :func:`values_at` gives.
    The findings of a failing position ``i`` are ``field_findings(rule, values[i])``. Each distinct
    value is judged once; a pattern rule over many distinct strings tests them in one vectorised call
    (pyarrow's RE2 where it reads the pattern as ours does, else RE2 one value at a time). The verdicts
    are those of the ``field`` check record by record.
    """
    if not values:
        return []
    kinds = set(map(type, values))
    if not kinds <= _PLAIN_KINDS or len(kinds & _NUMBER_KINDS) > 1:  # unhashable, or true beside 1
        return [i for i, value in enumerate(values) if field_findings(rule, value)]
    distinct = list(dict.fromkeys(values))
    if len(distinct) > _FEW_VALUES and rule.pattern_only and rule.pattern is not None:
        if kinds == _STRINGS:
            bad = {distinct[i] for i in _unmatched(rule.pattern, distinct)}
        else:
            texts = [value for value in distinct if type(value) is str]
            bad = {value for value in distinct if type(value) is not str and field_findings(rule, value)}
            bad.update(texts[i] for i in _unmatched(rule.pattern, texts))
    else:
        bad = {value for value in distinct if field_findings(rule, value)}
    if not bad:
        return []
    if len(bad) == len(distinct):
        return list(range(len(values)))
    return list(compress(range(len(values)), map(bad.__contains__, values)))


def _unmatched(pattern: Pattern, texts: list[str]) -> list[int]:
    """The positions of the texts in which ``pattern`` does not occur."""
    found = _arrow_unmatched(pattern, texts)
    if found is not None:
        return found
    return [i for i, text in enumerate(texts) if not pattern.test(text)]


#: what could read otherwise in the RE2 that pyarrow bundles than in ours: Unicode classes and case folding
#: (their tables follow the Unicode version of each build); the rest of an ASCII pattern reads the same
_ARROW_UNSAFE = re.compile(r"\\[pP]|\(\?[^:)]*i")


def _arrow_unmatched(pattern: Pattern, texts: Sequence[str]) -> list[int] | None:
    """``_unmatched`` by pyarrow's ``match_substring_regex`` (RE2 ``PartialMatch``, UTF-8, quiet: what
    ``Regex.test`` asks); None without pyarrow, for a pattern it might read otherwise, or when it fails (a text
    it cannot hold: a lone surrogate; a pattern its RE2 refuses)."""
    if _ARROW_UNSAFE.search(pattern.pattern) is not None or not pattern.pattern.isascii() or _arrow() is None:
        return None
    try:
        return _arrow_match(pattern.pattern, texts)
    except Exception:
        return None


def _arrow_match(pattern: str, texts: Sequence[str]) -> list[int] | None:
    """The array is built from the texts' UTF-8 bytes directly (``pa.array`` of a list would import pandas to
    look at it)."""
    pa, pc = _arrow()
    import numpy as np

    joined = "".join(texts)
    data = joined.encode()  # a lone surrogate cannot be encoded: the texts are then tested one by one
    sizes = map(len, texts) if len(data) == len(joined) else map(len, map(str.encode, texts))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(sizes, dtype=np.int64, count=len(texts)), out=offsets[1:])
    column = pa.Array.from_buffers(pa.large_string(), len(texts), [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    found = pc.match_substring_regex(column, pattern=pattern)
    if found.null_count:
        return None
    if found.true_count == len(texts):
        return []
    return [int(i) for i in np.flatnonzero(~found.to_numpy(zero_copy_only=False))]


@functools.cache
def _arrow() -> Any:
    """(pyarrow, pyarrow.compute), or None when pyarrow is not installed."""
    try:
        import pyarrow
        import pyarrow.compute
    except ImportError:
        return None
    return pyarrow, pyarrow.compute


def _field_batch(rule: FieldRule, records: Sequence[OutputRecord]) -> dict[int, Sequence[Finding]]:
    """``field_check`` of many records: the column of their values judged at once (``field_columnar``)."""
    values = values_at(records, rule.path)
    return {i: field_findings(rule, values[i]) for i in field_columnar(rule, values)}


def _field_columns(rule: FieldRule, view: ColumnView) -> dict[int, Sequence[Finding]]:
    """``_field_batch`` of records a streamed scan holds as columns (``Unsuitable`` from the view passes up): a
    column of strings with few distinct values has each judged once (a model name, a version, a locale), and a
    pattern over a column of many strings is matched on the column itself, without a Python string per value."""
    array = getattr(view, "array", None)
    if array is not None:
        column = array(rule.path)
        found = _arrow_few_failures(rule, column)
        if found is None and rule.pattern_only and rule.pattern is not None:
            found = _arrow_column_failures(rule, column)
        if found is not None:
            return found
    values = view.values(rule.path)
    return {i: field_findings(rule, values[i]) for i in field_columnar(rule, values)}


def _arrow_few_failures(rule: FieldRule, column: Any) -> dict[int, Sequence[Finding]] | None:
    """The failures of a rule over a pyarrow column of strings (a null: no value at the path) holding at most
    :data:`_FEW_VALUES` distinct values, each judged once (``field_findings``) and the failing ones found in the
    column; None for another column (or when pyarrow fails)."""
    arrow = _arrow()
    if column is None or arrow is None:
        return None
    pa, pc = arrow
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return None
    try:
        if len(set(column.slice(0, _FEW_VALUES + 1).to_pylist())) > _FEW_VALUES:
            return None  # its first values are all distinct (timestamps): never asked of every value
        distinct = pc.unique(column)
        if len(distinct) > _FEW_VALUES:
            return None
        bad = [value for value in distinct.to_pylist() if field_findings(rule, MISSING if value is None else value)]
        if not bad:
            return {}
        failing = pc.is_in(column, value_set=pa.array([value for value in bad if value is not None], column.type))
        if None in bad:
            failing = pc.or_(failing.fill_null(False), pc.is_null(column))
        import numpy as np

        rows = np.flatnonzero(np.asarray(failing.fill_null(False).to_numpy(zero_copy_only=False)))
        values = column.take(rows).to_pylist()
    except Exception:
        return None
    return {i: field_findings(rule, MISSING if value is None else value)
            for i, value in zip(rows.tolist(), values, strict=True)}


def _arrow_column_failures(rule: FieldRule, column: Any) -> dict[int, Sequence[Finding]] | None:
    """The failures of a pattern-only rule over a pyarrow column of strings (a null: no value at the path), or
    None where pyarrow might read the pattern otherwise than RE2 does here (see ``_arrow_unmatched``)."""
    assert rule.pattern is not None
    pattern = rule.pattern.pattern
    arrow = _arrow()
    if column is None or arrow is None or _ARROW_UNSAFE.search(pattern) is not None or not pattern.isascii():
        return None
    pa, pc = arrow
    if not pa.types.is_string(column.type):
        return None
    import numpy as np

    try:
        found = pc.match_substring_regex(column, pattern=pattern)
    except Exception:  # a pattern pyarrow's RE2 refuses: the values one by one
        return None
    failing = np.flatnonzero(~np.asarray(found.fill_null(False).to_numpy(zero_copy_only=False)))
    return {i: field_findings(rule, MISSING if value is None else value)
            for i, value in zip(failing.tolist(), column.take(failing).to_pylist(), strict=True)}


@check("field", prepare=_prepare_field, batch=_field_batch, columns=_field_columns, options={"properties": {
    "path": FIELD_PATH, "equals": {}, "not_equals": {}, "one_of": {"type": "array", "minItems": 1},
    "min": {"type": "number"}, "max": {"type": "number"},
    "pattern": {"type": "string", "minLength": 1, "description": "RE2 pattern the field's text must match."},
    "exists": {"type": "boolean"}},
    "required": ["path"]})
def field_check(rule: FieldRule, record: OutputRecord, case: EvalCase | None) -> Sequence[Finding]:
    """A metadata field of the record exists, equals, is one of, lies within or matches."""
    return field_findings(rule, resolve(record, rule.path))


def _judge_field(rule: FieldRule, value: Any) -> list[Finding]:
    opts = rule.options
    name = f"`{rule.path}`"
    if is_missing(value):
        if opts.get("exists") is False:
            return []
        return [Finding("field", f"{name} is missing")]
    problems = []
    if opts.get("exists") is False:
        problems.append(f"{name} must not be present")
    if "equals" in opts and not _same(value, opts["equals"]):
        problems.append(f"{name} is {value!r}, expected {opts['equals']!r}")
    if "not_equals" in opts and _same(value, opts["not_equals"]):
        problems.append(f"{name} must not be {value!r}")
    if "one_of" in opts and not any(_same(value, v) for v in opts["one_of"]):
        problems.append(f"{name} is {value!r}, expected one of {opts['one_of']!r}")
    for bound, bad in (("min", lambda v, b: v < b), ("max", lambda v, b: v > b)):
        if bound in opts:
            if not _is_number(value):
                problems.append(f"{name} is not a number")
            elif bad(value, opts[bound]):
                problems.append(f"{name} is {value}, {bound} is {opts[bound]}")
    if rule.pattern is not None and (not isinstance(value, str) or not rule.pattern.test(value)):
        problems.append(f"{name} does not match {opts['pattern']!r}")
    return [Finding("field", p) for p in problems]


# --- latency ------------------------------------------------------------------------

def _latency_batch(options: Mapping[str, Any], records: Sequence[OutputRecord]) -> dict[int, Sequence[Finding]]:
    """``latency`` of many records."""
    return _latency_values(options, [record.fields.get("latency_ms") for record in records])


def _latency_columns(options: Mapping[str, Any], view: ColumnView) -> dict[int, Sequence[Finding]]:
    """``latency`` of records a streamed scan holds as columns: compared as one float array (``{:g}`` writes an
    integer and its float alike, so the messages are those of ``fn``)."""
    import numpy as np

    limit = options["max_ms"]
    numbers = view.numbers("latency_ms")  # NaN: missing (a column of anything but numbers is Unsuitable)
    missing = (Finding("latency", "`latency_ms` is missing"),)
    failing: dict[int, Sequence[Finding]] = dict.fromkeys(np.flatnonzero(np.isnan(numbers)).tolist(), missing)
    for index in np.flatnonzero(numbers > limit).tolist():
        failing[index] = (Finding("latency", f"latency {float(numbers[index]):g} ms is over {limit:g} ms"),)
    return failing


def _latency_values(options: Mapping[str, Any], values: Sequence[Any]) -> dict[int, Sequence[Finding]]:
    """``latency`` of the ``latency_ms`` values of many records (anything but an int or a float: none)."""
    limit = options["max_ms"]
    missing = (Finding("latency", "`latency_ms` is missing"),)
    failing: dict[int, Sequence[Finding]] = {}
    for index, value in enumerate(values):
        kind = type(value)
        if kind is not int and kind is not float:
            failing[index] = missing
        elif value > limit:
            failing[index] = (Finding("latency", f"latency {value:g} ms is over {limit:g} ms"),)
    return failing


@check("latency", batch=_latency_batch, columns=_latency_columns, options={
    "properties": {"max_ms": {"type": "number", "exclusiveMinimum": 0}}, "required": ["max_ms"]})
def latency(options: Mapping[str, Any], record: OutputRecord, case: EvalCase | None) -> Sequence[Finding]:
    """The record's ``latency_ms`` is at most ``max_ms`` (a missing latency fails)."""
    value = record.latency_ms
    if value is None:
        return [Finding("latency", "`latency_ms` is missing")]
    if value > options["max_ms"]:
        return [Finding("latency", f"latency {value:g} ms is over {options['max_ms']:g} ms")]
    return NO_FINDINGS
