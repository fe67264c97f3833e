"""Who acts and on what: the actor of a recorded decision and the policy repository's commit."""

from __future__ import annotations

import getpass
import os
import subprocess
import unicodedata
from pathlib import Path

from ..errors import InputError

_GIT_TIMEOUT_S = 10.0
#: the longest actor recorded (an e-mail address is at most 254 characters)
ACTOR_MAX = 256
#: control and format characters (bidi controls, zero-width), line and paragraph separators, lone surrogates
_REFUSED = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


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


def actor_problem(actor: str) -> str | None:
    """What is wrong with ``actor`` as a recorded name (a line break, a control character, its length); else None.

    The actor goes into the decision log and the registry's reasons as it is: a line break
    there could forge an entry for whoever reads them.
    """
    text = actor.strip()
    bad = next((ch for ch in text if unicodedata.category(ch) in _REFUSED), None)
    if bad is not None:
        shown = repr(text if len(text) <= 60 else text[:60] + "...")
        return (f"the actor {shown} contains U+{ord(bad):04X} (a line break or control character); expected a name"
                " or an e-mail address on one line")
    if len(text) > ACTOR_MAX:
        return f"the actor is {len(text)} characters long; expected at most {ACTOR_MAX}"
    return None


def check_actor(actor: str, source: str) -> str:
    """``actor`` stripped, or an ``InputError`` (exit 4) naming ``source`` (``--by``, ``$GITHUB_ACTOR``...)."""
    problem = actor_problem(actor)
    if problem is not None:
        raise InputError(f"{source}: {problem}")
    return actor.strip()


def current_actor(explicit: str | None = None) -> str:
    """Who is acting: ``--by``, else ``$GITHUB_ACTOR``, else git's user.email, else the OS user.

    Whichever is used is checked with :func:`actor_problem`; a bad one is an ``InputError``
    naming where it came from, never a fall-through to the next.
    """
    if explicit and explicit.strip():
        return check_actor(explicit, "--by")
    github = os.environ.get("GITHUB_ACTOR", "").strip()
    if github:
        return check_actor(github, "$GITHUB_ACTOR")
    email = _git(["config", "user.email"])
    if email:
        return check_actor(email, "git config user.email")
    try:
        login = getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
    return check_actor(login, "the login name ($LOGNAME, $USER or the password database)")


def policy_commit(repo_dir: Path) -> str | None:
    """The policy repository's HEAD commit, with ``-dirty`` when it has changes; None outside git."""
    head = _git(["rev-parse", "HEAD"], cwd=repo_dir)
    if not head:
        return None
    status = _git(["status", "--porcelain"], cwd=repo_dir)
    return f"{head}-dirty" if status else head
