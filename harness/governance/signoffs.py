"""Stale sign-offs as validation errors: an approval whose file was edited since is no approval."""

from __future__ import annotations

from pathlib import Path

from ..clock import format_timestamp
from ..errors import InputError, InputErrors, Location
from ..io.files import display_path
from ..project.signoff import SignOff, repository_root, signoffs_path, stale
from .versions import GovernanceError


def stale_signoff_errors(policies_dir: Path | str) -> list[InputError]:
    """One error per sign-off a later edit made stale, naming the file, role, signer, time and what to run.

    A problem of ``signoffs.yaml`` itself is returned as its errors (it cannot be checked then).
    """
    if not Path(policies_dir).is_dir():
        return []
    try:
        found = stale(policies_dir)
    except InputErrors as exc:
        return list(exc.errors)
    except InputError as exc:
        return [exc]
    root = repository_root(policies_dir)
    return [_error(entry, root, policies_dir) for entry in found]


def _error(entry: SignOff, root: Path, policies_dir: Path | str) -> InputError:
    target = root / entry.file
    shown = display_path(target)
    record = f"{display_path(signoffs_path(policies_dir))}:{entry.line}"
    signed = f"sign-off by {entry.by} as {entry.role} at {format_timestamp(entry.at)} ({record})"
    if not (target.is_symlink() or target.exists()):
        return GovernanceError(f"{signed} is stale: the file no longer exists; restore it, or remove the sign-off"
                               " if the file was removed on purpose", Location(shown))
    return GovernanceError(f"{signed} is stale: the file was edited since it was signed (sha256"
                           f" {entry.sha256[:12]}…); review it and sign again: harness signoff {shown} --by"
                           f" {entry.role}:{entry.by}", Location(shown))
