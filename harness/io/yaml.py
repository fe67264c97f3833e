"""Safe YAML loading that remembers where every value came from.

PyYAML's safe loader drops positions and silently keeps the last of two duplicate
keys. We compose the node tree instead (C loader when available) and build plain
Python data ourselves, recording the line and column of every JSON path so that a
schema error can point at the exact place in the file. Problems that still leave a
usable document (a duplicate key, a merge key) are collected in ``problems`` rather
than raised, so that ``harness validate`` can report them together with every other
error of the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError, Location

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.constructor.SafeConstructor()

PathKey = tuple[str | int, ...]


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


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(node: yaml.Node, parts: PathKey, doc_path: str, positions: dict, keys: dict,
           problems: list[InputError]) -> Any:
    positions[parts] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(InputError(
                    "YAML merge keys (<<) are not supported; write the keys out",
                    Location(doc_path, *_mark(key_node), json_path(parts)),
                ))
                continue
            key = _build(key_node, (*parts, "<key>"), doc_path, {}, {}, problems)
            if not isinstance(key, str):
                key = str(key)
            child = (*parts, key)
            if key in result:  # the first definition stays; the duplicate is reported
                first = keys[child]
                problems.append(InputError(
                    f"duplicate key {key!r} (first defined at line {first[0]})",
                    Location(doc_path, *_mark(key_node), json_path(child)),
                ))
                continue
            keys[child] = _mark(key_node)
            result[key] = _build(value_node, child, doc_path, positions, keys, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*parts, i), doc_path, positions, keys, problems) for i, item in enumerate(node.value)
        ]
    if node.tag == "tag:yaml.org,2002:timestamp":
        return node.value  # keep dates as the ISO strings the schemas expect
    return _constructor.construct_object(node, deep=True)


def parse_yaml(text: str, path: str, sha256: str = "") -> YamlDocument:
    """Parse one YAML document from text; errors name the file, line and column."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"invalid YAML: {problem}", Location(path, line, col)) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", Location(path)) from None
    positions: dict[PathKey, tuple[int, int]] = {}
    keys: dict[PathKey, tuple[int, int]] = {}
    problems: list[InputError] = []
    data = None if node is None else _build(node, (), path, positions, keys, problems)
    return YamlDocument(path, data, sha256, positions, keys, tuple(problems))


def load_yaml(path: Path | str, display: str | None = None) -> YamlDocument:
    """Read and parse a YAML file; a missing or unreadable file is an ``InputError``."""
    shown = display or str(path)
    try:
        raw = Path(path).read_bytes()
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise InputError("file not found", Location(shown)) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", Location(shown)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", Location(shown)) from None
    return parse_yaml(text, shown, hashlib.sha256(raw).hexdigest())
