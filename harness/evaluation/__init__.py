"""Evaluation: the engine, run-level rules, results, and where the work runs (executors)."""

from __future__ import annotations

from .engine import evaluate
from .executors import PARALLEL_MIN_RECORDS, Executor, ForkExecutor, SerialExecutor, executor_for
from .results import Aggregate, Evaluation, PolicyOutcome, Result, ScopeGroup
from .scanner import PREFILTER_MAX_CHARS

__all__ = [
    "PARALLEL_MIN_RECORDS",
    "PREFILTER_MAX_CHARS",
    "Aggregate",
    "Evaluation",
    "Executor",
    "ForkExecutor",
    "PolicyOutcome",
    "Result",
    "ScopeGroup",
    "SerialExecutor",
    "evaluate",
    "executor_for",
]
