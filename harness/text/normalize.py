"""Text normalisation with an offset map, and safe excerpts of untrusted output.

Matching that must see through disguises (``Ｋｉｌｌ``, ``KILL``, ``ki\u200bll``, a Cyrillic ``і`` in
``kіll``, a combining accent, a word behind a right-to-left override) runs on a folded view of the
text (``fold``). Findings must still point into the original text, so the folded text comes with a
map from each of its characters back to an original offset.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Callable
from typing import Any

_EXCERPT_MAX = 60

# --- one character: its folded form --------------------------------------------------------


@functools.cache
def _confusables() -> dict[str, str]:
    """Non-ASCII characters whose look-alike in Unicode's confusables data is one ASCII character."""
    from confusable_homoglyphs.confusables import confusables_data  # 20 ms, and only for non-ASCII text

    table: dict[str, str] = {}
    for char, homoglyphs in confusables_data.items():
        if len(char) == 1 and not char.isascii():
            ascii_ = [h["c"] for h in homoglyphs if len(h["c"]) == 1 and h["c"].isascii() and h["c"].isprintable()]
            if ascii_:
                # the data's prototype for I, 1 and | is 'l': keep a capital a capital (an AWS key's 'І' is 'I')
                table[char] = "I" if ascii_[0] == "l" and char.isupper() else ascii_[0]
    return table


#: characters that are letters or symbols to Unicode but show as nothing, or a blank (Hangul fillers, the
#: braille blank): read as a zero-width character is, not as a letter inside a word or an address
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _fold_char(ch: str) -> str:
    """What a reader takes `ch` for, case kept: '' for format characters (zero-width, bidi controls) and
    combining marks, ASCII for decimal digits of any script, Unicode spaces and dashes, NFKC compatibility
    forms (full-width, mathematical letters), accented letters and look-alike letters of other scripts."""
    if ch.isascii():
        return ch
    category = unicodedata.category(ch)
    if category in ("Cf", "Mn", "Me") or ch in _BLANK_LETTERS:
        return ""
    digit = unicodedata.decimal(ch, None)
    if digit is not None:
        return str(digit)
    if category == "Zs":
        return " "
    if category == "Pd" or ch == "\u2212":
        return "-"
    if ch == "\u3002":  # the ideographic full stop, which IDNA reads as a label dot (with its compatibility forms)
        return "."
    composed = unicodedata.normalize("NFKC", ch)
    if composed != ch:
        return "".join(_fold_char(c) if c != ch else c for c in composed)
    bare = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
    if bare != ch:
        return "".join(_fold_char(c) if c != ch else c for c in bare)
    folded = _confusables().get(ch, ch)
    if folded == ch and unicodedata.name(ch, "").startswith("LATIN LETTER SMALL CAPITAL "):
        letter = unicodedata.name(ch)[len("LATIN LETTER SMALL CAPITAL "):]
        return letter if len(letter) == 1 else ch  # 'ʜ' reads as a capital H ('ᴁ', small capital AE, stays)
    return folded


def _fold_char_casefolded(ch: str) -> str:
    # case-folded first: a capital's look-alike may differ from its small letter's (Cyrillic 'У' is 'Y', 'у' 'y')
    return "".join(_fold_char(c) for c in ch.casefold()).lower()


class _Table(dict[int, str]):
    """A lazy `str.translate` table built by one of the functions above."""

    def __init__(self, fold: Callable[[str], str]) -> None:
        super().__init__()
        self._fold = fold

    def __missing__(self, code: int) -> str:
        out = self[code] = self._fold(chr(code))
        return out


_CASED, _CASEFOLDED = _Table(_fold_char), _Table(_fold_char_casefolded)
#: en, em and longer dashes: a reader sees punctuation between words ("is—and"), not a hyphen
_LONG_DASHES = frozenset("\u2013\u2014\u2015\u2e3a\u2e3b")
_CASED_LONG_DASHES = _Table(lambda ch: ch if ch in _LONG_DASHES else _fold_char(ch))

# --- explicit bidi controls: the order a reader sees -------------------------------------------

#: opening controls: (right-to-left, override direction or None, isolate)
_BIDI_OPEN = {"\u202a": (False, None, False), "\u202b": (True, None, False), "\u202d": (False, "L", False),
              "\u202e": (True, "R", False), "\u2066": (False, None, True), "\u2067": (True, None, True),
              "\u2068": (False, None, True)}
_PDF, _PDI = "\u202c", "\u2069"
_BIDI_CONTROLS = frozenset([*_BIDI_OPEN, _PDF, _PDI])
_MAX_DEPTH = 125  # as in the Unicode bidi algorithm
# Python's `re` for these single-character classes: linear, and far cheaper per match than re2's binding
# when an adversarial text holds a million controls
_CONTROL_OR_BREAK = re.compile("[\u202a-\u202e\u2066-\u2069\n\r\x1c-\x1e\x85\u2029]")
#: the right-to-left scripts (Hebrew to Arabic Extended, presentation forms, and their astral blocks)
_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff\U00010800-\U00010fff\U0001e800-\U0001efff]+")
_STRONG = re.compile(r"[^\W_]+")  # letters and digits
Run = tuple[int, int, int]  # start, end, embedding level


def _add(runs: list[Run], start: int, end: int, level: int) -> None:
    if runs and runs[-1][2] == level:
        runs[-1] = (runs[-1][0], end, level)
    else:
        runs.append((start, end, level))


def _segment(runs: list[Run], text: str, start: int, end: int, level: int) -> None:
    """Add the levels of text[start:end], all under one embedding without override (rules W, N1, I1-I2,
    simplified): a right-to-left letter is odd, a letter or digit in a right-to-left embedding is raised to
    even, and the characters between (spaces, punctuation) take the direction of the letters on both sides
    when they agree, else that of the embedding."""
    ltr, rtl = level + level % 2, level + 1 - level % 2  # the levels of left-to-right and right-to-left letters
    strong: list[Run] = []  # each run of letters and digits, split by direction
    for word in _STRONG.finditer(text, start, end):
        pos = word.start()
        for part in _RTL.finditer(text, pos, word.end()):
            if part.start() > pos:
                strong.append((pos, part.start(), ltr))
            strong.append((part.start(), part.end(), rtl))
            pos = part.end()
        if pos < word.end():
            strong.append((pos, word.end(), ltr))
    pos, previous = start, -1
    for s, e, lvl in strong:
        if s > pos:  # neutral characters: N1 between two runs of one direction, else the embedding's
            _add(runs, pos, s, lvl if previous == lvl else level)
        _add(runs, s, e, lvl)
        pos, previous = e, lvl
    if pos < end:
        _add(runs, pos, end, level)


def _levels(text: str) -> list[Run]:
    """The embedding level of each stretch of `text` (a simplified Unicode bidi algorithm, rules X1-X8).

    Paragraphs are left-to-right; line and paragraph breaks end every embedding. Inside an override every
    character takes its direction. An FSI opens a left-to-right isolate, as an LRI does. Controls take the
    level of what precedes them (they fold to '' and are never part of a span).
    """
    runs: list[Run] = []
    stack: list[tuple[int, str | None, bool]] = [(0, None, False)]  # (level, override, isolate)
    level, override, pos = 0, None, 0
    # rule X1's counters: isolates and embeddings opened past the maximum depth, isolates on the stack
    overflow_isolates = overflow_embeddings = open_isolates = 0
    for m in _CONTROL_OR_BREAK.finditer(text):
        at = m.start()
        if at > pos:
            if override is not None or (level % 2 == 0 and text[pos:at].isascii()):
                _add(runs, pos, at, level)
            else:
                _segment(runs, text, pos, at, level)
        pos, ch = at + 1, text[at]
        _add(runs, at, pos, runs[-1][2] if runs and ch in _BIDI_CONTROLS else 0)  # a break is at paragraph level
        opening = _BIDI_OPEN.get(ch)
        if opening is not None:  # rules X2-X5c
            rtl, direction, isolate = opening
            new = level + (1 if (level % 2 == 0) == rtl else 2)
            if new <= _MAX_DEPTH and not overflow_isolates and not overflow_embeddings:
                stack.append((new, direction, isolate))
                open_isolates += isolate
            elif isolate:
                overflow_isolates += 1
            elif not overflow_isolates:
                overflow_embeddings += 1
        elif ch == _PDF:  # rule X7: closes the embedding it matches, never one opened outside an open isolate
            if overflow_isolates:
                pass
            elif overflow_embeddings:
                overflow_embeddings -= 1
            elif len(stack) > 1 and not stack[-1][2]:
                stack.pop()
        elif ch == _PDI:  # rule X6a: closes the isolate it matches and what it holds; unmatched, does nothing
            if overflow_isolates:
                overflow_isolates -= 1
            elif open_isolates:
                overflow_embeddings, open_isolates = 0, open_isolates - 1
                while not stack.pop()[2]:
                    pass
        else:  # a line or paragraph break (rule X8)
            del stack[1:]
            overflow_isolates = overflow_embeddings = open_isolates = 0
        level, override = stack[-1][0], stack[-1][1]
    if pos < len(text):
        if override is not None or (level % 2 == 0 and text[pos:].isascii()):
            _add(runs, pos, len(text), level)
        else:
            _segment(runs, text, pos, len(text), level)
    return runs


def _display_pieces(text: str) -> list[tuple[int, int, bool]]:
    """`text` in display order, as (start, end, reversed) pieces (rule L2: from the highest level down to
    the lowest odd one, reverse every stretch at that level or above).

    The stretches to reverse nest, so they form a tree built in one pass: each node is reversed once, and a
    piece is reversed when an odd number of nodes hold it. Linear in the number of runs however deep the
    nesting (a level rises by at most two per control character).
    """
    runs = _levels(text)
    lowest = min(level for _, _, level in runs)
    base = lowest if lowest % 2 else lowest + 1  # the lowest odd level: depth 1 in the tree
    root: list[Any] = []
    path, depth = [root], 0
    for start, end, level in runs:
        wanted = level - base + 1 if level >= base else 0
        if wanted < depth:
            del path[wanted + 1:]
        while len(path) <= wanted:
            node: list[Any] = []
            path[-1].append(node)
            path.append(node)
        depth = wanted
        path[-1].append((start, end))
    pieces: list[tuple[int, int, bool]] = []
    _emit(root, False, pieces)
    return pieces


def _emit(node: list[Any], flipped: bool, pieces: list[tuple[int, int, bool]]) -> None:
    for child in reversed(node) if flipped else node:
        if type(child) is tuple:
            pieces.append((child[0], child[1], flipped))
        else:
            _emit(child, not flipped, pieces)


# --- a folded view of a whole text ---------------------------------------------------------------


class Folded:
    """A text as a reader takes it (see ``fold``), with the way back to the original offsets.

    ``text`` is what matching runs on; ``span`` turns a span of it into the span of the original that
    produced it, so ``source[start:end]`` is the disguised value itself.
    """

    __slots__ = ("_offsets", "_pieces", "_table", "source", "text")

    def __init__(self, source: str, text: str, table: _Table | None,
                 pieces: list[tuple[int, int, bool]] | None = None) -> None:
        self.source, self.text, self._table, self._pieces = source, text, table, pieces
        self._offsets: list[int] | None = None

    def offsets(self) -> list[int]:
        """For each character of ``text``, the offset of the original character it comes from."""
        if self._offsets is None:
            pieces = self._pieces or [(0, len(self.source), False)]
            indices = itertools.chain.from_iterable(
                range(e - 1, s - 1, -1) if flipped else range(s, e) for s, e, flipped in pieces)
            if self._table is None:
                self._offsets = list(indices)
            else:
                table, source = self._table, self.source
                self._offsets = [i for i in indices for _ in range(len(table[ord(source[i])]))]
        return self._offsets

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of ``text[start:end]``: from its first to its last source character, combining
        marks that follow it included. An empty span stays empty: before the source character of the one
        that stands at ``start``, or, at the end of ``text``, after the last source character read (and its
        combining marks)."""
        if self._table is None and self._pieces is None:
            return start, end
        offsets = self.offsets()
        covered = offsets[start:end]
        if not covered and 0 <= start < len(offsets):
            return offsets[start], offsets[start]
        stop = max(covered or offsets, default=-1) + 1
        while stop < len(self.source) and unicodedata.combining(self.source[stop]):
            stop += 1
        return (min(covered), stop) if covered else (stop, stop)


def fold(text: str, *, casefold: bool = False, visual: bool = True, long_dashes: bool = True) -> Folded:
    """`text` with disguises undone: format characters (zero-width, bidi controls, soft hyphen) and combining
    marks removed, explicit bidi overrides put in the order a reader sees them (``visual``), NFKC applied,
    accents stripped, letters of other scripts that look like ASCII ones folded to them (Unicode's
    confusables data: Cyrillic 'і' is 'i'), digits of any script read as ASCII digits, Unicode spaces as ' '
    and dashes as '-' (en and em dashes kept as they are unless ``long_dashes``, for matching that must not
    take "is—and" for "is-and"); with ``casefold``, case-folded too. Pure ASCII text comes back as is
    (lower-cased)."""
    if text.isascii():
        return Folded(text, text.lower() if casefold else text, None)  # one character for one
    if not long_dashes and casefold:
        raise ValueError("long_dashes=False is for case-kept folds")
    table = _CASEFOLDED if casefold else _CASED if long_dashes else _CASED_LONG_DASHES
    odd = set(_NON_ASCII.findall(text))  # its distinct non-ASCII characters (bidi controls are among them)
    if visual and not _BIDI_CONTROLS.isdisjoint(odd):
        pieces = _display_pieces(text)
        shown = "".join(text[s:e][::-1] if flipped else text[s:e] for s, e, flipped in pieces)
        return Folded(text, _translate(shown, odd, table, casefold), table, pieces)
    return Folded(text, _translate(text, odd, table, casefold), table)


#: a character beyond ASCII (``_translate`` replaces the few distinct ones of a text one by one)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_FEW_DISTINCT = 8


def _translate(text: str, odd: set[str], table: _Table, casefold: bool) -> str:
    """``text.translate(table)``, faster for a text whose few distinct non-ASCII characters (a curly quote, a
    dash, an accented name) all fold to ASCII: those replaced one by one, and the rest lower-cased when the table
    case-folds (it maps every ASCII character to itself, or to its lower case). ``str.translate`` looks every
    character of the text up in the table; this touches each distinct one once. ``odd``: the distinct non-ASCII
    characters of ``text``."""
    if len(odd) > _FEW_DISTINCT:
        return text.translate(table)
    out = text
    for ch in odd:
        folded = table[ord(ch)]
        if not folded.isascii():
            return text.translate(table)
        out = out.replace(ch, folded)
    return out.lower() if casefold else out


def fold_views(text: str, *, casefold: bool = False, long_dashes: bool = True) -> list[Folded]:
    """The views of `text` that matching must search: the one a reader sees and, when bidi controls reorder
    it, the stored (logical) order too, which a program reading the text sees."""
    seen = fold(text, casefold=casefold, long_dashes=long_dashes)
    if seen._pieces is None:
        return [seen]
    stored = fold(text, casefold=casefold, visual=False, long_dashes=long_dashes)
    return [seen] if stored.text == seen.text else [seen, stored]


def normalize(text: str) -> tuple[str, list[int] | None]:
    """The case-folded view a reader sees (``fold(text, casefold=True)``) and, unless the text is pure ASCII,
    the offset in ``text`` of each of its characters."""
    view = fold(text, casefold=True)
    return view.text, None if text.isascii() else view.offsets()


def original_span(offsets: list[int] | None, start: int, end: int) -> tuple[int, int]:
    """Map a span of a normalised text back to the original text (``offsets`` from ``normalize``). An empty
    span maps to an empty one: at the original offset of the character that follows it, or, at the end of
    the text, just after the last original character the normalised text reads."""
    if offsets is None:
        return start, end
    covered = offsets[start:end]
    if covered:
        return min(covered), max(covered) + 1
    point = offsets[start] if 0 <= start < len(offsets) else max(offsets, default=-1) + 1
    return point, point


#: C0 and C1 controls (escape sequences), the bidi controls and marks that reorder what a terminal shows
#: (embeddings, overrides, isolates, LRM, RLM, ALM) and the invisible characters that hide inside a word
#: (zero-width space and joiners, word joiner, invisible operators, deprecated format controls, BOM)
_CONTROL = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0), 0x061C,
                          *range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2065),
                          *range(0x2066, 0x2070), 0xFEFF], "\ufffd")


def printable(text: object) -> str:
    """Untrusted text made safe for a terminal: control characters (escape sequences), bidi controls and
    marks, and zero-width characters become U+FFFD."""
    return str(text).translate(_CONTROL)


_BREAKS = str.maketrans({"\n": "\\n", "\r": "\\r", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def one_line(text: object) -> str:
    """Untrusted text for one line of output: safe for a terminal, and no line break can forge another line."""
    return printable(text).translate(_BREAKS)


_CONTEXT = 80  # characters around a span read to see personal data that only starts or ends inside it


@functools.cache
def _pii_tools() -> tuple[Callable[[str], Any], Callable[[str], str], Callable[[str], bool]]:
    """``find_pii``, ``mask_text`` and a test that is False only where ``find_pii`` finds nothing (its documented
    ``prefilter_pattern``): the pii modules import this one, so they are imported on first use."""
    from .mask import mask_text
    from .pii import find_pii, prefilter_pattern
    from .regex import compile_pattern

    return find_pii, mask_text, compile_pattern(prefilter_pattern()).test


def excerpt(text: str, start: int, end: int) -> str:
    """A short excerpt of ``text[start:end]`` with personal data masked.

    Personal data is looked for around the span too, so that a value the span cuts in half
    (``…jane.doe@exa``) is still recognised and starred out; only then is the excerpt shortened.
    Most windows hold nothing a detector could read: the pii prefilter's one pass tells, and clears them.
    """
    find_pii, mask_text, possible = _pii_tools()
    begin = max(0, start - _CONTEXT)
    window = text[begin:min(len(text), end + _CONTEXT)]
    piece = text[start:end]
    if _may_hold_pii(possible, window):
        chars = list(piece)
        for match in find_pii(window):
            for i in range(max(match.start + begin, start), min(match.end + begin, end)):
                if not chars[i - start].isspace():
                    chars[i - start] = "*"
        piece = "".join(chars)
    if _may_hold_pii(possible, piece):
        piece = mask_text(piece)
    if len(piece) > _EXCERPT_MAX:
        piece = piece[: _EXCERPT_MAX - 1] + "…"
    return piece


def _may_hold_pii(possible: Callable[[str], bool], text: str) -> bool:
    """``possible(text)``; True for a text it cannot read (a lone surrogate): ``find_pii`` says what then."""
    try:
        return possible(text)
    except UnicodeError:
        return True
