"""A policy set as plain, schema-checked documents: in the working tree or at a git revision.

Versions, diffs and history compare what the policies *say*, not how they are written: each
policy file is read with the project's safe YAML reader, checked against the policy schema
and kept as its parsed mapping, located line by line. :func:`normalized` then fills in every
default (``status: active``, ``max_failures: 0``, a check's option defaults) and keys rules
by their id, so that comments, quoting, key order, flow or block style and spelling out a
default make no difference.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..clock import SYSTEM_CLOCK
from ..errors import InputError, InputErrors, Location
from ..io.files import YAML_SUFFIXES, display_path, yaml_files
from ..io.yaml import MAX_YAML_BYTES, PathKey, YamlDocument, load_yaml, parse_yaml
from .git import Commit, Repository, TreeFile

PLAYBOOK, WAIVERS, SIGNOFFS = "playbook.yaml", "waivers.yaml", "signoffs.yaml"
NOT_POLICIES = (PLAYBOOK, WAIVERS, SIGNOFFS)
#: policy-level defaults, as the loader applies them
_POLICY_DEFAULTS: Mapping[str, Any] = {"status": "active", "max_failures": 0, "applies_to": {}, "lessons_from": [],
                                       "description": "", "examples": {}}


@dataclass(frozen=True)
class PolicyDocument:
    """One policy file as written: its id, where it is, its bytes' sha256 and the parsed, located document."""

    id: str
    #: posix path from the repository's top level (from the policies' parent folder without git)
    path: str
    sha256: str
    document: YamlDocument = field(repr=False)
    #: the file in the working tree, ``None`` at a revision
    file: Path | None = None

    @property
    def data(self) -> Mapping[str, Any]:
        return self.document.data

    @property
    def version(self) -> str:
        return str(self.data.get("version", ""))

    @property
    def severity(self) -> str:
        return str(self.data.get("severity", ""))

    @property
    def owner(self) -> str:
        return str(self.data.get("owner", ""))

    @property
    def status(self) -> str:
        return str(self.data.get("status", "active"))

    def rule_index(self, rule_id: str) -> int | None:
        for i, rule in enumerate(self.data.get("rules") or ()):
            if isinstance(rule, dict) and rule.get("id") == rule_id:
                return i
        return None

    def locate(self, parts: PathKey, *, key: bool = False) -> Location:
        return self.document.locate(parts, key=key)

    def locate_field(self, rule: str | None, field_name: str | None) -> Location:
        """Where a rule's field (``pattern``, ``schema.properties``) or a policy's field is written."""
        parts: tuple[str | int, ...] = ()
        if rule is not None:
            index = self.rule_index(rule)
            parts = ("rules",) if index is None else ("rules", index)
        if field_name and field_name != "file":
            parts += tuple(field_name.split("."))
        return self.locate(parts)


@dataclass(frozen=True)
class WaiverDocument:
    """One waiver of waivers.yaml: its fields as written and where."""

    data: Mapping[str, Any]
    location: Location
    #: waivers.yaml's posix path from the repository's top level
    path: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (str(self.data.get("policy", "")), str(self.data.get("rule", "")), str(self.data.get("ticket", "")))


@dataclass(frozen=True)
class PolicySet:
    """Every policy of a policies folder (by id) and its waivers, at one revision or in the working tree."""

    #: the revision as given (``None``: the working tree)
    revision: str | None
    commit: Commit | None
    policies: Mapping[str, PolicyDocument]
    waivers: tuple[WaiverDocument, ...] = ()
    #: the day waivers are judged expired against: the commit's date, or today for the working tree
    as_of: dt.date = dt.date(1970, 1, 1)
    #: files that do not read or parse as policies (working tree only; a revision raises instead)
    problems: tuple[InputError, ...] = ()
    #: the paths of those files
    unreadable: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        if self.revision is None:
            return "the working tree"
        return f"{self.revision} ({self.commit.sha[:12]})" if self.commit else self.revision


def _option_defaults(check: str) -> Mapping[str, Any]:
    """A built-in check's option defaults, from the shipped policy schema (the checks' own schemas composed):
    reading them there spares importing the checks, the personal-data detector among them."""
    from ..io.schema import load_schema

    definition = load_schema("policy")["$defs"].get(f"check_{check}") or {}
    return {name: schema["default"] for name, schema in (definition.get("properties") or {}).items()
            if isinstance(schema, Mapping) and "default" in schema}


def is_policy_file(relative: str) -> bool:
    """Whether a path inside the policies folder (posix) names a policy: a YAML file other than the three
    repository files at its top."""
    return relative.lower().endswith(YAML_SUFFIXES) and relative not in NOT_POLICIES


def _policy(document: YamlDocument, path: str, errors: list[InputError], file: Path | None = None, *,
            strict: bool = True) -> PolicyDocument | None:
    """The policy of a parsed file, or ``None`` with its problems added to ``errors``.

    ``strict``: every schema error counts (the working tree, which the harness of today judges
    with). At a revision only what a comparison needs is checked (:func:`_shape_errors`): the file
    was written for the harness of its day, whose schema may have differed.
    """
    from ..io.schema import schema_errors

    before = len(errors)
    if document.data is None:
        errors.append(InputError("the file is empty; expected a policy", Location(document.path, 1, 1)))
        return None
    errors.extend(document.problems)
    # the shipped schema: the built-in checks' options are checked; a plugin's check is left to the loader
    errors.extend(schema_errors(document, "policy") if strict else _shape_errors(document))
    if len(errors) > before or not isinstance(document.data, dict):
        return None
    return PolicyDocument(document.data["id"], path, document.sha256, document, file)


#: what a policy must have at any revision to be compared: these fields, as text
_SHAPE = ("id", "version", "severity", "on_fail", "owner")


def _shape_errors(document: YamlDocument) -> list[InputError]:
    """The problems that keep a document from being compared as a policy: not a mapping, a field of
    :data:`_SHAPE` missing or not text, rules that are not a list of mappings with a text ``id`` each."""
    data = document.data
    if not isinstance(data, dict):
        return [InputError("expected a policy: a mapping with id, version, rules...", document.locate(()))]
    found = []
    for key in _SHAPE:
        if not isinstance(data.get(key), str):
            found.append(InputError(f"expected {key} as text, got {data.get(key)!r}", document.locate((key,))))
    rules = data.get("rules")
    if not isinstance(rules, list):
        found.append(InputError("expected rules: a list of rules", document.locate(("rules",))))
        return found
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict) or not isinstance(rule.get("id"), str):
            found.append(InputError("expected a rule: a mapping with an id", document.locate(("rules", i))))
    return found


def _claim(policies: dict[str, PolicyDocument], found: PolicyDocument, errors: list[InputError]) -> None:
    other = policies.get(found.id)
    if other is None:
        policies[found.id] = found
        return
    where = other.locate(("id",))
    errors.append(InputError(f"duplicate policy id {found.id!r} (also defined in {where.file}:{where.line})",
                             found.locate(("id",))))


def _waivers(document: YamlDocument, path: str, errors: list[InputError], *, strict: bool = True,
             ) -> tuple[WaiverDocument, ...]:
    from ..io.schema import schema_errors

    data = document.data
    if data is None:
        return ()
    if strict:
        found = [*document.problems, *schema_errors(document, "waivers")]
    else:
        items = data.get("waivers") if isinstance(data, dict) else None
        found = list(document.problems)
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            found.append(InputError("expected waivers: a list of waivers", document.locate(("waivers",))))
    if found:
        errors.extend(found)
        return ()
    items = data.get("waivers") or []
    return tuple(WaiverDocument(item, document.locate(("waivers", i)), path) for i, item in enumerate(items))


def read_worktree(policies_dir: Path | str, repository: Repository | None = None, *,
                  today: dt.date | None = None) -> PolicySet:
    """The policies folder as it is on disk; files that do not parse are listed in ``problems``, not raised.

    Paths are from the repository's top level (from the policies folder's parent without a repository).
    """
    folder = Path(policies_dir)
    if not folder.is_dir():
        raise InputError("policies directory not found", Location(display_path(folder)))
    base = PurePosixPath(repository.prefix) if repository is not None else PurePosixPath(folder.resolve().name)

    def relative(path: Path) -> str:
        try:
            inside = path.relative_to(folder)
        except ValueError:
            try:
                inside = path.resolve().relative_to(folder.resolve())
            except ValueError:
                return path.as_posix()
        return (base / inside.as_posix()).as_posix()

    paths, problems = yaml_files(folder, exclude=NOT_POLICIES)
    errors: list[InputError] = list(problems)
    unreadable = {relative(Path(e.location.file)) for e in problems if e.location.file}
    policies: dict[str, PolicyDocument] = {}
    for path in paths:
        before = len(errors)
        try:
            found = _policy(load_yaml(path, display_path(path)), relative(path), errors, path)
        except InputError as exc:
            errors.append(exc)
            found = None
        if found is not None:
            _claim(policies, found, errors)
        if len(errors) > before:
            unreadable.add(relative(path))
    waivers: tuple[WaiverDocument, ...] = ()
    if (folder / WAIVERS).is_file():
        try:
            waivers = _waivers(load_yaml(folder / WAIVERS, display_path(folder / WAIVERS)),
                               relative(folder / WAIVERS), errors)
        except InputError as exc:
            errors.append(exc)
    return PolicySet(None, None, policies, waivers, today or SYSTEM_CLOCK.today(), tuple(errors),
                     frozenset(unreadable))


def _text(raw: bytes, shown: str) -> str:
    if len(raw) > MAX_YAML_BYTES:
        raise InputError(f"larger than {MAX_YAML_BYTES} bytes; expected a smaller file", Location(shown))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 at byte {exc.start}; expected UTF-8 text", Location(shown)) from None


def _name_problem(path: str) -> str | None:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "the file name is not valid UTF-8; expected a UTF-8 name"
    return None


def read_revision(repository: Repository, revision: str, *, option: str = "revision") -> PolicySet:
    """The policy set at a revision; ``InputErrors`` naming ``REV:path:line`` when any file there does not parse."""
    sha = repository.resolve(revision, option=option)
    commit = repository.commit(sha)
    errors: list[InputError] = []
    refused: list[InputError] = []  # links and submodules: readable, but not governable
    policies: dict[str, PolicyDocument] = {}
    waivers: tuple[WaiverDocument, ...] = ()
    prefix = f"{repository.prefix}/" if repository.prefix else ""
    if not repository.has_folder(commit):
        folder = repository.prefix or "."
        mode = repository.entry_mode(commit, folder)
        what = {"120000": "a symbolic link", "160000": "a git submodule"}.get(mode or "", "not a folder")
        raise InputError(f"the policies folder {folder} is {what if mode else 'absent'} at this revision, so its"
                         " policies cannot be compared (was the folder moved, or replaced by a link?); give a revision"
                         " where the policies are in that folder", Location(f"{revision}:{folder}"))
    for item in repository.files(commit):
        relative = item.path[len(prefix):]
        shown = f"{revision}:{item.path}"
        linked = _linked_folder(repository, commit, item)
        if linked is not None:
            refused.append(InputError(linked, Location(shown)))
            continue
        if not (is_policy_file(relative) or relative == WAIVERS):
            continue
        problem = _name_problem(item.path)
        if problem is None and not item.is_file:
            problem = "a symbolic link (or not a regular file) at this revision; expected a YAML file"
        if problem is not None:
            errors.append(InputError(problem, Location(shown)))
            continue
        raw = repository.blob(item.blob)
        try:
            document = parse_yaml(_text(raw, shown), shown, hashlib.sha256(raw).hexdigest())
        except InputError as exc:
            errors.append(exc)
            continue
        if relative == WAIVERS:
            waivers = _waivers(document, item.path, errors, strict=False)
            continue
        found = _policy(document, item.path, errors, strict=False)
        if found is not None:
            _claim(policies, found, errors)
    if errors or refused:
        raise InputErrors([*refused, *(_at_revision(e, revision) for e in errors)])
    return PolicySet(revision, commit, policies, waivers, commit.committed.date())


def _linked_folder(repository: Repository, commit: Commit, item: TreeFile) -> str | None:
    """Why a submodule or a symbolic link (not named as YAML) in the policies folder at a revision keeps it from
    being read: its policies live elsewhere, where this revision's history does not say what they were. A link
    to a file inside the repository is harmless (``None``)."""
    if item.is_submodule:
        return ("a git submodule at this revision: the policies in it have no history in this repository, so"
                " changes to them could not be governed; keep the policies in the folder itself")
    if not item.is_symlink or item.path.lower().endswith(YAML_SUFFIXES):
        return None  # a link named as YAML is refused with the policy files
    target = repository.blob(item.blob).decode("utf-8", "replace")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(item.path), target))
    inside = not target.startswith("/") and resolved != ".." and not resolved.startswith("../")
    if inside and repository.entry_mode(commit, resolved) in ("100644", "100755"):
        return None
    return (f"a symbolic link to {target!r} at this revision, not a file of the repository: git keeps a link, not"
            " the policies it leads to, so changes to them could not be governed; keep the policies in the folder"
            " itself")


def _at_revision(error: InputError, revision: str) -> InputError:
    """An error found in a file at a revision, saying so (the file is named ``REV:path``)."""
    return InputError(f"{error.message} (the file does not parse at revision {revision})", error.location)


# --- what a policy says, whatever the writing ----------------------------------------------


def _rule_defaults(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A rule with its check's option defaults filled in, and its inner rule (``of:``) likewise."""
    filled = dict(rule)
    for name, default in _option_defaults(str(rule.get("check"))).items():
        filled.setdefault(name, copy.deepcopy(default))
    if isinstance(filled.get("of"), Mapping):
        filled["of"] = _rule_defaults(filled["of"])
    return filled


def normalized(data: Mapping[str, Any]) -> dict[str, Any]:
    """A policy's meaning as plain data: defaults filled in, rules keyed by id (a repeated id gets ``#2``)."""
    result = {**copy.deepcopy(dict(_POLICY_DEFAULTS)), **copy.deepcopy(dict(data))}
    examples = result.get("examples") or {}
    result["examples"] = {"pass": list(examples.get("pass", [])), "fail": list(examples.get("fail", []))}
    rules: dict[str, Any] = {}
    for i, rule in enumerate(data.get("rules") or ()):
        key = str(rule.get("id", i)) if isinstance(rule, Mapping) else str(i)
        n, name = 1, key
        while name in rules:
            n += 1
            name = f"{key}#{n}"
        rules[name] = _rule_defaults(rule) if isinstance(rule, Mapping) else rule
    result["rules"] = rules
    return result
