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
    """A parsed YAML file: its data and where each JSON path starts (1-based)."""

    path: str
    data: Any
    sha256: str
    positions: dict[PathKey, tuple[int, int]] = field(repr=False)
    key_positions: dict[PathKey, tuple[int, int]] = field(repr=False)
    #: problems found while reading that left the rest of the document usable (duplicate keys)
    problems: tuple[InputError, ...] = ()

    def locate(self, parts: PathKey, *, key: bool = False) -> Location:
        """The location of a JSON path, falling back to the nearest ancestor."""
        table = self.key_positions if key else self.positions
        probe = tuple(parts)
        while probe not in table and probe not in self.positions and probe:
            probe = probe[:-1]
        line, col = table.get(probe) or self.positions.get(probe, (1, 1))
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
        text = event.value
        if text in _NULL:
            return None
        if text in _BOOL:
            return _BOOL[text]
        if _INT.fullmatch(text):
            base = {"0o": 8, "0x": 16}.get(text[:2], 10)
            try:
                return int(text[2:] if base != 10 else text, base)
            except ValueError:  # past Python's limit of 4,300 digits
                raise self.refuse(f"a number of {len(text)} digits; expected at most 4300 (quote it to make it"
                                  " text)", event) from None
        if _FLOAT.fullmatch(text):
            return float(text)
        special = _SPECIAL.get(text.lstrip("+-"))
        if special is not None and (text[0] not in "+-" or special == math.inf):
            return -special if text[0] == "-" else special
        return text

    def problem(self, message: str, event: yaml.Event, parts: PathKey) -> None:
        self.problems.append(InputError(message, Location(self.path, *_mark(event), json_path(parts))))


def parse_yaml(text: str, path: str, sha256: str = "") -> YamlDocument:
    """Parse one YAML document from text; errors name the file, line and column.

    Anchors, aliases and explicit tags are refused as they are parsed (``InputError``).
    """
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
    return YamlDocument(path, data, sha256, builder.positions, builder.keys, tuple(builder.problems))


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
