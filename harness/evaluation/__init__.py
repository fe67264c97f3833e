"""Evaluation: the engine, run-level rules, results, and where the work runs (executors)."""

from __future__ import annotations

from .engine import MAX_RESULTS, Judging, Merger, evaluate, finish, prepare
from .executors import PARALLEL_MIN_RECORDS, Executor, ForkExecutor, SerialExecutor, executor_for
from .results import Aggregate, Evaluation, InputFacts, PolicyOutcome, Result, ScopeGroup
from .scanner import PREFILTER_MAX_CHARS

__all__ = [
    "MAX_RESULTS",
    "PARALLEL_MIN_RECORDS",
    "PREFILTER_MAX_CHARS",
    "Aggregate",
    "Evaluation",
    "Executor",
    "ForkExecutor",
    "InputFacts",
    "Judging",
    "Merger",
    "PolicyOutcome",
    "Result",
    "ScopeGroup",
    "SerialExecutor",
    "evaluate",
    "executor_for",
    "finish",
    "prepare",
]
