"""Personal-data and secret detection for model outputs (the engine of the `pii` check).

Candidates come from linear-time RE2 patterns and are validated (Luhn, IBAN mod-97 and country format, SSN
ranges, `ipaddress`, libphonenumber) so that plain numbers are not reported. Unicode: each decimal digit (e.g.
full-width '１') is read as its ASCII digit, space and zero-width characters as ' ', dashes as '-', full-width
'@ . + ( ) :' as ASCII; the mapping is 1:1 per character, so offsets index the original text. Overlaps: the
more specific kind wins (secret > email > iban > credit_card > us_ssn > ip_address > phone).
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import itertools
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import phonenumbers
import re2
from stdnum import iban as _iban
from stdnum import luhn as _luhn
from stdnum.us import ssn as _ssn

from .regex import Regex

KINDS: tuple[str, ...] = ("email", "phone", "us_ssn", "credit_card", "iban", "ip_address", "secret")
_PRIORITY = {k: i for i, k in enumerate(("secret", "email", "iban", "credit_card", "us_ssn", "ip_address", "phone"))}

#: Numbering plans tried for a phone-shaped number that stands next to a phone word
#: ("Phone:", "call me on", "... (office)") but is not valid in the caller's region.
CONTEXT_REGIONS: tuple[str, ...] = (
    "US", "GB", "CA", "AU", "NZ", "IE", "IN", "ZA", "DE", "FR", "IT", "ES", "PT", "NL", "BE", "CH", "AT", "SE",
    "NO", "DK", "FI", "PL", "CZ", "HU", "GR", "RO", "BR", "MX", "AR", "JP", "CN", "KR", "SG", "IL", "RU", "TR")
#: At most this many phone-worded candidates per text get that retry (bounds adversarial cost).
CONTEXT_BUDGET = 32


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """One finding; `value` is the raw matched text and must never be printed or stored."""

    kind: str
    start: int
    end: int
    value: str


_OPTS = re2.Options()
_OPTS.log_errors = False  # RE2 would print to stderr


def _re(pattern: str) -> Regex:
    return Regex(pattern, re2.compile(pattern, options=_OPTS))


# --- Unicode folding: one character to one character, so offsets are preserved ----------
_SPECIAL = {"\uff20": "@", "\ufe6b": "@", "\uff0e": ".", "\ufe52": ".", "\uff0b": "+", "\uff08": "(", "\uff09": ")",
            "\uff1a": ":"}
_RE2_ND, _RE2_SPACE, _RE2_DASH = (_re(p) for p in (r"\p{Nd}", r"[\p{Zs}\p{Cf}]", r"[\p{Pd}\x{2212}]"))


class _Fold(dict[int, str]):
    """Lazy `str.translate` table; it uses RE2's own classes so the prefilter agrees."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        digit = unicodedata.decimal(ch, None)
        out = (str(digit) if digit is not None and _RE2_ND.fullmatch(ch) else
               " " if _RE2_SPACE.fullmatch(ch) else
               "-" if _RE2_DASH.fullmatch(ch) else _SPECIAL.get(ch, ch))
        self[code] = out
        return out


_FOLD = _Fold()


def _fold(text: str) -> str:
    return text if text.isascii() else text.translate(_FOLD)


# --- Prefilter: per kind, a superset (on the raw text) of what that kind can match --------
_D, _SEP, _DASH = r"\p{Nd}", r"[\p{Zs}\p{Pd}\p{Cf}\x{2212}]", r"[\p{Pd}\x{2212}]"
_HEX, _COLON, _DOT = r"[0-9A-Fa-f\p{Nd}]", r"[:\x{FF1A}]", r"[.\x{FF0E}\x{FE52}]"
# phone-number punctuation as libphonenumber knows it (after folding) and its pre-images
_PH_PUNCT = r"x()\[\]./~\x{2053}\x{223C}\x{FF5E}\x{FF0F}\x{FF3B}\x{FF3D} \-"
_PH_PUNCT_RAW = _PH_PUNCT + r"\p{Pd}\p{Zs}\p{Cf}\x{2212}\x{FF08}\x{FF09}\x{FF0E}\x{FE52}"
_PREFILTER = {
    "email": r"[@\x{FF20}\x{FE6B}][\pL\pN]",
    "phone": f"{_D}(?:[{_PH_PUNCT_RAW}]{{0,4}}{_D}){{6}}",
    "us_ssn": f"{_D}{{3}}{_SEP}?{_D}{{2}}{_SEP}?{_D}{{4}}",
    "credit_card": f"{_D}(?:{_SEP}?{_D}){{11}}",
    "iban": f"[A-Za-z]{{2}}{_D}{{2}}{_SEP}?[A-Za-z\\p{{Nd}}]{{4}}",
    "ip_address": f"{_D}{_DOT}{_D}{{1,3}}{_DOT}{_D}{{1,3}}{_DOT}{_D}"
    f"|{_COLON}{_HEX}*{_COLON}{_HEX}*{_COLON}|{_HEX}{_COLON}{{2}}{_HEX}",
    "secret": rf"\bAKIA|\bASIA|\bgh[pousr]_|\bgithub_pat_|\bxox[bpars]{_DASH}|{_DASH}{{5}}BEGIN|\bAIza|\b[rs]k_live_"
    rf"|\bsk{_DASH}",
}
_KIND_RE = {k: _re(p) for k, p in _PREFILTER.items()}

# --- Detection patterns (run on folded text) ---------------------------------------------
_EMAIL = _re(r"[\pL\pN_%+\-][\pL\pN._%+\-]{0,63}@(?:[\pL\pN](?:[\pL\pN\-]{0,61}[\pL\pN])?\.)+\pL{2,63}")
_NOT_TLD = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico"})
_PHONE_GATE = _re(f"[0-9](?:[{_PH_PUNCT}]{{0,4}}[0-9]){{6,}}")
_DATE = _re(r"(?:(?:19|20)[0-9]{2}[-/.][01]?[0-9][-/.][0-3]?[0-9]|[0-3]?[0-9][-/.][0-3]?[0-9][-/.](?:19|20)[0-9]{2})"
            r"(?: [0-9]{1,2})?")  # a date (and an hour): never taken for a phone number
_PHONE_CAND = _re(r"[0-9](?:[ .\-/()]{0,3}[0-9]){6,16}")
_PHONE_WORD = _re(r"(?i)\b(?:phone|phones|telephone|tel|ph|mobile|mob|cell|cellphone|fax|call|calls|called|calling|"
                  r"dial|sms|whatsapp|hotline|landline|voicemail|contact|reach)\b")
# a messaging verb right before the number: "messages to ...", "text me at ...", "not answering at ..."
_PHONE_LEAD = _re(r"(?i)\b(?:messages?|messaging|text|texts|texted|texting|sms|answering|ring|rang)"
                  r"(?:\s+(?:me|us|him|her|them))?\s+(?:at|on|to)\s*[+(]?$")
_PHONE_LEAD_ANYWHERE = _re(r"(?i)\b(?:messages?|messaging|text|texts|texted|texting|sms|answering|ring|rang)"
                           r"(?:\s+(?:me|us|him|her|them))?\s+(?:at|on|to)\b")
_VALID, _POSSIBLE = phonenumbers.Leniency.VALID, phonenumbers.Leniency.POSSIBLE
_PHONE_LABEL = _re(r"(?i)\b(?:office|desk|home|work)\b")
_PHONE_LABEL_BEFORE = _re(r"(?i)\b(?:office|desk|home|work)\s?[:=]?\s?[+(]?$")
_PHONE_LABEL_AFTER = _re(r"(?i)^\s?[-/(]?\s?(?:office|desk|home|work|mobile|cell|fax|phone|tel)\b")
_SSN = _re(r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}|[0-9]{9}")
_SSN_WORD = _re(r"(?i)\b(?:ssn|ssns|social security|soc\.? ?sec|ss ?#|ss no)")
_CARD = _re(r"[0-9](?:[ \-]?[0-9]){11,}")
_DIGITS = _re(r"[0-9]+")
_CARD_WORD = _re(r"(?i)\b(?:card|credit|debit|visa|mastercard|maestro|amex|cc|payment|pay|charge|cvv|expir)")
_MAESTRO_12 = frozenset(["50", "56", "57", "58", *(f"6{d}" for d in range(10))])
_IBAN = _re(r"[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]{4}){2,8}(?: ?[A-Za-z0-9]{1,3})?")
_IPV4 = _re(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_IPV6 = _re(r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{1,4})?")
_VERSION_WORD = _re(r"(?i)\b(?:version|ver\.?|release|build|firmware|v)\s?$")
_SECRET = _re(
    r"(?:AKIA|ASIA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255}"
    r"|xox[bpars]-[A-Za-z0-9\-]{10,250}|-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|AIza[0-9A-Za-z_\-]{35}"
    r"|[rs]k_live_[0-9A-Za-z]{20,247}|sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{32,250}")
_KEY_MAX = 16_384  # characters searched for a key's body and END line (an RSA-8192 PEM is ~6.5k)
_KEY_BODY = _re(r"^(?:\s*[A-Za-z0-9+/=:,\-]{8,})*")
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
Spans = list[tuple[int, int]]


def _free(t: str, s: int, e: int, joiners: str) -> bool:
    """True when t[s:e] is glued neither to letters/digits nor to a longer joined number."""
    before = s > 0 and (t[s - 1].isalnum() or t[s - 1] in "_+" or (t[s - 1] in joiners and t[s - 2 : s - 1].isdigit()))
    after = e < len(t) and (t[e].isalnum() or t[e] == "_" or (t[e] in joiners and t[e + 1 : e + 2].isdigit()))
    return not (before or after)


def _near(pattern: Regex, t: str, s: int, before: int) -> bool:
    return pattern.test(t[max(0, s - before):s])


def _emails(t: str) -> Spans:
    out = []
    for m in _EMAIL.finditer(t):
        nxt = t[m.end():m.end() + 1]
        if not (nxt in ("-", "@") or nxt.isalnum()) and m.group().rsplit(".", 1)[1].lower() not in _NOT_TLD:
            out.append((m.start(), m.end()))
    return out


def _card_ok(t: str, win: Spans) -> bool:
    s, e = win[0][0], win[-1][1]
    digits = t[s:e].replace(" ", "").replace("-", "")
    lens = [b - a for a, b in win]
    if not 12 <= len(digits) <= 19 or digits[0] == "0":
        return False  # no issuer number starts with 0
    if len(win) > 1 and (len({t[b] for _, b in win[:-1]}) > 1 or lens[0] != 4
                         or any(not 3 <= x <= 6 for x in lens[1:-1]) or not 1 <= lens[-1] <= 7):
        return False  # grouped cards start with 4 digits and keep one separator
    if len(digits) == 12 and not (digits[:2] in _MAESTRO_12 and _near(_CARD_WORD, t, s, 48)):
        return False  # 12 digits: only Maestro ranges, and only next to a card word
    return _luhn.is_valid(digits)


def _cards(t: str) -> Spans:
    """Runs of 12+ digits with single ' '/'-' separators: leftmost-longest valid windows."""
    out = []
    for m in _CARD.finditer(t):
        if not _free(t, m.start(), m.end(), "-.,/"):
            continue
        groups = [(g.start(), g.end()) for g in _DIGITS.finditer(t, m.start(), m.end())]
        i = 0
        while i < len(groups):
            j, n = i, 0  # the longest window from group i holding at most 19 digits
            while j < len(groups) and n + groups[j][1] - groups[j][0] <= 19:
                n, j = n + groups[j][1] - groups[j][0], j + 1
            if groups[i][1] - groups[i][0] != 4:  # grouped cards start with 4 digits
                j = i + 1
            k = next((k for k in range(j, i, -1) if _card_ok(t, groups[i:k])), None)
            if k is not None:
                out.append((groups[i][0], groups[k - 1][1]))
            i = k if k is not None else i + 1
    return out


def _ssns(t: str) -> Spans:
    """NNN-NN-NNNN or NNN NN NNNN; bare 9 digits only after an SSN word."""
    out = []
    for m in _SSN.finditer(t):
        s, e, v = m.start(), m.end(), m.group()
        ok = len(v) > 9 or _near(_SSN_WORD, t, s, 40)
        if ok and _free(t, s, e, "-.,/") and _ssn.is_valid(v.replace(" ", "").replace("-", "")):
            out.append((s, e))
    return out


def _ibans(t: str) -> Spans:
    out = []
    for m in _IBAN.finditer(t):
        s, e = m.start(), m.end()
        if s > 0 and t[s - 1].isalnum():
            continue
        # the pattern may swallow a short trailing word: retry ending at each inner space
        for end in [e] + [s + i for i in range(e - s - 1, 14, -1) if t[s + i] == " "]:
            v = t[s:end].replace(" ", "")
            if not (end < len(t) and t[end].isalnum()) and (v.isupper() or v.islower()) and _iban.is_valid(v):
                out.append((s, end))
                break
    return out


def _ip_ok(v: str) -> bool:
    try:
        a = ipaddress.ip_address(v)
    except ValueError:
        return False
    return not (a.is_unspecified or a.is_loopback or (a.version == 4 and (a.is_reserved or a.is_multicast)))


def _ips(t: str) -> Spans:
    """IPv4 (minus unspecified, loopback, reserved, multicast, version strings) and IPv6."""
    out = [(m.start(), m.end()) for m in _IPV4.finditer(t) if _free(t, m.start(), m.end(), ".")
           and not _near(_VERSION_WORD, t, m.start(), 12) and _ip_ok(m.group())]
    for m in _IPV6.finditer(t) if ":" in t else ():
        s, e, v = m.start(), m.end(), m.group()
        glued = (s > 0 and (t[s - 1].isalnum() or t[s - 1] in ":.")) or (e < len(t) and (t[e].isalnum() or t[e] == ":"))
        if not glued and sum(1 for g in v.split(":") if g) >= 2 and _ip_ok(v):
            out.append((s, e))
    return out


def _secrets(t: str) -> Spans:
    out = []
    for m in _SECRET.finditer(t):
        s, e, v = m.start(), m.end(), m.group()
        if s > 0 and t[s - 1] in _WORD_CHARS:
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


def _phone_context(t: str, s: int, e: int) -> bool:
    after = _PHONE_LABEL_AFTER.test(t[e:e + 12])
    return (after or _near(_PHONE_WORD, t, s, 32) or _near(_PHONE_LABEL_BEFORE, t, s, 14)
            or _near(_PHONE_LEAD, t, s, 24))


_WINDOW_MARGIN = 12  # characters around a digit run: room for '+44 (0)' and the like


def _phone_windows(t: str, claimed: Spans) -> list[tuple[int, int]]:
    """Merged windows around the digit runs that could be phone numbers.

    libphonenumber's matcher is slow on long texts, so it reads only these windows: runs that
    are dates, or lie wholly inside a span another kind claimed (a card, an IBAN), are left out.
    """
    windows: list[tuple[int, int]] = []
    for g in _PHONE_GATE.finditer(t):
        s, e = g.span()
        if _DATE.fullmatch(g.group()) or any(a <= s and e <= b for a, b in claimed):
            continue
        ws, we = max(0, s - _WINDOW_MARGIN), min(len(t), e + _WINDOW_MARGIN)
        if windows and ws <= windows[-1][1]:
            windows[-1] = (windows[-1][0], we)
        else:
            windows.append((ws, we))
    return windows


@functools.cache
def _context_tries(region: str) -> tuple[tuple[str, int], ...]:
    """Possible (right length) in `region`, valid in another common plan, possible in one."""
    others = [rg for rg in CONTEXT_REGIONS if rg != region]
    return ((region, _POSSIBLE), *((rg, _VALID) for rg in others), *((rg, _POSSIBLE) for rg in others))


def _phones(t: str, region: str, claimed: Spans) -> Spans:
    """Valid numbers for `region` anywhere; other plans only next to a phone word."""
    windows = _phone_windows(t, claimed)
    if not windows:
        return []  # no run of 7+ digits but dates and spans other kinds claimed
    out: Spans = []
    for ws, we in windows:
        out += [(ws + m.start, ws + m.end) for m in phonenumbers.PhoneNumberMatcher(t[ws:we], region, leniency=_VALID)
                if not _DATE.fullmatch(m.raw_string)]
    if not _PHONE_WORD.test(t) and not _PHONE_LABEL.test(t) and not _PHONE_LEAD_ANYWHERE.test(t):
        return out
    blocked = sorted(out + claimed)
    starts, budget = [a for a, _ in blocked], CONTEXT_BUDGET
    reach = list(itertools.accumulate((b for _, b in blocked), max, initial=-1))
    for c in _PHONE_CAND.finditer(t):
        s, e = c.start(), c.end()
        if reach[bisect.bisect_left(starts, e)] > s or _DATE.fullmatch(c.group()) or not _phone_context(t, s, e):
            continue  # overlaps a span already found, a date, or no phone word nearby
        if (budget := budget - 1) < 0:
            break
        ws = s - 1 if s > 0 and t[s - 1] in "+(" else s
        # '+country' numbers are region-independent: other plans would only match a part
        tries = _context_tries(region) if t[ws] != "+" else ((region, _POSSIBLE),)
        for rg, leniency in tries:
            hits = list(phonenumbers.PhoneNumberMatcher(t[ws:e], rg, leniency=leniency))
            if hits:
                out.extend((ws + h.start, ws + h.end) for h in hits)
                break
    return out


_DETECTORS = {"email": _emails, "credit_card": _cards, "us_ssn": _ssns, "iban": _ibans, "ip_address": _ips,
              "secret": _secrets}


def _check_kinds(kinds: Collection[str]) -> frozenset[str]:
    wanted = frozenset(kinds)
    if not wanted <= set(KINDS):
        raise ValueError(f"unknown PII kinds: {sorted(wanted - set(KINDS))}")
    return wanted


def _find(text: str, wanted: frozenset[str], region: str, skip: bool = True) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, kind); `skip` omits detectors whose own prefilter is absent."""
    t = _fold(text)
    # every kind that can claim a phone-shaped span must run whenever phone is wanted
    run = {k for k in (set(KINDS) - {"phone"} if "phone" in wanted else wanted) if not skip or _KIND_RE[k].test(text)}
    found = [(_PRIORITY[k], s, e, k) for k in run for s, e in _DETECTORS[k](t)]
    if "phone" in wanted and (not skip or _KIND_RE["phone"].test(text)):
        claimed = [(s, e) for _, s, e, _ in found]
        found += [(_PRIORITY["phone"], s, e, "phone") for s, e in _phones(t, region, claimed)]
    found.sort()
    starts: list[int] = []
    taken: list[tuple[int, int, str]] = []  # disjoint, sorted by start
    for _, s, e, kind in found:
        i = bisect.bisect_left(starts, s)
        if not ((i > 0 and taken[i - 1][1] > s) or (i < len(taken) and taken[i][0] < e)):
            starts.insert(i, s)
            taken.insert(i, (s, e, kind))
    return [x for x in taken if x[2] in wanted]


@functools.lru_cache(maxsize=64)
def _prefilter_re(wanted: frozenset[str]) -> Regex:
    return _re(prefilter_pattern(wanted))


def find_pii(text: str, kinds: Collection[str] = KINDS, *, region: str = "US",
             allow: Sequence[Regex] = ()) -> list[PiiMatch]:
    """All matches of the given kinds, sorted by start.

    `region` is the numbering plan for phone numbers written without '+country code'. A match whose whole raw
    value fullmatches an `allow` pattern is dropped, after overlap resolution (an allowed card number does not
    resurface as a phone number).
    """
    wanted = _check_kinds(kinds)
    if not text or not _prefilter_re(wanted).test(text):
        return []
    return [PiiMatch(k, s, e, text[s:e]) for s, e, k in _find(text, wanted, region)
            if not any(p.fullmatch(text[s:e]) for p in allow)]


def prefilter_pattern(kinds: Collection[str] = KINDS) -> str:
    """An RE2 pattern that is a cheap superset test for `find_pii(text, kinds)`: if `re2.search(pattern, text)`
    finds nothing, `find_pii(text, kinds)` is [] for any region and allow list, so callers may skip it."""
    wanted = _check_kinds(kinds)
    parts = [f"(?:{_PREFILTER[k]})" for k in KINDS if k in wanted]
    return "|".join(parts) if parts else r"\b\B"
