"""The shipped incidents are full records: they load, close where they claim to, keep their clocks and evidence."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest

from harness.api import incidents as api
from harness.cli import main
from harness.clock import FixedClock, parse_timestamp
from harness.incidents import IncidentStore
from harness.io.schema import schema_errors, validator
from harness.io.yaml import load_yaml

ROOT = Path(__file__).resolve().parents[1]
NOW = FixedClock("2026-12-03T12:00:00Z")
CLOSED = ["INC-2026-0001", "INC-2026-0002", "INC-2026-0003", "INC-2026-0004", "INC-2026-0005", "INC-2026-0006"]
ALL = [*CLOSED, "INC-2026-0007"]


@pytest.fixture
def desk(monkeypatch: pytest.MonkeyPatch) -> api.Desk:
    monkeypatch.chdir(ROOT)
    return api.desk("incidents", policies="policies", evals="evals", clock=NOW)


def test_every_shipped_incident_loads_without_a_problem(desk: api.Desk) -> None:
    found, problems = IncidentStore(ROOT / "incidents").load_all()
    assert [str(p) for p in problems] == []
    assert sorted(i.id for i in found) == ALL


@pytest.mark.parametrize("ident", CLOSED)
def test_the_closed_ones_are_closed_with_every_step_recorded(desk: api.Desk, ident: str) -> None:
    incident = desk.store.load(ident)
    assert incident.state.label == "closed"
    kinds = {e.type for e in incident.events}
    assert {"classified", "evidence", "notice", "rca", "follow_up", "resolved", "review", "signed_off",
            "closed"} <= kinds
    assert "governance_lead" in {e.get("role") for e in incident.of_type("signed_off")}
    assert any("Refresh training materials" in (e.get("text") or "") for e in incident.of_type("follow_up"))
    assert all(f.status in ("done", "dropped") for f in incident.follow_ups.values())
    assert api.view(desk, incident).referenced_by  # the lesson is a policy or an eval suite of the repository


def test_the_sev3_formatting_incident_was_contained_by_a_real_rollback(desk: api.Desk) -> None:
    incident = desk.store.load("INC-2026-0004")
    [rollback] = incident.of_type("rollback")
    assert (rollback.get("from"), rollback.get("to"), rollback.get("outcome")) == ("0.9.8", "0.9.7", "done")
    assert incident.contained_at == rollback.at == parse_timestamp("2026-07-15T19:43:00Z")  # 40 minutes


def test_one_is_open_with_a_running_review_clock(desk: api.Desk) -> None:
    view = api.view(desk, "INC-2026-0007")
    assert view.incident.state.label == "resolved"
    nxt = view.next_due
    assert nxt is not None and (nxt.name, nxt.status(view.now)) == ("review", "running")
    assert nxt.due_at == parse_timestamp("2026-12-04T10:30:00Z")
    assert [c.incident for _, c in api.running_clocks(desk)] == ["INC-2026-0007"]


def test_the_open_one_is_a_repeat_of_the_earlier_latency_incident(desk: api.Desk) -> None:
    rca = desk.store.load("INC-2026-0007").rca
    assert rca is not None
    assert (rca.get("variant_of"), rca.get("root_cause_type"), rca.get("failing_policy")) == (
        "INC-2026-0005", "model", "quality.latency")


def test_the_privacy_breach_told_the_regulator_within_72_hours(desk: api.Desk) -> None:
    incident = desk.store.load("INC-2026-0001")
    assert incident.flags.get("personal_data") is True
    [notice] = incident.sent("regulators", "gdpr-art33")
    assert notice.get("template") == "policies/templates/notices/regulators-gdpr-art33.md"
    assert notice.at - incident.became_aware <= dt.timedelta(hours=72)
    assert notice.get("subject") == "Personal data breach notification (GDPR Art. 33): INC-2026-0001"
    clock = next(c for c in api.view(desk, incident).clocks if c.name == "notice:gdpr-art33")
    assert clock.status(NOW.now()) == "met"


def test_an_rca_came_in_late_so_the_metrics_show_a_breach(desk: api.Desk) -> None:
    clocks = {c.name: c for c in api.view(desk, "INC-2026-0002").clocks}
    assert clocks["rca"].status(NOW.now()) == "breached"
    assert clocks["rca"].stopped_at == parse_timestamp("2026-04-23T14:10:00Z")  # 30 h after detection


def test_nothing_shipped_names_a_scratch_path() -> None:
    for path in (ROOT / "incidents").glob("INC-*"):
        assert "/tmp" not in path.read_text(encoding="utf-8"), path.name


@pytest.mark.parametrize("ident", ALL)
def test_the_evidence_is_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                ident: str) -> None:
    shutil.copytree(ROOT / "incidents", tmp_path / "incidents")
    for name in ("policies", "evals"):
        shutil.copytree(ROOT / name, tmp_path / name)
    for stored in (tmp_path / "incidents" / "evidence").rglob("*"):  # as a fresh clone has them: writable
        if stored.is_file():
            os.chmod(stored, 0o644)
    monkeypatch.chdir(tmp_path)
    assert main(["incident", "verify", ident], clock=NOW) == 0  # git keeps no read-only bit: a note, not a failure
    out = capsys.readouterr().out
    assert "intact" in out
    events = [json.loads(line) for line in (tmp_path / "incidents" / f"{ident}.events.jsonl").read_text().splitlines()]
    assert all(e["size"] < 4096 for e in events if e["type"] == "evidence")  # small, masked excerpts only


@pytest.mark.parametrize("ident", ALL)
def test_the_record_files_validate_against_their_schemas(ident: str) -> None:
    record = load_yaml(ROOT / "incidents" / f"{ident}.yaml")
    assert [str(e) for e in [*record.problems, *schema_errors(record, "incident")]] == []
    events = validator("incident-event")
    lines = (ROOT / "incidents" / f"{ident}.events.jsonl").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        event = json.loads(line)
        assert [e.message for e in events.iter_errors(event)] == [], f"{ident}.events.jsonl:{number}"
        assert event["seq"] == number


def test_the_shipped_playbook_carries_a_valid_governance_lead_signoff() -> None:
    """An edit of policies/playbook.yaml needs a new sign-off: `harness signoff policies/playbook.yaml --by
    governance_lead:governance-lead@example.com` (the metrics' success indicator reads it)."""
    from harness.project.signoff import valid_signoff

    entry = valid_signoff(ROOT / "policies", ROOT / "policies" / "playbook.yaml", "governance_lead")
    assert entry is not None and entry.by == "governance-lead@example.com"
