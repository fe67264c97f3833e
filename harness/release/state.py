"""The progress of a rollback on disk: the live state file of an unfinished one, the archive of finished ones.

``<state_dir>/<model>.json`` holds the rollback in progress (steps done, with outcomes and
times); a finished one is kept as ``<model>.<id>.done.json``. The archive is written before
the live file is removed, so no kill loses a finished rollback's record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EnvError, InputError, Location
from ..io.files import write_atomic
from ..model import ReleaseSettings
from .registry import safe_name

STEPS = ("verify", "trigger", "notify", "validate", "document")


class RollbackError(InputError):
    """The rollback cannot start (no last-known-good version, a blocked target, an unknown incident)."""


class RollbackStateError(EnvError):
    """The rollback's state file cannot be written (a read-only or full state folder): exit 6."""


@dataclass
class State:
    """The progress of one rollback, kept on disk until it is done."""

    id: str
    model: str
    alias: str
    from_version: str | None
    to_version: str
    forced: bool
    reason: str
    incident: str | None
    started_at: str
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: str = "in_progress"  # in_progress | failed | unhealthy | done
    #: why a version tagged blocked was taken anyway (``--force``); empty when it was not blocked
    override: str = ""
    #: the seq of the ``rollback`` entry in the decision log, once it is written
    done_entry: int | None = None

    def next_step(self) -> str | None:
        return next((s for s in STEPS if self.steps.get(s, {}).get("status") != "ok"), None)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def state_path(settings: ReleaseSettings, model: str) -> Path:
    """Where an unfinished rollback of ``model`` keeps its progress (``team/bot`` and ``team_bot`` differ)."""
    return settings.state_dir / f"{safe_name(model)}.json"


def load_state(settings: ReleaseSettings, model: str) -> State | None:
    path = state_path(settings, model)
    return _read_state(path) if path.exists() else None


def _read_state(path: Path) -> State:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        state = State(**data)
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
        raise RollbackError(f"unreadable rollback state ({exc}); inspect it, then delete it to start over",
                            Location(str(path))) from None
    except OSError as exc:
        raise RollbackStateError(f"cannot read the rollback state: {exc.strerror or exc}",
                                 Location(str(path))) from None
    if not isinstance(state.steps, dict) or not all(isinstance(v, dict) for v in state.steps.values()):
        raise RollbackError("unreadable rollback state ($.steps: expected an object of steps); inspect it, then"
                            " delete it to start over", Location(str(path)))
    return state


def _write_state(path: Path, state: State) -> None:
    try:
        write_atomic(path, json.dumps(state.to_json(), indent=2) + "\n")
    except OSError as exc:
        raise RollbackStateError(f"cannot save the rollback's progress: {exc.strerror or exc}",
                                 Location(str(path))) from None


def save_state(settings: ReleaseSettings, state: State) -> None:
    _write_state(state_path(settings, state.model), state)


def archive_state(settings: ReleaseSettings, state: State) -> Path:
    """Keep a finished rollback as ``<model>.<id>.done.json``, then remove the live state file.

    The archive is written first: a run killed in between leaves both, and the next run of the
    model archives again (the same content) before it starts anything new.
    """
    done = done_path(settings, state.model, state.id)
    _write_state(done, state)
    try:
        state_path(settings, state.model).unlink(missing_ok=True)
    except OSError as exc:
        raise RollbackStateError(f"cannot remove the finished rollback's state: {exc.strerror or exc}",
                                 Location(str(state_path(settings, state.model)))) from None
    return done


def archive_finished(settings: ReleaseSettings, model: str) -> None:
    """A live state file that says ``done`` (a run killed before archiving it) is archived, never overwritten."""
    existing = load_state(settings, model)
    if existing is not None and existing.status == "done":
        archive_state(settings, existing)


def done_path(settings: ReleaseSettings, model: str, rollback_id: str) -> Path:
    """Where a finished rollback is kept: next to the live state file, named by its id."""
    path = state_path(settings, model)
    return settings.state_dir / f"{path.stem}.{rollback_id}.done.json"
