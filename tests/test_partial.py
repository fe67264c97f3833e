"""Case keys hash to stable 64-bit values without pandas: the same for a key whichever way it is hashed (a list of
keys, an arrow column's buffers, alone or among others) and on every machine, and distinct for distinct keys."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.evaluation import lane
from harness.evaluation.partial import ROW_BYTES, key_hashes, utf8_hashes
from harness.model.output import case_key

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _fmix(x: int) -> int:
    x ^= x >> 33
    x = x * 0xFF51AFD7ED558CCD & _MASK
    x ^= x >> 33
    x = x * 0xC4CEB9FE1A85EC53 & _MASK
    return x ^ x >> 33


def _reference(key: str) -> int:
    """The hash as documented, a key at a time in Python integers."""
    data = key.encode("utf-8", "surrogatepass")
    padded = data + b"\0" * (-len(data) % 8)
    total = len(data) * _GOLDEN
    for position in range(len(padded) // 8):
        word = int.from_bytes(padded[8 * position:8 * position + 8], "little")
        multiplier = _fmix((position + 1) * _GOLDEN & _MASK) | 1
        total += _fmix(word * multiplier & _MASK)
    return _fmix(total & _MASK)


_characters = st.one_of(st.characters(codec="ascii"), st.characters(), st.sampled_from(["\0", "\ud800", "\udfff"]))
_keys = st.one_of(st.text(_characters, max_size=40), st.text(_characters, min_size=250, max_size=400))


@settings(max_examples=300, deadline=None)
@given(keys=st.lists(_keys, max_size=40))
def test_a_key_hashes_as_documented_whatever_it_is_hashed_with(keys: list[str]) -> None:
    assert key_hashes(keys).tolist() == [_reference(key) for key in keys]


@pytest.mark.parametrize("keys", [
    [f"gen-{i:07d}" for i in range(50)],  # one length
    [str(uuid.UUID(int=i)) for i in range(50)],  # one length, five words
    ["a", "bb", "gen-0000001", "x" * ROW_BYTES],  # rows padded to the widest
    ["a", "x" * (ROW_BYTES + 1), "y" * 5000, "z" * 64],  # a word position at a time, then key by key
    ["y" * 9000] * 40,  # many long keys: past _COLUMNS word positions too
    ["é", "ß" * 200, "中文-1", "😀"],  # not ASCII
    ["", "", ""],
], ids=["generated", "uuids", "rows", "long", "many long", "unicode", "empty"])
def test_each_way_of_hashing_gives_the_reference(keys: list[str]) -> None:
    expected = [_reference(key) for key in keys]
    assert key_hashes(keys).tolist() == expected
    assert [int(key_hashes([key])[0]) for key in keys] == expected
    data = b"--" + "".join(keys).encode()  # buffers whose first string is not at their start
    offsets = np.cumsum([2] + [len(key.encode()) for key in keys])  # key i: data[offsets[i]:offsets[i + 1]]
    assert utf8_hashes(np.frombuffer(data, dtype=np.uint8), offsets).tolist() == expected


def test_the_hashes_are_pinned() -> None:
    """Dask workers on other machines hash the keys of their pieces: the values must never change."""
    assert key_hashes(["gen-0000001", "", "äöü-x", "a\x00", "x" * 300]).tolist() == [
        9035214158295196663, 0, 16360601142744198724, 3808591867406691127, 11642591314527409469]


def test_a_lone_surrogate_is_hashed_not_an_error() -> None:
    """JSON can hold one ("\\ud800"); the UTF-8 codec refuses it, so the key is hashed as its bytes with
    ``surrogatepass`` (pandas' hash_array raised UnicodeEncodeError)."""
    assert key_hashes(["a\ud800", "a\udfff", "a"]).tolist() == [_reference("a\ud800"), _reference("a\udfff"),
                                                                 _reference("a")]
    assert len(set(key_hashes(["a\ud800", "a\udfff", "a"]).tolist())) == 3


@pytest.mark.parametrize("make", [
    lambda i: f"gen-{i:07d}",
    lambda i: f"case_{i}",
    lambda i: str(uuid.UUID(int=i * 0x9E3779B97F4A7C15 % (1 << 128))),
    lambda i: f"{i % 97:c}{'-' * 70}{i // 97}",  # long, differing at both ends
    lambda i: f"ü{i:x}",
], ids=["generated", "counter", "uuid", "long", "unicode"])
def test_half_a_million_distinct_keys_hash_distinctly(make: Any) -> None:
    keys = [make(i) for i in range(500_000)]
    assert len(set(keys)) == len(keys)
    assert len(np.unique(key_hashes(keys))) == len(keys)


@pytest.mark.parametrize("ids", [
    [f"GEN-{i:07d}" for i in range(40)],  # one length
    ["gen-1", "A", "b_c", "x" * 100, "Y" * ROW_BYTES],  # padded by pyarrow
    ["a", "B" * (ROW_BYTES + 10), "c" * 3000],  # too long for rows
    ["gen-1", "gen 2", "Ü"],  # not printable ASCII without spaces: each id's case key
], ids=["generated", "rows", "long", "case keys"])
def test_the_lane_hashes_a_column_as_the_records_are_hashed(ids: list[str]) -> None:
    pa = pytest.importorskip("pyarrow")
    expected = key_hashes([case_key(c) for c in ids]).tolist()
    column = pa.array(["skipped", *ids])[1:]  # a slice: its strings start past its buffers' start
    assert lane._case_keys(column, ids).tolist() == expected
    assert lane._case_keys(pa.array(ids), ids).tolist() == expected
