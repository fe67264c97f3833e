"""Governance of the policy set: versions checked against a revision, semantic diffs, a policy's history.

    from harness.api.governance import check_since, policy_diff, policy_history
    check_since("policies", "origin/main").errors      # each names the file, line, policy and what to do
    policy_diff("policies", "v1.0.0").text_lines()     # what changed since a tag, in the reader's terms
    policy_history("policies", "privacy.no-pii").versions

Nothing here prints or exits; errors are ``InputError`` (exit 4) naming the revision or file.
"""

from __future__ import annotations

from pathlib import Path

from ..clock import SYSTEM_CLOCK, Clock
from ..governance import (
    Change,
    PolicyHistory,
    PolicySetDiff,
    SinceCheck,
    check_since,
    policy_history,
    policy_set_diff,
    stale_signoff_errors,
)

PathLike = str | Path


def policy_diff(policies: PathLike = "policies", rev_old: str = "HEAD", rev_new: str | None = None, *,
                clock: Clock = SYSTEM_CLOCK) -> PolicySetDiff:
    """The semantic diff of the policy set from ``rev_old`` to ``rev_new`` (default: the working tree)."""
    return policy_set_diff(policies, rev_old, rev_new, clock=clock)


__all__ = ["Change", "PolicyHistory", "PolicySetDiff", "SinceCheck", "check_since", "policy_diff", "policy_history",
           "policy_set_diff", "stale_signoff_errors"]
