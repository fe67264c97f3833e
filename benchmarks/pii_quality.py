"""Precision/recall of `harness.text.pii.find_pii` on a labelled corpus (a yardstick, not a target).

Usage: python benchmarks/pii_quality.py [--data PATH] [--format text|json] [--show-errors]

The default corpus is Microsoft presidio-research's synth_dataset_v2.json, read from
../shared/data/ next to the repository (never copied into it). Scores:
- record level: per kind, TP when the detector reports the kind in a record that has a span
  of it, FP when it reports a kind the record has no span of, FN when the record has a span
  of the kind and the detector reports none;
- span level: a reported span is a TP when it overlaps a labelled span of the same kind
  (else FP); a labelled span no report overlaps is a FN.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import re2

from harness.text.mask import mask_text
from harness.text.pii import find_pii, prefilter_pattern

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/presidio_synth_dataset_v2.json"
LABELS = {"EMAIL_ADDRESS": "email", "CREDIT_CARD": "credit_card", "US_SSN": "us_ssn",
          "IBAN_CODE": "iban", "IP_ADDRESS": "ip_address", "PHONE_NUMBER": "phone"}
KINDS = tuple(LABELS.values())
TARGET = {"phone": 0.90}


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def evaluate(records: list[dict], show_errors: bool = False) -> dict:
    """Score find_pii on the records; returns a JSON-ready dict."""
    rec: Counter[tuple[str, str]] = Counter()
    span: Counter[tuple[str, str]] = Counter()
    errors: list[str] = []
    t0 = time.perf_counter()
    found_all = [find_pii(r["full_text"]) for r in records]
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


def _fmt(x: float | None) -> str:
    return "  n/a" if x is None else f"{x:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--format", choices=("text", "json"), default="text")
    ap.add_argument("--show-errors", action="store_true",
                    help="list record-level FP/FN excerpts (found values masked; missed ones cannot be)")
    args = ap.parse_args(argv)
    try:
        records = json.loads(args.data.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"cannot read corpus {args.data}: {exc}", file=sys.stderr)
        return 2
    result = evaluate(records, args.show_errors)
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
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
    for line in result["errors"]:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
