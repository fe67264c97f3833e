"""A policy's history: every version in git, followed by id across renames, and the gate decisions that used it.

The commits that touched the policies folder are read oldest first; at each one the policy is
the file whose ``id`` is the one asked for, wherever it lies, so a move is followed. A new
version is a change of the file's bytes (a move alone is listed too); uncommitted edits in
the working tree come last. A gate entry of the decision log records the sha256 of every
policy file it judged with (``policy_sha256``), so the decisions that used a version are
those that recorded its bytes' sha256. Commit subjects and author names are untrusted text:
they are kept with personal data masked, and shown on one line each.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import format_timestamp
from ..errors import InputError, Location
from ..io.files import display_path, yaml_files
from ..io.yaml import parse_yaml
from ..text.normalize import one_line
from .git import Commit, Repository, TreeFile, find_repository
from .policyset import NOT_POLICIES, is_policy_file


@dataclass(frozen=True)
class Decision:
    """A gate decision that judged with one version of the policy."""

    seq: int
    time: str
    model: str | None
    model_version: str | None
    verdict: str | None

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": self.time, "model": self.model, "model_version": self.model_version,
                "verdict": self.verdict}


@dataclass(frozen=True)
class PolicyVersion:
    """One state of the policy: its version, how it came (added, changed, moved, removed; ``present``: first
    seen where a shallow clone's history is cut) and where.

    ``commit`` is ``None`` for uncommitted changes in the working tree. ``author`` and ``subject``
    come from the commit, personal data masked.
    """

    version: str | None
    change: str
    commit: str | None
    author: str | None
    date: str | None
    subject: str | None
    path: str | None
    sha256: str | None
    decisions: tuple[Decision, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "change": self.change, "commit": self.commit, "author": self.author,
                "date": self.date, "subject": self.subject, "path": self.path, "sha256": self.sha256,
                "decisions": [d.to_json() for d in self.decisions]}


@dataclass(frozen=True)
class PolicyHistory:
    """Every version of a policy, oldest first, with the gate decisions that used each."""

    policy: str
    versions: tuple[PolicyVersion, ...]
    #: the decision log read, as given; ``log_found`` says whether it exists
    decision_log: str | None
    log_found: bool
    #: files that did not parse at some commit where the policy lay (``COMMIT:path: problem``)
    skipped: tuple[str, ...] = ()
    #: the commits a shallow clone's history is cut at: versions before them are missing (empty: a full clone)
    shallow: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "decision_log": self.decision_log, "decision_log_found": self.log_found,
                "versions": [v.to_json() for v in self.versions], "skipped": list(self.skipped),
                "shallow": list(self.shallow)}

    def text_lines(self) -> list[str]:
        return render_text(self)


@dataclass
class _State:
    path: str
    blob: str
    version: str | None


class _Reader:
    """Policy files' ids and versions by blob, each blob parsed once."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository
        self.parsed: dict[str, tuple[str | None, str | None, str | None]] = {}  # blob -> id, version, problem
        self.raw: dict[str, bytes] = {}

    def identity(self, item: TreeFile) -> tuple[str | None, str | None, str | None]:
        found = self.parsed.get(item.blob)
        if found is None:
            raw = self.repository.blob(item.blob)
            self.raw[item.blob] = raw
            found = _identity(raw, item.path)
            self.parsed[item.blob] = found
        return found


def _identity(raw: bytes, shown: str) -> tuple[str | None, str | None, str | None]:
    """A policy file's id and version, or the problem that keeps it from parsing."""
    try:
        data = parse_yaml(raw.decode("utf-8"), shown).data
    except UnicodeDecodeError as exc:
        return None, None, f"not valid UTF-8 at byte {exc.start}"
    except InputError as exc:
        return None, None, str(exc)
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return None, None, None
    version = data.get("version")
    return data["id"], str(version) if version is not None else None, None


def _commit_states(repository: Repository, reader: _Reader, policy_id: str, known: set[str],
                   skipped: list[str]) -> list[tuple[Commit, _State | None]]:
    prefix = f"{repository.prefix}/" if repository.prefix else ""
    states: list[tuple[Commit, _State | None]] = []
    last: _State | None = None
    for sha in repository.commits("HEAD"):
        commit = repository.commit(sha)
        match: _State | None = None
        broken = False
        for item in repository.files(commit):
            if not item.is_file or not is_policy_file(item.path[len(prefix):]):
                continue
            found_id, version, problem = reader.identity(item)
            if problem is not None and last is not None and item.path == last.path:
                skipped.append(one_line(f"{sha[:12]}:{item.path}: {problem}"))
                broken = True
            if found_id is not None:
                known.add(found_id)
            if found_id == policy_id and match is None:
                match = _State(item.path, item.blob, version)
        states.append((commit, last if broken and match is None else match))
        last = states[-1][1]
    return states


def _worktree_state(policies_dir: Path, repository: Repository, policy_id: str,
                    known: set[str]) -> _State | None:
    paths, _problems = yaml_files(policies_dir, exclude=NOT_POLICIES)
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        found_id, version, _problem = _identity(raw, display_path(path))
        if found_id is not None:
            known.add(found_id)
        if found_id == policy_id:
            inside = path.relative_to(policies_dir).as_posix()
            relative = f"{repository.prefix}/{inside}" if repository.prefix else inside
            return _State(relative, hashlib.sha256(raw).hexdigest(), version)
    return None


def _decisions(path: Path | None, policies_dir: Path) -> tuple[dict[str, list[Decision]], bool]:
    """Gate decisions by the sha256 of each policy file they judged with; whether the log exists.

    The log is checked as ``harness log verify`` checks it (the hash chain, the head record, and every
    signature against the release key): anyone who can write it can append a decision with a recomputed
    hash, so a forged or unsigned entry after signed ones is an ``InputError`` naming its line, never a
    decision shown.
    """
    from ..release.signing import release_keys, verify_signatures

    if path is None or not path.exists():
        return {}, False
    from ..release.decision_log import verified_entries

    entries = verified_entries(path)
    verify_signatures(path, release_keys(policies_dir))
    used: dict[str, list[Decision]] = {}
    for entry in entries:
        hashes = entry.get("policy_sha256")
        if entry.get("kind") != "gate" or not isinstance(hashes, Mapping):
            continue
        seq = entry.get("seq")
        decision = Decision(seq if isinstance(seq, int) and not isinstance(seq, bool) else 0,
                            _logged(entry.get("time")) or "", _logged(entry.get("model")),
                            _logged(entry.get("model_version")), _logged(entry.get("verdict")))
        # only text can be a file's sha256: a list or a mapping written there names no version
        for digest in {value for value in hashes.values() if isinstance(value, str)}:
            used.setdefault(digest, []).append(decision)
    return used, True


def _logged(value: Any) -> str | None:
    """A field of a log entry as text, personal data masked (the log is data, not necessarily well-formed)."""
    from ..text.mask import mask_text

    if value is None:
        return None
    return mask_text(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True))


def policy_history(policies_dir: Path | str, policy_id: str, *, decision_log: Path | str | None = None,
                   ) -> PolicyHistory:
    """Every version of ``policy_id`` in the git history of ``policies_dir``, and the decisions that used each.

    ``decision_log`` defaults to the playbook's ``release.decision_log``; a log that does not exist
    holds no decisions. ``InputError`` (exit 4) for an id no version of the policy set has (the
    known ids are listed), a folder outside a git repository or a repository with no commits.
    """
    folder = Path(policies_dir)
    known: set[str] = set()
    skipped: list[str] = []
    with find_repository(folder) as repository:
        if not repository.has_commits():
            raise InputError(f"the repository {repository.root} has no commits yet: no history to show (commit the"
                             " policies first)", Location(display_path(folder)))
        repository.resolve("HEAD", option="HEAD")
        reader = _Reader(repository)
        states = _commit_states(repository, reader, policy_id, known, skipped)
        worktree = _worktree_state(folder, repository, policy_id, known)
        boundary = repository.shallow_boundary()
    blobs = {blob: hashlib.sha256(raw).hexdigest() for blob, raw in reader.raw.items()}
    if policy_id not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise InputError(f"unknown policy id {policy_id!r}; the policies in the history of {display_path(folder)}"
                         f" are: {listed}", Location(display_path(folder)))
    if decision_log is None:
        from ..project import read_playbook

        decision_log = read_playbook(folder).release.decision_log
    log_path = Path(decision_log) if decision_log is not None else None
    used, found = _decisions(log_path, folder)
    versions: list[PolicyVersion] = []
    last: tuple[_State, str] | None = None  # the state and its bytes' sha256
    for commit, state in states:
        digest = blobs[state.blob] if state is not None else None
        change = _change(last, state, digest)
        if change is None:
            continue
        if change == "added" and commit.sha in boundary:
            change = "present"  # at the cut of a shallow clone: it may have been added long before
        versions.append(_version(change, state, digest, commit, used))
        last = (state, digest) if state is not None and digest is not None else None
    if worktree is not None or last is not None:
        change = _change(last, worktree, worktree.blob if worktree is not None else None)
        if change is not None:
            versions.append(_version(change, worktree, worktree.blob if worktree else None, None, used))
    return PolicyHistory(policy_id, tuple(versions), None if log_path is None else str(log_path), found,
                         tuple(skipped), tuple(sorted(boundary)))


def _change(last: tuple[_State, str] | None, state: _State | None, digest: str | None) -> str | None:
    if state is None:
        return "removed" if last is not None else None
    if last is None:
        return "added"
    if digest != last[1]:
        return "changed"
    return "moved" if state.path != last[0].path else None


def _version(change: str, state: _State | None, digest: str | None, commit: Commit | None,
             used: Mapping[str, list[Decision]]) -> PolicyVersion:
    from ..text.mask import mask_text

    return PolicyVersion(
        version=state.version if state is not None else None, change=change,
        commit=commit.sha if commit else None, author=mask_text(commit.author) if commit else None,
        date=format_timestamp(commit.authored) if commit else None,
        subject=mask_text(commit.subject) if commit else None, path=state.path if state else None, sha256=digest,
        decisions=tuple(used.get(digest, ())) if digest else ())


def render_text(history: PolicyHistory) -> list[str]:
    """One line per version (oldest first), its decisions under it; every piece of untrusted text on one line."""
    count = sum(1 for v in history.versions if v.change != "removed")
    lines = [f"policy {history.policy}: {count} version(s)"]
    for v in history.versions:
        where = (f"{v.commit[:12]} {v.date} {v.author}: {v.subject}" if v.commit else
                 "working tree (not committed)")
        if v.change == "removed":
            lines.append(f"removed  {where}")
            continue
        lines.append(f"{v.version}  {v.change}  {where}")
        lines.append(f"  {v.path}  sha256 {(v.sha256 or '')[:12]}")
        if not history.log_found:
            continue
        if not v.decisions:
            lines.append("  no gate decision used this version")
        for d in v.decisions:
            lines.append(f"  decision {d.seq}  {d.time}  {d.model or '-'} {d.model_version or '-'}: {d.verdict or '-'}")
    if not history.log_found:
        lines.append(f"no decision log at {history.decision_log}: no gate decisions to show"
                     if history.decision_log else "no decision log configured: no gate decisions to show")
    lines += [f"skipped (does not parse): {s}" for s in history.skipped]
    if history.shallow:
        cut = ", ".join(sha[:12] for sha in history.shallow)
        lines.append(f"incomplete: this clone is shallow (its history is cut at {cut}); the versions before are"
                     " missing, and \"present\" marks a version that may be older: run git fetch --unshallow")
    return [one_line(line) for line in lines]
