"""Incident clocks with an injected clock: each deadline of the shipped playbook, and its boundaries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from harness.clock import FixedClock, parse_timestamp
from harness.incidents import IncidentStore
from harness.incidents.clocks import describe_left, incident_clocks
from harness.project import read_playbook

ROOT = Path(__file__).resolve().parents[1]
DETECTED = parse_timestamp("2026-03-09T15:00:00Z")
MS = dt.timedelta(milliseconds=1)


@pytest.fixture(scope="module")
def playbook():
    return read_playbook(ROOT / "policies")


def incident(tmp_path, severity: str, *steps: tuple[str, dt.timedelta, dict], flags: dict | None = None):
    """An incident detected at DETECTED with ``steps`` (event type, time after detection, fields)."""
    store = IncidentStore(tmp_path / "incidents", clock=FixedClock(DETECTED + dt.timedelta(days=400)))
    record = {"title": "t", "severity": severity, "detected": "2026-03-09T15:00:00Z", "model": "m",
              "model_version": "1"}
    if flags:
        record["flags"] = flags
    created = store.create(record)
    with store.transaction(created.id) as tx:
        for kind, after, fields in steps:
            tx.append(tx.event(kind, by="oncall@example.com", at=DETECTED + after, **fields))
    return store.load(created.id)


def clocks(playbook, incident):
    return {c.name: c for c in incident_clocks(incident, playbook)}


CONTAINED = ("contained", {"action": "disable-endpoint", "outcome": "done", "contains": True})
RCA = ("rca", {"trigger": "t", "root_cause_type": "data", "corrective_action": "c", "preventive_action": "p",
               "owner": "o@example.com", "deadline": "2026-03-20"})


@pytest.mark.parametrize(("after", "status"), [(dt.timedelta(hours=1) - MS, "met"), (dt.timedelta(hours=1), "met"),
                                               (dt.timedelta(hours=1) + MS, "breached")])
def test_sev1_containment_within_one_hour_exactly_is_met(tmp_path, playbook, after, status):
    kind, fields = CONTAINED
    clock = clocks(playbook, incident(tmp_path, "sev1", (kind, after, fields)))["contain"]
    assert clock.due_at == DETECTED + dt.timedelta(hours=1)
    assert clock.status(DETECTED + dt.timedelta(days=30)) == status


def test_a_running_clock_is_running_at_its_deadline_and_overdue_a_moment_after(tmp_path, playbook):
    clock = clocks(playbook, incident(tmp_path, "sev1"))["contain"]
    due = DETECTED + dt.timedelta(hours=1)
    assert clock.status(due - MS) == "running" and clock.left(due - MS) == MS
    assert clock.status(due) == "running" and clock.left(due) == dt.timedelta(0)
    assert clock.status(due + MS) == "overdue"
    assert describe_left(clock.left(DETECTED + dt.timedelta(minutes=15))) == "45m left"
    assert describe_left(clock.left(due + dt.timedelta(hours=26, minutes=3))) == "overdue by 1d 2h 3m"


def test_a_failed_containment_does_not_stop_the_clock_but_a_rollback_does(tmp_path, playbook):
    failed = ("contained", dt.timedelta(minutes=10), {"action": "disable-endpoint", "outcome": "failed",
                                                     "contains": True})
    rolled = ("rollback", dt.timedelta(minutes=50), {"rollback": "r1", "model": "m", "from": "1", "to": "0",
                                                     "outcome": "done"})
    clock = clocks(playbook, incident(tmp_path, "sev1", failed))["contain"]
    assert clock.running
    clock = clocks(playbook, incident(tmp_path / "b", "sev1", failed, rolled))["contain"]
    assert clock.stopped_at == DETECTED + dt.timedelta(minutes=50) and clock.status(DETECTED) == "met"


@pytest.mark.parametrize(("after", "status"), [(dt.timedelta(hours=72), "met"),
                                               (dt.timedelta(hours=72) + MS, "breached")])
def test_sev3_fix_within_72_hours(tmp_path, playbook, after, status):
    kind, fields = CONTAINED
    steps = [(kind, dt.timedelta(minutes=5), fields), (RCA[0], dt.timedelta(hours=2), RCA[1]),
             ("resolved", after, {})]
    found = clocks(playbook, incident(tmp_path, "sev3", *steps))
    assert set(found) >= {"fix"} and "contain" not in found and "rca" not in found  # sev3: only the fix clock
    assert found["fix"].due_at == DETECTED + dt.timedelta(hours=72)
    assert found["fix"].status(DETECTED + dt.timedelta(days=30)) == status
    review = found["review"]  # starts at the resolution: five days
    assert review.started_at == DETECTED + after and review.due_at == DETECTED + after + dt.timedelta(days=5)


@pytest.mark.parametrize(("after", "status"), [(dt.timedelta(days=15), "met"),
                                               (dt.timedelta(days=15) + MS, "breached")])
def test_ai_act_serious_incident_notice_within_15_days_of_awareness(tmp_path, playbook, after, status):
    notice = ("notice", after, {"audience": "regulators", "clock": "ai-act-art73-serious-incident",
                                "outcome": "sent", "channel": "outbox", "recipients": ["dpa@example.org"],
                                "subject": "s"})
    found = clocks(playbook, incident(tmp_path, "sev2", notice, flags={"serious_incident": True}))
    clock = found["notice:ai-act-art73-serious-incident"]
    assert clock.due_at == DETECTED + dt.timedelta(days=15)
    assert clock.status(DETECTED + dt.timedelta(days=30)) == status
    assert "notice:gdpr-art33" not in found  # no personal data: the GDPR clock does not apply


def test_a_failed_notice_leaves_its_clock_running_and_gdpr_counts_72_hours(tmp_path, playbook):
    failed = ("notice", dt.timedelta(hours=2), {"audience": "regulators", "clock": "gdpr-art33", "outcome": "failed",
                                                "channel": "webhook", "recipients": ["dpa@example.org"],
                                                "subject": "s", "answer": "HTTP 500"})
    clock = clocks(playbook, incident(tmp_path, "sev1", failed, flags={"personal_data": True}))["notice:gdpr-art33"]
    assert clock.running and clock.due_at == DETECTED + dt.timedelta(hours=72)
    assert clock.status(DETECTED + dt.timedelta(hours=72)) == "running"
    assert clock.status(DETECTED + dt.timedelta(hours=72) + MS) == "overdue"


def test_a_severity_raised_by_classify_brings_its_clocks(tmp_path, playbook):
    raised = ("classified", dt.timedelta(minutes=20), {"severity": "sev1", "reason": "customer data involved"})
    found = clocks(playbook, incident(tmp_path, "sev3", raised))
    assert {"contain", "rca"} <= set(found) and "fix" not in found


def test_a_back_dated_downgrade_or_clear_takes_back_no_deadline_that_had_passed(tmp_path, playbook):
    """Recorded 400 days on (the store's clock), dated ten minutes after detection: the sev2 RCA clock, the
    internal notice and the GDPR notice had all fallen due by the time the change was written."""
    down = ("classified", dt.timedelta(minutes=10), {"severity": "sev3", "reason": "meh",
                                                     "flags": {"personal_data": False}})
    found = clocks(playbook, incident(tmp_path, "sev2", down, flags={"personal_data": True}))
    assert {"rca", "notice:internal:internal", "notice:gdpr-art33", "fix"} <= set(found)
    assert found["rca"].due_at == DETECTED + dt.timedelta(hours=24)


def test_a_downgrade_recorded_in_time_lifts_the_deadlines_still_ahead(tmp_path, playbook):
    store = IncidentStore(tmp_path / "incidents", clock=FixedClock(DETECTED + dt.timedelta(minutes=11)))
    created = store.create({"title": "t", "severity": "sev2", "detected": "2026-03-09T15:00:00Z", "model": "m",
                            "model_version": "1", "flags": {"personal_data": True}})
    with store.transaction(created.id) as tx:
        tx.append(tx.event("classified", by="oncall@example.com", at=DETECTED + dt.timedelta(minutes=10),
                           severity="sev3", reason="a formatting defect after all", flags={"personal_data": False}))
    found = clocks(playbook, store.load(created.id))
    assert set(found) == {"fix"}  # set by mistake and corrected within minutes: nothing else is owed
