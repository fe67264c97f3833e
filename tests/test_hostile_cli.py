"""Hostile input at the command line: files that cannot be read, dates, report paths, full disks, forged lines.

Each test reproduces an attack that once let a bad release through, lost a file or made the
harness crash, and checks what a user now gets instead.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from harness import api
from harness.cli import main
from harness.clock import FixedClock
from harness.errors import InputError, InputErrors
from harness.io.files import display_path, write_atomic, yaml_files
from harness.report import render

GOOD = "examples/outputs/acme-support-1.1.0.jsonl"
BAD = "examples/outputs/acme-support-1.2.0.jsonl"
BASELINE = "examples/outputs/acme-support-1.0.0.jsonl"
ROOT = Path(__file__).resolve().parents[1]


def gate(*args: str) -> int:
    return main(["gate", "--outputs", GOOD, "--baseline", BASELINE, "--color", "never", *args])


# -- policy files that cannot be read are errors, never skipped -------------------------------

@pytest.mark.parametrize(("make", "message"), [
    pytest.param(lambda p: (p / "dangling.yaml").symlink_to(p / "nowhere.yaml"),
                 "policies/privacy/dangling.yaml: broken symbolic link (to ", id="dangling-symlink"),
    pytest.param(lambda p: (p / "folder.yaml").mkdir(),
                 "policies/privacy/folder.yaml: is a directory, not a YAML file", id="directory-named-yaml"),
    pytest.param(lambda p: os.mkfifo(p / "pipe.yaml"),
                 "policies/privacy/pipe.yaml: not a regular file (a pipe, socket or device)", id="fifo"),
])
def test_a_policy_file_that_cannot_be_read_fails_validate_and_the_gate(workdir, capsys, make, message):
    make(workdir / "policies" / "privacy")
    assert main(["validate"]) == 4
    assert message in capsys.readouterr().err
    assert gate() == 4  # the good candidate is not promoted past a policy nobody could read
    assert "nothing was judged" in capsys.readouterr().err


def test_a_broken_eval_file_fails_too(workdir, capsys):
    (workdir / "evals" / "lost.yml").symlink_to(workdir / "evals" / "moved-away.yml")
    assert main(["validate"]) == 4
    assert "evals/lost.yml: broken symbolic link" in capsys.readouterr().err


def test_upper_case_suffixes_and_linked_folders_are_policies_too(workdir, capsys):
    shared = workdir / "shared-policies"
    shared.mkdir()
    (shared / "EXTRA.YAML").write_text("id: extra.policy\nversion: 1.0.0\n")  # invalid on purpose
    (workdir / "policies" / "shared").symlink_to(shared)
    (shared / "loop").symlink_to(shared)  # a link loop ends: each folder is read once
    assert main(["validate"]) == 4
    err = capsys.readouterr().err
    assert "policies/shared/EXTRA.YAML" in err


def test_a_folder_that_cannot_be_listed_is_an_error(workdir, capsys, monkeypatch):
    """The listing refused as for a folder of mode 000 (root lists any folder, so the refusal is simulated)."""
    locked = workdir / "policies" / "locked"
    locked.mkdir()
    listing = os.scandir

    def refuse_locked(path="."):
        if Path(path).resolve() == locked.resolve():
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return listing(path)

    monkeypatch.setattr(os, "scandir", refuse_locked)
    assert main(["validate"]) == 4
    assert "policies/locked: cannot list this directory (Permission denied)" in capsys.readouterr().err


def test_files_found_are_sorted_and_named_by_what_is_wrong(tmp_path):
    (tmp_path / "b.yaml").write_text("x: 1\n")
    (tmp_path / "a.yml").write_text("x: 1\n")
    (tmp_path / "notes.txt").write_text("not a policy\n")
    (tmp_path / "skip.yaml").write_text("x: 1\n")
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nothing")
    found, problems = yaml_files(tmp_path, exclude=("skip.yaml",))
    assert [p.name for p in found] == ["a.yml", "b.yaml"]
    assert [(Path(str(e.location.file)).name, e.message) for e in problems] == [
        ("gone.yaml", f"broken symbolic link (to {str(tmp_path / 'nothing')!r})")]


# -- the judging date ----------------------------------------------------------------------------

def test_a_past_judging_date_needs_backdate_and_is_recorded(workdir, capsys):
    assert gate("--today", "2020-01-01") == 4
    assert "--today 2020-01-01 is before today" in capsys.readouterr().err
    assert gate("--today", "2026-11-27", "--backdate", "--format", "json", "--output", "r.json") == 0
    run = json.loads(Path("r.json").read_text())["run"]
    assert run["judged_on"] == "2026-11-27" and run["backdated"] is True
    assert "backdated: judged as of 2026-11-27" in capsys.readouterr().out


def test_the_api_refuses_a_past_date_and_records_a_backdated_one():
    clock = FixedClock("2026-12-02T10:00:00Z")
    repo = {"policies": ROOT / "policies", "evals": ROOT / "evals", "baseline": ROOT / BASELINE}
    with pytest.raises(InputError, match="add --backdate"):
        api.run_gate(ROOT / GOOD, today=dt.date(2026, 12, 1), clock=clock, **repo)
    backdated = api.run_gate(ROOT / GOOD, today=dt.date(2026, 12, 1), backdate=True, clock=clock, **repo)
    assert backdated.report.run.backdated and backdated.report.run.judged_on == "2026-12-01"
    future = api.run_gate(ROOT / GOOD, today=dt.date(2026, 12, 3), clock=clock, **repo)
    assert not future.report.run.backdated and future.report.run.judged_on == "2026-12-03"
    assert not api.run_gate(ROOT / GOOD, clock=clock, **repo).report.run.backdated


# -- --output never replaces an input ----------------------------------------------------------

@pytest.mark.parametrize(("target", "what"), [
    (GOOD, "the --outputs file"),
    (BASELINE, "the --baseline file"),
    ("audit/decisions.jsonl", "the decision log"),  # the playbook's, even without --decision-log
    ("audit/decisions.jsonl.head", "a file of the decision log"),  # its head record: every later gate would fail
    ("audit/decisions.jsonl.lock", "a file of the decision log"),
    ("policies/report.json", "inside the --policies directory"),
    ("evals/report.json", "inside the --evals directory"),
])
def test_the_report_never_replaces_an_input(workdir, capsys, target, what):
    assert gate("--decision-log", "audit/decisions.jsonl") == 0  # the log, its head and its lock exist
    path = workdir / target
    before = path.read_bytes() if path.exists() else None
    assert gate("--format", "json", "--output", target) == 4
    assert what in capsys.readouterr().err
    assert (path.read_bytes() if path.exists() else None) == before


@pytest.mark.parametrize(("target", "what"), [
    ("./reg.json", "is the registry file"),
    ("reg.json.lock", "is a file of the registry file"),
    ("reg.json.acme-support-assistant.lock", "is a file of the registry file"),
])
def test_the_report_never_replaces_the_registry_file(workdir, capsys, target, what):
    registry = workdir / "reg.json"
    registry.write_text("{}")
    assert gate("--registry", f"file://{registry}", "--output", target) == 4
    assert f"--output {Path(target)} {what}" in capsys.readouterr().err
    assert registry.read_text() == "{}"
    assert sorted(p.name for p in workdir.glob("reg.json*")) == ["reg.json"]  # no lock file replaced or made


def test_a_library_caller_gets_the_same_protection(workdir):
    """``api.write_report`` refuses what ``--output`` refuses, a link to the head record included."""
    result = api.run_gate(GOOD, baseline=BASELINE, today=dt.date(2026, 11, 27), backdate=True)
    settings = api.release_settings(result.project.playbook)
    api.record_release(result, settings=settings, model="acme-support-assistant", version="1.1.0", actor="ci")
    head = Path("audit/decisions.jsonl.head")
    before = head.read_bytes()
    Path("report-link.json").symlink_to(head.resolve())
    for target, what in [(head, "decision log"), (Path("report-link.json"), "decision log"),
                         (Path("audit/registry.json.acme-support-assistant.lock"), "registry file")]:
        with pytest.raises(InputError, match=f"is a file of the {what}"):
            api.write_report(result, target, settings=settings)
    with pytest.raises(InputError, match="inside the --policies directory"):
        api.check_report_path("policies/r.json", policies="policies")
    assert head.read_bytes() == before
    assert api.write_report(result, "r.json", settings=settings) == Path("r.json")
    assert json.loads(Path("r.json").read_text())["verdict"] == "promote"


# -- a failing environment: one line and exit 6, or the verdict when only a summary failed ---------

def test_a_report_that_cannot_be_written_exits_6_after_showing_the_verdict(workdir, capsys):
    assert gate("--today", "2026-11-27", "--backdate", "--format", "json", "--output", "/dev/full") == 6
    out, err = capsys.readouterr()
    assert "Verdict: PROMOTE" in out
    assert err.splitlines() == [
        "harness: /dev/full: cannot write the report: No space left on device; the verdict PROMOTE stands (exit 6)"]
    Path("a-file").write_text("")
    assert gate("--today", "2026-11-27", "--backdate", "--output", "a-file/report.json") == 6
    assert capsys.readouterr().err.splitlines() == [
        "harness: a-file/report.json: cannot write the report: Not a directory; the verdict PROMOTE stands (exit 6)"]


def test_a_rollback_verdict_keeps_exit_3_when_the_report_cannot_be_written(workdir, capsys):
    assert main(["gate", "--outputs", BAD, "--baseline", BASELINE, "--today", "2026-11-27", "--backdate",
                 "--output", "/dev/full"]) == 3
    assert capsys.readouterr().err.splitlines() == [
        "harness: /dev/full: cannot write the report: No space left on device; the verdict ROLLBACK stands (exit 3)"]


def _release(version: str, *extra: str) -> int:
    return main(["gate", "--outputs", f"examples/outputs/acme-support-{version}.jsonl", "--baseline", BASELINE,
                 "--model", "acme-support-assistant", "--model-version", version, "--today", "2026-11-27",
                 "--backdate", "--color", "never", *extra])


def _champion() -> str:
    return json.loads(Path("audit/registry.json").read_text())["models"]["acme-support-assistant"]["aliases"][
        "champion"]


def test_a_report_that_cannot_be_written_never_stops_the_recording_or_the_rollback(workdir, capsys):
    assert _release("1.0.0", "--promote", "--output", "/dev/full") == 6  # recorded and promoted all the same
    assert _champion() == "1.0.0"
    assert _release("1.1.0", "--promote") == 0
    assert main(["registry", "alias", "--model", "acme-support-assistant", "--version", "1.2.0", "--create",
                 "--reason", "hotfix deployed outside the gate"]) == 0
    capsys.readouterr()
    assert _release("1.2.0", "--on-rollback", "execute", "--output", "/dev/full") == 3
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == ("harness: /dev/full: cannot write the report: No space left on device;"
                                    " the verdict ROLLBACK stands (exit 3)")
    assert _champion() == "1.1.0"  # the rollback ran
    last = json.loads(Path("audit/decisions.jsonl").read_text().splitlines()[-1])
    assert (last["kind"], last["details"]["from"], last["details"]["to"]) == ("rollback", "1.2.0", "1.1.0")


def test_standard_output_on_a_full_disk_exits_6_without_a_traceback(workdir):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "harness", "gate", "--outputs", GOOD, "--baseline", BASELINE],
                              stdout=full, stderr=subprocess.PIPE, text=True, check=False)
    assert done.returncode == 6
    assert "Traceback" not in done.stderr and "No space left on device" in done.stderr


@pytest.mark.parametrize(("summary", "warning"), [
    ("/dev/full", "harness: warning: summary skipped: /dev/full: $GITHUB_STEP_SUMMARY is not a regular file (a FIFO,"
                  " a device or a socket); expected the file the runner creates for each step"),
    ("a-directory", "harness: warning: summary skipped: $GITHUB_STEP_SUMMARY a-directory is a directory; name a file"),
])
def test_a_step_summary_that_cannot_be_written_keeps_the_verdict(workdir, monkeypatch, capsys, summary, warning):
    Path("a-directory").mkdir()
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", summary)
    assert main(["gate", "--outputs", BAD, "--baseline", BASELINE, "--decision-log", "log.jsonl"]) == 3
    assert warning in capsys.readouterr().err.splitlines()
    entry = json.loads(Path("log.jsonl").read_text().splitlines()[0])  # recorded all the same
    assert (entry["kind"], entry["verdict"], entry["model_version"]) == ("gate", "rollback", "1.2.0")


def test_a_step_summary_naming_the_decision_log_is_skipped_and_the_log_stays_verifiable(workdir, monkeypatch,
                                                                                      capsys):
    """The attack: ``GITHUB_STEP_SUMMARY=audit/decisions.jsonl`` appended Markdown to the log; ``log verify``
    failed (exit 4) for ever after."""
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", "audit/decisions.jsonl")
    for _ in range(2):  # the first gate creates the log, the second finds it
        assert gate("--decision-log", "audit/decisions.jsonl") == 0  # the verdict's exit code stands
        assert ("harness: warning: summary skipped: $GITHUB_STEP_SUMMARY audit/decisions.jsonl is the decision log:"
                " the report would be appended to it; name another file") in capsys.readouterr().err.splitlines()
    assert all(line.startswith("{") for line in Path("audit/decisions.jsonl").read_text().splitlines())
    assert main(["log", "verify"]) == 0
    assert "hash chain intact" in capsys.readouterr().out


@pytest.mark.parametrize(("summary", "what"), [
    (GOOD, "is the --outputs file"),
    (BASELINE, "is the --baseline file"),
    ("audit/decisions.jsonl.head", "is a file of the decision log"),
    ("audit/registry.json", "is the registry file"),
    ("policies/waivers.yaml", "is inside the --policies directory"),
    ("evals/summary.md", "is inside the --evals directory"),
])
def test_a_step_summary_is_never_appended_to_an_input_or_a_record(workdir, monkeypatch, capsys, summary, what):
    assert gate("--decision-log", "audit/decisions.jsonl") == 0  # the log, its head and the registry exist
    path = workdir / summary
    before = path.read_bytes() if path.exists() else None
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", summary)
    capsys.readouterr()
    assert gate() == 0
    [warning] = [line for line in capsys.readouterr().err.splitlines() if "GITHUB_STEP_SUMMARY" in line]
    assert warning.startswith(f"harness: warning: summary skipped: $GITHUB_STEP_SUMMARY {Path(summary)} {what}")
    assert (path.read_bytes() if path.exists() else None) == before


@pytest.mark.parametrize("record", ["policies/waivers.yaml", "incidents/INC-2026-0001.yaml"])
def test_a_step_summary_that_is_a_hard_link_to_a_record_is_skipped(workdir, monkeypatch, capsys, record):
    """The second attack: a hard link elsewhere to the waivers file (or an incident, or the log's head) took
    the Markdown, since the path checks compare names; a summary file with a second name is refused."""
    os.link(record, "summary_link.md")
    before = Path(record).read_bytes()
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", "summary_link.md")
    assert gate() == 0
    assert ("harness: warning: summary skipped: summary_link.md: $GITHUB_STEP_SUMMARY has 2 hard links; expected a"
            " file of its own") in capsys.readouterr().err
    assert Path(record).read_bytes() == before


def test_a_step_summary_that_is_a_fifo_is_skipped_never_waited_on(workdir, monkeypatch, capsys):
    """A FIFO as $GITHUB_STEP_SUMMARY blocked the gate for ever once a reader stopped reading; a reader is
    held open here so that a regression fails the test (the Markdown would go down the pipe) instead of hanging."""
    os.mkfifo("summary.fifo")
    reader = os.open("summary.fifo", os.O_RDONLY | os.O_NONBLOCK)
    try:
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", "summary.fifo")
        assert gate() == 0
        assert ("harness: warning: summary skipped: summary.fifo: $GITHUB_STEP_SUMMARY is not a regular file"
                in capsys.readouterr().err)
        assert os.read(reader, 1) == b""  # nothing was written down the pipe (no writer left: end of file)
    finally:
        os.close(reader)


def test_a_step_summary_elsewhere_is_appended(workdir, monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", "summary.md")
    Path("summary.md").write_text("earlier step\n")
    assert gate() == 0
    text = Path("summary.md").read_text()
    assert text.startswith("earlier step\n## ✅ harness gate: **promote** for acme-support-assistant 1.1.0\n")
    assert "GITHUB_STEP_SUMMARY" not in capsys.readouterr().err


# -- dates are YYYY-MM-DD, nothing else that fromisoformat takes -----------------------------------

@pytest.mark.parametrize("day", ["20261203", "2026-W49-4", "2026-W49", "2026-12-3", " 2026-12-03", "２０２６-12-03"])
def test_today_must_be_written_yyyy_mm_dd(workdir, capsys, day):
    for command in (["validate"], ["gate", "--outputs", GOOD, "--baseline", BASELINE]):
        with pytest.raises(SystemExit) as exit_:
            main([*command, "--today", day])
        assert exit_.value.code == 4
        assert f"argument --today: expected a date YYYY-MM-DD, got {day!r}" in capsys.readouterr().err


def test_dates_given_to_the_library_as_text_must_be_yyyy_mm_dd_too():
    from harness import expired_waivers
    from harness.evaluation import evaluate
    from harness.outputs import load_outputs

    with pytest.raises(ValueError, match="expected a date YYYY-MM-DD, got '20261203'"):
        expired_waivers([], "20261203")
    project = api.load(ROOT / "policies", ROOT / "evals")
    with pytest.raises(ValueError, match="expected a date YYYY-MM-DD, got '2026-W49-4'"):
        evaluate(project, load_outputs(ROOT / GOOD), today="2026-W49-4")


# -- the actor recorded is one line of bounded length -----------------------------------------------

FORGED = 'mallory\n{"kind": "gate", "verdict": "promote"}'


@pytest.mark.parametrize(("actor", "problem"), [
    pytest.param(FORGED, "the actor 'mallory\\n{\"kind\": \"gate\", \"verdict\": \"promote\"}' contains U+000A (a line"
                 " break or control character); expected a name or an e-mail address on one line", id="newline"),
    pytest.param("ci\x1b[2Kbot", r"the actor 'ci\x1b[2Kbot' contains U+001B", id="escape-sequence"),
    pytest.param("ci\u2028bot", r"the actor 'ci\u2028bot' contains U+2028", id="line-separator"),
    pytest.param("ci\u202ebot", r"the actor 'ci\u202ebot' contains U+202E", id="bidi-override"),
    pytest.param("x" * 257, "the actor is 257 characters long; expected at most 256", id="too-long"),
])
def test_a_by_that_could_forge_a_record_is_refused(workdir, capsys, actor, problem):
    with pytest.raises(SystemExit) as exit_:
        gate("--decision-log", "audit/decisions.jsonl", "--by", actor)
    assert exit_.value.code == 4
    assert f"argument --by: {problem}" in capsys.readouterr().err
    assert not Path("audit/decisions.jsonl").exists()


def test_an_actor_of_256_characters_is_recorded_as_given(workdir):
    actor = "a" * 244 + "@example.com"
    assert len(actor) == 256
    assert gate("--decision-log", "audit/decisions.jsonl", "--by", f" {actor} ") == 0
    assert {e["actor"] for e in api.read_decision_log("audit/decisions.jsonl")} == {actor}


def test_a_github_actor_that_could_forge_a_record_is_refused_before_judging(workdir, monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_ACTOR", FORGED)
    assert gate("--decision-log", "audit/decisions.jsonl") == 4
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("$GITHUB_ACTOR: the actor 'mallory\\n{") and "contains U+000A" in err[0]
    assert err[-1] == "harness: invalid input; nothing was judged (exit 4)"
    assert not Path("audit/decisions.jsonl").exists()
    assert gate() == 0  # not recording: no actor is needed


# -- atomic writes keep the file's mode and respect read-only files -----------------------------

def test_an_atomic_write_keeps_the_mode_and_honours_the_umask(tmp_path):
    shared = tmp_path / "shared.json"
    shared.write_text("old")
    shared.chmod(0o644)
    write_atomic(shared, "new")
    assert shared.read_text() == "new" and stat.S_IMODE(shared.stat().st_mode) == 0o644
    old_umask = os.umask(0o027)
    try:
        write_atomic(tmp_path / "fresh.json", "x")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "fresh.json").stat().st_mode) == 0o640


def test_an_atomic_write_refuses_a_read_only_file(tmp_path):
    frozen = tmp_path / "registry.json"
    frozen.write_text("keep me")
    frozen.chmod(0o444)
    with pytest.raises(PermissionError, match="read-only"):
        write_atomic(frozen, "replaced")
    assert frozen.read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["registry.json"]  # no temporary file left


@pytest.mark.parametrize(("mode", "why"), [
    (0o444, "the file is read-only (its owner's write permission is off)"),
    (0o464, "the file is read-only (its owner's write permission is off)"),  # the group may write; the owner may not
])
def test_an_atomic_write_refuses_a_file_its_owner_made_read_only(tmp_path, mode, why):
    frozen = tmp_path / "registry.json"
    frozen.write_text("keep me")
    frozen.chmod(mode)
    with pytest.raises(PermissionError, match=re.escape(why)):
        write_atomic(frozen, "replaced")
    assert frozen.read_text() == "keep me"


def test_an_atomic_write_refuses_a_file_this_user_may_not_write(tmp_path, monkeypatch):
    """Someone else's file in a folder this user may write: a rename would get round its permissions."""
    theirs = tmp_path / "theirs.json"
    theirs.write_text("keep me")
    access = os.access

    def not_for_this_user(path, how, **options):
        return False if Path(path) == theirs else access(path, how, **options)

    monkeypatch.setattr(os, "access", not_for_this_user)
    with pytest.raises(PermissionError, match="this user may not write the file; not replaced"):
        write_atomic(theirs, "replaced")
    assert theirs.read_text() == "keep me"


def test_an_atomic_write_through_a_symbolic_link_replaces_the_file_it_points_at(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "registry.json"
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "registry.json"
    link.symlink_to(target)
    write_atomic(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(target)  # the link is kept
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real", "registry.json"]  # no temporary file left


# -- error lines cannot be forged ---------------------------------------------------------------

def test_a_newline_in_a_file_name_cannot_forge_an_error_line(workdir, capsys):
    forged = "x.yaml\nforged.yaml:1:1: all good"
    (workdir / "policies" / f"{forged}.yaml").write_text("id: [unclosed\n")
    assert main(["validate"]) == 4
    lines = capsys.readouterr().err.splitlines()
    assert not any(line.startswith("forged.yaml") for line in lines)
    assert any(line.startswith("policies/x.yaml\\nforged.yaml:1:1: all good.yaml:") for line in lines)


def test_error_lines_stay_one_per_error():
    from harness.cli.common import error_lines

    errors = InputErrors([InputError("bad\nfake: line"), InputError("\x1b[31mred")])
    assert error_lines(errors) == ["bad\\nfake: line", "\ufffd[31mred"]


def test_an_absolute_path_outside_the_working_directory_stays_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert display_path(Path("/nonexistent/policy.yaml")) == "/nonexistent/policy.yaml"
    assert display_path(tmp_path / "policies" / "a.yaml") == "policies/a.yaml"
    assert display_path(Path("relative/a.yaml")) == "relative/a.yaml"


# -- what a rule's findings show -------------------------------------------------------------------

CARDISH = r"\b\d{4}[ -]\d{4}[ -]\d{4}[ -]\d{4}\b"
NOT_LUHN = "4048 2814 8932 5288"  # card-shaped, fails the Luhn test: the pii detector lets it be


def _findings(repo, policy_id: str, extra: str = "") -> list[str]:
    repo.policy("p.yaml", f"""
        id: {policy_id}
        version: 1.0.0
        title: Card-like numbers
        severity: sev2
        on_fail: block
        owner: owner@example.com
        rules:
          - id: cardish
            check: regex
            pattern: '{CARDISH}'
            {extra}
        """)
    outputs = repo.outputs("o.jsonl", [{"case_id": "c1", "output": f"The number is {NOT_LUHN}, as asked."}])
    result = api.run_scan(outputs, policies=repo.policies, evals=None)
    return [f.masked for r in result.report.results for f in r.findings]


@pytest.mark.parametrize(("policy_id", "extra", "shown"), [
    ("privacy.cards", "", "**** **** **** ****"),          # a privacy policy masks by default
    ("quality.cards", "", NOT_LUHN),                        # elsewhere the match is shown
    ("quality.cards", "mask: full", "**** **** **** ****"),
    ("quality.cards", "mask: partial", "**** **** **** 5288"),
    ("privacy.cards", "mask: none", NOT_LUHN),              # the rule's own choice wins
])
def test_a_rule_says_how_its_findings_are_shown(repo, policy_id, extra, shown):
    assert _findings(repo, policy_id, extra) == [shown]


def test_a_policy_with_a_pii_rule_masks_its_other_rules(repo):
    repo.policy("p.yaml", f"""
        id: support.answers
        version: 1.0.0
        title: Answers
        severity: sev2
        on_fail: block
        owner: owner@example.com
        rules:
          - {{id: leaks, check: pii, kinds: [email]}}
          - {{id: cardish, check: regex, pattern: '{CARDISH}'}}
        """)
    outputs = repo.outputs("o.jsonl", [{"case_id": "c1", "output": f"Card {NOT_LUHN}."}])
    rendered = api.run_scan(outputs, policies=repo.policies, evals=None)
    found = [(r.rule, f.masked) for r in rendered.report.results for f in r.findings]
    assert found == [("cardish", "**** **** **** ****")]  # found, and masked like the policy's personal data
    for fmt in ("json", "junit", "markdown", "text"):
        assert "8932" not in render(rendered.report, fmt), fmt


def test_an_unknown_mask_mode_is_a_schema_error(repo, capsys):
    repo.policy("p.yaml", """
        id: quality.cards
        version: 1.0.0
        title: Cards
        severity: sev2
        on_fail: block
        owner: owner@example.com
        rules:
          - {id: cardish, check: regex, pattern: 'x', mask: partly}
        """)
    assert main(["validate", "--policies", str(repo.policies), "--evals", str(repo.evals)]) == 4
    assert "mask" in capsys.readouterr().err


def test_bidi_controls_cannot_reorder_what_a_terminal_shows():
    from harness.text.normalize import one_line, printable

    assert printable("ok \u202eevil\u202c done") == "ok \ufffdevil\ufffd done"
    assert "\u2066" not in one_line("a\u2066b\u2069")
