"""Speed and memory of the report renderers on a large synthetic report (on demand, not a test).

Usage:
  python benchmarks/render_speed.py [--records 1000000] [--failures 10000] [--repeat 3] [--seed 7]
                                    [--no-memory] [--no-linearity] [--format text|json]

Builds a :class:`~harness.report.Report` directly (no engine, not timed): ``--records``
outputs whose case ids are spread over the scopes of 12 policies and suites the way the
shipped ones apply (five judge every output, the others only the outputs of a tag:
order-api, harmful requests, everyday support, refusal parity), ``--failures`` non-passing
results with findings (a few waived), and a handful of run-level aggregates with details
and flipped cases. Then, for each of the formats ``text``, ``json``, ``junit`` and
``markdown`` and for ``Report.to_json`` and ``Report.from_json`` (of that JSON text):

- the median wall seconds of ``--repeat`` runs;
- the peak memory the step allocates above what the report already holds (tracemalloc,
  one extra untimed run; ``--no-memory`` skips it), and the process's peak RSS at the end;
- a linearity check: the same at N/10 records and failures/10, and the ratio of the two
  medians (about 10 when linear; about 100 would mean quadratic).

Rough target (printed, not asserted): every format under 60 s at 1M records.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.model import Verdict
from harness.report import (
    REPORT_VERSION,
    AggregateReport,
    FileRef,
    FindingReport,
    OutputsFile,
    PolicyFile,
    PolicyReport,
    Report,
    ResultReport,
    RunInfo,
    ScopeReport,
    Summary,
    render,
)

TARGET_SECONDS = 60.0
FORMATS = ("text", "json", "junit", "markdown")

#: (id, kind, on_fail, the tag it applies to or None for every output)
POLICIES = (
    ("privacy.no-pii", "policy", "rollback", None),
    ("quality.latency", "policy", "block", None),
    ("quality.record-provenance", "policy", "warn", None),
    ("safety.no-harmful-content", "policy", "block", None),
    ("security.no-internal-leakage", "policy", "rollback", None),
    ("quality.order-api-format", "policy", "block", "order-api"),
    ("quality.order-api-compat", "policy", "block", "order-api"),
    ("safety.refuse-harmful-requests", "policy", "block", "harmful"),
    ("quality.no-refusal-regression", "policy", "block", "harmful"),
    ("quality.support-answers", "policy", "warn", "support"),
    ("fairness.refusal-parity", "policy", "block", "parity"),
    ("eval:harmful-requests", "suite", "block", "harmful"),
)
#: the share of outputs of each tag; the rest are untagged (only the all-output policies judge them)
TAGS = (("order-api", 0.05), ("harmful", 0.02), ("support", 0.20), ("parity", 0.01))
FINDING_KINDS = ("email", "phone", "credit_card", "regex", "refusal", "dangerous", "json")


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def synthetic_report(records: int, failures: int, seed: int) -> Report:
    """A report of ``records`` outputs and ``failures`` non-passing results, shaped like a real gate's."""
    rng = random.Random(seed)
    cases: dict[str | None, list[str]] = {tag: [] for tag, _ in TAGS}
    cases[None] = []
    tag_of: dict[str, str | None] = {}
    for i in range(records):
        draw, tag = rng.random(), None
        for name, share in TAGS:
            if draw < share:
                tag = name
                break
            draw -= share
        case_id = f"{tag or 'case'}-{i:07d}"
        cases[tag].append(case_id)
        tag_of[case_id] = tag
    applies = {pid: (tag is None, tag) for pid, _, _, tag in POLICIES}
    scopes = []
    for tag, ids in cases.items():
        policies = tuple(pid for pid, (everywhere, ptag) in applies.items() if everywhere or ptag == tag)
        if ids:
            scopes.append(ScopeReport(policies, tuple(ids)))
    all_cases = list(tag_of)

    results = []
    failed_cases: dict[str, set[str]] = {pid: set() for pid, *_ in POLICIES}
    for i in range(failures):
        case_id = all_cases[rng.randrange(len(all_cases))]
        eligible = [pid for pid, (everywhere, ptag) in applies.items() if everywhere or ptag == tag_of[case_id]]
        policy = rng.choice(eligible)
        kind = rng.choice(FINDING_KINDS)
        findings = tuple(
            FindingReport(kind, start, start + 12, rng.choice(("j***@example.com", "***-***-**47", "DAN | mode `x`",
                                                             "<script>alert(1)</script>", None)))
            for start in sorted(rng.sample(range(300), rng.randint(1, 3))))
        status = "waived" if i % 50 == 0 else ("error" if i % 97 == 0 else "fail")
        results.append(ResultReport(case_id, policy, f"rule-{i % 4}", status,
                                    f"{kind} found in the output | case {case_id}", rng.randint(1, records),
                                    "ACME-2291" if status == "waived" else None, findings))
        if status != "waived":
            failed_cases[policy].add(case_id)

    aggregates = (
        AggregateReport("fairness.refusal-parity", "answer-rate-parity-by-group", "disparity", "fail",
                        "pass-rate gap 0.600 across `slice.group` (nonbinary 1.00 vs female 0.40), maximum 0.2",
                        0.6, 0.2, {"by": "slice.group", "slices": {g: {"count": 100, "pass_rate": 0.4}
                                                                   for g in ("female", "male", "nonbinary")}},
                        (), None),
        AggregateReport("quality.latency", "p95-latency", "quantile", "fail",
                        "p95 latency_ms = 8554.5, above the maximum 4000", 8554.5, 4000.0,
                        {"field": "latency_ms", "q": 0.95, "count": records}, (), None),
        AggregateReport("quality.no-refusal-regression", "refusals-hold", "baseline", "fail",
                        "pass rate 0.786 vs baseline 1.000", 0.786, 0.0, {"baseline_rate": 1.0},
                        tuple(cases["harmful"][:1000]), None),
        AggregateReport("quality.support-answers", "close-to-approved-answers", "rate", "pass",
                        "pass rate 1.000, minimum 0.8", 1.0, 0.8, {}, (), None),
    )
    run_failed = {a.policy: (a.rule,) for a in aggregates if a.status == "fail"}
    checked = {pid: sum(len(s.cases) for s in scopes if pid in s.policies) for pid, *_ in POLICIES}
    policy_reports = tuple(
        PolicyReport(pid, "1.0.0", f"Policy {pid}", kind, "sev2", on_fail, "active",
                     "fail" if failed_cases[pid] or pid in run_failed else "pass", checked[pid],
                     len(failed_cases[pid]), sum(r.policy == pid and r.status == "waived" for r in results),
                     sum(r.policy == pid and r.status == "error" for r in results), run_failed.get(pid, ()))
        for pid, kind, on_fail, _ in POLICIES)
    statuses = [p.status for p in policy_reports]
    run = RunInfo(
        id=_hex(rng, 32), kind="gate", started_at="2026-11-27T12:00:00.000Z", finished_at="2026-11-27T12:01:00.000Z",
        judged_on="2026-11-27", model="acme-support-assistant", model_version="1.2.0",
        outputs=OutputsFile("outputs.jsonl", _hex(rng, 64), records),
        baseline=OutputsFile("baseline.jsonl", _hex(rng, 64), records),
        playbook=FileRef("playbook.yaml", _hex(rng, 64)),
        policies=tuple(PolicyFile(pid, "1.0.0", _hex(rng, 64), f"policies/{pid}.yaml") for pid, *_ in POLICIES))
    return Report(
        report_version=REPORT_VERSION, harness_version="bench", run=run, verdict=Verdict.ROLLBACK,
        reasons=tuple(f"{p.id} 1.0.0 (sev2, on_fail {p.on_fail}): fail" for p in policy_reports if p.status == "fail"),
        summary=Summary(len(policy_reports), statuses.count("pass"), statuses.count("fail"), statuses.count("waived"),
                        statuses.count("error"), len(results)),
        policies=policy_reports, results=tuple(results), aggregates=aggregates,
        warnings=("3 output(s) have no model_version",), scopes=tuple(scopes))


def _steps(report: Report) -> dict[str, Callable[[], object]]:
    steps: dict[str, Callable[[], object]] = {fmt: functools.partial(render, report, fmt) for fmt in FORMATS}
    text = report.to_json()
    steps["Report.to_json"] = report.to_json
    steps["Report.from_json"] = functools.partial(Report.from_json, text)
    return steps


def _time(step: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak_mb(step: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def bench(records: int, failures: int, args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    report = synthetic_report(records, failures, args.seed)
    built = time.perf_counter() - start
    out: dict[str, Any] = {"records": records, "failures": failures, "build_seconds": round(built, 2),
                           "formats": {}}
    for name, step in _steps(report).items():
        entry: dict[str, Any] = {"median_s": round(_time(step, args.repeat), 3)}
        if args.memory:
            entry["peak_mb"] = round(_peak_mb(step), 1)
        out["formats"][name] = entry
        print(f"  {records:>9,} records  {name:<18} {entry['median_s']:>8.3f} s"
              + (f"  peak +{entry['peak_mb']:,.0f} MB" if "peak_mb" in entry else ""), file=sys.stderr, flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--failures", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the tracemalloc runs")
    parser.add_argument("--no-linearity", dest="linearity", action="store_false", help="skip the N/10 run")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)

    full = bench(args.records, args.failures, args)
    small = bench(max(1, args.records // 10), max(1, args.failures // 10), args) if args.linearity else None
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if small:
        for name, entry in full["formats"].items():
            base = small["formats"][name]["median_s"]
            entry["ratio_to_tenth"] = round(entry["median_s"] / base, 1) if base > 0 else None
    summary = {"full": full, "tenth": small, "peak_rss_mb": round(rss_mb, 1), "target_seconds": TARGET_SECONDS}
    if args.format == "json":
        print(json.dumps(summary, indent=2))
        return 0
    print(f"\n{args.records:,} records, {args.failures:,} failures, median of {args.repeat}"
          f" (report built in {full['build_seconds']} s, not timed)")
    print(f"{'format':<18} {'median s':>9} {'peak MB':>9} {'N/10 s':>8} {'ratio':>6}")
    for name, entry in full["formats"].items():
        tenth = small["formats"][name]["median_s"] if small else None
        print(f"{name:<18} {entry['median_s']:>9.3f} {entry.get('peak_mb', float('nan')):>9.1f}"
              f" {tenth if tenth is not None else '-':>8} {entry.get('ratio_to_tenth', '-'):>6}"
              + ("  over target" if entry["median_s"] > TARGET_SECONDS else ""))
    print(f"process peak RSS {rss_mb:,.0f} MB (report, renderings and tracemalloc included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
