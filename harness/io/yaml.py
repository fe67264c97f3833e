"""Safe YAML loading that remembers where every value came from.

PyYAML's safe loader drops positions and silently keeps the last of two duplicate keys.
We read the parser's events instead (the C parser when available) and build plain Python
data ourselves, recording the line and column of every JSON path so that a schema error
can point at the exact place in the file.

Policy files hold plain data, so the builder refuses, while the file is still being
parsed, what plain data never needs and an attacker can use: anchors and aliases (eight
levels of aliases in 300 bytes expand into gigabytes) and explicit tags (``!!python/...``,
``!custom``, ``!!str``). Files must be UTF-8. Problems that still leave a usable document
(a duplicate key, a merge key) are collected in ``problems`` rather than raised, so that
``harness validate`` can report them together with every other error of the file.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError, Location

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.constructor.SafeConstructor()
_resolver = yaml.resolver.Resolver()

_CORE = "tag:yaml.org,2002:"
_MERGE = f"{_CORE}merge"
# Plain scalars are read by YAML 1.2's core schema, not PyYAML's YAML 1.1 one: `no`, `on` and `off` stay
# text (not false), `1:30` stays text (not 90 in base 60), `0755` is 755 (not octal), `1_000` is text.
# Anything else, timestamps included, stays the text the schemas expect.
_NULL = frozenset(["", "~", "null", "Null", "NULL"])
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_SPECIAL = {".inf": math.inf, ".Inf": math.inf, ".INF": math.inf, ".nan": math.nan, ".NaN": math.nan,
            ".NAN": math.nan}
#: a lone surrogate can only come from an escape such as "\ud800" (the pure-Python parser lets them through)
_SURROGATE = re.compile("[\ud800-\udfff]")

PathKey = tuple[str | int, ...]
#: the largest YAML file read (a policy, an eval suite, the playbook, the waivers, an incident record)
MAX_YAML_BYTES = 8 * 1024 * 1024
#: the size (in characters) from which a document's positions are read only when asked for
LAZY_POSITIONS_FROM = 64 * 1024


def json_path(parts: PathKey | list[str | int] | Iterator[str | int]) -> str:
    """Render ``("rules", 2, "pattern")`` as ``$.rules[2].pattern``."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.replace("_", "").replace("-", "").isalnum():
            out += f".{part}"
        else:
            out += f"[{part!r}]"
    return out


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: its data and where each JSON path starts (1-based).

    The positions of a large file (:data:`LAZY_POSITIONS_FROM` characters and more) are read
    only when something asks for them: a valid ten-thousand-case suite never needs a line
    number, and recording one for every value costs as much as parsing the file.
    """

    path: str
    data: Any
    sha256: str
    _positions: dict[PathKey, tuple[int, int]] | None = field(default=None, repr=False, compare=False)
    _key_positions: dict[PathKey, tuple[int, int]] | None = field(default=None, repr=False, compare=False)
    #: problems found while reading that left the rest of the document usable (duplicate keys)
    problems: tuple[InputError, ...] = ()
    #: the text the positions are read from when they were not recorded while parsing
    _text: str | None = field(default=None, repr=False, compare=False)
    #: whether the file is large (:data:`LAZY_POSITIONS_FROM` characters or more): worth a fast first look
    large: bool = field(default=False, repr=False, compare=False)

    @property
    def positions(self) -> dict[PathKey, tuple[int, int]]:
        """Where the value of each JSON path starts."""
        if self._positions is None:
            self._read_positions()
        assert self._positions is not None
        return self._positions

    @property
    def key_positions(self) -> dict[PathKey, tuple[int, int]]:
        """Where the key of each JSON path (a member of a mapping) starts."""
        if self._key_positions is None:
            self._read_positions()
        assert self._key_positions is not None
        return self._key_positions

    def _read_positions(self) -> None:
        builder = _Builder(self.path)
        builder.build(yaml.parse(self._text or "", Loader=_Loader))  # parsed once already: it parses again
        object.__setattr__(self, "_positions", builder.positions)
        object.__setattr__(self, "_key_positions", builder.keys)
        object.__setattr__(self, "_text", None)

    def locate(self, parts: PathKey, *, key: bool = False) -> Location:
        """The location of a JSON path, falling back to the nearest ancestor."""
        positions = self.positions
        table = self.key_positions if key else positions
        probe = tuple(parts)
        while probe not in table and probe not in positions and probe:
            probe = probe[:-1]
        line, col = table.get(probe) or positions.get(probe, (1, 1))
        return Location(self.path, line, col, json_path(parts))


def _mark(event: yaml.Event) -> tuple[int, int]:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _tag_name(tag: str) -> str:
    return "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag


@dataclass
class _Collection:
    """A mapping or sequence being built, and for a mapping the key waiting for its value."""

    parts: PathKey
    value: dict[str, Any] | list[Any]
    record: bool  # False inside a value that is dropped (after a duplicate or merge key)
    key: str | None = None
    drop: bool = False  # the waiting value is dropped


class _Builder:
    """Plain data from parser events, with the line and column of every JSON path."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.positions: dict[PathKey, tuple[int, int]] = {}
        self.keys: dict[PathKey, tuple[int, int]] = {}
        self.problems: list[InputError] = []
        self.stack: list[_Collection] = []
        self.root: Any = None
        self.documents = 0

    def build(self, events: Iterable[yaml.Event]) -> Any:
        for event in events:
            self.feed(event)
        return self.root

    def refuse(self, message: str, event: yaml.Event) -> InputError:
        return InputError(message, Location(self.path, *_mark(event)))

    def feed(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise self.refuse("a second YAML document (---) in one file; expected exactly one", event)
        elif isinstance(event, yaml.AliasEvent):
            raise self.refuse(f"YAML alias *{event.anchor} is not accepted; write the value out", event)
        elif isinstance(event, yaml.CollectionEndEvent):
            self.deliver(self.stack.pop().value)
        elif isinstance(event, yaml.NodeEvent):  # a scalar, or the start of a mapping or sequence
            self.check_plain(event)
            if self.stack and isinstance(self.stack[-1].value, dict) and self.stack[-1].key is None:
                self.take_key(event)
            else:
                self.take_value(event)

    def check_plain(self, event: yaml.NodeEvent) -> None:
        """Refuse anchors and explicit tags when they are read, before anything is expanded."""
        if event.anchor is not None:
            raise self.refuse(f"YAML anchor &{event.anchor} is not accepted (anchors and aliases can expand a"
                              " small file into gigabytes); write the value out", event)
        tag = getattr(event, "tag", None)
        if tag is not None:
            raise self.refuse(f"YAML tag {_tag_name(tag)} is not accepted; expected a plain value"
                              " (quote it to make it text)", event)

    def take_key(self, event: yaml.NodeEvent) -> None:
        mapping = self.stack[-1]
        if not isinstance(event, yaml.ScalarEvent):
            raise self.refuse("a mapping or list used as a key is not accepted; expected a plain key", event)
        mapping.key, mapping.drop = "", True
        if _resolver.resolve(yaml.ScalarNode, event.value, event.implicit) == _MERGE:
            self.problem("YAML merge keys (<<) are not supported; write the keys out", event, mapping.parts)
            return
        key = self.scalar(event)
        key = key if isinstance(key, str) else str(key)
        child = (*mapping.parts, key)
        assert isinstance(mapping.value, dict)
        if key in mapping.value:  # the first definition stays; the duplicate is reported
            if mapping.record:
                first = self.keys[child]
                self.problem(f"duplicate key {key!r} (first defined at line {first[0]})", event, child)
            return
        mapping.key, mapping.drop = key, False
        if mapping.record:
            self.keys[child] = _mark(event)

    def take_value(self, event: yaml.NodeEvent) -> None:
        parts, record = self.child()
        if record:
            self.positions[parts] = _mark(event)
        if isinstance(event, yaml.ScalarEvent):
            value = self.scalar(event)
            if isinstance(value, float) and not math.isfinite(value) and record:  # .nan, .inf, 1e999
                self.problem(f"expected a finite number, got {event.value}", event, parts)
            self.deliver(value)
        elif isinstance(event, yaml.MappingStartEvent):
            self.stack.append(_Collection(parts, {}, record))
        elif isinstance(event, yaml.SequenceStartEvent):
            self.stack.append(_Collection(parts, [], record))

    def child(self) -> tuple[PathKey, bool]:
        """The JSON path of the value being read, and whether its positions are kept."""
        if not self.stack:
            return (), True
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            return (*parent.parts, len(parent.value)), parent.record
        return (*parent.parts, parent.key or ""), parent.record and not parent.drop

    def deliver(self, value: Any) -> None:
        if not self.stack:
            self.root = value
            return
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            parent.value.append(value)
            return
        if not parent.drop and parent.key is not None:
            parent.value[parent.key] = value
        parent.key, parent.drop = None, False

    def scalar(self, event: yaml.ScalarEvent) -> Any:
        if event.style == '"' and _SURROGATE.search(event.value):
            raise self.refuse("an escape names a lone surrogate (\\ud800-\\udfff), not a character;"
                              " expected valid Unicode text", event)
        if not event.implicit[0]:  # quoted or a block scalar: text
            return event.value
        return self.plain(event)

    def plain(self, event: yaml.ScalarEvent) -> Any:
        """A plain scalar by YAML 1.2's core schema."""
        try:
            return _plain(event.value)
        except ValueError:  # past Python's limit of 4,300 digits
            raise self.refuse(f"a number of {len(event.value)} digits; expected at most 4300 (quote it to make it"
                              " text)", event) from None

    def problem(self, message: str, event: yaml.Event, parts: PathKey) -> None:
        self.problems.append(InputError(message, Location(self.path, *_mark(event), json_path(parts))))


def _plain(text: str) -> Any:
    """A plain scalar's value by YAML 1.2's core schema; ``ValueError`` for an integer of too many digits."""
    if text in _NULL:
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.fullmatch(text):
        base = {"0o": 8, "0x": 16}.get(text[:2], 10)
        return int(text[2:] if base != 10 else text, base)
    if _FLOAT.fullmatch(text):
        return float(text)
    special = _SPECIAL.get(text.lstrip("+-"))
    if special is not None and (text[0] not in "+-" or special == math.inf):
        return -special if text[0] == "-" else special
    return text


class _Unusual(Exception):
    """Something :func:`_plain_data` leaves to the builder that records positions (and says what is wrong)."""


_NO_KEY: Any = object()


def _plain_data(events: Iterable[yaml.Event]) -> Any:
    """The data of a document whose every value is plain (no anchor, alias, tag, duplicate or merge key,
    non-finite number, lone surrogate, second document): what :class:`_Builder` makes of it, without the
    positions; ``_Unusual`` as soon as anything else is read, for ``_Builder`` to refuse or report."""
    stack: list[Any] = []  # the mappings and lists being built
    pending: list[Any] = []  # per entry of ``stack``: the key waiting for its value (``_NO_KEY``: none)
    root: Any = None
    documents = 0
    scalar, mapping_start, sequence_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    event: Any
    for event in events:
        kind = type(event)
        if kind is scalar:
            if event.anchor is not None or event.tag is not None:
                raise _Unusual
            text = event.value
            if event.implicit[0]:
                value = _plain(text)
                if type(value) is float and not math.isfinite(value):
                    raise _Unusual
            elif event.style == '"' and _SURROGATE.search(text):
                raise _Unusual
            else:
                value = text
        elif kind is mapping_start or kind is sequence_start:
            if event.anchor is not None or event.tag is not None:
                raise _Unusual
            if stack and pending[-1] is _NO_KEY and type(stack[-1]) is dict:
                raise _Unusual  # a mapping or list as a key
            stack.append({} if kind is mapping_start else [])
            pending.append(_NO_KEY)
            continue
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            value = stack.pop()
            pending.pop()
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise _Unusual
            continue
        elif kind is yaml.AliasEvent:
            raise _Unusual
        else:
            continue
        if not stack:
            root = value
            continue
        parent = stack[-1]
        if type(parent) is list:
            parent.append(value)
            continue
        key = pending[-1]
        if key is _NO_KEY:
            if kind is scalar and event.implicit[0] and text == "<<":
                raise _Unusual  # a merge key
            key = value if type(value) is str else str(value)
            if key in parent:
                raise _Unusual  # a duplicate key
            pending[-1] = key
        else:
            parent[key] = value
            pending[-1] = _NO_KEY
    return root


def parse_yaml(text: str, path: str, sha256: str = "") -> YamlDocument:
    """Parse one YAML document from text; errors name the file, line and column.

    Anchors, aliases and explicit tags are refused as they are parsed (``InputError``).
    """
    if len(text) >= LAZY_POSITIONS_FROM:
        try:
            data = _plain_data(yaml.parse(text, Loader=_Loader))
        except (_Unusual, yaml.YAMLError, ValueError):
            pass  # the builder below says what is wrong, and where
        else:
            return YamlDocument(path, data, sha256, _text=text, large=True)
    builder = _Builder(path)
    try:
        data = builder.build(yaml.parse(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"invalid YAML: {problem}", Location(path, line, col)) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, most C0 and C1 controls)
        before = text[:exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise InputError(f"invalid YAML: the character U+{ord(char):04X} is not allowed in YAML; expected printable"
                         " text (remove the control character)", Location(path, line, col)) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", Location(path)) from None
    return YamlDocument(path, data, sha256, builder.positions, builder.keys, tuple(builder.problems),
                        large=len(text) >= LAZY_POSITIONS_FROM)


def _name_problem(path: str) -> str | None:
    """What is wrong with a file name that is not valid UTF-8: it could be neither shown nor reported."""
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the file name is not valid UTF-8 at byte {exc.start}; expected a UTF-8 name (rename the file)"
    return None


def load_yaml(path: Path | str, display: str | None = None) -> YamlDocument:
    """Read and parse a YAML file; a missing, unreadable or non-UTF-8 file is an ``InputError``."""
    shown = display or str(path)
    name_problem = _name_problem(shown)  # the byte offset counts in the path as shown
    if name_problem is not None:
        raise InputError(name_problem, Location(shown))
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block, a device never end
            raise InputError("not a regular file (a FIFO, a device or a directory); expected a YAML file",
                             Location(shown))
        with open(path, "rb") as stream:
            raw = stream.read(MAX_YAML_BYTES + 1)
        if len(raw) > MAX_YAML_BYTES:
            raise InputError(f"larger than {MAX_YAML_BYTES} bytes; expected a smaller file (split it)", Location(shown))
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise InputError("file not found", Location(shown)) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 at byte {exc.start}; expected UTF-8 text", Location(shown)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", Location(shown)) from None
    return parse_yaml(text, shown, hashlib.sha256(raw).hexdigest())
