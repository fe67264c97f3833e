"""GitHub Actions step outputs: the verdict and the counts appended to ``$GITHUB_OUTPUT``.

A later step reads them as ``steps.<id>.outputs.<name>``:

- ``verdict``: ``promote``, ``block`` or ``rollback`` (a scan: what a gate would have decided)
- ``exit_code``: the exit code the command returned
- ``passed``, ``failed``, ``errors``, ``waived``: policies and eval suites by outcome
- ``failing_results``: failing results (outputs that failed a rule; waived ones not counted)
- ``policies_failed``: the ids of the policies and suites that failed or erred, a JSON array
  (``fromJSON(steps.gate.outputs.policies_failed)``)
- ``partial``: ``true`` when ``--select``/``--deselect`` narrowed the run, else ``false``

Each is written ``name=value`` (GitHub's format); a value holding a line break, which none of these
should, is written in the delimiter form ``name<<DELIMITER`` with a delimiter that is not in the value.
The file is protected as ``$GITHUB_STEP_SUMMARY`` is: never an input or a record of the run, never a file
with a second hard link; and it must be a regular file.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from ..errors import EnvError, InputError, Location
from ..model import ReleaseSettings
from .judge import GateResult, PathLike
from .reports import check_report_path


def step_outputs(result: GateResult, *, exit_code: int | None = None) -> dict[str, str]:
    """The step outputs of a gate or scan, by name; ``exit_code`` defaults to the result's."""
    report = result.report
    s = report.summary
    return {
        "verdict": report.verdict.value,
        "exit_code": str(int(result.exit_code if exit_code is None else exit_code)),
        "passed": str(s.passed),
        "failed": str(s.failed),
        "errors": str(s.errors),
        "waived": str(s.waived),
        "failing_results": str(sum(r.status != "waived" for r in report.results)),
        "policies_failed": json.dumps([p.id for p in report.policies if p.status in ("fail", "error")],
                                      separators=(",", ":")),
        "partial": "true" if report.run.selection is not None else "false",
    }


def output_lines(values: Mapping[str, str]) -> str:
    """The ``$GITHUB_OUTPUT`` text for ``values``: ``name=value`` lines, the delimiter form for multi-line values."""
    lines = []
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
            while delimiter in value:  # pragma: no cover - 128 random bits
                delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
            lines += [f"{name}<<{delimiter}", value, delimiter]
        else:
            lines.append(f"{name}={value}")
    return "".join(line + "\n" for line in lines)


def _check_own_file(status: os.stat_result, path: PathLike, option: str) -> None:
    """Refuse anything but a regular file with one name (the runner creates a fresh file for each step)."""
    if not stat.S_ISREG(status.st_mode):  # a FIFO would block the step for ever; a device is no place for outputs
        raise InputError(f"{option} is not a regular file (a FIFO, a device or a socket); expected the file the"
                         " runner creates for each step", Location(file=str(path)))
    if status.st_nlink > 1:  # appending writes through every name: a second name may be a record elsewhere
        raise InputError(f"{option} has {status.st_nlink} hard links; expected a file of its own (the runner"
                         " creates one for each step)", Location(file=str(path)))


def append_step_file(path: PathLike, text: str, *, option: str = "$GITHUB_OUTPUT") -> None:
    """Append ``text`` to a file the runner gave the step (``$GITHUB_OUTPUT``, ``$GITHUB_STEP_SUMMARY``).

    Never blocks and never writes through a second name: anything but a regular file with one link is an
    ``InputError`` (checked on the name, then on what was opened); a failed open or write is an ``EnvError``.
    """
    data = text.encode("utf-8")
    try:
        _check_own_file(os.stat(path), path, option)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise EnvError(str(exc.strerror or exc), Location(file=str(path))) from None
    try:  # non-blocking: a FIFO put there since fails at once (no reader) or is refused below
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0),
                     0o644)
    except OSError as exc:
        raise EnvError(str(exc.strerror or exc), Location(file=str(path))) from None
    try:
        _check_own_file(os.fstat(fd), path, option)  # what was opened, whatever the name pointed to a moment ago
        os.set_blocking(fd, True)
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
    except OSError as exc:
        raise EnvError(str(exc.strerror or exc), Location(file=str(path))) from None
    finally:
        os.close(fd)


def write_step_outputs(result: GateResult, path: PathLike, *, exit_code: int | None = None,
                       settings: ReleaseSettings | None = None, evals: PathLike | None = None,
                       incidents: PathLike | None = None) -> Path:
    """Append the step outputs to ``path`` (``$GITHUB_OUTPUT`` in GitHub Actions).

    Refused (``InputError``), as for ``$GITHUB_STEP_SUMMARY``: an input of the run, a record of the release
    (``settings``: the decision log, the registry...), a path inside the policies, evals or incidents
    folders, a file with more than one hard link, and anything but a regular file (a FIFO would block the step
    for ever, a device is no place for outputs). A write that fails is an ``EnvError``.
    """
    check_report_path(path, settings=settings, outputs=result.outputs.path,
                      baseline=result.baseline.path if result.baseline is not None else None,
                      policies=result.project.policies_dir, evals=evals, incidents=incidents,
                      option="$GITHUB_OUTPUT", appending=True)
    append_step_file(path, output_lines(step_outputs(result, exit_code=exit_code)))
    return Path(path)
