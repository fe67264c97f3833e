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
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..text.regex import Pattern, compile_pattern


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
    draft 7, and a ``$ref`` under one could mean another place than it does in Draft 2020-12); its
    formats are off, as jsonschema's are.
    """
    if (_keywords(schema) & (_NEWER_KEYWORDS | _FAST_DIFFERS) or any(not ref.startswith("#") for ref in _refs(schema))
            or _has_ids(schema)):
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


# --- jsonschema_rs: the quick yes where it reads a schema as jsonschema with RE2 does -----------------------------

def jsonschema_rs_module() -> Any | None:
    """The jsonschema_rs module (the optional ``fast`` extra), or None when it is not installed."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    return jsonschema_rs


def rust_validator(schema: Mapping[str, Any]) -> Callable[[Any], bool] | None:
    """jsonschema_rs's ``is_valid`` of a rule's schema (``$schema`` taken out, references checked), where it says
    yes only to what jsonschema with RE2 accepts (:func:`rust_judges_alike`); else None.

    About 13x faster than fastjsonschema on an order object. Sound only for values that orjson read:
    JSON's own types, finite floats, integers of at most 64 bits, valid Unicode, at most 1024 levels
    (jsonschema_rs takes an infinity from Python's ``json`` for a number below any maximum).
    """
    if not rust_judges_alike(schema):
        return None
    return _rust_judge(schema)


def _rust_judge(schema: Mapping[str, Any]) -> Callable[[Any], bool] | None:
    """jsonschema_rs's ``is_valid`` of a schema :func:`rust_judges_alike` accepts, its patterns in Rust's
    dialect (:func:`rust_pattern`); None when jsonschema_rs is not installed or cannot compile it."""
    rs = jsonschema_rs_module()
    if rs is None:
        return None
    try:
        validator = rs.Draft202012Validator(_rust_patterns(schema), validate_formats=False,
                                            pattern_options=rs.RegexOptions())
    except Exception:  # two patterns made one, or a pattern or a part it cannot compile: jsonschema alone
        return None
    is_valid: Callable[[Any], bool] = validator.is_valid
    return is_valid


#: keywords jsonschema_rs judges otherwise (``multipleOf`` of floats), that jsonschema looks up in a registry,
#: or whose jsonschema judging may recurse through a whole value (``uniqueItems``): no quick yes with them
_RUST_REFUSED = frozenset({"multipleOf", "uniqueItems", "unevaluatedItems", "unevaluatedProperties", "$dynamicRef",
                           "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor", "$anchor", "$id", "$schema",
                           "$vocabulary", "contentSchema", "contentMediaType", "contentEncoding"})
#: keywords whose value jsonschema_rs reads as a whole number (jsonschema takes ``2.0`` too)
_COUNTS = frozenset({"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties",
                     "minContains", "maxContains"})
#: the references jsonschema_rs resolves as jsonschema does: a plain JSON pointer into the schema
_PLAIN_REF = re.compile(r"#(/[A-Za-z0-9_.$-]+)*")
#: the deepest a schema may be (references followed), and the most nodes looked at, for a quick yes
_RUST_MAX_DEPTH = 32
_RUST_MAX_NODES = 100_000
_INT64 = 2 ** 63


def rust_judges_alike(schema: Mapping[str, Any]) -> bool:
    """Whether jsonschema_rs (Draft 2020-12, formats off, the ``regex`` crate) accepts only what jsonschema with
    RE2 accepts, for values orjson read: a schema :func:`rust_reads_alike` whose every pattern the two engines
    read alike (:func:`portable_pattern`)."""
    return all(portable_pattern(pattern) for pattern, _ in _patterns(schema)) and rust_reads_alike(schema)


def rust_reads_alike(schema: Mapping[str, Any], refused: frozenset[str] = _RUST_REFUSED,
                     max_depth: int = _RUST_MAX_DEPTH) -> bool:
    """Whether jsonschema_rs reads a schema's keywords as jsonschema does (its patterns aside).

    Only JSON values in it (finite floats, 64-bit integers, text keys); no keyword of ``refused``
    and no ``id`` text; whole-number counts; references that are plain pointers and never cycle,
    at most ``max_depth`` levels in all, references followed (so jsonschema never runs out of
    stack where jsonschema_rs says yes: it says yes to ``{"$ref": "#"}``).
    """
    heights: dict[tuple[int, bool], int] = {}  # the levels below each node judged so far, references followed
    active: set[int] = set()  # the nodes on the way to the one judged: a reference to one of them is a cycle

    def height(node: Any, level: int, data: bool) -> int:
        """The levels under ``node`` (references followed), or -1 when jsonschema_rs may read it otherwise."""
        kind = type(node)
        if kind is str or kind is bool or node is None:
            return 0
        if kind is int:
            return 0 if -_INT64 <= node < _INT64 else -1
        if kind is float:
            return 0 if math.isfinite(node) else -1
        known = heights.get((id(node), data))
        if known is not None:
            return known
        if level > max_depth or len(heights) > _RUST_MAX_NODES or (kind is not list and kind is not dict):
            return -1
        active.add(id(node))
        found = _height(node, level, data)
        active.discard(id(node))
        heights[(id(node), data)] = found
        return found

    def _height(node: Any, level: int, data: bool) -> int:
        if type(node) is list:
            levels = [height(each, level + 1, data) for each in node]
            return -1 if -1 in levels else 1 + max(levels, default=0)
        if any(type(key) is not str for key in node):
            return -1
        found = 0
        if not data:
            if (not refused.isdisjoint(node) or isinstance(node.get("id"), str)
                    or any(type(node[key]) is not int for key in _COUNTS.intersection(node))):
                return -1
            if "$ref" in node:
                ref = node["$ref"]
                target = _pointed(schema, ref) if isinstance(ref, str) and _PLAIN_REF.fullmatch(ref) else _NOWHERE
                if target is _NOWHERE or id(target) in active:
                    return -1
                found = height(target, level, False)  # judged at the same level as the reference
                if found < 0:
                    return -1
        for key, value in node.items():
            below = height(value, level + 1, data or key in _DATA_KEYWORDS)
            if below < 0:
                return -1
            found = max(found, below + 1)
        return found

    return 0 <= height(schema, 0, False) <= max_depth


_NOWHERE: Any = object()


def _pointed(schema: Any, ref: str) -> Any:
    """What a plain JSON pointer reference (``#/$defs/x``) points to in the schema, or :data:`_NOWHERE`."""
    node = schema
    for part in ref[2:].split("/") if ref != "#" else ():
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _NOWHERE
    return node


#: characters a backslash makes literal in RE2, Rust's regex crate and Python's re alike; and the escapes of
#: control characters all three read alike
_ESCAPED = frozenset("\\^$.|?*+()[]{}-/") | frozenset("ntr")
_COUNTED = re.compile(r"\{([0-9]{1,4})(,([0-9]{0,4}))?\}")


def portable_pattern(pattern: str) -> bool:
    """Whether a regular expression uses only syntax that RE2, Rust's ``regex`` crate and Python's ``re`` read
    alike: literals, ``.``, ``^``, ``$``, classes of literals and ranges, groups, ``|`` and quantifiers.

    Not ``\\d``, ``\\w``, ``\\s`` or ``\\b`` (Unicode in Rust's, ASCII in RE2), flags, look-arounds, nested
    classes or Rust's class operators (``&&``, ``--``, ``~~``), nor anything one of them would read as a
    literal and another as syntax (``{,3}``, a ``]`` first in a class). ``$`` is the end of the text in
    RE2 and Rust's; Python's ``re`` also matches it before a final newline (it accepts more, never less).
    """
    i, n, depth, last = 0, len(pattern), 0, "start"
    if not pattern:
        return True
    while i < n:
        c = pattern[i]
        if c == "\\":
            if pattern[i + 1:i + 2] not in _ESCAPED:
                return False
            i, last = i + 2, "atom"
        elif c == "[":
            i, last = _class_end(pattern, i), "atom"
            if i < 0:
                return False
        elif c == "(":
            if pattern.startswith("(?", i) and not pattern.startswith("(?:", i):
                return False
            i, depth, last = i + (3 if pattern.startswith("(?:", i) else 1), depth + 1, "start"
        elif c == ")" or c == "|":
            if last == "start" or (c == ")" and depth == 0):
                return False
            i, depth, last = i + 1, depth - (c == ")"), "atom" if c == ")" else "start"
        elif c in "*+?{":
            if last != "atom":
                return False  # a quantifier of nothing, of an anchor or of a quantifier
            if c == "{":
                counted = _COUNTED.match(pattern, i)
                if counted is None or (counted[3] and int(counted[3]) < int(counted[1])):
                    return False
                i = counted.end()
            else:
                i += 1
            i += pattern.startswith("?", i)  # lazy: the same yes or no
            last = "quantified"
        elif c in "]}":
            return False
        else:
            i, last = i + 1, "anchor" if c in "^$" else "atom"
    return depth == 0 and last != "start"


def _class_end(pattern: str, start: int) -> int:
    """The index after the character class at ``start``, or -1 unless it holds only literals, escaped literals
    (:data:`_ESCAPED`), ranges of two literals and a ``-`` first or last."""
    i = first = start + 1 + pattern.startswith("^", start + 1)
    n = len(pattern)
    while i < n and pattern[i] != "]":
        c = pattern[i]
        if c == "[":
            return -1
        if c == "\\":
            if pattern[i + 1:i + 2] not in _ESCAPED or (pattern[i + 2:i + 3] == "-" and pattern[i + 3:i + 4] != "]"):
                return -1  # an escape as a range's end
            i += 2
        elif c == "-":
            if i != first and pattern[i + 1:i + 2] != "]":
                return -1
            i += 1
        elif pattern[i + 1:i + 2] == "-" and pattern[i + 2:i + 3] not in ("]", ""):
            if pattern[i + 2] in "\\[]-" or pattern[i + 2] < c:
                return -1
            i += 3
        else:
            i += 1
    body = pattern[first:i]
    if i >= n or not body or "&&" in body or "--" in body or "~~" in body:
        return -1
    return i + 1


def rust_pattern(pattern: str) -> str:
    """A :func:`portable_pattern` as jsonschema_rs reads it the way RE2 does: each ``.`` outside a class as
    ``[^\\n]`` (jsonschema_rs reads patterns as ECMA 262 does, where ``.`` takes neither ``\\r`` nor U+2028
    and U+2029; in RE2 it takes everything but ``\\n``)."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
        elif c == "[":
            end = _class_end(pattern, i)
            out.append(pattern[i:end])
            i = end
        else:
            out.append("[^\\n]" if c == "." else c)
            i += 1
    return "".join(out)


class _MergedPatterns(Exception):
    """Two keys of one ``patternProperties`` that would be one in Rust's dialect."""


def _rust_patterns(schema: Any) -> Any:
    """A copy of a schema :func:`rust_judges_alike` accepts with each pattern in :func:`rust_pattern`'s dialect
    (``pattern`` values, ``patternProperties`` keys); ``_MergedPatterns`` when two keys would become one."""
    if isinstance(schema, list):
        return [_rust_patterns(each) for each in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DATA_KEYWORDS:
            out[key] = value
        elif key == "pattern" and isinstance(value, str):
            out[key] = rust_pattern(value)
        elif key == "patternProperties" and isinstance(value, dict):
            out[key] = {rust_pattern(pattern): _rust_patterns(each) for pattern, each in value.items()}
            if len(out[key]) != len(value):
                raise _MergedPatterns
        else:
            out[key] = _rust_patterns(value)
    return out


#: keywords whose value is a subschema, a list of them, or a mapping of names to them (Draft 2020-12)
_SUBSCHEMA = frozenset({"not", "if", "then", "else", "items", "contains", "additionalProperties", "propertyNames"})
_SUBSCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SUBSCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})


def _schema_objects(schema: Any) -> Iterator[dict[str, Any]]:
    """Every object of a schema that jsonschema may judge a value against (``descend``): the top and each
    subschema under an applicator keyword (references not followed)."""
    if not isinstance(schema, dict):
        return
    yield schema
    for key, value in schema.items():
        if key in _SUBSCHEMA:
            yield from _schema_objects(value)
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            for each in value:
                yield from _schema_objects(each)
        elif key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            for each in value.values():
                yield from _schema_objects(each)


def _explainer(plain: dict[str, Any]) -> Any:
    """The jsonschema validator of ``plain`` (with RE2) that passes over each part of a value that jsonschema_rs
    accepts against the subschema judging it, instead of descending into it: the same errors, found several
    times faster (a broken order object has one wrong field, not seven).

    Only subschemas without references get a twin (elsewhere a ``$ref`` could mean another place); only
    for values orjson read, as :func:`rust_validator`; ``plain`` must be one that it accepts.
    """
    from jsonschema import validators
    from referencing import Registry

    twins: dict[int, tuple[dict[str, Any], Callable[[Any], bool]]] = {}
    for subschema in _schema_objects(plain):
        twin = None if "$ref" in _keywords(subschema) else _rust_judge(subschema)
        if twin is not None:
            twins[id(subschema)] = (subschema, twin)
    cls = validators.extend(_re2_validator(), {})
    descend = cls.descend

    def passing_over(self: Any, instance: Any, schema: Any, *args: Any, **kwargs: Any) -> Any:
        twin = twins.get(id(schema))
        if twin is not None and twin[0] is schema:
            try:
                if twin[1](instance):
                    return iter(())
            except Exception:  # never for a value orjson read; jsonschema looks then
                pass
        return descend(self, instance, schema, *args, **kwargs)

    cls.descend = passing_over  # a class of this validator's own: jsonschema's are left as they are
    return cls(plain, registry=Registry())
