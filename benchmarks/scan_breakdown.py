"""Where a streamed scan's CPU time goes, stage by stage, in one process (on demand, not a test).

Usage:
  python benchmarks/scan_breakdown.py FILE [--policies policies] [--evals evals] [--no-lane] [--format text|json]

FILE is a JSON Lines outputs file (e.g. one written by ``benchmarks/gate_throughput.py``). The scan runs
as ``harness scan`` runs it with ``--workers 1`` (``executors.scan_partition`` over the file's partitions,
merged in order, then the run-level rules and the JSON report), with the stages timed by wrapping the
functions that do them (process time, so other processes do not count):

- start-up: importing the package and loading and preparing the policies and suites;
- parse: pyarrow reading a block's lines into columns, with its checks (``lane._parse_text``); with
  ``--no-lane`` (the record-by-record scan): the strict parser building records;
- records: records built for the outputs a prefilter pattern (or a record-reading check) needs
  (``LineBlock.objects``) and the blocks the lane leaves to the strict parser (``LineBlock.records``);
- prefilter: the ``re2.Set`` match of each output, and of the folded views of those that are not ASCII
  (``Scanner.hits``, the lane's ``Lane._hits``);
- columnar checks: the checks judging a block's columns in one call (``Check.columns``);
- checks: the checks run on single records (``Scanner.judge``), the columnar checks' findings excluded;
- scan bookkeeping: the rest of judging (scope plans, the kept columns, case keys, merging);
- run-level: ``finish`` (rate, quantile, disparity, baseline, outcomes);
- report: building the report and writing its JSON text.

Wrapping costs a little per call (about 0.2 us), mostly charged to prefilter and checks. Nothing is
asserted; the figures are printed with the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
T = time.process_time


#: the stages being timed now: a call within a timed call of the same stage is not counted twice
_ACTIVE: set[str] = set()


def _timed(spent: Counter[str], name: str, fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if name in _ACTIVE:
            return fn(*args, **kwargs)
        _ACTIVE.add(name)
        start = T()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] += T() - start
            _ACTIVE.discard(name)
    return wrapper


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--policies", type=Path, default=ROOT / "policies")
    ap.add_argument("--evals", type=Path, default=ROOT / "evals")
    ap.add_argument("--no-lane", action="store_true", help="the record-by-record scan (lane.ENABLED = False)")
    ap.add_argument("--format", choices=["text", "json"], default="text")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0]
    sys.path.insert(0, str(ROOT))
    t0 = T()
    from harness.evaluation import InputFacts, Merger, finish, lane, prepare
    from harness.evaluation import scanner as scanner_module
    from harness.evaluation.executors import scan_partition
    from harness.evaluation.partial import STREAM_SCOPE_CASES
    from harness.gate import decide
    from harness.outputs import sources
    from harness.outputs.jsonl import RecordParser
    from harness.project import load_project
    from harness.report import build_report

    project = load_project(args.policies, args.evals)
    judging = prepare(project)
    startup = T() - t0
    spent: Counter[str] = Counter()
    lane.ENABLED = not args.no_lane
    if hasattr(lane, "_parse_text"):  # the reading of joined lines, which _parse calls (absent from older releases)
        lane._parse_text = _timed(spent, "parse", lane._parse_text)
    else:
        lane._parse = _timed(spent, "parse", lane._parse)
    RecordParser.lines = _timed(spent, "parse", RecordParser.lines)  # the record-by-record scan's parsing
    sources.LineBlock.objects = _timed(spent, "records", sources.LineBlock.objects)
    patterns = judging.scanner.patterns
    patterns.matches = _timed(spent, "prefilter", patterns.matches)  # the record-by-record scan's
    utf8_matcher = getattr(patterns, "utf8_matcher", None)  # the lane's (absent from older releases)
    if utf8_matcher is not None:
        patterns.utf8_matcher = lambda: _timed(spent, "prefilter", utf8_matcher())
    hits = getattr(scanner_module.Scanner, "hits", None)  # the views of texts that are not ASCII too
    if hits is not None:
        scanner_module.Scanner.hits = lambda self: _timed(spent, "prefilter", hits(self))
    if hasattr(lane.Lane, "_hits"):  # the lane's prefilter of a block's outputs
        lane.Lane._hits = _timed(spent, "prefilter", lane.Lane._hits)
    scanner = judging.scanner
    wrapped: set[int] = set()
    for unit in scanner.units:
        hook = getattr(unit.check, "columns", None)
        if hook is not None and id(unit.check) not in wrapped:  # units share checks: each is wrapped once
            wrapped.add(id(unit.check))
            object.__setattr__(unit.check, "columns", _timed(spent, "columnar checks", hook))
    scanner_module.Scanner.judge = _timed(spent, "checks", scanner_module.Scanner.judge)
    merger = Merger(judging, scope_cap=STREAM_SCOPE_CASES)
    t1 = T()
    for part in sources.partitions(str(args.file), split_bytes=32 << 20):
        for partial in scan_partition(judging, (0, part), None):
            merger.add(partial)
    judged = T() - t1
    t2 = T()
    evaluation = finish(merger, InputFacts(str(args.file), "0" * 64, merger.records))
    run_level = T() - t2
    t3 = T()
    report = build_report(project, evaluation.facts, evaluation, decide(evaluation.outcomes), kind="scan",
                          started_at="2026-12-03T00:00:00Z", finished_at="2026-12-03T00:00:01Z",
                          judged_on=dt.date(2026, 12, 3))
    text = report.to_json()
    reporting = T() - t3
    n = merger.records
    stages = {"start-up": startup, "parse": spent["parse"], "records": spent["records"],
              "prefilter": spent["prefilter"], "columnar checks": spent["columnar checks"],
              "checks": spent["checks"], "scan bookkeeping": judged - sum(spent.values()),
              "run-level": run_level, "report": reporting}
    total = sum(stages.values())
    result = {"file": str(args.file), "records": n, "results": evaluation.results_total, "report_bytes": len(text),
              "lane": not args.no_lane, "lane_blocks": dict(lane.STATS), "cpu_s": round(total, 3),
              "stages": {k: round(v, 3) for k, v in stages.items()}, "load": [load, os.getloadavg()[0]]}
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
    print(f"{n:,} records, {evaluation.results_total:,} results; lane {'on' if result['lane'] else 'off'}"
          f" {dict(lane.STATS)}; load {load:.1f} -> {os.getloadavg()[0]:.1f}")
    for name, seconds in stages.items():
        print(f"  {name:18s} {seconds:7.2f} s  {1e6 * seconds / max(n, 1):7.1f} us/record"
              f"  {100 * seconds / total:5.1f} %")
    print(f"  {'total CPU':18s} {total:7.2f} s  {1e6 * total / max(n, 1):7.1f} us/record")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
