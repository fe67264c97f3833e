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
within the case (``$.expect[0].value``). One pass over the cases read makes identical ``expect``
lists, rules, ``tags`` and ``slice`` values one object each, counts the ``:`` of their texts (the
proof that no key was held twice) and asks the quick yes of each distinct one once.

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
from ..io.schema import FastCases, case_errors, fast_cases
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


def _parse(raw: bytes, reading: _Reading) -> tuple[list[Any], list[int], list[bytes], bool]:
    """The objects of the non-blank lines of ``raw``, their line numbers and lines, and whether every non-blank
    line was read (so that those lines hold every ``:`` of ``raw``); broken lines become errors. Keys held twice
    are found apart (:func:`_drop_repeated`)."""
    lines = raw.split(b"\n")
    numbers = [n for n, line in enumerate(lines, 1) if line and not line.isspace()]  # (strip() copies each line)
    kept = [lines[n - 1] for n in numbers]
    if max(map(len, kept), default=0) <= MAX_RECORD_BYTES:
        try:  # the usual file: every line parsed on its own (never as one text: a value may not span lines)
            return list(map(orjson.loads, kept)), numbers, kept, True
        except orjson.JSONDecodeError:
            pass
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
    return objs, good_numbers, good, False


def _drop_repeated(objs: list[Any], numbers: list[int], lines: list[bytes], text: bytes, colons: int | None,
                   reading: _Reading) -> None:
    """Refuse the lines holding an object with a key twice (orjson keeps the last value), ``text`` being those lines
    joined. ``colons``, the ``:`` of the compact JSON of ``objs`` (:func:`_share_identical`), is the quick proof
    that none is: every ``:`` of a JSON text ends a key or stands in a string, so a key dropped leaves ``text``
    with more of them than the objects read have (:func:`harness.outputs.jsonl.repeated_keys`, which looks again
    line by line when they differ)."""
    if colons is not None and colons == _colons(text):
        return
    repeated = repeated_keys(objs, lines, text)
    for i in sorted(repeated, reverse=True):
        reading.broken += 1
        reading.error(repeated[i], numbers[i])
        del objs[i], numbers[i]


def _colons(text: bytes) -> int:
    """The ``:`` of a JSON text, those written ``\\u003a`` included (a ``\\\\u003a`` too: counting more is
    safe)."""
    count = text.count(b":")
    if b"\\u003" in text:
        count += text.count(b"\\u003a") + text.count(b"\\u003A")
    return count


def _share_identical(objs: list[Any], judge: FastCases | None = None) -> tuple[int | None, bool]:
    """Make the identical ``expect`` lists and rules, ``tags`` lists and ``slice`` mappings of the cases one object
    each (identical: the same JSON, keys in the same order), so that each is validated and prepared once
    (:meth:`SharedRules.cases`). Nothing reads them otherwise.

    On the way, the ``:`` of the compact JSON of ``objs`` are counted from the texts made to compare them (for
    :func:`_drop_repeated`; ``None`` when a value has no such text: nested deeper than orjson writes), and the
    cases are judged by ``judge`` (the schema's quick yes, each distinct part and rule once): whether it said yes
    to every case. A no only means that the schema is asked (:func:`harness.io.schema.case_errors`)."""
    try:
        return _share(objs, judge)
    except orjson.JSONEncodeError:  # the slower canonical text (what was shared stays so)
        _share_each(objs, _json)
        return None, False


#: the keys of a case whose values :func:`_share` counts the ``:`` of as strings
_TEXTS = ("id", "input", "reference")


def _share(objs: list[Any], judge: FastCases | None) -> tuple[int, bool]:
    """:func:`_share_identical` with orjson's texts: a case's ``expect`` list is looked up whole (most cases of a
    large suite repeat a list of rules another case has), and its rules one by one when the list is new."""
    dumps = orjson.dumps
    lists: dict[bytes, tuple[list[Any], int]] = {}
    rules: dict[bytes, Any] = {}
    tags: dict[bytes, tuple[list[Any], int]] = {}
    slices: dict[bytes, tuple[dict[str, Any], int]] = {}
    shell = None if judge is None else judge.shell
    # every case a mapping of nothing but the texts above, a list of mappings (expect), a list (tags) and a mapping
    # (slice): then the parts met here are all the quick yes has to judge (FastCases.valid_parts)
    usual = True
    colons = 0
    for case in objs:
        if shell is not None:
            try:
                shell(case)
            except Exception:  # no quick yes
                shell = None
        if type(case) is not dict:
            colons += dumps(case).count(b":")
            usual = False
            continue
        get = case.get
        unseen = len(case)
        colons += unseen  # the one of each key
        for name in _TEXTS:
            value = get(name)
            if type(value) is str:
                colons += value.count(":")  # orjson writes a ':' as itself
                unseen -= 1
        value = get("expect")
        if type(value) is list:
            unseen -= 1
            text = dumps(value)
            known = lists.get(text)
            if known is None:
                for j, item in enumerate(value):
                    if type(item) is not dict:
                        usual = False
                        continue
                    rule_text = dumps(item)
                    first = rules.get(rule_text)
                    if first is None:
                        rules[_kept(rule_text)] = item
                    else:
                        value[j] = first
                known = lists[_kept(text)] = (value, text.count(b":"))
            case["expect"], count = known
            colons += count
        value = get("tags")
        if type(value) is list:
            unseen -= 1
            case["tags"], count = _one_of(tags, value, dumps)
            colons += count
        value = get("slice")
        if type(value) is dict:
            unseen -= 1
            case["slice"], count = _one_of(slices, value, dumps)
            colons += count
        if unseen:  # another key, or a value of another type: its text counted as it is
            usual = False
            for name, value in case.items():
                if not ((type(value) is str and name in _TEXTS) or (type(value) is list and name in ("expect", "tags"))
                        or (type(value) is dict and name == "slice")):
                    colons += dumps(value).count(b":")
    judged = (shell is not None and usual and judge is not None
              and judge.valid_parts({"tags": [each for each, _ in tags.values()],
                                     "slice": [each for each, _ in slices.values()]}, rules.values()))
    return colons, judged


def _one_of(table: dict[bytes, tuple[Any, int]], value: Any, dumps: Callable[[Any], bytes]) -> tuple[Any, int]:
    """The first value with the JSON text of ``value`` (``value`` itself when it is the first), and the colons
    of that text."""
    text = dumps(value)
    known = table.get(text)
    if known is None:
        known = table[_kept(text)] = (value, text.count(b":"))
    return known


def _kept(text: bytes) -> bytes:
    """A copy of an orjson text, to keep: orjson's own holds the 4 KiB it was written in for as long as it lives
    (the 47,000 distinct rules of a 100,000-case suite took 190 MB, and a twentieth of its load time)."""
    return memoryview(text).tobytes()


def _share_each(objs: list[Any], text: Callable[[Any], Any]) -> None:
    """:func:`_share_identical` rule by rule, with any canonical text."""
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
    objs, numbers, lines, whole = _parse(raw, reading)
    colons, judged = _share_identical(objs, fast_cases(checks))
    _drop_repeated(objs, numbers, lines, raw if whole else b"\n".join(lines), colons, reading)
    if not objs and not reading.errors:
        reading.error("the cases file holds no case; expected one JSON object per line", 1)
    room = MAX_ERRORS - reading.broken  # the cases past it are not explained: reading stopped there
    explained = case_errors(objs, checks, limit=room) if room > 0 and not judged else {}
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
