"""Policy governance from git: governed versions (``validate --since``), semantic diffs, a policy's history,
and stale sign-offs.

Everything reads the policy repository's git history without changing it (:mod:`.git`);
policies are compared as parsed, schema-checked documents (:mod:`.policyset`), so formatting
is never a change.
"""

from __future__ import annotations

from .diff import Change, PolicySetDiff, Side, policy_set_diff, render_text
from .history import Decision, PolicyHistory, PolicyVersion, policy_history
from .signoffs import stale_signoff_errors
from .versions import GovernanceError, SinceCheck, check_since, version_key

__all__ = [
    "Change",
    "Decision",
    "GovernanceError",
    "PolicyHistory",
    "PolicySetDiff",
    "PolicyVersion",
    "Side",
    "SinceCheck",
    "check_since",
    "policy_history",
    "policy_set_diff",
    "render_text",
    "stale_signoff_errors",
    "version_key",
]
