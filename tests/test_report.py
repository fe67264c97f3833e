"""The report: its JSON round trip and schema, determinism, and the four renderers that read it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import string
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st

import harness
from harness.api import GateResult, run_gate
from harness.clock import FixedClock, format_timestamp
from harness.errors import InputError
from harness.io.schema import load_schema, validator
from harness.model import Verdict
from harness.project import load_project
from harness.report import (
    REPORT_VERSION,
    AggregateReport,
    FileRef,
    FindingReport,
    OutputsFile,
    PolicyFile,
    PolicyReport,
    Report,
    ResultReport,
    RuleReport,
    RunInfo,
    ScopeReport,
    SelectionReport,
    Summary,
    freeze,
    render,
)
from harness.report.renderers import BUILTIN_FORMATS
from harness.report.renderers.markdown import MAX_ROWS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "outputs"
NOON = "2026-11-27T12:00:00Z"
JUNIT_XSD = ROOT / "tests" / "data" / "junit-10.xsd"
SCHEMA = load_schema("report")


def _enum(pointer: str) -> list[str]:
    """The values of an enum of the report schema, by its path under ``properties``."""
    node: Any = SCHEMA["properties"]
    for key in pointer.split("/"):
        node = node[key]
    return list(node["enum"])


VERDICTS = _enum("verdict")
RUN_KINDS = _enum("run/properties/kind")
POLICY_KINDS = _enum("policies/items/properties/kind")
ON_FAIL = _enum("policies/items/properties/on_fail")
POLICY_STATUSES = _enum("policies/items/properties/policy_status")
OUTCOMES = _enum("policies/items/properties/status")
RESULT_STATUSES = _enum("results/items/properties/status")
AGGREGATE_STATUSES = _enum("aggregates/items/properties/status")


# --- strategies ------------------------------------------------------------------------------

#: pieces of untrusted text that have broken renderers somewhere: table and code-span delimiters,
#: HTML, Rich markup, XML specials, line breaks, control and bidi characters, astral characters
NASTY = ("|", "\\|", "\\", "`", "``", "<script>alert(1)</script>", "</td>", "\n", "\r\n", "\r", "\t", "\x00",
         "\x1b[31m", "\x0b", "\x7f", "\u2028", "\x85", "[bold]", "[/]", "*", "_", "#", "&amp;", "]]>", '"', "'",
         "\ufffe", "é", "😀", "\u202e", " ", "-->", "[x](javascript:alert(1))")
TEXT = st.one_of(st.text(max_size=8), st.sampled_from(NASTY),
                 st.tuples(st.text(max_size=3), st.sampled_from(NASTY), st.text(max_size=3)).map("".join))
HEX = "0123456789abcdef"
SHA = st.one_of(st.just(""), st.text(HEX, min_size=64, max_size=64))
COUNT = st.integers(min_value=0, max_value=10**6)
NUMBER = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False))
TIMESTAMP = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                         timezones=st.just(dt.UTC)).map(format_timestamp)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6)


#: a reference to an id: an index into the report's pool of policy or case ids, or an id of its own
REF = st.one_of(st.integers(min_value=0, max_value=7), TEXT)
REFS = st.lists(REF, max_size=4)
OUTPUTS_FILE = st.builds(OutputsFile, TEXT, SHA, st.integers(min_value=1, max_value=10**7), COUNT, COUNT)
RUN = st.builds(
    RunInfo, id=st.text(HEX, min_size=32, max_size=32), kind=st.sampled_from(RUN_KINDS), started_at=TIMESTAMP,
    finished_at=TIMESTAMP, judged_on=st.dates().map(dt.date.isoformat), model=st.none() | TEXT,
    model_version=st.none() | TEXT, outputs=OUTPUTS_FILE, baseline=st.none() | OUTPUTS_FILE,
    playbook=st.none() | st.builds(FileRef, TEXT, SHA),
    policies=st.lists(st.builds(PolicyFile, TEXT, TEXT, SHA, TEXT), max_size=3).map(tuple),
    selection=st.none() | st.builds(SelectionReport, *(st.lists(TEXT, max_size=2).map(tuple) for _ in range(4))))
LINE = st.none() | st.integers(min_value=1, max_value=10**6)
POLICY = st.builds(
    PolicyReport, TEXT, TEXT, TEXT, st.sampled_from(POLICY_KINDS), TEXT, st.sampled_from(ON_FAIL),
    st.sampled_from(POLICY_STATUSES), st.sampled_from(OUTCOMES), COUNT, COUNT, COUNT, COUNT,
    st.lists(TEXT, max_size=2).map(tuple),
    st.lists(st.builds(RuleReport, TEXT, TEXT, LINE, st.none() | TEXT), max_size=2).map(tuple))
FINDING = st.builds(FindingReport, TEXT, st.none() | COUNT, st.none() | COUNT, st.none() | TEXT)
RESULT = st.builds(  # case_id and policy are set from references
    ResultReport, st.just(""), st.just(""), TEXT, st.sampled_from(RESULT_STATUSES), TEXT,
    st.none() | st.integers(), st.none() | TEXT, st.lists(FINDING, max_size=3).map(tuple), LINE)
AGGREGATE = st.builds(  # policy and flipped are set from references
    AggregateReport, st.just(""), TEXT, TEXT, st.sampled_from(AGGREGATE_STATUSES), TEXT, NUMBER, NUMBER,
    st.dictionaries(TEXT, JSON_VALUES, max_size=3).map(freeze), st.just(()), st.none() | TEXT, LINE)
SUMMARY = st.builds(Summary, COUNT, COUNT, COUNT, COUNT, COUNT, COUNT)


def _pick(pool: Sequence[str], ref: int | str) -> str:
    if isinstance(ref, str):
        return ref
    return pool[ref % len(pool)] if pool else f"id-{ref}"


@st.composite
def reports(draw: st.DrawFn) -> Report:
    """Any report the schema allows; ids come from small pools so that scopes, results and aggregates
    refer to the report's policies and to the same cases (some case ids in several scopes)."""
    policies = tuple(draw(st.lists(POLICY, max_size=3, unique_by=lambda p: p.id)))
    ids = [p.id for p in policies]
    cases = [*draw(st.lists(TEXT, min_size=1, max_size=4)), "*"]
    results = tuple(dataclasses.replace(result, case_id=_pick(cases, case), policy=_pick(ids, policy))
                    for case, policy, result in draw(st.lists(st.tuples(REF, REF, RESULT), max_size=5)))
    aggregates = tuple(
        dataclasses.replace(aggregate, policy=_pick(ids, policy), flipped=tuple(_pick(cases, c) for c in flipped))
        for policy, flipped, aggregate in draw(st.lists(st.tuples(REF, REFS, AGGREGATE), max_size=2)))
    scopes = tuple(  # each case id once per scope
        ScopeReport(tuple(_pick(ids, p) for p in scope_policies), tuple(dict.fromkeys(_pick(cases, c) for c in refs)))
        for scope_policies, refs in draw(st.lists(st.tuples(REFS, REFS), max_size=3)))
    return Report(
        report_version=REPORT_VERSION, harness_version=draw(TEXT), run=draw(RUN),
        verdict=Verdict(draw(st.sampled_from(VERDICTS))), reasons=draw(st.lists(TEXT, max_size=3).map(tuple)),
        summary=draw(SUMMARY), policies=policies, results=results, aggregates=aggregates,
        warnings=draw(st.lists(TEXT, max_size=2).map(tuple)), scopes=scopes)


# --- fixtures --------------------------------------------------------------------------------

def _gate(outputs: str, moment: str = NOON, **kwargs: Any) -> GateResult:
    return run_gate(EXAMPLES / outputs, policies=ROOT / "policies", evals=ROOT / "evals",
                    clock=FixedClock(moment), **kwargs)


@pytest.fixture(scope="module")
def rollback() -> GateResult:
    """The shipped example whose verdict is a rollback, judged against its baseline."""
    result = _gate("acme-support-1.2.0.jsonl", baseline=EXAMPLES / "acme-support-1.0.0.jsonl")
    assert result.verdict is Verdict.ROLLBACK
    return result


@pytest.fixture(scope="module")
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(JUNIT_XSD))


# --- 1. round trip and schema ----------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(report=reports())
def test_any_report_round_trips_through_json_byte_for_byte_and_matches_the_schema(report: Report) -> None:
    text = report.to_json()
    back = Report.from_json(text.encode("utf-8"))  # as the audit store reads it
    assert back == report
    assert back.to_json() == text
    assert [e.message for e in validator("report").iter_errors(report.to_dict())] == []


def test_the_shipped_rollback_report_matches_the_schema_and_round_trips(rollback: GateResult) -> None:
    report = rollback.report
    assert [e.message for e in validator("report").iter_errors(json.loads(report.to_json()))] == []
    assert Report.from_json(report.to_json()) == report
    assert report.results and report.aggregates and report.scopes  # the round trip above covered each part


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not strict JSON")


def test_the_json_report_is_strict_json(rollback: GateResult) -> None:
    data = json.loads(render(rollback.report, "json"), parse_constant=_no_constant)
    assert all(a["value"] is None or isinstance(a["value"], int | float) for a in data["aggregates"])
    assert data["run"]["outputs"]["duplicate_records"] == 0


def test_a_report_written_before_duplicates_were_counted_reads_as_none(rollback: GateResult) -> None:
    data = json.loads(rollback.report.to_json())
    for key in ("duplicate_case_ids", "duplicate_records"):
        del data["run"]["outputs"][key], data["run"]["baseline"][key]
    back = Report.from_dict(data)
    assert (back.run.outputs.duplicate_records, back.run.baseline.duplicate_case_ids) == (0, 0)
    assert [e.message for e in validator("report").iter_errors(data)] == []


@pytest.mark.parametrize("where", ["value", "threshold", "details"])
@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
def test_to_json_refuses_non_finite_numbers_rather_than_writing_invalid_json(
        rollback: GateResult, where: str, number: float) -> None:
    aggregate = rollback.report.aggregates[0]
    changed = {"details": {"gap": number}} if where == "details" else {where: number}
    broken = dataclasses.replace(rollback.report, aggregates=(dataclasses.replace(aggregate, **changed),))
    with pytest.raises(ValueError):
        broken.to_json()


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_from_json_refuses_non_finite_numbers_that_strict_json_does_not_have(rollback: GateResult,
                                                                           constant: str) -> None:
    text = rollback.report.to_json()
    value = f'"value": {rollback.report.aggregates[0].value!r}'
    assert value in text
    with pytest.raises(InputError, match="not a harness report"):
        Report.from_json(text.replace(value, f'"value": {constant}', 1))


# --- 2. from_json refuses what it cannot read ------------------------------------------------

def _shipped_data(rollback: GateResult) -> dict[str, Any]:
    return json.loads(rollback.report.to_json())


@pytest.mark.parametrize("version", [0, 2, "1", 1.5, None], ids=["0", "2", "string", "float", "null"])
def test_from_json_refuses_another_report_version(rollback: GateResult, version: Any) -> None:
    data = _shipped_data(rollback)
    data["report_version"] = version
    with pytest.raises(InputError, match=r"report_version .* is not supported"):
        Report.from_json(json.dumps(data))


def test_from_json_refuses_a_report_without_a_version(rollback: GateResult) -> None:
    data = _shipped_data(rollback)
    del data["report_version"]
    with pytest.raises(InputError, match="report_version"):
        Report.from_json(json.dumps(data))


NOT_REPORTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "empty-object": lambda data: {},
    "array": lambda data: [data],
    "string": lambda data: "report",
    "null": lambda data: None,
    "only-a-version": lambda data: {"report_version": REPORT_VERSION},
    "version-true": lambda data: {**data, "report_version": True},  # True == 1 in Python, not in JSON
    "an-output-record": lambda data: {"report_version": REPORT_VERSION, "case_id": "c1", "output": "hi"},
    "run-missing": lambda data: {k: v for k, v in data.items() if k != "run"},
    "results-an-object": lambda data: {**data, "results": {"case_id": "x"}},
    "unknown-verdict": lambda data: {**data, "verdict": "ship-it"},
    "count-a-string": lambda data: {**data, "summary": {**data["summary"], "pass": "3"}},
    "count-a-boolean": lambda data: {**data, "summary": {**data["summary"], "pass": True}},
    "details-a-list": lambda data: {**data, "aggregates": [{**data["aggregates"][0], "details": []}]},
    "finding-not-an-object": lambda data: {**data, "results": [{**data["results"][0], "findings": ["email"]}]},
    "unknown-top-level-key": lambda data: {**data, "approved": True},
    "unknown-key-in-run": lambda data: {**data, "run": {**data["run"], "approved_by": "mallory"}},
    "unknown-result-status": lambda data: {**data, "results": [{**data["results"][0], "status": "weird"}]},
    "unknown-policy-kind": lambda data: {**data, "policies": [{**data["policies"][0], "kind": "rumour"}]},
}


@pytest.mark.parametrize("make", NOT_REPORTS.values(), ids=NOT_REPORTS.keys())
def test_from_json_refuses_a_document_that_is_not_a_report(rollback: GateResult,
                                                           make: Callable[[dict[str, Any]], Any]) -> None:
    with pytest.raises(InputError):
        Report.from_json(json.dumps(make(_shipped_data(rollback))))


@pytest.mark.parametrize("text", [b"", b"{", b"\xff\xfe not utf-8", "{\"report_version\": 1,}", "[1] [2]"],
                         ids=["empty", "truncated", "not-utf8", "trailing-comma", "two-documents"])
def test_from_json_refuses_text_that_is_not_json(text: str | bytes) -> None:
    with pytest.raises(InputError, match="not a harness report"):
        Report.from_json(text)


# --- 3. determinism --------------------------------------------------------------------------

def test_same_inputs_and_instant_give_the_same_bytes_another_instant_another_run_id(rollback: GateResult) -> None:
    baseline = EXAMPLES / "acme-support-1.0.0.jsonl"
    again = _gate("acme-support-1.2.0.jsonl", baseline=baseline)
    assert again.report.to_json() == rollback.report.to_json()
    later = _gate("acme-support-1.2.0.jsonl", "2026-11-27T12:00:01Z", baseline=baseline)
    assert later.report.run.id != rollback.report.run.id
    assert later.report.to_json() != rollback.report.to_json()


_IN_A_CHILD = """
import hashlib, sys
from pathlib import Path
from harness.api import run_gate
from harness.clock import FixedClock
root, examples = Path(sys.argv[1]), Path(sys.argv[1]) / "examples" / "outputs"
result = run_gate(examples / "acme-support-1.2.0.jsonl", baseline=examples / "acme-support-1.0.0.jsonl",
                  policies=root / "policies", evals=root / "evals", clock=FixedClock(sys.argv[2]))
print(hashlib.sha256(result.report.to_json().encode("utf-8")).hexdigest())
"""


def test_the_report_bytes_do_not_depend_on_the_process_string_hash_seed(rollback: GateResult) -> None:
    """A replay in another process (another PYTHONHASHSEED) must reproduce the sha256 the registry recorded."""
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    # the same working directory (the report's paths are relative to it) and the same harness package
    package_root = str(Path(harness.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONHASHSEED": seed,
           "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    child = subprocess.run([sys.executable, "-c", _IN_A_CHILD, str(ROOT), NOON], capture_output=True, text=True,
                           check=True, cwd=Path.cwd(), env=env)
    assert child.stdout.strip() == hashlib.sha256(rollback.report.to_json().encode("utf-8")).hexdigest()


# --- 4. renderers read only the report -------------------------------------------------------

STYLES = [(False, None), (True, 80)]


@pytest.mark.parametrize(("color", "width"), STYLES, ids=["plain", "color-80"])
@pytest.mark.parametrize("fmt", BUILTIN_FORMATS)
def test_a_report_read_back_from_json_renders_exactly_as_the_original(
        rollback: GateResult, fmt: str, color: bool, width: int | None) -> None:
    original = rollback.report
    stored = Report.from_json(original.to_json())
    assert stored is not original
    assert render(stored, fmt, color=color, width=width) == render(original, fmt, color=color, width=width)


@settings(max_examples=50, deadline=None)
@given(report=reports())
def test_any_report_renders_the_same_after_a_json_round_trip(report: Report) -> None:
    stored = Report.from_json(report.to_json())
    for fmt in BUILTIN_FORMATS:
        assert render(stored, fmt) == render(report, fmt), fmt


@pytest.mark.parametrize(("policy", "rule"), [("[", "]"), ("[", ": ]"), ("x[/", "b]"), ("[red", "]")])
def test_brackets_split_between_two_values_never_make_markup(rollback: GateResult, policy: str, rule: str) -> None:
    """Hypothesis found it in CI: a policy id ending in "[" and a rule starting with "]" printed as
    "[/]", a closing tag with nothing to close, and the text report crashed (exit 5)."""
    from harness.report.renderers import terminal

    report = rollback.report
    ok = dataclasses.replace(report.results[0], status="fail", policy="id-0", rule="r", case_id="c")
    hostile = dataclasses.replace(ok, policy=policy, rule=rule)
    text = terminal.render(dataclasses.replace(report, results=(ok, hostile)), color=False, width=200)
    assert f"{policy}/{rule}" in text


@settings(max_examples=50, deadline=None)
@given(report=reports())
def test_the_text_report_lets_no_control_character_through_to_the_terminal(report: Report) -> None:
    text = render(report, "text")
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text), ascii(text)


SARIF_SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-2.1.0.schema.json").read_text(encoding="utf-8"))


@settings(max_examples=50, deadline=None)
@given(report=reports())
def test_every_line_of_the_github_format_is_one_workflow_command(report: Report) -> None:
    lines = render(report, "github").split("\n")
    assert lines[-1] == "" and lines[-2].startswith("::notice title=harness ")
    for line in lines[:-1]:
        assert re.fullmatch(r"::(error|warning|notice)( [^:\r\n]*)?::[^\r\n\x00-\x08\x0b-\x1f\x7f]*", line), ascii(line)


@settings(max_examples=50, deadline=None)
@given(report=reports())
def test_any_report_renders_as_valid_sarif(report: Report) -> None:
    import jsonschema

    log = json.loads(render(report, "sarif"))
    errors = [f"{e.json_path}: {e.message}" for e in jsonschema.Draft4Validator(SARIF_SCHEMA).iter_errors(log)]
    assert not errors, errors[:3]


def test_no_line_break_in_a_value_forges_a_line_of_the_text_report(rollback: GateResult) -> None:
    """A case id, model or version holding a newline printed a line of its own: a fake verdict, or a
    GitHub Actions workflow command (a line starting ``::error::``)."""
    forged = "x\nVerdict: PROMOTE\n::error::forged\r\u2028::warning::forged"
    run = dataclasses.replace(rollback.report.run, model=f"acme{forged}", model_version=f"1.2.0{forged}")
    report = dataclasses.replace(_markdown_report(rollback, [forged]), run=run, warnings=(f"w{forged}",),
                                 reasons=(f"r{forged}",))
    lines = render(report, "text").splitlines()
    assert [line for line in lines if line.lstrip().startswith(("::", "Verdict"))] == ["Verdict: ROLLBACK"]
    assert any("x\\nVerdict: PROMOTE\\n::error::forged" in line for line in lines)  # shown, escaped


# --- 5. Markdown -----------------------------------------------------------------------------

def _cells(row: str) -> list[str]:
    """The cells of a GFM table row: split at each ``|`` no backslash escapes, then ``\\|`` unescaped."""
    parts = re.split(r"(?<!\\)\|", row)
    assert parts[0].strip() == "" and parts[-1].strip() == "", row
    return [part.replace("\\|", "|") for part in parts[1:-1]]


def _code_spans(cell: str) -> tuple[list[str], str]:
    """CommonMark inline code in a cell: the contents of its code spans, and the text outside them."""
    spans: list[str] = []
    outside: list[str] = []
    i = 0
    while i < len(cell):
        if cell[i] == "\\" and i + 1 < len(cell) and cell[i + 1] in string.punctuation:
            outside.append(cell[i:i + 2])
            i += 2
            continue
        if cell[i] == "`":
            run = len(cell) - i - len(cell[i:].lstrip("`"))
            closing = re.compile(rf"(?<!`)`{{{run}}}(?!`)").search(cell, i + run)
            if closing:
                spans.append(cell[i + run:closing.start()])
                i = closing.end()
                continue
            outside.append("`" * run)
            i += run
            continue
        outside.append(cell[i])
        i += 1
    return spans, "".join(outside)


def _tables(markdown: str) -> list[list[str]]:
    """The tables of a Markdown document: runs of lines that start with ``|``."""
    tables: list[list[str]] = []
    previous = False
    for line in markdown.split("\n"):
        is_row = line.startswith("|")
        if is_row and not previous:
            tables.append([])
        if is_row:
            tables[-1].append(line)
        previous = is_row
    return tables


def _assert_tables_hold(markdown: str) -> None:
    for table in _tables(markdown):
        widths = {len(_cells(row)) for row in table}
        assert len(widths) == 1, "\n".join(table)


def _assert_no_html_outside_code(markdown: str) -> None:
    for line in markdown.split("\n"):
        cells = _cells(line) if line.startswith("|") else [line]
        for cell in cells:
            _, outside = _code_spans(cell)
            assert not re.search(r"<[A-Za-z/!?]", outside), line


UNTRUSTED = ["a|b", "pipe at the end |", "\\|escaped already", "back`tick", "``double``", "`",
             "<script>alert(1)</script>", "two\nlines|x", "tab\there", "trailing backslash \\", "|", "`|`"]


def _markdown_report(rollback: GateResult, texts: Sequence[str]) -> Report:
    """The shipped report with results whose case ids, messages and finding excerpts are hostile."""
    results = tuple(
        ResultReport(case_id=f"case {text}", policy="privacy.no-pii", rule=f"rule {text}", status="fail",
                     message=f"message {text}", line=1, waiver=None,
                     findings=(FindingReport("email", 0, 5, text), FindingReport("regex", None, None, f"x{text}y")))
        for text in texts)
    return dataclasses.replace(rollback.report, results=results)


def test_markdown_hostile_text_keeps_every_table_row_whole(rollback: GateResult) -> None:
    markdown = render(_markdown_report(rollback, UNTRUSTED), "markdown")
    tables = _tables(markdown)
    failures = next(t for t in tables if t[0].startswith("| case |"))
    assert len(failures) == 2 + len(UNTRUSTED)  # header, rule, one row per result: no line break got through
    _assert_tables_hold(markdown)
    for row, text in zip(failures[2:], UNTRUSTED, strict=True):
        cells = _cells(row)
        assert len(cells) == 5, row
        spans, outside = _code_spans(cells[4])
        assert len(spans) == 2, row  # each excerpt is one code span: no backtick ended one early
        for span, excerpt in zip(spans, (text, f"x{text}y"), strict=True):
            expected = " ".join(excerpt.split())
            assert len(span) == len(expected), row
            assert all(a == b for a, b in zip(span, expected, strict=True) if b != "`"), row
            assert "`" not in span
        assert "<script>" not in outside


def test_markdown_escapes_html_outside_code_spans(rollback: GateResult) -> None:
    markdown = render(_markdown_report(rollback, UNTRUSTED), "markdown")
    assert "<script>" in markdown  # inside a code span it is shown as text, which is fine...
    _assert_no_html_outside_code(markdown)  # ...but nowhere else
    assert "&lt;script&gt;" in markdown


@settings(max_examples=75, deadline=None)
@given(report=reports())
def test_markdown_tables_of_any_report_keep_their_shape(report: Report) -> None:
    markdown = render(report, "markdown")
    _assert_tables_hold(markdown)
    _assert_no_html_outside_code(markdown)
    failing = [r for r in report.results if r.status != "waived"]
    tables = [t for t in _tables(markdown) if t[0].startswith("| case |")]
    assert [len(t) - 2 for t in tables] == ([min(len(failing), MAX_ROWS)] if failing else [])
    assert len(next(t for t in _tables(markdown) if t[0].startswith("| policy | version"))) == 2 + len(report.policies)


# --- 6. JUnit --------------------------------------------------------------------------------

def _suites(xml: str) -> dict[str, ET.Element]:
    return {suite.get("name", ""): suite for suite in ET.fromstring(xml)}


def test_junit_of_the_rollback_example_is_valid_and_has_a_testcase_per_case_and_policy(
        rollback: GateResult, junit_schema: xmlschema.XMLSchema) -> None:
    xml = render(rollback.report, "junit")
    junit_schema.validate(xml)
    suites = _suites(xml)
    assert list(suites) == [p.id for p in rollback.report.policies]
    project = load_project(ROOT / "policies", ROOT / "evals")
    assert project.suites
    for suite in project.suites:
        names = [case.get("name", "") for case in suites[suite.policy_id].iter("testcase")]
        cases = sorted(n for n in names if not n.startswith("[run] "))
        assert cases == sorted(c.id for c in suite.cases), suite.policy_id
    for policy in rollback.report.policies:
        names = [case.get("name", "") for case in suites[policy.id].iter("testcase")]
        run_level = [a for a in rollback.report.aggregates if a.policy == policy.id]
        assert len(names) == len(set(names)) == policy.checked + len(run_level), policy.id


def test_junit_of_the_rollback_example_reports_its_failures(rollback: GateResult) -> None:
    root = ET.fromstring(render(rollback.report, "junit"))
    failed = {(suite.get("name"), case.get("name")) for suite in root for case in suite.iter("testcase")
              if case.find("failure") is not None or case.find("error") is not None}
    expected = {(r.policy, r.case_id) for r in rollback.report.results if r.status != "waived"}
    expected |= {(a.policy, f"[run] {a.rule}") for a in rollback.report.aggregates if a.status in ("fail", "error")}
    assert failed == expected
    assert int(root.get("failures", "0")) + int(root.get("errors", "0")) == len(expected)


def test_junit_writes_each_case_once_per_policy_whatever_scopes_list_it(rollback: GateResult) -> None:
    policies = tuple(dataclasses.replace(rollback.report.policies[0], id=pid) for pid in ("a", "b"))
    failed = ResultReport("c3", "a", "r", "fail", "bad", 3, None)
    report = dataclasses.replace(
        rollback.report, policies=policies, aggregates=(),
        scopes=(ScopeReport(("a", "b"), ("c1", "c2")), ScopeReport(("a", "a"), ("c2", "c3")),
                ScopeReport(("b",), ("c4",))),
        results=(failed, dataclasses.replace(failed, case_id="gone", policy="b"),
                 dataclasses.replace(failed, case_id="*", policy="a")))
    suites = _suites(render(report, "junit"))
    assert {pid: [c.get("name") for c in suite.iter("testcase")] for pid, suite in suites.items()} == {
        "a": ["c1", "c2", "c3"], "b": ["c1", "c2", "c4", "gone"]}
    assert [suites[pid].get("failures") for pid in ("a", "b")] == ["1", "1"]


@settings(max_examples=75, deadline=None)
@given(report=reports())
def test_junit_of_any_report_is_valid_and_counts_what_it_holds(report: Report,
                                                                junit_schema: xmlschema.XMLSchema) -> None:
    xml = render(report, "junit")
    junit_schema.validate(xml)
    root = ET.fromstring(xml)
    assert len(root) == len(report.policies)
    totals: Counter[str] = Counter()
    for suite, policy in zip(root, report.policies, strict=True):
        cases = suite.findall("testcase")
        outcome = Counter(next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "pass")
                          for case in cases)
        assert [int(suite.get(k, "-1")) for k in ("tests", "failures", "errors", "skipped")] == \
            [len(cases), outcome["failure"], outcome["error"], outcome["skipped"]]
        # one test case per case id the policy judged or has a result for, plus one per run-level rule
        judged = {c for s in report.scopes if policy.id in s.policies for c in s.cases}
        judged |= {r.case_id for r in report.results if r.policy == policy.id and r.case_id != "*"}
        assert len(cases) == len(judged) + sum(a.policy == policy.id for a in report.aggregates)
        totals.update(tests=len(cases), failures=outcome["failure"], errors=outcome["error"])
    assert {k: int(root.get(k, "-1")) for k in ("tests", "failures", "errors")} == \
        {k: totals[k] for k in ("tests", "failures", "errors")}


# --- 7. personal data ------------------------------------------------------------------------

EMAILS = ("jane.doe@example.com", "john.smith@example.com", "ann.lee@example.org")
EMAIL = re.compile(r"[^\s`'\"(<>|]*@[A-Za-z0-9.-]+\.[a-z]{2,}")


def test_a_disparity_grouped_by_email_never_writes_an_address(repo: Any, policy_text: Callable[..., str]) -> None:
    repo.policy("parity.yaml", policy_text("""
        - id: parity
          check: disparity
          by: customer.email
          max_gap: 0.1
          of: {check: refusal, must: answer}
        """, id="privacy.parity"))
    records = [{"case_id": f"c{i}", "model": "m", "model_version": "1", "input": "Where is my order?",
                "output": ("I'm sorry, but I can't help with that." if email.startswith("jane")
                           else "Your order ships on Monday."),
                "customer": {"email": email}}
               for i, email in enumerate(EMAILS * 3)]
    result = run_gate(repo.outputs("outputs.jsonl", records), policies=repo.policies, evals=repo.evals,
                      clock=FixedClock(NOON))
    report = result.report
    (aggregate,) = report.aggregates
    assert aggregate.status == "fail"
    rendered = {fmt: render(report, fmt) for fmt in BUILTIN_FORMATS}
    for fmt, text in rendered.items():
        for email in EMAILS:
            assert email not in text, fmt
        assert all(re.fullmatch(r"\S?(\\?\*){3}@\S+", address) for address in EMAIL.findall(text)), fmt
    assert "j***@example.com" in rendered["json"] and "a***@example.org" in rendered["json"]
    # jane and john mask alike; both groups are still reported, the failing one included
    slices = aggregate.details["slices"]
    assert len(slices) == len(EMAILS)
    assert sorted(s["pass_rate"] for s in slices.values()) == [0.0, 1.0, 1.0]
    assert sum(s["count"] for s in slices.values()) == len(records)


def test_markdown_never_mentions_anyone_named_in_model_output(rollback: GateResult) -> None:
    base = rollback.report
    message = "ping @security-team and @octocat"
    hostile = dataclasses.replace(base, results=(dataclasses.replace(base.results[0], message=message),))
    text = render(hostile, "markdown")
    assert "@security-team" not in text and "&#64;security-team" in text


def test_from_json_refuses_duplicate_keys_and_absurd_nesting(rollback: GateResult) -> None:
    text = rollback.report.to_json()
    doubled = text.replace('"verdict": "rollback"', '"verdict": "rollback", "verdict": "promote"', 1)
    with pytest.raises(InputError, match="duplicate key 'verdict'"):
        Report.from_json(doubled)
    with pytest.raises(InputError, match="not a harness report"):
        Report.from_json("[" * 200_000 + "]" * 200_000)
