"""Sign-offs: recorded with the sha256 of what was approved, stale after an edit, refused for the wrong person."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
import yaml

from harness.clock import FixedClock, parse_timestamp
from harness.errors import InputError, InputErrors
from harness.io.files import sha256_file
from harness.project.signoff import read_signoffs, sign, stale, status, valid_signoff

NOW = "2026-06-30T12:00:00Z"
PLAYBOOK = """\
severities:
  sev1: {meaning: critical}
roles:
  governance_lead: gl@example.com
  security_officer: so@example.com
"""


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "playbook.yaml").write_text(PLAYBOOK, encoding="utf-8")
    (folder / "privacy.yaml").write_text("id: privacy.no-pii\nversion: 1.0.0\n", encoding="utf-8")
    return folder


def problems_of(exc: InputError) -> list[str]:
    return [str(e) for e in (exc.errors if isinstance(exc, InputErrors) else [exc])]


def test_a_signoff_records_the_content_and_is_valid_until_the_file_changes(policies: Path) -> None:
    playbook = policies / "playbook.yaml"
    entry = sign(policies, playbook, "governance_lead", "gl@example.com", FixedClock(NOW))

    assert (entry.file, entry.sha256, entry.role, entry.by, entry.at) == (
        "policies/playbook.yaml", sha256_file(playbook), "governance_lead", "gl@example.com", parse_timestamp(NOW))
    written = yaml.safe_load((policies / "signoffs.yaml").read_text("utf-8"))
    assert written == {"signoffs": [{"file": "policies/playbook.yaml", "sha256": sha256_file(playbook),
                                     "role": "governance_lead", "by": "gl@example.com",
                                     "at": "2026-06-30T12:00:00.000Z"}]}
    assert valid_signoff(policies, playbook, "governance_lead") == read_signoffs(policies)[0]
    assert valid_signoff(policies, playbook, "security_officer") is None
    assert stale(policies) == []

    with open(playbook, "a", encoding="utf-8") as handle:
        handle.write("review_within: 5d\n")

    assert valid_signoff(policies, playbook, "governance_lead") is None
    assert [(e.file, ok) for e, ok in status(policies)] == [("policies/playbook.yaml", False)]
    assert [e.sha256 for e in stale(policies)] == [entry.sha256]

    again = sign(policies, playbook, "governance_lead", "gl@example.com", FixedClock("2026-07-01T09:00:00Z"))
    assert valid_signoff(policies, playbook, "governance_lead") == read_signoffs(policies)[1]
    assert [(e.sha256, ok) for e, ok in status(policies, playbook)] == [(entry.sha256, False), (again.sha256, True)]
    assert stale(policies) == []  # the old one is history, superseded by a valid one


def test_a_deleted_file_has_no_valid_signoff_and_its_signoff_is_stale(policies: Path) -> None:
    policy = policies / "privacy.yaml"
    sign(policies, policy, "security_officer", "so@example.com", FixedClock(NOW))
    policy.unlink()

    assert valid_signoff(policies, policy, "security_officer") is None
    assert [e.file for e in stale(policies)] == ["policies/privacy.yaml"]


@pytest.mark.parametrize(("role", "by", "message"), [
    pytest.param("governance_lead", "mallory@example.com",
                 "'mallory@example.com' is not the governance_lead of the playbook (gl@example.com)", id="wrong-email"),
    pytest.param("governance_lead", "so@example.com", "is not the governance_lead", id="another-roles-holder"),
    pytest.param("ceo", "gl@example.com",
                 "unknown role 'ceo'; expected a role of the playbook: governance_lead, security_officer",
                 id="unknown-role"),
])
def test_only_the_holder_of_the_role_signs(policies: Path, role: str, by: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        sign(policies, policies / "playbook.yaml", role, by, FixedClock(NOW))

    assert message in str(caught.value)
    assert not (policies / "signoffs.yaml").exists()


def test_the_address_is_compared_without_regard_to_case(policies: Path) -> None:
    entry = sign(policies, policies / "playbook.yaml", "governance_lead", "GL@Example.com", FixedClock(NOW))
    assert entry.by == "GL@Example.com"


def test_files_outside_the_repository_missing_or_not_regular_are_refused(policies: Path, tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside.yaml"
    outside.write_text("x: 1\n", encoding="utf-8")
    link = policies / "link.yaml"
    link.symlink_to(outside)
    fifo = policies / "pipe.yaml"
    os.mkfifo(fifo)
    clock = FixedClock(NOW)
    try:
        cases = {outside: "outside the repository", link: "outside the repository",
                 policies / "nope.yaml": "file not found", policies: "not a regular file",
                 fifo: "not a regular file", policies / "signoffs.yaml": "file not found"}
        for path, message in cases.items():
            with pytest.raises(InputError, match=message):
                sign(policies, path, "governance_lead", "gl@example.com", clock)
    finally:
        outside.unlink()
    assert not (policies / "signoffs.yaml").exists()


def test_the_signoff_file_itself_is_not_signed(policies: Path) -> None:
    sign(policies, policies / "playbook.yaml", "governance_lead", "gl@example.com", FixedClock(NOW))
    with pytest.raises(InputError, match="records sign-offs and is not signed itself"):
        sign(policies, policies / "signoffs.yaml", "governance_lead", "gl@example.com", FixedClock(NOW))


HAND_WRITTEN = """\
# Sign-offs of the Acme policy repository.
# Keep this comment.
signoffs:
  - file: policies/playbook.yaml
    sha256: {sha}
    role: governance_lead
    by: gl@example.com
    at: "2026-01-01T00:00:00Z"   # the first one
"""


def test_signing_appends_and_keeps_what_a_person_wrote(policies: Path) -> None:
    path = policies / "signoffs.yaml"
    before = HAND_WRITTEN.format(sha="ab" * 32)
    path.write_text(before, encoding="utf-8")

    sign(policies, policies / "privacy.yaml", "security_officer", "so@example.com", FixedClock(NOW))

    after = path.read_text("utf-8")
    assert after.startswith(before)
    assert [(e.file, e.role, e.line) for e in read_signoffs(policies)] == [
        ("policies/playbook.yaml", "governance_lead", 4), ("policies/privacy.yaml", "security_officer", 9)]


def test_a_flow_style_list_is_rewritten_with_its_leading_comments(policies: Path) -> None:
    path = policies / "signoffs.yaml"
    path.write_text("# approvals\nsignoffs: []\n", encoding="utf-8")

    sign(policies, policies / "privacy.yaml", "security_officer", "so@example.com", FixedClock(NOW))

    assert path.read_text("utf-8").startswith("# approvals\nsignoffs:\n")
    assert [e.file for e in read_signoffs(policies)] == ["policies/privacy.yaml"]


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(HAND_WRITTEN.format(sha="xyz"),
                 "signoffs.yaml:5:13: $.signoffs[0].sha256: sha256: expected 64 lower-case hex digits, got 'xyz'",
                 id="bad-sha256"),
    pytest.param(HAND_WRITTEN.format(sha="ab" * 32).replace("role:", "rol:"),
                 "signoffs.yaml:6:5: $.signoffs[0].rol: unknown field 'rol'", id="misspelt-field"),
    pytest.param(HAND_WRITTEN.format(sha="ab" * 32).replace("role:", "rol:"),
                 "signoffs.yaml:4:5: $.signoffs[0]: missing field 'role'", id="missing-field"),
    pytest.param(HAND_WRITTEN.format(sha="ab" * 32).replace('"2026-01-01T00:00:00Z"', "2026-01-01 00:00"),
                 "signoffs.yaml:8:9: $.signoffs[0].at: at: expected a UTC time in ISO 8601 ending in Z",
                 id="not-utc"),
    pytest.param(HAND_WRITTEN.format(sha="ab" * 32).replace("policies/playbook.yaml", "../etc/passwd"),
                 "$.signoffs[0].file: file: expected a path from the repository root", id="escaping-path"),
    pytest.param(HAND_WRITTEN.format(sha="0" * 64),
                 "$.signoffs[0].sha256: sha256: expected a non-empty string (put it in quotes), got 0", id="a-number"),
    pytest.param("signofs: []\n", "signoffs.yaml:1:1: $.signofs: unknown key 'signofs'; expected only signoffs",
                 id="misspelt-key"),
    pytest.param("signoffs: {file: x}\n", "$.signoffs: expected a list of sign-offs", id="not-a-list"),
])
def test_a_hand_edited_typo_is_an_error_at_its_line(policies: Path, text: str, expected: str) -> None:
    path = policies / "signoffs.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(InputError) as caught:
        read_signoffs(policies)
    assert any(expected in problem for problem in problems_of(caught.value)), problems_of(caught.value)

    with pytest.raises(InputError):
        sign(policies, policies / "privacy.yaml", "security_officer", "so@example.com", FixedClock(NOW))
    assert path.read_text("utf-8") == text  # nothing written over a file with a problem


def test_concurrent_signoffs_all_land(policies: Path) -> None:
    signers = 8
    barrier = threading.Barrier(signers)
    errors: list[BaseException] = []

    def signer(n: int) -> None:
        target = policies / f"p{n}.yaml"
        target.write_text(f"id: p{n}\n", encoding="utf-8")
        barrier.wait()
        try:
            sign(policies, target, "security_officer", "so@example.com", FixedClock(NOW))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=signer, args=(n,)) for n in range(signers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(e.file for e in read_signoffs(policies)) == sorted(f"policies/p{n}.yaml" for n in range(signers))


# -- the command (its module's register() on a parser of its own; the lead wires it into harness) --------------


def run_cli(*argv: str) -> int:
    from harness.cli import common
    from harness.cli import signoff as command

    parser = common.Parser(prog="harness")
    command.register(parser.add_subparsers(dest="command", parser_class=common.Parser))
    args = parser.parse_args(["signoff", *argv])
    args.clock = FixedClock(NOW)
    return int(args.func(args))


def test_cli_signs_and_lists(policies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    playbook = policies / "playbook.yaml"
    assert run_cli(str(playbook), "--by", "governance_lead:gl@example.com", "--policies", str(policies)) == 0
    assert capsys.readouterr().out.startswith("signed policies/playbook.yaml (sha256 ")
    playbook.write_text(PLAYBOOK + "# edited\n", encoding="utf-8")

    assert run_cli("--status", "--policies", str(policies)) == 0
    out = capsys.readouterr().out
    assert out.startswith("STALE  policies/playbook.yaml  governance_lead  gl@example.com  2026-06-30  sha256 ")

    assert run_cli("--status", "--format", "json", "--policies", str(policies)) == 0
    listed = json.loads(capsys.readouterr().out)["signoffs"]
    assert [(s["file"], s["valid"]) for s in listed] == [("policies/playbook.yaml", False)]


@pytest.mark.parametrize("by", ["governance_lead", "governance_lead:", ":gl@example.com"])
def test_cli_needs_role_and_address(policies: Path, by: str) -> None:
    with pytest.raises(InputError, match="expected ROLE:EMAIL"):
        run_cli(str(policies / "playbook.yaml"), "--by", by, "--policies", str(policies))


def test_cli_without_file_or_status_is_a_usage_error(policies: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        run_cli("--policies", str(policies))
    assert exited.value.code == 4
