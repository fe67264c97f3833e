"""The third round of speed work on the personal-data detector changes no finding.

`find_pii` now reads an ASCII text, or one whose every character folds to one ASCII character (typographic quotes,
dashes, Unicode digits), without `_find`'s fold and offset map; it asks the kinds' prefilters and the detectors'
whole-text questions in one pass (`pii._scan`), finds the runs of digits the phone detector reads once
(`phone.undated`), answers some questions without RE2 (`phone.is_date`, `pii._versioned`, `pii._ipv4_ok`), and
checks the allow list before a match is made; the `pii` check gives it its allow patterns as one (`_as_one`).

Texts built from personal-data-like fragments give the findings, and the check the findings and masks, recorded
from the code before these changes (`RECORDED`: digests per chunk of the generated texts; `HAND_PICKED`: in full),
and each shortcut answers as what it replaces. Recorded with phonenumbers and python-stdnum as pinned: a new
release of either may change the digests (compare the two versions' findings before taking new ones).
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checks.builtin.pii import _as_one, _prepare
from harness.checks.builtin.pii import pii as pii_check
from harness.model import OutputRecord
from harness.text import phone, pii
from harness.text.regex import compile_pattern

POLICY = {"kinds": ["email", "phone", "us_ssn", "credit_card", "iban", "ip_address"],
          "allow": ["support@acme\\.example", "privacy@acme\\.example"]}

FRAGMENTS = [
    "555", "0147", "202", "4111", "1111", "2024", "11", "18", "123", "45", "6789", "0", "7", "99", "5555", "4444",
    "3782", "822463", "10005", "1234567890123456789012", "-", ".", "/", "_", ",", " ", "  ", "\t", "\n", "*", "|",
    ":", "(", ")", "[", "]", " x ", "+1 ", "+44 ", " - ", "#", "ext. ", "@", "[at]", " at ", " dot ", "[.]", " . ",
    "jane", "doe", "example", "com", "support@acme.example", "Support@acme.example", "omar.khan7@mail.example",
    "a@b.png", "GB82", "WEST", "1234", "5698", "7654", "32", "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432",
    "AKIA", "ghp_", "203.0.113.42", "10.0.0.1", "127.0.0.1", "240.1.2.3", "224.0.0.1", "203.000.113.042",
    "01.02.03.04", "2001:db8::1", "::", "version ", "v", "release ", "build ", "call me on ", "Phone: ", "(office)",
    "SSN ", "card ", "text me at ", "2026-11-18", "12/31/2024", "ORD-2024-118842", "381-42-8967", "078.05.1120",
    "(245) 483-9612", "871.417.1827", "+1 627-875-4626", "+44 20 7946 0958", "1-800-555-0199",
    "\u0663", "\uff15", "\u0969", "\u043e", "\u2013", "\u2014", "\u2212", "\u00a0", "\u2009", "\u200b", "\u200d",
    "\u202e", "\u202c", "\u2019", "\u201c", "\uff20", "\uff0e", "\u0301", "\u00e9",
]
SENTENCES = [
    "I've looked into this for you.", "Your last sign-in came from 203.30.105.128.",
    "If you have more questions, write to support@acme.example and we reply within one business day.",
    "The card on file is 4964 6095 3581 0612, expiring next year.", "The SSN on the account is 381-42-8967.",
    "We will call you back at +1 303-555-0126 this afternoon.",
    "We will send the refund to GB82 WEST 1234 5698 7654 32 within five working days.",
    "Refunds usually appear within 5 to 7 business days.", "I\u2019ve noted the contact email "
    "maria.carter92@mail.example on the order.", "Order A-46999 ships on 2026-11-18.",
]
CHUNK = 250


def generated() -> list[str]:
    """2,000 texts: fragments joined at random, and sentences of model answers with a fragment spliced in."""
    rng = random.Random(20261204)
    texts = []
    for i in range(2000):
        if i % 2:
            texts.append("".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 16))))
        else:
            text = " ".join(rng.sample(SENTENCES, 3))
            at = rng.randint(0, len(text))
            texts.append(text[:at] + rng.choice(FRAGMENTS + SENTENCES) + text[at:])
    return texts


def finds(text: str, config: str) -> list[tuple[object, ...]]:
    if config == "check":
        record = OutputRecord(case_id="x", output=text, line=1, fields={})
        return [(f.kind, f.message, f.start, f.end, f.masked) for f in pii_check.fn(RULE, record, None)]
    kinds, region, strict = CONFIGS[config]
    return [(m.kind, m.start, m.end, m.value, m.normalized)
            for m in pii.find_pii(text, kinds, region=region, strict=strict)]


def digests(config: str) -> list[str]:
    texts = generated()
    return [hashlib.sha256("\n".join(repr(finds(t, config)) for t in texts[i:i + CHUNK]).encode()).hexdigest()[:16]
            for i in range(0, len(texts), CHUNK)]


RULE = _prepare(POLICY)
CONFIGS = {"all-US": (pii.KINDS, "US", False), "all-GB-strict": (pii.KINDS, "GB", True),
           "phone-DE": (("phone",), "DE", False)}
#: `digests(config)` recorded from the code before this round (commit 2c06a38), then again after an address
#: followed by '-' became an e-mail finding (`jane@gmail.com-1`: the only differences, all of them e-mails found
#: where none was); "check": the `pii` check with the policy's kinds and allow list
RECORDED: dict[str, list[str]] = {
    'all-US': [
        "6daaf350aafe644f", "5f0569221a8659a8", "d5927216ddba096b", "87d784091512dabe",
        "f3a22c7e0b2454eb", "fe58f9956b783c14", "9140afa870577a1b", "0b4d09c91d64921e",
    ],
    'all-GB-strict': [
        "57fad3b810662577", "f5a60de11feee9d5", "ca501e2f5011ca02", "21ad95c815da3c04",
        "286ea159b1dca305", "fd6a15873831f30e", "49ba8a74208308d0", "94778a00b87390a8",
    ],
    'phone-DE': [
        "f425799e74d7f354", "b817687d0f180aba", "770f5104ee665929", "7e93c9b097665004",
        "4e96b95203598448", "d9e63d9e46f51a10", "efac2329d505a8e5", "affcd8726d077967",
    ],
    'check': [
        "41548bdde2cd76f0", "799faabc91169200", "50bb74c30ef7f929", "9e409b15e33e0220",
        "56afcf18d3bb23f1", "2409e0769ce5e9ad", "f1c77573f39e2bdc", "f2580551f383b543",
    ],
}


@pytest.mark.parametrize("config", ["all-US", "all-GB-strict", "phone-DE", "check"])
def test_generated_texts_give_the_recorded_findings(config: str) -> None:
    assert sum(bool(finds(t, config)) for t in generated()) > 300  # a corpus where something is found
    changed = [i for i, (now, then) in enumerate(zip(digests(config), RECORDED[config], strict=True)) if now != then]
    assert not changed, f"the findings of generated()[{changed[0] * CHUNK}:{(changed[0] + 1) * CHUNK}] changed"


#: (text, the `pii` check's findings as (kind, start, end, masked)) recorded from the code before this round
HAND_PICKED: list[tuple[str, list[tuple[str, int, int, str]]]] = [
    ("Your last sign-in came from 203.30.105.128.", [("ip_address", 28, 42, "203.*.*.*")]),
    ("Write to support@acme.example or privacy@acme.example, not jane.doe@example.com.",
     [("email", 59, 79, "j***@example.com")]),
    ("Card \uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11"
     " (full width).",
     [("credit_card", 5, 24, "**** **** **** 1111")]),
    ("Call \u0662\u0660\u0662-\u0665\u0665\u0665-\u0660\u0661\u0664\u0667 today.", [("phone", 5, 17, "***-***-**47")]),
    ("Card 4111\u200d1111\u200d1111\u200d1111, with joiners.", [("credit_card", 5, 24, "**** **** **** 1111")]),
    ("Reach me at j\xf6hn@ex\xe4mple.com or \u30b8\u30e7\u30f3@\u4f8b\u3048.jp.",
     [("email", 12, 28, "j***@example.com"), ("email", 32, 41, "\u30b7***@\u4f8b\u3048.jp")]),
    ("I\u2019ve noted 4111 1111 1111 1111 and 078-05-1120.", [("credit_card", 11, 30, "**** **** **** 1111")]),
    ("4111 1111 1111 1111 202-555-0147 GB82 WEST 1234 5698 7654 32",
     [("credit_card", 0, 19, "**** **** **** 1111"), ("phone", 20, 32, "***-***-**47"),
      ("iban", 33, 60, "GB** **** 5432")]),
    ("DE89370400440532013000 4111111111111111 203.0.113.42",
     [("iban", 0, 22, "DE** **** 3000"), ("ip_address", 40, 52, "203.*.*.*")]),
    ("card 4111-1111-1111-1111-202-555-0147", [("credit_card", 5, 24, "**** **** **** 1111")]),
    ("Digits: " + "4111 " * 40, []),
    ("1" * 300, []),
    ("call " + "202-555-0147 " * 30, [("phone", 5 + 13 * i, 17 + 13 * i, "***-***-**47") for i in range(20)]),
    ("Server 203 . 0 . 113 . 42 and 203[.]0[.]113[.]42, version 1.2.3.4, release 10.0.0.1.",
     [("ip_address", 7, 25, "203 .*.*.*"), ("ip_address", 30, 48, "203[.*.*.*")]),
    ("The SSN is 078 05 1120; ssn: 078051120; ZIP 12345-6789.", [("us_ssn", 44, 54, "***-**-6789")]),
    ("jane dot doe at example dot com, jane [at] example [dot] com",
     [("email", 0, 31, "j***@example.com"), ("email", 33, 60, "j***@example.com")]),
    ("\u202ejane@example.com\u202c and 202\u200b555\u200b0147",
     [("email", 1, 17, "j***@example.com"), ("phone", 23, 35, "***-***-**47")]),
    ("IBAN gb82 west 1234 5698 7654 32, Gb82WEST12345698765432",
     [("iban", 5, 32, "GB** **** 5432"), ("iban", 34, 56, "GB** **** 5432")]),
    ("On 2026-11-18 call +44 20 7946 0958 (office) or 020 7946 0958.", [("phone", 19, 35, "***-***-**58")]),
    ("Phone:\t202\t555\t0147\t8 and 127.0.0.1, 0.0.0.0, 240.1.2.3, 8.8.8.8", [("ip_address", 57, 64, "8.*.*.*")]),
    ("4111*1111*1111*1111 | (4111) 1111 1111 1111 | 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
     [("credit_card", 0, 19, "**** **** **** 1111"), ("credit_card", 22, 43, "**** **** **** 1111"),
      ("credit_card", 46, 77, "**** **** **** 1111")]),
    ("\xe9\u0301 4111 1111 1111 1111 \u2013 203.0.113.42 \u2014 jane\u2019s mail",
     [("credit_card", 3, 22, "**** **** **** 1111"), ("ip_address", 25, 37, "203.*.*.*")]),
    ("AKIAIOSFODNN7EXAMPLE 2001:db8::8a2e:370:7334 fe80::1",
     [("ip_address", 21, 44, "2001:*:*:*"), ("ip_address", 45, 52, "fe80:*:*:*")]),
    ("Reach support@acme.example\u2019s team at +1 (415) 555-0132 ext. 12", [("phone", 37, 62, "***-***-**12")]),
]


@pytest.mark.parametrize(("text", "expected"), HAND_PICKED, ids=[f"{i}:{t[:30]!r}" for i, (t, _) in
                                                                   enumerate(HAND_PICKED)])
def test_hand_picked_texts_give_the_recorded_findings(text: str, expected: list[tuple[str, int, int, str]]) -> None:
    record = OutputRecord(case_id="x", output=text, line=1, fields={})
    assert [(f.kind, f.start, f.end, f.masked) for f in pii_check.fn(RULE, record, None)] == expected


# --- each shortcut answers as what it replaces ------------------------------------------------------------------

texts = st.lists(st.sampled_from(FRAGMENTS), max_size=20).map("".join)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(texts, st.sampled_from([pii.KINDS, tuple(POLICY["kinds"]), ("phone",), ("email",), ("credit_card", "iban"),
                               ("us_ssn", "ip_address")]), st.sampled_from(["US", "GB"]), st.booleans())
def test_the_ascii_and_read_alike_paths_find_what_the_folded_path_finds(text: str, kinds: tuple[str, ...],
                                                                        region: str, strict: bool) -> None:
    """`find_pii` (no fold for an ASCII or read-alike text) finds what `_find` finds with every detector run."""
    wanted = frozenset(kinds)
    expected = [(s, e, k, n) for s, e, k, n in pii._find(text, wanted, region, skip=False, strict=strict)]
    found = [(m.start, m.end, m.kind, m.normalized) for m in pii.find_pii(text, kinds, region=region, strict=strict)]
    assert found == expected
    assert all(m.value == text[m.start:m.end] for m in pii.find_pii(text, kinds, region=region, strict=strict))


@FAST
@given(texts)
def test_one_pass_answers_each_question(text: str) -> None:
    """The kinds' prefilters and the detectors' whole-text questions, answered in one pass (None: nothing occurs,
    or the set gave up; then each kind's prefilter is asked on its own, and each question is asked when due)."""
    present, facts = pii._scan(text)
    assert present == {k for k in pii.KINDS if pii._KIND_RE[k].test(text)}
    assert (facts or set()) == {p for p in pii._ASKED if p.test(text)}
    assert facts is not None or not present


def test_read_alike_texts_are_those_folded_one_character_for_one() -> None:
    assert pii._read_alike("I\u2019ve a card \uff14111 1111 1111 1111") == "I've a card 4111 1111 1111 1111"
    assert pii._read_alike("\u2018jane\u2019 \u2013 \u0662\u0660\u0662\u00a0\u00e9") == "'jane' - 202 e"
    assert pii._read_alike("\u2460 \u2462") == "1 3"
    # a character dropped, text reordered, a combining mark, two characters for one, characters kept
    for text in ("a\u200bb", "\u202eabc\u202c", "e\u0301", "\ufb01le", "\u201cjane\u201d", "5\u20ac"):
        assert pii._read_alike(text) is None, text
        folded = pii.fold(text).text
        assert len(folded) != len(text) or not folded.isascii(), text


@FAST
@given(st.text(st.sampled_from("0123456789-/. \u0663\uff15x"), max_size=16))
def test_is_date_answers_as_date_whole(value: str) -> None:
    assert phone.is_date(value) == phone.DATE.whole(value)


@FAST
@given(texts, st.integers(0, 60))
def test_versioned_answers_as_the_version_word_pattern(text: str, at: int) -> None:
    at = min(at, len(text))
    assert pii._versioned(text, at) == pii._near(pii._VERSION_WORD, text, at, 12)
    for word in ("version ", "ver. ", "Release", "BUILD\t", "firmware", "v", "v\n", "xv "):
        t = text + word + "1.2.3.4"
        assert pii._versioned(t, len(t) - 7) == pii._near(pii._VERSION_WORD, t, len(t) - 7, 12), t


def old_ipv4(octets: list[str]) -> str:
    """`pii._ipv4` before this round: the address `ipaddress` is given, '' for none."""
    if (octets[0] != "0" and octets[0].startswith("0")) or any(
            o.startswith("0") and len(o) != 3 for o in octets[1:] if o != "0"):
        return ""
    return ".".join(str(int(o)) for o in octets)


def test_ipv4_octets_are_judged_as_ipaddress_judges_them() -> None:
    others = ["0", "00", "000", "1", "01", "001", "010", "99", "255", "256", "999"]
    for first in [str(n) for n in range(1000)] + ["00", "000", "01", "001", "010", "099", "0127"]:
        for octets in ([first, "0", "0", "0"], [first, "0", "0", "1"], [first, "255", "255", "255"],
                       *([first, o, "1", o] for o in others)):
            assert pii._ipv4_ok(octets) == pii._ip_ok(old_ipv4(octets)), octets
    rng = random.Random(4)  # the first number decides (`_public_first`): ipaddress's ranges are /8 and /4
    for n in range(256):
        for rest in [(0, 0, 1), (255, 255, 255), *((rng.randrange(256), rng.randrange(256), rng.randrange(256))
                                                   for _ in range(8))]:
            assert pii._ip_ok(str(ipaddress.IPv4Address(bytes((n, *rest))))) == pii._public_first(n), (n, rest)


ALLOW = ["support@acme\\.example", "privacy@acme\\.example", "(?i)JANE@[a-z]+\\.com", "[0-9]{4} [0-9]{4}",
         "x|y", "a{2"]


@FAST
@given(st.lists(st.sampled_from(ALLOW), min_size=2, max_size=4, unique=True),
       st.sampled_from(["support@acme.example", "privacy@acme.example", "Support@acme.example", "jane@example.com",
                        "JANE@EXAMPLE.COM", "1234 5678", "x", "y", "xy", "a{2", "aa", "", "support@acme.exampl"]))
def test_allow_patterns_as_one_allow_what_one_of_them_allows(patterns: list[str], value: str) -> None:
    allow = tuple(compile_pattern(p) for p in patterns)
    (one,) = _as_one(allow)
    assert one.whole(value) == any(p.whole(value) for p in allow)


def test_allow_patterns_that_could_read_past_their_group_stay_apart() -> None:
    allow = (compile_pattern("\\Qa)|(b"), compile_pattern("c"))
    assert _as_one(allow) == allow
    assert _as_one(allow[1:]) == allow[1:]
    assert len(_prepare(POLICY).allowed or ()) == 1


@pytest.mark.parametrize("n", [0, 1, 8, 9, 40])
def test_spans_taken_are_asked_alike_few_or_many(n: int) -> None:
    rng = random.Random(n)
    spans = [(a, a + rng.randint(0, 9)) for a in (rng.randint(0, 60) for _ in range(n))]
    taken = phone._Taken(spans)
    for s in range(72):  # the spans asked about: not empty, inside the text
        for e in range(s + 1, s + 12):
            assert taken.overlaps(s, e) == any(a < e and b > s for a, b in spans)
            assert taken.holds(s, e) == any(a <= s and b >= e for a, b in spans)


def test_ssn_parts_split_every_ssn_layout() -> None:
    for text in ["078-05-1120", "078.05.1120", "078 05 1120", "078  05  1120", "078 - 05 - 1120", "078051120",
                 "078:05:1120", "078\t05\t1120", "07805-1120", "078-051120"]:
        ((s, e),) = pii._SSN.spans(text)
        parts = pii._SSN_PARTS(text[s:e])
        assert parts is not None and re.sub("[^0-9]", "", text) == parts[1] + parts[3] + parts[5], text


ascii_texts = st.lists(st.sampled_from([f for f in FRAGMENTS if f.isascii()]), max_size=20).map("".join)


@FAST
@given(ascii_texts, st.lists(st.tuples(st.integers(0, 120), st.integers(1, 25)), max_size=4))
def test_runs_are_held_only_when_each_run_of_digits_lies_in_a_claimed_span(text: str,
                                                                           raw: list[tuple[int, int]]) -> None:
    claimed = [(a, min(a + n, len(text))) for a, n in raw if a < len(text)]
    held = [any(a <= s and b >= e for a, b in claimed) for s, e in phone._GATE.spans(text.replace("\t", " "))]
    assert not pii._runs_held(text, claimed) or all(held)


@pytest.mark.parametrize(("text", "held"), [
    ("card 4111 1111 1111 1111, within 5 to 7 days", True),
    ("7 card 4111 1111 1111 1111", True),
    ("card 4111 1111 1111 1111 5 to 7 days", False),  # a digit next to the card: the run goes on
    ("7 4111 1111 1111 1111", False),
    ("card 4111 1111 1111 1111, order 1234567", False),  # seven digits outside
])
def test_runs_held_by_a_card(text: str, held: bool) -> None:
    """Held: `find_phones` has no window to read; not held: it has one, so the answer cannot be given early."""
    claimed = pii._cards(text)
    assert len(claimed) == 1
    assert pii._runs_held(text, claimed) is held
    assert (phone._windows(text, claimed) == []) is held


@pytest.mark.parametrize("text", ["x jane.doe@gmail.com-1", "mail jane.doe@gmail.com-thanks", "a@b.example-",
                                  "(jane.doe@gmail.com--)"])
def test_an_address_followed_by_a_hyphen_is_found_and_masked(text: str) -> None:
    from harness.text.mask import mask_text

    [found] = pii.find_pii(text)
    assert found.kind == "email" and text[found.end] == "-"
    assert "jane.doe" not in mask_text(text) and "@" in mask_text(text)


def test_the_caches_keep_no_long_found_value() -> None:
    """The allow-list and mask caches hold the matched values themselves: a long one (a private key) is answered
    afresh and never kept, so they hold at most a few megabytes of found data."""
    from harness.checks.builtin.pii import _prepare as prepare_pii
    from harness.text import mask

    key = "-----BEGIN PRIVATE KEY-----\n" + "A" * 2000 + "\n-----END PRIVATE KEY-----"
    rule = prepare_pii({"kinds": ["secret", "email"], "allow": ["support@acme\\.example"]})
    pii._allowed_cached.cache_clear()
    mask._masked_cached.cache_clear()
    record = OutputRecord(case_id="x", output=f"here: {key} and jane@example.org", line=1, fields={})
    findings = pii_check.fn(rule, record, None)
    assert {f.kind for f in findings} >= {"secret", "email"}
    assert mask.mask_text(f"here: {key}") != f"here: {key}"
    # only the short e-mail's answers are kept (before, the key's were too: two entries in each)
    assert pii._allowed_cached.cache_info().currsize == 1 and mask._masked_cached.cache_info().currsize == 1
