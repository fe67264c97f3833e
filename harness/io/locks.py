"""One way to hold a lock file: ``filelock``, with a wait that ends in :class:`~harness.errors.LockTimeout`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from ..errors import LockTimeout


@contextlib.contextmanager
def held(lock_file: Path, what: str, *, timeout_s: float) -> Iterator[None]:
    """Hold ``lock_file`` (created if needed) for the block; ``LockTimeout`` naming ``what`` after ``timeout_s``."""
    import filelock

    lock_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        with filelock.FileLock(str(lock_file), timeout=timeout_s):
            yield
    except filelock.Timeout:
        raise LockTimeout(f"{what} is being written by another command (waited {timeout_s:g} s)") from None
