"""Reading model outputs: JSON Lines, gzip or zstd JSON Lines, Parquet; one file, a directory or a glob."""

from __future__ import annotations

from .jsonl import paused_gc, records_from_dicts, shape_problem
from .sources import (
    FORMATS,
    FieldMap,
    OutputsFile,
    Partition,
    PartitionReader,
    combined_sha256,
    load_outputs,
    load_outputs_files,
    partitions,
)

__all__ = ["FORMATS", "FieldMap", "OutputsFile", "Partition", "PartitionReader", "combined_sha256", "load_outputs",
           "load_outputs_files", "partitions", "paused_gc", "records_from_dicts", "shape_problem"]
