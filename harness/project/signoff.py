"""Sign-offs: who approved which content of the policy repository, and whether it is still that content.

``<policies>/signoffs.yaml`` holds a list under ``signoffs:``; each entry names a file (its
path from the repository root, the folder above the policies), the sha256 of the bytes that
were approved, the playbook role that approved them, the address of the person holding that
role, and the time. A sign-off is valid while the file still has those bytes: any edit
makes it stale, and the file needs signing again. Signing appends an entry under a lock and
replaces the file atomically; what a person wrote in it (comments, layout) is kept.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock, format_timestamp, parse_timestamp
from ..errors import InputError, InputErrors, Location
from ..io.files import display_path, sha256_file, write_atomic
from ..io.yaml import YamlDocument, load_yaml, parse_yaml

SIGNOFFS = "signoffs.yaml"
#: how long ``sign`` waits for another command signing at the same time
LOCK_TIMEOUT_S = 30.0
_FIELDS = ("file", "sha256", "role", "by", "at")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ROLE = re.compile(r"^[a-z][a-z0-9_-]*$")
_UTC = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?Z$")
_HEADER = ("# Sign-offs: who approved which content (the sha256 of the file's bytes), in which role, when.\n"
           "# Written by `harness signoff FILE --by ROLE:EMAIL`; an edit of a signed file makes its sign-off stale.\n")


@dataclass(frozen=True)
class SignOff:
    """One approval: ``file`` (posix, from the repository root) had ``sha256`` when ``by``, as ``role``, signed."""

    file: str
    sha256: str
    role: str
    by: str
    at: dt.datetime
    #: the line of the entry in signoffs.yaml (0 for a new one)
    line: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "role": self.role, "by": self.by,
                "at": format_timestamp(self.at)}


def signoffs_path(policies_dir: Path | str) -> Path:
    return Path(policies_dir) / SIGNOFFS


def repository_root(policies_dir: Path | str) -> Path:
    """The repository the policies belong to: the folder above the policies folder."""
    return Path(policies_dir).resolve().parent


def read_signoffs(policies_dir: Path | str) -> list[SignOff]:
    """Every sign-off recorded, in order; none when there is no signoffs.yaml. ``InputErrors`` at file:line."""
    path = signoffs_path(policies_dir)
    if path.is_symlink():  # git keeps the link, not what it leads to: sign-offs from elsewhere approve nothing
        raise InputError(f"a symbolic link (to {os.readlink(path)}); git keeps the link, not the sign-offs it leads"
                         " to: make it a regular file", Location(display_path(path)))
    if not path.exists():
        return []
    return _entries(load_yaml(path, display_path(path)))


def _entries(document: YamlDocument) -> list[SignOff]:
    problems = list(document.problems)
    data = document.data
    if data is None:
        return []
    if not isinstance(data, dict):
        raise InputError("expected a mapping with one key, signoffs: a list of sign-offs", document.locate(()))
    for key in data:
        if key != "signoffs":
            problems.append(InputError(f"unknown key {key!r}; expected only signoffs", document.locate((key,),
                                                                                                       key=True)))
    raw = data.get("signoffs")
    if raw is None:
        InputErrors.raise_if_any(problems)
        return []
    if not isinstance(raw, list):
        raise InputErrors([*problems, InputError("expected a list of sign-offs (file, sha256, role, by, at)",
                                                 document.locate(("signoffs",)))])
    found = []
    for i, item in enumerate(raw):
        entry = _entry(document, i, item, problems)
        if entry is not None:
            found.append(entry)
    InputErrors.raise_if_any(problems)
    return found


def _entry(document: YamlDocument, i: int, item: Any, problems: list[InputError]) -> SignOff | None:
    where = ("signoffs", i)
    if not isinstance(item, dict):
        problems.append(InputError("expected a sign-off: a mapping with file, sha256, role, by and at",
                                   document.locate(where)))
        return None
    before = len(problems)
    for key in item:
        if key not in _FIELDS:
            problems.append(InputError(f"unknown field {key!r}; expected one of: {', '.join(_FIELDS)}",
                                       document.locate((*where, key), key=True)))
    for key in _FIELDS:
        value = item.get(key)
        expected = _field_problem(key, value)
        if key not in item:
            problems.append(InputError(f"missing field {key!r}", document.locate(where)))
        elif expected:
            problems.append(InputError(f"{key}: expected {expected}, got {value!r}", document.locate((*where, key))))
    if len(problems) > before:
        return None
    return SignOff(item["file"], item["sha256"], item["role"], item["by"], parse_timestamp(item["at"]),
                   document.locate(where).line or 0)


def _field_problem(key: str, value: Any) -> str | None:
    """What ``value`` should have been for ``key``, or ``None`` when it is fine."""
    if not isinstance(value, str) or not value:
        return "a non-empty string" + (" (put it in quotes)" if isinstance(value, int | float) else "")
    if key == "file":
        posix = PurePosixPath(value)
        if posix.is_absolute() or ".." in posix.parts or "\\" in value or not posix.parts:
            return "a path from the repository root with / separators and no .., like policies/playbook.yaml"
    if key == "sha256" and not _SHA256.match(value):
        return "64 lower-case hex digits"
    if key == "role" and not _ROLE.match(value):
        return "a role of the playbook, like governance_lead"
    if key == "at":
        if not _UTC.match(value):
            return "a UTC time in ISO 8601 ending in Z, like 2026-03-09T15:42:00Z"
        try:
            parse_timestamp(value)
        except ValueError:
            return "a real date and time"
    return None


def _relative(root: Path, file: Path | str) -> tuple[str, Path]:
    """The posix path from ``root`` of an existing regular file inside it, and the file; ``InputError`` else."""
    shown = str(file)
    target = Path(file).resolve()
    try:
        relative = target.relative_to(root)
    except ValueError:
        raise InputError(f"outside the repository {root}; expected a file under it", Location(shown)) from None
    try:
        info = os.stat(target)
    except FileNotFoundError:
        raise InputError("file not found; expected the file to sign", Location(shown)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", Location(shown)) from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError("not a regular file (a directory, FIFO or device); expected a file to sign",
                         Location(shown))
    return relative.as_posix(), target


def _named(root: Path, file: Path | str) -> str:
    """The posix path from ``root`` of ``file``, which need not exist (a deleted file has stale sign-offs)."""
    try:
        return Path(file).resolve().relative_to(root).as_posix()
    except ValueError:
        raise InputError(f"outside the repository {root}; expected a file under it", Location(str(file))) from None


def _current_sha256(root: Path, file: str) -> str | None:
    """The sha256 of a recorded file as it is now; ``None`` when it is gone, unreadable or outside the root."""
    target = (root / file).resolve()
    try:
        target.relative_to(root)
        if not stat.S_ISREG(os.stat(target).st_mode):
            return None
        return sha256_file(target)
    except (ValueError, OSError):
        return None


def holder_problem(roles: Any, role: str, by: str) -> str | None:
    """Why ``by`` may not sign as ``role`` of a playbook's ``roles`` (name to address), or ``None``."""
    if role not in roles:
        return f"unknown role {role!r}; expected a role of the playbook: {', '.join(roles) or 'none defined'}"
    if str(roles[role]).strip().casefold() != by.strip().casefold():
        return (f"{by!r} is not the {role} of the playbook ({roles[role]}); a sign-off is made by the address"
                " that holds the role")
    return None


def _locked(policies_dir: Path) -> contextlib.AbstractContextManager[None]:
    from ..io.locks import held

    return held(policies_dir / f".{SIGNOFFS}.lock", SIGNOFFS, timeout_s=LOCK_TIMEOUT_S)


def sign(policies_dir: Path | str, file: Path | str, role: str, by: str, clock: Clock = SYSTEM_CLOCK) -> SignOff:
    """Record that ``by``, holding ``role`` in the playbook, approves ``file`` as it is now; the new entry.

    ``InputError`` when the file is outside the repository, missing or not a regular file, when
    the role is not in the playbook's ``roles`` or ``by`` is not its address, or when
    signoffs.yaml does not read.
    """
    from .loader import PLAYBOOK, read_playbook

    policies = Path(policies_dir)
    if not policies.is_dir():
        raise InputError("policies directory not found", Location(display_path(policies)))
    root = repository_root(policies)
    relative, target = _relative(root, file)
    if target == signoffs_path(policies).resolve():
        raise InputError(f"{SIGNOFFS} records sign-offs and is not signed itself", Location(str(file)))
    if not (policies / PLAYBOOK).exists():
        raise InputError(f"no {PLAYBOOK}: the roles that sign come from the playbook", Location(str(policies)))
    playbook = read_playbook(policies)
    problem = holder_problem(playbook.roles, role, by)
    if problem:
        raise InputError(problem, Location(display_path(policies / PLAYBOOK), None, None, f"$.roles.{role}"))
    path = signoffs_path(policies)
    with _locked(policies):
        read_signoffs(policies)  # a file with a problem is reported, never written over
        entry = SignOff(relative, sha256_file(target), role, by.strip(), clock.now())
        text = path.read_text("utf-8") if path.exists() else ""
        write_atomic(path, _appended(text, entry, str(path)))
    return entry


def _appended(text: str, entry: SignOff, shown: str) -> str:
    """``text`` with ``entry`` added at the end of its list, the rest byte for byte where the layout allows."""
    import textwrap

    import yaml

    item = yaml.safe_dump([entry.to_json()], sort_keys=False, allow_unicode=True, width=4096)
    if not text.strip():
        return (text or _HEADER) + ("" if not text or text.endswith("\n") else "\n") + "signoffs:\n" + \
            textwrap.indent(item, "  ")
    written = parse_yaml(text, shown).data
    expected = {"signoffs": [*((written or {}).get("signoffs") or []), entry.to_json()]}
    base = text if text.endswith("\n") else text + "\n"
    candidates = [base + textwrap.indent(item, indent) for indent in ("  ", "", "    ")]
    candidates.append(base + "signoffs:\n" + textwrap.indent(item, "  "))  # only comments so far
    for candidate in candidates:
        try:
            document = parse_yaml(candidate, shown)
        except InputError:
            continue
        if not document.problems and document.data == expected:
            return candidate
    # a layout the list cannot be continued in (a flow list, something after it): keep the leading comments
    comments = "".join(line for line in text.splitlines(keepends=True)[:_leading_comments(text)])
    return comments + yaml.safe_dump(expected, sort_keys=False, allow_unicode=True, width=4096)


def _leading_comments(text: str) -> int:
    lines = text.splitlines()
    count = 0
    while count < len(lines) and lines[count].lstrip().startswith("#"):
        count += 1
    return count


def status(policies_dir: Path | str, file: Path | str | None = None,
           role: str | None = None) -> list[tuple[SignOff, bool]]:
    """Every sign-off (of ``file``, by ``role`` when given) with whether it is valid: the file still has its bytes."""
    root = repository_root(policies_dir)
    wanted = None if file is None else _named(root, file)
    hashes: dict[str, str | None] = {}
    found = []
    for entry in read_signoffs(policies_dir):
        if (wanted is not None and entry.file != wanted) or (role is not None and entry.role != role):
            continue
        if entry.file not in hashes:
            hashes[entry.file] = _current_sha256(root, entry.file)
        found.append((entry, hashes[entry.file] == entry.sha256))
    return found


def valid_signoff(policies_dir: Path | str, file: Path | str, role: str) -> SignOff | None:
    """The latest valid sign-off of ``file`` by ``role``, or ``None`` (none, or the file was edited since).

    A file that is missing or not a regular file has no valid sign-off.
    """
    root = repository_root(policies_dir)
    try:
        wanted = _relative(root, file)[0]
    except InputError:
        return None
    current = _current_sha256(root, wanted)
    valid = [e for e in read_signoffs(policies_dir) if e.file == wanted and e.role == role and e.sha256 == current]
    return valid[-1] if valid else None


def stale(policies_dir: Path | str) -> list[SignOff]:
    """The sign-offs an edit made stale: for each file and role with no valid sign-off now, its latest one.

    A sign-off superseded by a newer valid one of the same file and role is history, not stale.
    """
    latest: dict[tuple[str, str], SignOff] = {}
    signed: set[tuple[str, str]] = set()
    for entry, valid in status(policies_dir):
        latest[(entry.file, entry.role)] = entry
        if valid:
            signed.add((entry.file, entry.role))
    return [entry for key, entry in latest.items() if key not in signed]
