"""The evidence vault: content-addressed, read-only copies; originals untouched; bad sources refused up front."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.clock import FixedClock
from harness.errors import EnvError, InputError, InputErrors
from harness.incidents import IncidentStore, evidence
from harness.incidents.evidence import capture, check_sources, strays, verify, writable
from harness.incidents.model import Incident

LOG = b"2026-03-09T15:40:00Z user=42 prompt='who ordered this?' answer='jane@example.com'\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def listing(folder: Path) -> dict[str, bytes] | None:
    """Every file of ``folder`` with its bytes (``None`` when the folder does not exist)."""
    if not folder.exists():
        return None
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture
def store(tmp_path: Path) -> IncidentStore:
    return IncidentStore(tmp_path / "incidents", clock=FixedClock("2026-03-09T16:00:00Z"))


@pytest.fixture
def incident(store: IncidentStore) -> Incident:
    return store.create({"title": "PII echoed", "severity": "sev1", "detected": "2026-03-09T15:42:00Z",
                         "model": "acme-support-assistant", "model_version": "0.9.2"})


def record_evidence(store: IncidentStore, incident_id: str, *paths: Path) -> Incident:
    """What ``evidence add`` does: capture, then one event per file."""
    with store.transaction(incident_id) as tx:
        fields = capture(store.vault(incident_id), paths)
        return tx.append(*(tx.event("evidence", by="oncall@example.com", **f) for f in fields))


# -- capture -------------------------------------------------------------------------------------


def test_capture_stores_a_read_only_copy_under_its_sha256(tmp_path: Path) -> None:
    source = tmp_path / "transcript.log"
    source.write_bytes(LOG)
    vault = tmp_path / "incidents" / "evidence" / "INC-2026-0001"

    [fields] = capture(vault, [source])

    assert fields == {"name": "transcript.log", "sha256": sha(LOG), "size": len(LOG), "source": str(source)}
    stored = vault / sha(LOG)
    assert stored.read_bytes() == LOG
    assert stat.S_IMODE(stored.stat().st_mode) == 0o444
    assert stat.S_IMODE(vault.stat().st_mode) == 0o755
    assert listing(vault) == {sha(LOG): LOG}  # no temporary file left behind


def test_capture_records_a_relative_path_as_an_absolute_source(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_bytes(LOG)
    monkeypatch.chdir(tmp_path)

    [fields] = capture(Path("vault"), ["logs/app.log"])

    assert fields["source"] == str(tmp_path / "logs" / "app.log")
    assert fields["name"] == "app.log"


def test_identical_content_is_stored_once(tmp_path: Path) -> None:
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_bytes(LOG)
    second.write_bytes(LOG)
    vault = tmp_path / "vault"

    fields = capture(vault, [first, second])
    again = capture(vault, [first])

    assert [f["name"] for f in fields] == ["a.log", "b.log"]
    assert {f["sha256"] for f in [*fields, *again]} == {sha(LOG)}
    assert listing(vault) == {sha(LOG): LOG}


def test_a_file_named_twice_is_captured_once(tmp_path: Path) -> None:
    source = tmp_path / "a.log"
    source.write_bytes(LOG)
    assert len(capture(tmp_path / "vault", [source, str(source), tmp_path / "." / "a.log"])) == 1


def test_a_symbolic_link_to_a_file_is_captured_by_its_own_name(tmp_path: Path) -> None:
    target = tmp_path / "real.log"
    target.write_bytes(LOG)
    link = tmp_path / "latest.log"
    link.symlink_to(target)

    [fields] = capture(tmp_path / "vault", [link])

    assert fields["name"] == "latest.log" and fields["source"] == str(link)
    assert (tmp_path / "vault" / sha(LOG)).read_bytes() == LOG
    assert link.is_symlink()


def test_the_originals_are_never_modified(tmp_path: Path) -> None:
    source = tmp_path / "outputs.jsonl"
    source.write_bytes(LOG)
    os.chmod(source, 0o640)
    os.utime(source, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    before = source.stat()

    capture(tmp_path / "vault", [source])

    after = source.stat()
    assert source.read_bytes() == LOG
    assert stat.S_IMODE(after.st_mode) == 0o640
    assert after.st_mtime_ns == before.st_mtime_ns == 1_700_000_000_000_000_000
    assert after.st_ino == before.st_ino


def test_an_interrupted_copy_leaves_nothing_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "a.log"
    source.write_bytes(LOG)
    vault = tmp_path / "vault"

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(evidence.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        capture(vault, [source])
    monkeypatch.undo()

    assert listing(vault) == {}  # neither a temporary file nor a name with partial content
    capture(vault, [source])
    assert listing(vault) == {sha(LOG): LOG}


def test_other_bytes_under_a_sha256_name_are_not_taken_for_the_evidence(tmp_path: Path) -> None:
    source = tmp_path / "a.log"
    source.write_bytes(LOG)
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / sha(LOG)).write_bytes(b"forged")

    with pytest.raises(EnvError, match="already holds other bytes under this sha256 name") as caught:
        capture(vault, [source])

    assert str(vault / sha(LOG)) in str(caught.value)
    assert listing(vault) == {sha(LOG): b"forged"}


def test_a_writable_stored_copy_with_the_right_content_is_made_read_only_again(tmp_path: Path) -> None:
    source = tmp_path / "a.log"
    source.write_bytes(LOG)
    vault = tmp_path / "vault"
    capture(vault, [source])
    os.chmod(vault / sha(LOG), 0o644)

    capture(vault, [source])

    assert stat.S_IMODE((vault / sha(LOG)).stat().st_mode) == 0o444


# -- refused sources: nothing is copied ----------------------------------------------------------


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "no-such.log"


def _dangling(tmp_path: Path) -> Path:
    link = tmp_path / "dangling.log"
    link.symlink_to(tmp_path / "gone.log")
    return link


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.log"
    os.mkfifo(path)
    return path


def _directory(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


def _unreadable(tmp_path: Path) -> Path:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    path = tmp_path / "secret.log"
    path.write_bytes(LOG)
    os.chmod(path, 0)
    return path


def _inside_the_vault(tmp_path: Path) -> Path:
    path = tmp_path / "vault" / "planted.log"
    path.write_bytes(LOG)
    return path


@pytest.mark.parametrize(("make", "reason"), [
    pytest.param(_missing, "no such file", id="missing"),
    pytest.param(_dangling, "broken symbolic link (to '", id="dangling-symlink"),
    pytest.param(_fifo, "not a regular file (a pipe, socket or device)", id="fifo"),
    pytest.param(_directory, "is a directory", id="directory"),
    pytest.param(_unreadable, "cannot be read (Permission denied)", id="unreadable"),
    pytest.param(_inside_the_vault, "is inside the evidence vault", id="inside-the-vault"),
])
def test_a_bad_source_is_refused_before_anything_is_copied(tmp_path: Path, make: Callable[[Path], Path],
                                                           reason: str) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    good = tmp_path / "good.log"
    good.write_bytes(LOG)
    bad = make(tmp_path)
    before = listing(vault)

    with pytest.raises(InputError) as caught:
        capture(vault, [good, bad])

    assert not isinstance(caught.value, InputErrors)
    assert str(caught.value).startswith(f"{bad}: ")
    assert reason in str(caught.value)
    assert listing(vault) == before  # the good file was not copied either


def test_a_file_over_the_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence, "MAX_EVIDENCE_BYTES", len(LOG) - 1)
    source = tmp_path / "big.log"
    source.write_bytes(LOG)
    with pytest.raises(InputError, match=rf"big.log: is {len(LOG)} bytes; evidence files are limited to"):
        capture(tmp_path / "vault", [source])
    assert not (tmp_path / "vault").exists()


def test_every_bad_source_is_named_at_once(tmp_path: Path) -> None:
    missing, folder, fifo = _missing(tmp_path), _directory(tmp_path), _fifo(tmp_path)
    with pytest.raises(InputErrors) as caught:
        check_sources([missing, folder, fifo])
    assert [str(e) for e in caught.value.errors] == [
        f"{missing}: no such file; expected a file to capture as evidence",
        f"{folder}: is a directory; expected a file (name the files inside it)",
        f"{fifo}: not a regular file (a pipe, socket or device); expected a file to capture as evidence",
    ]


def test_the_vault_is_not_created_when_a_source_is_refused(tmp_path: Path) -> None:
    vault = tmp_path / "incidents" / "evidence" / "INC-2026-0001"
    with pytest.raises(InputError):
        capture(vault, [_missing(tmp_path)])
    assert not (tmp_path / "incidents").exists()


# -- verify --------------------------------------------------------------------------------------


def test_verify_finds_an_intact_vault_intact(tmp_path: Path, store: IncidentStore, incident: Incident) -> None:
    source = tmp_path / "a.log"
    source.write_bytes(LOG)
    loaded = record_evidence(store, incident.id, source)
    assert [e.get("sha256") for e in loaded.of_type("evidence")] == [sha(LOG)]
    assert verify(store.load(incident.id), store.vault(incident.id)) == []


def test_verify_finds_a_tampered_file(tmp_path: Path, store: IncidentStore, incident: Incident) -> None:
    (tmp_path / "a.log").write_bytes(LOG)
    (tmp_path / "b.log").write_bytes(b"second file\n")
    record_evidence(store, incident.id, tmp_path / "a.log", tmp_path / "b.log")
    stored = store.vault(incident.id) / sha(LOG)
    os.chmod(stored, 0o644)
    stored.write_bytes(LOG.replace(b"jane", b"joan"))  # same size, other bytes

    problems = verify(store.load(incident.id), store.vault(incident.id))

    events = store.events_path(incident.id)
    assert problems == [f"{events}:1: evidence event 1 (a.log): {stored}: has sha256"
                        f" {sha(LOG.replace(b'jane', b'joan'))}; the event records {sha(LOG)} (the content changed)"]


def test_verify_finds_a_deleted_file(tmp_path: Path, store: IncidentStore, incident: Incident) -> None:
    (tmp_path / "a.log").write_bytes(LOG)
    record_evidence(store, incident.id, tmp_path / "a.log")
    stored = store.vault(incident.id) / sha(LOG)
    stored.unlink()

    problems = verify(store.load(incident.id), store.vault(incident.id))

    assert problems == [f"{store.events_path(incident.id)}:1: evidence event 1 (a.log): {stored}: missing from the"
                        " vault"]


def test_verify_finds_a_truncated_file_and_lists_writable_ones_apart(tmp_path: Path, store: IncidentStore,
                                                        incident: Incident) -> None:
    (tmp_path / "a.log").write_bytes(LOG)
    (tmp_path / "b.log").write_bytes(b"second file\n")
    record_evidence(store, incident.id, tmp_path / "a.log")
    record_evidence(store, incident.id, tmp_path / "b.log")
    vault = store.vault(incident.id)
    os.chmod(vault / sha(LOG), 0o644)
    os.chmod(vault / sha(b"second file\n"), 0o644)
    (vault / sha(b"second file\n")).write_bytes(b"")

    problems = verify(store.load(incident.id), vault)
    notes = writable(store.load(incident.id), vault)

    assert [p.split(f"{vault}/")[1] for p in problems] == [
        f"{sha(b'second file' + bytes([10]))}: is 0 bytes; the event records 12"]
    assert "evidence event 2 (b.log)" in problems[0]
    # intact but writable (as every git clone has it): a note, not a problem of its content
    assert [n.split(f"{vault}/")[1] for n in notes] == [
        f"{sha(LOG)}: is writable (mode 644); stored evidence is read-only (444)",
        f"{sha(b'second file' + bytes([10]))}: is writable (mode 644); stored evidence is read-only (444)"]


def test_verify_finds_a_symbolic_link_planted_in_place_of_a_file(tmp_path: Path, store: IncidentStore,
                                                                incident: Incident) -> None:
    (tmp_path / "a.log").write_bytes(LOG)
    record_evidence(store, incident.id, tmp_path / "a.log")
    stored = store.vault(incident.id) / sha(LOG)
    stored.unlink()
    stored.symlink_to(tmp_path / "a.log")  # same bytes, but no longer the vault's copy

    [problem] = verify(store.load(incident.id), store.vault(incident.id))

    assert problem.endswith(f"{stored}: not a regular file (the vault holds only plain files)")


# -- links and strays ----------------------------------------------------------------------------


@pytest.mark.parametrize("linked", ["evidence", "vault"])
def test_capture_refuses_a_vault_that_is_a_symbolic_link(tmp_path: Path, store: IncidentStore, incident: Incident,
                                                         linked: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    vault = store.vault(incident.id)
    link = vault.parent if linked == "evidence" else vault
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside, target_is_directory=True)
    (tmp_path / "a.log").write_bytes(LOG)

    with pytest.raises(EnvError) as caught:
        capture(vault, [tmp_path / "a.log"])

    assert caught.value.location.file == str(link)
    assert caught.value.message.startswith(f"is a symbolic link (to {str(outside)!r}); the evidence vault must be"
                                           " a real folder")
    assert list(outside.iterdir()) == []  # nothing written where the link points


def test_verify_refuses_a_vault_moved_out_and_linked_back(tmp_path: Path, store: IncidentStore,
                                                          incident: Incident) -> None:
    (tmp_path / "a.log").write_bytes(LOG)
    record_evidence(store, incident.id, tmp_path / "a.log")
    vault = store.vault(incident.id)
    os.rename(vault, tmp_path / "elsewhere")  # every byte intact, but no longer in the repository
    vault.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    loaded = store.load(incident.id)

    assert verify(loaded, vault) == [f"{vault}: is a symbolic link (to {str(tmp_path / 'elsewhere')!r}); the"
                                     " evidence vault must be a real folder beside the incident records, never a"
                                     " link (replace the link with the folder it points to); the vault was not"
                                     " checked"]
    assert writable(loaded, vault) == [] and strays(loaded, vault) == []
    vault.unlink()
    os.rename(tmp_path / "elsewhere", vault)
    evidence_dir = vault.parent
    os.rename(evidence_dir, tmp_path / "evidence-elsewhere")
    evidence_dir.symlink_to(tmp_path / "evidence-elsewhere", target_is_directory=True)
    [problem] = verify(loaded, vault)
    assert problem.startswith(f"{evidence_dir}: is a symbolic link")


_KILLED_DURING_ADD = """
import os, signal, sys
from pathlib import Path
from harness.incidents import evidence
os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # dies between writing the copy and naming it
evidence.capture(Path(sys.argv[1]), [Path(sys.argv[2])])
"""


def test_strays_lists_a_copy_left_by_a_killed_add_and_planted_files(tmp_path: Path, store: IncidentStore,
                                                                    incident: Incident) -> None:
    (tmp_path / "a.log").write_bytes(LOG)
    (tmp_path / "b.log").write_bytes(b"second file\n")
    vault = store.vault(incident.id)
    assert strays(incident, vault) == []  # no vault yet
    record_evidence(store, incident.id, tmp_path / "a.log")
    loaded = store.load(incident.id)
    assert strays(loaded, vault) == []

    killed = subprocess.run([sys.executable, "-c", _KILLED_DURING_ADD, str(vault), str(tmp_path / "b.log")],
                            check=False, capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (vault / "planted.txt").write_bytes(b"not evidence\n")
    [temp] = [name for name in os.listdir(vault) if name.startswith(".capture-")]

    assert strays(loaded, vault) == [
        f"{vault / temp}: a partial copy left by an interrupted evidence add (or one still running); no evidence"
        " event names it, so it may be deleted",
        f"{vault / 'planted.txt'}: no evidence event of {incident.id} names it; it is not evidence (add the"
        " original with harness incident evidence add, or remove it)"]
    assert verify(loaded, vault) == []  # the evidence itself is intact
