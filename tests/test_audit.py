"""The decision log: hash chain, tamper detection, concurrent appends."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import multiprocessing.synchronize
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.errors import ExitCode, InputError
from harness.release import decision_log as audit
from harness.release import provenance
from harness.release.decision_log import DecisionLogError

ROOT = Path(__file__).resolve().parents[1]


def _entry(i: int) -> dict[str, object]:
    return {
        "kind": "gate",
        "actor": "ci@example.com",
        "policy_commit": "abc123",
        "model": "support-bot" if i % 2 else "triage",
        "model_version": str(i),
        "verdict": "promote",
        "report_sha256": "f" * 64,
        "policy_sha256": {"policies/safety.yaml": "e" * 64},
        "details": {"i": i, "note": "café ✓"},
    }


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "audit" / "decisions.jsonl"
    for i in range(1, 6):
        audit.append_entry(path, _entry(i))
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_append_and_verify(log: Path) -> None:
    assert audit.verify_log(log) == 5
    entries = audit.read_log(log)
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev"] == audit.GENESIS
    for before, after in itertools.pairwise(entries):
        assert after["prev"] == audit.sha256_line(before)
    assert all(e["hash"] == audit.entry_hash(e) for e in entries)
    assert entries[2]["details"] == {"i": 3, "note": "café ✓"}
    assert entries[0]["time"].endswith("Z")
    assert [e["model_version"] for e in audit.read_log(log, model="triage")] == ["2", "4"]


def test_append_returns_written_entry_and_keeps_time(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    written = audit.append_entry(path, {"kind": "waiver", "time": "2024-01-01T00:00:00Z", "seq": 99, "hash": "x"})
    assert written["seq"] == 1 and written["time"] == "2024-01-01T00:00:00Z"
    assert json.loads(path.read_text(encoding="utf-8")) == written
    assert path.read_text(encoding="utf-8") == audit.canonical(written) + "\n"


def _edit(lines: list[str]) -> int:
    obj = json.loads(lines[2])
    obj["verdict"] = "block"
    lines[2] = audit.canonical(obj) + "\n"
    return 3


def _delete(lines: list[str]) -> int:
    del lines[1]
    return 2


def _insert_forged(lines: list[str]) -> int:
    # a well-formed entry with a correct hash of its own, but no place in the chain
    forged = {"kind": "waiver", "actor": "mallory", "seq": 3, "prev": audit.GENESIS, "time": "2024-01-01T00:00:00Z"}
    forged["hash"] = audit.entry_hash(forged)
    lines.insert(2, audit.canonical(forged) + "\n")
    return 3


def _swap(lines: list[str]) -> int:
    lines[1], lines[2] = lines[2], lines[1]
    return 2


def _truncate_last(lines: list[str]) -> int:
    lines[-1] = lines[-1][: len(lines[-1]) // 2]
    return 5


def _not_json(lines: list[str]) -> int:
    lines[3] = "hello\n"
    return 4


@pytest.mark.parametrize(
    ("tamper", "line", "why"),
    [
        pytest.param(_edit, 3, "hash mismatch", id="edit-field"),
        pytest.param(_delete, 2, "seq is 3, expected 2", id="delete-line"),
        pytest.param(_insert_forged, 3, "prev does not match", id="insert-forged"),
        pytest.param(_swap, 2, "seq is 3, expected 2", id="swap-lines"),
        pytest.param(_truncate_last, 5, "not JSON", id="truncate-last"),
        pytest.param(_not_json, 4, "not JSON", id="garbage-line"),
    ],
)
def test_tampering_names_first_bad_line(log: Path, tamper: Callable[[list[str]], int], line: int, why: str) -> None:
    lines = _lines(log)
    expected = tamper(lines)
    assert expected == line
    log.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(InputError) as info:
        audit.verify_log(log)
    assert info.value.location.line == line
    assert info.value.location.file == str(log)
    assert why in info.value.message
    assert f"{log}:{line}" in str(info.value)


def test_missing_newline_after_valid_last_line(log: Path) -> None:
    log.write_bytes(log.read_bytes().rstrip(b"\n"))
    with pytest.raises(InputError, match="not terminated") as info:
        audit.verify_log(log)
    assert info.value.location.line == 5


@pytest.mark.parametrize(
    "tamper",
    [pytest.param(_edit, id="edited-tail"), pytest.param(_truncate_last, id="truncated-tail")],
)
def test_append_refuses_corrupted_tail(log: Path, tamper: Callable[[list[str]], int]) -> None:
    lines = _lines(log)
    if tamper is _edit:
        obj = json.loads(lines[-1])
        obj["verdict"] = "block"
        lines[-1] = audit.canonical(obj) + "\n"
    else:
        tamper(lines)
    log.write_text("".join(lines), encoding="utf-8")
    before = log.read_bytes()
    with pytest.raises(DecisionLogError, match="refusing to append") as info:
        audit.append_entry(log, _entry(6))
    assert info.value.location.line == 5
    assert log.read_bytes() == before


def test_missing_file_is_an_environment_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(DecisionLogError, match="not found") as info:
        audit.verify_log(missing)
    assert info.value.location.file == str(missing)
    assert info.value.exit_code == ExitCode.ENVIRONMENT
    assert audit.read_log(missing) == []


def test_empty_file_has_no_entries(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("", encoding="utf-8")
    assert audit.verify_log(path) == 0


def test_unserialisable_entry_writes_nothing(tmp_path: Path, log: Path) -> None:
    new = tmp_path / "d.jsonl"
    with pytest.raises(InputError, match="JSON"):
        audit.append_entry(new, {"kind": "gate", "details": {"p": object()}})
    assert not new.exists()
    before = log.read_bytes()
    with pytest.raises(InputError, match="JSON"):
        audit.append_entry(log, {"kind": "gate", "details": {"p": object()}})
    assert log.read_bytes() == before
    assert audit.verify_log(log) == 5


def _append_many(path: Path, name: str, start: multiprocessing.synchronize.Barrier) -> None:
    start.wait(30)  # both writers begin together, so their appends race for the lock
    for i in range(100):
        audit.append_entry(path, {"kind": "gate", "actor": name, "details": {"i": i}})


def test_concurrent_appends_from_two_processes(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_append_many, args=(path, name, start)) for name in ("alice", "bob")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert audit.verify_log(path) == 200
    entries = audit.read_log(path)
    for name in ("alice", "bob"):
        assert [e["details"]["i"] for e in entries if e["actor"] == name] == list(range(100))


def test_current_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    assert provenance.current_actor("  lead@example.com ") == "lead@example.com"
    assert provenance.current_actor() == "octocat"
    monkeypatch.delenv("GITHUB_ACTOR")
    assert provenance.current_actor()  # git email or the OS user, never empty


@pytest.mark.parametrize(("config", "login", "refused"), [
    pytest.param('[user]\n\temail = "mallory\\nforged"\n', "ci", r"git config user.email: the actor 'mallory\nforged'",
                 id="git-email"),
    pytest.param("", "root\nforged", r"the login name ($LOGNAME, $USER or the password database): the actor"
                 r" 'root\nforged'", id="login"),
])
def test_an_actor_from_git_or_the_login_must_be_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        config: str, login: str, refused: str) -> None:
    (tmp_path / "gitconfig").write_text(config, encoding="utf-8")
    monkeypatch.delenv("GITHUB_ACTOR", raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("LOGNAME", login)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as error:
        provenance.current_actor()
    assert str(error.value) == (f"{refused} contains U+000A (a line break or control character); expected a name or an"
                                " e-mail address on one line")


def test_an_actor_is_checked_whoever_calls() -> None:
    assert provenance.current_actor(" lead@example.com ") == "lead@example.com"
    with pytest.raises(InputError, match=r"^--by: the actor is 300 characters long; expected at most 256$"):
        provenance.current_actor("x" * 300)
    with pytest.raises(InputError, match=r"^--by: the actor 'a\\tb' contains U\+0009"):
        provenance.current_actor("a\tb")


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_policy_commit(tmp_path: Path) -> None:
    assert provenance.policy_commit(tmp_path) is None
    _git(tmp_path, "init", "-q")
    (tmp_path / "p.yaml").write_text("a: 1\n", encoding="utf-8")
    _git(tmp_path, "add", "p.yaml")
    _git(tmp_path, "commit", "-q", "-m", "init")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert provenance.policy_commit(tmp_path) == head
    (tmp_path / "p.yaml").write_text("a: 2\n", encoding="utf-8")
    assert provenance.policy_commit(tmp_path) == f"{head}-dirty"


def test_entries_cut_off_the_end_are_detected(tmp_path):
    from harness.release.decision_log import append_entry, verify_log

    log = tmp_path / "decisions.jsonl"
    for i in range(5):
        append_entry(log, {"kind": "gate", "details": {"i": i}})
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:3]))
    with pytest.raises(InputError, match="entries 4 to 5 were deleted"):
        verify_log(log)


@pytest.mark.parametrize("cut", [
    pytest.param(lambda lines: [], id="log-removed"),
    pytest.param(lambda lines: lines[:3], id="log-cut-short"),
])
def test_an_append_never_hides_entries_cut_off_the_log(tmp_path: Path, cut: Callable[[list[str]], list[str]]) -> None:
    log = tmp_path / "decisions.jsonl"
    for i in range(5):
        audit.append_entry(log, _entry(i))
    kept = cut(log.read_text(encoding="utf-8").splitlines(keepends=True))
    if kept:
        log.write_text("".join(kept), encoding="utf-8")
    else:
        log.unlink()
    with pytest.raises(DecisionLogError, match="entries were removed; refusing to append"):
        audit.append_entry(log, _entry(9))
    with pytest.raises((DecisionLogError, InputError)):
        audit.verify_log(log)  # the loss still shows
