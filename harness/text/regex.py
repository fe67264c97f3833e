"""Linear-time regular expressions (RE2 syntax) for policies.

Python's ``re`` backtracks: ``(a+)+$`` against 30 ``a``s and a ``!`` takes over a minute.
RE2 matches in time linear in the input, so no pattern and no output can stall the gate.
Patterns are compiled at load time; an invalid one is an input error naming its place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import re2
from re2 import _re2

from ..errors import InputError

#: Texts longer than this are never given to ``re2.Set``: it answers "no match" when its
#: DFA runs out of memory, and a silent miss must never turn into a pass.
SET_MAX_CHARS = 100_000


class Regex:
    """A compiled RE2 pattern: ``search``/``finditer``/``fullmatch`` as in ``re``, plus ``test``.

    ``test`` answers only whether the pattern occurs, through a one-pattern ``re2.Set``:
    about eight times faster than ``search`` on short texts, which matters a million times over.
    ``spans``, ``first`` and ``whole`` answer with offsets and booleans only, and read an ASCII text as bytes
    (see ``_ascii_regex``): a few times cheaper than ``finditer``, ``search`` and ``fullmatch``, same answers.
    ``test``, ``spans``, ``first`` and ``whole`` call the compiled objects of google-re2's extension module
    (``re2._re2``) themselves: the binding's Python layer (a generator, a match object, offset maps per call)
    costs several times what RE2 spends matching a short text.
    """

    __slots__ = ("_ascii", "_compiled", "_set", "pattern")

    def __init__(self, pattern: str, compiled: Any) -> None:
        self.pattern = pattern
        self._compiled = compiled  # None: compiled on first use (``literal``)
        self._ascii: Any = None  # compiled on first use (`_ascii_regex`)
        # built on the first `test` (`_one_set`): a suite of 100,000 cases compiles many patterns never tested
        self._set: Any = _UNBUILT

    def test(self, text: str) -> bool:
        matcher = self._set
        if matcher is _UNBUILT:
            matcher = self._set = _one_set(self.pattern)  # two threads may both build it: the same set
        if matcher is None or len(text) > SET_MAX_CHARS:
            return self._re().search(text) is not None
        return bool(matcher.Match(text.encode()))  # the extension's set: a list of indices, [] for none

    @classmethod
    def literal(cls, text: str, *, ignore_case: bool = False) -> Regex:
        """A pattern matching ``text`` itself, compiled on first use (an escaped text is a valid pattern: a suite
        of 100,000 cases need not compile the ones no output reaches). A text longer than
        :data:`LAZY_LITERAL_CHARS` is compiled at once: one too long for RE2 is an ``InputError`` when its rule
        is loaded, never a crash when an output is judged."""
        pattern = ("(?i)" if ignore_case else "") + re2.escape(text)
        if len(pattern) <= LAZY_LITERAL_CHARS:
            return cls(pattern, None)
        try:
            return cls(pattern, re2.compile(pattern, options=_COMPILE_OPTIONS))
        except re2.error as exc:
            shown = repr(text[:40] + "...")
            raise InputError(f"the text {shown} ({len(text)} characters) is too long to search for: {_reason(exc)};"
                             " expected a shorter text") from None

    def _re(self) -> Any:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re2.compile(self.pattern, options=_COMPILE_OPTIONS)
        return compiled

    def search(self, text: str, *span: int) -> Any:
        return self._re().search(text, *span)

    def _bytes(self) -> Any:
        """The extension's compiled program for ASCII texts given as bytes (`_ascii_regex`), built on first use."""
        program = self._ascii
        if program is None:
            program = self._ascii = _ascii_regex(self.pattern)
        return program

    def spans(self, text: str, pos: int = 0, endpos: int | None = None) -> list[tuple[int, int]]:
        """The spans of ``finditer(text, pos, endpos)``."""
        if not text.isascii():
            return [m.span() for m in self._re().finditer(text, pos, endpos)]
        match, data = self._bytes().Match, text.encode("ascii")
        n = len(data)
        pos, end = max(0, min(pos, n)), n if endpos is None else max(0, min(endpos, n))
        out: list[tuple[int, int]] = []
        while pos <= end:  # the binding's `finditer` loop: an empty match moves on by one character
            s, e = match(_UNANCHORED, data, pos, end)[0]
            if s < 0:
                break
            out.append((s, e))
            if pos == end:
                break
            pos = pos + 1 if pos == e else e
        return out

    def first(self, text: str, pos: int = 0, endpos: int | None = None) -> tuple[int, int] | None:
        """The span of ``search(text, pos, endpos)``, or None."""
        if not text.isascii():
            m = self._re().search(text, pos, endpos)
            return None if m is None else m.span()
        data = text.encode("ascii")
        n = len(data)
        pos, end = max(0, min(pos, n)), n if endpos is None else max(0, min(endpos, n))
        if pos > end:
            return None
        span = self._bytes().Match(_UNANCHORED, data, pos, end)[0]
        return None if span[0] < 0 else span

    def whole(self, text: str) -> bool:
        """Whether ``fullmatch(text)`` matches."""
        if not text.isascii():
            return self._re().fullmatch(text) is not None
        data = text.encode("ascii")
        return self._bytes().Match(_WHOLE, data, 0, len(data))[0][0] >= 0

    def fullmatch(self, text: str, *span: int) -> Any:
        return self._re().fullmatch(text, *span)

    def finditer(self, text: str, *span: int) -> Any:
        return self._re().finditer(text, *span)

    def match(self, text: str, *span: int) -> Any:
        return self._re().match(text, *span)

    def sub(self, repl: Any, text: str, count: int = 0) -> str:
        return self._re().sub(repl, text, count)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its pattern (a Dask worker compiles it again): the extension's programs do not pickle."""
        return Regex, (self.pattern, None)

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r})"


Pattern = Regex
_UNBUILT: Any = object()
_UNANCHORED, _WHOLE = _re2.RE2.Anchor.UNANCHORED, _re2.RE2.Anchor.ANCHOR_BOTH
#: the longest literal pattern compiled on first use rather than at once (:meth:`Regex.literal`)
LAZY_LITERAL_CHARS = 1024


def _reason(exc: re2.error) -> str:
    """What RE2 said, as text."""
    return exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)


def _one_set(pattern: str) -> Any:
    """A one-pattern set of ``pattern`` (the extension's object under ``re2.Set``: its ``Match`` takes UTF-8
    bytes), or None when it is too large for a set's memory budget."""
    matcher = re2.Set.SearchSet(_options())
    try:
        matcher.Add(pattern)
        matcher.Compile()
    except re2.error:  # plain search it is
        return None
    return matcher._set

_UNSUPPORTED_HINTS = {
    "(?=": "look-aheads are not supported in RE2 syntax",
    "(?!": "look-aheads are not supported in RE2 syntax",
    "(?<=": "look-behinds are not supported in RE2 syntax",
    "(?<!": "look-behinds are not supported in RE2 syntax",
    "(?>": "atomic groups are not supported in RE2 syntax",
}


def _options() -> Any:
    """Fresh options (RE2 would print parse errors to stderr: it does not)."""
    options = re2.Options()
    options.log_errors = False
    return options


#: the options every pattern is compiled with (building an ``re2.Options`` costs as much as compiling a short
#: pattern); never changed once made: ``_ascii_regex`` makes its own
_COMPILE_OPTIONS = _options()


def _ascii_regex(pattern: str) -> Any:
    """`pattern` compiled for ASCII texts given as bytes, with the same matches at the same offsets (the
    extension's ``_re2.RE2``; capturing groups off, as only whole matches are asked of it: RE2 picks the
    same match with or without them, and without them need not track where each group is).

    In Latin-1 mode when it compiles so (an ASCII pattern without escapes beyond U+00FF): there a Unicode
    class such as ``\\pL`` is one set of bytes, not a UTF-8 automaton, so a pattern that repeats it
    (``[\\pL\\pN]{0,61}``) is a program a hundred times smaller that RE2's DFA can run, where in UTF-8 mode
    the DFA runs out of memory and the slow NFA matches. On an ASCII text both modes see the same
    characters, and every class, case-folded letter, ``\\b`` and ``\\s`` accepts the same ASCII ones.
    Otherwise in UTF-8 mode, where the bytes of an ASCII text are its characters.
    """
    if pattern.isascii():
        latin1 = _options()
        latin1.never_capture = True
        latin1.encoding = re2.Options.Encoding.LATIN1
        try:
            return re2.compile(pattern.encode("ascii"), options=latin1)._regexp
        except re2.error:
            pass  # a character beyond Latin-1 (\x{2212}): UTF-8 it is
    options = _options()
    options.never_capture = True
    return re2.compile(pattern.encode("utf-8"), options=options)._regexp


def compile_pattern(
    pattern: str, *, ignore_case: bool = False, subpath: tuple[str | int, ...] = ()
) -> Regex:
    """Compile an RE2 pattern, or raise ``InputError`` saying what is wrong and where."""
    text = f"(?i){pattern}" if ignore_case else pattern
    try:
        return Regex(text, re2.compile(text, options=_COMPILE_OPTIONS))
    except re2.error as exc:
        reason = _reason(exc)
        hint = next((h for token, h in _UNSUPPORTED_HINTS.items() if token in pattern), None)
        if hint is None and "\\Z" in pattern:
            hint = r"use \z instead of \Z"
        detail = f"invalid RE2 pattern {pattern!r}: {reason}"
        raise InputError(f"{detail} ({hint})" if hint else detail, subpath=subpath) from None


class PatternSet:
    """Many patterns matched in one pass over a text (``re2.Set``): which of them occur."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)
        self._set: Any = None  # the extension's set (``re2.Set`` holds one): ``Match`` of UTF-8 bytes
        if self.patterns:
            matcher = re2.Set.SearchSet(_options())
            for pattern in self.patterns:
                matcher.Add(pattern)
            matcher.Compile()
            self._set = matcher._set

    def __len__(self) -> int:
        return len(self.patterns)

    def __reduce__(self) -> tuple[Any, ...]:
        return PatternSet, (self.patterns,)

    def matches(self, text: str) -> list[int]:
        """Indices of the patterns that occur in ``text``."""
        if self._set is None:
            return []
        return self._set.Match(text.encode())  # a list of indices, [] for none

    def utf8_matcher(self) -> Any:
        """``matches`` for texts given as UTF-8 bytes (a column's values, never decoded to ``str``)."""
        return self._set.Match if self._set is not None else (lambda data: [])
