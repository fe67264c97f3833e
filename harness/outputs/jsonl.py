"""Load model outputs from JSON Lines: one record per line, every broken line reported.

The file can hold a million records, so the shape of each record is checked by hand
(``jsonschema`` manages about 23,000 objects a second; this runs well over a million),
following ``harness/schemas/output.schema.json``. Repeated metadata values (model
names, versions, slices) are shared between records to keep memory flat.

Strict JSON only: ``NaN``, ``Infinity`` and numbers too large for a double (``1e999``) are
refused, and so is an object holding a key twice (``{"output": "ok", "output": "leak"}``:
a reader keeping the last value would judge another text than one keeping the first).
A line may hold at most :data:`MAX_RECORD_BYTES` bytes; it is read with a bounded
``readline``, so ``/dev/zero`` or a gigabyte without a newline fails at once.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from ..errors import InputError, InputErrors, Location
from ..model import OutputRecord, Outputs
from ..text.mask import mask_text

MAX_ERRORS = 20
#: the longest line (one record, its newline excluded) an outputs file may hold: 16 MiB
MAX_RECORD_BYTES = 16 * 1024 * 1024
_SHARED_STRINGS = ("model", "model_version")
_STRING_FIELDS = ("model", "model_version", "input", "timestamp")
_LARGEST = 1.7976931348623157e308  # the largest finite double
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
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic objects.

    Records, findings and results hold no reference cycles, yet each thousand of them
    triggers a collection that walks every object alive: a third of the loading time of a
    million records. Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_outputs(
    path: Path | str, *, display: str | None = None, progress: Callable[[int], None] | None = None,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> Outputs:
    """Read an outputs JSONL file. Raises ``InputErrors`` (with line numbers) for broken lines.

    ``progress`` is called with the number of bytes read so far, every few thousand lines.
    A line longer than ``max_record_bytes`` (its newline excluded) is an error, found after
    reading at most that many bytes of it.
    """
    shown = display or str(path)
    digest = hashlib.sha256()
    records: list[OutputRecord] = []
    errors: list[InputError] = []
    shared: dict[Any, Any] = {}
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; streamed to bound memory
    except FileNotFoundError:
        raise InputError("file not found", Location(shown)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", Location(shown)) from None
    read = number = 0
    repeated_keys = _RepeatedKeys(shown)
    with handle, paused_gc():
        readline, limit = handle.readline, max_record_bytes + 1
        while line := readline(limit):  # bounded: the rest of an overlong line is never read (/dev/zero)
            number += 1
            if len(line) == limit and not line.endswith(b"\n"):
                errors.append(InputError(f"record longer than {max_record_bytes} bytes; expected one JSON object"
                                         f" per line of at most {max_record_bytes} bytes", Location(shown, number)))
                break
            digest.update(line)
            read += len(line)
            if progress is not None and number % 20000 == 0:
                progress(read)
            if not line.strip():
                continue
            obj, problem = _parse(line)
            if problem is None:
                errors += repeated_keys.add(number, line, obj)
                records.append(_record(obj, number, shared))
            else:
                errors.append(InputError(problem[1], Location(shown, number, None, problem[0])))
            if len(errors) >= MAX_ERRORS:
                errors += repeated_keys.check()
                errors.append(InputError(f"stopped after {MAX_ERRORS} broken lines", Location(shown)))
                break
    errors += repeated_keys.check()
    InputErrors.raise_if_any(sorted(errors, key=lambda e: e.location.line or 0))
    if not records:
        raise InputError("no output records: an empty run is an error, never a pass", Location(shown))
    return Outputs(shown, digest.hexdigest(), records)


def _parse(line: bytes) -> tuple[Any, tuple[str | None, str] | None]:
    """One line as a record: (the object, None) or (None, (json path or None, what is wrong))."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        strict = _strict_problem(line)  # "NaN is not a JSON number" where orjson says "unexpected character"
        return None, (None, strict or f"invalid JSON: {exc}")
    problem = shape_problem(obj)
    return (obj, None) if problem is None else (None, problem)


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


class _RepeatedKeys:
    """Finds the lines holding an object with a key twice, which orjson reads keeping the last value silently.

    A ``"`` that no backslash escapes, followed by a colon, always ends a key (a value is
    followed by ``,``, ``}`` or ``]``): counting those ``":`` counts exactly the keys written
    without whitespace before their colon, and each line holds at least as many keys as orjson
    kept. So when, over a batch of lines without a ``"key" :``, that count equals the keys parsed,
    no line lost a key: a few C-speed passes per batch instead of a check per line. Otherwise
    each line of the batch is checked, and a suspect one parsed again by ``json`` with a
    duplicate-key check, which names the key.
    """

    BATCH = 512

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.lines: list[bytes] = []
        self.numbers: list[int] = []
        self.keys: list[int] = []

    def add(self, number: int, line: bytes, obj: Any) -> list[InputError]:
        """Note a parsed line (before its object is changed); errors of the batch once it is full."""
        self.lines.append(line)
        self.numbers.append(number)
        self.keys.append(_keys(obj))
        return self.check() if len(self.lines) >= self.BATCH else []

    def check(self) -> list[InputError]:
        """The errors of the lines noted since the last check (file:line: duplicate key ...)."""
        errors = []
        batch = b"".join(self.lines)
        if _unescaped_key_ends(batch) != sum(self.keys) or _SPACED_KEY_END.search(batch) is not None:
            for number, line, keys in zip(self.numbers, self.lines, self.keys, strict=True):
                problem = _strict_problem(line, suspect=True) if _may_repeat_a_key(line, keys) else None
                if problem is not None:
                    errors.append(InputError(problem, Location(self.shown, number)))
        self.lines.clear()
        self.numbers.clear()
        self.keys.clear()
        return errors


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


def _strict_problem(line: bytes, *, suspect: bool = False) -> str | None:
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
            problem = shape_problem(obj) or _non_finite(obj, "$")
        except RecursionError:
            problem = ("$", "nested too deeply; expected fewer levels")
        if problem is not None:
            raise InputError(problem[1], Location("<memory>", i, None, problem[0]))
        records.append(_record(dict(obj), i, {}))
    return Outputs("<memory>", "", records)


def _non_finite(value: Any, path: str) -> tuple[str, str] | None:
    """(json path, message) of the first number in ``value`` that JSON cannot hold (NaN, infinities), or None."""
    if type(value) is float and not math.isfinite(value):
        return path, f"expected a finite number, got {value!r}"
    if isinstance(value, dict):
        return next((p for k, v in value.items() if (p := _non_finite(v, f"{path}.{k}")) is not None), None)
    if isinstance(value, list | tuple):
        return next((p for i, v in enumerate(value) if (p := _non_finite(v, f"{path}[{i}]")) is not None), None)
    return None
