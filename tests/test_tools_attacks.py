"""The seams of the engineer's and the auditor's tools: one command's output, or a record one command trusts,
crafted to fool another (sign-offs, reports, the decision log, ``--output`` paths)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import main
from harness.clock import FixedClock
from harness.errors import InputError
from harness.io.files import sha256_file
from harness.project.signoff import read_signoffs, sign, valid_signoff

ROOT = Path(__file__).resolve().parents[1]
NOW = "2026-12-05T09:30:00Z"
MODEL = "acme-support-assistant"
PERSONAL = "jane.doe@example.com"
HOSTILE = f"\x1b]0;pwn\x07 \u202e {PERSONAL}"


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


def _copy(root: Path) -> Path:
    for name in ("policies", "evals", "incidents", "examples"):
        shutil.copytree(ROOT / name, root / name)
    return root


# --- sign-offs -------------------------------------------------------------------------------------------------


def test_a_signoffs_file_that_is_a_symbolic_link_approves_nothing_and_is_never_written_through(tmp_path):
    """git keeps the link, not the sign-offs it leads to: a link to a file outside the repository made a loosened
    sev1 policy pass ``validate --since`` locally, and ``signoff`` wrote the new entry outside the repository."""
    repo = _copy(tmp_path / "repo")
    policies, pii = repo / "policies", repo / "policies/privacy/pii.yaml"
    forged = tmp_path / "elsewhere.yaml"
    forged.write_text(f"signoffs:\n  - {{file: policies/privacy/pii.yaml, sha256: {sha256_file(pii)},"
                      " role: governance_lead, by: governance-lead@example.com, at: '2026-12-01T10:00:00Z'}\n")
    before = forged.read_bytes()
    (policies / "signoffs.yaml").unlink()
    (policies / "signoffs.yaml").symlink_to(forged)

    message = (f"policies/signoffs.yaml: a symbolic link (to {forged}); git keeps the link, not the sign-offs it"
               " leads to: make it a regular file")
    with pytest.raises(InputError) as raised:
        read_signoffs(policies)
    assert str(raised.value).endswith(message)
    with pytest.raises(InputError):  # as for a signoffs.yaml that does not read: reported, never taken as valid
        valid_signoff(policies, pii, "governance_lead")
    with pytest.raises(InputError):
        sign(policies, pii, "governance_lead", "governance-lead@example.com", FixedClock(NOW))
    assert forged.read_bytes() == before and (policies / "signoffs.yaml").is_symlink()


# --- --output of the new commands -----------------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = _copy(tmp_path / "repo")
    monkeypatch.chdir(root)
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    for name in ("HARNESS_SIGNING_KEY", "HARNESS_SIGNING_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    return root


def test_policy_test_output_never_replaces_a_suite_an_incident_or_the_signing_key(workdir, tmp_path, capsys,
                                                                                  monkeypatch):
    """``policy test --output`` guarded only the policies folder and the release records: it replaced an eval
    suite, an incident record or its events, and the release's private key, with its text report."""
    key = tmp_path / "release.pem"
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot really\n-----END PRIVATE KEY-----\n")
    key.chmod(0o600)
    monkeypatch.setenv("HARNESS_SIGNING_KEY_FILE", str(key))
    expected = {
        "evals/privacy/pii-echo.yaml": "--output evals/privacy/pii-echo.yaml is inside the --evals directory evals:"
                                       " the report could replace a record or be read as one; write it elsewhere",
        "incidents/INC-2026-0001.events.jsonl": "--output incidents/INC-2026-0001.events.jsonl is inside the"
                                                " --incidents directory incidents: the report could replace a"
                                                " record or be read as one; write it elsewhere",
        str(key): f"--output {key} is the release signing key ($HARNESS_SIGNING_KEY_FILE): the report would"
                  " replace it; name another file",
    }
    for target, message in expected.items():
        before = Path(target).read_bytes()
        assert main(["policy", "test", "--output", target]) == 4
        assert capsys.readouterr().err.splitlines()[0] == message
        assert Path(target).read_bytes() == before
    assert main(["policy", "test", "--output", str(tmp_path / "policy-test.txt")]) == 0  # elsewhere: written
    assert (tmp_path / "policy-test.txt").read_text().startswith("fairness.refusal-parity 1.0.0")


@pytest.mark.parametrize(("args", "message"), [
    (["suite", "foo-bar", "--output", "policies/foo.yaml"],
     "--output policies/foo.yaml is inside the --policies directory policies: the suite could replace a record or"
     " be read as one; write it elsewhere"),
    (["policy", "privacy.zz", "--output", "evals/zz.yaml"],
     "--output evals/zz.yaml is inside the --evals directory evals: the policy could replace a record or be read"
     " as one; write it elsewhere"),
    (["policy", "privacy.zz", "--output", "incidents/INC-2026-0099.yaml"],
     "--output incidents/INC-2026-0099.yaml is inside the --incidents directory incidents: the policy could"
     " replace a record or be read as one; write it elsewhere"),
    (["suite", "foo-bar", "--output", "audit/reports/foo.json"],
     "--output audit/reports/foo.json is inside the stored reports directory audit/reports: the suite could"
     " replace a record or be read as one; write it elsewhere"),
])
def test_new_never_writes_a_skeleton_where_it_is_read_as_another_kind_of_record(workdir, capsys, args, message):
    """A suite written into the policies folder was then read as a broken policy (``validate`` failed, after
    ``new`` had said that validate would not read it); a policy among the incidents broke every incident command."""
    assert main(["new", *args]) == 4
    assert capsys.readouterr().err.splitlines()[0] == message
    assert not Path(args[-1]).exists()
    assert main(["validate"]) == 0


# --- a crafted report into `new case` ---------------------------------------------------------------------------


def test_new_case_masks_the_versions_a_crafted_report_names(workdir, capsys):
    """The notes said "the report judged <version>" with the report's text as it was: personal data unmasked in
    the text and the JSON output."""
    assert main(["gate", "--outputs", "examples/outputs/acme-support-1.2.0.jsonl", "--model", MODEL,
                 "--format", "json", "--output", "bad.json"], clock=FixedClock(NOW)) == 3
    report = json.loads(Path("bad.json").read_text())
    for policy in report["run"]["policies"]:
        policy["version"] = f"9.9.9 {HOSTILE}"
    report["run"]["outputs"]["path"] = f"gone/{PERSONAL}.jsonl"
    Path("crafted.json").write_text(json.dumps(report))
    capsys.readouterr()
    assert main(["new", "case", "--from-report", "crafted.json", "--format", "json"]) == 0
    out = capsys.readouterr().out
    notes = json.loads(out)["notes"]
    assert notes[0] == "the inputs are unknown: the outputs file gone/j***@example.com.jsonl is not there any more"
    # the escape's controls replaced, the text behind the right-to-left override masked as a reader sees it
    assert "privacy.no-pii is at version 1.2.0 now; the report judged 9.9.9 \ufffd]0;pwn\ufffd  m***@eod.enaj" \
        in notes
    Path("evals/regressions/" + Path(json.loads(out)["path"]).name).unlink()
    assert main(["new", "case", "--from-report", "crafted.json"]) == 0
    text = capsys.readouterr().out
    assert PERSONAL not in out + text and "\x1b" not in text and "\u202e" not in text


def test_policy_test_json_escapes_what_could_act_on_a_terminal(workdir, capsys):
    path = Path("policies/privacy/pii.yaml")
    path.write_text(path.read_text().replace('    - "You can reach our support team',
                                             '    - "Trojan \\u202e source"\n    - "You can reach our support team'))
    assert main(["policy", "test", "policies/privacy", "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert "\u202e" not in out and "Trojan \\u202e source" in out
    texts = [e["text"] for p in json.loads(out)["policies"] for e in p["examples"]]
    assert "Trojan \u202e source" in texts


# --- a forged decision in `policy history` and `audit` -------------------------------------------------------


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped repository in git with a committed, signed-off release key and one signed promotion."""
    from harness.release.signing import generate_key_pair

    base = tmp_path_factory.mktemp("signed")
    root, key = _copy(base / "repo"), base / "keys" / "release.pem"
    key.parent.mkdir()
    generate_key_pair(key, root / "policies/release-key.pub", policies_dir=root / "policies")
    sign(root / "policies", root / "policies/release-key.pub", "security_officer", "security-officer@example.com",
         FixedClock("2026-12-01T08:00:00Z"))
    _git(root, "init", "-q", "-b", "main")
    _git(root, "-c", "user.name=Release", "-c", "user.email=release@example.com", "add", "-A")
    _git(root, "-c", "user.name=Release", "-c", "user.email=release@example.com", "commit", "-q", "-m", "policies")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("GITHUB_ACTOR", "ci-bot")
        mp.setenv("HARNESS_SIGNING_KEY_FILE", str(key))
        assert main(["gate", "--outputs", "examples/outputs/acme-support-1.1.0.jsonl", "--baseline",
                     "examples/outputs/acme-support-1.0.0.jsonl", "--model", MODEL, "--model-version", "1.1.0",
                     "--promote"], clock=FixedClock("2026-12-01T09:00:00Z")) == 0
    return root


@pytest.fixture
def repo(signed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    work = tmp_path / "repo"
    shutil.copytree(signed, work, symlinks=True)
    monkeypatch.chdir(work)
    for name in ("HARNESS_SIGNING_KEY", "HARNESS_SIGNING_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    yield work


def _append_forged_promotion(log: Path, *, keep_signature: bool) -> int:
    """A gate decision for 6.6.6 appended with a recomputed hash and a rewritten head (anyone who can write
    the log can do this): the last gate's signature copied, or none."""
    from harness.release.decision_log import canonical, entry_hash, sha256_line

    entries = [json.loads(line) for line in log.read_text().splitlines()]
    forged = dict(next(e for e in reversed(entries) if e["kind"] == "gate"))
    forged.update(seq=entries[-1]["seq"] + 1, prev=sha256_line(entries[-1]), model_version="6.6.6",
                  verdict="promote", time="2026-12-02T00:00:00.000Z")
    del forged["hash"]
    if not keep_signature:
        del forged["sig"]
    forged["hash"] = entry_hash(forged)
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(canonical(forged) + "\n")
    log.with_name(log.name + ".head").write_text(json.dumps({"seq": forged["seq"], "hash": forged["hash"]}))
    return int(forged["seq"])


@pytest.mark.parametrize("keep_signature", [True, False])
def test_a_forged_decision_is_never_listed_as_one(repo, capsys, keep_signature):
    """``policy history`` listed a decision appended with a recomputed hash like any other; the audit listed it
    in the release history and as the latest decision of every policy, saying only in section 6 that a
    signature failed."""
    seq = _append_forged_promotion(repo / "audit/decisions.jsonl", keep_signature=keep_signature)
    why = (f"entry {seq}: bad signature (it does not verify with sha256:" if keep_signature else
           f"entry {seq} is unsigned, after signed entries (from entry 1)")
    assert main(["policy", "history", "privacy.no-pii"]) == 4
    assert capsys.readouterr().err.startswith(f"audit/decisions.jsonl:{seq}: {why}")

    assert main(["audit", "--format", "json"], clock=FixedClock(NOW)) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    chain = data["history"]["chain"]
    assert (chain["status"], chain["signature"], data["summary"]["signature"]) == ("intact", "invalid", "invalid")
    assert chain["signature_detail"].endswith(f"; only the {seq - 1} entries before entry {seq} are shown")
    assert "6.6.6" not in captured.out and [e["seq"] for e in data["history"]["entries"]][-1] < seq
    assert "harness: warning: the decision log's signatures cannot be trusted" in captured.err
    assert main(["audit", "--format", "html"], clock=FixedClock(NOW)) == 0
    assert '<p id="chain" class="bad" data-status="intact" data-signature="invalid">' in capsys.readouterr().out


def test_a_log_re_signed_with_a_swapped_key_is_not_signed_by_the_release_key_in_the_audit(repo, capsys):
    """Whoever can write the working tree can put their own key in release-key.pub and re-sign the whole log:
    ``log verify`` warned, the audit said "signed by the release key"."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from harness.release.decision_log import canonical, entry_hash, sha256_line
    from harness.release.signing import fingerprint, signed_message

    key = Ed25519PrivateKey.generate()
    (repo / "policies/release-key.pub").write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    log = repo / "audit/decisions.jsonl"
    entries, previous = [], None
    for entry in (json.loads(line) for line in log.read_text().splitlines()):
        entry.pop("sig"), entry.pop("hash")
        if previous is not None:
            entry["prev"] = sha256_line(previous)
        entry["hash"] = entry_hash(entry)
        entry["sig"] = {"alg": "ed25519", "key": fingerprint(key.public_key()),
                        "value": base64.b64encode(key.sign(signed_message(entry["hash"]))).decode("ascii")}
        entries.append(entry)
        previous = entry
    log.write_text("".join(canonical(e) + "\n" for e in entries))
    log.with_name(log.name + ".head").write_text(json.dumps({"seq": entries[-1]["seq"], "hash": entries[-1]["hash"]}))

    assert main(["audit", "--format", "json"], clock=FixedClock(NOW)) == 0
    captured = capsys.readouterr()
    chain = json.loads(captured.out)["history"]["chain"]
    assert chain["signature"] == "unapproved key"
    assert "; but policies/release-key.pub differs from the committed one (HEAD)" in chain["signature_detail"]
    assert "policies/release-key.pub has no valid sign-off in signoffs.yaml" in chain["signature_detail"]
    assert "harness: warning: the decision log's signatures cannot be trusted" in captured.err


def test_the_story_s_signed_log_stays_signed_in_the_audit_and_history(repo, capsys):
    """The fixes leave an honest log alone: the key committed and signed off, every entry signed."""
    assert main(["audit", "--format", "json"], clock=FixedClock(NOW)) == 0
    chain = json.loads(capsys.readouterr().out)["history"]["chain"]
    assert (chain["signature"], chain["entries"]) == ("signed", 5)
    assert chain["signature_detail"].startswith("intact and signed by the release key (sha256:")
    assert main(["policy", "history", "privacy.no-pii"]) == 0
    assert "  decision 1  2026-12-01T09:00:00.000Z  acme-support-assistant 1.1.0: promote" in \
        capsys.readouterr().out.splitlines()
