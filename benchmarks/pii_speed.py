"""Speed of `harness.text.pii.find_pii` against the committed version (HEAD), and a differential check of the two.

Usage: python benchmarks/pii_speed.py [--outputs PATH] [--diff PATH ...] [--data PATH] [--decoys PATH]
                                      [--repeat 5] [--rev HEAD] [--format text|json]

The old implementation is `git show REV:harness/text/{pii,phone,normalize,regex}.py` written to a temporary
directory and imported there as the package `_pii_head` (never in `harness`).

Speed (CPU seconds, same run, old and new interleaved, --repeat times each, medians): `find_pii` as the shipped policies
call it (`privacy.no-pii`: every kind but secret, Acme's two support addresses allowed; `security.no-secrets`:
secret), over the outputs of --outputs (default /tmp/h10/100k.jsonl) that pass that rule's prefilter
(`prefilter_pattern`, as the gate runs it); and over benchmarks/pii_quality.py's data sets (the presidio
corpus and the decoys and disguised values), all kinds.

Differential (--diff, repeatable; also the --outputs file and the quality data sets): for every output,
old and new give the same matches (kind, span, value, normalized) with all kinds, with `strict=True`, with
the shipped rule's kinds and allow list, with the secret kind alone, and for the first 20,000 outputs with
each kind alone. pii_quality's precision and recall are computed with both and must be identical.
Exit 0 when everything agrees, 1 when not (the first differences are printed).
"""

from __future__ import annotations

import argparse
import importlib
import json
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

from harness.text import phone as _phone  # noqa: E402
from harness.text import pii as new  # noqa: E402
from harness.text.regex import compile_pattern  # noqa: E402

K6 = ("email", "phone", "us_ssn", "credit_card", "iban", "ip_address")
ALLOW = (r"support@acme\.example", r"privacy@acme\.example")
FILES = ("pii", "phone", "normalize", "regex")


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


def differential(old: ModuleType, texts: Iterator[str], per_kind: int) -> tuple[int, list[str]]:
    pairs = list(zip(configs(old, False), configs(new, True), strict=True))
    n, diffs = 0, []
    for n, text in enumerate(texts, 1):
        for (name, f_old), (_, f_new) in pairs:
            a, b = key(f_old(text)), key(f_new(text))
            if a != b:
                diffs.append(f"{name}: {text!r}\n  old {a}\n  new {b}")
        if n <= per_kind:
            for kind in new.KINDS:
                a, b = key(old.find_pii(text, (kind,))), key(new.find_pii(text, (kind,)))
                if a != b:
                    diffs.append(f"kind {kind}: {text!r}\n  old {a}\n  new {b}")
        if n % 200_000 == 0:
            print(f"  {n} outputs compared, {len(diffs)} differences", file=sys.stderr)
    return n, diffs


def timed(texts: list[str], calls: Callable[[str], Any]) -> float:
    """CPU seconds (the machine may be shared) for one pass, libphonenumber's result cache emptied first: a
    pass gains only from the windows repeated within it, not from the passes before."""
    _phone._matches.cache_clear()
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
    ap.add_argument("--format", choices=("text", "json"), default="text")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        old = load_old(args.rev, Path(tmp))
        texts = list(outputs(args.outputs))
        q_texts = quality_texts(args.data, args.decoys)
        report: dict[str, Any] = {}
        if not args.skip_speed:
            shipped = re2.compile(old.prefilter_pattern(K6))
            secret = re2.compile(old.prefilter_pattern(("secret",)))
            report["speed"] = speed(old, {
                f"{args.outputs.name}, privacy.no-pii prefilter passed": (
                    [t for t in texts if shipped.search(t)], "shipped rule"),
                f"{args.outputs.name}, security.no-secrets prefilter passed": (
                    [t for t in texts if secret.search(t)], "secret"),
                "pii_quality data sets, all kinds": (q_texts, "all kinds")}, args.repeat)
        report["quality"] = quality(old, args.data, args.decoys) if args.data.is_file() else None
        quality_same = report["quality"] is None or (
            report["quality"]["new"] == report["quality"]["old"]
            and report["quality"]["new strict"] == report["quality"]["old strict"])
        compared, diffs = 0, list[str]()
        for name, source in [] if args.skip_diff else [
                ("quality data sets", iter(q_texts)), (str(args.outputs), iter(texts)),
                *((str(p), outputs(p)) for p in args.diff)]:
            n, d = differential(old, source, args.per_kind)
            compared, diffs = compared + n, diffs + d
            print(f"{name}: {n} texts compared, {len(d)} differences", file=sys.stderr)
        report["differential"] = {"texts": compared, "differences": len(diffs), "quality_identical": quality_same}
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        for name, r in report.get("speed", {}).items():
            print(f"{name}: {r['texts']} texts, old {r['old_s']:.3f} s ({r['old_us_per_text']} us/text), "
                  f"new {r['new_s']:.3f} s ({r['new_us_per_text']} us/text), {r['speedup']}x")
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
