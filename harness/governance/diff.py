"""A semantic diff of the policy set between two revisions, in the reader's terms.

Each policy is compared with deepdiff on its :func:`~.policyset.normalized` document, so
formatting (comments, key order, quoting, flow or block style, a default spelt out) is no
change, and reordering a word list or an allow list is none either (inside a JSON schema,
order is kept: ``prefixItems`` depends on it). What deepdiff finds is then said the way a
reviewer reads a policy: policies added, removed, deprecated or moved; rules added or removed
(matched by id); per rule and per policy, each field that changed, old → new; waivers added,
removed, changed or expired.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock
from ..text.normalize import one_line
from .git import find_repository
from .policyset import PolicyDocument, PolicySet, WaiverDocument, normalized, read_revision, read_worktree

#: the kinds of change, in the order a policy's changes are listed
KINDS = ("policy_added", "policy_removed", "policy_deprecated", "policy_moved", "policy_changed", "rule_added",
         "rule_removed", "rule_changed", "waiver_added", "waiver_removed", "waiver_changed", "waiver_expired")
#: policy-level fields in the order they are listed; the others follow alphabetically
_FIELD_ORDER = ("version", "status", "severity", "on_fail", "owner", "max_failures", "applies_to.tags",
                "applies_to.suites")
#: fields whose values are example outputs: shown with personal data masked
_MASKED_FIELDS = ("examples.pass", "examples.fail")
#: fields whose long values are abridged on a line of text (the JSON has them whole); patterns never are
_ABRIDGED_FIELDS = ("description", "title", *_MASKED_FIELDS)


@dataclass(frozen=True)
class Change:
    """One change: its kind, the policy and rule (or waiver) it concerns, the field, the old and new values.

    ``path`` and ``line`` say where it is written: in the new version, or the old one when it is gone.
    """

    kind: str
    policy: str
    rule: str | None = None
    field: str | None = None
    old: Any = None
    new: Any = None
    waiver: str | None = None
    path: str | None = None
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "policy": self.policy, "rule": self.rule, "field": self.field, "old": self.old,
                "new": self.new, "waiver": self.waiver, "path": self.path, "line": self.line}


@dataclass(frozen=True)
class Side:
    """One end of a diff: a revision and its commit, or the working tree (both ``None``)."""

    revision: str | None
    commit: str | None

    @property
    def label(self) -> str:
        if self.revision is None:
            return "the working tree"
        return f"{self.revision} ({self.commit[:12]})" if self.commit else self.revision

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "commit": self.commit}


@dataclass(frozen=True)
class PolicySetDiff:
    """What changed in a policy set from ``old`` to ``new``: typed changes, policies by id, then waivers."""

    old: Side
    new: Side
    changes: tuple[Change, ...]

    @property
    def empty(self) -> bool:
        return not self.changes

    def of_policy(self, policy_id: str) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.policy == policy_id and not c.kind.startswith("waiver"))

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old.to_json(), "new": self.new.to_json(), "changes": [c.to_json() for c in self.changes]}

    def text_lines(self) -> list[str]:
        """The diff for a terminal or a report: a heading, then one line per change."""
        return render_text(self)


def _side(policy_set: PolicySet) -> Side:
    return Side(policy_set.revision, policy_set.commit.sha if policy_set.commit else None)


def policy_set_diff(policies_dir: Path | str, rev_old: str, rev_new: str | None = None, *,
                    clock: Clock = SYSTEM_CLOCK) -> PolicySetDiff:
    """The semantic diff of the policy set from ``rev_old`` to ``rev_new`` (default: the working tree).

    ``InputError`` (exit 4) names a revision that does not exist, a folder outside any git
    repository, a repository with no commits, and every file that does not parse (``REV:path:line``).
    """
    with find_repository(policies_dir) as repository:
        old = read_revision(repository, rev_old, option="REV1" if rev_new is not None else "revision")
        if rev_new is None:
            new = read_worktree(policies_dir, repository, today=clock.today())
            if new.problems:
                from ..errors import InputErrors

                raise InputErrors(new.problems)
        else:
            new = read_revision(repository, rev_new, option="REV2")
    return diff_sets(old, new)


def diff_sets(old: PolicySet, new: PolicySet) -> PolicySetDiff:
    """The diff of two policy sets already read."""
    changes: list[Change] = []
    for policy_id in sorted(set(old.policies) | set(new.policies)):
        changes += compare_policies(old.policies.get(policy_id), new.policies.get(policy_id))
    changes += _waiver_changes(old, new)
    return PolicySetDiff(_side(old), _side(new), tuple(changes))


def _leaf(value: Any, parts: Iterable[str]) -> Any:
    for part in parts:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _field_parts(path: list[Any]) -> tuple[str, ...]:
    """A deepdiff path up to its first list index: the field a reader names (``schema.required``)."""
    parts = []
    for part in path:
        if isinstance(part, int):
            break
        parts.append(str(part))
    return tuple(parts)


def _ordered(level: Any) -> bool:
    """Whether deepdiff may ignore the order of a list: everywhere but inside a rule's JSON schema."""
    return "schema" not in level.path(output_format="list")


def changed_paths(old: Any, new: Any) -> list[tuple[str, list[Any]]]:
    """(report type, path) of every difference deepdiff finds between two plain documents."""
    from deepdiff import DeepDiff

    found = DeepDiff(old, new, ignore_order=False, ignore_order_func=_ordered, ignore_numeric_type_changes=True,
                     report_repetition=False, view="tree", threshold_to_diff_deeper=0)
    return [(kind, level.path(output_format="list")) for kind, levels in found.items() for level in levels]


def compare_policies(old: PolicyDocument | None, new: PolicyDocument | None) -> list[Change]:
    """The changes from one version of a policy to another (``None``: absent on that side)."""
    if old is None and new is None:
        return []
    if old is None:
        assert new is not None
        return [Change("policy_added", new.id, new=new.version, path=new.path, line=new.locate(("id",)).line)]
    if new is None:
        return [Change("policy_removed", old.id, old=old.version, path=old.path, line=old.locate(("id",)).line)]
    before, after = normalized(old.data), normalized(new.data)
    policy_fields: set[tuple[str, ...]] = set()
    rules_added: set[str] = set()
    rules_removed: set[str] = set()
    rule_fields: set[tuple[str, tuple[str, ...]]] = set()
    for _kind, path in changed_paths(before, after):
        if not path:
            continue
        if path[0] != "rules":
            policy_fields.add(_field_parts(path))
        elif len(path) == 2:
            (rules_added if path[1] in after["rules"] else rules_removed).add(path[1])
        elif len(path) > 2:
            rule_fields.add((path[1], _field_parts(path[2:])))
    changes = []
    if old.path != new.path:
        changes.append(Change("policy_moved", new.id, field="file", old=old.path, new=new.path, path=new.path))
    for parts in sorted(policy_fields, key=_field_key):
        name = ".".join(parts)
        was, now = _leaf(before, parts), _leaf(after, parts)
        kind = "policy_deprecated" if name == "status" and now == "deprecated" else "policy_changed"
        changes.append(Change(kind, new.id, field=name, old=was, new=now, path=new.path,
                              line=new.locate_field(None, name).line))
    rule_changes: list[tuple[str, str, tuple[str, ...]]] = [(rule, "rule_added", ()) for rule in rules_added]
    rule_changes += [(rule, "rule_removed", ()) for rule in rules_removed]
    rule_changes += [(rule, "rule_changed", parts) for rule, parts in rule_fields]
    for rule, kind, parts in sorted(rule_changes, key=lambda c: (c[0], KINDS.index(c[1]), c[2])):
        if kind == "rule_added":
            changes.append(Change(kind, new.id, rule, new=after["rules"][rule].get("check"), path=new.path,
                                  line=new.locate_field(rule, None).line))
        elif kind == "rule_removed":
            changes.append(Change(kind, new.id, rule, old=before["rules"][rule].get("check"), path=new.path,
                                  line=new.locate(("rules",)).line))
        else:
            name = ".".join(parts)
            changes.append(Change(kind, new.id, rule, name, _leaf(before["rules"][rule], parts),
                                  _leaf(after["rules"][rule], parts), path=new.path,
                                  line=new.locate_field(rule, name).line))
    return changes


def _field_key(parts: tuple[str, ...]) -> tuple[int, str]:
    name = ".".join(parts)
    return (_FIELD_ORDER.index(name) if name in _FIELD_ORDER else len(_FIELD_ORDER), name)


# --- waivers --------------------------------------------------------------------------------


def _keyed(waivers: Iterable[WaiverDocument]) -> dict[tuple[str, str, str], WaiverDocument]:
    keyed: dict[tuple[str, str, str], WaiverDocument] = {}
    for waiver in waivers:
        policy, rule, ticket = waiver.key
        n, key = 1, waiver.key
        while key in keyed:
            n += 1
            key = (policy, rule, f"{ticket}#{n}")
        keyed[key] = waiver
    return keyed


def _expired(waiver: WaiverDocument, as_of: Any) -> bool:
    return str(waiver.data.get("expires", "9999-12-31")) < as_of.isoformat()


def _waiver_change(kind: str, key: tuple[str, str, str], place: WaiverDocument, field: str | None = None,
                   old: Any = None, new: Any = None) -> Change:
    policy, rule, ticket = key
    return Change(kind, policy, rule or None, field, old, new, waiver=ticket, path=place.path,
                  line=place.location.line)


def _waiver_changes(old: PolicySet, new: PolicySet) -> list[Change]:
    before, after = _keyed(old.waivers), _keyed(new.waivers)
    changes = []
    for key in sorted(set(before) | set(after)):
        was, now = before.get(key), after.get(key)
        if was is None:
            assert now is not None
            changes.append(_waiver_change("waiver_added", key, now, "expires", None, now.data.get("expires")))
        elif now is None:
            changes.append(_waiver_change("waiver_removed", key, was, "expires", was.data.get("expires"), None))
        else:
            fields = {_field_parts(path) for _kind, path in changed_paths(dict(was.data), dict(now.data)) if path}
            for parts in sorted(fields):
                changes.append(_waiver_change("waiver_changed", key, now, ".".join(parts), _leaf(was.data, parts),
                                              _leaf(now.data, parts)))
        if now is not None and _expired(now, new.as_of) and (was is None or not _expired(was, old.as_of)):
            changes.append(_waiver_change("waiver_expired", key, now, "expires", None, now.data.get("expires")))
    return changes


# --- text -----------------------------------------------------------------------------------


_PLAIN = re.compile(r"^[A-Za-z0-9_.@/+-]+$")
#: the longest example or description shown in a diff line (the JSON has it whole)
_ABRIDGED_CHARS = 120


def value_text(value: Any) -> str:
    """A value as a reader sees it in a diff, in YAML's flow style: plain words bare, other text in single
    quotes (a pattern reads as written: ``'acme\\.example'``), lists ``[a, b]``, mappings ``{k: v}``, none as
    ``(none)``. Text with a line break or a control character is shown with JSON escapes."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{value_text(str(k))}: {value_text(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _PLAIN.match(text) and text not in ("true", "false", "null"):
        return text
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return json.dumps(text, ensure_ascii=False)


def _abridged(value: Any) -> str:
    text = value_text(value)
    return text if len(text) <= _ABRIDGED_CHARS else text[:_ABRIDGED_CHARS - 1] + "…"


def _list_change(old: list[Any], new: list[Any], show: Any = value_text) -> str:
    added = [v for v in new if v not in old]
    removed = [v for v in old if v not in new]
    if not added and not removed:
        return f"reordered {value_text(old)} → {value_text(new)}"
    parts = []
    if added:
        parts.append("added " + ", ".join(show(v) for v in added))
    if removed:
        parts.append("removed " + ", ".join(show(v) for v in removed))
    return "; ".join(parts)


def old_to_new(field: str | None, old: Any, new: Any) -> str:
    """``old → new`` for one field; a list that gained or lost items says which."""
    show = _abridged if field in _ABRIDGED_FIELDS else value_text
    if show is _abridged and isinstance(old, str) and isinstance(new, str) and \
            max(len(value_text(old)), len(value_text(new))) > _ABRIDGED_CHARS:
        return "rewritten (--format json shows the old and the new text)"
    if isinstance(old, list) and isinstance(new, list):
        text = _list_change(old, new, show)
    else:
        text = f"{show(old)} → {show(new)}"
    if field in _MASKED_FIELDS:  # example outputs may hold personal data (the detector is loaded only then)
        from ..text.mask import mask_text

        return mask_text(text)
    return text


def change_text(change: Change) -> str:
    """One change on one line."""
    c = change
    if c.kind == "policy_added":
        text = f"{c.policy}: policy added ({c.path}, version {c.new})"
    elif c.kind == "policy_removed":
        text = f"{c.policy}: policy removed (was {c.path}, version {c.old})"
    elif c.kind == "policy_deprecated":
        text = f"{c.policy}: deprecated (status {value_text(c.old)} → {value_text(c.new)})"
    elif c.kind == "policy_moved":
        text = f"{c.policy}: moved {c.old} → {c.new}"
    elif c.kind == "policy_changed":
        text = f"{c.policy}: {c.field} {old_to_new(c.field, c.old, c.new)}"
    elif c.kind == "rule_added":
        text = f"{c.policy}: rule {c.rule} added (check {c.new})"
    elif c.kind == "rule_removed":
        text = f"{c.policy}: rule {c.rule} removed (check {c.old})"
    elif c.kind == "rule_changed":
        text = f"{c.policy}: rule {c.rule}: {c.field} {old_to_new(c.field, c.old, c.new)}"
    else:
        what = f"waiver {c.waiver} ({c.policy}{'/' + c.rule if c.rule else ''})"
        text = {"waiver_added": f"{what}: added, expires {c.new}",
                "waiver_removed": f"{what}: removed (it expired or expires {c.old})",
                "waiver_expired": f"{what}: expired (its last day was {c.new})"}.get(
            c.kind, f"{what}: {c.field} {old_to_new(c.field, c.old, c.new)}")
    return one_line(text)


def render_text(diff: PolicySetDiff) -> list[str]:
    """The heading and one line per change; a diff with no change says so."""
    heading = one_line(f"policy diff {diff.old.label} → {diff.new.label}")
    if diff.empty:
        return [heading, "no changes (formatting aside, the policy sets say the same)"]
    return [heading, *(change_text(c) for c in diff.changes)]
