"""The risk register: closed incidents only, every field, and hostile text kept inert in each format."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from harness.clock import FixedClock, parse_timestamp
from harness.errors import InputError
from harness.incidents import IncidentStore
from harness.incidents.register import (
    COLUMNS,
    csv_safe,
    export_register,
    lesson_references,
    markdown_cell,
    render_register,
)

NOW = "2026-06-30T12:00:00Z"
HOSTILE = "=cmd|' /C calc'!A0 | leaked\nsecond line <script>alert(1)</script> [click](http://evil.example) *bold*"


def step(store: IncidentStore, incident: str, kind: str, when: str, **fields: Any) -> None:
    with store.transaction(incident) as tx:
        tx.append(tx.event(kind, by="oncall@example.com", at=parse_timestamp(when), **fields))


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "evals").mkdir()
    (tmp_path / "policies" / "playbook.yaml").write_text("lessons_from: [INC-2026-0002]\n", encoding="utf-8")
    (tmp_path / "policies" / "privacy.yaml").write_text(
        "id: privacy.no-pii\nlessons_from: [INC-2026-0001]\n", encoding="utf-8")
    (tmp_path / "policies" / "tone.yaml").write_text("id: quality.tone\nlessons_from: []\n", encoding="utf-8")
    (tmp_path / "evals" / "echo.yaml").write_text("suite: pii-echo\nfrom_incident: INC-2026-0001\n",
                                                  encoding="utf-8")
    store = IncidentStore(tmp_path / "incidents", clock=FixedClock(NOW))
    record = {"severity": "sev1", "detected": "2026-01-10T10:00:00Z", "model": "bot", "model_version": "1.0"}
    closed = store.create({**record, "title": HOSTILE}).id
    step(store, closed, "contained", "2026-01-10T10:30:00Z", action="disable-endpoint", outcome="done",
         contains=True)
    step(store, closed, "rca", "2026-01-11T06:00:00Z", trigger="a release", root_cause_type="data",
         corrective_action="-2+3 rows purged", preventive_action="@mask the tool output", owner="ml@example.com",
         deadline="2026-02-01")
    step(store, closed, "resolved", "2026-01-12T10:00:00Z")
    step(store, closed, "review", "2026-01-13T10:00:00Z", participants=["gl@example.com"],
         lessons=["mask tool output", "a | pipe\nand a newline"], policies=["quality.tone"],
         evals=["review-suite"])
    step(store, closed, "closed", "2026-01-14T10:00:00Z")
    store.create({**record, "title": "still open", "detected": "2026-02-01T00:00:00Z"})
    return tmp_path


def entries_of(root: Path) -> Any:
    incidents, problems = IncidentStore(root / "incidents").load_all()
    assert problems == []
    return export_register(incidents, policies_dir=root / "policies", evals_dir=root / "evals")


def test_closed_incidents_with_their_dates_actions_lessons_and_links(repository: Path) -> None:
    entries = entries_of(repository)

    assert [e.id for e in entries] == ["INC-2026-0001"]  # the open one is not archived
    entry = entries[0].to_json()
    assert entry == {
        "id": "INC-2026-0001", "title": HOSTILE, "severity": "sev1", "model": "bot", "model_version": "1.0",
        "detected": "2026-01-10T10:00:00.000Z", "contained": "2026-01-10T10:30:00.000Z",
        "resolved": "2026-01-12T10:00:00.000Z", "reviewed": "2026-01-13T10:00:00.000Z",
        "closed": "2026-01-14T10:00:00.000Z", "root_cause_type": "data",
        "corrective_action": "-2+3 rows purged", "preventive_action": "@mask the tool output",
        "lessons": ["mask tool output", "a | pipe\nand a newline"],
        # named by the review, and referencing the incident through lessons_from / from_incident
        "policies": ["privacy.no-pii", "quality.tone"], "evals": ["pii-echo", "review-suite"]}


def test_lesson_references_skip_the_playbook_and_read_both_folders(repository: Path) -> None:
    references = lesson_references(repository / "policies", repository / "evals")

    assert set(references) == {"INC-2026-0001"}  # playbook.yaml's key is not a policy's
    lessons = references["INC-2026-0001"]
    assert (dict(lessons.policies), dict(lessons.suites)) == (
        {"privacy.no-pii": repository / "policies" / "privacy.yaml"},
        {"pii-echo": repository / "evals" / "echo.yaml"})


def test_a_policy_file_that_does_not_parse_is_an_error_not_a_missing_link(repository: Path) -> None:
    (repository / "policies" / "broken.yaml").write_text("id: [unclosed\n", encoding="utf-8")

    with pytest.raises(InputError, match=r"broken\.yaml:2"):
        entries_of(repository)


def test_json_round_trips_the_hostile_text(repository: Path) -> None:
    document = json.loads(render_register(entries_of(repository), "json"))

    assert document["register_version"] == 1
    assert document["incidents"][0]["title"] == HOSTILE


def test_csv_defuses_formulas_and_keeps_the_text(repository: Path) -> None:
    text = render_register(entries_of(repository), "csv")
    rows = list(csv.reader(io.StringIO(text)))

    assert rows[0] == list(COLUMNS)
    row = dict(zip(COLUMNS, rows[1], strict=True))
    assert row["title"] == "'" + HOSTILE
    assert row["corrective_action"] == "'-2+3 rows purged"
    assert row["preventive_action"] == "'@mask the tool output"
    assert row["lessons"] == "mask tool output; a | pipe\nand a newline"
    assert row["policies"] == "privacy.no-pii; quality.tone"
    assert len(rows) == 2


@pytest.mark.parametrize(("cell", "expected"), [
    ("=1+2", "'=1+2"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"), ("a=1", "a=1"), ("", ""),
])
def test_csv_safe(cell: str, expected: str) -> None:
    assert csv_safe(cell) == expected


def test_markdown_escapes_pipes_newlines_markup_and_html(repository: Path) -> None:
    text = render_register(entries_of(repository), "markdown")
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| Incident"))
    row = next(line for line in lines if line.startswith("| INC-2026-0001"))

    def cells(line: str) -> int:  # pipes not escaped by a backslash separate cells
        return sum(1 for i, c in enumerate(line) if c == "|" and (i == 0 or line[i - 1] != "\\"))

    assert cells(row) == cells(header) == len(COLUMNS) + 1
    assert "<script>" not in text and "[click](" not in text
    assert ("=cmd\\|' /C calc'!A0 \\| leaked<br>second line &lt;script&gt;alert(1)&lt;/script&gt;"
            " \\[click\\](http://evil.example) \\*bold\\*") in row
    assert "a \\| pipe<br>and a newline" in row


def test_markdown_cell_neutralises_terminal_controls_and_every_line_break() -> None:
    assert markdown_cell("a\u2028b\r\nc\x1b[31md") == "a<br>b<br>c\ufffd\\[31md"


def test_an_empty_register(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    assert render_register([], "markdown") == "# Risk register\n\n0 closed incident(s).\n\n"
    assert render_register([], "csv") == ",".join(COLUMNS) + "\r\n"
    with pytest.raises(InputError, match="unknown register format 'xml'"):
        render_register([], "xml")


def test_csv_replaces_terminal_escapes() -> None:
    assert csv_safe("ok\x1b[2J\nnext") == "ok\ufffd[2J\nnext"


# -- the command (its module's register() on a parser of its own; the lead wires it into harness) --------------


def run_cli(*argv: str) -> int:
    from harness.cli import common
    from harness.cli import register as command

    parser = common.Parser(prog="harness")
    command.register(parser.add_subparsers(dest="command", parser_class=common.Parser))
    args = parser.parse_args(["register", *argv])
    args.clock = FixedClock(NOW)
    return int(args.func(args))


def test_cli_exports_to_a_file(repository: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = repository / "register.csv"
    code = run_cli("export", "--format", "csv", "--output", str(target), "--incidents",
                   str(repository / "incidents"), "--policies", str(repository / "policies"), "--evals",
                   str(repository / "evals"))

    assert code == 0
    assert capsys.readouterr().out == f"wrote 1 closed incident(s) to {target}\n"
    assert target.read_text("utf-8").splitlines()[0] == ",".join(COLUMNS)


def test_cli_without_an_action_lists_them(repository: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli() == 4
    assert "export" in capsys.readouterr().err
