"""Selecting what runs, and the gate in CI: GitHub annotations, SARIF, ``$GITHUB_OUTPUT``, example warnings."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import jsonschema
import pytest

from harness.api import run_gate, run_scan
from harness.cli import main
from harness.clock import FixedClock
from harness.errors import InputError
from harness.io.schema import validator
from harness.report import Report, render

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "examples" / "outputs" / "acme-support-1.2.0.jsonl"
GOOD = ROOT / "examples" / "outputs" / "acme-support-1.1.0.jsonl"
SARIF_SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-2.1.0.schema.json").read_text(encoding="utf-8"))
NOON = FixedClock("2026-11-27T12:00:00Z")
COMMAND = re.compile(r"^::(error|warning|notice)( [^:]*)?::")


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)  # never the CI job's own


def gate(*args: str, command: str = "gate") -> int:
    return main([command, *args, "--color", "never", "--today", "2026-11-27", "--backdate"])


def line_of(path: str, text: str) -> int:
    """The 1-based line of the first line of ``path`` (under the repository) that contains ``text``."""
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def unescape(data: str) -> str:
    """A workflow command's message as the GitHub runner decodes it."""
    return data.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")


# --- selecting what runs -----------------------------------------------------------------------------

def test_select_runs_one_policy_only_and_the_report_records_it() -> None:
    result = run_gate(BAD, select=["privacy.no-pii"], clock=NOON)
    report = result.report
    assert [p.id for p in report.policies] == ["privacy.no-pii"]
    assert {r.policy for r in report.results} == {"privacy.no-pii"}
    assert result.partial
    data = json.loads(report.to_json())
    assert data["run"]["selection"] == {"select": ["privacy.no-pii"], "deselect": [],
                                        "policies": ["privacy.no-pii"], "suites": []}
    assert [p["id"] for p in data["run"]["policies"]] == ["privacy.no-pii"]
    validator("report").validate(data)
    assert Report.from_json(report.to_json()) == report


def test_select_and_deselect_globs_over_policy_and_suite_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert gate("--outputs", str(BAD), "--select", "*pii*", "--deselect", "eval:*", "--format", "json") == 3
    report = json.loads(capsys.readouterr().out)
    assert [p["id"] for p in report["policies"]] == ["privacy.no-pii"]
    assert report["run"]["selection"]["select"] == ["*pii*"]
    assert report["run"]["selection"]["deselect"] == ["eval:*"]
    # a suite answers to its own id too; outputs of the other suites' cases stay known cases
    assert gate("--outputs", str(BAD), "--select", "inc-2026-0001-pii-echo", "--format", "json") == 3
    report = json.loads(capsys.readouterr().out)
    assert report["run"]["selection"]["suites"] == ["inc-2026-0001-pii-echo"]
    assert [p["id"] for p in report["policies"]] == ["eval:inc-2026-0001-pii-echo"]


def test_a_selection_that_passes_exits_zero_and_says_it_is_partial(capsys: pytest.CaptureFixture[str]) -> None:
    assert gate("--outputs", str(BAD), "--select", "quality.record-provenance") == 0
    out = capsys.readouterr().out
    assert "partial: only 1 of the policies and suites ran (--select quality.record-provenance):" \
           " quality.record-provenance; a partial gate cannot promote" in out
    markdown = render(run_gate(BAD, select=["quality.record-provenance"], clock=NOON).report, "markdown")
    assert "**Partial:** only 1 of the policies and suites ran (--select quality.record-provenance):" in markdown


@pytest.mark.parametrize("option", ["--select", "--deselect"])
def test_a_pattern_that_matches_nothing_is_invalid_input_naming_it(option: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert gate("--outputs", str(BAD), "--select", "privacy.*", option, "privcy.*") == 4
    err = capsys.readouterr().err
    assert f"{option} 'privcy.*' matches no policy id and no eval suite id" in err
    assert "nothing was judged" in err


def test_a_selection_that_leaves_nothing_is_invalid_input() -> None:
    with pytest.raises(InputError, match="no policy and no eval suite is left to judge"):
        run_gate(BAD, select=["privacy.no-pii"], deselect=["privacy.*"], clock=NOON)
    with pytest.raises(InputError, match="expected a list of patterns"):
        run_gate(BAD, select="privacy.no-pii", clock=NOON)  # type: ignore[arg-type]


def test_a_partial_gate_cannot_promote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "decisions.jsonl"
    assert gate("--outputs", str(GOOD), "--select", "privacy.*", "--promote", "--decision-log", str(log)) == 4
    assert "a partial gate cannot promote" in capsys.readouterr().err
    assert not log.exists()


# --- --format github -------------------------------------------------------------------------------

def test_github_annotations_point_at_the_failing_rules_and_cases(capsys: pytest.CaptureFixture[str]) -> None:
    assert gate("--outputs", str(BAD), "--format", "github") == 3
    lines = capsys.readouterr().out.splitlines()
    assert all(COMMAND.match(line) for line in lines), lines
    pii_rule = line_of("policies/privacy/pii.yaml", "- id: no-personal-data")
    assert (f"::error file=policies/privacy/pii.yaml,line={pii_rule},title=privacy.no-pii/no-personal-data::"
            "privacy.no-pii no-personal-data: 2 output(s) failed: Personal data in an output; only Acme's public"
            " support addresses are allowed. (cases: pii-echo-001, pii-echo-003); found: email j***@example.com,"
            " phone ***-***-**47, credit_card **** **** **** 1111") in lines
    case = line_of("evals/privacy/pii-echo.yaml", "- id: pii-echo-003")
    assert (f"::error file=evals/privacy/pii-echo.yaml,line={case},title=eval%3Ainc-2026-0001-pii-echo"
            " pii-echo-003::eval:inc-2026-0001-pii-echo case pii-echo-003 failed: pii: credit card found;") \
        in "\n".join(lines)
    leak = line_of("policies/security/internal-leakage.yaml", "- id: no-system-prompt-leak")
    assert any(line.startswith(f"::error file=policies/security/internal-leakage.yaml,line={leak},"
                               "title=security.no-internal-leakage/no-system-prompt-leak::") for line in lines)
    p95 = line_of("policies/quality/latency.yaml", "- id: p95-latency")
    assert any(line.startswith(f"::error file=policies/quality/latency.yaml,line={p95},"
                               "title=quality.latency/p95-latency::") for line in lines)
    assert lines[-1].startswith("::notice title=harness gate::verdict ROLLBACK: 17 policies and suites, 3 passed,"
                                " 12 failed, 2 error(s), 0 waived;")
    assert "4111" not in "\n".join(lines) and "jane" not in "\n".join(lines).lower()  # masked findings only


FORGED = "\n::error::forged"


def _hostile(repo: Path) -> tuple[Path, Path]:
    (repo / "policies").mkdir()
    (repo / "evals").mkdir()
    (repo / "policies" / "forge.yaml").write_text(
        "id: test.forge\nversion: 1.0.0\ntitle: Forgery\nseverity: sev3\non_fail: warn\n"
        "owner: owner@example.com\nrules:\n  - id: no-forgery\n    check: regex\n    pattern: 'forged'\n",
        encoding="utf-8")
    outputs = repo / "outputs.jsonl"
    records = [{"case_id": f"case-1{FORGED}", "output": "text%0A::error::forged here"},
               {"case_id": "case-2%0A::error::forged", "output": "line one\r\n::warning::forged\nagain"}]
    outputs.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return repo / "policies", outputs


def test_github_annotations_cannot_be_forged_by_ids_or_outputs(tmp_path: Path) -> None:
    policies, outputs = _hostile(tmp_path)
    result = run_scan(outputs, policies=policies, evals=None, clock=NOON)
    text = render(result.report, "github")
    lines = text.splitlines()
    assert len(lines) == 2  # the warn policy's rule (a warning: it cannot block), and the summary
    assert lines[0].startswith(f"::warning file={policies / 'forge.yaml'},line=8,title=test.forge/no-forgery::")
    assert lines[1].startswith("::notice title=harness scan::as a gate: PROMOTE")
    for line in lines:
        message = unescape(line.split("::", 2)[2])
        assert "\n" not in message and "\r" not in message
    assert "%250A::error::forged" in lines[0]  # shown as the text it was, never decoded into a line break
    assert "case-1\\n::error::forged" in lines[0]


# --- --format sarif --------------------------------------------------------------------------------

def _sarif(path: Path, clock: FixedClock = NOON) -> dict:
    return json.loads(render(run_gate(path, clock=clock).report, "sarif"))


def test_sarif_is_valid_against_the_sarif_2_1_0_schema_and_points_at_rules() -> None:
    log = _sarif(BAD)
    jsonschema.Draft4Validator.check_schema(SARIF_SCHEMA)
    errors = list(jsonschema.Draft4Validator(SARIF_SCHEMA).iter_errors(log))
    assert not errors, [f"{e.json_path}: {e.message}" for e in errors[:5]]
    run = log["runs"][0]
    assert run["invocations"][0]["exitCode"] == 3 and run["invocations"][0]["properties"]["verdict"] == "rollback"
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["privacy.no-pii/no-personal-data"]["properties"] | {"check": "pii"} == {
        "severity": "sev1", "on_fail": "rollback", "policy_version": "1.2.0", "policy_status": "active",
        "kind": "policy", "tags": ["sev1", "policy"], "check": "pii"}
    assert rules["quality.record-provenance/approved-model"]["defaultConfiguration"]["level"] == "warning"
    pii = [r for r in run["results"] if r["ruleId"] == "privacy.no-pii/no-personal-data"]
    assert [r["properties"]["case_id"] for r in pii] == ["pii-echo-001", "pii-echo-003"]
    assert pii[0]["level"] == "error"
    assert run["tool"]["driver"]["rules"][pii[0]["ruleIndex"]]["id"] == pii[0]["ruleId"]
    assert pii[0]["locations"] == [{"physicalLocation": {
        "artifactLocation": {"uri": "policies/privacy/pii.yaml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": line_of("policies/privacy/pii.yaml", "- id: no-personal-data")}}}]
    waived = [r for r in run["results"] if r["properties"].get("status") == "waived"]
    assert waived and all(r["suppressions"][0]["kind"] == "external" for r in waived)


def test_sarif_fingerprints_are_stable_across_runs() -> None:
    first = _sarif(BAD)["runs"][0]["results"]
    again = _sarif(BAD, FixedClock("2026-11-28T09:30:00Z"))["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in first] == [r["partialFingerprints"] for r in again]
    assert len({r["partialFingerprints"]["harnessResult/v1"] for r in first}) == len(first)


# --- $GITHUB_OUTPUT --------------------------------------------------------------------------------

def test_step_outputs_are_appended_to_github_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "github_output"
    out.write_text("earlier=1\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    assert gate("--outputs", str(BAD), "--select", "privacy.*", "security.*", "--format", "json") == 3
    assert out.read_text(encoding="utf-8") == (
        "earlier=1\nverdict=rollback\nexit_code=3\npassed=0\nfailed=2\nerrors=0\nwaived=0\nfailing_results=4\n"
        'policies_failed=["privacy.no-pii","security.no-internal-leakage"]\npartial=true\n')


def test_github_output_is_never_a_record_or_a_second_hard_link(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    log = workdir / "audit" / "decisions.jsonl"  # the playbook's decision log
    log.parent.mkdir(exist_ok=True)
    log.write_text("", encoding="utf-8")
    monkeypatch.setenv("GITHUB_OUTPUT", str(log))
    assert gate("--outputs", "examples/outputs/acme-support-1.2.0.jsonl") == 3  # the verdict stands
    assert log.read_text(encoding="utf-8") == ""
    assert "harness: warning: step outputs skipped: $GITHUB_OUTPUT" in capsys.readouterr().err
    kept = workdir / "kept.txt"  # a file the step must not write through a second name
    kept.write_text("kept\n", encoding="utf-8")
    os.link(kept, workdir / "github_output")
    monkeypatch.setenv("GITHUB_OUTPUT", str(workdir / "github_output"))
    assert gate("--outputs", "examples/outputs/acme-support-1.2.0.jsonl") == 3
    assert "$GITHUB_OUTPUT has 2 hard links" in capsys.readouterr().err
    assert kept.read_text(encoding="utf-8") == "kept\n"


def test_a_multi_line_value_uses_the_delimiter_form() -> None:
    from harness.api.github import output_lines

    text = output_lines({"a": "1", "b": "x\ny"})
    first, head, *value, end, last = text.split("\n")
    assert (first, value, last) == ("a=1", ["x", "y"], "")
    assert head.startswith("b<<ghadelimiter_") and end == head[len("b<<"):]


# --- policy examples that misbehave ------------------------------------------------------------------

def _broken_examples(repo: Path) -> tuple[Path, Path]:
    (repo / "policies").mkdir()
    (repo / "evals").mkdir()
    (repo / "policies" / "leak.yaml").write_text(
        "id: test.no-secrets\nversion: 1.0.0\ntitle: No secrets\nseverity: sev2\non_fail: block\n"
        "owner: owner@example.com\nrules:\n  - id: no-secret\n    check: regex\n    pattern: 'SECRET'\n"
        "examples:\n  fail:\n    - the password is hunter2\n", encoding="utf-8")
    outputs = repo / "outputs.jsonl"
    outputs.write_text(json.dumps({"case_id": "c1", "output": "all fine"}) + "\n", encoding="utf-8")
    return repo / "policies", outputs


def test_a_policy_whose_examples_misbehave_never_passes_silently(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    policies, outputs = _broken_examples(tmp_path)
    args = ("--outputs", str(outputs), "--policies", str(policies), "--evals", str(tmp_path / "evals"))
    assert main(["gate", *args, "--color", "never", "--format", "json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    warning = ("policy test.no-secrets: fail example 'the password is hunter2' passes every per-output rule of"
               f" test.no-secrets; it must fail at least one ({policies / 'leak.yaml'}:13:7: $.examples.fail[0])")
    assert [w.split("): ")[0] + ")" for w in report["warnings"]] == [warning]
    assert f"harness: warning: {warning}" in captured.err
    assert main(["gate", *args, "--color", "never"]) == 0
    assert f"warning: {warning}" in capsys.readouterr().out
    assert main(["gate", *args, "--color", "never", "--strict"]) == 4
    err = capsys.readouterr().err
    assert "fail example 'the password is hunter2' passes every per-output rule of test.no-secrets" in err
    assert "--strict" in err and "nothing was judged" in err


# --- attacks: selection edges ------------------------------------------------------------------------

def _policy(folder: Path, pid: str, *, status: str = "active", on_fail: str = "block") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{pid}.yaml").write_text(
        f"id: {pid}\nversion: 1.0.0\ntitle: T\nseverity: sev2\non_fail: {on_fail}\nowner: owner@example.com\n"
        f"status: {status}\nrules:\n  - id: no-secret\n    check: regex\n    pattern: 'SECRET'\n", encoding="utf-8")


def test_a_selection_of_deprecated_policies_only_judges_nothing_and_is_invalid_input(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _policy(tmp_path / "policies", "test.old", status="deprecated")
    _policy(tmp_path / "policies", "test.new")
    (tmp_path / "evals").mkdir()
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text(json.dumps({"case_id": "c1", "output": "SECRET"}) + "\n", encoding="utf-8")
    args = ["--outputs", str(outputs), "--policies", str(tmp_path / "policies"), "--evals", str(tmp_path / "evals"),
            "--allow-unmatched", "--color", "never"]
    assert main(["gate", *args, "--select", "test.old"]) == 4  # was 0: PROMOTE with nothing judged
    assert ("--select test.old: no policy and no eval suite is left to judge (only deprecated policies, which are"
            " not judged: test.old)") in capsys.readouterr().err
    assert main(["gate", *args, "--select", "test.*"]) == 1  # the active one is judged, and fails


@pytest.mark.parametrize("pattern", ["", "   ", "[", "[privacy].*", " privacy.no-pii", "privacy.no-pii\n"],
                         ids=["empty", "blank", "open-bracket", "bracket-class", "leading-space", "newline"])
def test_a_pattern_that_is_empty_blank_or_odd_matches_nothing(pattern: str) -> None:
    from harness.api import load
    from harness.project.selection import select_project

    with pytest.raises(InputError, match=re.escape(f"--select {pattern!r} matches no policy id")):
        select_project(load(ROOT / "policies", ROOT / "evals"), [pattern])


def test_globs_with_classes_and_double_stars_select_as_fnmatch_does() -> None:
    from harness.api import load
    from harness.project.selection import select_project

    project = load(ROOT / "policies", ROOT / "evals")
    _, one = select_project(project, ["privacy.[n]o-pii"])
    assert one is not None and one.policies == ("privacy.no-pii",) and one.suites == ()
    _, everything = select_project(project, ["**"])  # everything, but still a selection: it cannot promote
    assert everything is not None and len(everything.policies) + len(everything.suites) == len(project.sources)


# --- attacks: recording a partial gate ---------------------------------------------------------------

@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from harness import api
    from harness.project import read_playbook

    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    return api.release_settings(read_playbook(ROOT / "policies"), registry=f"file://{tmp_path}/registry.json",
                                decision_log=tmp_path / "decisions.jsonl", reports_dir=tmp_path / "reports",
                                state_dir=tmp_path / "rollbacks")


def _partial(path: Path, *patterns: str):
    import datetime as dt

    return run_gate(path, baseline=ROOT / "examples" / "outputs" / "acme-support-1.0.0.jsonl",
                    today=dt.date(2026, 11, 27), backdate=True, select=list(patterns))


def test_record_release_refuses_to_promote_a_partial_gate_and_logs_its_selection(settings, tmp_path: Path) -> None:
    from harness import api
    from harness.release.decision_log import read_log

    result = _partial(GOOD, "privacy.*")
    assert result.verdict.value == "promote"
    with pytest.raises(InputError, match="a partial gate cannot promote"):
        api.record_release(result, settings=settings, model="acme-support-assistant", version="1.1.0", promote=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing recorded, nothing registered
    recorded = api.record_release(result, settings=settings, model="acme-support-assistant", version="1.1.0")
    assert not recorded.promoted
    [entry] = read_log(settings.decision_log)
    assert entry["details"]["selection"] == {"select": ["privacy.*"], "deselect": [],
                                             "policies": ["privacy.no-pii"], "suites": []}


def test_a_partial_gate_that_passes_never_unblocks_a_blocked_version(settings) -> None:
    from harness import api
    from harness.release.registry import open_registry

    bad = ROOT / "examples" / "outputs" / "acme-support-1.2.1.jsonl"
    model = "acme-support-assistant"
    api.record_release(_partial(bad, "*"), settings=settings, model=model, version="1.2.1")
    assert open_registry(settings.registry).get_version(model, "1.2.1").tags["blocked"] == "true"
    partial = _partial(bad, "quality.record-provenance")
    assert partial.verdict.value == "promote"
    api.record_release(partial, settings=settings, model=model, version="1.2.1")
    tags = open_registry(settings.registry).get_version(model, "1.2.1").tags
    assert (tags["blocked"], tags["harness.verdict"]) == ("true", "block")


# --- attacks: annotations --------------------------------------------------------------------------

def _forged(report: Report, *, path: str, case_id: str, message: str, line: int | None) -> Report:
    import dataclasses

    run = dataclasses.replace(report.run, policies=tuple(dataclasses.replace(p, path=path)
                                                         for p in report.run.policies))
    results = tuple(dataclasses.replace(r, case_id=case_id, message=message, source_line=line)
                    for r in report.results)
    return dataclasses.replace(report, run=run, results=results, warnings=(message,))


HOSTILE = ("a\rb\u2028c\u2029d\x85e\x0bf\n::stop-commands::tok\n::add-mask::x\n::set-output name=v::1"
           "%0A::error::y ##[error]z")


def test_no_field_of_an_annotation_can_forge_a_workflow_command(tmp_path: Path) -> None:
    policies, outputs = _hostile(tmp_path)
    report = run_scan(outputs, policies=policies, evals=None, clock=NOON).report
    forged = _forged(report, path="dir,x:y%0A\n::error::p/forge.yaml", case_id=HOSTILE, message=HOSTILE, line=8)
    lines = render(forged, "github").splitlines()
    assert len(lines) == 3  # the rule's warning, the report's warning, the summary
    assert all(COMMAND.match(line) for line in lines), lines
    assert lines[0].startswith("::warning file=dir%2Cx%3Ay%250A\\n%3A%3Aerror%3A%3Ap/forge.yaml,line=8,"
                               "title=test.forge/no-forgery::")
    for line in lines:
        props, message = line[2:].split("::", 1)[0], unescape(line.split("::", 2)[2])
        assert "::" not in unescape(props.replace("%3A", "")) and "\n" not in message and "\r" not in message
        assert "\u2028" not in message and "\u2029" not in message and "\x85" not in message


def test_an_unknown_or_impossible_rule_line_is_left_out_and_long_messages_are_bounded(tmp_path: Path) -> None:
    from harness.report.renderers.github import MAX_MESSAGE, command

    assert command("error", "m", file="p.yaml", line=0) == "::error file=p.yaml::m"
    assert command("error", "m", file="p.yaml", line=-3) == "::error file=p.yaml::m"
    assert command("error", "m", file="p.yaml", line=None) == "::error file=p.yaml::m"
    long = command("error", "%" * (MAX_MESSAGE + 50))
    assert long == "::error::" + "%25" * MAX_MESSAGE + "… (50 more characters)"
    policies, outputs = _hostile(tmp_path)
    report = run_scan(outputs, policies=policies, evals=None, clock=NOON).report
    huge = render(_forged(report, path="p.yaml", case_id="c", message="x" * 100_000, line=None), "github")
    assert max(len(line) for line in huge.splitlines()) < 3 * MAX_MESSAGE
    assert huge.splitlines()[0].startswith("::warning file=p.yaml,title=")


# --- attacks: SARIF --------------------------------------------------------------------------------

def _valid_sarif(text: str) -> dict:
    log = json.loads(text)
    errors = list(jsonschema.Draft4Validator(SARIF_SCHEMA).iter_errors(log))
    assert not errors, [f"{e.json_path}: {e.message}" for e in errors[:5]]
    return log


@pytest.mark.parametrize(("path", "expected"), [
    ("pol icy#1/50%/p.yaml", {"uri": "pol%20icy%231/50%25/p.yaml", "uriBaseId": "%SRCROOT%"}),
    ("règles/a,b:c?.yaml", {"uri": "r%C3%A8gles/a%2Cb%3Ac%3F.yaml", "uriBaseId": "%SRCROOT%"}),
    ("/srv/my policies/p.yaml", {"uri": "file:///srv/my%20policies/p.yaml"}),
    ("bad\udcff.yaml", {"uri": "bad%FF.yaml", "uriBaseId": "%SRCROOT%"}),
], ids=["space-hash-percent", "unicode-comma-colon", "absolute", "not-utf8"])
def test_sarif_uris_are_percent_encoded_uri_references(path: str, expected: dict) -> None:
    from harness.report.renderers.sarif import uri

    assert uri(path) == expected
    assert re.fullmatch(r"[A-Za-z0-9\-._~/%:]+", expected["uri"])


def test_sarif_of_a_scan_with_hostile_paths_and_unknown_lines_is_valid(tmp_path: Path) -> None:
    policies, outputs = _hostile(tmp_path)
    report = run_scan(outputs, policies=policies, evals=None, clock=NOON).report
    log = _valid_sarif(render(_forged(report, path="a b#%/p.yaml", case_id=HOSTILE, message=HOSTILE, line=None),
                              "sarif"))
    run = log["runs"][0]
    assert "exitCode" not in run["invocations"][0]  # a scan's exit code depends on --fail-on-findings
    assert run["automationDetails"]["id"].startswith("harness/scan/")
    [location] = run["results"][0]["locations"]
    assert location == {"physicalLocation": {"artifactLocation": {"uri": "a%20b%23%25/p.yaml",
                                                                  "uriBaseId": "%SRCROOT%"}}}  # no region


def test_sarif_keeps_under_github_result_limit_gating_failures_first(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.report.renderers import sarif as module

    _policy(tmp_path / "policies", "test.warn", on_fail="warn")
    _policy(tmp_path / "policies", "test.block")
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text("".join(json.dumps({"case_id": f"c{i}", "output": "SECRET"}) + "\n" for i in range(4)),
                       encoding="utf-8")
    report = run_scan(outputs, policies=tmp_path / "policies", evals=None, clock=NOON).report
    monkeypatch.setattr(module, "MAX_RESULTS", 5)  # GitHub rejects a run of more than 25,000
    log = _valid_sarif(render(report, "sarif"))
    run = log["runs"][0]
    kept = [(r["ruleId"], r["level"], r["properties"]["case_id"]) for r in run["results"]]
    assert sorted(kept) == [*(("test.block/no-secret", "error", f"c{i}") for i in range(4)),
                            ("test.warn/no-secret", "warning", "c0")]  # in report order, the first warning kept
    assert run["properties"]["omitted_results"] == 3
    assert run["invocations"][0]["toolExecutionNotifications"][-1]["message"]["text"].startswith(
        "3 of 8 failing results are left out: GitHub's code scanning rejects a run with more than 5 results")


# --- attacks: $GITHUB_OUTPUT -----------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fifo", "device", "under-a-file"])
def test_github_output_that_is_no_regular_file_warns_and_never_blocks(kind: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    policies, outputs = _broken_examples(tmp_path)
    (tmp_path / "policies" / "leak.yaml").write_text(  # examples that behave: only the step outputs warn
        (tmp_path / "policies" / "leak.yaml").read_text(encoding="utf-8").replace("hunter2", "SECRET"),
        encoding="utf-8")
    target = {"fifo": tmp_path / "fifo", "device": Path("/dev/null"), "under-a-file": outputs / "x"}[kind]
    reader = None
    if kind == "fifo":  # opened for writing with no reader, it would block the step for ever; with one (here,
        os.mkfifo(target)  # so that a regression fails instead of hanging) the outputs would vanish into it
        reader = os.open(target, os.O_RDONLY | os.O_NONBLOCK)
    monkeypatch.setenv("GITHUB_OUTPUT", str(target))
    try:
        code = main(["gate", "--outputs", str(outputs), "--policies", str(policies), "--evals",
                     str(tmp_path / "evals"), "--color", "never", "--format", "json"])
    finally:
        if reader is not None:
            assert os.read(reader, 100) == b""  # nothing was written into the FIFO
            os.close(reader)
    assert code == 0  # the verdict's
    err = capsys.readouterr().err
    if kind == "under-a-file":
        assert f"harness: warning: cannot append to $GITHUB_OUTPUT ({target}): Not a directory" in err
    else:
        assert (f"harness: warning: step outputs skipped: {target}: $GITHUB_OUTPUT is not a regular file (a FIFO,"
                " a device or a socket)") in err
