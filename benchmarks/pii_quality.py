"""Precision/recall of `harness.text.pii.find_pii` on a labelled corpus and on decoys (a yardstick, not a target).

Usage: python benchmarks/pii_quality.py [--data PATH] [--decoys PATH] [--strict] [--speed] [--repeat 5]
                                        [--format text|json] [--show-errors]

The default corpus is Microsoft presidio-research's synth_dataset_v2.json, read from
../shared/data/ next to the repository (never copied into it). Scores:
- record level: per kind, TP when the detector reports the kind in a record that has a span
  of it, FP when it reports a kind the record has no span of, FN when the record has a span
  of the kind and the detector reports none;
- span level: a reported span is a TP when it overlaps a labelled span of the same kind
  (else FP); a labelled span no report overlaps is a FN.
Decoys (tests/data/pii_decoys.json): texts that look like personal data and are not (order numbers,
ISBNs, dates, versions, tracking codes, prices, "at" and "dot" in prose); every finding of a kind the
decoy does not allow is a false positive. The same file's disguised values (zero-width characters,
look-alike letters, right-to-left overrides, card numbers grouped by dots, '*', '|' or one digit at a
time, written-out and defanged addresses, IBANs in mixed case, split AWS keys, phone numbers with
unassigned area codes) must each be found, spanning the exact disguised text. --speed times the pii
check as the gate runs it (the prefilter, then find_pii and the masks) over the corpus and over 20,000
outputs of benchmarks/gate_throughput.py's generator, and prints medians.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import re2

from harness.text import mask as _mask
from harness.text.mask import mask_text
from harness.text.pii import KINDS as ALL_KINDS
from harness.text.pii import find_pii, prefilter_pattern

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared/data/presidio_synth_dataset_v2.json"
DEFAULT_DECOYS = ROOT / "tests/data/pii_decoys.json"
LABELS = {"EMAIL_ADDRESS": "email", "CREDIT_CARD": "credit_card", "US_SSN": "us_ssn",
          "IBAN_CODE": "iban", "IP_ADDRESS": "ip_address", "PHONE_NUMBER": "phone"}
KINDS = tuple(LABELS.values())
TARGET = {"phone": 0.95}


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _find(text: str, strict: bool) -> list[Any]:
    return find_pii(text, strict=True) if strict else find_pii(text)


def evaluate(records: list[dict], show_errors: bool = False, strict: bool = False) -> dict:
    """Score find_pii on the records; returns a JSON-ready dict."""
    rec: Counter[tuple[str, str]] = Counter()
    span: Counter[tuple[str, str]] = Counter()
    errors: list[str] = []
    t0 = time.perf_counter()
    found_all = [_find(r["full_text"], strict) for r in records]
    elapsed = time.perf_counter() - t0
    prefilter = re2.compile(prefilter_pattern())
    candidates = sum(1 for r in records if prefilter.search(r["full_text"]))
    for r, found in zip(records, found_all, strict=True):
        gold = [(LABELS[s["entity_type"]], s["start_position"], s["end_position"])
                for s in r["spans"] if s["entity_type"] in LABELS]
        gold_kinds = {k for k, _, _ in gold}
        got_kinds = {m.kind for m in found if m.kind in KINDS}
        for k in KINDS:
            outcome = ("tp" if k in got_kinds else "fn") if k in gold_kinds else (
                "fp" if k in got_kinds else None)
            if outcome:
                rec[k, outcome] += 1
            if show_errors and outcome in ("fp", "fn"):
                # found values are masked even though the corpus is synthetic; a missed value cannot
                # be, and the labelled value of a FN is shown so the miss can be judged
                errors.append(f"{outcome.upper()} {k}: {mask_text(r['full_text'])[:160]!r}"
                              + (f" | gold={[r['full_text'][s:e] for kk, s, e in gold if kk == k]}"
                                 if outcome == "fn" else ""))
        for m in found:
            if m.kind not in KINDS:
                continue
            hit = any(k == m.kind and s < m.end and m.start < e for k, s, e in gold)
            span[m.kind, "tp" if hit else "fp"] += 1
        for k, s, e in gold:
            if not any(m.kind == k and m.start < e and s < m.end for m in found):
                span[k, "fn"] += 1
    rows = {}
    for k in KINDS:
        tp, fp, fn = rec[k, "tp"], rec[k, "fp"], rec[k, "fn"]
        stp, sfp, sfn = span[k, "tp"], span[k, "fp"], span[k, "fn"]
        rows[k] = {"tp": tp, "fp": fp, "fn": fn, "precision": _ratio(tp, tp + fp),
                   "recall": _ratio(tp, tp + fn), "target": TARGET.get(k, 0.95),
                   "span": {"tp": stp, "fp": sfp, "fn": sfn, "precision": _ratio(stp, stp + sfp),
                            "recall": _ratio(stp, stp + sfn)}}
    return {"records": len(records), "prefilter_hits": candidates, "seconds": round(elapsed, 3),
            "ms_per_1000_records": round(elapsed / max(1, len(records)) * 1e6, 1),
            "kinds": rows, "errors": errors}


def evaluate_decoys(data: dict, strict: bool = False, show_errors: bool = False) -> dict:
    """False positives per kind on the decoys; found / total per kind on the disguised values."""
    fps: Counter[str] = Counter()
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    errors = []
    for decoy in data["decoys"]:
        for m in _find(decoy["text"], strict):
            if m.kind not in decoy["allowed"]:
                fps[m.kind] += 1
                errors.append(f"FP {m.kind} in {decoy['what']}: {mask_text(decoy['text'])!r}")
    for item in data["disguised"]:
        total[item["kind"]] += 1
        text, start = item["text"], item["text"].index(item["value"])
        if any(m.kind == item["kind"] and (m.start, m.end) == (start, start + len(item["value"]))
               for m in _find(text, strict)):
            found[item["kind"]] += 1
        else:
            errors.append(f"MISSED {item['kind']}: {text!r}")
    kinds = {k: {"decoy_fp": fps[k], "disguised_found": found[k], "disguised_total": total[k]} for k in ALL_KINDS}
    return {"decoys": len(data["decoys"]), "disguised": len(data["disguised"]), "kinds": kinds,
            "errors": errors if show_errors else []}


def _gate_throughput_outputs(n: int) -> list[str]:
    spec = importlib.util.spec_from_file_location("gate_throughput", ROOT / "benchmarks/gate_throughput.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "outputs.jsonl"
        module.generate(path, n, 7)
        return [json.loads(line)["output"] for line in path.read_text(encoding="utf-8").splitlines()]


def _check_like_the_gate(texts: list[str]) -> float:
    """Seconds for the pii check over `texts` as the engine runs it: the prefilter, then detection and masks."""
    prefilter = re2.compile(prefilter_pattern())
    masker = getattr(_mask, "mask_match", None)
    t0 = time.perf_counter()
    for text in texts:
        if prefilter.search(text):
            for m in find_pii(text):
                masker(m) if masker else _mask.mask_value(m.kind, m.value)
    return time.perf_counter() - t0


def measure_speed(records: list[dict], repeat: int) -> dict:
    sets = {"corpus (1,500 texts)": [r["full_text"] for r in records],
            "gate_throughput generator (20,000 outputs)": _gate_throughput_outputs(20_000)}
    out = {}
    for name, texts in sets.items():
        _check_like_the_gate(texts)  # warm caches and lazy tables
        runs = [_check_like_the_gate(texts) for _ in range(repeat)]
        out[name] = {"median_ms": round(statistics.median(runs) * 1000, 1),
                     "us_per_text": round(statistics.median(runs) / len(texts) * 1e6, 2)}
    return out


def _fmt(x: float | None) -> str:
    return "  n/a" if x is None else f"{x:.3f}"


def _print_text(result: dict, decoys: dict | None, speed: dict | None) -> None:
    print(f"{result['records']} records ({result['prefilter_hits']} pass the prefilter) in {result['seconds']:.2f}s "
          f"({result['ms_per_1000_records']:.0f} ms per 1,000 records)")
    print(f"{'kind':<12} {'TP':>4} {'FP':>4} {'FN':>4} {'prec':>6} {'recall':>6} {'target':>6}"
          f"   | span {'TP':>4} {'FP':>4} {'FN':>4} {'prec':>6} {'recall':>6}")
    for k, r in result["kinds"].items():
        s = r["span"]
        ok = all(v is not None and v >= r["target"] for v in (r["precision"], r["recall"]))
        print(f"{k:<12} {r['tp']:>4} {r['fp']:>4} {r['fn']:>4} {_fmt(r['precision']):>6} "
              f"{_fmt(r['recall']):>6} {r['target']:>6.2f}{'' if ok else ' !'}"
              f"{'  ' if ok else ''} | span {s['tp']:>4} {s['fp']:>4} {s['fn']:>4} "
              f"{_fmt(s['precision']):>6} {_fmt(s['recall']):>6}")
    if decoys is not None:
        print(f"\n{decoys['decoys']} decoys, {decoys['disguised']} disguised values")
        print(f"{'kind':<12} {'decoy FP':>8} {'disguised found':>16}")
        for k, r in decoys["kinds"].items():
            shown = f"{r['disguised_found']}/{r['disguised_total']}" if r["disguised_total"] else "-"
            print(f"{k:<12} {r['decoy_fp']:>8} {shown:>16}")
    if speed is not None:
        print("\npii check as the gate runs it (prefilter, detection, masks), median:")
        for name, r in speed.items():
            print(f"  {name}: {r['median_ms']:.1f} ms ({r['us_per_text']:.2f} us per text)")
    for line in result["errors"] + (decoys["errors"] if decoys else []):
        print(line)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--decoys", type=Path, default=DEFAULT_DECOYS)
    ap.add_argument("--strict", action="store_true", help="phone numbers only when libphonenumber finds them valid")
    ap.add_argument("--speed", action="store_true", help="time the pii check (medians of --repeat runs)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--format", choices=("text", "json"), default="text")
    ap.add_argument("--show-errors", action="store_true",
                    help="list record-level FP/FN excerpts (found values masked; missed ones cannot be)")
    args = ap.parse_args(argv)
    try:
        records = json.loads(args.data.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"cannot read corpus {args.data}: {exc}", file=sys.stderr)
        return 2
    result = evaluate(records, args.show_errors, args.strict)
    decoys = None
    if args.decoys.is_file():
        decoys = evaluate_decoys(json.loads(args.decoys.read_text(encoding="utf-8")), args.strict, args.show_errors)
    speed = measure_speed(records, args.repeat) if args.speed else None
    if args.format == "json":
        print(json.dumps({**result, "decoys": decoys, "speed": speed}, indent=2))
    else:
        _print_text(result, decoys, speed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
