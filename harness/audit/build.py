"""The audit report as data: a typed, versioned record built from the repository, the decision log and git.

:func:`build_audit` reads the policies, eval suites, waivers and sign-offs (``policies/``,
``evals/``), the incident records (``incidents/``), the decision log and the policy
repository's git history, and returns an :class:`AuditReport`. Every renderer (Markdown,
HTML, JSON) reads only that record. Free text that people or models wrote (incident
summaries, reasons, messages, finding excerpts, commit subjects) is stored on one line with
personal data masked; addresses that carry accountability (owners, approvers, signers,
actors) are kept as written, as ``harness signoff --status`` and ``harness log show`` print them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import re
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..clock import Clock, format_timestamp
from ..errors import EnvError, HarnessError, InputError, InputErrors, Location
from ..io.files import NotRegularFile, read_regular
from ..text.normalize import one_line

#: the version of the JSON document; bumped when a key changes meaning or goes away
AUDIT_VERSION = 1
#: how many of the latest gate decisions the traceability matrix shows per policy or suite
RECENT_DECISIONS = 3
#: how many failing results of a decision that did not promote are quoted in the release history
QUOTED_RESULTS = 3
#: the kinds of decision-log entry the release history lists (waivers, rollback steps and alias moves are counted)
HISTORY_KINDS = ("gate", "promotion", "rollback", "manual_alias")
#: the largest kept report read for the release history (a bigger one is named, not read)
KEPT_REPORT_MAX_BYTES = 64 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _text(value: Any) -> str:
    """Free text for the report: one line, personal data masked."""
    return _masked_line(str(value)) if value is not None else ""


@functools.lru_cache(maxsize=4096)
def _masked_line(text: str) -> str:
    """:func:`_text` of a string; a long log repeats its models, versions, verdicts and reasons, masked once each."""
    from ..text.mask import mask_text

    return one_line(" ".join(mask_text(text).split()))


def _name(value: Any) -> str:
    """An id, a version or an address: one line, kept as written."""
    return one_line(value) if value is not None else ""


def _who(value: Any, known: frozenset[str]) -> str:
    """Who acted, from the decision log: kept as written when it is an address the policy files name (an owner, an
    approver, a signer), else masked like any free text: a log line is not where accountability is defined."""
    return _name(value) if value is not None and str(value) in known else _text(value)


def _record(obj: Any) -> Any:
    """A dataclass (and what it holds) as JSON data: tuples become lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _record(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [_record(item) for item in obj]
    if isinstance(obj, Mapping):
        return {str(k): _record(v) for k, v in obj.items()}
    return obj


@dataclass(frozen=True)
class SignOffState:
    """Whether the policy file as it is now was approved: ``valid``, ``stale`` (edited since) or ``none``."""

    state: str
    role: str | None = None
    by: str | None = None
    at: str | None = None


@dataclass(frozen=True)
class CatalogueEntry:
    """One policy of the catalogue."""

    id: str
    version: str
    title: str
    severity: str
    on_fail: str
    owner: str
    status: str
    file: str
    sha256: str
    rules: int
    examples: int
    signoff: SignOffState


@dataclass(frozen=True)
class DecisionRef:
    """A gate decision that judged with a policy or suite file; ``current``: with the content it has now."""

    seq: int
    time: str
    model: str
    model_version: str
    verdict: str
    current: bool


@dataclass(frozen=True)
class LinkedItem:
    """A policy (``lessons_from``) or eval suite (``from_incident``) that encodes an incident's lesson."""

    kind: str  # policy | suite
    id: str
    version: str
    file: str
    decisions: tuple[DecisionRef, ...]
    decisions_total: int


@dataclass(frozen=True)
class IncidentSummary:
    id: str
    title: str
    severity: str
    state: str
    model: str
    model_version: str
    detected: str
    summary: str


@dataclass(frozen=True)
class TraceRow:
    """One line of the traceability matrix: an incident, where its lesson lives, the decisions that used it."""

    incident: IncidentSummary
    policies: tuple[LinkedItem, ...]
    suites: tuple[LinkedItem, ...]

    @property
    def captured(self) -> bool:
        return bool(self.policies or self.suites)


@dataclass(frozen=True)
class CoverageGap:
    """A policy whose own examples leave something untested or fail."""

    policy: str
    file: str
    examples: int
    uncovered: tuple[str, ...]
    run_level: tuple[str, ...]
    failing: tuple[str, ...]


@dataclass(frozen=True)
class Coverage:
    """Policies with no examples or with rules no ``fail`` example triggers (``harness policy test``)."""

    policies: int
    gaps: tuple[CoverageGap, ...]


@dataclass(frozen=True)
class WaiverRow:
    policy: str
    rule: str | None
    cases: tuple[str, ...] | None
    ticket: str
    approver: str
    approved: str
    expires: str
    status: str  # active | expired | not yet in force
    reason: str


@dataclass(frozen=True)
class ChainCheck:
    """The decision log's hash chain, and its signatures.

    ``status``: ``intact``, ``broken`` (at ``broken_at``, the first bad line) or ``missing`` (no log
    yet). ``signature`` (``harness log verify``'s check against the release key in the policies
    folder): ``signed`` (every entry, by the release key), ``mixed`` (unsigned entries, then signed
    ones), ``unsigned`` (an intact chain, no signature), ``empty``, ``invalid`` (a signature does not
    verify, or is missing after signed entries: only the entries before it are kept), ``unapproved key``
    (signed by a release key the repository did not approve: not committed as at HEAD, or not signed off)
    or ``not checked`` (the chain is broken, or there is no public key to check with); ``signature_detail``
    says it in one line.
    """

    path: str
    status: str
    entries: int
    broken_at: int | None
    problem: str | None
    signature: str
    signature_detail: str | None


@dataclass(frozen=True)
class HistoryEntry:
    """One release event of the decision log: a gate decision, a promotion, a rollback or a manual alias move."""

    seq: int
    time: str
    kind: str
    actor: str
    model: str
    model_version: str
    verdict: str | None
    what: str
    policy_commit: str | None
    report_sha256: str | None
    #: for a decision that did not promote: the policies and suites that failed (``id version``), from the kept report
    failed: tuple[str, ...] = ()
    #: a few failing results from the kept report: policy/rule, case, message and the masked finding excerpts
    results: tuple[str, ...] = ()
    #: why the kept report could not be read, when it could not
    report_note: str | None = None


@dataclass(frozen=True)
class History:
    chain: ChainCheck
    counts: Mapping[str, int]
    entries: tuple[HistoryEntry, ...]


@dataclass(frozen=True)
class PolicyDiff:
    """The policy set's changes since the last promoted release.

    ``status``: ``changes`` or ``no changes`` (a diff was computed), ``no promotion`` (none in the
    log), ``no commit`` (the promotion recorded none), ``no git`` (the policies are not in a git
    repository), ``unknown commit`` or ``unavailable`` (the diff could not be computed: ``note`` says why).
    """

    status: str
    note: str
    since_seq: int | None
    since_time: str | None
    since_model: str | None
    since_version: str | None
    commit: str | None
    text: str | None
    diff: Any


@dataclass(frozen=True)
class Repository:
    policies: str
    evals: str | None
    incidents: str
    decision_log: str
    commit: str | None
    judged_on: str


@dataclass(frozen=True)
class AuditReport:
    """Everything an auditor reads, in the order they read it."""

    generated_at: str
    repository: Repository
    summary: Mapping[str, Any]
    catalogue: tuple[CatalogueEntry, ...]
    traceability: tuple[TraceRow, ...]
    coverage: Coverage
    waivers: tuple[WaiverRow, ...]
    history: History
    policy_diff: PolicyDiff
    audit_version: int = AUDIT_VERSION

    @property
    def uncaptured(self) -> tuple[IncidentSummary, ...]:
        """Incidents no policy or suite references: their lesson is not in the repository."""
        return tuple(row.incident for row in self.traceability if not row.captured)

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON document (the keys are listed in :mod:`harness.audit`)."""
        data: dict[str, Any] = {"audit_version": self.audit_version, "generated_at": self.generated_at,
                                "repository": _record(self.repository), "summary": dict(self.summary),
                                "catalogue": _record(self.catalogue)}
        data["traceability"] = [{**_record(row), "captured": row.captured} for row in self.traceability]
        data["uncaptured"] = [row.id for row in self.uncaptured]
        data.update(coverage=_record(self.coverage), waivers=_record(self.waivers), history=_record(self.history),
                    policy_diff=_record(self.policy_diff))
        return data


# --- building -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sources:
    """Where the report reads from; paths as the caller gave them."""

    policies: Path
    evals: Path | None
    incidents: Path
    decision_log: Path
    reports_dir: Path


def build_audit(sources: Sources, *, clock: Clock, today: dt.date | None = None,
                recent: int = RECENT_DECISIONS) -> AuditReport:
    """Read everything and put the report together. ``InputErrors`` (exit 4) when the repository does not load;
    ``EnvError`` (exit 6) when the decision log cannot be read at all. A broken hash chain is reported, not raised.
    ``clock`` gives the report's time and, unless ``today`` is given, the date waivers are judged against."""
    from ..incidents.register import lesson_references
    from ..incidents.store import IncidentStore
    from ..project import load_project
    from ..release.provenance import policy_commit

    now = clock.now()
    today = today or now.date()
    project = load_project(sources.policies, sources.evals)
    incidents, problems = IncidentStore(sources.incidents).load_all()
    InputErrors.raise_if_any(problems)
    references = lesson_references(sources.policies, sources.evals)
    root = Path(sources.policies).resolve().parent
    chain, entries = read_chain(sources.decision_log, sources.policies)
    uses = _Uses.index(entries, root)
    catalogue = tuple(_catalogue(project, root))
    files = {"policy": {p.id: (p.version, _relative(p.source.path, root), p.source.sha256) for p in project.policies},
             "suite": {s.suite: (s.version, _relative(s.source.path, root), s.source.sha256) for s in project.suites}}
    trace = tuple(_trace_row(incident, references, files, uses, recent, root)
                  for incident in sorted(incidents, key=lambda i: i.id))
    coverage = policy_coverage(sources.policies, project.policies)
    waivers = tuple(_waiver(w, today) for w in project.waivers)
    known = frozenset({p.owner for p in catalogue} | {p.signoff.by for p in catalogue if p.signoff.by}
                      | {w.approver for w in waivers})
    history = History(chain, _counts(entries), tuple(_history(entries, sources.reports_dir, known)))
    diff = policy_diff_since_promotion(sources.policies, entries, clock)
    commit = policy_commit(Path(sources.policies)) if Path(sources.policies).is_dir() else None
    repository = Repository(str(sources.policies), None if sources.evals is None else str(sources.evals),
                            str(sources.incidents), str(sources.decision_log), commit, today.isoformat())
    summary = {
        "policies": len(catalogue),
        "policies_active": sum(1 for p in catalogue if p.status == "active"),
        "policies_signed": sum(1 for p in catalogue if p.signoff.state == "valid"),
        "policies_stale_signoff": sum(1 for p in catalogue if p.signoff.state == "stale"),
        "suites": len(project.suites),
        "incidents": len(trace),
        "incidents_without_lesson": sum(1 for row in trace if not row.captured),
        "coverage_gaps": len(coverage.gaps),
        "waivers_active": sum(1 for w in waivers if w.status == "active"),
        "waivers_expired": sum(1 for w in waivers if w.status == "expired"),
        "log_entries": chain.entries,
        "gate_decisions": history.counts.get("gate", 0),
        "promotions": history.counts.get("promotion", 0),
        "rollbacks": history.counts.get("rollback", 0),
        "chain": chain.status,
        "signature": chain.signature,
        "policy_diff": diff.status,
    }
    return AuditReport(format_timestamp(now), repository, summary, catalogue, trace, coverage, waivers, history,
                       diff)


def _relative(path: str, root: Path) -> str:
    """A file's path from the repository root (the folder above the policies), posix; as given when outside it."""
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return PurePosixPath(path).as_posix()


def _catalogue(project: Any, root: Path) -> Iterable[CatalogueEntry]:
    from ..project.signoff import status

    signoffs: dict[str, list[tuple[Any, bool]]] = {}
    for entry, valid in status(project.policies_dir):
        signoffs.setdefault(entry.file, []).append((entry, valid))
    for policy in sorted(project.policies, key=lambda p: p.id):
        file = _relative(policy.source.path, root)
        yield CatalogueEntry(
            _name(policy.id), _name(policy.version), _text(policy.title), _name(policy.severity),
            str(policy.on_fail), _name(policy.owner), _name(policy.status), file, policy.source.sha256,
            len(policy.rules), len(policy.examples), _signoff(signoffs.get(file, [])))


def _signoff(found: Sequence[tuple[Any, bool]]) -> SignOffState:
    """The latest valid sign-off, else the latest stale one, else none."""
    for wanted, state in ((True, "valid"), (False, "stale")):
        matching = [entry for entry, valid in found if valid is wanted]
        if matching:
            entry = matching[-1]
            return SignOffState(state, _name(entry.role), _name(entry.by), format_timestamp(entry.at))
    return SignOffState("none")


def _waiver(waiver: Any, today: dt.date) -> WaiverRow:
    status = "active" if waiver.in_force(today) else "expired" if waiver.expired(today) else "not yet in force"
    cases = None if waiver.cases is None else tuple(sorted(_name(c) for c in waiver.cases))
    return WaiverRow(_name(waiver.policy), None if waiver.rule is None else _name(waiver.rule), cases,
                     _name(waiver.ticket), _name(waiver.approver), waiver.approved.isoformat(),
                     waiver.expires.isoformat(), status, _text(waiver.reason))


# --- the decision log ------------------------------------------------------------------------------------------


def read_chain(path: Path, policies_dir: Path) -> tuple[ChainCheck, list[dict[str, Any]]]:
    """The chain's verification and the entries it vouches for: all of them, or those before the first bad line.

    A log that does not exist yet is ``missing`` with no entries; one that cannot be read is an
    ``EnvError`` (``DecisionLogError``), as for ``harness log verify``.
    """
    from ..release import decision_log

    shown = str(path)
    if not (path.exists() or path.is_symlink()):
        return ChainCheck(shown, "missing", 0, None, None, "not checked", "no decision log yet"), []
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError) as exc:
        raise decision_log.DecisionLogError(f"cannot reach the decision log: {getattr(exc, 'strerror', None) or exc}",
                                            Location(file=shown)) from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a FIFO or a device would block or never end
        raise decision_log.DecisionLogError("the decision log is not a regular file (a FIFO, a device or a socket);"
                                            " expected a JSON Lines file", Location(file=shown))
    try:
        entries = decision_log.verified_entries(path)  # one read: the entries are those the check vouched for
    except decision_log.LogTampered as exc:
        line = exc.location.line or 1
        entries = _prefix(path, line - 1)
        return ChainCheck(shown, "broken", len(entries), line, _text(exc.message), "not checked",
                          "the chain is broken: signatures were not checked"), entries
    signature, detail, bad = _signature(path, policies_dir, entries)
    total = len(entries)
    if bad is not None:  # a forged or unsigned entry after signed ones: it and what follows vouch for nothing
        entries = entries[:bad - 1]
        detail = f"{detail}; only the {len(entries)} entries before entry {bad} are shown"
    return ChainCheck(shown, "intact", total, None, None, signature, detail), entries


def _prefix(path: Path, count: int) -> list[dict[str, Any]]:
    """The first ``count`` lines of a log whose chain breaks after them (already checked in order by verify)."""
    from ..release.decision_log import MalformedLine, parse_line

    entries = []
    for raw in path.read_bytes().split(b"\n")[:count]:
        try:
            entries.append(parse_line(raw))
        except MalformedLine:
            break
    return entries


def _signature(path: Path, policies_dir: Path,
               entries: Sequence[Mapping[str, Any]]) -> tuple[str, str | None, int | None]:
    """Who signed the entries (``harness log verify``'s signature check): the status, its one-line account and
    the first entry whose signature fails (``None`` when none does).

    Signatures by a release key that the policy repository did not approve (swapped in the working tree, not
    committed, or with no valid sign-off: whoever holds it can re-sign the whole log) are ``unapproved key``.
    """
    import dataclasses

    from ..release import decision_log
    from ..release.signing import SigningKeyError, key_provenance, release_keys, verify_signatures

    try:
        keys = release_keys(policies_dir)
        checked = verify_signatures(path, keys, entries=entries)  # the chain was checked once, above
    except decision_log.LogTampered as exc:
        return "invalid", _text(exc), exc.location.line or 1
    except SigningKeyError as exc:
        return "not checked", _text(exc), None
    if keys.current is not None and checked.signed:
        checked = dataclasses.replace(checked, provenance=key_provenance(policies_dir, Path(keys.current.path)))
        if checked.warnings():
            return "unapproved key", _text(f"{checked.describe()}; but {'; '.join(checked.warnings())}"), None
    return checked.status, _text(checked.describe()), None


def _counts(entries: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in entries:
        kind = _text(entry.get("kind"))
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


@dataclass(frozen=True)
class _Uses:
    """The gate decisions that recorded the files they judged with (``policy_sha256``), indexed once.

    ``pairs`` maps each (file, sha256) a decision recorded, its path made relative to the repository root
    where it can, to the decisions (by position in ``entries``) that recorded it: a log of many decisions
    holds few distinct pairs, so looking a file up does not walk the whole log again.
    """

    entries: tuple[Mapping[str, Any], ...]
    pairs: Mapping[tuple[str, str], tuple[int, ...]]

    @classmethod
    def index(cls, entries: Sequence[Mapping[str, Any]], root: Path) -> _Uses:
        gates: list[Mapping[str, Any]] = []
        pairs: dict[tuple[str, str], list[int]] = {}
        keys: dict[str, str] = {}
        for entry in entries:
            files = entry.get("policy_sha256")
            if entry.get("kind") != "gate" or not isinstance(files, Mapping):
                continue
            for name, sha in files.items():
                key = keys.get(str(name))
                if key is None:
                    key = keys[str(name)] = _key(str(name), root)
                pairs.setdefault((key, str(sha)), []).append(len(gates))
            gates.append(entry)
        return cls(tuple(gates), {pair: tuple(found) for pair, found in pairs.items()})

def _key(path: str, root: Path) -> str:
    posix = PurePosixPath(path)
    if posix.is_absolute():
        try:
            return posix.relative_to(root.as_posix()).as_posix()
        except ValueError:
            return posix.as_posix()
    return posix.as_posix().removeprefix("./")


def _decisions(uses: _Uses, file: str, sha256: str, recent: int) -> tuple[list[DecisionRef], int]:
    """The latest ``recent`` gate decisions that judged with ``file`` (by its path, or its current content), newest
    first, and how many there are in all."""
    current: dict[int, bool] = {}
    for (key, sha), found in uses.pairs.items():
        if key == file or key.endswith("/" + file) or sha == sha256:
            for index in found:
                current[index] = current.get(index, False) or sha == sha256
    latest = sorted(current, key=lambda i: (_seq(uses.entries[i]), i), reverse=True)[:recent]
    refs = [DecisionRef(_seq(entry), _name(entry.get("time")), _text(entry.get("model")),
                        _text(entry.get("model_version")), _text(entry.get("verdict")), current[index])
            for index, entry in ((i, uses.entries[i]) for i in latest)]
    return refs, len(current)


def _seq(entry: Mapping[str, Any]) -> int:
    seq = entry.get("seq")
    return seq if type(seq) is int else 0


def _trace_row(incident: Any, references: Mapping[str, Any], files: Mapping[str, Mapping[str, tuple[str, str, str]]],
               uses: _Uses, recent: int, root: Path) -> TraceRow:
    from ..incidents.register import Lessons

    lessons = references.get(incident.id, Lessons())
    record = incident.record
    summary = IncidentSummary(_name(incident.id), _text(record.title), _name(incident.severity),
                              incident.state.label, _text(record.model), _text(record.model_version),
                              format_timestamp(incident.detected), _text(record.get("summary", "")))

    def linked(kind: str, named: Mapping[str, Path]) -> tuple[LinkedItem, ...]:
        items = []
        for ident in sorted(named):
            version, file, sha256 = files[kind].get(ident, ("?", _relative(str(named[ident]), root), ""))
            decisions, total = _decisions(uses, file, sha256, recent)
            items.append(LinkedItem(kind, _name(ident), _name(version), file, tuple(decisions), total))
        return tuple(items)

    return TraceRow(summary, linked("policy", lessons.policies), linked("suite", lessons.suites))


_WHAT: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "gate": lambda d: "gate decision",
    "promotion": lambda d: f"promoted to {d.get('alias')} (from {d.get('from') or 'nothing'})",
    "rollback": lambda d: f"rollback {d.get('rollback')}: {d.get('from')} -> {d.get('to')}",
    "manual_alias": lambda d: f"alias moved by hand: {d.get('reason')}",
}


def _history(entries: Sequence[Mapping[str, Any]], reports_dir: Path, known: frozenset[str]) -> Iterable[HistoryEntry]:
    """The release events; model, version and verdict masked like free text, the actor kept only when known."""
    kept: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...], str | None]] = {}
    for entry in entries:
        kind = str(entry.get("kind"))
        if kind not in HISTORY_KINDS:
            continue
        details = entry.get("details") if isinstance(entry.get("details"), Mapping) else {}
        what = _WHAT[kind](details or {})
        verdict = entry.get("verdict")
        failed: tuple[str, ...] = ()
        results: tuple[str, ...] = ()
        note = None
        if kind == "gate" and verdict not in (None, "promote") and isinstance(entry.get("report_sha256"), str):
            failed, results, note = _kept_report(entry, reports_dir, kept)
        reasons = details.get("reasons") if details else None
        if kind == "gate" and not failed and reasons:  # the log's own words
            what += ": " + ("; ".join(str(r) for r in reasons) if isinstance(reasons, list) else str(reasons))
        yield HistoryEntry(_seq(entry), _name(entry.get("time")), kind, _who(entry.get("actor"), known),
                           _text(entry.get("model")), _text(entry.get("model_version")),
                           None if verdict is None else _text(verdict), _text(what),
                           None if entry.get("policy_commit") is None else _text(entry.get("policy_commit")),
                           None if entry.get("report_sha256") is None else _text(entry.get("report_sha256")),
                           failed, results, note)


def _kept_report(entry: Mapping[str, Any], reports_dir: Path,
                 kept: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...], str | None]],
                 ) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    """What failed in a decision, from the report kept under its sha256 (the log's own copy, or the reports folder).

    Each kept report is read once however many decisions name it (``kept``), and only when it is a regular file
    of at most :data:`KEPT_REPORT_MAX_BYTES`: a FIFO, a device or a symlink to one is named, never waited on.
    """
    sha256 = str(entry["report_sha256"])
    if not _SHA256.fullmatch(sha256):
        return (), (), _text(f"the decision names its kept report {sha256[:80]!r}: expected a sha256 (64 lowercase"
                             " hex digits)")
    folders = [str(reports_dir)]
    if isinstance(entry.get("report"), str):
        folders.append(str(Path(entry["report"]).parent))
    problem = "not kept"
    for folder in dict.fromkeys(folders):
        if (folder, sha256) not in kept:
            try:
                kept[folder, sha256] = _quote(_read_kept(Path(folder), sha256))
            except HarnessError as exc:
                problem = exc.message
                continue
        return kept[folder, sha256]
    return (), (), _text(f"the kept report {sha256[:12]} could not be read: {problem}")


def _read_kept(folder: Path, sha256: str) -> Any:
    """The report kept as ``folder/<sha256>.json``, checked against its sha256 (``harness.report.load_report``'s
    checks, without ever blocking on a FIFO or reading a device or a file larger than the limit)."""
    from ..report import Report

    path = folder / f"{sha256}.json"
    where = Location(file=str(path))
    try:
        data = read_regular(path, limit=KEPT_REPORT_MAX_BYTES)
    except FileNotFoundError:
        raise InputError(f"no stored report {sha256}", where) from None
    except OSError as exc:
        if isinstance(exc, NotRegularFile | IsADirectoryError):
            raise EnvError("the stored report is not a regular file (a FIFO, a device or a directory)",
                           where) from None
        raise EnvError(f"cannot read the stored report: {exc.strerror or exc}", where) from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise EnvError("the stored report does not match its sha256: it was changed after it was kept", where)
    return Report.from_json(data)


def _quote(report: Any) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    """The failed policies and suites of a kept report, and a few of its failing results, masked."""
    failed = tuple(_text(f"{p.id} {p.version}") for p in report.policies if p.status in ("fail", "error"))
    quoted = []
    for result in [r for r in report.results if r.status != "waived"][:QUOTED_RESULTS]:
        excerpts = ", ".join(f"{f.kind} {f.masked!r}" if f.masked else f.kind for f in result.findings[:3])
        quoted.append(_text(f"{result.policy}/{result.rule} on {result.case_id}: {result.message}"
                            + (f" [{excerpts}]" if excerpts else "")))
    return failed, tuple(quoted), None


# --- policy self-tests and the policy diff ---------------------------------------------------------------------


def policy_coverage(policies_dir: Path, policies: Sequence[Any]) -> Coverage:
    """Policies with no examples, failing examples or rules no ``fail`` example triggers (``harness policy test``)."""
    from ..api.policy_tests import self_test

    if not policies:
        return Coverage(0, ())
    report = self_test(policies)  # the policies the audit loaded: not a second load of the repository
    root = Path(policies_dir).resolve().parent
    found: list[CoverageGap] = []
    for policy in sorted(report.policies, key=lambda p: p.id):
        uncovered = tuple(_name(r.id) for r in policy.uncovered)
        failing = tuple(_text(e.problem) for e in policy.failed)
        if policy.examples and not (uncovered or failing):
            continue
        found.append(CoverageGap(_name(policy.id), _relative(policy.file, root), len(policy.examples), uncovered,
                                tuple(_name(r.id) for r in policy.run_level), failing))
    return Coverage(len(report.policies), tuple(found))


def policy_diff_since_promotion(policies_dir: Path, entries: Sequence[Mapping[str, Any]], clock: Clock) -> PolicyDiff:
    """The diff of the policy set from the commit recorded with the last promotion to the working tree.

    No promotion, no commit recorded, no git, a commit git does not know or a revision whose files
    do not parse: the section says so (``status`` and ``note``), never an error.
    """
    promotions = [e for e in entries if e.get("kind") == "promotion"]
    if not promotions:
        return PolicyDiff("no promotion", "the decision log records no promotion: there is no release to compare"
                          " with", None, None, None, None, None, None, None)
    last = promotions[-1]
    since = (_seq(last), _name(last.get("time")), _text(last.get("model")), _text(last.get("model_version")))
    recorded = last.get("policy_commit")
    if not isinstance(recorded, str) or not recorded:
        return PolicyDiff("no commit", "the last promotion recorded no policy commit (the policy repository was not"
                          " in git then)", *since, None, None, None)
    commit = recorded.removesuffix("-dirty")
    dirty = ("; the working tree then had uncommitted changes, which this diff cannot see"
             if recorded.endswith("-dirty") else "")
    from ..governance.diff import policy_set_diff, render_text

    try:
        diff = policy_set_diff(policies_dir, commit, None, clock=clock)
    except InputErrors as exc:
        return PolicyDiff("unavailable", _text(f"the policies at {commit[:12]} or now do not read: "
                                               + "; ".join(str(e) for e in exc.errors)), *since, _text(commit),
                          None, None)
    except InputError as exc:
        status = ("no git" if "not in a git repository" in exc.message else
                  "no policies folder" if "the policies folder" in exc.message else "unknown commit")
        return PolicyDiff(status, _text(exc), *since, _text(commit), None, None)
    from ..text.mask import mask_text

    text = "\n".join(one_line(mask_text(line)) for line in render_text(diff))  # a pattern may quote personal data
    return PolicyDiff("no changes" if diff.empty else "changes",
                      _text(f"{len(diff.changes)} change(s) from the policy commit {commit[:12]} of the last"
                            f" promotion to the working tree{dirty}"),
                      *since, _text(commit), text, diff.to_json())


# --- words the renderers share ----------------------------------------------------------------------------------

#: (anchor, heading) of each section, in reading order
SECTIONS = (
    ("catalogue", "1. Policy catalogue"),
    ("traceability", "2. Traceability: incidents, their lessons and the gate decisions that used them"),
    ("uncaptured", "3. Incidents with no captured lesson"),
    ("coverage", "4. Policies with no examples or uncovered rules"),
    ("waivers", "5. Waivers"),
    ("history", "6. Release history and the decision log"),
    ("policy-diff", "7. Policy changes since the last promoted release"),
)

_SIGNATURES = {"signed": "signed by the release key", "mixed": "partly signed", "unsigned": "unsigned",
               "empty": "no entries", "invalid": "a signature does NOT verify",
               "unapproved key": "signed by a release key the repository did not approve",
               "not checked": "signatures not checked"}


def chain_sentence(chain: ChainCheck) -> str:
    """The verification result in one sentence: intact (and how it is signed) / broken at line N / no log."""
    if chain.status == "missing":
        return f"No decision log at {chain.path}: nothing has been recorded yet."
    if chain.status == "broken":
        return (f"Hash chain BROKEN at line {chain.broken_at} of {chain.path}: {chain.problem}. Only the"
                f" {chain.entries} entries before it are shown; signatures not checked.")
    signature = chain.signature_detail or _SIGNATURES.get(chain.signature, chain.signature)
    return f"Hash chain intact: {chain.entries} entries in {chain.path}. Signatures: {signature}."


def decision_text(decision: DecisionRef) -> str:
    content = "" if decision.current else " (an earlier version)"
    return (f"#{decision.seq} {decision.time} {decision.model} {decision.model_version}:"
            f" {decision.verdict}{content}")


def cases_text(waiver: WaiverRow) -> str:
    return ", ".join(waiver.cases) if waiver.cases is not None else "all cases"
