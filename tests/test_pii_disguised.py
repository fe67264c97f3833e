"""Disguised personal data and blocklist evasion (issue #7): each attack reproduced, found, masked.

Detection runs on a folded view of the output (zero-width and bidi controls removed, overrides in the
order a reader sees, look-alike letters folded, digits grouped by any separator); every span must
still slice the original text to the disguised value itself. Masks are made from the folded value,
so a right-to-left override cannot turn a mask into the reversed address. Any excerpt of any rule is
masked by the same detector, in every report format.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import re2
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stdnum import iban as stdnum_iban

from harness.api import run_gate
from harness.checks import all_checks, get_check
from harness.clock import FixedClock
from harness.io.schema import compose
from harness.model import Finding
from harness.outputs import records_from_dicts
from harness.report import render
from harness.report.renderers import BUILTIN_FORMATS
from harness.text import pii
from harness.text.mask import mask_match, mask_text
from harness.text.normalize import _levels, fold, fold_views, normalize, one_line, original_span, printable
from harness.text.pii import KINDS, find_pii, prefilter_pattern

DATA = json.loads((Path(__file__).parent / "data" / "pii_decoys.json").read_text(encoding="utf-8"))
ZW, RLO, PDF = "\u200b", "\u202e", "\u202c"
RLE, LRE, LRI, RLI, PDI = "\u202b", "\u202a", "\u2066", "\u2067", "\u2069"
DEEPEST = (RLE + LRE) * 62 + RLO  # embeddings up to level 124, then an override at 125, the maximum depth


def run(name: str, options: Mapping[str, Any], output: str) -> list[Finding]:
    """Run the check ``name`` with ``options`` on one output, as the engine does."""
    chk = get_check(name)
    record = records_from_dicts([{"case_id": "c1", "output": output}]).records[0]
    return list(chk.fn(chk.prepare(options), record, None))


# --- the disguises of the issue: found, and spans slice the original to the disguised value -----

ISSUE_DISGUISES = [
    ("zero-width-in-email-domain", "email", f"mail jane@exa{ZW}mple.com now", f"jane@exa{ZW}mple.com"),
    ("zero-width-in-aws-key", "secret", f"key AKIAIOSF{ZW}ODNN7EXAMPLE here", f"AKIAIOSF{ZW}ODNN7EXAMPLE"),
    ("card-with-dots", "credit_card", "card 4111.1111.1111.1111 ok", "4111.1111.1111.1111"),
    ("card-with-slashes", "credit_card", "card 4111/1111/1111/1111 ok", "4111/1111/1111/1111"),
    ("card-one-digit-at-a-time", "credit_card", "card 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 ok",
     "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"),
    ("card-with-double-spaces", "credit_card", "card 4111  1111  1111  1111 ok", "4111  1111  1111  1111"),
    ("ssn-with-dots", "us_ssn", "SSN 123.45.6789 ok", "123.45.6789"),
    ("email-with-dot-and-at-words", "email", "write to jane dot doe at example dot com today",
     "jane dot doe at example dot com"),
    ("email-with-bracketed-at", "email", "write to jane.doe[at]example.com today", "jane.doe[at]example.com"),
    ("email-behind-rtl-override", "email", f"write to {RLO}moc.elpmaxe@eod.enaj{PDF} today", "moc.elpmaxe@eod.enaj"),
    ("aws-key-with-cyrillic-a", "secret", "key \u0410KIAIOSFODNN7EXAMPLE here", "\u0410KIAIOSFODNN7EXAMPLE"),
    ("email-with-cyrillic-e", "email", "mail jane@\u0435xample.com now", "jane@\u0435xample.com"),
]


@pytest.mark.parametrize(("kind", "text", "value"), [c[1:] for c in ISSUE_DISGUISES],
                         ids=[c[0] for c in ISSUE_DISGUISES])
def test_disguised_personal_data_is_found_where_it_is(kind: str, text: str, value: str) -> None:
    found = find_pii(text)
    assert [(m.kind, m.value) for m in found] == [(kind, value)]
    assert text[found[0].start:found[0].end] == value
    assert re2.search(prefilter_pattern([kind]), text)  # the engine's prefilter lets it through
    assert run("pii", {}, text)[0].kind == kind


@pytest.mark.parametrize("item", DATA["disguised"], ids=[f"{d['kind']}:{d['value'][:24]}" for d in DATA["disguised"]])
def test_every_disguised_value_of_the_benchmark_set_is_found(item: dict[str, str]) -> None:
    text, value = item["text"], item["value"]
    spans = [(m.kind, text[m.start:m.end]) for m in find_pii(text)]
    assert (item["kind"], value) in spans


@pytest.mark.parametrize("decoy", DATA["decoys"], ids=[f"{d['what']}:{d['text'][:24]}" for d in DATA["decoys"]])
def test_decoys_are_not_personal_data(decoy: dict[str, Any]) -> None:
    assert [(m.kind, m.value) for m in find_pii(decoy["text"]) if m.kind not in decoy["allowed"]] == []


def test_written_out_addresses_need_more_than_the_words_at_and_dot() -> None:
    assert find_pii("Visit us at example dot com, or look at this dot com.") == []
    assert find_pii("meet at the dot at noon") == []
    assert [m.value for m in find_pii("ask Jane at example dot com")] == ["Jane at example dot com"]
    assert [m.value for m in find_pii("jane (at) example (dot) org")] == ["jane (at) example (dot) org"]


def test_dotted_and_slashed_numbers_are_cards_only_as_a_whole_luhn_valid_chain() -> None:
    assert find_pii("lot 4111.1111.1111.1111.7") == []  # a longer dotted chain: not a card
    assert find_pii("card 4111.1111.1111.1112") == []  # Luhn fails
    assert find_pii("ref 4111.111 1111-11111") == []  # mixed separators: only in the 4-4-4-4 layout
    assert [m.value for m in find_pii("card 4111.1111 1111-1111")] == ["4111.1111 1111-1111"]
    assert find_pii("ref 4111,\n1111,\n1111,\n1111") == []  # a column or list: only next to a card word
    assert [m.value for m in find_pii("card 4111,\n1111,\n1111,\n1111")] == ["4111,\n1111,\n1111,\n1111"]
    assert find_pii("release 100.20.3000") == []  # an SSN-shaped version


# --- looser disguises: read where a reader reads personal data, with the guards that keep precision ----

LOOSER = [
    # (id, the value, a text with it and no word that makes it personal data, one with that word)
    ("card-in-pairs", "41 11 11 11 11 11 11 11", "numbers {} drawn", "card {} on file"),
    ("card-in-threes", "411 111 111 111 1111", "numbers {} drawn", "card {} on file"),
    ("card-two-eights", "41111111 11111111", "batch {} done", "card {} on file"),
    ("card-amex-with-stars", "3782*822463*10005", "code {} done", "visa {} on file"),
    ("card-pipes-with-spaces", "4111 | 1111 | 1111 | 1111", "row | {} |", "card | {} |"),
    ("ssn-colons", "536:90:4399", "ratio {} by weight", "SSN {} on file"),
    ("ssn-zip-layout", "53690-4399", "ZIP code {} here", "SSN {} on file"),
    ("ssn-three-six", "536-904399", "order {} shipped", "SSN {} on file"),
    ("ssn-three-spaces", "536   90   4399", "columns {} here", "SSN {} on file"),
    ("ssn-tabs", "536\t90\t4399", "score\t{}", "SSN\t{} on file"),
    ("aws-key-asia-in-groups", "ASIA Y34F ZKBO KMUT VV7A", "{} done", "aws key {} done"),
    ("aws-key-akia-without-digits", "AKIA IOSF ODNN EXAM PLEQ", "{} done", "secret {} done"),
]


@pytest.mark.parametrize(("value", "plain", "worded"), [c[1:] for c in LOOSER], ids=[c[0] for c in LOOSER])
def test_looser_layouts_are_personal_data_only_next_to_their_word(value: str, plain: str, worded: str) -> None:
    assert find_pii(plain.format(value)) == []
    assert [m.value for m in find_pii(worded.format(value))] == [value]
    assert value not in mask_text(worded.format(value))


def test_odd_separators_make_a_card_only_as_the_whole_four_groups() -> None:
    assert [m.value for m in find_pii("use 4111*1111*1111*1111 today")] == ["4111*1111*1111*1111"]
    assert [m.value for m in find_pii("use (4111) 1111 1111 1111 today")] == ["(4111) 1111 1111 1111"]
    assert mask_text("use 4111 x 1111 x 1111 x 1111 today") == "use **** **** **** 1111 today"
    # Luhn-valid, but 4-4-4-4-2 (a product code) or joined on by another separator: not a card on its own
    assert find_pii("Product code 3039*8259*7919*0748*36 in stock") == []
    assert find_pii("use 4111*1111*1111*1111-22 today") == []
    # times are groups of two joined by ':' and ' ' in turn: no run of one separator is a card, word or not
    assert find_pii("Card reader log: 12:30:45 12:31:02 12:31:45") == []
    # a printed card next to a disguised one: both
    assert [m.value for m in find_pii("card 4111 1111 1111 1111 and 4111|1111|1111|1111")] == [
        "4111 1111 1111 1111", "4111|1111|1111|1111"]


def test_an_ssn_with_spaces_around_its_dashes_needs_no_word() -> None:
    assert [m.value for m in find_pii("her number is 536 - 90 - 4399 ok")] == ["536 - 90 - 4399"]
    assert mask_text("her number is 536 - 90 - 4399 ok") == "her number is ***-**-4399 ok"


@pytest.mark.parametrize(("text", "found"), [
    ("host 203.000.113.042 flagged", ["203.000.113.042"]),
    ("host 203.0.113.042 flagged", ["203.0.113.042"]),
    ("Upgrade 1.02.003.0004 fixes the crash.", []),
    ("firmware 01.02.03.04 here", []),  # an octet padded to two digits: a version or a date
    ("section 010.020.030.040 here", []),  # a padded first octet: a section number
    ("host 203.000.113.256 flagged", []),
], ids=["all-padded", "one-padded", "version", "two-digit-padding", "padded-first-octet", "octet-too-big"])
def test_ipv4_octets_padded_to_three_digits_are_read_as_numbers(text: str, found: list[str]) -> None:
    assert [m.value for m in find_pii(text)] == found
    if found:
        assert mask_text(text) == "host 203.*.*.* flagged"


@pytest.mark.parametrize(("text", "value"), [
    ("IBAN GB82 West 1234 5698 7654 32 please", "GB82 West 1234 5698 7654 32"),
    ("IBAN Gb82WEST12345698765432 please", "Gb82WEST12345698765432"),
    ("IBAN GB82  WEST  1234  5698  7654  32 please", "GB82  WEST  1234  5698  7654  32"),
    ("IBAN GB82\tWEST\t1234\t5698\t7654\t32 please", "GB82\tWEST\t1234\t5698\t7654\t32"),
], ids=["mixed-case", "mixed-case-compact", "double-spaces", "tabs"])
def test_ibans_in_mixed_case_or_wide_gaps_are_found_and_masked(text: str, value: str) -> None:
    assert [(m.kind, m.value) for m in find_pii(text)] == [("iban", value)]
    assert mask_text(text) == "IBAN GB** **** 5432 please"


def test_a_random_case_token_that_validates_as_an_iban_is_not_one() -> None:
    token = "Qa09bBzNHhsK4hfQLnopMXYGT0d0p"
    assert stdnum_iban.is_valid(token.upper())  # the checksum and the format hold, case-insensitively
    assert find_pii(f"session token {token} expired") == []
    assert find_pii("gB82wEsT12345698765432") == []


def test_phone_numbers_with_tabs_but_not_the_numbers_of_a_row() -> None:
    text = "Jane Roe, 245\t483\t9612 after six"
    assert [m.value for m in find_pii(text)] == ["245\t483\t9612"]
    assert mask_text(text) == "Jane Roe, ***-***-**12 after six"
    assert find_pii("Counts:\t245\t483\t9612\t17") == []


@pytest.mark.parametrize(("text", "value"), [
    ("mail jane.doe[@]example[.]com now", "jane.doe[@]example[.]com"),
    ("mail jane.doe(@)example(.)com now", "jane.doe(@)example(.)com"),
    ("mail jane . doe @ example . com now", "jane . doe @ example . com"),
    ("mail jane at example[.]com now", "jane at example[.]com"),
], ids=["defanged", "defanged-round", "spaced", "bare-at-bracketed-dot"])
def test_defanged_and_spaced_addresses_are_read_as_addresses(text: str, value: str) -> None:
    (match,) = find_pii(text)
    assert (match.kind, match.value) == ("email", value)
    assert mask_text(text) == "mail j***@example.com now"
    assert re2.search(prefilter_pattern(["email"]), text)


def test_a_dot_with_spaces_around_it_may_end_a_sentence() -> None:
    assert [m.value for m in find_pii("Mail me: jane @ example.com . Thanks!")] == ["jane @ example.com"]
    # with a bare ' at ', a spaced dot is prose: never an address (and the prefilter agrees)
    text = "It was late . Jane at home . it was cold."
    assert find_pii(text) == [] and pii._find(text, frozenset(KINDS), "US", skip=False) == []


BLANKS = {"braille-blank": "\u2800", "hangul-filler": "\u3164", "hangul-choseong-filler": "\u115f",
          "hangul-jungseong-filler": "\u1160", "halfwidth-hangul-filler": "\uffa0"}


@pytest.mark.parametrize("blank", BLANKS.values(), ids=BLANKS.keys())
def test_characters_that_show_as_a_blank_fold_to_nothing(blank: str) -> None:
    assert fold(f"exam{blank}ple").text == "example"
    text = f"mail jane.doe@exam{blank}ple.com now"
    (match,) = find_pii(text)
    assert match.value == f"jane.doe@exam{blank}ple.com"
    assert match.normalized == "jane.doe@example.com"
    assert mask_text(text) == "mail j***@example.com now"


@pytest.mark.parametrize(("text", "value"), [
    ("key AKIA-IOSF-ODNN-7EXA-MPLE here", "AKIA-IOSF-ODNN-7EXA-MPLE"),
    ("use AKIA IOSF ODNN 7EXA MPLE here", "AKIA IOSF ODNN 7EXA MPLE"),
    ("use AKIA-IOSFODNN7EXAMPLE here", "AKIA-IOSFODNN7EXAMPLE"),
    ("aws key_AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE"),
], ids=["dashes", "spaces", "after-prefix", "glued-after-underscore"])
def test_split_and_glued_aws_keys_are_found(text: str, value: str) -> None:
    assert [(m.kind, m.value) for m in find_pii(text)] == [("secret", value)]
    assert "IOSF" not in mask_text(text)
    assert re2.search(prefilter_pattern(["secret"]), text)


def test_capitals_after_asia_are_no_aws_key() -> None:
    assert find_pii("ASIA 2024 TOUR DATE SOON") == []
    assert find_pii("SOUTHEAST ASIA WILL HOST MORE GAME") == []
    assert find_pii("xAKIA-IOSF-ODNN-7EXA-MPLE") == []  # glued to a letter


@pytest.mark.parametrize(("text", "found"), [
    ("4 " * 100_000, []),
    ("\u202b\u202a" * 62 + "\u202e" + "abc def " * 25_000, []),
    ("".join("\u202b\u202a"[i % 2] + "x" for i in range(125)) + "a\u202eb\u202c" * 50_000, []),
    ("(245) 483-9612 " * 48_000, [("phone", "(245) 483-9612")] * 48_000),
    ("jane dot doe at example dot com; " * 16_000, [("email", "jane dot doe at example dot com")] * 16_000),
    ("4111 1111 1111 1111; " * 24_000, [("credit_card", "4111 1111 1111 1111")] * 24_000),
    ("4111|1111|1111|1111 " * 24_000, [("credit_card", "4111|1111|1111|1111")] * 24_000),
    ("12:30:45 " * 100_000, []),
], ids=["spaced-digits", "nested-embeddings", "staircase-then-alternating-overrides", "phone-numbers",
        "written-out-addresses", "cards", "cards-with-pipes-in-one-chain", "times-in-one-chain"])
@pytest.mark.timeout(60)
def test_long_hostile_texts_are_read_in_linear_time(text: str, found: list[tuple[str, str]]) -> None:
    # a quadratic reading (a check of each match against every match before it, a search from each
    # match's offset) runs into the timeout; every value is found, and a card hidden at the end too
    tail = f" card 4111.1111.1111.1111 {RLO}kill{PDF}"
    assert [(m.kind, m.value) for m in find_pii(text + tail)] == [*found, ("credit_card", "4111.1111.1111.1111")]
    assert len(run("blocklist", {"words": ["kill", "llik"]}, text + tail)) == 1


# --- phone numbers in a phone format -----------------------------------------------------------

UNASSIGNED = ["(245) 483-9612", "+1 627-875-4626", "871.417.1827", "245-483-9612", "(123) 456-7890"]


@pytest.mark.parametrize("number", UNASSIGNED)
def test_a_number_in_a_phone_format_is_reported_even_with_an_unassigned_area_code(number: str) -> None:
    text = f"Jane Roe, {number}, after six"
    assert [(m.kind, m.value) for m in find_pii(text)] == [("phone", number)]
    assert [f.kind for f in run("pii", {"kinds": ["phone"]}, text)] == ["phone"]


@pytest.mark.parametrize("number", UNASSIGNED)
def test_strict_reports_only_numbers_libphonenumber_finds_valid(number: str) -> None:
    text = f"Jane Roe, {number}, after six"
    assert find_pii(text, strict=True) == []
    assert run("pii", {"kinds": ["phone"], "strict": True}, text) == []
    valid = "Jane Roe, (201) 555-0123, after six"
    assert [m.value for m in find_pii(valid, strict=True)] == ["(201) 555-0123"]


@pytest.mark.parametrize(("text", "number", "strict"), [
    ("Can someone call me on 450 0840?", "450 0840", []),  # of a possible length, valid in no plan
    ("Phone: (000) 483-9612", "(000) 483-9612", []),
    ("Phone: +1 627-875-4626", "+1 627-875-4626", []),
    ("Phone: (201) 555-0123", "(201) 555-0123", ["(201) 555-0123"]),  # valid in the region
    ("Phone: 0490 75 40 81", "0490 75 40 81", ["0490 75 40 81"]),  # valid in Australia, France, ...
    # (245) is no North American area code, but the number is valid in Mexico, Brazil and China
    ("Phone: (245) 483-9612", "(245) 483-9612", ["(245) 483-9612"]),
], ids=["possible-only", "nanp-layout-possible-only", "plus-country-possible-only", "valid-in-the-region",
        "valid-in-another-plan", "valid-in-mexico"])
def test_strict_next_to_a_phone_word_reports_only_numbers_valid_in_some_plan(
        text: str, number: str, strict: list[str]) -> None:
    assert [m.value for m in find_pii(text)] == [number]
    assert [m.value for m in find_pii(text, strict=True)] == strict
    assert [text[f.start:f.end] for f in run("pii", {"kinds": ["phone"], "strict": True}, text)] == strict


def test_the_strict_option_is_in_the_policy_schema() -> None:
    pii_def = compose(all_checks())["policy"]["$defs"]["check_pii"]["properties"]["strict"]
    assert pii_def["type"] == "boolean" and pii_def["default"] is False


def test_phone_formats_glued_to_codes_are_not_phone_numbers() -> None:
    assert find_pii("order ORD-2024-118842 and SKU 100-200-3000") == []
    assert find_pii("id 9871.417.1827 and x871.417.1827") == []


# --- masks are made from the normalised text --------------------------------------------------

@pytest.mark.parametrize("hidden", [
    f"{RLO}moc.elpmaxe@eod.enaj{PDF}",
    f"{RLO}{PDI}moc.elpmaxe@eod.enaj{PDF}",  # a PDI with no isolate open does nothing (rule X6a)
    f"{RLO}{LRI}{PDF}{PDI}moc.elpmaxe@eod.enaj{PDF}",  # a PDF in an isolate closes nothing outside it (X7)
    f"{DEEPEST}{RLO}{PDF}moc.elpmaxe@eod.enaj{PDF}",  # the PDF closes the embedding past the maximum depth
    f"{DEEPEST}{RLI}{PDI}moc.elpmaxe@eod.enaj{PDF}",  # the PDI closes the isolate past the maximum depth
], ids=["override", "unmatched-pdi", "pdf-inside-an-isolate", "pdf-past-the-maximum-depth",
        "pdi-past-the-maximum-depth"])
def test_an_email_behind_an_rtl_override_is_masked_as_a_reader_sees_it(hidden: str) -> None:
    text = f"write to {hidden} today"
    (match,) = find_pii(text)
    assert match.value == "moc.elpmaxe@eod.enaj"
    assert match.normalized == "jane.doe@example.com"
    assert mask_match(match) == "j***@example.com"  # not 'm***@eod.enaj', which reads 'jane.doe' reversed
    (finding,) = run("pii", {}, text)
    assert finding.masked == "j***@example.com"
    masked = mask_text(text)
    assert masked == "write to j***@example.com today"  # the override is dropped with the address


@pytest.mark.parametrize(("text", "mask"), [
    ("jane dot doe at example dot com", "j***@example.com"),
    (f"jane@exa{ZW}mple.com", "j***@example.com"),
    ("jane@\u0435xample.com", "j***@example.com"),
    ("\u0410KIAIOSFODNN7EXAMPLE", "AKIA****"),
    ("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "**** **** **** 1111"),
    ("SSN 123.45.6789", "SSN ***-**-6789"),
], ids=["spelled-email", "zero-width-email", "cyrillic-email", "cyrillic-aws-key", "spaced-card", "dotted-ssn"])
def test_masks_hide_disguised_values(text: str, mask: str) -> None:
    assert mask_text(text) == mask


# --- the blocklist sees through the same disguises ---------------------------------------------

BLOCKED = [
    ("rtl-override-around-a-word", ["kill"], f"I will {RLO}llik{PDF} it", "llik"),
    ("cyrillic-look-alike", ["kill"], "I will k\u0456ll it", "k\u0456ll"),
    ("cyrillic-capital-look-alike", ["kill"], "I WILL K\u0406LL IT", "K\u0406LL"),
    ("combining-accent", ["kill"], "I will ki\u0301ll it", "ki\u0301ll"),
    ("combining-accent-at-the-end", ["kill"], "I will kill\u0301 it", "kill\u0301"),
    ("hyphen-between-words", ["bomb recipe"], "a bomb-recipe here", "bomb-recipe"),
    ("underscore-between-words", ["bomb recipe"], "a bomb_recipe here", "bomb_recipe"),
    ("underscores-around-a-word", ["kill"], "how_to_kill_time", "kill"),
    ("hyphenated-phrase-written-apart", ["self-harm"], "about self harm", "self harm"),
]


@pytest.mark.parametrize(("words", "text", "value"), [b[1:] for b in BLOCKED], ids=[b[0] for b in BLOCKED])
def test_the_blocklist_sees_through_disguises(words: list[str], text: str, value: str) -> None:
    (finding,) = run("blocklist", {"words": words}, text)
    assert text[finding.start:finding.end] == value
    assert re2.search(get_check("blocklist").prefilter(get_check("blocklist").prepare({"words": words})), text)


def test_a_word_stored_in_order_behind_an_override_is_found_too() -> None:
    # displayed reversed ("llik") but a program reading the text sees "kill"
    text = f"I will {RLO}kill{PDF} it"
    assert [text[f.start:f.end] for f in run("blocklist", {"words": ["kill"]}, text)] == ["kill"]


def test_the_blocklist_keeps_its_word_boundaries() -> None:
    assert run("blocklist", {"words": ["kill"]}, "a sk\u0456ll issue, killer whale") == []


# --- the folded view and its offsets -----------------------------------------------------------

@pytest.mark.parametrize(("text", "seen"), [
    (f"{RLO}moc.elpmaxe{PDF}", "example.com"),
    ("x \u202bjane@x.com\u202c y", "x jane@x.com y"),  # an embedding does not reverse left-to-right text
    ("ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "jane@example.com"),
    ("caf\u00e9 ki\u0301ll", "cafe kill"),
    ("\u0661\u0662\u0663", "123"),
    (f"a{ZW}b\u00adc\u2060d", "abcd"),
], ids=["override", "embedding", "full-width", "accents", "arabic-indic-digits", "invisible"])
def test_fold_shows_what_a_reader_sees(text: str, seen: str) -> None:
    view = fold(text)
    assert view.text == seen
    start, end = view.span(0, len(view.text))
    assert text[start:end].strip("\u202a\u202b\u202c\u202d\u202e") == text.strip("\u202a\u202b\u202c\u202d\u202e")


def test_folded_spans_slice_the_original_inside_a_reversed_run() -> None:
    text = f"mail {RLO}moc.elpmaxe@eod.enaj{PDF}."
    view = fold(text)
    at = view.text.index("example")
    start, end = view.span(at, at + len("example"))
    assert text[start:end] == "elpmaxe"


def test_an_empty_span_maps_to_an_empty_span_where_it_stands_in_the_original() -> None:
    text = f"a{ZW}b\u0301{ZW}"
    view = fold(text)
    assert view.text == "ab"
    # before the character a reader sees there; at the end, where a span up to the end ends (its accent too)
    assert [view.span(i, i) for i in range(3)] == [(0, 0), (2, 2), (4, 4)]
    assert [view.span(i, i)[0] for i in range(2)] == [view.span(i, 2)[0] for i in range(2)]
    assert view.span(2, 2)[1] == view.span(0, 2)[1]
    seen = fold(f"mail {RLO}moc.elpmaxe{PDF}.")
    at = seen.text.index("example")
    assert seen.span(at, at) == (seen.source.index("elpmaxe") + 6,) * 2  # the 'e' a reader sees first
    folded, offsets = normalize(text)
    assert folded == "ab"
    # normalize's spans stop at the last character read, so its empty span at the end does too
    assert [original_span(offsets, i, i) for i in range(3)] == [(0, 0), (2, 2), (3, 3)]
    assert [original_span(offsets, i, i)[0] for i in range(2)] == [original_span(offsets, i, 2)[0] for i in range(2)]
    assert original_span(offsets, 2, 2)[1] == original_span(offsets, 0, 2)[1]
    assert fold(ZW).span(0, 0) == original_span(normalize(ZW)[1], 0, 0) == (0, 0)


@pytest.mark.parametrize("char", ["\u200e", "\u200f", "\u061c", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"],
                         ids=["lrm", "rlm", "alm", "zwsp", "zwnj", "zwj", "word-joiner", "bom"])
def test_printable_neutralises_bidi_marks_and_zero_width_characters(char: str) -> None:
    # like the embeddings, overrides and isolates: a mark reorders what a terminal shows, an invisible
    # character hides inside a word a reader then cannot search for
    assert printable(f"ok {char}evil{char} done") == "ok \ufffdevil\ufffd done"
    assert one_line(f"a{char}\nb") == "a\ufffd\\nb"


def test_a_text_is_searched_in_stored_order_too_when_controls_reorder_it() -> None:
    text = f"{RLO}jane@example.com{PDF}"
    assert [v.text for v in fold_views(text)] == ["moc.elpmaxe@enaj", "jane@example.com"]
    assert [m.normalized for m in find_pii(text)] == ["jane@example.com"]  # only the stored order is an address
    assert "jane" not in mask_text(text) and "enaj" not in mask_text(text)


def test_the_characters_the_prefilter_lets_pass_unfolded_fold_to_nothing_a_detector_reads() -> None:
    # the raw-text prefilter treats these as their folded forms: spaces and dashes (which its patterns
    # accept wherever they accept ' ' and '-'), apostrophes, or characters that stay non-ASCII
    for char in pii.HARMLESS:
        folded = fold(char).text
        assert folded in (" ", "-", "'") or not folded.isascii(), repr(char)


# --- properties ---------------------------------------------------------------------------------

DISGUISE_FRAGMENTS = [
    ZW, RLO, PDF, "\u202d", "\u2066", "\u2069", f"{RLO}{PDI}", "\u00ad", "\u0301", "\u0456", "\u0406", "\u0410",
    "\u0435", "\uff20", "\u2024", "\u2236", " dot ", " at ", "[at]", "(dot)", "@", ".", "/", "  ", " ", "-", "4111",
    "1111", "123", "45", "6789", "(245) ", "483-9612", "+1 ", "jane", "example", "com", "AKIA", "IOSFODNN7EXAMPLE",
    "SSN ", "\u2019", "\u2014", "\u00a0", "\u2022", "\u20ac",
]
disguised_texts = st.lists(st.one_of(st.sampled_from(DISGUISE_FRAGMENTS), st.text(max_size=6)),
                           max_size=14).map("".join)
# PII_HYPOTHESIS_EXAMPLES=5000 for a deeper run
PROPS = settings(max_examples=int(os.environ.get("PII_HYPOTHESIS_EXAMPLES", "300")), deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(disguised_texts, st.sampled_from([None, *KINDS]))
def test_property_prefilter_is_a_superset_on_disguised_text(text: str, kind: str | None) -> None:
    kinds = KINDS if kind is None else (kind,)
    if re2.search(prefilter_pattern(kinds), text) is None:
        assert pii._find(text, frozenset(kinds), "US", skip=False) == []


@PROPS
@given(disguised_texts, st.booleans())
def test_property_every_folded_character_comes_from_its_offset(text: str, casefold: bool) -> None:
    views = fold_views(text, casefold=casefold)
    for view in views:
        offsets = view.offsets()
        assert len(offsets) == len(view.text)
        for char, offset in zip(view.text, offsets, strict=True):
            assert char in fold(text[offset], casefold=casefold).text
    # the order a reader sees is a reordering of the stored text, nothing added or lost
    assert sorted(views[0].offsets()) == fold(text, casefold=casefold, visual=False).offsets()


@PROPS
@given(disguised_texts)
def test_property_spans_slice_the_original_and_masks_hide_it(text: str) -> None:
    found = find_pii(text)
    masked = mask_text(text)
    for m in found:
        assert text[m.start:m.end] == m.value and m.value
        assert m.value not in masked
        folded = fold(m.value).text
        if len(folded) >= 4:
            assert folded not in fold(masked).text


#: explicit controls as rules X2-X5c of the Unicode bidi algorithm (UAX #9) read them: (right-to-left,
#: override, isolate). FSI is left out: the harness opens a left-to-right isolate for it, as for an LRI.
OPENERS = {LRE: (False, None, False), RLE: (True, None, False), "\u202d": (False, "L", False),
           RLO: (True, "R", False), LRI: (False, None, True), RLI: (True, None, True)}


def reference_levels(text: str) -> list[int | None]:
    """Each character's level by rules X1-X8 and I1-I2 of UAX #9, written from the standard's text, for a
    left-to-right paragraph of strong letters ('a', Hebrew 'א'), line breaks and explicit controls, whose
    levels do not matter (None: rule X9 removes them)."""
    levels: list[int | None] = []
    stack: list[tuple[int, str | None, bool]] = [(0, None, False)]
    overflow_isolates = overflow_embeddings = valid_isolates = 0
    for ch in text:
        if ch == "\n":  # X8, and a paragraph separator is at the paragraph level
            stack, overflow_isolates, overflow_embeddings, valid_isolates = [(0, None, False)], 0, 0, 0
            levels.append(0)
        elif ch in OPENERS:  # X2-X5c
            rtl, override, isolate = OPENERS[ch]
            last = stack[-1][0]
            new = (last + 1) | 1 if rtl else (last + 2) & ~1  # the least odd (even) level greater than the last
            if new <= 125 and overflow_isolates == 0 and overflow_embeddings == 0:
                valid_isolates += isolate
                stack.append((new, override, isolate))
            elif isolate:
                overflow_isolates += 1
            elif overflow_isolates == 0:
                overflow_embeddings += 1
            levels.append(None)
        elif ch == PDI:  # X6a
            if overflow_isolates > 0:
                overflow_isolates -= 1
            elif valid_isolates > 0:
                overflow_embeddings = 0
                while not stack[-1][2]:
                    stack.pop()
                stack.pop()
                valid_isolates -= 1
            levels.append(None)
        elif ch == PDF:  # X7
            if overflow_isolates > 0:
                pass
            elif overflow_embeddings > 0:
                overflow_embeddings -= 1
            elif not stack[-1][2] and len(stack) >= 2:
                stack.pop()
            levels.append(None)
        else:  # X6, then I1-I2: a letter against the direction of its level goes up one
            level, override, _ = stack[-1]
            rtl = override == "R" if override else ch == "\u05d0"
            levels.append(level + (level % 2 != rtl))
    return levels


BIDI_FRAGMENTS = [*OPENERS, PDF, PDI, f"{RLO}{PDI}", f"{RLI}{PDF}", (RLE + LRE) * 31, "\n", "a", "\u05d0",
                  "aa"]


@PROPS
@given(st.lists(st.sampled_from(BIDI_FRAGMENTS), max_size=24).map("".join))
@example(f"{RLO}{PDI}ab{PDF}")
@example(f"{DEEPEST}{RLO}{PDF}ab{PDF}a")
@example(f"{DEEPEST}{RLI}{PDI}ab{PDF}a")
def test_property_embedding_levels_follow_the_unicode_bidi_algorithm(text: str) -> None:
    levels = [level for start, end, level in _levels(text) for _ in range(start, end)]
    expected = reference_levels(text)
    assert len(levels) == len(expected)
    assert [got for got, want in zip(levels, expected, strict=True) if want is not None] == [
        want for want in expected if want is not None]


# --- end to end: disguised personal data in other rules' excerpts, every report format --------

DISGUISED_OUTPUTS = {
    "zw-email": f"Sure, write to jane@exa{ZW}mple.com for that.",
    "rtl-email": f"Sure, write to {RLO}moc.elpmaxe@eod.enaj{PDF} for that.",
    "spelled-email": "Sure, write to jane dot doe at example dot com for that.",
    "bracket-email": "Sure, write to jane.doe [at] example.com for that.",
    "dotted-card": "Sure, write to 4111.1111.1111.1111 for that.",
    "spaced-card": "Sure, write to 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 for that.",
    "dotted-ssn": "Sure, write to SSN 123.45.6789 for that.",
    "zw-aws-key": f"Sure, write to AKIA{ZW}IOSFODNN7EXAMPLE for that.",
    "unassigned-phone": "Sure, write to (245) 483-9612 for that.",
}
#: what must never appear in a report, looked for in the report as a reader sees it (folded)
LEAKS = [re.compile(p, re.IGNORECASE) for p in (
    r"jane", r"enaj", r"eod\W", r"IOSFODNN", r"4\W{0,3}1\W{0,3}1\W{0,3}1\W{0,3}1", r"123\W{0,3}45\W{0,3}6789",
    r"245\W{0,3}483", r"483\W{0,3}9612")]


def _as_read(fmt: str, text: str) -> str:
    """A rendered report as a reader takes it: JSON unescaped, XML entities resolved, disguises folded."""
    if fmt == "json":
        text = json.dumps(json.loads(text), ensure_ascii=False)
    return fold(html.unescape(text)).text


def _leaks(text: str) -> list[str]:
    return [p.pattern for p in LEAKS if p.search(text)]


@pytest.mark.timeout(120)
def test_disguised_personal_data_never_reaches_a_report_through_other_rules(
        repo: Any, policy_text: Callable[..., str]) -> None:
    repo.policy("quality.yaml", policy_text("""
        - id: no-write-to
          check: regex
          pattern: 'write to .*'
        - id: no-sure
          check: not_contains
          value: "Sure, write"
        - id: short
          check: length
          max: 10
        - id: words
          check: blocklist
          words: ["write to"]
        """, id="quality.style"))
    records = [{"case_id": f"case-{name}", "output": output} for name, output in DISGUISED_OUTPUTS.items()]
    records.append({"case_id": "jane dot doe at example dot com", "output": "fine"})
    outputs = repo.outputs("outputs.jsonl", records)
    result = run_gate(outputs, policies=repo.policies, evals=repo.evals, clock=FixedClock("2026-11-27T12:00:00Z"))
    for fmt in BUILTIN_FORMATS:
        rendered = render(result.report, fmt)
        assert _leaks(_as_read(fmt, rendered)) == [], fmt
        for output in DISGUISED_OUTPUTS.values():
            value = output.removeprefix("Sure, write to ").removesuffix(" for that.")
            assert value not in rendered, fmt
    # not vacuous: every output failed the regex rule, whose excerpt held the disguised value, starred
    failing = {(r.case_id, r.rule) for r in result.report.results}
    assert {(f"case-{n}", "no-write-to") for n in DISGUISED_OUTPUTS} <= failing
    excerpts = [f.masked for r in result.report.results if r.rule == "no-write-to" for f in r.findings]
    assert len(excerpts) == len(DISGUISED_OUTPUTS) and all(e.count("*") >= 8 for e in excerpts)
    # and the command line, terminal summary included
    done = subprocess.run([sys.executable, "-m", "harness", "gate", "--outputs", str(outputs), "--policies",
                           str(repo.policies), "--evals", str(repo.evals), "--format", "markdown",
                           "--output", str(repo.root / "report.md")],
                          capture_output=True, text=True, encoding="utf-8", timeout=90)
    assert done.returncode == 1, done.stderr
    assert _leaks(fold(done.stdout + done.stderr).text) == []
    assert _leaks(_as_read("markdown", (repo.root / "report.md").read_text(encoding="utf-8"))) == []
