"""Text normalisation with an offset map, and safe excerpts of untrusted output.

Matching that must see through disguises (``Ｋｉｌｌ``, ``KILL``, ``ki\u200bll``) runs on
NFKC-normalised, case-folded text with invisible format characters removed. Findings
must still point into the original text, so the normalised text comes with a map from
each of its characters back to an original offset.
"""

from __future__ import annotations

import functools
import unicodedata

_EXCERPT_MAX = 60


@functools.lru_cache(maxsize=4096)
def _fold(ch: str) -> tuple[str, bool]:
    """One character NFKC-normalised and case-folded ('' for format characters), and whether it combines."""
    if unicodedata.category(ch) == "Cf":
        return "", False
    return unicodedata.normalize("NFKC", ch).casefold(), unicodedata.combining(ch) != 0


def normalize(text: str) -> tuple[str, list[int] | None]:
    """NFKC + casefold + drop format characters (zero-width and the like).

    Returns the normalised text and a list mapping each normalised character to its
    offset in ``text`` (with one extra entry for the end), or ``None`` when the
    mapping is the identity (pure ASCII text, the common case, stays fast).
    """
    if text.isascii():
        return text.lower(), None
    folded = [_fold(ch) for ch in text]
    if any(combining for _, combining in folded):
        return _normalize_clusters(text)
    out = [piece for piece, _ in folded]
    offsets = [i for i, piece in enumerate(out) for _ in piece]
    offsets.append(len(text))
    return "".join(out), offsets


def _normalize_clusters(text: str) -> tuple[str, list[int]]:
    """The slow path: a base character and its combining marks are normalised together."""
    out: list[str] = []
    offsets: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        cluster = text[i:j]
        if not (len(cluster) == 1 and unicodedata.category(cluster) == "Cf"):
            folded = unicodedata.normalize("NFKC", cluster).casefold()
            out.append(folded)
            offsets.extend([i] * len(folded))
        i = j
    offsets.append(n)
    return "".join(out), offsets


def original_span(offsets: list[int] | None, start: int, end: int) -> tuple[int, int]:
    """Map a span of the normalised text back to the original text."""
    if offsets is None:
        return start, end
    last = offsets[end - 1] if end > start else offsets[start]
    # the end is just past the original cluster that produced the last character
    stop = next((o for o in offsets[end:] if o > last), offsets[-1])
    return offsets[start], stop


_CONTROL = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)], "\ufffd")


def printable(text: object) -> str:
    """Untrusted text made safe for a terminal: control characters (escape sequences) become U+FFFD."""
    return str(text).translate(_CONTROL)


_BREAKS = str.maketrans({"\n": "\\n", "\r": "\\r", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def one_line(text: object) -> str:
    """Untrusted text for one line of output: safe for a terminal, and no line break can forge another line."""
    return printable(text).translate(_BREAKS)


_CONTEXT = 80  # characters around a span read to see personal data that only starts or ends inside it


def excerpt(text: str, start: int, end: int) -> str:
    """A short excerpt of ``text[start:end]`` with personal data masked.

    Personal data is looked for around the span too, so that a value the span cuts in half
    (``…jane.doe@exa``) is still recognised and starred out; only then is the excerpt shortened.
    """
    from .mask import mask_text
    from .pii import find_pii

    begin = max(0, start - _CONTEXT)
    window = text[begin:min(len(text), end + _CONTEXT)]
    chars = list(text[start:end])
    for match in find_pii(window):
        for i in range(max(match.start + begin, start), min(match.end + begin, end)):
            if not chars[i - start].isspace():
                chars[i - start] = "*"
    piece = mask_text("".join(chars))
    if len(piece) > _EXCERPT_MAX:
        piece = piece[: _EXCERPT_MAX - 1] + "…"
    return piece
