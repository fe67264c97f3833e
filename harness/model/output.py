"""Model outputs: one record per JSON Lines line, and the file they came from."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple


class OutputRecord(NamedTuple):
    """One model output (one JSONL line). ``fields`` keeps every field of the line but ``output``.

    A named tuple rather than a dataclass: a million of them are built per large run, and a
    tuple is built several times faster and is just as immutable.
    """

    case_id: str
    output: str
    line: int
    fields: Mapping[str, Any]

    @property
    def latency_ms(self) -> float | None:
        value = self.fields.get("latency_ms")
        return value if type(value) in (int, float) else None

    @property
    def tags(self) -> tuple[str, ...]:
        value = self.fields.get("tags")
        return tuple(value) if isinstance(value, list) else ()


class Repeat(NamedTuple):
    """A record whose case id an earlier record of the same file already had."""

    case_id: str
    first_line: int
    line: int


@dataclass(frozen=True)
class Outputs:
    """The records of one outputs file and the facts a report needs about the file."""

    path: str
    sha256: str
    records: Sequence[OutputRecord]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[OutputRecord]:
        return iter(self.records)

    def counts(self, field: str) -> Mapping[str, int]:
        """How many records carry each string value of a field; counted once per field and kept."""
        cache: dict[str, Counter[str]] = self.__dict__.setdefault("_counts", {})
        if field not in cache:
            counted = Counter(record.fields.get(field) for record in self.records)
            cache[field] = Counter({k: n for k, n in counted.items() if isinstance(k, str)})
        return cache[field]

    def values(self, field: str) -> set[str]:
        """Every distinct string value of a field (the model names or versions the records say they are of)."""
        return set(self.counts(field))

    def most_common(self, field: str) -> str | None:
        """The most frequent value of a string field (the model name or version of the run)."""
        counts = self.counts(field)
        return max(counts, key=counts.__getitem__) if counts else None

    def repeats(self) -> Sequence[Repeat]:
        """Every record whose case id an earlier record had, in file order; computed once and kept.

        An eval case is answered once, so a gate refuses these; production logs may repeat ids.
        Ids that differ only by letter case, spaces, invisible characters or compatibility forms
        (``case-1`` and ``case-1\u200b``) are the same id: padding cannot hide behind them.
        """
        cached: list[Repeat] | None = self.__dict__.get("_repeats")
        if cached is None:
            cached = []
            if len({case_key(record.case_id) for record in self.records}) != len(self.records):  # usually none
                first: dict[str, int] = {}
                for record in self.records:
                    line = first.setdefault(case_key(record.case_id), record.line)
                    if line != record.line:
                        cached.append(Repeat(record.case_id, line, record.line))
            self.__dict__["_repeats"] = cached
        return cached

    @property
    def repeated_ids(self) -> int:
        """How many case ids are on more than one record."""
        return len({case_key(repeat.case_id) for repeat in self.repeats()})


def case_key(case_id: str) -> str:
    """A case id as a reader sees it, the key by which repeated records are grouped: NFKC, case-folded,
    without spaces or invisible (format) characters."""
    if case_id.isascii() and case_id.isprintable() and " " not in case_id:
        return case_id.casefold()
    folded = unicodedata.normalize("NFKC", case_id).casefold()
    return "".join(c for c in folded if not c.isspace() and unicodedata.category(c) not in ("Cf", "Cc"))
