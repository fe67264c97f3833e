"""Masking: printable stand-ins for personal data, in single values, texts and whole documents.

Everything the harness prints or stores beyond the evidence vault goes through here:
finding excerpts, result messages, run-level details and their keys (a ``disparity``
grouped by e-mail address must not write the addresses), output-validation errors.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import re2

from .normalize import fold
from .pii import PiiMatch, _re, canonical_email, find_pii, nothing_found


def _folded(value: str) -> str:
    return value if value.isascii() else fold(value).text


def _tail(value: str, n: int) -> str:
    end = value[-n:]
    if end.isdigit() and value.isascii():  # (most values end in digits)
        return end
    return "".join(filter(str.isdigit, _folded(value)))[-n:]


_MASKS: dict[str, Callable[[str], str]] = {
    "email": lambda v: f"{(a := canonical_email(_folded(v))).rpartition('@')[0][:1]}***@{a.rpartition('@')[2]}",
    "phone": lambda v: "***-***-**" + _tail(v, 2),
    "us_ssn": lambda v: "***-**-" + _tail(v, 4),
    "credit_card": lambda v: "**** **** **** " + _tail(v, 4),
    "iban": lambda v: (c := "".join(filter(str.isalnum, _folded(v))).upper())[:2] + "** **** " + c[-4:],
    "ip_address": lambda v: (
        (w.split(":")[0] or "*") + ":*:*:*" if ":" in (w := _folded(v)) else w.split(".")[0] + ".*.*.*"),
    "secret": lambda v: _folded(v)[:4] + "****",
}


def mask_value(kind: str, value: str, *, raw: str = "") -> str:
    """A printable stand-in for a value; it never contains `value` itself (nor `raw`, the text it was read from).

    The mask is made from the value as a reader takes it (``normalize.fold``: no invisible characters,
    look-alike letters folded, an address written out as 'jane dot doe at example dot com' read as one).
    email 'jane.doe@gmail.com' -> 'j***@gmail.com'; phone -> '***-***-**67' (last 2 digits); us_ssn ->
    '***-**-6789'; credit_card -> '**** **** **** 1111'; iban -> 'GB** **** 6119'; ip_address -> '10.*.*.*' or
    '2001:*:*:*'; secret -> first 4 chars + '****'. If a degenerate value would still occur in its mask, the
    mask is '*' * (len(value) - 1), too short to contain it.
    """
    return _mask(kind, value, raw)


def _mask(kind: str, value: str, raw: str) -> str:
    """`mask_value`, kept for the short values seen last (a card, an IBAN or an address repeats across answers).
    The cache holds the raw values themselves: a long one (a private key) is masked afresh, so the cache never
    keeps more than a few megabytes of found data."""
    if len(value) + len(raw) > _CACHED_CHARS:
        return _masked_now(kind, value, raw)
    return _masked_cached(kind, value, raw)


#: the longest value (with its raw form) whose mask is kept (4,096 of them)
_CACHED_CHARS = 512


def _masked_now(kind: str, value: str, raw: str) -> str:
    if kind not in _MASKS:
        raise ValueError(f"unknown PII kind: {kind!r}")
    mask = _MASKS[kind](value)
    if not ((value and value in mask) or (raw and raw in mask)):
        return mask
    return "*" * (min(len(v) for v in (value, raw) if v and v in mask) - 1)


_masked_cached = functools.lru_cache(maxsize=4096)(_masked_now)


def mask_match(match: PiiMatch) -> str:
    """The stand-in of a finding, made from what the detector read (a text behind a right-to-left override
    is masked in the order a reader sees it, never as its reversed stored characters)."""
    return _mask(match.kind, match.normalized or match.value, match.value)


def mask_span(kind: str, value: str, normalized: str) -> str:
    """`mask_match` of the match (kind, value, normalized) of a `pii.find_spans` span. The stand-in of a number
    written in ASCII is made afresh (cheaper than asking the cache, and a number is rarely seen twice)."""
    read = normalized or value
    if kind in _NUMBERS and value.isascii():
        return _masked_now(kind, read, value)
    return _mask(kind, read, value)


#: the kinds whose stand-in is a few string operations on an ASCII value (`_MASKS`)
_NUMBERS = frozenset(["phone", "us_ssn", "credit_card", "ip_address"])


#: explicit bidi controls: dropped from a text once something in it is masked, so no mask is shown reversed
_BIDI = dict.fromkeys([0x200E, 0x200F, 0x061C, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def mask_text(text: str) -> str:
    """`text` with every PII match of every kind replaced by its `mask_match`, for excerpts that get printed
    or stored. Other occurrences of a found value (e.g. a repeat without phone context) are masked too.
    Matching sees through disguises (see ``pii``); once anything is masked, bidi controls are dropped."""
    matches = find_pii(text)
    if not matches:
        return text
    masks = {m.value: mask_match(m) for m in matches}
    pieces, pos = [], 0
    for m in matches:
        pieces += [text[pos:m.start], masks[m.value]]
        pos = m.end
    out = "".join(pieces) + text[pos:]
    repeats = _re("|".join(re2.escape(v) for v in sorted(masks, key=len, reverse=True)))
    for last in (False, False, True):  # the last round uses masks too short to contain their values
        if repeats.search(out) is None:
            break
        out = repeats.sub((lambda r: "*" * (len(r.group()) - 1)) if last else (lambda r: masks[r.group()]), out)
    return out if out.isascii() else out.translate(_BIDI)


def mask_data(value: Any) -> Any:
    """``value`` (plain JSON-like data) with personal data masked in every string, keys included.

    Keys that mask alike stay apart: a ``disparity`` by e-mail address reports ``jane@`` and
    ``john@`` as two groups, ``j***@example.com`` and ``j***@example.com (2)``, never one.
    """
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        masked: dict[str, Any] = {}
        for key, item in value.items():
            name = base = mask_text(str(key))
            n = 1
            while name in masked:
                n += 1
                name = f"{base} ({n})"
            masked[name] = mask_data(item)
        return masked
    if isinstance(value, list | tuple):
        return [mask_data(v) for v in value]
    return value


def mask_many(texts: Sequence[str]) -> list[str]:
    """``mask_text`` of each text, fast for many short ones (a million case ids in a report).

    ``pii.nothing_found`` answers most texts without a detector: once per shape (the text with every digit
    '0': 'gen-0000123' and 'gen-0004567' are one), then from its digits; only the texts it cannot clear are
    masked one by one, each distinct text once.
    """
    masked: dict[str, str] = {}
    out = []
    for text, clean in zip(texts, nothing_found(texts), strict=True):
        if clean:
            out.append(text)
            continue
        done = masked.get(text)
        if done is None:
            done = masked[text] = mask_text(text)
        out.append(done)
    return out
