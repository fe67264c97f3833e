"""Who acts and on what: the actor of a recorded decision and the policy repository's commit."""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path

_GIT_TIMEOUT_S = 10.0


def _git(args: list[str], cwd: Path | None = None) -> str | None:
    """The stripped stdout of a git command, or None when git is missing or fails."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip()


def current_actor(explicit: str | None = None) -> str:
    """Who is acting: ``--by``, else ``$GITHUB_ACTOR``, else git's user.email, else the OS user."""
    if explicit and explicit.strip():
        return explicit.strip()
    github = os.environ.get("GITHUB_ACTOR", "").strip()
    if github:
        return github
    email = _git(["config", "user.email"])
    if email:
        return email
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def policy_commit(repo_dir: Path) -> str | None:
    """The policy repository's HEAD commit, with ``-dirty`` when it has changes; None outside git."""
    head = _git(["rev-parse", "HEAD"], cwd=repo_dir)
    if not head:
        return None
    status = _git(["status", "--porcelain"], cwd=repo_dir)
    return f"{head}-dirty" if status else head
