"""The JSON Schema validators of a ``json`` rule: RE2 patterns, quick yeses, references resolved at load time.

jsonschema judges (Draft 2020-12) with RE2 in place of Python's backtracking ``re``, and
with an empty schema registry: judging an output never fetches a schema. Every ``$ref``
is resolved when the rule is loaded, so a reference that only a fetch could satisfy, or
that points to nothing, is an input error naming it, not a hang or a crash on the first
output. jsonschema_rs (the optional ``fast`` extra) or else fastjsonschema gives the quick
yes where it means the same as jsonschema; jsonschema only explains a no.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..text.regex import Pattern, compile_pattern
from .rust_schema import _DATA_KEYWORDS, _explainer, _known_keywords, rust_validator


@dataclass(frozen=True)
class SchemaValidators:
    """What judges an output against a rule's ``schema``.

    ``validator`` (jsonschema with RE2) decides and explains; the others only say yes where it would:
    ``quick`` (jsonschema_rs, a bool) for the values orjson read, ``fast`` (fastjsonschema, raises on
    a no) for any value; ``explainer`` is ``validator`` passing over the parts of a value orjson read
    that ``quick``'s twins accept, which hold no error (:func:`_explainer`).
    """

    validator: Any
    fast: Any | None = None
    quick: Callable[[Any], bool] | None = None
    explainer: Any | None = None


def json_schema_validators(schema: Mapping[str, Any]) -> SchemaValidators:
    """The validators of a rule's ``schema`` (:class:`SchemaValidators`; a quick one is ``None`` where it would
    differ); an ``InputError`` (with the path under ``schema``) when the schema cannot be judged with safely."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from referencing import Registry

    try:
        Draft202012Validator.check_schema(schema)
        _check_regexes(schema)
        # without its `$schema`, a `$ref` to the top cannot switch to another draft's validator either
        plain = _unshared({k: v for k, v in schema.items() if k != "$schema"})
        _check_refs(plain)
    except SchemaError as exc:
        raise InputError(f"`schema` is not a valid JSON Schema: {exc.message}") from None
    except RecursionError:
        raise InputError("`schema` is nested too deeply to be checked; expected fewer levels (use `$defs` and"
                         " `$ref` for repeated parts)") from None
    validator = _re2_validator()(plain, registry=Registry())  # empty: a `$ref` is never fetched
    quick = rust_validator(plain)
    return SchemaValidators(validator, fast_validator(_unshared(schema)), quick,
                            None if quick is None else _explainer(plain))


#: Keywords newer than draft 7, which fastjsonschema would silently ignore.
_NEWER_KEYWORDS = {"prefixItems", "$dynamicRef", "$dynamicAnchor", "unevaluatedProperties", "unevaluatedItems",
                   "dependentSchemas", "dependentRequired", "$defs", "minContains", "maxContains", "$anchor"}
#: Keywords fastjsonschema judges otherwise: ``multipleOf`` in decimals (0.3 is a multiple of 0.1 to it, not to
#: jsonschema, which divides floats).
_FAST_DIFFERS = {"multipleOf"}


#: the keywords fastjsonschema (draft 7) reads as Draft 2020-12 does, and the annotations both pass over; it reads
#: ``dependencies`` and ``contentMediaType``, which Draft 2020-12 does not (under ``not``, its no would be a yes), and
#: nothing beside a ``$ref`` (:func:`_known_keywords`)
_ANNOTATIONS = frozenset({"$comment", "title", "description", "default", "deprecated", "readOnly", "writeOnly",
                          "examples", "definitions"})
_FAST_KEYWORDS = _ANNOTATIONS | {
    "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "items", "contains", "properties", "patternProperties",
    "additionalProperties", "propertyNames", "type", "enum", "const", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxProperties",
    "minProperties", "required", "$ref", "format"}


def _keywords(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        return set(schema).union(*(_keywords(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_keywords(v) for v in schema))
    return set()


def fast_validator(schema: Mapping[str, Any]) -> Any | None:
    """fastjsonschema (about 20x faster than jsonschema) where it means the same; else None.

    Its patterns are swapped for RE2 ones (it compiles them with Python's backtracking ``re``);
    a schema with ``multipleOf`` gets none (:data:`_FAST_DIFFERS`), nor does one referring to other
    documents (fastjsonschema would fetch them), nor one with an ``$id`` or ``id`` (it reads them by
    draft 7, and a ``$ref`` under one could mean another place than it does in Draft 2020-12), nor one
    with a keyword outside :data:`_FAST_KEYWORDS` (``dependencies``, ``contentMediaType``) or an assertion
    beside a ``$ref`` (draft 7 reads none). Its formats are off, as jsonschema's are, and it fills in no
    ``default``: the parsed output is shared with the next rule judging it.
    """
    if (_keywords(schema) & (_NEWER_KEYWORDS | _FAST_DIFFERS) or any(not ref.startswith("#") for ref in _refs(schema))
            or _has_ids(schema)):
        return None
    plain = {k: v for k, v in schema.items() if k != "$schema"}
    if not _known_keywords(plain, _FAST_KEYWORDS, _ANNOTATIONS):
        return None
    import fastjsonschema

    try:  # use_default: it would write the defaults into the value, which the next rule judging the output reads
        validate = fastjsonschema.compile(plain, formats={}, use_formats=False, use_default=False)
        code = fastjsonschema.compile_to_code(plain, formats={}, use_formats=False, use_default=False)
    except Exception:
        return None
    return validate if _matches_with_re2(validate, code) else None


def _matches_with_re2(validate: Any, code: str) -> bool:
    """Make a fastjsonschema validator match its patterns with RE2; False if its code uses ``re`` in another way.

    The generated code compiles each pattern once into ``REGEX_PATTERNS`` and calls ``.search``
    on it only to ask whether it matches (``if not ...search(data):``, ``if ...search(key):``), so
    each gets a :class:`_Occurs`; RE2's ``$`` already means the end of the text, which is what its
    ``\\Z`` rewrite asks of ``re``.
    """
    patterns = getattr(validate, "__globals__", {}).get("REGEX_PATTERNS")
    if not isinstance(patterns, dict) or not code.count("re.") == code.count("re.compile(") == len(patterns):
        return False
    if code.count("REGEX_PATTERNS[") != code.count("if not REGEX_PATTERNS[") + code.count("if REGEX_PATTERNS["):
        return False  # a use other than a yes or no
    for pattern in patterns:
        patterns[pattern] = _Occurs(_re2(pattern))
    return True


class _Occurs:
    """A pattern whose ``search`` answers only whether it occurs (``Regex.test``: several times cheaper than a
    match object), for code that asks nothing more."""

    __slots__ = ("search",)

    def __init__(self, regex: Pattern) -> None:
        self.search = regex.test


def _has_ids(schema: Any) -> bool:
    """Whether any object of the schema has an ``$id`` or ``id`` that is a string (data keywords too: it errs safe)."""
    if isinstance(schema, dict):
        return (any(isinstance(schema.get(key), str) for key in ("$id", "id"))
                or any(_has_ids(value) for value in schema.values()))
    if isinstance(schema, list):
        return any(_has_ids(value) for value in schema)
    return False


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


#: the keywords whose value jsonschema looks up in the schema's registry while it judges an output
_REF_KEYWORDS = ("$ref", "$dynamicRef")


def _unshared(schema: Any) -> Any:
    """A copy in which no object or list appears twice (a YAML alias shares one), so each has one place."""
    if isinstance(schema, Mapping):
        return {key: _unshared(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_unshared(value) for value in schema]
    return schema


def _where(schema: Any, node: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """The path of the object ``node`` (by identity) inside an unshared ``schema``."""
    if schema is node:
        return path
    items = schema.items() if isinstance(schema, dict) else enumerate(schema) if isinstance(schema, list) else ()
    for key, value in items:
        if isinstance(value, dict | list):
            found = _where(value, node, (*path, key))
            if found is not None:
                return found
    return None


def _subschemas(resource: Any) -> Iterator[Any]:
    """A resource and every subschema under it (as ``referencing`` resources), the way jsonschema descends."""
    pending = [resource]
    while pending:
        each = pending.pop()
        yield each
        pending.extend(each.subresources())


def _check_refs(schema: dict[str, Any]) -> None:
    """Resolve every reference of an unshared schema within it alone; an ``InputError`` for the first that fails.

    The walk follows what jsonschema follows when it judges: the subschemas, and whatever a
    reference points to, each read with the base URI it has there (a nested ``$id`` changes
    what ``#`` means below it). A reference may point outside the subschemas (``#/components/x``)
    if what it finds there is a valid schema, but never into data (``const``, ``enum``).
    """
    from referencing import Registry
    from referencing.exceptions import InvalidAnchor, NoSuchAnchor, PointerToNowhere, Unresolvable
    from referencing.jsonschema import DRAFT202012

    root = DRAFT202012.create_resource(schema)
    known = {id(each.contents) for each in _subschemas(root)}  # checked against the metaschema already
    pending = [(Registry().resolver_with_root(root), root)]
    seen: set[int] = set()
    while pending:
        resolver, resource = pending.pop()
        if id(resource.contents) in seen:
            continue
        seen.add(id(resource.contents))
        pending.extend((resolver.in_subresource(sub), sub) for sub in resource.subresources())
        contents = resource.contents
        for keyword in _REF_KEYWORDS if isinstance(contents, dict) else ():
            ref = contents.get(keyword)
            if not isinstance(ref, str):
                continue
            subpath = ("schema", *(_where(schema, contents) or ()), keyword)
            try:
                resolved = resolver.lookup(ref)
            except (PointerToNowhere, NoSuchAnchor, InvalidAnchor, ValueError) as exc:
                scope = exc.resource.id() if isinstance(exc, PointerToNowhere | NoSuchAnchor) else None
                within = (f"the part of the schema under the nested `$id` {scope!r}, where `#` means that part"
                          if scope and scope != root.id() else "the schema")
                raise InputError(f"`{keyword}` {ref!r} points to nothing in {within}; expected a reference to a"
                                 " subschema, such as '#/$defs/<name>'", subpath=subpath) from None
            except Unresolvable:
                raise InputError(f"`{keyword}` {ref!r} refers to a document outside this schema, which the gate"
                                 " never fetches (no network, no files); expected a reference within the schema:"
                                 " put the definition under `$defs` and refer to it as '#/$defs/<name>'",
                                 subpath=subpath) from None
            target = resolved.contents
            if id(target) not in known:
                _check_target(keyword, ref, target, _where(schema, target) or (), subpath)
                known |= {id(each.contents) for each in _subschemas(DRAFT202012.create_resource(target))}
            pending.append((resolved.resolver, DRAFT202012.create_resource(target)))


def _check_target(keyword: str, ref: str, target: Any, where: tuple[str | int, ...],
                  subpath: tuple[str | int, ...]) -> None:
    """Refuse a reference to something outside the subschemas that is data or no valid schema."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    data = next((key for key in where if key in _DATA_KEYWORDS), None)
    if data is not None:
        raise InputError(f"`{keyword}` {ref!r} points into `{data}`, which holds data, not a schema; expected a"
                         " reference to a subschema, such as '#/$defs/<name>'", subpath=subpath)
    if not isinstance(target, dict | bool):
        raise InputError(f"`{keyword}` {ref!r} points to a {type(target).__name__}, not a schema; expected a"
                         " reference to an object or a boolean", subpath=subpath)
    try:
        Draft202012Validator.check_schema(target)
    except SchemaError as exc:
        raise InputError(f"`{keyword}` {ref!r} points to something that is not a valid JSON Schema:"
                         f" {exc.message}", subpath=subpath) from None


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
