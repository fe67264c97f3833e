"""Attacks on the narrow phone prefilter (`pii._narrow_phone`) and the case-id shortcut (`pii._clean`): dates with
more digits around them, international layouts, every harmless space and dash, other kinds next to dates, and
dates mutated a character at a time. Wherever `find_pii` finds something (the shipped rule's kinds, all kinds,
each kind alone; regions US, GB, DE; strict or not), the prefilter of those kinds lets the text through; a
short id is masked as `mask_text` without the shortcut would mask it.
"""

from __future__ import annotations

import random

import re2

from harness.text import phone, pii
from harness.text.mask import mask_many, mask_text
from harness.text.normalize import fold_views

K6 = ("email", "phone", "us_ssn", "credit_card", "iban", "ip_address")
PREFILTERS = {kinds: re2.compile(pii.prefilter_pattern(kinds)) for kinds in [K6, pii.KINDS, *((k,) for k in pii.KINDS)]}
PHONE = PREFILTERS[("phone",)]

#: dates next to more digits, phone numbers that look like dates, international layouts, disguises
ATTACKS = [
    "2024-01-15 5551234", "15.01.2024 0151 2345678", "2024-01-15 10:30", "2024 555 0147", "12-31-2024-5550147",
    "+44 20 7946 0958", "+49 30 1234567", "0049 30 1234567", "+44 (0) 20 7946 0958", "202-555-0147 x123",
    "202-555-0147 ext. 12", "0151/2345678", "030 / 123 45 67", "1-800-356-9377", '{"phone":"2025550147"}',
    "https://x.example/?tel=2025550147", "tel:+1-202-555-0147", "2024-01-15\u00a05551234",
    "2024\u201301\u201315 555\u20130147", "15.01.2024\u2009555\u202f0147", "on 2024-01-15, call 555-0147",
    "2024-01-15/5550147", "2024-01-15.5550147", "20240115 5550147", "2024-01-155550147", "2024-1-1 2 3 4",
    "31/12/1999 234", "31/12/1999 23 4", "2024-01-15 1 2", "(0)2024-01-15", "0(2024)01-15", "2024~01~15",
    "2024_01_15", "2024-01-15_1", "\u00a3 20 7946 0958", "\u20ac2025550147", "2.1.2024 555 0147",
    "call 2024-01-15\t5551234", "1999\u201312\u201331\u00a023 4", "12\u201405\u20142024 555",
    # other kinds next to dates, with harmless spaces and dashes
    "jane@example.com 2024-01-15", "ssn 078-05-1120 on 2024-01-15", "2024-01-15 078-05-1120",
    "4111 1111 1111 1111 exp 2024-01-15", "4111\u00a01111\u00a01111\u00a01111", "4111\u20131111\u20131111\u20131111",
    "GB82\u00a0WEST\u00a01234\u00a05698\u00a07654\u00a032 on 2024-01-15",
    "203\u00a0.\u00a00\u00a0.\u00a0113\u00a0.\u00a042",
    "2024-01-15T10:30 from 2001:db8::1", "AKIA\u2013IOSF\u2013ODNN\u20137EXA\u2013MPLE",
    "jane\u00a0dot\u00a0doe\u00a0at\u00a0example\u00a0dot\u00a0com", "\u201cjane@example.com\u201d 15.01.2024",
    # digits the detectors read through folding: every other script, full width, invisible characters
    "\u0662\u0660\u0662-\u0665\u0665\u0665-\u0660\u0661\u0664\u0667", "\uff12\uff10\uff12 555 0147",
    "202\u200b555\u200b0147", "\u202e7410-555-202\u202c", "2024-01-15 555\u200b1234",
]


def assert_never_hidden(text: str) -> None:
    if any(phone.possible(view.text) for view in fold_views(text)):
        assert PHONE.search(text), text
    for kinds, prefilter in PREFILTERS.items():
        if prefilter.search(text) is None:
            for region in ("US", "GB", "DE"):
                assert pii.find_pii(text, kinds, region=region) == [], (kinds, region, text)
                assert pii.find_pii(text, kinds, region=region, strict=True) == [], (kinds, region, text)


def test_the_attacks_pass_wherever_something_is_found() -> None:
    for text in ATTACKS:
        assert_never_hidden(text)
        assert_never_hidden(f"Reach me at {text} today")
    assert sum(1 for t in ATTACKS if pii.find_pii(t)) >= 25  # found, so letting them through matters
    assert PHONE.search("Shipped 2024-01-15 10:30, due 15.01.2024.") is None  # dates and times stay out


def test_dates_mutated_a_character_at_a_time_never_hide_a_phone_candidate() -> None:
    """20,000 dates (both layouts, with and without an hour, any harmless separator) with characters inserted,
    deleted and replaced: wherever `phone.possible` says a phone may be found, the prefilter lets it through."""
    rng = random.Random(10)
    digits = "0123456789"
    alphabet = [*"0123456789-. /x()_~[]a", "\t", "\u2013", "\u00a0", "\u2009"]
    candidates = 0
    for _ in range(20_000):
        year = rng.choice(["19", "20", "18", "21"]) + rng.choice(digits) + rng.choice(digits)
        month, day = rng.choice(["1", "01", "12", "0", "13", "2", "20"]), rng.choice(["1", "31", "0", "39", "4", "19"])
        s1 = rng.choice("-/. \u2013")
        s2 = rng.choice("-/. \u2013") if rng.random() < 0.3 else s1
        text = rng.choice([f"{year}{s1}{month}{s2}{day}", f"{day}{s1}{month}{s2}{year}"])
        if rng.random() < 0.4:
            text += rng.choice([" ", "\t", "\u00a0"]) + "".join(rng.choice(digits) for _ in range(rng.randrange(1, 4)))
        chars = list(rng.choice(["", "on ", "1 ", "12-", "("]) + text + rng.choice(["", " ", "5", "-1", " 55"]))
        for _ in range(rng.randrange(0, 4)):
            at, op = rng.randrange(len(chars)), rng.random()
            if op < 0.4:
                chars.insert(at, rng.choice(alphabet))
            elif op < 0.7:
                del chars[at]
            else:
                chars[at] = rng.choice(alphabet)
        text = "".join(chars)
        if phone.possible(text.replace("\u2013", "-").replace("\u00a0", " ").replace("\u2009", " ")):
            candidates += 1
            assert PHONE.search(text), text
    assert candidates > 5000


def test_short_ids_are_masked_as_without_the_shortcut() -> None:
    """Ids with dates, extensions, international prefixes and phone words: `mask_many` (the shortcut by shape)
    gives `mask_text`, and `find_pii` finds what every detector run finds."""
    rng = random.Random(4)
    heads = ["gen-", "ORD-", "", "#", "(", "call ", "tel", "\t", "+", "+1", "011", "00", "1-", "ext", "int", "~", "T"]
    bodies = ["2015550123", "3101234", "0114420794", "2026-11-18", "12/05/2024", "2024-01-15 10", "202-555-0147",
              "(202) 555-0147", "44 20 7946 0958", "0151 2345678", "4111111111111111", "078-05-1120", "10.0.0.1"]
    tails = ["", "-a", "/2", "x12", " ext. 7", "#", ")", " home", "\t3", " 12", " 1", "~1", "#12"]
    texts = [rng.choice(heads) + rng.choice(bodies) + rng.choice(tails) for _ in range(1500)]
    texts += [rng.choice(heads) + "".join(rng.choice("0123456789") for _ in range(rng.randrange(6, 18)))
              for _ in range(500)]
    for text in texts:
        found = [(m.start, m.end, m.kind, m.normalized) for m in pii.find_pii(text)]
        assert found == pii._find(text, frozenset(pii.KINDS), "US", skip=False), text
    assert mask_many(texts) == [mask_text(t) for t in texts]
    assert any(m != t for m, t in zip(mask_many(texts), texts, strict=True))
