"""``harness policy test``: policies' own examples, the rules that caught them, and rule coverage."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import xmlschema

from harness.api.policy_tests import run_policy_tests
from harness.checks import CHECKS, check
from harness.cli import main

ROOT = Path(__file__).resolve().parents[1]
JUNIT_XSD = ROOT / "tests" / "data" / "junit-10.xsd"

HEAD = """\
id: {id}
version: 1.0.0
title: Support replies
severity: sev2
on_fail: block
owner: owner@example.com
"""
#: two rules the examples cover, one they leave uncovered, one run-level rule
RULES = """\
rules:
  - {id: no-email, check: pii, kinds: [email]}
  - {id: no-shouting, check: regex, pattern: 'URGENT', must: not_match}
  - {id: short, check: length, max: 200}
  - {id: mostly-short, check: rate, of: {check: length, max: 200}, min: 0.9}
"""


def write_policy(folder: Path, name: str, examples: str, *, id: str = "support.replies", rules: str = RULES) -> Path:
    path = folder / "policies" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEAD.format(id=id) + rules + textwrap.dedent(examples), encoding="utf-8")
    return path


GOOD = """\
examples:
  pass:
    - "Thanks, your order A-48213 has shipped."
  fail:
    - "Write to the customer at jane.doe@example.com."
    - "URGENT: reply within the hour."
"""


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["policy", "test", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_examples_that_behave_pass_and_name_the_rules_that_caught_them(project, capsys):
    write_policy(project, "replies.yaml", GOOD)
    code, out, _ = run_cli(capsys, "--verbose")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "support.replies 1.0.0  3 examples ok  rules 2/3 covered, 1 run-level"
    assert ("  ok policies/replies.yaml:16: fail example 'Write to the customer at j***@example.com.';"
            " caught by no-email") in lines
    assert ("  ok policies/replies.yaml:17: fail example 'URGENT: reply within the hour.'; caught by no-shouting"
            in lines)
    assert lines[-1] == "ok"


def test_a_fail_example_that_passes_fails_the_run_naming_the_example_and_the_policy(project, capsys):
    write_policy(project, "replies.yaml", GOOD + '    - "Your parcel is on its way."\n')
    code, out, _ = run_cli(capsys)
    assert code == 1
    assert "support.replies 1.0.0  1 of 4 examples FAILED  rules 2/3 covered, 1 run-level" in out
    assert ("  FAIL policies/replies.yaml:18: fail example 'Your parcel is on its way.'\n"
            "    no rule caught it; expected one of: no-email, no-shouting, short\n") in out
    assert "FAILED: 1 example(s) did not behave as declared" in out
    report = run_policy_tests(policies_dir="policies")
    (failed,) = report.policies[0].failed
    assert failed.problem == ("fail example 'Your parcel is on its way.' of support.replies passes every per-output"
                              " rule; expected one of these to catch it: no-email, no-shouting, short")
    assert report.exit_code == 1 and not report.ok


def test_a_pass_example_that_fails_names_the_rule_it_broke(project, capsys):
    write_policy(project, "replies.yaml", GOOD.replace("Thanks, your order", "URGENT: your order"))
    code, out, _ = run_cli(capsys)
    assert code == 1
    assert ("  FAIL policies/replies.yaml:14: pass example 'URGENT: your order A-48213 has shipped.'\n"
            "    fired: no-shouting; a pass example must pass every rule\n") in out


def test_an_uncovered_rule_is_reported_and_fails_only_with_require_coverage(project, capsys):
    write_policy(project, "replies.yaml", GOOD)
    code, out, _ = run_cli(capsys)
    assert code == 0
    assert "  uncovered policies/replies.yaml:10: rule short (length): no fail example triggers it" in out
    code, out, _ = run_cli(capsys, "--require-coverage")
    assert code == 1
    assert "  UNCOVERED policies/replies.yaml:10: rule short (length): no fail example triggers it" in out
    assert "FAILED: 1 per-output rule(s) uncovered (--require-coverage)" in out
    coverage = run_policy_tests(policies_dir="policies").policies[0]
    assert [r.id for r in coverage.uncovered] == ["short"]


def test_run_level_rules_are_listed_apart_and_never_count_as_uncovered(project, capsys):
    covered = GOOD + '    - "' + "Your order has shipped. " * 10 + '"\n'
    write_policy(project, "replies.yaml", covered)
    code, out, _ = run_cli(capsys, "--require-coverage")
    assert code == 0, out
    assert out.splitlines()[0] == "support.replies 1.0.0  4 examples ok  rules 3/3 covered, 1 run-level"
    assert "  run-level, not coverable by examples: mostly-short (rate, policies/replies.yaml:11)" in out
    assert "1 run-level rule(s) judge whole runs and are not coverable by examples" in out
    coverage = run_policy_tests(policies_dir="policies", require_coverage=True).policies[0]
    assert [r.id for r in coverage.run_level] == ["mostly-short"] and coverage.uncovered == ()


def test_a_policy_with_no_examples_leaves_its_rules_uncovered(project, capsys):
    write_policy(project, "replies.yaml", "")
    code, out, _ = run_cli(capsys, "--require-coverage")
    assert code == 1
    assert out.splitlines()[0] == "support.replies 1.0.0  no examples  rules 0/3 covered, 1 run-level"
    assert "1 policies (1 without examples)" in out


def test_a_policy_that_does_not_parse_is_invalid_input_naming_file_and_line(project, capsys):
    write_policy(project, "replies.yaml", GOOD)
    (project / "policies" / "broken.yaml").write_text("id: broken\nrules: [\n  - {check: regex\n", encoding="utf-8")
    code, out, err = run_cli(capsys)
    assert code == 4
    assert out == ""
    assert "policies/broken.yaml:3:3: invalid YAML" in err
    assert "harness: invalid input (exit 4)" in err


def test_a_policy_that_fails_its_schema_is_invalid_input(project, capsys):
    write_policy(project, "replies.yaml", GOOD, rules="rules:\n  - {id: a, check: regex, pattern: x, must: forbid}\n")
    code, _, err = run_cli(capsys)
    assert code == 4
    assert "policies/replies.yaml:8:" in err and "'forbid' is not one of ['match', 'not_match']" in err


def test_one_path_selects_one_policy_and_problems_elsewhere_do_not_count(project, capsys):
    write_policy(project, "a/replies.yaml", GOOD)
    write_policy(project, "b/other.yaml", GOOD.replace("URGENT:", "Hello,"), id="support.other")
    (project / "policies" / "b" / "broken.yaml").write_text("id: [\n", encoding="utf-8")
    code, out, _ = run_cli(capsys, "policies/a/replies.yaml")
    assert code == 0
    assert "support.replies" in out and "support.other" not in out
    assert "1 policies (0 without examples), 3 examples, 0 failed" in out
    code, out, err = run_cli(capsys, "policies/b")
    assert code == 4 and "policies/b/broken.yaml:" in err


@pytest.mark.parametrize("path, message", [
    ("policies/missing.yaml", "policies/missing.yaml: not found; expected a policy file or a folder of policies"),
    ("elsewhere", "elsewhere: not inside the policies folder policies"),
], ids=["missing", "outside"])
def test_a_path_that_is_no_policy_is_invalid_input(project, capsys, path, message):
    write_policy(project, "replies.yaml", GOOD)
    (project / "elsewhere").mkdir()
    code, _, err = run_cli(capsys, path)
    assert code == 4
    assert err.startswith(message)


def test_json_document(project, capsys):
    write_policy(project, "replies.yaml", GOOD + '    - "Your parcel is on its way."\n')
    code, out, _ = run_cli(capsys, "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["policy_test_version"] == 1 and data["ok"] is False and data["require_coverage"] is False
    assert data["totals"] == {"policies": 1, "policies_without_examples": 0, "examples": 4, "examples_failed": 1,
                              "rules": 4, "rules_coverable": 3, "rules_covered": 2, "rules_uncovered": 1,
                              "rules_run_level": 1}
    (policy,) = data["policies"]
    assert (policy["id"], policy["version"], policy["file"], policy["ok"]) == (
        "support.replies", "1.0.0", "policies/replies.yaml", False)
    assert policy["examples"][1] == {
        "expect": "fail", "text": "Write to the customer at j***@example.com.", "file": "policies/replies.yaml",
        "line": 16, "ok": True, "caught_by": ["no-email"], "crashed": [], "problem": None}
    assert policy["examples"][3]["ok"] is False and policy["examples"][3]["caught_by"] == []
    assert policy["rules"][2] == {"id": "short", "check": "length", "level": "output", "file": "policies/replies.yaml",
                                  "line": 10, "coverable": True, "covered": False, "caught_by": 0}
    assert policy["rules"][3]["level"] == "run" and policy["rules"][3]["coverable"] is False
    assert policy["uncovered"] == ["short"] and policy["run_level"] == ["mostly-short"]


def test_junit_has_a_case_per_example_and_per_uncovered_rule_and_is_valid(project, capsys):
    write_policy(project, "replies.yaml", GOOD + '    - "Your parcel is on its way."\n')
    target = project / "out" / "policy-tests.xml"
    target.parent.mkdir()
    code, out, _ = run_cli(capsys, "--format", "junit", "--require-coverage", "--output", str(target))
    assert code == 1
    assert out.splitlines()[0].startswith("support.replies 1.0.0  1 of 4 examples FAILED")  # the summary
    xml = target.read_text(encoding="utf-8")
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(xml)
    tree = xmlschema.XMLSchema(str(JUNIT_XSD)).to_dict(xml)
    (suite,) = tree["testsuite"]
    assert (suite["@name"], suite["@tests"], suite["@failures"]) == ("support.replies", "5", "2")
    cases = {case["@name"]: case for case in suite["testcase"]}
    assert {case["@classname"] for case in cases.values()} == {"support.replies"}
    assert "fail example 3: Your parcel is on its way." in cases
    assert "failure" in cases["fail example 3: Your parcel is on its way."]
    assert cases["rule short covered"]["failure"][0]["@type"] == "uncovered"
    assert "failure" not in cases["pass example 1: Thanks, your order A-48213 has shipped."]


def test_output_inside_the_policies_folder_is_refused(project, capsys):
    write_policy(project, "replies.yaml", GOOD)
    code, _, err = run_cli(capsys, "--format", "json", "--output", "policies/report.json")
    assert code == 4 and "is inside the --policies directory" in err
    assert not (project / "policies" / "report.json").exists()


def test_personal_data_in_an_example_is_shown_masked(project, capsys):
    write_policy(project, "replies.yaml", GOOD.replace("Thanks, your order", "Mail jane.doe@example.com, your order"))
    code, out, _ = run_cli(capsys)
    assert code == 1
    assert "pass example 'Mail j***@example.com, your order A-48213 has shipped.'" in out
    assert "jane.doe" not in out
    for fmt in ("json", "junit"):
        code, out, _ = run_cli(capsys, "--format", fmt)
        assert code == 1
        assert "j***@example.com" in out and "jane.doe" not in out


def test_terminal_escapes_in_an_example_are_shown_not_obeyed(project, capsys):
    write_policy(project, "replies.yaml", GOOD + '    - "Hello\\e[2J\\e]0;owned\\a there"\n')
    code, out, _ = run_cli(capsys, "--verbose")
    assert code == 1
    assert "\x1b" not in out and "\x07" not in out
    assert "fail example 'Hello\ufffd[2J\ufffd]0;owned\ufffd there'" in out


def test_the_shipped_policies_pass_with_require_coverage(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    report = run_policy_tests(require_coverage=True)
    problems = [e.problem for p in report.policies for e in p.failed]
    problems += [f"{p.id}: rule {r.id} uncovered" for p, r in report.uncovered]
    assert problems == []
    assert report.exit_code == 0
    assert {r.id for p in report.policies for r in p.run_level} >= {"p95-latency", "refusals-hold"}


# --- hostile input --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("record", ["audit/decisions.jsonl", "registry.json"], ids=["decision-log", "registry"])
def test_output_that_is_a_release_record_is_refused_and_left_alone(project, capsys, record):
    """``--output audit/decisions.jsonl`` replaced the decision log (the playbook's defaults) with the report."""
    write_policy(project, "replies.yaml", GOOD)
    target = project / record
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text('{"seq": 1}\n', encoding="utf-8")
    code, out, err = run_cli(capsys, "--format", "json", "--output", record)
    assert (code, out) == (4, "")
    assert err.startswith(f"--output {record} is the ")
    assert target.read_text(encoding="utf-8") == '{"seq": 1}\n'


def test_a_policy_linked_into_the_policies_folder_is_tested_as_validate_loads_it(project, capsys):
    """A policy that is a symbolic link to a file outside ``policies/`` (and a linked folder) is loaded by
    ``validate`` and the gate, but ``policy test`` left it out in silence (its rules escaped coverage) and
    refused it by name."""
    shared = project / "shared"
    write_policy(shared, "linked.yaml", GOOD.replace('    - "URGENT: reply within the hour."\n', ""),
                 id="support.linked")
    write_policy(shared, "folder/inner.yaml", GOOD, id="support.inner")
    write_policy(project, "replies.yaml", GOOD)
    (project / "policies" / "linked.yaml").symlink_to(shared / "policies" / "linked.yaml")
    (project / "policies" / "folder").symlink_to(shared / "policies" / "folder", target_is_directory=True)
    report = run_policy_tests(policies_dir="policies", require_coverage=True)
    assert [p.id for p in report.policies] == ["support.inner", "support.linked", "support.replies"]
    assert [r.id for p, r in report.uncovered if p.id == "support.linked"] == ["no-shouting", "short"]
    code, out, _ = run_cli(capsys, "policies/linked.yaml")
    assert code == 0
    assert out.splitlines()[0] == "support.linked 1.0.0  2 examples ok  rules 1/3 covered, 1 run-level"
    code, out, _ = run_cli(capsys, "policies/folder")
    assert code == 0 and out.splitlines()[0].startswith("support.inner 1.0.0  3 examples ok")


@check("test-not-findings")
def _not_findings(options, record, case):
    return [1, 2]


@check("test-loud-crash")
def _loud_crash(options, record, case):
    raise ValueError("cannot read jane.doe@example.com\n::error file=x::forged\x1b[2J" + "x" * 100_000)


@pytest.fixture
def hostile_checks():
    with CHECKS.registered("test-not-findings", _not_findings), CHECKS.registered("test-loud-crash", _loud_crash):
        yield


def test_a_check_returning_something_other_than_findings_crashes_its_rule_as_in_the_gate(project, capsys,
                                                                                          hostile_checks):
    """A check returning ``[1, 2]`` counted as having caught the example (the gate records it as an error)."""
    write_policy(project, "replies.yaml", GOOD, rules="rules:\n  - {id: odd, check: test-not-findings}\n")
    coverage = run_policy_tests(policies_dir="policies").policies[0]
    assert [r.id for r in coverage.uncovered] == ["odd"]
    assert [(e.caught_by, e.crashed) for e in coverage.examples] == [
        ((), ("odd (returned a int among its findings, not a Finding)",))] * 3


def test_a_crash_message_is_masked_bounded_and_on_one_line_in_every_format(project, capsys, hostile_checks):
    """A crash message was copied whole: 100 kB lines, and a newline that starts a forged ``::error::``
    workflow command in the JUnit body a CI log prints."""
    write_policy(project, "replies.yaml", "examples:\n  fail:\n    - \"Hello\"\n",
                 rules="rules:\n  - {id: loud, check: test-loud-crash}\n")
    (problem,) = [e.problem for e in run_policy_tests(policies_dir="policies").policies[0].examples]
    assert problem is not None and problem.startswith(
        "fail example 'Hello' of support.replies crashed rule(s): loud (ValueError: cannot read j***@example.com\\n"
        "::error file=x::forged\ufffd[2Jxxx")
    assert problem.endswith("x…)") and len(problem) < 700
    for fmt in ("text", "json", "junit"):
        code, out, _ = run_cli(capsys, "--format", fmt)
        assert code == 1
        assert "jane.doe" not in out and "\x1b" not in out and "x" * 600 not in out
        assert not any(line.lstrip().startswith("::") for line in out.splitlines())
        assert "j***@example.com" in out


def test_a_huge_example_is_shown_masked_and_bounded(project, capsys):
    """A 300 kB example was masked whole for every line that showed 60 characters of it (minutes for a few
    megabytes), and copied whole into the JSON and JUnit reports."""
    huge = "Write to jane.doe@example.com " + "a" * 300_000
    write_policy(project, "replies.yaml", f'examples:\n  fail:\n    - "{huge}"\n')
    report = run_policy_tests(policies_dir="policies")
    (example,) = report.policies[0].examples
    assert example.masked_text == "Write to j***@example.com " + "a" * 1969 + "…"  # its first 1,999 characters
    _, out, _ = run_cli(capsys, "--format", "json")
    assert json.loads(out)["policies"][0]["examples"][0]["text"] == example.masked_text
    _, out, _ = run_cli(capsys, "--format", "junit")
    assert len(out) < 8000 and "jane.doe" not in out
    _, out, _ = run_cli(capsys, "-v")
    assert f"fail example 'Write to j***@example.com {'a' * 69}…'; caught by no-email, short" in out


def test_a_record_split_at_the_cut_is_still_masked(project, capsys):
    """Personal data that the cut of a long example splits is masked, not shown as its first half."""
    text = "a" * 1990 + " jane.doe@example.com " + "b" * 30_000
    write_policy(project, "replies.yaml", f'examples:\n  fail:\n    - "{text}"\n')
    (example,) = run_policy_tests(policies_dir="policies").policies[0].examples
    assert example.masked_text == "a" * 1990 + " ********…"
    assert "jane" not in example.masked_text


def test_junit_numbers_the_pass_and_the_fail_examples_apart(project, capsys):
    """``fail example 4`` named the third fail example (the count ran on from the pass examples)."""
    write_policy(project, "replies.yaml", GOOD)
    _, out, _ = run_cli(capsys, "--format", "junit")
    names = [case["@name"] for case in xmlschema.XMLSchema(str(JUNIT_XSD)).to_dict(out)["testsuite"][0]["testcase"]]
    assert names == ["pass example 1: Thanks, your order A-48213 has shipped.",
                     "fail example 1: Write to the customer at j***@example.com.",
                     "fail example 2: URGENT: reply within the hour."]


def test_junit_stays_valid_xml_with_control_characters_in_an_example(project, capsys):
    write_policy(project, "replies.yaml", GOOD + '    - "ctl \\x01\\x0b\\x1f\\x7f\\x85 \\u2028 \\ufffe <b>&amp;\\""\n')
    code, out, _ = run_cli(capsys, "--format", "junit")
    assert code == 1
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(out)
    assert "<b>" not in out and "&lt;b&gt;&amp;amp;" in out
