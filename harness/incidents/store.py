"""Reading and appending to incident records, atomically."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import InputError, Location
from ..io.files import write_atomic
from ..io.yaml import load_yaml

INCIDENT_ID = re.compile(r"^INC-[0-9]{4}-[0-9]{4}$")


def incident_path(directory: Path, incident: str) -> Path:
    """The record of an incident id; ``InputError`` for anything that is not an id (no path tricks)."""
    if not INCIDENT_ID.match(incident):
        raise InputError(f"--incident {incident!r}: expected an id like INC-2026-0001")
    return directory / f"{incident}.yaml"


def check_incident(directory: Path, incident: str) -> Path:
    """The record's path; ``InputError`` when the id is malformed or has no record."""
    path = incident_path(directory, incident)
    if not path.is_file():
        raise InputError(f"unknown incident {incident!r}: no record in {directory}")
    return path


def append_event(directory: Path, incident: str, event: Mapping[str, Any], *, clock: Clock = SYSTEM_CLOCK) -> str:
    """Add a timestamped event to an incident's ``events`` once (an event with the same ``rollback`` is kept)."""
    import yaml

    path = check_incident(directory, incident)
    record = load_yaml(path).data or {}  # as every YAML file: no aliases, no tags, UTF-8 only (file:line errors)
    text = path.read_text(encoding="utf-8")
    if not isinstance(record, dict):
        raise InputError("the incident record is not a mapping", Location(str(path)))
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    events = list(record.get("events") or [])
    key = event.get("rollback")
    if key is not None and any(e.get("rollback") == key for e in events if isinstance(e, dict)):
        return f"incident {incident} already has this event"
    events.append({"at": clock.timestamp(), **event})
    record["events"] = events
    write_atomic(path, header + yaml.safe_dump(record, sort_keys=False, allow_unicode=True))
    return f"event added to {path}"
