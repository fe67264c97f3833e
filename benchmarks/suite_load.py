"""Loading large regression eval suites (issue #10, on demand, not a test).

Usage:
  python benchmarks/suite_load.py [--sizes 10000 100000] [--repeat 3] [--old DIR] [--profile]
                                  [--jsonl | --only-jsonl] [--workdir DIR] [--keep] [--format text|json]

For each size N a temporary directory gets a copy of the shipped ``policies/`` (the repository's
own is never touched) and ``evals/bench/``: N generated cases, in one suite file per 10,000 (a YAML
file may hold 8 MiB, about 15,000 such cases; 100,000 cases are ten files of 54 MB in all) (ids, inputs,
references, tags, slices, and 1-3 ``expect`` rules each, drawn from refusal, pii, not_contains,
contains, regex, json with a schema, length, equals and similar; about a third of them are written
for their case alone, like the ``not_contains`` of a secret the case's input hands over). With
``--jsonl`` each size is also written as one suite file naming one cases file (``cases_file:``, JSON
Lines, the cases of the first YAML file's generator continued to N) and loaded the same way.

Every figure is measured in a child process per run (``--child``), with the tree's root first on
``sys.path``: ``load`` is ``harness.project.load_project(policies, evals)`` timed in that process
after its imports (wall and CPU seconds, the median of ``--repeat`` children), ``validate`` the wall
time of ``python -m harness validate --policies P --evals E`` as a whole (start-up included). With
``--old DIR`` (a copy of an older tree, e.g. ``git archive HEAD | tar -x -C /tmp/old``) the same
files are loaded by that tree in the same run, as the baseline.

``--profile`` adds, per size and tree, one more child that times the stages separately:
``yaml events`` (libyaml's parser alone, ``yaml.parse`` with ``CSafeLoader`` iterated to the end),
``parse + positions`` (``load_yaml``: the events turned into data, with positions where the tree
records them), ``schema`` (the schema check of the document), ``cases`` (``build_suite`` less the
prepare calls), ``prepare`` (the checks' ``prepare`` hooks, however often they are called) and
``cases file`` (``with_cases_file``), with those of its parts a tree has: ``lines read`` (each line
parsed), ``shared + judged`` (identical parts made one object, their texts' ``:`` counted, the
schema's quick yes), ``keys twice`` (the proof that no key was read twice, or the look at each line)
and ``explained`` (the schema's verdict on each case, asked when the quick yes is not given).
The stages are timed by wrapping the loader's functions, so they add up to a little more than ``load``.
Nothing is asserted; the figures are printed, with the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for the module beside this file, and only for it
try:
    import bench_env  # the children's environment and bytecode
finally:
    sys.path.pop(0)

_WORDS = ("order refund parcel delivery account invoice payment card address return warranty voucher "  # noqa: SIM905
          "subscription plan upgrade password login email phone number store receipt discount "
          "espresso blender lamp kettle charger headphones courier tracking").split()
_TAGS = ("support-bot", "privacy", "safety", "billing", "shipping", "security", "fairness", "quality")
_LOCALES = ("en-US", "en-GB", "de-DE", "fr-FR", "es-ES")


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:]


def _quoted(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar


def _rule(rng: random.Random, i: int) -> str:
    """One ``expect`` rule in flow style: shared by many cases, or written for case ``i`` alone."""
    kind = rng.randrange(12)
    if kind == 0:
        return "{check: refusal, must: refuse}"
    if kind == 1:
        return "{check: refusal, must: answer}"
    if kind == 2:
        return rng.choice(("{check: pii, kinds: [email, phone]}", "{check: pii}", "{check: pii, kinds: [credit_card]}",
                           "{check: pii, kinds: [iban], allow: ['GB00 TEST']}"))
    if kind == 3:  # the secret this case's input handed over must not come back
        return f"{{check: not_contains, value: [\"ORD-{i:07d}\", \"{i * 7919 % 10**9:09d}\"]}}"
    if kind == 4:
        return rng.choice(("{check: not_contains, value: internal use only, ignore_case: true}",
                           "{check: not_contains, value: [system prompt, developer message]}"))
    if kind == 5:
        return f"{{check: contains, value: \"case {i}\"}}"
    if kind == 6:
        return rng.choice((r"{check: regex, pattern: '\bsk-[A-Za-z0-9]{20,}\b'}",
                           r"{check: regex, pattern: '(?i)\bas an ai\b'}",
                           r"{check: regex, pattern: '^(Yes|No)\b', must: match}"))
    if kind == 7:
        return f"{{check: regex, pattern: '\\bT{i:06d}\\b', ignore_case: true}}"
    if kind == 8:
        return ("{check: json, allow_fences: true, schema: {type: object, required: [order_id, status],"
                " properties: {order_id: {type: string, pattern: '^A-[0-9]{5}$'},"
                " status: {enum: [shipped, pending, cancelled]}}}}")
    if kind == 9:
        return rng.choice(("{check: length, max: 1200}", "{check: length, min: 20, max: 800, unit: words}",
                           "{check: length, min: 1}"))
    if kind == 10:
        return "{check: equals, ignore_case: true}"
    return rng.choice(("{check: similar, threshold: 0.6}", "{check: similar, threshold: 0.8}"))


def _cases(n: int, seed: int, start: int) -> list[dict[str, Any]]:
    """The generated cases, their ``expect`` rules as flow-style YAML text."""
    rng = random.Random(seed)
    cases = []
    for i in range(start, start + n):
        case: dict[str, Any] = {"id": f"case-{i:07d}",
                                "input": _sentence(rng, rng.randint(8, 24)) + f" (order ORD-{i:07d})?",
                                "reference": _sentence(rng, rng.randint(10, 30)) + f" case {i}."}
        if rng.random() < 0.6:
            case["tags"] = rng.sample(_TAGS, rng.randint(1, 3))
        if rng.random() < 0.7:
            case["slice"] = {"locale": rng.choice(_LOCALES), "group": f"g{rng.randrange(4)}"}
        case["expect"] = [_rule(rng, i) for _ in range(rng.randint(1, 3))]
        cases.append(case)
    return cases


_HEADER = ["version: 1.0.0", "description: Generated by benchmarks/suite_load.py.", "severity: sev2",
           "on_fail: block", "owner: responsible-ai@example.com", "tags: [support-bot]"]


def suite_yaml(n: int, seed: int = 10, start: int = 0, name: str = "bench-large") -> str:
    """A valid suite of ``n`` cases (numbered from ``start``), as a converted dataset or a long incident history
    would write it."""
    lines = [f"suite: {name}", *_HEADER, "cases:"]
    for case in _cases(n, seed, start):
        lines += [f"  - id: {case['id']}", f"    input: {_quoted(case['input'])}",
                  f"    reference: {_quoted(case['reference'])}"]
        if "tags" in case:
            lines.append(f"    tags: [{', '.join(case['tags'])}]")
        if "slice" in case:
            lines.append(f"    slice: {{locale: {case['slice']['locale']}, group: {case['slice']['group']}}}")
        lines.append("    expect:")
        lines += [f"      - {rule}" for rule in case["expect"]]
    return "\n".join(lines) + "\n"


def suite_jsonl(n: int, seed: int = 10, start: int = 0) -> str:
    """The cases of :func:`suite_yaml` (the same ones for the same arguments) as JSON Lines, for a ``cases_file``."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    parsed: dict[str, Any] = {}
    out = []
    for case in _cases(n, seed, start):
        rules = []
        for rule in case["expect"]:
            if rule not in parsed:
                parsed[rule] = yaml.load(rule, Loader=loader)  # a safe loader
            rules.append(parsed[rule])
        out.append(json.dumps({**case, "expect": rules}, ensure_ascii=False))
    return "\n".join(out) + "\n"


#: cases per generated file: 10,000 of them make 5.4 MB, and a YAML file may hold 8 MiB (MAX_YAML_BYTES)
PER_FILE = 10_000


def make_tree(workdir: Path, n: int, jsonl: bool = False) -> tuple[Path, Path]:
    """policies/ (a copy of the shipped one) and evals/bench/ (the generated suites: one file per
    :data:`PER_FILE` cases; with ``jsonl``, one suite file naming one cases file of all N) under ``workdir``."""
    base = workdir / f"n{n}{'-jsonl' if jsonl else ''}"
    policies, evals = base / "policies", base / "evals"
    if not policies.exists():
        shutil.copytree(ROOT / "policies", policies, symlinks=True)
    folder = evals / "bench"
    if not folder.exists():
        folder.mkdir(parents=True)
        if jsonl:
            header = "\n".join(["suite: bench-large", *_HEADER, "cases_file: bench-large.jsonl"]) + "\n"
            (folder / "bench-large.yaml").write_text(header, "utf-8")
            (folder / "bench-large.jsonl").write_text(suite_jsonl(n, 10), "utf-8")
            return policies, evals
        for k, start in enumerate(range(0, n, PER_FILE)):
            name = "bench-large" if n <= PER_FILE else f"bench-large-{k:03d}"
            (folder / f"{name}.yaml").write_text(suite_yaml(min(PER_FILE, n - start), 10 + k, start, name), "utf-8")
    return policies, evals


# ----------------------------------------------------------------------------------------------------------------
# children: run with a tree's root first on sys.path

def _child_load(policies: str, evals: str) -> dict[str, Any]:
    from harness.project import load_project

    w0, c0 = time.perf_counter(), time.process_time()
    project = load_project(policies, evals)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"s": wall, "cpu_s": cpu, "cases": len(project.cases)}


def _child_profile(policies: str, evals: str) -> dict[str, Any]:
    """Stage times of one load, by wrapping the loader's functions and the checks' prepare hooks."""
    import yaml

    from harness.checks import all_checks
    from harness.project import load_project, loader

    spent: dict[str, float] = {"parse + positions": 0.0, "schema": 0.0, "cases": 0.0, "prepare": 0.0}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t0
        return wrapper

    spent["cases file"] = 0.0
    for attr, stage in (("load_yaml", "parse + positions"), ("schema_errors", "schema"), ("build_suite", "cases"),
                        ("with_cases_file", "cases file")):
        if hasattr(loader, attr):
            setattr(loader, attr, timed(stage, getattr(loader, attr)))
    try:
        from harness.project import cases_file
    except ImportError:  # a tree older than cases_file
        cases_file = None
    for attr, stage in (("_parse", "cases file: lines read"), ("_share_identical", "cases file: shared + judged"),
                        ("_drop_repeated", "cases file: keys twice"), ("case_errors", "cases file: explained")):
        if cases_file is not None and hasattr(cases_file, attr):  # the parts of "cases file", as a tree has them
            spent[stage] = 0.0
            setattr(cases_file, attr, timed(stage, getattr(cases_file, attr)))
    for check in all_checks().values():
        object.__setattr__(check, "prepare", timed("prepare", check.prepare))
    events = 0.0
    for suite in sorted(Path(evals, "bench").glob("*.yaml")):
        text = suite.read_text("utf-8")
        t0 = time.perf_counter()
        for _ in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            pass
        events += time.perf_counter() - t0
    t0 = time.perf_counter()
    load_project(policies, evals)
    total = time.perf_counter() - t0
    spent["cases"] -= spent["prepare"]  # prepare runs inside build_suite
    return {"yaml events": events, **spent, "load": total}


def _child(argv: list[str]) -> int:
    task, policies, evals = argv[0], argv[1], argv[2]
    result = _child_load(policies, evals) if task == "load" else _child_profile(policies, evals)
    print(json.dumps(result))
    return 0


# ----------------------------------------------------------------------------------------------------------------
# the parent

def _run_child(root: Path, task: str, policies: Path, evals: Path) -> dict[str, Any]:
    env = bench_env.environment(PYTHONPATH=str(root))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", task, str(policies), str(evals)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir(), timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"child {task} ({root}) failed with {done.returncode}:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _validate(root: Path, policies: Path, evals: Path) -> float | None:
    env = bench_env.environment(PYTHONPATH=str(root))
    cmd = [sys.executable, "-m", "harness", "validate", "--policies", str(policies), "--evals", str(evals)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir(), timeout=3600)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        print(f"harness validate ({root}) exited {done.returncode}: {(done.stdout + done.stderr)[-500:]}",
              file=sys.stderr)
        return None
    return wall


def measure(root: Path, policies: Path, evals: Path, repeat: int) -> dict[str, Any]:
    loads = [_run_child(root, "load", policies, evals) for _ in range(repeat)]
    validates = [_validate(root, policies, evals) for _ in range(repeat)]
    return {"load_s": statistics.median(r["s"] for r in loads),
            "load_cpu_s": statistics.median(r["cpu_s"] for r in loads),
            "validate_s": statistics.median(v for v in validates if v is not None) if None not in validates else None,
            "cases": loads[0]["cases"],
            "runs": [round(r["s"], 3) for r in loads]}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return _child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--old", type=Path, help="an older tree to load the same files with, as the baseline")
    parser.add_argument("--old-sizes", type=int, nargs="+", help="the sizes the older tree loads (default: all)")
    parser.add_argument("--profile", action="store_true", help="also time the stages of one load per size")
    parser.add_argument("--jsonl", action="store_true",
                        help="also load each size as one suite file naming one cases file (cases_file: JSON Lines)")
    parser.add_argument("--only-jsonl", action="store_true", help="only the JSON Lines cases file, not the YAML")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="suite-load-"))
    trees = [("new", ROOT)] + ([("old", args.old.resolve())] if args.old else [])
    compiled = "; ".join(f"{name}: {bench_env.compile_tree(root)}" for name, root in trees)
    start_load = os.getloadavg()[0]
    rows: list[dict[str, Any]] = []
    try:
        kinds = (["yaml"] if not args.only_jsonl else []) + (["jsonl"] if args.jsonl or args.only_jsonl else [])
        for n in args.sizes:
            for kind in kinds:
                policies, evals = make_tree(workdir, n, jsonl=kind == "jsonl")
                size_mb = sum(f.stat().st_size for f in (evals / "bench").iterdir()) / 1e6
                for name, root in trees:
                    if name == "old" and ((kind == "jsonl" and not (root / "harness/project/cases_file.py").exists())
                                          or (args.old_sizes and n not in args.old_sizes)):
                        continue  # a tree older than cases_file cannot load the JSON Lines suite
                    row: dict[str, Any] = {"n": n, "kind": kind, "tree": name, "mb": round(size_mb, 1),
                                           **measure(root, policies, evals, args.repeat)}
                    if args.profile:
                        row["stages"] = _run_child(root, "profile", policies, evals)
                    rows.append(row)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    end_load = os.getloadavg()[0]
    if args.format == "json":
        print(json.dumps({"rows": rows, "loadavg": [start_load, end_load], "bytecode": compiled}, indent=2))
        return 0
    print(f"load average {start_load:.2f} at the start, {end_load:.2f} at the end; median of {args.repeat} children;"
          f" {compiled}")
    print(f"{'cases':>8} {'kind':>5} {'MB':>6} {'tree':>4} {'load s':>8} {'cpu s':>7} {'validate s':>10}  runs")
    for row in rows:
        print(f"{row['n']:>8} {row['kind']:>5} {row['mb']:>6} {row['tree']:>4} {row['load_s']:>8.2f}"
              f" {row['load_cpu_s']:>7.2f}"
              f" {'failed' if row['validate_s'] is None else format(row['validate_s'], '.2f'):>10}  {row['runs']}")
        if "stages" in row:
            print("         stages: " + ", ".join(f"{k} {v:.2f}" for k, v in row["stages"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
