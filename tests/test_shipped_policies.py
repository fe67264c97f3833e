"""The shipped policy repository is valid and every policy's own examples behave as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import load_project, records_from_dicts
from harness.checks import get_check

ROOT = Path(__file__).resolve().parents[1]
PROJECT = load_project(ROOT / "policies", ROOT / "evals")


def failing_rules(policy, text: str) -> list[str]:
    [record] = records_from_dicts([{"case_id": "example", "output": text}])
    return [rule.id for rule in policy.rules
            if get_check(rule.check).level == "output" and get_check(rule.check).fn(rule.prepared, record, None)]


EXAMPLES = [(p, kind, text) for p in PROJECT.policies for kind, texts in
            (("pass", p.examples_pass), ("fail", p.examples_fail)) for text in texts]


@pytest.mark.parametrize(("policy", "kind", "text"), EXAMPLES,
                         ids=[f"{p.id}-{kind}-{i}" for i, (p, kind, _) in enumerate(EXAMPLES)])
def test_policy_examples(policy, kind, text):
    failed = failing_rules(policy, text)
    if kind == "pass":
        assert failed == [], f"a pass example fails {failed}"
    else:
        assert failed, "a fail example passes every rule"


def test_shipped_repository_size():
    rules = sum(len(p.rules) for p in PROJECT.policies)
    assert rules >= 20
    assert len(PROJECT.suites) >= 4 and len(PROJECT.cases) >= 40
    assert {p.on_fail.value for p in PROJECT.policies} >= {"rollback", "block"}


def test_every_incident_named_by_a_policy_or_suite_has_a_record():
    named = {i for p in PROJECT.policies for i in p.lessons_from}
    named |= {s.from_incident for s in PROJECT.suites if s.from_incident}
    missing = [i for i in sorted(named) if not (ROOT / "incidents" / f"{i}.yaml").exists()]
    assert missing == []
