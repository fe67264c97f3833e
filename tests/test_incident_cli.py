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
    return FixedClock(T0)


@pytest.fixture
def run(workdir, clock):
    """``harness`` as of a fixed clock that a command's ``--at`` moves forward: the command runs at that moment
    (so a hook runs and a notice goes out live), as a person would run it then."""

    def harness(*argv: str) -> int:
        if "--at" in argv:
            try:
                at = parse_timestamp(argv[argv.index("--at") + 1])
            except (ValueError, IndexError):
                at = None
            if at is not None and at > clock.now():
                clock.set(at + dt.timedelta(seconds=1))
        return main(list(argv), clock=clock)

    return harness


def gate(clock, version: str, *extra: str) -> int:
    return main(["gate", "--outputs", f"examples/outputs/acme-support-{version}.jsonl", "--baseline",
                 "examples/outputs/acme-support-1.0.0.jsonl", "--model", MODEL, "--model-version", version,
                 *DAY, "--color", "never", *extra], clock=clock)


def champion() -> str:
    return json.loads(Path("audit/registry.json").read_text())["models"][MODEL]["aliases"]["champion"]


def serve_the_bad_one(clock) -> None:
    """1.0.0 and 1.1.0 promoted through the gate, then 1.2.0 set serving by hand."""
    assert gate(clock, "1.0.0", "--promote") == 0
    assert gate(clock, "1.1.0", "--promote") == 0
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.2.0", "--create", "--reason", "hotfix"],
                clock=clock) == 0


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
    assert main(["incident", "classify", incident, "--severity", "sev1", "--reason", "r", "--at",
                 "2026-12-11T00:00:00Z", *ME], clock=FixedClock(t(31))) == 4
    assert "in the future" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # no zone: a usage error
        run("incident", "classify", incident, "--severity", "sev1", "--reason", "r", "--at", "2026-12-03T10:00:00", *ME)
    assert exc.value.code == 4 and "with its zone" in capsys.readouterr().err
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
    outbox = sorted(Path("audit/statements").glob("*customers*.json"))  # the customers' channel: statement
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
    assert "sign-off" in err and "FU-1, FU-2" in err and "every notice it owes sent (internal:internal)" in err
    training = api.desk("inc").store.load(incident).follow_ups["FU-2"]  # every review adds the playbook's items
    assert "Refresh the training materials" in training.text and training.owner == "governance-lead@example.com"
    assert training.due == "2026-12-17"  # 14 days after the review
    assert "references the incident" in err  # no policy or suite names INC-2026-0001 in this repository copy
    assert run("incident", "review", incident, "--sign-off", "governance_lead", "--by", "someone@example.com",
               "--incidents", "inc", "--at", t(302)) == 4
    assert "is not the governance_lead" in capsys.readouterr().err
    assert run("incident", "review", incident, "--sign-off", "governance_lead", "--by",
               "governance-lead@example.com", "--incidents", "inc", "--at", t(302)) == 0
    assert run("incident", "remediate", incident, "--done", "FU-9", "--at", t(303), *ME) == 4
    assert "--done FU-9: INC-2026-0001 has no such follow-up (it has: FU-1, FU-2)" in capsys.readouterr().err
    assert run("incident", "remediate", incident, "--done", "FU-1", "--at", t(303), *ME) == 0
    assert run("incident", "remediate", incident, "--drop", "FU-2", "--reason", "materials rewritten in FU-1",
               "--at", t(303), *ME) == 0
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


def test_a_rollback_of_a_sev1_needs_evidence_and_is_refused_on_a_closed_incident(run, clock, capsys):
    serve_the_bad_one(clock)
    incident = open_sev(run, "sev1")
    capsys.readouterr()
    assert run("incident", "rollback", incident, *DAY, "--incidents", "inc", "--reason", "PII") == 4
    assert "has no evidence" in capsys.readouterr().err
    assert champion() == "1.2.0"
    Path("answers.txt").write_text("masked answers\n")
    assert run("incident", "evidence", "add", incident, "answers.txt", *ME) == 0
    assert run("incident", "rollback", incident, *DAY, "--incidents", "inc", "--reason", "PII") == 0
    assert champion() == "1.1.0"
    rolled = [e for e in events(incident) if e["type"] == "rollback"]
    assert (rolled[0]["from"], rolled[0]["to"], rolled[0]["outcome"]) == ("1.2.0", "1.1.0", "done")
    assert api.desk("inc").store.load(incident).contained_at is not None  # a rollback contains
    # closed: a rollback recorded in it is refused before anything moves
    second = open_sev(run, "sev3").replace("0001", "0002")
    for step in (["contain", second, "--action", "rate-limit"],
                 ["rca", second, "--trigger", "t", "--type", "model", "--corrective", "c", "--preventive", "p",
                  "--owner", "o@example.com", "--deadline", "2026-12-10"],
                 ["remediate", second, "--resolved"],
                 ["review", second, "--lesson", "l", "--participant", "p"], ["close", second]):
        assert run("incident", *step, *ME) == 0
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.2.0", "--reason", "again"],
                clock=clock) == 0
    capsys.readouterr()
    assert run("incident", "rollback", second, *DAY, "--incidents", "inc", "--reason", "again") == 4
    assert "closed (reopen it first" in capsys.readouterr().err
    assert champion() == "1.2.0"


def test_gate_open_incident_opens_one_and_records_its_rollback_in_it(workdir, clock, capsys):
    serve_the_bad_one(clock)
    assert gate(clock, "1.2.0", "--on-rollback", "execute", "--open-incident", "--incidents", "inc") == 3
    assert champion() == "1.1.0"
    incident = api.desk("inc").store.load("INC-2026-0001")
    assert incident.severity == "sev1" and incident.record.model_version == "1.2.0"
    assert "privacy.no-pii" in incident.record.failing_policies
    kinds = [e.type for e in incident.events]
    assert kinds.count("evidence") == 2 and "rollback" in kinds and incident.contained_at is not None
    run_id = incident.record.get("source")["run_id"]
    assert [e.get("source") for e in incident.of_type("evidence")] == [f"gate run {run_id}"] * 2
    stored = Path("inc/evidence") / incident.id / incident.of_type("evidence")[0].get("sha256")
    text = stored.read_text()
    assert "privacy.no-pii" in text and "@" in text
    assert "jane.doe@gmail.com" not in text  # evidence drafted from the report is masked as the report is


def test_a_failure_to_open_the_incident_never_stops_the_gates_rollback(workdir, clock, capsys):
    serve_the_bad_one(clock)
    Path("inc").write_text("a file where the incidents folder should be")
    assert gate(clock, "1.2.0", "--on-rollback", "execute", "--open-incident", "--incidents", "inc") == 3
    assert champion() == "1.1.0"  # production was rolled back all the same
    assert "no incident opened" in capsys.readouterr().err


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


def test_show_list_and_clocks_as_json(run, clock, capsys):
    incident = open_sev(run, "sev1")
    clock.set("2026-12-10T09:00:00Z")  # a week later: every clock overdue
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


def test_a_notice_goes_through_every_channel_of_its_audience(run):
    incident = open_sev(run)
    assert run("incident", "notify", incident, "--audience", "internal", "--at", t(5), *ME) == 0
    told = [e for e in events(incident) if e["type"] == "notice"]
    assert [(e["channel"], e["outcome"]) for e in told] == [("ticket", "sent"), ("email", "sent")]
    assert told[0]["answer"].startswith("audit/tickets/") and told[1]["answer"].startswith("audit/outbox/")
    assert Path(told[0]["answer"]).is_file()  # the answer is the outbox file, relative to where the command ran


def test_escalation_reaches_the_incidents_own_role_holders(run):
    incident = open_sev(run)
    path = Path(f"inc/{incident}.yaml")
    path.write_text(path.read_text() + "roles:\n  security_officer: deputy-so@example.com\n")
    assert run("incident", "contain", incident, "--action", "escalate", "--at", t(5), *ME) == 0
    told = [e for e in events(incident) if e["type"] == "notice"][-1]
    assert told["audience"] == "escalation"
    assert told["recipients"] == ["governance-lead@example.com", "deputy-so@example.com"]
    # escalating does not contain
    assert api.desk("inc").store.load(incident).contained_at is None


def test_a_step_the_harness_performs_is_recorded_when_it_ran_unless_done_by_hand(run, clock, capsys):
    incident = open_sev(run, "sev1", "--flag", "personal_data")
    clock.set(t(60 * 24 * 5))  # five days later, someone back-fills
    path = Path(f"inc/{incident}.yaml")
    path.write_text(path.read_text() + BREACH)
    outbox = set(Path("audit").rglob("*.json"))
    capsys.readouterr()
    assert run("incident", "notify", incident, "--audience", "regulators", "--at", t(60 * 20), *ME) == 4
    assert "--by-hand" in capsys.readouterr().err  # a late notice cannot be dated on time by a sender
    assert run("incident", "contain", incident, "--action", "disable-endpoint", "--at", t(30), *ME) == 4
    assert set(Path("audit").rglob("*.json")) == outbox and not Path("audit/containment.jsonl").exists()
    assert main(["incident", "contain", incident, "--action", "disable-endpoint", "--at", t(30), "--by-hand", *ME],
                clock=clock) == 0
    assert main(["incident", "notify", incident, "--audience", "regulators", "--at", t(60 * 20), "--by-hand", *ME],
                clock=clock) == 0
    assert set(Path("audit").rglob("*.json")) == outbox and not Path("audit/containment.jsonl").exists()
    contained, told = events(incident)[-2:]
    assert contained["by_hand"] is True and "done by hand" in contained["detail"]
    assert (told["by_hand"], told["channel"], told["outcome"]) == (True, "by-hand", "sent")
    shown = api.view(api.desk("inc", clock=clock), incident)
    assert {c.name: c.status(clock.now()) for c in shown.clocks}["notice:gdpr-art33"] == "met"


BREACH = """breach:
  nature: Answers read back other customers' e-mail addresses.
  data_subjects: {categories: [customers], approximate_number: 12}
  records: {categories: [e-mail addresses], approximate_number: 12}
  contact: dpo@example.com
  consequences: Unwanted contact.
  measures: Rolled back within the hour.
"""


def test_a_downgrade_after_the_review_does_not_lift_the_strict_rules(run, capsys):
    incident = open_sev(run, "sev1")
    walk_to_resolved(run, incident)
    assert run("incident", "review", incident, "--lesson", "l", "--participant", "p", "--at", t(200), *ME) == 0
    assert run("incident", "classify", incident, "--severity", "sev3", "--reason", "meh", "--at", t(201), *ME) == 0
    capsys.readouterr()
    assert run("incident", "close", incident, "--at", t(202), *ME) == 4
    assert "a sev1 incident closes only with the review's sign-off" in capsys.readouterr().err


def test_a_record_with_a_severity_the_playbook_lacks_is_refused(run, capsys):
    incident = open_sev(run)
    path = Path(f"inc/{incident}.yaml")
    path.write_text(path.read_text().replace("severity: sev2", "severity: sevl"))
    capsys.readouterr()
    assert run("incident", "contain", incident, "--action", "rate-limit", *ME) == 4
    assert "severity 'sevl' is not one of the playbook's" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["incident", "list", "--incidents", "no-such-folder"], "no incidents folder no-such-folder"),
    (["incident", "clocks", "--fail-on-breach", "--incidents", "no-such-folder"], "no incidents folder"),
    (["incident", "open", "--title", "bad \udcff bytes", "--severity", "sev3", "--model", "m", "--model-version", "1",
      "--incidents", "inc"], "--title: not valid UTF-8 text"),
    (["incident", "open", "--from-report", "/dev/zero", "--incidents", "inc"], "not a regular file"),
])
def test_hostile_arguments_are_input_errors(run, capsys, argv, message):
    assert run(*argv) == 4
    assert message in capsys.readouterr().err


def test_an_events_file_that_is_a_link_or_a_fifo_is_refused_not_followed(run, capsys):
    import os

    incident = open_sev(run, "sev3")
    events_file = Path(f"inc/{incident}.events.jsonl")
    events_file.unlink(missing_ok=True)
    events_file.symlink_to("/dev/null")
    capsys.readouterr()
    assert run("incident", "contain", incident, "--action", "rate-limit", *ME) == 4
    assert "symbolic link or not a regular file" in capsys.readouterr().err
    events_file.unlink()
    os.mkfifo(events_file)
    assert run("incident", "show", incident, "--incidents", "inc") == 4  # never blocks on the FIFO


def test_text_is_bounded_and_the_events_file_never_outgrows_what_is_read(run, capsys, monkeypatch):
    from harness.incidents import store

    incident = open_sev(run)
    assert run("incident", "contain", incident, "--action", "rate-limit", "--at", t(5), *ME) == 0
    capsys.readouterr()
    assert run("incident", "classify", incident, "--severity", "sev1", "--reason", "A" * 20001, *ME) == 4
    assert "reason: longer than 20000 characters" in capsys.readouterr().err
    size = Path(f"inc/{incident}.events.jsonl").stat().st_size
    monkeypatch.setattr(store, "MAX_EVENTS_BYTES", size + 100)
    assert run("incident", "classify", incident, "--severity", "sev1", "--reason", "B" * 200, *ME) == 4
    assert "would grow past" in capsys.readouterr().err
    assert Path(f"inc/{incident}.events.jsonl").stat().st_size == size
    assert run("incident", "show", incident, "--incidents", "inc") == 0  # still readable


def test_a_regulators_notice_goes_to_the_authority_the_playbook_names(run, capsys):
    incident = open_sev(run, "sev1", "--flag", "personal_data")
    path = Path(f"inc/{incident}.yaml")
    path.write_text(path.read_text() + BREACH)
    capsys.readouterr()
    assert run("incident", "notify", incident, "--audience", "regulators", "--to", "me@example.com", *ME) == 4
    assert "--to is not taken for regulators" in capsys.readouterr().err
    assert run("incident", "notify", incident, "--audience", "regulators", *ME) == 0
    assert events(incident)[-1]["recipients"] == ["breach-notifications@dpa.example.org"]
