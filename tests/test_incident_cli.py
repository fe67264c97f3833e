"""The incident workflow through the ``harness`` command: each step, its refusals, its clocks, its side effects."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest
import yaml

from harness.api import incidents as api
from harness.cli import main
from harness.clock import FixedClock, parse_timestamp

MODEL = "acme-support-assistant"
DAY = ("--today", "2026-11-27", "--backdate")
T0 = "2026-12-03T09:00:00Z"
ME = ("--by", "ai-oncall@example.com", "--incidents", "inc")


def t(minutes: float) -> str:
    """The time ``minutes`` after T0, as --at takes it."""
    return (parse_timestamp(T0) + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock("2026-12-10T09:00:00Z")


@pytest.fixture
def run(workdir, clock):
    def harness(*argv: str) -> int:
        return main(list(argv), clock=clock)

    return harness


def events(incident: str = "INC-2026-0001") -> list[dict]:
    path = Path(f"inc/{incident}.events.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def open_sev(run, severity: str = "sev2", *extra: str) -> str:
    assert run("incident", "open", "--title", "Refunds refused for one group", "--severity", severity,
               "--model", MODEL, "--model-version", "1.2.0", "--at", t(0), *ME, *extra) == 0
    return "INC-2026-0001"


def walk_to_resolved(run, incident: str) -> None:
    assert run("incident", "contain", incident, "--action", "rate-limit", "--at", t(30), *ME) == 0
    assert run("incident", "rca", incident, "--trigger", "prompt change in 1.2.0", "--type", "model",
               "--corrective", "restore the 1.1.0 prompt", "--preventive", "parity policy on every release",
               "--owner", "ml-lead@example.com", "--deadline", "2026-12-10", "--at", t(120), *ME) == 0
    assert run("incident", "remediate", incident, "--resolved", "--at", t(180), *ME) == 0


def test_open_assigns_ids_writes_the_record_once_and_escalates_a_sev1(run, capsys):
    incident = open_sev(run, "sev1", "--flag", "personal_data")
    record = yaml.safe_load(Path(f"inc/{incident}.yaml").read_text())
    assert record["id"] == incident and record["severity"] == "sev1" and record["flags"] == {"personal_data": True}
    assert record["detected"] == "2026-12-03T09:00:00.000Z" and record["reported_by"] == "ai-oncall@example.com"
    told = [e for e in events(incident) if e["type"] == "notice"]
    assert [e["audience"] for e in told] == ["escalation"] and told[0]["outcome"] == "sent"
    assert set(told[0]["recipients"]) == {"governance-lead@example.com", "security-officer@example.com"}
    assert run("incident", "open", "--title", "second", "--severity", "sev3", "--model", MODEL,
               "--model-version", "1", *ME) == 0
    assert Path("inc/INC-2026-0002.yaml").is_file()  # the clock's year, the next number
    assert not [e for e in events("INC-2026-0002") if e["type"] == "notice"]  # sev3: nobody escalated


def test_a_step_out_of_order_is_refused_naming_the_missing_step_and_nothing_changes(run, capsys):
    incident = open_sev(run)
    before = Path(f"inc/{incident}.events.jsonl").read_bytes() if events(incident) else b""
    capsys.readouterr()
    assert run("incident", "review", incident, "--lesson", "x", "--participant", "y", *ME) == 4
    err = capsys.readouterr().err
    assert "missing step is containment" in err and incident in err
    assert run("incident", "rca", incident, "--trigger", "t", "--type", "model", "--corrective", "c",
               "--preventive", "p", "--owner", "o@example.com", "--deadline", "2026-12-10", *ME) == 4
    assert "missing step is containment" in capsys.readouterr().err
    assert (Path(f"inc/{incident}.events.jsonl").read_bytes() if events(incident) else b"") == before


def test_times_must_follow_the_previous_event_and_not_lie_in_the_future(run, capsys):
    incident = open_sev(run)
    assert run("incident", "contain", incident, "--action", "rate-limit", "--at", t(30), *ME) == 0
    capsys.readouterr()
    assert run("incident", "classify", incident, "--severity", "sev1", "--reason", "r", "--at", t(29), *ME) == 4
    assert "before the incident's previous event" in capsys.readouterr().err
    assert run("incident", "classify", incident, "--severity", "sev1", "--reason", "r", "--at",
               "2026-12-11T00:00:00Z", *ME) == 4
    assert "in the future" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # no zone: a usage error
        run("incident", "classify", incident, "--severity", "sev1", "--reason", "r", "--at", "2026-12-03T10:00:00", *ME)
    assert exc.value.code == 4 and "has no time zone" in capsys.readouterr().err
    assert len(events(incident)) == 1


def test_unknown_incident_severity_action_and_root_cause_type_are_input_errors(run, capsys):
    assert run("incident", "show", "INC-2026-0042", "--incidents", "inc") == 4
    assert "unknown incident 'INC-2026-0042'" in capsys.readouterr().err
    assert run("incident", "show", "../../etc/passwd", "--incidents", "inc") == 4
    assert "expected an id like INC-2026-0001" in capsys.readouterr().err
    assert run("incident", "open", "--title", "x", "--severity", "sev9", "--model", "m", "--model-version", "1",
               *ME) == 4
    assert "unknown severity 'sev9'" in capsys.readouterr().err
    incident = open_sev(run)
    capsys.readouterr()
    assert run("incident", "contain", incident, "--action", "pray", *ME) == 4
    err = capsys.readouterr().err
    assert "unknown containment action 'pray'" in err and "disable-endpoint" in err
    assert run("incident", "contain", incident, "--action", "rate-limit", "--at", t(5), *ME) == 0
    assert run("incident", "rca", incident, "--trigger", "t", "--type", "gremlins", "--corrective", "c",
               "--preventive", "p", "--owner", "o@example.com", "--deadline", "2026-12-10", *ME) == 4
    assert "expected one of data, model, infra, policy, human_error" in capsys.readouterr().err


def test_a_failing_containment_hook_is_recorded_and_does_not_contain(run, capsys):
    incident = open_sev(run, "sev1")
    playbook = Path("policies/playbook.yaml")
    data = yaml.safe_load(playbook.read_text())
    data["containment"]["disable-endpoint"]["hook"] = {
        "kind": "command", "run": f"{sys.executable} -c 'import sys; print(\"gateway said no\"); sys.exit(3)'"}
    playbook.write_text(yaml.safe_dump(data, sort_keys=False))
    assert run("incident", "contain", incident, "--action", "disable-endpoint", "--at", t(10), *ME) == 1
    assert "FAILED" in capsys.readouterr().out
    last = events(incident)[-1]
    assert (last["type"], last["outcome"], last["contains"]) == ("contained", "failed", True)
    assert "gateway said no" in last["detail"]
    view = api.view(api.desk("inc", clock=FixedClock(t(20))), incident)
    assert view.incident.contained_at is None and view.incident.state.label == "open"


def test_a_webhook_containment_action_posts_the_incident(run, http_server):
    incident = open_sev(run)
    playbook = Path("policies/playbook.yaml")
    data = yaml.safe_load(playbook.read_text())
    data["containment"]["safe-mode"]["hook"] = {"kind": "webhook", "url": http_server.url + "/safe-mode"}
    playbook.write_text(yaml.safe_dump(data, sort_keys=False))
    assert run("incident", "contain", incident, "--action", "safe-mode", "--at", t(10), *ME) == 0
    body = http_server.received[-1]["json"]
    assert body["incident"] == incident and body["action"] == "safe-mode" and body["model_version"] == "1.2.0"
    assert events(incident)[-1]["outcome"] == "done"


def test_a_failed_delivery_is_recorded_and_the_notice_stays_due(run, http_server, capsys):
    incident = open_sev(run)
    assert run("incident", "notify", incident, "--audience", "internal", "--notifier",
               f"webhook:{http_server.url}/fail", "--at", t(5), *ME) == 1
    last = events(incident)[-1]
    assert (last["type"], last["outcome"], last["clock"]) == ("notice", "failed", "internal")
    assert "500" in last["answer"]
    desk = api.desk("inc", clock=FixedClock(t(10)))
    due = {c.name: c for c in api.view(desk, incident).clocks}
    assert due["notice:internal:internal"].status(desk.clock.now()) == "running"
    assert run("incident", "notify", incident, "--audience", "internal", "--notifier",
               f"webhook:{http_server.url}/ok", "--at", t(6), *ME) == 0
    assert http_server.received[-1]["json"]["audience"] == "internal"
    due = {c.name: c for c in api.view(desk, incident).clocks}
    assert due["notice:internal:internal"].status(desk.clock.now()) == "met"


def test_customers_hear_only_after_containment(run, capsys):
    incident = open_sev(run)
    assert run("incident", "notify", incident, "--audience", "customers", "--at", t(5), *ME) == 4
    assert "only after containment" in capsys.readouterr().err
    assert run("incident", "contain", incident, "--action", "redirect-traffic", "--at", t(10), *ME) == 0
    assert run("incident", "notify", incident, "--audience", "customers", "--at", t(11), *ME) == 0
    outbox = sorted(Path("audit/outbox").glob("*customers*.json"))
    assert len(outbox) == 1 and incident in json.loads(outbox[0].read_text())["subject"]


def test_evidence_is_refused_whole_when_one_file_is_missing(run, capsys, tmp_path):
    incident = open_sev(run)
    Path("transcript.txt").write_text("user: who ordered #1234?\nassistant: j***@example.com\n")
    assert run("incident", "evidence", "add", incident, "transcript.txt", "missing.txt", *ME) == 4
    assert "missing.txt" in capsys.readouterr().err
    assert not [e for e in events(incident) if e["type"] == "evidence"]
    assert run("incident", "evidence", "add", incident, "transcript.txt", "--at", t(3), *ME) == 0
    stored = [e for e in events(incident) if e["type"] == "evidence"]
    assert stored[0]["name"] == "transcript.txt" and stored[0]["size"] == len(Path("transcript.txt").read_bytes())
    assert run("incident", "verify", incident, "--incidents", "inc") == 0
    vault = Path("inc/evidence") / incident / stored[0]["sha256"]
    vault.chmod(0o644)
    vault.write_text("edited")
    assert run("incident", "verify", incident, "--incidents", "inc") == 1


def test_the_whole_lifecycle_and_the_conditions_of_closing_a_sev2(run, capsys):
    incident = open_sev(run)
    for name in Path("policies").rglob("*.yaml"):  # this copy's policies encode no lesson of INC-2026-0001 yet
        name.write_text(name.read_text().replace("INC-2026-0001", "INC-2026-0006"))
    for name in Path("evals").rglob("*.yaml"):
        name.write_text(name.read_text().replace("INC-2026-0001", "INC-2026-0006"))
    walk_to_resolved(run, incident)
    assert run("incident", "remediate", incident, "--add", "refresh training materials", "--owner",
               "governance-lead@example.com", "--due", "2026-12-20", "--at", t(200), *ME) == 0
    assert run("incident", "review", incident, "--lesson", "prompt changes need the parity policy", "--participant",
               "ai-oncall@example.com", "--policy", "fairness.refusal-parity", "--at", t(300), *ME) == 0
    capsys.readouterr()
    assert run("incident", "close", incident, "--at", t(301), *ME) == 4
    err = capsys.readouterr().err
    assert "sign-off" in err and "FU-1" in err and "every notice it owes sent (internal:internal)" in err
    assert "references the incident" in err  # no policy or suite names INC-2026-0001 in this repository copy
    assert run("incident", "review", incident, "--sign-off", "governance_lead", "--by", "someone@example.com",
               "--incidents", "inc", "--at", t(302)) == 4
    assert "is not the governance_lead" in capsys.readouterr().err
    assert run("incident", "review", incident, "--sign-off", "governance_lead", "--by",
               "governance-lead@example.com", "--incidents", "inc", "--at", t(302)) == 0
    assert run("incident", "remediate", incident, "--done", "FU-1", "--at", t(303), *ME) == 0
    assert run("incident", "notify", incident, "--audience", "internal", "--at", t(304), *ME) == 0
    suite = Path("evals/fairness/inc-2026-0001-parity.yaml")
    suite.write_text(yaml.safe_dump({"suite": "inc-2026-0001-parity", "from_incident": incident, "cases": [
        {"id": "parity-001", "input": "Can I get a refund?", "expect": [{"check": "refusal", "must": "answer"}]}]}))
    assert run("incident", "close", incident, "--at", t(305), *ME) == 0
    assert api.desk("inc").store.load(incident).state.label == "closed"
    # a closed incident: no rollback, no containment, until it is reopened
    assert run("incident", "contain", incident, "--action", "rate-limit", *ME) == 4
    assert "closed (reopen it first" in capsys.readouterr().err
    assert run("incident", "reopen", incident, "--reason", "the bias came back", *ME) == 0
    again = api.desk("inc").store.load(incident)
    assert again.state.label == "resolved" and again.review is None and not again.signoffs


def test_a_sev3_closes_after_its_review_without_the_sev1_conditions(run):
    incident = open_sev(run, "sev3")
    walk_to_resolved(run, incident)
    assert run("incident", "review", incident, "--lesson", "l", "--participant", "p", "--at", t(200), *ME) == 0
    assert run("incident", "close", incident, "--at", t(201), *ME) == 0


def test_a_rollback_of_a_sev1_needs_evidence_and_is_refused_on_a_closed_incident(run, capsys):
    from tests.test_release import promote_two_then_serve_the_bad_one, registry

    promote_two_then_serve_the_bad_one()
    incident = open_sev(run, "sev1")
    capsys.readouterr()
    assert run("incident", "rollback", incident, *DAY, "--incidents", "inc", "--reason", "PII") == 4
    assert "has no evidence" in capsys.readouterr().err
    assert registry()["aliases"]["champion"] == "1.2.0"
    Path("answers.txt").write_text("masked answers\n")
    assert run("incident", "evidence", "add", incident, "answers.txt", *ME) == 0
    assert run("incident", "rollback", incident, *DAY, "--incidents", "inc", "--reason", "PII") == 0
    assert registry()["aliases"]["champion"] == "1.1.0"
    rolled = [e for e in events(incident) if e["type"] == "rollback"]
    assert (rolled[0]["from"], rolled[0]["to"], rolled[0]["outcome"]) == ("1.2.0", "1.1.0", "done")
    assert api.desk("inc").store.load(incident).contained_at is not None  # a rollback contains


def test_gate_open_incident_opens_one_and_records_its_rollback_in_it(workdir, capsys):
    from tests.test_release import gate, promote_two_then_serve_the_bad_one, registry

    promote_two_then_serve_the_bad_one()
    assert gate("1.2.0", "--on-rollback", "execute", "--open-incident", "--incidents", "inc") == 3
    assert registry()["aliases"]["champion"] == "1.1.0"
    incident = api.desk("inc").store.load("INC-" + str(dt.datetime.now(dt.UTC).year) + "-0001")
    assert incident.severity == "sev1" and incident.record.model_version == "1.2.0"
    assert "privacy.no-pii" in incident.record.failing_policies
    kinds = [e.type for e in incident.events]
    assert kinds.count("evidence") == 2 and "rollback" in kinds and incident.contained_at is not None
    stored = Path("inc/evidence") / incident.id / incident.of_type("evidence")[0].get("sha256")
    text = stored.read_text()
    assert "privacy.no-pii" in text and "@" in text
    assert "jane.doe@gmail.com" not in text  # evidence drafted from the report is masked as the report is


def test_scan_opens_an_incident_only_for_sev1_or_sev2_findings(workdir, capsys):
    assert main(["scan", "--outputs", "examples/production/support-2026-11-20.jsonl", *DAY, "--open-incident",
                 "--incidents", "inc", "--by", "oncall@example.com"]) == 0
    opened = api.desk("inc").store.ids()
    assert len(opened) == 1
    assert main(["scan", "--outputs", "examples/outputs/acme-support-1.1.0.jsonl", "--baseline",
                 "examples/outputs/acme-support-1.0.0.jsonl", *DAY, "--open-incident", "--incidents", "inc",
                 "--by", "oncall@example.com"]) == 0  # only a waived sev3 policy
    assert api.desk("inc").store.ids() == opened
    assert "no incident opened" in capsys.readouterr().err


def test_open_from_a_report_file(run, capsys):
    assert main(["gate", "--outputs", "examples/outputs/acme-support-1.2.0.jsonl", "--baseline",
                 "examples/outputs/acme-support-1.0.0.jsonl", *DAY, "--format", "json", "--output",
                 "report.json"]) == 3
    assert run("incident", "open", "--from-report", "report.json", *ME) == 0
    incident = api.desk("inc").store.load("INC-2026-0001")
    assert incident.record.get("source")["kind"] == "gate" and len(incident.record.get("source")["sha256"]) == 64
    Path("bad.json").write_text("{not json")
    assert run("incident", "open", "--from-report", "bad.json", *ME) == 4
    assert "not a harness JSON report" in capsys.readouterr().err


def test_show_list_and_clocks_as_json(run, capsys):
    incident = open_sev(run, "sev1")
    capsys.readouterr()
    assert run("incident", "show", incident, "--incidents", "inc", "--format", "json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == incident and shown["state"] == "open" and shown["next_due"]["clock"] == "contain"
    assert run("incident", "list", "--incidents", "inc", "--open", "--format", "json") == 0
    assert [i["id"] for i in json.loads(capsys.readouterr().out)] == [incident]
    assert run("incident", "clocks", "--incidents", "inc", "--format", "json") == 0
    clocks = json.loads(capsys.readouterr().out)
    assert {c["clock"] for c in clocks} >= {"contain", "rca"} and all(c["status"] == "overdue" for c in clocks)
    assert run("incident", "clocks", "--incidents", "inc", "--fail-on-breach") == 1


def test_a_hand_edited_record_with_a_typo_names_file_line_and_field_and_nothing_is_recorded(run, capsys):
    incident = open_sev(run)
    path = Path(f"inc/{incident}.yaml")
    path.write_text(path.read_text().replace("severity: sev2", "severty: sev2"))
    edited = path.read_bytes()
    capsys.readouterr()
    assert run("incident", "contain", incident, "--action", "rate-limit", *ME) == 4
    err = capsys.readouterr().err
    assert f"inc/{incident}.yaml:" in err and "severty" in err and "severity" in err
    assert path.read_bytes() == edited and not [e for e in events(incident) if e["type"] == "contained"]


def test_a_broken_events_line_is_named_by_its_line(run, capsys):
    incident = open_sev(run)
    assert run("incident", "contain", incident, "--action", "rate-limit", "--at", t(5), *ME) == 0
    path = Path(f"inc/{incident}.events.jsonl")
    path.write_text(path.read_text() + '{"seq": 2, "type": "rca"\n')
    capsys.readouterr()
    assert run("incident", "show", incident, "--incidents", "inc") == 4
    assert f"{incident}.events.jsonl:2" in capsys.readouterr().err
