"""Writing a report where the caller asks: never over an input of the run or a record of the release.

``harness gate --output PATH`` is a face over these functions, and so is the summary appended to
``$GITHUB_STEP_SUMMARY``; a library caller who writes a report gets the same protection. A report
written over (or appended to) the decision log, its ``.head`` record, a lock file or the registry
would stop every later gate and ``log verify`` (exit 6).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import EnvError, InputError, Location
from ..model import ReleaseSettings
from ..release.registry import local_store
from .judge import GateResult, PathLike


def check_report_path(path: PathLike, *, settings: ReleaseSettings | None = None, outputs: PathLike | None = None,
                      baseline: PathLike | None = None, policies: PathLike | None = None,
                      evals: PathLike | None = None, incidents: PathLike | None = None, option: str = "--output",
                      appending: bool = False, written: str = "the report") -> None:
    """Refuse (``InputError``, exit 4) a report path that is an input of the run or a record of the release.

    Refused: the outputs and baseline files; the release signing key's file (``$HARNESS_SIGNING_KEY_FILE``);
    anything inside the policies, evals and incidents folders, the rollback state folder and the stored
    reports folder; the decision log and the files named after it (``<log>.head``, ``<log>.lock``); the
    registry's file or database and the files named after it (its lock files). A symbolic link is judged by
    where it points.
    ``option`` names the path in the messages; ``appending``: the report is appended to it, not written over it;
    ``written``: what is written, as the messages say it (``the report``, ``the policy``...).
    """
    output = Path(path)
    named = f"{option} {output}"
    harm = "be appended to" if appending else "replace"
    if output.is_dir():
        raise InputError(f"{named} is a directory; name a file")
    files: dict[str, Path | None] = {"the --outputs file": _path(outputs), "the --baseline file": _path(baseline),
                                     # written over, the release key would be lost (and the report signs nothing)
                                     "the release signing key ($HARNESS_SIGNING_KEY_FILE)":
                                         _path(os.environ.get("HARNESS_SIGNING_KEY_FILE", "").strip() or None)}
    folders: dict[str, Path | None] = {"--policies": _path(policies), "--evals": _path(evals),
                                       "--incidents": _path(incidents)}
    records: dict[str, Path | None] = {}
    if settings is not None:
        records = {"decision log": settings.decision_log, "registry file": local_store(settings.registry)}
        folders |= {"rollback state": settings.state_dir, "stored reports": settings.reports_dir}
    for what, file in files.items():
        if file is not None and _same_file(output, file):
            raise InputError(f"{named} is {what}: {written} would {harm} it; name another file")
    for what, record in records.items():
        if record is not None and _same_file(output, record):
            raise InputError(f"{named} is the {what}: {written} would {harm} it; name another file")
        if record is not None and _companion(output, record):
            raise InputError(f"{named} is a file of the {what} {record} (its head record or a lock):"
                             f" {written} would {harm} it; name another file")
    for what, folder in folders.items():
        if folder is not None and _inside(output, folder):
            raise InputError(f"{named} is inside the {what} directory {folder}: {written} could {harm}"
                             " a record or be read as one; write it elsewhere")


def write_report(result: GateResult, path: PathLike, *, fmt: str = "json", settings: ReleaseSettings | None = None,
                 evals: PathLike | None = None, incidents: PathLike | None = None, color: bool = False) -> Path:
    """Render the report and write it atomically to ``path``, after :func:`check_report_path`.

    The run's own inputs (outputs, baseline, policies) are protected without being named;
    ``settings`` protects the release's records; ``color`` applies to the ``text`` format only.
    A write that fails is an ``EnvError`` (exit 6) naming the file: the verdict in ``result`` stands.
    """
    from ..io.files import write_atomic
    from ..report import render

    check_report_path(path, settings=settings, outputs=result.outputs.path,
                      baseline=result.baseline.path if result.baseline is not None else None,
                      policies=result.project.policies_dir, evals=evals, incidents=incidents)
    content = render(result.report, fmt, color=color and fmt == "text", width=None)
    try:
        write_atomic(Path(path), content)
    except OSError as exc:
        raise EnvError(f"cannot write the report: {exc.strerror or exc}", Location(file=str(path))) from None
    return Path(path)


def append_summary(result: GateResult, path: PathLike, *, settings: ReleaseSettings | None = None,
                   evals: PathLike | None = None, incidents: PathLike | None = None) -> Path:
    """Append the Markdown report to ``path`` (``$GITHUB_STEP_SUMMARY`` in GitHub Actions).

    The same paths as :func:`write_report` are refused (``InputError``): Markdown appended to the
    decision log would fail ``log verify`` for ever; so is a file with more than one hard link, which
    may be a record under another name, and anything but a regular file (a FIFO would block the step for
    ever). A write that fails is an ``EnvError``.
    """
    from ..report import render

    check_report_path(path, settings=settings, outputs=result.outputs.path,
                      baseline=result.baseline.path if result.baseline is not None else None,
                      policies=result.project.policies_dir, evals=evals, incidents=incidents,
                      option="$GITHUB_STEP_SUMMARY", appending=True)
    from .github import append_step_file

    append_step_file(path, render(result.report, "markdown"), option="$GITHUB_STEP_SUMMARY")
    return Path(path)


def _path(value: PathLike | None) -> Path | None:
    return None if value is None else Path(value)


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet): compare where they would be
        return _resolved(a) == _resolved(b)


def _companion(path: Path, record: Path) -> bool:
    """Whether ``path`` is a file kept next to ``record`` and named after it (``<record>.head``, ``.lock``).

    The companions sit next to the name given (a linked log's ``.head`` is next to the link), so
    both that name and the file it points at are compared.
    """
    mine = _resolved(path)
    named = (_resolved(record.parent) / record.name, _resolved(record))
    return any(mine.parent == theirs.parent and mine.name.startswith(theirs.name + ".") for theirs in named)


def _inside(path: Path, folder: Path) -> bool:
    return _resolved(path).is_relative_to(_resolved(folder))
