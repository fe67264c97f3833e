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
import re
import unicodedata

import phonenumbers
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import (
    _EXTN_PATTERNS_FOR_MATCHING,
    _REGEX_FLAGS,
    COUNTRY_CODE_TO_REGION_CODE,
    region_code_for_country_code,
)
from re2 import _re2

from .regex import Regex, compile_pattern

Spans = list[tuple[int, int]]
#: the patterns known to occur in a text (its other patterns do not), or None: ask each (`holds`)
Facts = frozenset[Regex] | None


_UNANCHORED = _re2.RE2.Anchor.UNANCHORED


def spans_of(pattern: Regex, t: str, data: bytes | None, need: int = 0) -> Spans:
    """`pattern.spans(t)`, for a pattern that matches no empty string; for an ASCII `t` given as its bytes `data`,
    `Regex.spans`' loop with the pattern's compiled program asked directly, and no search after a match when the
    rest of the text holds fewer digits than each match does (`need`)."""
    if data is None:
        return pattern.spans(t)
    match, n, out, pos = pattern._bytes().Match, len(data), Spans(), 0
    while True:
        s, e = match(_UNANCHORED, data, pos, n)[0]
        if s < 0:
            return out
        out.append((s, e))
        if need and n - e - len(data[e:].translate(None, _DIGIT_BYTES)) < need:
            return out
        pos = e


_DIGIT_BYTES = b"0123456789"


def holds(facts: Facts, pattern: Regex, t: str) -> bool:
    """`pattern.test(t)`, answered from `facts` when the caller matched `pattern` with others in one pass."""
    return pattern.test(t) if facts is None else pattern in facts

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
# `DATE.whole` with Python's `re`, six times cheaper on a short run of digits: the pattern names only ASCII
# characters and classes, which both engines read alike, and a fullmatch is the same question to both
_DATE_WHOLE = re.compile(DATE.pattern).fullmatch


def is_date(v: str) -> bool:
    """Whether `v` is wholly a date (and an hour): ``DATE.whole(v)``."""
    return _DATE_WHOLE(v) is not None

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
#: `_PLUS` with Python's `re`, which finds its matches a few times faster (its search skips to each '+'): the same
#: matches, as the pattern names only ASCII characters and classes, which both engines read alike, and both take
#: the first alternative and the longest repetition that match (no backtracking to speak of: what follows the
#: groups is optional, so the first way through them that holds two is taken, and each holds a digit)
_PLUS_ANY = re.compile(_PLUS.pattern)


@functools.lru_cache(maxsize=4096)
def _matcher(text: str, region: str, leniency: int) -> tuple[tuple[int, int, str], ...]:
    """libphonenumber's matches in `text` as (start, end, raw string): a pure function of its arguments, kept
    for the texts seen last (an assistant's answers repeat a help line, a template, a customer's number)."""
    matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=leniency)
    return tuple((m.start, m.end, m.raw_string) for m in matcher)


#: internal switch: False asks libphonenumber every time (tests compare the two paths)
PRECHECK = True


def _matches(text: str, region: str, leniency: int) -> tuple[tuple[int, int, str], ...]:
    """``_matcher``'s answer, without asking libphonenumber when `_hopeless` proves it empty (an id such as
    'gen-0000001' costs libphonenumber about half a millisecond)."""
    if PRECHECK and _hopeless(text, region, leniency):
        return ()
    return _matcher(text, region, leniency)


#: where libphonenumber's matcher may take letters into a candidate: an extension ('ext. 12', 'x12', '#')
_EXTENSION_LETTERS = re.compile(_EXTN_PATTERNS_FOR_MATCHING, _REGEX_FLAGS)
_MAX_NSN = 17  # libphonenumber's longest national significant number
_RUNS = re.compile(r"\d+")  # runs of digits as libphonenumber's matcher reads them (any script)


#: (international prefix and a non-zero digit, shortest length, {length: general patterns of the plans listing it})
_Plan = tuple[re.Pattern[str] | None, int, dict[int, tuple[re.Pattern[str], ...]]]


@functools.cache
def _plan(region: str, leniency: int) -> _Plan | None:
    """What a number found in `region` without '+' or an international prefix must satisfy, from
    libphonenumber's metadata: (the region's international prefix and a digit other than 0, the shortest
    length, {length of the national significant number: the general patterns of the country code's plans
    that list it}), local-only lengths included for POSSIBLE leniency.
    None when no proof is attempted (an unknown region, a national prefix that is rewritten rather than
    stripped, an international prefix that is a pattern, a length list libphonenumber reads specially)."""
    own = PhoneMetadata.metadata_for_region(region.upper(), None)
    if own is None or own.country_code is None:
        return None
    code = own.country_code
    regions = COUNTRY_CODE_TO_REGION_CODE.get(code, ())
    main = PhoneMetadata.metadata_for_region(region_code_for_country_code(code), None)
    plans = [PhoneMetadata.metadata_for_region(r, None) for r in regions]
    if main is None or not regions or any(m is None for m in plans):
        return None  # a non-geographic code: no proof attempted
    if any(m.national_prefix_transform_rule for m in (own, main)):
        return None  # parsing may rewrite (lengthen) the national number: no proof attempted
    idd = own.international_prefix or ""
    if not idd.isdigit() and idd != "":
        return None  # an international prefix that is a pattern: no proof attempted
    lengths: dict[int, list[re.Pattern[str]]] = {}
    for m in plans:
        assert m is not None
        desc = m.general_desc
        if desc is None or not desc.national_number_pattern:
            continue  # such a plan validates nothing (`_is_number_matching_desc`)
        accepted = list(desc.possible_length)
        if leniency == _POSSIBLE:
            accepted += list(desc.possible_length_local_only)
        if not accepted or any(n < 1 for n in accepted):
            return None  # no lengths listed, or a marker (-1): libphonenumber reads these specially
        for n in accepted:
            if any(x in desc.national_number_pattern for x in ("^", "$", "\\b", "\\B", "(?=", "(?!", "(?<")):
                return None  # `_national` places each pattern inside a longer one: no proof attempted
            lengths.setdefault(n, []).append(re.compile(desc.national_number_pattern))
    return (re.compile(idd + "[1-9]") if idd else None), min(lengths), {
        n: tuple(dict.fromkeys(ms)) for n, ms in sorted(lengths.items())}


def _hopeless(text: str, region: str, leniency: int, *, within: bool = False) -> bool:
    """True when libphonenumber's matcher (VALID or POSSIBLE leniency) provably finds no number in `text`.

    Without a '+' (or its full-width form), an 'x' or an extension, every string the matcher parses is
    made of digits, punctuation and brackets, and its digits run on in `text`'s digits (`seq`) from the
    start of a run of digits. Unless that start begins with the region's international prefix followed
    by a digit other than 0, the number is read in `region`'s country code, and the national significant
    number parsed is `seq[a:b]` for some a < b: the country code, a national prefix, a carrier code and an
    extension are only ever stripped from its ends (`_plan` refuses regions whose national prefix is
    rewritten). A VALID number is a national number of a possible length of one of the country code's plans
    that matches that plan's general pattern in full (libphonenumber's `_is_number_matching_desc`, required by
    `is_valid_number`); a POSSIBLE one only needs the length (national or local-only). So when no
    `seq[a:b]` qualifies, nothing can match. With `within`, the international prefix is looked for at every
    digit, not only where a run starts: then nothing can match in any part of `text` either.
    """
    plan = _plan(region, leniency) if leniency in (_VALID, _POSSIBLE) else None
    if plan is None or not _plain(text):
        return False
    runs = _RUNS.findall(text)
    n = sum(map(len, runs))
    if n > _MAX_NSN or (n >= plan[1] and leniency == _POSSIBLE):
        return False
    return _unreadable(runs, plan[0], _national(region, leniency, n), within)


def _plain(text: str) -> bool:
    """No '+' (or its full-width form), 'x' or extension in `text`: what `_hopeless` needs of its characters."""
    if "+" in text or "x" in text or "X" in text:
        return False
    if text.isascii():  # in an ASCII text without an 'x', an extension needs a '#', a '~' or 'int'
        return not (("#" in text or "~" in text or "nt" in text.lower()) and _EXTENSION_LETTERS.search(text))
    return "\uff0b" not in text and not _EXTENSION_LETTERS.search(text)


def _unreadable(runs: list[str], idd: re.Pattern[str] | None, national: re.Pattern[str] | None,
                within: bool) -> bool:
    """`_hopeless`'s proof on the runs of digits of a `_plain` text of at most `_MAX_NSN` digits, given its
    plan's international prefix and `_national` pattern for their number of digits."""
    seq = "".join(runs)
    if not seq.isascii():
        seq = "".join(str(unicodedata.decimal(c)) for c in seq)
    # the international prefix, then a digit other than 0: libphonenumber would read a country code after it
    if idd is not None and (idd.search(seq) if within else idd.match(seq) if len(runs) == 1 else any(
            idd.match(seq, k) for k in itertools.accumulate((len(r) for r in runs[:-1]), initial=0))):
        return False
    return national is None or national.match(seq) is None


@functools.cache
def _national(region: str, leniency: int, n: int) -> re.Pattern[str] | None:
    """Whether some part of `n` digits is a national number (`_hopeless`): one pattern matching `n` digits when
    seq[a:a + size] fullmatches a general pattern of a plan listing `size`, for some a and size (the part's
    place fixed by the digits before and after it; no general pattern holds an anchor or a look-around).
    None when no length fits in `n` digits."""
    plan = _plan(region, leniency)
    assert plan is not None
    parts = [f"[0-9]{{{a}}}(?:{p.pattern})[0-9]{{{n - a - size}}}" for size, patterns in plan[2].items()
             if size <= n for a in range(n - size + 1) for p in patterns]
    return re.compile("(?:" + "|".join(parts) + r")\Z") if parts else None


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
    """Spans (overlapping or not) asked about in logarithmic time: whether one overlaps or holds a span (a few
    spans are asked one by one, cheaper than sorting them)."""

    __slots__ = ("_few", "_reach", "_starts")

    def __init__(self, spans: Spans) -> None:
        self._few = spans if len(spans) <= _FEW_SPANS else None
        if self._few is not None:
            return
        spans = sorted(spans)
        self._starts = [a for a, _ in spans]
        # _reach[i]: the furthest end of the first i spans
        self._reach = list(itertools.accumulate((b for _, b in spans), max, initial=-1))

    def overlaps(self, s: int, e: int) -> bool:
        if self._few is None:
            return self._reach[bisect.bisect_left(self._starts, e)] > s
        return any(a < e and b > s for a, b in self._few)

    def holds(self, s: int, e: int) -> bool:
        if self._few is None:
            return self._reach[bisect.bisect_right(self._starts, s)] >= e
        return any(a <= s and b >= e for a, b in self._few)


_FEW_SPANS = 8


def _windows(t: str, claimed: Spans, runs: Spans | None = None) -> list[tuple[int, int]]:
    """Merged windows around the digit runs that could be phone numbers.

    libphonenumber's matcher is slow on long texts, so it reads only these windows: runs that
    are dates, or lie wholly inside a span another kind claimed (a card, an IBAN), are left out.
    `runs`: `undated(t)` when the caller has it.
    """
    windows: list[tuple[int, int]] = []
    taken = _Taken(claimed)
    for s, e in undated(t) if runs is None else runs:
        if taken.holds(s, e):
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


def _formatted(t: str, region: str, blocked: Spans, *, nanp: bool = True, data: bytes | None = None) -> Spans:
    """Numbers written in a phone format, whether or not their area code is assigned; the '+country' numbers
    only, when not `nanp` (the caller knows no `_NANP` match can be added). `data`: `t` as bytes, when it is
    ASCII."""
    out: Spans = []
    nanps = [(s, e) for s, e in spans_of(_NANP, t, data, 10) if _free(t, s, e)] if nanp else []
    pluses = [(s, e) for s, e in (m.span() for m in _PLUS_ANY.finditer(t)) if _free(t, s, e)] if "+" in t else []
    if not nanps and all(any(a <= s and e <= b for a, b in blocked) for s, e in pluses):
        return out  # (no layout, or each '+country' number held by a span: the loops below, read off)
    taken = _Taken(blocked)
    ends: dict[int, int] = {}  # what `out` holds, as start -> end (disjoint spans)
    starts: list[int] = []  # their starts, sorted

    def add(s: int, e: int) -> None:
        i = bisect.bisect_left(starts, e)  # spans of `out` that start before `e`: only the last may reach `s`
        if not (taken.overlaps(s, e) or (i and ends[starts[i - 1]] > s)):
            out.append((s, e))
            ends[s] = e
            bisect.insort(starts, s)

    for s, e in nanps:
        add(s, e)
    for s, e in pluses[:CONTEXT_BUDGET]:
        i = bisect.bisect_right(starts, s)
        if taken.holds(s, e) or (i and ends[starts[i - 1]] >= e):
            continue  # a span found holds it: `add` would refuse every (non-empty) match inside
        for hs, he, _ in _matches(t[s:e], region, _POSSIBLE):
            add(s + hs, s + he)
    return out


def _with_context(t: str, region: str, blocked: Spans, strict: bool, data: bytes | None = None) -> Spans:
    """Phone-shaped numbers next to a phone word, tried in other common numbering plans (with `strict`,
    only numbers valid in one of them). `data`: `t` as bytes, when it is ASCII."""
    taken, budget, out = _Taken(blocked), CONTEXT_BUDGET, Spans()
    for s, e in spans_of(_CANDIDATE, t, data, 7):
        if taken.overlaps(s, e) or is_date(t[s:e]) or not _context(t, s, e):
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


#: what every match of `_NANP` holds: a bracket, or a digit, a separator and a digit
_NANP_SIGN = compile_pattern(r"\(|[0-9][ .\-_][0-9]")
#: what every match of `_WORD`, `_LABEL` or `_LEAD_ANYWHERE` in an ASCII text holds (in any case)
_WORDISH = compile_pattern(r"(?i)ph|tel|mob|cell|fax|call|dial|sms|whatsapp|hotline|landline|voicemail|contact"
                           r"|reach|office|desk|home|work|messag|text|answering|ring|rang")
#: a phone word, a label or a messaging verb anywhere (`_WORD`, `_LABEL` or `_LEAD_ANYWHERE`), in one pass
_ANY_WORD = compile_pattern("|".join(f"(?:{p.pattern})" for p in (_WORD, _LABEL, _LEAD_ANYWHERE)))


def _nothing(t: str, region: str, strict: bool, facts: Facts = None) -> bool:
    """True when `find_phones` provably finds nothing in `t` (a case id such as 'gen-0000001'): libphonenumber
    can match in no window of it (`_hopeless`, which also means no '+', so no `_PLUS`), no `_NANP` layout
    (unless `strict`) and, in an ASCII text without tabs (which `find_phones` reads as spaces), no phone word.
    In a text of at most 19 characters every window starts at its start (a run of 7 digits starts within 12
    characters of it), so the windows' runs of digits start where the text's do; in a longer one a window may
    start inside a run, and the international prefix is looked for everywhere (`within`). `facts`: see `holds`."""
    return (PRECHECK and t.isascii() and "\t" not in t and not holds(facts, _WORDISH, t)
            and (strict or not holds(facts, _NANP_SIGN, t))
            and _hopeless(t, region, _VALID, within=len(t) > _WINDOW_MARGIN + 7))


def undated(t: str, data: bytes | None = None) -> Spans:
    """The runs of 7+ digits (`_GATE`) in a text without tabs that are not dates: where `find_phones` looks.
    `data`: `t` as bytes, when it is ASCII."""
    return [(s, e) for s, e in spans_of(_GATE, t, data, 7) if _DATE_WHOLE(t[s:e]) is None]


def possible(t: str) -> bool:
    """False when `find_phones(t, ...)` is [] whatever the region, strictness and spans claimed: every run of
    7+ digits (`_GATE`, a tab read as a space) is a date, so `_windows` has nothing to give libphonenumber."""
    if "\t" in t:
        t = t.replace("\t", " ")
    return any(_DATE_WHOLE(t[s:e]) is None for s, e in _GATE.spans(t))


#: `DATE` with every digit any digit: each date whose digits are all read as '0' still matches it
_DATE_SHAPE = compile_pattern(r"(?:[0-9]{4}[-/.][0-9]?[0-9][-/.][0-9]?[0-9]|[0-9]?[0-9][-/.][0-9]?[0-9][-/.][0-9]{4})"
                              r"(?: [0-9]{1,2})?")


def shape_dates(shape: str) -> Spans | None:
    """For every ASCII text of `shape` (the text with each digit '0': `_GATE` reads digits alike): None when
    `possible` is True for each (a run of 7+ digits that no date fills), else the spans `possible` asks `DATE`
    about (`possible(t)` is whether one of them is not a date in `t`, a tab read as a space)."""
    t = shape.replace("\t", " ")
    spans = _GATE.spans(t)
    if any(not _DATE_SHAPE.whole(t[s:e]) for s, e in spans):
        return None
    return spans


#: what `nothing_in` needs of a shape: its runs of digits, `within`, the plan's international prefix and its
#: `_national` pattern for their number of digits
Proof = tuple[Spans, bool, "re.Pattern[str] | None", "re.Pattern[str] | None"]


def shape_nothing(shape: str, region: str, strict: bool) -> Proof | None:
    """For every ASCII text of `shape` (as in `shape_dates`): None when `_nothing` may be False for one of them,
    else what `nothing_in` needs to answer `_nothing` from the digits of one. Every test of `_nothing` but
    `_unreadable` reads digits alike (no pattern of them names a digit)."""
    if not (PRECHECK and shape.isascii() and "\t" not in shape and not _WORDISH.test(shape)
            and (strict or not _NANP_SIGN.test(shape))):
        return None
    plan = _plan(region, _VALID)
    if plan is None or not _plain(shape):
        return None
    runs = [m.span() for m in _RUNS.finditer(shape)]
    n = sum(e - s for s, e in runs)
    if n > _MAX_NSN:
        return None
    return runs, len(shape) > _WINDOW_MARGIN + 7, plan[0], _national(region, _VALID, n)


def nothing_in(t: str, proof: Proof) -> bool:
    """`_nothing(t, region, strict)` for a text `t` whose shape gave `proof` (`shape_nothing`)."""
    runs, within, idd, national = proof
    if len(runs) == 1 and not within:  # one run of digits: the whole of `_unreadable`, inline
        seq = t[runs[0][0]:runs[0][1]]
        return not (idd is not None and idd.match(seq)) and (national is None or national.match(seq) is None)
    return _unreadable([t[s:e] for s, e in runs], idd, national, within)


def find_phones(t: str, region: str, claimed: Spans, *, strict: bool = False, facts: Facts = None,
                runs: Spans | None = None, data: bytes | None = None) -> Spans:
    """Phone numbers in the folded text `t`, leaving out the spans other kinds `claimed`. A tab reads as a
    space ('202\\t555\\t0147'), but a number with tabs inside is no phone number when a tab joins it to more
    digits (the numbers of a tab-separated row). `facts` (see `holds`), `runs` (`undated(t)`) and `data` (`t` as
    bytes, when it is ASCII): what the caller already knows of a text without tabs.

    When the numbers libphonenumber reads and the spans claimed hold every run of digits that is not a date
    (`_held`), no `_NANP` layout and no phone-worded candidate can be a number besides (each lies in a run of
    digits: see `_held`), and those searches are skipped."""
    if "\t" in t:
        spans = find_phones(t.replace("\t", " "), region, claimed, strict=strict)
        return [(s, e) for s, e in spans if "\t" not in t[s:e] or not (
                (t[e:e + 1] == "\t" and t[e + 1:e + 2].isdigit()) or (t[s - 1:s] == "\t" and t[s - 2:s - 1].isdigit()))]
    if runs is None:
        runs = undated(t, data)
    windows = _windows(t, claimed, runs)
    if not windows or _nothing(t, region, strict, facts):
        return []  # no run of 7+ digits but dates and spans other kinds claimed, or nothing libphonenumber reads
    out: Spans = []
    for ws, we in windows:
        out += [(ws + ms, ws + me) for ms, me, raw in _matches(t[ws:we], region, _VALID)
                if not is_date(raw) and not _in_code(t, ws + ms, ws + me)]
    held = _held(runs, out + claimed)
    if not strict:
        out += _formatted(t, region, out + claimed, nanp=not held, data=data)
    if not held and holds(facts, _ANY_WORD, t):
        out += _with_context(t, region, out + claimed, strict, data)
    return out


def _held(runs: Spans, spans: Spans) -> bool:
    """Whether each of `runs` (`undated(t)`) lies in one of `spans`: then no `_NANP` match and no `_CANDIDATE`
    match in `t` can be a number outside `spans`. The digits of each match of either are digits of `t` one after
    another, joined by at most three characters of `PUNCT` (`_NANP`: '(', ')', ' ', '.', '-', '_'; `_CANDIDATE`:
    ' ', '.', '-', '/', '(', ')'), and a `_NANP` match holds ten, a `_CANDIDATE` match seven or more: so they lie
    in one chain of digits joined by at most four characters of `PUNCT` that holds seven or more, which is one
    match of `_GATE` (greedy: from the chain's first digit to its last), a run. A run in `runs` lies in a span,
    so the match overlaps one, and `_formatted` and `_with_context` refuse it. A run that is a date holds no
    `_NANP` match (a date has no group of exactly three digits between two separators, nor a bracket), and the
    first `_CANDIDATE` match in it is the whole run (a date has ten digits at most, joined by single '-', '/', '.'
    and a space), which `_with_context` skips as a date."""
    taken = _Taken(spans)
    return all(taken.holds(s, e) for s, e in runs)
