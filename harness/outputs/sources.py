"""Where outputs come from: JSON Lines, gzip- or zstd-compressed JSON Lines, Parquet; one file, a directory, a glob.

:func:`partitions` turns what the user passed to ``--outputs`` into :class:`Partition` s (one per
file, or byte ranges of a large plain JSONL file); a :class:`PartitionReader` streams one of
them as batches of records, on this machine or on a worker that opens it itself. Every format
is read through :class:`~harness.outputs.jsonl.RecordParser`, so every format is as strict
as JSON Lines, and every problem names the file and the line (or row). :func:`load_outputs`
reads a whole input into one :class:`~harness.model.Outputs`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import functools
import glob
import gzip
import hashlib
import itertools
import os
import stat
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, NamedTuple

from ..errors import InputError, InputErrors, Location
from ..model import OutputRecord, Outputs
from .jsonl import MAX_ERRORS, MAX_RECORD_BYTES, RecordParser, non_finite, paused_gc

FORMATS = ("jsonl", "gzip", "zstd", "parquet")
#: the names a directory's outputs files end with (in any letter case); others are not read
SUFFIXES = (".jsonl", ".ndjson", ".json", ".gz", ".zst", ".zstd", ".parquet", ".pq")
TARGETS = ("output", "case_id", "latency_ms", "model", "model_version", "input", "timestamp", "slice", "tags")
_REQUIRED = ("output", "case_id")
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"PAR1", "parquet"))
_BLOCK = 1 << 20  # bytes read (decompressed) at a time
_ZSTD_FEED = 1024  # compressed bytes given to zstd at a time: at most ~32 MiB come out of them
_FORM = "FIELD=PATH[,FIELD=PATH...], e.g. --map output=response.text,case_id=request_id"
_MAP_FORM = f"expected {_FORM}"
_EXTRA = "pip install 'ai-release-harness[formats]'"


@dataclass(frozen=True)
class FieldMap:
    """``--map output=response.text,case_id=request_id``: record field <- dotted path in the source object/row.

    A mapped field is taken from its path (a missing or null ``output`` or ``case_id`` is an
    error; another field is then absent); every other top-level field of the source is kept as is.
    """

    pairs: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def parse(cls, spec: str) -> FieldMap:
        """Read the option's text; an ``InputError`` names the item that is wrong and shows the expected form."""
        pairs: list[tuple[str, tuple[str, ...]]] = []
        if not spec.strip():
            raise InputError(f"--map: nothing to map; {_MAP_FORM}")
        for item in spec.split(","):
            item = item.strip()
            if not item:
                raise InputError(f"--map {spec!r}: an empty item (two commas in a row, or one at an end); {_MAP_FORM}")
            target, equals, path = (part.strip() for part in item.partition("="))
            if not equals:
                raise InputError(f"--map: {item!r} has no '='; {_MAP_FORM}")
            if target not in TARGETS:
                raise InputError(f"--map: {item!r} maps to {target!r}, which is not a record field; expected one of "
                                 f"{', '.join(TARGETS)} (form: {_FORM})")
            if not path:
                raise InputError(f"--map: {item!r} has no path after '='; {_MAP_FORM}")
            parts = tuple(path.split("."))
            if not all(parts):
                raise InputError(f"--map: {item!r}: the path {path!r} has an empty part; expected names joined by"
                                 f" single dots (form: {_FORM})")
            if any(target == mapped for mapped, _ in pairs):
                raise InputError(f"--map: {target} is mapped twice; {_MAP_FORM}")
            pairs.append((target, parts))
        return cls(tuple(pairs))

    def __str__(self) -> str:
        return ",".join(f"{target}={'.'.join(path)}" for target, path in self.pairs)

    def apply(self, obj: dict[str, Any]) -> tuple[dict[str, Any] | None, tuple[str, str] | None]:
        """The record dict (mapped fields set from their paths, every other top-level field kept), or
        ``(json path, problem)``, e.g. ``("$.response.text", "not found (mapped to output by --map)")``."""
        targets = self._targets
        record = {key: value for key, value in obj.items() if key not in targets}
        for target, path in self.pairs:
            value: Any = obj
            for part in path:
                if type(value) is not dict or part not in value:
                    value = _MISSING
                    break
                value = value[part]
            if value is _MISSING or value is None:
                if target in _REQUIRED:
                    what = "not found" if value is _MISSING else "null"
                    return None, (_json_path(path), f"{what} (mapped to {target} by --map)")
                continue
            record[target] = value
        return record, None

    def explain(self, problem: tuple[str, str]) -> tuple[str, str]:
        """A shape problem of a mapped field, said of the source's path: what the user can find in the file."""
        where, message = problem
        for target, path in self.pairs:
            if where == f"$.{target}":
                return _json_path(path), f"{message} (mapped to {target} by --map)"
        return problem

    def source(self, target: str) -> tuple[str, ...] | None:
        """The path a field is mapped from, or None."""
        return next((path for mapped, path in self.pairs if mapped == target), None)

    @functools.cached_property
    def _targets(self) -> frozenset[str]:
        return frozenset(target for target, _ in self.pairs)


_MISSING = object()


def _json_path(parts: Sequence[str]) -> str:
    return "$." + ".".join(parts)


@dataclass(frozen=True)
class Partition:
    """A piece of the input a reader opens by itself (picklable: it may be read on another machine)."""

    path: str  #: what to open
    display: str  #: how messages name it: as the user wrote it, joined with the file's path under a directory/glob
    format: str  #: one of FORMATS
    size: int  #: bytes on disk of the whole file
    index: int = 0  #: position in the input (files sorted by path, then byte ranges in order)
    start: int = 0  #: plain JSONL only: the lines whose first byte lies in [start, end)
    end: int | None = None
    #: the file when the input was listed: (device, inode) for a whole file, and its size, modification and
    #: status-change times too for a byte range (its ranges must be of one unchanged file): a reader that opens
    #: another file at the path (a link switched, a file replaced or rewritten meanwhile) refuses it; None: not
    #: checked (a file read on another machine, whose numbers differ)
    identity: tuple[int, ...] | None = dataclasses.field(default=None, compare=False)

    @property
    def whole(self) -> bool:
        """Whether this partition is a whole file (its sha256 is known once read)."""
        return self.start == 0 and self.end is None


#: the byte ranges a scan reads a plain JSON Lines file in (``harness.api.judge.SPLIT_BYTES``)
RANGE_BYTES = 32 * 1024 * 1024


def partitions(spec: str | os.PathLike[str], *, split_bytes: int | None = None, split_into: int = 1,
               display: str | None = None) -> list[Partition]:
    """The partitions of an input: a file, a directory (read recursively) or a glob (``logs/**/*.jsonl.gz``).

    In a directory, the files whose names end with one of :data:`SUFFIXES` are read, but hidden ones
    and those starting with ``_`` (``_SUCCESS``, ``_temporary/``); a glob's matches likewise.
    Files come sorted by path, each file once: a link to a file already listed (``latest.jsonl`` ->
    ``day-3.jsonl``) is left out. Each one's format is told by its first bytes (gzip, zstd, Parquet),
    else it is JSON Lines. With ``split_bytes``, a plain JSONL file larger than that becomes
    byte ranges of equal size (to a byte), at most that size, as many as a multiple of ``split_into`` (the workers that
    will read them: none of them idle while another reads the last range; anything but a positive integer, like
    the None of an executor that does not count its workers, reads as 1). ``display`` names the input in
    messages (default: ``spec``).
    """
    into = split_into if type(split_into) is int and split_into > 0 else 1
    text = os.fspath(spec)
    shown = display if display is not None else text
    found: list[tuple[str, str]] = []  # (path, display)
    if os.path.lexists(text):
        info = _stat(text, shown)
        if stat.S_ISDIR(info.st_mode):
            found = _walk(text, shown)
            if not found:
                raise InputError(f"no outputs file in this directory; expected names ending in {_suffixes()}",
                                 Location(shown))
        else:
            found = [(text, shown)]
    elif glob.has_magic(text):
        fixed = len(_literal_prefix(text))
        for match in sorted(glob.glob(text, recursive=True)):
            if any(_skipped(part) for part in _parts(match)[fixed:]):
                continue
            if os.path.isdir(match):
                found += _walk(match, match)
            else:
                found.append((match, match))
        if not found:
            raise InputError("no outputs file matches this pattern", Location(shown))
    else:
        raise InputError("file not found", Location(shown))
    result: list[Partition] = []
    read: dict[tuple[int, int], str] = {}  # (device, inode) -> the path it was first read under
    for path, name in found:
        size, kind, identity = _probe(path, name)
        if read.setdefault(identity[:2], path) != path:  # a symbolic or hard link to a file already in the input
            continue
        if split_bytes and kind == "jsonl" and size > split_bytes:
            count = -(-size // split_bytes)
            count += -count % into
            count = min(count, size)  # (a range holds a byte at least)
            bounds = [size * i // count for i in range(count + 1)]  # sizes differing by a byte at most
            result += [Partition(path, name, kind, size, len(result) + i, start, end if end < size else None,
                                 identity) for i, (start, end) in enumerate(itertools.pairwise(bounds))]
        else:
            result.append(Partition(path, name, kind, size, len(result), identity=identity[:2]))
    return result


def _suffixes() -> str:
    return ", ".join(SUFFIXES[:-1]) + " or " + SUFFIXES[-1]


def _parts(path: str) -> list[str]:
    return [part for part in os.path.normpath(path).split(os.sep) if part]


def _literal_prefix(pattern: str) -> list[str]:
    """The leading folders of a glob pattern that hold no wildcard: the user named them, none is skipped."""
    parts = _parts(pattern)
    literal = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        literal.append(part)
    return literal


def _skipped(name: str) -> bool:
    return name.startswith((".", "_"))


def _stat(path: str, shown: str) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise InputError(f"broken symbolic link (to {os.readlink(path)!r})", Location(shown)) from None
        raise InputError("file not found", Location(shown)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {_reason(exc)}", Location(shown)) from None


def _walk(root: str, shown: str) -> list[tuple[str, str]]:
    """The outputs files under a directory, sorted by path; a folder that cannot be listed is an error."""
    found: list[tuple[str, str]] = []
    seen: set[tuple[int, int]] = set()
    pending = [""]
    while pending:
        relative = pending.pop()
        folder = os.path.join(root, relative) if relative else root
        try:
            info = os.stat(folder)
            if (info.st_dev, info.st_ino) in seen:  # a symbolic link loop
                continue
            seen.add((info.st_dev, info.st_ino))
            entries = list(os.scandir(folder))
        except OSError as exc:
            raise InputError(f"cannot list this directory ({_reason(exc)})",
                             Location(os.path.join(shown, relative) if relative else shown)) from None
        for entry in entries:
            if _skipped(entry.name):
                continue
            inner = os.path.join(relative, entry.name) if relative else entry.name
            with contextlib.suppress(OSError):  # a broken link with an outputs name is refused when probed
                if entry.is_dir():
                    pending.append(inner)
                    continue
            if entry.name.lower().endswith(SUFFIXES):
                found.append((os.path.join(root, inner), os.path.join(shown, inner)))
    return sorted(found)


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _open(path: str, shown: str, identity: tuple[int, ...] | None = None) -> tuple[IO[bytes], int]:
    """A regular file opened for reading, and its size; a FIFO or a device is refused without blocking, and so is
    a file other than the one of ``identity`` (:func:`file_identity`, or as many of its first fields)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError("file not found", Location(shown)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {_reason(exc)}", Location(shown)) from None
    except ValueError:  # a NUL in the name
        raise InputError("cannot read: the name holds a NUL character", Location(shown)) from None
    handle = os.fdopen(fd, "rb", buffering=0)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        handle.close()
        what = "is a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a FIFO, a device or a socket)"
        raise InputError(f"{what}; expected an outputs file", Location(shown))
    if identity is not None and file_identity(info)[:len(identity)] != identity:
        handle.close()
        raise InputError(CHANGED, Location(shown))
    return handle, info.st_size


def file_identity(info: os.stat_result) -> tuple[int, int, int, int, int]:
    """A file's device, inode, size, modification and status-change times (the last set by the kernel on every
    write: no tool can put it back)."""
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


#: what a reader says of a path that holds another file than when the input was listed
CHANGED = ("another file is at this path than when the input was listed (a link or the file replaced during the"
           " run); expected a file that stays in place while it is judged")


def _probe(path: str, shown: str) -> tuple[int, str, tuple[int, int, int, int, int]]:
    """A file's size, format (by its first bytes) and :func:`file_identity`, all of the file opened; refused unless
    it is a readable regular file."""
    info = _stat(path, shown)
    if not stat.S_ISREG(info.st_mode):  # never opened: opening a FIFO for reading may block
        what = "is a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a FIFO, a device or a socket)"
        raise InputError(f"{what}; expected an outputs file", Location(shown))
    handle, size = _open(path, shown)
    with handle:
        identity = file_identity(os.fstat(handle.fileno()))
        try:
            head = handle.read(4)
        except OSError as exc:
            raise InputError(f"cannot read: {_reason(exc)}", Location(shown)) from None
    return size, next((kind for magic, kind in _MAGIC if head.startswith(magic)), "jsonl"), identity


def covers(spec: str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    """Whether a file written at ``path`` is (or would be, on the next run) read as part of the input ``spec``.

    ``spec`` as :func:`partitions` takes it: the file itself, any outputs file under a directory (by its name,
    as :func:`partitions` chooses them), a file a glob matches or one under a folder it matches. For a report
    or a results file, which must never overwrite an input nor be judged as outputs by the next scan.
    """
    text, target = os.fspath(spec), os.fspath(path)
    real = os.path.realpath(target)
    if os.path.lexists(text):
        if not os.path.isdir(text):
            return _same_file(text, target)
        return _read_under(os.path.realpath(text), real)
    if not glob.has_magic(text):
        return False
    pattern = _parts(os.path.abspath(text))
    for candidate in {os.path.abspath(target), real}:
        parts = _parts(candidate)
        if any(_glob_match(pattern, parts[:n]) and (n == len(parts) or _read_name(parts[n:]))
               for n in range(1, len(parts) + 1)):
            return True
    return False


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one is not there (yet): where they would be
        return os.path.realpath(a) == os.path.realpath(b)


def _read_under(folder: str, path: str) -> bool:
    """Whether ``path`` (resolved) lies under ``folder`` (resolved) with a name a directory's walk reads."""
    if os.path.commonpath([folder, path]) != folder or folder == path:
        return False
    return _read_name(_parts(os.path.relpath(path, folder)))


def _read_name(parts: Sequence[str]) -> bool:
    return not any(_skipped(part) for part in parts) and parts[-1].lower().endswith(SUFFIXES)


def _glob_match(pattern: Sequence[str], parts: Sequence[str]) -> bool:
    """Whether path parts match glob pattern parts (``**`` matching any number of folders)."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_glob_match(pattern[1:], parts[n:]) for n in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _glob_match(pattern[1:], parts[1:])


def combined_sha256(items: Sequence[tuple[str, str]]) -> str:
    """One digest for the files of an input, from their ``(display, sha256)`` in input order.

    One file: its own sha256. Several: the sha256 of the lines ``sha256sum`` prints for them,
    ``"<sha256>  <display>\\n"`` each, in the order given (the files sorted by path), so an auditor
    recomputes it with ``sha256sum FILE... | sha256sum`` run where the harness ran, naming the
    files in that order. (A name holding a backslash or a newline is written as ``sha256sum`` does:
    the line starts with ``\\`` and the name has them as ``\\\\`` and ``\\n``.)
    """
    if len(items) == 1:
        return items[0][1]
    digest = hashlib.sha256()
    for display, sha in items:
        if "\\" in display or "\n" in display:
            escaped = display.replace("\\", "\\\\").replace("\n", "\\n")
            digest.update(f"\\{sha}  {escaped}\n".encode())
        else:
            digest.update(f"{sha}  {display}\n".encode())
    return digest.hexdigest()


class _Hashing:
    """A raw file read through: counts and (optionally) hashes the bytes as they come."""

    def __init__(self, handle: IO[bytes], digest: Any) -> None:
        self.handle, self.digest, self.consumed = handle, digest, 0

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.consumed += len(data)
        if self.digest is not None:
            self.digest.update(data)
        return data

    def readable(self) -> bool:
        return True


@dataclass
class LineBlock:
    """Consecutive JSON lines of a partition, not parsed yet (what a :class:`PartitionReader` with ``raw=True``
    yields): a columnar reader may judge them whole, :meth:`records` parses them as every reader does, and its
    errors count as the partition's. Line ``i`` of :attr:`lines` is line ``first + i`` (blank lines included)."""

    lines: list[bytes]
    first: int
    parser: RecordParser
    fields: FieldMap | None = None
    #: the lines as read, each ended by a newline but perhaps the last (None: joined when asked)
    text: bytes | None = dataclasses.field(default=None, repr=False, compare=False)

    def records(self) -> list[OutputRecord]:
        """The records of these lines, by the strict parser (its errors go to the partition's)."""
        with paused_gc():
            return self.parser.lines(self.lines, self.first)

    def part(self, begin: int, end: int) -> LineBlock:
        """Lines ``begin:end`` of this block."""
        return LineBlock(self.lines[begin:end], self.first + begin, self.parser, self.fields)

    def objects(self, indices: Sequence[int]) -> list[OutputRecord | None]:
        """The records of some lines a columnar reader found valid (None where the strict parser disagrees: its
        error is then the partition's)."""
        import orjson

        parser, lines, first = self.parser, self.lines, self.first
        found: list[OutputRecord | None] = []
        with paused_gc():
            try:
                objs = [orjson.loads(lines[i]) for i in indices]
            except orjson.JSONDecodeError:  # a line only the strict parser's fallback reads (or names): one by one
                objs = None
            if objs is not None:  # all at once (an error fails the partition: what follows it does not count)
                numbers = [first + i for i in indices]
                built = parser.objects(objs, numbers, checked=True)
                if len(built) == len(numbers):
                    return list(built)
                by_line = {record.line: record for record in built}
                return [by_line.get(number) for number in numbers]
            for i in indices:
                try:
                    obj = orjson.loads(lines[i])
                except orjson.JSONDecodeError:
                    parsed: list[OutputRecord | None] = list(parser.lines([lines[i]], first + i))
                    found.extend(parsed or [None])
                    continue
                built = parser.objects([obj], [first + i], checked=True)
                found.append(built[0] if built else None)
        return found

    def joined(self) -> bytes:
        """The lines joined by newlines, perhaps with one after the last (the text as read, or made once)."""
        if self.text is None:
            self.text = b"\n".join(self.lines)
        return self.text

    def offsets(self) -> Any:
        """Where each line starts in :meth:`joined`, as a numpy array."""
        import numpy

        lengths = numpy.fromiter(map(len, self.lines), dtype=numpy.int64, count=len(self.lines)) + 1
        return numpy.concatenate([[0], numpy.cumsum(lengths)[:-1]])


#: what a :class:`PartitionReader` yields: records, or (``raw=True``, JSON lines) blocks of lines
Batch = list[OutputRecord] | LineBlock


class PartitionReader:
    """Streams one partition as batches of records; raises ``InputErrors`` for what is wrong in it.

    ``OutputRecord.line`` is the 1-based line of the file (for a byte range too: the lines before
    it are counted first, unless ``absolute_lines=False``, where records are numbered from 1 within
    the range and only errors are renumbered; the first line of range k+1 is that of range k plus its
    :attr:`lines`), or the 1-based row for Parquet. Up to :data:`~harness.outputs.jsonl.MAX_ERRORS`
    errors are collected, then raised sorted by line, at the latest once the partition is read:
    a consumer must treat an exception as "this partition is not read", whatever it was given before.
    """

    def __init__(self, partition: Partition, fields: FieldMap | None = None, *, batch_records: int = 4096,
                 max_record_bytes: int = MAX_RECORD_BYTES, absolute_lines: bool = True, share: bool = False,
                 raw: bool = False, batch_bytes: int | None = None) -> None:
        self.partition = partition
        #: JSON lines come as :class:`LineBlock` s rather than records (Parquet still as records)
        self.raw = raw
        self.fields = fields
        self.batch_records = batch_records
        #: a batch of JSON lines also ends once it holds this many bytes (None: by lines only)
        self.batch_bytes = batch_bytes
        self.max_record_bytes = max_record_bytes
        self.absolute_lines = absolute_lines
        self.share = share
        #: lines (rows) read so far, blank ones included
        self.lines = 0
        #: bytes of the file consumed so far (compressed bytes for gzip and zstd), for a progress bar
        self.consumed = 0
        #: once read: the sha256 of the file's bytes as on disk, for a whole file; None for a byte range
        self.sha256: str | None = None
        self._first = 1  # the number of the partition's first line
        self._relative = False  # whether lines are numbered from the range's start (errors renumbered at the end)

    def __iter__(self) -> Iterator[Batch]:
        part = self.partition
        parser = RecordParser(part.display, fields=self.fields, share=self.share)
        try:
            if part.format == "parquet":
                yield from self._parquet(parser)
            else:
                yield from self._text(parser)
        except _Fault as fault:
            parser.errors.append(InputError(fault.message, Location(part.display)))
        self._raise(parser)

    def _raise(self, parser: RecordParser) -> None:
        errors = parser.errors
        if errors and self._relative:
            base = self._line_base() - 1
            errors = [InputError(e.message, dataclasses.replace(e.location, line=e.location.line + base))
                      if e.location.line is not None else e for e in errors]
        InputErrors.raise_if_any(sorted(errors, key=lambda e: e.location.line or 0))

    def _where(self) -> str:
        return f"after line {self.lines + self._first - 1}" if not self._relative else \
            f"after line {self.lines + self._line_base() - 1}"

    # --- JSON Lines: plain, gzip, zstd --------------------------------------------------------

    def _text(self, parser: RecordParser) -> Iterator[Batch]:
        part = self.partition
        handle, _ = _open(part.path, part.display, part.identity)
        digest = hashlib.sha256() if part.whole else None
        with handle:
            raw = _Hashing(handle, digest)
            if part.format == "gzip":
                stream: Any = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[call-overload]
            elif part.format == "zstd":
                stream = _ZstdStream(raw, part.display)
            else:
                stream = raw
            start = 0
            if part.start > 0:
                if self.absolute_lines:
                    self._first = self._count_lines(part.start - 1) + 2
                else:
                    self._relative = True
                handle.seek(part.start - 1)
                raw.consumed = part.start - 1
                start = part.start - 1
            yield from self._blocks(parser, stream, raw, start)
        if digest is not None and not parser.errors:
            self.sha256 = digest.hexdigest()

    def _count_lines(self, upto: int) -> int:
        """How many newlines the file holds before byte ``upto``."""
        count = 0
        handle, _ = _open(self.partition.path, self.partition.display, self.partition.identity)
        with handle:
            while upto > 0:
                chunk = handle.read(min(_BLOCK * 8, upto))
                if not chunk:
                    break
                count += chunk.count(b"\n")
                upto -= len(chunk)
        return count

    def _line_base(self) -> int:
        cached = self.__dict__.get("_base")
        if cached is None:
            cached = self.__dict__["_base"] = self._count_lines(self.partition.start - 1) + 2
        return int(cached)

    def _blocks(self, parser: RecordParser, stream: Any, raw: _Hashing, offset: int) -> Iterator[Batch]:
        """Split the (decompressed) bytes into lines, bounded, and parse them in batches.

        ``offset`` is the position of the stream's first byte; for a byte range starting after 0 that
        byte (at ``start - 1``) and the rest of its line are skipped: they belong to the range before.
        """
        limit, end = self.max_record_bytes, self.partition.end
        first = self._first
        pieces: list[bytes] = []
        pending = 0  # bytes in pieces: the start of a line not yet ended
        skip = self.partition.start > 0
        pending_lines: list[bytes] = []
        pending_text: list[bytes] = []
        pending_bytes = 0  # in pending_text
        batch, batch_bytes = self.batch_records, self.batch_bytes or sys.maxsize
        while True:
            chunk = self._read(stream)
            self.consumed = raw.consumed
            if not chunk:
                break
            if skip:  # drop the end of the line before the range
                cut = chunk.find(b"\n")
                if cut < 0:
                    offset += len(chunk)
                    if end is not None and offset >= end:
                        return
                    continue
                offset += cut + 1
                chunk = chunk[cut + 1:]
                skip = False
                if end is not None and offset >= end:
                    return
                if not chunk:
                    continue
            if b"\n" not in chunk:
                pieces.append(chunk)
                pending += len(chunk)
                if pending > limit:
                    yield from self._flush(parser, pending_lines, pending_text, first)
                    self._overlong(parser, first + len(pending_lines))
                    return
                continue
            data = b"".join(pieces) + chunk if pieces else chunk
            lines = data.split(b"\n")
            carry = lines.pop()
            text = data if not carry else data[: len(data) - len(carry)]
            stop = False
            if end is not None and offset + len(text) > end:  # some of these lines start at or after the end
                kept, at = 0, offset
                for line in lines:
                    if at >= end:
                        break
                    at += len(line) + 1
                    kept += 1
                text = data[: at - offset]
                del lines[kept:]
                stop = True
            elif end is not None and offset + len(text) == end:
                stop = True  # the next line starts exactly at the end
            offset += len(text)
            if len(text) > limit + 1:
                longest = next((i for i, line in enumerate(lines) if len(line) > limit), None)
                if longest is not None:
                    pending_lines += lines[:longest]
                    pending_text.append(b"\n".join(lines[:longest]))
                    self.lines += longest
                    yield from self._flush(parser, pending_lines, pending_text, first)
                    self._overlong(parser, first + len(pending_lines))
                    return
            pending_lines += lines
            pending_text.append(text)
            pending_bytes += len(text)
            self.lines += len(lines)
            pieces = [carry] if carry else []
            pending = len(carry)
            if pending > limit:
                yield from self._flush(parser, pending_lines, pending_text, first)
                self._overlong(parser, first + len(pending_lines))
                return
            if len(pending_lines) >= batch or pending_bytes >= batch_bytes or stop:
                n = len(pending_lines)
                yield from self._flush(parser, pending_lines, pending_text, first)
                first += n
                pending_lines, pending_text, pending_bytes = [], [], 0
                if parser.full or stop:
                    return
        if isinstance(stream, _ZstdStream):
            stream.finish(self._where())  # before the last line: a cut-off file's last line is cut too
        if pieces:
            pending_lines.append(b"".join(pieces))  # the last line, without its newline
            pending_text.append(pending_lines[-1])
            self.lines += 1
        if pending_lines:
            yield from self._flush(parser, pending_lines, pending_text, first)

    def _read(self, stream: Any) -> bytes:
        try:
            return bytes(stream.read1(_BLOCK) if type(stream) is gzip.GzipFile else stream.read(_BLOCK))
        except EOFError:
            raise _Fault(f"the gzip stream is truncated (it ends before its end marker) {self._where()};"
                         " expected a complete file") from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise _Fault(f"corrupt gzip data {self._where()}: {exc}") from None
        except OSError as exc:
            raise _Fault(f"cannot read {self._where()}: {_reason(exc)}") from None

    def _flush(self, parser: RecordParser, lines: list[bytes], texts: list[bytes],
               first: int) -> Iterator[Batch]:
        if self.raw:
            if lines:
                yield LineBlock(lines, first, parser, self.fields, texts[0] if len(texts) == 1 else b"".join(texts))
                if parser.full:
                    parser.stop()
            return
        size = self.batch_records
        text: bytes | None = texts[0] if len(texts) == 1 else b"\n".join(texts)
        for at in range(0, len(lines), size):
            with paused_gc():
                records = parser.lines(lines[at:at + size] if len(lines) > size else lines, first + at,
                                       text if len(lines) <= size else None)
            if parser.full:
                parser.stop()
                if records:
                    yield records
                return
            if records:
                yield records

    def _overlong(self, parser: RecordParser, number: int) -> None:
        limit = self.max_record_bytes
        self.lines += 1
        parser.error(f"record longer than {limit} bytes; expected one JSON object per line of at most {limit} bytes",
                     number)

    # --- Parquet ---------------------------------------------------------------------------------

    def _parquet(self, parser: RecordParser) -> Iterator[list[OutputRecord]]:
        part = self.partition
        pa, pq = _pyarrow(part.display)
        handle, size = _open(part.path, part.display, part.identity)  # a regular file, the one listed
        with handle:  # pyarrow reads the file hashed, not the path opened again
            yield from self._parquet_rows(parser, pa, pq, handle, size)

    def _parquet_rows(self, parser: RecordParser, pa: Any, pq: Any, handle: IO[bytes],
                      size: int) -> Iterator[list[OutputRecord]]:
        part = self.partition
        digest = hashlib.file_digest(handle, "sha256")  # type: ignore[arg-type]
        handle.seek(0)
        try:
            source = pq.ParquetFile(handle)
            schema = source.schema_arrow
            total = max(source.metadata.num_rows, 1)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _Fault(f"not a readable Parquet file: {_arrow_message(exc)}") from None
        converters = _columns(schema, self.fields, part.display)
        names = list(schema.names)
        keep_null = {name for name in _REQUIRED if self.fields is None or self.fields.source(name) is None}
        row = 0
        batches = source.iter_batches(batch_size=self.batch_records)
        while True:
            try:
                batch = next(batches, None)
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise _Fault(f"corrupt Parquet file after row {row}: {_arrow_message(exc)}") from None
            if batch is None:
                break
            columns, suspect = [], set()
            bad: dict[int, tuple[str, str]] = {}  # row in the batch -> (json path, problem): values JSON cannot hold
            for name, column in zip(names, batch.columns, strict=True):
                suspect.update(_non_finite_rows(column))
                values = _column_values(column, converters.get(name), name, bad, pa)
                columns.append(values)
            with paused_gc():
                objs = [{name: value for name, value in zip(names, values, strict=True)
                         if value is not None or name in keep_null} for values in zip(*columns, strict=True)]
                numbers = range(row + 1, row + 1 + len(objs))
                if bad:  # reported, never judged with a value changed
                    for i in sorted(bad):
                        parser.error(bad[i][1], numbers[i], bad[i][0])
                    suspect -= set(bad)
                    keep = [i for i in range(len(objs)) if i not in bad]
                    objs, numbers = [objs[i] for i in keep], [numbers[i] for i in keep]  # type: ignore[assignment]
                    suspect = {keep.index(i) for i in suspect}
                if suspect:  # rows holding NaN or an infinity: checked one by one (they are errors)
                    parser.objects([objs[i] for i in sorted(suspect)], [numbers[i] for i in sorted(suspect)])
                    objs = [obj for i, obj in enumerate(objs) if i not in suspect]
                    numbers = [n for i, n in enumerate(numbers) if i not in suspect]  # type: ignore[assignment]
                records = parser.objects(objs, numbers, checked=True)
            row += batch.num_rows
            self.lines = row
            self.consumed = size * row // total
            if parser.full:
                parser.stop()
            if records:
                yield records
            if parser.full:
                break
        self.consumed = size
        if not parser.errors:
            self.sha256 = digest.hexdigest()


class _Fault(Exception):
    """The file could not be read to its end: the reader's last error, naming where it stopped."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _ZstdStream:
    """zstd frames, one after the other, decompressed a bounded piece at a time; a cut-off last frame is an error.

    ``zstandard``'s stream reader ends silently where a truncated file ends, so frames are fed
    by hand: a decompressor that was given bytes but has not reached its frame's end, when the
    file ends, means the file was cut.
    """

    def __init__(self, raw: _Hashing, shown: str) -> None:
        try:
            import zstandard
        except ImportError:
            raise InputError(f"reading {shown} (zstd) needs the zstandard package: {_EXTRA}",
                             Location(shown)) from None
        self._zstd = zstandard
        self._context = zstandard.ZstdDecompressor()
        self._raw = raw
        self._decompressor = self._context.decompressobj()
        self._fed = False
        self._input = memoryview(b"")

    def read(self, size: int) -> bytes:
        out: list[bytes] = []
        total = 0
        while total < size:
            if not self._input:
                data = self._raw.read(_BLOCK)
                if not data:
                    break
                self._input = memoryview(data)
            piece, self._input = self._input[:_ZSTD_FEED], self._input[_ZSTD_FEED:]
            try:
                produced = self._decompressor.decompress(piece)
                self._fed = True
                while self._decompressor.eof:  # a frame ended: the rest of the piece starts the next one
                    rest = self._decompressor.unused_data
                    self._decompressor = self._context.decompressobj()
                    self._fed = bool(rest)
                    if rest:
                        produced += self._decompressor.decompress(rest)
            except self._zstd.ZstdError as exc:
                raise _Fault(f"corrupt zstd data: {exc}") from None
            out.append(produced)
            total += len(produced)
        return b"".join(out)

    def finish(self, where: str) -> None:
        if self._fed:
            raise _Fault(f"the zstd stream is truncated (its last frame is incomplete) {where};"
                         " expected a complete file")


def _pyarrow(shown: str) -> tuple[Any, Any]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise InputError(f"reading {shown} (parquet) needs the pyarrow package: {_EXTRA}", Location(shown)) from None
    return pyarrow, pyarrow.parquet


def _arrow_message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _columns(schema: Any, fields: FieldMap | None, shown: str) -> dict[str, Callable[[Any], Any]]:
    """Check a Parquet file's columns against what the records need; the converters of the columns that need one."""
    names = list(schema.names)
    twice = next((name for i, name in enumerate(names) if name in names[:i]), None)
    if twice is not None:
        raise InputError(f"column {twice!r} appears twice; expected each column once", Location(shown))
    listed = ", ".join(repr(name) for name in names[:20]) + (", ..." if len(names) > 20 else "")
    for target in _REQUIRED:
        if (fields is None or fields.source(target) is None) and target not in names:
            raise InputError(f"no column {target!r}; if another column holds the records' {target}, map it: "
                             f"--map {target}=COLUMN (columns: {listed})", Location(shown))
    for target, path in fields.pairs if fields is not None else ():
        if path[0] not in names:
            raise InputError(f"no column {path[0]!r} (mapped to {target} by --map {target}={'.'.join(path)});"
                             f" columns: {listed}", Location(shown))
    converters = {}
    for field in schema:
        convert = _converter(field.type)
        if convert is not None:
            converters[field.name] = convert
    return converters


class _NotJson(ValueError):
    """A Parquet value that has no faithful JSON form (bytes that are not UTF-8, a map holding a key twice)."""


def _column_values(column: Any, convert: Callable[[Any], Any] | None, name: str,
                   bad: dict[int, tuple[str, str]], pa: Any) -> list[Any]:
    """A Parquet column's values as JSON would hold them; a row whose value cannot be is put in ``bad``
    (its value read as None), named by the column."""
    where = _json_path([name])
    try:
        values = column.to_pylist()
    except (OverflowError, ValueError, pa.ArrowException):  # e.g. a timestamp beyond year 9999: find its rows
        values = []
        for i in range(len(column)):
            try:
                values.append(column[i].as_py())
            except (OverflowError, ValueError, pa.ArrowException) as exc:
                values.append(None)
                bad.setdefault(i, (where, f"a value of type {column.type} that cannot be read: {_arrow_message(exc)};"
                                          " expected one that JSON can hold"))
    if convert is None:
        return values
    converted: list[Any] = []
    for i, value in enumerate(values):
        if value is None:
            converted.append(None)
            continue
        try:
            converted.append(convert(value))
        except _NotJson as exc:
            converted.append(None)
            bad.setdefault(i, (where, str(exc)))
    return converted


def _non_finite_rows(column: Any) -> list[int]:
    """The rows of a Parquet column whose value is or holds a NaN or an infinity (none for most columns)."""
    import pyarrow.compute as pc
    import pyarrow.types as t

    kind = column.type
    if t.is_floating(kind):
        return pc.indices_nonzero(pc.fill_null(pc.invert(pc.is_finite(column)), False)).to_pylist()
    if not _holds_floats(kind):
        return []
    return [i for i, value in enumerate(column.to_pylist()) if non_finite(value, "$") is not None]


def _holds_floats(kind: Any) -> bool:
    import pyarrow.types as t

    if t.is_floating(kind):
        return True
    if t.is_struct(kind):
        return any(_holds_floats(kind.field(i).type) for i in range(kind.num_fields))
    if t.is_map(kind):
        return _holds_floats(kind.item_type)
    if t.is_list(kind) or t.is_large_list(kind) or t.is_fixed_size_list(kind):
        return _holds_floats(kind.value_type)
    return False


def _converter(kind: Any) -> Callable[[Any], Any] | None:
    """How a Parquet value of this type becomes what JSON would hold, or None when it already is."""
    import pyarrow.types as t

    if t.is_timestamp(kind):
        return _iso_utc if kind.tz is not None and kind.tz.upper() in ("UTC", "Z", "+00:00", "ETC/UTC") else _iso
    if t.is_date(kind) or t.is_time(kind):
        return _iso
    if t.is_decimal(kind):
        return float
    if t.is_binary(kind) or t.is_large_binary(kind) or t.is_fixed_size_binary(kind) or t.is_binary_view(kind):
        return _text
    if t.is_dictionary(kind):  # read as its values
        return _converter(kind.value_type)
    if isinstance(kind, _extension_type()):  # e.g. a UUID: its text, bytes as text, never an object JSON cannot hold
        return _plain
    if t.is_duration(kind):
        return _seconds
    if t.is_struct(kind):
        inner: dict[str, Callable[[Any], Any]] = {}
        for i in range(kind.num_fields):
            convert = _converter(kind.field(i).type)
            if convert is not None:
                inner[kind.field(i).name] = convert
        if not inner:
            return None
        return lambda value: {k: (inner[k](v) if k in inner and v is not None else v) for k, v in value.items()}
    if t.is_map(kind):
        return functools.partial(_map, _converter(kind.key_type) or _same, _converter(kind.item_type) or _same)
    if (t.is_list(kind) or t.is_large_list(kind) or t.is_fixed_size_list(kind) or t.is_list_view(kind)
            or t.is_large_list_view(kind)):
        element = _converter(kind.value_type)
        if element is None:
            return None
        return lambda value: [None if v is None else element(v) for v in value]
    return None


def _same(value: Any) -> Any:
    return value


def _extension_type() -> type:
    import pyarrow

    return pyarrow.BaseExtensionType


def _map(key: Callable[[Any], Any], item: Callable[[Any], Any], value: Any) -> dict[str, Any]:
    """A Parquet map as a JSON object: its keys as text, each once (as a JSON line must hold them)."""
    result: dict[str, Any] = {}
    for k, v in value:
        name = str(key(k))
        if name in result:
            raise _NotJson(f"the map holds the key {name[:80]!r} twice; expected each key once")
        result[name] = None if v is None else item(v)
    return result


def _plain(value: Any) -> Any:
    """A value of an extension type: bytes as UTF-8 text, a JSON value as it is, anything else as its text."""
    if isinstance(value, bytes):
        return _text(value)
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


def _iso(value: Any) -> str:
    return str(value.isoformat())


def _iso_utc(value: Any) -> str:
    text = str(value.isoformat())
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _text(value: bytes) -> str:
    """Bytes as text: UTF-8 only, as in a JSON line (replacing bad bytes would make two ids one)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _NotJson(f"bytes that are not UTF-8 text (byte {exc.start} of {len(value)}); expected UTF-8 text"
                       ) from None


def _seconds(value: Any) -> float:
    return float(value.total_seconds())


# --- a whole input in memory -------------------------------------------------------------------------

class OutputsFile(NamedTuple):
    """One file of an input read whole: its records are ``outputs.records[first:first + records]``."""

    display: str
    format: str
    sha256: str
    first: int
    records: int


def load_outputs(
    path: str | os.PathLike[str], *, display: str | None = None, progress: Callable[[int], None] | None = None,
    max_record_bytes: int = MAX_RECORD_BYTES, fields: FieldMap | None = None,
) -> Outputs:
    """Read an input (a file, a directory or a glob, in any of :data:`FORMATS`) into one ``Outputs``.

    Raises ``InputErrors`` naming the file and line (row) of every broken record, at most
    :data:`~harness.outputs.jsonl.MAX_ERRORS` per file. ``progress`` is called with the bytes
    read so far (compressed bytes for compressed files), every few thousand lines. A line longer
    than ``max_record_bytes`` (its newline excluded) is an error, found after reading at most about
    that many bytes of it. ``fields`` maps the records' fields from other names (``--map``).
    """
    return load_outputs_files(path, display=display, progress=progress, max_record_bytes=max_record_bytes,
                              fields=fields)[0]


def load_outputs_files(
    path: str | os.PathLike[str], *, display: str | None = None, progress: Callable[[int], None] | None = None,
    max_record_bytes: int = MAX_RECORD_BYTES, fields: FieldMap | None = None,
) -> tuple[Outputs, tuple[OutputsFile, ...]]:
    """:func:`load_outputs`, and which file each record came from (records keep each file's line numbers)."""
    shown = display if display is not None else os.fspath(path)
    parts = partitions(path, display=shown)
    records: list[OutputRecord] = []
    files: list[OutputsFile] = []
    errors: list[InputError] = []
    done = 0
    for part in parts:
        reader = PartitionReader(part, fields, max_record_bytes=max_record_bytes, share=True)
        first = len(records)
        try:
            with paused_gc():  # a million records alive: each collection would walk them all
                for batch in reader:
                    assert type(batch) is list  # not raw: records, not line blocks
                    records += batch
                    if progress is not None:
                        progress(done + reader.consumed)
        except InputErrors as problems:
            errors += problems.errors
            if len(errors) >= MAX_ERRORS:
                break
            continue
        done += part.size if part.format == "parquet" else reader.consumed
        files.append(OutputsFile(part.display, part.format, reader.sha256 or "", first, len(records) - first))
    InputErrors.raise_if_any(errors)
    if not records:
        raise InputError("no output records: an empty run is an error, never a pass", Location(shown))
    return Outputs(shown, combined_sha256([(f.display, f.sha256) for f in files]), records), tuple(files)


__all__ = ["FORMATS", "SUFFIXES", "TARGETS", "FieldMap", "OutputsFile", "Partition", "PartitionReader",
           "combined_sha256", "covers", "load_outputs", "load_outputs_files", "partitions"]
