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


def _base_revision() -> str | None:
    """What CI compares with: the merge base with ``origin/main`` when this is a branch of it, else the parent."""
    import subprocess

    def git(*args: str) -> str | None:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    head = git("rev-parse", "HEAD")
    base = git("merge-base", "HEAD", "origin/main")
    return base if base and base != head else git("rev-parse", "--verify", "-q", "HEAD~1^{commit}")


def test_the_shipped_policies_are_governed_since_the_base_revision():
    """This repository's own governed-versions check (the workflow runs it against the merge base): no policy
    changed without a version bump, went down a version, vanished undeprecated or was loosened unsigned."""
    from harness import api
    from harness.clock import FixedClock

    base = _base_revision()
    if base is None:
        pytest.skip("no git history to compare with (an export of the repository)")
    check = api.validate(ROOT / "policies", ROOT / "evals", since=base,
                         clock=FixedClock("2026-12-03T12:00:00Z"))  # the shipped waiver's expiry is not the point
    assert check.ok, [str(e) for e in check.errors]
    assert check.since is not None
