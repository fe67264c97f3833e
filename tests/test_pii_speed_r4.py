"""The fourth round of speed work on the personal-data detector changes no finding.

The ASCII path now makes the text's bytes once and asks the detectors' compiled programs directly
(`phone.spans_of`, which also skips the search after a match when too few digits are left), decides what to run
once per answer of the one-pass set (`pii._Plan`), runs no SSN detector where no SSN stands apart (`_FREE_SSN` in
that set), no card or SSN detector on a chain inside an IBAN found (`_DETECTING`), and no `_NANP` or worded phone
search where the numbers libphonenumber reads hold every run of digits (`phone._held`); it checks Luhn, SSN rules
and IPv4 octets itself, leaves out the e-mail search where every '@' is that of an allowed address standing apart
(`_allowed_only`), asks an allow list of addresses about no value without an '@', and masks numbers afresh.

Texts built around these cases give the findings, and the `pii` check the findings and masks, recorded from the
code before these changes (`RECORDED`: digests per chunk of the generated texts), and each shortcut answers as
what it replaces. Recorded with phonenumbers and python-stdnum as pinned.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.us import ssn

from harness.checks.builtin.pii import _prepare
from harness.checks.builtin.pii import pii as pii_check
from harness.model import OutputRecord
from harness.text import mask, phone, pii
from harness.text.regex import compile_pattern

K6 = ("email", "phone", "us_ssn", "credit_card", "iban", "ip_address")
ALLOW = ["support@acme\\.example", "privacy@acme\\.example"]
RULE = _prepare({"kinds": list(K6), "allow": ALLOW})
RULE_GB = _prepare({"kinds": list(K6), "allow": ALLOW, "region": "GB", "strict": True})
SEPARATE = tuple(compile_pattern(p) for p in ALLOW)  # the allow list as two patterns (`find_pii`'s callers)

VALUES = [
    "support@acme.example", "privacy@acme.example", "Support@acme.example", "support@acme.example.com",
    "xsupport@acme.example", "support@acme.examples", "support@acme.example-1", "support@acme.example.",
    "support@acme.example.x", "support@acme.example@x", "_support@acme.example", "%privacy@acme.example",
    "support@acme.example_", "support@acme.example1", "(support@acme.example)", "<privacy@acme.example>",
    "jane.doe@example.com", "a@b.png", "support at acme dot example", "support [at] acme.example",
    "381-42-8967", "078-05-1120", "000-12-3456", "666-12-3456", "923-45-6789", "123-00-4567", "123-45-0000",
    "123 45 6789", "123456789", "123.45.6789", "SSN 123456789", "1381-42-8967", "381-42-89670",
    "4111 1111 1111 1111", "4111-1111-1111-1111", "4111 1111 1111 1112", "0111 1111 1111 1111",
    "5555 5555 5555 4444", "3782 822463 10005", "6011111111111117", "4111  1111 1111 1111", "4111 1111-1111 1111",
    "4111 1111 1111 111", "4111*1111*1111*1111", "card 41 11 11 11 11 11 11 11", "5018 1234 5678",
    "GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606",
    "GB82WEST12345698765432@mail.example", "GB82 WEST 1234 5698 7654 32 4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00", "gb82 west 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 3212 3456 78",
    "94.106.6.94", "203.118.240.112", "10.0.0.1", "0.0.0.0", "0.0.0.1", "01.2.3.4", "203.000.113.042",
    "256.1.1.1", "version 1.2.3.4", "2001:db8::1", "fe80::1", "a:b", "203 . 0 . 113 . 42",
    "+1 617-555-0114", "(212) 555-0198", "212-555-0198", "+44 20 7946 0958", "+1 617-555-0114 ext. 12",
    "call 617.555.0114", "+49 30 901820", "+1 2", "+12 345", "202\t555\t0147", "555-0147", "1-800-555-0199",
    "617 555 0114", "+1 (617) 555-0114", "2026-07-09", "12/31/2024", "2026-07-09 10", "ORD-2024-118842",
]
WORDS = ["card", "SSN", "call me on", "Phone:", "payment", "reach", "IBAN", "ip", "order", "the", "v", "x"]
JOINERS = [" ", ", ", ". ", "-", ".", "\n", "", "(", ")", "'", '"', ":", ";", "!", "?", " - ", "\t", "_", "+", "@"]
SENTENCES = [
    "Happy to help with that.", "If you have more questions, write to support@acme.example and we reply within one "
    "business day.", "Your last sign-in came from 94.217.193.174.", "The card on file is 4118375925076199, expiring "
    "next year.", "The SSN on the account is 260-65-1741.", "We will call you back at +1 617-555-0114 this afternoon.",
    "We will send the refund to GB82 WEST 1234 5698 7654 32 within five working days.",
    "Refunds usually appear within 5 to 7 business days.", "Your order total was $236.35, including 3 items.",
    "I can see that order A-29483 shipped with UPS on Saturday.", "The estimated delivery date is 2026-07-09.",
    "For your security, the card on file is shown by its last four digits only: it ends in 0674.",
    "Orders over $150 can be split into three interest-free monthly payments with Acme Pay.",
    "Write to privacy@acme.example for a copy of your data.", "I\u2019ve noted the contact email "
    "maria.carter92@mail.example on the order.",
]
CHUNK = 250


def generated() -> list[str]:
    """2,400 texts: answers of three sentences with values spliced in, and values, words and joiners at random."""
    rng = random.Random(20261205)
    texts = []
    for i in range(2400):
        if i % 2:
            parts = [rng.choice(VALUES + WORDS) for _ in range(rng.randint(1, 6))]
            texts.append("".join(itertools.chain.from_iterable((p, rng.choice(JOINERS)) for p in parts)))
        else:
            text = " ".join(rng.sample(SENTENCES, 3))
            for _ in range(rng.randint(0, 2)):
                at = rng.randint(0, len(text))
                text = text[:at] + rng.choice(JOINERS) + rng.choice(VALUES) + rng.choice(JOINERS) + text[at:]
            texts.append(text)
    return texts


def finds(text: str, config: str) -> list[tuple[object, ...]]:
    if config in ("check", "check-GB-strict"):
        record = OutputRecord(case_id="x", output=text, line=1, fields={})
        rule = RULE if config == "check" else RULE_GB
        return [(f.kind, f.message, f.start, f.end, f.masked) for f in pii_check.fn(rule, record, None)]
    if config == "all-US":
        matches = pii.find_pii(text)
    elif config == "policy-separate":
        matches = pii.find_pii(text, K6, allow=SEPARATE)
    else:
        matches = pii.find_pii(text, ("credit_card", "us_ssn", "phone"), region="DE")
    return [(m.kind, m.start, m.end, m.value, m.normalized) for m in matches]


def digests(config: str) -> list[str]:
    texts = generated()
    return [hashlib.sha256("\n".join(repr(finds(t, config)) for t in texts[i:i + CHUNK]).encode()).hexdigest()[:16]
            for i in range(0, len(texts), CHUNK)]


#: `digests(config)` recorded from the code before this round (commit c7d2ad9)
RECORDED: dict[str, list[str]] = {
    'check': [
        "7d984a750236618f", "b845b4c35106306a", "4cadb61cf11901b3", "6db6ea052b1de060", "a8893c354aef23e1",
        "0046b84069341130", "5c976a6f9a5a4c9f", "2a6d03907514182e", "2750e1957f4668a4", "7fcd61ad5fee1cfa",
    ],
    'check-GB-strict': [
        "ba58d325cea5d669", "c7afe1bca2e24d91", "b0d6e89776f64ef3", "9005bfc4d8ac88d1", "00670ebca9f8802f",
        "c60a144db1b11949", "56714630e507e5d7", "61a0fef83abe1e86", "64edd9b9c214302d", "1d88cd04be57dad9",
    ],
    'all-US': [
        "ff3c9df864ef8c8e", "3d61dfeac7f5e335", "5bc2621487142970", "221b9908694b83d0", "d6328409ef9a4046",
        "5c2b01cbe98814ce", "93843c42bea53347", "16a763589136f05b", "aad21bfb41ee07e9", "78873af0dca39d78",
    ],
    'policy-separate': [
        "e3b7648495ee00d8", "db382d12c2d0499a", "7984612f5f44dbe9", "587209947af94993", "4e9d1887f343a677",
        "b6549a8f92242cfb", "e3d19a1c3242bf9e", "f9a42459beac9635", "44484aa8198afebc", "c3ebeec3e6affc20",
    ],
    'card-ssn-phone-DE': [
        "b4fdaa7e8113a3fd", "67e3e1c89eee7c48", "2397b06b5f5c8617", "1e263f8e7b6b1c26", "9df5a0ed3045ea5f",
        "2e6df39d9d55fed3", "6b8b728d64d5bed7", "9373adb3d03dd057", "2f1a7c9e57ef7493", "493909570d69959f",
    ],
}


@pytest.mark.parametrize("config", ["check", "check-GB-strict", "all-US", "policy-separate", "card-ssn-phone-DE"])
def test_generated_texts_give_the_recorded_findings(config: str) -> None:
    assert sum(bool(finds(t, config)) for t in generated()) > 600  # a corpus where something is found
    changed = [i for i, (now, then) in enumerate(zip(digests(config), RECORDED[config], strict=True)) if now != then]
    assert not changed, f"the findings of generated()[{changed[0] * CHUNK}:{(changed[0] + 1) * CHUNK}] changed"


# --- each shortcut answers as what it replaces ------------------------------------------------------------------

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ascii_texts = st.lists(st.sampled_from(VALUES + WORDS + JOINERS), max_size=12).map("".join)
digit_texts = st.text(st.sampled_from("0123456789 -./()x+_:\t\nabAB\u0663\uff15"), max_size=60)


@given(st.text(st.sampled_from("0123456789"), min_size=1, max_size=25))
@FAST
def test_luhn_is_stdnum_luhn(digits: str) -> None:
    assert pii._luhn_ok(digits) == luhn.is_valid(digits)


def test_luhn_of_known_cards() -> None:
    for card in ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "4118375925076199"]:
        assert pii._luhn_ok(card) and luhn.is_valid(card)
        assert not pii._luhn_ok(card[:-1] + str((int(card[-1]) + 1) % 10))


def test_ssn_rules_are_stdnum_rules() -> None:
    groups, serials = ["00", "01", "05", "55", "99"], ["0000", "0001", "1120", "5462", "9999"]
    numbers = [f"{a:03d}{g}{s}" for a in range(1000) for g in groups for s in serials]
    numbers += [v.replace("-", "") for v in ssn._ssn_blacklist]
    rng = random.Random(9)
    numbers += ["".join(rng.choice("0123456789") for _ in range(9)) for _ in range(20_000)]
    assert all(pii._ssn_ok(n) == ssn.is_valid(n) for n in numbers)


def old_ipv4_ok(octets: list[str]) -> bool:
    """`pii._ipv4_ok` before this round."""
    numbers = [int(o) for o in octets]
    return max(numbers) <= 255 and any(numbers) and pii._public_first(numbers[0]) and not pii._padded(octets)


def test_ipv4_octets_are_judged_as_before() -> None:
    octets = [f"{n:0{w}d}" for w in (1, 2, 3) for n in range(10 ** w)] + ["0127", "1000"]
    for o in octets:
        for rest in (["0", "0", "0"], ["0", "0", "1"], ["000", "0", "0"], ["255", "255", "255"], ["1", "01", "001"]):
            for place in range(4):
                four = [*rest[:place], o, *rest[place:]] if place else [o, *rest]
                assert pii._ipv4_ok(four) == old_ipv4_ok(four), four


#: each detector pattern searched with `phone.spans_of`, and the digits each of its matches holds at least
NEEDS = [(pii._CARD, 12), (pii._SSN, 9), (pii._IBAN, 2), (pii._IPV4, 4), (pii._IPV4_WRITTEN, 4), (phone._NANP, 10),
         (phone._CANDIDATE, 7), (phone._GATE, 7), (pii._IPV6, 0), (pii._SECRET, 0)]


@given(digit_texts.filter(str.isascii) | ascii_texts)
@FAST
def test_spans_of_finds_what_spans_finds(text: str) -> None:
    for pattern, need in NEEDS:
        found = phone.spans_of(pattern, text, text.encode("ascii"), need)
        assert found == pattern.spans(text), pattern
        assert all(sum(c.isdigit() for c in text[s:e]) >= need for s, e in found)


@given(st.text(st.sampled_from("0123456789 +-.()x\u0663\uff15et"), max_size=40))
@FAST
def test_plus_numbers_found_with_python_re_are_re2s(text: str) -> None:
    assert [m.span() for m in phone._PLUS_ANY.finditer(text)] == phone._PLUS.spans(text)


@given(digit_texts.filter(str.isascii) | ascii_texts)
@FAST
def test_an_ssn_found_stands_apart(text: str) -> None:
    """Where `_ssns` finds an SSN, the one-pass set's `_FREE_SSN` occurs (else the plan drops the kind)."""
    found = pii._SCAN_MATCH(text.encode())
    assert not pii._ssns(text) or pii._FREE_SSN_FOUND in found


@given(digit_texts | ascii_texts, st.sampled_from(["US", "GB", "DE"]), st.booleans(),
       st.lists(st.tuples(st.integers(0, 60), st.integers(1, 30)), max_size=3))
@FAST
def test_held_runs_skip_no_phone_number(text: str, region: str, strict: bool, raw: list[tuple[int, int]]) -> None:
    """`find_phones` finds what it finds when the `_NANP` and worded searches are never skipped (`_held`)."""
    claimed = [(a, min(a + n, len(text))) for a, n in raw if a < len(text)]
    found = phone.find_phones(text, region, claimed, strict=strict)
    held = phone._held
    try:
        phone._held = lambda runs, spans: False
        assert phone.find_phones(text, region, claimed, strict=strict) == found
    finally:
        phone._held = held


@given(ascii_texts | digit_texts, st.sampled_from([K6, pii.KINDS, ("credit_card", "us_ssn", "phone"), ("phone",),
                                                  ("email", "iban")]), st.booleans())
@FAST
def test_the_plans_find_what_every_detector_finds(text: str, kinds: tuple[str, ...], strict: bool) -> None:
    """`find_pii` (a plan per answer of the one-pass set, SSNs that stand apart, no card or SSN read inside an
    IBAN, addresses allowed without a search) finds what `_find` finds with every detector run, the allow list
    then asked of each match."""
    expected = [(s, e, k, n) for s, e, k, n in pii._find(text, frozenset(kinds), "US", skip=False, strict=strict)
                if not any(p.whole(text[s:e]) or p.whole(n) for p in SEPARATE)]
    for allow in (SEPARATE, RULE.allowed or ()):
        found = pii.find_pii(text, kinds, allow=allow, strict=strict)
        assert [(m.start, m.end, m.kind, m.normalized) for m in found] == expected


ADDRESS_TEXTS = st.lists(st.sampled_from(["support@acme.example", "privacy@acme.example", "@", ".", " ", ",", "x",
                                          "-", "_", "1", "(", ")", ".com", "jane@mail.example", "\n", "'", "+"]),
                         max_size=8).map("".join)


@given(ADDRESS_TEXTS)
@FAST
def test_a_text_of_allowed_addresses_alone_finds_them_alone(text: str) -> None:
    """Where `_allowed_only` says every '@' is that of an allowed address standing apart, `_emails` finds those
    addresses and nothing else."""
    addresses = pii._addresses(RULE.allowed)
    if pii._allowed_only(text, addresses):
        assert all(text[s:e] in addresses for s, e in pii._emails(text))
        assert len(pii._emails(text)) == text.count("@")


def test_allow_lists_of_addresses_are_read_as_addresses() -> None:
    assert pii._addresses(RULE.allowed) == ("support@acme.example", "privacy@acme.example")
    assert pii._addresses(SEPARATE) == ("support@acme.example", "privacy@acme.example")
    assert pii._addresses((compile_pattern(re.escape("jane.doe+x@mail.example.com")),)) == (
        "jane.doe+x@mail.example.com",)
    for pattern in ["(?i)support@acme\\.example", "a.b@c\\.com", "[a-z]+@x\\.com", "x@y\\.png", "support@acme",
                    "(?:a@b\\.com)|(?:c@d\\.com)|x", "a@b\\.com|c@d\\.com"]:
        assert pii._addresses((compile_pattern(pattern),)) == (), pattern
    assert pii._addresses((*SEPARATE, compile_pattern("[0-9]{4}"))) == ()


VALUES_TO_ALLOW = st.sampled_from(["support@acme.example", "privacy@acme.example", "Support@acme.example", "1234 5678",
                                   "jane@example.com", "x", "", "support@acme.exampl", "\u00e9@x.com", "zzzz", "0"])


@given(st.sampled_from(["support@acme\\.example", "(?i)JANE@[a-z]+\\.com", "[0-9]{4} [0-9]{4}", "x|y", ".*", "\\d+",
                        "(?:support@acme\\.example)|(?:privacy@acme\\.example)"]), VALUES_TO_ALLOW)
@FAST
def test_a_value_outside_the_match_range_is_not_allowed(pattern: str, value: str) -> None:
    p = compile_pattern(pattern)
    assert pii._within(p, value) or not p.whole(value)


@given(st.text(st.sampled_from("0123456789-. ()+x\u0663\uff15a"), max_size=20), st.integers(1, 4))
@FAST
def test_masks_read_the_last_digits_as_before(value: str, n: int) -> None:
    assert mask._tail(value, n) == "".join(filter(str.isdigit, mask._folded(value)))[-n:]
    for kind in ("phone", "us_ssn", "credit_card", "ip_address"):
        if value:
            mask._masked_cached.cache_clear()
            assert mask.mask_span(kind, value, value) == mask._masked_cached(kind, value, value)


@given(st.lists(st.sampled_from("0123456789"), min_size=16, max_size=16).map("".join),
       st.sampled_from([" ", "-"]), st.sampled_from(["", " ", "card ", "x", "1", ".", "-", "(", "a b "]),
       st.sampled_from(["", " ", ",", ".", "1", "a", "-1", "/2", " 5"]))
@FAST
def test_a_printed_card_is_read_off_as_the_steps_find_it(digits: str, sep: str, before: str, after: str) -> None:
    """A chain of digit groups (`_CARD`) in the 4-4-4-4 layout joined by ' ' or '-' that is free, starts with no
    0 and passes Luhn is the card that `_printed_cards` finds (and it has no group of 2, 3 or 8 digits for
    `_odd_cards`)."""
    chain = sep.join(digits[i:i + 4] for i in range(0, 16, 4))
    text = before + chain + after
    base, end = len(before), len(before) + len(chain)
    groups = [(base + 5 * i, base + 5 * i + 4) for i in range(4)]
    if ((base, end) in pii._CARD.spans(text) and pii._free(text, base, end, "-.,/_") and digits[0] != "0"
            and pii._luhn_ok(digits)):
        assert pii._printed_cards(text, groups, [sep] * 3) == [(base, end)]
        assert (base, end) in pii._cards(text)


@given(st.lists(st.integers(1, 3), min_size=2, max_size=6), st.sampled_from([".", " ", "-", "/"]),
       st.sampled_from(["", "card ", "pay "]))
@FAST
def test_a_chain_of_short_groups_under_thirteen_digits_is_no_card(lens: list[int], sep: str, before: str) -> None:
    rng = random.Random(sum(lens))
    parts = ["".join(rng.choice("123456789") for _ in range(n)) for n in lens]
    text = before + sep.join(parts) + " ok"
    base, groups = len(before), []
    for part in parts:
        groups.append((base, base + len(part)))
        base += len(part) + len(sep)
    if sum(lens) < 13:
        assert pii._printed_cards(text, groups, [sep] * (len(parts) - 1)) == []
        assert pii._odd_cards(text, groups, [sep] * (len(parts) - 1), []) == []
