"""An eval suite's ``cases_file``: its cases as JSON Lines, one case object per line, beside the suite YAML.

A suite converted from a dataset holds tens of thousands of cases; YAML that size takes
seconds to parse, JSON Lines a fraction of one. The suite file keeps everything else (its
name, version, owner, severity, tags) and names the cases file, relative to itself::

    suite: support-regressions
    owner: support-quality@example.com
    cases_file: support-regressions.jsonl

Each line is one object with exactly the keys of a case written in YAML (``id``, ``input``,
``reference``, ``tags``, ``slice``, ``expect``); blank lines are skipped. The file is read as
strictly as an outputs file (:class:`harness.outputs.jsonl.RecordParser`): ``NaN``, ``Infinity``,
numbers too large for a double and a key held twice in one object are refused, and reading stops
after :data:`~harness.outputs.jsonl.MAX_ERRORS` broken lines. Its cases are then checked by the
eval schema's case definition (a fast validator for the quick yes, jsonschema to explain a no)
and built like the cases of any suite; every error names ``cases.jsonl:LINE`` and the JSON path
within the case (``$.expect[0].value``).

The suite's sha256 (reports, the decision log, the audit) covers both files:
:func:`suite_sha256`.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from ..errors import InputError, Location
from ..io.files import display_path
from ..io.schema import case_errors
from ..io.yaml import PathKey, YamlDocument, json_path
from ..outputs.jsonl import MAX_ERRORS, MAX_RECORD_BYTES, repeated_keys, strict_problem
from .rules import Problems

#: the largest cases file read (about 600,000 cases of the size of a typical one)
MAX_CASES_BYTES = 512 * 1024 * 1024


def suite_sha256(suite_sha256: str, cases_file: str, cases_sha256: str) -> str:
    """The sha256 of a suite whose cases are in ``cases_file``: of the three lines ``<sha256 of the suite
    file>``, ``<cases_file as written>``, ``<sha256 of the cases file>``, each ended by a newline.

    The same with ``sha256sum``: ``printf '%s\\n%s\\n%s\\n' "$(sha256sum suite.yaml | cut -c1-64)" cases.jsonl
    "$(sha256sum cases.jsonl | cut -c1-64)" | sha256sum``.
    """
    return hashlib.sha256(f"{suite_sha256}\n{cases_file}\n{cases_sha256}\n".encode()).hexdigest()


@dataclass(frozen=True)
class SuiteDocument(YamlDocument):
    """A suite file with the cases of its ``cases_file`` in its data (under ``cases``, as if written there).

    ``locate(("cases", i, ...))`` names the cases file, the line of case ``i`` and the JSON path within
    the case; every other path is located in the suite file.
    """

    suite: YamlDocument | None = field(default=None, repr=False, compare=False)
    cases_path: str = ""
    #: the line of each case read, by its index in ``data["cases"]``
    case_lines: tuple[int, ...] = field(default=(), repr=False, compare=False)

    @property
    def positions(self) -> dict[PathKey, tuple[int, int]]:
        return self.suite.positions if self.suite is not None else {}

    @property
    def key_positions(self) -> dict[PathKey, tuple[int, int]]:
        return self.suite.key_positions if self.suite is not None else {}

    def locate(self, parts: PathKey, *, key: bool = False) -> Location:
        if len(parts) >= 2 and parts[0] == "cases" and isinstance(parts[1], int) and 0 <= parts[1] < len(
                self.case_lines):
            return Location(self.cases_path, self.case_lines[parts[1]], None, json_path(parts[2:]))
        assert self.suite is not None
        return self.suite.locate(parts, key=key)


def _cases_path(document: YamlDocument, written: str) -> Path | str:
    """The cases file named in a suite file, or why it cannot be used."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in written):  # a NUL would be no path at all
        return f"{written!r} holds a control character; expected a file name like cases.jsonl"
    posix = PurePosixPath(written)
    if posix.is_absolute() or ".." in posix.parts or "\\" in written or not written.endswith(".jsonl"):
        return f"{written!r} is not a .jsonl path relative to the suite file; expected a name like cases.jsonl"
    return Path(document.path).parent / written


def _read_bytes(path: Path) -> bytes | str:
    """The bytes of a cases file, or what is wrong with it."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return "the cases file is not a regular file (a FIFO, a device or a directory); expected a .jsonl file"
        if info.st_size > MAX_CASES_BYTES:
            return f"the cases file is larger than {MAX_CASES_BYTES} bytes; expected a smaller file (split the suite)"
        with open(path, "rb") as stream:
            raw = stream.read(MAX_CASES_BYTES + 1)
    except FileNotFoundError:
        return f"cases file not found: {display_path(path)}"
    except OSError as exc:
        return f"cannot read the cases file {display_path(path)}: {exc.strerror}"
    except ValueError as exc:  # a path the system refuses outright ("embedded null byte")
        return f"cannot read the cases file {display_path(path)}: {exc}"
    if len(raw) > MAX_CASES_BYTES:
        return f"the cases file is larger than {MAX_CASES_BYTES} bytes; expected a smaller file (split the suite)"
    return raw


class _Reading:
    """The errors of one cases file, at most :data:`MAX_ERRORS` broken lines."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.errors: list[InputError] = []
        self.broken = 0

    @property
    def full(self) -> bool:
        return self.broken >= MAX_ERRORS

    def error(self, message: str, line: int, parts: PathKey = (), subpath: PathKey = ()) -> None:
        self.errors.append(InputError(message, Location(self.shown, line, None, json_path(parts) if parts or
                                                        subpath else None), subpath=subpath))


def _parse(raw: bytes, reading: _Reading) -> tuple[list[Any], list[int]]:
    """The objects of the non-blank lines of ``raw`` and their line numbers; broken lines become errors."""
    lines = raw.split(b"\n")
    numbers = [n for n, line in enumerate(lines, 1) if line and not line.isspace()]  # (strip() copies each line)
    kept = [lines[n - 1] for n in numbers]
    objs: list[Any] | None = None
    if all(len(line) <= MAX_RECORD_BYTES for line in kept):
        try:  # the usual file: every line parsed on its own (never as one text: a value may not span lines)
            objs = list(map(orjson.loads, kept))
        except orjson.JSONDecodeError:
            objs = None
    if objs is None:
        objs, good, good_numbers = [], [], []
        for number, line in zip(numbers, kept, strict=True):
            if len(line) > MAX_RECORD_BYTES:
                reading.broken += 1
                reading.error(f"a line of {len(line)} bytes; expected at most {MAX_RECORD_BYTES} (one case per line)",
                              number)
            else:
                try:
                    objs.append(orjson.loads(line))
                    good.append(line)
                    good_numbers.append(number)
                    continue
                except orjson.JSONDecodeError as exc:
                    reading.broken += 1
                    reading.error(strict_problem(line) or f"invalid JSON: {exc}", number)
            if reading.full:
                break
        kept, numbers = good, good_numbers
    repeated = repeated_keys(objs, kept, b"\n".join(kept))
    for i in sorted(repeated, reverse=True):
        reading.broken += 1
        reading.error(repeated[i], numbers[i])
        del objs[i], numbers[i]
    return objs, numbers


def _share_identical(objs: list[Any]) -> None:
    """Make the identical ``expect`` rules, ``tags`` lists and ``slice`` mappings of the cases one object each
    (identical: the same JSON, keys in the same order), so that each is validated and prepared once
    (:class:`harness.io.schema.FastCases`, :meth:`SharedRules.cases`). Nothing reads them otherwise."""
    try:
        _share(objs, orjson.dumps)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: the slower canonical text (what was shared stays so)
        _share(objs, _json)


def _share(objs: list[Any], text: Callable[[Any], Any]) -> None:
    first: dict[Any, Any] = {}
    for case in objs:
        if type(case) is not dict:
            continue
        items = case.get("expect")
        if type(items) is list:
            for j, item in enumerate(items):
                if type(item) is dict:
                    items[j] = first.setdefault(text(item), item)
        for name, kind in (("tags", list), ("slice", dict)):
            value = case.get(name)
            if type(value) is kind:
                case[name] = first.setdefault(text(value), value)


def _json(value: Any) -> Any:
    """The JSON of a value, or the value's own identity (equal to no other value's) when it has none."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return ("unshared", id(value))


def with_cases_file(problems: Problems, checks: Any) -> Problems:
    """The problems of a suite file whose cases are in its ``cases_file``, over a :class:`SuiteDocument` holding
    them, with every problem of the cases file added; ``problems`` itself for a suite that names none."""
    document = problems.document
    data = document.data
    written = data.get("cases_file")
    if not isinstance(written, str) or "cases" in data or problems.schema_error_under(("cases_file",)):
        return problems  # the schema says what is wrong (both keys, a wrong form)
    path = _cases_path(document, written)
    raw = _read_bytes(path) if isinstance(path, Path) else path
    if isinstance(raw, str):
        problems.add(raw, ("cases_file",))
        return problems
    assert isinstance(path, Path)
    shown = display_path(path)
    reading = _Reading(shown)
    objs, numbers = _parse(raw, reading)
    _share_identical(objs)
    if not objs and not reading.errors:
        reading.error("the cases file holds no case; expected one JSON object per line", 1)
    room = MAX_ERRORS - reading.broken  # the cases past it are not explained: reading stopped there
    explained = case_errors(objs, checks, limit=room) if room > 0 else {}
    for i, found in explained.items():
        reading.broken += 1
        for parts, _at_key, message in found:
            reading.error(message, numbers[i], parts, ("cases", i, *parts))
    reading.errors.sort(key=lambda e: e.location.line or 0)
    if reading.full:
        reading.errors.append(InputError(f"stopped after {MAX_ERRORS} broken lines", Location(shown)))
        # no case the schema did not look at is built (its rules would be prepared as if valid)
        stop = max(explained) + 1 if explained else 0
        objs, numbers = objs[:stop], numbers[:stop]
    merged = SuiteDocument(document.path, {**data, "cases": objs},
                           suite_sha256(document.sha256, written, hashlib.sha256(raw).hexdigest()),
                           problems=document.problems, suite=document, cases_path=shown, case_lines=tuple(numbers))
    combined = problems.over(merged)
    for error in reading.errors:
        if error.subpath:
            combined.add_schema_error(error)
        else:
            combined.errors.append(error)
    return combined
