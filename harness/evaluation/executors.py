"""Where the per-output pass runs: in this process, in forked worker processes, or on a Dask cluster.

Every executor judges pieces of the input into :class:`~harness.evaluation.partial.Partial`
objects and hands them to ``on_partial`` in input order, so all of them give the same
evaluation. Records already in memory are cut into chunks (workers inherit them when
forked); files are cut into partitions (a file, or a byte range of a large JSON Lines file)
that each worker reads itself. The Dask executor lives in :mod:`harness.evaluation.dask`.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..model import OutputRecord
from ..outputs import paused_gc
from .partial import Partial

if TYPE_CHECKING:
    from ..outputs.sources import FieldMap, Partition
    from .engine import Judging

#: below this many records a fork pool costs more than it saves
PARALLEL_MIN_RECORDS = 50_000
#: records per partial: a partial holds its results until merged, so this bounds what is in flight
CHUNK_RECORDS = 50_000
OnPartial = Callable[[Partial], None]
#: JSON lines per block of the columnar lane (``lane.Lane``), and the bytes after which a block ends (it holds the
#: lines read by then: up to one read and one line more): a block's fixed costs
#: (about 8 ms: the column checks, scope plans, counts) are paid twice per byte range of the usual records. A block
#: holds its text, its lines, pyarrow's table and the outputs as bytes (about four times its size): 32 MiB blocks
#: saved another 3 % of CPU for 60 MB more per worker
LANE_BLOCK_LINES = 65_536
LANE_BLOCK_BYTES = 16 << 20


class Executor(Protocol):
    def judge_records(self, judging: Judging, records: Sequence[OutputRecord], on_partial: OnPartial,
                      progress: Callable[[int], None] | None = None) -> None:
        """Judge records in memory; every partial to ``on_partial`` in record order."""
        ...

    def judge_partitions(self, judging: Judging, pieces: Sequence[Piece], fields: FieldMap | None,
                         on_partial: OnPartial, progress: Callable[[int], None] | None = None) -> None:
        """Judge the partitions of an input; every partial to ``on_partial`` in input order; ``progress``
        gets the bytes read so far."""
        ...


#: a partition of the input and the index of its file among the input's files
Piece = tuple[int, "Partition"]


def scan_partition(judging: Judging, piece: Piece, fields: FieldMap | None,
                   chunk_records: int = CHUNK_RECORDS) -> Iterator[Partial]:
    """Read one partition and judge it, a partial per ``chunk_records`` records (the last carries the file's
    sha256 when the partition is a whole file, and the lines read); a byte range numbers its lines from its
    start, and the merger shifts them."""
    from ..outputs.sources import PartitionReader
    from .lane import Lane

    file, partition = piece
    relative = partition.start > 0
    lane = Lane(judging.scanner, (partition.end if partition.end is not None else partition.size) - partition.start)
    reader = PartitionReader(partition, fields, absolute_lines=not relative, raw=lane.on,
                             batch_records=LANE_BLOCK_LINES if lane.on else 4096,
                             batch_bytes=LANE_BLOCK_BYTES if lane.on else None)
    partial = Partial(part=file, relative_lines=relative)
    # bytes of the partition read so far, within its range: the ranges of a file add up to its size
    low, high = partition.start, partition.end if partition.end is not None else partition.size
    reported = low

    def step() -> int:
        nonlocal reported
        now = min(max(reader.consumed, low), high)
        done, reported = now - reported, now
        return done

    for batch in reader:
        if isinstance(batch, list):
            judging.scanner.scan(batch, partial)
        else:
            lane.judge(batch, partial)
        if partial.records >= chunk_records:
            partial.consumed = step()
            yield partial
            partial = Partial(part=file, relative_lines=relative)
    partial.consumed = step() + (high - max(reported, low))  # the whole range, once it is read
    partial.sha256 = reader.sha256
    partial.lines = reader.lines
    yield partial


class SerialExecutor:
    """Everything in this process."""

    def judge_records(self, judging: Judging, records: Sequence[OutputRecord], on_partial: OnPartial,
                      progress: Callable[[int], None] | None = None) -> None:
        with paused_gc():
            for begin in range(0, len(records), CHUNK_RECORDS):
                end = min(begin + CHUNK_RECORDS, len(records))
                on_partial(judging.scan(records, begin, end))
                if progress is not None:
                    progress(end)

    def judge_partitions(self, judging: Judging, pieces: Sequence[Piece], fields: FieldMap | None,
                         on_partial: OnPartial, progress: Callable[[int], None] | None = None) -> None:
        done = 0
        with paused_gc():
            for piece in pieces:
                for partial in scan_partition(judging, piece, fields):
                    on_partial(partial)
                    done += partial.consumed
                    if progress is not None:
                        progress(done)


_FORKED: tuple[Any, Any, Any] | None = None


def _chunk(chunk: tuple[int, int]) -> Partial:
    """In a forked worker: judge one chunk of the inherited records."""
    assert _FORKED is not None
    judging, records, _ = _FORKED
    gc.disable()  # this worker process only builds acyclic results (see outputs.paused_gc)
    return judging.scan(records, *chunk)


def _partition(piece: Piece) -> list[Partial]:
    """In a forked worker: read and judge one partition."""
    assert _FORKED is not None
    judging, _, fields = _FORKED
    gc.disable()
    return list(scan_partition(judging, piece, fields))


class ForkExecutor:
    """Pieces judged in ``workers`` forked processes (POSIX); the prepared rules (and records in memory) are
    inherited, not sent. Fewer than :data:`PARALLEL_MIN_RECORDS` records in memory, a single partition, or a
    system without ``fork``: serial."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def _pool(self, judging: Judging, records: Any, fields: Any) -> Any:
        global _FORKED
        _FORKED = (judging, records, fields)
        gc.collect()
        gc.freeze()  # keep the collector from touching (and so copying) what the workers inherit
        from ..outputs.digests import SPAWNING

        with SPAWNING:  # not while a child process of the input's sha256 is starting (its pipe would be inherited)
            return mp.get_context("fork").Pool(self.workers, initializer=_worker_started)

    @staticmethod
    def _done() -> None:
        global _FORKED
        _FORKED = None
        gc.unfreeze()

    def judge_records(self, judging: Judging, records: Sequence[OutputRecord], on_partial: OnPartial,
                      progress: Callable[[int], None] | None = None) -> None:
        if self.workers < 2 or len(records) < PARALLEL_MIN_RECORDS or "fork" not in mp.get_all_start_methods():
            SerialExecutor().judge_records(judging, records, on_partial, progress)
            return
        size = max(1000, min(CHUNK_RECORDS, -(-len(records) // (self.workers * 8))))
        chunks = [(begin, min(begin + size, len(records))) for begin in range(0, len(records), size)]
        try:
            with self._pool(judging, records, None) as pool, paused_gc():  # merging builds acyclic results
                for (_, end), partial in zip(chunks, pool.imap(_chunk, chunks), strict=True):
                    on_partial(partial)
                    if progress is not None:
                        progress(end)
        finally:
            self._done()

    def judge_partitions(self, judging: Judging, pieces: Sequence[Piece], fields: FieldMap | None,
                         on_partial: OnPartial, progress: Callable[[int], None] | None = None) -> None:
        if self.workers < 2 or len(pieces) < 2 or "fork" not in mp.get_all_start_methods():
            SerialExecutor().judge_partitions(judging, pieces, fields, on_partial, progress)
            return
        done = 0
        _warm_columns(pieces)
        try:
            with self._pool(judging, None, fields) as pool, paused_gc():  # merging builds acyclic results
                for partials in pool.imap(_partition, pieces):
                    for partial in partials:
                        on_partial(partial)
                        done += partial.consumed
                    if progress is not None:
                        progress(done)
        finally:
            self._done()


def _warm_columns(pieces: Sequence[Piece]) -> None:
    """Import pyarrow's compute functions and JSON reader before forking (a sixth of a second, once) and make a
    compute call, when the columnar lane will read the pieces: every worker would otherwise pay it. The array is
    made from a buffer: ``pyarrow.array`` of a list would import pandas, which nothing here needs."""
    from . import lane

    if lane.ENABLED and any(part.size >= lane.MIN_BYTES for _, part in pieces) and lane.available():
        import pyarrow
        import pyarrow.compute

        zero = _zero()
        pyarrow.compute.equal(zero, zero)


def _zero() -> Any:
    """A pyarrow array holding one 0, made from a buffer (``pyarrow.array`` of a list would import pandas)."""
    import pyarrow

    return pyarrow.Array.from_buffers(pyarrow.int64(), 1, [None, pyarrow.py_buffer(bytes(8))])


def _worker_started() -> None:
    """A forked worker's set-up: Ctrl-C is left to the parent, which stops the workers (no traceback from each);
    a pyarrow the parent imported (the lane's) is told that pandas is absent (see :func:`_arrow_without_pandas`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if "pyarrow" in sys.modules and "pandas" not in sys.modules:
        _arrow_without_pandas()


def _arrow_without_pandas() -> None:
    """Have pyarrow, in this process, take pandas for not installed, so that it never imports it (a sixth of a
    second of each worker's start).

    pyarrow imports pandas the first time it turns a column into numpy or a Python value into arrow, to know
    pandas' missing values and timestamps; a JSON line holds none of them. It tries once (pyarrow 26 does; one
    that tried again would import pandas as before): an import that fails for that moment is remembered, and
    pandas itself stays importable. Only a forked worker does this: its pyarrow then takes a pandas object for any
    Python sequence (no built-in check hands it one), while the parent, a user's process, keeps pyarrow's pandas
    support."""
    import pyarrow

    absent = _Absent("pandas")
    sys.meta_path.insert(0, absent)
    try:
        _zero().to_numpy()  # C++ side
        pyarrow.scalar(0)  # its Python side (Python values to arrow)
    finally:
        sys.meta_path.remove(absent)


class _Absent:
    """An import finder for which a package is not installed."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == self.name or name.startswith(self.name + "."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def executor_for(workers: int | None) -> Executor:
    """The executor for a number of worker processes (1: serial; ``None``: one per CPU), at most one per CPU."""
    workers = available_cpus() if workers is None else min(workers, available_cpus())
    return ForkExecutor(workers) if workers > 1 else SerialExecutor()
