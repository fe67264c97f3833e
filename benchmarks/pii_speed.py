"""Speed of `harness.text.pii.find_pii` against the committed version (HEAD), and a differential check of the two.

Usage: python benchmarks/pii_speed.py [--outputs PATH] [--diff PATH ...] [--data PATH] [--decoys PATH]
                                      [--check-outputs PATH] [--check-count N] [--check-only]
                                      [--repeat 5] [--rev HEAD] [--format text|json]

The old implementation is `git show REV:harness/text/{pii,phone,normalize,regex,mask}.py` written to a temporary
directory and imported there as the package `_pii_head` (never in `harness`).

Speed (CPU seconds, same run, old and new interleaved, --repeat times each, medians): `find_pii` as the shipped policies
call it (`privacy.no-pii`: every kind but secret, Acme's two support addresses allowed; `security.no-secrets`:
secret), over the outputs of --outputs (default /tmp/h10/100k.jsonl) that pass HEAD's prefilter of that rule
(`prefilter_pattern`); and over benchmarks/pii_quality.py's data sets (the presidio corpus and the decoys and
disguised values), all kinds. The gate's view (`gate`): `privacy.no-pii` over every output of --outputs, each
version with its own prefilter (the working tree's lets no ISO date through as a phone candidate), the share
of outputs that pass it and the CPU time per output.

Differential (--diff, repeatable; also the --outputs file and the quality data sets): for every output,
old and new give the same matches (kind, span, value, normalized) with all kinds, with `strict=True`, with
the shipped rule's kinds and allow list, with the secret kind alone, and for the first 20,000 outputs with
each kind alone. pii_quality's precision and recall are computed with both and must be identical. Wherever the
new `find_pii` finds something, the new `prefilter_pattern` of the kinds asked must let the text through.

The check (`check`, with --check-outputs, default /tmp/bench/o300k.jsonl): the `pii` check as the scanner runs it,
``fn(prepared, record, None)`` for the rule `no-personal-data` of policies/privacy/pii.yaml, over the first
--check-count (20,000) outputs that the scanner's prefilter sends to it (`Scanner.patterns`, the rule's slot); old is
HEAD's check (`find_pii` with its allow patterns as one, each match masked with `mask_match`) on HEAD's modules.
Old and new interleaved in chunks of 1,000 outputs, the value caches of both (validators, masks, allow answers,
libphonenumber's windows) emptied before each run ('cold': each run sees the outputs as new) or kept ('warm'),
the collector paused as in the scan's workers; CPU time per call, medians of --repeat runs. The differential
compares the findings (kind, message, start, end, masked excerpt) of old and new on every output of
--check-outputs, and the check with region GB and `strict` on the first --per-kind.

Case ids (--ids N, --ids-seed): N generated ids as reports list them ('gen-0000001', 'req-4155550123',
'ticket 1234567': prefixes, separators, 7-15 digits, counters, random digits, valid NANP, UK, German, Indian
and French numbers, '+' and IDD ('011', '00') forms, extensions, phone words) compared old against new with
all kinds (region US) and with one of the regions US, GB, DE, IN, FR, strict or not (in turn), and
`mask.mask_many` of each 1,000 ids; the speed part times `find_pii`, `mask_text` (per id) and `mask_many` over
--id-count (20,000) 'gen-NNNNNNN' ids. --skip-corpora compares the ids alone.

Exit 0 when everything agrees, 1 when not (the first differences are printed).
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import pii_quality  # noqa: E402
import re2  # noqa: E402

from harness.model import Finding, OutputRecord  # noqa: E402
from harness.text import mask as new_mask  # noqa: E402
from harness.text import phone as _phone  # noqa: E402
from harness.text import pii as new  # noqa: E402
from harness.text.regex import compile_pattern  # noqa: E402

K6 = ("email", "phone", "us_ssn", "credit_card", "iban", "ip_address")
ALLOW = (r"support@acme\.example", r"privacy@acme\.example")
FILES = ("pii", "phone", "normalize", "regex", "mask")
#: the region (and strictness) of each id's second comparison, in turn
REGIONS = (("US", True), ("GB", False), ("DE", True), ("IN", False), ("FR", True), ("GB", True), ("DE", False),
           ("IN", True), ("FR", False))


def load_old(rev: str, tmp: Path) -> ModuleType:
    """The pii module of `rev`, imported from `tmp` as `_pii_head.text.pii`."""
    pkg = tmp / "_pii_head"
    (pkg / "text").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "text" / "__init__.py").write_text("")
    for name in FILES:
        source = subprocess.run(["git", "show", f"{rev}:harness/text/{name}.py"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
        source = source.replace("from ..errors import", "from harness.errors import")
        (pkg / "text" / f"{name}.py").write_text(source)
    sys.path.insert(0, str(tmp))
    return importlib.import_module("_pii_head.text.pii")


def outputs(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)["output"]


def quality_texts(data: Path, decoys: Path) -> list[str]:
    texts = [r["full_text"] for r in json.loads(data.read_text(encoding="utf-8"))] if data.is_file() else []
    if decoys.is_file():
        d = json.loads(decoys.read_text(encoding="utf-8"))
        texts += [x["text"] for x in d["decoys"]] + [x["text"] for x in d["disguised"]]
    return texts


def key(matches: list[Any]) -> list[tuple[str, int, int, str, str]]:
    return [(m.kind, m.start, m.end, m.value, m.normalized) for m in matches]


def configs(mod: ModuleType, allow_new: bool) -> list[tuple[str, Callable[[str], list[Any]]]]:
    allow = tuple(compile_pattern(p) for p in ALLOW) if allow_new else tuple(re2.compile(p) for p in ALLOW)
    return [("all kinds", lambda t: mod.find_pii(t)),
            ("strict", lambda t: mod.find_pii(t, strict=True)),
            ("shipped rule", lambda t: mod.find_pii(t, K6, allow=allow)),
            ("secret", lambda t: mod.find_pii(t, ("secret",))),
            ("region GB", lambda t: mod.find_pii(t, region="GB"))]


#: the kinds each of `configs` asks for, and so the prefilter that must let a text it finds something in through
CONFIG_KINDS = {"all kinds": new.KINDS, "strict": new.KINDS, "shipped rule": K6, "secret": ("secret",),
                "region GB": new.KINDS}


def differential(old: ModuleType, texts: Iterator[str], per_kind: int) -> tuple[int, list[str]]:
    """Old and new give the same matches; and wherever the new `find_pii` finds something, the new
    `prefilter_pattern` of the kinds asked lets the text through (a miss is a difference too)."""
    pairs = list(zip(configs(old, False), configs(new, True), strict=True))
    prefilters = {kinds: re2.compile(new.prefilter_pattern(kinds))
                  for kinds in {*CONFIG_KINDS.values(), *((k,) for k in new.KINDS)}}
    n, diffs = 0, []
    for n, text in enumerate(texts, 1):
        for (name, f_old), (_, f_new) in pairs:
            a, b = key(f_old(text)), key(f_new(text))
            if a != b:
                diffs.append(f"{name}: {text!r}\n  old {a}\n  new {b}")
            if b and prefilters[CONFIG_KINDS[name]].search(text) is None:
                diffs.append(f"prefilter of {name} misses {text!r}: {b}")
        if n <= per_kind:
            for kind in new.KINDS:
                a, b = key(old.find_pii(text, (kind,))), key(new.find_pii(text, (kind,)))
                if a != b:
                    diffs.append(f"kind {kind}: {text!r}\n  old {a}\n  new {b}")
                if b and prefilters[(kind,)].search(text) is None:
                    diffs.append(f"prefilter of kind {kind} misses {text!r}: {b}")
        if n % 200_000 == 0:
            print(f"  {n} outputs compared, {len(diffs)} differences", file=sys.stderr)
    return n, diffs


def clear_caches() -> None:
    """libphonenumber's answers kept by the old and the new phone module, and the new shape verdicts
    (`pii._by_shape`), forgotten."""
    old_phone = sys.modules.get("_pii_head.text.phone")
    if old_phone is not None:
        for name in ("_matcher", "_matches"):
            cached = getattr(old_phone, name, None)
            if cached is not None and hasattr(cached, "cache_clear"):
                cached.cache_clear()
    _phone._matcher.cache_clear()
    new._by_shape.cache_clear()


def timed(texts: list[str], calls: Callable[[str], Any]) -> float:
    """CPU seconds (the machine may be shared) for one pass, libphonenumber's result cache emptied first: a
    pass gains only from the windows repeated within it, not from the passes before."""
    clear_caches()
    t0 = time.process_time()
    for text in texts:
        calls(text)
    return time.process_time() - t0


def speed(old: ModuleType, sets: dict[str, tuple[list[str], str]], repeat: int) -> dict[str, Any]:
    out = {}
    for name, (texts, cfg) in sets.items():
        f_old = dict(configs(old, False))[cfg]
        f_new = dict(configs(new, True))[cfg]
        timed(texts, f_old), timed(texts, f_new)  # warm caches and lazy tables
        runs: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(repeat):
            runs["old"].append(timed(texts, f_old))
            runs["new"].append(timed(texts, f_new))
        o, n = statistics.median(runs["old"]), statistics.median(runs["new"])
        out[name] = {"texts": len(texts), "old_s": round(o, 3), "new_s": round(n, 3),
                     "old_us_per_text": round(o / max(1, len(texts)) * 1e6, 1),
                     "new_us_per_text": round(n / max(1, len(texts)) * 1e6, 1),
                     "speedup": round(o / n, 2) if n else None}
    return out


def quality(old: ModuleType, data: Path, decoys: Path) -> dict[str, Any]:
    """pii_quality's scores with the new and the old find_pii."""
    records = json.loads(data.read_text(encoding="utf-8"))
    d = json.loads(decoys.read_text(encoding="utf-8")) if decoys.is_file() else None
    result: dict[str, Any] = {}
    for name, find in (("new", new.find_pii), ("old", old.find_pii)):
        pii_quality.find_pii = find
        for strict in (False, True):
            scores = pii_quality.evaluate(records, strict=strict)
            result[f"{name}{' strict' if strict else ''}"] = {
                "kinds": {k: {x: r[x] for x in ("tp", "fp", "fn", "precision", "recall")} | {"span": r["span"]}
                          for k, r in scores["kinds"].items()},
                "decoys": pii_quality.evaluate_decoys(d, strict)["kinds"] if d else None}
    pii_quality.find_pii = new.find_pii
    return result


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _national(rng: random.Random) -> tuple[str, str]:
    """A national number shaped like a real one (often valid) and its country code."""
    r = rng.randrange(9)
    if r == 0:
        return "1", rng.choice("23456789") + _digits(rng, 2) + rng.choice("23456789") + _digits(rng, 6)  # NANP
    if r == 1:
        return "1", rng.choice(["2015550", "4155550", "2125551", "6175550", "3105550"]) + _digits(rng, 3)
    if r == 2:
        return "44", rng.choice(["20794", "7700900", "1214960", "1632960", "113496"]) + _digits(
            rng, 3 + rng.randrange(3))
    if r == 3:
        return "49", rng.choice(["30", "151", "89", "40", "1512345", "221"]) + _digits(rng, 5 + rng.randrange(4))
    if r == 4:
        return "91", rng.choice(["98", "80", "22", "741041", "812345"]) + _digits(rng, 4 + rng.randrange(5))
    if r == 5:
        return "33", rng.choice("1234567") + _digits(rng, 8)
    if r == 6:
        return "1", "3" + _digits(rng, 6)  # seven digits: a short number's shape in Canada's plan
    return rng.choice(["1", "44", "49", "91", "33", "61", "81"]), _digits(rng, 7 + rng.randrange(9))


def _grouped(rng: random.Random, digits: str) -> str:
    if rng.random() < 0.7 or len(digits) < 6:
        return digits
    sep, out, i = rng.choice([" ", "-", ".", "  ", "/", "_"]), [], 0
    while i < len(digits):
        k = rng.choice([2, 3, 3, 4])
        out.append(digits[i:i + k])
        i += k
    return sep.join(out)


PREFIXES = ["gen-", "req-", "ticket ", "case_", "ORD-", "id:", "run/", "", "T", "INV", "cust ", "gen_", "x", "ext",
            "#", "no. ", "(", "job.", "ID ", "Q", "int-", "\uff0b", "\uff11\uff12"]
#: phone words and labels (one id in ten): libphonenumber is then asked in other numbering plans too
WORDED = ["tel-", "call ", "phone ", "ph", "office ", "sms-", "text me at "]
SUFFIXES = ["", "", "", "", "-a", "/2", "x12", " ext. 7", "#", "-2024", ".v2", ")", "b", "~3", ";ext=4"]
WORDED_SUFFIXES = [" (office)", " home", " mobile"]


def case_ids(n: int, seed: int) -> Iterator[str]:
    """`n` case ids as a report lists them (deterministic for a seed)."""
    rng = random.Random(seed)
    for i in range(n):
        r = rng.randrange(10)
        if r < 3:
            body = f"{i + 1:0{rng.randrange(7, 16)}d}"  # a counter
        elif r < 5:
            body = _digits(rng, rng.randrange(7, 16))
        else:
            cc, nat = _national(rng)
            form = rng.randrange(6)
            if form == 0:
                body = "+" + cc + _grouped(rng, nat)
            elif form == 1:
                body = rng.choice(["011", "00"]) + cc + nat
            elif form == 2:
                body = "0" + nat
            elif form == 3:
                body = cc + nat
            else:
                body = _grouped(rng, nat)
        worded = rng.random() < 0.1
        prefix = rng.choice(WORDED if worded and rng.random() < 0.7 else PREFIXES)
        suffix = rng.choice(WORDED_SUFFIXES if worded and prefix not in WORDED else SUFFIXES)
        yield prefix + rng.choice(["", "", "-", " ", "_", ":"])[:1 if r % 2 else 0] + body + suffix


def differential_ids(old: ModuleType, n: int, seed: int) -> tuple[int, list[str]]:
    """Old against new over `n` generated case ids (all kinds in region US; and a region and strictness of
    REGIONS, in turn), and `mask_many` over each 1,000 of them."""
    diffs: list[str] = []
    chunk: list[str] = []
    from harness.text import mask as new_mask
    old_mask = importlib.import_module("_pii_head.text.mask")
    for i, text in enumerate(case_ids(n, seed)):
        region, strict = REGIONS[i % len(REGIONS)]
        for name, f_old, f_new in (
                ("all kinds", old.find_pii, new.find_pii),
                (f"region {region}{' strict' if strict else ''}",
                 lambda t, r=region, s=strict: old.find_pii(t, region=r, strict=s),
                 lambda t, r=region, s=strict: new.find_pii(t, region=r, strict=s))):
            a, b = key(f_old(text)), key(f_new(text))
            if a != b:
                diffs.append(f"{name}: {text!r}\n  old {a}\n  new {b}")
        chunk.append(text)
        if len(chunk) == 1000:
            if old_mask.mask_many(chunk) != new_mask.mask_many(chunk):
                diffs.append(f"mask_many differs on ids {i - 999}..{i}")
            chunk = []
        if (i + 1) % 100_000 == 0:
            print(f"  {i + 1} ids compared, {len(diffs)} differences", file=sys.stderr)
    if chunk and old_mask.mask_many(chunk) != new_mask.mask_many(chunk):
        diffs.append("mask_many differs on the last ids")
    return n, diffs


def id_speed(old: ModuleType, repeat: int, count: int) -> dict[str, Any]:
    """`find_pii` and `mask_text` per id and `mask_many` of them all, over `count` 'gen-NNNNNNN' ids (a report of
    that many results), old and new interleaved (CPU seconds, medians; libphonenumber's result cache and the
    new shape cache emptied before each pass)."""
    from harness.text import mask as new_mask
    old_mask = importlib.import_module("_pii_head.text.mask")
    ids = [f"gen-{i:07d}" for i in range(1, count + 1)]
    out = {}
    for name, f_old, f_new in (("find_pii", lambda: [old.find_pii(t) for t in ids],
                                lambda: [new.find_pii(t) for t in ids]),
                               ("mask_text", lambda: [old_mask.mask_text(t) for t in ids],
                                lambda: [new_mask.mask_text(t) for t in ids]),
                               ("mask_many", lambda: old_mask.mask_many(ids), lambda: new_mask.mask_many(ids))):
        runs: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(repeat):
            for which, f in (("old", f_old), ("new", f_new)):
                clear_caches()
                t0 = time.process_time()
                f()
                runs[which].append(time.process_time() - t0)
        o, n = statistics.median(runs["old"]), statistics.median(runs["new"])
        out[f"{count} case ids, {name}"] = {"texts": len(ids), "old_s": round(o, 4), "new_s": round(n, 4),
                                            "old_us_per_text": round(o / len(ids) * 1e6, 1),
                                            "new_us_per_text": round(n / len(ids) * 1e6, 1),
                                            "speedup": round(o / n, 1)}
    return out


def gate_speed(old: ModuleType, texts: list[str], repeat: int) -> dict[str, Any]:
    """The `privacy.no-pii` rule as the gate runs it over every output: its prefilter (old: HEAD's, new: the
    working tree's), then `find_pii` on the outputs that pass; the share that passes, and the CPU time per
    output, old and new interleaved (medians)."""
    f_old, f_new = dict(configs(old, False))["shipped rule"], dict(configs(new, True))["shipped rule"]
    pre_old, pre_new = re2.compile(old.prefilter_pattern(K6)), re2.compile(new.prefilter_pattern(K6))

    def judge(prefilter: Any, find: Callable[[str], Any]) -> None:
        search = prefilter.search
        for text in texts:
            if search(text):
                find(text)

    judge(pre_old, f_old)  # warm caches and lazy tables
    judge(pre_new, f_new)
    runs: dict[str, list[float]] = {"old": [], "new": []}
    for _ in range(repeat):
        for which, prefilter, find in (("old", pre_old, f_old), ("new", pre_new, f_new)):
            clear_caches()
            t0 = time.process_time()
            judge(prefilter, find)
            runs[which].append(time.process_time() - t0)
    o, n = statistics.median(runs["old"]), statistics.median(runs["new"])
    passed = {which: sum(1 for t in texts if p.search(t)) for which, p in (("old", pre_old), ("new", pre_new))}
    return {"texts": len(texts), "old_passed": passed["old"], "new_passed": passed["new"],
            "old_pass_rate": round(passed["old"] / max(1, len(texts)), 4),
            "new_pass_rate": round(passed["new"] / max(1, len(texts)), 4), "old_s": round(o, 3), "new_s": round(n, 3),
            "old_us_per_text": round(o / max(1, len(texts)) * 1e6, 1),
            "new_us_per_text": round(n / max(1, len(texts)) * 1e6, 1), "speedup": round(o / n, 2) if n else None}


def check_texts(path: Path) -> tuple[list[str], Any, Any]:
    """The outputs of `path` that the scanner's prefilter sends to the rule `no-personal-data`, the rule's prepared
    options and its check function (the working tree's)."""
    from harness.evaluation import prepare
    from harness.project import load_project

    scanner = prepare(load_project(ROOT / "policies", ROOT / "evals")).scanner
    unit = next(u for u in scanner.units if u.rule.id == "no-personal-data")
    slot = scanner._slot_of[unit.key]
    matches = scanner.patterns.matches
    return [t for t in outputs(path) if slot in matches(t)], unit.rule.prepared, unit.check.fn


def old_check(old: ModuleType, options: dict[str, Any]) -> Callable[[OutputRecord], list[Finding]]:
    """HEAD's `pii` check on HEAD's modules: `find_pii` with the rule's allow patterns as one (compiled by HEAD's
    regex module), each match masked with HEAD's `mask_match`."""
    regex = sys.modules[old.__name__.rpartition(".")[0] + ".regex"]
    masks = importlib.import_module(old.__name__.rpartition(".")[0] + ".mask")
    allow = options.get("allow", [])
    allowed = tuple(regex.compile_pattern(p) for p in allow) if len(allow) < 2 else (
        regex.compile_pattern("|".join(f"(?:{p})" for p in allow)),)
    kinds, region, strict = tuple(options.get("kinds", old.KINDS)), options.get("region", "US"), bool(
        options.get("strict", False))
    messages = {kind: f"{kind.replace('_', ' ')} found" for kind in old.KINDS}

    def check(record: OutputRecord) -> list[Finding]:
        matches = old.find_pii(record.output, kinds, region=region, allow=allowed, strict=strict)
        if not matches:
            return []
        return [Finding(m.kind, messages[m.kind], m.start, m.end, masks.mask_match(m)) for m in matches[:20]]

    return check


def value_caches(*modules: ModuleType) -> list[Any]:
    """The caches of values seen (validators, masks, allow answers, libphonenumber's windows) of `modules`."""
    keep = ("_checked_kinds", "_prefilter_re", "_ascii_fold", "_match_range", "_addresses")
    return [v for m in modules for v in vars(m).values() if isinstance(v, functools._lru_cache_wrapper)
            and v.cache_info().maxsize and v.__wrapped__.__name__ not in keep]


def check_speed(old: ModuleType, texts: list[str], prepared: Any, fn: Any, repeat: int) -> dict[str, Any]:
    """CPU time per call of the check, old (HEAD) and new interleaved in chunks of 1,000 outputs, the collector
    paused (as in the scan's workers); cold: every value cache emptied before each run, warm: kept."""
    head = old.__name__.rpartition(".")[0]
    old_fn = old_check(old, {"kinds": list(K6), "allow": list(ALLOW)})
    caches = value_caches(old, sys.modules[head + ".phone"], sys.modules[head + ".mask"], new, _phone, new_mask)
    records = [OutputRecord(case_id="x", output=t, line=1, fields={}) for t in texts]
    calls = {"old": lambda r: old_fn(r), "new": lambda r: fn(prepared, r, None)}
    for r in records:  # warm lazy tables; and the two give the same findings
        if calls["old"](r) != calls["new"](r):
            raise SystemExit(f"the checks differ on {r.output!r}")
    out: dict[str, Any] = {}
    for mode in ("cold", "warm"):
        runs: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(repeat):
            if mode == "cold":
                for c in caches:
                    c.cache_clear()
            totals = {"old": 0.0, "new": 0.0}
            gc.collect()
            gc.disable()
            try:
                for i in range(0, len(records), 1000):
                    chunk = records[i:i + 1000]
                    for which in ("old", "new") if i // 1000 % 2 == 0 else ("new", "old"):
                        call, t0 = calls[which], time.process_time()
                        for r in chunk:
                            call(r)
                        totals[which] += time.process_time() - t0
            finally:
                gc.enable()
            for which in runs:
                runs[which].append(totals[which] / max(1, len(records)) * 1e6)
        o, n = statistics.median(runs["old"]), statistics.median(runs["new"])
        out[mode] = {"outputs": len(records), "old_us_per_call": round(o, 2), "new_us_per_call": round(n, 2),
                     "speedup": round(o / n, 3) if n else None,
                     "runs": {k: [round(x, 2) for x in v] for k, v in runs.items()}}
    return out


def check_differential(old: ModuleType, path: Path, prepared: Any, fn: Any, per_rule: int) -> tuple[int, list[str]]:
    """The findings of the `pii` check, old and new, on every output of `path` (and with region GB and `strict`
    on the first `per_rule`)."""
    from harness.checks.builtin.pii import _prepare

    old_fn = old_check(old, {"kinds": list(K6), "allow": list(ALLOW)})
    options_gb = {"kinds": list(K6), "allow": list(ALLOW), "region": "GB", "strict": True}
    old_gb, new_gb = old_check(old, options_gb), _prepare(options_gb)
    n, diffs = 0, []
    for n, text in enumerate(outputs(path), 1):
        record = OutputRecord(case_id="x", output=text, line=1, fields={})
        pairs = [("check", old_fn(record), fn(prepared, record, None))]
        if n <= per_rule:
            pairs.append(("check GB strict", old_gb(record), fn(new_gb, record, None)))
        diffs += [f"{name}: {text!r}\n  old {a}\n  new {b}" for name, a, b in pairs if a != b]
    return n, diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outputs", type=Path, default=Path("/tmp/h10/100k.jsonl"))
    ap.add_argument("--diff", type=Path, action="append", default=[], help="more JSONL outputs to compare")
    ap.add_argument("--data", type=Path, default=pii_quality.DEFAULT_DATA)
    ap.add_argument("--decoys", type=Path, default=pii_quality.DEFAULT_DECOYS)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--per-kind", type=int, default=20_000, help="outputs of each file also compared kind by kind")
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-diff", action="store_true", help="no differential check (speed and scores only)")
    ap.add_argument("--ids", type=int, default=200_000, help="generated case ids compared (0: none)")
    ap.add_argument("--ids-seed", type=int, default=1)
    ap.add_argument("--id-count", type=int, default=20_000, help="'gen-NNNNNNN' ids timed (a report's results)")
    ap.add_argument("--skip-corpora", action="store_true", help="compare the generated ids only")
    ap.add_argument("--check-outputs", type=Path, default=Path("/tmp/bench/o300k.jsonl"))
    ap.add_argument("--check-count", type=int, default=20_000, help="prefiltered outputs the check is timed on")
    ap.add_argument("--check-only", action="store_true", help="the check's speed and differential alone")
    ap.add_argument("--format", choices=("text", "json"), default="text")
    args = ap.parse_args(argv)
    if args.check_only:
        args.skip_corpora, args.ids = True, 0
    with tempfile.TemporaryDirectory() as tmp:
        old = load_old(args.rev, Path(tmp))
        texts = [] if args.skip_corpora else list(outputs(args.outputs))
        q_texts = [] if args.skip_corpora else quality_texts(args.data, args.decoys)
        report: dict[str, Any] = {}
        if not args.skip_speed:
            report["speed"] = id_speed(old, args.repeat, args.id_count)
        if not (args.skip_speed or args.skip_corpora):
            shipped = re2.compile(old.prefilter_pattern(K6))
            secret = re2.compile(old.prefilter_pattern(("secret",)))
            report["speed"] |= speed(old, {
                f"{args.outputs.name}, privacy.no-pii prefilter passed": (
                    [t for t in texts if shipped.search(t)], "shipped rule"),
                f"{args.outputs.name}, security.no-secrets prefilter passed": (
                    [t for t in texts if secret.search(t)], "secret"),
                "pii_quality data sets, all kinds": (q_texts, "all kinds")}, args.repeat)
        if not (args.skip_speed or args.skip_corpora):
            report["gate"] = gate_speed(old, texts, args.repeat)
        checked = args.check_outputs.is_file()
        if checked:
            passed, prepared, fn = check_texts(args.check_outputs)
            if not args.skip_speed:
                report["check"] = check_speed(old, passed[:args.check_count], prepared, fn, args.repeat)
        report["quality"] = quality(old, args.data, args.decoys) if args.data.is_file() and not args.skip_corpora \
            else None
        quality_same = report["quality"] is None or (
            report["quality"]["new"] == report["quality"]["old"]
            and report["quality"]["new strict"] == report["quality"]["old strict"])
        compared, diffs = 0, list[str]()
        for name, source in [] if args.skip_diff or args.skip_corpora else [
                ("quality data sets", iter(q_texts)), (str(args.outputs), iter(texts)),
                *((str(p), outputs(p)) for p in args.diff)]:
            n, d = differential(old, source, args.per_kind)
            compared, diffs = compared + n, diffs + d
            print(f"{name}: {n} texts compared, {len(d)} differences", file=sys.stderr)
        if checked and not args.skip_diff:
            n, d = check_differential(old, args.check_outputs, prepared, fn, args.per_kind)
            compared, diffs = compared + n, diffs + d
            print(f"{args.check_outputs} (the pii check): {n} outputs compared, {len(d)} differences", file=sys.stderr)
        if args.ids and not args.skip_diff:
            n, d = differential_ids(old, args.ids, args.ids_seed)
            compared, diffs = compared + n, diffs + d
            print(f"{args.ids} generated case ids (seed {args.ids_seed}): {len(d)} differences", file=sys.stderr)
        report["differential"] = {"texts": compared, "differences": len(diffs), "quality_identical": quality_same}
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        for name, r in report.get("speed", {}).items():
            print(f"{name}: {r['texts']} texts, old {r['old_s']:.3f} s ({r['old_us_per_text']} us/text), "
                  f"new {r['new_s']:.3f} s ({r['new_us_per_text']} us/text), {r['speedup']}x")
        for mode, r in report.get("check", {}).items():
            print(f"pii check (no-personal-data), {r['outputs']} prefiltered outputs of {args.check_outputs.name}, "
                  f"{mode}: old {r['old_us_per_call']} us/call, new {r['new_us_per_call']} us/call, {r['speedup']}x")
        if report.get("gate"):
            g = report["gate"]
            print(f"privacy.no-pii as the gate runs it over {g['texts']} outputs: prefilter passes "
                  f"{g['old_pass_rate']:.2%} (old) / {g['new_pass_rate']:.2%} (new); old {g['old_s']:.3f} s "
                  f"({g['old_us_per_text']} us/output), new {g['new_s']:.3f} s ({g['new_us_per_text']} us/output), "
                  f"{g['speedup']}x")
        if report["quality"]:
            for k, r in report["quality"]["new"]["kinds"].items():
                o = report["quality"]["old"]["kinds"][k]
                print(f"{k:<12} precision {r['precision']} (old {o['precision']}) recall {r['recall']} "
                      f"(old {o['recall']})")
        print(f"differential: {compared} texts, {len(diffs)} differences; pii_quality scores "
              f"{'identical' if quality_same else 'DIFFER'}")
    for line in diffs[:20]:
        print(line, file=sys.stderr)
    return 0 if not diffs and quality_same else 1


if __name__ == "__main__":
    raise SystemExit(main())
