"""Attempts to slip a loosening past ``validate --since`` and to break ``policy history``/``diff``, each refused.

Uses the repository built in test_governance.py (c0..c7; privacy.no-pii is sev1, owned by the
governance lead).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

from test_governance import CLOCK, PII, GitRepo, _isolated_git, built, repo, validate  # noqa: F401 (fixtures)

from harness.cli import main
from harness.clock import FixedClock
from harness.release.decision_log import append_entry

# ruff: noqa: F811 (the fixtures imported from test_governance are parameters here)
LOOSEN = (("version: 1.2.0", "version: 1.3.0"), ("max_failures: 0", "max_failures: 50"))


def test_a_sign_off_written_by_hand_in_the_owner_s_role_but_by_someone_else_is_no_sign_off(repo):
    repo.edit(PII, *LOOSEN)
    digest = hashlib.sha256(repo.path(PII).read_bytes()).hexdigest()
    repo.write("policies/signoffs.yaml", "signoffs:\n  - file: policies/privacy/pii.yaml\n"
               f"    sha256: {digest}\n    role: governance_lead\n    by: mallory@example.com\n"
               "    at: 2026-11-10T09:00:00Z\n")
    [found] = validate("c7")
    assert found.endswith(
        "is loosened since c7: max_failures 0 → 50; this needs a sign-off of the new content by its owner's role"
        " governance_lead (governance-lead@example.com); the sign-off of signoffs.yaml line 2 is by"
        " mallory@example.com, not by governance-lead@example.com: review it, then run harness signoff"
        " policies/privacy/pii.yaml --by governance_lead:governance-lead@example.com"), found
    # the owner's own sign-off, recorded after the forged one, is what counts
    assert main(["signoff", PII, "--by", "governance_lead:governance-lead@example.com"],
                clock=FixedClock(CLOCK)) == 0
    assert validate("c7") == []


def test_taking_over_the_owner_s_role_in_the_same_change_does_not_let_you_sign(repo):
    repo.edit(PII, *LOOSEN, ("owner: governance-lead@example.com", "owner: mallory@example.com"))
    repo.edit("policies/playbook.yaml", ("  governance_lead: governance-lead@example.com",
                                         "  governance_lead: mallory@example.com"))
    assert main(["signoff", PII, "--by", "governance_lead:mallory@example.com"], clock=FixedClock(CLOCK)) == 0
    found = validate("c7")
    assert [e for e in found if "privacy.no-pii is loosened" in e and "governance-lead@example.com holds no role"
            in e], found


def _commit(repo: GitRepo, tag: str) -> None:
    repo.commit(tag, f"commit {tag}")


def test_policies_in_a_symlinked_folder_at_the_revision_are_refused_not_skipped(repo, capsys):
    shutil.move(repo.path("policies/privacy"), repo.path("shared-privacy"))
    os.symlink("../shared-privacy", repo.path("policies/privacy"))
    _commit(repo, "linked")
    repo.edit("shared-privacy/pii.yaml", *LOOSEN)  # at "linked", git holds the link, not the policy
    assert main(["validate", "--since", "linked"], clock=FixedClock(CLOCK)) == 4
    assert capsys.readouterr().err.splitlines()[0] == (
        "linked:policies/privacy: a symbolic link to '../shared-privacy' at this revision, not a file of the"
        " repository: git keeps a link, not the policies it leads to, so changes to them could not be governed;"
        " keep the policies in the folder itself")


def test_the_policies_folder_replaced_by_a_link_or_moved_is_refused(repo, capsys):
    repo.git("mv", "policies", "elsewhere")
    os.symlink("elsewhere", repo.path("policies"))
    repo.edit("elsewhere/privacy/pii.yaml", *LOOSEN)  # the folder read is now "elsewhere": absent at c7
    assert main(["validate", "--since", "c7"], clock=FixedClock(CLOCK)) == 4
    assert capsys.readouterr().err.splitlines()[0] == (
        "c7:elsewhere: the policies folder elsewhere is absent at this revision, so its policies cannot be compared"
        " (was the folder moved, or replaced by a link?); give a revision where the policies are in that folder")


def test_policies_in_a_submodule_at_the_revision_are_refused(repo, tmp_path, capsys):
    sub = GitRepo(tmp_path / "sub")
    sub.root.mkdir()
    sub.git("init", "-q")
    sub.write("pii.yaml", repo.read(PII))
    sub.commit("s0", "policies elsewhere")
    repo.git("rm", "-q", "-r", "policies/privacy")
    repo.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub.root), "policies/privacy")
    _commit(repo, "sub")
    repo.edit(PII, *LOOSEN)
    assert main(["validate", "--since", "sub"], clock=FixedClock(CLOCK)) == 4
    assert capsys.readouterr().err.splitlines()[0].startswith(
        "sub:policies/privacy: a git submodule at this revision: the policies in it have no history in this"
        " repository")


def test_a_revision_that_names_a_tree_a_blob_or_a_range_says_so(repo, capsys):
    blob = repo.sha(f"c7:{PII}")
    for rev, said in ((f"{blob}", f"revision {blob!r}: names a blob, not a commit"),
                      ("HEAD^{tree}", "revision 'HEAD^{tree}': names a tree, not a commit"),
                      ("c5..c7", "revision 'c5..c7': a range of commits; expected one revision")):
        assert main(["policy", "diff", rev]) == 4
        assert capsys.readouterr().err.splitlines()[0].startswith(said), rev
    assert main(["policy", "diff", "--", "-p"]) == 4
    assert "revision '-p': no such revision" in capsys.readouterr().err


def test_decisions_with_hostile_values_in_the_log_are_data_not_a_crash(repo, tmp_path, capsys):
    log = tmp_path / "decisions.jsonl"
    clock = FixedClock("2026-11-02T12:00:00Z")
    digest = repo.blob_sha256("c7", PII)
    append_entry(log, {"kind": "gate", "seq": "x", "policy_sha256": {"a": ["x"], "b": {"c": 1}}}, clock=clock)
    append_entry(log, {"kind": "gate", "policy_sha256": {"a": digest}, "model": "jane.doe@example.com\x1b[2J",
                       "model_version": {"v": 1}}, clock=clock)
    assert main(["policy", "history", "privacy.no-pii", "--decision-log", str(log)]) == 0
    assert capsys.readouterr().out.splitlines()[3] == (
        '  decision 2  2026-11-02T12:00:00.000Z  j***@example.com\ufffd[2J {"v": 1}: -')


def test_history_in_a_shallow_clone_says_it_is_incomplete(repo, tmp_path, monkeypatch, capsys):
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo.root}", str(clone)], check=True,
                   capture_output=True)
    monkeypatch.chdir(clone)
    assert main(["policy", "history", "privacy.no-pii", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [v["change"] for v in document["versions"]] == ["present"]  # not "added" by the last commit
    assert document["shallow"] == [repo.sha("c7")]
    assert main(["policy", "history", "privacy.no-pii"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"incomplete: this clone is shallow (its history is cut at {repo.sha('c7')[:12]}); the versions before are"
        ' missing, and "present" marks a version that may be older: run git fetch --unshallow')
