"""What ``harness new`` shares: the typed results, YAML text that cannot be forged, the repository's ids,
a document checked as the loader checks it before it is written, and a file written only if it is new.

Every value goes through ``yaml.safe_dump`` (text from a report can never forge a key or a line); untrusted
text only ever reaches a file as a masked one-line comment.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, InputErrors, Location
from ..text.mask import mask_text
from ..text.normalize import one_line

PathLike = str | Path
ON_FAIL = ("block", "rollback", "warn")
CASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
#: the most of a bad output kept (masked) in a comment, and of any other comment line, in characters
SHOWN_OUTPUT = 300
COMMENT_LIMIT = 400
#: characters PyYAML refuses in a stream (its reader's NON_PRINTABLE), comments included
_NOT_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class DraftedCase:
    """A regression case written: its id, the case id of the output it came from, what it expects."""

    id: str
    from_case: str
    expects: tuple[str, ...]
    input_known: bool


@dataclass(frozen=True, slots=True)
class Skipped:
    case_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Scaffold:
    """What ``harness new`` wrote: the file, whether it is new, the policy or suite id, and any cases."""

    kind: str  # policy | suite | cases
    path: str
    id: str
    created: bool
    cases: tuple[DraftedCase, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=True) + "\n"


# -- YAML text: values dumped, comments made safe --------------------------------------------------

@functools.cache
def _dumper() -> Any:
    """The dumper: libyaml's where PyYAML has it (a report of thousands of cases), its Python one otherwise."""
    import yaml

    class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
        def ignore_aliases(self, data: Any) -> bool:  # the harness refuses anchors and aliases
            return True

    def text(dumper: Any, data: str) -> Any:  # a line break or an invisible character: escaped, on one line
        style = None if data.isprintable() else '"'
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    Dumper.add_representer(str, text)
    return Dumper


def dump(value: Any, indent: int = 0, *, flow: bool | None = None) -> str:
    """``value`` as YAML block text, every line indented by ``indent`` spaces; a mapping's keys each on their own
    line, collections of scalars inline (``kinds: [email, phone]``) unless ``flow`` is False."""
    if isinstance(value, dict) and flow is None:  # the dumper would write a mapping of scalars inline
        return "".join(_dump({key: item}, indent, None if isinstance(item, dict | list) else False)
                       for key, item in value.items())
    return _dump(value, indent, flow)


def _dump(value: Any, indent: int, flow: bool | None) -> str:
    import yaml

    text = yaml.dump(value, Dumper=_dumper(), sort_keys=False, allow_unicode=True, width=1_000_000,
                     default_flow_style=flow)
    return "".join(" " * indent + line if line.strip() else line for line in text.splitlines(keepends=True))


def comment(text: object, indent: int = 0, limit: int | None = None) -> str:
    """A comment line holding untrusted text: masked, on one line, with nothing YAML's reader refuses."""
    shown = _NOT_YAML.sub("\ufffd", one_line(mask_text(str(text))))
    if limit is not None and len(shown) > limit:
        shown = shown[:limit - 1] + "…"
    return f"{' ' * indent}# {shown}".rstrip() + "\n"


def _plain(value: Any) -> Any:
    """Loaded options as plain dicts and lists, for the dumper."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# -- the repository: what is there, and checking a document before it is written ------------------

def _fullmatch(schema: str, *keys: str) -> re.Pattern[str]:
    from ..io.schema import load_schema

    node: Any = load_schema(schema)
    for key in keys:
        node = node[key]
    return re.compile(node["pattern"].removeprefix("^").removesuffix("$"))


def _index(folder: Path, keys: Sequence[str], *, exclude: Iterable[str] = ()) -> dict[str, dict[str, str]]:
    """For each of ``keys`` (``id``, ``suite``, ``cases``), every value defined under ``folder`` -> ``file:line``.

    Read from the YAML alone, so that a file with other problems still claims its ids.
    """
    from ..io.files import display_path, yaml_files
    from ..io.yaml import load_yaml

    found: dict[str, dict[str, str]] = {key: {} for key in keys}
    if not folder.is_dir():
        return found
    paths, _ = yaml_files(folder, exclude=tuple(exclude))
    for path in paths:
        try:
            document = load_yaml(path, display_path(path))
        except InputError:
            continue
        data = document.data if isinstance(document.data, dict) else {}
        for key in keys:
            if key == "cases":
                items = data.get("cases")
                for i, case in enumerate(items if isinstance(items, list) else []):
                    if isinstance(case, dict) and isinstance(case.get("id"), str):
                        found[key].setdefault(case["id"], f"{document.path}:{document.locate(('cases', i, 'id')).line}")
            elif isinstance(data.get(key), str):
                found[key].setdefault(data[key], f"{document.path}:{document.locate((key,)).line}")
    return found


def _check_text(text: str, shown: str, schema: str, policies: Path) -> Any:
    """The policy or suite ``text`` defines, checked as the loader checks it (examples run); ``InputErrors``."""
    from ..io.schema import schema_errors
    from ..io.yaml import parse_yaml
    from ..project import read_playbook
    from ..project.documents import build_policy, build_suite
    from ..project.examples import example_errors
    from ..project.plugins import project_checks
    from ..project.rules import Problems

    playbook = read_playbook(policies)
    problems: list[str] = []
    checks = project_checks(playbook.plugins, policies.resolve().parent, lambda message, i: problems.append(message))
    document = parse_yaml(text, shown)
    found = Problems(document, schema_errors(document, schema, checks))
    errors: list[InputError] = [InputError(p, Location(shown)) for p in problems]
    if schema == "policy":
        policy = build_policy(found, playbook, checks)
        errors += example_errors([policy]) if policy is not None else []
    else:
        build_suite(found, playbook, checks)
    errors[:0] = found.errors
    InputErrors.raise_if_any(errors)
    return document.data


def _write_new(path: Path, text: str) -> None:
    """Write ``path`` whole, only if nothing has that name yet (``InputError`` otherwise)."""
    import tempfile

    from ..io.files import display_path

    if path.exists() or path.is_symlink():
        raise InputError("the file exists already; it is never written over (choose another path, or remove it)",
                         Location(display_path(path)))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # fails if the name was taken meanwhile
        except FileExistsError:
            raise InputError("the file exists already; it is never written over", Location(display_path(path))) \
                from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def _refuse_records(path: Path, kind: str, *, policies: Path, evals: Path | None, incidents: Path | None) -> None:
    """Refuse (``InputError``) an ``--output`` where the file would be read as another kind of record and break
    it: a policy among the eval suites or the incidents, a suite among the policies, either in the rollback state
    or the stored reports, or named as the decision log, the registry file or one of their companions."""
    from ..project import read_playbook
    from .reports import check_report_path

    check_report_path(path, settings=read_playbook(policies).release,
                      policies=None if kind == "policy" else policies, evals=None if kind == "suite" else evals,
                      incidents=incidents, written=f"the {kind}")


def _modeline(path: Path, policies: Path, schema: str) -> str:
    """The schema comment of the shipped files: the path from ``path`` to the repository's ``harness/schemas``."""
    target = policies.resolve().parent / "harness" / "schemas" / f"{schema}.schema.json"
    return f"# yaml-language-server: $schema={Path(os.path.relpath(target, path.resolve().parent)).as_posix()}\n"


def _governance_lead(policies: Path) -> str | None:
    from ..project import read_playbook

    return read_playbook(policies).roles.get("governance_lead")


def _incident(incident: str | None, incidents: Path) -> str | None:
    """``incident`` checked: an id like INC-2026-0001 with a record under ``incidents``."""
    if incident is None:
        return None
    from ..incidents.store import check_incident

    check_incident(incidents, incident)
    return incident


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is under ``folder`` as the loader walks it (by name: a link in the folder is in it)."""
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder))


def _displayed(path: Path) -> str:
    from ..io.files import display_path

    return display_path(path)
