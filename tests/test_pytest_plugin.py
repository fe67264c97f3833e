"""The pytest plugin, driven through pytest's own ``pytester``: eval cases and policy items as pytest tests.

The small repository in ``tests/data/pytest_plugin`` has two suites (four cases, tagged ``privacy``,
``smoke`` and ``support-bot``), a privacy policy with three examples and a per-output rule, and a
latency policy with a per-output and a run-level rule. ``good.jsonl`` passes everything; ``bad.jsonl``
leaks an e-mail address in echo-001, has no output for echo-002, a slow answer without "tracking" for
support-001 and a median over 2 s.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DATA = Path(__file__).parent / "data" / "pytest_plugin"
EMAIL = "jane.doe@example.com"
NODEIDS = [
    "evals/privacy/echo.yaml::echo-001",
    "evals/privacy/echo.yaml::echo-002",
    "evals/support/answers.yaml::support-001",
    "evals/support/answers.yaml::support-002",
    "policies/privacy/no-pii.yaml::example-1[pass]",
    "policies/privacy/no-pii.yaml::example-1[fail]",
    "policies/privacy/no-pii.yaml::example-2[fail]",
    "policies/privacy/no-pii.yaml::no-email",
    "policies/quality/latency.yaml::per-output-latency",
    "policies/quality/latency.yaml::median-latency",
]


def _plugin_args() -> list[str]:
    """``-p harness.pytest_plugin`` until the package is installed with its ``pytest11`` entry point."""
    installed = any(ep.name == "harness" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "harness.pytest_plugin"]


@pytest.fixture(scope="module", autouse=True)
def _harness_imported() -> None:
    """Judge once in this process, so that every module the plugin uses is imported before pytester's inline
    runs: those forget the modules first imported during a run, and PyYAML's C loader cannot be imported twice."""
    from harness.api import run_gate

    run_gate(DATA / "good.jsonl", policies=DATA / "policies", evals=DATA / "evals")
    import harness.io.yaml
    import harness.project.examples  # noqa: F401


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """The small repository copied into pytester's folder, with an ini file so that it is pytest's rootdir."""
    shutil.copytree(DATA, pytester.path, dirs_exist_ok=True)
    pytester.makeini("[pytest]\n")
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*_plugin_args(), *args)


def judge(pytester: pytest.Pytester, outputs: str, *args: str) -> pytest.RunResult:
    return run(pytester, "evals", "policies", "--harness-outputs", outputs, *args)


def test_collects_one_item_per_case_example_and_rule(project: pytest.Pytester) -> None:
    result = judge(project, "good.jsonl", "--collect-only", "-q")

    assert result.ret == pytest.ExitCode.OK
    assert [line for line in result.outlines if "::" in line] == NODEIDS


def test_outputs_that_pass_the_gate_pass_every_item(project: pytest.Pytester) -> None:
    result = judge(project, "good.jsonl")

    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(["*- harness gate -*",
                                 "verdict promote (harness gate would exit 0) over good.jsonl: 4 policies and suites,"
                                 " 4 passed, 0 failed, 0 errors, 0 waived"])


def test_a_failure_shows_the_case_rules_masked_finding_and_place(project: pytest.Pytester) -> None:
    result = judge(project, "bad.jsonl")

    result.assert_outcomes(passed=4, failed=6)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*_ case echo-001 _*",
        "failed: privacy.no-pii/no-email, eval:pii-echo/refusal, eval:pii-echo/pii (evals/privacy/echo.yaml:9)",
        "case echo-001 of suite pii-echo:",
        "  privacy.no-pii, rule no-email: An e-mail address in an answer.",
        "      email: j***@example.com",
        "      output: bad.jsonl line 1",
        "  eval:pii-echo, rule refusal: expected a refusal, got an answer",
    ])
    result.stdout.fnmatch_lines([
        "failed: missing output (evals/privacy/echo.yaml:15)",
        "case echo-002 of suite pii-echo:",
        "  eval:pii-echo, rule output: missing output: no record has this case_id",
    ])
    result.stdout.fnmatch_lines([
        "failed: quality.latency/per-output-latency, eval:everyday-support/contains (evals/support/answers.yaml:9)",
    ])
    result.stdout.fnmatch_lines([
        "*_ quality.latency median-latency _*",
        "quality.latency, rule median-latency: fail: p50 latency_ms = 2500, above the maximum 2000"
        " (policies/quality/latency.yaml:13)",
        "  judged over every output of bad.jsonl",
    ])
    result.stdout.fnmatch_lines([
        "verdict rollback (harness gate would exit 3) over bad.jsonl: *",
        "FAILED evals/privacy/echo.yaml::echo-001*",
        "FAILED evals/privacy/echo.yaml::echo-002*",
        "FAILED evals/support/answers.yaml::support-001*",
        "FAILED policies/privacy/no-pii.yaml::no-email*",
        "FAILED policies/quality/latency.yaml::per-output-latency*",
        "FAILED policies/quality/latency.yaml::median-latency*",
    ])
    assert EMAIL not in result.stdout.str() + result.stderr.str()


def test_k_selects_one_case(project: pytest.Pytester) -> None:
    result = judge(project, "bad.jsonl", "-k", "support-002")

    result.assert_outcomes(passed=1, deselected=9)


def test_x_stops_after_the_first_failure(project: pytest.Pytester) -> None:
    result = judge(project, "bad.jsonl", "-x")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["FAILED evals/privacy/echo.yaml::echo-001*", "*stopping after 1 failures*"])


def test_lf_reruns_only_the_failures_until_the_fixed_model_passes_them(project: pytest.Pytester) -> None:
    judge(project, "bad.jsonl").assert_outcomes(passed=4, failed=6)

    again = judge(project, "bad.jsonl", "--lf")
    again.assert_outcomes(failed=6)
    again.stdout.fnmatch_lines(["run-last-failure: rerun previous 6 failures"])

    fixed = judge(project, "good.jsonl", "--lf")
    fixed.assert_outcomes(passed=6)


@pytest.mark.parametrize(("tag", "selected"), [
    ("privacy", ["echo-001", "echo-002"]),
    ("smoke", ["echo-002"]),  # a case's own tag
    ("support-bot", ["support-001", "support-002"]),
    ("not privacy and not support-bot", ["example-1[pass]", "example-1[fail]", "example-2[fail]", "no-email",
                                         "per-output-latency", "median-latency"]),
], ids=["suite-tag", "case-tag", "hyphenated-tag", "expression"])
def test_m_selects_by_the_suites_and_cases_tags_under_strict_markers(project: pytest.Pytester, tag: str,
                                                                     selected: list[str]) -> None:
    result = judge(project, "bad.jsonl", "--strict-markers", "-m", tag, "--collect-only", "-q")

    assert result.ret == pytest.ExitCode.OK
    assert [line.split("::")[1] for line in result.outlines if "::" in line] == selected


def test_the_tags_are_registered_markers(project: pytest.Pytester) -> None:
    result = judge(project, "good.jsonl", "--markers")

    result.stdout.fnmatch_lines(["@pytest.mark.privacy: eval cases tagged privacy (harness)"])
    result.stdout.fnmatch_lines(["@pytest.mark.support-bot: eval cases tagged support-bot (harness)"])


def test_junitxml_names_each_testcase_by_its_case_id(project: pytest.Pytester) -> None:
    result = judge(project, "bad.jsonl", "--junitxml=report.xml")

    result.assert_outcomes(passed=4, failed=6)
    xml = (project.path / "report.xml").read_text(encoding="utf-8")
    cases = ET.fromstring(xml).findall(".//testcase")
    assert [case.get("name") for case in cases] == [nodeid.split("::")[1] for nodeid in NODEIDS]
    failed = {case.get("name"): case.find("failure") for case in cases if case.find("failure") is not None}
    assert sorted(failed) == ["echo-001", "echo-002", "median-latency", "no-email", "per-output-latency",
                              "support-001"]
    assert "email: j***@example.com" in (failed["echo-001"].text or "")
    assert EMAIL not in xml


def test_xdist_gives_the_same_outcomes(project: pytest.Pytester) -> None:
    # the controller runs in this process (one interpreter fewer to start); the two workers are processes of
    # their own, which judge and collect alike, or xdist refuses their different collections
    result = judge(project, "bad.jsonl", "-n", "2")

    result.assert_outcomes(passed=4, failed=6)
    result.stdout.fnmatch_lines(["created: 2/2 workers", "*- harness gate -*", "verdict rollback *"])
    assert EMAIL not in result.stdout.str()


def test_a_failing_policy_example_is_a_failing_item(project: pytest.Pytester) -> None:
    policy = project.path / "policies" / "privacy" / "no-pii.yaml"
    policy.write_text(policy.read_text(encoding="utf-8").replace(
        '    - "Write to help@acme.example',
        f'    - "Forward it to {EMAIL} please."\n    - "Write to help@acme.example'), encoding="utf-8")

    result = judge(project, "good.jsonl", "-k", "example")

    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines([
        "*_ privacy.no-pii example-1[[]pass] _*",
        "pass example of privacy.no-pii fails rule(s) no-email; a pass example must pass them all"
        " (policies/privacy/no-pii.yaml:16)",
        "  'Forward it to j***@example.com please.'",
    ])
    assert EMAIL not in result.stdout.str()


def test_failures_of_a_warn_only_policy_are_warnings(project: pytest.Pytester) -> None:
    policy = project.path / "policies" / "quality" / "latency.yaml"
    policy.write_text(policy.read_text(encoding="utf-8").replace("on_fail: block", "on_fail: warn"), encoding="utf-8")

    result = judge(project, "bad.jsonl")

    outcomes = result.parseoutcomes()
    assert (outcomes["passed"], outcomes["failed"]) == (6, 4)
    result.stdout.fnmatch_lines(["failed: eval:everyday-support/contains (evals/support/answers.yaml:9)"])
    result.stdout.fnmatch_lines([
        "evals/support/answers.yaml::support-001",
        "*HarnessWarning: support-001: quality.latency, rule per-output-latency: One answer took longer than 8 s."
        " (not counted by the gate)",
    ])
    result.stdout.fnmatch_lines([
        "policies/quality/latency.yaml::per-output-latency",
        "*HarnessWarning: quality.latency, rule per-output-latency: 1 output(s) failed it in bad.jsonl"
        " (not counted by the gate)",
    ])
    result.stdout.fnmatch_lines([
        "policies/quality/latency.yaml::median-latency",
        "*HarnessWarning: quality.latency, rule median-latency: fail: p50 latency_ms = 2500, above the maximum 2000"
        " (not counted by the gate)",
    ])


def test_a_missing_outputs_file_is_a_usage_error(project: pytest.Pytester) -> None:
    result = judge(project, "missing.jsonl")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: harness: invalid input, nothing judged:", "missing.jsonl: file not found"])


def test_a_broken_outputs_line_is_a_usage_error_naming_the_line(project: pytest.Pytester) -> None:
    good = (project.path / "good.jsonl").read_text(encoding="utf-8").splitlines()
    (project.path / "broken.jsonl").write_text(f"{good[0]}\n{{\"case_id\": \"echo-002\", \n", encoding="utf-8")

    result = judge(project, "broken.jsonl")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: harness: invalid input, nothing judged:", "broken.jsonl:2: invalid JSON: *"])


def test_an_invalid_suite_is_a_usage_error_naming_the_file_and_line(project: pytest.Pytester) -> None:
    (project.path / "evals" / "support" / "broken.yaml").write_text(
        "suite: broken\ncases:\n  - id: broken-001\n    input: 42\n", encoding="utf-8")

    result = judge(project, "good.jsonl")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["evals/support/broken.yaml:4:*"])


def test_harness_options_without_outputs_are_a_usage_error(project: pytest.Pytester) -> None:
    result = run(project, "evals", "--harness-policies", "policies")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --harness-policies needs --harness-outputs FILE (the outputs to judge)"])


def test_without_outputs_no_yaml_file_is_collected(project: pytest.Pytester) -> None:
    project.makepyfile(test_plain="def test_plain():\n    pass\n")

    result = run(project, "evals", "policies", "test_plain.py", "--collect-only", "-q")

    assert [line for line in result.outlines if "::" in line] == ["test_plain.py::test_plain"]


def test_other_yaml_files_are_not_collected(project: pytest.Pytester) -> None:
    (project.path / "ci.yaml").write_text("jobs: {}\n", encoding="utf-8")

    result = run(project, ".", "--harness-outputs", "good.jsonl", "--collect-only", "-q")

    assert result.ret == pytest.ExitCode.OK  # ci.yaml and the playbook are no tests, and no error either
    assert [line for line in result.outlines if "::" in line] == NODEIDS


def test_directories_are_found_relative_to_where_pytest_starts(project: pytest.Pytester) -> None:
    repository = project.path / "repository"
    repository.mkdir()
    for name in ("policies", "evals"):
        shutil.move(project.path / name, repository / name)

    result = run(project, "repository/evals", "--harness-outputs", "bad.jsonl",
                 "--harness-policies", "repository/policies", "--harness-evals", "repository/evals")

    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(["FAILED repository/evals/privacy/echo.yaml::echo-001 - failed: privacy.no-pii/*"])


def test_policies_alone_fail_when_an_output_fails_a_policy(project: pytest.Pytester) -> None:
    """``pytest policies/`` (or a repository with no eval suites) must fail with the gate: the per-output rule."""
    result = judge(project, "bad.jsonl", "-k", "no-email")

    result.assert_outcomes(failed=1, deselected=9)
    result.stdout.fnmatch_lines([
        "*_ privacy.no-pii no-email _*",
        "privacy.no-pii, rule no-email: 1 output(s) failed it in bad.jsonl (policies/privacy/no-pii.yaml:9)",
        "  case echo-001 (line 1): fail: An e-mail address in an answer.",
        "      email: j***@example.com",
    ])
    assert EMAIL not in result.stdout.str()


def test_a_rule_that_errs_fails_its_item(project: pytest.Pytester) -> None:
    """Fail closed: an error in a check is never a pass (the quantile reads a field that holds text)."""
    policy = project.path / "policies" / "quality" / "latency.yaml"
    policy.write_text(policy.read_text(encoding="utf-8").replace("field: latency_ms", "field: output"),
                      encoding="utf-8")

    result = judge(project, "good.jsonl", "-k", "latency")

    result.assert_outcomes(passed=1, failed=1, deselected=8)
    result.stdout.fnmatch_lines(["quality.latency, rule median-latency: error: `output` is missing or not a number"
                                 " in 4 of 4 outputs (policies/quality/latency.yaml:13)"])


@pytest.mark.parametrize("tag", ["skip", "xfail", "timeout"])
def test_a_tag_naming_a_pytest_marker_never_skips_or_excuses_a_failing_case(project: pytest.Pytester,
                                                                           tag: str) -> None:
    suite = project.path / "evals" / "privacy" / "echo.yaml"
    suite.write_text(suite.read_text(encoding="utf-8").replace("tags: [privacy]", f"tags: [privacy, {tag}]"),
                     encoding="utf-8")

    result = judge(project, "bad.jsonl", "-k", tag)  # still a keyword: -k selects the suite's cases

    result.assert_outcomes(failed=2, deselected=8, warnings=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"*HarnessWarning: tag '{tag}' of suite pii-echo (evals/privacy/echo.yaml) is a"
                                 " pytest marker with a meaning of its own (a case tagged skip or xfail would not"
                                 " fail): not applied as a marker, only a keyword for -k"])


def test_tags_that_are_no_marker_names_are_keywords_only(project: pytest.Pytester) -> None:
    suite = project.path / "evals" / "privacy" / "echo.yaml"
    suite.write_text(suite.read_text(encoding="utf-8").replace(
        "tags: [privacy]", 'tags: [privacy, _private, "customer: data", "not", "a\\nFAILED x\\x1b[31m"]'),
        encoding="utf-8")

    result = judge(project, "good.jsonl", "--strict-markers", "-m", "privacy", "-k", "_private")

    result.assert_outcomes(passed=2, deselected=8, warnings=4)
    text = result.stdout.str()
    assert "\x1b" not in text and "\nFAILED x" not in text
    result.stdout.fnmatch_lines(["*HarnessWarning: tag 'a\\nFAILED x\\x1b[[]31m' of suite pii-echo"
                                 " (evals/privacy/echo.yaml) is not a valid marker name: *"])
    for tag in ("_private", "customer: data", "not"):
        result.stdout.fnmatch_lines([f"*HarnessWarning: tag '{tag}' of suite pii-echo * is not a valid marker name*"])


def test_a_case_id_with_double_colons_is_one_node_id_part(project: pytest.Pytester) -> None:
    for name in ("evals/privacy/echo.yaml", "good.jsonl"):
        path = project.path / name
        path.write_text(path.read_text(encoding="utf-8").replace("echo-002", "inc::002"), encoding="utf-8")

    by_id = run(project, "evals/privacy/echo.yaml::inc%3A%3A002", "--harness-outputs", "good.jsonl",
                "--junitxml=report.xml")
    by_keyword = judge(project, "good.jsonl", "-k", "inc::002")

    by_id.assert_outcomes(passed=1)
    by_keyword.assert_outcomes(passed=1, deselected=9)
    testcase = ET.parse(project.path / "report.xml").getroot().find(".//testcase")
    assert testcase is not None
    assert (testcase.get("classname"), testcase.get("name")) == ("evals.privacy.echo.yaml", "inc%3A%3A002")
