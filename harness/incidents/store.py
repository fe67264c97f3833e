"""The incident store: ``incidents/INC-YYYY-NNNN.yaml`` records, their ``.events.jsonl`` and evidence vaults.

Reading validates both files against their schemas (``incident``, ``incident-event``) and
replays the events through the lifecycle; every problem names its file, line and field.
Writing holds the incident's lock (``.INC-YYYY-NNNN.lock`` in the folder), re-reads the
record under it, checks the new events against the state as it is then, and replaces the
events file atomically: a process killed mid-write leaves the previous file whole, and two
commands on one incident both land, one after the other. The record people write is only
ever written once, when ``open`` creates it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import re
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock, format_timestamp, parse_timestamp
from ..errors import InputError, InputErrors, Location
from ..io.files import _umask, write_atomic
from ..io.schema import schema_errors, validator
from ..io.yaml import YamlDocument, load_yaml
from .model import Event, Incident, Record, event_from_json, fold

INCIDENT_ID = re.compile(r"\AINC-[0-9]{4}-[0-9]{4}\Z")  # \Z: no trailing newline slips through
EVENTS_SUFFIX = ".events.jsonl"
#: how long a command waits for another one writing the same incident
LOCK_TIMEOUT_S = 30.0
#: the largest events file read (a record grows by a few hundred bytes an event)
MAX_EVENTS_BYTES = 16 * 1024 * 1024


def check_id(incident: str, option: str = "incident id") -> str:
    """``incident`` when it is an id like INC-2026-0001; ``InputError`` for anything else (no path tricks)."""
    if not isinstance(incident, str) or not INCIDENT_ID.match(incident):
        raise InputError(f"{option} {incident!r}: expected an id like INC-2026-0001")
    return incident


def incident_path(directory: Path, incident: str) -> Path:
    """The record of an incident id; ``InputError`` for anything that is not an id."""
    return Path(directory) / f"{check_id(incident, '--incident')}.yaml"


def check_incident(directory: Path, incident: str) -> Path:
    """The record's path; ``InputError`` when the id is malformed or has no record."""
    path = incident_path(directory, incident)
    if not path.is_file():
        raise InputError(f"unknown incident {incident!r}: no record in {directory}")
    return path


def read_record(path: Path) -> Record:
    """The human-written record, schema-checked; its id must be its file name's."""
    _regular(path)
    document = load_yaml(path)
    InputErrors.raise_if_any([*document.problems, *schema_errors(document, "incident")])
    InputErrors.raise_if_any(_time_errors(document))
    data = document.data
    if data["id"] != path.name.removesuffix(".yaml"):
        raise InputError(f"id {data['id']!r} does not match the file name; expected {path.stem!r}",
                         document.locate(("id",)))
    try:
        return Record.from_data(data, path)
    except ValueError as exc:
        raise InputError(str(exc), Location(str(path))) from None


def _time_errors(document: YamlDocument) -> list[InputError]:
    """The record's times that match the pattern but are no moment (month 13, February 30), each at its line."""
    found = []
    for key in ("detected", "became_aware"):
        value = document.data.get(key)
        if isinstance(value, str):
            try:
                parse_timestamp(value)
            except ValueError as exc:
                found.append(InputError(f"{value!r} is not a valid time ({exc}); expected a UTC time like"
                                        " 2026-03-09T15:42:00Z", document.locate((key,))))
    return found


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice")
        out[key] = value
    return out


def _regular(path: Path) -> bool:
    """Whether ``path`` exists; ``InputError`` when it is a symbolic link or not a regular file (a FIFO would block
    a reader, a link to /dev/null would swallow every write)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        raise InputError("a symbolic link or not a regular file; an incident's files are plain files",
                         Location(str(path)))
    return True


@functools.cache
def _fast_event_check() -> Any:
    """fastjsonschema's twin of the event schema (the quick yes of every line read); jsonschema explains a no."""
    from ..io.json_schema import fast_validator
    from ..io.schema import load_schema

    return fast_validator({k: v for k, v in load_schema("incident-event").items() if k not in ("$id", "$schema")})


def _passes(fast: Any, data: Any) -> bool:
    if fast is None:
        return False
    try:
        fast(data)
    except Exception:  # fastjsonschema's JsonSchemaException: let jsonschema say what is wrong
        return False
    return True


def read_events(path: Path) -> list[Event]:
    """The events of one incident, each line schema-checked; an absent file is no events."""
    if not _regular(path):
        return []
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(MAX_EVENTS_BYTES + 1)
    if len(raw) > MAX_EVENTS_BYTES:
        raise InputError(f"larger than {MAX_EVENTS_BYTES} bytes; expected an events file", Location(str(path)))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 at byte {exc.start}", Location(str(path))) from None
    events, problems = [], []
    check = validator("incident-event")
    fast = _fast_event_check()
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line, object_pairs_hook=_unique)
        except (ValueError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            problems.append(InputError(f"not a JSON object: {reason}", Location(str(path), number)))
            continue
        errors = [] if isinstance(data, dict) and _passes(fast, data) else \
            sorted(check.iter_errors(data), key=lambda e: list(e.absolute_path)) if isinstance(data, dict) else None
        if errors is None:
            problems.append(InputError("expected a JSON object", Location(str(path), number)))
        elif errors:
            for error in errors:
                where = "$" + "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in error.absolute_path)
                problems.append(InputError(error.message, Location(str(path), number, None, where)))
        else:
            try:
                events.append(event_from_json(data, number))
            except ValueError as exc:
                problems.append(InputError(str(exc), Location(str(path), number, None, "$.at")))
    InputErrors.raise_if_any(problems)
    return events


class IncidentStore:
    """The incidents of one folder."""

    def __init__(self, directory: Path | str = "incidents", *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.directory = Path(directory)
        self.clock = clock

    def record_path(self, incident: str) -> Path:
        return self.directory / f"{check_id(incident)}.yaml"

    def events_path(self, incident: str) -> Path:
        return self.directory / f"{check_id(incident)}{EVENTS_SUFFIX}"

    def vault(self, incident: str) -> Path:
        """The incident's evidence vault: ``evidence/INC-YYYY-NNNN/<sha256>``, files read-only."""
        return self.directory / "evidence" / check_id(incident)

    def ids(self) -> list[str]:
        """Every incident id with a record, in order."""
        if not self.directory.is_dir():
            return []
        return sorted(p.name.removesuffix(".yaml") for p in self.directory.glob("INC-*.yaml")
                      if INCIDENT_ID.match(p.name.removesuffix(".yaml")))

    def load(self, incident: str) -> Incident:
        """One incident; ``InputError`` for an unknown id or a record or events file with problems."""
        path = self.record_path(incident)
        if not path.is_file():
            known = self.ids()
            hint = f" (known: {', '.join(known[-5:])}{'...' if len(known) > 5 else ''})" if known else ""
            raise InputError(f"unknown incident {incident!r}: no record {path}{hint}")
        record = read_record(path)
        events_path = self.events_path(incident)
        return fold(record, read_events(events_path), events_path)

    def load_all(self) -> tuple[list[Incident], list[InputError]]:
        """Every incident that reads cleanly, and the problems of the others.

        ``InputError`` when the folder does not exist: a mistyped ``--incidents`` must not read as "no incidents"
        (a scheduled ``clocks --fail-on-breach`` would pass).
        """
        if not self.directory.is_dir():
            raise InputError(f"no incidents folder {self.directory} (a folder of INC-YYYY-NNNN.yaml records);"
                             " check --incidents")
        found: list[Incident] = []
        problems: list[InputError] = []
        for incident in self.ids():
            try:
                found.append(self.load(incident))
            except InputErrors as exc:
                problems.extend(exc.errors)
            except InputError as exc:
                problems.append(exc)
        return found, problems

    def _locked(self, name: str, wait_s: float = LOCK_TIMEOUT_S) -> contextlib.AbstractContextManager[None]:
        from ..io.locks import held

        return held(self.directory / f".{name}.lock", name, timeout_s=wait_s)

    def create(self, data: Mapping[str, Any], *, header: str = "") -> Incident:
        """Write a new record with the next free ``INC-<year of detection>-NNNN``; the new incident.

        Ids are allocated under the folder's lock and the file is linked into place only if the
        name is free, so two concurrent opens never share an id.
        """
        detected = data.get("detected")
        try:
            year = f"{parse_timestamp(detected).year:04d}" if isinstance(detected, str) else ""
        except ValueError:
            year = ""
        if not year:
            raise InputError(f"detected {detected!r}: expected a UTC time like 2026-03-09T15:42:00Z",
                             Location(json_path="$.detected"))
        with self._locked(f"new-{year}"):
            taken = [int(i[9:]) for i in self.ids() if i[4:8] == year]
            number = max(taken, default=0) + 1
            while True:
                if number > 9999:
                    raise InputError(f"no incident id left for {year}: INC-{year}-9999 is taken")
                incident = f"INC-{year}-{number:04d}"
                path = self.record_path(incident)
                text = header + _dump_record({"id": incident, **{k: v for k, v in data.items() if k != "id"}})
                _check_record_text(text, path)
                try:
                    _write_new(path, text)
                except FileExistsError:
                    number += 1
                    continue
                return self.load(incident)

    @contextlib.contextmanager
    def transaction(self, incident: str, *, wait_s: float = LOCK_TIMEOUT_S) -> Iterator[Transaction]:
        """The incident under its lock, to check a step against and append its events.

        ``wait_s``: how long to wait for another command on the same incident (a step that runs a hook holds
        the lock while it runs, so a caller waits at least as long as the longest hook may take).
        """
        if not self.record_path(incident).is_file():
            self.load(incident)  # an unknown id: refused (naming the known ones) before any lock file is made
        with self._locked(check_id(incident), wait_s):
            yield Transaction(self, self.load(incident))


class Transaction:
    """One command's change of one incident: read under the lock, appended once."""

    def __init__(self, store: IncidentStore, incident: Incident) -> None:
        self.store = store
        self.incident = incident

    def event(self, kind: str, *, by: str, at: dt.datetime | None = None, **fields: Any) -> dict[str, Any]:
        """A new event's JSON: the next number, its time (``at`` or now) and the time it was recorded."""
        now = self.store.clock.now()
        moment = now if at is None else at
        if moment > now + dt.timedelta(seconds=1):
            raise InputError(f"--at {format_timestamp(moment)} is in the future (now: {format_timestamp(now)})")
        reserved = {"seq", "type", "at", "recorded_at", "by"} & set(fields)
        if reserved:
            raise ValueError(f"event fields {sorted(reserved)} are set by the store, not by a step")
        return {"seq": 0, "type": kind, "at": format_timestamp(moment), "recorded_at": format_timestamp(now),
                "by": by, **{k: v for k, v in fields.items() if v is not None and v != [] and v != {}}}

    def append(self, *events: Mapping[str, Any]) -> Incident:
        """Append ``events`` (numbered here); the new state. Nothing is written if any is refused."""
        path = self.store.events_path(self.incident.id)
        lines, new = [], []
        seq = len(self.incident.events)
        check = validator("incident-event")
        for raw in events:
            seq += 1
            data = {**raw, "seq": seq}
            errors = list(check.iter_errors(data))
            if errors:
                error = errors[0]
                where = ".".join(str(p) for p in error.absolute_path) or "the event"
                message = (f"{where}: longer than {error.validator_value} characters" if error.validator == "maxLength"
                           else f"{where}: {error.message[:300]}")
                raise InputError(f"{data['type']} event: {message}", Location(str(path)))
            try:
                new.append(event_from_json(data, 0))
            except ValueError as exc:
                raise InputError(f"{data['type']} event: {exc}", Location(str(path), None, None, "$.at")) from None
            lines.append(json.dumps(data, ensure_ascii=False, sort_keys=False))
        incident = fold(self.incident.record, [*self.incident.events, *new], path)
        existing = path.read_bytes() if _regular(path) else b""
        if existing and not existing.endswith(b"\n"):
            existing += b"\n"
        added = ("\n".join(lines) + "\n").encode("utf-8")
        if len(existing) + len(added) > MAX_EVENTS_BYTES:
            raise InputError(f"{self.incident.id}: the events file would grow past {MAX_EVENTS_BYTES >> 20} MiB, the"
                             " most an incident is read with; nothing recorded (keep long text in evidence files)",
                             Location(str(path)))
        write_atomic(path, existing + added)
        self.incident = incident
        return incident


def _dump_record(data: Mapping[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, width=100)


def _check_record_text(text: str, path: Path) -> None:
    from ..io.yaml import parse_yaml

    document = parse_yaml(text, str(path))
    InputErrors.raise_if_any([*document.problems, *schema_errors(document, "incident")])
    InputErrors.raise_if_any(_time_errors(document))


def _write_new(path: Path, text: str) -> None:
    """Write ``path`` whole, only if it does not exist yet (``FileExistsError`` otherwise)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide the record from everyone but its writer
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)  # fails if the name is taken: never over another record
    finally:
        Path(tmp).unlink(missing_ok=True)


def append_event(directory: Path, incident: str, event: Mapping[str, Any], *, clock: Clock = SYSTEM_CLOCK,
                 by: str = "harness") -> str:
    """Record a rollback in an incident (step 5 of the rollback procedure) once per rollback id."""
    store = IncidentStore(directory, clock=clock)
    with store.transaction(incident) as tx:
        key = event.get("rollback")
        if key is not None and any(e.get("rollback") == key for e in tx.incident.of_type("rollback")):
            return f"incident {incident} already has this rollback"
        tx.append(tx.event("rollback", by=str(event.get("by") or by),
                           **{k: v for k, v in event.items() if k not in ("kind", "summary", "by")}))
    return f"rollback recorded in {store.events_path(incident)}"

