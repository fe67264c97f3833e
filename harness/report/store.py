"""The audit store of reports: each kept as ``<sha256>.json``, the bytes the sha256 was taken of.

The registry's ``harness.report_sha256`` tag and the decision log name a report by the
sha256 of its JSON text; keeping those exact bytes lets an auditor fetch the report and
re-hash it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import EnvError, InputError, Location
from ..io.files import read_regular, write_atomic
from .model import Report


@dataclass(frozen=True, slots=True)
class StoredReport:
    sha256: str
    path: Path


def report_bytes(report: Report) -> bytes:
    """The JSON bytes of a report, as stored and hashed."""
    return report.to_json().encode("utf-8")


def store_report(report: Report, directory: Path) -> StoredReport:
    """Keep the report's JSON bytes under their sha256; storing the same report twice writes once."""
    data = report_bytes(report)
    digest = hashlib.sha256(data).hexdigest()
    path = directory / f"{digest}.json"
    try:
        if not (path.is_file() and path.read_bytes() == data):
            write_atomic(path, data)
    except OSError as exc:
        raise EnvError(f"cannot keep the report: {exc.strerror or exc}", Location(str(path))) from None
    return StoredReport(digest, path)


def load_report(directory: Path, sha256: str) -> Report:
    """A stored report by its sha256, checked against it."""
    path = directory / f"{sha256}.json"
    try:
        data = read_regular(path)
    except FileNotFoundError:
        raise InputError(f"no stored report {sha256}", Location(str(path))) from None
    except OSError as exc:
        raise EnvError(f"cannot read the stored report: {exc.strerror or exc}", Location(str(path))) from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise EnvError("the stored report does not match its sha256: it was changed after it was kept",
                       Location(str(path)))
    return Report.from_json(data)
