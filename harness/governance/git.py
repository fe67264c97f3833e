"""Read-only access to the git repository that holds the policies: revisions, commits, trees, file bytes.

Every call runs the ``git`` program without a shell, with an explicit working directory (the
repository's top level), ``--no-pager``, literal pathspecs and ``-c`` options that keep a
repository's own configuration from running programs (``core.fsmonitor``) or changing what
is read (replace refs). Objects are read by id through one ``git cat-file --batch`` process,
so a file name (a newline, a leading dash, any byte) is never parsed out of text: trees are
read in git's binary format. Nothing here writes to the repository.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from ..errors import EnvError, InputError, Location
from ..io.files import display_path

#: repository configuration that could run a program or change what a read sees, switched off
_SAFE_CONFIG = ("core.fsmonitor=false", "core.quotePath=false", "log.showSignature=false", "color.ui=never",
                "core.untrackedCache=false", "diff.external=", "i18n.logOutputEncoding=UTF-8")
#: variables that would point git at another repository, index or object store than the policies' own (a git
#: hook, pre-commit's included, runs with some of them set)
_REPOSITORY_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                         "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX",
                         "GIT_EXTERNAL_DIFF", "GIT_PAGER")
_TIMEOUT_S = 300.0
_HEX = re.compile(rb"^[0-9a-f]{40}([0-9a-f]{24})?$")
#: the largest object read (a policy file is at most 8 MiB; a tree of a large folder stays far below this)
MAX_OBJECT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Commit:
    """A commit as the history shows it: id, author, author date (UTC), subject and its tree.

    ``author`` and ``subject`` are untrusted text, decoded as UTF-8 with replacement characters.
    """

    sha: str
    tree: str
    parents: tuple[str, ...]
    author: str
    author_email: str
    authored: dt.datetime
    committed: dt.datetime
    subject: str


@dataclass(frozen=True)
class TreeFile:
    """A file of a tree: its path from the repository root (posix), mode and blob id."""

    path: str
    mode: str
    blob: str

    @property
    def is_symlink(self) -> bool:
        return self.mode == "120000"

    @property
    def is_file(self) -> bool:
        return self.mode in ("100644", "100755")

    @property
    def is_submodule(self) -> bool:
        return self.mode == "160000"


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REPOSITORY_VARIABLES and not k.startswith("GIT_TRACE")}
    env.update(GIT_NO_REPLACE_OBJECTS="1", GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0", LC_ALL="C",
               LANGUAGE="C")
    return env


def _git_program() -> str:
    program = shutil.which("git")
    if program is None:
        raise EnvError("the git program is not installed or not on PATH; reading the policies' history needs it")
    return program


def _command(*args: str) -> list[str]:
    command = [_git_program(), "--no-pager", "--literal-pathspecs"]
    for option in _SAFE_CONFIG:
        command += ["-c", option]
    return [*command, *args]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(_command(*args), cwd=cwd, env=_environment(), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise EnvError(f"git {args[0]} took longer than {_TIMEOUT_S:g} s in {cwd}") from None
    except OSError as exc:
        raise EnvError(f"cannot run git in {cwd}: {exc.strerror or exc}") from None


def _message(stderr: bytes) -> str:
    """Git's complaint on one line (its hint lines too: "add an exception with git config ... safe.directory")."""
    text = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return " ".join(text) if text else "no message"


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _parse_person(line: bytes) -> tuple[str, str, dt.datetime]:
    """``Name <email> 1700000000 +0100`` (the header's value): the name, the address and the time (UTC)."""
    opening, closing = line.rfind(b"<"), line.rfind(b">")
    if opening < 0 or closing < opening:
        return _decode(line).strip(), "", dt.datetime.fromtimestamp(0, dt.UTC)
    name, email = line[:opening].strip(), line[opening + 1:closing]
    when = line[closing + 1:].split()
    try:
        moment = dt.datetime.fromtimestamp(int(when[0]), dt.UTC)
    except (IndexError, ValueError, OverflowError, OSError):
        moment = dt.datetime.fromtimestamp(0, dt.UTC)
    return _decode(name), _decode(email), moment


def parse_commit(sha: str, raw: bytes) -> Commit:
    """A commit object's headers and subject (the first line of its message)."""
    head, _, message = raw.partition(b"\n\n")
    tree, parents = "", []
    author: tuple[str, str, dt.datetime] = ("", "", dt.datetime.fromtimestamp(0, dt.UTC))
    committed = author[2]
    for line in head.split(b"\n"):
        key, _, value = line.partition(b" ")
        if key == b"tree":
            tree = value.decode("ascii", "replace")
        elif key == b"parent":
            parents.append(value.decode("ascii", "replace"))
        elif key == b"author":
            author = _parse_person(value)
        elif key == b"committer":
            committed = _parse_person(value)[2]
    # the subject as git shows it (%s): the first paragraph, its lines joined by spaces
    paragraph = message.strip().split(b"\n\n", 1)[0] if message.strip() else b""
    subject = " ".join(_decode(line).strip() for line in paragraph.split(b"\n"))
    return Commit(sha, tree, tuple(parents), author[0], author[1], author[2], committed, subject)


class _Objects:
    """One ``git cat-file --batch`` process: objects by id, requested one at a time."""

    def __init__(self, root: Path) -> None:
        try:
            self._process = subprocess.Popen(_command("cat-file", "--batch"), cwd=root, env=_environment(),
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL)
        except OSError as exc:
            raise EnvError(f"cannot run git in {root}: {exc.strerror or exc}") from None
        self._in: IO[bytes] = self._process.stdin  # type: ignore[assignment]
        self._out: IO[bytes] = self._process.stdout  # type: ignore[assignment]

    def read(self, sha: str) -> tuple[str, bytes] | None:
        """The type and bytes of an object, or ``None`` when the repository does not have it."""
        if not _HEX.match(sha.encode("ascii", "replace")):
            raise ValueError(f"not an object id: {sha!r}")
        try:
            self._in.write(sha.encode("ascii") + b"\n")
            self._in.flush()
            header = self._out.readline()
        except OSError as exc:
            raise EnvError(f"git cat-file failed: {exc.strerror or exc}") from None
        parts = header.split()
        if len(parts) == 2 and parts[1] == b"missing":
            return None
        if len(parts) != 3:
            raise EnvError(f"git cat-file answered {header[:80]!r} for object {sha}")
        size = int(parts[2])
        if size > MAX_OBJECT_BYTES:
            raise EnvError(f"object {sha} is {size} bytes; at most {MAX_OBJECT_BYTES} are read")
        data = self._out.read(size + 1)
        if len(data) != size + 1:
            raise EnvError(f"git cat-file ended while reading object {sha}")
        return parts[1].decode("ascii"), data[:size]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._in.close()
        try:
            self._process.wait(timeout=_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._out.close()


class Repository:
    """The git repository holding a policies folder: its top level and the folder's path inside it."""

    def __init__(self, root: Path, prefix: str) -> None:
        self.root = root
        #: the policies folder from the top level, posix ("" when the policies are the top level)
        self.prefix = prefix
        self._objects: _Objects | None = None
        self._trees: dict[str, list[tuple[str, str, str]]] = {}

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._objects is not None:
            self._objects.close()
            self._objects = None

    def git(self, *args: str) -> bytes:
        """Standard output of a read-only git command run at the top level; ``EnvError`` when it fails."""
        done = _run(list(args), self.root)
        if done.returncode != 0:
            raise EnvError(f"git {args[0]} failed in {self.root}: {_message(done.stderr)}")
        return done.stdout

    def has_commits(self) -> bool:
        done = _run(["rev-list", "-n", "1", "--all"], self.root)
        return done.returncode == 0 and bool(done.stdout.strip())

    def shallow_boundary(self) -> frozenset[str]:
        """The commits a shallow clone's history is cut at (their parents were not fetched); empty for a full clone."""
        done = _run(["rev-parse", "--git-path", "shallow"], self.root)
        if done.returncode != 0:
            return frozenset()
        path = self.root / os.fsdecode(done.stdout.rstrip(b"\n"))
        try:
            text = path.read_bytes()
        except OSError:
            return frozenset()  # no such file: not shallow
        return frozenset(line.decode("ascii") for line in text.split() if _HEX.match(line))

    def resolve(self, rev: str, *, option: str = "revision") -> str:
        """The commit id a revision names; ``InputError`` naming it when it names no commit."""
        if not rev or "\n" in rev or "\0" in rev:
            raise InputError(f"{option} {rev!r}: expected a revision (a branch, a tag or a commit id)")
        done = _run(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"], self.root)
        sha = done.stdout.strip()
        if done.returncode == 0 and _HEX.match(sha):
            return sha.decode("ascii")
        if not self.has_commits():
            raise InputError(f"{option} {rev!r}: the repository {self.root} has no commits yet; commit the policies"
                             " first")
        if ".." in rev:
            raise InputError(f"{option} {rev!r}: a range of commits; expected one revision (a branch, a tag or a"
                             " commit id)")
        other = _run(["cat-file", "-t", "--end-of-options", rev], self.root)
        kind = other.stdout.strip().decode("ascii", "replace")
        if other.returncode == 0 and kind in ("tree", "blob"):
            raise InputError(f"{option} {rev!r}: names a {kind}, not a commit; expected a branch, a tag or a commit"
                             " id")
        raise InputError(f"{option} {rev!r}: no such revision in the repository {self.root}; expected a branch, a"
                         " tag or a commit id (a shallow CI clone needs its history: fetch-depth: 0)")

    def _object(self, sha: str, kind: str) -> bytes:
        if self._objects is None:
            self._objects = _Objects(self.root)
        found = self._objects.read(sha)
        if found is None or found[0] != kind:
            raise EnvError(f"git object {sha} is missing or not a {kind} in {self.root} (a damaged or shallow"
                           " clone?)")
        return found[1]

    def commit(self, sha: str) -> Commit:
        return parse_commit(sha, self._object(sha, "commit"))

    def blob(self, sha: str) -> bytes:
        return self._object(sha, "blob")

    def _tree(self, sha: str) -> list[tuple[str, str, str]]:
        """A tree's entries (mode, name, id); names decoded as UTF-8 with escapes for other bytes."""
        cached = self._trees.get(sha)
        if cached is not None:
            return cached
        raw = self._object(sha, "tree")
        width = len(sha) // 2
        entries, pos = [], 0
        while pos < len(raw):
            space = raw.index(b" ", pos)
            nul = raw.index(b"\0", space)
            mode = raw[pos:space].decode("ascii").rjust(6, "0")
            name = raw[space + 1:nul].decode("utf-8", "surrogateescape")
            entries.append((mode, name, raw[nul + 1:nul + 1 + width].hex()))
            pos = nul + 1 + width
        self._trees[sha] = entries
        return entries

    def _folder(self, commit: Commit | str) -> str | None:
        """The tree of the policies folder at a commit; ``None`` when there is no such folder there."""
        tree = (commit if isinstance(commit, Commit) else self.commit(commit)).tree
        for part in PurePosixPath(self.prefix).parts if self.prefix else ():
            found = [sha for mode, name, sha in self._tree(tree) if name == part and mode == "040000"]
            if not found:
                return None
            tree = found[0]
        return tree

    def has_folder(self, commit: Commit | str) -> bool:
        """Whether the policies folder is a folder at a commit (not absent, not a symbolic link or a submodule)."""
        return self._folder(commit) is not None

    def files(self, commit: Commit | str) -> list[TreeFile]:
        """Every entry under the policies folder at a commit but folders (sorted by path): files, symbolic links
        and submodules (see :class:`TreeFile`); none when the folder is absent."""
        tree = self._folder(commit)
        return [] if tree is None else sorted(self._walk(tree, self.prefix), key=lambda f: f.path)

    def entry_mode(self, commit: Commit | str, path: str) -> str | None:
        """The mode of the entry at ``path`` (posix, from the top level) at a commit; ``None`` when there is none."""
        tree: str | None = (commit if isinstance(commit, Commit) else self.commit(commit)).tree
        mode = "040000"
        for part in PurePosixPath(path).parts:
            if tree is None or mode != "040000":
                return None
            found = [(m, sha) for m, name, sha in self._tree(tree) if name == part]
            if not found:
                return None
            mode, tree = found[0]
        return mode

    def _walk(self, tree: str, folder: str) -> Iterator[TreeFile]:
        for mode, name, sha in self._tree(tree):
            path = f"{folder}/{name}" if folder else name
            if mode == "040000":
                yield from self._walk(sha, path)
            else:
                yield TreeFile(path, mode, sha)

    def commits(self, start: str = "HEAD") -> list[str]:
        """The commits that changed the policies folder, oldest first (topological order)."""
        args = ["rev-list", "--reverse", "--topo-order", "--end-of-options", start, "--"]
        args.append(self.prefix if self.prefix else ".")
        return [line.decode("ascii") for line in self.git(*args).split() if _HEX.match(line)]


def find_repository(policies_dir: Path | str) -> Repository:
    """The repository that holds ``policies_dir``; ``InputError`` when it is not inside one."""
    folder = Path(policies_dir)
    shown = display_path(folder)
    if not folder.is_dir():
        raise InputError("policies directory not found", Location(shown))
    done = _run(["rev-parse", "--show-toplevel"], folder.resolve())
    if done.returncode != 0:
        problem = _message(done.stderr)
        if "not a git repository" in problem:
            raise InputError("not in a git repository: the policies' versions and history are read from git"
                             " (run inside a clone of the policy repository)", Location(shown))
        raise InputError(f"cannot read the git repository of the policies: {problem}", Location(shown))
    top = Path(os.fsdecode(done.stdout.rstrip(b"\n"))).resolve()
    try:
        relative = folder.resolve().relative_to(top)
    except ValueError:
        raise InputError(f"the policies folder is not inside the repository {top}", Location(shown)) from None
    prefix = relative.as_posix()
    return Repository(top, "" if prefix == "." else prefix)
