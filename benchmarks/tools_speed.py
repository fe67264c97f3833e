"""Speed (and some memory) of the auditor's and the engineer's tools of issue #9 (on demand, not a test).

Usage:
  python benchmarks/tools_speed.py [--quick] [--repeat 5] [--old /tmp/old9] [--only SECTION ...]
                                   [--workdir DIR] [--keep] [--format text|json]

Every figure is the median of ``--repeat`` runs (wall seconds, CPU seconds beside them: on a
busy machine CPU time moves less) and is quoted against a baseline measured in the same run,
so that a noisy machine shows in both. Sections (``--only`` picks some):

- ``gate``: ``harness.api.run_gate`` on examples/outputs/acme-support-1.2.0.jsonl (baseline
  acme-support-1.0.0.jsonl) and on 50,000 synthetic outputs (benchmarks/gate_throughput.py's
  generator, ``allow_unmatched``), each tree with its own policies and evals, in this tree and in
  an older checkout (``--old``, e.g. ``git worktree add /tmp/old9 e4cd8f4``): a child process per
  tree with that tree's root first on ``sys.path``. Baseline: the old tree. The new gate also runs
  every policy's examples before judging.
- ``policy-test``: ``run_policy_tests`` on the shipped policies and on a synthetic folder of 200
  policies x 5 rules x 4 examples. Baseline: loading the same folder (``inspect_project``).
- ``governance``: ``check_since`` and ``policy_diff`` against the first of 50 commits of a temporary
  git repository of 200 policies; ``policy_history`` of a policy with 500 commits (both built with
  ``git fast-import``). Baselines: loading the 200 policies once; ``git log`` of the policy's file.
- ``audit``: ``build_audit_report`` of the shipped repository with a decision log of 10,000 and
  100,000 gate entries, and rendering it as html, markdown and json, in a child process per size
  (peak memory: its ``ru_maxrss``). Baseline: ``harness log verify``'s chain check of the same log.
- ``ci``: rendering ``github`` and ``sarif`` for a report of 100,000 failing results (a scan of
  synthetic outputs where most fail one regex rule). Baseline: rendering ``json`` of the same report.
- ``signing``: 1,000 appends to a decision log (``harness.api.release.DecisionLog``) with and without
  an Ed25519 release key (``HARNESS_SIGNING_KEY``); one append to a log of 100,000 entries; and
  checking a 100,000-entry signed log (chain and signatures) vs the chain check of an unsigned one.

``--quick`` divides the sizes by 10 (and uses 3 runs): a smoke run of every path in about two minutes.
A figure whose runs pass ``--budget`` seconds (default 30) stops at 3 runs; the table says how many.
The default run takes about 10 minutes on 2 quiet cores (13 under a load average of 5).
Nothing is asserted; the figures are printed, with the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _tree_root(argv: list[str]) -> Path:
    """The tree whose ``harness`` a child process imports (``--root``), this one by default."""
    if "--root" in argv:
        return Path(argv[argv.index("--root") + 1]).resolve()
    return ROOT


sys.path.insert(0, str(_tree_root(sys.argv)))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for the module beside this file, and only for it
try:
    import bench_env  # the children's environment and bytecode
finally:
    sys.path.pop(0)

SECTIONS = ("gate", "policy-test", "governance", "audit", "ci", "signing")
TODAY = "2026-11-27"
ZERO_SHA = "0" * 64


# ----------------------------------------------------------------------------------------------------------------
# measuring

#: seconds one figure may take before it stops at MIN_RUNS runs (``--budget``)
BUDGET = 30.0
MIN_RUNS = 3


def measure(step: Callable[[], object], repeat: int, *, setup: Callable[[], object] | None = None
            ) -> dict[str, Any]:
    """Median wall and CPU seconds of ``repeat`` runs of ``step`` (``setup`` before each, not timed).

    A step so slow that its runs pass :data:`BUDGET` seconds stops after :data:`MIN_RUNS` runs (or
    as soon as the budget is spent after them); ``n`` says how many runs the median is of.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        if len(walls) >= MIN_RUNS and sum(walls) > BUDGET:
            break
        if setup is not None:
            setup()
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        step()
        cpus.append(time.process_time() - c0)
        walls.append(time.perf_counter() - w0)
    return {"s": statistics.median(walls), "cpu_s": statistics.median(cpus), "n": len(walls),
            "runs": [round(w, 4) for w in walls]}


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(task: str, args: list[str], *, root: Path = ROOT, timeout: float = 1800) -> dict[str, Any]:
    """Run this script as ``--child TASK`` with ``root`` first on sys.path; its last stdout line is JSON."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", task, "--root", str(root),
           "--budget", str(BUDGET), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tempfile.gettempdir(),
                          env=bench_env.environment())
    if done.returncode != 0:
        raise RuntimeError(f"child {task} ({root}) failed with {done.returncode}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def row(section: str, what: str, m: dict[str, Any], base_name: str, base: dict[str, Any] | None,
        note: str = "") -> dict[str, Any]:
    ratio = m["s"] / base["s"] if base and base["s"] > 0 else None
    cpu_ratio = m["cpu_s"] / base["cpu_s"] if base and base.get("cpu_s") else None
    return {"section": section, "what": what, "s": m["s"], "cpu_s": m["cpu_s"], "n": m["n"],
            "base_n": base["n"] if base else None, "baseline": base_name,
            "baseline_s": base["s"] if base else None, "ratio": ratio, "cpu_ratio": cpu_ratio, "note": note}


# ----------------------------------------------------------------------------------------------------------------
# synthetic repositories

PLAYBOOK = ROOT / "policies" / "playbook.yaml"


def policy_yaml(i: int, version: int = 0, *, rules: int = 5, severity: str = "sev3", threshold: int = 0,
                area: str = "bench") -> str:
    """A valid policy of ``rules`` regex rules and 4 examples (2 pass, 2 fail: the fail ones trigger every rule)."""
    lines = [f"id: {area}.p{i:04d}", f"version: 1.{version}.0", f"title: Synthetic policy {i}",
             "description: A synthetic policy for benchmarks/tools_speed.py.", f"severity: {severity}",
             "on_fail: block" if severity != "sev1" else "on_fail: rollback",
             "owner: governance-lead@example.com", "status: active", "rules:"]
    for j in range(rules):
        lines += [f"  - id: rule-{j}", "    check: regex", f"    pattern: '(?i)\\bmarker{i}x{j}v{version}\\b'",
                  "    must: not_match", f"    message: Marker {j} of policy {i} found."]
    half = max(1, rules // 2)
    lines += [f"max_failures: {threshold}", "examples:", "  pass:",
              f"    - \"A plain answer about order A-{10000 + i} and its delivery.\"",
              "    - \"Refunds usually appear within 5 to 7 business days.\"", "  fail:",
              "    - \"" + " ".join(f"marker{i}x{j}v{version}" for j in range(half)) + "\"",
              "    - \"" + " ".join(f"marker{i}x{j}v{version}" for j in range(half, rules)) + "\""]
    return "\n".join(lines) + "\n"


def policies_folder(folder: Path, count: int, *, rules: int = 5) -> Path:
    (folder / "bench").mkdir(parents=True, exist_ok=True)
    shutil.copy(PLAYBOOK, folder / "playbook.yaml")
    for i in range(count):
        (folder / "bench" / f"p{i:04d}.yaml").write_text(policy_yaml(i, rules=rules), encoding="utf-8")
    return folder


class FastImport:
    """A ``git fast-import`` stream of commits on ``refs/heads/main``, each replacing some files."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.commits = 0

    def commit(self, files: dict[str, str], message: str, *, author: str = "Dev One <dev1@example.com>") -> None:
        self.commits += 1
        when = 1_790_000_000 + self.commits * 3600
        msg = message.encode()
        out = [b"commit refs/heads/main\n", f"mark :{self.commits}\n".encode(),
               f"author {author} {when} +0000\n".encode(), f"committer {author} {when} +0000\n".encode(),
               f"data {len(msg)}\n".encode(), msg, b"\n"]
        if self.commits > 1:
            out.append(f"from :{self.commits - 1}\n".encode())
        for path, text in files.items():
            data = text.encode("utf-8")
            out += [f"M 100644 inline {path}\n".encode(), f"data {len(data)}\n".encode(), data, b"\n"]
        out.append(b"\n")
        self.parts.append(b"".join(out))

    def into(self, repo: Path) -> Path:
        repo.mkdir(parents=True, exist_ok=True)
        git = ["git", "-C", str(repo), "-c", "init.defaultBranch=main"]
        subprocess.run([*git, "init", "-q"], check=True)
        subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"], input=b"".join(self.parts), check=True)
        subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-f", "main"], check=True)
        return repo


def governance_repo(repo: Path, policies: int, commits: int) -> Path:
    """``policies`` policies (every 10th sev2) in a first commit, then 4 of them changed (version bumped) per commit."""
    stream = FastImport()
    severity = {i: ("sev2" if i % 10 == 0 else "sev3") for i in range(policies)}
    version = dict.fromkeys(range(policies), 0)
    first = {"policies/playbook.yaml": PLAYBOOK.read_text(encoding="utf-8")}
    first |= {f"policies/bench/p{i:04d}.yaml": policy_yaml(i, severity=severity[i]) for i in range(policies)}
    stream.commit(first, "policies: first version")
    for c in range(1, commits):
        changed = {}
        for k in range(4):
            i = (c * 7 + k * 53) % policies
            version[i] += 1
            changed[f"policies/bench/p{i:04d}.yaml"] = policy_yaml(i, version[i], severity=severity[i],
                                                                  threshold=c % 3, rules=5 - (c % 2))
        stream.commit(changed, f"policies: change {c}")
    return stream.into(repo)


def history_repo(repo: Path, commits: int) -> Path:
    """One policy (``bench.p0000``) changed in each of ``commits`` commits, among 20 that do not change."""
    stream = FastImport()
    first = {"policies/playbook.yaml": PLAYBOOK.read_text(encoding="utf-8")}
    first |= {f"policies/bench/p{i:04d}.yaml": policy_yaml(i) for i in range(20)}
    stream.commit(first, "policies: first version")
    authors = ("Dev One <dev1@example.com>", "Dev Two <dev2@example.com>", "Ops <ops@example.com>")
    for c in range(1, commits):
        stream.commit({"policies/bench/p0000.yaml": policy_yaml(0, c, threshold=c % 4)}, f"p0000: change {c}",
                      author=authors[c % 3])
    return stream.into(repo)


# ----------------------------------------------------------------------------------------------------------------
# decision logs

def gate_entry(i: int, policy_sha256: dict[str, str], report_sha256: str, *, commit: str) -> dict[str, Any]:
    verdict = ("promote", "block", "promote", "rollback")[i % 4]
    return {"kind": "gate", "actor": "ci@example.com", "policy_commit": commit, "model": "acme-support-assistant",
            "model_version": f"1.{i // 1000}.{i % 1000}", "verdict": verdict, "report_sha256": report_sha256,
            "report": f"audit/reports/{report_sha256}.json", "policy_sha256": policy_sha256,
            "details": {"outputs": "outputs.jsonl", "outputs_sha256": ZERO_SHA, "judged_on": TODAY,
                        "backdated": False, "reasons": [] if verdict == "promote" else
                        ["privacy.no-pii 1.2.0 (sev1, on_fail rollback): fail"]}}


def write_log(path: Path, n: int, *, policy_sha256: dict[str, str] | None = None, report_sha256: str = ZERO_SHA,
              commit: str = "", signer: Callable[[str], dict[str, str]] | None = None,
              promote_every: int = 0) -> Path:
    """A hash-chained decision log of ``n`` canonical lines (and its ``.head``), written directly, as
    ``append_entry`` would write them one by one."""
    from harness.release.decision_log import GENESIS, canonical, entry_hash, head_path, sha256_line

    prev = GENESIS
    files = policy_sha256 or {"policies/privacy/pii.yaml": ZERO_SHA}
    start = 1_790_000_000
    with open(path, "w", encoding="utf-8") as handle:
        for seq in range(1, n + 1):
            if promote_every and seq % promote_every == 0:
                entry: dict[str, Any] = {"kind": "promotion", "actor": "ci@example.com", "policy_commit": commit,
                                         "model": "acme-support-assistant", "model_version": f"1.{seq}.0",
                                         "verdict": "promote", "report_sha256": report_sha256,
                                         "details": {"alias": "production", "from": "1.0.0", "judged_on": TODAY,
                                                     "backdated": False, "move": None}}
            else:
                entry = gate_entry(seq, files, report_sha256, commit=commit)
            entry["time"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(start + seq * 60))
            entry["seq"], entry["prev"] = seq, prev
            entry["hash"] = entry_hash(entry)
            if signer is not None:
                entry["sig"] = dict(signer(entry["hash"]))
            handle.write(canonical(entry) + "\n")
            prev = sha256_line(entry)
    head_path(path).write_text(json.dumps({"seq": n, "hash": entry["hash"]}) + "\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------------------------
# child processes

def child_gate(args: argparse.Namespace) -> dict[str, Any]:
    import harness
    from harness import api

    root = _tree_root(sys.argv)
    assert Path(harness.__file__).resolve().is_relative_to(root), (harness.__file__, root)
    policies, evals = root / "policies", root / "evals"
    small = root / "examples" / "outputs" / "acme-support-1.2.0.jsonl"
    base = root / "examples" / "outputs" / "acme-support-1.0.0.jsonl"
    c0 = time.perf_counter()
    first = api.run_gate(small, policies=policies, evals=evals, baseline=base, allow_unmatched=True)
    cold = time.perf_counter() - c0
    outputs = Path(args.outputs) if args.outputs else small
    baseline = None if args.outputs else base
    result: list[Any] = []
    m = measure(lambda: result.append(api.run_gate(outputs, policies=policies, evals=evals, baseline=baseline,
                                                   allow_unmatched=True)), args.repeat)
    last = result[-1]
    return {**m, "cold_s": cold, "verdict": last.verdict.value, "results": len(last.report.results),
            "warnings": len(last.report.warnings), "first_verdict": first.verdict.value, "harness": harness.__file__}


def child_audit(args: argparse.Namespace) -> dict[str, Any]:
    from harness.api import build_audit_report, render_audit
    from harness.release import decision_log

    log, reports = Path(args.log), Path(args.reports)
    rss_start = maxrss_mb()
    out: dict[str, Any] = {"rss_after_imports_mb": rss_start}
    out["verify"] = measure(lambda: decision_log.verify_log(log), args.repeat)
    out["rss_after_verify_mb"] = maxrss_mb()
    built: list[Any] = []
    out["build"] = measure(lambda: built.append(build_audit_report(
        policies=ROOT / "policies", evals=ROOT / "evals", incidents=ROOT / "incidents", decision_log=log,
        reports_dir=reports)), args.repeat)
    report = built[-1]
    del built[:-1]
    out["rss_after_build_mb"] = maxrss_mb()
    sizes = {}
    for fmt in ("html", "markdown", "json"):
        text: list[str] = []
        out[fmt] = measure(lambda fmt=fmt, text=text: text.append(render_audit(report, fmt)), args.repeat)
        sizes[fmt] = len(text[-1].encode("utf-8"))
        del text[:]
    out["sizes"] = sizes
    out["summary"] = {k: report.summary[k] for k in ("log_entries", "gate_decisions", "chain", "signature",
                                                     "policy_diff")}
    out["rss_peak_mb"] = maxrss_mb()
    return out


# ----------------------------------------------------------------------------------------------------------------
# sections (in this process unless said otherwise)

def section_gate(args: argparse.Namespace, work: Path, rows: list[dict[str, Any]], info: dict[str, Any]) -> None:
    big = work / "gate-outputs.jsonl"
    if not big.exists():
        sys.path.insert(1, str(ROOT / "benchmarks"))
        from gate_throughput import generate

        generate(big, args.gate_records, 7)
    trees = [("old", Path(args.old))] if args.old and Path(args.old, "harness").is_dir() else []
    if not trees:
        info["gate_note"] = f"no old tree at {args.old}: the gate is compared with nothing"
    trees.append(("new", ROOT))
    for label, extra in (("acme-support-1.2.0 (54 outputs, baseline 1.0.0)", []),
                         (f"{args.gate_records:,} synthetic outputs", ["--outputs", str(big)])):
        found = {}
        for name, root in trees:
            found[name] = child("gate", ["--repeat", str(args.repeat), *extra], root=root)
            progress(f"gate {label} {name}: {found[name]['s']:.3f} s (verdict {found[name]['verdict']},"
                     f" {found[name]['results']} results)")
        old = found.get("old")
        for name, m in found.items():
            if name == "old" and len(found) > 1:
                continue
            rows.append(row("gate", f"run_gate, {label}", m, "same, tree at --old" if old else "-", old,
                            f"cold first call {m['cold_s']:.2f} s" + (f" (old {old['cold_s']:.2f} s)" if old else "")))
        info.setdefault("gate", {})[label] = found


def section_policy_test(args: argparse.Namespace, work: Path, rows: list[dict[str, Any]], info: dict[str, Any]
                        ) -> None:
    from harness.api.policy_tests import run_policy_tests
    from harness.project import inspect_project

    synthetic = work / "policy-test" / "policies"
    if not synthetic.exists():
        policies_folder(synthetic, args.policies)
    for label, folder in (("shipped policies", ROOT / "policies"),
                          (f"{args.policies} policies x 5 rules x 4 examples", synthetic)):
        base = measure(lambda folder=folder: inspect_project(folder, None), args.repeat)
        reports: list[Any] = []
        m = measure(lambda folder=folder, reports=reports: reports.append(run_policy_tests(policies_dir=folder)),
                    args.repeat)
        report = reports[-1]
        examples = sum(len(p.examples) for p in report.policies)
        rows.append(row("policy-test", f"run_policy_tests, {label}", m, "inspect_project (load only)", base,
                        f"{len(report.policies)} policies, {examples} examples, ok={report.ok}"))
        progress(f"policy-test {label}: {m['s']:.3f} s vs load {base['s']:.3f} s")


def section_governance(args: argparse.Namespace, work: Path, rows: list[dict[str, Any]], info: dict[str, Any]
                       ) -> None:
    from harness.api import check_since, policy_diff, policy_history
    from harness.project import inspect_project

    repo = work / "governance"
    if not repo.exists():
        t0 = time.perf_counter()
        governance_repo(repo, args.policies, args.commits)
        info["governance_repo_s"] = round(time.perf_counter() - t0, 2)
    policies = repo / "policies"
    first = subprocess.run(["git", "-C", str(repo), "rev-list", "--max-parents=0", "HEAD"], capture_output=True,
                           text=True, check=True).stdout.strip()
    base = measure(lambda: inspect_project(policies, None), args.repeat)
    what = f"{args.policies} policies, {args.commits} commits"
    found: list[Any] = []
    m = measure(lambda: found.append(check_since(policies, first)), args.repeat)
    rows.append(row("governance", f"check_since(first commit), {what}", m, "loading the policies once", base,
                    f"{len(found[-1].errors)} errors"))
    diffs: list[Any] = []
    m = measure(lambda: diffs.append(policy_diff(policies, first)), args.repeat)
    rows.append(row("governance", f"policy_diff(first commit, worktree), {what}", m, "loading the policies once",
                    base, f"{len(diffs[-1].changes)} changes"))
    m = measure(lambda: policy_diff(policies, first, "HEAD"), args.repeat)
    rows.append(row("governance", f"policy_diff(first commit, HEAD), {what}", m, "loading the policies once", base))
    progress(f"governance: diff {m['s']:.3f} s vs load {base['s']:.3f} s")

    hist = work / "history"
    if not hist.exists():
        history_repo(hist, args.history)
    hpol = hist / "policies"
    log_cmd = ["git", "-C", str(hist), "log", "--format=%H%x00%an%x00%ae%x00%aI%x00%s", "--",
               "policies/bench/p0000.yaml"]
    git_log = measure(lambda: subprocess.run(log_cmd, capture_output=True, check=True), args.repeat)
    histories: list[Any] = []
    m = measure(lambda: histories.append(policy_history(hpol, "bench.p0000")), args.repeat)
    rows.append(row("governance", f"policy_history, a policy with {args.history} commits", m,
                    "git log of its file", git_log, f"{len(histories[-1].versions)} versions"))
    progress(f"governance: history {m['s']:.3f} s vs git log {git_log['s']:.3f} s")


def _kept_report(work: Path) -> tuple[dict[str, str], str, Path]:
    """A real gate report kept under its sha256 (what the log's failing decisions point at), and its policy files."""
    from harness.api import run_gate
    from harness.report.store import store_report

    reports = work / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    result = run_gate(ROOT / "examples/outputs/acme-support-1.2.0.jsonl", policies=ROOT / "policies",
                      evals=ROOT / "evals", baseline=ROOT / "examples/outputs/acme-support-1.0.0.jsonl")
    stored = store_report(result.report, reports)
    return {p.path: p.sha256 for p in result.report.run.policies}, stored.sha256, reports


def section_audit(args: argparse.Namespace, work: Path, rows: list[dict[str, Any]], info: dict[str, Any]) -> None:
    files, sha, reports = _kept_report(work)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    for n in args.audit_entries:
        log = work / f"audit-{n}.jsonl"
        if not log.exists():
            write_log(log, n, policy_sha256=files, report_sha256=sha, commit=commit, promote_every=50)
        out = child("audit", ["--log", str(log), "--reports", str(reports), "--repeat", str(args.repeat)],
                    timeout=3600)
        info.setdefault("audit", {})[n] = out
        base = out["verify"]
        mb = log.stat().st_size / 2**20
        rows.append(row("audit", f"build_audit_report, log of {n:,} entries ({mb:.0f} MB)", out["build"],
                        "chain check (log verify)", base,
                        f"peak RSS {out['rss_after_build_mb']:.0f} MB (after verify {out['rss_after_verify_mb']:.0f})"))
        for fmt in ("html", "markdown", "json"):
            rows.append(row("audit", f"render {fmt}, log of {n:,} entries", out[fmt], "chain check (log verify)", base,
                            f"{out['sizes'][fmt] / 2**20:.1f} MB of {fmt}"))
        progress(f"audit {n}: build {out['build']['s']:.2f} s, verify {base['s']:.2f} s,"
                 f" peak {out['rss_peak_mb']:.0f} MB")
        info.setdefault("audit_peak_mb", {})[n] = out["rss_peak_mb"]


def section_ci(args: argparse.Namespace, work: Path, rows: list[dict[str, Any]], info: dict[str, Any]) -> None:
    from harness.api import run_scan
    from harness.report import render

    folder = work / "ci" / "policies"
    outputs = work / "ci" / "outputs.jsonl"
    if not folder.exists():
        (folder / "bench").mkdir(parents=True)
        shutil.copy(PLAYBOOK, folder / "playbook.yaml")
        (folder / "bench" / "marker.yaml").write_text(
            "id: bench.no-marker\nversion: 1.0.0\ntitle: No marker\nseverity: sev3\non_fail: block\n"
            "owner: governance-lead@example.com\nstatus: active\nrules:\n  - id: no-marker\n    check: regex\n"
            "    pattern: '\\bBADMARKER\\b'\n    must: not_match\n    message: The marker was found.\nmax_failures: 0\n"
            "examples:\n  pass: ['a plain answer']\n  fail: ['a BADMARKER answer']\n", encoding="utf-8")
        with open(outputs, "w", encoding="utf-8") as handle:
            for i in range(args.ci_results + args.ci_results // 20):
                text = (f"Order A-{10000 + i % 90000} shipped on Monday." +
                        (" BADMARKER <script>alert(1)</script> ::error::x" if i % 21 else ""))
                handle.write(json.dumps({"case_id": f"c-{i:07d}", "output": text, "model": "m",
                                         "model_version": "1.0.0"}) + "\n")
    t0 = time.perf_counter()
    report = run_scan(outputs, policies=folder, evals=None).report  # not timed: most of it is masking each result
    info["ci_scan_s"] = round(time.perf_counter() - t0, 2)
    base = measure(lambda: render(report, "json"), args.repeat)
    for fmt in ("github", "sarif"):
        size = len(render(report, fmt))
        m = measure(lambda fmt=fmt: render(report, fmt), args.repeat)
        rows.append(row("ci", f"render {fmt}, {len(report.results):,} failing results", m, "render json", base,
                        f"{size / 2**20:.1f} MB"))
        progress(f"ci {fmt}: {m['s']:.3f} s vs json {base['s']:.3f} s")


def section_signing(args: argparse.Namespace, work: Path, rows: list[dict[str, Any]], info: dict[str, Any]) -> None:
    from harness.api import verify_decision_log, verify_decision_log_signatures
    from harness.api.release import DecisionLog
    from harness.release import decision_log, signing

    policies = work / "signing" / "policies"
    keys = work / "signing-keys"  # outside the policy repository
    private = keys / "release.pem"
    if not policies.exists():
        policies.mkdir(parents=True)
        keys.mkdir(parents=True)
        shutil.copy(PLAYBOOK, policies / "playbook.yaml")
        signing.generate_key_pair(private, policies / signing.PUBLIC_KEY, policies_dir=policies)
    env = {signing.ENV_KEY: private.read_text(encoding="ascii")}
    files = {"policies/privacy/pii.yaml": ZERO_SHA}
    logs = work / "signing" / "logs"
    logs.mkdir(exist_ok=True)
    counter = iter(range(10**9))

    def appends(environ: dict[str, str]) -> Callable[[], None]:
        def run() -> None:
            path = logs / f"append-{next(counter)}.jsonl"
            log = DecisionLog(path, actor="ci@example.com", policies_dir=policies, environ=environ)
            for i in range(args.appends):
                log(gate_entry(i, files, ZERO_SHA, commit=""))
        return run

    plain = measure(appends({}), args.repeat)
    signed = measure(appends(env), args.repeat)
    rows.append(row("signing", f"{args.appends:,} appends, unsigned", plain, "-", None,
                    f"{plain['s'] / args.appends * 1000:.2f} ms per append"))
    rows.append(row("signing", f"{args.appends:,} appends, signed (Ed25519)", signed, "unsigned appends", plain,
                    f"{signed['s'] / args.appends * 1000:.2f} ms per append"))
    progress(f"signing appends: {signed['s']:.2f} s vs {plain['s']:.2f} s")

    signer = signing.configured_signer(policies, environ=env)
    assert signer is not None
    unsigned_log = write_log(logs / "verify-unsigned.jsonl", args.verify_entries, policy_sha256=files)
    signed_log = write_log(logs / "verify-signed.jsonl", args.verify_entries, policy_sha256=files, signer=signer)
    chain = measure(lambda: verify_decision_log(unsigned_log), args.repeat)
    m = measure(lambda: verify_decision_log_signatures(signed_log, policies_dir=policies), args.repeat)
    rows.append(row("signing", f"verify signed log, {args.verify_entries:,} entries", m,
                    "chain check, unsigned log", chain))
    progress(f"signing verify: chain {chain['s']:.2f} s")

    # one append at the end of a long log vs at the start of an empty one (the tail read, the line count)
    long_log = logs / "long.jsonl"
    shutil.copy(unsigned_log, long_log)
    shutil.copy(decision_log.head_path(unsigned_log), decision_log.head_path(long_log))
    short_log = logs / "short.jsonl"
    entry = gate_entry(1, files, ZERO_SHA, commit="")
    short = measure(lambda: decision_log.append_entry(short_log, entry), max(args.repeat, 5))
    long = measure(lambda: decision_log.append_entry(long_log, entry), max(args.repeat, 5))
    rows.append(row("signing", f"one append to a log of {args.verify_entries:,} entries", long,
                    "one append to a short log", short))


def progress(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------------------

def print_table(rows: list[dict[str, Any]], info: dict[str, Any], args: argparse.Namespace) -> None:
    header = ("section", "what", "median s", "(cpu s)", "n", "baseline", "base s", "ratio", "(cpu)", "note")
    body = [(r["section"], r["what"], f"{r['s']:.3f}", f"{r['cpu_s']:.3f}",
             str(r["n"]) + ("" if r["base_n"] in (None, r["n"]) else f"/{r['base_n']}"), r["baseline"],
             "-" if r["baseline_s"] is None else f"{r['baseline_s']:.3f}",
             "-" if r["ratio"] is None else f"{r['ratio']:.2f}x",
             "-" if r["cpu_ratio"] is None else f"{r['cpu_ratio']:.2f}x", r["note"]) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for b in body:
        print("  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)).rstrip())
    print(f"medians of n runs (up to {args.repeat}; at least {MIN_RUNS}, fewer than {args.repeat} only when a"
          f" figure's runs passed {BUDGET:g} s; n/m: m runs of the baseline); ratio = median / baseline median,"
          " measured in the same run (cpu: the same with CPU seconds)")
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; load average at start"
          f" {info['load_start']}, at end {info['load_end']}")
    for key in ("bytecode", "gate_note", "ci_scan_s", "governance_repo_s"):
        if key in info:
            print(f"{key}: {info[key]}")


def main(argv: list[str] | None = None) -> int:
    global BUDGET
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes / 10 and 3 runs: a smoke run")
    parser.add_argument("--repeat", type=int, default=None, help="runs per figure (default 5, 3 with --quick)")
    parser.add_argument("--old", default="/tmp/old9", help="an older checkout to compare the gate with")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--workdir", type=Path, default=None, help="keep the synthetic data here (reused)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work dir")
    parser.add_argument("--budget", type=float, default=BUDGET,
                        help=f"seconds one figure may take before stopping at {MIN_RUNS} runs (default %(default)s)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    # child processes
    parser.add_argument("--child", choices=("gate", "audit"), help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--outputs", help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--reports", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 3 if args.quick else 5
    BUDGET = args.budget
    if args.child:
        out = child_gate(args) if args.child == "gate" else child_audit(args)
        print(json.dumps(out))
        return 0
    scale = 10 if args.quick else 1
    args.gate_records = 50_000 // scale
    args.policies = 200 // scale
    args.commits = 50 // (5 if args.quick else 1)
    args.history = 500 // scale
    args.audit_entries = [10_000 // scale, 100_000 // scale]
    args.ci_results = 100_000 // scale
    args.appends = 1_000 // scale
    args.verify_entries = 100_000 // scale

    info: dict[str, Any] = {"load_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
                            "bytecode": "; ".join(f"{root}: {bench_env.compile_tree(Path(root))}"
                                                  for root in (ROOT, args.old) if Path(root, "harness").is_dir())}
    rows: list[dict[str, Any]] = []
    sections = {"gate": section_gate, "policy-test": section_policy_test, "governance": section_governance,
                "audit": section_audit, "ci": section_ci, "signing": section_signing}
    with workdir(args) as work:
        for name in SECTIONS:
            if name in args.only:
                start = time.perf_counter()
                sections[name](args, work, rows, info)
                info.setdefault("section_s", {})[name] = round(time.perf_counter() - start, 1)
    info["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.format == "json":
        print(json.dumps({"rows": rows, "info": info, "repeat": args.repeat}, indent=2, default=str))
    else:
        print_table(rows, info, args)
        print("seconds per section: " + ", ".join(f"{k} {v}" for k, v in info["section_s"].items()))
    return 0


@contextlib.contextmanager
def workdir(args: argparse.Namespace) -> Iterator[Path]:
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        yield args.workdir
        return
    path = Path(tempfile.mkdtemp(prefix="tools_speed-"))
    try:
        yield path
    finally:
        if args.keep:
            print(f"work dir kept: {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
