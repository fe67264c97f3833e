"""Personal-data and secret detection for model outputs (the engine of the `pii` check).

Candidates come from linear-time RE2 patterns and are validated (Luhn, IBAN mod-97 and country format, SSN
ranges, `ipaddress`, libphonenumber) so that plain numbers are not reported. Detection runs on the folded
text (``normalize.fold``: zero-width and bidi controls removed, overrides in the order a reader sees, look-alike
letters and digits of any script read as ASCII), and on the stored order too when bidi controls reorder it;
spans point into the original text. Written-out disguises are read as such: numbers grouped by '.', '/', '_',
',', double spaces or a mix of them, cards one digit at a time or grouped by '*', '|', ':' or ' x ',
``jane dot doe at example dot com``, ``jane [at] example.com``, ``jane.doe[@]example[.]com``,
``jane . doe @ example . com``, ``203 . 0 . 113 . 42``, ``203.000.113.042``, IBANs in mixed case,
``AKIA-IOSF-ODNN-7EXA-MPLE``; a looser layout of a card or an SSN only next to a card or SSN word.
Overlaps: the more specific kind wins (secret > email > iban > credit_card > us_ssn > ip_address > phone).
A text that is ASCII, or whose every character folds to one ASCII character (typographic quotes, Unicode digits),
is its own folded view and is read as it is (`_find_ascii`): its kinds' prefilters and the detectors' whole-text
questions in one pass (`_scan`), no fold, no offset map. What to run is then decided once per answer of that pass
(`_Plan`; no SSN detector where no SSN stands apart, `_FREE_SSN`), the detectors read the text's bytes with their
compiled programs (`phone.spans_of`), a chain of digits inside an IBAN found is read by no card or SSN detector
(`_DETECTING`), and where every '@' is that of an address the allow list names, standing apart, no e-mail search is
made (`_allowed_only`).
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import itertools
import re
import unicodedata
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from re2 import _re2
from stdnum import iban as _iban
from stdnum.us import ssn as _ssn

from . import phone as _phone
from .normalize import Folded, fold, fold_views
from .phone import (
    CONTEXT_BUDGET,
    CONTEXT_REGIONS,
    PUNCT,
    Facts,
    Proof,
    find_phones,
    holds,
    is_date,
    nothing_in,
    shape_dates,
    shape_nothing,
    spans_of,
    undated,
)
from .phone import _nothing as _no_phone
from .phone import possible as _phone_possible
from .regex import SET_MAX_CHARS, PatternSet, Regex, compile_pattern

__all__ = ["CONTEXT_BUDGET", "CONTEXT_REGIONS", "KINDS", "PiiMatch", "Span", "canonical_email", "find_pii",
           "find_spans", "nothing_found", "prefilter_pattern"]

KINDS: tuple[str, ...] = ("email", "phone", "us_ssn", "credit_card", "iban", "ip_address", "secret")
_PHONE_ONLY = frozenset(["phone"])
_PRIORITY = {k: i for i, k in enumerate(("secret", "email", "iban", "credit_card", "us_ssn", "ip_address", "phone"))}


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """One finding; `value` is the raw matched text and must never be printed or stored.

    `normalized` is what the detector read there (the folded text: a reader's order, no invisible
    characters, look-alikes folded); masks are made from it, so a disguise cannot leak through a mask.
    """

    kind: str
    start: int
    end: int
    value: str
    normalized: str = ""


_re = compile_pattern

# --- Prefilter: per kind, a superset of what that kind can match ------------------------------------
# Written for the folded text, and a superset on the raw text too when the raw text differs from its
# fold only in HARMLESS characters: wherever a pattern accepts ' ' it accepts \p{Zs}, wherever '-' \p{Pd}.
# Any other non-ASCII character sends the text to the detector (`_UNFOLDED`).
_D, _SP, _DASH = r"[0-9]", r"[\s\p{Zs}]", r"[\p{Pd}\x{2212}]"
_SEP = r"[\s\p{Zs}\p{Pd}\x{2212} ./_,]"
_SSN_SEP, _CARD_SEP = r"[\s\p{Zs}\p{Pd}\x{2212} ./_,:]", r"[\s\p{Zs}\p{Pd}\x{2212} ./_,*|:()]"
#: a dot between IPv4 octets written with spaces around it, in brackets or as a word: '1 . 2', '1[.]2', '1 dot 2'
_IP_DOT = (r"(?:[\s\p{Zs}]{1,2}\.[\s\p{Zs}]{0,2}|\.[\s\p{Zs}]{1,2}|[\s\p{Zs}]{0,2}[\[(][\s\p{Zs}]{0,2}(?i:dot|\.)"
           r"[\s\p{Zs}]{0,2}[\])][\s\p{Zs}]{0,2}|[\s\p{Zs}]{1,2}(?i:dot)[\s\p{Zs}]{1,2})")

_PREFILTER = {
    "email": rf"@|(?i:\bdot\b|[\[({{<]{_SP}*(?:at|\.){_SP}*[\])}}>])",
    "phone": f"{_D}(?:[{PUNCT}\\p{{Pd}}\\p{{Zs}}\\x{{2212}}\\t]{{0,4}}{_D}){{6}}",
    "us_ssn": f"{_D}{{3}}{_SSN_SEP}{{0,4}}{_D}{{2}}{_SSN_SEP}{{0,4}}{_D}{{4}}",
    "credit_card": f"{_D}(?:{_CARD_SEP}{{0,3}}{_D}|{_SP}x{_SP}{_D}){{11}}",
    "iban": f"[A-Za-z]{{2}}{_D}{{2}}{_SEP}{{0,2}}[A-Za-z0-9]{{4}}",
    "ip_address": f"{_D}\\.{_D}{{1,3}}\\.{_D}{{1,3}}\\.{_D}|{_D}{_IP_DOT}{_D}"
                  "|:[0-9A-Fa-f]*:[0-9A-Fa-f]*:|[0-9A-Fa-f]::[0-9A-Fa-f]",
    "secret": rf"(?:\b|_)(?:AKIA|ASIA)|\bgh[pousr]_|\bgithub_pat_|\bxox[bpars]{_DASH}|{_DASH}{{5}}BEGIN|\bAIza"
    rf"|\b[rs]k_live_|\bsk{_DASH}",
}
#: characters common in model outputs that fold to nothing a detector reads beyond what the patterns above
#: accept raw: typographic quotes, bullet, dashes, no-break and thin spaces, currency signs
HARMLESS = "\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u00a0\u2009\u202f\u20ac\u00a3"
_UNFOLDED = "[^\\x00-\\x7f" + "".join(f"\\x{{{ord(c):04X}}}" for c in HARMLESS) + "]"
_KIND_RE = {k: _re(p) for k, p in _PREFILTER.items()}


def _narrow_phone() -> str:
    """A superset test for `find_phones` on a text of ASCII and HARMLESS characters (any other character
    sends a text to the detectors through `_UNFOLDED`), for `prefilter_pattern`: a chain of 7+ digits that
    is not a date. `find_phones` finds nothing unless a chain of digits joined by at most four of PUNCT
    (`phone._GATE`, a tab read as a space) holds 7 digits and is not wholly a date (`phone.DATE`:
    YYYY-M-D or D-M-YYYY with '-', '/' or '.', and an hour after one space); the 7-digit test before it
    passed every ISO date, half the outputs it sent to the detectors.

    Two sufficient conditions, each matched anywhere, each only within 7 digits of a chain: a gap no date
    has (two to four separators, or one of 'x()[]~_'), found as the last such gap of 7 digits in a row; or,
    from where a chain starts (no digit, nor a digit and one separator, before it), a reading of its groups
    that leaves both date layouts: a group of 3 or of 5+, four digits that are no year 19xx/20xx where a
    year is due, a month or day out of range, a space where a date has '-', '/' or '.', a fourth group
    after a dash, or a fifth. Proven against `phone.possible` on the benchmark outputs and on generated
    chains (tests/test_pii_prefilter.py)."""
    dashes = "".join(f"\\x{{{ord(c):x}}}" for c in HARMLESS if unicodedata.category(c) == "Pd")
    spaces = "".join(f"\\x{{{ord(c):x}}}" for c in HARMLESS if unicodedata.category(c) == "Zs")
    d, end = "[0-9]", "(?:[^0-9]|$)"
    dash, space = f"[\\-/.{dashes}]", f"[ \\t{spaces}]"  # a date's separator; a space (before its hour)
    gap = f"[\\-/.{dashes} \\t{spaces}]"  # either: the one separator between two groups of a date
    sep = f"[\\-/.{dashes} \\t{spaces}x()\\[\\]~_]"  # what joins a chain: PUNCT, a tab, HARMLESS spaces, dashes
    year, other = f"(?:19|20){d}{{2}}", f"(?:[03-9]{d}|1[0-8]|2[1-9]){d}{{2}}"  # four digits, a year or not

    def more(n: int) -> str:  # n more digits of the chain, one separator at most between two
        return f"(?:{gap}?{d}){{{n}}}" if n > 0 else ""

    odd = f"(?:{sep}{{2,4}}|[x()\\[\\]~_])"
    # i digits with any gaps, the odd gap, 7 - i digits with a date's gaps (i = 1..6), the prefixes shared
    odd_gap = ""
    for i in range(6, 0, -1):
        odd_gap = f"{odd}{d}{more(6 - i)}" + (f"|{sep}{{0,4}}{d}(?:{odd_gap})" if odd_gap else "")
    odd_gap = f"{d}(?:{odd_gap})"
    after = f"(?:{dash}{d}|{space}(?:{d}{{3}}|{d}{d}?{gap}{d}))"  # more groups after a whole date
    ymd = (f"{year}(?:{space}{d}{more(2)}|{dash}(?:{d}{{3}}|[2-9]{d}{gap}{d}|[01]{d}{space}{d}|{d}{space}{d}{more(1)}"
           f"|[01]?{d}{dash}(?:{d}{{3}}|[4-9]{d}|[0-3]?{d}{after})))")

    def dmy_year(n: int) -> str:  # the year group of D-M-YYYY, after n digits
        short = "|".join(f"{d}{{{k}}}{gap}{d}{more(6 - n - k)}" for k in (1, 2, 3))
        return (f"(?:{d}{{5}}|{short}|{other}{gap + d if n < 3 else ''}|{year}{after}"
                + (f"|{d}{{3}}{end})" if n == 4 else ")"))

    def dmy_month(n: int) -> str:  # the middle group of D-M-YYYY, after n digits
        return (f"(?:{space}{d}{more(6 - n)}|{dash}(?:{d}{{3}}{more(4 - n)}|[4-9]{d}{gap}{d}{more(4 - n)}"
                f"|{d}(?:{space}{d}{more(5 - n)}|{dash}{dmy_year(n + 1)})"
                f"|[0-3]{d}(?:{space}{d}{more(4 - n)}|{dash}{dmy_year(n + 2)})))")

    dmy = f"[4-9]{d}{gap}{d}{more(4)}|{d}{dmy_month(1)}|[0-3]{d}{dmy_month(2)}"
    start = f"(?:(?:^|[^0-9]){gap}|^|[^0-9\\-/.{dashes} \\t{spaces}])"
    layout = f"{start}(?:{d}{{5}}{more(2)}|{d}{{3}}{gap}{d}{more(3)}|{other}{gap}{d}{more(2)}|{ymd}|{dmy})"
    return f"{odd_gap}|{layout}"


#: the phone part of `prefilter_pattern` (`_narrow_phone`); `_KIND_SET` keeps the 7-digit test, which holds on
#: folded views of any text, and `_detectable` adds `phone.possible`
_NARROW_PHONE = _narrow_phone()
#: the kinds' prefilters in one pass over a text (`_kinds_present`)
_KIND_SET = PatternSet([_PREFILTER[k] for k in KINDS])

# --- Detection patterns (run on folded text) ---------------------------------------------
# the two e-mail patterns take a third of a second to compile (counted repetitions of Unicode classes): compiled
# the first time a text needs them, not when the package is imported (every command imports this module)
_EMAIL = Regex(r"[\pL\pN_%+\-][\pL\pN._%+\-]{0,63}@(?:[\pL\pN](?:[\pL\pN\-]{0,61}[\pL\pN])?\.)+\pL{2,63}", None)
_NOT_TLD = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico"})
# written-out e-mail addresses: "jane dot doe at example dot com", "jane [at] example.com", "jane @ example.com",
# defanged "jane[@]example[.]com", spaced "jane . doe @ example . com" (a dot with spaces on both sides)
_AT = r"(?:\s*[\[({<]\s*(?:at|@)\s*[\])}>]\s*|\s+at\s+|\s*@\s*)"
_DOT_NAMED = r"(?:\s*[\[({<]\s*(?:dot|\.)\s*[\])}>]\s*|\s+dot\s+)"
_DOT_WORD = rf"(?:{_DOT_NAMED}|\s+\.\s+)"
_LABEL = r"[\pL\pN](?:[\pL\pN\-]{0,61}[\pL\pN])?"
_SPELLED_EMAIL = Regex(rf"(?i)[\pL\pN_%+\-]+(?:(?:{_DOT_WORD}|\.)[\pL\pN_%+\-]+)*{_AT}"
                       rf"{_LABEL}(?:(?:{_DOT_WORD}|\.){_LABEL})*(?:{_DOT_WORD}|\.)\pL{{2,24}}", None)
#: a top-level domain after a dot written with spaces around it (' . '), which may just end a sentence
_SPACED_TLD = _re(r"\s\.\s+(\pL{2,24})$")
_SPELLED_AT = _re(r"(?i)[\[({<]\s*(?:at|@)\s*[\])}>]|\s@|@\s")
_SPELLED_DOT = _re(rf"(?i){_DOT_WORD}")
_NAMED_DOT = _re(rf"(?i){_DOT_NAMED}")
_SPELLED = _re(f"{_SPELLED_AT.pattern}|{_SPELLED_DOT.pattern}")
_AT_TOKEN = _re(rf"(?i){_AT}")
_DOT_TOKEN = _re(rf"(?i){_DOT_WORD}")
#: top-level domains accepted after a bare " at " (the words "at" and "dot" are common in prose)
_COMMON_TLDS = frozenset(["com", "org", "net", "edu", "gov", "mil", "int", "info", "biz", "io", "co", "ai", "app",
                          "dev", "me", "us", "uk", "ca", "au", "de", "fr", "es", "it", "nl", "be", "ch", "at", "se",
                          "no", "dk", "fi", "pl", "ie", "nz", "in", "jp", "cn", "br", "mx", "ru"])
#: words that stand before " at " in prose far more often than as the name of a mailbox
_PROSE_WORDS = """a an the i me you he him she her it we us they them my your our their this that these those
    is are was were be been am being look looks looking looked work works working worked stay stayed arrive
    arrived arrives meet met available found located live lives lived based online shop buy bought sold sale
    sales here there and or but not only just also even email e-mail mail write contact reach visit visited
    find check go get see sign log login order orders open click site website page apply apps app up down
    out off in on now then today tonight later home office store stores price prices best great good"""
_PROSE = frozenset(_PROSE_WORDS.split())
#: an SSN's three groups, joined or not; only '-', '.', '_', '/', one or two spaces or ' - ' between all three
#: (the layouts an SSN is written in, `_SSN_GAPS`) count without an SSN word nearby
_SSN = _re(r"[0-9]{3}(?: ?[\-:] ?|[._/]|[ \t]{1,4})?[0-9]{2}(?: ?[\-:] ?|[._/]|[ \t]{1,4})?[0-9]{4}")
_SSN_GAPS = frozenset(["-", ".", "_", "/", " ", "  ", " - ", " -", "- "])
#: an `_SSN` match as its three groups of digits and the two gaps between them (none holds a digit)
_SSN_PARTS = re.compile("([0-9]{3})([^0-9]*)([0-9]{2})([^0-9]*)([0-9]{4})").fullmatch
_SSN_WORD = _re(r"(?i)\b(?:ssn|ssns|social security|soc\.? ?sec|ss ?#|ss no)")
_CARD = _re(r"[0-9](?:(?:[\s._,/\-*|:()]{0,3}| x )[0-9]){11,}")
#: characters that join the groups of a card only in a disguise ('4111*1111*1111*1111', '(4111) 1111 ...')
_ODD_SEP = frozenset("*|:()x")
#: odd separators between the four groups of a 4-4-4-4 card that need no card word nearby
_TIGHT_ODD = frozenset(["*", "|", ":", " x "])
_DIGITS = _re(r"[0-9]+")
# Python's `re` for these (linear: no backtracking), far cheaper per match than re2's binding on a long chain
_DIGIT_RUNS, _ODD_CHAIN = re.compile("[0-9]+"), re.compile("[*|:()x]")
_CARD_WORD = _re(r"(?i)\b(?:card|credit|debit|visa|mastercard|maestro|amex|cc|payment|pay|charge|cvv|expir)")
_MAESTRO_12 = frozenset(["50", "56", "57", "58", *(f"6{d}" for d in range(10))])
_IBAN_SEP = r"(?:[ \t]{1,2}|[.\-_])?"
_IBAN = _re(rf"[A-Za-z]{{2}}[0-9]{{2}}(?:{_IBAN_SEP}[A-Za-z0-9]{{4}}){{2,8}}(?:{_IBAN_SEP}[A-Za-z0-9]{{1,3}})?")
_IBAN_SEPS = str.maketrans("", "", " \t.-_")
_LETTERS = _re(r"[A-Za-z]+")
_IPV4 = _re(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_IPV4_WRITTEN = _re(rf"[0-9]{{1,3}}(?:(?:{_IP_DOT}|\.)[0-9]{{1,3}}){{3}}")
_WRITTEN_DOT = _re(f"{_D}{_IP_DOT}{_D}")
_IPV6 = _re(r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{1,4})?")
_VERSION_WORD = _re(r"(?i)\b(?:version|ver\.?|release|build|firmware|v)\s?$")
_SECRET = _re(
    r"(?:AKIA|ASIA)(?:[A-Z0-9]{16}|(?:-[A-Z0-9]{4}){4}|(?: [A-Z0-9]{4}){4}|[\- ][A-Z0-9]{16})"
    r"|gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255}"
    r"|xox[bpars]-[A-Za-z0-9\-]{10,250}|-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|AIza[0-9A-Za-z_\-]{35}"
    r"|[rs]k_live_[0-9A-Za-z]{20,247}|sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{32,250}")
#: words that make 'ASIA' followed by four groups of four capitals an AWS key ('ASIA TOUR DATE ...' is not)
_SECRET_WORD = _re(r"(?i)(?:aws|key|secret|token|credential|access)")
_KEY_MAX = 16_384  # characters searched for a key's body and END line (an RSA-8192 PEM is ~6.5k)
_KEY_BODY = _re(r"^(?:\s*[A-Za-z0-9+/=:,\-]{8,})*")
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
Spans = list[tuple[int, int]]
# the validators' answers for the values seen last (pure functions of the value; an IBAN's country lookup costs
# a tenth of a millisecond, and an assistant's answers repeat a template's numbers)
_iban_ok = functools.lru_cache(maxsize=4096)(_iban.is_valid)
#: each digit doubled, its digits summed (Luhn's second, fourth, ... digit from the right)
_LUHN_DOUBLED = str.maketrans("0123456789", "0246813579")


def _luhn_ok(digits: str) -> bool:
    """``stdnum.luhn.is_valid(digits)`` of a non-empty string of ASCII digits (every number a card detector asks
    about), computed here: a card number is rarely seen twice, and stdnum's takes microseconds per number. Every
    other digit from the right doubled (its digits summed), the sum of all a multiple of ten."""
    summed = digits[-1::-2] + digits[-2::-2].translate(_LUHN_DOUBLED)
    return (sum(summed.encode()) - 48 * len(summed)) % 10 == 0


#: ``stdnum.us.ssn``'s refused numbers, without their dashes
_SSN_REFUSED = frozenset(v.replace("-", "") for v in _ssn._ssn_blacklist)


def _ssn_ok(digits: str) -> bool:
    """``stdnum.us.ssn.is_valid(digits)`` of nine ASCII digits (every number `_ssns` asks about), computed here as
    stdnum does (an SSN is rarely seen twice): no area 000, 666 or 9xx, no group 00, no serial 0000, and not one
    of the numbers stdnum refuses (an advertised example)."""
    area = digits[:3]
    return not (area == "000" or area == "666" or area[0] == "9" or digits[3:5] == "00" or digits[5:] == "0000"
                or digits in _SSN_REFUSED)


#: a kind's detector: (folded text, `facts` of it or None, the text's bytes when it is ASCII or None, spans whose
#: candidates it may leave out: see `_find_ascii`) -> spans
Detector = Callable[[str, Facts, "bytes | None", Sequence[tuple[int, int]]], Spans]
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED


def _free(t: str, s: int, e: int, joiners: str) -> bool:
    """True when t[s:e] is glued neither to letters/digits nor to a longer joined number."""
    before = s > 0 and (t[s - 1].isalnum() or t[s - 1] in "_+" or (t[s - 1] in joiners and t[s - 2 : s - 1].isdigit()))
    after = e < len(t) and (t[e].isalnum() or t[e] == "_" or (t[e] in joiners and t[e + 1 : e + 2].isdigit()))
    return not (before or after)


def _near(pattern: Regex, t: str, s: int, before: int) -> bool:
    return pattern.test(t[max(0, s - before):s])


#: the last characters of the words `_VERSION_WORD` reads: 'version', 'ver', 'ver.', 'release', 'build', 'firmware', 'v'
_VERSION_LAST = frozenset("nNrR.eEdDvV")


def _versioned(t: str, s: int) -> bool:
    """`_near(_VERSION_WORD, t, s, 12)`, asked of the pattern only when the character before `s`, or before the
    one space (RE2's `\\s`) there, could end one of its words: the pattern ends the window with a word and `\\s?`."""
    k = s - 1
    if k >= 0 and t[k] in " \t\n\f\r":
        k -= 1
    return k >= 0 and (t[k] in _VERSION_LAST or not t[k].isascii()) and _near(_VERSION_WORD, t, s, 12)


def _emails(t: str, facts: Facts = None, data: bytes | None = None, inside: Sequence[tuple[int, int]] = ()) -> Spans:
    out = []
    pos, at = 0, t.find("@")
    match, n = (None, 0) if data is None else (_EMAIL._bytes().Match, len(data))
    # `_EMAIL.spans(t)`, each searched from the next '@' less the longest local part: every match holds one '@'
    while at >= 0:
        if match is None:
            span = _EMAIL.first(t, max(pos, at - 64))
            if span is None:
                break
            s, e = span
        else:  # (`_EMAIL.first` of an ASCII text, asked directly)
            s, e = match(_UNANCHORED, data, pos if at - 64 < pos else at - 64, n)[0]
            if s < 0:
                break
        nxt = t[e:e + 1]
        # followed by a letter, a digit or '@': part of a longer token, not an address. Followed by '-': an address
        # all the same ('jane@gmail.com-1'): a domain going on with a hyphenated label and a TLD would have matched
        if not (nxt == "@" or nxt.isalnum()) and t[t.rfind(".", s, e) + 1:e].lower() not in _NOT_TLD:
            out.append((s, e))
        pos, at = e, t.find("@", e)
    if (_SPELLED in facts) if facts is not None else _SPELLED.test(t):  # (`holds`)
        out += _spelled_emails(t)
    return out


def canonical_email(value: str) -> str:
    """A written-out address as an address: 'jane dot doe at example dot com' -> 'jane.doe@example.com'."""
    if "@" in value and not _SPELLED.test(value):
        return value  # a plain address
    return _DOT_TOKEN.sub(".", _AT_TOKEN.sub("@", value, 1))


def _spelled_ok(value: str, before: str, after: str) -> bool:
    if (before and (before.isalnum() or before in "_%+-.'\u2019@")) or (after and (after.isalnum() or after in "@-")):
        return False  # part of a longer word or address
    if not (_SPELLED_AT.test(value) or _SPELLED_DOT.test(value)):
        return False  # a plain address: _EMAIL has it
    local, _, domain = canonical_email(value).partition("@")
    tld = domain.rsplit(".", 1)[-1].lower()
    if tld in _NOT_TLD or not local or local.startswith(".") or ".." in local + domain:
        return False
    spaced = _SPACED_TLD.search(value)
    if spaced and not (spaced.group(1).islower() and tld in _COMMON_TLDS):
        return False  # 'jane @ example.com . Thanks': the sentence goes on after the address
    if _SPELLED_AT.test(value) or "@" in value:
        return True
    # a bare " at ": the address must be spelled with " dot " or "[.]" too, end in a common domain, not be prose
    return bool(_NAMED_DOT.test(value)) and tld in _COMMON_TLDS and local.lower() not in _PROSE


def _spelled_emails(t: str) -> Spans:
    """Written-out addresses, each searched from the next place when a candidate is not one (bounded)."""
    out: Spans = []
    pos, budget = 0, CONTEXT_BUDGET
    while budget > 0:  # a search from `pos` reads the text from its start (RE2's binding): one per failure
        for s, e in _SPELLED_EMAIL.spans(t, pos):
            if not _spelled_ok(t[s:e], t[s - 1:s], t[e:e + 1]):
                spaced = _SPACED_TLD.search(t[s:e])  # a sentence after the address: the address alone
                if spaced and _spelled_ok(t[s:s + spaced.start()], t[s - 1:s], " "):
                    out.append((s, s + spaced.start()))
                    continue
                pos, budget = s + 1, budget - 1
                break
            out.append((s, e))
        else:
            break
    return out


def _separator(t: str, a: int, b: int) -> str:
    """The kind of separator t[a:b] between two digit groups: '' (none), ' ' (one or two spaces), or itself."""
    sep = t[a:b]
    return " " if sep in (" ", "  ") else sep


_BREAKS = frozenset("\n\r\t\v\f")


def _loose(sep: str) -> bool:
    """A separator that also stands between the items of a list or the lines of a table: ', ', a line break."""
    return ", " in sep or not _BREAKS.isdisjoint(sep)


_PLAIN_SEPS = frozenset([" ", "-"])


def _card_ok(t: str, groups: Spans, lens: list[int], seps: list[str], i: int, k: int) -> bool:
    """Whether groups[i:k] are a printed card (`lens`: the groups' lengths, `seps`: the `_separator`s
    between them)."""
    s, e = groups[i][0], groups[k - 1][1]
    if not 12 <= sum(lens[i:k]) <= 19 or t[s] == "0":
        return False  # no issuer number starts with 0
    if k - i > 1:
        if lens[i] != 4 or not 1 <= lens[k - 1] <= 7 or any(not 3 <= x <= 6 for x in lens[i + 1:k - 1]):
            return False  # grouped cards start with 4 digits
        kinds = set(seps[i:k - 1])
        if len(kinds) > 1 and any(x != 4 for x in lens[i:k - 1]):
            return False  # mixed separators only in the 4-4-4-4 layout of a card
        if any(_loose(x) for x in kinds) and not _near(_CARD_WORD, t, s, 48):
            return False  # a list or a column of 4-digit numbers (years) is a card only next to a card word
        if not kinds <= _PLAIN_SEPS and not _free(t, s, e, "./_,"):
            return False  # a longer chain of dotted numbers (a version, an address) is not a card
        digits = "".join([t[a:b] for a, b in groups[i:k]])
    else:
        digits = t[s:e]
    if len(digits) == 12 and not (digits[:2] in _MAESTRO_12 and _near(_CARD_WORD, t, s, 48)):
        return False  # 12 digits: only Maestro ranges, and only next to a card word
    return _luhn_ok(digits)


def _spaced_chain(t: str, groups: Spans, i: int) -> int:
    """The end (exclusive group index) of the chain of one-digit groups, one or two spaces apart, from group i."""
    j = i + 1
    while j < len(groups) and groups[j][1] - groups[j][0] == 1 and _separator(t, groups[j - 1][1], groups[j][0]) == " ":
        j += 1
    return j


def _odd_cards(t: str, groups: Spans, seps: list[str], taken: Spans) -> Spans:
    """Cards in the layouts of a disguise, each a whole run of groups joined by one separator (not joined to
    more digits by another, bar a space or a comma): the 4-4-4-4 layout joined by '*', '|', ':' or ' x ', or
    with its first group in brackets ('(4111) 1111 1111 1111'); next to a card word also other layouts joined
    so, groups of two or three digits ('41 11 11 ...', '411 111 111 111 1111'), eight and the rest. Runs
    that overlap a card already `taken` (sorted, disjoint) are left out. `seps`: the `_separator`s between the
    groups."""
    out: Spans = []
    starts = [a for a, _ in taken]
    bracket = len(seps) > 1 and seps[0] in (")", ") ") and t[groups[0][0] - 1:groups[0][0]] == "("
    if bracket:
        seps = [seps[1], *seps[1:]]
    start = 0  # the first group of the run of equal separators
    for sep, same in itertools.groupby(seps):
        first, last = start, start + len(list(same))
        start = last
        win = groups[first:last + 1]
        lens = [b - a for a, b in win]
        s = win[0][0] - 1 if bracket and first == 0 else win[0][0]
        ends = [seps[k] for k in (first - 1, last) if 0 <= k < len(seps)]
        if not 13 <= sum(lens) <= 19 or t[win[0][0]] == "0" or _loose(sep) or not all(
                any(c.isspace() or c == "," for c in x) for x in ends):
            continue  # the wrong length, a list or a column, or part of a longer chain
        odd = bool(_ODD_SEP.intersection(sep)) or (bracket and first == 0)
        if not (odd and lens == [4, 4, 4, 4] and (sep in _TIGHT_ODD or bracket)):  # else: next to a card word
            grouped = lens[0] == 4 and all(3 <= x <= 6 for x in lens[1:-1]) and 1 <= lens[-1] <= 7
            small = all(x in (2, 3) for x in lens[:-1]) and 1 <= lens[-1] <= 4
            if not ((odd and grouped) or small or (lens[0] == 8 and len(lens) == 2)) or not _near(
                    _CARD_WORD, t, s, 48):
                continue
        i = bisect.bisect_left(starts, win[-1][1])  # the cards taken that start before the run ends
        if (not i or taken[i - 1][1] <= s) and _luhn_ok("".join(t[a:b] for a, b in win)):
            out.append((s, win[-1][1]))
    return out


def _cards(t: str, facts: Facts = None, data: bytes | None = None, inside: Sequence[tuple[int, int]] = ()) -> Spans:
    """Cards in the layouts they are printed in (`_printed_cards`), in each stretch of a chain of digit groups
    that no odd separator breaks; then the layouts of a disguise (`_odd_cards`) in the whole chain. A chain
    that lies `inside` one of the given spans is left out (see `_find_ascii`)."""
    out: Spans = []
    worded: bool | None = None  # whether the text has a card word anywhere (asked once, when needed)
    for base, end in spans_of(_CARD, t, data, 12):
        if inside and any(a <= base and end <= b for a, b in inside):
            continue
        chain = t[base:end]
        if chain.isdigit():  # one group (a match holds ASCII digits and separators): the printed card or nothing
            if _free(t, base, end, "-.,/_") and _card_ok(t, [(base, end)], [end - base], [], 0, 1):
                out.append((base, end))
            continue
        if (len(chain) == 19 and chain[4] in " -" and chain[4] == chain[9] == chain[14] and chain[0] != "0"
                and (digits := chain[:4] + chain[5:9] + chain[10:14] + chain[15:]).isdigit()
                and _luhn_ok(digits) and _free(t, base, end, "-.,/_")):
            out.append((base, end))  # 4-4-4-4 joined by ' ' or '-', a card: what the steps below find, read off
            continue
        groups = [(base + g.start(), base + g.end()) for g in _DIGIT_RUNS.finditer(chain)]
        lens = [b - a for a, b in groups]
        if 4 not in lens and sum(lens) < 13 and max(lens) < 12:
            continue  # (an IPv4 address) no card: a printed one starts with a group of four or is one group of
            # twelve or more, or is thirteen or more digits one at a time; a disguised one holds thirteen or more
        seps = [_separator(t, b, a) for (_, b), (a, _) in itertools.pairwise(groups)]
        free, odd, before = _free(t, base, end, "-.,/_"), _ODD_CHAIN.search(chain) is not None, len(out)
        if not odd:  # one stretch, the whole chain (which starts and ends with a digit)
            if free:
                out += _printed_cards(t, groups, seps)
            # without an odd separator, a disguise's layout is a card only next to a card word, and only a run of
            # groups whose first holds two, three or eight digits (`_odd_cards`)
            if not any(b - a in (2, 3, 8) for a, b in groups):
                continue
            worded = holds(facts, _CARD_WORD, t) if worded is None else worded
        else:
            first = 0
            for k in range(1, len(groups) + 1):
                if k == len(groups) or _ODD_SEP.intersection(seps[k - 1]):
                    if _free(t, groups[first][0], groups[k - 1][1], "-.,/_"):
                        out += _printed_cards(t, groups[first:k], seps[first:k - 1])
                    first = k
        if free and len(groups) > 1 and (odd or worded):
            out += _odd_cards(t, groups, seps, out[before:])
    return out


def _printed_cards(t: str, groups: Spans, seps: list[str]) -> Spans:
    """Runs of 12+ digits in groups (one kind of separator, or any mix of ' ', '-', '.', '/', '_', ',' in the
    4-4-4-4 layout; ', ' and line breaks only next to a card word): leftmost-longest valid
    windows; or a whole chain of 13-19 digits written one at a time ('4 1 1 1 ...'). `seps`: the
    `_separator`s between the groups."""
    out: Spans = []
    lens = [b - a for a, b in groups]
    n = len(groups)
    i = 0
    while i < n:
        if lens[i] == 1:  # no grouped card starts with one digit: the chain or nothing
            k = _spaced_chain(t, groups, i)
            digits = "".join(t[a] for a, _ in groups[i:k])
            if 13 <= len(digits) <= 19 and digits[0] != "0" and _luhn_ok(digits):
                out.append((groups[i][0], groups[k - 1][1]))
            i = k
            continue
        if lens[i] != 4:  # grouped cards start with 4 digits
            j, m = i + 1, lens[i]
        else:  # the longest window from group i holding at most 19 digits
            j, m = i, 0
            while j < n and m + lens[j] <= 19:
                m, j = m + lens[j], j + 1
        found = 0
        if t[groups[i][0]] != "0":  # (no window from i is a card else, `_card_ok`)
            for k in range(j, i, -1):  # longest first; `m`: the digits of groups[i:k]
                if m < 12:
                    break  # nor is any shorter window
                if _card_ok(t, groups, lens, seps, i, k):
                    found = k
                    break
                m -= lens[k - 1]
        if found:
            out.append((groups[i][0], groups[found - 1][1]))
            i = found
        else:
            i += 1
    return out


def _ssns(t: str, facts: Facts = None, data: bytes | None = None, inside: Sequence[tuple[int, int]] = ()) -> Spans:
    """NNN-NN-NNNN, NNN.NN.NNNN, NNN_NN_NNNN, NNN/NN/NNNN, NNN NN NNNN (one or two spaces), NNN - NN - NNNN, or
    a mix of them; after an SSN word also bare 9 digits, a partial grouping (NNNNN-NNNN, NNN-NNNNNN), ':' or
    three or four spaces or tabs between the groups (which elsewhere are a ZIP+4 code, a ratio, table columns).
    A candidate that lies `inside` one of the given spans is left out (see `_find_ascii`)."""
    out = []
    for s, e in spans_of(_SSN, t, data, 9):
        if not _free(t, s, e, "-.,/:") or (inside and any(a <= s and e <= b for a, b in inside)):
            continue
        v = t[s:e]
        if "." in v and _versioned(t, s):
            continue  # 'release 100.20.3000' is a version
        if len(v) == 11 and v[3] == "-" == v[6]:  # NNN-NN-NNNN (`_SSN_PARTS`' answer, read off)
            if _ssn_ok(v[:3] + v[4:6] + v[7:]):
                out.append((s, e))
            continue
        area, gap, group, gap2, serial = _SSN_PARTS(v).groups()  # type: ignore[union-attr]
        if ((gap in _SSN_GAPS and gap2 in _SSN_GAPS) or _near(_SSN_WORD, t, s, 40)) and _ssn_ok(area + group + serial):
            out.append((s, e))
    return out


def _iban_case_ok(v: str) -> bool:
    """Each run of letters in one case or capitalised ('GB82 West ...', 'Gb82WEST...'), as a person writes an
    IBAN; not the mixed case of a random token ('gB82wEsT...')."""
    return v.isupper() or v.islower() or all(
        w.isupper() or w.islower() or w.istitle() for w in (v[a:b] for a, b in _LETTERS.spans(v)))


def _ibans(t: str, facts: Facts = None, data: bytes | None = None, inside: Sequence[tuple[int, int]] = ()) -> Spans:
    """IBANs (mod-97 and the country's format), in groups of four joined by ' ', two spaces, a tab, '.', '-' or
    '_', or not grouped; in upper, lower or mixed case (`_iban_case_ok`)."""
    out = []
    n = len(t)
    for s, e in spans_of(_IBAN, t, data, 2):
        if s > 0 and t[s - 1].isalnum():
            continue
        v = t[s:e]
        if v.isalnum():  # not grouped: no separator to retry at (the loop below, read off)
            if not (e < n and t[e].isalnum()) and _iban_case_ok(v) and _iban_ok(v):
                out.append((s, e))
            continue
        # the pattern may swallow a short trailing word: retry ending at each inner separator
        for end in itertools.chain((e,), (s + i for i in range(e - s - 1, 14, -1) if t[s + i] in " \t.-_")):
            v = t[s:end].translate(_IBAN_SEPS)  # its letters and digits: a match holds these separators besides
            if not (end < len(t) and t[end].isalnum()) and _iban_case_ok(v) and _iban_ok(v):
                out.append((s, end))
                break
    return out


def _padded(octets: Sequence[str]) -> bool:
    """Dotted octets that are no address as `ipaddress` reads them: an octet after the first may be zero-padded
    to three digits ('203.000.113.042'), one padded to two, or a padded first one ('01.02.03.04',
    '010.020.030.040': a version, a date, a section number), makes it none."""
    return (octets[0] != "0" and octets[0].startswith("0")) or any(
        o.startswith("0") and len(o) != 3 for o in octets[1:] if o != "0")


def _ip_ok(v: str) -> bool:
    try:
        a = ipaddress.ip_address(v)
    except ValueError:
        return False
    return not (a.is_unspecified or a.is_loopback or (a.version == 4 and (a.is_reserved or a.is_multicast)))


@functools.cache
def _public_first(n: int) -> bool:
    """Whether `ipaddress` finds the addresses whose first number is `n` (and that are not 0.0.0.0) neither
    loopback, reserved nor multicast: each of those ranges is a /8 or a /4, so the first number decides."""
    return _ip_ok(f"{n}.0.0.1")


def _ipv4_ok(octets: Sequence[str]) -> bool:
    """Whether four dotted octets (strings of digits) are an address `_ip_ok` accepts, read as numbers (not
    `_padded`): each up to 255, not 0.0.0.0, and a first one `_public_first`; answered from the octets' strings
    (`_FIRST_OCTETS`, `_LATER_OCTETS`)."""
    a, b, c, d = octets
    n = _FIRST_OCTETS.get(a)
    return (n is not None and b in _LATER_OCTETS and c in _LATER_OCTETS and d in _LATER_OCTETS and _public_first(n)
            and (n > 0 or b not in _ZERO_OCTETS or c not in _ZERO_OCTETS or d not in _ZERO_OCTETS))


#: a first octet up to 255 and not `_padded` (no leading zero), as its number
_FIRST_OCTETS = {str(n): n for n in range(256)}
#: a later octet up to 255 and not `_padded`: no leading zero, or three digits
_LATER_OCTETS = frozenset([*(str(n) for n in range(256)), *(f"{n:03d}" for n in range(100))])
#: the later octets that are 0
_ZERO_OCTETS = frozenset(["0", "000"])


def _ips(t: str, facts: Facts = None, data: bytes | None = None, inside: Sequence[tuple[int, int]] = ()) -> Spans:
    """IPv4 (minus unspecified, loopback, reserved, multicast, version strings; dots may be written out) and IPv6."""
    out = [(s, e) for s, e in spans_of(_IPV4, t, data, 4) if _free(t, s, e, ".")
           and not _versioned(t, s) and _ipv4_ok(t[s:e].split("."))]
    # written out: '203 . 0 . 113 . 42', '203[.]0[.]113[.]42', '203 dot 0 dot 113 dot 42'; a match with no written
    # dot between two digits (`_WRITTEN_DOT`) is plain dotted, which `_IPV4` fullmatches
    if facts is None or _WRITTEN_DOT in facts:
        out += [(s, e) for s, e in spans_of(_IPV4_WRITTEN, t, data, 4) if not _IPV4.whole(t[s:e])
                and _free(t, s, e, ".") and not _versioned(t, s)
                and _ipv4_ok(octets := [t[a:b] for a, b in _DIGITS.spans(t, s, e)])
                and any(len(o) > 1 for o in octets)]  # not 'steps 1 . 2 . 3 . 4'
    for s, e in spans_of(_IPV6, t, data) if t.count(":") > 1 else ():  # (each match holds two ':' or more)
        v = t[s:e]
        glued = (s > 0 and (t[s - 1].isalnum() or t[s - 1] in ":.")) or (e < len(t) and (t[e].isalnum() or t[e] == ":"))
        if not glued and sum(1 for g in v.split(":") if g) >= 2 and _ip_ok(v):
            out.append((s, e))
    return out


def _aws_key_ok(t: str, s: int, v: str) -> bool:
    """An AWS key written whole, or split after its prefix or in groups of four ('AKIA-IOSF-ODNN-7EXA-MPLE'):
    split, an AKIA key needs a digit or a key word nearby, an ASIA key a key word (ASIA is a word)."""
    if len(v) == 20:
        return True
    word = _near(_SECRET_WORD, t, s, 48)
    return word or (v.startswith("AKIA") and any(c.isdigit() for c in v[4:]))


def _secrets(t: str, facts: Facts = None, data: bytes | None = None, inside: Sequence[tuple[int, int]] = ()) -> Spans:
    """API keys and private keys; an AWS key may be glued after '_' ('key_AKIA...') and split (`_aws_key_ok`)."""
    out = []
    for s, e in spans_of(_SECRET, t, data):
        v = t[s:e]
        aws = v.startswith(("AKIA", "ASIA"))
        if s > 0 and t[s - 1] in _WORD_CHARS and not (aws and t[s - 1] == "_"):
            continue
        if aws and not _aws_key_ok(t, s, v):
            continue
        if v.startswith("-----"):  # a private key: up to its END line, else its base64 body
            end = t.find("-----END", e, e + _KEY_MAX)
            close = t.find("-----", end + 8, end + 80) if end >= 0 else -1
            body = _KEY_BODY.search(t[e:e + _KEY_MAX]) if close < 0 else None
            e = close + 5 if close >= 0 else e + (body.end() if body else 0)
        elif (e < len(t) and (t[e] in _WORD_CHARS or t[e] == "-")) or (v.startswith(("sk-", "xox")) and not (
                any(c.isdigit() for c in v[4:]) and any(c.isalpha() for c in v[4:]))):
            continue
        out.append((s, e))
    return out


_DETECTORS: dict[str, Detector] = {"email": _emails, "credit_card": _cards, "us_ssn": _ssns, "iban": _ibans,
                                   "ip_address": _ips, "secret": _secrets}


_ALL_KINDS = frozenset(KINDS)


def _check_kinds(kinds: Collection[str]) -> frozenset[str]:
    if kinds is KINDS:
        return _ALL_KINDS
    if type(kinds) is frozenset and kinds <= _ALL_KINDS:  # a rule's kinds, checked when it was prepared
        return kinds
    if type(kinds) is tuple:  # a rule's kinds: checked once
        return _checked_kinds(kinds)
    wanted = frozenset(kinds)
    if not wanted <= set(KINDS):
        raise ValueError(f"unknown PII kinds: {sorted(wanted - set(KINDS))}")
    return wanted


@functools.lru_cache(maxsize=256)
def _checked_kinds(kinds: tuple[str, ...]) -> frozenset[str]:
    return _check_kinds(frozenset(kinds))


Found = list[tuple[int, int, int, str, int, int]]  # (priority, start, end, kind, folded start, folded end)


def _kinds_present(t: str) -> frozenset[str]:
    """The kinds whose prefilter occurs in `t`: `_KIND_RE[k].test(t)` for every kind, in one pass.

    re2.Set answers "none" when its DFA runs out of memory, so "none" (or a text too long for a set) is
    asked again one kind at a time, as `Regex.test` does; any other answer is complete."""
    found = _KIND_SET.matches(t) if len(t) <= SET_MAX_CHARS else []
    if found:
        return _PRESENT[frozenset(found)]
    return frozenset(k for k in KINDS if _KIND_RE[k].test(t))


#: the kinds of each set of indices `_KIND_SET` can answer
_PRESENT = {frozenset(ix): frozenset(KINDS[i] for i in ix)
            for n in range(1, len(KINDS) + 1) for ix in itertools.combinations(range(len(KINDS)), n)}


#: whole-text questions of the detectors (`holds`), asked of an ASCII text in the pass of the kinds' prefilters
_ASKED = (_SPELLED, _CARD_WORD, _WRITTEN_DOT, _phone._ANY_WORD, _phone._WORDISH, _phone._NANP_SIGN)
#: an `_SSN` match neither letter, digit, '_' nor '+' before it, nor letter, digit or '_' after it touch: what each
#: SSN `_ssns` finds in an ASCII text is (`_free`); in the same pass, after `_ASKED`
_FREE_SSN = f"(?:^|[^0-9A-Za-z_+])(?:{_SSN.pattern})(?:$|[^0-9A-Za-z_])"
_SCAN_SET = PatternSet([*(_PREFILTER[k] for k in KINDS), *(p.pattern for p in _ASKED), _FREE_SSN])
_FREE_SSN_FOUND = len(KINDS) + len(_ASKED)  # its index in `_SCAN_SET`'s answers
_SCANNED: dict[frozenset[int], tuple[frozenset[str], frozenset[Regex]]] = {}  # at most 2 ** 14 answers


def _scan(t: str, data: bytes | None = None) -> tuple[frozenset[str], Facts]:
    """`_kinds_present(t)` and which of `_ASKED` occur in `t`, in one pass (the same set's answer: complete
    unless it is "none"); when it is "none", each kind's prefilter on its own and `_ASKED` unanswered (None).
    `data`: `t` as UTF-8 when the caller has it."""
    found = _SCAN_MATCH(t.encode() if data is None else data) if len(t) <= SET_MAX_CHARS else []
    if not found:
        return frozenset(k for k in KINDS if _KIND_RE[k].test(t)), None
    key = frozenset(found)
    answer = _SCANNED.get(key)
    if answer is None:
        n = len(KINDS)
        answer = _SCANNED[key] = (frozenset(KINDS[i] for i in key if i < n),
                                  frozenset(_ASKED[i - n] for i in key if n <= i < _FREE_SSN_FOUND))
    return answer


#: `_SCAN_SET.matches` without its method: the extension's set, given UTF-8 bytes
_SCAN_MATCH = _SCAN_SET._set.Match


def _detectable(t: str) -> frozenset[str]:
    """The kinds whose detector may find something in `t`: those whose prefilter occurs (`_kinds_present`),
    phone only when a run of digits is not a date (`phone.possible`: its prefilter passes every date)."""
    present = _kinds_present(t)
    if "phone" in present and not _phone_possible(t):
        return present - _PHONE_ONLY
    return present


def _find_in(view: Folded, wanted: frozenset[str], region: str, strict: bool, skip: bool,
             present: frozenset[str] | None = None) -> Found:
    """Every candidate of the wanted kinds in one folded view, as original spans (overlaps not resolved);
    `present`: the view's `_detectable` kinds when the caller has them."""
    t = view.text
    if present is None:
        present = _detectable(t) if skip else frozenset(KINDS)
    # every kind that can claim a phone-shaped span must run whenever phone is wanted
    run = (set(KINDS) - {"phone"} if "phone" in wanted else wanted) & present
    spans = [(_PRIORITY[k], s, e, k) for k in run for s, e in _DETECTORS[k](t, None, None, ())]
    if "phone" in wanted and "phone" in present:
        claimed = [(s, e) for _, s, e, _ in spans]
        spans += [(_PRIORITY["phone"], s, e, "phone") for s, e in find_phones(t, region, claimed, strict=strict)]
    return [(p, *view.span(s, e), k, s, e) for p, s, e, k in spans]


def _find(text: str, wanted: frozenset[str], region: str, skip: bool = True, strict: bool = False,
          present: frozenset[str] | None = None) -> list[tuple[int, int, str, str]]:
    """Non-overlapping (start, end, kind, normalized); `skip` omits detectors that provably find nothing (their
    prefilter is absent; `_detectable`). `present`: the `_detectable` kinds of an ASCII `text` (its one view)."""
    views = fold_views(text)
    found = [(*f, v) for v in views for f in _find_in(v, wanted, region, strict, skip, present)]
    if len(found) < 2:  # nothing to resolve
        return [(s, e, kind, view.text[fs:fe]) for _, s, e, kind, fs, fe, view in found if kind in wanted]
    found.sort(key=lambda f: f[:3])
    taken: list[tuple[int, int, str, str]] = []  # disjoint, sorted by start
    # one kind at a time, most specific first: each candidate against the kinds before it, then against its
    # own kind's, which come in order of start (linear: no insertion into the middle of a long list)
    for _, level in itertools.groupby(found, key=lambda f: f[0]):
        starts, won = [s for s, *_ in taken], list[tuple[int, int, str, str]]()
        for _, s, e, kind, fs, fe, view in level:
            i = bisect.bisect_left(starts, s)
            if (i > 0 and taken[i - 1][1] > s) or (i < len(taken) and taken[i][0] < e) or (won and won[-1][1] > s):
                continue
            won.append((s, e, kind, view.text[fs:fe]))
        taken = sorted(taken + won) if won else taken
    return [x for x in taken if x[2] in wanted]


_NOT_PHONE = _ALL_KINDS - _PHONE_ONLY
_EMAIL_ONLY, _SSN_ONLY = frozenset(["email"]), frozenset(["us_ssn"])
_PHONE_PRIORITY, _EMAIL_PRIORITY = _PRIORITY["phone"], _PRIORITY["email"]


def _find_ascii(t: str, wanted: frozenset[str], region: str, strict: bool,
                allowed: tuple[str, ...] = ()) -> list[tuple[int, int, str]]:
    """`_find` of a non-empty ASCII text (its one view is itself) as (start, end, kind): its `_detectable` kinds
    and the detectors' whole-text questions in one pass (`_scan`), what to run then decided once per answer of
    that pass and kinds wanted (`_Plan`), the runs of digits phone reads found once (`phone.undated`), the text's
    bytes made once (the detectors' patterns read them). `allowed`: addresses the caller drops from the matches
    (`_addresses`); [] when they are the only ones (`_allowed_only`)."""
    if len(t) <= SHAPE_MAX_CHARS and _clean(t, region, strict):
        return []  # a case id: answered by its shape and its digits
    data = t.encode("ascii")
    found = _SCAN_MATCH(data) if len(t) <= SET_MAX_CHARS else None  # (`_scan`)
    plan = _PLANS.get((frozenset(found), wanted)) if found else None
    if plan is None:
        plan = _plan(t, found, wanted)
    facts = plan.facts
    if plan.email_only:  # (most texts that reach the detectors: an address and nothing else)
        if allowed and facts is not None and _SPELLED not in facts and _allowed_only(t, allowed):
            return []  # (what the caller keeps of the addresses `_emails` finds: none)
        found_emails = _emails(t, facts, data)
        if len(found_emails) < 2:
            return [(s, e, "email") for s, e in found_emails]
        return _resolve([(_EMAIL_PRIORITY, s, e, "email") for s, e in found_emails], wanted)
    runs = None
    # whether phone's detector may find something matters only when no other wanted kind's prefilter occurs (else
    # it runs, and finds nothing where `phone.possible` is False)
    if plan.phone_alone:
        if "\t" in t:
            possible = _phone_possible(t)
        else:
            runs = undated(t, data)
            possible = bool(runs)
        if not possible or (plan.phone_only and _no_phone(t, region, strict, facts)):
            return []  # phone's detector may find something only in a date, or provably finds nothing
    elif plan.nothing:
        return []  # no detector of a wanted kind can find anything
    spans: list[tuple[int, int, int, str]] = []
    ibans: Spans = []  # the IBANs found that no e-mail address nor secret overlaps
    for p, k, detect in plan.detectors:
        found_spans = detect(t, facts, data, ibans)
        if k == "iban" and found_spans:
            ibans = [(s, e) for s, e in found_spans if not any(a < e and s < b for _, a, b, _ in spans)]
        spans += [(p, s, e, k) for s, e in found_spans]
    if plan.phone:
        claimed = [(s, e) for _, s, e, _ in spans]
        if runs is not None or not _runs_held(t, claimed, data):
            spans += [(_PHONE_PRIORITY, s, e, "phone") for s, e in find_phones(
                t, region, claimed, strict=strict, facts=facts, runs=runs, data=data)]
    if len(spans) < 2:
        return [(s, e, k) for _, s, e, k in spans if k in wanted]
    return _resolve(spans, wanted)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What `_find_ascii` runs for a text where the prefilters of the kinds `present` occur, when `wanted`."""

    #: the `_ASKED` questions that occur in the text (see `holds`), or None: ask them
    facts: Facts
    #: no detector of a wanted kind can find anything
    nothing: bool
    #: phone is wanted, its prefilter occurs, and no other wanted kind's does: ask whether its detector may find
    #: something (`phone.possible`, and when `phone_only`, `phone._nothing`)
    phone_alone: bool
    #: phone's is the only prefilter that occurs
    phone_only: bool
    #: e-mail's is the only prefilter that occurs (and e-mail is wanted)
    email_only: bool
    #: (priority, kind, detector) of the kinds other than phone to run: each wanted one whose prefilter occurs, and
    #: when phone is wanted every one whose prefilter occurs (a span it claims is no phone number)
    detectors: tuple[tuple[int, str, Detector], ...]
    #: whether phone's detector runs
    phone: bool


def _plan(t: str, found: list[int] | None, wanted: frozenset[str]) -> _Plan:
    """`_find_ascii`'s plan for the text `t` where `_SCAN_SET` found the patterns `found` (None: not asked, a
    text too long for a set), made once per (found, wanted) (`_PLANS`). When the set found nothing (or was not
    asked), each kind's prefilter is asked on its own, and the plan is the text's alone."""
    if found:
        n = len(KINDS)
        present = frozenset(KINDS[i] for i in found if i < n)
        facts: Facts = frozenset(_ASKED[i - n] for i in found if n <= i < _FREE_SSN_FOUND)
        if "us_ssn" in present and _FREE_SSN_FOUND not in found:
            # `_ssns` finds nothing: as if the kind's prefilter did not occur (a kind whose detector finds nothing
            # changes no other kind's finding; `phone_alone` then asks what `find_phones` would answer)
            present = present - _SSN_ONLY
    else:
        present, facts = frozenset(k for k in KINDS if _KIND_RE[k].test(t)), None
    phone = "phone" in wanted and "phone" in present
    others = [k for k in _DETECTING if k in present and ("phone" in wanted or k in wanted)]
    plan = _Plan(facts=facts, nothing=not present & wanted, phone_alone=phone and not present & wanted - _PHONE_ONLY,
                 phone_only=present == _PHONE_ONLY, email_only=present == _EMAIL_ONLY and "email" in wanted,
                 detectors=tuple((_PRIORITY[k], k, _DETECTORS[k]) for k in others), phone=phone)
    if found:
        _PLANS[(frozenset(found), wanted)] = plan
    return plan


#: the order `_find_ascii` runs the detectors in: those of the kinds that win an overlap over an IBAN first, the
#: IBAN's next, then those of the kinds an IBAN wins over, which need not read a candidate inside an IBAN found
#: (unless an e-mail address or a secret overlaps it): their spans there lose to it (`_resolve`), and for phone's
#: detector the IBAN's span claims what theirs would (it holds them)
_DETECTING = ("email", "secret", "iban", "credit_card", "us_ssn", "ip_address")
#: `_plan`'s answers (at most 2 ** 14 answers of the set times the rules' kinds)
_PLANS: dict[tuple[frozenset[int], frozenset[str]], _Plan] = {}


_DIGIT_BYTES = b"0123456789"


def _digits(data: bytes) -> int:
    """How many ASCII digits `data` holds."""
    return len(data) - len(data.translate(None, _DIGIT_BYTES))


def _runs_held(t: str, claimed: Spans, data: bytes | None = None) -> bool:
    """Whether each run of 7+ digits of the ASCII text `t` (`phone._GATE`: digits joined by at most four
    characters) lies in one span other kinds `claimed`, so that `phone.find_phones` has no window to read,
    answered from where `t`'s digits stand: the spans are five or more characters apart, no digit stands within
    five characters before or after one, and fewer than seven outside them. Then two digits of a run that are
    next to each other (five or fewer characters apart) stand both in one span or both outside; so a run is all
    inside one span, or has its seven digits outside. `data`: `t` as bytes, when the caller has them."""
    if data is None:
        data = t.encode("ascii")
    total = len(data) - len(data.translate(None, _DIGIT_BYTES))  # (`_digits`, inline)
    if total < 7:
        return True  # no run of seven digits at all
    inside, end = 0, -5
    for a, b in sorted(claimed) if len(claimed) > 1 else claimed:
        if a - end < 5:
            return False
        held = data[a:b]
        near = data[max(0, a - 5):b + 5]
        n = len(held) - len(held.translate(None, _DIGIT_BYTES))
        if len(near) - len(near.translate(None, _DIGIT_BYTES)) != n:
            return False
        inside, end = inside + n, b
    return total - inside < 7


def _resolve(spans: list[tuple[int, int, int, str]], wanted: frozenset[str]) -> list[tuple[int, int, str]]:
    """`_find`'s overlap resolution of (priority, start, end, kind) candidates in one view."""
    spans.sort()  # as `_find`: equal (priority, start, end) means the same kind
    taken: list[tuple[int, int, str]] = []
    for _, level in itertools.groupby(spans, key=lambda f: f[0]):
        starts, won = [s for s, _, _ in taken], list[tuple[int, int, str]]()
        for _, s, e, kind in level:
            i = bisect.bisect_left(starts, s)
            if (i > 0 and taken[i - 1][1] > s) or (i < len(taken) and taken[i][0] < e) or (won and won[-1][1] > s):
                continue
            won.append((s, e, kind))
        taken = sorted(taken + won) if won else taken
    return [x for x in taken if x[2] in wanted]


@functools.lru_cache(maxsize=64)
def _prefilter_re(wanted: frozenset[str]) -> Regex:
    return _re(prefilter_pattern(wanted))


def find_pii(text: str, kinds: Collection[str] = KINDS, *, region: str = "US",
             allow: Sequence[Regex] = (), strict: bool = False) -> list[PiiMatch]:
    """All matches of the given kinds, sorted by start.

    `region` is the numbering plan for phone numbers written without '+country code'; `strict` reports only
    phone numbers libphonenumber finds valid (not every number written in a phone format). A match whose
    whole raw value, or whose folded value, fullmatches an `allow` pattern is dropped, after overlap
    resolution (an allowed card number does not resurface as a phone number).
    """
    found = find_spans(text, kinds, region, allow, strict)
    return [PiiMatch(k, s, e, v, n) for s, e, k, v, n in found] if found else []


#: a match as (start, end, kind, value, normalized): the fields of a `PiiMatch`
Span = tuple[int, int, str, str, str]


def find_spans(text: str, kinds: Collection[str] = KINDS, region: str = "US", allow: Sequence[Regex] = (),
               strict: bool = False) -> list[Span]:
    """`find_pii` as plain tuples (start, end, kind, value, normalized), for callers that make their own records
    of the matches (the `pii` check's findings)."""
    wanted = kinds if type(kinds) is frozenset and kinds <= _ALL_KINDS else _check_kinds(kinds)  # (a rule's kinds)
    if text.isascii():  # one view, the text itself, where `_UNFOLDED` cannot match: the kinds' prefilters tell
        if not allow:
            spans = _find_ascii(text, wanted, region, strict) if text else None
            return [(s, e, k, v, v) for s, e, k in spans for v in (text[s:e],)] if spans else []
        hashable = _hashable(allow)
        addresses = _addresses(allow) if hashable else ()
        spans = _find_ascii(text, wanted, region, strict, addresses) if text else None
        if not spans:
            return []
        if addresses:  # allow lists of addresses allow no value without an '@'
            return [(s, e, k, v, v) for s, e, k in spans for v in (text[s:e],)
                    if "@" not in v or not _allowed(allow, v)]
        if hashable:  # the allow list asked before a match is made (most texts with an address allow it)
            return [(s, e, k, v, v) for s, e, k in spans for v in (text[s:e],) if not _allowed(allow, v)]
        return [(s, e, k, v, v) for s, e, k in spans for v in (text[s:e],) if not any(_whole(p, v) for p in allow)]
    if not _prefilter_re(wanted).test(text):
        return []
    folded = _read_alike(text)
    if folded is not None:  # one view, ASCII, each character read from the text's own: `_find` on it as is
        found = [(s, e, k, folded[s:e]) for s, e, k in _find_ascii(folded, wanted, region, strict)]
    else:
        found = _find(text, wanted, region, strict=strict)
    if not found:
        return []
    matches = [(s, e, k, text[s:e], n) for s, e, k, n in found]
    if not allow:
        return matches
    return [m for m in matches if not any(_whole(p, m[3]) or (m[4] != m[3] and _whole(p, m[4])) for p in allow)]


@functools.lru_cache(maxsize=64)
def _addresses(allow: tuple[Regex, ...]) -> tuple[str, ...]:
    """The e-mail addresses an allow list is made of, when each of its patterns is an address or a union of
    addresses, written out with '.' (and any '-', '+', '_', '%', '@') escaped ('support@acme\\.example',
    `checks.builtin.pii._as_one`'s '(?:a@b\\.c)|(?:d@e\\.f)'), which the pattern allows and `_EMAIL` reads whole
    (where `_allowed_only` finds one standing apart, `_emails` finds it and no more); else (). A list with any
    other pattern gives () too."""
    found: list[str] = []
    for pattern in allow:
        if not isinstance(pattern, Regex):
            return ()
        parts = _ALTERNATIVES.fullmatch(pattern.pattern)
        if parts is None:
            return ()
        for part in re.split(r"\)\|\(\?:", parts[1]) if parts[1] is not None else [parts[2]]:
            address = re.sub(r"\\(.)", r"\1", part)
            if not (address.isascii() and pattern.whole(address) and _standing_apart(address)):
                return ()
            found.append(address)
    return tuple(found)


_LITERAL = r"(?:[A-Za-z0-9]|\\[.\-+_%])+\\?@(?:[A-Za-z0-9]|\\[.\-+_%])+"
#: an allow pattern that is one escaped address, or `_as_one`'s union of them
_ALTERNATIVES = re.compile(rf"\(\?:((?:{_LITERAL})(?:\)\|\(\?:(?:{_LITERAL}))*)\)|({_LITERAL})")
#: what may stand right after an address `_allowed_only` takes as found whole: no character that `_EMAIL` reads
#: in an address, nor one `_emails` refuses an address before (a letter, a digit, '@'); a '.' only before these
_AFTER = frozenset(" \t\n\r\f\v,;:!?)]}>\"'")
#: what may not stand right before it: a character of an address's local part (`_EMAIL`)
_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")


def _standing_apart(address: str) -> bool:
    """Whether `_emails` finds `address` whole, and nothing more, where it stands between a character not of a local
    part and one of `_AFTER` (or a '.' and one of them): asked of RE2 in each such place, the TLD not refused."""
    if address[address.rfind(".") + 1:].lower() in _NOT_TLD or not 0 < address.index("@") <= 64:
        return False
    return all(_EMAIL.first(f" {address}{after}") == (1, 1 + len(address))
               for after in ["", *_AFTER, *(f".{c}" for c in ["", *_AFTER])])


def _allowed_only(t: str, addresses: tuple[str, ...]) -> bool:
    """Whether every '@' of the ASCII text `t` is that of one of the allowed `addresses` (`_addresses`), standing
    apart: no character of a local part before it, nothing after it but one of `_AFTER` (or a '.' and one of
    them), or the text's ends. Then `_emails(t, facts)`, when `facts` has no written-out address (`_SPELLED`),
    finds exactly these: from the first '@' less 64, the leftmost match starts where the address does (the
    character before cannot be read into a local part), and it ends where the address does (nothing after it
    can be read into a domain, and RE2 takes its labels and top-level domain as they are: `_standing_apart`);
    the next search starts after it. So a caller that drops the allowed addresses keeps none."""
    n = len(t)
    at = t.find("@")
    while at >= 0:
        for address in addresses:
            s = at - address.index("@")
            e = s + len(address)
            if (s >= 0 and t.startswith(address, s) and (s == 0 or t[s - 1] not in _LOCAL)
                    and (e == n or t[e] in _AFTER or (t[e] == "." and (e + 1 == n or t[e + 1] in _AFTER)))):
                break
        else:
            return False
        at = t.find("@", e)
    return True


def _allowed(allow: Sequence[Regex], value: str) -> bool:
    """Whether `value` fullmatches one of `allow`, kept for the short values seen last (an address a policy
    allows recurs in every answer that gives it). The cache holds the matched values themselves: a long one (a
    private key) is asked afresh, so the cache never keeps more than a few hundred kilobytes of found data."""
    if len(value) > _ALLOWED_CACHED_CHARS:
        return _allowed_now(allow, value)
    return _allowed_cached(allow, value)


def _allowed_now(allow: Sequence[Regex], value: str) -> bool:
    if len(allow) == 1:
        p = allow[0]
        return _within(p, value) and _whole(p, value)
    return any(_within(p, value) and _whole(p, value) for p in allow)


def _within(pattern: Regex, value: str) -> bool:
    """False when `pattern` provably does not fullmatch `value`: an ASCII value outside the range of strings the
    pattern can match (RE2's ``PossibleMatchRange``: every match anchored at the start lies in it), a comparison
    of strings where a search would cost a microsecond (a found number against the addresses a policy allows)."""
    if not value.isascii() or not isinstance(pattern, Regex):
        return True
    bounds = _match_range(pattern)
    return bounds is None or bounds[0] <= value <= bounds[1]


@functools.lru_cache(maxsize=256)
def _match_range(pattern: Regex) -> tuple[str, str] | None:
    """`pattern`'s ``PossibleMatchRange`` on ASCII texts (its program for them, `Regex.whole`'s), as strings
    (Latin-1: one character per byte, in the bytes' order); None when RE2 gives none."""
    ok, low, high = pattern._bytes().PossibleMatchRange(_RANGE_CHARS)
    return (low.decode("latin-1"), high.decode("latin-1")) if ok else None


_RANGE_CHARS = 256


_allowed_cached = functools.lru_cache(maxsize=4096)(_allowed_now)
#: the longest value `_allowed` keeps its answer for (4,096 of them: at most 1 MiB of text)
_ALLOWED_CACHED_CHARS = 256


def _hashable(allow: Sequence[Regex]) -> bool:
    """Whether `_allowed` may keep its answers for `allow`: a tuple of hashable patterns (a `Regex` is equal
    only to itself, a compiled `re` pattern to one of the same pattern and flags)."""
    if type(allow) is not tuple:
        return False
    try:
        hash(allow)
    except TypeError:
        return False
    return True


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@functools.lru_cache(maxsize=4096)
def _ascii_fold(ch: str) -> str | None:
    """The ASCII character `ch` folds to, when it folds to one and is no combining mark; else None."""
    folded = fold(ch, visual=False).text
    return folded if len(folded) == 1 and folded.isascii() and not unicodedata.combining(ch) else None


def _read_alike(text: str) -> str | None:
    """``fold(text).text`` when it is ASCII and reads each character of `text` as one (typographic quotes,
    dashes, Unicode spaces and digits, look-alike letters; no invisible character, bidi control or combining
    mark): then it is the one view of `text` (`fold_views`) and its spans are the text's own; else None."""
    folded = text
    for ch in set(_NON_ASCII.findall(text)):
        one = _ascii_fold(ch)
        if one is None:
            return None
        folded = folded.replace(ch, one)  # `fold`'s translation, one character for one (ASCII stays)
    return folded


#: every ASCII digit read as '0': the kinds' prefilters, `phone._GATE` and the tests of `phone._nothing` but its
#: digits' own (`phone.shape_nothing`) name no digit, so they answer a text and its shape alike
_ZEROS = bytes.maketrans(b"123456789", b"000000000")
#: the longest text answered by its shape (case ids, keys); a longer one is asked about on its own
SHAPE_MAX_CHARS = 64
_Verdict = bool | tuple[Spans | None, Proof | None]


@functools.lru_cache(maxsize=4096)
def _by_shape(shape_bytes: bytes, region: str, strict: bool) -> _Verdict:
    """What `find_pii` does with an ASCII text of `shape` (any kinds): True, nothing found whatever its digits;
    False, ask it; or (`phone.shape_dates`, `phone.shape_nothing`) when only the phone kind's prefilter occurs
    and its digits decide (`_clean`)."""
    shape = shape_bytes.decode("ascii")
    present = _kinds_present(shape)
    if not present:
        return True
    if present != _PHONE_ONLY:
        return False
    dates, nothing = shape_dates(shape), shape_nothing(shape, region, strict)
    return False if dates is None and nothing is None else (dates, nothing)


def _clean(text: str, region: str, strict: bool) -> bool:
    """True when `find_pii(text, any kinds, region=region, strict=strict)` is [] by the prefilters and the phone
    pre-check alone, for a short ASCII text: answered once per shape (`_by_shape`: the text with each digit
    '0'), then by its digits: whether each run of 7+ digits is a date (`phone.possible`) and whether
    libphonenumber could read a number there (`phone.nothing_in`), the two questions `find_pii` asks of a
    text where only the phone kind's prefilter occurs."""
    verdict = _by_shape(text.encode().translate(_ZEROS), region, strict)
    if verdict is True or verdict is False:
        return verdict
    dates, nothing = verdict
    if dates is not None:
        t = text.replace("\t", " ") if "\t" in text else text
        if all(is_date(t[s:e]) for s, e in dates):
            return True  # every run of 7+ digits a date: `_detectable` drops the phone kind
    return nothing is not None and _phone.PRECHECK and nothing_in(text, nothing)  # (a test may switch it off)


def nothing_found(texts: Sequence[str]) -> list[bool]:
    """For each text, True when `find_pii(text)` (every kind, region US, not strict: what ``mask_text`` asks)
    is provably [] without running a detector (`_clean` for a short ASCII text, decided once per shape for
    many case ids such as 'gen-0000123'); False when it may find something (ask it)."""
    out: list[bool] = []
    every = _prefilter_re(_ALL_KINDS)
    for text in texts:
        if not text.isascii():
            out.append(not every.test(text))  # `find_pii`'s own first question of such a text
        elif not text or len(text) > SHAPE_MAX_CHARS:
            out.append(not text)
        else:
            out.append(_clean(text, "US", False))
    return out


def _whole(pattern: Regex, value: str) -> bool:
    """Whether `pattern` fullmatches `value` (`Regex.whole`, or any pattern object with ``fullmatch``)."""
    return pattern.whole(value) if isinstance(pattern, Regex) else pattern.fullmatch(value) is not None


def prefilter_pattern(kinds: Collection[str] = KINDS) -> str:
    """An RE2 pattern that is a cheap superset test for `find_pii(text, kinds)`: if `re2.search(pattern, text)`
    finds nothing, `find_pii(text, kinds)` is [] for any region and allow list, so callers may skip it."""
    wanted = _check_kinds(kinds)
    parts = [f"(?:{_NARROW_PHONE if k == 'phone' else _PREFILTER[k]})" for k in KINDS if k in wanted]
    return "|".join([*parts, _UNFOLDED]) if parts else r"\b\B"
