"""Per-output checks on structure and metadata: JSON, record fields, latency."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import re2

from ...errors import InputError
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


#: Keywords newer than draft 7, which fastjsonschema would silently ignore.
_NEWER_KEYWORDS = {"prefixItems", "$dynamicRef", "$dynamicAnchor", "unevaluatedProperties", "unevaluatedItems",
                   "dependentSchemas", "dependentRequired", "$defs", "minContains", "maxContains", "$anchor"}


def _keywords(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        return set(schema).union(*(_keywords(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_keywords(v) for v in schema))
    return set()


def _fast_validator(schema: Mapping[str, Any]) -> Any | None:
    """fastjsonschema (about 20x faster than jsonschema) where it means the same; else None.

    Its patterns are swapped for RE2 ones (it compiles them with Python's backtracking ``re``);
    a schema referring to other documents gets none (fastjsonschema would fetch them), and its
    formats are off, as jsonschema's are.
    """
    if _keywords(schema) & _NEWER_KEYWORDS or any(not ref.startswith("#") for ref in _refs(schema)):
        return None
    import fastjsonschema

    plain = {k: v for k, v in schema.items() if k != "$schema"}
    try:
        validate = fastjsonschema.compile(plain, formats={}, use_formats=False)
        code = fastjsonschema.compile_to_code(plain, formats={}, use_formats=False)
    except Exception:
        return None
    return validate if _matches_with_re2(validate, code) else None


def _matches_with_re2(validate: Any, code: str) -> bool:
    """Make a fastjsonschema validator match its patterns with RE2; False if its code uses ``re`` in another way.

    The generated code compiles each pattern once into ``REGEX_PATTERNS`` and calls ``.search``
    on it; RE2's ``$`` already means the end of the text, which is what its ``\\Z`` rewrite asks of ``re``.
    """
    patterns = getattr(validate, "__globals__", {}).get("REGEX_PATTERNS")
    if not isinstance(patterns, dict) or not code.count("re.") == code.count("re.compile(") == len(patterns):
        return False
    for pattern in patterns:
        patterns[pattern] = _re2(pattern)
    return True


def _refs(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _refs(value)


#: keywords whose values are data, not schemas: a ``pattern`` key inside them is no regular expression
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


def _patterns(schema: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    """Every regular expression of a JSON Schema (``pattern`` values, ``patternProperties`` keys) and where it is."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in _DATA_KEYWORDS:
                continue
            if key == "pattern" and isinstance(value, str):
                yield value, (*path, key)
                continue
            if key == "patternProperties" and isinstance(value, dict):
                for pattern in value:
                    yield pattern, (*path, key, pattern)
            yield from _patterns(value, (*path, key))
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from _patterns(value, (*path, i))


def _check_regexes(schema: Mapping[str, Any]) -> None:
    """Refuse, at load time and naming the place, a schema whose patterns would not all be matched by RE2.

    jsonschema matches ``pattern`` and ``patternProperties`` with Python's ``re``, which backtracks:
    ``^(a+)+$`` against thirty ``a``s and a ``!`` runs for minutes. The validator built here uses
    RE2 for them; a nested ``$schema`` would switch to another draft's validator (and to ``re``),
    and ``unevaluatedProperties`` looks ``patternProperties`` up with ``re`` too, so both are refused
    in a schema with patterns.
    """
    found = list(_patterns(schema))
    for pattern, where in found:
        compile_pattern(pattern, subpath=("schema", *where))
    if not found:
        return
    nested = next((where for where in _schema_keys(schema) if where), None)
    if nested is not None:
        raise InputError("a `$schema` inside a schema with patterns would match them with Python's backtracking"
                         " `re`; declare the draft only at the top", subpath=("schema", *nested, "$schema"))
    keywords = _keywords(schema)
    if "patternProperties" in keywords and "unevaluatedProperties" in keywords:
        raise InputError("`unevaluatedProperties` with `patternProperties` is not supported (it would match the"
                         " patterns with Python's backtracking `re`); use `additionalProperties`",
                         subpath=("schema",))


def _schema_keys(schema: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Where the subschemas declaring a ``$schema`` are (``()``: the top)."""
    if isinstance(schema, dict):
        if isinstance(schema.get("$schema"), str):
            yield path
        for key, value in schema.items():
            if key not in _DATA_KEYWORDS:
                yield from _schema_keys(value, (*path, key))
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from _schema_keys(value, (*path, i))


@functools.lru_cache(maxsize=1024)
def _re2(pattern: str) -> Pattern:
    return compile_pattern(pattern)


def _re2_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and _re2(pattern).search(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _re2_pattern_properties(validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        regex = _re2(pattern)
        for key, value in instance.items():
            if regex.search(key) is not None:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _re2_additional_properties(validator: Any, allowed: Any, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = [_re2(pattern) for pattern in schema.get("patternProperties", {})]
    extras = [key for key in instance
              if key not in properties and not any(regex.search(key) is not None for regex in patterns)]
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        shown = ", ".join(repr(extra) for extra in sorted(extras, key=str))
        verb = "was" if len(extras) == 1 else "were"
        yield ValidationError(f"Additional properties are not allowed ({shown} {verb} unexpected)")


@functools.cache
def _re2_validator() -> Any:
    """Draft 2020-12 with RE2 for ``pattern``, ``patternProperties`` and ``additionalProperties``."""
    from jsonschema import Draft202012Validator, validators

    return validators.extend(Draft202012Validator, {
        "pattern": _re2_pattern, "patternProperties": _re2_pattern_properties,
        "additionalProperties": _re2_additional_properties})


def _prepare_json(options: Mapping[str, Any]) -> JsonRule:
    validator = None
    if "schema" in options:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(options["schema"])
        except SchemaError as exc:
            raise InputError(f"`schema` is not a valid JSON Schema: {exc.message}") from None
        _check_regexes(options["schema"])
        # without its `$schema`, a `$ref` to the top cannot switch to another draft's validator either
        validator = _re2_validator()({k: v for k, v in options["schema"].items() if k != "$schema"})
        return JsonRule(validator, bool(options.get("allow_fences", False)), _fast_validator(options["schema"]))
    return JsonRule(validator, bool(options.get("allow_fences", False)))


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


@check("field", prepare=_prepare_field, options={"properties": {
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

@check("latency", options={"properties": {"max_ms": {"type": "number", "exclusiveMinimum": 0}},
                           "required": ["max_ms"]})
def latency(options: Mapping[str, Any], record: OutputRecord, case: EvalCase | None) -> Sequence[Finding]:
    """The record's ``latency_ms`` is at most ``max_ms`` (a missing latency fails)."""
    value = record.latency_ms
    if value is None:
        return [Finding("latency", "`latency_ms` is missing")]
    if value > options["max_ms"]:
        return [Finding("latency", f"latency {value:g} ms is over {options['max_ms']:g} ms")]
    return NO_FINDINGS
