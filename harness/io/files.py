"""Files: written atomically, found under a directory, shown as the user typed them, hashed."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..errors import InputError, Location


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write a file so that readers see the old or the new content, never half of it.

    The content (text is written as UTF-8) goes to a temporary file in the same directory,
    is flushed to disk, then renamed over the target. The new file keeps the mode of the
    one it replaces (a new file gets the umask's). A file that must not be written over is
    refused (``PermissionError``, see :func:`write_refusal`): its owner's write bit is off
    (the user made it read-only on purpose; root is refused too), or this process may not
    write it. A symbolic link stays a link: the file it points at is replaced, in that file's
    own directory. A target that exists but is not a regular file (``/dev/null``, a pipe) is
    written to directly: renaming over a device node would replace the device.
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        info = target.stat()
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    else:
        if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
            with open(target, "wb") as handle:
                handle.write(data)
            return
        refusal = write_refusal(target, info)
        if refusal:
            raise PermissionError(errno.EACCES, f"{refusal}; not replaced", str(path))
        mode = stat.S_IMODE(info.st_mode)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_refusal(path: Path, info: os.stat_result) -> str:
    """Why an existing file must not be written over, or ``""``.

    Its owner turned its write bit off (read-only on purpose: refused even for root, who could
    write it), or this process may not write it (``os.access``): replacing it by a rename in a
    writable folder would get round its permissions.
    """
    if not info.st_mode & stat.S_IWUSR:
        return "the file is read-only (its owner's write permission is off)"
    if not os.access(path, os.W_OK):
        return "this user may not write the file"
    return ""


def _umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it, else absolute."""
    if not path.is_absolute():
        return str(path)
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive, on Windows
        return str(path)
    return str(path) if relative == os.pardir or relative.startswith(os.pardir + os.sep) else relative


YAML_SUFFIXES = (".yaml", ".yml")


def yaml_files(directory: Path, *, exclude: Iterable[str] = ()) -> tuple[list[Path], list[InputError]]:
    """Every YAML file under ``directory`` (sorted), and a problem for each one that cannot be read.

    Fails closed: a policy that cannot be read must not be skipped silently. Names ending
    in ``.yaml`` or ``.yml`` in any letter case count. A broken symbolic link, a directory,
    a pipe or a device with such a name, and a subdirectory that cannot be listed, are
    problems naming the path. Symbolic links to directories are followed (each directory
    once, so a link loop ends).
    """
    skip = {directory / name for name in exclude}
    found: list[Path] = []
    problems: list[InputError] = []
    seen: set[tuple[int, int]] = set()
    pending = [directory]
    while pending:
        folder = pending.pop()
        try:
            info = folder.stat()
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as exc:
            problems.append(InputError(f"cannot list this directory ({_reason(exc)})",
                                       Location(display_path(folder))))
            continue
        for entry in entries:
            path = Path(entry.path)
            problem = _entry_problem(entry, path, pending, found)
            if problem is not None and path not in skip:
                problems.append(InputError(problem, Location(display_path(path))))
    return sorted(p for p in found if p not in skip), problems


def _entry_problem(entry: os.DirEntry[str], path: Path, pending: list[Path], found: list[Path]) -> str | None:
    """Sort one directory entry into the files to read or the folders to walk; what is wrong with it if neither."""
    is_yaml = entry.name.lower().endswith(YAML_SUFFIXES)
    try:
        if entry.is_dir():  # follows symbolic links
            if is_yaml:
                return "is a directory, not a YAML file"
            pending.append(path)
            return None
        if entry.is_file():
            if is_yaml:
                found.append(path)
            return None
        if not is_yaml:
            return None
        if entry.is_symlink() and not path.exists():
            return f"broken symbolic link (to {os.readlink(path)!r})"
        return "not a regular file (a pipe, socket or device)"
    except OSError as exc:
        return f"cannot read ({_reason(exc)})" if is_yaml else None


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def sha256_file(path: Path | str) -> str:
    """The sha256 of a file's bytes, read in blocks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def sync_directory(folder: Path) -> None:
    """Flush a folder's entries (a new or renamed name) to disk, where the system allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class NotRegularFile(OSError):
    """A FIFO, a device or a socket where a file was expected (a folder is ``IsADirectoryError``)."""


class FileTooLarge(OSError):
    """A file larger than the reader's limit."""


def read_regular(path: Path | str, *, limit: int | None = None) -> bytes:
    """The bytes of a regular file, without ever blocking on a FIFO or reading a device without end.

    Raises ``FileNotFoundError``/``IsADirectoryError`` as ``open`` would, ``NotRegularFile`` for anything
    else that is not a regular file, ``FileTooLarge`` beyond ``limit`` bytes (each an ``OSError`` whose
    ``strerror`` says what is wrong). A NUL in the path (a name taken from a record) is an ``OSError``
    too, not a crash.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except ValueError as exc:  # "embedded null byte"
        raise OSError(errno.EINVAL, str(exc), repr(str(path))) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory; expected a file", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file (a FIFO, a device or a socket)", str(path))
        if limit is None:
            return handle.read()
        data = b"" if info.st_size > limit else handle.read(limit + 1)  # a file may grow while it is read
        if info.st_size > limit or len(data) > limit:
            raise FileTooLarge(errno.EFBIG, f"larger than {limit:,} bytes", str(path))
        return data
