"""Waivers have limits: per severity, how many days from approval to expiry, who may approve, and whether a
whole policy may be waived (``waiver_rules`` in the playbook). A waiver beyond them is an error of
``validate`` and the gate refuses to judge with it (exit 4)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from harness import api
from harness.cli import main
from harness.clock import FixedClock
from harness.errors import InputErrors
from harness.project import load_project

PLAYBOOK = """\
severities:
  sev1: {meaning: critical}
  sev2: {meaning: major}
  sev3: {meaning: minor}
roles:
  governance_lead: lead@example.com
  security_officer: security@example.com
  incident_commander: oncall@example.com
"""

POLICY = """\
id: {id}
version: 1.0.0
title: No email addresses
severity: {severity}
on_fail: {on_fail}
owner: owner@example.com
rules:
  - {{id: no-email, check: pii, kinds: [email]}}
  - {{id: no-phone, check: pii, kinds: [phone]}}
"""
ONE_RULE_POLICY = POLICY.replace("  - {{id: no-phone, check: pii, kinds: [phone]}}\n", "")

LEAK = [{"case_id": "c1", "output": "Write to jane.doe@example.org"}, {"case_id": "c2", "output": "Fine."}]
CLOCK = FixedClock("2026-11-27T12:00:00Z")


def waiver(policy: str = "privacy.no-pii", *, approver: str = "lead@example.com", approved: str = "2026-11-24",
           expires: str = "2026-11-30", scope: str = "rule: no-email") -> str:
    lines = [f"  - policy: {policy}", *(f"    {part}" for part in scope.split("; ") if part),
             "    reason: known false positive", f"    approver: {approver}", "    ticket: RISK-7",
             f"    approved: '{approved}'", f"    expires: '{expires}'"]
    return "\n".join(lines) + "\n"


def setup(repo, *waivers: str, severity: str = "sev1", on_fail: str = "rollback", playbook: str = PLAYBOOK,
          policy: str = POLICY) -> Path:
    """A repository with one policy of ``severity`` that the LEAK outputs fail, and the given waivers."""
    if playbook:
        repo.policy("playbook.yaml", playbook)
    repo.policy("privacy/pii.yaml", policy.format(id="privacy.no-pii", severity=severity, on_fail=on_fail))
    if waivers:
        repo.policy("waivers.yaml", "waivers:\n" + "".join(waivers))
    return repo.outputs("out.jsonl", LEAK)


def errors(repo) -> list[str]:
    """Every problem ``validate`` finds on 2026-11-27, with paths relative to the repository."""
    return [str(e).replace(f"{repo.root}/", "") for e in api.validate(repo.policies, repo.evals, clock=CLOCK).errors]


def test_a_waiver_of_a_whole_sev1_policy_for_ever_by_anyone_is_refused(repo, monkeypatch, capsys):
    """The attack: no rule, no cases, expires 9999-12-31, approved by anyone: a sev1 rollback policy waived."""
    monkeypatch.chdir(repo.root)
    outputs = setup(repo)
    assert main(["gate", "--outputs", str(outputs)]) == 3  # without the waiver, the leak rolls back
    setup(repo, waiver(approver="anyone@example.com", approved="2026-11-20", expires="9999-12-31", scope=""))
    assert errors(repo) == [
        "policies/waivers.yaml:2:5: $.waivers[0]: waives the whole sev1 policy privacy.no-pii, which waiver_rules in"
        " playbook.yaml forbids; expected a `rule` or `cases` to waive",
        "policies/waivers.yaml:4:15: $.waivers[0].approver: 'anyone@example.com' may not approve a waiver of a sev1"
        " policy; expected the governance_lead (lead@example.com)",
        "policies/waivers.yaml:7:14: $.waivers[0].expires: runs 2912119 days from its approval on 2026-11-20; a"
        " waiver of a sev1 policy may run at most 7 days (waiver_rules in playbook.yaml), so expires 2026-11-27 at"
        " the latest",
    ]
    capsys.readouterr()
    assert main(["validate"]) == 4
    assert "harness: 3 error(s)" in capsys.readouterr().err
    assert main(["gate", "--outputs", str(outputs)]) == 4  # fails closed: nothing is judged with it
    assert "nothing was judged" in capsys.readouterr().err


@pytest.mark.parametrize(("written", "expected"), [
    pytest.param(waiver(scope=""), "2:5: $.waivers[0]: waives the whole sev1 policy privacy.no-pii", id="whole-policy"),
    pytest.param(waiver(approved="2026-11-20", expires="2026-11-28"),
                 "8:14: $.waivers[0].expires: runs 8 days from its approval on 2026-11-20; a waiver of a sev1 policy"
                 " may run at most 7 days", id="eight-days"),
    pytest.param(waiver(approver="security@example.com"),
                 "5:15: $.waivers[0].approver: 'security@example.com' may not approve a waiver of a sev1 policy;"
                 " expected the governance_lead (lead@example.com)", id="another-role"),
    pytest.param(waiver(approved="2026-11-30", expires="2026-11-24"),
                 "8:14: $.waivers[0].expires: expires 2026-11-24 before it was approved (2026-11-30)",
                 id="expires-before-approval"),
    pytest.param(waiver().replace("    approved: '2026-11-24'\n", ""),
                 "2:5: $.waivers[0]: 'approved' is a required property", id="approval-date-missing"),
])
def test_each_breach_of_the_sev1_defaults_is_an_error_at_its_line(repo, monkeypatch, written, expected):
    monkeypatch.chdir(repo.root)
    setup(repo, written)
    found = errors(repo)
    assert len(found) == 1 and found[0].startswith(f"policies/waivers.yaml:{expected}"), found


def test_a_waiver_within_the_rules_applies(repo):
    """One rule (no cases) of a two-rule sev1 policy for 7 days, approved by the Governance Lead (any letter case)."""
    outputs = setup(repo, waiver(approver="Lead@Example.COM", approved="2026-11-20", expires="2026-11-27"))
    assert errors(repo) == []
    result = api.run_gate(outputs, policies=repo.policies, evals=repo.evals, clock=CLOCK)
    assert result.exit_code == 0 and result.report.policies[0].waived == 1


def test_waiving_the_only_rule_of_a_sev1_policy_is_waiving_the_whole_policy(repo, monkeypatch, capsys):
    """The way round "never a whole sev1 policy": `rule:` naming every rule there is, without `cases`."""
    monkeypatch.chdir(repo.root)
    outputs = setup(repo, waiver(approved="2026-11-20", expires="2026-11-27"), policy=ONE_RULE_POLICY)
    expected = ("policies/waivers.yaml:2:5: $.waivers[0]: waives rule 'no-email', the only rule of the sev1 policy"
                " privacy.no-pii, and so the whole policy, which waiver_rules in playbook.yaml forbids; expected"
                " `cases` to waive")
    assert errors(repo) == [expected]
    assert main(["gate", "--outputs", str(outputs)]) == 4
    assert expected in capsys.readouterr().err
    setup(repo, waiver(approved="2026-11-20", expires="2026-11-27", scope="rule: no-email; cases: [c1]"),
          policy=ONE_RULE_POLICY)
    assert errors(repo) == []  # with `cases`, it waives those cases only
    result = api.run_gate(outputs, policies=repo.policies, evals=repo.evals, clock=CLOCK)
    assert result.exit_code == 0 and result.report.policies[0].waived == 1


def test_waivers_of_every_rule_of_a_sev1_policy_in_force_at_once_waive_the_whole_policy(repo, monkeypatch):
    monkeypatch.chdir(repo.root)
    setup(repo, waiver(approved="2026-11-20", expires="2026-11-27"),
          waiver(approved="2026-11-24", expires="2026-11-30", scope="rule: no-phone"))
    assert errors(repo) == [
        "policies/waivers.yaml:9:5: $.waivers[1]: together with $.waivers[0] it waives every rule of the sev1 policy"
        " privacy.no-pii on 2026-11-24, and so the whole policy, which waiver_rules in playbook.yaml forbids;"
        " expected `cases` to waive"]
    setup(repo, waiver(approved="2026-11-20", expires="2026-11-23"),  # one after the other: never both at once
          waiver(approved="2026-11-24", expires="2026-11-30", scope="rule: no-phone"))
    assert [w.rule for w in load_project(repo.policies, repo.evals).waivers] == ["no-email", "no-phone"]


@pytest.mark.parametrize(("severity", "written", "problem"), [
    pytest.param("sev2", waiver(approver="security@example.com", approved="2026-11-01", expires="2026-12-01"), None,
                 id="sev2-30-days-by-the-security-officer"),
    pytest.param("sev2", waiver(approved="2026-11-01", expires="2026-12-02"), "at most 30 days", id="sev2-31-days"),
    pytest.param("sev2", waiver(scope=""), "waives the whole sev2 policy", id="sev2-whole-policy"),
    pytest.param("sev2", waiver(approver="oncall@example.com"), "expected the governance_lead (lead@example.com) or"
                 " the security_officer (security@example.com)", id="sev2-incident-commander"),
    pytest.param("sev3", waiver(approver="security@example.com", approved="2026-06-01", expires="2026-11-28",
                                scope=""), None, id="sev3-whole-policy-180-days"),
    pytest.param("sev3", waiver(approved="2026-06-01", expires="2026-11-29"), "at most 180 days", id="sev3-181-days"),
])
def test_the_defaults_for_sev2_and_sev3(repo, severity, written, problem):
    setup(repo, written, severity=severity, on_fail="block")
    found = errors(repo)
    assert (found == []) if problem is None else any(problem in e for e in found), found


def test_the_playbook_can_set_its_own_rules(repo):
    rules = PLAYBOOK + "waiver_rules:\n  sev1: {max_days: 14, approvers: [governance_lead, security_officer]," \
                       " whole_policy: true}\n"
    written = waiver(approver="security@example.com", approved="2026-11-20", expires="2026-12-04", scope="")
    outputs = setup(repo, written, playbook=rules)
    assert errors(repo) == []
    assert api.run_gate(outputs, policies=repo.policies, evals=repo.evals, clock=CLOCK).exit_code == 0
    assert load_project(repo.policies, repo.evals).playbook.waiver_rules["sev2"].max_days == 30  # defaults kept


def test_waiver_rules_must_name_the_playbooks_severities_and_roles(repo, monkeypatch):
    monkeypatch.chdir(repo.root)
    rules = PLAYBOOK + "waiver_rules:\n  sev1: {max_days: 7, approvers: [governance_lead, ciso]}\n" \
                       "  sev9: {max_days: 7, approvers: [governance_lead]}\n"
    setup(repo, playbook=rules)
    assert errors(repo) == [
        "policies/playbook.yaml:10:52: $.waiver_rules.sev1.approvers[1]: unknown role 'ciso'; expected a key of"
        " roles: (governance_lead, incident_commander, security_officer)",
        "policies/playbook.yaml:11:3: $.waiver_rules.sev9: unknown severity 'sev9'; the playbook defines: sev1,"
        " sev2, sev3",
    ]
    setup(repo, playbook=PLAYBOOK + "waiver_rules:\n  sev2: {approvers: [], max_days: -1}\n")
    assert errors(repo) == ["policies/playbook.yaml:10:35: $.waiver_rules.sev2.max_days: -1 is less than the minimum"
                            " of 0"]


def test_a_severity_without_a_rule_cannot_be_waived(repo):
    playbook = PLAYBOOK.replace("  sev3: {meaning: minor}\n", "  sev3: {meaning: minor}\n  sev4: {meaning: cosmetic}\n")
    setup(repo, waiver(), severity="sev4", on_fail="warn", playbook=playbook)
    assert any("policy privacy.no-pii is sev4 and waiver_rules in playbook.yaml has no entry for sev4: its policies"
               " cannot be waived" in e for e in errors(repo))


@pytest.mark.parametrize("playbook", [
    pytest.param("", id="no-playbook"),
    pytest.param(PLAYBOOK.split("roles:")[0], id="a-playbook-without-roles"),
])
def test_without_roles_no_one_may_approve(repo, playbook):
    setup(repo, waiver(), playbook=playbook)
    assert any("'lead@example.com' may not approve a waiver of a sev1 policy; expected the address of"
               " governance_lead, which roles: in playbook.yaml does not name" in e for e in errors(repo))


def test_approvers_none_means_its_policies_cannot_be_waived(repo):
    setup(repo, waiver(), playbook=PLAYBOOK + "waiver_rules:\n  sev1: {max_days: 7, approvers: []}\n")
    assert any("expected no one: waiver_rules in playbook.yaml lists no approvers for sev1" in e for e in errors(repo))


SUITE = """\
suite: s
severity: {severity}
cases:
  - id: c1
    input: hi
    expect: [{{check: refusal, must: refuse}}]
  - id: c2
    input: hello
    expect: [{{check: refusal, must: refuse}}]
"""


@pytest.mark.parametrize(("severity", "scope", "problem"), [
    pytest.param("sev1", "", "waives the whole sev1 policy eval:s", id="sev1-whole-suite"),
    pytest.param("sev1", "rule: output; cases: [c1]", None, id="sev1-one-case"),
    pytest.param("sev1", "rule: output", "waives rule 'output' in every case of the sev1 eval suite eval:s, and so the"
                 " whole suite, which waiver_rules in playbook.yaml forbids; expected `cases` to waive",
                 id="sev1-a-rule-in-every-case"),
    pytest.param("sev1", "rule: refusal", "waives rule 'refusal' in every case of the sev1 eval suite eval:s",
                 id="sev1-a-case-rule-in-every-case"),
    pytest.param(None, "", "waives the whole sev2 policy eval:s", id="default-sev2-whole-suite"),
])
def test_eval_suite_waivers_follow_the_suites_severity(repo, severity, scope, problem):
    setup(repo)
    text = SUITE.format(severity=severity or "")
    repo.suite("s.yaml", text if severity else text.replace("severity: \n", ""))
    repo.policy("waivers.yaml", "waivers:\n" + waiver("'eval:s'", scope=scope))
    found = errors(repo)
    assert (found == []) if problem is None else any(problem in e for e in found), found


WHOLE_BY_CASES = ("policies/waivers.yaml:2:5: $.waivers[0]: names {what}every eval case of the project (2), all a gate"
                  " can judge, under the sev1 policy privacy.no-pii, and so waives the whole policy, which waiver_rules"
                  " in playbook.yaml forbids; expected `cases` that leave out at least one case")


@pytest.mark.parametrize(("scope", "policy", "what"), [
    pytest.param("cases: [c1, c2]", POLICY, "", id="every-case"),
    pytest.param("rule: no-email; cases: [c2, c1]", ONE_RULE_POLICY, "rule 'no-email' in ", id="the-only-rule"),
])
def test_a_waiver_naming_every_eval_case_of_the_project_waives_a_whole_sev1_policy(repo, monkeypatch, capsys,
                                                                                  scope, policy, what):
    """The attack: ``cases`` listing every eval case id, all the case ids a gate will judge, is a whole policy."""
    monkeypatch.chdir(repo.root)
    outputs = setup(repo, waiver(scope=scope), policy=policy)
    repo.suite("s.yaml", SUITE.format(severity="sev3"))
    expected = WHOLE_BY_CASES.format(what=what)
    assert errors(repo) == [expected]
    assert main(["validate"]) == 4
    assert expected in capsys.readouterr().err.splitlines()
    assert main(["gate", "--outputs", str(outputs)]) == 4
    err = capsys.readouterr().err
    assert expected in err.splitlines() and "nothing was judged" in err
    setup(repo, waiver(scope=scope.replace("c2, ", "").replace(", c2", "")), policy=policy)
    assert errors(repo) == []  # one case short of every case: it waives that case only
    result = api.run_gate(outputs, policies=repo.policies, evals=repo.evals, clock=CLOCK)
    assert result.report.policies[0].waived == 1


@pytest.mark.parametrize(("first", "second", "what"), [
    pytest.param("cases: [c1]", "cases: [c2]", "every rule in every eval case of the project (2), all a gate can"
                 " judge, under the sev1 policy privacy.no-pii", id="cases-add-up"),
    pytest.param("rule: no-phone", "rule: no-email; cases: [c1, c2]", "every rule in every eval case of the project"
                 " (2), all a gate can judge, under the sev1 policy privacy.no-pii", id="a-rule-and-every-case"),
])
def test_waivers_whose_cases_add_up_to_every_eval_case_waive_the_whole_policy(repo, monkeypatch, capsys, first,
                                                                              second, what):
    monkeypatch.chdir(repo.root)
    outputs = setup(repo, waiver(approved="2026-11-20", expires="2026-11-27", scope=first),
                    waiver(approved="2026-11-24", expires="2026-11-30", scope=second))
    repo.suite("s.yaml", SUITE.format(severity="sev3"))
    line = 9 if first.count(";") == 0 else 10
    expected = (f"policies/waivers.yaml:{line}:5: $.waivers[1]: together with $.waivers[0] it waives {what} on"
                " 2026-11-24, and so the whole policy, which waiver_rules in playbook.yaml forbids; expected `cases`"
                " that leave out at least one case")
    assert errors(repo) == [expected]
    assert main(["gate", "--outputs", str(outputs)]) == 4
    assert expected in capsys.readouterr().err.splitlines()
    setup(repo, waiver(approved="2026-11-20", expires="2026-11-23", scope=first),  # never both in force at once
          waiver(approved="2026-11-24", expires="2026-11-30", scope=second))
    [lapsed] = errors(repo)  # only that the first no longer applies today
    assert "$.waivers[0]: waiver for privacy.no-pii" in lapsed and "expired on 2026-11-23" in lapsed


@pytest.mark.parametrize(("scope", "expected"), [
    pytest.param(["cases: [c1, c2]"], "2:5: $.waivers[0]: names every case of the sev1 eval suite eval:s, and so"
                 " waives the whole suite", id="every-case"),
    pytest.param(["rule: output; cases: [c2, c1]"], "2:5: $.waivers[0]: names rule 'output' in every case of the"
                 " sev1 eval suite eval:s, and so waives the whole suite", id="a-rule-in-every-case"),
    pytest.param(["rule: refusal; cases: [c1]", "cases: [c2]"], "10:5: $.waivers[1]: together with $.waivers[0] it"
                 " waives rule 'refusal' in every case of the sev1 eval suite eval:s on 2026-11-24, and so the whole"
                 " suite", id="cases-add-up-for-a-rule"),
])
def test_a_waiver_naming_every_case_of_a_sev1_suite_waives_the_whole_suite(repo, monkeypatch, capsys, scope,
                                                                          expected):
    monkeypatch.chdir(repo.root)
    outputs = setup(repo, severity="sev3", on_fail="warn")
    repo.suite("s.yaml", SUITE.format(severity="sev1"))
    repo.policy("waivers.yaml", "waivers:\n" + "".join(waiver("'eval:s'", scope=part) for part in scope))
    message = (f"policies/waivers.yaml:{expected}, which waiver_rules in playbook.yaml forbids; expected `cases` that"
               " leave out at least one case")
    assert errors(repo) == [message]
    assert main(["gate", "--outputs", str(outputs)]) == 4
    assert message in capsys.readouterr().err.splitlines()
    repo.policy("waivers.yaml", "waivers:\n" + waiver("'eval:s'", scope="cases: [c1]"))
    assert errors(repo) == []  # a case of the suite, not all of them


def test_a_waiver_approved_after_a_backdated_judging_date_does_not_apply(repo):
    """It did not exist then: validate says so, and the gate does not apply it (the failure stands)."""
    outputs = setup(repo, waiver(approved="2026-11-28", expires="2026-12-01"), severity="sev2", on_fail="block")
    clock, day = FixedClock("2026-11-29T12:00:00Z"), dt.date(2026, 11, 27)
    found = api.validate(repo.policies, repo.evals, today=day, backdate=True, clock=clock).errors
    assert [str(e).replace(f"{repo.root}/", "") for e in found] == [
        "policies/waivers.yaml:2:5: $.waivers[0]: waiver for privacy.no-pii/no-email (ticket RISK-7) was approved on"
        " 2026-11-28, after 2026-11-27, the date judged against; it does not apply yet: expected an approval date on"
        " or before it"]
    result = api.run_gate(outputs, policies=repo.policies, evals=repo.evals, today=day, backdate=True, clock=clock)
    assert result.exit_code == 1 and result.report.policies[0].waived == 0
    assert "waiver for privacy.no-pii (ticket RISK-7) was approved only on 2026-11-28 and was not applied" in \
        result.report.warnings
    assert api.run_gate(outputs, policies=repo.policies, evals=repo.evals, clock=clock).exit_code == 0


FUTURE = ("policies/waivers.yaml:2:5: $.waivers[0]: waiver for privacy.no-pii/no-email (ticket RISK-7) was approved on"
          " 2026-12-01, after today (2026-11-27, UTC): an approval date cannot lie in the future; expected the date it"
          " was approved, on or before today")


@pytest.mark.parametrize("today", [None, "2026-12-02"], ids=["today", "a-later-today"])
def test_a_waiver_approved_in_the_future_never_applies_whatever_today_says(repo, monkeypatch, capsys, today):
    """The attack: a waiver ``approved`` in the future, and a gate judged as of a later ``--today``: it applied
    (PROMOTE, not backdated) before anyone approved it. The gate refuses to judge (exit 4), as for a waiver beyond
    the playbook's rules, and validate reports it whatever the date judged against."""
    monkeypatch.chdir(repo.root)
    outputs = setup(repo, waiver(approved="2026-12-01", expires="2026-12-05"), severity="sev2", on_fail="block")
    when = ["--today", today] if today else []
    assert main(["validate", *when], clock=CLOCK) == 4
    assert FUTURE in capsys.readouterr().err.splitlines()
    assert main(["gate", "--outputs", str(outputs), "--format", "json", *when], clock=CLOCK) == 4
    err = capsys.readouterr()
    assert FUTURE in err.err.splitlines() and "nothing was judged (exit 4)" in err.err and err.out == ""
    assert main(["scan", "--outputs", str(outputs), *when], clock=CLOCK) == 4
    # once the approval day has come, the waiver applies as written
    assert main(["gate", "--outputs", str(outputs), *when], clock=FixedClock("2026-12-02T00:00:00Z")) == 0


def test_a_rollback_refuses_a_waiver_approved_in_the_future(repo):
    """The verify step judges the target with the waivers: one not yet approved must not pass it."""
    setup(repo, waiver(approved="2026-12-01", expires="2026-12-05"), severity="sev2", on_fail="block")
    project = load_project(repo.policies, repo.evals)
    settings = api.release_settings(project.playbook, registry=f"file://{repo.root}/registry.json")
    with pytest.raises(InputErrors) as refused:
        api.rollback_context(project, settings, actor="ci", today=dt.date(2026, 12, 2), clock=CLOCK)
    assert [str(e).replace(f"{repo.root}/", "") for e in refused.value.errors] == [FUTURE]


def test_a_gate_with_a_waiver_beyond_the_rules_fails_closed_in_json_too(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo.root)
    setup(repo, waiver(approver="mallory@example.com"))
    assert main(["validate", "--format", "json"]) == 4
    [error] = json.loads(capsys.readouterr().out)["errors"]
    assert (error["file"], error["line"], error["path"]) == ("policies/waivers.yaml", 5, "$.waivers[0].approver")


def test_the_shipped_waiver_keeps_to_the_shipped_rules(workdir):
    project = load_project("policies", "evals")
    [shipped] = project.waivers
    rule = project.playbook.waiver_rules["sev3"]
    assert shipped.ticket == "ACME-2291" and shipped.days <= rule.max_days
    assert shipped.approver == project.playbook.roles["governance_lead"]
    # as of the shipped history's last day (the README's validate example): the waiver holds, no event is ahead
    assert api.validate("policies", "evals", clock=FixedClock("2026-12-03T12:00:00Z")).ok


def test_a_waiver_needs_an_approval_date_even_without_a_playbook(repo):
    repo.policy("privacy/pii.yaml", POLICY.format(id="privacy.no-pii", severity="sev1", on_fail="rollback"))
    repo.policy("waivers.yaml", "waivers:\n" + waiver().replace("    approved: '2026-11-24'\n", ""))
    with pytest.raises(InputErrors, match="'approved' is a required property"):
        load_project(repo.policies, repo.evals)
