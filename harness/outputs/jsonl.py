"""Read model outputs records strictly: the one line parser every input format goes through.

The input can hold millions of records, so the shape of each record is checked by hand
(``jsonschema`` manages about 23,000 objects a second; this runs well over a million),
following ``harness/schemas/output.schema.json``. Repeated metadata values (model
names, versions, slices) are shared between records to keep memory flat.

Strict JSON only: ``NaN``, ``Infinity`` and numbers too large for a double (``1e999``) are
refused, and so is an object holding a key twice (``{"output": "ok", "output": "leak"}``:
a reader keeping the last value would judge another text than one keeping the first).
A line may hold at most :data:`MAX_RECORD_BYTES` bytes; the readers in
:mod:`harness.outputs.sources` never hold more of a longer one, so ``/dev/zero`` behind gzip or a
gigabyte without a newline fails at once.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import orjson

from ..errors import InputError, Location
from ..model import OutputRecord, Outputs
from ..text.mask import mask_text

MAX_ERRORS = 20
#: the longest line (one record, its newline excluded) an outputs file may hold: 16 MiB
MAX_RECORD_BYTES = 16 * 1024 * 1024
_SHARED_STRINGS = ("model", "model_version")
_STRING_FIELDS = ("model", "model_version", "input", "timestamp")
_LARGEST = 1.7976931348623157e308  # the largest finite double
_NO_TAGS: list[str] = []  # sentinels: never a record's own value
_NO_SLICE: dict[str, Any] = {}
#: the end of a key: its closing quote, any whitespace, the colon
_KEY_END = re.compile(rb'"[ \t\r\n]*:')
_SPACED_KEY_END = re.compile(rb'"[ \t\r\n]+:')


@functools.lru_cache(maxsize=1024)
def _all_strings(items: tuple[Any, ...]) -> bool:
    return all(type(item) is str for item in items)


def _strings(items: tuple[Any, ...]) -> bool:
    try:
        return _all_strings(items)
    except TypeError:  # unhashable members: certainly not all strings
        return False


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, as the schema speaks of it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__)


def _shown(value: Any) -> str:
    """A rejected value as an error message may show it: personal data masked, then shortened."""
    text = repr(mask_text(value)) if isinstance(value, str) else mask_text(repr(value))  # before repr escapes
    return text if len(text) <= 80 else text[:79] + "…"


def shape_problem(obj: Any) -> tuple[str, str] | None:
    """(json path, message) of the first shape problem of a record, or None."""
    if type(obj) is not dict:
        return "$", f"expected a JSON object, got {_json_type(obj)}"
    case_id, output = obj.get("case_id"), obj.get("output")
    if type(case_id) is not str or not case_id or type(output) is not str:
        for key in ("case_id", "output"):
            if key not in obj:
                return "$", f"{key!r} is a required property"
        if type(case_id) is not str or not case_id:
            return "$.case_id", f"expected a non-empty string, got {_shown(case_id)}"
        return "$.output", f"expected a string, got {_json_type(output)}"
    if len(obj) == 2:
        return None
    # the usual record, checked in one expression (absent fields read as a value of their type)
    get = obj.get
    latency, tags = get("latency_ms", 0), get("tags", _NO_TAGS)
    if (type(get("model", "")) is str and type(get("model_version", "")) is str and type(get("input", "")) is str
            and type(get("timestamp", "")) is str and type(get("slice", _NO_SLICE)) is dict
            and (type(latency) is float or type(latency) is int) and 0 <= latency <= _LARGEST
            and (tags is _NO_TAGS or (type(tags) is list and _strings(tuple(tags))))):
        return None
    # every optional field, when present, has its type: null is not a number, a list or an object
    if "latency_ms" in obj:
        latency = obj["latency_ms"]
        if type(latency) not in (int, float) or not 0 <= latency <= _LARGEST:
            return "$.latency_ms", f"expected a finite number >= 0, got {_shown(latency)}"
    if "slice" in obj and type(obj["slice"]) is not dict:
        return "$.slice", f"expected an object, got {_json_type(obj['slice'])}"
    if "tags" in obj:
        tags = obj["tags"]
        if type(tags) is not list or not _strings(tuple(tags)):
            return "$.tags", f"expected a list of strings, got {_shown(tags)}"
    for key in _STRING_FIELDS:
        if key in obj and type(obj[key]) is not str:
            return f"$.{key}", f"expected a string, got {_json_type(obj[key])}"
    return None


@contextlib.contextmanager
def paused_gc(*, lasting: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic objects.

    Records, findings and results hold no reference cycles, yet each thousand of them
    triggers a collection that walks every object alive: a third of the loading time of a
    million records. Reference counting still frees everything as usual.

    ``lasting``: what is made lives on (a project, a report). When the pause made at least
    :data:`LASTING_OBJECTS` objects the collector tracks, they are moved to the oldest generation at once when it
    resumes (``gc.freeze`` then ``gc.unfreeze``, which walk no object): else the first young collection after it
    walks all of them (a third of a second for a 100,000-case suite). The price: the few cycles of garbage made
    meanwhile wait for the next full collection (a small load, which a long-lived process may repeat many times,
    is left to the young collections). Objects frozen by someone else (a server before it forks) stay frozen:
    the move is skipped then.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if lasting and gc.get_count()[0] >= LASTING_OBJECTS and not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


#: the objects a ``paused_gc(lasting=True)`` must have made for them to be moved to the oldest generation
LASTING_OBJECTS = 200_000


class FieldSource(Protocol):
    """Where the record fields come from when a log names them otherwise (``sources.FieldMap``)."""

    def apply(self, obj: dict[str, Any]) -> tuple[dict[str, Any] | None, tuple[str, str] | None]: ...

    def explain(self, problem: tuple[str, str]) -> tuple[str, str]: ...


class RecordParser:
    """The one reader of outputs records: lines (or rows parsed elsewhere) in, records and errors out.

    Every format goes through it, so every format is as strict as JSON Lines: a record has the
    shape of ``output.schema.json`` and finite numbers only, and a JSON line holds no key twice
    and no ``NaN``. Errors name ``shown`` and the line (or row); after :data:`MAX_ERRORS` of them
    :attr:`full` is true and the caller stops reading.
    """

    #: repeated metadata values kept shared, at most this many (a streaming reader must not grow)
    SHARED_LIMIT = 100_000

    def __init__(self, shown: str, *, fields: FieldSource | None = None, share: bool = True) -> None:
        self.shown = shown
        self.fields = fields
        self.errors: list[InputError] = []
        self._shared: dict[Any, Any] | None = {} if share else None

    @property
    def full(self) -> bool:
        """Whether enough errors were found to stop reading."""
        return len(self.errors) >= MAX_ERRORS

    def error(self, message: str, line: int | None = None, json_path: str | None = None) -> None:
        self.errors.append(InputError(message, Location(self.shown, line, None, json_path)))

    def stop(self) -> None:
        """Note that reading stopped at the error limit (call once :attr:`full` is true)."""
        self.error(f"stopped after {MAX_ERRORS} broken lines")

    def lines(self, lines: Sequence[bytes], first: int, text: bytes | None = None) -> list[OutputRecord]:
        """The records of consecutive JSON lines (newlines removed), the first numbered ``first``.

        ``text`` is the bytes of exactly these lines joined by newlines (with or without a final
        one), when the caller holds it already: it spares a copy.
        """
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        objs: list[Any] = []
        numbers: list[int] = []
        good: list[bytes] = []
        failed = False
        for number, line in enumerate(lines, first):
            try:
                obj = loads(line)
            except decode_error as exc:
                if line.strip():  # a blank line is no record, and no error
                    failed = True
                    self.error(strict_problem(line) or f"invalid JSON: {exc}", number)
                    if self.full:
                        break
                continue
            objs.append(obj)
            numbers.append(number)
            good.append(line)
        if failed or text is None:
            text = b"\n".join(good)
        repeated = repeated_keys(objs, good, text)
        if repeated:
            for i in sorted(repeated, reverse=True):
                self.error(repeated[i], numbers[i])
                del objs[i], numbers[i]
        return self.objects(objs, numbers, checked=True)

    def objects(self, objs: Sequence[Any], numbers: Sequence[int], *, checked: bool = False) -> list[OutputRecord]:
        """The records of parsed objects (``numbers``: their lines or rows); ``checked``: their numbers are
        known finite (JSON read by orjson, which refuses the others)."""
        records: list[OutputRecord] = []
        fields, shared, full = self.fields, self._shared, MAX_ERRORS
        if shared is not None and len(shared) > self.SHARED_LIMIT:
            shared.clear()
        for obj, number in zip(objs, numbers, strict=True):
            if fields is not None and type(obj) is dict:
                mapped, problem = fields.apply(obj)
                if mapped is None:
                    self.error(problem[1] if problem else "not mapped", number, problem[0] if problem else None)
                    if len(self.errors) >= full:
                        break
                    continue
                obj = mapped
            problem = shape_problem(obj)
            if problem is None and not checked:
                try:
                    problem = non_finite(obj, "$")
                except RecursionError:
                    problem = ("$", "nested too deeply; expected fewer levels")
            if problem is not None:
                if fields is not None:
                    problem = fields.explain(problem)
                self.error(problem[1], number, problem[0])
                if len(self.errors) >= full:
                    break
                continue
            records.append(_record(obj, number, shared) if shared is not None
                           else OutputRecord(obj["case_id"], obj.pop("output"), number, obj))
        return records


def repeated_keys(objs: list[Any], lines: list[bytes], text: bytes) -> dict[int, str]:
    """The lines (by index) holding an object with a key twice, which orjson reads keeping the last value.

    Every ``:`` of a JSON text either ends a key or stands in a string, and a string can also spell
    it ``\\u003a``; orjson's own compact text of the parsed objects holds one ``:`` per key kept plus
    those of the strings. So when the colons of ``text`` (plus the ``\\u003a`` spellings) equal those of
    the re-encoded objects, no key was dropped: three C-speed passes over a batch instead of a check
    per line. Otherwise each line is checked alike, and a suspect one read again by ``json`` with a
    duplicate-key check, which names the key.
    """
    if not objs:
        return {}
    try:
        if _colons(orjson.dumps(objs), escapes=False) == _colons(text):  # orjson writes ':' as itself
            return {}
    except orjson.JSONEncodeError:  # nested deeper than orjson writes (255 levels)
        pass
    found = {}
    for i, (obj, line) in enumerate(zip(objs, lines, strict=True)):
        try:
            suspect = orjson.dumps(obj).count(b":") != _colons(line)
        except orjson.JSONEncodeError:
            suspect = _may_repeat_a_key(line, _keys(obj))
        problem = strict_problem(line, suspect=True) if suspect else None
        if problem is not None:
            found[i] = problem
    return found


def _colons(text: bytes, *, escapes: bool = True) -> int:
    """The ``:`` of a JSON text, those written ``\\u003a`` included (a ``\\\\u003a`` too: counting more is safe)."""
    if len(text) < 1 << 16:
        count = text.count(b":")
        if escapes and b"\\" in text:
            count += text.count(b"\\u003a") + text.count(b"\\u003A")
        return count
    numpy = _numpy()  # three times as fast as bytes.count, and one pass finds every backslash
    data = numpy.frombuffer(text, numpy.uint8)
    count = int(numpy.count_nonzero(data == 58))
    if not escapes:
        return count
    at = numpy.flatnonzero(data[:-5] == 92)  # a backslash with five bytes after it
    if at.size:
        count += int(numpy.count_nonzero((data[at + 1] == 117) & (data[at + 2] == 48) & (data[at + 3] == 48)
                                         & (data[at + 4] == 51) & ((data[at + 5] | 32) == 97)))
    return count


@functools.cache
def _numpy() -> Any:
    import numpy  # a dependency of pandas, imported once it pays

    return numpy


def _keys(value: Any) -> int:
    """How many keys the JSON objects in a parsed object or array hold, nested ones included."""
    try:
        return _nested_keys(value)
    except RecursionError:  # orjson reads 1,024 levels
        return _deep_keys(value)


def _nested_keys(value: Any) -> int:
    items = value.values() if type(value) is dict else value
    count = len(value) if type(value) is dict else 0
    for item in items:  # a loop, not sum() over a generator: three times faster, once per line
        if type(item) is dict or type(item) is list:
            count += _nested_keys(item)
    return count


def _deep_keys(value: Any) -> int:
    count, pending = 0, [value]
    while pending:
        item = pending.pop()
        if type(item) is dict:
            count += len(item)
            pending.extend(item.values())
        elif type(item) is list:
            pending.extend(item)
    return count


def _may_repeat_a_key(line: bytes, keys: int) -> bool:
    """Whether an object in ``line`` may hold a key twice, given the ``keys`` parsed from it; False is certain."""
    if _SPACED_KEY_END.search(line) is None:
        return _unescaped_key_ends(line) != keys
    return len(_KEY_END.findall(line)) != keys  # every key end, and any look-alike inside a string


def _unescaped_key_ends(line: bytes) -> int:
    """How many ``":`` the line holds whose quote no backslash escapes (an even run of backslashes before it)."""
    total, sign, ending = 0, 1, b'":'
    count = line.count(ending)
    while count:  # ":  minus \":  plus \\":  ... (almost always one or two rounds)
        total += sign * count
        sign, ending = -sign, b"\\" + ending
        count = line.count(ending)
    return total


def strict_problem(line: bytes, *, suspect: bool = False) -> str | None:
    """What strict JSON refuses in a line that the fast parser accepted or misdescribed: a repeated key, NaN.

    A ``suspect`` line (it may hold a key twice) that ``json`` cannot read is refused: unchecked is not clean.
    """
    try:
        json.loads(line, object_pairs_hook=_unique_keys, parse_constant=_refuse_constant, parse_float=_finite)
    except _NotStrict as exc:
        return str(exc)
    except RecursionError:
        return "nested too deeply to check that no key is held twice; expected fewer levels" if suspect else None
    except ValueError as exc:
        return f"cannot check that no key is held twice: {str(exc)[:120]}" if suspect else None
    return None


class _NotStrict(ValueError):
    """Valid for Python's ``json``, refused as JSON Lines input."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise _NotStrict(f"duplicate key {_shown(twice)} in a JSON object; expected each key once")
    return data


def _refuse_constant(name: str) -> Any:
    raise _NotStrict(f"{name} is not a JSON number; expected a finite number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotStrict(f"{_shown(text)} is too large for a number; expected a finite number")
    return number


def _record(obj: dict[str, Any], number: int, shared: dict[Any, Any]) -> OutputRecord:
    output = obj.pop("output")
    if len(obj) == 1:
        return OutputRecord(obj["case_id"], output, number, obj)
    for key in _SHARED_STRINGS:
        value = obj.get(key)
        if value is not None:
            obj[key] = shared.setdefault(value, value)
    slice_ = obj.get("slice")
    if slice_:
        with contextlib.suppress(TypeError):  # unhashable values: the record keeps its own slice
            obj["slice"] = shared.setdefault(tuple(slice_.items()), slice_)
    tags = obj.get("tags")
    if tags:
        obj["tags"] = shared.setdefault(tuple(tags), tags)
    return OutputRecord(obj["case_id"], output, number, obj)

def records_from_dicts(items: Sequence[dict[str, Any]]) -> Outputs:
    """Outputs built in memory (tests, policy examples, library callers); numbers must be finite, as in a file."""
    records = []
    for i, obj in enumerate(items, start=1):
        try:
            problem = shape_problem(obj) or non_finite(obj, "$")
        except RecursionError:
            problem = ("$", "nested too deeply; expected fewer levels")
        if problem is not None:
            raise InputError(problem[1], Location("<memory>", i, None, problem[0]))
        records.append(_record(dict(obj), i, {}))
    return Outputs("<memory>", "", records)


def non_finite(value: Any, path: str) -> tuple[str, str] | None:
    """(json path, message) of the first value in ``value`` that a JSON file cannot hold, or None: a number that
    is not finite (NaN, infinities), a text (or key) with a lone surrogate, which UTF-8 cannot encode (a file's
    reader refuses both; records built in memory are held to the same)."""
    if type(value) is float and not math.isfinite(value):
        return path, f"expected a finite number, got {value!r}"
    if type(value) is str:
        return None if value.isascii() or encodes(value) else (path, _SURROGATE)
    if isinstance(value, dict):
        for k, v in value.items():
            if type(k) is str and not k.isascii() and not encodes(k):
                return f"{path}.{k.encode('utf-8', 'backslashreplace').decode()}", _SURROGATE
            if (p := non_finite(v, f"{path}.{k}")) is not None:
                return p
        return None
    if isinstance(value, list | tuple):
        return next((p for i, v in enumerate(value) if (p := non_finite(v, f"{path}[{i}]")) is not None), None)
    return None


_SURROGATE = "expected text without lone surrogates (U+D800-U+DFFF cannot be written as UTF-8)"


def encodes(text: str) -> bool:
    """Whether ``text`` has a UTF-8 form (no lone surrogate)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
