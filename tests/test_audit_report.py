"""``harness audit``: the report an auditor reads, on a copy of the shipped repository with a real decision log."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.api.audit import build_audit_report
from harness.audit import render
from harness.cli import main
from harness.clock import FixedClock

ROOT = Path(__file__).resolve().parents[1]
MODEL = "acme-support-assistant"
NOW = "2026-12-05T09:30:00Z"
HOSTILE = "<script>window.__pwned=1</script> | `tick` *bold* [link](http://x) @everyone"
KEYS = ["audit_version", "generated_at", "repository", "summary", "catalogue", "traceability", "uncaptured",
        "coverage", "waivers", "history", "policy_diff"]


def _gate(version: str, clock: FixedClock, *extra: str) -> int:
    return main(["gate", "--outputs", f"examples/outputs/acme-support-{version}.jsonl", "--baseline",
                 "examples/outputs/acme-support-1.0.0.jsonl", "--model", MODEL, "--model-version", version,
                 "--today", "2026-11-27", "--backdate", "--color", "never", *extra], clock=clock)


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped repository after two promotions (1.0.0, 1.1.0) and a blocked candidate (1.2.1)."""
    root = tmp_path_factory.mktemp("released")
    for name in ("policies", "evals", "incidents", "examples"):
        shutil.copytree(ROOT / name, root / name)
    clock = FixedClock("2026-12-01T09:00:00Z", step=__import__("datetime").timedelta(seconds=1))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("GITHUB_ACTOR", "ci-bot")
        for name in ("HARNESS_SIGNING_KEY", "HARNESS_SIGNING_KEY_FILE"):
            mp.delenv(name, raising=False)
        assert _gate("1.0.0", clock, "--promote") == 0
        assert _gate("1.1.0", clock, "--promote") == 0
        assert _gate("1.2.1", clock, "--promote") == 1
    return root


@pytest.fixture
def repo(released: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the released repository as the working directory."""
    work = tmp_path / "repo"
    shutil.copytree(released, work)
    monkeypatch.chdir(work)
    yield work


def plant(repo: Path, **fields: str) -> None:
    """Hostile text in the record of INC-2026-0007 (the incident whose lesson is not captured)."""
    path = repo / "incidents/INC-2026-0007.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(fields)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def audit(*args: str, now: str = NOW) -> int:
    return main(["audit", *args], clock=FixedClock(now))


def audit_json(capsys: pytest.CaptureFixture[str], *args: str, now: str = NOW) -> dict:
    assert audit("--format", "json", *args, now=now) == 0
    return json.loads(capsys.readouterr().out)


def test_the_json_document_has_every_section_and_the_exact_figures(repo, capsys):
    data = audit_json(capsys)
    assert list(data) == KEYS
    assert data["audit_version"] == 1 and data["generated_at"] == "2026-12-05T09:30:00.000Z"
    summary = data["summary"]
    assert {k: summary[k] for k in ("policies", "suites", "incidents", "incidents_without_lesson", "log_entries",
                                    "gate_decisions", "promotions", "rollbacks", "waivers_active",
                                    "waivers_expired", "chain", "signature", "policy_diff")} == {
        "policies": 11, "suites": 6, "incidents": 7, "incidents_without_lesson": 1, "log_entries": 11,
        "gate_decisions": 3, "promotions": 2, "rollbacks": 0, "waivers_active": 1, "waivers_expired": 0,
        "chain": "intact", "signature": "unsigned", "policy_diff": "no commit"}
    assert data["uncaptured"] == ["INC-2026-0007"]
    waiver = data["waivers"][0]
    assert (waiver["status"], waiver["ticket"], waiver["approver"], waiver["expires"]) == (
        "active", "ACME-2291", "governance-lead@example.com", "2027-03-31")
    assert data["history"]["chain"]["status"] == "intact" and data["history"]["chain"]["entries"] == 11
    assert data["history"]["counts"] == {"alias_move": 4, "gate": 3, "promotion": 2, "waiver": 2}
    kinds = [(e["seq"], e["kind"], e["model_version"], e["verdict"]) for e in data["history"]["entries"]]
    assert kinds == [(1, "gate", "1.0.0", "promote"), (4, "promotion", "1.0.0", "promote"),
                     (5, "gate", "1.1.0", "promote"), (9, "promotion", "1.1.0", "promote"),
                     (10, "gate", "1.2.1", "block")]
    blocked = data["history"]["entries"][-1]
    assert "fairness.refusal-parity 1.0.0" in blocked["failed"] and blocked["report_note"] is None
    assert any(r.startswith("fairness.refusal-parity/answers-eligible-questions on parity-refund-female")
               for r in blocked["results"])
    assert data["policy_diff"]["since_seq"] == 9 and data["policy_diff"]["since_version"] == "1.1.0"


def test_the_traceability_matrix_links_incidents_to_policies_suites_and_the_decisions_that_used_them(repo, capsys):
    data = audit_json(capsys, "--recent", "2")
    rows = {row["incident"]["id"]: row for row in data["traceability"]}
    assert sorted(rows) == [f"INC-2026-000{i}" for i in range(1, 8)]
    first = rows["INC-2026-0001"]
    assert first["captured"] and first["incident"]["severity"] == "sev1"
    assert [p["id"] for p in first["policies"]] == ["privacy.no-pii", "quality.record-provenance"]
    assert [s["id"] for s in first["suites"]] == ["inc-2026-0001-pii-echo"]
    pii = first["policies"][0]
    assert pii["file"] == "policies/privacy/pii.yaml" and pii["decisions_total"] == 3
    assert [(d["seq"], d["model_version"], d["verdict"], d["current"]) for d in pii["decisions"]] == [
        (10, "1.2.1", "block", True), (5, "1.1.0", "promote", True)]
    assert rows["INC-2026-0007"]["captured"] is False and rows["INC-2026-0007"]["policies"] == []


def test_a_policy_edited_after_the_decisions_shows_them_as_an_earlier_version(repo):
    path = repo / "policies/privacy/pii.yaml"
    path.write_text(path.read_text() + "# reviewed\n")
    report = build_audit_report(clock=FixedClock(NOW))  # the library call the command is a face over
    pii = next(p for row in report.traceability for p in row.policies if p.id == "privacy.no-pii")
    assert [(d.seq, d.current) for d in pii.decisions] == [(10, False), (5, False), (1, False)]
    assert "`privacy.no-pii`: \\#10 2026-12-01T09:00:" in render(report, "markdown")
    assert "1.2.1: block (an earlier version)" in render(report, "markdown")


def test_sign_offs_show_valid_stale_and_none(repo, capsys):
    from harness.project.signoff import sign

    sign("policies", "policies/privacy/pii.yaml", "governance_lead", "governance-lead@example.com",
         FixedClock("2026-12-02T10:00:00Z"))
    sign("policies", "policies/safety/harmful-content.yaml", "governance_lead", "governance-lead@example.com",
         FixedClock("2026-12-02T10:05:00Z"))
    harmful = repo / "policies/safety/harmful-content.yaml"
    harmful.write_text(harmful.read_text() + "# edited after the sign-off\n")
    data = audit_json(capsys)
    states = {p["id"]: p["signoff"] for p in data["catalogue"]}
    assert states["privacy.no-pii"] == {"state": "valid", "role": "governance_lead",
                                        "by": "governance-lead@example.com", "at": "2026-12-02T10:00:00.000Z"}
    assert states["safety.no-harmful-content"]["state"] == "stale"
    assert states["quality.latency"] == {"state": "none", "role": None, "by": None, "at": None}


UNTESTED = """\
id: audit.untested
version: 1.0.0
title: A policy with no examples
severity: sev3
on_fail: warn
owner: governance-lead@example.com
rules:
  - {id: no-foo, check: regex, pattern: foo, must: not_match}
"""
HALF_COVERED = """\
id: audit.half-covered
version: 1.0.0
title: A policy whose examples leave a rule untested
severity: sev3
on_fail: warn
owner: governance-lead@example.com
rules:
  - {id: no-foo, check: regex, pattern: foo, must: not_match}
  - {id: no-bar, check: regex, pattern: bar, must: not_match}
examples:
  pass: [hello]
  fail: [foo]
"""


def test_coverage_lists_policies_without_examples_or_with_uncovered_rules(repo, capsys):
    (repo / "policies/extra").mkdir()
    (repo / "policies/extra/untested.yaml").write_text(UNTESTED)
    (repo / "policies/extra/half-covered.yaml").write_text(HALF_COVERED)
    coverage = audit_json(capsys)["coverage"]
    gaps = {g["policy"]: g for g in coverage["gaps"]}
    assert coverage["policies"] == 13
    assert gaps["audit.untested"] == {"policy": "audit.untested", "file": "policies/extra/untested.yaml",
                                      "examples": 0, "uncovered": ["no-foo"], "run_level": [], "failing": []}
    assert gaps["audit.half-covered"] == {"policy": "audit.half-covered", "file": "policies/extra/half-covered.yaml",
                                          "examples": 2, "uncovered": ["no-bar"], "run_level": [], "failing": []}
    assert "privacy.no-pii" not in gaps  # every rule caught by a fail example, every example behaves


def test_waivers_are_active_or_expired_by_the_clock(repo, capsys):
    later = audit_json(capsys, now="2027-04-01T00:00:00Z")
    assert later["waivers"][0]["status"] == "expired" and later["summary"]["waivers_expired"] == 1
    assert audit_json(capsys, "--today", "2026-11-01")["waivers"][0]["status"] == "not yet in force"


def test_markdown_has_the_sections_and_escapes_untrusted_text(repo, capsys):
    plant(repo, summary=HOSTILE, title="Latency | " + HOSTILE)
    assert audit() == 0
    out = capsys.readouterr().out
    headings = [line for line in out.splitlines() if line.startswith("## ")]
    assert headings == ["## 1. Policy catalogue",
                        "## 2. Traceability: incidents, their lessons and the gate decisions that used them",
                        "## 3. Incidents with no captured lesson",
                        "## 4. Policies with no examples or uncovered rules", "## 5. Waivers",
                        "## 6. Release history and the decision log",
                        "## 7. Policy changes since the last promoted release"]
    assert "<script>" not in out and "@everyone" not in out
    row = next(line for line in out.splitlines() if line.startswith("| `INC-2026-0007` | sev3 | resolved | 2026"))
    assert ("&lt;script&gt;window.\\_\\_pwned=1&lt;/script&gt; \\| \\`tick\\` \\*bold\\* \\[link\\](http://x)"
            " &#64;everyone") in row
    assert len(re.split(r"(?<!\\)\|", row)) == 8  # six cells: no pipe of the text split the row
    assert ("**Hash chain intact: 11 entries in audit/decisions.jsonl. Signatures: intact chain, unsigned (11 entries;"
            " no release key at policies/release-key.pub).**") in out


def test_html_is_one_self_contained_page_with_everything_escaped(repo, capsys):
    plant(repo, summary=HOSTILE)
    assert audit("--format", "html", "--output", "report.html") == 0
    page = (repo / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert ("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src &#x27;none&#x27;; style-src"
            " &#x27;unsafe-inline&#x27;") in page
    assert "<script" not in page and "src=" not in page and "http://x" in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
    assert "wrote the audit report (html) to report.html" in capsys.readouterr().out


def test_a_broken_chain_is_reported_as_broken_at_its_line(repo, capsys):
    log = repo / "audit/decisions.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    lines[4] = lines[4].replace('"verdict":"promote"', '"verdict":"block"')
    log.write_text("".join(lines))
    assert audit("--format", "json") == 0  # a broken chain is a finding of the report, not a failure to make it
    captured = capsys.readouterr()
    assert "warning: the decision log's hash chain is broken at line 5" in captured.err
    data = json.loads(captured.out)
    chain = data["history"]["chain"]
    assert (chain["status"], chain["broken_at"], chain["entries"]) == ("broken", 5, 4)
    assert chain["problem"] == "hash mismatch: the entry was edited after it was written"
    assert [e["seq"] for e in data["history"]["entries"]] == [1, 4]
    assert data["summary"]["chain"] == "broken"
    assert audit() == 0
    assert "**Hash chain BROKEN at line 5 of audit/decisions.jsonl: hash mismatch" in capsys.readouterr().out


def test_no_log_no_promotion(repo, capsys):
    shutil.rmtree(repo / "audit")
    data = audit_json(capsys)
    assert data["history"]["chain"]["status"] == "missing" and data["history"]["entries"] == []
    assert data["policy_diff"]["status"] == "no promotion"
    assert data["traceability"][0]["policies"][0]["decisions"] == []


def test_output_never_replaces_an_input_or_a_record(repo, capsys):
    log = (repo / "audit/decisions.jsonl").read_bytes()
    assert audit("--output", "audit/decisions.jsonl") == 4
    assert "is the decision log" in capsys.readouterr().err
    assert audit("--output", "audit/decisions.jsonl.head") == 4
    assert audit("--output", "incidents/report.md") == 4
    assert "inside the --incidents directory" in capsys.readouterr().err
    assert (repo / "audit/decisions.jsonl").read_bytes() == log
    assert not (repo / "incidents/report.md").exists()


def test_a_repository_that_does_not_load_is_invalid_input(repo, capsys):
    (repo / "policies/privacy/pii.yaml").write_text("id: privacy.no-pii\nversion: [\n")
    assert audit() == 4
    err = capsys.readouterr().err
    assert err == ("policies/privacy/pii.yaml:3:1: invalid YAML: did not find expected node content\n"
                   "harness: invalid input (exit 4)\n")


def test_a_decision_log_that_cannot_be_read_is_an_environment_error(repo, capsys):
    assert audit("--decision-log", "audit/reports") == 6
    assert "the decision log is a directory" in capsys.readouterr().err


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=Auditor", "-c", "user.email=auditor@example.com", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_the_policy_diff_since_the_last_promotion_comes_from_git(tmp_path, monkeypatch, capsys):
    for name in ("policies", "evals", "incidents", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    (tmp_path / ".gitignore").write_text("/audit/\n")
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "policies as released")
    released = _git(tmp_path, "rev-parse", "HEAD")
    data = audit_json(capsys)
    assert data["policy_diff"]["status"] == "no promotion"
    assert data["repository"]["commit"] == released
    assert _gate("1.1.0", FixedClock("2026-12-01T09:00:00Z"), "--promote") == 0
    capsys.readouterr()
    (tmp_path / "policies/extra").mkdir()
    (tmp_path / "policies/extra/untested.yaml").write_text(UNTESTED)
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "a new policy")
    data = audit_json(capsys)
    diff = data["policy_diff"]
    assert (diff["status"], diff["commit"], diff["since_version"]) == ("changes", released, "1.1.0")
    assert [(c["kind"], c["policy"]) for c in diff["diff"]["changes"]] == [("policy_added", "audit.untested")]
    assert diff["note"] == (f"1 change(s) from the policy commit {released[:12]} of the last promotion to the"
                            " working tree")
    assert "audit.untested" in diff["text"]


def test_no_git_or_an_unknown_promoted_commit_is_said_in_the_section(repo, capsys):
    from harness.release.decision_log import append_entry

    log = repo / "promotions.jsonl"
    append_entry(log, {"kind": "promotion", "actor": "ci-bot", "model": MODEL, "model_version": "1.1.0",
                       "verdict": "promote", "policy_commit": "0123456789abcdef" * 2 + "01234567-dirty",
                       "details": {"alias": "champion", "from": "1.0.0"}}, clock=FixedClock(NOW))
    diff = audit_json(capsys, "--decision-log", str(log))["policy_diff"]
    assert (diff["status"], diff["commit"], diff["diff"]) == ("no git", "0123456789abcdef" * 2 + "01234567", None)
    assert diff["note"].startswith("policies: not in a git repository")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "nothing yet")
    diff = audit_json(capsys, "--decision-log", str(log))["policy_diff"]
    assert diff["status"] == "unknown commit" and "0123456789abcdef" in diff["note"]


PERSONAL = "jane.doe@example.com, +1 415-555-0134, card 4111 1111 1111 1111"
INJECTED = "<img src=x onerror=alert(1)>|`x`[a](javascript:alert(1))\n::error::forged"


def _blocked_sha(repo: Path) -> str:
    entries = [json.loads(line) for line in (repo / "audit/decisions.jsonl").read_text().splitlines()]
    return next(e["report_sha256"] for e in entries if e["kind"] == "gate" and e["verdict"] == "block")


@pytest.fixture
def deadline() -> Iterator[None]:
    """A test that would block forever on a FIFO or /dev/zero fails after 60 s instead."""
    import signal

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError("the audit blocked on a kept report")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_a_kept_report_that_is_not_a_regular_file_is_named_never_waited_on(repo, capsys, deadline, kind):
    import os

    sha = _blocked_sha(repo)
    kept = repo / f"audit/reports/{sha}.json"
    kept.unlink()
    {"fifo": lambda: os.mkfifo(kept), "dev-zero": lambda: kept.symlink_to("/dev/zero"),
     "directory": kept.mkdir}[kind]()
    blocked = audit_json(capsys)["history"]["entries"][-1]
    assert (blocked["failed"], blocked["results"]) == ([], [])
    assert blocked["report_note"] == (f"the kept report {sha[:12]} could not be read: the stored report is not a"
                                      " regular file (a FIFO, a device or a directory)")


def test_a_decision_log_that_is_a_fifo_is_an_environment_error(repo, capsys, deadline):
    import os

    os.mkfifo(repo / "log.fifo")
    assert audit("--decision-log", "log.fifo") == 6
    assert capsys.readouterr().err == ("harness: log.fifo: the decision log is not a regular file (a FIFO, a device"
                                       " or a socket); expected a JSON Lines file\nharness: the environment failed"
                                       " (exit 6)\n")


def test_what_a_forged_log_line_carries_is_masked_inert_and_never_read_outside_its_place(repo, capsys, deadline):
    """Anyone who can write the log can recompute its chain: its actor, model, version, verdict, reasons and the
    kept report it names are untrusted. Only an address the policy files name is kept as written."""
    from harness.release.decision_log import append_entry

    log, clock = repo / "audit/decisions.jsonl", FixedClock("2026-12-02T00:00:00Z")
    append_entry(log, {"kind": "gate", "actor": "jane.doe@example.com", "model": INJECTED + PERSONAL,
                       "model_version": PERSONAL, "verdict": "block", "report_sha256": "../../../etc/passwd",
                       "details": {"reasons": [INJECTED + " " + PERSONAL]}}, clock=clock)
    append_entry(log, {"kind": "gate", "actor": "governance-lead@example.com", "model": MODEL,
                       "model_version": "9.9.9", "verdict": "block", "report_sha256": "a" * 64,
                       "report": "/dev/\0x/report.json"}, clock=clock)
    data = audit_json(capsys)
    forged, kept_path = data["history"]["entries"][-2:]
    assert forged["actor"] == "j***@example.com"  # not an owner, approver or signer of the policy files
    assert kept_path["actor"] == "governance-lead@example.com"  # the waiver's approver: kept as written
    assert forged["model_version"] == "j***@example.com, ***-***-**34, card **** **** **** 1111"
    assert forged["report_note"] == ("the decision names its kept report '../../../etc/passwd': expected a sha256 (64"
                                     " lowercase hex digits)")
    assert kept_path["report_note"] == (f"the kept report {'a' * 12} could not be read: cannot read the stored"
                                        " report: embedded null byte")  # the log's folder, tried last
    for fmt in ("json", "markdown", "html"):
        assert audit("--format", fmt) == 0
        out = capsys.readouterr().out
        assert "jane.doe" not in out and "4111 1111 1111 1111" not in out and "555-0134" not in out
        assert not any(line.lstrip().startswith("::error::") for line in out.splitlines())  # no forged line
        assert fmt == "json" or "<img" not in out  # JSON holds the text as data; the renderers escape it
        if fmt == "markdown":
            row = next(line for line in out.splitlines() if line.startswith("| 12 |"))
            assert len(re.split(r"(?<!\\)\|", row)) == 11  # nine cells: no pipe of the text split the row
            assert "\\[a\\](javascript:alert(1))" in row  # brackets escaped: no link


def test_a_promoted_commit_that_looks_like_a_git_option_is_never_taken_as_one(repo, capsys):
    from harness.release.decision_log import append_entry

    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "nothing yet")
    log = repo / "promotions.jsonl"
    append_entry(log, {"kind": "promotion", "actor": "ci-bot", "model": MODEL, "model_version": "1.1.0",
                       "verdict": "promote", "policy_commit": f"--upload-pack=touch {repo / 'pwned'}",
                       "details": {"alias": "champion"}}, clock=FixedClock(NOW))
    diff = audit_json(capsys, "--decision-log", str(log))["policy_diff"]
    assert diff["status"] == "unknown commit" and diff["note"].startswith("revision '--upload-pack=touch ")
    assert not (repo / "pwned").exists()
