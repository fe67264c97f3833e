"""Reading model outputs: JSON Lines files today; compressed files, Parquet and providers next."""

from __future__ import annotations

from .jsonl import load_outputs, paused_gc, records_from_dicts, shape_problem

__all__ = ["load_outputs", "paused_gc", "records_from_dicts", "shape_problem"]
