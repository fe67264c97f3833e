"""``check_incidents``: records and events as ``harness validate`` sees them, and the references both ways."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.clock import format_timestamp, parse_timestamp
from harness.errors import InputError
from harness.incidents import IncidentStore
from harness.incidents.validation import check_incidents, incidents_directory
from harness.project.loader import Project, load_project

ROOT = Path(__file__).resolve().parents[1]
IDS = [f"INC-2026-{n:04d}" for n in range(1, 7)]


def record_text(ident: str, extra: str = "") -> str:
    return (f"# written by hand\nid: {ident}\ntitle: Something went wrong\nseverity: sev2\n"
            f'detected: "2026-03-09T15:42:00Z"\nmodel: acme-support-assistant\nmodel_version: "0.9.2"\n{extra}')


class Setup:
    """A copy of the shipped policies and evals, and an incidents folder written by hand."""

    def __init__(self, root: Path, project: Project, incidents: Path) -> None:
        self.root = root
        self.project = project
        self.incidents = incidents

    def records(self, *idents: str) -> Setup:
        self.incidents.mkdir(exist_ok=True)
        for ident in idents:
            (self.incidents / f"{ident}.yaml").write_text(record_text(ident), encoding="utf-8")
        return self

    def events(self, ident: str, *events: dict[str, Any]) -> Path:
        lines = []
        for seq, event in enumerate(events, 1):
            at = event.get("at", f"2026-03-09T16:{seq:02d}:00Z")
            recorded = format_timestamp(parse_timestamp(at) + dt.timedelta(seconds=10))  # recorded as it ran
            lines.append(json.dumps({"seq": seq, "at": at, "recorded_at": recorded, "by": "oncall@example.com",
                                     **event}))
        path = self.incidents / f"{ident}.events.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def check(self, now: dt.datetime | None = None) -> list[InputError]:
        return check_incidents(IncidentStore(self.incidents), self.project, now=now)

    def record(self, ident: str, extra: str = "", severity: str = "sev2") -> Path:
        self.incidents.mkdir(exist_ok=True)
        path = self.incidents / f"{ident}.yaml"
        path.write_text(record_text(ident, extra).replace("severity: sev2", f"severity: {severity}"), "utf-8")
        return path


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Project]:
    """The shipped policies and evals copied once (loading them is the slow part); no test changes them."""
    root = tmp_path_factory.mktemp("repository")
    shutil.copytree(ROOT / "policies", root / "policies")
    shutil.copytree(ROOT / "evals", root / "evals")
    return root, load_project(root / "policies", root / "evals")


@pytest.fixture
def setup(repository: tuple[Path, Project], tmp_path: Path) -> Setup:
    root, project = repository
    return Setup(root, project, tmp_path / "incidents")


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if text in line)


CONTAINED = {"type": "contained", "action": "disable-endpoint", "outcome": "done", "contains": True}
RCA = {"type": "rca", "trigger": "a tool change", "root_cause_type": "infra", "corrective_action": "filter",
       "preventive_action": "contract test", "owner": "sre@example.com", "deadline": "2026-03-16"}
REVIEW = {"type": "review", "participants": ["lead@example.com"], "lessons": ["check tool output"]}


def reviewed(**review: Any) -> list[dict[str, Any]]:
    return [CONTAINED, RCA, {"type": "resolved"}, {**REVIEW, **review}]


def test_a_repository_whose_incidents_all_exist_is_clean(setup: Setup) -> None:
    setup.records(*IDS)
    setup.events("INC-2026-0001", *reviewed(policies=["privacy.no-pii"], evals=["inc-2026-0001-pii-echo"]))
    assert setup.check() == []


def test_without_an_incidents_folder_nothing_is_checked(setup: Setup) -> None:
    assert not setup.incidents.exists()
    assert setup.check() == []


def test_the_incidents_folder_is_beside_the_policies() -> None:
    assert incidents_directory(Path("repo/policies")) == Path("repo/incidents")


def test_lessons_from_and_from_incident_naming_an_unknown_incident_are_errors_at_their_line(setup: Setup) -> None:
    setup.records(*(i for i in IDS if i != "INC-2026-0003"))
    problems = setup.check()
    policy = setup.root / "policies/fairness/refusal-parity.yaml"
    suite = setup.root / "evals/fairness/refusal-parity.yaml"
    assert [(p.location.file, p.location.line, p.location.json_path) for p in problems] == [
        (str(policy), line_of(policy, "lessons_from:"), "$.lessons_from[0]"),
        (str(suite), line_of(suite, "from_incident:"), "$.from_incident"),
    ]
    assert all("INC-2026-0003, which has no record in incidents/" in p.message for p in problems)
    assert "(known: INC-2026-0001, INC-2026-0002, INC-2026-0004, INC-2026-0005, INC-2026-0006)" in problems[0].message


def test_the_position_in_lessons_from_is_named(setup: Setup) -> None:
    setup.records(*(i for i in IDS if i != "INC-2026-0006"))
    paths = {(Path(str(p.location.file)).name, p.location.json_path) for p in setup.check()}
    assert ("regression.yaml", "$.lessons_from[1]") in paths
    assert ("refuse-harmful.yaml", "$.lessons_from[1]") in paths
    assert ("internal-leakage.yaml", "$.lessons_from[0]") in paths
    assert ("prompt-leak.yaml", "$.from_incident") in paths


def test_a_broken_record_is_reported_once_and_still_counts_as_known(setup: Setup) -> None:
    setup.records(*IDS)
    path = setup.incidents / "INC-2026-0003.yaml"
    path.write_text(record_text("INC-2026-0003", "severty: sev1\n"), encoding="utf-8")
    problems = setup.check()
    assert [str(p) for p in problems] == [
        f"{path}:8:1: $.severty: unknown key 'severty'; expected one of: "
        + ", ".join(sorted(json.loads((ROOT / "harness/schemas/incident.schema.json").read_text())["properties"]))]


def test_an_events_line_that_breaks_its_schema_names_line_and_field(setup: Setup) -> None:
    setup.records(*IDS)
    path = setup.events("INC-2026-0002", CONTAINED, {**RCA, "root_cause_type": "weather"})
    problems = setup.check()
    assert len(problems) == 1
    assert (problems[0].location.file, problems[0].location.line, problems[0].location.json_path) == (
        str(path), 2, "$.root_cause_type")


def test_events_out_of_order_are_an_error_at_the_later_line(setup: Setup) -> None:
    setup.records(*IDS)
    path = setup.events("INC-2026-0002", {**CONTAINED, "at": "2026-03-09T17:00:00Z"},
                        {**RCA, "at": "2026-03-09T16:30:00Z"})
    [problem] = setup.check()
    assert (problem.location.file, problem.location.line, problem.location.json_path) == (str(path), 2, "$.at")
    assert "before the previous event" in problem.message


def test_a_step_out_of_order_names_the_missing_step(setup: Setup) -> None:
    setup.records(*IDS)
    setup.events("INC-2026-0002", RCA)
    [problem] = setup.check()
    assert "the missing step is containment" in problem.message and problem.location.line == 1


def test_a_review_linking_unknown_policies_or_suites_is_an_error_at_its_line(setup: Setup) -> None:
    setup.records(*IDS)
    path = setup.events("INC-2026-0001", *reviewed(policies=["privacy.no-pii", "privacy.no-pi"],
                                                   evals=["pii-echo", "inc-2026-0001-pii-echo"]))
    problems = setup.check()
    assert [(p.location.file, p.location.line, p.location.json_path) for p in problems] == [
        (str(path), 4, "$.policies[1]"), (str(path), 4, "$.evals[0]")]
    assert "policy 'privacy.no-pi', which the repository does not have" in problems[0].message
    assert "privacy.no-pii" in problems[0].message  # the ids it could have meant
    assert "eval suite 'pii-echo'" in problems[1].message


@pytest.mark.parametrize(("variant", "why"), [
    ("INC-2025-0009", "an incident with no record"),
    ("INC-2026-0002", "the incident itself"),
])
def test_variant_of_must_name_another_known_incident(setup: Setup, variant: str, why: str) -> None:
    setup.records(*IDS)
    path = setup.events("INC-2026-0002", CONTAINED, {**RCA, "variant_of": variant})
    [problem] = setup.check()
    assert (problem.location.file, problem.location.line, problem.location.json_path) == (str(path), 2,
                                                                                          "$.variant_of")
    assert why in problem.message


def test_variant_of_a_known_incident_is_fine(setup: Setup) -> None:
    setup.records(*IDS)
    setup.events("INC-2026-0006", CONTAINED, {**RCA, "variant_of": "INC-2026-0002", "failing_policy": "eval:x"})
    assert setup.check() == []


def test_failing_policies_may_name_retired_policies_but_not_malformed_ids(setup: Setup) -> None:
    setup.records(*IDS)
    path = setup.incidents / "INC-2026-0004.yaml"
    path.write_text(record_text("INC-2026-0004", "failing_policies:\n  - quality.retired-long-ago\n"
                                                 "  - eval:order-api-format\n  - Quality Format\n"), encoding="utf-8")
    [problem] = setup.check()
    assert (problem.location.file, problem.location.line, problem.location.json_path) == (
        str(path), 11, "$.failing_policies[2]")
    assert "'Quality Format' is not a policy id" in problem.message


def test_a_malformed_failing_policy_of_an_rca_is_an_error(setup: Setup) -> None:
    setup.records(*IDS)
    setup.events("INC-2026-0004", CONTAINED, {**RCA, "failing_policy": "Format!"})
    [problem] = setup.check()
    assert problem.location.json_path == "$.failing_policy" and problem.location.line == 2


def test_a_recorded_at_before_the_step_happened_is_an_error(setup: Setup) -> None:
    setup.records(*IDS)
    path = setup.incidents / "INC-2026-0002.events.jsonl"
    path.write_text(json.dumps({"seq": 1, "type": "evidence", "at": "2026-03-09T16:00:00Z",
                                "recorded_at": "2026-03-09T15:59:00Z", "by": "x", "name": "a", "sha256": "0" * 64,
                                "size": 1, "source": "a"}) + "\n", encoding="utf-8")
    [problem] = setup.check()
    assert (problem.location.line, problem.location.json_path) == (1, "$.at")
    assert "after the moment it was recorded" in problem.message


def test_a_recorded_at_that_is_no_real_moment_is_an_error(setup: Setup) -> None:
    setup.records(*IDS)
    path = setup.incidents / "INC-2026-0002.events.jsonl"
    path.write_text(json.dumps({"seq": 1, "type": "evidence", "at": "2026-03-09T16:00:00Z",
                                "recorded_at": "2026-02-30T16:00:00Z", "by": "x", "name": "a", "sha256": "0" * 64,
                                "size": 1, "source": "a"}) + "\n", encoding="utf-8")
    [problem] = setup.check()
    assert (problem.location.line, problem.location.json_path) == (1, "$.recorded_at")
    assert "'2026-02-30T16:00:00Z' is not a real moment" in problem.message


def test_stray_files_in_the_incidents_folder(setup: Setup) -> None:
    setup.records(*IDS)
    (setup.incidents / "inc-2026-0007.yaml").write_text(record_text("INC-2026-0007"), encoding="utf-8")
    (setup.incidents / "INC-2026-0008.yml").write_text(record_text("INC-2026-0008"), encoding="utf-8")
    (setup.incidents / "INC-2026-0009.events.jsonl").write_text("", encoding="utf-8")
    (setup.incidents / "README.md").write_text("notes\n", encoding="utf-8")
    (setup.incidents / ".INC-2026-0001.lock").write_text("", encoding="utf-8")
    (setup.incidents / "evidence" / "INC-2026-0001").mkdir(parents=True)
    problems = {Path(str(p.location.file)).name: p.message for p in setup.check()}
    assert set(problems) == {"inc-2026-0007.yaml", "INC-2026-0008.yml", "INC-2026-0009.events.jsonl"}
    assert "expected a name like INC-2026-0001.yaml" in problems["inc-2026-0007.yaml"]
    assert "without its record" in problems["INC-2026-0009.events.jsonl"]


def test_every_problem_is_listed_at_once(setup: Setup) -> None:
    setup.records(*(i for i in IDS if i != "INC-2026-0005"))
    setup.events("INC-2026-0001", *reviewed(policies=["nope"]))
    (setup.incidents / "INC-2026-0002.yaml").write_text("id: INC-2026-0002\n", encoding="utf-8")
    names = sorted(Path(str(p.location.file)).name for p in setup.check())
    assert names == ["INC-2026-0001.events.jsonl", "INC-2026-0002.yaml", "INC-2026-0002.yaml",
                     "INC-2026-0002.yaml", "INC-2026-0002.yaml", "INC-2026-0002.yaml", "latency.yaml"]


# -- forged events: what the workflow commands refuse, written by hand -----------------------------------------

INTERNAL = {"type": "notice", "audience": "internal", "clock": "internal", "outcome": "sent", "channel": "outbox",
            "recipients": ["governance-lead@example.com"], "subject": "[sev2] Something went wrong"}
SIGNED = {"type": "signed_off", "role": "governance_lead", "by": "governance-lead@example.com"}
CLOSED = {"type": "closed", "by": "governance-lead@example.com"}
RESOLVED = {"type": "resolved"}


def where(problem: InputError) -> tuple[str | None, int | None, str | None]:
    return problem.location.file, problem.location.line, problem.location.json_path


def test_a_strict_incident_closed_with_everything_it_needs_is_clean(setup: Setup) -> None:
    setup.records(*IDS)
    setup.events("INC-2026-0002", CONTAINED, INTERNAL, RCA, RESOLVED, REVIEW, SIGNED, CLOSED)
    assert setup.check() == []


def test_a_sign_off_by_the_holder_of_the_role_is_accepted(setup: Setup) -> None:
    setup.records(*IDS)
    setup.record("INC-2026-0002")
    setup.events("INC-2026-0002", CONTAINED, RCA, RESOLVED, REVIEW, {**SIGNED, "by": "Governance-Lead@Example.com"})
    assert setup.check() == []  # the address, compared as signoffs.yaml compares it


def test_the_records_own_roles_cannot_make_a_signer(setup: Setup) -> None:
    """The record is anyone's to edit: naming yourself governance lead there signs nothing."""
    setup.records(*IDS)
    setup.record("INC-2026-0002", "roles:\n  governance_lead: mallory@evil.example\n")
    path = setup.events("INC-2026-0002", CONTAINED, RCA, RESOLVED, REVIEW, {**SIGNED, "by": "mallory@evil.example"})
    [problem] = setup.check()
    assert where(problem) == (str(path), 5, "$.by")


def test_a_sign_off_by_someone_not_holding_the_role_is_an_error_at_its_line(setup: Setup) -> None:
    setup.records(*IDS)
    path = setup.events("INC-2026-0002", CONTAINED, RCA, RESOLVED, REVIEW, {**SIGNED, "by": "mallory@evil"})
    [problem] = setup.check()
    assert where(problem) == (str(path), 5, "$.by")
    assert problem.message.startswith("signed off as governance_lead: 'mallory@evil' is not the governance_lead of"
                                      " the playbook (governance-lead@example.com)")


def test_a_sign_off_as_a_role_nobody_defines_is_an_error(setup: Setup) -> None:
    setup.records(*IDS)
    path = setup.events("INC-2026-0002", CONTAINED, RCA, RESOLVED, REVIEW, {**SIGNED, "role": "ceo"})
    [problem] = setup.check()
    assert where(problem) == (str(path), 5, "$.role")
    assert "unknown role 'ceo'" in problem.message and "governance_lead" in problem.message


def test_a_performed_step_dated_before_it_was_recorded_or_unlike_its_action_is_an_error(setup: Setup) -> None:
    setup.records(*IDS)
    late = {**CONTAINED, "at": "2026-03-09T16:01:00Z", "recorded_at": "2026-03-28T09:00:00Z"}
    by_hand = {**CONTAINED, "at": "2026-03-09T16:02:00Z", "recorded_at": "2026-03-28T09:00:00Z", "by_hand": True}
    forged = {**CONTAINED, "at": "2026-03-09T16:03:00Z", "action": "preserve-evidence", "contains": True}
    path = setup.events("INC-2026-0002", late, by_hand, forged)
    problems = sorted(setup.check(), key=lambda p: p.location.line or 0)
    assert [where(p) for p in problems] == [(str(path), 1, "$.at"), (str(path), 3, "$.contains")]
    assert "says by_hand: true" in problems[0].message
    assert "preserve-evidence contains: false" in problems[1].message


SIGNED_BEFORE_REVIEW = [CONTAINED, INTERNAL, RCA, RESOLVED, REVIEW, SIGNED, REVIEW, CLOSED]


@pytest.mark.parametrize(("events", "missing"), [
    ([CONTAINED, INTERNAL, RCA, RESOLVED, REVIEW, CLOSED], "the review's sign-off"),
    (SIGNED_BEFORE_REVIEW, "the review's sign-off"),  # a later review needs its own
    ([CONTAINED, INTERNAL, RCA, {"type": "follow_up", "id": "FU-1", "action": "added", "text": "fix",
                                 "owner": "sre@example.com", "due": "2026-03-20"}, RESOLVED, REVIEW, SIGNED, CLOSED],
     "follow-ups done or dropped (FU-1)"),
    ([CONTAINED, {**INTERNAL, "outcome": "failed"}, RCA, RESOLVED, REVIEW, SIGNED, CLOSED],
     "every notice it owes sent (internal:internal)"),
    ([CONTAINED, {"type": "classified", "severity": "sev2", "reason": "r", "flags": {"personal_data": True}},
      INTERNAL, RCA, RESOLVED, REVIEW, SIGNED, CLOSED], "every notice it owes sent (gdpr-art33)"),
])
def test_a_strict_incident_closed_without_what_closing_needs_is_an_error(
        setup: Setup, events: list[dict[str, Any]], missing: str) -> None:
    setup.records(*IDS)
    path = setup.events("INC-2026-0002", *events)
    [problem] = setup.check()
    assert where(problem) == (str(path), len(events), "$.type")
    assert problem.message.startswith(f"closed at 2026-03-09T16:{len(events):02d}:00Z, but a sev2 incident closes"
                                      " only with ")
    assert missing in problem.message


def test_a_strict_incident_no_policy_or_suite_references_may_not_close(setup: Setup) -> None:
    setup.records(*IDS)
    setup.record("INC-2026-0007")
    path = setup.events("INC-2026-0007", CONTAINED, INTERNAL, RCA, RESOLVED, REVIEW, SIGNED, CLOSED)
    [problem] = setup.check()
    assert where(problem) == (str(path), 7, "$.type")
    assert "a policy (lessons_from) or eval suite (from_incident) in the repository" in problem.message


@pytest.mark.parametrize("record_severity", ["sev2", "sev3"])
def test_a_downgrade_does_not_lift_the_strict_rules(setup: Setup, record_severity: str) -> None:
    setup.records(*IDS)
    setup.record("INC-2026-0004", severity=record_severity)
    raised: list[dict[str, Any]] = [{"type": "classified", "severity": "sev1", "reason": "worse"}] \
        if record_severity == "sev3" else []
    events = [*raised, CONTAINED, INTERNAL, RCA, RESOLVED, REVIEW,
              {"type": "classified", "severity": "sev3", "reason": "after all minor"}, CLOSED]
    path = setup.events("INC-2026-0004", *events)
    [problem] = setup.check()
    assert where(problem) == (str(path), len(events), "$.type")
    assert f"a {'sev1' if raised else 'sev2'} incident closes only with the review's sign-off" in problem.message


def test_a_minor_incident_closes_without_the_strict_rules(setup: Setup) -> None:
    setup.records(*IDS)
    setup.record("INC-2026-0007", severity="sev3")
    setup.events("INC-2026-0007", CONTAINED, RCA, RESOLVED, REVIEW, CLOSED)
    assert setup.check() == []


def test_each_closing_is_judged_by_what_held_then(setup: Setup) -> None:
    """Reopened and closed again: the second close needs a sign-off of the new review, the first does not."""
    setup.records(*IDS)
    path = setup.events("INC-2026-0002", CONTAINED, INTERNAL, RCA, RESOLVED, REVIEW, SIGNED, CLOSED,
                        {"type": "reopened", "reason": "it came back"}, REVIEW, CLOSED)
    [problem] = setup.check()
    assert where(problem) == (str(path), 10, "$.type")
    assert "the review's sign-off" in problem.message


@pytest.mark.parametrize("audience", ["customers", "partners"])
def test_a_statement_before_containment_is_an_error(setup: Setup, audience: str) -> None:
    setup.records(*IDS)
    statement = {**INTERNAL, "audience": audience, "clock": None}
    del statement["clock"]
    failed = {**CONTAINED, "outcome": "failed"}  # a containment that did not work contains nothing
    stops_nothing = {**CONTAINED, "action": "preserve-evidence", "contains": False}
    path = setup.events("INC-2026-0002", failed, stops_nothing, statement, CONTAINED, statement)
    [problem] = setup.check()
    assert where(problem) == (str(path), 3, "$.audience")
    assert problem.message == (f"a notice to {audience} at 2026-03-09T16:03:00Z, before the incident was contained;"
                               " a statement to customers, partners is made only after containment")


def test_a_severity_the_playbook_does_not_define_is_an_error_at_its_line(setup: Setup) -> None:
    setup.records(*IDS)
    record = setup.record("INC-2026-0002", severity="sevl")
    path = setup.events("INC-2026-0002", {"type": "classified", "severity": "sev0", "reason": "r"})
    problems = setup.check()
    assert [where(p) for p in problems] == [(str(record), 4, "$.severity"), (str(path), 1, "$.severity")]
    assert problems[0].message == ("severity 'sevl' is not a severity of the playbook; expected one of:"
                                   " sev1, sev2, sev3")
    assert "'sev0' is not a severity of the playbook" in problems[1].message


def test_a_flag_no_clock_reads_is_an_error_at_its_line(setup: Setup) -> None:
    setup.records(*IDS)
    record = setup.record("INC-2026-0002", "flags:\n  personal_data: false\n  personaldata: true\n")
    path = setup.events("INC-2026-0002", {"type": "classified", "severity": "sev2", "reason": "r",
                                          "flags": {"serious_incident": False, "deaths": True}})
    problems = setup.check()
    assert [where(p) for p in problems] == [(str(record), line_of(record, "personaldata"), "$.flags.personaldata"),
                                            (str(path), 1, "$.flags.deaths")]
    assert problems[0].message.startswith("flag 'personaldata' is read by no regulatory clock of the playbook"
                                          " (when:); expected one of: critical_infrastructure, death, personal_data")


NOW = dt.datetime(2026, 3, 10, 9, 30, tzinfo=dt.UTC)


def test_times_after_the_validating_clock_are_errors(setup: Setup) -> None:
    setup.records(*IDS)
    record = setup.record("INC-2026-0002", 'became_aware: "2026-03-11T00:00:00Z"\n')
    path = setup.events("INC-2026-0002", CONTAINED, {**RCA, "at": "2026-03-10T09:31:00Z",
                                                     "recorded_at": "2026-03-10T09:31:00Z"})
    problems = {p.location.json_path: p for p in setup.check(now=NOW)}
    assert sorted(where(p) for p in problems.values()) == sorted([
        (str(record), line_of(record, "became_aware"), "$.became_aware"),
        (str(path), 2, "$.at"), (str(path), 2, "$.recorded_at")])
    assert problems["$.became_aware"].message == ("became_aware 2026-03-11T00:00:00Z lies in the future"
                                                  " (now: 2026-03-10T09:30:00.000Z); expected the moment it happened")
    assert problems["$.at"].message.startswith("rca at 2026-03-10T09:31:00Z lies in the future")
    assert problems["$.recorded_at"].message.startswith("rca recorded_at 2026-03-10T09:31:00Z lies in the future")
    assert setup.check() == []  # without a clock, nothing is in the future


def test_a_detection_in_the_future_is_an_error(setup: Setup) -> None:
    setup.records(*IDS)
    record = setup.record("INC-2026-0002")
    record.write_text(record.read_text("utf-8").replace("2026-03-09T15:42", "2026-03-10T09:31"), "utf-8")
    [problem] = setup.check(now=NOW)
    assert where(problem) == (str(record), line_of(record, "detected:"), "$.detected")


def test_an_events_line_with_a_duplicate_key_is_an_error_at_its_line(setup: Setup) -> None:
    setup.records(*IDS)
    path = setup.events("INC-2026-0002", CONTAINED, RCA, RESOLVED, REVIEW)
    lines = path.read_text("utf-8").splitlines()
    lines.append('{"seq": 5, "type": "signed_off", "at": "2026-03-09T16:05:00Z", "recorded_at":'
                 ' "2026-03-10T09:05:00Z", "by": "mallory@evil", "role": "governance_lead",'
                 ' "by": "governance-lead@example.com"}')  # the last one would win
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    [problem] = setup.check()
    assert (problem.location.file, problem.location.line) == (str(path), 5)
    assert "the key 'by' appears twice" in problem.message
