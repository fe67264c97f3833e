"""Where the per-output pass runs: in this process, or in forked worker processes.

Both give the same results in the same order: workers judge chunks of the inherited
records and the parent replays their findings in record order. A Dask executor for data
larger than one machine comes next, behind the same ``scan`` method.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ..model import OutputRecord
from ..outputs import paused_gc
from .scanner import OnResult, Scanner

#: below this many records a fork pool costs more than it saves
PARALLEL_MIN_RECORDS = 50_000


class Executor(Protocol):
    def scan(self, scanner: Scanner, records: Sequence[OutputRecord], on_result: OnResult,
             progress: Callable[[int], None] | None = None, with_cases: bool = True) -> list[int]:
        """Run every unit over every record; the scope-plan id of every record."""
        ...


class SerialExecutor:
    """Everything in this process."""

    def scan(self, scanner: Scanner, records: Sequence[OutputRecord], on_result: OnResult,
             progress: Callable[[int], None] | None = None, with_cases: bool = True) -> list[int]:
        scope_ids = [0] * len(records)
        with paused_gc():
            scanner.scan_range(records, 0, len(records), scope_ids, on_result, progress, with_cases)
        return scope_ids


_FORKED: tuple[Scanner, Sequence[OutputRecord], bool] | None = None


def _scan_chunk(chunk: tuple[int, int]) -> tuple[int, list[int], dict[int, tuple[str | None, frozenset[str]]],
                                                 list[tuple[int, int, Any]]]:
    """In a forked worker: judge one chunk of the inherited records, return what was found."""
    assert _FORKED is not None
    scanner, records, with_cases = _FORKED
    begin, end = chunk
    gc.disable()  # this worker process only builds acyclic results (see outputs.paused_gc)
    events: list[tuple[int, int, Any]] = []
    local_ids = [0] * (end - begin)
    scanner.scan_range(records, begin, end, local_ids,
                       lambda unit, index, record, outcome: events.append((unit.key, index, outcome)),
                       None, with_cases)
    return begin, local_ids, {plan.id: key for key, plan in scanner.plans.items()}, events


class ForkExecutor:
    """Chunks of records judged in ``workers`` forked processes (POSIX); the records are inherited, not copied.

    Runs smaller than :data:`PARALLEL_MIN_RECORDS`, or on systems without ``fork``, stay serial.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def scan(self, scanner: Scanner, records: Sequence[OutputRecord], on_result: OnResult,
             progress: Callable[[int], None] | None = None, with_cases: bool = True) -> list[int]:
        if self.workers < 2 or len(records) < PARALLEL_MIN_RECORDS or "fork" not in mp.get_all_start_methods():
            return SerialExecutor().scan(scanner, records, on_result, progress, with_cases)
        global _FORKED
        size = max(1000, -(-len(records) // (self.workers * 8)))
        chunks = [(begin, min(begin + size, len(records))) for begin in range(0, len(records), size)]
        units = scanner.all_units()
        scope_ids = [0] * len(records)
        _FORKED = (scanner, records, with_cases)
        gc.collect()
        gc.freeze()  # keep the collector from touching (and so copying) the inherited records
        try:
            with mp.get_context("fork").Pool(self.workers) as pool:
                for begin, local_ids, local_plans, events in pool.imap(_scan_chunk, chunks):
                    ids = {plan_id: scanner.plan(*key).id for plan_id, key in local_plans.items()}
                    scope_ids[begin:begin + len(local_ids)] = [ids[i] for i in local_ids]
                    for key, index, outcome in events:
                        on_result(units[key], index, records[index], outcome)
                    if progress is not None:
                        progress(begin + len(local_ids))
        finally:
            _FORKED = None
            gc.unfreeze()
        return scope_ids


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
