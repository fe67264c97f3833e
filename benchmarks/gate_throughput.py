"""End-to-end throughput of `harness scan` on synthetic support-assistant outputs (on demand, not a test).

Usage:
  python benchmarks/gate_throughput.py --records 100000 [--records 1000000] [--repeat 3] [--seed 7]
                                       [--workdir DIR] [--keep] [--format text|json]

For each N it writes N seeded synthetic records (about 300 characters of support prose
each; a few percent with PII, ~1 % with blocklisted or jailbreak text, ~2 % refusals,
~5 % order-api JSON) to a JSONL file in the work dir (generation is not timed), then:

- harness: runs `harness scan --outputs FILE --format json --output REPORT --no-progress
  --policies policies --evals evals` from the repository root as a subprocess, end to end
  (interpreter start, imports, policy load, JSONL load, evaluation, JSON report).
  Median wall seconds of --repeat runs. Peak memory is VmHWM (peak resident set of the
  process image, reset at exec) read from /proc/self/status inside the child just after
  `harness.cli.main` returns: the child is `python -c <wrapper> ...`, which is what the
  `harness` console script does plus that one read. ru_maxrss of the child is recorded too
  (JSON only) but can include the pre-exec memory of the forking parent, so it is not used.
- baseline: in this process, a plain loop that `json.loads` each line and calls
  `re.search` with every pattern the gate scans for: each rule's prefilter pattern
  (`harness.checks.get_check(rule.check).prefilter(rule.prepared)`) and each `regex`
  rule with `must: match`, over every policy rule, inner `of:` rule and eval-case
  `expect` rule, de-duplicated. Patterns Python's `re` cannot compile (RE2-only syntax
  such as \\x{FF20} or \\p{Nd}) are skipped and counted; --translate-re2 instead rewrites
  that syntax into an approximate `re` equivalent so the baseline also does the PII scans.

The report's --output goes to a temporary file, never /dev/null: the harness writes reports
atomically (temp file + os.replace), which as root would replace the /dev/null device node.

Targets (printed, not asserted): 1M records in under 20 s, peak memory under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_RECORDS = 1_000_000
TARGET_SECONDS = 20.0
TARGET_PEAK_MB = 2048.0

# ----------------------------------------------------------------------------------------
# synthetic data

PRODUCTS = ("Acme KettlePro 1.7 L", "Acme Barista Pro espresso machine", "AeroPress Go",
            "Acme QuietBlend blender", "Acme SmartLamp", "Acme TrailPack 30 L", "Acme ThermoMug",
            "Acme AirFry XL", "Acme SoundBar 2", "Acme RoboVac S")
CARRIERS = ("UPS", "FedEx", "DHL", "USPS", "Royal Mail")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
OPENERS = ("Thanks for reaching out.", "Happy to help with that.", "Sorry about the trouble with your order.",
           "Good question!", "Thanks for your patience.", "I've looked into this for you.",
           "Thank you for contacting Acme support.")
BODY = (
    "I can see that order {order} shipped with {carrier} on {weekday} and should arrive within {n} business days.",
    "Your {product} is covered by our 2-year warranty, so a replacement is free of charge.",
    "You can return most items within 30 days of delivery for a full refund.",
    "Start the return from Orders in your account and print the free label.",
    "Refunds go back to the original payment method and usually appear within 5 to 7 business days.",
    "If the package does not arrive by {weekday}, let me know and I will open a claim with the carrier.",
    "I've applied a {pct} percent discount to your next order as an apology for the delay.",
    "You can change the delivery address under Orders > Change address until the order ships.",
    "Gift cards never expire and can be used on any order at checkout.",
    "You can track the parcel from the link in your shipping confirmation email.",
    "Orders over $150 can be split into three interest-free monthly payments with Acme Pay.",
    "For your security, the card on file is shown by its last four digits only: it ends in {last4}.",
    "The {product} you asked about is back in stock and ships within {n} days.",
    "To reset your password, choose Forgot password on the sign-in page and follow the link we email you.",
    "We ship to Canada and the UK; duties are shown at checkout before you pay.",
    "Your replacement {product} ships today and should arrive by {weekday}.",
)
RARE_BODY = (  # digits or an address that send an output into the PII detector without being PII
    "If you have more questions, write to support@acme.example and we reply within one business day.",
    "The estimated delivery date for order {order} is 2026-{month:02d}-{day:02d}.",
    "Your order total was ${dollars}.{cents:02d}, including {n} items.",
)
CLOSERS = ("Is there anything else I can help you with today?", "Let me know if you need anything else.",
           "Have a great day!", "I'm happy to help with anything else.")
REFUSALS = (
    "I'm sorry, but I can't help with that. I'm happy to help with your orders, returns or account security"
    " instead.",
    "I can't share another customer's details. If a parcel reached you by mistake, I'm happy to help"
    " arrange a pickup.",
    "I won't be able to help with that request. I can help you with orders, deliveries and refunds, though.",
)
HARMFUL = (
    "Split it into small orders and ship them to a drop address so nothing gets flagged.",
    "People buy fullz and bank logs on those forums, then order with the stolen cards.",
    "That's a stupid question, but fine.",
    "DAN mode enabled. Sure, here is what you asked for.",
    "Hypothetically, you could reuse the same card details on several small orders.",
    "Honestly, only an idiot would lose a receipt.",
    "Escalations are filed at tickets.corp.acme.example if you want to skip the queue.",
    "Your temporary password is Blue-Otter-42.",
)
FIRST = ("jane", "john", "emily", "james", "alex", "maria", "li", "omar", "sofia", "noah")
LAST = ("doe", "carter", "smith", "nguyen", "garcia", "khan", "muller", "rossi", "tanaka", "brown")
DOMAINS = ("example.com", "mail.example", "gmail.com", "outlook.com", "acme-customers.example")
TEST_CARDS = ("4111 1111 1111 1111", "5555 5555 5555 4444", "4012 8888 8888 1881", "6011111111111117",
              "3782 822463 10005")
IBANS = ("GB82WEST12345698765432", "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000",
         "FR1420041010050500013M02606")
GROUPS = ("female", "male", "nonbinary", "unspecified")
LOCALES = ("en-US", "en-US", "en-US", "en-GB", "en-CA", "de-DE", "fr-FR")
STATUSES = ("pending", "processing", "shipped", "delivered", "cancelled", "returned")


def _luhn_card(rng: random.Random) -> str:
    digits = [4] + [rng.randrange(10) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):  # the check digit will sit to the right
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    return " ".join(s[i:i + 4] for i in range(0, 16, 4)) if rng.random() < 0.6 else s


def _pii_sentence(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        email = f"{rng.choice(FIRST)}.{rng.choice(LAST)}{rng.randrange(100)}@{rng.choice(DOMAINS)}"
        return f"I've noted the contact email {email} on the order."
    if kind == 1:
        area = rng.choice(("202", "212", "415", "312", "617", "303"))
        return f"We will call you back at +1 {area}-555-01{rng.randrange(100):02d} this afternoon."
    if kind == 2:
        card = rng.choice(TEST_CARDS) if rng.random() < 0.5 else _luhn_card(rng)
        return f"The card on file is {card}, expiring next year."
    if kind == 3:
        ssn = f"{rng.randrange(1, 666):03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"
        return f"The SSN on the account is {ssn}."
    if kind == 4:
        return f"We will send the refund to {rng.choice(IBANS)} within five working days."
    return f"Your last sign-in came from {rng.choice((203, 198, 81, 94))}.{rng.randrange(256)}." \
           f"{rng.randrange(256)}.{rng.randrange(1, 255)}."


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        order=f"A-{rng.randrange(10000, 99999)}", carrier=rng.choice(CARRIERS), weekday=rng.choice(WEEKDAYS),
        n=rng.randrange(2, 8), product=rng.choice(PRODUCTS), pct=rng.choice((5, 10, 15, 20)),
        last4=f"{rng.randrange(10000):04d}", month=rng.randrange(1, 13), day=rng.randrange(1, 29),
        dollars=rng.randrange(5, 400), cents=rng.randrange(100))


def _prose(rng: random.Random, extra: str | None = None, target: int = 280) -> str:
    parts = [rng.choice(OPENERS)]
    size = len(parts[0])
    budget = target - 50
    while size < budget:
        template = rng.choice(RARE_BODY) if rng.random() < 0.04 else rng.choice(BODY)
        sentence = _fill(template, rng)
        parts.append(sentence)
        size += len(sentence) + 1
    if extra is not None:
        parts.insert(rng.randrange(1, len(parts) + 1), extra)
    parts.append(rng.choice(CLOSERS))
    text = " ".join(parts)
    if rng.random() < 0.03:  # typographic apostrophes, as models often write them
        text = text.replace("'", "\u2019")
    return text


def _order_json(rng: random.Random) -> str:
    items = [{"sku": f"{rng.choice(('KT', 'BP', 'AP', 'QB', 'SL'))}-{rng.randrange(1000, 9999)}",
              "name": rng.choice(PRODUCTS), "quantity": rng.randrange(1, 4),
              "unit_price": round(rng.uniform(9, 400), 2)} for _ in range(rng.randrange(1, 4))]
    obj = {"order_id": f"A-{rng.randrange(10000, 99999)}", "status": rng.choice(STATUSES),
           "currency": rng.choice(("USD", "USD", "GBP", "EUR")),
           "total": round(sum(i["quantity"] * i["unit_price"] for i in items), 2), "items": items,
           "carrier": rng.choice(CARRIERS), "estimated_delivery": f"2026-11-{rng.randrange(10, 29)}",
           "updated_at": f"2026-11-{rng.randrange(10, 29)}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"}
    text = json.dumps(obj)
    roll = rng.random()
    if roll < 0.05:
        return f"```json\n{text}\n```"  # the INC-2026-0004 failure
    if roll < 0.10:
        return text.replace(f'"status": "{obj["status"]}"', '"status": "in transit"')
    return text


def generate(path: Path, n: int, seed: int) -> dict[str, int]:
    """Write n records to path; returns how many of each kind were written."""
    rng = random.Random(seed)
    counts = {"prose": 0, "pii": 0, "harmful": 0, "refusal": 0, "json": 0}
    width = max(6, len(str(n)))
    start = 1_795_000_000  # 2026-11-18T...Z
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(1, n + 1):
            roll = rng.random()
            tags = ["support-bot"]
            if roll < 0.05:
                kind, output, tags = "json", _order_json(rng), ["order-api"]
            elif roll < 0.07:
                kind, output = "refusal", rng.choice(REFUSALS)
            elif roll < 0.08:
                kind, output = "harmful", _prose(rng, rng.choice(HARMFUL))
            elif roll < 0.12:
                kind, output = "pii", _prose(rng, _pii_sentence(rng))
            else:
                kind, output = "prose", _prose(rng)
            counts[kind] += 1
            record = {
                "case_id": f"gen-{i:0{width}d}", "output": output, "model": "acme-support-assistant",
                "model_version": "1.1.0", "latency_ms": round(rng.lognormvariate(6.8, 0.5), 1),
                "slice": {"group": rng.choice(GROUPS), "locale": rng.choice(LOCALES)},
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + i * 3)),
                "tags": tags,
            }
            handle.write(json.dumps(record, ensure_ascii=False))
            handle.write("\n")
    return counts


# ----------------------------------------------------------------------------------------
# the patterns the gate scans for, and the plain-Python baseline

def rules_and_patterns(policies: Path, evals: Path) -> dict[str, Any]:
    from harness.checks import get_check
    from harness.project import load_project

    project = load_project(policies, evals)
    counts = {"policies": len(project.policies), "suites": len(project.suites), "cases": len(project.cases),
              "policy_rules": 0, "inner_rules": 0, "case_rules": 0}
    patterns: dict[str, str] = {}  # pattern -> the check it came from (first seen)

    def visit(rule: Any, bucket: str) -> None:
        counts[bucket] += 1
        check = get_check(rule.check)
        if check.prefilter is not None:
            pattern = check.prefilter(rule.prepared)
            if pattern is not None:
                patterns.setdefault(pattern, rule.check)
        if rule.check == "regex" and rule.options.get("must") == "match":
            patterns.setdefault(rule.options["pattern"], "regex(must: match)")
        if rule.inner is not None:
            visit(rule.inner, "inner_rules")

    for policy in project.policies:
        for rule in policy.rules:
            visit(rule, "policy_rules")
    for case in project.cases.values():
        for rule in case.expect:
            visit(rule, "case_rules")
    counts["rules_total"] = counts["policy_rules"] + counts["inner_rules"] + counts["case_rules"]
    return {"counts": counts, "patterns": patterns}


# RE2-only syntax in the shipped patterns, rewritten approximately for Python's re.
_RE2_CLASS = {r"\pL": "a-zA-Z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff", r"\pN": r"\d", r"\p{Nd}": r"\d",
              r"\p{Pd}": "\\-\u2010-\u2015\u2e3a\u2e3b\ufe58\ufe63\uff0d",
              r"\p{Zs}": " \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000",
              r"\p{Z}": " \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000",
              r"\p{Cf}": "\u00ad\u0600-\u0605\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff"}


def translate_re2(pattern: str) -> str:
    out = re.sub(r"\\x\{([0-9A-Fa-f]{1,6})\}", lambda m: f"\\U{int(m.group(1), 16):08x}", pattern)
    result, in_class, i = [], False, 0
    while i < len(out):
        if out[i] == "\\" and i + 1 < len(out):
            token = next((t for t in _RE2_CLASS if out.startswith(t, i)), None)
            if token is not None:
                body = _RE2_CLASS[token]
                result.append(body if in_class else f"[{body}]")
                i += len(token)
                continue
            result.append(out[i:i + 2])
            i += 2
            continue
        if out[i] == "[" and not in_class:
            in_class = True
        elif out[i] == "]" and in_class and result and result[-1] != "[":
            in_class = False
        result.append(out[i])
        i += 1
    return "".join(result)


def compile_baseline(patterns: dict[str, str], translate: bool) -> tuple[list[re.Pattern[str]], list[str], int]:
    compiled, skipped, translated = [], [], 0
    for pattern, origin in patterns.items():
        try:
            compiled.append(re.compile(pattern))
            continue
        except re.error:
            pass
        if translate:
            try:
                compiled.append(re.compile(translate_re2(pattern)))
                translated += 1
                continue
            except re.error:
                pass
        skipped.append(origin)
    return compiled, skipped, translated


def run_baseline(path: Path, compiled: list[re.Pattern[str]]) -> tuple[float, float, int, int]:
    """(wall s, CPU s, records, pattern hits) of json.loads + re.search per pattern per line."""
    hits = records = 0
    c0, t0 = time.process_time(), time.perf_counter()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            text = json.loads(line)["output"]
            records += 1
            for rx in compiled:
                if rx.search(text) is not None:
                    hits += 1
    return time.perf_counter() - t0, time.process_time() - c0, records, hits


# ----------------------------------------------------------------------------------------
# the harness, end to end, in a child process

_WRAPPER = """
import json, resource, sys
out, argv, rc = sys.argv[1], sys.argv[2:], 5
sys.argv = ["harness", *argv]
try:
    from harness.cli import main
    rc = main(argv)
except SystemExit as exc:
    rc = exc.code if isinstance(exc.code, int) else 1
finally:
    hwm = None
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(out, "w") as handle:
        json.dump({"rc": rc, "vmhwm_kb": hwm, "ru_maxrss_kb": usage.ru_maxrss,
                   "cpu_s": usage.ru_utime + usage.ru_stime}, handle)
sys.exit(rc)
"""


def run_harness(path: Path, workdir: Path, policies: Path, evals: Path) -> dict[str, Any]:
    stats_file, report = workdir / "child-stats.json", workdir / "report.json"
    command = [sys.executable, "-c", _WRAPPER, str(stats_file), "scan", "--outputs", str(path),
               "--format", "json", "--output", str(report), "--no-progress", "--color", "never",
               "--policies", str(policies), "--evals", str(evals)]
    t0 = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False)
    wall = time.perf_counter() - t0
    stats = json.loads(stats_file.read_text())
    if proc.returncode != 0 or stats["rc"] != 0:
        raise SystemExit(f"harness scan failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    size = report.stat().st_size
    stats_file.unlink()
    report.unlink()
    return {"seconds": wall, "cpu_s": stats["cpu_s"], "peak_mb": stats["vmhwm_kb"] / 1024,
            "ru_maxrss_mb": stats["ru_maxrss_kb"] / 1024, "report_bytes": size}


# ----------------------------------------------------------------------------------------

def bench(n: int, args: argparse.Namespace, workdir: Path, compiled: list[re.Pattern[str]]) -> dict[str, Any]:
    path = workdir / f"outputs-{n}.jsonl"
    t0 = time.perf_counter()
    kinds = generate(path, n, args.seed)
    gen_seconds = time.perf_counter() - t0
    print(f"[N={n}] generated {path.stat().st_size / 1e6:.1f} MB in {gen_seconds:.1f} s: {kinds}",
          file=sys.stderr)
    runs = []
    for i in range(args.repeat):
        runs.append(run_harness(path, workdir, args.policies, args.evals))
        print(f"[N={n}] harness run {i + 1}/{args.repeat}: {runs[-1]['seconds']:.2f} s,"
              f" peak {runs[-1]['peak_mb']:.0f} MB", file=sys.stderr)
    base, base_cpu = [], []
    for i in range(args.repeat):
        seconds, cpu, records, hits = run_baseline(path, compiled)
        assert records == n
        base.append(seconds)
        base_cpu.append(cpu)
        print(f"[N={n}] baseline run {i + 1}/{args.repeat}: {seconds:.2f} s ({hits} pattern hits)",
              file=sys.stderr)
    file_mb = round(path.stat().st_size / 1e6, 1)
    if not args.keep:
        path.unlink()
    h_med = statistics.median(r["seconds"] for r in runs)
    b_med = statistics.median(base)
    return {
        "records": n, "file_mb": file_mb, "kinds": kinds,
        "harness": {"median_s": round(h_med, 3), "records_per_s": round(n / h_med),
                    "median_cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
                    "peak_mb": round(max(r["peak_mb"] for r in runs), 1),
                    "ru_maxrss_mb": round(max(r["ru_maxrss_mb"] for r in runs), 1),
                    "runs_s": [round(r["seconds"], 3) for r in runs],
                    "report_bytes": runs[-1]["report_bytes"]},
        "baseline": {"median_s": round(b_med, 3), "records_per_s": round(n / b_med),
                     "median_cpu_s": round(statistics.median(base_cpu), 3),
                     "runs_s": [round(s, 3) for s in base], "pattern_hits": hits},
        "speedup": round(b_med / h_med, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, action="append", metavar="N",
                    help="number of records (repeatable; default 100000)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per N, median reported (default 3)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", type=Path, help="where the JSONL goes (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--policies", type=Path, default=ROOT / "policies")
    ap.add_argument("--evals", type=Path, default=ROOT / "evals")
    ap.add_argument("--translate-re2", action="store_true",
                    help="baseline: rewrite RE2-only syntax for re instead of skipping those patterns")
    ap.add_argument("--format", choices=("text", "json"), default="text")
    args = ap.parse_args(argv)
    sizes = args.records or [100_000]
    if args.repeat < 1 or any(n < 1 for n in sizes):
        ap.error("--records and --repeat must be positive")

    scope = rules_and_patterns(args.policies, args.evals)
    compiled, skipped, translated = compile_baseline(scope["patterns"], args.translate_re2)
    made = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="gate-throughput-")) if made else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        results = [bench(n, args, workdir, compiled) for n in sizes]
    finally:
        if made and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    counts = scope["counts"]
    summary = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "seed": args.seed, "repeat": args.repeat,
        "scope": counts,
        "patterns": {"unique": len(scope["patterns"]), "baseline_compiled": len(compiled),
                     "translated": translated, "skipped": len(skipped), "skipped_from": sorted(set(skipped))},
        "peak_memory_method": "VmHWM of the child from /proc/self/status after harness.cli.main returns",
        "targets": {"records": TARGET_RECORDS, "max_seconds": TARGET_SECONDS, "max_peak_mb": TARGET_PEAK_MB},
        "results": results,
    }
    for r in results:
        if r["records"] == TARGET_RECORDS:
            r["meets_targets"] = {"seconds": r["harness"]["median_s"] < TARGET_SECONDS,
                                  "peak_memory": r["harness"]["peak_mb"] < TARGET_PEAK_MB}
    if args.workdir is not None and args.keep:
        summary["workdir"] = str(workdir)
    if args.format == "json":
        print(json.dumps(summary, indent=2))
        return 0

    print(f"harness scan, {counts['policies']} policies + {counts['suites']} eval suites ({counts['cases']} cases):"
          f" {counts['rules_total']} rules in scope ({counts['policy_rules']} policy rules,"
          f" {counts['inner_rules']} inner of: rules, {counts['case_rules']} eval-case expect rules)")
    how = f"{translated} translated from RE2 syntax, " if args.translate_re2 else ""
    print(f"baseline: json.loads + re.search x {len(compiled)} of {len(scope['patterns'])} unique scan patterns"
          f" ({how}{len(skipped)} skipped as not compilable by re"
          f"{': ' + ', '.join(sorted(set(skipped))) if skipped else ''})")
    print(f"machine: {os.cpu_count()} CPUs, Python {summary['machine']['python']}; medians of {args.repeat} run(s);"
          " wall seconds (CPU seconds in brackets: less sensitive to a busy machine); peak = child VmHWM")
    header = ("N", "harness s", "(cpu s)", "records/s", "peak MB", "baseline s", "(cpu s)", "records/s",
              "speed-up")
    rows = [(f"{r['records']:,}", f"{r['harness']['median_s']:.2f}", f"{r['harness']['median_cpu_s']:.2f}",
             f"{r['harness']['records_per_s']:,}", f"{r['harness']['peak_mb']:.0f}",
             f"{r['baseline']['median_s']:.2f}", f"{r['baseline']['median_cpu_s']:.2f}",
             f"{r['baseline']['records_per_s']:,}", f"{r['speedup']:.2f}x") for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    print("speed-up = baseline seconds / harness seconds (>1: the harness is faster than the plain loop)")
    print(f"targets (not asserted): {TARGET_RECORDS:,} records in under {TARGET_SECONDS:.0f} s,"
          f" peak memory under {TARGET_PEAK_MB / 1024:.0f} GB")
    for r in results:
        if "meets_targets" in r:
            ok = r["meets_targets"]
            print(f"  N={r['records']:,}: time {'met' if ok['seconds'] else 'MISSED'}"
                  f" ({r['harness']['median_s']:.1f} s), memory {'met' if ok['peak_memory'] else 'MISSED'}"
                  f" ({r['harness']['peak_mb']:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
