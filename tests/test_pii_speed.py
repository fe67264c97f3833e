"""The fast paths of the personal-data detector give the answers of the slow ones.

`find_pii` skips a kind's detector when the kind's prefilter is absent (all of them tested in one `re2.Set`),
reads an ASCII text as bytes (Unicode classes in RE2's Latin-1 mode) and keeps libphonenumber's answers for
the windows it saw last. Texts built from personal-data-like fragments (digits with separators, '@', dots,
written-out addresses, Unicode digits and look-alikes, IBAN-like and key-like tokens, phone words, dates, tabs
and bidi controls) must give the same findings with every detector run, and the same matches through the
bytes path as through the `re2` binding's `str` path.
"""

from __future__ import annotations

import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.text import phone, pii
from harness.text.normalize import fold_views
from harness.text.regex import Regex, compile_pattern

FRAGMENTS = [
    "555", "0147", "202", "4111", "1111", "2024", "11", "18", "123", "45", "6789", "0", "7", "99", "4000",
    "-", ".", "/", "_", ",", " ", "  ", "\t", "\n", "*", "|", ":", "(", ")", "[", "]", " x ", "+1 ", "+44 ", " - ",
    "@", "[at]", " at ", " dot ", "[.]", " . ", "jane", "doe", "example", "com", "support@acme.example",
    "GB82", "WEST", "1234", "5698", "7654", "32", "gb82 west", "DE89 3704 0044 0532 0130 00",
    "AKIA", "IOSF", "ODNN7EXAMPLE", "ghp_", "sk-", "-----BEGIN", " PRIVATE KEY-----", "xoxb-",
    "203.0.113.42", "2001:db8::1", "::", "version ", "call me on ", "Phone: ", "(office)", "SSN ", "card ",
    "2026-11-18", "12/31/2024", "ORD-2024-118842",
    "\u0663", "\uff15", "\u0969", "\u043e", "\u0410", "\u2013", "\u2014", "\u2212", "\u00a0", "\u2009",
    "\u200b", "\u202e", "\u202c", "\u2066", "\u2069", "\u2019", "\u20ac", "\uff20", "\uff0e",
]
texts = st.lists(st.sampled_from(FRAGMENTS), max_size=24).map("".join)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def spans(found: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str, str]]:
    return sorted(found)


@FAST
@given(texts, st.sampled_from([pii.KINDS, ("phone",), ("email",), ("credit_card", "us_ssn"), ("iban",),
                               ("ip_address",), ("secret",)]), st.booleans())
def test_kind_prefilters_never_hide_a_finding(text: str, kinds: tuple[str, ...], strict: bool) -> None:
    """Every detector run (no kind skipped for lack of its prefilter) finds exactly what `find_pii` finds."""
    wanted = frozenset(kinds)
    skipped = pii._find(text, wanted, "US", skip=True, strict=strict)
    assert skipped == pii._find(text, wanted, "US", skip=False, strict=strict)
    reported = [(m.start, m.end, m.kind, m.normalized) for m in pii.find_pii(text, kinds, strict=strict)]
    assert reported == (skipped if reported else [])


@FAST
@given(texts)
def test_one_set_answers_as_each_kind_prefilter(text: str) -> None:
    for view in fold_views(text):
        assert pii._kinds_present(view.text) == {k for k in pii.KINDS if pii._KIND_RE[k].test(view.text)}


PATTERNS = [v for m in (pii, phone) for v in vars(m).values() if isinstance(v, Regex)]


@FAST
@given(texts, st.integers(0, 40))
def test_bytes_path_matches_the_str_path(text: str, pos: int) -> None:
    """`spans`, `first` and `whole` (ASCII text as bytes) give what `finditer`, `search` and `fullmatch` give."""
    for view in fold_views(text):
        t = view.text
        for p in PATTERNS:
            assert p.spans(t) == [m.span() for m in p.finditer(t)], p
            assert p.spans(t, pos) == [m.span() for m in p.finditer(t, pos)], p
            first = p.search(t, pos)
            assert p.first(t, pos) == (None if first is None else first.span()), p
            assert p.whole(t) == (p.fullmatch(t) is not None), p


def test_latin1_mode_reads_unicode_classes_on_ascii_text() -> None:
    """A pattern of Unicode classes (compiled in Latin-1 mode for ASCII text) still matches every ASCII letter
    and digit it should, and a non-ASCII text goes through the UTF-8 pattern."""
    email = compile_pattern(r"[\pL\pN_%+\-][\pL\pN._%+\-]{0,63}@(?:[\pL\pN](?:[\pL\pN\-]{0,61}[\pL\pN])?\.)+\pL{2,63}")
    assert email.spans("write to Jane_Doe9@mail.example.com now") == [(9, 9 + len("Jane_Doe9@mail.example.com"))]
    assert email.spans("write to jos\u00e9@caf\u00e9.fr now") == [(9, 9 + len("jos\u00e9@caf\u00e9.fr"))]
    assert email.first("no address here") is None
    dash = compile_pattern(r"[0-9][\p{Pd}\x{2212}][0-9]")  # beyond Latin-1: compiled in UTF-8 mode for bytes
    assert dash.spans("1-2 and 3\u22124") == [(0, 3), (8, 11)]
    assert dash.spans("1-2 and 3-4") == [(0, 3), (8, 11)]
    word = compile_pattern(r"(?i)\bssn\b")
    assert word.whole("SSN") and not word.whole("ssns")


def test_allow_takes_a_regex_or_any_pattern_object() -> None:
    text = "write to support@acme.example or to jane.doe@example.com"
    for allow in ([compile_pattern(r"support@acme\.example")], [re2.compile(r"support@acme\.example")]):
        assert [m.value for m in pii.find_pii(text, allow=allow)] == ["jane.doe@example.com"]


def test_phone_results_do_not_depend_on_what_was_seen_before() -> None:
    """libphonenumber's answers are kept per window; a number is found the same with the cache cold or warm."""
    text = "Please call me on 020 7946 0958 or at +1 202-555-0139 (office); order 2026-11-18."
    phone._matcher.cache_clear()
    cold = pii.find_pii(text, region="GB")
    warm = pii.find_pii(text, region="GB")
    assert cold == warm and [m.kind for m in cold] == ["phone", "phone"]
    assert pii.find_pii(text, region="US") != [] and phone._matcher.cache_info().hits > 0


# --- libphonenumber is not asked about a case id it cannot match (`phone._hopeless`) --------------------
REGIONS = ["US", "GB", "DE", "IN", "FR"]
#: national numbers of those plans (valid ones among them), and numbers of other lengths
NATIONAL = ["2015550123", "4155550123", "3101234", "3000001", "2079460958", "7700900123", "1214960123",
            "30123456", "15123456789", "8912345", "7410410123", "9812345678", "612345678", "123456789",
            "0000001", "1234567", "0110001", "0010001", "000000000000001", "18005550199"]
id_prefixes = st.sampled_from(["gen-", "req-", "ticket ", "case_", "ORD-", "id:", "", "T", "x", "ext", "#", "(",
                               "call ", "phone: ", "office ", "text me at ", "int-", "run/", "\uff0b"])
id_bodies = st.one_of(
    st.text(alphabet="0123456789", min_size=7, max_size=15),
    st.sampled_from(NATIONAL),
    st.tuples(st.sampled_from(["+", "011", "00", "0", "1", "44", "49", "91", "33", "\uff0b"]),
              st.sampled_from(NATIONAL)).map("".join),
    st.tuples(st.sampled_from(NATIONAL), st.sampled_from([" ", "-", ".", "  ", "/", "\t"]), st.integers(2, 4)).map(
        lambda x: x[1].join(x[0][i:i + x[2]] for i in range(0, len(x[0]), x[2]))),
    st.text(alphabet="0123456789\u0663\uff15", min_size=7, max_size=12))
id_suffixes = st.sampled_from(["", "", "-a", "/2", "x12", " ext. 7", "#", "-2024", ")", " (office)", " home", "~3",
                               ";ext=4", " 12", " 555 0147"])
case_ids = st.tuples(id_prefixes, id_bodies, id_suffixes).map("".join)


def unchecked(call):  # type: ignore[no-untyped-def]
    """`call()` with libphonenumber asked every time (the internal switch off)."""
    phone.PRECHECK = False
    try:
        return call()
    finally:
        phone.PRECHECK = True


@FAST
@given(case_ids, st.sampled_from(REGIONS), st.sampled_from([phone._VALID, phone._POSSIBLE]))
def test_a_precheck_that_says_hopeless_is_right(text: str, region: str, leniency: int) -> None:
    """Whenever `_hopeless` spares libphonenumber the question, libphonenumber would have found nothing, in the
    text and (`within`) in every part of it that the detector may ask about."""
    if phone._hopeless(text, region, leniency):
        assert phone._matcher(text, region, leniency) == ()
    if phone._hopeless(text, region, leniency, within=True):
        for s in range(len(text)):
            assert phone._matcher(text[s:], region, leniency) == ()
            assert phone._matcher(text[:s + 1], region, leniency) == ()


@FAST
@given(case_ids, st.sampled_from(REGIONS), st.booleans())
def test_prechecked_ids_give_what_libphonenumber_gives(text: str, region: str, strict: bool) -> None:
    """`find_pii` (every kind) finds the same with the precheck as when libphonenumber is asked every time."""
    found = pii.find_pii(text, region=region, strict=strict)
    assert found == unchecked(lambda: pii.find_pii(text, region=region, strict=strict))


def test_a_case_id_is_answered_without_libphonenumber() -> None:
    """'gen-0000001' (7 digits: no national number of the US plan, no Canadian short number) is no phone number
    and libphonenumber is not asked; 'ticket 2015550123' is still found, and masked, as one."""
    from harness.text.mask import mask_many

    phone._matcher.cache_clear()
    ids = [f"gen-{i:07d}" for i in range(1, 200)]
    assert mask_many(ids) == ids
    assert phone._matcher.cache_info().misses < 10  # only ids with '011' and a digit (an international prefix)
    assert phone._hopeless("gen-0000001", "US", phone._VALID)
    assert not phone._hopeless("gen-3000001", "US", phone._VALID)  # a Canadian short number's shape
    assert not phone._hopeless("gen-0114420794", "US", phone._VALID)  # '011 44 ...': a London number
    assert [(m.kind, m.value) for m in pii.find_pii("ticket 2015550123")] == [("phone", "2015550123")]
    assert mask_many(["ticket 2015550123", "gen-0000001"]) == ["ticket ***-***-**23", "gen-0000001"]
    assert unchecked(lambda: mask_many(ids)) == ids
