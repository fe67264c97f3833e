"""Load model outputs from JSON Lines: one record per line, every broken line reported.

The file can hold a million records, so the shape of each record is checked by hand
(``jsonschema`` manages about 23,000 objects a second; this runs well over a million),
following ``harness/schemas/output.schema.json``. Repeated metadata values (model
names, versions, slices) are shared between records to keep memory flat.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from ..errors import InputError, InputErrors, Location
from ..model import OutputRecord, Outputs
from ..text.mask import mask_text

MAX_ERRORS = 20
_SHARED_STRINGS = ("model", "model_version")
_STRING_FIELDS = ("model", "model_version", "input", "timestamp")


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
    text = mask_text(repr(value))
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
        if type(latency) not in (int, float) or latency < 0:
            return "$.latency_ms", f"expected a number >= 0, got {_shown(latency)}"
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
    path: Path | str, *, display: str | None = None, progress: Callable[[int], None] | None = None
) -> Outputs:
    """Read an outputs JSONL file. Raises ``InputErrors`` (with line numbers) for broken lines.

    ``progress`` is called with the number of bytes read so far, every few thousand lines.
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
    read = 0
    with handle, paused_gc():
        for number, line in enumerate(handle, start=1):
            digest.update(line)
            read += len(line)
            if progress is not None and number % 20000 == 0:
                progress(read)
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                errors.append(InputError(f"invalid JSON: {exc}", Location(shown, number)))
            else:
                problem = shape_problem(obj)
                if problem is None:
                    records.append(_record(obj, number, shared))
                else:
                    errors.append(InputError(problem[1], Location(shown, number, None, problem[0])))
            if len(errors) >= MAX_ERRORS:
                errors.append(InputError(f"stopped after {MAX_ERRORS} broken lines", Location(shown)))
                break
    InputErrors.raise_if_any(errors)
    if not records:
        raise InputError("no output records: an empty run is an error, never a pass", Location(shown))
    return Outputs(shown, digest.hexdigest(), records)


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
    """Outputs built in memory (tests, policy examples, library callers)."""
    records = []
    for i, obj in enumerate(items, start=1):
        problem = shape_problem(obj)
        if problem is not None:
            raise InputError(problem[1], Location("<memory>", i, None, problem[0]))
        records.append(_record(dict(obj), i, {}))
    return Outputs("<memory>", "", records)
