"""The audit trail under attack: killed promotions, forged log lines, lost rollback archives, hostile names.

Every test drives the real command on a copy of the shipped repository (``workdir``); processes
are killed for real, files are made read-only or replaced by directories for real.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import filelock
import pytest

from harness.cli import main
from harness.release import decision_log

MODEL = "acme-support-assistant"
LOG = Path("audit/decisions.jsonl")
REGISTRY = Path("audit/registry.json")
DAY = ["--today", "2026-11-27", "--backdate"]  # the shipped waivers are valid then


def gate_args(version: str, *extra: str, outputs: str | None = None) -> list[str]:
    return ["gate", "--outputs", outputs or f"examples/outputs/acme-support-{version}.jsonl", "--baseline",
            "examples/outputs/acme-support-1.0.0.jsonl", "--model", MODEL, "--model-version", version, *DAY,
            "--color", "never", *extra]


def gate(version: str, *extra: str) -> int:
    return main(gate_args(version, *extra))


def rollback(*extra: str) -> int:
    return main(["rollback", "--model", MODEL, *DAY, *extra])


def model_record() -> dict[str, Any]:
    return json.loads(REGISTRY.read_text())["models"][MODEL]


def champion() -> str | None:
    return model_record()["aliases"].get("champion")


def entries() -> list[dict[str, Any]]:
    return [json.loads(line) for line in LOG.read_text().splitlines()]


def serve_the_bad_one() -> None:
    assert gate("1.0.0", "--promote") == 0
    assert gate("1.1.0", "--promote") == 0
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.2.0", "--create",
                 "--reason", "hotfix deployed outside the gate"]) == 0


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    """Watch the files until ``condition`` holds; the process ending first is a failure (pytest-timeout guards)."""
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the gate exited ({proc.returncode}) before {what}: {proc.communicate()[1]}")
        time.sleep(0.02)


def intent_logged(version: str) -> bool:
    if not LOG.exists():
        return False
    return any(e["kind"] == "alias_move" and e["details"]["phase"] == "intent" and e["details"]["to"] == version
               for e in entries())


# -- item: promotions without a log entry -------------------------------------------------------


def test_a_promotion_killed_after_the_alias_moved_is_named_by_log_verify(workdir: Path, capsys: Any) -> None:
    """kill -9 between the registry's move and the log's outcome: `log verify` names the move, a re-run mends it.

    Real pause points, no test hook: the registry's write lock holds the gate after it logged its
    intent; the decision log's lock holds it after the alias moved, where it is killed.
    """
    assert gate("1.0.0", "--promote") == 0
    registry_lock = filelock.FileLock(str(REGISTRY.resolve()) + ".lock")
    log_lock = filelock.FileLock(str(LOG) + ".lock")
    registry_lock.acquire()
    proc = subprocess.Popen([sys.executable, "-m", "harness", *gate_args("1.1.0", "--promote")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: intent_logged("1.1.0"), proc, "logging its intent")
        assert champion() == "1.0.0"  # the intent is in the log before the registry changes
        log_lock.acquire()
        registry_lock.release()
        wait_for(lambda: champion() == "1.1.0", proc, "moving the alias")
        proc.kill()
        assert proc.wait() == -9
    finally:
        proc.kill()
        proc.communicate()
        log_lock.release()
        if registry_lock.is_locked:
            registry_lock.release()
    capsys.readouterr()
    assert main(["log", "verify"]) == 4
    err = capsys.readouterr().err
    assert f"harness: {MODEL}: alias 'champion' moved 1.0.0 -> 1.1.0 at " in err
    assert "has its intent (entry" in err and "but no outcome" in err
    assert "1 alias move(s)" in err and "no completed entry" in err

    assert gate("1.1.0", "--promote") == 0  # any recording of the model completes the record first
    [done] = [e for e in entries() if e["kind"] == "alias_move" and e["details"]["phase"] == "done"
              and e["details"]["to"] == "1.1.0"]
    assert done["details"]["note"].startswith("recovered: the process stopped after the registry moved")
    assert main(["log", "verify"]) == 0
    assert "2 alias move(s)" in capsys.readouterr().out


def test_a_promotion_killed_before_the_alias_moved_leaves_a_note_and_is_concluded(workdir: Path,
                                                                                capsys: Any) -> None:
    assert gate("1.0.0", "--promote") == 0
    registry_lock = filelock.FileLock(str(REGISTRY.resolve()) + ".lock")
    with registry_lock:
        proc = subprocess.Popen([sys.executable, "-m", "harness", *gate_args("1.1.0", "--promote")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: intent_logged("1.1.0"), proc, "logging its intent")
        finally:
            proc.kill()
            proc.communicate()
    assert champion() == "1.0.0"
    capsys.readouterr()
    assert main(["log", "verify"]) == 0  # nothing moved without a record
    assert "stopped before the registry moved it: nothing changed" in capsys.readouterr().err
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.0.0", "--reason", "re-seat"]) == 0
    abandoned = [e for e in entries() if e["kind"] == "alias_move" and e["details"]["phase"] == "abandoned"]
    assert [e["details"]["to"] for e in abandoned] == ["1.1.0"]


def _read_only(path: Path) -> None:
    path.chmod(0o444)


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "x").write_text("x")


def _malformed_last_line(path: Path) -> None:
    with path.open("a") as handle:
        handle.write('{"kind": "gate", "verdict": "promote"}\n')


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        pytest.param(_read_only, "the decision log is read-only", id="read-only-log"),
        pytest.param(_directory, "the decision log is a directory", id="directory-log"),
        pytest.param(_malformed_last_line, "refusing to append", id="malformed-last-line"),
    ],
)
def test_a_log_that_cannot_be_appended_to_stops_the_promotion_before_the_alias_moves(
        workdir: Path, capsys: Any, spoil: Callable[[Path], None], message: str) -> None:
    assert gate("1.0.0", "--promote") == 0
    spoil(LOG)
    before = REGISTRY.read_bytes()
    capsys.readouterr()
    assert gate("1.1.0", "--promote") == 6
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if message in line]
    assert line.startswith("harness: audit/decisions.jsonl")
    assert "Traceback" not in err and "internal error" not in err and "promoted:" not in err
    assert REGISTRY.read_bytes() == before and champion() == "1.0.0"  # no move, no tag, no registration


def test_a_read_only_registry_file_fails_the_recording_and_the_log_says_the_move_failed(workdir: Path,
                                                                                       capsys: Any) -> None:
    assert gate("1.0.0", "--promote") == 0
    REGISTRY.chmod(0o444)
    capsys.readouterr()
    assert gate("1.1.0", "--promote") == 6
    err = capsys.readouterr().err
    assert "cannot write the registry" in err and "the verdict PROMOTE above stands" in err
    phases = [e["details"]["phase"] for e in entries() if e["kind"] == "alias_move" and e["details"]["to"] == "1.1.0"]
    assert phases == ["intent", "failed"]
    REGISTRY.chmod(0o644)
    assert main(["log", "verify"]) == 0


def test_a_read_only_registry_folder_is_an_environment_error_with_one_line(workdir: Path, capsys: Any,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder refuses new files as a read-only one does for a user (root would write it, so it is simulated)."""
    assert gate("1.0.0", "--promote") == 0
    audit, make = Path("audit").resolve(), tempfile.mkstemp

    def read_only_audit(*args: Any, **kwargs: Any) -> tuple[int, str]:
        folder = kwargs.get("dir")
        if folder is not None and Path(folder).resolve() == audit:
            raise PermissionError(errno.EACCES, "Permission denied", str(folder))
        return make(*args, **kwargs)

    capsys.readouterr()
    with monkeypatch.context() as patched:
        patched.setattr(tempfile, "mkstemp", read_only_audit)
        assert gate("1.1.0", "--promote") == 6
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if "Permission denied" in line]
    assert line.startswith("harness: audit/decisions.jsonl.head: ") and line.endswith(": Permission denied")
    assert "Traceback" not in err and "the verdict PROMOTE above stands, but recording it failed (exit 6)" in err
    assert champion() == "1.0.0"
    assert main(["log", "verify"]) == 0


def test_log_verify_names_an_alias_move_made_behind_the_logs_back(workdir: Path, capsys: Any) -> None:
    assert gate("1.0.0", "--promote") == 0
    assert gate("1.1.0", "--promote") == 0
    data = json.loads(REGISTRY.read_text())
    record = data["models"][MODEL]
    record["versions"]["6.6.6"] = {"tags": {}, "created_at": "2026-11-27T00:00:00.000Z"}
    record["aliases"]["champion"] = "6.6.6"
    record["history"].append({"alias": "champion", "from": "1.1.0", "to": "6.6.6", "at": "2026-11-27T00:00:00.000Z",
                              "actor": "mallory", "reason": "promoted by the gate (report 000000000000)"})
    REGISTRY.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["log", "verify"]) == 4
    err = capsys.readouterr().err
    assert (f"harness: {MODEL}: alias 'champion' moved 1.1.0 -> 6.6.6 at 2026-11-27T00:00:00.000Z by mallory"
            " (promoted by the gate (report 000000000000)): no entry in the decision log records this move") in err
    assert main(["log", "verify", "--chain-only"]) == 0  # the chain itself is intact


def test_log_verify_names_a_done_move_deleted_from_the_registry(workdir: Path, capsys: Any) -> None:
    """The attack: the last move popped from the registry's history and the alias set back where it was before."""
    for version in ("1.2.0", "1.1.0"):
        assert main(["registry", "alias", "--model", MODEL, "--version", version, "--create", "--reason", "hand"]) == 0
    [*_, last] = [e for e in entries() if e["kind"] == "alias_move" and e["details"]["phase"] == "done"]
    move_id = last["details"]["move"]
    data = json.loads(REGISTRY.read_text())
    record = data["models"][MODEL]
    assert record["history"].pop()["reason"].endswith(f"[move {move_id}]")
    record["aliases"]["champion"] = "1.2.0"
    REGISTRY.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["log", "verify"]) == 4
    err = capsys.readouterr().err
    assert (f"harness: {MODEL}: entry {last['seq']} of the decision log says move {move_id} of alias 'champion' to"
            " 1.1.0 was done, but the registry's history of the alias has no such move: it was removed from the"
            " registry") in err
    assert (f"harness: {MODEL}: alias 'champion' points at 1.2.0 but the decision log's last done move of it (move"
            f" {move_id}, entry {last['seq']}) put it at 1.1.0, and the registry records no move since") in err
    assert main(["log", "verify", "--chain-only"]) == 0  # the log itself is intact


def test_log_verify_names_done_moves_the_registry_reordered(workdir: Path, capsys: Any) -> None:
    for version in ("1.2.0", "1.1.0", "1.0.0"):
        assert main(["registry", "alias", "--model", MODEL, "--version", version, "--create", "--reason", "hand"]) == 0
    first, second, _ = [e["details"]["move"] for e in entries()
                        if e["kind"] == "alias_move" and e["details"]["phase"] == "done"]
    data = json.loads(REGISTRY.read_text())
    history = data["models"][MODEL]["history"]
    history[0], history[1] = history[1], history[0]
    REGISTRY.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["log", "verify"]) == 4
    assert (f"says move {second} of alias 'champion' to 1.1.0 was done after move {first}, but the registry's"
            " history has it before: the history was rewritten") in capsys.readouterr().err


def _forge_move(to: str, reason: str, *, from_version: str) -> None:
    """A move written into the file registry by hand, the alias pointed at its target: nothing in the log."""
    data = json.loads(REGISTRY.read_text())
    record = data["models"][MODEL]
    record["versions"].setdefault(to, {"tags": {}, "created_at": "2026-11-27T00:00:00.000Z"})
    record["aliases"]["champion"] = to
    record["history"].append({"alias": "champion", "from": from_version, "to": to, "at": "2026-11-28T00:00:00.000Z",
                              "actor": "mallory", "reason": reason})
    REGISTRY.write_text(json.dumps(data))


def test_a_move_that_borrows_a_real_rollbacks_id_is_named(workdir: Path, capsys: Any) -> None:
    serve_the_bad_one()
    assert rollback() == 0
    [done] = [e for e in entries() if e["kind"] == "rollback"]
    rollback_id = done["details"]["rollback"]
    [intent] = [e for e in entries() if e["kind"] == "alias_move" and e["details"].get("cause") == "rollback"]
    [trigger] = [e for e in entries() if e["kind"] == "rollback_step" and e["details"]["step"] == "trigger"]
    assert trigger["details"]["move"] == intent["details"]["move"]  # the trigger step names the move it made
    _forge_move("6.6.6", f"rollback {rollback_id}: leak", from_version="1.1.0")
    capsys.readouterr()
    assert main(["log", "verify"]) == 4
    err = capsys.readouterr().err
    assert (f"harness: {MODEL}: alias 'champion' moved 1.1.0 -> 6.6.6 at 2026-11-28T00:00:00.000Z by mallory"
            f" (rollback {rollback_id}: leak): no entry in the decision log records this move") in err


def test_an_old_trigger_entry_accounts_only_for_the_move_to_its_version(workdir: Path, capsys: Any) -> None:
    """Before move ids: a rollback's trigger entry vouches for one move of that rollback, to the version it names."""
    from harness.release.registry import open_registry

    registry = open_registry(str(REGISTRY))
    for version in ("1.0.0", "1.2.0"):
        registry.register(MODEL, version)
    registry.move_alias(MODEL, "champion", "1.2.0", actor="ci", reason="rollback 0123456789ab: leak")
    decision_log.append_entry(LOG, {"kind": "rollback_step", "model": MODEL, "model_version": "1.0.0", "details": {
        "rollback": "0123456789ab", "step": "trigger", "from": "1.2.0", "to": "1.0.0"}})
    capsys.readouterr()
    assert main(["log", "verify"]) == 4
    err = capsys.readouterr().err
    assert f"harness: {MODEL}: alias 'champion' moved (not set) -> 1.2.0 at " in err
    assert "by ci (rollback 0123456789ab: leak): no entry in the decision log records this move" in err


def test_an_alias_pointed_elsewhere_without_any_history_is_named(workdir: Path, capsys: Any) -> None:
    assert gate("1.0.0", "--promote") == 0
    data = json.loads(REGISTRY.read_text())
    data["models"][MODEL]["versions"]["6.6.6"] = {"tags": {}, "created_at": ""}
    data["models"][MODEL]["aliases"]["champion"] = "6.6.6"
    REGISTRY.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["log", "verify"]) == 4
    assert "alias 'champion' points at 6.6.6 but its last recorded move was to 1.0.0" in capsys.readouterr().err


def test_a_log_and_registry_written_before_move_ids_still_verify(workdir: Path, capsys: Any) -> None:
    """Entries of the previous format: a promotion, a manual move and a rollback's trigger step, no intents."""
    from harness.release.registry import open_registry

    registry = open_registry(str(REGISTRY))
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        registry.register(MODEL, version)
    old = [("1.0.0", "promoted by the gate (report 1ac988c550c7)",
            {"kind": "promotion", "details": {"alias": "champion"}}),
           ("1.2.0", "by hand: hotfix", {"kind": "manual_alias", "details": {"alias": "champion", "from": "1.0.0"}}),
           ("1.0.0", "rollback 0123456789ab: leak", {"kind": "rollback_step", "details": {
               "rollback": "0123456789ab", "step": "trigger", "from": "1.2.0", "to": "1.0.0"}})]
    for version, reason, entry in old:
        registry.move_alias(MODEL, "champion", version, actor="ci", reason=reason)
        decision_log.append_entry(LOG, {**entry, "model": MODEL, "model_version": version})
    capsys.readouterr()
    assert main(["log", "verify"]) == 0
    assert "3 alias move(s)" in capsys.readouterr().out
    registry.move_alias(MODEL, "champion", "1.2.0", actor="mallory", reason="by hand: again")  # no entry
    assert main(["log", "verify"]) == 4
    assert "mallory (by hand: again): no entry in the decision log records this move" in capsys.readouterr().err


# -- item: log verify checks bytes, not parsed entries ------------------------------------------


def _duplicate_key(line: str) -> str:
    assert '"verdict":"promote"' in line
    return line.replace('{"actor"', '{"verdict":"block","actor"', 1)  # json.loads keeps the last value


def _spaced(line: str) -> str:
    return json.dumps(json.loads(line))  # the same entry, written another way


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        pytest.param(_duplicate_key, "duplicate key 'verdict'", id="duplicate-key"),
        pytest.param(_spaced, "not byte for byte the entry its hash covers", id="re-serialised"),
    ],
)
def test_a_line_that_parses_to_a_valid_entry_but_is_not_its_bytes_is_an_edit(workdir: Path, capsys: Any,
                                                                          edit: Callable[[str], str],
                                                                          why: str) -> None:
    assert gate("1.0.0", "--promote") == 0
    lines = LOG.read_text(encoding="utf-8").splitlines()
    lines[0] = edit(lines[0])
    LOG.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["log", "verify"]) == 4
    err = capsys.readouterr().err
    assert "audit/decisions.jsonl:1:" in err and why in err


# -- items: rollback archive and log order --------------------------------------------------------


def test_a_rollback_killed_before_archiving_keeps_its_record_when_the_next_one_runs(workdir: Path) -> None:
    serve_the_bad_one()
    assert rollback() == 0
    rollbacks = Path("audit/rollbacks")
    [archive] = rollbacks.glob(f"{MODEL}.*.done.json")
    first = json.loads(archive.read_text())
    # what a kill between saving the "done" state and archiving it leaves behind
    archive.rename(rollbacks / f"{MODEL}.json")
    assert first["status"] == "done"
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.2.0", "--reason", "again"]) == 0
    assert rollback("--to", "1.0.0", "--reason", "second") == 0
    archived = {json.loads(p.read_text())["id"]: json.loads(p.read_text())
                for p in rollbacks.glob(f"{MODEL}.*.done.json")}
    assert first["id"] in archived and len(archived) == 2
    assert archived[first["id"]]["steps"] == first["steps"]
    assert not (rollbacks / f"{MODEL}.json").exists()


def test_a_rollback_killed_after_its_last_entry_finishes_without_writing_it_twice(workdir: Path) -> None:
    serve_the_bad_one()
    assert rollback() == 0
    rollbacks = Path("audit/rollbacks")
    [archive] = rollbacks.glob(f"{MODEL}.*.done.json")
    state = json.loads(archive.read_text())
    # what a kill after the `rollback` entry was appended, before the state recorded it, leaves behind
    state.update(status="in_progress", done_entry=None)
    (rollbacks / f"{MODEL}.json").write_text(json.dumps(state))
    archive.unlink()
    assert rollback() == 0
    assert [e["kind"] for e in entries()].count("rollback") == 1
    assert json.loads(archive.read_text())["status"] == "done"
    assert not (rollbacks / f"{MODEL}.json").exists()


def test_the_rollback_entry_comes_after_the_document_step_it_sums_up(workdir: Path) -> None:
    serve_the_bad_one()
    assert main(["incident", "open", "--title", "slow answers", "--severity", "sev3", "--model", MODEL,
                 "--model-version", "1.2.0"]) == 0
    from harness.incidents import IncidentStore

    assert rollback("--incident", IncidentStore("incidents").ids()[-1]) == 0
    kinds = [(e["kind"], e["details"].get("step")) for e in entries() if e["kind"].startswith("rollback")]
    assert kinds == [("rollback_step", s) for s in ("verify", "trigger", "notify", "validate", "document")] + [
        ("rollback", None)]
    done = entries()[-1]
    assert done["details"]["steps"]["document"]["status"] == "ok"
    assert done["details"]["judged_on"] == "2026-11-27" and done["details"]["backdated"] is True


def test_gate_entries_record_the_judging_date_and_whether_it_was_backdated(workdir: Path) -> None:
    assert gate("1.0.0", "--promote") == 0
    for kind in ("gate", "promotion"):
        [entry] = [e for e in entries() if e["kind"] == kind]
        assert entry["details"]["judged_on"] == "2026-11-27"
        assert entry["details"]["backdated"] is True


def test_a_gate_judged_today_records_the_clocks_date_and_not_backdated(workdir: Path) -> None:
    from harness import api
    from harness.clock import FixedClock

    clock = FixedClock("2026-11-27T09:30:00Z")
    project = api.load("policies", "evals")
    settings = api.release_settings(project.playbook, registry=f"file://{REGISTRY}", decision_log=LOG)
    result = api.run_gate("examples/outputs/acme-support-1.1.0.jsonl", project=project,
                          baseline="examples/outputs/acme-support-1.0.0.jsonl", clock=clock)
    api.record_release(result, settings=settings, model=MODEL, version="1.1.0", promote=True, actor="ci", clock=clock)
    for kind in ("gate", "promotion"):
        [entry] = [e for e in entries() if e["kind"] == kind]
        assert (entry["details"]["judged_on"], entry["details"]["backdated"]) == ("2026-11-27", False)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        pytest.param("id", "x/../../../escaped", "expected a rollback id (12 hexadecimal digits)", id="id-escapes"),
        pytest.param("to_version", "../1.1.0", "expected a version of the documented form", id="to-version"),
        pytest.param("from_version", ["1.2.0"], "expected a version or null of the documented form",
                     id="from-version"),
        pytest.param("model", "someone-else", "the state of 'someone-else' in the file of", id="other-model"),
    ],
)
def test_a_tampered_rollback_state_is_refused_naming_the_field(workdir: Path, capsys: Any, field: str,
                                                               value: Any, expected: str) -> None:
    serve_the_bad_one()
    assert rollback("--hook", "false") == 1  # stops at step 2, its state kept to resume
    state = Path(f"audit/rollbacks/{MODEL}.json")
    data = json.loads(state.read_text())
    data[field] = value
    state.write_text(json.dumps(data))
    before = sorted(str(p) for p in Path().rglob("*") if "audit" in p.parts or p.name.startswith("escaped"))
    capsys.readouterr()
    assert rollback("--hook", "true") == 4
    [line] = [line for line in capsys.readouterr().err.splitlines() if "rollback state" in line]
    assert line.startswith(f"{state}: $.{field}: unreadable rollback state: ")
    assert expected in line and line.endswith("inspect it, then delete it to start over")
    after = sorted(str(p) for p in Path().rglob("*") if "audit" in p.parts or p.name.startswith("escaped"))
    assert after == before  # nothing written, inside the state folder or out of it
    assert champion() == "1.1.0"  # where step 2 of the first run put it


# -- item: terminal injection and names -----------------------------------------------------------

ESC = "\x1b]0;owned\x07\x1b[2J"


def test_a_model_version_from_the_outputs_is_checked_before_it_reaches_the_registry(workdir: Path,
                                                                                     capsys: Any) -> None:
    source = Path("examples/outputs/acme-support-1.1.0.jsonl")
    hostile = Path("examples/outputs/hostile.jsonl")
    hostile.write_text(source.read_text().replace('"1.1.0"', json.dumps("1.1.0" + ESC)))
    code = main(["gate", "--outputs", str(hostile), "--baseline", "examples/outputs/acme-support-1.0.0.jsonl",
                 "--model", MODEL, *DAY, "--promote"])
    captured = capsys.readouterr()
    assert code == 4
    assert "\x1b" not in captured.err
    assert "the outputs' model_version field '1.1.0\\x1b]0;owned\\x07\\x1b[2J' is not a valid version" in captured.err
    assert not REGISTRY.exists()


@pytest.mark.parametrize(
    ("args", "source"),
    [
        pytest.param(["--version", "1.2.0 beta"], "--version", id="space"),
        pytest.param(["--version", "../1.2.0"], "--version", id="slash"),
        pytest.param(["--version", "1.2.0\x9b31m"], "--version", id="c1-csi"),
        pytest.param(["--version", "1.2.0", "--alias", "champ ion"], "the serving alias", id="alias"),
    ],
)
def test_names_and_versions_are_refused_unless_of_the_documented_form(workdir: Path, capsys: Any,
                                                                    args: list[str], source: str) -> None:
    assert main(["registry", "alias", "--model", MODEL, "--create", "--reason", "x", *args]) == 4
    err = capsys.readouterr().err
    assert f"{source} " in err and "expected 1 to 128 letters, digits" in err
    assert "\x9b" not in err and not REGISTRY.exists() and not LOG.exists()


def test_hook_output_and_reasons_printed_by_rollback_cannot_forge_lines(workdir: Path, capsys: Any) -> None:
    serve_the_bad_one()
    assert gate("1.2.1", "--registry", "file://audit/registry.json") == 1  # tagged blocked
    hook = f"{sys.executable} -c \"print('deployed\\nharness: rollback verified by the governance lead\\x1b[2J')\""
    reason = "approved\nharness: forged line"
    capsys.readouterr()
    assert rollback("--to", "1.2.1", "--force", "--reason", reason, "--hook", hook, "--health-check", "true") == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert not [line for line in out.splitlines() if line.startswith("harness:")]
    assert "      | harness: rollback verified by the governance lead\ufffd[2J" in out
    assert "1.2.1 was tagged blocked; forced: approved\\nharness: forged line" in out


def test_registry_show_and_log_show_escape_what_was_recorded(workdir: Path, capsys: Any) -> None:
    assert gate("1.0.0", "--promote") == 0
    reason = "hotfix\x1b]8;;http://evil.example\x07click\x1b]8;;\x07\x9b2J"
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.0.0", "--reason", reason]) == 0
    capsys.readouterr()
    assert main(["registry", "show", "--model", MODEL]) == 0
    assert main(["log", "show"]) == 0
    assert main(["log", "show", "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert not {"\x1b", "\x07", "\x9b"} & set(out)
    assert "\\u009b2J" in out  # the JSON keeps the text, escaped


# -- item: messages -----------------------------------------------------------------------------


def test_a_resumed_rollback_with_a_bad_notifier_is_invalid_input_not_a_failed_step(workdir: Path,
                                                                                   capsys: Any) -> None:
    serve_the_bad_one()
    assert rollback("--hook", "false") == 1  # stops at step 2, to be resumed
    state = Path(f"audit/rollbacks/{MODEL}.json")
    before = state.read_text()
    capsys.readouterr()
    assert rollback("--notifier", "smtp:localhost:abc:me@example.com") == 4
    err = capsys.readouterr().err
    assert "port must be an integer" in err and "step 3" not in err
    assert state.read_text() == before


@pytest.mark.parametrize(
    ("edit", "path", "expected"),
    [
        pytest.param(lambda m: m["history"][0].update({"from": ["x"]}), "history[0].from",
                     "expected a version string or null, got a list", id="from-list"),
        pytest.param(lambda m: m["history"][0].update({"reason": {"why": 1}}), "history[0].reason",
                     "expected a string, got an object", id="reason-object"),
        pytest.param(lambda m: m["history"].append("moved"), "history[1]",
                     "expected a move (an object with alias, from, to, at, actor, reason), got a string",
                     id="move-string"),
    ],
)
def test_a_registry_file_of_the_wrong_shape_names_the_field(workdir: Path, capsys: Any,
                                                           edit: Callable[[dict[str, Any]], None], path: str,
                                                           expected: str) -> None:
    assert gate("1.0.0", "--promote") == 0
    data = json.loads(REGISTRY.read_text())
    edit(data["models"][MODEL])
    REGISTRY.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["registry", "show", "--model", MODEL]) == 6
    [line, *_] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"harness: {REGISTRY.resolve()}: $.models.{MODEL}.{path}: corrupted registry file: ")
    assert line.endswith(expected)


# -- item: environment failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        pytest.param('{"seq": 1e999, "hash": "x"}\n', id="overflowing-seq"),
        pytest.param('{"seq": 12345678901234567890123, "hash": "x"}\n', id="huge-seq"),
        pytest.param("not json\n", id="garbage"),
        pytest.param(None, id="directory"),
    ],
)
def test_a_damaged_head_record_is_an_environment_error_in_one_line(workdir: Path, capsys: Any,
                                                                  head: str | None) -> None:
    assert gate("1.0.0", "--promote") == 0
    path = Path("audit/decisions.jsonl.head")
    path.unlink()
    if head is None:
        path.mkdir()
    else:
        path.write_text(head)
    capsys.readouterr()
    assert main(["log", "verify"]) == 6
    assert gate("1.1.0", "--promote") == 6
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err
    assert "audit/decisions.jsonl.head: " in err and "expected {\"seq\": <number of entries>" in err
    assert champion() == "1.0.0"


def test_the_demo_story_verifies_end_to_end(workdir: Path, capsys: Any) -> None:
    serve_the_bad_one()
    assert gate("1.2.0", "--on-rollback", "execute") == 3
    assert main(["log", "verify"]) == 0
    out = capsys.readouterr().out
    assert "4 alias move(s)" in out and "each with its entry" in out
    assert main(["log", "verify", "--log", str(LOG), "--registry", f"file://{REGISTRY}"]) == 0
