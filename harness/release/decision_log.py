"""The tamper-evident decision log: an append-only, hash-chained JSON Lines file.

Each line is the canonical JSON of one entry. An entry carries ``seq`` (1-based), ``time``
(ISO 8601 UTC), ``prev`` (the sha256 of the previous line, 64 zeros for the first) and
``hash`` (the sha256 of the canonical JSON of the entry without ``hash``). Editing,
deleting, inserting or reordering lines breaks the chain, and :func:`verify_log` names the
first line where it breaks. The bytes are checked, not only the parsed entry: a line must be
exactly the canonical JSON of its entry, so a duplicate key (``"verdict":"block",…,"verdict":
"promote"``), a re-ordered key or an added space is an edit even when it parses to the same
entry. Logs written before this check was added hold only canonical lines and still verify.
Appends are serialised with a lock file next to the log.

An entry may carry a ``sig`` (an Ed25519 signature of its ``hash``, see :mod:`.signing`). The
``hash`` covers every field but ``hash`` and ``sig``; the next entry's ``prev`` covers the whole
line, signature included, so removing or replacing a signature breaks the chain after it. Logs
without signatures hash exactly as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import filelock

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import EnvError, InputError, Location, LockTimeout
from ..io.files import read_regular, sync_directory, write_atomic, write_refusal

#: the ``prev`` of the first entry
GENESIS = "0" * 64
#: the entry kinds the harness writes (``alias_move``: the intent before an alias move and its outcome after)
KINDS = ("gate", "promotion", "waiver", "rollback_step", "rollback", "manual_alias", "alias_move")
#: how long an append waits for another writer before giving up
LOCK_TIMEOUT_S = 60.0
#: fields the log itself sets; values a caller passes for them are replaced
_CHAIN_FIELDS = ("seq", "prev", "hash", "sig")
#: the fields an entry's ``hash`` does not cover: itself, and the signature of it
_UNHASHED = ("hash", "sig")
#: a head record's seq at or above this is not a count of entries (an overflowing ``.head``)
MAX_SEQ = 2**53


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
    """The sha256 of the canonical JSON of ``entry`` without its ``hash`` and ``sig`` fields."""
    return _sha256(canonical({k: v for k, v in entry.items() if k not in _UNHASHED}))


def sha256_line(entry: Mapping[str, Any]) -> str:
    """The sha256 of an entry's canonical line: what the next entry's ``prev`` holds."""
    return _sha256(canonical(entry))


class MalformedLine(ValueError):
    """Why a line is not an entry as the log writes it (the caller says whether that is tampering)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise MalformedLine(f"duplicate key {key!r} (a second value hidden in the line)")
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise MalformedLine(f"{name} is not a JSON number")


def parse_line(raw: bytes) -> dict[str, Any]:
    """One line as the log wrote it: UTF-8, a JSON object without duplicate keys, its hash intact,
    and byte for byte the canonical JSON of that object; ``MalformedLine`` says what is wrong otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedLine("not UTF-8 text (corrupted line)") from None
    if not text.strip():
        raise MalformedLine("blank line (the log is corrupted or was edited)")
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except MalformedLine:
        raise
    except ValueError as exc:
        raise MalformedLine(f"not JSON (truncated or corrupted line): {exc}") from None
    if not isinstance(obj, dict):
        raise MalformedLine(f"not a JSON object but {type(obj).__name__}")
    recorded = obj.get("hash")
    if not isinstance(recorded, str):
        raise MalformedLine("entry has no hash (forged or corrupted line)")
    try:
        exact = canonical(obj).encode("utf-8")
    except (TypeError, ValueError):
        raise MalformedLine("not JSON the log can have written (corrupted line)") from None
    if recorded != entry_hash(obj):
        raise MalformedLine("hash mismatch: the entry was edited after it was written")
    if exact != raw:
        raise MalformedLine("the line is not byte for byte the entry its hash covers (keys re-ordered, spaces or"
                       " escapes changed): it was edited after it was written")
    return obj


def _check_line(raw: bytes, *, lineno: int, expected_seq: int, expected_prev: str, file: str) -> dict[str, Any]:
    """Parse and check one line against the chain so far; the parsed entry, or InputError."""
    where = Location(file=file, line=lineno)
    try:
        obj = parse_line(raw)
    except MalformedLine as exc:
        raise LogTampered(str(exc), where) from None
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
        data = read_regular(path)
    except FileNotFoundError:
        raise DecisionLogError("decision log not found (nothing has been recorded here yet, or it was removed)",
                               Location(file=str(path))) from None
    except IsADirectoryError:
        raise DecisionLogError("the decision log is a directory; expected a JSON Lines file",
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


def read_head(path: Path) -> tuple[int, str] | None:
    """The newest entry's seq and hash as ``<log>.head`` records them; None when there is no head record.

    A head record that cannot be read or is not ``{"seq": N, "hash": "<sha256>"}`` (a number too large
    for the log, a directory in its place) is a ``DecisionLogError``: the log's surroundings are damaged.
    """
    head = head_path(path)
    where = Location(file=str(head))
    expected = 'expected {"seq": <number of entries>, "hash": "<the last entry\'s hash>"}'
    try:
        text = head.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise DecisionLogError(f"the head record is a directory; {expected}", where) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise DecisionLogError(f"cannot read the head record ({reason}); {expected}", where) from None
    try:
        recorded = json.loads(text, parse_constant=_no_constant)
    except ValueError:
        raise DecisionLogError(f"unreadable head record (not JSON); {expected}", where) from None
    seq = recorded.get("seq") if isinstance(recorded, dict) else None
    digest = recorded.get("hash") if isinstance(recorded, dict) else None
    if type(seq) is not int or not 0 <= seq < MAX_SEQ or not isinstance(digest, str):
        raise DecisionLogError(f"unreadable head record (seq {seq!r}, hash {digest!r}); {expected}", where)
    return seq, digest


def verify_log(path: Path) -> int:
    """Check the whole chain; the number of entries. InputError names the first bad line and why.

    A chain alone cannot show that its last entries were cut off, so every append also
    records the newest entry in ``<log>.head``; a log shorter than that record is an error.
    """
    return len(verified_entries(path))


def verified_entries(path: Path) -> list[dict[str, Any]]:
    """The entries of the log once :func:`verify_log`'s checks pass (chain and head record), oldest first."""
    entries = _iter_checked(path)
    head = read_head(path)
    if head is not None:
        seq, digest = head
        name = head_path(path).name
        if seq > len(entries):
            raise LogTampered(f"entries {len(entries) + 1} to {seq} were deleted from the end of the log"
                              f" ({name} records {seq} entries)", Location(file=str(path), line=len(entries) + 1))
        if seq == len(entries) and entries and entries[-1].get("hash") != digest:
            raise LogTampered(f"the last entry was replaced (it does not match {name})",
                              Location(file=str(path), line=seq))
    return entries


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


#: signs an entry's ``hash``: the ``sig`` field to record with it
Signer = Callable[[str], Mapping[str, Any]]


class UnsignedAfterSigned(InputError):
    """An unsigned entry would follow a signed one: the log would read as tampered with (exit 4)."""


def append_entry(path: Path, entry: Mapping[str, Any], *, clock: Clock = SYSTEM_CLOCK,
                 signer: Signer | None = None) -> dict[str, Any]:
    """Append ``entry`` to the log, chained to the last one; the full entry as written.

    The last entry is checked before appending: a corrupted tail is an error, never chained.
    A log that is a directory, or a file nobody may write to, is refused (``DecisionLogError``).
    With a ``signer`` the entry carries its signature; without one, a log whose last entry is
    signed is refused (``UnsignedAfterSigned``): an unsigned entry there is what a forger writes.
    """
    _check_writable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S)
        with lock:
            return _append_locked(path, entry, clock, signer)
    except filelock.Timeout:
        raise DecisionLogLockTimeout(f"another process held the decision log lock for {LOCK_TIMEOUT_S:g} s",
                                     Location(file=str(path))) from None
    except OSError as exc:
        raise DecisionLogError(f"cannot write the decision log: {exc.strerror or exc}",
                               Location(file=str(path))) from None


def _check_writable(path: Path) -> None:
    """Refuse a log that is a directory or that its owner made read-only, even for root."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DecisionLogError(f"cannot reach the decision log: {exc.strerror or exc}",
                               Location(file=str(path))) from None
    if stat.S_ISDIR(info.st_mode):
        raise DecisionLogError("the decision log is a directory; expected a JSON Lines file (or a path where one"
                               " can be created)", Location(file=str(path)))
    refusal = write_refusal(path, info)
    if refusal:
        raise DecisionLogError(f"{refusal.replace('the file', 'the decision log')}; refusing to append: make it"
                               " writable, or point --decision-log at a writable file", Location(file=str(path)))


def _check_head(path: Path, last_seq: int) -> None:
    """Refuse to append to a log that lost entries its head record remembers: appending would hide the loss."""
    try:
        head = read_head(path)
    except DecisionLogError as exc:  # appending would hide what the head record recorded
        raise DecisionLogError(f"{exc.message}; refusing to append", exc.location) from None
    if head is None:
        return
    seq = head[0]
    if seq > last_seq:
        missing = "the log is missing" if last_seq == 0 else f"the log ends at entry {last_seq}"
        raise DecisionLogError(f"{missing} but {head_path(path).name} records {seq} entries: entries were removed;"
                               " refusing to append (run `harness log verify`)", Location(file=str(path)))


def check_unsigned_append(path: Path) -> None:
    """Refuse early what an unsigned append would refuse under the lock: the log's last entry is signed.

    A log that is missing, unreadable or damaged at its end is left for the append to report.
    """
    try:
        last, terminated = _tail(path)
    except OSError:
        return
    if last is None or not terminated:
        return
    try:
        obj = parse_line(last)
    except MalformedLine:
        return
    if obj.get("sig") is not None:
        seq = obj.get("seq")
        refuse_unsigned(path, seq if isinstance(seq, int) else _count_lines(path), obj["sig"])


def refuse_unsigned(path: Path, seq: int, sig: Any) -> None:
    """``UnsignedAfterSigned``: entry ``seq`` (the last) is signed and no signing key is configured."""
    key = sig.get("key") if isinstance(sig, Mapping) else None
    raise UnsignedAfterSigned(
        f"the decision log is signed (its last entry, {seq}, by the key sha256:{key}) and no signing key is"
        " configured: an unsigned entry after it would read as a forgery, so nothing was recorded; set"
        " HARNESS_SIGNING_KEY or HARNESS_SIGNING_KEY_FILE to the release key", Location(file=str(path), line=seq))


def _last_entry(path: Path) -> tuple[int, str, Any]:
    """The seq and the line hash the next entry chains to, and the last entry's ``sig``; a corrupted tail is refused."""
    last, terminated = _tail(path)
    if last is None:
        return 1, GENESIS, None
    def where() -> Location:  # counting the lines reads the whole log: only for an error
        return Location(file=str(path), line=_count_lines(path))

    if not terminated:
        raise DecisionLogError("last line is not terminated (truncated write); refusing to append", where())
    try:
        obj = parse_line(last)
    except MalformedLine as exc:
        raise DecisionLogError(f"last entry is damaged ({exc}); refusing to append", where()) from None
    if type(obj.get("seq")) is not int:
        raise DecisionLogError("last entry has no integer seq; refusing to append", where())
    return obj["seq"] + 1, sha256_line(obj), obj.get("sig")


def _append_locked(path: Path, entry: Mapping[str, Any], clock: Clock, signer: Signer | None) -> dict[str, Any]:
    created = not path.exists()
    seq, prev, last_sig = (1, GENESIS, None) if created else _last_entry(path)
    _check_head(path, seq - 1)
    if signer is None and last_sig is not None:
        refuse_unsigned(path, seq - 1, last_sig)
    record: dict[str, Any] = {k: v for k, v in entry.items() if k not in _CHAIN_FIELDS}
    record.setdefault("time", clock.timestamp())
    record["seq"] = seq
    record["prev"] = prev
    try:
        record["hash"] = entry_hash(record)
        line = canonical(record)
        full: dict[str, Any] = json.loads(line)
        if full["hash"] != entry_hash(full):
            # e.g. non-string keys that JSON turns into strings: hash what is read back
            full["hash"] = entry_hash(full)
            line = canonical(full)
        if signer is not None:
            full["sig"] = dict(signer(full["hash"]))
            line = canonical(full)
        data = line.encode("utf-8") + b"\n"
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError too: a lone surrogate from undecodable input
        raise InputError(f"audit entry is not JSON-serialisable UTF-8 text: {exc}") from None
    with open(path, "ab") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        sync_directory(path.parent)
    try:
        write_atomic(head_path(path), json.dumps({"seq": full["seq"], "hash": full["hash"]}) + "\n")
    except OSError as exc:
        raise DecisionLogError(f"entry {full['seq']} was appended but its head record could not be updated:"
                               f" {exc.strerror or exc}", Location(file=str(head_path(path)))) from None
    return full
