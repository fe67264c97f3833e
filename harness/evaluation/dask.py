"""The Dask executor: the partitions of an input judged on the workers of a Dask cluster.

Nothing unpicklable is sent: each task carries a :class:`ProjectSnapshot` (the bytes of the
policy repository's files, its selection and the judging date), and the worker loads and
prepares the rules itself, once per snapshot, checking that it holds exactly the policies the
client judges with (their sha256). The worker reads its partition (a file, or a byte range of
a large JSON Lines file) itself, so the input must be at the same path on every worker (a
shared file system). A task whose worker dies is run again by Dask on another worker; its
result is the same, so a lost worker never changes the report.

On one machine the local executor is faster (a task round trip costs milliseconds and the
records are parsed either way): Dask is for inputs spread over many machines.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .partial import Partial

if TYPE_CHECKING:
    from ..outputs.sources import FieldMap
    from .engine import Judging
    from .executors import Piece

#: how long to wait for the scheduler (and the local cluster) to answer, in seconds
CONNECT_TIMEOUT = 30


@dataclass(frozen=True)
class ProjectSnapshot:
    """The files a worker needs to prepare the same rules: (relative path, bytes), and how to select."""

    files: tuple[tuple[str, bytes], ...]
    policies: str  # the policies directory, relative to the snapshot's root
    evals: str | None
    select: tuple[str, ...]
    deselect: tuple[str, ...]
    today: dt.date
    compare_cases: frozenset[str]
    sources: tuple[tuple[str, str], ...]  # (policy or suite id, sha256) the client judges with
    keep_results: int | None = None  # results a partition keeps (the rest counted); None: all
    scope_cap: int = 1_000  # case ids a partition lists per scope plan

    @property
    def digest(self) -> str:
        digest = hashlib.sha256()
        for path, data in self.files:
            digest.update(path.encode() + b"\0" + hashlib.sha256(data).digest())
        digest.update(repr((self.policies, self.evals, self.select, self.deselect, self.today,
                            sorted(self.compare_cases))).encode())
        return digest.hexdigest()


def _files_under(folder: Path, root: Path) -> list[tuple[str, bytes]]:
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not any(part.startswith(".") or part == "__pycache__"
                                      for part in path.relative_to(folder).parts):
            found.append((path.relative_to(root).as_posix(), path.read_bytes()))
    return found


def snapshot(judging: Judging, evals_dir: str | os.PathLike[str] | None, *, select: Sequence[str] = (),
             deselect: Sequence[str] = (), today: dt.date) -> ProjectSnapshot:
    """The policy repository of ``judging`` as files a worker can load: the policies and evals directories and
    the plugin modules its playbook names (beside the policies directory)."""
    project = judging.project
    policies = Path(project.policies_dir).resolve()
    evals = Path(evals_dir).resolve() if evals_dir is not None and Path(evals_dir).is_dir() else None
    root = Path(os.path.commonpath([policies] + ([evals] if evals else [])))
    if root == policies:
        root = policies.parent
    files = _files_under(policies, root) + (_files_under(evals, root) if evals and evals.is_dir() else [])
    for module in project.playbook.plugins:
        top = module.split(".", 1)[0]
        for place in (policies.parent / f"{top}.py", policies.parent / top):
            if place.is_file():
                files.append((place.relative_to(root).as_posix(), place.read_bytes()))
            elif place.is_dir():
                files += _files_under(place, root)
    sources = tuple(sorted((ident, source.sha256) for ident, _, source in project.sources))
    return ProjectSnapshot(tuple(dict(files).items()), policies.relative_to(root).as_posix(),
                           evals.relative_to(root).as_posix() if evals else None, tuple(select), tuple(deselect),
                           today, judging.scanner.needs.compare_cases, sources)


_PREPARED: dict[str, Any] = {}
_LOCK = threading.Lock()


def _worker_judging(snap: ProjectSnapshot) -> Judging:
    """On a worker: the rules of a snapshot, prepared once per snapshot and kept."""
    from ..project import load_project
    from ..project.selection import select_project
    from .engine import prepare
    from .scanner import Scanner

    key = snap.digest
    with _LOCK:
        judging = _PREPARED.get(key)
        if judging is None:
            folder = Path(tempfile.mkdtemp(prefix="harness-snapshot-"))
            for relative, data in snap.files:
                target = folder / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            project = load_project(folder / snap.policies, folder / snap.evals if snap.evals else None)
            project, _ = select_project(project, snap.select, snap.deselect)
            sources = tuple(sorted((ident, source.sha256) for ident, _, source in project.sources))
            if sources != snap.sources:
                raise RuntimeError("the worker's copy of the policy repository differs from the client's")
            judging = prepare(project, None, today=snap.today)
            scanner = judging.scanner
            if snap.compare_cases:  # the baseline stays with the client; what the scan keeps for it comes along
                needs = type(scanner.needs)(scanner.needs.numbers, scanner.needs.groups, scanner.needs.kept,
                                            scanner.needs.compare, snap.compare_cases)
                judging.scanner = Scanner(scanner.subjects, scanner.units, scanner.cases, scanner.case_units,
                                          scanner.waivers, needs)
            _PREPARED.clear()  # one repository at a time
            _PREPARED[key] = judging
    return judging


def judge_on_worker(snap: ProjectSnapshot, piece: Piece, fields: FieldMap | None) -> list[Partial]:
    """A Dask task: read and judge one partition with the snapshot's rules."""
    from .executors import scan_partition

    judging = _worker_judging(snap)
    judging.scanner.keep_results, judging.scanner.scope_cap = snap.keep_results, snap.scope_cap
    return list(scan_partition(judging, piece, fields))


class DaskExecutor:
    """Partitions judged as Dask tasks on a cluster: ``scheduler`` (``tcp://host:8786``), or a
    ``distributed.LocalCluster`` of ``workers`` processes started for the run and closed after it."""

    def __init__(self, scheduler: str | None = None, workers: int = 2, *, snapshot_of: Callable[[Judging],
                 ProjectSnapshot]) -> None:
        self.scheduler, self.workers, self.snapshot_of = scheduler, workers, snapshot_of

    def _client(self) -> tuple[Any, Any]:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError("--executor dask needs Dask: pip install 'ai-release-harness[dask]'") from None
        if self.scheduler is not None:
            try:
                return Client(self.scheduler, timeout=CONNECT_TIMEOUT), None
            except Exception as exc:  # a refused connection, a timeout, a server that is not Dask's
                raise InputError(f"cannot reach the Dask scheduler at {self.scheduler}: {type(exc).__name__}:"
                                 f" {str(exc)[:200]}; expected a running Dask scheduler") from None
        cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=50)
        return Client(cluster, timeout=CONNECT_TIMEOUT), cluster

    def judge_records(self, judging: Judging, records: Any, on_partial: Callable[[Partial], None],
                      progress: Callable[[int], None] | None = None) -> None:
        from .executors import SerialExecutor

        SerialExecutor().judge_records(judging, records, on_partial, progress)  # records in memory stay here

    def judge_partitions(self, judging: Judging, pieces: Sequence[Piece], fields: FieldMap | None,
                         on_partial: Callable[[Partial], None], progress: Callable[[int], None] | None = None
                         ) -> None:
        from distributed import as_completed

        snap = dataclasses.replace(self.snapshot_of(judging), keep_results=judging.scanner.keep_results,
                                   scope_cap=judging.scanner.scope_cap)
        client, cluster = self._client()
        try:
            shipped = client.scatter(snap, broadcast=True)
            token = uuid.uuid4().hex
            if self.scheduler is not None:  # workers on other machines: their device and inode numbers differ
                pieces = [(file, dataclasses.replace(part, identity=None)) for file, part in pieces]
            futures = [client.submit(judge_on_worker, shipped, piece, fields, pure=False,
                                     key=f"harness-{token}-{i}") for i, piece in enumerate(pieces)]
            order = {future.key: i for i, future in enumerate(futures)}
            ready: dict[int, list[Partial]] = {}
            following = done = 0
            for future in as_completed(futures):
                try:
                    ready[order[future.key]] = future.result()
                except InputError:
                    raise
                except Exception as exc:  # a partition that cannot be read, a worker lost too often
                    partition = pieces[order[future.key]][1]
                    raise InputError(f"partition {partition.display} (bytes {partition.start}-"
                                     f"{partition.end if partition.end is not None else 'end'}) failed on the"
                                     f" cluster: {type(exc).__name__}: {exc}") from None
                while following in ready:  # merged in input order
                    for partial in ready.pop(following):
                        on_partial(partial)
                    following += 1
                    done += 1
                    if progress is not None:
                        progress(done)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


__all__ = ["DaskExecutor", "ProjectSnapshot", "judge_on_worker", "snapshot"]

