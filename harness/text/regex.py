"""Linear-time regular expressions (RE2 syntax) for policies.

Python's ``re`` backtracks: ``(a+)+$`` against 30 ``a``s and a ``!`` takes over a minute.
RE2 matches in time linear in the input, so no pattern and no output can stall the gate.
Patterns are compiled at load time; an invalid one is an input error naming its place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import re2

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
        return bool(matcher.Match(text))

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

    def _for(self, text: str) -> tuple[Any, Any]:
        """The compiled pattern and the text to give it: an ASCII text as bytes (offsets unchanged)."""
        if text.isascii():
            if self._ascii is None:
                self._ascii = _ascii_regex(self.pattern)
            return self._ascii, text.encode("ascii")
        return self._re(), text

    def spans(self, text: str, pos: int = 0, endpos: int | None = None) -> list[tuple[int, int]]:
        """The spans of ``finditer(text, pos, endpos)``."""
        compiled, data = self._for(text)
        return [m.span() for m in compiled.finditer(data, pos, endpos)]

    def first(self, text: str, pos: int = 0, endpos: int | None = None) -> tuple[int, int] | None:
        """The span of ``search(text, pos, endpos)``, or None."""
        compiled, data = self._for(text)
        m = compiled.search(data, pos, endpos)
        return None if m is None else m.span()

    def whole(self, text: str) -> bool:
        """Whether ``fullmatch(text)`` matches."""
        compiled, data = self._for(text)
        return compiled.fullmatch(data) is not None

    def fullmatch(self, text: str, *span: int) -> Any:
        return self._re().fullmatch(text, *span)

    def finditer(self, text: str, *span: int) -> Any:
        return self._re().finditer(text, *span)

    def match(self, text: str, *span: int) -> Any:
        return self._re().match(text, *span)

    def sub(self, repl: Any, text: str, count: int = 0) -> str:
        return self._re().sub(repl, text, count)

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r})"


Pattern = Regex
_UNBUILT: Any = object()
#: the longest literal pattern compiled on first use rather than at once (:meth:`Regex.literal`)
LAZY_LITERAL_CHARS = 1024


def _reason(exc: re2.error) -> str:
    """What RE2 said, as text."""
    return exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)


def _one_set(pattern: str) -> Any:
    """A one-pattern ``re2.Set`` of ``pattern``, or None when it is too large for a set's memory budget."""
    matcher = re2.Set.SearchSet(_options())
    try:
        matcher.Add(pattern)
        matcher.Compile()
    except re2.error:  # plain search it is
        return None
    return matcher

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
    """`pattern` compiled for ASCII texts given as bytes, with the same matches at the same offsets.

    In Latin-1 mode when it compiles so (an ASCII pattern without escapes beyond U+00FF): there a Unicode
    class such as ``\\pL`` is one set of bytes, not a UTF-8 automaton, so a pattern that repeats it
    (``[\\pL\\pN]{0,61}``) is a program a hundred times smaller that RE2's DFA can run, where in UTF-8 mode
    the DFA runs out of memory and the slow NFA matches. On an ASCII text both modes see the same
    characters, and every class, case-folded letter, ``\\b`` and ``\\s`` accepts the same ASCII ones.
    Otherwise in UTF-8 mode, where the bytes of an ASCII text are its characters.
    """
    if pattern.isascii():
        options = _options()
        options.encoding = re2.Options.Encoding.LATIN1
        try:
            return re2.compile(pattern.encode("ascii"), options=options)
        except re2.error:
            pass  # a character beyond Latin-1 (\x{2212}): UTF-8 it is
    return re2.compile(pattern.encode("utf-8"), options=_options())


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
        self._set: Any = None
        if self.patterns:
            self._set = re2.Set.SearchSet(_options())
            for pattern in self.patterns:
                self._set.Add(pattern)
            self._set.Compile()

    def __len__(self) -> int:
        return len(self.patterns)

    def matches(self, text: str) -> list[int]:
        """Indices of the patterns that occur in ``text``."""
        if self._set is None:
            return []
        return self._set.Match(text) or []  # the binding answers None for no match
