"""Loading the policy repository: every error names the file, line, column and JSON path."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.errors import InputError, InputErrors
from harness.project import expired_waivers, load_project, read_playbook

RULE_OK = """
- id: no-email
  check: pii
  kinds: [email]
"""


def errors_of(repo) -> list[str]:
    with pytest.raises(InputErrors) as info:
        load_project(repo.policies, repo.evals)
    return [str(e) for e in info.value.errors]


def test_valid_repository_loads(repo, policy_text):
    repo.policy("privacy/pii.yaml", policy_text(RULE_OK))
    repo.suite("s.yaml", """
        suite: s
        tags: [bot]
        cases:
          - id: c1
            input: hi
            reference: hello
            expect:
              - {check: similar, threshold: 0.5}
        """)
    project = load_project(repo.policies, repo.evals)
    assert [p.id for p in project.policies] == ["test.policy"]
    assert project.policies[0].rules[0].check == "pii"
    assert project.cases["c1"].tags == frozenset({"bot"})
    assert len(project.policies[0].source.sha256) == 64


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        pytest.param("- {id: r, check: regex, pattern: 'x', must: forbid}\n",
                     "p.yaml:9:47: $.rules[0].must: 'forbid' is not one of ['match', 'not_match']",
                     id="enum"),
        pytest.param("- id: r\n  check: regex\n  pattern: x\n  must_not: y\n",
                     "p.yaml:12:5: $.rules[0].must_not: unknown key 'must_not'; expected one of:",
                     id="unknown-key-in-rule"),
        pytest.param("- {id: r, check: regex}\n", "p.yaml:9:5: $.rules[0]: 'pattern' is a required property",
                     id="required"),
        pytest.param("- {id: r, check: regx, pattern: x}\n",
                     "p.yaml:9:20: $.rules[0].check: unknown check 'regx'; expected one of:",
                     id="unknown-check"),
        pytest.param("- {id: r, check: regex, pattern: '(?<=a)b'}\n",
                     "p.yaml:9:36: $.rules[0].pattern: invalid RE2 pattern '(?<=a)b': invalid perl operator: (?<="
                     " (look-behinds are not supported in RE2 syntax)",
                     id="invalid-regex"),
        pytest.param("- {id: r, check: pii, allow: ['ok', '(a']}\n",
                     "p.yaml:9:39: $.rules[0].allow[1]: invalid RE2 pattern '(a': missing ): (a",
                     id="invalid-allow-regex"),
        pytest.param("- {id: r, check: length, min: 5, max: 2}\n",
                     "p.yaml:9:5: $.rules[0]: `min` (5) is greater than `max` (2)", id="length-bounds"),
        pytest.param("- {id: r, check: rate, min: 0.9, of: {check: latency}}\n",
                     "$.rules[0].of: 'max_ms' is a required property", id="inner-rule-required"),
        pytest.param("- {id: r, check: rate, min: 1.5, of: {check: latency, max_ms: 5}}\n",
                     "$.rules[0].min: 1.5 is greater than the maximum of 1", id="fraction-range"),
        pytest.param("- {id: r, check: pii}\n- {id: r, check: pii}\n",
                     "p.yaml:10:10: $.rules[1].id: duplicate rule id 'r' (first at $.rules[0])",
                     id="duplicate-rule-id"),
    ],
)
def test_rule_errors_are_located(repo, policy_text, rules, expected, monkeypatch):
    monkeypatch.chdir(repo.root)
    repo.policy("p.yaml", policy_text(rules))
    messages = errors_of(repo)
    assert any(m.startswith("policies/" + expected) or expected in m for m in messages), messages


def test_error_message_format_is_file_line_column_path(repo, policy_text, monkeypatch):
    monkeypatch.chdir(repo.root)
    repo.policy("privacy/pii.yaml", policy_text("- {id: r, check: regex, pattern: x, must: forbid}\n"))
    assert errors_of(repo) == [
        "policies/privacy/pii.yaml:9:45: $.rules[0].must: 'forbid' is not one of ['match', 'not_match']"
    ]


def test_all_errors_are_listed_not_just_the_first(repo, policy_text, monkeypatch):
    monkeypatch.chdir(repo.root)
    repo.policy("a.yaml", policy_text("- {id: r, check: regex, pattern: '('}\n", id="a"))
    repo.policy("b.yaml", "id: b\nversion: one\n")
    repo.suite("s.yaml", "suite: s\ncases: []\n")
    messages = errors_of(repo)
    assert len(messages) >= 4, messages
    assert any(m.startswith("policies/a.yaml:9:") for m in messages)
    assert "policies/b.yaml:2:10: $.version: 'one' has the wrong form; use a version like 1.0.0" in messages
    assert any("'title' is a required property" in m for m in messages)
    assert any(m.startswith("evals/s.yaml:2:8: $.cases: [] should be non-empty") for m in messages)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("id: [unclosed\n", "p.yaml:2:1: invalid YAML", id="bad-yaml"),
        pytest.param("id: a\nid: b\n", "p.yaml:2:1: $.id: duplicate key 'id' (first defined at line 1)",
                     id="duplicate-key"),
        pytest.param("", "p.yaml:1:1: the file is empty", id="empty"),
        pytest.param("- just\n- a list\n", "p.yaml:1:1: $: expected a mapping, got a list", id="not-a-mapping"),
        pytest.param("!!python/object:os.system {}\n",
                     "p.yaml:1:1: YAML tag !!python/object:os.system is not accepted; expected a plain value",
                     id="unsafe-tag-refused"),
    ],
)
def test_file_level_errors(repo, text, expected, monkeypatch):
    monkeypatch.chdir(repo.root)
    (repo.policies / "p.yaml").write_text(text)
    messages = errors_of(repo)
    assert any(expected.replace("p.yaml", "policies/p.yaml", 1) in m for m in messages), messages


def test_duplicate_policy_ids_name_both_places(repo, policy_text, monkeypatch):
    monkeypatch.chdir(repo.root)
    repo.policy("a.yaml", policy_text(RULE_OK))
    repo.policy("b.yaml", policy_text(RULE_OK))
    assert errors_of(repo) == [
        "policies/b.yaml:1:5: $.id: duplicate policy id 'test.policy' (also defined in policies/a.yaml:1)"
    ]


def test_duplicate_case_ids_across_suites_name_both_places(repo, monkeypatch):
    monkeypatch.chdir(repo.root)
    repo.suite("a.yaml", "suite: a\ncases:\n  - {id: c1, input: x}\n")
    repo.suite("b.yaml", "suite: b\ncases:\n  - {id: c2, input: x}\n  - {id: c1, input: y}\n")
    assert errors_of(repo) == [
        "evals/b.yaml:4:10: $.cases[1].id: duplicate case id 'c1' (also defined at evals/a.yaml:3)"
    ]


def test_unknown_severity_is_checked_against_the_playbook(repo, policy_text, monkeypatch):
    monkeypatch.chdir(repo.root)
    repo.policy("playbook.yaml", "severities:\n  sev1: {meaning: critical}\n")
    repo.policy("p.yaml", policy_text(RULE_OK))
    assert errors_of(repo) == [
        "policies/p.yaml:4:11: $.severity: unknown severity 'sev2'; the playbook defines: sev1"
    ]


def test_equals_without_reference_is_a_load_error(repo, monkeypatch):
    monkeypatch.chdir(repo.root)
    repo.suite("s.yaml", "suite: s\ncases:\n  - id: c\n    input: x\n    expect:\n      - {check: equals}\n")
    assert errors_of(repo) == ["evals/s.yaml:6:9: $.cases[0].expect[0]: `equals` needs a `value` or the"
                               " case's `reference`"]


#: a playbook whose roles may approve waivers (without roles, no one may)
PLAYBOOK = """
severities: {sev1: {meaning: critical}, sev2: {meaning: major}, sev3: {meaning: minor}}
roles: {governance_lead: governance-lead@example.com, security_officer: security-officer@example.com}
"""

WAIVER = """
waivers:
  - policy: test.policy
    rule: {rule}
    reason: known false positive on the sandbox address
    approver: governance-lead@example.com
    ticket: RISK-12
    approved: "2026-01-10"
    expires: {expires}
"""


def test_waivers_are_checked_and_expiry_reported(repo, policy_text, monkeypatch):
    monkeypatch.chdir(repo.root)
    repo.policy("p.yaml", policy_text(RULE_OK + "- {id: no-phone, check: pii, kinds: [phone]}\n"))
    repo.policy("playbook.yaml", PLAYBOOK)
    repo.policy("waivers.yaml", WAIVER.format(rule="no-email", expires="2026-01-31"))
    project = load_project(repo.policies, repo.evals)
    assert project.waivers[0].ticket == "RISK-12"
    assert expired_waivers(project, "2026-01-31") == expired_waivers(project, "2026-01-10") == []
    [expired] = expired_waivers(project, "2026-02-01")
    assert str(expired).startswith("policies/waivers.yaml:2:5: $.waivers[0]: waiver for test.policy/no-email"
                                   " (ticket RISK-12) expired on 2026-01-31")


@pytest.mark.parametrize(
    ("rule", "expires", "expected"),
    [
        pytest.param("nope", "2026-01-20", "$.waivers[0].rule: policy 'test.policy' has no rule 'nope'",
                     id="unknown-rule"),
        pytest.param("no-email", "tomorrow",
                     "$.waivers[0].expires: expected a date YYYY-MM-DD, got a string ('tomorrow')", id="bad-date"),
    ],
)
def test_waiver_errors(repo, policy_text, rule, expires, expected):
    repo.policy("p.yaml", policy_text(RULE_OK))
    repo.policy("playbook.yaml", PLAYBOOK)
    repo.policy("waivers.yaml", WAIVER.format(rule=rule, expires=expires))
    assert any(expected in m for m in errors_of(repo))


def test_missing_directory_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="policies directory not found"):
        load_project(tmp_path / "nope", None)


@pytest.mark.parametrize(
    ("waiver", "expected"),
    [
        pytest.param("{policy: 'eval:s', rule: refusall}", "policy 'eval:s' has no rule 'refusall'",
                     id="unknown-suite-rule"),
        pytest.param("{policy: 'eval:s', rule: output, cases: [nope]}", "unknown case id(s): nope",
                     id="unknown-suite-case"),
    ],
)
def test_waivers_for_suites_are_checked(repo, waiver, expected):
    repo.suite("s.yaml", "suite: s\ncases:\n  - id: c1\n    input: x\n    expect: [{check: refusal, must: refuse}]\n")
    fields = "reason: r, approver: a, ticket: T-1, approved: '2029-12-20', expires: '2030-01-01'"
    repo.policy("waivers.yaml", f"waivers:\n  - {waiver[:-1]}, {fields}}}\n")
    assert any(expected in m for m in errors_of(repo))


def test_a_waiver_for_a_suite_rule_and_case_loads(repo):
    repo.suite("s.yaml", "suite: s\ncases:\n  - id: c1\n    input: x\n    expect: [{check: refusal, must: refuse}]\n"
                         "  - id: c2\n    input: y\n    expect: [{check: refusal, must: refuse}]\n")
    repo.policy("playbook.yaml", PLAYBOOK)
    repo.policy("waivers.yaml", "waivers:\n  - {policy: 'eval:s', rule: refusal, cases: [c1], reason: r,"
                                " approver: security-officer@example.com, ticket: T-1, approved: '2029-12-20',"
                                " expires: '2030-01-01'}\n")
    assert load_project(repo.policies, repo.evals).waivers[0].rule == "refusal"


@pytest.mark.parametrize("name", ["playbook.yaml", "waivers.yaml"])
def test_a_broken_link_to_the_playbook_or_the_waivers_is_an_error_not_the_defaults(repo, policy_text, monkeypatch,
                                                                                   capsys, name):
    """A dangling link does not "exist", so the default playbook (or no waivers) was used and validate said ok."""
    monkeypatch.chdir(repo.root)
    repo.policy("p.yaml", policy_text(RULE_OK))
    (repo.policies / name).symlink_to("moved-away.yaml")
    outputs = repo.outputs("out.jsonl", [{"case_id": "a", "output": "Fine."}])
    expected = f"policies/{name}: broken symbolic link (to 'moved-away.yaml'); expected the file it points to"
    assert main(["validate"]) == 4
    assert expected in capsys.readouterr().err
    assert main(["gate", "--outputs", str(outputs)]) == 4
    err = capsys.readouterr().err
    assert expected in err and "nothing was judged" in err


def test_reading_only_the_playbook_refuses_a_broken_link_too(repo):
    (repo.policies / "playbook.yaml").symlink_to("moved-away.yaml")
    with pytest.raises(InputErrors, match=r"playbook\.yaml: broken symbolic link"):
        read_playbook(repo.policies)
