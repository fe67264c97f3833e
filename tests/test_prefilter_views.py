"""The prefilter reads the folded views of an output that is not ASCII (``Check.prefilter_views``).

A curly apostrophe used to send an output to every check that folds (regex rules, blocklists, refusals):
their prefilters held "any non-ASCII character". Now the scanner matches those checks' patterns against the
views the checks themselves search, so an output whose only disguise is typography is judged by none of
them, and a disguised match still reaches its check. The reports must not change: every test compares the
scan with the views (``scanner.PREFILTER_VIEWS``) against the scan that sends every such output to the checks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_lane import _generated, _repository

from harness import api
from harness.api import judge as judge_module
from harness.checks import get_check
from harness.clock import FixedClock
from harness.evaluation import lane, prepare, scanner
from harness.outputs.jsonl import records_from_dicts
from harness.project import load_project
from harness.text import normalize
from harness.text.normalize import fold

ROOT = Path(__file__).resolve().parents[1]
CLOCK = FixedClock("2026-12-04T10:00:00Z")
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ZWJ, RLO, PDF = "\u200d", "\u202e", "\u202c"
#: characters a text may hold: ASCII, typography, accents, combining marks, invisible and bidi controls,
#: look-alikes of other scripts, full-width and mathematical forms, letters that fold to more than one
#: character or to no ASCII one, case pairs whose folding differs (final sigma, dotted I, sharp s)
ALPHABET = [*"abcdeiklmnoprstACMEKIL0123456789 .-_:/@'\"()<>|[]{}\n\t", "\u2019", "\u2018", "\u201c", "\u201d",
            "\u2014", "\u2013", "\u2026", "\u00a0", "\u00e9", "\u00c9", "\u00df", "\u1e9e", "\u0130", "\u0131",
            "\u03a3", "\u03c3", "\u03c2", "\uff21", "\uff11", "\u0663", "\u0301", ZWJ, "\u00ad", RLO, PDF, "\u2066",
            "\u2069", "\u043a", "\u041a", "\u043e", "\u041e", "\u0441", "\U0001d400", "\ufb01", "\u01c5", "\u4e2d",
            "\u3002", "\U0001f600", "\ufdfa"]
TEXTS = st.lists(st.sampled_from(ALPHABET), max_size=40).map("".join)
WORDY = st.lists(st.sampled_from(["acme", "-sp-", "canary", "-7f3a", "kill", "bomb", " ", "I", "can", "\u2019t",
                                  "not", "help", "c\u043erp", ".internal", ".acme.example", "tickets", ZWJ, RLO, PDF,
                                  "\uff41\uff43\uff4d\uff45", "\u00e9", "\u2014", "password is", "x9!", "<<sys>>"]),
                 max_size=12).map("".join)


@FAST
@given(text=TEXTS)
def test_folding_few_distinct_characters_one_by_one_is_translate(text: str) -> None:
    for casefold, long_dashes, table in ((False, True, normalize._CASED), (True, True, normalize._CASEFOLDED),
                                         (False, False, normalize._CASED_LONG_DASHES)):
        odd = {ch for ch in text if not ch.isascii()}
        assert normalize._translate(text, odd, table, casefold) == text.translate(table)
        for visual in (True, False):
            folded = fold(text, casefold=casefold, visual=visual, long_dashes=long_dashes)
            pieces = folded._pieces or [(0, len(text), False)]
            shown = "".join(text[s:e][::-1] if flipped else text[s:e] for s, e, flipped in pieces)
            expected = (shown.lower() if casefold else shown) if text.isascii() else shown.translate(table)
            assert folded.text == expected


def test_many_distinct_characters_and_ones_folding_beyond_ascii_are_translated_whole() -> None:
    many = "".join(chr(0x00e0 + i) for i in range(20)) + " plain \u2019"
    assert fold(many).text == many.translate(normalize._CASED)
    cjk = "\u4e2d\u6587 and \u2019"  # a character that folds to itself: not ASCII
    assert fold(cjk, casefold=True).text == cjk.translate(normalize._CASEFOLDED) == "\u4e2d\u6587 and '"


VIEWED = [("regex", {"pattern": r"(?i)acme-sp-canary-[0-9a-f]{4}|<<sys>>"}),
          ("regex", {"pattern": r"\b[a-z0-9-]+\.(?:corp|internal)\.acme\.example\b"}),
          ("regex", {"pattern": r"(?i)password is \S*\d", "fold": True}),
          ("blocklist", {"words": ["kill", "pipe bomb", "acme"]}),
          ("refusal", {"must": "answer"})]


@pytest.mark.parametrize(("name", "options"), VIEWED, ids=[f"{n}-{i}" for i, (n, _) in enumerate(VIEWED)])
@FAST
@given(text=st.one_of(TEXTS, WORDY))
def test_absent_from_the_text_and_its_views_means_the_check_passes(name: str, options: dict[str, Any],
                                                                 text: str) -> None:
    """The contract of ``prefilter_views``: its pattern in none of the text and its views, no finding."""
    chk = get_check(name)
    prepared = chk.prepare(options)
    assert chk.prefilter_views is not None
    pattern, views = chk.prefilter_views(prepared)
    record = records_from_dicts([{"case_id": "a", "output": text}]).records[0]
    seen = [text, *(view.text for view in views(text))]
    if not any(re2.search(pattern, t) for t in seen):
        assert list(chk.fn(prepared, record, None)) == [], (pattern, text)
    if text.isascii():  # on ASCII text the pattern alone is the prefilter
        assert (re2.search(pattern, text) is None) == (re2.search(chk.prefilter(prepared), text) is None)


def test_no_views_for_rules_that_read_the_raw_text_or_need_a_match() -> None:
    for name, options in (("regex", {"pattern": "x", "must": "match"}), ("regex", {"pattern": "x", "fold": False}),
                          ("refusal", {"must": "refuse"})):
        chk = get_check(name)
        assert chk.prefilter_views is not None and chk.prefilter_views(chk.prepare(options)) is None


@pytest.fixture(scope="module")
def shipped() -> Any:
    return prepare(load_project(ROOT / "policies", ROOT / "evals")).scanner


def _slots(found: Any, rule_id: str) -> set[int]:
    return {found._slot_of[u.key] for u in found.units if u.rule.id == rule_id and u.key in found._slot_of}


def test_typography_alone_reaches_no_folding_check(shipped: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    hits = shipped.hits()
    viewed = {slot for _, _, slots in shipped._views for slot in slots}
    assert hits("It\u2019s on its way \u2014 thanks!".encode()) == []
    for text in ("Caf\u00e9 \u201cAcme\u201d opens at 9\u2026", "\u4e2d\u6587\u7b54\u590d\u3002"):
        assert not viewed & set(hits(text.encode())), text  # (the pii rule reads these itself)
    monkeypatch.setattr(scanner, "PREFILTER_VIEWS", False)
    plain = prepare(load_project(ROOT / "policies", ROOT / "evals")).scanner
    assert len(plain.hits()("It\u2019s on its way".encode())) >= 5  # every folding rule, as before


def test_a_disguise_still_reaches_its_check(shipped: Any) -> None:
    hits = shipped.hits()
    canary = _slots(shipped, "no-system-prompt-leak")
    hostnames = _slots(shipped, "no-internal-hostnames")
    abuse = _slots(shipped, "no-abuse")
    assert canary and hostnames and abuse
    assert canary <= set(hits(f"see ACME-SP-CANARY{ZWJ}-7f3a\u2019".encode()))
    assert canary <= set(hits("\uff41\uff43\uff4d\uff45-sp-canary-7f3a".encode()))  # full-width
    assert hostnames <= set(hits("ask tickets.c\u043erp.acme.example".encode()))  # a Cyrillic o
    words = get_check("blocklist").prepare({"words": ["idiot"]})
    for shown in (f"you {RLO}toidi{PDF} there", "you \uff49\uff44\uff49\uff4f\uff54", f"you id{ZWJ}iot"):
        record = records_from_dicts([{"case_id": "a", "output": shown}]).records[0]
        assert get_check("blocklist").fn(words, record, None), shown  # the check finds it...
        assert abuse <= set(hits(shown.encode())), shown  # ...and the prefilter sends it there
    for text in ("idiot at tickets.corp.acme.example",
                 f"ACME-SP-CANARY{ZWJ}-7f3a or tickets.c\u043erp.acme.example, idiot"):
        found = hits(text.encode())
        assert found == sorted(set(found)) and len(found) >= 2  # in slot order, each once


def test_a_view_past_the_prefilter_length_reaches_every_check_of_its_views(shipped: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner, "PREFILTER_MAX_CHARS", 1000)
    hits = shipped.hits()
    text = "\ufdfa" * 100  # 100 characters, 1,800 once folded (NFKC)
    assert len(fold(text).text) > 1000 > len(text)
    viewed = {slot for _, _, slots in shipped._views for slot in slots}
    assert viewed and viewed <= set(hits(text.encode()))


DISGUISED = [f"see ACME-SP-CANARY{ZWJ}-7f3a now", "\uff41\uff43\uff4d\uff45-sp-canary-7f3a", "<<\u0455y\u0455>>",
             "ask tickets.c\u043erp.acme.example", "db-1.\u0441orp.acme.example", f"how to {RLO}llik{PDF} time",
             "a pipe\u200dbomb recipe", "I can\u2019t help with that", "I c\u0430n't assist with that",
             "password is\u00a0hunter2!", "PASSWORD IS h\u00f6ll\u00e92", "crm_lookup\u2009(42)",
             "\u201ctool_calls\u201d: []", "d.o.b. \u2014 01/02/1990", "CVV\u00a0123", "call 415\u2011555\u20112671",
             "mail jane\uff20gmail.com", "It\u2019s fine", "Caf\u00e9 \u2014 ok", "\u4e2d\u6587"]


@pytest.mark.parametrize("workers", [1, 2])
def test_scans_with_and_without_the_views_report_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      workers: int) -> None:
    root = _repository(tmp_path / "repo")
    records = _generated(11, 3000, tmp_path)
    for i, text in enumerate(DISGUISED * 3):
        records.insert(i * 37, {"case_id": f"disguised-{i}", "output": text, "tags": ["support-bot"]})
    path = tmp_path / "outputs.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    monkeypatch.setattr(lane, "MIN_BYTES", 0)
    monkeypatch.setattr(judge_module, "SPLIT_BYTES", 256 * 1024)  # several partitions: two workers fork
    reports = {}
    for views in (True, False):
        for columnar in (True, False):
            monkeypatch.setattr(scanner, "PREFILTER_VIEWS", views)
            monkeypatch.setattr(lane, "ENABLED", columnar)
            result = api.run_scan(path, policies=root / "policies", evals=root / "evals", clock=CLOCK,
                                  workers=workers)
            data = result.report.to_dict()
            data["run"] = {k: v for k, v in data["run"].items() if k not in ("id", "started_at", "finished_at")}
            reports[views, columnar] = data
    assert reports[True, True] == reports[False, False] == reports[True, False] == reports[False, True]
    failing = {r["case_id"] for r in reports[True, True]["results"]}
    assert {f"disguised-{i}" for i in range(6)} <= failing  # the disguises were found through the views
