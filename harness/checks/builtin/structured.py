"""Per-output checks on structure and metadata: JSON, record fields, latency."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import re2

from ...errors import InputError
from ...io.json_schema import json_schema_validators
from ...model import EvalCase, Finding, OutputRecord
from ...text.regex import Pattern, compile_pattern
from ..base import check

NO_FINDINGS: tuple[Finding, ...] = ()
#: the schema of an option naming a field of an output record
FIELD_PATH = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*(\\.[A-Za-z0-9_-]+)*$",
              "description": "Dotted path into an output record, e.g. latency_ms or slice.group."}
_MISSING = object()
_FENCE = re2.compile(r"(?s)^\s*```(?:json|JSON)?[ \t]*\n(.*?)\n?```\s*$")


def resolve(record: OutputRecord, path: str) -> Any:
    """The value at a dotted ``path`` of a record (``slice.group``), or ``_MISSING``."""
    if path == "output":
        return record.output
    if path == "case_id":
        return record.case_id
    value: Any = record.fields
    for part in path.split("."):
        if type(value) is not dict and not isinstance(value, Mapping):
            return _MISSING
        value = value.get(part, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


def is_missing(value: Any) -> bool:
    return value is _MISSING


# --- json ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class JsonRule:
    validator: Any | None
    allow_fences: bool
    fast: Any | None = None  # a fastjsonschema validator: the quick yes; jsonschema explains a no


def _prepare_json(options: Mapping[str, Any]) -> JsonRule:
    if "schema" not in options:
        return JsonRule(None, bool(options.get("allow_fences", False)))
    validator, fast = json_schema_validators(options["schema"])
    return JsonRule(validator, bool(options.get("allow_fences", False)), fast)


def parse_json_output(text: str, allow_fences: bool) -> tuple[Any, str | None]:
    """Parse an output as JSON; returns (value, None) or (None, what went wrong)."""
    if allow_fences:
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group(1)
    try:
        return json.loads(text, parse_constant=_reject_constant), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return None, "not valid JSON: nested too deeply"
    except ValueError as exc:  # NaN/Infinity, or an integer beyond Python's digit limit
        return None, f"not valid JSON: {str(exc)[:120]}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


@check("json", prepare=_prepare_json, options={"properties": {
    "schema": {"type": "object", "description": "A JSON Schema (Draft 2020-12) the parsed output must satisfy."},
    "allow_fences": {"type": "boolean", "default": False,
                     "description": "Accept output wrapped in a ```json fenced block."}}})
def json_check(rule: JsonRule, record: OutputRecord, case: EvalCase | None) -> Sequence[Finding]:
    """The output parses as JSON and, with ``schema``, satisfies that JSON Schema."""
    value, problem = parse_json_output(record.output, rule.allow_fences)
    if problem is not None:
        return [Finding("json", problem)]
    if rule.validator is None:
        return NO_FINDINGS
    if rule.fast is not None:
        try:
            rule.fast(value)
            return NO_FINDINGS
        except Exception:
            pass
    findings = []
    try:
        errors = sorted(rule.validator.iter_errors(value), key=lambda e: list(e.absolute_path))[:5]
    except RecursionError:
        return [Finding("json_schema", "$: nested too deeply to validate against the schema")]
    for error in errors:
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        message = error.message if len(error.message) <= 120 else error.message[:119] + "…"
        findings.append(Finding("json_schema", f"{where}: {message}"))
    return findings


# --- field --------------------------------------------------------------------------

_MEMO_MAX = 1024  # distinct field values whose verdict is remembered per rule


@dataclass(frozen=True, slots=True)
class FieldRule:
    path: str
    options: Mapping[str, Any]
    pattern: Pattern | None
    #: verdicts of values seen before: model names and versions repeat a million times over
    memo: dict[Any, tuple[Finding, ...]] = field(default_factory=dict, compare=False, repr=False)


def _prepare_field(options: Mapping[str, Any]) -> FieldRule:
    tests = {"equals", "not_equals", "one_of", "min", "max", "pattern", "exists"}
    if not tests & set(options):
        raise InputError(f"a field rule needs at least one of: {', '.join(sorted(tests))}")
    pattern = compile_pattern(options["pattern"], subpath=("pattern",)) if "pattern" in options else None
    return FieldRule(options["path"], options, pattern)


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


def _field_batch(rule: FieldRule, records: Sequence[OutputRecord]) -> dict[int, Sequence[Finding]]:
    """``field_check`` of many records: each distinct value judged once."""
    path, memo = rule.path, rule.memo
    if "." in path or path in ("output", "case_id"):
        values = [resolve(record, path) for record in records]
    else:
        values = [record.fields.get(path, _MISSING) for record in records]
    failing: dict[int, Sequence[Finding]] = {}
    for index, value in enumerate(values):
        kind = type(value)
        if kind is str or kind is int or kind is float:
            known = memo.get((kind, value))
            if known is None:
                known = tuple(_judge_field(rule, value))
                if len(memo) < _MEMO_MAX:
                    memo[(kind, value)] = known
        else:
            known = tuple(_judge_field(rule, value))
        if known:
            failing[index] = known
    return failing


@check("field", prepare=_prepare_field, batch=_field_batch, options={"properties": {
    "path": FIELD_PATH, "equals": {}, "not_equals": {}, "one_of": {"type": "array", "minItems": 1},
    "min": {"type": "number"}, "max": {"type": "number"},
    "pattern": {"type": "string", "minLength": 1, "description": "RE2 pattern the field's text must match."},
    "exists": {"type": "boolean"}},
    "required": ["path"]})
def field_check(rule: FieldRule, record: OutputRecord, case: EvalCase | None) -> Sequence[Finding]:
    """A metadata field of the record exists, equals, is one of, lies within or matches."""
    value = resolve(record, rule.path)
    if type(value) in (str, int, float):
        known = rule.memo.get((type(value), value))
        if known is None:
            known = tuple(_judge_field(rule, value))
            if len(rule.memo) < _MEMO_MAX:
                rule.memo[(type(value), value)] = known
        return known
    return _judge_field(rule, value)


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
    limit = options["max_ms"]
    missing = (Finding("latency", "`latency_ms` is missing"),)
    failing: dict[int, Sequence[Finding]] = {}
    for index, record in enumerate(records):
        value = record.fields.get("latency_ms")
        kind = type(value)
        if kind is not int and kind is not float:
            failing[index] = missing
        elif value > limit:
            failing[index] = (Finding("latency", f"latency {value:g} ms is over {limit:g} ms"),)
    return failing


@check("latency", batch=_latency_batch, options={"properties": {"max_ms": {"type": "number", "exclusiveMinimum": 0}},
                                                 "required": ["max_ms"]})
def latency(options: Mapping[str, Any], record: OutputRecord, case: EvalCase | None) -> Sequence[Finding]:
    """The record's ``latency_ms`` is at most ``max_ms`` (a missing latency fails)."""
    value = record.latency_ms
    if value is None:
        return [Finding("latency", "`latency_ms` is missing")]
    if value > options["max_ms"]:
        return [Finding("latency", f"latency {value:g} ms is over {options['max_ms']:g} ms")]
    return NO_FINDINGS
