"""The risk register: closed incidents archived with their dates, causes, actions, lessons and links.

Each entry says what happened (id, title, severity, model), when (detected, contained,
resolved, reviewed, closed), why (the root-cause type of the latest RCA), what was done
about it (the RCA's corrective and preventive actions), what was learnt (the review's
lessons) and where the lesson lives now: the policies and eval suites the review named,
and those whose ``lessons_from`` or ``from_incident`` reference the incident. Rendered as
CSV (safe to open in a spreadsheet), Markdown (safe to render) or JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..clock import format_timestamp
from ..errors import InputError, InputErrors
from ..io.files import display_path, yaml_files
from ..io.yaml import load_yaml
from .model import Incident

FORMATS = ("markdown", "csv", "json")
#: files of the policies folder that are not policies
_NOT_POLICIES = ("playbook.yaml", "waivers.yaml", "signoffs.yaml")


@dataclass(frozen=True)
class Lessons:
    """Where the repository encodes an incident's lesson: policy id and suite name to their files."""

    policies: Mapping[str, Path] = field(default_factory=dict)
    suites: Mapping[str, Path] = field(default_factory=dict)

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(sorted({*self.policies.values(), *self.suites.values()}))


def lesson_references(policies_dir: Path | str, evals_dir: Path | str | None) -> dict[str, Lessons]:
    """Incident id to the policies (``lessons_from``) and eval suites (``from_incident``) that reference it now.

    Only the ids and references are read, not the whole policy: a file that does not parse as
    YAML is an error (``InputErrors``, ``harness validate`` says more), since a reference in it
    could not be seen.
    """
    found: dict[str, tuple[dict[str, Path], dict[str, Path]]] = {}
    problems: list[InputError] = []
    sources = [(Path(policies_dir), "id", "lessons_from", 0)]
    if evals_dir is not None and Path(evals_dir).is_dir():
        sources.append((Path(evals_dir), "suite", "from_incident", 1))
    for directory, key, ref, slot in sources:
        if not directory.is_dir():
            continue
        paths, unreadable = yaml_files(directory, exclude=_NOT_POLICIES if slot == 0 else ())
        problems.extend(unreadable)
        for path in paths:
            try:
                data = load_yaml(path, display_path(path)).data
            except InputError as exc:
                problems.append(exc)
                continue
            if not isinstance(data, dict) or not isinstance(data.get(key), str):
                continue
            refs = data.get(ref)
            for incident in refs if isinstance(refs, list) else [refs]:
                if isinstance(incident, str):
                    found.setdefault(incident, ({}, {}))[slot][data[key]] = path
    InputErrors.raise_if_any(problems)
    return {incident: Lessons(policies, suites) for incident, (policies, suites) in found.items()}


@dataclass(frozen=True)
class RegisterEntry:
    """One archived incident."""

    id: str
    title: str
    severity: str
    model: str
    model_version: str
    detected: str
    contained: str | None
    resolved: str | None
    reviewed: str | None
    closed: str | None
    root_cause_type: str | None
    corrective_action: str | None
    preventive_action: str | None
    lessons: tuple[str, ...]
    policies: tuple[str, ...]
    evals: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {name: list(value) if isinstance(value, tuple) else value for name, value in self.__dict__.items()}


COLUMNS = tuple(RegisterEntry.__dataclass_fields__)


def register_entries(incidents: Iterable[Incident], references: Mapping[str, Lessons]) -> list[RegisterEntry]:
    """The register: every closed incident of ``incidents``, in id order."""
    entries = []
    for incident in sorted(incidents, key=lambda i: i.id):
        if incident.closed_at is None:
            continue
        rca, review = incident.rca, incident.review
        lessons = references.get(incident.id, Lessons())
        stamps = incident.timestamps()
        entries.append(RegisterEntry(
            incident.id, incident.record.title, incident.severity, incident.record.model,
            incident.record.model_version, format_timestamp(incident.detected), stamps["contained"],
            stamps["resolved"], stamps["review_completed"], stamps["closed"],
            rca.get("root_cause_type") if rca else None, rca.get("corrective_action") if rca else None,
            rca.get("preventive_action") if rca else None,
            tuple(review.get("lessons") or ()) if review else (),
            _union(review.get("policies") if review else None, lessons.policies),
            _union(review.get("evals") if review else None, lessons.suites)))
    return entries


def _union(named: Sequence[str] | None, referencing: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({*(named or ()), *referencing}))


def export_register(incidents: Iterable[Incident], *, policies_dir: Path | str,
                    evals_dir: Path | str | None) -> list[RegisterEntry]:
    """The register of ``incidents`` with their links read from the repository."""
    return register_entries(incidents, lesson_references(policies_dir, evals_dir))


def register_for(incidents_dir: Path | str = "incidents", policies_dir: Path | str = "policies",
                 evals_dir: Path | str | None = "evals") -> list[RegisterEntry]:
    """The register of a repository's folders; ``InputErrors`` when an incident does not read."""
    from .store import IncidentStore

    incidents, problems = IncidentStore(incidents_dir).load_all()
    InputErrors.raise_if_any(problems)
    return export_register(incidents, policies_dir=policies_dir, evals_dir=evals_dir)


def render_register(entries: Sequence[RegisterEntry], fmt: str = "markdown") -> str:
    """The register as ``markdown``, ``csv`` or ``json`` text."""
    if fmt == "json":
        return json.dumps({"register_version": 1, "incidents": [e.to_json() for e in entries]}, indent=2,
                          ensure_ascii=True) + "\n"
    if fmt == "csv":
        return to_csv(COLUMNS, ([_cell(getattr(e, c)) for c in COLUMNS] for e in entries))
    if fmt == "markdown":
        return _markdown(entries)
    raise InputError(f"unknown register format {fmt!r}; expected one of: {', '.join(FORMATS)}")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple | list):
        return "; ".join(str(v) for v in value)
    return str(value)


#: a cell starting with one of these is a formula to a spreadsheet (OWASP's CSV injection list)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(text: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading ``'``; control characters
    other than tabs and line breaks (terminal escapes, bidi controls) become U+FFFD."""
    from ..text.normalize import printable

    text = "\n".join(printable(line) for line in text.split("\n")) if not text.isprintable() else text
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text (quoted by the csv module, lines ending in CRLF as RFC 4180 says) with formulas defused."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_safe(_cell(value)) for value in row])
    return out.getvalue()


_MARKDOWN = str.maketrans({"\\": "\\\\", "|": "\\|", "`": "\\`", "*": "\\*", "_": "\\_", "[": "\\[", "]": "\\]",
                           "<": "&lt;", ">": "&gt;", "&": "&amp;", "#": "\\#", "~": "\\~"})


def markdown_cell(text: str) -> str:
    """Text for one Markdown table cell: markup, HTML and pipes escaped, line breaks as ``<br>``."""
    from ..text.normalize import printable

    return "<br>".join(printable(line).translate(_MARKDOWN).strip() for line in text.splitlines())


_HEADINGS = {"id": "Incident", "title": "Title", "severity": "Severity", "model": "Model",
             "model_version": "Version", "detected": "Detected", "contained": "Contained", "resolved": "Resolved",
             "reviewed": "Reviewed", "closed": "Closed", "root_cause_type": "Root cause",
             "corrective_action": "Corrective action", "preventive_action": "Preventive action",
             "lessons": "Lessons", "policies": "Policies", "evals": "Eval suites"}


def _markdown(entries: Sequence[RegisterEntry]) -> str:
    lines = ["# Risk register", "", f"{len(entries)} closed incident(s).", ""]
    if entries:
        lines.append("| " + " | ".join(_HEADINGS[c] for c in COLUMNS) + " |")
        lines.append("|" + "---|" * len(COLUMNS))
        for entry in entries:
            cells = []
            for column in COLUMNS:
                value = getattr(entry, column)
                if isinstance(value, tuple):
                    cells.append("<br>".join(markdown_cell(v) for v in value))
                else:
                    cells.append(markdown_cell(_cell(value)))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
