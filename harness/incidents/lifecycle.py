"""The response lifecycle as an explicit transitions table.

An incident moves through six states, one way (``reopen`` is the only step back):

    open -> contained -> analysed -> resolved -> reviewed -> closed

Each event type (one per workflow command) names the lowest state it needs, the highest
state it is allowed in, and the state it moves the incident to. A step out of order is
refused with a message naming the step that is missing. Conditions that depend on more
than the state (a statement to customers only after containment, the conditions of
closing) are checked by :func:`refusal` too, from the facts passed to it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


class State(enum.IntEnum):
    """Where an incident stands; each state includes every one before it."""

    OPEN = 0
    CONTAINED = 1
    ANALYSED = 2
    RESOLVED = 3
    REVIEWED = 4
    CLOSED = 5

    @property
    def label(self) -> str:
        return self.name.lower()


#: the step that brings an incident into each state: what a refusal tells the user to do first
STEP_INTO: Mapping[State, str] = MappingProxyType({
    State.OPEN: "open (harness incident open)",
    State.CONTAINED: "containment (harness incident contain with an action that succeeded, or a rollback)",
    State.ANALYSED: "root-cause analysis (harness incident rca)",
    State.RESOLVED: "resolution (harness incident remediate --resolved)",
    State.REVIEWED: "post-incident review (harness incident review)",
    State.CLOSED: "closing (harness incident close)",
})


@dataclass(frozen=True, slots=True)
class Transition:
    """What one event type needs and does."""

    event: str
    command: str
    #: the lowest state it is allowed in
    requires: State
    #: the highest state it is allowed in
    until: State
    #: the state it moves to from a lower one (``None``: the state does not change)
    moves_to: State | None = None
    #: for ``contained`` and ``rollback``: it moves the state only when it succeeded and stops the harm
    only_if_effective: bool = False


_T = Transition
#: event type -> transition; the table the exhaustive test walks
TRANSITIONS: Mapping[str, Transition] = MappingProxyType({t.event: t for t in (
    _T("classified", "classify", State.OPEN, State.REVIEWED),
    _T("contained", "contain", State.OPEN, State.REVIEWED, State.CONTAINED, only_if_effective=True),
    _T("rollback", "rollback", State.OPEN, State.REVIEWED, State.CONTAINED, only_if_effective=True),
    _T("evidence", "evidence add", State.OPEN, State.REVIEWED),
    _T("notice", "notify", State.OPEN, State.REVIEWED),
    _T("rca", "rca", State.CONTAINED, State.REVIEWED, State.ANALYSED),
    _T("follow_up", "remediate", State.ANALYSED, State.REVIEWED),
    _T("resolved", "remediate --resolved", State.ANALYSED, State.ANALYSED, State.RESOLVED),
    _T("review", "review", State.RESOLVED, State.REVIEWED, State.REVIEWED),
    _T("signed_off", "review --sign-off", State.REVIEWED, State.REVIEWED),
    _T("closed", "close", State.REVIEWED, State.REVIEWED, State.CLOSED),
    _T("reopened", "reopen", State.CLOSED, State.CLOSED, State.RESOLVED),
)})

EVENT_TYPES = tuple(TRANSITIONS)


def state_refusal(state: State, event: str) -> str | None:
    """Why ``event`` may not happen in ``state`` (the table alone), or ``None`` when it may."""
    transition = TRANSITIONS.get(event)
    if transition is None:
        return f"unknown event type {event!r} (expected one of: {', '.join(EVENT_TYPES)})"
    if transition.event == "reopened" and state is not State.CLOSED:
        return f"reopen is refused: the incident is {state.label}, not closed (only a closed incident is reopened)"
    if state < transition.requires:
        missing = State(state + 1)
        return (f"{transition.command} needs the incident {transition.requires.label} first; it is"
                f" {state.label}: the missing step is {STEP_INTO[missing]}")
    if state > transition.until:
        if state is State.CLOSED:
            return f"{transition.command} is refused: the incident is closed (reopen it first: harness incident reopen)"
        if transition.event == "resolved":
            return "the incident is already resolved"
        return f"{transition.command} is refused: the incident is already {state.label}"
    return None


def next_state(state: State, event: str, *, effective: bool = True) -> State:
    """The state after ``event`` (assumed allowed: see :func:`state_refusal`)."""
    transition = TRANSITIONS[event]
    if transition.moves_to is None or (transition.only_if_effective and not effective):
        return state
    if transition.event == "reopened":
        return transition.moves_to
    return max(state, transition.moves_to)


@dataclass(frozen=True, slots=True)
class Facts:
    """What closing and the after-containment notices depend on, besides the state."""

    severity: str = "sev3"
    #: the audience of a notice event
    audience: str | None = None
    #: audiences told only after containment (``notices.after_containment`` of the playbook)
    after_containment: tuple[str, ...] = ("customers", "partners")
    signed_off: bool = False
    #: follow-ups neither done nor dropped
    open_follow_ups: tuple[str, ...] = ()
    #: notices owed and not sent, due yet or not (their clock names)
    unsent_notices: tuple[str, ...] = ()
    #: whether a policy or eval suite of the repository references the incident (``None``: not known here)
    referenced: bool | None = None
    #: the severities whose closing needs the sign-off, the lesson, the follow-ups and the notices
    strict_severities: tuple[str, ...] = ("sev1", "sev2")


def refusal(state: State, event: str, facts: Facts = Facts()) -> str | None:
    """Why ``event`` may not happen now, or ``None``: the table, then the conditions beyond it."""
    problem = state_refusal(state, event)
    if problem:
        return problem
    if event == "notice" and facts.audience in facts.after_containment and state < State.CONTAINED:
        return (f"a statement to {facts.audience} is sent only after containment; the missing step is"
                f" {STEP_INTO[State.CONTAINED]}")
    if event == "closed" and facts.severity in facts.strict_severities:
        missing = []
        if not facts.signed_off:
            missing.append("the review's sign-off (harness incident review --sign-off ROLE)")
        if facts.open_follow_ups:
            missing.append(f"follow-ups done or dropped ({', '.join(facts.open_follow_ups)})")
        if facts.unsent_notices:
            missing.append(f"every notice it owes sent ({', '.join(facts.unsent_notices)})")
        if facts.referenced is False:
            missing.append("a policy (lessons_from) or eval suite (from_incident) in the repository that"
                           " references the incident")
        if missing:
            return f"a {facts.severity} incident closes only with " + "; ".join(missing)
    return None
