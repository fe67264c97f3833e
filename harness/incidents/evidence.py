"""The evidence vault: files copied into ``incidents/evidence/INC-YYYY-NNNN/<sha256>``, read-only.

Evidence comes before change (AI Act Art. 73(6)): ``harness incident evidence add`` copies
logs, prompts and outputs into a content-addressed folder beside the record and records
each file's name, sha256, size and source as an ``evidence`` event. Every source is checked
before anything is copied, so a missing or unreadable file leaves the vault as it was. A
copy is hashed while it is written to a temporary file in the vault, flushed to disk and
then linked to its sha256 name: a name in the vault always holds whole content, and the
same content added twice is stored once. The originals are only read (not even their
access time changes where the system allows it). :func:`verify` re-hashes what was stored,
:func:`strays` lists what no event accounts for. The vault and the ``evidence`` folder above it
are never symbolic links: one is refused, not followed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import EnvError, InputError, InputErrors, Location
from ..io.files import sync_directory
from .model import Incident

#: the largest file ``evidence add`` copies (logs and output files; a model's weights are not evidence here)
MAX_EVIDENCE_BYTES = 256 * 1024 * 1024
#: the mode of a stored file and of the vault folder
STORED_MODE = 0o444
VAULT_MODE = 0o755
_CHUNK = 1024 * 1024
_TEMP_PREFIX = ".capture-"


def check_sources(paths: Iterable[Path | str], *, vault: Path | None = None) -> list[Path]:
    """The files to capture, as absolute paths (a file named twice is kept once); every problem at once.

    Each must exist and be a regular file that this process can read (a symbolic link to one
    is fine, a broken link is not; a directory, pipe, socket or device is refused), at most
    :data:`MAX_EVIDENCE_BYTES` long, and not inside ``vault``. ``InputError`` names the file and
    why; ``InputErrors`` lists every refused file when there are several.
    """
    vault_real = os.path.realpath(vault) if vault is not None else None
    found: list[Path] = []
    seen: set[str] = set()
    problems: list[InputError] = []
    for given in paths:
        source = Path(os.path.abspath(given))
        problem = _source_problem(source, vault_real)
        if problem:
            problems.append(InputError(problem, Location(str(given))))
            continue
        real = os.path.realpath(source)
        if real not in seen:
            seen.add(real)
            found.append(source)
    if len(problems) == 1:
        raise problems[0]
    InputErrors.raise_if_any(problems)
    return found


def _source_problem(source: Path, vault_real: str | None) -> str | None:
    """Why ``source`` cannot be evidence, or ``None``."""
    try:
        info = source.stat()
    except FileNotFoundError:
        if source.is_symlink():
            return f"broken symbolic link (to {os.readlink(source)!r}); expected a file to capture as evidence"
        return "no such file; expected a file to capture as evidence"
    except OSError as exc:
        return f"cannot be read ({_reason(exc)})"
    if stat.S_ISDIR(info.st_mode):
        return "is a directory; expected a file (name the files inside it)"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a pipe, socket or device); expected a file to capture as evidence"
    if info.st_size > MAX_EVIDENCE_BYTES:
        return f"is {info.st_size} bytes; evidence files are limited to {MAX_EVIDENCE_BYTES // (1024 * 1024)} MiB"
    if vault_real is not None:
        real = os.path.realpath(source)
        if real == vault_real or real.startswith(vault_real.rstrip(os.sep) + os.sep):
            return "is inside the evidence vault already; expected a file from outside it"
    try:
        os.close(_open_source(source))
    except OSError as exc:
        return f"cannot be read ({_reason(exc)})"
    return None


def _open_source(source: Path) -> int:
    """A read-only descriptor of ``source`` that never blocks on a pipe and leaves its access time alone."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    noatime = getattr(os, "O_NOATIME", 0)
    if noatime:
        try:
            return os.open(source, flags | noatime)
        except PermissionError as exc:  # O_NOATIME is for the file's owner only; EACCES is a real refusal
            if exc.errno != errno.EPERM:
                raise
    return os.open(source, flags)


def capture(vault: Path, paths: Iterable[Path | str]) -> list[dict[str, Any]]:
    """Copy ``paths`` into ``vault`` under their sha256; the fields of one ``evidence`` event per file.

    Each dict holds ``name`` (the file's base name), ``sha256``, ``size`` and ``source`` (the path
    as given, made absolute). Every file is checked first (:func:`check_sources`): on
    ``InputError`` nothing was copied. Content already in the vault is kept, not written again.
    ``EnvError`` when the vault cannot be written or holds other bytes under a file's sha256.
    """
    vault = Path(vault)
    sources = check_sources(paths, vault=vault)
    if not sources:
        return []
    link = _linked(vault)
    if link:
        raise EnvError(link[1], Location(str(link[0])))
    _make_vault(vault)
    return [_store(vault, source) for source in sources]


def _linked(vault: Path) -> tuple[Path, str] | None:
    """The vault folder, or the ``evidence`` folder holding it, that is a symbolic link, and why that is refused."""
    for folder in (vault.parent, vault):
        if folder.is_symlink():
            try:
                target = os.readlink(folder)
            except OSError:
                target = "?"
            return folder, (f"is a symbolic link (to {target!r}); the evidence vault must be a real folder beside"
                            " the incident records, never a link (replace the link with the folder it points to)")
    return None


def _make_vault(vault: Path) -> None:
    try:
        vault.parent.mkdir(parents=True, exist_ok=True)
        try:
            vault.mkdir(mode=VAULT_MODE)
        except FileExistsError:
            pass
        else:
            os.chmod(vault, VAULT_MODE)  # whatever the umask
    except OSError as exc:
        raise EnvError(f"cannot create the evidence vault ({_reason(exc)})", Location(str(vault))) from None
    if not vault.is_dir():
        raise EnvError("the evidence vault is not a directory", Location(str(vault)))


def _store(vault: Path, source: Path) -> dict[str, Any]:
    """Copy one file into the vault (hashed on the way); its event fields."""
    try:
        fd = _open_source(source)
    except OSError as exc:
        raise InputError(f"cannot be read ({_reason(exc)})", Location(str(source))) from None
    digest = hashlib.sha256()
    size = 0
    tmp = ""
    try:
        with os.fdopen(fd, "rb") as reader:
            if not stat.S_ISREG(os.fstat(reader.fileno()).st_mode):  # replaced since it was checked
                raise InputError("not a regular file (a pipe, socket or device); expected a file to capture"
                                 " as evidence", Location(str(source)))
            out_fd, tmp = tempfile.mkstemp(dir=vault, prefix=_TEMP_PREFIX, suffix=".tmp")
            with os.fdopen(out_fd, "wb") as writer:
                while chunk := reader.read(_CHUNK):
                    size += len(chunk)
                    if size > MAX_EVIDENCE_BYTES:
                        raise InputError(f"grew past {MAX_EVIDENCE_BYTES // (1024 * 1024)} MiB while being"
                                         " copied; evidence files are limited to that", Location(str(source)))
                    digest.update(chunk)
                    writer.write(chunk)
                writer.flush()
                os.fchmod(writer.fileno(), STORED_MODE)
                os.fsync(writer.fileno())
        sha256 = digest.hexdigest()
        _link_into_place(Path(tmp), vault / sha256, sha256, size)
    except OSError as exc:
        raise EnvError(f"cannot copy {source} into the evidence vault ({_reason(exc)})",
                       Location(str(vault))) from None
    finally:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
    sync_directory(vault)
    return {"name": source.name, "sha256": sha256, "size": size, "source": str(source)}


def _link_into_place(tmp: Path, target: Path, sha256: str, size: int) -> None:
    """Give the copy its sha256 name, never over another file; keep a stored file with the same content."""
    try:
        os.link(tmp, target)
        return
    except FileExistsError:
        pass
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
            raise
        if not os.path.lexists(target):  # a file system without hard links
            os.replace(tmp, target)
            return
    problem = _stored_problem(target, sha256, size)
    if problem:
        raise EnvError(f"{problem}; the vault already holds other bytes under this sha256 name (run harness"
                       " incident verify)", Location(str(target)))
    if stat.S_IMODE(target.stat().st_mode) & 0o222:
        os.chmod(target, STORED_MODE)


def _stored_problem(path: Path, sha256: str, size: int) -> str | None:
    """What is wrong with a stored file's bytes (not its mode), or ``None``."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return "missing from the vault"
    except OSError as exc:
        return f"cannot be read ({_reason(exc)})"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (the vault holds only plain files)"
    if info.st_size != size:
        return f"is {info.st_size} bytes; the event records {size}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            actual = hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        return f"cannot be read ({_reason(exc)})"
    if actual != sha256:
        return f"has sha256 {actual}; the event records {sha256} (the content changed)"
    return None


def verify(incident: Incident, vault: Path) -> list[str]:
    """Re-check every ``evidence`` event of ``incident`` against ``vault``: one line per problem, ``[]`` when intact.

    A stored file must exist under its sha256 and be a plain file with the recorded size and
    sha256. Each line names the event (its number and, when known, its line in the events file),
    the file captured and the stored path. A file that is intact but writable is no problem of its
    content (git does not keep the read-only bit, so every clone has them): :func:`writable` lists them.
    """
    link = _linked(Path(vault))
    if link:
        return [f"{link[0]}: {link[1]}; the vault was not checked"]
    problems = []
    for event, label, stored in _stored(incident, vault):
        problem = _stored_problem(stored, str(event.get("sha256")), int(event.get("size")))
        if problem:
            problems.append(f"{label}: {problem}")
    return problems


def writable(incident: Incident, vault: Path) -> list[str]:
    """The stored evidence files anyone may write (``chmod a-w`` them), one line each."""
    found: list[str] = []
    if _linked(Path(vault)):
        return found  # verify reports the link
    for _, label, stored in _stored(incident, vault):
        try:
            mode = stat.S_IMODE(stored.lstat().st_mode)
        except OSError:
            continue
        if mode & 0o222:
            found.append(f"{label}: is writable (mode {mode:o}); stored evidence is read-only ({STORED_MODE:o})")
    return found


def strays(incident: Incident, vault: Path) -> list[str]:
    """The entries of ``vault`` that no ``evidence`` event of ``incident`` names, one line each, sorted.

    A ``.capture-*.tmp`` file is the copy of an ``evidence add`` that was killed (or is running): the
    line says so. Anything else was put there by hand. Neither is evidence; none is deleted here.
    ``[]`` when the vault does not exist, or is a link (:func:`verify` reports that).
    """
    vault = Path(vault)
    if _linked(vault):
        return []
    try:
        names = sorted(os.listdir(vault))
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [f"{vault}: cannot be listed ({_reason(exc)})"]
    named = {str(event.get("sha256")) for event in incident.of_type("evidence")}
    lines = []
    for name in names:
        if name in named:
            continue
        if name.startswith(_TEMP_PREFIX) and name.endswith(".tmp"):
            lines.append(f"{vault / name}: a partial copy left by an interrupted evidence add (or one still"
                         " running); no evidence event names it, so it may be deleted")
        else:
            lines.append(f"{vault / name}: no evidence event of {incident.id} names it; it is not evidence"
                         " (add the original with harness incident evidence add, or remove it)")
    return lines


def _stored(incident: Incident, vault: Path) -> list[tuple[Any, str, Path]]:
    out = []
    for event in incident.of_type("evidence"):
        stored = Path(vault) / str(event.get("sha256"))
        where = f"{incident.events_path}:{event.line}: " if incident.events_path and event.line else ""
        out.append((event, f"{where}evidence event {event.seq} ({event.get('name')}): {stored}", stored))
    return out


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
