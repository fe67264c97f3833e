"""Files: written atomically, found under a directory, shown as the user typed them, hashed."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write a file so that readers see the old or the new content, never half of it.

    The content (text is written as UTF-8) goes to a temporary file in the same directory,
    is flushed to disk, then renamed over the target. A target that exists but is not a
    regular file (``/dev/null``, a pipe) is written to directly: renaming over a device
    node would replace the device.
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    if path.exists() and not path.is_file() and not path.is_dir():
        with open(path, "wb") as handle:
            handle.write(data)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path) if path.is_absolute() else str(path)
    except ValueError:
        return str(path)


def yaml_files(directory: Path, *, exclude: Iterable[str] = ()) -> list[Path]:
    """Every ``*.yaml``/``*.yml`` file under ``directory``, sorted, without the excluded names at its top."""
    skip = {directory / name for name in exclude}
    found = [p for pattern in ("*.yaml", "*.yml") for p in directory.rglob(pattern)]
    return sorted(p for p in found if p not in skip and p.is_file())


def sha256_file(path: Path | str) -> str:
    """The sha256 of a file's bytes, read in blocks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
