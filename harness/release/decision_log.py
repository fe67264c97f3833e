"""The tamper-evident decision log: an append-only, hash-chained JSON Lines file.

Each line is the canonical JSON of one entry. An entry carries ``seq`` (1-based), ``time``
(ISO 8601 UTC), ``prev`` (the sha256 of the previous line, 64 zeros for the first) and
``hash`` (the sha256 of the canonical JSON of the entry without ``hash``). Editing,
deleting, inserting or reordering lines breaks the chain, and :func:`verify_log` names the
first line where it breaks. Appends are serialised with a lock file next to the log.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import filelock

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import EnvError, InputError, Location, LockTimeout
from ..io.files import write_atomic

#: the ``prev`` of the first entry
GENESIS = "0" * 64
#: the entry kinds the harness writes
KINDS = ("gate", "promotion", "waiver", "rollback_step", "rollback", "manual_alias")
#: how long an append waits for another writer before giving up
LOCK_TIMEOUT_S = 60.0
#: fields the log itself sets; values a caller passes for them are replaced
_CHAIN_FIELDS = ("seq", "prev", "hash")


class LogTampered(InputError):
    """The chain is broken: an entry was edited, deleted, inserted, reordered or cut off (exit 4)."""


class DecisionLogError(EnvError):
    """The decision log cannot be read or appended to: missing, unreadable, or damaged at its end (exit 6)."""


class DecisionLogLockTimeout(DecisionLogError, LockTimeout):
    """Another process held the decision log's lock for too long."""


def canonical(obj: Mapping[str, Any]) -> str:
    """The canonical JSON text of ``obj``: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_hash(entry: Mapping[str, Any]) -> str:
    """The sha256 of the canonical JSON of ``entry`` without its ``hash`` field."""
    return _sha256(canonical({k: v for k, v in entry.items() if k != "hash"}))


def sha256_line(entry: Mapping[str, Any]) -> str:
    """The sha256 of an entry's canonical line: what the next entry's ``prev`` holds."""
    return _sha256(canonical(entry))


def _check_line(raw: bytes, *, lineno: int, expected_seq: int, expected_prev: str, file: str) -> dict[str, Any]:
    """Parse and check one line against the chain so far; the parsed entry, or InputError."""
    where = Location(file=file, line=lineno)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise LogTampered("not UTF-8 text (corrupted line)", where) from None
    if not text.strip():
        raise LogTampered("blank line (the log is corrupted or was edited)", where)
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise LogTampered(f"not JSON (truncated or corrupted line): {exc}", where) from None
    if not isinstance(obj, dict):
        raise LogTampered(f"not a JSON object but {type(obj).__name__}", where)
    recorded = obj.get("hash")
    if not isinstance(recorded, str):
        raise LogTampered("entry has no hash (forged or corrupted line)", where)
    if recorded != entry_hash(obj):
        raise LogTampered("hash mismatch: the entry was edited after it was written", where)
    seq = obj.get("seq")
    if type(seq) is not int or seq != expected_seq:
        raise LogTampered(f"seq is {seq!r}, expected {expected_seq}: an entry was deleted, inserted or reordered",
                          where)
    if obj.get("prev") != expected_prev:
        raise LogTampered("prev does not match the previous entry: an entry was deleted, inserted or reordered",
                          where)
    return obj


def _iter_checked(path: Path) -> list[dict[str, Any]]:
    """Every entry of the log, checked in order; InputError at the first bad line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DecisionLogError("decision log not found (nothing has been recorded here yet, or it was removed)",
                               Location(file=str(path))) from None
    except OSError as exc:
        raise DecisionLogError(f"cannot read decision log: {exc.strerror or exc}", Location(file=str(path))) from None
    entries: list[dict[str, Any]] = []
    if not data:
        return entries
    lines = data.split(b"\n")
    complete = lines[:-1]
    if lines[-1]:
        # the last line has no newline: a write was cut short
        complete = lines
    prev = GENESIS
    for index, raw in enumerate(complete, start=1):
        entry = _check_line(raw, lineno=index, expected_seq=index, expected_prev=prev, file=str(path))
        if index == len(complete) and lines[-1]:
            raise LogTampered("last line is not terminated (truncated write)", Location(file=str(path), line=index))
        entries.append(entry)
        prev = sha256_line(entry)
    return entries


def head_path(path: Path) -> Path:
    """The sidecar holding the newest entry's seq and hash: cutting entries off the end shows against it."""
    return path.with_name(path.name + ".head")


def verify_log(path: Path) -> int:
    """Check the whole chain; the number of entries. InputError names the first bad line and why.

    A chain alone cannot show that its last entries were cut off, so every append also
    records the newest entry in ``<log>.head``; a log shorter than that record is an error.
    """
    entries = _iter_checked(path)
    head = head_path(path)
    if head.exists():
        try:
            recorded = json.loads(head.read_text(encoding="utf-8"))
            seq, digest = int(recorded["seq"]), str(recorded["hash"])
        except (ValueError, KeyError, TypeError):
            raise LogTampered("unreadable head record", Location(file=str(head))) from None
        if seq > len(entries):
            raise LogTampered(f"entries {len(entries) + 1} to {seq} were deleted from the end of the log"
                             f" ({head.name} records {seq} entries)", Location(file=str(path), line=len(entries) + 1))
        if seq == len(entries) and entries and entries[-1].get("hash") != digest:
            raise LogTampered(f"the last entry was replaced (it does not match {head.name})",
                             Location(file=str(path), line=seq))
    return len(entries)


def read_log(path: Path, *, model: str | None = None) -> list[dict[str, Any]]:
    """The entries of a verified log, oldest first, optionally only those of ``model``.

    A log that does not exist yet holds no decisions: the result is empty.
    """
    if not path.exists():
        return []
    entries = _iter_checked(path)
    if model is not None:
        entries = [e for e in entries if e.get("model") == model]
    return entries


def _tail(path: Path) -> tuple[bytes | None, bool]:
    """The last line of the file (without its newline), None if empty, and whether it ended with one."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return None, True
        handle.seek(size - 1)
        terminated = handle.read(1) == b"\n"
        pos = size - 1 if terminated else size
        buf = b""
        while pos > 0:
            step = min(8192, pos)
            pos -= step
            handle.seek(pos)
            buf = handle.read(step) + buf
            cut = buf.rfind(b"\n")
            if cut != -1:
                return buf[cut + 1 :], terminated
        return buf, terminated


def _count_lines(path: Path) -> int:
    count = 0
    last = b"\n"
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (0 if last == b"\n" else 1)


def append_entry(path: Path, entry: Mapping[str, Any], *, clock: Clock = SYSTEM_CLOCK) -> dict[str, Any]:
    """Append ``entry`` to the log, chained to the last one; the full entry as written.

    The last entry is checked before appending: a corrupted tail is an error, never chained.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S)
        with lock:
            return _append_locked(path, entry, clock)
    except filelock.Timeout:
        raise DecisionLogLockTimeout(f"another process held the decision log lock for {LOCK_TIMEOUT_S:g} s",
                                     Location(file=str(path))) from None
    except OSError as exc:
        raise DecisionLogError(f"cannot write the decision log: {exc.strerror or exc}",
                               Location(file=str(path))) from None


def _check_head(path: Path, last_seq: int) -> None:
    """Refuse to append to a log that lost entries its head record remembers: appending would hide the loss."""
    head = head_path(path)
    if not head.exists():
        return
    try:
        recorded = json.loads(head.read_text(encoding="utf-8"))
        seq = recorded["seq"]
        if type(seq) is not int or seq < 0:
            raise ValueError(seq)
    except (OSError, ValueError, KeyError, TypeError):
        raise DecisionLogError("unreadable head record; refusing to append (run `harness log verify`)",
                               Location(file=str(head))) from None
    if seq > last_seq:
        missing = "the log is missing" if last_seq == 0 else f"the log ends at entry {last_seq}"
        raise DecisionLogError(f"{missing} but {head.name} records {seq} entries: entries were removed; refusing to"
                               " append (run `harness log verify`)", Location(file=str(path)))


def _append_locked(path: Path, entry: Mapping[str, Any], clock: Clock) -> dict[str, Any]:
    seq, prev = 1, GENESIS
    created = not path.exists()
    if not created:
        last, terminated = _tail(path)
        if last is not None:
            lineno = _count_lines(path)
            where = Location(file=str(path), line=lineno)
            if not terminated:
                raise DecisionLogError("last line is not terminated (truncated write); refusing to append", where)
            try:
                obj = json.loads(last.decode("utf-8"))
            except ValueError:
                raise DecisionLogError("last line is not JSON (corrupted); refusing to append", where) from None
            if not isinstance(obj, dict) or obj.get("hash") != entry_hash(obj):
                raise DecisionLogError("last entry fails its hash check (edited); refusing to append", where)
            if type(obj.get("seq")) is not int:
                raise DecisionLogError("last entry has no integer seq; refusing to append", where)
            seq = obj["seq"] + 1
            prev = sha256_line(obj)
    _check_head(path, seq - 1)
    record: dict[str, Any] = {k: v for k, v in entry.items() if k not in _CHAIN_FIELDS}
    record.setdefault("time", clock.timestamp())
    record["seq"] = seq
    record["prev"] = prev
    try:
        record["hash"] = entry_hash(record)
        line = canonical(record)
    except (TypeError, ValueError) as exc:
        raise InputError(f"audit entry is not JSON-serialisable: {exc}") from None
    full: dict[str, Any] = json.loads(line)
    if full["hash"] != entry_hash(full):
        # e.g. non-string keys that JSON turns into strings: hash what is read back
        full["hash"] = entry_hash(full)
        line = canonical(full)
    with open(path, "ab") as handle:
        handle.write(line.encode("utf-8") + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        _fsync_dir(path.parent)
    write_atomic(head_path(path), json.dumps({"seq": full["seq"], "hash": full["hash"]}) + "\n")
    return full


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
