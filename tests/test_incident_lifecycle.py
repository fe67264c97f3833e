"""The incident lifecycle: the transitions table walked exhaustively, fold(), and random step sequences."""

from __future__ import annotations

import datetime as dt
import json
import operator
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from harness.clock import FixedClock, format_timestamp
from harness.errors import InputError
from harness.incidents import IncidentStore
from harness.incidents.lifecycle import STEP_INTO, TRANSITIONS, Facts, State, next_state, refusal, state_refusal
from harness.incidents.model import Event, Incident, Record, event_from_json, fold
from harness.io.schema import validator

OP, C, A, R, V, X = State  # open, contained, analysed, resolved, reviewed, closed

# What each event type may do in each state, written out by hand from the playbook (not from the code):
#   "ok"      allowed
#   a State   refused; the message names the step into that state as the missing one
#   "already" refused: the incident is past the point where the step makes sense
#   "closed"  refused: the incident is closed (reopen it first)
#   "reopen"  refused: only a closed incident is reopened
EXPECTED: dict[str, tuple[Any, ...]] = {
    #              open      contained analysed resolved   reviewed   closed
    "classified": ("ok",     "ok",     "ok",    "ok",      "ok",      "closed"),
    "contained":  ("ok",     "ok",     "ok",    "ok",      "ok",      "closed"),
    "rollback":   ("ok",     "ok",     "ok",    "ok",      "ok",      "closed"),
    "evidence":   ("ok",     "ok",     "ok",    "ok",      "ok",      "closed"),
    "notice":     ("ok",     "ok",     "ok",    "ok",      "ok",      "closed"),
    "rca":        (C,        "ok",     "ok",    "ok",      "ok",      "closed"),
    "follow_up":  (C,        A,        "ok",    "ok",      "ok",      "closed"),
    "resolved":   (C,        A,        "ok",    "already", "already", "closed"),
    "review":     (C,        A,        R,       "ok",      "ok",      "closed"),
    "signed_off": (C,        A,        R,       V,         "ok",      "closed"),
    "closed":     (C,        A,        R,       V,         "ok",      "closed"),
    "reopened":   ("reopen", "reopen", "reopen", "reopen", "reopen",  "ok"),
}

# The state each allowed step leads to (an effective containment or rollback; None: unchanged)
MOVES: dict[str, State | None] = {
    "classified": None, "contained": C, "rollback": C, "evidence": None, "notice": None, "rca": A,
    "follow_up": None, "resolved": R, "review": V, "signed_off": None, "closed": X, "reopened": R,
}


def test_the_expected_table_covers_every_event_type() -> None:
    assert set(EXPECTED) == set(TRANSITIONS) == set(MOVES)
    assert [s.label for s in State] == ["open", "contained", "analysed", "resolved", "reviewed", "closed"]


CELLS = [pytest.param(state, event, EXPECTED[event][state], id=f"{event}-in-{state.label}")
         for event in EXPECTED for state in State]


@pytest.mark.parametrize(("state", "event", "expected"), CELLS)
def test_transitions_table(state: State, event: str, expected: Any) -> None:
    problem = state_refusal(state, event)
    if expected == "ok":
        assert problem is None
        assert refusal(state, event) is None  # sev3 by default: no extra condition
        return
    assert problem is not None
    assert refusal(state, event) == problem
    if isinstance(expected, State):
        assert f"the missing step is {STEP_INTO[expected]}" in problem
        assert TRANSITIONS[event].command in problem
    elif expected == "closed":
        assert "closed" in problem and "reopen" in problem
    elif expected == "already":
        assert "already" in problem
    else:
        assert "closed" in problem  # only a closed incident is reopened


@pytest.mark.parametrize(("state", "event", "expected"),
                         [c for c in CELLS if c.values[2] == "ok"])
def test_allowed_steps_move_to_the_expected_state(state: State, event: str, expected: Any) -> None:
    target = MOVES[event]
    after = next_state(state, event)
    if target is None:
        assert after is state
    elif event == "reopened":
        assert after is R
    else:
        assert after is max(state, target)


@pytest.mark.parametrize("event", ["contained", "rollback"])
def test_an_ineffective_containment_does_not_move(event: str) -> None:
    assert next_state(OP, event, effective=False) is OP
    assert next_state(OP, event, effective=True) is C


def test_an_unknown_event_type_is_refused_with_the_known_ones() -> None:
    problem = state_refusal(OP, "escalated")
    assert problem is not None and "unknown event type 'escalated'" in problem and "classified" in problem


@pytest.mark.parametrize("audience", ["customers", "partners"])
def test_a_statement_to_customers_or_partners_waits_for_containment(audience: str) -> None:
    problem = refusal(OP, "notice", Facts(audience=audience))
    assert problem is not None
    assert f"statement to {audience}" in problem and STEP_INTO[C] in problem
    for state in (C, A, R, V):
        assert refusal(state, "notice", Facts(audience=audience)) is None


@pytest.mark.parametrize("audience", ["governance", "legal", "regulator-gdpr"])
def test_internal_and_regulator_notices_may_go_before_containment(audience: str) -> None:
    assert refusal(OP, "notice", Facts(audience=audience)) is None


def test_after_containment_audiences_come_from_the_playbook() -> None:
    assert refusal(OP, "notice", Facts(audience="press", after_containment=("press",))) is not None
    assert refusal(OP, "notice", Facts(audience="customers", after_containment=("press",))) is None


STRICT_MISSING = Facts(severity="sev1", signed_off=False, open_follow_ups=("FU-1", "FU-3"),
                       unsent_notices=("gdpr-art33",), referenced=False)


@pytest.mark.parametrize("severity", ["sev1", "sev2"])
def test_closing_a_sev1_or_sev2_lists_every_missing_condition(severity: str) -> None:
    facts = Facts(severity=severity, signed_off=False, open_follow_ups=("FU-1", "FU-3"),
                  unsent_notices=("gdpr-art33",), referenced=False)
    problem = refusal(V, "closed", facts)
    assert problem is not None
    assert problem.startswith(f"a {severity} incident closes only with ")
    assert "sign-off" in problem
    assert "follow-ups done or dropped (FU-1, FU-3)" in problem
    assert "every notice it owes sent (gdpr-art33)" in problem
    assert "lessons_from" in problem and "from_incident" in problem


@pytest.mark.parametrize(("facts", "named", "absent"), [
    pytest.param(Facts(severity="sev1", signed_off=False, referenced=True), "sign-off", "follow-ups", id="sign-off"),
    pytest.param(Facts(severity="sev1", signed_off=True, open_follow_ups=("FU-2",), referenced=True), "FU-2",
                 "sign-off", id="follow-up"),
    pytest.param(Facts(severity="sev2", signed_off=True, unsent_notices=("eu-ai-act",), referenced=True),
                 "eu-ai-act", "sign-off", id="notice"),
    pytest.param(Facts(severity="sev2", signed_off=True, referenced=False), "lessons_from", "sign-off",
                 id="not-referenced"),
])
def test_closing_names_only_what_is_missing(facts: Facts, named: str, absent: str) -> None:
    problem = refusal(V, "closed", facts)
    assert problem is not None and named in problem and absent not in problem


def test_a_strict_close_with_everything_in_place_is_allowed() -> None:
    assert refusal(V, "closed", Facts(severity="sev1", signed_off=True, referenced=True)) is None
    # not known here (None): the caller checks the repository
    assert refusal(V, "closed", Facts(severity="sev1", signed_off=True, referenced=None)) is None


def test_a_sev3_closes_without_the_strict_conditions() -> None:
    facts = Facts(severity="sev3", signed_off=False, open_follow_ups=("FU-1",), unsent_notices=("x",),
                  referenced=False)
    assert refusal(V, "closed", facts) is None


def test_the_table_comes_before_the_closing_conditions() -> None:
    problem = refusal(R, "closed", STRICT_MISSING)
    assert problem is not None and STEP_INTO[V] in problem and "sign-off" not in problem


# --- fold ------------------------------------------------------------------------------------------

DETECTED = "2026-03-09T15:42:00Z"
BASE = dt.datetime(2026, 3, 9, 15, 42, tzinfo=dt.UTC)


def record(**over: Any) -> Record:
    data = {"id": "INC-2026-0001", "title": "PII echoed", "severity": "sev1", "detected": DETECTED,
            "model": "acme-support-assistant", "model_version": "0.9.2", **over}
    return Record.from_data(data)


FIELDS: dict[str, dict[str, Any]] = {
    "classified": {"severity": "sev2", "reason": "fewer people affected than feared"},
    "contained": {"action": "disable-endpoint", "outcome": "done", "contains": True},
    "rollback": {"rollback": "rb-1", "model": "acme-support-assistant", "from": "0.9.2", "to": "0.9.1",
                 "outcome": "done"},
    "evidence": {"name": "transcripts.jsonl", "sha256": "a" * 64, "size": 10, "source": "transcripts.jsonl"},
    "notice": {"audience": "governance", "outcome": "sent", "channel": "outbox", "recipients": ["gov@example.com"],
               "subject": "INC-2026-0001"},
    "rca": {"trigger": "tool returned records", "root_cause_type": "infra", "corrective_action": "filter fields",
            "preventive_action": "contract test", "owner": "sre@example.com", "deadline": "2026-03-16"},
    "follow_up": {"id": "FU-1", "action": "added", "text": "refresh training materials", "owner": "lead@example.com",
                  "due": "2026-03-20"},
    "resolved": {},
    "review": {"participants": ["lead@example.com"], "lessons": ["check tool output"],
               "policies": ["privacy.no-pii"], "evals": ["inc-2026-0001-pii-echo"]},
    "signed_off": {"role": "governance_lead"},
    "closed": {},
    "reopened": {"reason": "it happened again"},
}


class Events:
    """Events numbered and timed in order, each valid against the event schema."""

    def __init__(self) -> None:
        self.items: list[Event] = []

    def add(self, kind: str, minutes: int, **over: Any) -> Events:
        data = {"seq": len(self.items) + 1, "type": kind, "at": format_timestamp(BASE + dt.timedelta(minutes=minutes)),
                "recorded_at": format_timestamp(BASE + dt.timedelta(minutes=minutes)), "by": "oncall@example.com",
                **FIELDS[kind], **over}
        data = {k: v for k, v in data.items() if v is not None}
        errors = list(validator("incident-event").iter_errors(data))
        assert not errors, errors[0].message
        self.items.append(event_from_json(data, len(self.items) + 1))
        return self

    def fold(self, rec: Record | None = None) -> Incident:
        return fold(rec or record(), self.items, Path("incidents/INC-2026-0001.events.jsonl"))


def at(minutes: int) -> dt.datetime:
    return BASE + dt.timedelta(minutes=minutes)


def walked() -> Events:
    """Every step from detection to closing."""
    return (Events().add("classified", 5).add("evidence", 10).add("contained", 20).add("rca", 60)
            .add("follow_up", 70).add("follow_up", 80, id="FU-1", action="done", text=None, owner=None, due=None)
            .add("resolved", 90).add("review", 200).add("signed_off", 210).add("closed", 220))


def test_a_full_walk_records_every_moment() -> None:
    incident = walked().fold()
    assert incident.state is X and not incident.is_open
    assert incident.severity == "sev2" and incident.record.severity == "sev1"
    assert (incident.contained_at, incident.rca_completed_at, incident.resolved_at, incident.review_completed_at,
            incident.closed_at) == (at(20), at(60), at(90), at(200), at(220))
    assert incident.follow_ups["FU-1"].status == "done"
    assert [e.get("role") for e in incident.signoffs] == ["governance_lead"]
    assert incident.timestamps()["closed"] == "2026-03-09T19:22:00.000Z"


def test_a_failed_containment_does_not_contain() -> None:
    incident = Events().add("contained", 5, outcome="failed").fold()
    assert incident.state is OP and incident.contained_at is None


def test_a_containment_that_does_not_stop_the_harm_does_not_contain() -> None:
    incident = Events().add("contained", 5, action="preserve-evidence", contains=False).fold()
    assert incident.state is OP and incident.contained_at is None


def test_a_failed_rollback_does_not_contain_and_a_done_one_does() -> None:
    events = Events().add("rollback", 5, outcome="failed")
    assert events.fold().state is OP
    incident = events.add("rollback", 9, rollback="rb-2").fold()
    assert incident.state is C and incident.contained_at == at(9)


def test_contained_at_is_the_first_effective_containment() -> None:
    incident = (Events().add("contained", 5, outcome="failed").add("contained", 12).add("rollback", 30)
                .add("contained", 40).fold())
    assert incident.contained_at == at(12)


def test_reopening_goes_back_to_resolved_and_clears_the_review() -> None:
    incident = walked().add("reopened", 300).fold()
    assert incident.state is R and incident.is_open
    assert incident.closed_at is None and incident.review_completed_at is None
    assert incident.signoffs == () and incident.review is None
    assert incident.resolved_at == at(90) and incident.contained_at == at(20)
    again = walked().add("reopened", 300).add("review", 400).fold()
    assert again.state is V and again.review_completed_at == at(400) and again.signoffs == ()


def test_a_new_review_clears_the_sign_offs_of_the_previous_one() -> None:
    incident = walked().items[:-1]
    events = Events()
    events.items = list(incident)
    assert events.fold().signoffs
    assert events.add("review", 215).fold().signoffs == ()


@pytest.mark.parametrize(("steps", "message", "field"), [
    pytest.param([("follow_up", {"id": "FU-9", "action": "done"})], "unknown follow-up FU-9 (known: FU-1)", "$.id",
                 id="unknown-id"),
    pytest.param([("follow_up", {"id": "FU-1", "action": "done"}), ("follow_up", {"id": "FU-1", "action": "done"})],
                 "follow-up FU-1 is already done", "$.id", id="done-twice"),
    pytest.param([("follow_up", {"id": "FU-1", "action": "dropped"})], "dropping follow-up FU-1 needs a reason",
                 "$.reason", id="drop-without-reason"),
    pytest.param([("follow_up", {"id": "FU-1", "action": "dropped", "reason": "covered"}),
                  ("follow_up", {"id": "FU-1", "action": "done"})], "follow-up FU-1 is already dropped", "$.id",
                 id="done-after-drop"),
    pytest.param([("follow_up", {})], "follow-up FU-1 already exists", "$.id", id="added-twice"),
])
def test_follow_up_rules(steps: list[tuple[str, dict[str, Any]]], message: str, field: str) -> None:
    events = Events().add("contained", 1).add("rca", 2).add("follow_up", 3)
    for minute, (kind, over) in enumerate(steps, 4):
        blank = {k: None for k in ("text", "owner", "due")} if over else {}
        events.add(kind, minute, **blank, **over)
    with pytest.raises(InputError) as caught:
        events.fold()
    assert message in caught.value.message
    assert caught.value.location.json_path == field
    assert caught.value.location.line == len(events.items)
    assert caught.value.location.file == "incidents/INC-2026-0001.events.jsonl"


def test_a_follow_up_needs_text_owner_and_due() -> None:
    events = Events().add("contained", 1).add("rca", 2).add("follow_up", 3, owner=None, due=None)
    with pytest.raises(InputError, match="a follow-up needs owner, due"):
        events.fold()


def test_follow_ups_dropped_with_a_reason_and_done() -> None:
    events = (Events().add("contained", 1).add("rca", 2).add("follow_up", 3).add("follow_up", 4, id="FU-2")
              .add("follow_up", 5, id="FU-1", action="dropped", reason="covered by FU-2", text=None, owner=None,
                   due=None)
              .add("follow_up", 6, id="FU-2", action="done", closed_by="privacy.no-pii", text=None, owner=None,
                   due=None))
    ups = events.fold().follow_ups
    assert (ups["FU-1"].status, ups["FU-1"].reason, ups["FU-1"].ended_at) == ("dropped", "covered by FU-2", at(5))
    assert (ups["FU-2"].status, ups["FU-2"].closed_by) == ("done", "privacy.no-pii")


def test_an_event_before_the_previous_one_is_refused_at_its_line() -> None:
    events = Events().add("contained", 30).add("evidence", 20)
    with pytest.raises(InputError, match="before the previous event") as caught:
        events.fold()
    assert (caught.value.location.line, caught.value.location.json_path) == (2, "$.at")


def test_an_event_before_detection_is_refused() -> None:
    with pytest.raises(InputError, match="before the previous event"):
        Events().add("evidence", -1).fold()


def test_an_out_of_order_step_is_refused_naming_the_missing_step() -> None:
    with pytest.raises(InputError) as caught:
        Events().add("contained", 1).add("resolved", 2).fold()
    assert STEP_INTO[A] in caught.value.message and caught.value.location.line == 2


def test_a_rollback_on_a_closed_incident_is_refused() -> None:
    with pytest.raises(InputError, match=r"closed \(reopen it first"):
        walked().add("rollback", 300).fold()


# --- random step sequences through the store ---------------------------------------------------------

NOW = BASE + dt.timedelta(days=30)
REQUIRED = {
    "classified": ("severity", "reason"), "contained": ("action", "outcome", "contains"),
    "rollback": ("rollback", "model", "from", "to", "outcome"), "evidence": ("name", "sha256", "size", "source"),
    "notice": ("audience", "outcome", "channel", "recipients", "subject"),
    "rca": ("trigger", "root_cause_type", "corrective_action", "preventive_action", "owner", "deadline"),
    "follow_up": ("id", "action"), "resolved": (), "review": ("participants", "lessons"), "signed_off": ("role",),
    "closed": (), "reopened": ("reason",),
}
WORDS = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")), min_size=1, max_size=12)


def _fields(draw: Any, kind: str, known_ups: list[str]) -> dict[str, Any]:
    """Fields of ``kind`` the event schema accepts, drawn at random."""
    if kind == "classified":
        return {"severity": draw(st.sampled_from(["sev1", "sev2", "sev3"])), "reason": draw(WORDS),
                "flags": draw(st.dictionaries(st.sampled_from(["personal_data", "serious_incident"]), st.booleans()))}
    if kind == "contained":
        return {"action": draw(st.sampled_from(["disable-endpoint", "safe-mode", "rate-limit"])),
                "outcome": draw(st.sampled_from(["done", "failed"])), "contains": draw(st.booleans())}
    if kind == "rollback":
        return {**FIELDS["rollback"], "rollback": f"rb-{draw(st.integers(1, 9))}",
                "outcome": draw(st.sampled_from(["done", "failed"]))}
    if kind == "notice":
        return {**FIELDS["notice"], "audience": draw(st.sampled_from(["governance", "customers", "regulator"])),
                "outcome": draw(st.sampled_from(["sent", "failed"]))}
    if kind == "rca":
        return {**FIELDS["rca"], "root_cause_type": draw(st.sampled_from(["data", "model", "infra", "policy",
                                                                           "human_error"])), "trigger": draw(WORDS)}
    if kind == "follow_up":
        action = draw(st.sampled_from(["added", "done", "dropped"]))
        ident = draw(st.sampled_from([*known_ups, f"FU-{len(known_ups) + 1}"]))
        if action == "added":
            return {**FIELDS["follow_up"], "id": ident, "text": draw(WORDS)}
        reason = draw(st.one_of(st.none(), WORDS))
        return {"id": ident, "action": action, **({"reason": reason} if reason else {})}
    return dict(FIELDS[kind])


def _broken(draw: Any, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields made invalid: a required one left out, or a key the schema does not know."""
    required = REQUIRED[kind]
    if required and draw(st.booleans()):
        missing = draw(st.sampled_from(required))
        return {k: v for k, v in fields.items() if k != missing}
    return {**fields, "colour": "red"}


class Shadow:
    """What the playbook says should happen, kept by hand beside the store (the oracle)."""

    def __init__(self) -> None:
        self.state = OP
        self.last = BASE
        self.ups: dict[str, str] = {}
        self.count = 0

    def refuses(self, kind: str, moment: dt.datetime, fields: dict[str, Any]) -> bool:
        if moment < self.last or moment > NOW + dt.timedelta(seconds=1):
            return True
        if EXPECTED[kind][self.state] != "ok":
            return True
        if kind == "follow_up":
            status = self.ups.get(fields["id"])
            if fields["action"] == "added":
                return status is not None
            return status != "open" or (fields["action"] == "dropped" and "reason" not in fields)
        return False

    def apply(self, kind: str, moment: dt.datetime, fields: dict[str, Any]) -> None:
        self.count += 1
        self.last = moment
        if kind == "follow_up":
            self.ups[fields["id"]] = "open" if fields["action"] == "added" else fields["action"]
        effective = fields.get("outcome", "done") == "done" and fields.get("contains", True)
        target = MOVES[kind]
        if target is None or (kind in ("contained", "rollback") and not effective):
            return
        self.state = target if kind == "reopened" else max(self.state, target)


#: the steps that move an incident on from each state
NEXT: dict[State, list[str]] = {OP: ["contained", "rollback"], C: ["rca"], A: ["resolved", "follow_up"],
                                R: ["review", "follow_up"], V: ["signed_off", "closed", "review"], X: ["reopened"]}


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file() and not p.name.startswith(".")}


class IncidentSteps(RuleBasedStateMachine):
    """Random workflow steps on one incident: each lands whole or is refused with InputError and changes nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="incident-steps-"))
        self.store = IncidentStore(self.root / "incidents", clock=FixedClock(NOW))
        self.incident = self.store.create({"title": "PII echoed", "severity": "sev1", "detected": DETECTED,
                                           "model": "acme-support-assistant", "model_version": "0.9.2"})
        self.shadow = Shadow()
        self.record_bytes: bytes | None = None
        self.lines: list[str] = []
        self.written = True

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    @rule(kind=st.sampled_from(list(EXPECTED)), valid=st.integers(0, 5), data=st.data(),
          minutes=st.one_of(st.integers(-90, 600), st.just(0), st.just(60 * 24 * 31)))
    def any_step(self, kind: str, valid: int, data: st.DataObject, minutes: int) -> None:
        """Any step, valid or not, at any time: often refused."""
        fields = _fields(data.draw, kind, list(self.shadow.ups))
        self.attempt(kind, fields if valid else _broken(data.draw, kind, fields), bool(valid), minutes)

    @rule(data=st.data(), minutes=st.integers(-5, 240))
    def next_step(self, data: st.DataObject, minutes: int) -> None:
        """The step the lifecycle waits for, with valid fields: walks incidents up to closing and reopening."""
        kind = data.draw(st.sampled_from(NEXT[self.shadow.state]))
        fields = _fields(data.draw, kind, list(self.shadow.ups))
        if kind == "contained":
            fields.update(outcome="done", contains=True)
        self.attempt(kind, fields, True, minutes)

    def attempt(self, kind: str, fields: dict[str, Any], valid: bool, minutes: int) -> None:
        moment = self.shadow.last + dt.timedelta(minutes=minutes)
        before = _snapshot(self.store.directory)
        expected_refusal = not valid or self.shadow.refuses(kind, moment, fields)
        try:
            with self.store.transaction(self.incident.id) as tx:
                self.incident = tx.append(tx.event(kind, by="oncall@example.com", at=moment, **fields))
        except InputError as exc:
            assert expected_refusal, f"{kind} at {format_timestamp(moment)} {fields} refused: {exc}"
            assert _snapshot(self.store.directory) == before
            return
        assert not expected_refusal, f"{kind} at {format_timestamp(moment)} {fields} accepted in" \
                                     f" {self.shadow.state.label}"
        self.shadow.apply(kind, moment, fields)
        self.written = True
        assert self.incident.state is self.shadow.state

    @rule(data=st.data())
    def unknown_type(self, data: st.DataObject) -> None:
        before = _snapshot(self.store.directory)
        with pytest.raises(InputError), self.store.transaction(self.incident.id) as tx:
            tx.append(tx.event(data.draw(st.sampled_from(["escalated", "deleted", ""])), by="x", at=self.shadow.last))
        assert _snapshot(self.store.directory) == before

    @invariant()
    def files_validate(self) -> None:
        """The record is as written and valid; the events only ever grow, every line valid and numbered."""
        from harness.io.yaml import load_yaml

        record_path = self.store.record_path(self.incident.id)
        if self.record_bytes is None:
            assert not list(validator("incident").iter_errors(load_yaml(record_path).data))
            self.record_bytes = record_path.read_bytes()
        assert record_path.read_bytes() == self.record_bytes
        events_path = self.store.events_path(self.incident.id)
        lines = events_path.read_text("utf-8").splitlines() if events_path.exists() else []
        assert len(lines) == self.shadow.count
        assert lines[:len(self.lines)] == self.lines  # appended, never rewritten
        for number, line in enumerate(lines[len(self.lines):], len(self.lines) + 1):
            event = json.loads(line)
            assert not list(validator("incident-event").iter_errors(event)), line
            assert event["seq"] == number
        self.lines = lines

    @invariant()
    def store_reads_what_was_written(self) -> None:
        if not self.written:
            return  # a refused step left every byte as it was (checked in attempt): the last reading stands
        self.written = False
        loaded = self.store.load(self.incident.id)
        assert loaded.state is self.incident.state is self.shadow.state
        assert [e.seq for e in loaded.events] == list(range(1, self.shadow.count + 1))
        assert loaded.timestamps() == self.incident.timestamps()
        assert dict(loaded.follow_ups) == dict(self.incident.follow_ups)

    @invariant()
    def timeline_in_order(self) -> None:
        incident = self.incident
        times = [e.at for e in incident.events]
        assert times == sorted(times) and all(t >= incident.detected for t in times)
        reached = {C: incident.contained_at, A: incident.rca_completed_at, R: incident.resolved_at,
                   V: incident.review_completed_at, X: incident.closed_at}
        for state, moment in reached.items():
            if state is X:
                assert (moment is not None) == (incident.state is X)
            elif state is not V:  # reopening clears the review, never the earlier moments
                assert (moment is not None) == (incident.state >= state)
            else:
                assert (moment is not None) == (incident.state >= V)
        chain = [incident.detected, *(m for m in reached.values() if m is not None)]
        assert chain == sorted(chain)


#: every phase but explain, which re-runs a failing example tracing each line (minutes here, past the timeout)
QUICK_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
IncidentSteps.TestCase.settings = settings(max_examples=30, stateful_step_count=20, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow],
                                           phases=QUICK_PHASES)  # no explain phase: tracing every line is minutes
test_random_steps_keep_the_incident_valid = IncidentSteps.TestCase


# --- problems found while writing these tests (patches proposed to the owners of lifecycle.py and store.py) -----

def test_an_impossible_date_in_an_appended_event_is_an_input_error(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path / "incidents", clock=FixedClock(NOW))
    incident = store.create({"title": "t", "severity": "sev3", "detected": DETECTED, "model": "m",
                             "model_version": "1"})
    with pytest.raises(InputError, match="day is out of range"), store.transaction(incident.id) as tx:
        tx.append({**tx.event("evidence", by="x", **FIELDS["evidence"]), "at": "2026-02-30T10:00:00Z"})
    assert not store.events_path(incident.id).exists()


def test_reopening_an_incident_that_is_not_closed_says_so() -> None:
    problem = state_refusal(OP, "reopened")
    assert problem is not None and "not closed" in problem and "missing step" not in problem


# --- random command sequences through the workflow API -------------------------------------------------------
#
# The same walk, but through harness.api.incidents (what the CLI calls) on a copy of the repository's
# policies and evals: every command with random inputs, many of them wrong, at random times. The oracle
# (``Desk`` below is the real one; ``Expect`` is ours) is written from the playbook and issue 8, not from
# lifecycle.py: the order of the steps, who may sign off, when a statement may go out, when an incident closes.

REPO = Path(__file__).resolve().parents[1]
STEP_MINUTES = st.integers(1, 180)
AUDIENCES = ["internal", "legal", "escalation", "customers", "partners", "regulators", "pr", "nobody", "Bad Name"]
NOTICE_CLOCKS = [None, "internal", "gdpr-art33", "ai-act-art73-serious-incident"]
FLAG_CLOCKS = {"personal_data": "gdpr-art33", "serious_incident": "ai-act-art73-serious-incident"}
FLAG_DUE = {"personal_data": dt.timedelta(hours=72), "serious_incident": dt.timedelta(days=15)}
BREACH = {k: "told by the DPO" for k in (
    "breach_nature", "breach_data_subjects_categories", "breach_data_subjects_number", "breach_records_categories",
    "breach_records_number", "breach_contact", "breach_consequences", "breach_measures")}
ROLES = {"governance_lead": "governance-lead@example.com", "security_officer": "security-officer@example.com",
         "incident_commander": "ai-oncall@example.com"}
#: containment action -> (stops the harm, its hook succeeds, how many roles' notice it sends)
ACTIONS = {"disable-endpoint": (True, True, 0), "safe-mode": (True, True, 0), "rate-limit": (True, False, 0),
           "preserve-evidence": (False, True, 0), "escalate": (False, True, 1)}
CAUSES = ("data", "model", "infra", "policy", "human_error")
ORDER = ("open", "contained", "analysed", "resolved", "reviewed", "closed")
_COPY: dict[str, Any] = {}


def _repository_copy() -> Path:
    """policies/ and evals/ copied once per session, the playbook made fast and self-contained: containment runs
    no hook (rate-limit's fails at once), notices go to an outbox under the test's folder, every audience the
    templates cover has recipients."""
    import atexit

    import yaml

    if "root" in _COPY:
        return _COPY["root"]
    root = Path(tempfile.mkdtemp(prefix="incident-repo-"))
    atexit.register(shutil.rmtree, root, True)
    shutil.copytree(REPO / "policies", root / "policies")
    shutil.copytree(REPO / "evals", root / "evals")
    playbook_path = root / "policies" / "playbook.yaml"
    playbook = yaml.safe_load(playbook_path.read_text("utf-8"))
    fails = {"kind": "command", "timeout_s": 30, "run": f"{shlex.quote(sys.executable)} -S -c 'raise SystemExit(3)'"}
    playbook["containment"] = {
        name: {"description": name, **({} if stops else {"contains": False}), **({} if works else {"hook": fails}),
               **({"notify_roles": ["governance_lead", "security_officer"]} if told else {})}
        for name, (stops, works, told) in ACTIONS.items()}
    playbook["roles"] = dict(ROLES)
    playbook["notices"].update(escalate_on_open=["sev1"], escalate_to=["governance_lead", "security_officer"],
                               internal={"due_after": "1h", "severities": ["sev1", "sev2"], "audiences": ["internal"]},
                               after_containment=["customers", "partners"],
                               recipients={name: [f"{name}@example.com"] for name in
                                           ("internal", "legal", "customers", "partners", "regulators")})
    playbook["regulatory_clocks"] = [c for c in playbook["regulatory_clocks"] if c["id"] in FLAG_CLOCKS.values()]
    playbook["channels"] = {}  # one delivery a notice, through release.notifier
    playbook["notices"].pop("notifiers", None)
    playbook["lifecycle"] = {"strict_severities": ["sev1", "sev2"], "review_follow_ups": []}
    playbook_path.write_text(yaml.safe_dump(playbook, sort_keys=False), "utf-8")
    _COPY["root"] = root
    return root


def _lessons(root: Path, incident: str) -> bool:
    """Whether a policy (lessons_from) or an eval suite (from_incident) of the copy names ``incident``."""
    import yaml

    if incident in _LESSONS:
        return _LESSONS[incident]
    _LESSONS[incident] = False
    for path in [*(root / "policies").rglob("*.yaml"), *(root / "evals").rglob("*.yaml")]:
        data = yaml.safe_load(path.read_text("utf-8"))
        if isinstance(data, dict) and (incident in (data.get("lessons_from") or [])
                                       or data.get("from_incident") == incident):
            _LESSONS[incident] = True
    return _LESSONS[incident]


_LESSONS: dict[str, bool] = {}


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` but the lock files: what a refused command must leave alone."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


class Expect:
    """Our own account of the incident: where it stands and what each command should do to it."""

    def __init__(self, severity: str, detected: dt.datetime, referenced: bool) -> None:
        self.stage = "open"
        self.severity = severity
        self.initial = severity
        self.held = {severity}  # every severity it had: the strict rules follow it after a downgrade
        self.detected = detected
        self.flags: dict[str, bool] = {}
        self.changes: list[tuple[dt.datetime, dt.datetime, str, bool]] = []  # (at, recorded_at, flag, value)
        self.sev_changes: list[tuple[dt.datetime, dt.datetime, str]] = []  # (at, recorded_at, severity)
        self.last = detected
        self.count = 0
        self.ups: dict[str, str] = {}
        self.signed = False
        self.sent: set[tuple[str, str | None]] = set()
        self.referenced = referenced

    def at_least(self, stage: str) -> bool:
        return ORDER.index(self.stage) >= ORDER.index(stage)

    @property
    def strict(self) -> bool:
        return bool(self.held & {"sev1", "sev2"})

    def severity_at(self, moment: dt.datetime) -> str:
        """A raise counts from its ``at``, anything else from when it was recorded, if later."""
        order = ["sev1", "sev2", "sev3"]
        severity = self.initial
        for at, recorded, new in self.sev_changes:
            raised = order.index(new) < order.index(severity)
            if (at if raised else max(at, recorded)) <= moment:
                severity = new
        return severity

    def flag_at(self, flag: str, moment: dt.datetime) -> bool:
        value = False
        for at, recorded, name, set_to in self.changes:  # setting counts from at, clearing from when recorded
            if name == flag and (at if set_to else max(at, recorded)) <= moment:
                value = set_to
        return value

    def owed(self) -> list[str]:
        """The notices the playbook says this incident owes and that were not sent: a regulatory clock whose
        flag is set now, or was when the clock fell due."""
        due = [("regulators", clock) for flag, clock in FLAG_CLOCKS.items()
               if self.flags.get(flag) or self.flag_at(flag, self.detected + FLAG_DUE[flag])]
        if self.severity in ("sev1", "sev2") or self.severity_at(self.detected + dt.timedelta(hours=1)) in (
                "sev1", "sev2"):  # owed when it fell due under a severity that owes it
            due.append(("internal", "internal"))
        return [clock for audience, clock in due if (audience, clock) not in self.sent]

    def may_close(self) -> bool:
        if self.stage != "reviewed":
            return False
        if not self.strict:
            return True
        return self.signed and not self.open_ups() and not self.owed() and self.referenced

    def open_ups(self) -> list[str]:
        return [k for k, v in self.ups.items() if v == "open"]

    def notice_clock(self, audience: str, clock: str | None, breach: bool) -> tuple[bool, str | None]:
        """Whether a notice to ``audience`` can be rendered and sent (state aside), and the clock it answers."""
        if audience in ("pr", "nobody", "Bad Name"):  # no recipients, or not an audience name at all
            return False, None
        if audience == "regulators":
            applicable = [c for flag, c in FLAG_CLOCKS.items() if self.flags.get(flag)]
            chosen = clock if clock is not None else (applicable[0] if len(applicable) == 1 else None)
            if chosen not in applicable:
                return False, None
            return (breach or chosen != "gdpr-art33"), chosen  # the GDPR template needs the breach facts
        if clock not in (None, "internal"):
            return False, None
        if audience == "internal":
            return True, "internal"
        return clock is None, None


class WorkflowSteps(RuleBasedStateMachine):
    """Random commands on one incident through harness.api.incidents: each is refused with InputError and changes
    no byte, or lands whole; the files stay valid and the state is the one the playbook says."""

    def __init__(self) -> None:
        super().__init__()
        from harness.api import incidents as api

        self.api = api
        self.repo = _repository_copy()
        self.root = Path(tempfile.mkdtemp(prefix="incident-workflow-"))
        (self.root / "files").mkdir()
        (self.root / "files" / "a.txt").write_text("transcript a\n", "utf-8")
        (self.root / "files" / "b.txt").write_text("transcript b\n", "utf-8")
        (self.root / "files" / "folder").mkdir()
        self.clock = FixedClock(dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC))
        self.now = self.clock.now()
        self.desk = api.desk(self.root / "incidents", policies=self.repo / "policies", evals=self.repo / "evals",
                             clock=self.clock, notifier={"kind": "outbox", "path": str(self.root / "outbox")})
        # the copy never changes: read the playbook and the project once (a second apiece), not per example
        if "desk" not in _COPY:
            _COPY["desk"] = api.desk(policies=self.repo / "policies", evals=self.repo / "evals")
        for name in ("playbook", "references", "known_lessons"):
            self.desk.__dict__[name] = getattr(_COPY["desk"], name)
        self.id = ""
        self.expect: Expect | None = None
        self.checked = -1

    def teardown(self) -> None:
        for folder in self.root.rglob("*"):  # the vault's files are read-only
            if folder.is_dir():
                folder.chmod(0o755)
        shutil.rmtree(self.root, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------------------------

    def tick(self, minutes: int) -> None:
        self.clock.advance(dt.timedelta(minutes=minutes))
        self.now = self.clock.now()

    def moment(self, data: st.DataObject, side_effects: bool = False) -> tuple[dt.datetime | None, bool]:
        """A random ``at``: none (now), between the previous event and now, before the previous event, or in
        the future; and whether it is acceptable. A step the harness performs (``side_effects``: a hook, a
        delivery) is recorded when it runs: an ``at`` more than a minute back is refused."""
        assert self.expect is not None
        kinds = ["now", "between", "last", "before", "future"]
        kind = data.draw(st.sampled_from(kinds), label="at")
        if kind == "now":
            return None, True
        if kind in ("last", "between"):
            at = self.expect.last if kind == "last" else \
                self.expect.last + (self.now - self.expect.last) * data.draw(st.floats(0, 1), label="f")
            return at, not (side_effects and at < self.now - dt.timedelta(minutes=1))
        if kind == "before":
            return self.expect.last - dt.timedelta(minutes=data.draw(st.integers(1, 600), label="early")), False
        return self.now + dt.timedelta(minutes=data.draw(st.integers(1, 600), label="late")), False

    def run(self, ok: bool, events: int, call: Any) -> Any:
        """Call the command; refused exactly when ``ok`` is False (nothing changed), else ``events`` more lines."""
        assert self.expect is not None
        before = _tree(self.root)
        try:
            result = call()
        except InputError as exc:
            assert not ok, f"refused, expected it to land: {exc}"
            assert _tree(self.root) == before, f"refused ({exc}) but files changed"
            return None
        assert ok, f"landed ({'; '.join(result.said)}), expected a refusal in {self.expect.stage}"
        incident = result.incident
        assert len(incident.events) == self.expect.count + events
        self.expect.count += events
        self.expect.last = incident.events[-1].at
        return result

    def settle(self, result: Any, stage: str | None = None) -> None:
        assert self.expect is not None
        if result is not None and stage is not None and ORDER.index(stage) > ORDER.index(self.expect.stage):
            self.expect.stage = stage
        if result is not None:
            assert result.incident.state.label == self.expect.stage

    # -- the commands ----------------------------------------------------------------------------------------

    @initialize(severity=st.sampled_from(["sev1", "sev2", "sev3"]), days=st.integers(0, 40),
                data=st.data())
    def open(self, severity: str, days: int, data: st.DataObject) -> None:
        detected = self.now - dt.timedelta(days=days, minutes=data.draw(st.integers(1, 600), label="minutes"))
        result = self.api.open_incident(self.desk, title="PII echoed in answers", severity=severity,
                                        model="acme-support-assistant", model_version="0.9.2",
                                        by="ai-oncall@example.com", at=detected, summary="an answer showed an"
                                        " e-mail address", category="privacy", endpoint="/v1/chat")
        self.id = result.incident.id
        self.expect = Expect(severity, detected, _lessons(self.repo, self.id))
        # the playbook's escalate_on_open, unless opened back-filled (over a minute ago): then nobody is told now
        escalated = severity == "sev1" and detected >= self.now - dt.timedelta(minutes=1)
        assert len(result.incident.events) == int(escalated)
        self.expect.count = int(escalated)
        if escalated:
            self.expect.sent.add(("escalation", None))

    @rule(severity=st.sampled_from(["sev7", "SEV1", ""]), late=st.booleans())
    def open_refused(self, severity: str, late: bool) -> None:
        """An unknown severity or a detection in the future: no record, no id used."""
        before = _tree(self.root)
        good = "sev2" if late else severity
        with pytest.raises(InputError, match="unknown severity" if not late else "in the future"):
            self.api.open_incident(self.desk, title="t", severity=good, model="m", model_version="1", by="x@y",
                                   at=self.now + dt.timedelta(hours=2) if late else None)
        assert _tree(self.root) == before

    @rule(minutes=STEP_MINUTES, data=st.data(), severity=st.sampled_from([None, "sev1", "sev2", "sev3", "sev9"]),
          flags=st.lists(st.sampled_from(["personal_data", "no-personal_data", "serious_incident", "Bad Flag"]),
                         max_size=2),
          reason=st.sampled_from(["fewer people affected", "", "  "]))
    def classify(self, minutes: int, data: st.DataObject, severity: str | None, flags: list[str],
                 reason: str) -> None:
        assert self.expect is not None
        self.tick(minutes)
        at, timely = self.moment(data)
        ok = (timely and (severity is not None or bool(flags)) and bool(reason.strip()) and "Bad Flag" not in flags
              and severity != "sev9" and self.expect.stage != "closed")
        result = self.run(ok, 1, lambda: self.api.classify(self.desk, self.id, severity=severity, reason=reason,
                                                          by="ai-oncall@example.com", at=at, flags=flags))
        if result is not None:
            self.expect.severity = severity or self.expect.severity
            self.expect.held.add(self.expect.severity)
            last = result.incident.events[-1]
            self.expect.sev_changes.append((last.at, result.incident.recorded(last), self.expect.severity))
            for flag in flags:
                self.expect.flags[flag.removeprefix("no-")] = not flag.startswith("no-")
                self.expect.changes.append((last.at, result.incident.recorded(last), flag.removeprefix("no-"),
                                            not flag.startswith("no-")))
        self.settle(result)
        if result is not None:
            assert result.incident.severity == self.expect.severity
            assert dict(result.incident.flags) == self.expect.flags

    @rule(minutes=STEP_MINUTES, data=st.data(), action=st.sampled_from([*ACTIONS, "reboot-universe"]))
    def contain(self, minutes: int, data: st.DataObject, action: str) -> None:
        assert self.expect is not None
        self.tick(minutes)
        stops, works, told = ACTIONS.get(action, (False, False, 0))
        at, timely = self.moment(data, side_effects=True)
        ok = timely and action in ACTIONS and self.expect.stage != "closed"
        result = self.run(ok, 1 + told, lambda: self.api.contain(self.desk, self.id, action=action,
                                                                 by="ai-oncall@example.com", at=at))
        if result is not None:
            assert result.ok is works
            outcome = result.incident.of_type("contained")[-1]
            assert (outcome.get("action"), outcome.get("outcome")) == (action, "done" if works else "failed")
            if told:
                self.expect.sent.add(("escalation", None))
        self.settle(result, "contained" if stops and works else None)

    @rule(minutes=STEP_MINUTES, data=st.data(),
          files=st.lists(st.sampled_from(["a.txt", "b.txt", "missing.txt", "folder"]), max_size=3))
    def evidence(self, minutes: int, data: st.DataObject, files: list[str]) -> None:
        assert self.expect is not None
        self.tick(minutes)
        at, timely = self.moment(data)
        ok = timely and bool(files) and set(files) <= {"a.txt", "b.txt"} and self.expect.stage != "closed"
        paths = [self.root / "files" / name for name in files]
        result = self.run(ok, len(set(files)), lambda: self.api.add_evidence(self.desk, self.id, paths,
                                                                             by="ai-oncall@example.com", at=at))
        self.settle(result)

    @rule(minutes=STEP_MINUTES, data=st.data(), audience=st.sampled_from(AUDIENCES),
          clock=st.sampled_from(NOTICE_CLOCKS), breach=st.booleans())
    def notify(self, minutes: int, data: st.DataObject, audience: str, clock: str | None, breach: bool) -> None:
        assert self.expect is not None
        self.tick(minutes)
        at, timely = self.moment(data, side_effects=True)
        renders, answers = self.expect.notice_clock(audience, clock, breach)
        waits = audience in ("customers", "partners") and not self.expect.at_least("contained")
        ok = timely and renders and not waits and self.expect.stage != "closed"
        result = self.run(ok, 1, lambda: self.api.notify(self.desk, self.id, audience=audience, by="pr@example.com",
                                                         at=at, clock_id=clock, fields=BREACH if breach else None))
        if result is not None:
            notice = result.incident.events[-1]
            assert (notice.get("audience"), notice.get("clock"), notice.get("outcome")) == (audience, answers, "sent")
            self.expect.sent.add((audience, answers))
        self.settle(result)

    @rule(minutes=STEP_MINUTES, data=st.data(), cause=st.sampled_from([*CAUSES, "gremlins"]),
          deadline=st.sampled_from(["2026-03-16", "2026-02-30", "next week"]), blank=st.booleans())
    def rca(self, minutes: int, data: st.DataObject, cause: str, deadline: str, blank: bool) -> None:
        assert self.expect is not None
        self.tick(minutes)
        at, timely = self.moment(data)
        ok = (timely and cause in CAUSES and deadline == "2026-03-16" and not blank
              and self.expect.at_least("contained") and self.expect.stage != "closed")
        result = self.run(ok, 1, lambda: self.api.record_rca(
            self.desk, self.id, trigger="a tool returned whole records", root_cause_type=cause,
            corrective_action="filter the fields", preventive_action=" " if blank else "a contract test",
            owner="sre@example.com", deadline=deadline, by="ai-oncall@example.com", at=at))
        self.settle(result, "analysed")

    @rule(minutes=STEP_MINUTES, data=st.data(), add=st.booleans(), owner=st.booleans(),
          due=st.sampled_from([None, "2026-05-01", "2026-13-01"]), done=st.integers(0, 4), drop=st.integers(0, 4),
          reason=st.sampled_from([None, "", "covered by a policy"]), resolved=st.booleans())
    def remediate(self, minutes: int, data: st.DataObject, add: bool, owner: bool, due: str | None, done: int,
                  drop: int, reason: str | None, resolved: bool) -> None:
        """0: no follow-up; n: FU-n (which may not exist, or be the one added by this very command)."""
        assert self.expect is not None
        self.tick(minutes)
        at, timely = self.moment(data)
        done_id, drop_id = (f"FU-{n}" if n else None for n in (done, drop))
        ok = (timely and bool(add or done_id or drop_id or resolved) and (not add or (owner and due is not None))
              and due != "2026-13-01" and (not drop_id or bool(reason and reason.strip())))
        ups = dict(self.expect.ups)
        if ok and (add or done_id or drop_id):
            ok = self.expect.at_least("analysed") and self.expect.stage != "closed"
        if ok and add:
            ups[f"FU-{len(ups) + 1}"] = "open"
        for ident, action in ((done_id, "done"), (drop_id, "dropped")):
            if ok and ident:
                ok = ups.get(ident) == "open"
                ups[ident] = action
        if ok and resolved:
            ok = self.expect.stage == "analysed"
        events = int(add) + int(bool(done_id)) + int(bool(drop_id)) + int(resolved)
        result = self.run(ok, events, lambda: self.api.remediate(
            self.desk, self.id, by="ai-oncall@example.com", at=at, add="refresh the filters" if add else None,
            owner="sre@example.com" if owner else None, due=due, done=done_id, drop=drop_id, reason=reason,
            resolved=resolved))
        if result is not None:
            self.expect.ups = ups
            assert {k: v.status for k, v in result.incident.follow_ups.items()} == ups
        self.settle(result, "resolved" if resolved else None)

    @rule(minutes=STEP_MINUTES, data=st.data(), lessons=st.booleans().map(operator.not_),
          participants=st.booleans().map(operator.not_),
          policies=st.sampled_from([[], ["privacy.no-pii"], ["privacy.no-such-rule"]]),
          evals=st.sampled_from([[], ["inc-2026-0001-pii-echo"], ["no-such-suite"]]))
    def review(self, minutes: int, data: st.DataObject, lessons: bool, participants: bool, policies: list[str],
               evals: list[str]) -> None:
        assert self.expect is not None
        self.tick(minutes)
        at, timely = self.moment(data)
        ok = (timely and lessons and participants and "privacy.no-such-rule" not in policies
              and "no-such-suite" not in evals and self.expect.stage in ("resolved", "reviewed"))
        result = self.run(ok, 1, lambda: self.api.review(
            self.desk, self.id, lessons=["check what tools return"] if lessons else [],
            participants=["governance-lead@example.com"] if participants else [], by="ai-oncall@example.com", at=at,
            policies=policies, evals=evals))
        if result is not None:
            self.expect.signed = False  # a new review needs a new sign-off
        self.settle(result, "reviewed")

    @rule(minutes=STEP_MINUTES, data=st.data(), role=st.sampled_from([*ROLES, "cto"]),
          by=st.sampled_from([*ROLES.values(), "Governance-Lead@Example.com ", "mallory@example.com"]))
    def sign_off(self, minutes: int, data: st.DataObject, role: str, by: str) -> None:
        assert self.expect is not None
        self.tick(minutes)
        at, timely = self.moment(data)
        ok = (timely and role in ROLES and by.strip().lower() == ROLES[role] and self.expect.stage == "reviewed")
        result = self.run(ok, 1, lambda: self.api.sign_off(self.desk, self.id, role=role, by=by, at=at))
        if result is not None:
            self.expect.signed = True
        self.settle(result)

    @rule(minutes=STEP_MINUTES, data=st.data())
    def close(self, minutes: int, data: st.DataObject) -> None:
        assert self.expect is not None
        self.tick(minutes)
        at, timely = self.moment(data)
        ok = timely and self.expect.may_close()
        result = self.run(ok, 1, lambda: self.api.close(self.desk, self.id, by="governance-lead@example.com", at=at))
        self.settle(result, "closed")

    @rule(minutes=STEP_MINUTES, data=st.data(), reason=st.sampled_from(["it happened again", "", " "]))
    def reopen(self, minutes: int, data: st.DataObject, reason: str) -> None:
        assert self.expect is not None
        self.tick(minutes)
        at, timely = self.moment(data)
        ok = timely and bool(reason.strip()) and self.expect.stage == "closed"
        result = self.run(ok, 1, lambda: self.api.reopen(self.desk, self.id, reason=reason, by="x@example.com",
                                                        at=at))
        if result is not None:
            self.expect.stage, self.expect.signed = "resolved", False
        self.settle(result)

    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """A few commands the incident waits for, with valid inputs: walks incidents up to closing and reopening.
        (One argument: hypothesis tries the rules with fewer arguments first.)"""
        for _ in range(data.draw(st.integers(1, 4), label="steps")):
            self.forward(data.draw(STEP_MINUTES, label="minutes"), data)

    def forward(self, minutes: int, data: st.DataObject) -> None:
        assert self.expect is not None
        stage, owed, ups = self.expect.stage, self.expect.owed(), self.expect.open_ups()
        if stage == "open":
            self.contain(minutes, data, "disable-endpoint")
        elif stage == "contained":
            self.rca(minutes, data, "infra", "2026-03-16", False)
        elif stage == "analysed":
            self.remediate(minutes, data, True, True, "2026-05-01", 0, 0, None, True)
        elif stage == "resolved":
            self.review(minutes, data, True, True, ["privacy.no-pii"], [])
        elif stage == "closed":
            self.reopen(minutes, data, "it happened again")
        elif self.expect.strict and not self.expect.signed:
            self.sign_off(minutes, data, "governance_lead", ROLES["governance_lead"])
        elif self.expect.strict and ups:
            self.remediate(minutes, data, False, False, None, int(ups[0][3:]), 0, None, False)
        elif self.expect.strict and owed:
            audience = "internal" if owed[0] == "internal" else "regulators"
            self.notify(minutes, data, audience, owed[0], True)
        else:
            self.close(minutes, data)

    # -- after every step ------------------------------------------------------------------------------------

    @invariant()
    def files_are_valid(self) -> None:
        """Every line of the events file and the record validate against their schemas; the store reads them."""
        import yaml

        if self.expect is None:
            return
        if self.checked == self.expect.count:
            return  # nothing was written since the last check (a refusal changed no byte: checked in run)
        store = self.desk.store
        record = yaml.safe_load(store.record_path(self.id).read_text("utf-8"))
        assert not list(validator("incident").iter_errors(record))
        path = store.events_path(self.id)
        lines = path.read_text("utf-8").splitlines() if path.exists() else []
        assert len(lines) == self.expect.count
        check = validator("incident-event")
        for number, line in enumerate(lines, 1):
            event = json.loads(line)
            assert not list(check.iter_errors(event)), line
            assert event["seq"] == number
        loaded = store.load(self.id)
        assert loaded.state.label == self.expect.stage
        assert loaded.severity == self.expect.severity
        assert bool(loaded.signoffs) is self.expect.signed
        self.checked = self.expect.count


WorkflowSteps.TestCase.settings = settings(max_examples=30, stateful_step_count=20, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow],
                                           phases=QUICK_PHASES)  # no explain phase: tracing every line is minutes
test_random_commands_keep_the_incident_valid = WorkflowSteps.TestCase


@pytest.mark.parametrize("command", ["notify", "evidence"])
def test_a_future_at_is_refused_before_anything_is_sent_or_copied(tmp_path: Path, command: str) -> None:
    from harness.api import incidents as api

    repo = _repository_copy()
    clock = FixedClock(dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC))
    desk = api.desk(tmp_path / "incidents", policies=repo / "policies", evals=repo / "evals", clock=clock,
                    notifier={"kind": "outbox", "path": str(tmp_path / "outbox")})
    opened = api.open_incident(desk, title="t", severity="sev3", model="m", model_version="1", by="x@example.com")
    source = tmp_path / "log.txt"
    source.write_text("log\n", "utf-8")
    before = _tree(tmp_path)
    future = clock.now() + dt.timedelta(hours=1)
    with pytest.raises(InputError, match="in the future"):
        if command == "notify":
            api.notify(desk, opened.incident.id, audience="legal", by="x@example.com", at=future)
        else:
            api.add_evidence(desk, opened.incident.id, [source], by="x@example.com", at=future)
    assert _tree(tmp_path) == before  # nothing delivered to the outbox, nothing copied into the vault
