"""``harness new case --from-report``: regression cases drafted from the failing results of a gate or scan report.

Personal data never reaches the suite unmasked: the input, the slice and the shown output are masked, and a
case id that holds personal data is replaced by a derived one made from its masked form.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import InputError, Location
from ..io.files import FileTooLarge, NotRegularFile, read_regular
from ..text.mask import mask_data, mask_text
from ..text.normalize import one_line
from .scaffold_common import (
    CASE_ID,
    COMMENT_LIMIT,
    SHOWN_OUTPUT,
    DraftedCase,
    PathLike,
    Scaffold,
    Skipped,
    _check_text,
    _displayed,
    _governance_lead,
    _incident,
    _index,
    _inside,
    _modeline,
    _plain,
    _write_new,
    comment,
    dump,
)


def read_report(path: PathLike) -> Any:
    """A gate or scan report from its JSON file; ``InputError`` naming the file for anything else."""
    from ..report.model import Report
    from .incidents.opening import MAX_REPORT_BYTES

    path, shown = Path(path), _displayed(Path(path))
    try:
        raw = read_regular(path, limit=MAX_REPORT_BYTES)
    except OSError as exc:
        if isinstance(exc, FileTooLarge):
            raise InputError(f"--from-report {shown}: larger than {MAX_REPORT_BYTES >> 20} MiB") from None
        if isinstance(exc, NotRegularFile | IsADirectoryError):
            raise InputError(f"--from-report {shown}: not a regular file (a FIFO, a device or a folder)") from None
        raise InputError(f"--from-report {shown}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"--from-report {shown}: not JSON ({one_line(exc)}); expected the report of"
                         " `harness gate` or `harness scan` with --format json") from None
    if not isinstance(data, dict) or "report_version" not in data:
        raise InputError(f"--from-report {shown}: not a harness report (no report_version); expected the report of"
                         " `harness gate` or `harness scan` with --format json")
    try:
        return Report.from_json(raw)
    except InputError as exc:
        raise InputError(f"--from-report {shown}: {exc.message}") from None


#: the most cases one run drafts: a suite someone reviews, within what a YAML file may hold (run again to add more)
MAX_CASES = 500
#: how long an append waits for another command writing the same suite, in seconds
LOCK_TIMEOUT_S = 30.0
#: the largest outputs file read back for the inputs of the cases
MAX_OUTPUTS_BYTES = 1024 * 1024 * 1024


def _outputs(report: Any, report_path: Path) -> tuple[dict[int, dict[str, Any]], str | None]:
    """The records of the report's outputs file by line, or why they cannot be read (gone, not a regular file,
    too large, or changed since). Opened once without blocking (a FIFO or a device put in its place never hangs
    the command), hashed and read from that one open file."""
    import hashlib
    written = Path(report.run.outputs.path)
    candidates = [written] if written.is_absolute() else [written, report_path.parent / written]
    found = next((p for p in candidates if os.path.lexists(p)), None)
    if found is None:
        return {}, f"the outputs file {_masked_id(report.run.outputs.path)} is not there any more"
    shown = _masked_id(_displayed(found))
    try:
        data = read_regular(found, limit=MAX_OUTPUTS_BYTES)
    except OSError as exc:
        if isinstance(exc, FileTooLarge):
            return {}, f"the outputs file {shown} is larger than {MAX_OUTPUTS_BYTES >> 20} MiB"
        if isinstance(exc, NotRegularFile | IsADirectoryError):
            return {}, f"the outputs file {shown} is not a regular file (a FIFO, a device or a folder)"
        return {}, f"the outputs file {shown} cannot be read ({exc.strerror})"
    if hashlib.sha256(data).hexdigest() != report.run.outputs.sha256:
        return {}, f"the outputs file {shown} changed since the run (its sha256 differs)"
    records: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records[number] = record
    return records, None


def _expectation(project: Any, result: Mapping[str, Any], case_id: str) -> tuple[dict[str, Any] | None, str]:
    """The rule a case must now pass for a failed ``result``, as written in a suite; or ``None`` and why not."""
    policy_id, rule_id = result["policy"], result["rule"]
    if policy_id.startswith("eval:"):
        suite = next((s for s in project.suites if s.policy_id == policy_id), None)
        case = next((c for c in suite.cases if c.id == case_id), None) if suite else None
        rule = next((r for r in case.expect if r.id == rule_id), None) if case else None
        name = rule_id
    else:
        policy = next((p for p in project.policies if p.id == policy_id), None)
        rule = next((r for r in policy.rules if r.id == rule_id), None) if policy else None
        name = f"{policy_id}:{rule_id}"
    if rule is None:
        return None, f"{policy_id}/{rule_id} is not in the repository (or does not load): add what it expected by hand"
    if rule.impl is None or getattr(rule.impl, "level", "output") != "output":
        return None, f"{policy_id}/{rule_id} judges whole runs, not one output"
    raw: dict[str, Any] = {"id": name, "check": rule.check, **_plain(rule.options)}
    if rule.message:
        raw["message"] = rule.message
    if rule.mask:
        raw["mask"] = rule.mask
    return raw, ""


def _findings(result: Mapping[str, Any]) -> str:
    shown = [f"{f['kind']} {f['masked']}" if f.get("masked") else f["kind"] for f in result.get("findings") or ()]
    return f" (found: {', '.join(shown)})" if shown else ""


def _masked_output(text: str, results: Sequence[Mapping[str, Any]]) -> str:
    """The output with each finding's span shown as the report shows it (starred where no excerpt was kept) and
    every piece of personal data the masker finds in the *original* output masked; where a finding's span and a
    piece of personal data overlap, the whole of both is starred (a report's span can never cut a card number
    or an SSN in two pieces the masker no longer recognises). Then masked once more, as every comment is."""
    from ..text.mask import mask_match
    from ..text.pii import find_pii

    def stars(start: int, end: int) -> str:
        return "".join(c if c.isspace() else "*" for c in text[start:end])

    spans = [(f["start"], f["end"], f.get("masked") if isinstance(f.get("masked"), str) else None)
             for r in results for f in r.get("findings") or ()
             if type(f.get("start")) is int and type(f.get("end")) is int and 0 <= f["start"] < f["end"] <= len(text)]
    spans += [(m.start, m.end, mask_match(m)) for m in find_pii(text)]
    merged: list[list[Any]] = []  # [start, end, shown]: overlapping spans become one starred span
    for start, end, shown in sorted(spans, key=lambda span: (span[0], -span[1])):
        if merged and start < merged[-1][1]:
            last = merged[-1]
            if (start, end, shown) != tuple(last):
                last[1], last[2] = max(last[1], end), None
            continue
        merged.append([start, end, shown])
    pieces, pos = [], 0
    for start, end, shown in merged:
        pieces += [text[pos:start], shown if shown is not None else stars(start, end)]
        pos = end
    return mask_text("".join(pieces) + text[pos:])


def _masked_id(case_id: str) -> str:
    """A case id as it may be shown or stored: masked, on one line."""
    return one_line(mask_text(case_id))


def _usable(case_id: str) -> bool:
    """Whether a case id can be written as it is: valid, and holding no personal data."""
    return CASE_ID.fullmatch(case_id) is not None and mask_text(case_id) == case_id


def _derived(case_id: str, tag: str) -> str:
    """A case id for a case whose original id is taken or unusable: ``<tag>.<original>``, always valid. An id
    that is not usable is made from its masked form (and a digest of that), never from the personal data."""
    if _usable(case_id):
        return f"{tag}.{case_id}"
    masked = mask_text(case_id)
    digest = hashlib.sha256(masked.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    safe = re.sub(r"[^A-Za-z0-9_]+", "-", masked).strip("-_")[:40]
    return f"{tag}.{safe + '-' if safe else 'case-'}{digest}"


def _rank(report: Any, policy_ids: set[str], playbook: Any) -> tuple[str, str]:
    """The severity and on_fail of a regression suite: those of the most severe policy its cases came from."""
    order = {name: i for i, name in enumerate(playbook.severities)}
    strength = {"warn": 0, "block": 1, "rollback": 2}
    chosen = [p for p in report.policies if p.id in policy_ids and p.severity in order]
    if not chosen:
        return "sev2", "block"
    severity = min((p.severity for p in chosen), key=lambda s: order[s])
    on_fail = max((p.on_fail for p in chosen), key=lambda o: strength.get(o, 1))
    return severity, on_fail if on_fail in strength else "block"


@dataclass
class _Draft:
    """The regression cases of one run of ``cases_from_report``, as they are drafted."""

    cases: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    comments: list[list[str]] = dataclasses.field(default_factory=list)
    drafted: list[DraftedCase] = dataclasses.field(default_factory=list)
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    policies: set[str] = dataclasses.field(default_factory=set)
    over: int = 0  # failing cases left for another run: more than MAX_CASES

    def blocks(self, indent: int) -> str:
        return "\n".join("".join(comment(line, indent, COMMENT_LIMIT) for line in lines) + dump([case], indent)
                         for lines, case in zip(self.comments, self.cases, strict=True))


def _draft_cases(report: Any, per_case: Mapping[str, list[Mapping[str, Any]]], project: Any,
                 records: Mapping[int, Mapping[str, Any]], unreadable: str | None, own: set[str],
                 elsewhere: Mapping[str, str], tag: str) -> _Draft:
    draft, used = _Draft(), set(own)
    outputs = report.run.outputs.path
    for case_id, results in per_case.items():
        shown = one_line(mask_text(repr(case_id)))
        if case_id in own:
            draft.skipped.append(Skipped(_masked_id(case_id), "already a case of this suite"))
            continue
        if len(draft.cases) == MAX_CASES:
            draft.over += 1
            continue
        new_id, lines = case_id, [f"{report.run.kind} run {report.run.id}: case {shown}, line {results[0]['line']}"
                                  f" of {outputs}"]
        if not _usable(case_id) or case_id in elsewhere:
            new_id = _derived(case_id, tag)
            why = (f"{case_id} is already a case ({elsewhere[case_id]})" if case_id in elsewhere
                   else f"{shown} holds personal data" if CASE_ID.fullmatch(case_id)
                   else f"{shown} is not a valid case id")
            lines.append(f"written as {new_id}: {why}; the outputs must answer {new_id}")
        if new_id in used or new_id in elsewhere:
            where = "of this suite" if new_id in used else f"({elsewhere[new_id]})"
            draft.skipped.append(Skipped(_masked_id(case_id), f"{new_id} is already a case {where}"))
            continue
        original = project.cases.get(case_id)
        expect: list[dict[str, Any]] = []
        todo: list[str] = []
        for result in results:
            lines.append(f"failed {result['policy']}/{result['rule']}: {result['message']}{_findings(result)}")
            raw, why = _expectation(project, result, case_id)
            check = project.checks.get(raw["check"]) if raw else None
            if raw is not None and getattr(check, "uses_case", False) and "value" not in raw and \
                    (original is None or original.reference is None):
                raw, why = None, f"{result['policy']}/{result['rule']} compares with a reference this case lacks"
            if raw is None:
                todo.append(why)
            elif raw["id"] not in {e["id"] for e in expect}:
                expect.append(raw)
                draft.policies.add(result["policy"])
        if not expect:
            draft.skipped.append(Skipped(_masked_id(case_id), "no expectation to copy: " + "; ".join(todo)))
            continue
        record = records.get(results[0]["line"]) if isinstance(results[0]["line"], int) else None
        if record is not None and case_id not in (record.get("case_id"), mask_text(str(record.get("case_id")))):
            record = None  # the report shows case ids masked: the record's, masked, must be the same
        prompt = next((record[k] for k in ("input", "prompt") if record and isinstance(record.get(k), str)), None)
        if isinstance(record and record.get("output"), str):
            shown_output = _masked_output(record["output"], results)  # type: ignore[index]
            if len(shown_output) > SHOWN_OUTPUT:
                shown_output = shown_output[:SHOWN_OUTPUT - 1] + "…"
            lines.append(f"output (masked): {shown_output}")
        case: dict[str, Any] = {"id": new_id, "input": "" if prompt is None else mask_text(prompt)}
        if prompt is None:
            reason = unreadable or ("the outputs record carries no input" if record else
                                    f"line {results[0]['line']} of the outputs holds no record of this case")
            lines.append(f"TODO: the input is unknown ({reason}): write the prompt the model was asked")
        elif case["input"] != prompt:
            lines.append("TODO: the input held personal data, masked here: put made-up data in its place")
        lines += [f"TODO: {why}" for why in todo]
        if original is not None and original.reference is not None:
            case["reference"] = original.reference
        raw_slice = original.slice if original is not None and original.slice else (record or {}).get("slice")
        if isinstance(raw_slice, Mapping):
            kept = {str(k): v for k, v in raw_slice.items() if isinstance(v, str | int | float | bool)}
            if kept:  # the outputs' slice is the model's record: its keys and values masked like its input
                case["slice"] = mask_data(kept)
        case["expect"] = expect
        used.add(new_id)
        draft.cases.append(case)
        draft.comments.append(lines)
        draft.drafted.append(DraftedCase(new_id, _masked_id(case_id), tuple(e["id"] for e in expect),
                                         prompt is not None))
    return draft


def _append_indent(text: str, document: Any) -> int:
    """The indentation of the suite's case items, where new ones are appended: ``cases`` must be its last key,
    written as a block list."""
    shown = document.path
    cases_line, column = document.key_positions.get(("cases",), (0, 0))
    if column != 1 or any(pos[0] > cases_line for key, pos in document.key_positions.items() if len(key) == 1):
        raise InputError("cases: must be the last top-level key of the suite to append to it; move it to the end"
                         " or write a new suite", Location(shown, cases_line or None))
    lines = text.splitlines()  # where it cuts and YAML does not (a form feed...), YAML refused the file
    rest = lines[cases_line - 1].split(":", 1)[1].strip()
    if rest and not rest.startswith("#"):
        raise InputError("cases: is written inline; write it as a block list (`- id: ...` lines) to append to it",
                         Location(shown, cases_line))
    for line in lines[cases_line:]:
        stripped = line.lstrip(" ")
        if stripped and not stripped.startswith("#"):
            if stripped.startswith("-"):
                return len(line) - len(stripped)
            break
    raise InputError("cases: is not a block list of cases; expected `- id: ...` lines under it",
                     Location(shown, cases_line))


def _failing_cases(parsed: Any) -> tuple[dict[str, list[Mapping[str, Any]]], int]:
    """The report's failing results by case id, and how many failing results are not a case's."""
    from .incidents.opening import failing_results

    per_case: dict[str, list[Mapping[str, Any]]] = {}
    not_cases = 0
    for result in failing_results(parsed)["results"]:
        if result["status"] not in ("fail", "error"):
            continue
        if result["case_id"] == "*" or result["line"] is None:
            not_cases += 1
            continue
        per_case.setdefault(result["case_id"], []).append(result)
    return per_case, not_cases


@dataclass(frozen=True)
class _Target:
    """The suite the cases go to: its path, name, text as it is on disk (empty for a new one) and data."""

    path: Path
    name: str
    tag: str
    text: str = ""
    document: Any = None
    own: frozenset[str] = frozenset()

    @property
    def existing(self) -> dict[str, Any] | None:
        return self.document.data if self.document is not None else None


def _existing_suite(path: Path, incident: str | None) -> _Target:
    """The suite at ``path`` to append to, read once (``InputError`` when it is not one that can take cases)."""
    from ..io.yaml import load_yaml, parse_yaml

    shown = _displayed(path)
    document = load_yaml(path, shown)  # refuses a FIFO, a device, a folder, a file too large, bytes not UTF-8
    data = document.data
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list) or not isinstance(data.get("suite"), str):
        raise InputError("not an eval suite (no suite name or no cases list)", Location(document.path))
    raw = path.read_bytes()  # the bytes as they are: a BOM and CRLF line ends stay as they were
    if hashlib.sha256(raw).hexdigest() != document.sha256:
        raise InputError("the file changed while it was read; run the command again", Location(shown))
    text = raw.decode("utf-8")
    document = parse_yaml(text, shown, document.sha256)
    if incident and data.get("from_incident") not in (None, incident):
        raise InputError(f"the suite is from {data['from_incident']}, not {incident}; write a new suite"
                         " for this incident", document.locate(("from_incident",)))
    own = frozenset(c["id"] for c in data["cases"] if isinstance(c, dict) and isinstance(c.get("id"), str))
    tag = str(incident or data.get("from_incident") or "regression").lower()
    return _Target(path, data["suite"], tag, text, document, own)


def _appended(target: _Target, draft: _Draft, incident: str | None) -> tuple[str, dict[str, Any]]:
    """The suite's text with the drafted cases after its last case (and ``from_incident`` before ``cases``
    when it had none), in the file's own line ends; and the data it must read back as."""
    existing = target.existing or {}
    text = target.text
    newline = "\r\n" if "\r\n" in text[:text.find("\n") + 1] else "\n"
    indent = _append_indent(text, target.document)
    lines = text.splitlines(keepends=True)
    if lines and lines[-1] == lines[-1].rstrip("\r\n\x85\u2028\u2029"):
        lines[-1] += newline
    if incident and "from_incident" not in existing:
        at = target.document.key_positions[("cases",)][0] - 1
        lines.insert(at, dump({"from_incident": incident}).replace("\n", newline))
    new_text = "".join(lines) + newline + draft.blocks(indent).replace("\n", newline)
    expected = {**existing, **({"from_incident": incident} if incident else {}),
                "cases": [*existing["cases"], *draft.cases]}
    return new_text, expected


def cases_from_report(report: PathLike, *, policies: PathLike = "policies", evals: PathLike = "evals",
                      incidents: PathLike = "incidents", incident: str | None = None, suite: PathLike | None = None,
                      clock: Clock = SYSTEM_CLOCK) -> Scaffold:
    """Regression cases from the failing results of a gate or scan report, in a new suite or appended to ``suite``.

    One case per failing case id (at most :data:`MAX_CASES` a run): the input of its output record (when the
    outputs file is still there, unchanged), the expectations it failed (a policy's rule, or the eval case's
    own), the masked output as a comment. A report with no failing result of a case gives ``created=False``
    and nothing written. An append holds the suite's lock from reading it to writing it, so two runs at once
    both land; the file keeps its comments, BOM and line ends.
    """
    from ..io.locks import held

    report_path, evals, policies = Path(report), Path(evals), Path(policies)
    parsed = read_report(report_path)
    incident = _incident(incident, Path(incidents))
    per_case, not_cases = _failing_cases(parsed)
    other = f"{not_cases} result(s) of run-level rules or missing outputs are not cases" if not_cases else ""
    if not per_case:
        return Scaffold("cases", "", "", False, notes=(
            f"nothing to add: {_displayed(report_path)} has no failing result of a case"
            + (f"; {other}" if other else ""),))
    if suite is None:
        return _write_cases(parsed, report_path, per_case, other, None, evals, policies, incident, clock)
    path = Path(suite)
    lock = Path(os.path.realpath(path))
    with held(lock.parent / f".{lock.name}.lock", _displayed(path), timeout_s=LOCK_TIMEOUT_S):
        target = _existing_suite(path, incident)
        return _write_cases(parsed, report_path, per_case, other, target, evals, policies, incident, clock)


def _write_cases(parsed: Any, report_path: Path, per_case: Mapping[str, list[Mapping[str, Any]]], other: str,
                 target: _Target | None, evals: Path, policies: Path, incident: str | None, clock: Clock) -> Scaffold:
    from ..io.files import write_atomic
    from ..io.yaml import MAX_YAML_BYTES
    from ..project import inspect_project

    known = _index(evals, ("suite", "cases"))
    if target is None:
        target = _new_target(evals, incident, clock, known)
    shown = _displayed(target.path)
    project, _ = inspect_project(policies, evals)
    records, unreadable = _outputs(parsed, report_path)
    elsewhere = {k: v for k, v in known["cases"].items() if k not in target.own}
    draft = _draft_cases(parsed, per_case, project, records, unreadable, set(target.own), elsewhere, target.tag)
    notes = [f"the inputs are unknown: {unreadable}"] if unreadable else []
    notes += [other] if other else []
    versions = {p.id: p.version for p in parsed.run.policies}
    notes += [f"{p.id} is at version {p.version} now; the report judged {_masked_id(versions[p.id])}"
              for p in (*project.policies, *(s.as_policy() for s in project.suites))
              if p.id in draft.policies and p.id in versions and versions[p.id] != p.version]
    if draft.over:
        notes.append(f"{draft.over} more failing case(s) not drafted: at most {MAX_CASES} a run; run again with"
                     f" --suite {shown} to add the next ones")
    if not _inside(target.path, evals):
        notes.append(f"{shown} is outside {_displayed(evals)}: harness validate and the gate will not read it")
    if not draft.cases:
        return Scaffold("cases", shown, target.name, False, skipped=tuple(draft.skipped),
                        notes=(*notes, "nothing to add: every failing case is skipped"))
    if target.document is not None:
        new_text, expected = _appended(target, draft, incident)
    else:
        new_text, expected = _new_suite_text(parsed, report_path, target, draft, policies, incident)
    if len(new_text.encode("utf-8")) > MAX_YAML_BYTES:
        raise InputError(f"the suite would be larger than the {MAX_YAML_BYTES >> 20} MiB a YAML file may be; write"
                         " the cases to a new suite (leave out --suite)", Location(shown))
    if _check_text(new_text, shown, "eval", policies) != expected:
        raise InputError("the cases would not read back as drafted (is something after the last case?); add them"
                         " by hand", Location(shown))
    if target.document is not None:
        write_atomic(target.path, new_text)
    else:
        _write_new(target.path, new_text)
    return Scaffold("cases", shown, target.name, target.document is None, tuple(draft.drafted),
                    tuple(draft.skipped), tuple(notes))


def _new_target(evals: Path, incident: str | None, clock: Clock, known: Mapping[str, Mapping[str, str]]) -> _Target:
    """The new suite the cases go to: ``evals/regressions/<incident or today>.yaml``, which must not exist."""
    today = clock.today().isoformat()
    name = f"{incident.lower()}-regressions" if incident else f"regressions-{today}"
    path = evals / "regressions" / f"{incident.lower() if incident else today}.yaml"
    if path.exists() or path.is_symlink():
        raise InputError(f"{_displayed(path)} exists already; pass --suite {_displayed(path)} to add the cases to it")
    if name in known["suite"]:
        raise InputError(f"suite {name!r} is taken: {known['suite'][name]} defines it; pass --suite to add to it")
    return _Target(path, name, incident.lower() if incident else "regression")


def _new_suite_text(parsed: Any, report_path: Path, target: _Target, draft: _Draft, policies: Path,
                    incident: str | None) -> tuple[str, dict[str, Any]]:
    """A new suite's text for the drafted cases, and the data it must read back as."""
    from ..project import read_playbook

    severity, on_fail = _rank(parsed, draft.policies, read_playbook(policies))
    run = parsed.run
    model = " ".join(filter(None, (run.model, run.model_version))) or "a model"
    meta: dict[str, Any] = {
        "suite": target.name, "version": "1.0.0",
        "description": one_line(mask_text(
            f"Regression cases from the {run.kind} of {model} (run {run.id}, verdict {parsed.verdict.value}),"
            " drafted by `harness new case`.")),
        **({"from_incident": incident} if incident else {}),
        "severity": severity, "on_fail": on_fail}
    owner = _governance_lead(policies)
    if owner:
        meta["owner"] = owner
    text = "".join([
        _modeline(target.path, policies, "eval"),
        comment(f"Drafted by `harness new case --from-report {_displayed(report_path)}`: review every case (its"
                " input, its expectations, each TODO) before you commit it."),
        "# Each case expects what its output failed; the bad output is shown masked, as a comment only.\n",
        dump(meta), "cases:\n", draft.blocks(2)])
    return text, {**meta, "cases": draft.cases}
