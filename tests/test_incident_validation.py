"""``check_incidents``: records and events as ``harness validate`` sees them, and the references both ways."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

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
            lines.append(json.dumps({"seq": seq, "at": event.get("at", f"2026-03-09T16:{seq:02d}:00Z"),
                                     "recorded_at": f"2026-03-10T09:{seq:02d}:00Z", "by": "oncall@example.com",
                                     **event}))
        path = self.incidents / f"{ident}.events.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def check(self) -> list[InputError]:
        return check_incidents(IncidentStore(self.incidents), self.project)


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
    paths = {(Path(p.location.file).name, p.location.json_path) for p in setup.check()}
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
    problems = {Path(p.location.file).name: p.message for p in setup.check()}
    assert set(problems) == {"inc-2026-0007.yaml", "INC-2026-0008.yml", "INC-2026-0009.events.jsonl"}
    assert "expected a name like INC-2026-0001.yaml" in problems["inc-2026-0007.yaml"]
    assert "without its record" in problems["INC-2026-0009.events.jsonl"]


def test_every_problem_is_listed_at_once(setup: Setup) -> None:
    setup.records(*(i for i in IDS if i != "INC-2026-0005"))
    setup.events("INC-2026-0001", *reviewed(policies=["nope"]))
    (setup.incidents / "INC-2026-0002.yaml").write_text("id: INC-2026-0002\n", encoding="utf-8")
    names = sorted(Path(p.location.file).name for p in setup.check())
    assert names == ["INC-2026-0001.events.jsonl", "INC-2026-0002.yaml", "INC-2026-0002.yaml",
                     "INC-2026-0002.yaml", "INC-2026-0002.yaml", "INC-2026-0002.yaml", "latency.yaml"]
