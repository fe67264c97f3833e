"""The error hierarchy and the exit codes the command maps verdicts and errors to.

Three kinds of failure, each with its own exit code:

- :class:`InputError`: something the user wrote or passed is wrong (a policy, an outputs
  line, an option, an unknown model). Exit 4.
- :class:`EnvError`: the world around the harness failed (the registry is unreachable or
  corrupt, a lock was held too long, the decision log is missing or damaged). The input
  may be fine; re-running once the environment is fixed can succeed. Exit 6.
- anything else is a bug of the harness: exit 5.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class ExitCode(enum.IntEnum):
    """Exit codes of the ``harness`` command, documented in the README."""

    PROMOTE = 0
    BLOCK = 1
    ROLLBACK = 3
    INVALID_INPUT = 4
    INTERNAL_ERROR = 5
    ENVIRONMENT = 6


@dataclass(frozen=True, slots=True)
class Location:
    """Where a problem is: a file, a 1-based line and column where known, and a JSON path."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    json_path: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.file:
            where = _shown(self.file)
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            parts.append(where)
        if self.json_path:
            parts.append(self.json_path)
        return ": ".join(parts)


def _shown(name: str) -> str:
    """A file name for one line of output: a control character in it (a newline) is escaped, never obeyed."""
    if name.isprintable():
        return name
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in name)


class HarnessError(Exception):
    """Root of every error the library raises on purpose."""

    exit_code = ExitCode.INTERNAL_ERROR

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location or Location()

    def __str__(self) -> str:
        where = str(self.location)
        return f"{where}: {self.message}" if where else self.message


class InputError(HarnessError):
    """Bad input from the user: a file, a field, an option. One readable line, exit code 4."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(
        self, message: str, location: Location | None = None, *, subpath: tuple[str | int, ...] = ()
    ) -> None:
        super().__init__(message, location)
        #: where inside the object being checked, when the raiser knows only that much
        self.subpath = subpath


class InputErrors(InputError):
    """Several input errors found in one pass, reported together (``harness validate``)."""

    def __init__(self, errors: Sequence[InputError]) -> None:
        flat: dict[str, InputError] = {}  # an error found twice (by the YAML reader and a check) is listed once
        for error in errors:
            for one in error.errors if isinstance(error, InputErrors) else [error]:
                flat.setdefault(str(one), one)
        self.errors: tuple[InputError, ...] = tuple(flat.values())
        super().__init__(f"{len(self.errors)} error(s)")

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)

    @classmethod
    def raise_if_any(cls, errors: Iterable[InputError]) -> None:
        collected = list(errors)
        if collected:
            raise cls(collected)


class EnvError(HarnessError):
    """The environment failed: a registry, a lock, the decision log, a file system. Exit code 6."""

    exit_code = ExitCode.ENVIRONMENT


class LockTimeout(EnvError):
    """Another process held a lock longer than we were willing to wait."""
