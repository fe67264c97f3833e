"""The progress of a rollback on disk: the live state file of an unfinished one, the archive of finished ones.

``<state_dir>/<model>.json`` holds the rollback in progress (steps done, with outcomes and
times); a finished one is kept as ``<model>.<id>.done.json``. The archive is written before
the live file is removed, so no kill loses a finished rollback's record.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EnvError, InputError, Location
from ..io.files import write_atomic
from ..model import ReleaseSettings
from .registry import check_name, safe_name

STEPS = ("verify", "trigger", "notify", "validate", "document")
STATUSES = ("in_progress", "failed", "unhealthy", "done")
#: a rollback id: it names the archive file, so nothing else is ever taken for one
ROLLBACK_ID = re.compile(r"[0-9a-f]{12}")


class RollbackError(InputError):
    """The rollback cannot start (no last-known-good version, a blocked target, an unknown incident)."""


class RollbackStateError(EnvError):
    """The rollback's state file cannot be written (a read-only or full state folder): exit 6."""


@dataclass(frozen=True)
class State:
    """The progress of one rollback, kept on disk until it is done; each change is a new record."""

    id: str
    model: str
    alias: str
    from_version: str | None
    to_version: str
    forced: bool
    reason: str
    incident: str | None
    started_at: str
    #: per step: its status, times and detail, and what it must remember when resumed
    steps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    status: str = "in_progress"  # in_progress | failed | unhealthy | done
    #: why a version tagged blocked was taken anyway (``--force``); empty when it was not blocked
    override: str = ""
    #: the seq of the ``rollback`` entry in the decision log, once it is written
    done_entry: int | None = None

    def next_step(self) -> str | None:
        return next((s for s in STEPS if self.steps.get(s, {}).get("status") != "ok"), None)

    def with_step(self, step: str, record: Mapping[str, Any], *, status: str | None = None) -> State:
        """This state with ``step``'s record replaced (and the rollback's status, when given)."""
        return dataclasses.replace(self, steps={**self.steps, step: dict(record)},
                                   status=self.status if status is None else status)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def state_path(settings: ReleaseSettings, model: str) -> Path:
    """Where an unfinished rollback of ``model`` keeps its progress (``team/bot`` and ``team_bot`` differ)."""
    return settings.state_dir / f"{safe_name(model)}.json"


def load_state(settings: ReleaseSettings, model: str) -> State | None:
    path = state_path(settings, model)
    if not path.exists():
        return None
    state = read_state(path)
    if state.model != model:
        raise _unreadable(path, "$.model", f"the state of {state.model!r} in the file of {model!r}")
    return state


def read_state(path: Path) -> State:
    """A rollback's state as saved; ``RollbackError`` (exit 4) naming the file and the field when it is not one.

    The id names the archive file and the versions go back to the registry, so both are checked as
    when they were first given: a state file edited to ``"id": "../x"`` cannot write outside the
    state folder.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _unreadable(path, None, f"not JSON ({exc})") from None
    except OSError as exc:
        raise RollbackStateError(f"cannot read the rollback state: {exc.strerror or exc}",
                                 Location(str(path))) from None
    if not isinstance(data, dict):
        raise _unreadable(path, "$", f"expected an object, got {_kind(data)}")
    fields = {f.name: f for f in dataclasses.fields(State)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise _unreadable(path, f"$.{unknown[0]}", "not a field of a rollback state")
    missing = [n for n, f in fields.items() if n not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise _unreadable(path, f"$.{missing[0]}", "missing")
    for name, value in data.items():
        problem = _FIELD_CHECKS[name](value)
        if problem:
            raise _unreadable(path, f"$.{name}", problem)
    return State(**data)


def _unreadable(path: Path, json_path: str | None, problem: str) -> RollbackError:
    return RollbackError(f"unreadable rollback state: {problem}; inspect it, then delete it to start over",
                         Location(str(path), json_path=json_path))


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


FieldCheck = Callable[[object], str]  # what is wrong with a field's value; "" when nothing


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _name(what: str, *, nullable: bool = False) -> FieldCheck:
    def check(value: object) -> str:
        if value is None and nullable:
            return ""
        try:
            check_name(value, what=what, source=what)
        except InputError:
            return f"expected a {what}{' or null' if nullable else ''} of the documented form, got {_shown(value)}"
        return ""

    return check


def _rollback_id(value: object) -> str:
    if isinstance(value, str) and ROLLBACK_ID.fullmatch(value):
        return ""
    return f"expected a rollback id (12 hexadecimal digits), got {_shown(value)}"


def _of_type(kinds: tuple[type, ...], expected: str) -> FieldCheck:
    def check(value: object) -> str:
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        return "" if ok else f"expected {expected}, got {_kind(value)}"

    return check


def _steps(value: object) -> str:
    if isinstance(value, dict) and all(k in STEPS and isinstance(v, dict) for k, v in value.items()):
        return ""
    return f"expected an object of steps ({', '.join(STEPS)}), each an object"


def _status(value: object) -> str:
    return "" if value in STATUSES else f"expected one of {', '.join(STATUSES)}, got {_shown(value)}"


_FIELD_CHECKS: Mapping[str, FieldCheck] = {
    "id": _rollback_id,
    "model": _name("model name"),
    "alias": _name("alias"),
    "from_version": _name("version", nullable=True),
    "to_version": _name("version"),
    "forced": _of_type((bool,), "true or false"),
    "reason": _of_type((str,), "a string"),
    "incident": _of_type((str, type(None)), "a string or null"),
    "started_at": _of_type((str,), "a string"),
    "steps": _steps,
    "status": _status,
    "override": _of_type((str,), "a string"),
    "done_entry": _of_type((int, type(None)), "an entry number or null"),
}


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
    if not ROLLBACK_ID.fullmatch(rollback_id):  # it is part of a file name
        raise RollbackError(f"{rollback_id!r} is not a rollback id (12 hexadecimal digits)")
    path = state_path(settings, model)
    return settings.state_dir / f"{path.stem}.{rollback_id}.done.json"
