"""What one pass over one piece of the input found: a :class:`Partial`, mergeable in input order.

A piece is a partition of the input (a file, a byte range of a large JSON Lines file) or a
chunk of records already in memory. Its pass keeps what the run's report needs without
keeping the records: every non-passing result, per policy the positions of failing
records, and per record only a few small columns (its scope plan, its case key as a
64-bit hash, its line, the figures and groups that run-level rules read). Memory so grows
with the failures and by a few dozen bytes per record, never with the text of the outputs.
Everything in it pickles, so a forked process or a Dask worker can send it back.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..model import OutputRecord
from .results import Result, result_rows, results_from_rows

#: how many case ids a scope group lists (JUnit's test cases) when outputs are judged in memory (a gate)
SCOPE_CASES_CAP = 200_000
#: the same for a streamed scan, whose outputs may be millions of production records: its report lists the
#: first case ids of each group (and every failing one among its results)
STREAM_SCOPE_CASES = 1_000
PlanKey = tuple["str | None", frozenset[str]]


def key_hashes(keys: Sequence[str]) -> np.ndarray:
    """A stable 64-bit hash of each case key (the same in every process and on every machine).

    Two different keys hashing alike would count as one case: with 64 bits the chance is
    about n²/2⁶⁵ (one in 300,000 for ten million distinct keys). It is the hash of the
    key's UTF-8 bytes (a lone surrogate, which JSON can hold, encoded as its own three bytes):
    see :func:`utf8_hashes`.
    """
    if not keys:
        return np.zeros(0, dtype=np.uint64)
    joined = "".join(keys)  # all ASCII: a key's bytes are its characters
    encoded = None if joined.isascii() else [key.encode("utf-8", "surrogatepass") for key in keys]
    items: Sequence[str] | list[bytes] = keys if encoded is None else encoded
    lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    longest = int(lengths.max())
    if longest <= ROW_BYTES and int(lengths.min()) < longest:  # numpy pads each key with zero bytes to a row
        rows = np.array(items, dtype=f"S{-(-longest // 8) * 8}")
        return row_hashes(rows.view(np.uint8).reshape(len(items), -1), lengths)
    data = joined.encode("ascii") if encoded is None else b"".join(encoded)
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return utf8_hashes(np.frombuffer(data, dtype=np.uint8), offsets)


#: murmur3's 64-bit finaliser (a bijection of 64-bit words that maps 0 to 0), and the golden ratio's word
_FMIX1, _FMIX2, _SHIFT = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53), np.uint64(33)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
#: keys up to this many bytes are hashed as zero-padded rows of a matrix, a column of words at a time
ROW_BYTES = 256
#: a word's own bytes, by how many of its eight bytes are the key's (0: none, the key has ended)
_OWN_BYTES = np.array([(1 << (8 * r)) - 1 for r in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
#: longer keys are hashed a word position at a time across all of them, and past ROW_BYTES, once fewer than
#: _FEW_KEYS go on or after _COLUMNS positions, what remains of each one key at a time
_FEW_KEYS, _COLUMNS = 32, 1024
#: words of a block of rows hashed at once
_BLOCK_WORDS = 32_768


def _fmix(words: np.ndarray) -> np.ndarray:
    """murmur3's finaliser applied in place to an array of uint64."""
    shifted = words >> _SHIFT
    words ^= shifted
    words *= _FMIX1
    np.right_shift(words, _SHIFT, out=shifted)
    words ^= shifted
    words *= _FMIX2
    np.right_shift(words, _SHIFT, out=shifted)
    words ^= shifted
    return words


def _multipliers(positions: np.ndarray) -> np.ndarray:
    """An odd 64-bit multiplier for each position of a word in a key (so a word weighs by where it is)."""
    return _fmix((positions.astype(np.uint64) + np.uint64(1)) * _GOLDEN) | np.uint64(1)


_MULTIPLIERS = _multipliers(np.arange(ROW_BYTES // 8))


def _multiplier(position: int) -> np.uint64:
    return _MULTIPLIERS[position] if position < len(_MULTIPLIERS) else _multipliers(np.array([position]))[0]


def row_hashes(rows: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The :func:`utf8_hashes` of keys given as the rows of a uint8 matrix (each key's UTF-8 bytes, then zero
    bytes to the row's end) and their lengths in bytes."""
    n, width = rows.shape
    if width % 8:
        rows = np.concatenate([rows, np.zeros((n, 8 - width % 8), dtype=np.uint8)], axis=1)
    words = np.ascontiguousarray(rows).view("<u8")
    total = lengths.astype(np.uint64) * _GOLDEN
    count = words.shape[1]
    if count <= 8:  # a column of words at a time
        for position in range(count):
            total += _fmix(words[:, position] * _multiplier(position))
    else:  # blocks of rows that stay in the cache, each turned to a row per word position
        multipliers = _multipliers(np.arange(count))[:, None]
        block = max(1, _BLOCK_WORDS // count)
        for begin in range(0, n, block):
            positions = np.multiply(words[begin:begin + block].T, multipliers, order="C")
            total[begin:begin + block] += np.add.reduce(_fmix(positions), axis=0)
    return _fmix(total)


def utf8_hashes(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The :func:`key_hashes` of the UTF-8 strings ``data[offsets[i]:offsets[i + 1]]`` (an arrow string column's
    buffers, or the keys encoded), without a Python string each.

    A key's bytes are read as little-endian 64-bit words, the last one padded with zero bytes; its hash is
    ``fmix(Σ fmix(word_j · m_j) + length · φ)``, with ``fmix`` murmur3's finaliser, ``m_j`` an odd multiplier per
    position and sums modulo 2⁶⁴. A zero word adds nothing, so a key's hash does not depend on the keys hashed
    with it (nor on the width of a matrix of them), and the length tells ``a`` from ``a\\0``.
    """
    offsets = offsets.astype(np.int64, copy=False)
    lengths = np.diff(offsets)
    n, base = len(lengths), int(offsets[0])
    if not n:
        return np.zeros(0, dtype=np.uint64)
    longest = int(lengths.max())
    if longest <= ROW_BYTES and int(lengths.min()) == longest:  # one length (generated ids, UUIDs): rows as they are
        return row_hashes(data[base:base + n * longest].reshape(n, longest), lengths)
    # the keys' bytes and eight zero bytes, read as a 64-bit word starting at any byte
    padded = np.zeros(int(offsets[-1]) - base + 8, dtype=np.uint8)
    padded[:len(padded) - 8] = data[base:int(offsets[-1])]
    at_byte = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    total = lengths.astype(np.uint64) * _GOLDEN
    keys, starts, left = None, offsets[:-1] - base, lengths.copy()  # keys: those going on (None: all of them)
    position = 0
    while len(left):
        if position >= ROW_BYTES // 8 and (len(left) < _FEW_KEYS or position >= _COLUMNS):
            rest = range(n) if keys is None else keys.tolist()
            for key, start, remaining in zip(rest, starts.tolist(), left.tolist(), strict=True):
                count = -(-remaining // 8)
                words = at_byte[start:start + 8 * count:8].copy()
                words[-1] &= _OWN_BYTES[remaining - 8 * (count - 1)]
                words *= _multipliers(np.arange(position, position + count))
                total[key:key + 1] += np.add.reduce(_fmix(words), dtype=np.uint64)
            break
        words = at_byte[starts]
        if int(left.min()) < 8:  # some keys end in this word
            words &= _OWN_BYTES[np.minimum(left, 8)]
        words *= _multiplier(position)
        if keys is None:
            total += _fmix(words)
        else:
            total[keys] += _fmix(words)
        position += 1
        starts += 8
        left -= 8
        if int(left.min()) <= 0:
            going = left > 0
            keys = np.flatnonzero(going) if keys is None else keys[going]
            starts, left = starts[going], left[going]
    return _fmix(total)


@dataclass
class Partial:
    """The findings and per-record columns of one piece of the input, positions counted from its start."""

    part: int = 0  # which file of the input (its index), for the results' file names
    records: int = 0
    #: lines read: for a byte range of a file, lines are counted from its start and shifted when merged
    lines: int = 0
    relative_lines: bool = False
    sha256: str | None = None
    consumed: int = 0  # bytes of the file read for this partial (a progress bar's measure)
    results: list[Result] = field(default_factory=list)
    #: ``results`` as a pickled partial carries them: each one's fields in order (see :meth:`__getstate__`)
    result_rows: list[tuple[Any, ...]] | None = None
    results_dropped: int = 0  # results found past the first ones the run lists, only counted
    #: per subject (policy or suite index): positions of records failing (not waived) one of its per-output rules
    failed: dict[int, list[int]] = field(default_factory=dict)
    waived: dict[int, list[int]] = field(default_factory=dict)
    errors: dict[int, int] = field(default_factory=dict)
    #: per inner (``of:``) unit key: positions of records on which it failed
    inner_failed: dict[int, list[int]] = field(default_factory=dict)
    #: the scope plan of each record, as an index into ``plan_keys``
    plan_keys: list[PlanKey] = field(default_factory=list)
    plans: Any = None  # np.ndarray[int32]
    plan_counts: list[int] = field(default_factory=list)
    plan_cases: list[dict[str, None]] = field(default_factory=list)
    plan_cases_cut: bool = False
    keys: Any = None  # np.ndarray[uint64]: each record's case key hash
    line_numbers: Any = None  # np.ndarray[int64]
    case_text: str = ""  # every record's case id, concatenated
    case_ends: Any = None  # np.ndarray[int64]: where each case id ends in case_text
    #: ``case_text`` compressed (:func:`pack_text`), as a pickled partial carries it: a worker compresses its own
    case_packed: bytes | None = None
    #: run-level columns: numbers (NaN: missing or not a number) and groups (codes into labels; -1: missing)
    numbers: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, tuple[Any, list[str]]] = field(default_factory=dict)
    #: whole records kept for run-level checks without a columnar form (plugins): per run-rule position
    kept: dict[int, list[OutputRecord]] = field(default_factory=dict)
    #: (case id, output) of records in scope of a ``baseline`` rule with ``compare: json``, per run-rule position
    outputs: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    field_counts: dict[str, Counter[str]] = field(default_factory=dict)

    def case_id(self, position: int) -> str:
        """The case id of the record at ``position``."""
        self.unpack()
        start = int(self.case_ends[position - 1]) if position else 0
        return self.case_text[start:int(self.case_ends[position])]

    def unpack(self) -> None:
        """Hold the case ids as text again (a partial that came pickled holds them compressed)."""
        if self.case_packed is not None:
            self.case_text, self.case_packed = unpack_text(self.case_packed), None

    def __getstate__(self) -> dict[str, Any]:
        """What pickles: the case ids compressed (a few bytes each instead of a dozen), by the process that sends
        the partial, so that the one merging them does not; the results as rows of their fields, which pickle as
        plain tuples and become results once, where they are merged (:meth:`all_results`). So a partial that
        went through pickle (or ``copy``) holds the same data in those other fields, and compares unequal."""
        state = dict(self.__dict__)
        if state["case_packed"] is None and state["case_text"]:
            state["case_packed"], state["case_text"] = pack_text(state["case_text"]), ""
        if state["results"]:
            state["result_rows"] = [*(state["result_rows"] or ()), *result_rows(state["results"])]
            state["results"] = []
        return state

    def all_results(self, lines: int = 0, file: str | None = None) -> list[Result]:
        """Every result of this partial in the order found (those it carries as rows, then those it holds), with
        their lines ``lines`` further on and in ``file`` when that is given (as :meth:`Result.moved`)."""
        moved = bool(lines) or file is not None
        found = results_from_rows(self.result_rows, lines, file, moved=moved) if self.result_rows else []
        return found + ([result.moved(lines, file) for result in self.results] if moved else self.results)


def pack_text(text: str) -> bytes:
    """Text kept compressed (case ids repeat a prefix and a counter): zlib's fastest level over its UTF-8 bytes (a
    lone surrogate, which JSON can hold, as its own three bytes)."""
    return zlib.compress(text.encode("utf-8", "surrogatepass"), 1)


def unpack_text(packed: bytes) -> str:
    """The text :func:`pack_text` compressed."""
    return zlib.decompress(packed).decode("utf-8", "surrogatepass")
