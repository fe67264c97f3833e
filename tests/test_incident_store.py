"""The incident store under stress: ids allocated once, appends that all land, kill -9 mid-write, hand-edited files.

Processes race for real (fork, started together at a barrier) and are killed for real with
SIGKILL while a hook holds them inside the write; nothing waits on the wall clock.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.queues
import multiprocessing.synchronize
import os
import resource
import signal
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from harness.clock import FixedClock, parse_timestamp
from harness.errors import InputError, InputErrors
from harness.incidents import IncidentStore, State

NOW = "2026-03-09T16:00:00Z"
INCIDENT = "INC-2026-0001"

#: a record as a person writes it: comments, folded text, quoted times; line numbers matter below
RECORD = """\
# INC-2026-0001, written by the on-call engineer; keep the wording of the summary.
id: INC-2026-0001
title: Support assistant read out other customers' details
summary: >
  The order-lookup tool returned the customer record with each order, and the
  assistant read the other customer's email address back.
severity: sev1  # raised from sev2 once the PII was confirmed
detected: "2026-03-09T15:42:00Z"
model: acme-support-assistant
model_version: "0.9.2"
"""


def new_record(**overrides: Any) -> dict[str, Any]:
    return {"title": "PII echoed", "severity": "sev1", "detected": "2026-03-09T15:42:00Z",
            "model": "acme-support-assistant", "model_version": "0.9.2", **overrides}


def classify(store: IncidentStore, incident: str, reason: str, by: str = "oncall@example.com") -> None:
    with store.transaction(incident) as tx:
        tx.append(tx.event("classified", by=by, severity="sev1", reason=reason))


def line(seq: int, kind: str, at: str = "2026-03-09T16:00:00Z", **fields: Any) -> str:
    return json.dumps({"seq": seq, "type": kind, "at": at, "recorded_at": NOW, "by": "oncall@example.com",
                       **fields})


CONTAINED = {"action": "disable-endpoint", "outcome": "done", "contains": True}


@pytest.fixture
def store(tmp_path: Path) -> IncidentStore:
    folder = tmp_path / "incidents"
    folder.mkdir()
    (folder / f"{INCIDENT}.yaml").write_text(RECORD, encoding="utf-8")
    return IncidentStore(folder, clock=FixedClock(NOW))


def problems_of(exc: InputError) -> list[InputError]:
    return list(exc.errors) if isinstance(exc, InputErrors) else [exc]


# -- ids -----------------------------------------------------------------------------------------


def test_create_allocates_the_next_id_of_the_year_of_detection(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path / "incidents", clock=FixedClock(NOW))

    ids = [store.create(new_record(title=f"incident {n}")).id for n in range(3)]
    other_year = store.create(new_record(detected="2025-12-31T23:59:00Z"))

    assert ids == ["INC-2026-0001", "INC-2026-0002", "INC-2026-0003"]
    assert other_year.id == "INC-2025-0001"
    assert store.ids() == ["INC-2025-0001", "INC-2026-0001", "INC-2026-0002", "INC-2026-0003"]
    assert store.load("INC-2026-0002").record.title == "incident 1"


def test_create_continues_after_the_highest_id_not_the_count(store: IncidentStore) -> None:
    (store.directory / "INC-2026-0007.yaml").write_text(RECORD.replace("INC-2026-0001", "INC-2026-0007"))
    assert store.create(new_record()).id == "INC-2026-0008"


def test_create_never_writes_over_a_record_it_did_not_see(store: IncidentStore,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer that bypassed the lock took 0001 after the ids were listed: the next free name is used."""
    monkeypatch.setattr(IncidentStore, "ids", lambda self: [])

    created = store.create(new_record(title="the second one"))

    assert created.id == "INC-2026-0002"
    assert (store.directory / f"{INCIDENT}.yaml").read_text(encoding="utf-8") == RECORD


def _create_some(directory: str, start: multiprocessing.synchronize.Barrier,
                 out: multiprocessing.queues.SimpleQueue[list[str]]) -> None:
    store = IncidentStore(directory, clock=FixedClock(NOW))
    start.wait(30)  # every process asks for an id at once
    out.put([store.create(new_record(title=f"from {os.getpid()}")).id for _ in range(3)])


def test_concurrent_creates_in_eight_processes_never_share_an_id(tmp_path: Path) -> None:
    directory = tmp_path / "incidents"
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Barrier(8), ctx.SimpleQueue()
    procs = [ctx.Process(target=_create_some, args=(str(directory), start, out)) for _ in range(8)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0] * 8

    returned = sorted(i for _ in procs for i in out.get())
    assert returned == [f"INC-2026-{n:04d}" for n in range(1, 25)]
    store = IncidentStore(directory)
    assert store.ids() == returned
    incidents, problems = store.load_all()
    assert problems == []
    assert len({i.record.title for i in incidents}) == 8  # each process's three records are its own


# -- appends -------------------------------------------------------------------------------------


def _classify_many(directory: str, worker: int, start: multiprocessing.synchronize.Barrier) -> None:
    store = IncidentStore(directory, clock=FixedClock(NOW))
    start.wait(30)  # the writers begin together, so their appends race for the lock
    for n in range(15):
        classify(store, INCIDENT, f"{worker}-{n}", by=f"worker-{worker}")


def test_concurrent_appends_from_four_processes_all_land(store: IncidentStore) -> None:
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(4)
    procs = [ctx.Process(target=_classify_many, args=(str(store.directory), w, start)) for w in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0] * 4

    incident = store.load(INCIDENT)
    assert [e.seq for e in incident.events] == list(range(1, 61))
    for worker in range(4):
        mine = [e.get("reason") for e in incident.events if e.by == f"worker-{worker}"]
        assert mine == [f"{worker}-{n}" for n in range(15)]
    assert not list(store.directory.glob("*.tmp"))
    assert (store.directory / f"{INCIDENT}.yaml").read_text(encoding="utf-8") == RECORD


def test_appends_never_rewrite_the_record(store: IncidentStore) -> None:
    path = store.directory / f"{INCIDENT}.yaml"
    before = path.stat()

    classify(store, INCIDENT, "PII confirmed")
    with store.transaction(INCIDENT) as tx:
        tx.append(tx.event("contained", by="oncall@example.com", **CONTAINED),
                  tx.event("rca", by="lead@example.com", trigger="order lookup", root_cause_type="data",
                           corrective_action="strip the customer record", preventive_action="a PII policy",
                           owner="lead@example.com", deadline="2026-03-20"))
    incident = store.load(INCIDENT)

    assert incident.state is State.ANALYSED
    assert path.read_text(encoding="utf-8") == RECORD  # comments and folded text, byte for byte
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    assert [json.loads(x)["type"] for x in store.events_path(INCIDENT).read_text().splitlines()] == [
        "classified", "contained", "rca"]


def test_a_step_the_lifecycle_refuses_writes_nothing(store: IncidentStore) -> None:
    classify(store, INCIDENT, "PII confirmed")
    events = store.events_path(INCIDENT)
    before = events.read_bytes()

    with pytest.raises(InputError) as caught, store.transaction(INCIDENT) as tx:
        tx.append(tx.event("contained", by="oncall@example.com", **CONTAINED),
                  tx.event("review", by="lead@example.com", participants=["lead"], lessons=["mask PII"]))

    assert "review needs the incident resolved first; it is contained: the missing step is root-cause" \
           " analysis (harness incident rca)" in str(caught.value)
    assert events.read_bytes() == before  # not even the containment that was allowed


def test_a_back_filled_time_before_the_previous_event_writes_nothing(store: IncidentStore) -> None:
    classify(store, INCIDENT, "PII confirmed")
    before = store.events_path(INCIDENT).read_bytes()

    with pytest.raises(InputError, match=r"contained at 2026-03-09T15:00:00.000Z is before the previous event"
                                         r" \(2026-03-09T16:00:00.000Z\); events are in time order"), \
            store.transaction(INCIDENT) as tx:
        tx.append(tx.event("contained", by="x", at=parse_timestamp("2026-03-09T15:00:00Z"), **CONTAINED))

    assert store.events_path(INCIDENT).read_bytes() == before


# -- kill -9 -------------------------------------------------------------------------------------


def _append_and_block_in(name: str, directory: str, blocked: multiprocessing.synchronize.Event) -> None:
    """Append one event, stopping for good inside the write at ``os.<name>`` (the test kills it there)."""
    store = IncidentStore(directory, clock=FixedClock(NOW))

    def hold(*args: Any, **kwargs: Any) -> None:
        blocked.set()
        threading.Event().wait()  # until SIGKILL

    with store.transaction(INCIDENT) as tx:  # the lock is taken before the hook goes in
        setattr(os, name, hold)
        tx.append(tx.event("classified", by="killed", severity="sev2", reason="never lands"))


@pytest.mark.parametrize("name", [
    pytest.param("fsync", id="while-writing-the-new-file"),
    pytest.param("replace", id="just-before-the-rename"),
])
def test_a_process_killed_mid_write_leaves_the_previous_events_whole(store: IncidentStore, name: str) -> None:
    classify(store, INCIDENT, "first")
    classify(store, INCIDENT, "second")
    events = store.events_path(INCIDENT)
    before = events.read_bytes()
    ctx = multiprocessing.get_context("fork")
    blocked = ctx.Event()
    proc = ctx.Process(target=_append_and_block_in, args=(name, str(store.directory), blocked))
    proc.start()
    try:
        assert blocked.wait(60), f"the writer exited ({proc.exitcode}) before reaching os.{name}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.join(60)
    assert proc.exitcode == -signal.SIGKILL

    assert events.read_bytes() == before
    assert [e.get("reason") for e in store.load(INCIDENT).events] == ["first", "second"]
    classify(store, INCIDENT, "third")  # the dead process's lock went with it
    assert [e.seq for e in store.load(INCIDENT).events] == [1, 2, 3]
    assert (store.directory / f"{INCIDENT}.yaml").read_text(encoding="utf-8") == RECORD


def _append_until_the_file_size_limit(directory: str, limit: int) -> None:
    """Append one long event with the kernel told to kill the process once any file it writes reaches ``limit``.

    The kill lands inside the write itself, whatever way the store writes (in place or through a
    temporary file), and, like kill -9, leaves no chance to clean up.
    """
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it; by default the kernel kills the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    store = IncidentStore(directory, clock=FixedClock(NOW))
    with store.transaction(INCIDENT) as tx:
        tx.append(tx.event("classified", by="killed", severity="sev2", reason="r" * 20000, note="x" * 20000))


def test_a_process_killed_inside_the_write_itself_leaves_the_previous_events_whole(store: IncidentStore) -> None:
    classify(store, INCIDENT, "first")
    classify(store, INCIDENT, "second")
    events = store.events_path(INCIDENT)
    before = events.read_bytes()
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=_append_until_the_file_size_limit,
                       args=(str(store.directory), len(before) + 20000))  # half-way through the new event
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGXFSZ

    assert events.read_bytes() == before
    assert [e.get("reason") for e in store.load(INCIDENT).events] == ["first", "second"]
    classify(store, INCIDENT, "third")
    assert [e.seq for e in store.load(INCIDENT).events] == [1, 2, 3]


# -- hand-edited records ---------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "where", "message"), [
    pytest.param("severity: sev1", "severity: sev1\nseverty: sev2", (8, "$.severty"), "unknown key 'severty'",
                 id="unknown-key"),
    pytest.param('detected: "2026-03-09T15:42:00Z"', 'detected: "2026-03-09 15:42"', (8, "$.detected"),
                 "2026-03-09 15:42", id="timestamp-without-T-and-Z"),
    pytest.param("id: INC-2026-0001", "id: INC-2026-0002", (2, "$.id"),
                 "id 'INC-2026-0002' does not match the file name; expected 'INC-2026-0001'",
                 id="id-not-the-file-name"),
])
def test_a_typo_in_a_record_is_named_by_file_line_and_field(store: IncidentStore, old: str, new: str,
                                                            where: tuple[int, str], message: str) -> None:
    path = store.directory / f"{INCIDENT}.yaml"
    text = RECORD.replace(old, new, 1)
    assert text != RECORD
    path.write_text(text, encoding="utf-8")

    with pytest.raises(InputError) as caught:
        store.load(INCIDENT)

    [problem] = problems_of(caught.value)
    assert (problem.location.file, problem.location.line, problem.location.json_path) == (str(path), *where)
    assert message in problem.message
    assert str(caught.value).startswith(f"{path}:{where[0]}:")
    assert path.read_text(encoding="utf-8") == text  # reading never writes


def test_a_typo_in_one_record_leaves_the_others_readable(store: IncidentStore) -> None:
    (store.directory / "INC-2026-0002.yaml").write_text(
        RECORD.replace("INC-2026-0001", "INC-2026-0002").replace("model:", "modle:"), encoding="utf-8")

    incidents, problems = store.load_all()

    assert [i.id for i in incidents] == [INCIDENT]
    assert [p.location.json_path for p in problems] == ["$", "$.modle"]
    assert all(p.location.file == str(store.directory / "INC-2026-0002.yaml") for p in problems)


# -- hand-edited events --------------------------------------------------------------------------


def write_events(store: IncidentStore, *lines: str) -> Path:
    path = store.events_path(INCIDENT)
    path.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return path


def only_problem(store: IncidentStore) -> InputError:
    with pytest.raises(InputError) as caught:
        store.load(INCIDENT)
    [problem] = problems_of(caught.value)
    return problem


def test_a_broken_events_line_is_named_by_file_and_line(store: IncidentStore) -> None:
    path = write_events(store, line(1, "classified", severity="sev1", reason="PII"),
                        line(2, "contained", **CONTAINED)[:40])
    problem = only_problem(store)
    assert str(problem).startswith(f"{path}:2: not a JSON object: ")


def test_an_events_line_that_breaks_the_schema_names_line_and_field(store: IncidentStore) -> None:
    path = write_events(store, line(1, "classified", severity="sev1", reason="PII"),
                        line(2, "contained", action="disable-endpoint", outcome="maybe", contains=True))
    problem = only_problem(store)
    assert (problem.location.file, problem.location.line, problem.location.json_path) == (str(path), 2,
                                                                                          "$.outcome")
    assert "'maybe' is not one of ['done', 'failed']" in problem.message


def test_an_event_before_the_previous_one_is_named_with_the_times(store: IncidentStore) -> None:
    path = write_events(store, line(1, "classified", at="2026-03-09T16:30:00Z", severity="sev1", reason="PII"),
                        line(2, "contained", at="2026-03-09T16:10:00Z", **CONTAINED))
    problem = only_problem(store)
    assert str(problem) == (f"{path}:2: $.at: contained at 2026-03-09T16:10:00.000Z is before the previous event"
                            " (2026-03-09T16:30:00.000Z); events are in time order")


def test_an_event_before_detection_is_refused(store: IncidentStore) -> None:
    path = write_events(store, line(1, "classified", at="2026-03-09T15:00:00Z", severity="sev1", reason="PII"))
    problem = only_problem(store)
    assert (problem.location.file, problem.location.line, problem.location.json_path) == (str(path), 1, "$.at")


def test_a_step_out_of_order_names_the_line_and_the_missing_step(store: IncidentStore) -> None:
    path = write_events(store, line(1, "contained", **CONTAINED),
                        line(2, "review", participants=["lead"], lessons=["mask PII"]))
    problem = only_problem(store)
    assert str(problem) == (f"{path}:2: $.type: review needs the incident resolved first; it is contained: the"
                            " missing step is root-cause analysis (harness incident rca)")


def test_an_event_with_an_impossible_date_names_its_line(store: IncidentStore) -> None:
    path = write_events(store, line(1, "classified", at="2026-02-30T16:00:00Z", severity="sev1", reason="PII"))
    problem = only_problem(store)
    assert (problem.location.file, problem.location.line, problem.location.json_path) == (str(path), 1, "$.at")


def test_a_removed_event_is_named_by_its_sequence_number(store: IncidentStore) -> None:
    path = write_events(store, line(1, "classified", severity="sev1", reason="PII"),
                        line(3, "contained", **CONTAINED))
    problem = only_problem(store)
    assert str(problem) == (f"{path}:2: $.seq: event number 3 out of sequence (expected 2): events are appended,"
                            " never removed or reordered")


# -- unknown ids ---------------------------------------------------------------------------------


def test_an_unknown_incident_names_the_id_and_the_known_ones(store: IncidentStore) -> None:
    with pytest.raises(InputError) as caught:
        store.load("INC-2026-0042")
    assert str(caught.value) == (f"unknown incident 'INC-2026-0042': no record {store.directory}/INC-2026-0042.yaml"
                                 " (known: INC-2026-0001)")


@pytest.mark.parametrize("bad", ["INC-26-1", "../INC-2026-0001", "INC-2026-0001.yaml", ""])
def test_a_malformed_id_is_refused_before_any_path_is_built(store: IncidentStore, bad: str) -> None:
    with pytest.raises(InputError, match=r"expected an id like INC-2026-0001"):
        store.load(bad)
    with pytest.raises(InputError, match=r"expected an id like INC-2026-0001"), store.transaction(bad):
        pass


def test_a_transaction_on_an_unknown_incident_appends_nothing(store: IncidentStore) -> None:
    with pytest.raises(InputError, match="unknown incident 'INC-2026-0042'"), store.transaction("INC-2026-0042"):
        pass
    assert not store.events_path("INC-2026-0042").exists()


# -- problems found in store.py by these tests, fixed ------------------------------------------------


def test_an_impossible_date_in_a_record_names_line_and_field(store: IncidentStore) -> None:
    path = store.directory / f"{INCIDENT}.yaml"
    path.write_text(RECORD.replace("2026-03-09T15:42:00Z", "2026-13-09T15:42:00Z"), encoding="utf-8")
    problem = only_problem(store)
    assert (problem.location.file, problem.location.line, problem.location.json_path) == (str(path), 8,
                                                                                          "$.detected")


def test_create_refuses_an_impossible_date_without_writing(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path / "incidents", clock=FixedClock(NOW))
    with pytest.raises(InputError, match=r"detected"):
        store.create(new_record(detected="2026-13-01T00:00:00Z"))
    assert store.ids() == []


@pytest.mark.parametrize("detected", [None, "yesterday"])
def test_create_names_a_missing_or_malformed_detection_time(tmp_path: Path, detected: str | None) -> None:
    store = IncidentStore(tmp_path / "incidents", clock=FixedClock(NOW))
    data = new_record(detected=detected) if detected else {k: v for k, v in new_record().items() if k != "detected"}
    with pytest.raises(InputError) as caught:
        store.create(data)
    assert any(p.location.json_path in ("$.detected", "$") and "detected" in str(p)
               for p in problems_of(caught.value))
    assert "expected an id like" not in str(caught.value)


def test_a_created_record_gets_the_usual_mode(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path / "incidents", clock=FixedClock(NOW))
    old = os.umask(0o022)
    try:
        created = store.create(new_record())
    finally:
        os.umask(old)
    assert stat.S_IMODE((store.directory / f"{created.id}.yaml").stat().st_mode) == 0o644
