"""Throughput of `harness scan` against its floor and a plain-`re` baseline (on demand, not a test).

Usage:
  python benchmarks/gate_throughput.py [--records N ...] [--repeat 3] [--seed 7] [--max-records 10000000]
                                       [--baseline-records 100000] [--skip-dask] [--dask-workers 2]
                                       [--workdir DIR] [--keep] [--no-tile] [--format text|json]

Inputs. For each N (default 100,000, 1,000,000 and 10,000,000; --records is repeatable; an N above
--max-records is refused) a JSONL file of N seeded synthetic records: about 300 characters of support
prose each; a few percent with PII, ~1 % with blocklisted or jailbreak text, ~2 % refusals, ~5 %
order-api JSON; about 555 bytes a record (10 M: ~5.5 GB). Generation takes about 45 s per million, so
an N above 1,000,000 that is a multiple of it is built by writing the 1,000,000-record file N/1M times
with the case ids renumbered and the timestamps moved on (same distribution, and every output text
occurs N/1M times; --no-tile generates it record by record instead). A file in --workdir whose
sidecar (`.meta.json`: N, seed, generator version, size) matches is reused; generation is never timed.
Files this run made are deleted afterwards unless --keep; files it reused are left alone.

Configurations, all in the same run, each N, --repeat times each (interleaved), median wall seconds:
- harness_w1, harness_w2: `harness scan --outputs FILE --format json --output REPORT --no-progress
  --policies policies --evals evals --workers 1|2` as a subprocess from the repository root, end to
  end (interpreter start, imports, policy load, reading, evaluation, JSON report written).
- harness_dask: the same with `--executor dask` (a distributed.LocalCluster the harness starts; with
  `--dask-workers 2` when the CLI has that flag, whose default is 2). A configuration whose flag
  `harness scan --help` does not list is reported "n/a (flag missing: ...)"; --skip-dask skips it.
- floor_1p: a subprocess that reads the file, `orjson.loads` each line and matches its `output`
  once against one `harness.text.regex.PatternSet` (an `re2.Set`) of every scan pattern (below),
  counting the outputs with at least one match; the time includes that interpreter's start (~0.1 s).
- floor_2p: the same, the file split in two byte ranges at line starts, each scanned by a forked
  process (the PatternSet compiled before the fork).
- baseline_re: in this process, `json.loads` of each line and `re.search` with every scan pattern
  Python's `re` can compile (RE2's group-scoped flags `(?:(?i)X)` are rewritten as the equivalent
  `(?i:X)`; RE2-only syntax such as \\x{FF20} or \\p{Nd} is skipped and counted, or with
  --translate-re2 rewritten approximately). It is slow (minutes per million records), so it runs on
  the first min(N, --baseline-records) records and its times are scaled by N / that count (marked
  in the table); it is run --repeat times like the others.
The scan patterns are each rule's prefilter pattern (`harness.checks.get_check(rule.check).prefilter
(rule.prepared)`) and the pattern of each `regex` rule with `must: match`, over every policy rule,
inner `of:` rule and eval-case `expect` rule, de-duplicated (38 for the shipped policies and evals).

Measures, per configuration and N:
- wall s: median of --repeat runs, measured around the subprocess (around the loop for baseline_re).
- CPU s: user + system seconds of the whole child process tree, the delta of
  getrusage(RUSAGE_CHILDREN) around the subprocess. It covers a descendant only once it has been
  waited for, so the tree is also sampled (psutil, every 0.2 s: the last user + system seen per
  process, summed) and the JSON gives both; "CPU s" is the larger, and the text says where the
  sample exceeded the rusage figure (descendants not reaped). baseline_re: this process's CPU time.
- peak MB: the VmHWM (peak resident set) of the child process itself, from /proc/self/status read
  inside it just before it exits (for the harness: after `harness.cli.main` returns; the child is
  `python -c <wrapper>`, which is what the `harness` console script does plus that read).
- tree MB: the largest sum of the resident sets (RSS) of the child and all its descendants, sampled
  every 0.2 s with psutil (a sample: a peak shorter than that can be missed; forked workers' shared
  pages are counted in each). This is the figure that includes Dask's and --workers' processes.
- records/s: N / wall s. x floor: wall s / floor_1p wall s. baseline /: baseline_re wall s / wall s.
- linearity: seconds per million records at each N; "linear" when the figure at the largest N is
  within 1.5x of the figure at 1,000,000 (or, without a larger N, at the smallest N; fixed costs such
  as start-up make the per-million figure of a small N larger, so a ratio below 1 is expected).

The report's --output goes to a temporary file, never /dev/null: the harness writes reports
atomically (temp file + os.replace), which as root would replace the /dev/null device node.

Targets of issue #10 (printed, not asserted): 1 M records in at most 6 s (aiming at 3 s) with a peak
of at most 1 GB; 10 M records with a peak of at most 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for the module beside this file, and only for it
try:
    import bench_env  # the children's environment and bytecode
finally:
    sys.path.pop(0)

DEFAULT_SIZES = (100_000, 1_000_000, 10_000_000)
TILE_BASE = 1_000_000  # larger multiples of it are built from its file
GENERATOR_VERSION = 1  # bump when the synthetic records change: older kept files are then regenerated
BYTES_PER_RECORD = 560  # for the disk-space check
TARGET_RECORDS = 1_000_000
TARGET_SECONDS = 6.0
AIM_SECONDS = 3.0
TARGET_PEAK_MB = 1024.0
TARGET_LARGE_RECORDS = 10_000_000
TARGET_LARGE_PEAK_MB = 1536.0
SAMPLE_SECONDS = 0.2
LINEAR_RATIO = 1.5

CONFIGS: dict[str, str] = {
    "harness_w1": "harness scan --workers 1",
    "harness_w2": "harness scan --workers 2",
    "harness_dask": "harness scan --executor dask (local cluster, 2 workers)",
    "floor_1p": "floor: orjson + one re2.Set match per output, 1 process",
    "floor_2p": "floor, 2 forked processes (half the file each)",
    "baseline_re": "plain re: json.loads + re.search per pattern, 1 process",
}
HARNESS_FLAGS: dict[str, tuple[list[str], tuple[str, ...]]] = {  # extra arguments, flags they need
    "harness_w1": (["--workers", "1"], ("--workers",)),
    "harness_w2": (["--workers", "2"], ("--workers",)),
    "harness_dask": (["--executor", "dask"], ("--executor",)),
}

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
                "timestamp": _timestamp(i),
                "tags": tags,
            }
            handle.write(json.dumps(record, ensure_ascii=False))
            handle.write("\n")
    return counts


def _timestamp(i: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_795_000_000 + i * 3))  # 2026-11-18T...Z


_ID_PREFIX = b'{"case_id": "gen-'
_STAMP_KEY = b'"timestamp": "'
_STAMP_LEN = len("2026-11-18T11:06:43Z")


def tile(source: Path, path: Path, copies: int, n: int) -> None:
    """Write `source` (records gen-1..gen-m) `copies` times to path as records gen-1..gen-n (n = m x copies),
    each copy's case ids and timestamps moved on by m: what `generate` would write, except that the k-th
    block repeats the first block's texts instead of drawing new ones."""
    width = max(6, len(str(n)))
    i = 0
    with open(path, "wb") as out:
        for _ in range(copies):
            with open(source, "rb") as handle:
                for line in handle:
                    i += 1
                    if not line.startswith(_ID_PREFIX):
                        raise SystemExit(f"{source}: line {i} does not start with {_ID_PREFIX.decode()}")
                    id_end = line.index(b'"', len(_ID_PREFIX))
                    stamp = line.index(_STAMP_KEY, id_end) + len(_STAMP_KEY)
                    out.write(b"".join((_ID_PREFIX, f"{i:0{width}d}".encode(), line[id_end:stamp],
                                        _timestamp(i).encode(), line[stamp + _STAMP_LEN:])))
    if i != n:
        raise SystemExit(f"{source}: tiled {i} records, expected {n}")


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".jsonl") + ".meta.json")


def _reusable(path: Path, n: int, seed: int) -> dict[str, Any] | None:
    """The sidecar of a complete file of n records of this seed and generator, else None."""
    try:
        meta = json.loads(_meta_path(path).read_text())
        size = path.stat().st_size
    except (OSError, ValueError):
        return None
    if (isinstance(meta, dict) and meta.get("records") == n and meta.get("seed") == seed
            and meta.get("generator") == GENERATOR_VERSION and meta.get("bytes") == size):
        return meta
    return None


class Inputs:
    """The synthetic files of one run in its work dir: reused when a matching one is there, made otherwise."""

    def __init__(self, workdir: Path, seed: int, tile_large: bool) -> None:
        self.workdir, self.seed, self.tile_large = workdir, seed, tile_large
        self.made: list[Path] = []

    def path(self, n: int) -> Path:
        return self.workdir / f"outputs-{n}-seed{self.seed}.jsonl"

    def prepare(self, n: int) -> dict[str, Any]:
        """The file of n records and its sidecar (plus `how` and `seconds` it took to get it)."""
        path = self.path(n)
        t0 = time.perf_counter()
        meta = _reusable(path, n, self.seed)
        if meta is not None:
            return {**meta, "path": str(path), "how": "reused", "seconds": 0.0}
        copies = n // TILE_BASE
        tiled = self.tile_large and n > TILE_BASE and n % TILE_BASE == 0
        need = (n + (TILE_BASE if tiled and _reusable(self.path(TILE_BASE), TILE_BASE, self.seed) is None else 0))
        free = shutil.disk_usage(self.workdir).free
        if need * BYTES_PER_RECORD > free:
            raise SystemExit(f"{self.workdir}: {free / 1e9:.1f} GB free, {n:,} records need about"
                             f" {need * BYTES_PER_RECORD / 1e9:.1f} GB")
        part = path.with_name(path.name + ".part")
        if tiled:
            base = self.prepare(TILE_BASE)
            tile(Path(base["path"]), part, copies, n)
            base_kinds: dict[str, int] = base["kinds"]
            kinds = {kind: count * copies for kind, count in base_kinds.items()}
            how = f"tiled: the {TILE_BASE:,}-record file written {copies} times, ids renumbered"
        else:
            kinds = generate(part, n, self.seed)
            how = "generated"
        os.replace(part, path)
        meta = {"records": n, "seed": self.seed, "generator": GENERATOR_VERSION, "bytes": path.stat().st_size,
                "kinds": kinds, "made_by": how}
        _meta_path(path).write_text(json.dumps(meta))
        self.made.append(path)
        return {**meta, "path": str(path), "how": how, "seconds": round(time.perf_counter() - t0, 1)}

    def discard(self, keep_sizes: set[int]) -> None:
        """Delete the files this run made whose N is not in keep_sizes (still needed)."""
        for path in list(self.made):
            n = int(path.name.split("-")[1])
            if n not in keep_sizes:
                path.unlink(missing_ok=True)
                _meta_path(path).unlink(missing_ok=True)
                self.made.remove(path)

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
              r"\p{Cf}": "\u00ad\u0600-\u0605\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff",
              r"\p{P}": "!-#%-*,-/:;?@\\[-\\]_{}\u00a1\u00a7\u00ab\u00b6\u00b7\u00bb\u00bf\u2010-\u2027\u2030-\u205e"
                       "\u3001-\u3003\u3008-\u3011\uff01-\uff0f\uff1a\uff1b\uff1f\uff20\uff3b-\uff3d",
              r"\p{S}": "$+<->^`|~\u00a2-\u00a6\u00a8\u00a9\u00ac\u00ae-\u00b1\u00b4\u00d7\u00f7\u2044\u20a0-\u20c0"
                       "\u2100-\u214f\u2190-\u23ff\u2500-\u27bf\uff04\uff0b\uff1c-\uff1e"}


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


def scoped_flags(pattern: str) -> str:
    """RE2's `(?:(?i)X)` (flags for the rest of the group) as Python's `(?i:X)`: the same pattern."""
    return pattern.replace("(?:(?i)", "(?i:")


def compile_baseline(patterns: dict[str, str], translate: bool) -> tuple[list[re.Pattern[str]], list[str], int]:
    compiled, skipped, translated = [], [], 0
    for pattern, origin in patterns.items():
        try:
            compiled.append(re.compile(scoped_flags(pattern)))
            continue
        except re.error:
            pass
        if translate:
            try:
                compiled.append(re.compile(translate_re2(scoped_flags(pattern))))
                translated += 1
                continue
            except re.error:
                pass
        skipped.append(origin)
    return compiled, skipped, translated


def run_baseline(path: Path, compiled: list[re.Pattern[str]], limit: int) -> tuple[float, float, int, int]:
    """(wall s, CPU s, records, pattern hits) of json.loads + re.search per pattern, first `limit` lines."""
    hits = records = 0
    c0, t0 = time.process_time(), time.perf_counter()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if records == limit:
                break
            text = json.loads(line)["output"]
            records += 1
            for rx in compiled:
                if rx.search(text) is not None:
                    hits += 1
    return time.perf_counter() - t0, time.process_time() - c0, records, hits


# ----------------------------------------------------------------------------------------
# the floor: orjson + one re2.Set match per output, in a child process (forking for 2)

def _line_starts(path: Path, parts: int) -> list[int]:
    """Byte offsets splitting path into `parts` ranges that begin at line starts (first 0, last the size)."""
    size = path.stat().st_size
    bounds = [0]
    with open(path, "rb") as handle:
        for i in range(1, parts):
            handle.seek(max(size * i // parts - 1, 0))
            handle.readline()
            bounds.append(max(handle.tell(), bounds[-1]))
    return [*bounds, size]


def scan_range(path: Path, start: int, end: int, patterns: Any) -> tuple[int, int]:
    """(records, records with at least one pattern) of the lines in [start, end) of path."""
    import orjson

    records = hits = 0
    left = end - start
    with open(path, "rb") as handle:
        handle.seek(start)
        for line in handle:
            if left <= 0:
                break
            left -= len(line)
            records += 1
            if patterns.matches(orjson.loads(line)["output"]):
                hits += 1
    return records, hits


def _vmhwm_kb() -> int | None:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def floor_main(argv: list[str]) -> int:
    """The floor child: `FILE PROCESSES PATTERNS_JSON STATS_OUT`; writes records, hits and VmHWM to STATS_OUT."""
    from harness.text.regex import PatternSet

    path, processes, patterns_file, stats_out = Path(argv[0]), int(argv[1]), Path(argv[2]), Path(argv[3])
    patterns = PatternSet(json.loads(patterns_file.read_text()))
    bounds = _line_starts(path, processes)
    if processes == 1:
        records, hits = scan_range(path, 0, bounds[1], patterns)
    else:
        children = []
        for i in range(processes):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the forked worker: its half, then its counts down the pipe
                os.close(read_end)
                code = 1
                try:
                    counts = scan_range(path, bounds[i], bounds[i + 1], patterns)
                    os.write(write_end, json.dumps(counts).encode())
                    code = 0
                finally:
                    os._exit(code)
            os.close(write_end)
            children.append((pid, read_end))
        records = hits = 0
        for pid, read_end in children:
            with os.fdopen(read_end, "rb") as pipe:
                data = pipe.read()
            _, status = os.waitpid(pid, 0)
            if status != 0 or not data:
                raise SystemExit(f"floor worker {pid} failed (wait status {status})")
            r, h = json.loads(data)
            records, hits = records + r, hits + h
    stats_out.write_text(json.dumps({"records": records, "hits": hits, "vmhwm_kb": _vmhwm_kb()}))
    return 0


_FLOOR_CHILD = ("import sys; sys.path.insert(0, sys.argv[1]); import gate_throughput as g;"
                " sys.exit(g.floor_main(sys.argv[2:]))")

# ----------------------------------------------------------------------------------------
# child processes: wall, CPU of the tree, peak memory

_WRAPPER = """
import json, resource, sys
out, argv, rc = sys.argv[1], sys.argv[2:], 5
sys.argv = ["harness", *argv]
try:
    from harness.cli import run
    run()  # the `harness` console script itself: it ends by SystemExit with the exit code
except SystemExit as exc:
    rc = exc.code if isinstance(exc.code, int) else 1
finally:
    hwm = None
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as handle:
        json.dump({"rc": rc, "vmhwm_kb": hwm, "ru_maxrss_kb": usage.ru_maxrss,
                   "cpu_s": usage.ru_utime + usage.ru_stime,
                   "children_cpu_s": kids.ru_utime + kids.ru_stime}, handle)
sys.exit(rc)
"""


class TreeSampler(threading.Thread):
    """Every SAMPLE_SECONDS: the RSS sum of a process and its descendants, and each one's CPU time so far."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss = 0
        self.most_processes = 0
        self.cpu: dict[tuple[int, float], float] = {}  # (pid, start time) -> last user + system seen
        self.finished = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while True:
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            rss = 0
            for proc in tree:
                try:
                    with proc.oneshot():
                        rss += proc.memory_info().rss
                        times = proc.cpu_times()
                        self.cpu[(proc.pid, proc.create_time())] = times.user + times.system
                except psutil.Error:
                    continue
            self.peak_rss = max(self.peak_rss, rss)
            self.most_processes = max(self.most_processes, len(tree))
            if self.finished.wait(SAMPLE_SECONDS):
                return


def run_child(command: list[str], log: Path) -> dict[str, Any]:
    """Run command from the repository root: wall s, tree CPU s (rusage and sampled), sampled tree peak."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "w") as err:
        proc = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                env=bench_env.environment())
        sampler = TreeSampler(proc.pid)
        sampler.start()
        rc = proc.wait()
    wall = time.perf_counter() - t0
    sampler.finished.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rusage_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    sampled_cpu = sum(sampler.cpu.values())
    return {"rc": rc, "seconds": wall, "cpu_rusage_s": rusage_cpu, "cpu_sampled_s": sampled_cpu,
            "cpu_s": max(rusage_cpu, sampled_cpu), "tree_peak_mb": sampler.peak_rss / 2**20,
            "processes_max": sampler.most_processes}


def _failure(what: str, rc: int, log: Path) -> str:
    from harness.text.mask import mask_text
    from harness.text.normalize import one_line

    tail = " ".join(log.read_text(errors="replace").split())[-600:] if log.exists() else ""
    return f"{what} exit {rc}: {mask_text(one_line(tail))}"


def run_harness(path: Path, workdir: Path, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    stats_file, report, log = workdir / "child-stats.json", workdir / "report.json", workdir / "child.log"
    command = [sys.executable, "-c", _WRAPPER, str(stats_file), "scan", "--outputs", str(path),
               "--format", "json", "--output", str(report), "--no-progress", "--color", "never",
               "--policies", str(args.policies), "--evals", str(args.evals), *extra]
    stats_file.unlink(missing_ok=True)
    run = run_child(command, log)
    try:
        stats = json.loads(stats_file.read_text())
    except (OSError, ValueError):
        stats = {"rc": None}
    if run["rc"] != 0 or stats["rc"] != 0:
        return {"error": _failure("harness scan", run["rc"], log)}
    run.update(peak_mb=stats["vmhwm_kb"] / 1024, ru_maxrss_mb=stats["ru_maxrss_kb"] / 1024,
               wrapper_children_cpu_s=stats["children_cpu_s"], report_bytes=report.stat().st_size)
    for done in (stats_file, report, log):
        done.unlink(missing_ok=True)
    return run


def run_floor(path: Path, workdir: Path, processes: int, patterns_file: Path, n: int) -> dict[str, Any]:
    stats_file, log = workdir / "floor-stats.json", workdir / "floor.log"
    stats_file.unlink(missing_ok=True)
    command = [sys.executable, "-c", _FLOOR_CHILD, str(Path(__file__).resolve().parent), str(path), str(processes),
               str(patterns_file), str(stats_file)]
    run = run_child(command, log)
    if run["rc"] != 0 or not stats_file.exists():
        return {"error": _failure("floor", run["rc"], log)}
    stats = json.loads(stats_file.read_text())
    if stats["records"] != n:
        return {"error": f"floor read {stats['records']} records, expected {n}"}
    run.update(peak_mb=stats["vmhwm_kb"] / 1024, outputs_matched=stats["hits"])
    stats_file.unlink()
    log.unlink(missing_ok=True)
    return run


def harness_flags() -> tuple[set[str], str | None]:
    """The options `harness scan --help` lists (and an error, if it could not be run)."""
    proc = subprocess.run([sys.executable, "-m", "harness", "scan", "--help"], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        return set(), f"harness scan --help: exit {proc.returncode}"
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", proc.stdout)), None


# ----------------------------------------------------------------------------------------

def _summarise(key: str, runs: list[dict[str, Any]], n: int) -> dict[str, Any]:
    wall = statistics.median(r["seconds"] for r in runs)
    out: dict[str, Any] = {
        "status": "ok", "median_s": round(wall, 3), "records_per_s": round(n / wall),
        "cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
        "runs_s": [round(r["seconds"], 3) for r in runs],
    }
    if key == "baseline_re":
        return out
    out.update(
        cpu_rusage_s=round(statistics.median(r["cpu_rusage_s"] for r in runs), 3),
        cpu_sampled_s=round(statistics.median(r["cpu_sampled_s"] for r in runs), 3),
        peak_mb=round(max(r["peak_mb"] for r in runs), 1),
        tree_peak_mb=round(max(r["tree_peak_mb"] for r in runs), 1),
        processes_max=max(r["processes_max"] for r in runs),
    )
    if key.startswith("harness"):
        out.update(ru_maxrss_mb=round(max(r["ru_maxrss_mb"] for r in runs), 1),
                   wrapper_children_cpu_s=round(statistics.median(r["wrapper_children_cpu_s"] for r in runs), 3),
                   report_bytes=runs[-1]["report_bytes"])
    else:
        out["outputs_matched"] = runs[-1]["outputs_matched"]
    # a descendant's CPU reaches RUSAGE_CHILDREN only once waited for: say when the sample saw more
    out["cpu_unreaped"] = out["cpu_sampled_s"] > out["cpu_rusage_s"] * 1.05 + 0.2
    return out


def bench(n: int, args: argparse.Namespace, workdir: Path, inputs: Inputs, context: dict[str, Any]) -> dict[str, Any]:
    made = inputs.prepare(n)
    path = Path(made["path"])
    print(f"[N={n:,}] {made['how']} ({made['bytes'] / 1e6:.1f} MB, {made['seconds']:.1f} s): {made['kinds']}",
          file=sys.stderr)
    results: dict[str, dict[str, Any]] = {}
    runnable: dict[str, list[str]] = {}
    for key, (extra, needs) in HARNESS_FLAGS.items():
        missing = [flag for flag in needs if flag not in context["flags"]]
        if key == "harness_dask" and args.skip_dask:
            results[key] = {"status": "skipped", "reason": "--skip-dask"}
        elif missing:
            results[key] = {"status": "n/a", "reason": f"flag missing: {', '.join(missing)}"}
        else:
            dask_workers = ["--dask-workers", str(args.dask_workers)] if "--dask-workers" in context["flags"] else []
            runnable[key] = extra + (dask_workers if key == "harness_dask" else [])
    runs: dict[str, list[dict[str, Any]]] = {key: [] for key in [*runnable, "floor_1p", "floor_2p"]}
    for i in range(args.repeat):  # interleaved, so that a slow spell of the machine spreads over all of them
        for key in runs:
            if key in results:
                continue
            if key in runnable:
                run = run_harness(path, workdir, args, runnable[key])
            else:
                run = run_floor(path, workdir, 1 if key == "floor_1p" else 2, context["patterns_file"], n)
            if "error" in run:
                results[key] = {"status": "failed", "reason": run["error"]}
                print(f"[N={n:,}] {key} FAILED: {run['error']}", file=sys.stderr)
                continue
            runs[key].append(run)
            print(f"[N={n:,}] {key} run {i + 1}/{args.repeat}: {run['seconds']:.2f} s, cpu {run['cpu_s']:.2f} s,"
                  f" peak {run['peak_mb']:.0f} MB, tree {run['tree_peak_mb']:.0f} MB"
                  f" ({run['processes_max']} processes)", file=sys.stderr)
    for key, done in runs.items():
        if key not in results:
            results[key] = _summarise(key, done, n)

    sample = min(n, args.baseline_records)
    base = []
    for i in range(args.repeat):
        seconds, cpu, records, hits = run_baseline(path, context["compiled"], sample)
        if records != sample:
            raise SystemExit(f"{path}: baseline read {records} records, expected {sample}")
        base.append({"seconds": seconds * n / sample, "cpu_s": cpu * n / sample})
        print(f"[N={n:,}] baseline_re run {i + 1}/{args.repeat}: {seconds:.2f} s on {sample:,} records"
              f" ({hits} pattern hits)", file=sys.stderr)
    results["baseline_re"] = {**_summarise("baseline_re", base, n), "measured_records": sample,
                              "scaled": sample != n, "pattern_hits": hits}

    floor = results["floor_1p"].get("median_s")
    for entry in results.values():
        if entry["status"] == "ok":
            entry["x_floor"] = round(entry["median_s"] / floor, 2) if floor else None
            entry["baseline_over"] = round(results["baseline_re"]["median_s"] / entry["median_s"], 2)
    if not args.keep:
        inputs.discard(context["still_needed"](n))
    return {"records": n, "file_mb": round(made["bytes"] / 1e6, 1), "kinds": made["kinds"],
            "input": {"how": made["how"], "seconds": made["seconds"]}, "configurations": results}


def linearity(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Seconds per million records at each N, per configuration, and whether the growth is linear."""
    out: dict[str, dict[str, Any]] = {}
    for key in CONFIGS:
        per_m = {r["records"]: r["configurations"][key]["median_s"] * 1e6 / r["records"]
                 for r in results if r["configurations"][key]["status"] == "ok"}
        entry: dict[str, Any] = {"seconds_per_million": {str(n): round(s, 3) for n, s in per_m.items()},
                                 "reference_records": None, "largest_records": None, "ratio": None, "linear": None}
        if key == "baseline_re":
            entry["note"] = "scaled from a fixed sample: linear by construction above --baseline-records"
        if len(per_m) >= 2:
            largest = max(per_m)
            reference = TARGET_RECORDS if TARGET_RECORDS in per_m and largest > TARGET_RECORDS else min(per_m)
            ratio = per_m[largest] / per_m[reference]
            entry.update(reference_records=reference, largest_records=largest, ratio=round(ratio, 2),
                         linear=ratio <= LINEAR_RATIO)
        out[key] = entry
    return out


def _fmt_s(entry: dict[str, Any]) -> str:
    return f"{entry['median_s']:.2f}" + ("*" if entry.get("scaled") else "")


def render(summary: dict[str, Any]) -> list[str]:
    """The Markdown text: a header, one table row per N and configuration, the linearity table, targets."""
    counts, pats = summary["scope"], summary["patterns"]
    lines = [
        f"`harness scan` with {counts['policies']} policies + {counts['suites']} eval suites ({counts['cases']} cases):"
        f" {counts['rules_total']} rules in scope ({counts['policy_rules']} policy rules, {counts['inner_rules']}"
        f" inner `of:` rules, {counts['case_rules']} eval-case `expect` rules); {pats['unique']} unique scan"
        f" patterns, all in the floor's `re2.Set`; the `re` baseline uses {pats['baseline_compiled']} of them"
        f" ({pats['skipped']} skipped as not compilable by `re`, {pats['translated']} translated).",
        f"Machine: {summary['machine']['cpus']} CPUs, Python {summary['machine']['python']}; median of"
        f" {summary['repeat']} run(s) each; seed {summary['seed']}"
        + (f"; {summary['machine']['bytecode']}." if summary["machine"].get("bytecode") else "."),
        "",
        "| N | configuration | wall s | CPU s | peak MB | tree MB | records/s | x floor | baseline / |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes: list[str] = []
    for r in summary["results"]:
        for key, label in CONFIGS.items():
            e = r["configurations"][key]
            if e["status"] != "ok":
                reason = e["reason"].replace("|", "\\|")
                lines.append(f"| {r['records']:,} | {label} | {e['status']} ({reason}) | | | | | | |")
                continue
            cpu = f"{e['cpu_s']:.2f}" + ("†" if e.get("cpu_unreaped") else "")
            peak = f"{e['peak_mb']:.0f}" if "peak_mb" in e else "–"
            tree = f"{e['tree_peak_mb']:.0f}" if "tree_peak_mb" in e else "–"
            x_floor = f"{e['x_floor']:.2f}" if e.get("x_floor") is not None else "–"
            lines.append(f"| {r['records']:,} | {label} | {_fmt_s(e)} | {cpu} | {peak} | {tree} |"
                         f" {e['records_per_s']:,} | {x_floor} | {e['baseline_over']:.2f} |")
            if e.get("cpu_unreaped"):
                notes.append(f"† N={r['records']:,}, {key}: sampled CPU {e['cpu_sampled_s']:.2f} s exceeds the"
                             f" RUSAGE_CHILDREN figure {e['cpu_rusage_s']:.2f} s (descendants not waited for)")
        dask = r["configurations"]["harness_dask"]
        if dask["status"] == "ok":
            notes.append(f"N={r['records']:,}, harness_dask: up to {dask['processes_max']} processes in the harness's"
                         f" process tree (the cluster's workers are its descendants);"
                         f" CPU by rusage {dask['cpu_rusage_s']:.2f} s, sampled {dask['cpu_sampled_s']:.2f} s")
    scaled = [r for r in summary["results"] if r["configurations"]["baseline_re"]["scaled"]]
    if scaled:
        sample = scaled[0]["configurations"]["baseline_re"]["measured_records"]
        notes.insert(0, f"\\* measured on the first {sample:,} records and scaled linearly to N.")
    lines += ["", *(f"{note}  " for note in notes), "",
              "wall s: median, end to end (subprocesses include interpreter start). CPU s: user + system of the"
              " process tree (RUSAGE_CHILDREN, or the psutil sample where larger). peak MB: VmHWM of the main"
              " process. tree MB: largest RSS sum of the process and its descendants, sampled every 0.2 s."
              " x floor: wall s / the 1-process floor's. baseline /: the `re` baseline's wall s / wall s"
              " (> 1: faster than the plain loop).", ""]
    sizes = [r["records"] for r in summary["results"]]
    lines += ["| configuration | " + " | ".join(f"s per 1M at {n:,}" for n in sizes) + " | growth |",
              "|---|" + "---:|" * len(sizes) + "---|"]
    for key, label in CONFIGS.items():
        lin = summary["linearity"][key]
        cells = [f"{lin['seconds_per_million'][str(n)]:.2f}" if str(n) in lin["seconds_per_million"] else "–"
                 for n in sizes]
        if key == "baseline_re":
            growth = "scaled from a sample"
        elif lin["linear"] is None:
            growth = "– (needs two sizes)"
        else:
            growth = (f"{'linear' if lin['linear'] else 'NOT linear'}: {lin['ratio']:.2f}x at"
                      f" {lin['largest_records']:,} vs {lin['reference_records']:,}")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {growth} |")
    lines += ["", f"Linear: seconds per million at the largest N within {LINEAR_RATIO}x of that at 1,000,000 (or"
              " the smallest N); start-up makes a small N's figure larger, so a ratio below 1 is expected.", ""]
    targets = summary["targets"]
    lines.append(f"Targets (not asserted): {targets['records']:,} records in at most {targets['max_seconds']:.0f} s"
                 f" (aim {targets['aim_seconds']:.0f} s), peak at most {targets['max_peak_mb']:.0f} MB;"
                 f" {targets['large_records']:,} records with a peak of at most {targets['large_max_peak_mb']:.0f} MB.")
    for r in summary["results"]:
        for key, verdict in r.get("meets_targets", {}).items():
            e = r["configurations"][key]
            time_part = (f"time {'met' if verdict['seconds'] else 'MISSED'} ({e['median_s']:.1f} s), "
                         if "seconds" in verdict else "")
            memory = "met" if verdict["peak_memory"] else "MISSED"
            lines.append(f"- N={r['records']:,}, {key}: {time_part}memory {memory}"
                         f" ({e['tree_peak_mb']:.0f} MB tree, {e['peak_mb']:.0f} MB main process)")
    return lines


def _targets(r: dict[str, Any]) -> dict[str, dict[str, bool]]:
    verdicts: dict[str, dict[str, bool]] = {}
    for key in ("harness_w1", "harness_w2", "harness_dask"):
        e = r["configurations"][key]
        if e["status"] != "ok":
            continue
        if r["records"] == TARGET_RECORDS:
            verdicts[key] = {"seconds": e["median_s"] <= TARGET_SECONDS,
                             "peak_memory": e["tree_peak_mb"] <= TARGET_PEAK_MB}
        elif r["records"] == TARGET_LARGE_RECORDS:
            verdicts[key] = {"peak_memory": e["tree_peak_mb"] <= TARGET_LARGE_PEAK_MB}
    return verdicts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--records", type=int, action="append", metavar="N",
                    help="number of records (repeatable; default 100000, 1000000 and 10000000)")
    ap.add_argument("--max-records", type=int, default=10_000_000, metavar="N",
                    help="refuse an N above this (default 10000000: about 5.5 GB of input)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="timed runs per N and configuration, median reported (default 3)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--baseline-records", type=int, default=100_000, metavar="N",
                    help="the re baseline runs on at most this many records and is scaled to N (default 100000)")
    ap.add_argument("--skip-dask", action="store_true", help="leave out harness --executor dask")
    ap.add_argument("--dask-workers", type=int, default=2, help="workers of the local Dask cluster (default 2)")
    ap.add_argument("--workdir", type=Path,
                    help="where the JSONL goes; matching files there are reused (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--no-tile", action="store_true",
                    help="generate an N above 1000000 record by record instead of repeating the 1000000 file")
    ap.add_argument("--policies", type=Path, default=ROOT / "policies")
    ap.add_argument("--evals", type=Path, default=ROOT / "evals")
    ap.add_argument("--translate-re2", action="store_true",
                    help="baseline: rewrite RE2-only syntax for re instead of skipping those patterns")
    ap.add_argument("--format", choices=("text", "json"), default="text")
    args = ap.parse_args(argv)
    sizes = sorted(set(args.records or DEFAULT_SIZES))
    if args.repeat < 1 or args.baseline_records < 1 or args.dask_workers < 1 or sizes[0] < 1:
        ap.error("--records, --repeat, --baseline-records and --dask-workers must be positive")
    if sizes[-1] > args.max_records:
        ap.error(f"--records {sizes[-1]} is above --max-records {args.max_records} (raise it deliberately)")

    scope = rules_and_patterns(args.policies, args.evals)
    compiled, skipped, translated = compile_baseline(scope["patterns"], args.translate_re2)
    flags, flags_error = harness_flags()
    if flags_error:
        raise SystemExit(flags_error)
    compiled_as = bench_env.compile_tree(ROOT)
    made = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="gate-throughput-")) if made else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    inputs = Inputs(workdir, args.seed, tile_large=not args.no_tile)
    patterns_file = workdir / "scan-patterns.json"
    patterns_file.write_text(json.dumps(list(scope["patterns"])))

    def still_needed(done: int) -> set[int]:
        later = {n for n in sizes if n > done}
        tiled = any(n > TILE_BASE and n % TILE_BASE == 0 for n in later) and not args.no_tile
        return later | ({TILE_BASE} if tiled else set())

    context = {"flags": flags, "compiled": compiled, "patterns_file": patterns_file, "still_needed": still_needed}
    try:
        results = [bench(n, args, workdir, inputs, context) for n in sizes]
    finally:
        patterns_file.unlink(missing_ok=True)
        if not args.keep:
            inputs.discard(set())
        if made and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    for r in results:
        verdicts = _targets(r)
        if verdicts:
            r["meets_targets"] = verdicts
    summary = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "bytecode": compiled_as},
        "seed": args.seed, "repeat": args.repeat, "baseline_records": args.baseline_records,
        "scope": scope["counts"],
        "patterns": {"unique": len(scope["patterns"]), "baseline_compiled": len(compiled),
                     "translated": translated, "skipped": len(skipped), "skipped_from": sorted(set(skipped))},
        "harness_flags": sorted(flag for flag in flags if flag in ("--workers", "--executor", "--scheduler",
                                                                    "--dask-workers")),
        "configurations": CONFIGS,
        "methods": {
            "wall": "median of --repeat runs around the subprocess (baseline_re: around the loop, scaled)",
            "cpu": "user+system of the child process tree: getrusage(RUSAGE_CHILDREN) delta, or the psutil sample"
                   " (last cpu_times per process, every 0.2 s) where larger; baseline_re: process_time",
            "peak_mb": "VmHWM of the main child process from /proc/self/status just before it exits",
            "tree_peak_mb": "largest RSS sum of the child and its descendants, sampled every 0.2 s with psutil",
        },
        "targets": {"records": TARGET_RECORDS, "max_seconds": TARGET_SECONDS, "aim_seconds": AIM_SECONDS,
                    "max_peak_mb": TARGET_PEAK_MB, "large_records": TARGET_LARGE_RECORDS,
                    "large_max_peak_mb": TARGET_LARGE_PEAK_MB},
        "results": results,
        "linearity": linearity(results),
    }
    if args.workdir is not None and args.keep:
        summary["workdir"] = str(workdir)
    if args.format == "json":
        print(json.dumps(summary, indent=2))
    else:
        print("\n".join(render(summary)))
    failed = [key for r in results for key, e in r["configurations"].items() if e["status"] == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
