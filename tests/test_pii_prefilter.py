"""The `pii` rule's prefilter lets through every output a detector can find something in, and lets no date
through as a phone candidate; the shipped prefilters still answer right in one set on long texts; `mask_many`
answers case ids by their shape and digits, exactly as `mask_text` would.

The phone part of `prefilter_pattern` is no longer "7 digits in a chain" but "a chain of 7+ digits that is not
a date" (`pii._narrow_phone`), the condition `find_phones` itself needs (`phone.possible`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import phonenumbers
import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checks import get_check
from harness.evaluation import prepare
from harness.project import load_project
from harness.text import phone, pii
from harness.text.mask import mask_many, mask_text
from harness.text.normalize import fold_views
from harness.text.regex import PatternSet

ROOT = Path(__file__).resolve().parents[1]
FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PHONE = re2.compile(pii.prefilter_pattern(["phone"]))
K6 = ("email", "phone", "us_ssn", "credit_card", "iban", "ip_address")
#: what a rule may ask for: the shipped `privacy.no-pii` kinds, all of them, and each kind alone
KIND_SETS = [K6, pii.KINDS, *((k,) for k in pii.KINDS)]
PREFILTERS = {kinds: re2.compile(pii.prefilter_pattern(kinds)) for kinds in KIND_SETS}


def phone_possible(text: str) -> bool:
    """Whether `find_phones` may find something in some view of `text` (`phone.possible`, exact)."""
    return any(phone.possible(view.text) for view in fold_views(text))


def assert_never_hidden(text: str) -> None:
    """Wherever `find_pii` finds something, for any kinds, the prefilter of those kinds lets the text through;
    and wherever a phone can be found, the phone kind's prefilter does."""
    if phone_possible(text):
        assert PHONE.search(text), text
    for kinds, prefilter in PREFILTERS.items():
        if prefilter.search(text) is None:
            assert pii.find_pii(text, kinds) == [], (kinds, text)
            assert pii.find_pii(text, kinds, strict=True, region="GB") == [], (kinds, text)


# --- chains of digits of every kind ------------------------------------------------------------------------
SEPARATORS = ["-", "/", ".", " ", "  ", "\t", "x", "(", ")", "_", "~", "[", "]", " - ", "--", "\u2013", "\u2014",
              "\u2212", "\u2010", "\u00a0", "\u2009", "\u202f", "\u3000", "\uff0d", "\uff0f", "\u2053"]
FIRST = ["19", "20", "0", "1", "2", "3", "4", "9", "18", "21", "31", "45"]
CONTEXT = ["", " ", "on ", "a", "(", "-", "1 ", "12-", "\u2014", ":", "T", "x", "+", "Phone: ", "\u200b", "\uff11"]


@st.composite
def chains(draw: st.DrawFn) -> str:
    """Digit groups joined by separators (dates, near-dates, numbers of every grouping) inside some context."""
    groups = []
    for _ in range(draw(st.integers(1, 5))):
        size = draw(st.integers(1, 6))
        digits = draw(st.sampled_from(FIRST)) + draw(st.text(alphabet="0123456789", min_size=size, max_size=size))
        groups.append(digits[:size])
    text = groups[0]
    for group in groups[1:]:
        text += draw(st.sampled_from(SEPARATORS)) + group
    if draw(st.booleans()):
        text = text.translate(str.maketrans("0123456789", "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18"
                                                          "\uff19"))
    return draw(st.sampled_from(CONTEXT)) + text + draw(st.sampled_from(CONTEXT))


@FAST
@given(chains())
def test_a_chain_a_phone_can_be_found_in_always_passes(text: str) -> None:
    assert_never_hidden(text)


def example_numbers() -> list[str]:
    """Example numbers of every region libphonenumber knows, as people write them: national and international
    formats, with each separator replaced by every kind of dash and space, and in full-width digits."""
    rng = random.Random(10)
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        number = phonenumbers.example_number(region)
        if number is None:
            continue
        for form in (phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL):
            written = phonenumbers.format_number(number, form)
            sep = rng.choice(SEPARATORS)
            out += [f"Call {written} today", f"tel:{written.replace(' ', sep).replace('-', sep)}",
                    written.replace(" ", "").replace("-", ""), written.translate(
                        str.maketrans("0123456789", "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19"))]
    return out


def test_the_example_numbers_of_every_region_pass() -> None:
    numbers = example_numbers()
    assert len(numbers) > 1500
    for text in numbers:
        assert_never_hidden(text)
    assert sum(1 for t in numbers if pii.find_pii(t)) > 1000  # found, so passing them matters


def test_the_decoy_and_disguised_corpus_passes() -> None:
    data = json.loads((ROOT / "tests/data/pii_decoys.json").read_text(encoding="utf-8"))
    texts = [x["text"] for x in data["decoys"]] + [x["text"] for x in data["disguised"]]
    assert len(texts) > 100
    for text in texts:
        assert_never_hidden(text)


def test_many_random_chains_never_miss() -> None:
    """20,000 chains of digits, separators and context characters: the prefilter says yes wherever
    `phone.possible` does (what `find_phones` requires), to no chain the 7-digit test it replaces said no to,
    and to (nearly) no chain that is no phone candidate."""
    rng = random.Random(3)
    pieces = ["0", "1", "2", "3", "4", "5", "9", "19", "20", "12", "31", "45", "99", "2024", "1999", "2100", "555",
              "0147", "123", "1234", "12345", "-", "/", ".", " ", "  ", "\t", "x", "(", ")", "[", "]", "~", "_",
              "\u2013", "\u2014", "\u00a0", "\u2009", "\u202f", " - ", "--", "a", "T", ":", ",", "\u2019", "\u20ac"]
    seven = re2.compile(pii._PREFILTER["phone"])
    candidates = extra = 0
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 14)))
        hit = PHONE.search(text) is not None
        if phone_possible(text):
            candidates += 1
            assert hit, text
        elif hit:
            extra += 1
        assert not hit or seven.search(text), text
    assert candidates > 5000 and extra <= 20


@given(st.sampled_from([
    ("Delivered on 2026-11-18.", False), ("on 2026/11/18 14 sharp", False), ("due 18.11.2026", False),
    ("on 2026\u201311\u201318", False), ("at 2026-11-18\t9", False), ("version 1.2.3.4", False),
    ("price $1,299.99", False), ("room 101, floor 12", False), ("12/05/23", False), ("2026-11", False),
    ("ref 2026-11-18-1", True), ("on 2026 11 18", True), ("12/05/202", True), ("on 2026-11-18 123", True),
    ("45-11-2026", True), ("2026-13-05", False), ("2026-23-05", True), ("2026-11-45", True), ("1826-11-18", True),
    ("18/11/2026 12 5", True), ("order 1234567", True), ("(245) 483-9612", True), ("203.0.113.42", True),
    ("2026-11-18  12", True), ("2026-11-18x1", True), ("2026\u00a011\u00a018", True)]))
def test_dates_are_not_phone_candidates_and_near_dates_are(case: tuple[str, bool]) -> None:
    text, candidate = case
    assert phone_possible(text) is candidate
    assert (PHONE.search(text) is not None) is candidate


def test_the_shipped_rule_lets_an_iso_date_through_no_more() -> None:
    no_pii = get_check("pii")
    prefilter = re2.compile(no_pii.prefilter(no_pii.prepare({"kinds": list(K6)})))
    assert prefilter.search("Your order shipped on 2026-11-18 and arrives by 2026-11-21.") is None
    assert prefilter.search("Your order shipped on 2026-11-18; call 202-555-0147.")
    assert prefilter.search("Mail jane@example.com by 2026-11-18.")


# --- the shipped prefilters, all in one set, on long texts ----------------------------------------------------
def shipped_patterns() -> list[str]:
    """Every prefilter of the shipped policies and eval cases (per-output and eval-case rules, inner rules)."""
    project = load_project(ROOT / "policies", ROOT / "evals")
    patterns: dict[str, None] = {}

    def visit(rule) -> None:  # type: ignore[no-untyped-def]
        check = get_check(rule.check)
        if check.prefilter is not None and (pattern := check.prefilter(rule.prepared)) is not None:
            patterns[pattern] = None
        if rule.inner is not None:
            visit(rule.inner)

    for policy in project.policies:
        for rule in policy.rules:
            visit(rule)
    for case in project.cases.values():
        for rule in case.expect:
            visit(rule)
    return list(patterns)


def long_texts() -> list[str]:
    rng = random.Random(7)
    words = ["the ", "2026-11-18 ", "12/05/2024 ", "v1.2.3 ", "call ", "x", "(", "-", "  ", "\u2013", "\u00a0",
             "203.0.113.7 ", "1234 ", "\n", "\u00e9", "\u4e2d", "7", "\U0001f600"]
    return ["".join(rng.choice(words) for _ in range(20_000))[:60_000],
            "".join(rng.choice("0123456789-/. x()_~\u2013\u00a0\t") for _ in range(60_000)),
            "".join(chr(rng.randrange(32, 0x3000)) for _ in range(60_000))]


def test_the_shipped_prefilters_answer_in_one_set_as_one_by_one_on_long_texts() -> None:
    """A set holding every shipped prefilter (the narrow phone test among them) answers a 60,000-character
    text, digits and separators only or any script, as each pattern searched alone does; a phone number
    planted at its end is found (RE2's DFA did not run out of memory and answer "none")."""
    scanner = prepare(load_project(ROOT / "policies", ROOT / "evals")).scanner
    every = shipped_patterns()
    assert len(every) > len(scanner.patterns) and pii.prefilter_pattern(K6) in every
    for patterns in (scanner.patterns, PatternSet(every)):
        singles = [re2.compile(p) for p in patterns.patterns]
        slot = patterns.patterns.index(pii.prefilter_pattern(K6))
        for text in long_texts():
            for t in (text, text + " or call 202-555-0147 now"):
                assert sorted(patterns.matches(t)) == [i for i, r in enumerate(singles) if r.search(t)]
            assert slot in patterns.matches(text + " or call 202-555-0147 now")
    one = pii._prefilter_re(frozenset(K6))  # `find_pii`'s own test of a non-ASCII text (a one-pattern set)
    for text in long_texts():
        assert one.test(text) == (re2.search(one.pattern, text) is not None)
        found = pii.find_pii(text + " or call 202-555-0147 now", K6)
        assert found and found[-1].value == "202-555-0147"


# --- case ids: `nothing_found` and `mask_many` -----------------------------------------------------------
NATIONAL = ["2015550123", "4155550123", "3101234", "3000001", "2079460958", "7700900123", "0000001", "1234567",
            "0110001", "0114420794", "18005550199", "2026-11-18", "20261118", "12/05/2024"]
ids = st.tuples(
    st.sampled_from(["gen-", "req-", "ticket ", "case_", "ORD-", "", "T", "x", "#", "(", "call ", "office ", "\t",
                     "mail ", "jane@example.com ", "\uff0b", "\u2013", "AKIA"]),
    st.one_of(st.text(alphabet="0123456789", min_size=0, max_size=18), st.sampled_from(NATIONAL)),
    st.sampled_from(["", "", "-a", "/2", "x12", " ext. 7", "#", ")", " home", "\t3", " 12", ".1.2.3"]),
).map("".join)


@FAST
@given(st.lists(ids, max_size=8))
def test_nothing_found_is_find_pii_finding_nothing(texts: list[str]) -> None:
    """`nothing_found` says True only where no detector finds anything (so `find_pii`, what `mask_text` asks,
    finds nothing), and `mask_many` gives `mask_text` of each text."""
    for text, clean in zip(texts, pii.nothing_found(texts), strict=True):
        if clean:  # every detector run, none skipped, finds nothing either
            assert pii._find(text, frozenset(pii.KINDS), "US", skip=False) == [], text
    assert mask_many(texts) == [mask_text(t) for t in texts]


@FAST
@given(ids, st.sampled_from(["US", "GB", "DE", "IN", "FR"]), st.booleans())
def test_find_pii_on_a_case_id_is_what_every_detector_finds(text: str, region: str, strict: bool) -> None:
    """`find_pii` answers a short ASCII text by its shape and digits where it can: what every detector finds."""
    found = [(m.start, m.end, m.kind, m.normalized) for m in pii.find_pii(text, region=region, strict=strict)]
    assert found == pii._find(text, frozenset(pii.KINDS), region, skip=False, strict=strict)


def test_case_ids_are_answered_by_shape_and_digits() -> None:
    """Ids of one shape ('gen-' and 7 digits) are answered by one look at the shape and their digits: a
    Canadian short number's shape ('3' and 6 digits) or an international prefix ('011' and a digit) still
    goes to the detector, which masks what it finds; a date is no phone number."""
    texts = [f"gen-{i:07d}" for i in range(1, 3001)] + ["gen-3000001", "gen-0114420794", "ticket 2015550123",
                                                        "gen-2026-11-18", "", "gen-\uff12\uff10\uff11555\uff10123"]
    pii._by_shape.cache_clear()
    clean = pii.nothing_found(texts)
    assert pii._by_shape.cache_info().misses <= 6
    assert all(clean[:3000]) and clean[-3:-1] == [True, True]
    assert mask_many(texts) == [mask_text(t) for t in texts]
    assert mask_many(["ticket 2015550123", "gen-0000001"]) == ["ticket ***-***-**23", "gen-0000001"]
    long = "gen-0000001 " * 6
    assert pii.nothing_found([long]) == [False] and mask_many([long]) == [long]  # past SHAPE_MAX_CHARS: asked


@FAST
@given(st.text(alphabet="0123456789", min_size=1, max_size=17), st.sampled_from(["US", "GB", "DE", "IN", "FR"]),
       st.sampled_from([phone._VALID, phone._POSSIBLE]))
def test_one_pattern_per_length_answers_as_each_part_tried(seq: str, region: str, leniency: int) -> None:
    """`phone._national` (one pattern for a number of digits) says a part is a national number exactly when
    trying each part against each general pattern of its length does."""
    plan = phone._plan(region, leniency)
    assert plan is not None
    tried = any(p.fullmatch(seq[a:a + size]) for size, patterns in plan[2].items()
                for a in range(len(seq) - size + 1) for p in patterns)
    national = phone._national(region, leniency, len(seq))
    assert (national is not None and national.match(seq) is not None) is tried
