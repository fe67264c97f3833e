"""Phone numbers in a folded text (see ``normalize.fold``): the phone part of the personal-data detector.

A number is reported when libphonenumber finds it valid for the caller's region; when it is written in
a phone format, valid or not: ``(245) 483-9612``, ``245-483-9612``, ``871.417.1827`` (North American
layouts) or ``+1 627-875-4626`` (a '+country' number of a possible length); and, next to a phone word
("Phone:", "call me on", "... (office)"), when another common numbering plan accepts it. ``strict``
keeps only what libphonenumber validates: in the caller's region, or, next to a phone word, in another
common plan. Dates are never phone numbers.
"""

from __future__ import annotations

import bisect
import functools
import itertools

import phonenumbers

from .regex import Regex, compile_pattern

Spans = list[tuple[int, int]]

#: Numbering plans tried for a phone-shaped number that stands next to a phone word
#: ("Phone:", "call me on", "... (office)") but is not valid in the caller's region.
CONTEXT_REGIONS: tuple[str, ...] = (
    "US", "GB", "CA", "AU", "NZ", "IE", "IN", "ZA", "DE", "FR", "IT", "ES", "PT", "NL", "BE", "CH", "AT", "SE",
    "NO", "DK", "FI", "PL", "CZ", "HU", "GR", "RO", "BR", "MX", "AR", "JP", "CN", "KR", "SG", "IL", "RU", "TR")
#: At most this many phone-worded candidates per text get that retry (bounds adversarial cost).
CONTEXT_BUDGET = 32

#: phone-number punctuation as libphonenumber knows it, after folding
PUNCT = r"x()\[\]./~\x{2053}\x{223C}\x{FF5E}\x{FF0F}\x{FF3B}\x{FF3D} \-_"
_GATE = compile_pattern(f"[0-9](?:[{PUNCT}]{{0,4}}[0-9]){{6,}}")
DATE = compile_pattern(
    r"(?:(?:19|20)[0-9]{2}[-/.][01]?[0-9][-/.][0-3]?[0-9]|[0-3]?[0-9][-/.][0-3]?[0-9][-/.](?:19|20)[0-9]{2})"
    r"(?: [0-9]{1,2})?")  # a date (and an hour): never taken for a phone number
_CANDIDATE = compile_pattern(r"[0-9](?:[ .\-/()]{0,3}[0-9]){6,16}")
_WORD = compile_pattern(
    r"(?i)\b(?:phone|phones|telephone|tel|ph|mobile|mob|cell|cellphone|fax|call|calls|called|calling|"
    r"dial|sms|whatsapp|hotline|landline|voicemail|contact|reach)\b")
# a messaging verb right before the number: "messages to ...", "text me at ...", "not answering at ..."
_LEAD = compile_pattern(r"(?i)\b(?:messages?|messaging|text|texts|texted|texting|sms|answering|ring|rang)"
                        r"(?:\s+(?:me|us|him|her|them))?\s+(?:at|on|to)\s*[+(]?$")
_LEAD_ANYWHERE = compile_pattern(r"(?i)\b(?:messages?|messaging|text|texts|texted|texting|sms|answering|ring|rang)"
                                 r"(?:\s+(?:me|us|him|her|them))?\s+(?:at|on|to)\b")
_VALID, _POSSIBLE = phonenumbers.Leniency.VALID, phonenumbers.Leniency.POSSIBLE
_LABEL = compile_pattern(r"(?i)\b(?:office|desk|home|work)\b")
_LABEL_BEFORE = compile_pattern(r"(?i)\b(?:office|desk|home|work)\s?[:=]?\s?[+(]?$")
_LABEL_AFTER = compile_pattern(r"(?i)^\s?[-/(]?\s?(?:office|desk|home|work|mobile|cell|fax|phone|tel)\b")
_EXTENSION = r"(?: ?(?:x|ext\.?) ?[0-9]{1,6})?"
#: North American layouts: (NXX) NXX-XXXX, or NXX-NXX-XXXX / NXX.NXX.XXXX / NXX NXX XXXX / NXX_NXX_XXXX, the
#: separators in any mix (area code and exchange starting 2-9), each with an optional +1 or 1- in front and
#: an extension
_NANP = compile_pattern(
    r"(?:\+1[ .\-_]?|1[ .\-_])?(?:\([0-9]{3}\) ?[0-9]{3}[ .\-_]?[0-9]{4}"
    r"|[2-9][0-9]{2}[ .\-_][2-9][0-9]{2}[ .\-_][0-9]{4})" + _EXTENSION)
#: a '+country' number: a plus sign, then digits in groups
_PLUS = compile_pattern(r"\+[0-9](?:[ .\-]?\(?[0-9]{1,5}\)?){2,8}" + _EXTENSION)


@functools.lru_cache(maxsize=4096)
def _matches(text: str, region: str, leniency: int) -> tuple[tuple[int, int, str], ...]:
    """libphonenumber's matches in `text` as (start, end, raw string): a pure function of its arguments, kept
    for the texts seen last (an assistant's answers repeat a help line, a template, a customer's number)."""
    matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=leniency)
    return tuple((m.start, m.end, m.raw_string) for m in matcher)


def _near(pattern: Regex, t: str, s: int, before: int) -> bool:
    return pattern.test(t[max(0, s - before):s])


def _free(t: str, s: int, e: int) -> bool:
    """True when t[s:e] is glued neither to letters/digits nor to a longer joined number."""
    before = s > 0 and (t[s - 1].isalnum() or t[s - 1] in "_+" or (t[s - 1] in "-./" and t[s - 2:s - 1].isdigit()))
    after = e < len(t) and (t[e].isalnum() or t[e] == "_" or (t[e] in "-./" and t[e + 1:e + 2].isdigit()))
    return not (before or after)


def _in_code(t: str, s: int, e: int) -> bool:
    """True when t[s:e] is joined by '-', '.', '/' or '_' to letters or digits: part of a code (ORD-2024-118842)."""
    before = s > 1 and t[s - 1] in "-./_" and t[s - 2].isalnum()
    return before or (e + 1 < len(t) and t[e] in "-/_" and t[e + 1].isalnum())


def _context(t: str, s: int, e: int) -> bool:
    after = _LABEL_AFTER.test(t[e:e + 12])
    return after or _near(_WORD, t, s, 32) or _near(_LABEL_BEFORE, t, s, 14) or _near(_LEAD, t, s, 24)


_WINDOW_MARGIN = 12  # characters around a digit run: room for '+44 (0)' and the like


class _Taken:
    """Spans (overlapping or not) asked about in logarithmic time: whether one overlaps or holds a span."""

    __slots__ = ("_reach", "_starts")

    def __init__(self, spans: Spans) -> None:
        spans = sorted(spans)
        self._starts = [a for a, _ in spans]
        # _reach[i]: the furthest end of the first i spans
        self._reach = list(itertools.accumulate((b for _, b in spans), max, initial=-1))

    def overlaps(self, s: int, e: int) -> bool:
        return self._reach[bisect.bisect_left(self._starts, e)] > s

    def holds(self, s: int, e: int) -> bool:
        return self._reach[bisect.bisect_right(self._starts, s)] >= e


def _windows(t: str, claimed: Spans) -> list[tuple[int, int]]:
    """Merged windows around the digit runs that could be phone numbers.

    libphonenumber's matcher is slow on long texts, so it reads only these windows: runs that
    are dates, or lie wholly inside a span another kind claimed (a card, an IBAN), are left out.
    """
    windows: list[tuple[int, int]] = []
    taken = _Taken(claimed)
    for s, e in _GATE.spans(t):
        if DATE.whole(t[s:e]) or taken.holds(s, e):
            continue
        ws, we = max(0, s - _WINDOW_MARGIN), min(len(t), e + _WINDOW_MARGIN)
        if windows and ws <= windows[-1][1]:
            windows[-1] = (windows[-1][0], we)
        else:
            windows.append((ws, we))
    return windows


@functools.cache
def _context_tries(region: str, strict: bool) -> tuple[tuple[str, int], ...]:
    """Possible (right length) in `region`, valid in another common plan, possible in one; with `strict`,
    valid in another common plan only (the caller has already searched `region` for valid numbers)."""
    others = [rg for rg in CONTEXT_REGIONS if rg != region]
    if strict:
        return tuple((rg, _VALID) for rg in others)
    return ((region, _POSSIBLE), *((rg, _VALID) for rg in others), *((rg, _POSSIBLE) for rg in others))


def _formatted(t: str, region: str, blocked: Spans) -> Spans:
    """Numbers written in a phone format, whether or not their area code is assigned."""
    out: Spans = []
    taken = _Taken(blocked)
    ends: dict[int, int] = {}  # what `out` holds, as start -> end (disjoint spans)
    starts: list[int] = []  # their starts, sorted

    def add(s: int, e: int) -> None:
        i = bisect.bisect_left(starts, e)  # spans of `out` that start before `e`: only the last may reach `s`
        if not (taken.overlaps(s, e) or (i and ends[starts[i - 1]] > s)):
            out.append((s, e))
            ends[s] = e
            bisect.insort(starts, s)

    for s, e in _NANP.spans(t):
        if _free(t, s, e):
            add(s, e)
    for s, e in itertools.islice(((s, e) for s, e in _PLUS.spans(t) if _free(t, s, e)), CONTEXT_BUDGET):
        i = bisect.bisect_right(starts, s)
        if taken.holds(s, e) or (i and ends[starts[i - 1]] >= e):
            continue  # a span found holds it: `add` would refuse every (non-empty) match inside
        for hs, he, _ in _matches(t[s:e], region, _POSSIBLE):
            add(s + hs, s + he)
    return out


def _with_context(t: str, region: str, blocked: Spans, strict: bool) -> Spans:
    """Phone-shaped numbers next to a phone word, tried in other common numbering plans (with `strict`,
    only numbers valid in one of them)."""
    taken, budget, out = _Taken(blocked), CONTEXT_BUDGET, Spans()
    for s, e in _CANDIDATE.spans(t):
        if taken.overlaps(s, e) or DATE.whole(t[s:e]) or not _context(t, s, e):
            continue  # overlaps a span already found, a date, or no phone word nearby
        if (budget := budget - 1) < 0:
            break
        ws = s - 1 if s > 0 and t[s - 1] in "+(" else s
        # '+country' numbers are region-independent: other plans would only match a part
        tries = _context_tries(region, strict) if t[ws] != "+" else ((region, _VALID if strict else _POSSIBLE),)
        for rg, leniency in tries:
            hits = _matches(t[ws:e], rg, leniency)
            if hits:
                out.extend((ws + hs, ws + he) for hs, he, _ in hits)
                break
    return out


def find_phones(t: str, region: str, claimed: Spans, *, strict: bool = False) -> Spans:
    """Phone numbers in the folded text `t`, leaving out the spans other kinds `claimed`. A tab reads as a
    space ('202\\t555\\t0147'), but a number with tabs inside is no phone number when a tab joins it to more
    digits (the numbers of a tab-separated row)."""
    if "\t" in t:
        spans = find_phones(t.replace("\t", " "), region, claimed, strict=strict)
        return [(s, e) for s, e in spans if "\t" not in t[s:e] or not (
                (t[e:e + 1] == "\t" and t[e + 1:e + 2].isdigit()) or (t[s - 1:s] == "\t" and t[s - 2:s - 1].isdigit()))]
    windows = _windows(t, claimed)
    if not windows:
        return []  # no run of 7+ digits but dates and spans other kinds claimed
    out: Spans = []
    for ws, we in windows:
        out += [(ws + ms, ws + me) for ms, me, raw in _matches(t[ws:we], region, _VALID)
                if not DATE.whole(raw) and not _in_code(t, ws + ms, ws + me)]
    if not strict:
        out += _formatted(t, region, out + claimed)
    if _WORD.test(t) or _LABEL.test(t) or _LEAD_ANYWHERE.test(t):
        out += _with_context(t, region, out + claimed, strict)
    return out
