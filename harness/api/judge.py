"""Judging: load the repository and the outputs, evaluate, decide, build the report. No printing."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import ExitCode, InputError, InputErrors, Location
from ..evaluation import MAX_RESULTS, Evaluation, Executor, InputFacts, evaluate
from ..gate import Decision, decide, scan_exit_code
from ..model import Outputs, Verdict
from ..model.waiver import parse_date
from ..outputs import load_outputs
from ..outputs.sources import RANGE_BYTES, FieldMap
from ..project import Project, example_errors, expired_waivers, inspect_project, load_project
from ..project.selection import Selection, select_project
from ..project.waivers import future_approvals
from ..report import Report, build_report

PathLike = str | Path


class Progress(Protocol):
    """Progress of a long run, for a progress bar: bytes of outputs read, then outputs judged."""

    def loading(self, done: int, total: int) -> None: ...

    def judging(self, done: int, total: int) -> None: ...


@dataclass(frozen=True)
class GateResult:
    """Everything a gate or scan produced: the verdict, the exit code, the typed report and what it came from."""

    kind: str  # gate | scan
    verdict: Verdict
    exit_code: ExitCode
    report: Report
    evaluation: Evaluation
    decision: Decision
    project: Project
    #: the outputs judged: in memory (a gate, a library caller), or what a streamed scan learnt of them
    outputs: Outputs | InputFacts
    baseline: Outputs | None = None
    #: only these policies and suites ran (``--select``/``--deselect``); ``None``: all of them
    selection: Selection | None = None
    #: examples of the judging policies that do not behave as their policy says (``harness validate``'s errors)
    example_problems: tuple[InputError, ...] = ()

    @property
    def partial(self) -> bool:
        """Whether only some policies or suites ran: such a gate never promotes."""
        return self.selection is not None


def example_warnings(problems: Sequence[InputError]) -> list[str]:
    """The report's warning for each misbehaving policy example: the gate must not pass it in silence."""
    return [f"{p.message} ({p.location}): its verdicts may be wrong (harness validate lists these; --strict"
            " refuses to judge with it)" for p in problems]


def _outputs(source: PathLike | Outputs, progress: Progress | None, fields: FieldMap | None = None) -> Outputs:
    if isinstance(source, Outputs):
        return source
    path = Path(source)
    total = path.stat().st_size if path.is_file() else 0
    on_bytes = (lambda done: progress.loading(done, total)) if progress is not None else None
    loaded = load_outputs(source, display=str(source), progress=on_bytes, fields=fields)
    if progress is not None:
        progress.loading(total, total)
    return loaded


def _judge(kind: str, outputs: PathLike | Outputs, *, policies: PathLike, evals: PathLike | None,
           baseline: PathLike | Outputs | None, project: Project | None, model: str | None,
           model_version: str | None, today: dt.date | str | None, backdate: bool, clock: Clock, workers: int | None,
           progress: Progress | None, allow_unmatched: bool = False, select: Sequence[str] = (),
           deselect: Sequence[str] = (), strict: bool = False, field_map: FieldMap | str | None = None,
           executor: Executor | str | None = None, scheduler: str | None = None, dask_workers: int = 2,
           max_results: int | None = MAX_RESULTS, results_file: PathLike | None = None) -> GateResult:
    """Judge; the result's exit code is the verdict's (a scan decides its own)."""
    started = clock.timestamp()
    judged_on, backdated = judging_date(today, clock, backdate=backdate)
    project = project or load_project(policies, evals)
    refuse_future_approvals(project, clock)
    if not project.policies and not project.suites:
        raise InputError(f"no policies in {project.policies_dir} and no eval suites: nothing to judge")
    project, selection = select_project(project, _patterns(select, "select"), _patterns(deselect, "deselect"))
    problems = tuple(InputError(f"policy {policy.id}: {problem.message}", problem.location)
                     for policy in project.policies if policy.status != "deprecated"
                     for problem in example_errors([policy]))
    if strict:
        InputErrors.raise_if_any([InputError(f"{p.message} (--strict: a policy whose examples misbehave is not"
                                             " judged with)", p.location) for p in problems])
    fields = FieldMap.parse(field_map) if isinstance(field_map, str) else field_map
    base = None if baseline is None else _outputs(baseline, None, fields)
    if kind == "scan" and not isinstance(outputs, Outputs):
        evaluation = _stream(project, outputs, base, fields, today=judged_on, workers=workers, progress=progress,
                             executor=executor, scheduler=scheduler, dask_workers=dask_workers, evals=evals,
                             select=select, deselect=deselect,
                             max_results=max_results, results_file=results_file)
        run_outputs: Outputs | InputFacts = evaluation.facts  # type: ignore[assignment]
    else:
        run_outputs = _outputs(outputs, progress, fields)
        on_records = (lambda done, total: progress.judging(done, total)) if progress is not None else None
        with _results_file(results_file, project) as sink:
            evaluation = evaluate(project, run_outputs, base, today=judged_on, progress=on_records,
                                  require_all_cases=kind == "gate", workers=workers,
                                  allow_unmatched=allow_unmatched or kind == "scan", max_results=max_results,
                                  sink=sink)
    decision = decide(evaluation.outcomes)
    report = build_report(project, run_outputs, evaluation, decision, kind=kind, started_at=started,
                          finished_at=clock.timestamp(), judged_on=judged_on, model=model,
                          model_version=model_version, baseline=base, backdated=backdated, selection=selection,
                          warnings=example_warnings(problems),
                          results_file=str(results_file) if results_file is not None else None)
    return GateResult(kind, decision.verdict, decision.exit_code, report, evaluation, decision, project,
                      run_outputs, base, selection, problems)


#: plain JSON Lines files larger than this are judged in byte ranges of this size (in parallel, and so that a
#: piece's results are merged and let go before the next)
SPLIT_BYTES = RANGE_BYTES


def _stream(project: Project, source: PathLike, baseline: Outputs | None, fields: FieldMap | None, *,
            today: dt.date, workers: int | None, progress: Progress | None, executor: Executor | str | None,
            scheduler: str | None, dask_workers: int, evals: PathLike | None, select: Sequence[str],
            deselect: Sequence[str], max_results: int | None, results_file: PathLike | None) -> Evaluation:
    """Judge the files of ``source`` piece by piece: memory holds the failures kept, not the records."""
    from ..evaluation import Merger, finish, prepare
    from ..evaluation.executors import executor_for
    from ..evaluation.partial import STREAM_SCOPE_CASES
    from ..outputs.digests import hashing
    from ..outputs.sources import combined_sha256, partitions

    runner: Any
    if executor == "dask":
        from ..evaluation.dask import DaskExecutor, snapshot

        runner = DaskExecutor(scheduler, dask_workers,
                              snapshot_of=lambda j: snapshot(j, evals, select=select, deselect=deselect, today=today))
    elif executor in (None, "local"):
        runner = executor_for(workers)
    elif isinstance(executor, str):
        raise InputError(f"executor {executor!r}: expected local or dask")
    else:
        runner = executor
    parts = partitions(source, split_bytes=SPLIT_BYTES, split_into=getattr(runner, "workers", 1))
    index_of: dict[str, int] = {}
    for part in parts:
        index_of.setdefault(part.path, len(index_of))
    files = {index: next(p.display for p in parts if p.path == path) for path, index in index_of.items()}
    pieces = [(index_of[part.path], part) for part in parts]
    split = {index_of[part.path]: part.path for part in parts if part.start or part.end is not None}
    digests: dict[int, str] = {}
    # the digests first (or since harness scan started: outputs.digests.prefetch): their thread overlaps what this
    # process does before the pieces are judged
    with hashing(list(split.values())) as hashed:
        judging = prepare(project, baseline, today=today)
        total = sum((part.size if part.end is None else part.end) - part.start for part in parts)
        by_partition = executor == "dask"
        on_done = None
        with _results_file(results_file, project) as sink:
            merger = Merger(judging, max_results=max_results, sink=sink, files=[files[i] for i in sorted(files)],
                            scope_cap=STREAM_SCOPE_CASES)
            scanning = getattr(progress, "scanning", None)
            if scanning is not None:
                on_done = ((lambda done: scanning(done, len(parts), merger.records, "partitions")) if by_partition
                           else (lambda done: scanning(done, total, merger.records)))
            elif progress is not None:
                on_done = (lambda done: progress.judging(done, len(parts))) if by_partition else (
                    lambda done: progress.loading(done, total))
            runner.judge_partitions(judging, pieces, fields, merger.add, on_done)
            found = hashed.result()
            listed = {index_of[part.path]: part.identity for part in parts}
            digests.update({index: found[path] for index, path in split.items()
                            if path in found and hashed.hashed_file(path, listed[index])})
            reasons = {index: hashed.errors[path] for index, path in split.items() if path in hashed.errors}
            if not merger.records:
                raise InputError("no output records: an empty run is an error, never a pass", Location(str(source)))
            digests.update({index: sha for index, sha in merger.sha256.items() if index not in split})
            unread = [i for i in sorted(files) if i not in digests]
            if unread:
                why = f"cannot read it again: {reasons[unread[0]]}" if unread[0] in reasons else \
                    "it changed or vanished during the run"
                raise InputError(f"{files[unread[0]]}: no sha256 of the file as judged ({why}); expected a file that"
                                 " stays in place while it is judged")
            sha = combined_sha256([(files[i], digests[i]) for i in sorted(files)])
            return finish(merger, InputFacts(str(source), sha, merger.records))


#: the results files of the runs within :func:`results_named_at_the_end`, to be named when it ends
_PENDING: contextvars.ContextVar[list[tuple[Callable[[], None], Callable[[], None]]] | None] = \
    contextvars.ContextVar("pending_results_files", default=None)


@contextlib.contextmanager
def results_named_at_the_end() -> Iterator[None]:
    """Within it, a run's ``results_file`` is named only when the block ends without an exception (after the
    caller wrote its report, say): an interruption or an error in between leaves no results file without its
    report. Outside it, a results file is named as the run returns."""
    pending: list[tuple[Callable[[], None], Callable[[], None]]] = []
    token = _PENDING.set(pending)
    try:
        yield
    except BaseException:
        for _, discard in pending:
            discard()
        raise
    finally:
        _PENDING.reset(token)
    for commit, _ in pending:
        commit()


@contextlib.contextmanager
def _results_file(path: PathLike | None, project: Project) -> Iterator[Any]:
    """A sink writing every result as a JSON line (masked, as the report shows it) to ``path``, atomically:
    a temporary file beside it, renamed into place when the run completes (or when the enclosing
    :func:`results_named_at_the_end` ends); nothing when interrupted."""
    if path is None:
        yield None
        return
    from ..report.build import result_reporter
    from ..report.model import as_data

    reporter = result_reporter(project)
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:  # Linux: a file without a name until the run completes, so a kill -9 leaves nothing behind
        fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o644)
        named: str | None = None
    except (AttributeError, OSError):
        fd, named = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    handle = os.fdopen(fd, "wb", buffering=1 << 20)
    where: list[str | None] = [named]

    def discard() -> None:
        handle.close()
        if where[0] is not None:
            with contextlib.suppress(OSError):
                os.unlink(where[0])

    def commit() -> None:
        try:
            with handle:
                handle.flush()
                os.fsync(handle.fileno())
                name = where[0]
                if name is None:
                    name = where[0] = str(folder / f".{target.name}.{os.getpid()}.tmp")
                    _link_unnamed(handle.fileno(), name)
            os.replace(name, target)
        except BaseException:
            discard()
            raise

    try:
        yield lambda result: handle.write(orjson.dumps(as_data(reporter(result))) + b"\n")
    except BaseException:
        discard()
        raise
    pending = _PENDING.get()
    if pending is None:
        commit()
    else:
        pending.append((commit, discard))


def _link_unnamed(fd: int, path: str) -> None:
    """Give the unnamed (``O_TMPFILE``) file open as ``fd`` the name ``path``: ``linkat`` following the
    ``/proc/self/fd`` link (``os.link`` links the link itself, across file systems)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, at_symlink_follow = -100, 0x400
    if libc.linkat(at_fdcwd, f"/proc/self/fd/{fd}".encode(), at_fdcwd, os.fsencode(path), at_symlink_follow):
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error), path)


def _patterns(value: Sequence[str] | str, name: str) -> tuple[str, ...]:
    """Patterns as given; a lone string is refused (it would be read as one pattern per character)."""
    if isinstance(value, str):
        raise InputError(f"{name}: expected a list of patterns, got the string {value!r}")
    return tuple(value)


def judging_date(today: dt.date | str | None, clock: Clock, *, backdate: bool = False) -> tuple[dt.date, bool]:
    """The date waivers are judged against (a date or ``YYYY-MM-DD``), and whether it lies before the clock's today.

    A past date brings expired waivers back, so it is refused unless ``backdate`` is given;
    the report and the decision log then record it (``run.backdated``).
    """
    real = clock.today()
    if today is None:
        return real, False
    if isinstance(today, str):
        try:
            today = parse_date(today)
        except ValueError as exc:
            raise InputError(f"today: {exc}") from None
    elif not isinstance(today, dt.date):
        raise InputError(f"today: expected a date or YYYY-MM-DD, got {type(today).__name__}")
    if today < real and not backdate:
        raise InputError(f"--today {today.isoformat()} is before today ({real.isoformat()}, UTC): waivers expired"
                         " since then would apply again; add --backdate to judge as of a past date (the report"
                         " and the decision log record it)")
    return today, today < real


def refuse_future_approvals(project: Project, clock: Clock) -> None:
    """``InputErrors`` (exit 4) naming every waiver approved after the clock's today.

    Judged as of a later ``--today``, such a waiver would apply before anyone approved it; as
    with a waiver beyond the playbook's rules, the gate refuses to judge rather than guess.
    """
    InputErrors.raise_if_any(future_approvals(project.waivers, clock.today()))


def run_gate(outputs: PathLike | Outputs, *, policies: PathLike = "policies", evals: PathLike | None = "evals",
             baseline: PathLike | Outputs | None = None, project: Project | None = None, model: str | None = None,
             model_version: str | None = None, today: dt.date | str | None = None, backdate: bool = False,
             clock: Clock = SYSTEM_CLOCK, workers: int | None = 1, progress: Progress | None = None,
             allow_unmatched: bool = False, select: Sequence[str] = (), deselect: Sequence[str] = (),
             strict: bool = False, field_map: FieldMap | str | None = None, max_results: int | None = MAX_RESULTS,
             results_file: PathLike | None = None) -> GateResult:
    """Judge a candidate's outputs with every policy and eval suite; the verdict decides the exit code.

    ``outputs`` and ``baseline`` are JSONL paths or loaded :class:`~harness.model.Outputs`;
    ``project`` skips loading ``policies``/``evals`` again. ``workers`` processes judge runs
    of 50,000 outputs and more (``None``: every CPU available). An eval case with no output
    fails its suite. Waivers are judged as of ``today`` (default: the clock's); a date before
    the clock's needs ``backdate=True`` and the report says so (``run.backdated``). When there are eval
    suites, a record whose case id matches none of their cases is invalid input unless ``allow_unmatched``
    (then the policies and run-level rules judge it too, and a warning counts them). Raises
    ``InputError`` (exit 4) for invalid input, a waiver approved after the clock's today included;
    nothing is judged then.

    ``select`` and ``deselect`` are globs over policy ids and eval suite ids (see
    :mod:`harness.project.selection`): only what they leave runs, the report records it (``run.selection``)
    and the result is ``partial``, which never promotes. The policies' own examples run first: one that
    misbehaves is a warning in the report, or with ``strict`` an ``InputErrors`` (exit 4) before judging.

    ``outputs`` and ``baseline`` may be any format :func:`harness.outputs.load_outputs` reads (compressed,
    Parquet, a directory or glob), with ``field_map`` saying where the record fields are. The report lists
    the first ``max_results`` results (``None``: all; counts stay exact); ``results_file`` gets every one.
    """
    return _judge("gate", outputs, policies=policies, evals=evals, baseline=baseline, project=project, model=model,
                  model_version=model_version, today=today, backdate=backdate, clock=clock, workers=workers,
                  progress=progress, allow_unmatched=allow_unmatched, select=select, deselect=deselect,
                  strict=strict, field_map=field_map, max_results=max_results, results_file=results_file)


def run_scan(outputs: PathLike | Outputs, *, policies: PathLike = "policies", evals: PathLike | None = "evals",
             baseline: PathLike | Outputs | None = None, project: Project | None = None, model: str | None = None,
             model_version: str | None = None, today: dt.date | str | None = None, backdate: bool = False,
             clock: Clock = SYSTEM_CLOCK, workers: int | None = 1, progress: Progress | None = None,
             fail_on_findings: bool = False, select: Sequence[str] = (), deselect: Sequence[str] = (),
             strict: bool = False, field_map: FieldMap | str | None = None, executor: Executor | str | None = None,
             scheduler: str | None = None, dask_workers: int = 2, max_results: int | None = MAX_RESULTS,
             results_file: PathLike | None = None) -> GateResult:
    """Evaluate any outputs (production logs after an incident) and report every finding.

    Suites judge only the cases present. The exit code is 0, or 1 with ``fail_on_findings``
    when anything did not pass; the verdict says what a gate would have decided. ``select``,
    ``deselect`` and ``strict`` as for :func:`run_gate`.

    ``outputs`` given as a path (a file of any format :func:`harness.outputs.partitions` reads, a directory or
    a glob) is streamed: judged in pieces and let go, so memory grows with the results kept, not with the
    records; ``result.outputs`` is then an :class:`~harness.evaluation.InputFacts`. ``field_map``
    (``"output=response.text,case_id=request_id"`` or a :class:`~harness.outputs.FieldMap`) says where the
    record fields are. ``executor``: ``"local"`` (``workers`` forked processes) or ``"dask"`` (``scheduler``
    address, else a local cluster of ``dask_workers``), or an executor object. The report lists the first
    ``max_results`` results (``None``: all; counts stay exact); ``results_file`` receives every one of them.
    """
    result = _judge("scan", outputs, policies=policies, evals=evals, baseline=baseline, project=project,
                    model=model, model_version=model_version, today=today, backdate=backdate, clock=clock,
                    workers=workers, progress=progress, select=select, deselect=deselect, strict=strict,
                    field_map=field_map, executor=executor, scheduler=scheduler, dask_workers=dask_workers,
                    max_results=max_results, results_file=results_file)
    return dataclasses.replace(result, exit_code=scan_exit_code(result.evaluation,
                                                                 fail_on_findings=fail_on_findings))


if TYPE_CHECKING:
    from ..governance import SinceCheck


@dataclass(frozen=True)
class Validation:
    """The result of checking a policy repository: every problem, and what loaded.

    ``since`` is the comparison with a git revision (``validate(since=REV)``), its errors among ``errors``.
    """

    errors: tuple[InputError, ...]
    project: Project
    examples: int  # policy examples run
    since: SinceCheck | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.PROMOTE if self.ok else ExitCode.INVALID_INPUT


def validate(policies: PathLike = "policies", evals: PathLike | None = "evals", *, today: dt.date | None = None,
             backdate: bool = False, clock: Clock = SYSTEM_CLOCK, incidents: PathLike | None = None,
             since: str | None = None) -> Validation:
    """Check the playbook, every policy, suite and waiver, and run every policy's examples.

    Lists every problem at once: a file with a duplicate key, a schema error, an unknown
    check and a duplicate id reports all four. Waivers that do not apply on ``today`` are problems
    too, and so is a waiver approved after the clock's today, whatever ``today`` says.

    The incidents (``incidents``, default: ``incidents/`` beside the policies folder) are checked when the
    folder exists: records, events in lifecycle and time order, and the references both ways.

    Every sign-off (``signoffs.yaml``) that a later edit of its file made stale is an error. With
    ``since`` (a git revision), each policy is compared with the one of the same id there: a change
    without a version bump, a version that went down, a policy deleted before it was deprecated and a
    sev1 or sev2 policy loosened without its owner's sign-off are errors (see
    :func:`harness.governance.check_since`); a revision that does not exist, or a policy that does not
    parse there, raises ``InputError``.
    """
    from ..governance import check_since, stale_signoff_errors
    from ..incidents import IncidentStore
    from ..incidents.validation import check_incidents, incidents_directory

    judged_on, _ = judging_date(today, clock, backdate=backdate)
    project, errors = inspect_project(policies, evals)
    problems: list[InputError] = list(errors)
    real = clock.today()
    problems += future_approvals(project.waivers, real)  # whatever the date judged against
    problems += expired_waivers([w for w in project.waivers if w.approved <= real], judged_on)
    problems += example_errors(project.policies)
    folder = Path(incidents) if incidents is not None else incidents_directory(Path(policies))
    problems += check_incidents(IncidentStore(folder, clock=clock), project, now=clock.now())
    problems += stale_signoff_errors(policies)
    governed = None if since is None else check_since(policies, since)
    if governed is not None:
        problems += governed.errors  # the files that do not parse are reported above
    examples = sum(len(p.examples) for p in project.policies)
    return Validation(tuple(_sorted(InputErrors(problems).errors)), project, examples, governed)  # each error once


def load(policies: PathLike = "policies", evals: PathLike | None = "evals") -> Project:
    """The policy repository, loaded and cross-checked; ``InputErrors`` lists every problem."""
    return load_project(policies, evals)


def schema(name: str, *, policies: PathLike = "policies") -> dict[str, Any]:
    """The JSON Schema of a file kind; ``policy`` and ``eval`` composed with the repository's checks (plugins too)."""
    from ..errors import Location
    from ..io.schema import SCHEMAS, compose, load_schema
    from ..project import read_playbook
    from ..project.plugins import project_checks

    if name not in SCHEMAS:
        raise InputError(f"unknown schema {name!r}; expected one of: {', '.join(SCHEMAS)}")
    if name not in ("policy", "eval"):
        return load_schema(name)
    directory = Path(policies)

    def refuse(message: str, index: int) -> None:
        raise InputError(message, Location(str(directory / "playbook.yaml"), json_path=f"$.plugins[{index}]"))

    if not directory.is_dir():
        raise InputError("policies directory not found", Location(str(directory)))
    modules = read_playbook(directory).plugins
    return compose(project_checks(modules, directory.resolve().parent, refuse))[name]


def _sorted(errors: Sequence[InputError]) -> list[InputError]:
    return sorted(errors, key=lambda e: (e.location.file or "", e.location.line or 0, e.location.column or 0))
