"""The fast paths of the text layer give the answers of the slow ones.

`Regex.spans`, `first`, `whole` and `test` and `PatternSet.matches` call google-re2's extension objects
directly; `phone.possible` lets `find_pii` skip libphonenumber when every run of 7+ digits is a date; the
phone module asks RE2 (not Python's `re`) about phone words and layouts; validators keep their answers.
"""

from __future__ import annotations

import pickle

import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.text import phone, pii
from harness.text.regex import SET_MAX_CHARS, PatternSet, compile_pattern

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHAIN = ["1", "2", "0", "9", "4", "19", "20", "2026", "11", "18", "555", "0147", "-", "/", ".", " ", "  ", "\t",
         "x", "(", ")", "_", ",", "a", "call ", "Phone: ", "\u2013", "\u00a0", "+1 ", "office", "\u0663"]
chains = st.lists(st.sampled_from(CHAIN), max_size=20).map("".join)


@FAST
@given(chains)
def test_possible_is_false_only_when_find_phones_finds_nothing(text: str) -> None:
    """`possible` False means every digit chain is a date: no region, strictness or claimed spans find a phone."""
    for view in pii.fold_views(text):
        if not phone.possible(view.text):
            for region, strict in (("US", False), ("GB", True), ("DE", False)):
                assert phone.find_phones(view.text, region, [], strict=strict) == []


@FAST
@given(chains, st.booleans())
def test_find_pii_equals_the_unskipped_detectors_on_digit_chains(text: str, strict: bool) -> None:
    wanted = frozenset(pii.KINDS)
    found = [(m.start, m.end, m.kind, m.normalized) for m in pii.find_pii(text, strict=strict)]
    assert found == pii._find(text, wanted, "US", skip=False, strict=strict)


def test_dates_are_never_phone_candidates_and_a_phone_beside_one_is() -> None:
    assert not phone.possible("Your order 2026-11-18 ships on 18/11/2026 12.")
    assert phone.possible("Call 202-555-0147 before 2026-11-18.")
    assert pii.find_pii("Delivered on 2026-11-18 and 2026-11-19.") == []
    found = pii.find_pii("Delivered on 2026-11-18; call (245) 483-9612.")
    assert [(m.kind, m.value) for m in found] == [("phone", "(245) 483-9612")]


@FAST
@given(st.text(alphabet="ab-1 .\u00e9", max_size=30), st.integers(0, 35), st.integers(0, 35))
def test_direct_calls_answer_as_the_binding(text: str, pos: int, endpos: int) -> None:
    """Offsets, empty matches and pos/endpos clamping as `finditer`, `search` and `fullmatch` give them."""
    for pattern in ("a*", "b|-", r"[0-9]", r"\b", "(a)(b)?", r"[\pL]+"):
        p = compile_pattern(pattern)
        assert p.spans(text, pos, endpos) == [m.span() for m in p.finditer(text, pos, endpos)], pattern
        first = p.search(text, pos, endpos)
        assert p.first(text, pos, endpos) == (None if first is None else first.span()), pattern
        assert p.whole(text) == (p.fullmatch(text) is not None), pattern
        assert p.test(text) == (p.search(text) is not None), pattern


def test_pattern_set_answers_indices_and_an_empty_list() -> None:
    ps = PatternSet(["ssn", r"\d{3}", "caf\u00e9"])
    assert ps.matches("ssn 123 caf\u00e9") == [0, 1, 2]
    assert ps.matches("nothing here") == []
    assert PatternSet([]).matches("ssn") == []
    long = "x" * (SET_MAX_CHARS + 1) + "ssn"
    assert compile_pattern("ssn").test(long)  # past the set's limit: a plain search


def test_regex_and_pattern_set_pickle_as_their_patterns() -> None:
    p = compile_pattern(r"(?i)\bssn\b")
    assert p.test("my SSN") and p.spans("SSN") == [(0, 3)]  # programs built
    q = pickle.loads(pickle.dumps(p))
    assert q.pattern == p.pattern and q.spans("an ssn") == [(3, 6)] and q.test("SSN")
    ps = pickle.loads(pickle.dumps(PatternSet(["a", "b"])))
    assert ps.matches("b") == [1]


def test_allow_drops_a_finding_by_its_raw_or_folded_value() -> None:
    text = "write to support@acme.example or jane.doe@example.com or supp\u043ert@acme.example"
    allow = (compile_pattern(r"support@acme\.example"), re2.compile(r"support@acme\.example"))
    found = pii.find_pii(text, allow=allow[:1])
    assert [m.value for m in found] == ["jane.doe@example.com"]
    assert [m.value for m in pii.find_pii(text, allow=allow[1:])] == ["jane.doe@example.com"]
