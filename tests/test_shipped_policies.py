"""The shipped policy repository is valid and every policy's own examples behave as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.project import load_project, run_examples

ROOT = Path(__file__).resolve().parents[1]
PROJECT = load_project(ROOT / "policies", ROOT / "evals")
OUTCOMES = [outcome for policy in PROJECT.policies for outcome in run_examples(policy)]


@pytest.mark.parametrize("outcome", OUTCOMES,
                         ids=[f"{o.policy.id}-{o.example.expect}-{i}" for i, o in enumerate(OUTCOMES)])
def test_policy_examples(outcome):
    if outcome.example.expect == "pass":
        assert outcome.failed_rules == (), f"a pass example fails {outcome.failed_rules}"
    else:
        assert outcome.failed_rules, "a fail example passes every rule"
    assert outcome.crashed == ()


def test_shipped_repository_size():
    rules = sum(len(p.rules) for p in PROJECT.policies)
    assert rules >= 20
    assert len(PROJECT.suites) >= 4 and len(PROJECT.cases) >= 40
    assert {p.on_fail.value for p in PROJECT.policies} >= {"rollback", "block"}
    assert len(OUTCOMES) >= 30


def test_every_incident_named_by_a_policy_or_suite_has_a_record():
    named = {i for p in PROJECT.policies for i in p.lessons_from}
    named |= {s.from_incident for s in PROJECT.suites if s.from_incident}
    missing = [i for i in sorted(named) if not (ROOT / "incidents" / f"{i}.yaml").exists()]
    assert missing == []
