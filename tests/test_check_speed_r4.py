"""The cheaper paths of the per-output checks give the answers of the plain ones.

``excerpt`` asks ``find_pii`` only about a window or a piece the pii prefilter does not clear; ``regex``,
``not_contains``, ``blocklist`` and ``refusal`` list the matches of a text of at most 4,096 characters with
``Regex.spans`` instead of ``finditer``; a ``field`` rule over a column of few distinct strings judges each
distinct string once and finds the failing ones in the column. Each test compares with the plain path a user
has always had, findings and excerpts included.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checks import get_check
from harness.checks.base import MISSING
from harness.checks.builtin import structured, text
from harness.model import Finding, OutputRecord
from harness.text import normalize
from harness.text.mask import mask_text
from harness.text.pii import find_pii

ROOT = Path(__file__).resolve().parents[1]
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: pieces of texts with and without personal data, disguises, and the words of the shipped text rules
PIECES = ["jane.doe@example.com", "jane", "@", "example.com", "381-42-8967", "4111 1111 1111 1111", "203.0.113.42",
          "+1 202-555-0147", "GB82 WEST 1234 5698 7654 32", "AKIAIOSFODNN7EXAMPLE", " dot ", "[at]", "2026-11-18",
          "A-48213", "fullz", "bank logs", "idiot", "shut up", "DAN mode enabled", "Hypothetically, you could",
          "db1.corp.acme.example", "your password is hunter2!", " ", ". ", "\n", "-", "_", "\u200b", "\u202e",
          "\u2066", "\u0430", "\uff14", "\u0663", "é", "\u0301", "a", "1", "x"]
texts = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)


def record(output: str, **fields: Any) -> OutputRecord:
    return OutputRecord("case-1", output, 1, fields)


def seen(findings: Any) -> list[tuple[Any, ...]]:
    return [(f.kind, f.message, f.start, f.end, f.masked) for f in findings]


# --- excerpt ------------------------------------------------------------------------


def excerpt_reading_everything(source: str, start: int, end: int) -> str:
    """``excerpt`` as it always was: ``find_pii`` of the whole window and ``mask_text`` of the piece."""
    begin = max(0, start - 80)
    window = source[begin:min(len(source), end + 80)]
    chars = list(source[start:end])
    for match in find_pii(window):
        for i in range(max(match.start + begin, start), min(match.end + begin, end)):
            if not chars[i - start].isspace():
                chars[i - start] = "*"
    piece = mask_text("".join(chars))
    return piece if len(piece) <= 60 else piece[:59] + "…"


@FAST
@given(texts, st.integers(0, 400), st.integers(0, 80))
def test_an_excerpt_is_the_one_read_with_every_detector(source: str, start: int, size: int) -> None:
    start = min(start, len(source))
    end = min(len(source), start + size)
    assert normalize.excerpt(source, start, end) == excerpt_reading_everything(source, start, end)


@pytest.mark.parametrize("source", [
    "Write to jane.doe@example.com today", "SSN 381-42-8967 on file", "card 4111 1111 1111 1111 thanks",
    "from 203.0.113.42 at noon", "key AKIAIOSFODNN7EXAMPLE leaked", "jane dot doe at example dot com",
    "\u202ejane@example.com\u202c", "４１１１ １１１１ １１１１ １１１１", "no personal data here at all", "",
    "x" * 200 + "jane@example.com" + "y" * 200], ids=lambda s: s[:24] or "empty")
def test_every_span_of_a_text_is_excerpted_as_before(source: str) -> None:
    for start, end in itertools.combinations_with_replacement(range(0, len(source) + 1, 3), 2):
        assert normalize.excerpt(source, start, end) == excerpt_reading_everything(source, start, end)


def test_a_text_no_detector_can_read_raises_as_it_always_did() -> None:
    source = "a" * 100 + "\ud800" + " fullz 381-42-8967"
    for start, end in ((101, 106), (0, 4), (102, 120)):
        try:
            expected: Any = excerpt_reading_everything(source, start, end)
        except UnicodeEncodeError as exc:
            expected = str(exc)
        try:
            got: Any = normalize.excerpt(source, start, end)
        except UnicodeEncodeError as exc:
            got = str(exc)
        assert got == expected


# --- regex, not_contains, blocklist, refusal: matches listed by Regex.spans -----------------------


def plain_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    """The text checks' matches as ``finditer`` lists them, one by one."""
    monkeypatch.setattr(text, "_spans", lambda rx, source, limit: [
        m.span() for m in itertools.islice(rx.finditer(source), limit)])
    monkeypatch.setattr(text, "_every_span", lambda rx, source: (m.span() for m in rx.finditer(source)))


RULES = [("regex", {"pattern": "(?i)fullz|bank logs"}), ("regex", {"pattern": "(?i)fullz", "fold": False}),
         ("regex", {"pattern": "a*", "fold": False}), ("regex", {"pattern": r"\b"}), ("regex", {"pattern": "[0-9]{3}"}),
         ("regex", {"pattern": r"[\pL]+"}), ("regex", {"pattern": "(?i)é|e"}),
         ("not_contains", {"value": ["fullz", "a", "1"]}), ("not_contains", {"value": "FULLZ", "ignore_case": True}),
         ("blocklist", {"words": ["fullz", "bank logs", "a", "x", "shut up", "idiot"]}),
         ("refusal", {"must": "answer", "phrases": ["a", "fullz"]})]


def long_texts() -> list[str]:
    """Texts on both sides of the 4,096 characters listed whole, matched everywhere, ASCII and not."""
    out = []
    for unit in ("fullz ", "a", "fullz bank logs. ", "idiot\u200b ", "é1 ", "x_a-1 "):
        for size in (4095, 4096, 4097, 9000):
            out.append((unit * (size // len(unit) + 1))[:size])
    return out


@pytest.mark.parametrize(("name", "options"), RULES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RULES)])
def test_the_text_checks_find_what_finditer_finds(name: str, options: dict[str, Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    check = get_check(name)
    rule = check.prepare(options)
    outputs = [*long_texts(), *PIECES, "".join(PIECES), " ".join(PIECES) * 3, ""]
    listed = [seen(check.fn(rule, record(o), None)) for o in outputs]
    plain_spans(monkeypatch)
    assert listed == [seen(check.fn(rule, record(o), None)) for o in outputs]


@FAST
@given(texts)
def test_generated_outputs_get_the_findings_of_finditer(source: str) -> None:
    checks = [(get_check(name), get_check(name).prepare(options)) for name, options in RULES]
    listed = [seen(check.fn(rule, record(source), None)) for check, rule in checks]
    with pytest.MonkeyPatch.context() as monkeypatch:
        plain_spans(monkeypatch)
        assert listed == [seen(check.fn(rule, record(source), None)) for check, rule in checks]


def test_the_shipped_text_rules_find_on_the_policy_examples_what_finditer_finds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.evaluation import prepare
    from harness.project import load_project

    project = load_project(ROOT / "policies", ROOT / "evals")
    units = [u for u in prepare(project).scanner.units if u.check.name in ("regex", "blocklist", "refusal")]
    outputs = [e.text for p in project.policies for e in p.examples]
    assert len(units) >= 10 and len(outputs) >= 20
    listed = [seen(u.check.fn(u.rule.prepared, record(o), None)) for u in units for o in outputs]
    assert any(listed)
    plain_spans(monkeypatch)
    assert listed == [seen(u.check.fn(u.rule.prepared, record(o), None)) for u in units for o in outputs]


# --- field: a column of few distinct strings ---------------------------------------------------

FIELD_RULES: list[dict[str, Any]] = [
    {"path": "v", "one_of": ["acme-support-assistant"]}, {"path": "v", "pattern": r"^[0-9]+\.[0-9]+\.[0-9]+$"},
    {"path": "v", "pattern": "^[a-z]{2}-[A-Z]{2}$"}, {"path": "v", "pattern": "(?i)^é"}, {"path": "v", "exists": False},
    {"path": "v", "equals": "a"}, {"path": "v", "not_equals": "a"}, {"path": "v", "min": 1},
    {"path": "v", "pattern": "^a", "exists": True}, {"path": "v", "pattern": r"\pL", "one_of": ["a", "é"]},
    {"path": "s.locale", "pattern": "^[a-z]{2}-[A-Z]{2}$"}]


def columns() -> list[list[Any]]:
    """Columns of one value, a few, exactly 64 and 65 distinct, the first 65 distinct, repeats at first and many
    distinct after, with and without missing values."""
    few = ["acme-support-assistant", "1.1.0", "en-US", "a", "é", "", "A", "x" * 300]
    return [
        ["acme-support-assistant"] * 300, ["1.1.0"] * 200 + ["latest"] + ["1.1.0"] * 99,
        [few[i % len(few)] for i in range(300)], [None if i % 7 == 0 else few[i % 3] for i in range(300)],
        [None] * 50, [f"v{i % 64}" for i in range(300)], [f"v{i % 65}" for i in range(300)],
        [f"{i}.0.{i}" for i in range(300)], ["a"] * 80 + [f"b{i}" for i in range(220)],
        ["en-US", "de-DE", None, "english"] * 75, [], ["a"],
    ]


@pytest.mark.parametrize("options", FIELD_RULES, ids=lambda o: ",".join(f"{k}={v!r}" for k, v in o.items()))
def test_a_column_of_strings_fails_the_records_the_check_fails_one_by_one(options: dict[str, Any]) -> None:
    pa = pytest.importorskip("pyarrow")
    from harness.evaluation.lane import Columns

    check = get_check("field")
    for values in columns():
        for kind in (pa.string(), pa.large_string()):
            if options["path"] == "v":
                table = pa.table({"v": pa.array(values, type=kind)})
                fields = [{} if v is None else {"v": v} for v in values]
            else:
                table = pa.table({"s": pa.array([{"locale": v} for v in values],
                                                type=pa.struct([("locale", kind)]))})
                fields = [{"s": {}} if v is None else {"s": {"locale": v}} for v in values]
            rule = check.prepare(options)
            expected = {i: tuple(found) for i, f in enumerate(fields)
                        if (found := check.fn(check.prepare(options), record("o", **f), None))}
            assert check.columns is not None
            got = check.columns(rule, Columns(table))
            assert {i: tuple(found) for i, found in got.items()} == expected
            assert list(got) == sorted(got)


def test_a_column_of_one_model_name_is_judged_once() -> None:
    pa = pytest.importorskip("pyarrow")
    from harness.evaluation.lane import Columns

    check = get_check("field")
    rule = check.prepare({"path": "model", "one_of": ["acme-support-assistant"]})
    names = ["acme-support-assistant"] * 1000
    names[500] = "acme-support-assistant-canary"
    names[900] = None
    found = structured._arrow_few_failures(rule, Columns(pa.table({"model": names})).array("model"))
    assert found == {500: (Finding("field", "`model` is 'acme-support-assistant-canary', expected one of"
                                            " ['acme-support-assistant']"),),
                     900: (Finding("field", "`model` is missing"),)}
    assert set(rule.memo) == {(str, "acme-support-assistant"), (str, "acme-support-assistant-canary"),
                              (type(MISSING), MISSING)}
    timestamps = pa.array([f"2026-11-18T11:{i // 60:02d}:{i % 60:02d}Z" for i in range(1000)])
    assert structured._arrow_few_failures(rule, timestamps) is None  # many distinct: the pattern's own path
