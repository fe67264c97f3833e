"""Governed versions: what may change in a policy since a revision, and what needs a bump or a sign-off.

``harness validate --since REV`` compares each policy of the working tree with the policy of
the same ``id`` at ``REV`` (a file may move). A change of content, read semantically, needs a
version bump; a version never goes down; a policy is deleted only once it was ``deprecated``
at ``REV``; and a change that loosens a sev1 or sev2 policy needs a sign-off of the new
content by the role its owner holds in the playbook (``harness signoff``). Loosening is what
lets more through: a rule removed, a threshold that permits more, ``on_fail`` or the severity
lowered, the policy taken out of force, its scope narrowed, or any other change to what a
rule checks (a pattern, an allow list, a word list), since whether a new pattern is
narrower cannot be decided in general.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, InputErrors
from ..io.files import display_path
from .diff import Change, compare_policies, old_to_new
from .git import find_repository
from .policyset import PolicyDocument, PolicySet, read_revision, read_worktree

#: the most severe severities, whose loosening needs the owner's sign-off: sev1 and sev2 (and a sev0)
GOVERNED_UP_TO = 2
_ON_FAIL_RANK = {"warn": 1, "block": 2, "rollback": 3}
#: fields of a rule that do not change what passes: its message, description and how findings are masked
_HARMLESS = ("message", "description", "mask")
#: thresholds of the built-in checks whose direction is known: +1 permits more when raised, -1 when lowered
_THRESHOLDS: Mapping[tuple[str, str], int] = {
    ("length", "max"): 1, ("length", "min"): -1, ("field", "max"): 1, ("field", "min"): -1,
    ("quantile", "max"): 1, ("quantile", "min"): -1, ("rate", "min"): -1, ("latency", "max_ms"): 1,
    ("disparity", "max_gap"): 1, ("disparity", "min_count"): 1, ("baseline", "max_drop"): 1,
    ("similar", "threshold"): -1,
}
_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-([0-9A-Za-z.-]+))?$")


class GovernanceError(InputError):
    """A policy changed in a way its governance does not allow (exit 4).

    Its text names role holders' addresses from the playbook, which the reader needs to act
    (the sign-off command to run): the command shows it unmasked, as ``harness signoff --status`` does.
    """


@dataclass(frozen=True)
class SinceCheck:
    """The working tree's policies compared with a revision's: what changed and every governance error."""

    revision: str
    commit: str
    errors: tuple[InputError, ...]
    #: working-tree files that do not parse (``harness validate`` reports them itself)
    unreadable: tuple[InputError, ...] = ()
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def problems(self) -> tuple[InputError, ...]:
        return self.unreadable + self.errors

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "commit": self.commit, "changed": list(self.changed),
                "added": list(self.added), "removed": list(self.removed),
                "errors": [{"file": e.location.file, "line": e.location.line, "path": e.location.json_path,
                            "message": e.message} for e in self.problems]}


def version_key(version: str) -> tuple[Any, ...]:
    """A semantic version as a sortable key (``1.0.0-rc.1`` < ``1.0.0`` < ``1.0.1``); ``ValueError`` if malformed."""
    match = _SEMVER.match(version)
    if match is None:
        raise ValueError(f"not a version like 1.2.0: {version!r}")
    major, minor, patch, pre = match.groups()
    if pre is None:
        return (int(major), int(minor), int(patch), 1, ())
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (int(major), int(minor), int(patch), 0, ids)


def _severity_rank(severity: Any) -> int | None:
    match = re.fullmatch(r"sev([0-9]+)", str(severity))
    return int(match.group(1)) if match else None


def governed(severity: Any) -> bool:
    """Whether a policy of this severity needs its owner's sign-off to be loosened."""
    rank = _severity_rank(severity)
    return rank is not None and rank <= GOVERNED_UP_TO


def _limit(value: Any) -> tuple[str, float] | None:
    from ..model import MaxFailures

    try:
        parsed = MaxFailures.parse(value)
    except ValueError:
        return None
    return ("fraction", parsed.fraction) if parsed.fraction is not None else ("count", float(parsed.count or 0))


def _more_allowed(old: Any, new: Any, direction: int) -> bool | None:
    """Whether a numeric threshold permits more after the change (``None``: cannot be told)."""
    if new is None:
        return True  # a threshold removed checks nothing
    if old is None:
        return False  # a threshold added only checks more
    if isinstance(old, bool) or isinstance(new, bool) or not isinstance(old, int | float) or \
            not isinstance(new, int | float):
        return None
    return (new - old) * direction > 0


def _scope_narrowed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether ``applies_to`` covers fewer outputs: a limit where there was none, or a tag or suite dropped."""
    if not new:
        return False
    if not old:
        return True
    return any(not set(old.get(key) or ()) <= set(new.get(key) or ()) for key in ("tags", "suites"))


def loosening(change: Change, old: PolicyDocument, new: PolicyDocument) -> str | None:
    """Why a change lets more through, in words; ``None`` when it does not."""
    if change.kind == "rule_removed":
        return f"rule {change.rule} removed"
    if change.kind == "rule_changed" and change.field is not None:
        name = change.field.split(".", 1)[0]
        if name in _HARMLESS:
            return None
        what = f"rule {change.rule}: {change.field} {old_to_new(change.field, change.old, change.new)}"
        if name == "check":
            return f"{what} (it checks something else now)"
        index = old.rule_index(str(change.rule))
        check = str((old.data["rules"][index] if index is not None else {}).get("check"))
        direction = _THRESHOLDS.get((check, change.field))
        if direction is not None:
            more = _more_allowed(change.old, change.new, direction)
            if more is False:
                return None
            return f"{what} ({'permits more' if more else 'cannot tell whether it permits more'})"
        return f"{what} (whether the new one is narrower cannot be decided)"
    field = change.field or ""
    if change.kind in ("policy_changed", "policy_deprecated"):
        return _policy_loosening(field, change, old, new)
    return None


def _policy_loosening(field: str, change: Change, old: PolicyDocument, new: PolicyDocument) -> str | None:
    what = f"{field} {old_to_new(field, change.old, change.new)}"
    if field == "max_failures":
        before, after = _limit(change.old), _limit(change.new)
        if before == ("count", 0.0) and after is not None:
            return what if after[1] > 0 else None  # from none tolerated, any limit permits more
        if before is None or after is None or before[0] != after[0]:
            return f"{what} (cannot tell whether it permits more)"
        return what if after[1] > before[1] else None
    if field == "on_fail":
        return what if _ON_FAIL_RANK.get(str(change.new), 0) < _ON_FAIL_RANK.get(str(change.old), 0) else None
    if field == "severity":
        before_rank, after_rank = _severity_rank(change.old), _severity_rank(change.new)
        lowered = before_rank is None or after_rank is None or after_rank > before_rank
        return what if lowered else None
    if field == "status":
        return what if change.old == "active" and change.new != "active" else None
    if field.startswith("applies_to"):
        before_scope = old.data.get("applies_to") or {}
        after_scope = new.data.get("applies_to") or {}
        return f"scope narrowed: {what}" if _scope_narrowed(before_scope, after_scope) else None
    return None


def check_since(policies_dir: Path | str, revision: str) -> SinceCheck:
    """Compare the working tree's policies with ``revision``'s; every governance error, located.

    ``InputError`` (exit 4) for a revision that does not exist, a folder outside a git
    repository, a repository with no commits, or a policy that does not parse at the revision.
    """
    with find_repository(policies_dir) as repository:
        old = read_revision(repository, revision, option="--since")
        new = read_worktree(policies_dir, repository)
    return compare_sets(policies_dir, old, new)


def compare_sets(policies_dir: Path | str, old: PolicySet, new: PolicySet) -> SinceCheck:
    """The governance errors of going from ``old`` (a revision) to ``new`` (the working tree)."""
    revision = old.revision or "?"
    errors: list[InputError] = []
    changed, added, removed = [], [], []
    roles = _roles(policies_dir, errors)
    for policy_id in sorted(set(old.policies) | set(new.policies)):
        before, after = old.policies.get(policy_id), new.policies.get(policy_id)
        if before is None:
            added.append(policy_id)
            continue
        if after is None:
            if before.path not in new.unreadable:  # a file that does not parse is reported as such
                removed.append(policy_id)
                errors += _deleted(before, revision)
            continue
        changes = [c for c in compare_policies(before, after) if c.kind != "policy_moved"]
        content = [c for c in changes if c.field != "version"]
        if content:
            changed.append(policy_id)
        errors += _version(before, after, content, revision)
        if governed(before.severity) or governed(after.severity):
            errors += _signoff(policies_dir, before, after, changes, revision, roles)
    return SinceCheck(revision, old.commit.sha if old.commit else "", tuple(errors), new.problems, tuple(changed),
                      tuple(added), tuple(removed))


def _roles(policies_dir: Path | str, errors: list[InputError]) -> Mapping[str, str] | None:
    from ..project import read_playbook

    try:
        return read_playbook(policies_dir).roles
    except InputError as exc:
        errors.append(exc)
        return None


def _deleted(before: PolicyDocument, revision: str) -> list[InputError]:
    if before.status == "deprecated":
        return []
    return [GovernanceError(
        f"policy {before.id} was deleted since {revision}, where its status is {before.status}; a policy is"
        f" deleted only once it is deprecated: restore {before.path}, set status: deprecated, bump its version,"
        " and delete it in a later change", before.locate(("id",)))]


def _short(change: Change) -> str:
    if change.kind == "rule_added":
        return f"rule {change.rule} added"
    if change.kind == "rule_removed":
        return f"rule {change.rule} removed"
    if change.kind == "rule_changed":
        return f"rule {change.rule}: {change.field}"
    return str(change.field)


def _summary(changes: list[Change], most: int = 4) -> str:
    shown = [_short(c) for c in changes[:most]]
    more = len(changes) - most
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _version(before: PolicyDocument, after: PolicyDocument, content: list[Change],
             revision: str) -> list[InputError]:
    where = after.locate(("version",))
    try:
        old_key, new_key = version_key(before.version), version_key(after.version)
    except ValueError:
        return []  # the schema reports a malformed version
    if new_key < old_key:
        return [GovernanceError(f"policy {after.id}: version went down since {revision}: {before.version} →"
                                f" {after.version}; a version only goes up: set it above {before.version}", where)]
    if content and new_key == old_key:
        return [GovernanceError(f"policy {after.id} changed since {revision} ({_summary(content)}) but its version"
                                f" is still {after.version}; bump the version (to {_next_patch(after.version)} or"
                                " higher)", where)]
    return []


def _next_patch(version: str) -> str:
    match = _SEMVER.match(version)
    if match is None:
        return "a higher version"
    major, minor, patch, pre = match.groups()
    return f"{major}.{minor}.{patch}" if pre else f"{major}.{minor}.{int(patch) + 1}"


def _signoff(policies_dir: Path | str, before: PolicyDocument, after: PolicyDocument, changes: list[Change],
             revision: str, roles: Mapping[str, str] | None) -> list[InputError]:
    from ..project.signoff import status

    replaced = {c.rule for c in changes if c.kind == "rule_changed" and c.field == "check"}  # said once, not per option
    reasons = [(c, why) for c in changes if (why := loosening(c, before, after)) is not None
               and (c.rule not in replaced or c.field == "check")]
    if not reasons or roles is None:
        return []
    first = reasons[0][0]
    where = after.locate_field(first.rule, first.field if first.kind != "rule_removed" else None)
    if first.kind == "rule_removed":
        where = after.locate(("rules",))
    severity = before.severity if governed(before.severity) else after.severity
    said = "; ".join(why for _c, why in reasons)
    head = f"{severity} policy {after.id} is loosened since {revision}: {said}"
    owner = before.owner
    whose = "its owner" if owner.casefold() == after.owner.casefold() else f"its owner at {revision}"
    held = [role for role, address in roles.items() if str(address).strip().casefold() == owner.strip().casefold()]
    if not held:
        known = ", ".join(f"{role} ({address})" for role, address in roles.items()) or "none"
        return [GovernanceError(f"{head}; this needs a sign-off by the role {whose} {owner} holds, but {owner}"
                                f" holds no role in the playbook (roles: {known}): give the owner a role there, or"
                                " make a role holder the owner", where)]
    assert after.file is not None
    try:
        signed = [entry for entry, valid in status(policies_dir, after.file) if valid and entry.role in held]
    except InputError:  # signoffs.yaml does not read: validate reports it with the stale sign-offs
        signed = []
    if any(entry.by.strip().casefold() == owner.strip().casefold() for entry in signed):
        return []
    role = held[0]
    shown = display_path(after.file)
    # a sign-off recorded by hand in the role's name but by another address is no sign-off by the owner
    other = "".join(f"; the sign-off of signoffs.yaml line {entry.line} is by {entry.by}, not by {owner}"
                    for entry in signed[:1])
    return [GovernanceError(f"{head}; this needs a sign-off of the new content by {whose}'s role {role}"
                            f" ({owner}){other}: review it, then run harness signoff {shown} --by {role}:{owner}",
                            where)]


def raise_if_any(check: SinceCheck) -> None:
    """``InputErrors`` listing every problem of a check, for callers that want an exception."""
    InputErrors.raise_if_any(check.problems)

