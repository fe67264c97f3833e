"""The sha256 of the input files a scan reads in byte ranges (no range reads a whole file), computed beside the run;
started early (:func:`prefetch`) when the caller knows the input before it has loaded its rules.

Hashing half a gigabyte takes about half a second of CPU (SHA-256 in OpenSSL). Beside the worker processes it
takes that from them; started while this process imports and loads the rules, it mostly uses a CPU that would
wait. A thread of this process waits for each file's digest; a file of :data:`PROCESS_MIN_BYTES` or more is hashed
by a child process (this interpreter, reading the file the thread opened), which no lock of this process slows: a
thread hashing here needs the interpreter's lock between two chunks, and got about half a CPU while the rules
load. Where no child can be started (or it fails), the thread hashes the file itself. A digest counts only for a
file that did not change from before it was read to when the scan asks for it
(its device, inode, size, modification and status-change times: the last is set by the kernel on every write and
no tool can put it back). A prefetched digest is used only for a file unchanged since it was read, and last
changed at least :data:`SETTLED_SECONDS` before (a file written in the same tick of a coarse clock could change
again unseen): else the scan hashes the file itself, as it reads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from .sources import file_identity

#: bytes read at a time (and the most read after a run has stopped the thread): reading and hashing release the
#: interpreter's lock, but the thread waits for it between two chunks (up to 5 ms while the main thread loads the
#: rules), so a chunk is large (about 13 ms of hashing); a child process reads as much at a time
CHUNK = 16 << 20
#: a file changed less than this before its prefetch began is hashed again by the scan (FAT keeps 2-second times)
SETTLED_SECONDS = 2.0
#: files of this many bytes or more are hashed by a child process (starting one takes about 20 ms)
PROCESS_MIN_BYTES = 64 << 20
#: what the child runs (argv: the descriptor of the open file, the chunk size, the parent's pid): the file read with
#: pread from offset 0 (the descriptor's offset, shared with the thread, is left alone), until its end or until the
#: parent is gone; on its standard output, a first line as soon as it runs (:data:`_HELLO`), then its answer
#: ``<sha256 hex> <bytes hashed> <device> <inode>``
_CHILD = ("import hashlib, os, sys\n"
          "sys.stdout.write('harness-sha256\\n')\n"
          "sys.stdout.flush()\n"
          "fd, chunk, parent = map(int, sys.argv[1:4])\n"
          "digest, offset = hashlib.sha256(), 0\n"
          "while os.getppid() == parent and (data := os.pread(fd, chunk, offset)):\n"
          "    digest.update(data)\n"
          "    offset += len(data)\n"
          "info = os.fstat(fd)\n"
          "if os.getppid() == parent:\n"
          "    sys.stdout.write(f'{digest.hexdigest()} {offset} {info.st_dev} {info.st_ino}')\n")
#: the child's first line, and how long it may take to say it (a ``sys.executable`` that is no Python command, as
#: in a program embedding Python, may never answer: the thread then hashes the file itself)
_HELLO = b"harness-sha256\n"
HELLO_SECONDS = 10.0
#: held while a child is being started: a fork of this process meanwhile (a pool of workers) would inherit the pipe
#: the child reports its start on, and the start would wait for that worker to end (``ForkExecutor`` takes it too)
SPAWNING = threading.Lock()

Identity = tuple[int, int, int, int, int]
_HEX64 = re.compile("[0-9a-f]{64}")


def _now(path: str) -> Identity | None:
    try:
        return file_identity(os.stat(path))
    except OSError:
        return None


def _said(child: subprocess.Popen[bytes]) -> bytes | None:
    """What a child wrote after its first line, once it ended; None (and the child killed) when that line is not
    :data:`_HELLO` or does not come within :data:`HELLO_SECONDS`."""
    import selectors

    assert child.stdout is not None
    fd, first = child.stdout.fileno(), b""
    deadline = time.monotonic() + HELLO_SECONDS
    with selectors.DefaultSelector() as waiting:  # (not select.select: a descriptor may be numbered past 1023)
        waiting.register(fd, selectors.EVENT_READ)
        while len(first) < len(_HELLO) and _HELLO.startswith(first):
            left = deadline - time.monotonic()
            data = os.read(fd, 4096) if left > 0 and waiting.select(left) else b""
            if not data:
                break
            first += data
    if not first.startswith(_HELLO):
        child.kill()
        child.communicate()
        return None
    rest, _ = child.communicate()
    return first[len(_HELLO):] + rest


class FileDigests:
    """The sha256 of some files, one after the other, by a thread (:meth:`start`) that hashes each file or waits
    for the child process hashing it."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = tuple(paths)
        self.errors: dict[str, str] = {}  #: why a file could not be read
        self._found: dict[str, tuple[str, Identity]] = {}
        self._began: dict[str, tuple[Identity, float]] = {}  # a file's identity when its read began, and the time
        self._stop = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # between a child's start and stop()
        self._thread = threading.Thread(target=self._run, daemon=True, name="harness-sha256")

    def start(self) -> FileDigests:
        self._thread.start()
        return self

    def _run(self) -> None:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        for path in self.paths:
            if self._stop.is_set():
                return
            try:
                with open(path, "rb") as handle:
                    before = file_identity(os.fstat(handle.fileno()))
                    self._began[path] = (before, time.time())
                    found = None
                    if before[2] >= PROCESS_MIN_BYTES:
                        try:
                            found = self._by_child(handle, before)
                        except Exception:  # whatever went wrong with the child: the thread hashes the file itself
                            found = None
                    if found is not None:
                        self._found[path] = (found, before)
                        continue
                    handle.seek(0)
                    digest = hashlib.sha256()
                    while not self._stop.is_set():
                        size = handle.readinto(buffer)
                        if not size:
                            self._found[path] = (digest.hexdigest(), before)
                            break
                        digest.update(view[:size])
            except OSError as exc:
                self.errors[path] = exc.strerror or type(exc).__name__

    def _by_child(self, handle: Any, identity: Identity) -> str | None:
        """The sha256 of an open file by a child process; None when none could be started or it failed (the
        caller hashes the file itself), or the run stopped it. The child reads a duplicate of the descriptor
        numbered 3 or more (0 to 2 are its standard streams: a caller with one of them closed would have the file
        there), and its answer counts only for as many bytes as the file holds, of the same device and inode."""
        import fcntl

        with self._lock:
            if self._stop.is_set() or not sys.executable or os.name != "posix" or getattr(sys, "frozen", False):
                return None
            try:
                fd = fcntl.fcntl(handle.fileno(), fcntl.F_DUPFD_CLOEXEC, 3)
            except OSError:  # no descriptor left
                return None
            try:
                with SPAWNING:
                    self._child = child = subprocess.Popen(
                        [sys.executable, "-I", "-S", "-c", _CHILD, str(fd), str(CHUNK), str(os.getpid())],
                        pass_fds=(fd,), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            except (OSError, ValueError, subprocess.SubprocessError):
                return None
            finally:
                os.close(fd)
        try:
            out = _said(child)
        finally:
            if child.returncode is None:  # communicate() raised: the child is not left running
                child.kill()
                child.wait()
            with self._lock:
                self._child = None
        answer = out.decode("ascii", "replace").split(" ") if out is not None else []
        if child.returncode or len(answer) != 4 or not _HEX64.fullmatch(answer[0]) or \
                answer[1:] != [str(identity[2]), str(identity[0]), str(identity[1])]:
            return None
        return answer[0]

    def hashed_file(self, path: str, listed: tuple[int, ...] | None) -> bool:
        """Whether the file hashed at ``path`` was the one ``listed`` (``sources.file_identity``, or as many of its
        first fields; None: any file)."""
        began = self._began.get(path)
        return listed is None or (began is not None and began[0][:len(listed)] == listed)

    def settled(self) -> bool:
        """Whether every file read so far is unchanged since, and was last changed :data:`SETTLED_SECONDS` or more
        before its read began (what a prefetched digest needs to be used)."""
        for path, (identity, began) in list(self._began.items()):
            changed = max(identity[3], identity[4]) / 1e9
            if _now(path) != identity or changed > began - SETTLED_SECONDS:
                return False
        return not self.errors

    def result(self) -> dict[str, str]:
        """Wait for the thread; the digest of each file read whole and unchanged since (the others are left out)."""
        self._thread.join()
        return {path: digest for path, (digest, identity) in self._found.items() if _now(path) == identity}

    def stop(self) -> None:
        """End the thread after the chunk it is reading (a child process hashing a file is killed), and wait for
        it."""
        with self._lock:
            self._stop.set()
            if self._child is not None:
                with contextlib.suppress(OSError):
                    self._child.kill()
        if self._thread.ident is not None:
            self._thread.join()


_EARLY: dict[tuple[str, ...], FileDigests] = {}
_LOCK = threading.Lock()


def prefetch(source: str | os.PathLike[str], split_bytes: int | None = None) -> None:
    """Start hashing ``source``, when it is one file that a scan reads in byte ranges (plain JSON Lines larger than
    ``split_bytes``, by default the scan's), for a scan of it that follows in this process (:func:`digests_of`):
    ``harness scan`` calls it before it loads its rules. One prefetch at a time (a newer one stops an older one).
    Best effort: an input that cannot be read is left for the scan to report; a directory or a glob is not
    listed twice."""
    from .sources import RANGE_BYTES, partitions

    if not os.path.isfile(source):
        return
    try:
        parts = partitions(source, split_bytes=split_bytes or RANGE_BYTES)
    except Exception:  # the scan names what is wrong with the input
        return
    paths = tuple(dict.fromkeys(part.path for part in parts if not part.whole))
    if paths:
        with _LOCK:
            _forget()
            _EARLY[paths] = digests = FileDigests(paths)  # known before its thread starts: never left running
            digests.start()


def _forget() -> None:
    for early in _EARLY.values():
        early.stop()
    _EARLY.clear()


def forget() -> None:
    """Stop and drop what :func:`prefetch` started and no scan took."""
    with _LOCK:
        _forget()


@contextlib.contextmanager
def prefetched(source: str | os.PathLike[str]) -> Iterator[None]:
    """:func:`prefetch` ``source`` for the length of a block (a command that scans it): what the block's scan did
    not take is dropped when it ends, so that no later scan in this process takes a digest made before."""
    try:
        prefetch(source)
        yield
    finally:
        forget()


def digests_of(paths: Sequence[str]) -> FileDigests:
    """The digests of ``paths``: those a :func:`prefetch` of the same files started, if every file it read so far is
    :meth:`~FileDigests.settled`, or new ones starting now. Any other prefetch is stopped."""
    with _LOCK:
        early = _EARLY.pop(tuple(paths), None)
        _forget()
    if early is not None and early.settled():
        return early
    if early is not None:
        early.stop()
    return FileDigests(paths).start()


@contextlib.contextmanager
def hashing(paths: Sequence[str]) -> Iterator[FileDigests]:
    """:func:`digests_of` ``paths`` for the length of a block, which gets the :class:`FileDigests`; when the block
    ends, by an error or an interruption too, the thread is stopped (a run that ended reads no further)."""
    digests = digests_of(paths)
    try:
        yield digests
    finally:
        digests.stop()
