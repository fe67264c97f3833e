"""The sha256 of the input files a scan reads in byte ranges (no range reads a whole file), computed by a thread
beside the run; started early (:func:`prefetch`) when the caller knows the input before it has loaded its rules.

Hashing half a gigabyte takes about half a second of CPU (SHA-256 in OpenSSL). Beside the worker processes it
takes that from them; started while this process imports and loads the rules, it mostly uses a CPU that would
wait. A digest counts only for a file that did not change (device, inode, size, modification time) from before
it was read to when the scan asks for it: otherwise the scan reads the file again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

#: bytes read at a time (and the most read after a run has stopped the thread): reading and hashing release the
#: interpreter's lock, but the thread waits for it between two chunks (up to 5 ms while the main thread loads the
#: rules), so a chunk is large (about 13 ms of hashing)
CHUNK = 16 << 20

Identity = tuple[int, int, int, int]


def _identity(path: str) -> Identity | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


class FileDigests:
    """The sha256 of some files, one after the other, in a thread started at once."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = tuple(paths)
        self._found: dict[str, tuple[str, Identity]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="harness-sha256")
        self._thread.start()

    def _run(self) -> None:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        for path in self.paths:
            before = _identity(path)
            digest = hashlib.sha256()
            try:
                with open(path, "rb") as handle:
                    while not self._stop.is_set():
                        size = handle.readinto(buffer)
                        if not size:
                            break
                        digest.update(view[:size])
            except OSError:
                return  # left out: the scan says that the file could not be read again
            if self._stop.is_set():
                return
            if before is not None and _identity(path) == before:
                self._found[path] = (digest.hexdigest(), before)

    def result(self) -> dict[str, str]:
        """Wait for the thread; the digest of each file read whole and unchanged since (the others are left out)."""
        self._thread.join()
        return {path: digest for path, (digest, identity) in self._found.items() if _identity(path) == identity}

    def stop(self) -> None:
        """End the thread after the chunk it is reading, and wait for it."""
        self._stop.set()
        self._thread.join()


_EARLY: dict[tuple[str, ...], FileDigests] = {}
_LOCK = threading.Lock()


def prefetch(source: str | os.PathLike[str], split_bytes: int | None = None) -> None:
    """Start hashing the files of ``source`` that a scan would read in byte ranges (plain JSON Lines larger than
    ``split_bytes``, by default the scan's), for a scan of the same files that follows in this process
    (:func:`digests_of`): ``harness scan`` calls it before it loads its rules. One prefetch at a time (a newer one
    stops an older one). Best effort: an input that cannot be listed is left for the scan to report."""
    from .sources import RANGE_BYTES, partitions

    try:
        parts = partitions(source, split_bytes=split_bytes or RANGE_BYTES)
    except Exception:  # the scan names what is wrong with the input
        return
    paths = tuple(dict.fromkeys(part.path for part in parts if not part.whole))
    if not paths:
        return
    forget()
    with _LOCK:
        _EARLY[paths] = FileDigests(paths)


def forget() -> None:
    """Stop and drop what :func:`prefetch` started and no scan took."""
    with _LOCK:
        for early in _EARLY.values():
            early.stop()
        _EARLY.clear()


@contextlib.contextmanager
def prefetched(source: str | os.PathLike[str]) -> Iterator[None]:
    """:func:`prefetch` ``source`` for the length of a block (a command that scans it): what the block's scan did
    not take is dropped when it ends, so that no later scan in this process takes a digest made before."""
    prefetch(source)
    try:
        yield
    finally:
        forget()


def digests_of(paths: Sequence[str]) -> FileDigests:
    """The digests of ``paths``: those a :func:`prefetch` of the same files started, or new ones starting now."""
    with _LOCK:
        early = _EARLY.pop(tuple(paths), None)
    return early if early is not None else FileDigests(paths)


@contextlib.contextmanager
def hashing(paths: Sequence[str]) -> Any:
    """:func:`digests_of` ``paths`` for the length of a block, which gets the :class:`FileDigests`; when the block
    ends, by an error or an interruption too, the thread is stopped (a run that ended reads no further)."""
    digests = digests_of(paths)
    try:
        yield digests
    finally:
        digests.stop()
