"""The rollback procedure of the playbook, as five recorded, resumable steps.

1. verify the last-known-good version (re-judged with today's policies when its outputs are on record);
2. trigger the rollback pipeline: move the serving alias, then run the configured hooks;
3. notify the stakeholders (Product, Risk, Compliance by default);
4. validate service health (health check, and the gate over the restored version's outputs);
5. document the change: the decision log, and the incident record when one is named.

Each step is recorded with its outcome and time in a state file. A failed step stops the
procedure; running it again resumes from the first step that did not succeed. Everything
that decides what to do happens while holding the model's lock, so two runs started
together never both act: the second sees what the first did and stops. Once every step
succeeded, the ``rollback`` entry goes to the decision log (after the ``document`` step's own
entry), then the state is archived as ``<model>.<id>.done.json`` before the live state file
is removed, so a run killed at any point leaves something the next run finishes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import ExitCode, HarnessError
from ..model import ReleaseSettings
from ..text.normalize import one_line
from . import trail
from .record import is_blocked, last_known_good
from .registry import Registry, RegistryLockTimeout, check_name
from .state import (
    STEPS,
    RollbackError,
    RollbackStateError,
    State,
    archive_finished,
    archive_state,
    done_path,
    load_state,
    read_state,
    save_state,
    state_path,
)

__all__ = ["STEPS", "Context", "Outcome", "Plan", "RollbackError", "RollbackFailed", "RollbackStateError", "State",
           "archive_state", "describe", "load_state", "plan", "run", "save_state", "state_path"]

_ROLLBACK_MOVE = re.compile(r"^rollback ([0-9a-f]{12}):")


class RollbackFailed(HarnessError):
    """A step failed, the restored service is unhealthy, or the situation changed; re-run to resume.

    ``state`` is the rollback as it stands (steps done, the one that failed), when there is one.
    """

    exit_code = ExitCode.BLOCK

    def __init__(self, message: str, state: State | None = None) -> None:
        super().__init__(message)
        self.state = state


@dataclass(frozen=True)
class Context:
    """What the procedure needs from outside: judged by the caller, so the steps stay testable."""

    settings: ReleaseSettings
    registry: Registry
    actor: str
    clock: Clock = SYSTEM_CLOCK
    judge: Callable[[str, str | None], Any] | None = None  # (outputs, baseline) -> Decision, today's policies
    restored_outputs: str | None = None
    #: checks that an incident id names a record (``InputError`` otherwise); ``None``: incidents are not used
    check_incident: Callable[[str], Any] | None = None
    #: appends an event to an incident's record; returns what it did, in words
    record_incident: Callable[[str, Mapping[str, Any]], str] | None = None
    trigger_policies: frozenset[str] = frozenset()
    log: Callable[[Mapping[str, Any]], Any] | None = None  # appends a decision-log entry
    base: Path = Path(".")  # relative notifier paths are relative to this
    judged_on: str = ""  # the date the verify and validate steps judge waivers against (ISO)
    backdated: bool = False  # that date is before the day the rollback runs (``--backdate``)


@dataclass(frozen=True)
class Plan:
    """What a rollback would do: a new state, or an unfinished one to resume from ``resume_at``."""

    state: State
    resume_at: str | None = None  # the first step not done yet, when resuming

    @property
    def resuming(self) -> bool:
        return self.resume_at is not None


@dataclass(frozen=True)
class Outcome:
    """What a run did: the final state, the step it resumed from, or the rollback it found already done."""

    state: State
    resumed_from: str | None = None
    already_done: bool = False
    note: str = ""


def _check_incident(ctx: Context, incident: str | None) -> None:
    if incident is None:
        return
    if ctx.check_incident is None or ctx.record_incident is None:
        raise RollbackError(f"--incident {incident}: this rollback has no incident records to write to")
    ctx.check_incident(incident)


def _check_notifier(ctx: Context) -> None:
    from .notify import notifier_from_config

    notifier_from_config(ctx.settings.notifier.config(), base=ctx.base, clock=ctx.clock)
    missing = [a for a in ctx.settings.notify if a not in ctx.settings.stakeholders]
    if missing:
        raise RollbackError(f"release.notify names {', '.join(missing)}, which the playbook's stakeholders lack")


def plan(ctx: Context, model: str, *, to: str | None = None, reason: str = "", incident: str | None = None,
         force: bool = False) -> Plan:
    """Work out what to do without changing anything (``--dry-run`` shows it; :func:`run` acts on it)."""
    _check_names(model, to)
    existing = load_state(ctx.settings, model)
    if existing is not None and existing.status != "done":
        if to is not None and to != existing.to_version:
            raise RollbackError(
                f"an unfinished rollback {existing.id} of {model} to {existing.to_version} exists: re-run without --to"
                f" to finish it, or delete {state_path(ctx.settings, model)} to abandon it")
        if existing.next_step() in STEPS[:STEPS.index("notify") + 1]:
            _check_notifier(ctx)  # a bad notifier is the user's input (exit 4), never a failed step 3
        return Plan(existing, existing.next_step())
    _check_incident(ctx, incident)
    _check_notifier(ctx)
    registry, alias = ctx.registry, ctx.settings.alias
    registry.versions(model)  # an unknown model: UnknownModel names it
    current = registry.get_alias(model, alias)
    override = ""
    if to is not None:
        known = registry.get_version(model, to)
        to, tags = known.version, known.tags
        if to == current:
            raise RollbackError(f"{to} is the version {alias!r} serves now: there is nothing to roll back to")
        if is_blocked(tags):
            if not force or not reason.strip():
                raise RollbackError(
                    f"{to} is tagged blocked: its last gate verdict was {tags.get('harness.verdict', 'not promote')}."
                    " Roll back to it only with --force and a --reason saying why (both are recorded).")
            override = f"{to} was tagged blocked; forced: {reason.strip()}"
        target, forced = to, True
    else:
        found = last_known_good(registry, model, alias, current)
        if found.version is None:
            raise RollbackError(
                f"no last-known-good version of {model!r}: no earlier version was promoted through a passing gate;"
                f" the alias {alias!r} stays at {current!r}. Versions considered: {found.explain()}."
                " Name a version with --to to force one.")
        target, forced = found.version, False
    state = State(uuid.uuid4().hex[:12], model, alias, current, target, forced, reason, incident,
                  ctx.clock.timestamp(), override=override)
    return Plan(state)


def _check_names(model: str, to: str | None) -> None:
    check_name(model, what="model name", source="--model")
    if to is not None:
        check_name(to, what="version", source="--to")


def _rollback_id(reason: str) -> str | None:
    """The rollback id in an alias move's reason, when a rollback made the move."""
    match = _ROLLBACK_MOVE.match(reason)
    return match.group(1) if match else None


def _after_waiting(ctx: Context, model: str, seen: int, pending: State | None) -> Outcome | None:
    """After waiting for the lock: what another run did meanwhile, or ``None`` when nothing changed.

    ``pending`` is the unfinished rollback on disk before the wait, ``seen`` the length of the
    alias history then: a rollback that was running (or started) while this run waited is
    reported, never repeated.
    """
    now = load_state(ctx.settings, model)
    if now is not None and (pending is None or now.id != pending.id or now.steps != pending.steps):
        raise RollbackFailed(f"rollback {now.id} of {model} ran while this run waited and stopped"
                             f" ({now.status}, next step {now.next_step()}); nothing was done here."
                             " Re-run the command to resume it.", now)
    finished = pending.id if pending is not None and now is None else None
    moves = ctx.registry.alias_history(model, ctx.settings.alias)[seen:]
    if finished is None and moves:
        finished = _rollback_id(moves[-1].reason)
        if finished is None:
            last = moves[-1]
            raise RollbackFailed(f"the alias {ctx.settings.alias!r} moved to {last.to_version} while this run waited"
                                 f" ({last.reason}); nothing was done. Check `harness registry show`, then re-run if"
                                 " a rollback is still needed.")
    if finished is None:
        return None
    try:
        state = read_state(done_path(ctx.settings, model, finished))
    except HarnessError:  # no archive, or one that is not a state: say what the registry shows
        serving = ctx.registry.get_alias(model, ctx.settings.alias)
        state = State(finished, model, ctx.settings.alias, None, serving or "?", False, "", None, "", status="done")
    note = (f"rollback {finished} of {model} finished while this run waited ({state.from_version} ->"
            f" {state.to_version}); nothing more to do")
    return Outcome(state, already_done=True, note=note)


def run(ctx: Context, model: str, *, to: str | None = None, reason: str = "", incident: str | None = None,
        force: bool = False, on_wait: Callable[[], None] | None = None, lock_timeout: float = 600.0) -> Outcome:
    """Plan and run (or resume) the procedure under the model's lock; ``RollbackFailed`` when a step fails.

    ``on_wait`` is called once when another process holds the lock and this run has to wait.
    After a wait, a rollback that finished meanwhile is reported, not repeated.
    """
    _check_names(model, to)
    seen = len(ctx.registry.alias_history(model, ctx.settings.alias))
    pending = load_state(ctx.settings, model)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(ctx.registry.lock(model, timeout=0))
            waited = False
        except RegistryLockTimeout:
            if on_wait is not None:
                on_wait()
            stack.enter_context(ctx.registry.lock(model, timeout=lock_timeout))
            waited = True
        if waited:
            found = _after_waiting(ctx, model, seen, pending if pending and pending.status != "done" else None)
            if found is not None:
                return found
        archive_finished(ctx.settings, model)
        if ctx.log is not None:
            trail.resolve_pending(ctx.settings.decision_log, ctx.log, ctx.registry, model)
        chosen = plan(ctx, model, to=to, reason=reason, incident=incident, force=force)
        return _run_locked(ctx, chosen)


class _StepProgress:
    """The state as a step leaves it: what the step saved as it went (``progress``), kept on disk at once."""

    def __init__(self, settings: ReleaseSettings, state: State, step: str) -> None:
        self.settings, self.state, self.step = settings, state, step

    def __call__(self, fields: Mapping[str, Any]) -> None:
        self.state = self.state.with_step(self.step, {**self.state.steps.get(self.step, {}), **fields})
        save_state(self.settings, self.state)


def _run_locked(ctx: Context, chosen: Plan) -> Outcome:
    from .steps import NEXT, STEP_FUNCTIONS

    state = chosen.state
    serving = ctx.registry.get_alias(state.model, state.alias)
    if state.steps and serving not in (state.from_version, state.to_version):
        raise RollbackFailed(
            f"the alias {state.alias!r} now points at {serving}, neither {state.from_version} nor"
            f" {state.to_version}: someone moved it since this rollback started. Nothing was changed; check"
            f" `harness registry show`, then delete {state_path(ctx.settings, state.model)} and start again"
            " if a rollback is still needed.")
    for step in STEPS:
        if state.steps.get(step, {}).get("status") == "ok":
            continue
        started = ctx.clock.timestamp()
        progress = _StepProgress(ctx.settings, state, step)
        try:
            ok, detail = STEP_FUNCTIONS[step](ctx, state, progress)
        except HarnessError as exc:
            ok, detail = False, str(exc)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # any crash (a hook's sys.exit too) is recorded as a failed step, never lost
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        state = progress.state
        record = {**state.steps.get(step, {}), "status": "ok" if ok else "failed", "started_at": started,
                  "finished_at": ctx.clock.timestamp(), "detail": detail}
        state = state.with_step(step, record,
                                status="in_progress" if ok else "unhealthy" if step == "validate" else "failed")
        save_state(ctx.settings, state)
        if ctx.log is not None:
            details = {"rollback": state.id, "step": step, "status": record["status"], "detail": detail,
                       "from": state.from_version, "to": state.to_version}
            if step == "trigger":  # the alias move it made (None: it made none); log verify matches the two
                details["move"] = record.get("move")
            ctx.log({"kind": "rollback_step", "model": state.model, "model_version": state.to_version,
                     "details": details})
        if not ok:
            raise RollbackFailed(f"step {STEPS.index(step) + 1} ({step}) failed: {detail}. " + NEXT[step], state)
    state = dataclasses.replace(_log_done(ctx, state), status="done")
    archive_state(ctx.settings, state)
    return Outcome(state, resumed_from=chosen.resume_at)


def _log_done(ctx: Context, state: State) -> State:
    """The ``rollback`` entry, after the entries of all five steps; written once, also when resumed."""
    if ctx.log is None or state.done_entry is not None:
        return state
    logged = next((e for e in trail.lenient_entries(ctx.settings.decision_log, kind="rollback")
                   if isinstance(e.get("details"), dict) and e["details"].get("rollback") == state.id), None)
    if logged is None:
        logged = ctx.log({"kind": "rollback", "model": state.model, "model_version": state.to_version,
                          "verdict": "rollback",
                          "details": {"rollback": state.id, "from": state.from_version, "to": state.to_version,
                                      "reason": state.reason, "incident": state.incident, "override": state.override,
                                      "judged_on": ctx.judged_on, "backdated": ctx.backdated,
                                      "steps": state.steps}})
    state = dataclasses.replace(state, done_entry=logged.get("seq"))
    save_state(ctx.settings, state)
    return state


def describe(state: State) -> list[str]:
    """The plan in plain words, for ``--dry-run`` and the gate's ``--on-rollback plan``."""
    how = " (forced with --to)" if state.forced else " (last-known-good)"
    lines = [f"Rollback of {state.model}: alias {state.alias!r} {state.from_version} -> {state.to_version}{how}"]
    if state.override:
        lines.append(f"  {state.override}")
    for number, step in enumerate(STEPS, start=1):
        status = state.steps.get(step, {}).get("status", "pending")
        lines.append(f"  {number}. {step:<9} {status}")
    return [one_line(line) for line in lines]  # a reason or a name cannot forge a line of its own
