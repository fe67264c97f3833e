"""``harness validate`` lists every problem of a repository in one run, runs the policies' examples,
and reads ``max_failures`` into one unambiguous limit."""

from __future__ import annotations

import json

import pytest

from harness import api
from harness.cli import main
from harness.errors import InputErrors
from harness.model import MaxFailures
from harness.project import load_project


def messages(repo) -> list[str]:
    return [str(e) for e in api.validate(repo.policies, repo.evals).errors]


def test_one_file_with_five_kinds_of_problem_reports_all_five(repo, monkeypatch):
    monkeypatch.chdir(repo.root)
    repo.policy("p.yaml", """\
        id: test.policy
        version: 1.0.0
        title: Five problems
        severity: sev2
        on_fail: block
        owner: owner@example.com
        owner: someone-else@example.com
        rules:
          - {id: a, check: regex, pattern: x, must: forbid}
          - {id: b, check: regx, pattern: x}
          - {id: c, check: regex, pattern: '(?<=a)b'}
          - {id: c, check: pii}
        """)
    found = messages(repo)
    expected = [
        "policies/p.yaml:7:1: $.owner: duplicate key 'owner' (first defined at line 6)",
        "policies/p.yaml:9:45: $.rules[0].must: 'forbid' is not one of ['match', 'not_match']",
        "policies/p.yaml:10:20: $.rules[1].check: unknown check 'regx'; expected one of:",
        "policies/p.yaml:11:36: $.rules[2].pattern: invalid RE2 pattern '(?<=a)b'",
        "policies/p.yaml:12:10: $.rules[3].id: duplicate rule id 'c' (first at $.rules[2])",
    ]
    for line in expected:
        assert any(m.startswith(line) for m in found), (line, found)
    assert len(found) == len(expected)


def test_duplicate_ids_across_files_are_reported_with_their_other_problems(repo, policy_text, monkeypatch):
    monkeypatch.chdir(repo.root)
    repo.policy("a.yaml", policy_text("- {id: r, check: pii}\n"))
    repo.policy("b.yaml", policy_text("- {id: r, check: pii, kinds: [fax]}\n"))
    found = messages(repo)
    assert any("b.yaml:1:5: $.id: duplicate policy id 'test.policy' (also defined in policies/a.yaml:1)" in m
               for m in found)
    assert any("b.yaml:9:33: $.rules[0].kinds[0]: 'fax' is not one of" in m for m in found)


def test_an_example_that_does_not_behave_is_an_error_naming_it(repo, policy_text, monkeypatch, capsys):
    monkeypatch.chdir(repo.root)
    repo.policy("p.yaml", policy_text("- {id: no-email, check: pii, kinds: [email]}\n", extra=(
        'examples: {pass: ["Mail jane.doe@example.org", "All good"], fail: ["Nothing personal here", "to a@b.io"]}')))
    assert main(["validate", "--policies", str(repo.policies), "--evals", str(repo.evals)]) == 4
    err = capsys.readouterr().err
    assert ("policies/p.yaml:7:19: $.examples.pass[0]: pass example 'Mail j***@example.org' fails rule(s)"
            " no-email of test.policy; it must pass them all") in err
    assert ("policies/p.yaml:7:68: $.examples.fail[0]: fail example 'Nothing personal here' passes every"
            " per-output rule of test.policy; it must fail at least one") in err
    assert "All good" not in err and "a@b.io" not in err and "jane.doe@" not in err
    assert "harness: 2 error(s)" in err


def test_validate_json_lists_errors_and_counts(repo, policy_text, capsys, monkeypatch):
    monkeypatch.chdir(repo.root)
    repo.policy("p.yaml", policy_text("- {id: r, check: pii}\n", extra='examples: {fail: ["mail x@y.org"]}'))
    assert main(["validate", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"valid": True, "errors": [], "policies": 1, "suites": 0,
                                                   "cases": 0, "examples": 1}
    repo.policy("q.yaml", policy_text("- {id: r, check: pii, kinds: [fax]}\n", id="other.policy"))
    assert main(["validate", "--format", "json"]) == 4
    document = json.loads(capsys.readouterr().out)
    assert document["valid"] is False and document["policies"] == 1
    assert document["errors"] == [{"file": "policies/q.yaml", "line": 9, "column": 33, "path": "$.rules[0].kinds[0]",
                                   "message": "'fax' is not one of ['email', 'phone', 'us_ssn', 'credit_card', 'iban',"
                                              " 'ip_address', 'secret']"}]


@pytest.mark.parametrize(("written", "limit"), [
    pytest.param("0", MaxFailures(count=0), id="zero"),
    pytest.param("3", MaxFailures(count=3), id="count"),
    pytest.param("0.05", MaxFailures(count=None, fraction=0.05), id="fraction"),
    pytest.param("'5%'", MaxFailures(count=None, fraction=0.05), id="percentage"),
    pytest.param("'12.5 %'", MaxFailures(count=None, fraction=0.125), id="percentage-with-decimals"),
])
def test_max_failures_is_read_into_a_count_or_a_fraction(repo, policy_text, written, limit):
    repo.policy("p.yaml", policy_text("- {id: r, check: pii}\n", extra=f"max_failures: {written}"))
    assert load_project(repo.policies, repo.evals).policies[0].max_failures == limit


@pytest.mark.parametrize(("written", "message"), [
    pytest.param("1.0", "1.0 is ambiguous: write 1 for a count", id="one-point-zero"),
    pytest.param("2.0", "2.0 is ambiguous: write 2 for a count", id="two-point-zero"),
    pytest.param("'100%'", "strictly between 0% and 100%", id="hundred-percent"),
    pytest.param("'five'", "expected a count (3), a fraction (0.05) or a percentage ('5%'), got 'five'",
                 id="not-a-number"),
    pytest.param("-1", "a count cannot be negative, got -1", id="negative"),
    pytest.param("[1]", "expected a number or a string, got a list", id="a-list"),
    pytest.param("null", "expected a number or a string, got null", id="null"),
    pytest.param("{max_failures: 1}", "expected a number or a string, got a mapping", id="a-mapping"),
])
def test_ambiguous_or_wrong_max_failures_is_refused(repo, policy_text, written, message, monkeypatch):
    monkeypatch.chdir(repo.root)
    repo.policy("p.yaml", policy_text("- {id: r, check: pii}\n", extra=f"max_failures: {written}"))
    with pytest.raises(InputErrors) as info:
        load_project(repo.policies, repo.evals)
    [error] = info.value.errors
    assert str(error).startswith("policies/p.yaml:7:15: $.max_failures: ") and message in str(error)


def test_a_fraction_limit_still_fails_a_policy_over_it(repo, policy_text):
    """``max_failures: 2.0`` used to be read as the fraction 200 %: a policy that could never fail."""
    repo.policy("p.yaml", policy_text("- {id: r, check: pii, kinds: [email]}\n", extra="max_failures: '50%'"))
    records = [{"case_id": f"c{i}", "output": "mail jane@example.org" if i < 3 else "fine"} for i in range(4)]
    result = api.run_gate(repo.outputs("o.jsonl", records), policies=repo.policies, evals=repo.evals)
    assert result.exit_code == 1
    assert json.loads(result.report.to_json())["policies"][0]["failed"] == 3


def test_a_percentage_limit_is_exact(repo, policy_text):
    """57 failing outputs of 100 are within '57%': no float rounding makes it 56.99999999999999."""
    repo.policy("p.yaml", policy_text("- {id: r, check: pii, kinds: [email]}\n", extra="max_failures: '57%'"))
    records = [{"case_id": f"c{i}", "output": "mail jane@example.org" if i < 57 else "fine"} for i in range(100)]
    result = api.run_gate(repo.outputs("o.jsonl", records), policies=repo.policies, evals=repo.evals)
    assert result.exit_code == 0
    assert result.report.policies[0].failed == 57


@pytest.mark.parametrize(("rules", "extra", "expected"), [
    pytest.param("- {id: r, check: contains, value: ['']}\n", "",
                 "p.yaml:9:38: $.rules[0].value[0]: '' should be non-empty", id="one-of-picks-the-fitting-branch"),
    pytest.param("- {id: r, check: contains, value: null}\n", "",
                 "p.yaml:9:37: $.rules[0].value: expected a string or a list, got null", id="one-of-null"),
    pytest.param("- {id: r, check: contains, value: {a: 1}}\n", "",
                 "p.yaml:9:37: $.rules[0].value: expected a string or a list, got a mapping", id="one-of-mapping"),
    pytest.param("- {id: r, check: length, max: '5'}\n", "",
                 "p.yaml:9:33: $.rules[0].max: expected a whole number, got a string ('5')", id="type-string"),
    pytest.param("- {id: r, check: pii, kinds: email}\n", "",
                 "p.yaml:9:32: $.rules[0].kinds: expected a list, got a string ('email')", id="type-list"),
    pytest.param("- {id: r, check: pii}\n", "max_failures: {max_failures: 1}",
                 "p.yaml:7:15: $.max_failures: expected a number or a string, got a mapping", id="path-said-once"),
    pytest.param("- {id: r, check: regex, pattern: x, must: null}\n", "",
                 "p.yaml:9:45: $.rules[0].must: null is not one of ['match', 'not_match']", id="enum-null"),
    pytest.param("- {id: 'no pii', check: pii}\n", "",
                 "p.yaml:9:10: $.rules[0].id: 'no pii' has the wrong form; use letters, digits and _ . : - (a letter"
                 " or digit first), like no-pii", id="rule-id-hint"),
    pytest.param("- {id: r, check: field, path: '1st', exists: true}\n", "",
                 "p.yaml:9:33: $.rules[0].path: '1st' has the wrong form; use a field path like model_version or"
                 " slice.locale", id="check-pattern-hint-from-the-table"),
    pytest.param("- {id: r, check: pii}\n", "lessons_from: [INC-7]",
                 "p.yaml:7:16: $.lessons_from[0]: 'INC-7' has the wrong form; use an incident id like INC-2026-0001",
                 id="incident-id-hint"),
])
def test_schema_errors_speak_yaml_and_say_what_to_write(repo, policy_text, monkeypatch, rules, extra, expected):
    """Messages said `got NoneType`, doubled paths, chose the wrong `oneOf` branch and showed raw regexes."""
    monkeypatch.chdir(repo.root)
    repo.policy("p.yaml", policy_text(rules, extra=extra))
    assert messages(repo) == ["policies/" + expected]


def test_a_version_error_says_how_to_write_one_not_the_regex(repo, policy_text, monkeypatch):
    monkeypatch.chdir(repo.root)
    repo.policy("p.yaml", policy_text("- {id: r, check: pii}\n").replace("version: 1.0.0", "version: '1.0'"))
    assert messages(repo) == ["policies/p.yaml:2:10: $.version: '1.0' has the wrong form; use a version like 1.0.0"]


def test_playbook_and_waiver_errors_speak_yaml(repo, monkeypatch):
    monkeypatch.chdir(repo.root)
    repo.policy("playbook.yaml", "severities:\n  critical: {meaning: x}\n  sev2: {meaning: y, sla: {fix: 3 days}}\n")
    repo.policy("waivers.yaml", "waivers:\n  - {policy: x, reason: r, approver: a, ticket: t, approved: 2026-01-01,"
                                " expires: tomorrow}\n")
    assert messages(repo) == [
        "policies/playbook.yaml:2:3: $.severities.critical: key 'critical' has the wrong form; use a severity"
        " like sev1",
        "policies/playbook.yaml:3:33: $.severities.sev2.sla.fix: '3 days' has the wrong form; use a duration like"
        " 30m, 72h or 5d",
        "policies/waivers.yaml:2:83: $.waivers[0].expires: expected a date YYYY-MM-DD, got a string ('tomorrow')",
    ]


def test_every_pattern_of_the_shipped_schemas_says_what_to_write():
    """A raw regex is never the only explanation: each `pattern` has an `x-pattern-hint` or a table entry."""
    from harness.checks import all_checks
    from harness.io.schema import PATTERN_HINTS, compose, load_schema

    def patterns(node, hinted=False):
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                yield node["pattern"], "x-pattern-hint" in node or node["pattern"] in PATTERN_HINTS
            for value in node.values():
                yield from patterns(value)
        elif isinstance(node, list):
            for value in node:
                yield from patterns(value)

    schemas = [*compose(all_checks()).values(), load_schema("playbook"), load_schema("waivers")]
    found = [item for schema in schemas for item in patterns(schema)]
    assert len(found) > 10
    assert [p for p, hinted in found if not hinted] == []
