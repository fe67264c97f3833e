"""jsonschema_rs (the optional ``fast`` extra) as the quick yes of a ``json`` rule's schema, where it provably
means what jsonschema with RE2 means.

A schema qualifies when every keyword of it is one both read alike (no ``multipleOf``, no keyword of an older
draft that jsonschema_rs still reads, such as ``dependencies``), its references are plain pointers that never
cycle, and every pattern uses only syntax RE2, Rust's ``regex`` crate and Python's ``re`` read alike (``.``
rewritten as ``[^\n]``). Only values orjson read are given to it. :func:`_explainer` is jsonschema passing over
the parts jsonschema_rs accepts, to explain a no several times faster.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

#: keywords whose values are data, not schemas: a ``pattern`` key inside them is no regular expression
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})

#: the jsonschema_rs versions whose judging the quick yes was checked against (the ``fast`` extra pins them): another
#: may read a keyword or a number otherwise
_RUST_VERSIONS = ((0, 61, 2), (0, 62))


def jsonschema_rs_module() -> Any | None:
    """The jsonschema_rs module (the optional ``fast`` extra), or None when it is not installed, cannot be imported
    (a broken install raises more than ``ImportError``), or is a version outside :data:`_RUST_VERSIONS`."""
    return _jsonschema_rs()


@functools.cache
def _jsonschema_rs() -> Any | None:
    from importlib.metadata import version

    try:
        import jsonschema_rs

        found = tuple(int(part) for part in version("jsonschema_rs").split(".")[:3])
    except Exception:  # not installed, a broken install, a version not of digits
        return None
    low, high = _RUST_VERSIONS
    return jsonschema_rs if low <= found < high else None


def rust_validator(schema: Mapping[str, Any]) -> Callable[[Any], bool] | None:
    """jsonschema_rs's ``is_valid`` of a rule's schema (``$schema`` taken out, references checked), where it says
    yes only to what jsonschema with RE2 accepts (:func:`rust_judges_alike`); else None.

    About 13x faster than fastjsonschema on an order object. Sound only for values that orjson read:
    JSON's own types, finite floats, integers of at most 64 bits, valid Unicode, at most 512 levels
    (jsonschema_rs takes an infinity from Python's ``json`` for a number below any maximum; jsonschema runs
    out of stack wording an error about a value 1,000 levels deep).
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


#: the keywords of Draft 2020-12 that jsonschema_rs and jsonschema both read, and read alike (``multipleOf`` and the
#: others of :data:`_RUST_REFUSED` aside), and the annotations both pass over; jsonschema_rs reads some keywords
#: of older drafts even in Draft 2020-12 (``dependencies``), where jsonschema reads none: under ``not``, its no
#: would be a yes
_RUST_KEYWORDS = frozenset({
    "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "prefixItems", "items", "contains",
    "properties", "patternProperties", "additionalProperties", "propertyNames", "type", "enum", "const", "maximum",
    "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
    "maxContains", "minContains", "maxProperties", "minProperties", "required", "dependentRequired", "$ref", "$defs",
    "definitions", "$comment", "format", "title", "description", "default", "deprecated", "readOnly", "writeOnly",
    "examples"})


def rust_judges_alike(schema: Mapping[str, Any]) -> bool:
    """Whether jsonschema_rs (Draft 2020-12, formats off, the ``regex`` crate) accepts only what jsonschema with
    RE2 accepts, and refuses only what it refuses, for values orjson read: a schema :func:`rust_reads_alike`
    whose every pattern the two engines read alike (:func:`portable_pattern`) and whose every subschema has
    only keywords of :data:`_RUST_KEYWORDS`."""
    from .json_schema import _patterns

    return (all(portable_pattern(pattern) for pattern, _ in _patterns(schema)) and rust_reads_alike(schema)
            and _known_keywords(schema))


def _known_keywords(schema: Mapping[str, Any], allowed: frozenset[str] = _RUST_KEYWORDS,
                    beside_ref: frozenset[str] | None = None) -> bool:
    """Whether every object of the schema that a value may be judged against (the subschemas under applicator
    keywords, and what each ``$ref`` points to) has only keywords of ``allowed``, and beside a ``$ref`` only
    those of ``beside_ref`` when given (draft 7 reads nothing beside a ``$ref``; Draft 2020-12 reads all);
    False for a reference that is no plain pointer. Iterative: for a schema of any depth."""
    seen: set[int] = set()
    pending: list[Any] = [schema]
    while pending:
        node = pending.pop()
        if not isinstance(node, dict) or id(node) in seen:
            continue
        seen.add(id(node))
        if not allowed.issuperset(node):
            return False
        if "$ref" in node and beside_ref is not None and not beside_ref.issuperset(node.keys() - {"$ref"}):
            return False
        for key, value in node.items():
            if key in _SUBSCHEMA:
                pending.append(value)
            elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
                pending.extend(value)
            elif key in _SUBSCHEMA_MAPS and isinstance(value, dict):
                pending.extend(value.values())
            elif key == "$ref":
                target = _pointed(schema, value) if isinstance(value, str) and _PLAIN_REF.fullmatch(value) else _NOWHERE
                if target is _NOWHERE:
                    return False
                pending.append(target)
    return True


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

    from .json_schema import _keywords, _re2_validator

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
