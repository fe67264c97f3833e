"""Rolling back: plan (with the verify step, changing nothing), run or resume, and answer a gate's rollback verdict."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import HarnessError, InputError
from ..evaluation import evaluate
from ..gate import Decision, decide
from ..incidents import append_event
from ..model import ReleaseSettings
from ..outputs import load_outputs
from ..project import Project
from ..release import rollback as procedure
from ..release import steps
from ..release.provenance import current_actor
from ..release.registry import Registry
from ..text.normalize import one_line
from .judge import GateResult, PathLike, judging_date, refuse_future_approvals
from .release import DecisionLog, RecordedRelease, connect, record_release


def _judge(project: Project, judged_on: dt.date) -> Callable[[str, str | None], Decision]:
    def judge(path: str, baseline: str | None) -> Decision:
        base = load_outputs(baseline) if baseline else None
        return decide(evaluate(project, load_outputs(path), base, today=judged_on).outcomes)

    return judge


def rollback_context(project: Project, settings: ReleaseSettings, *, registry: Registry | None = None,
                     actor: str | None = None, restored_outputs: PathLike | None = None,
                     incidents_dir: PathLike = "incidents", trigger_policies: frozenset[str] = frozenset(),
                     today: dt.date | None = None, backdate: bool = False,
                     clock: Clock = SYSTEM_CLOCK, no_evidence_reason: str | None = None) -> procedure.Context:
    """Everything the procedure needs, judged with ``project``'s policies as of ``today``.

    A ``today`` before the clock's needs ``backdate`` (expired waivers would apply again); the
    decision log's ``rollback`` entry records the date and whether it was backdated. A waiver
    approved after the clock's today is an ``InputError``, as in the gate.

    A named incident must exist and be open; a sev1 or sev2 one must hold evidence (evidence comes
    before change) unless ``no_evidence_reason`` says why there is none, which is recorded.
    """
    from ..incidents import IncidentStore
    from .incidents import rollback_refusal

    store = IncidentStore(incidents_dir, clock=clock)

    def check(incident: str) -> None:
        problem = rollback_refusal(store, incident, strict=project.playbook.lifecycle.strict_severities,
                                   no_evidence_reason=no_evidence_reason)
        if problem:
            raise InputError(problem)

    def record(incident: str, event: Mapping[str, Any]) -> str:
        return append_event(Path(incidents_dir), incident, {**event, "no_evidence_reason": no_evidence_reason},
                            clock=clock, by=actor or "harness")

    judged_on, backdated = judging_date(today, clock, backdate=backdate)
    refuse_future_approvals(project, clock)  # the verify step must not pass a target on a waiver not yet approved
    actor = current_actor(actor)
    return procedure.Context(
        settings=settings, registry=registry or connect(settings, clock=clock), actor=actor, clock=clock,
        judge=_judge(project, judged_on), restored_outputs=str(restored_outputs) if restored_outputs else None,
        check_incident=check, record_incident=record,
        trigger_policies=trigger_policies,
        log=DecisionLog(settings.decision_log, actor=actor, policies_dir=project.policies_dir, clock=clock),
        base=Path.cwd(), judged_on=judged_on.isoformat(), backdated=backdated)


@dataclass(frozen=True)
class RollbackPlan:
    """What a rollback would do, and what its verify step says today (nothing was changed)."""

    plan: procedure.Plan
    verify_ok: bool
    verify_detail: str

    @property
    def state(self) -> procedure.State:
        return self.plan.state

    def describe(self) -> list[str]:
        lines = procedure.describe(self.plan.state)
        if self.plan.resuming:
            step = self.plan.resume_at
            number = procedure.STEPS.index(step) + 1 if step in procedure.STEPS else "?"
            lines.insert(1, f"  resumes unfinished rollback {self.state.id} at step {number} ({step})")
        lines.append(f"  verify now (dry run): {'ok' if self.verify_ok else 'FAILS'}: {self.verify_detail}")
        return [one_line(line) for line in lines]


def plan_rollback(context: procedure.Context, model: str, *, to: str | None = None, reason: str = "",
                  incident: str | None = None, force: bool = False) -> RollbackPlan:
    """The plan and a dry run of step 1 (verify): what would happen, changing nothing."""
    chosen = procedure.plan(context, model, to=to, reason=reason, incident=incident, force=force)
    if chosen.state.steps.get("verify", {}).get("status") == "ok":
        ok, detail = True, f"already verified by this rollback: {chosen.state.steps['verify']['detail']}"
    else:
        try:
            ok, detail = steps.verify(context, chosen.state)
        except HarnessError as exc:
            ok, detail = False, str(exc)
    return RollbackPlan(chosen, ok, detail)


def run_rollback(context: procedure.Context, model: str, *, to: str | None = None, reason: str = "",
                 incident: str | None = None, force: bool = False,
                 on_wait: Callable[[], None] | None = None) -> procedure.Outcome:
    """Run the five steps (or resume an unfinished rollback) under the model's lock.

    Raises ``RollbackFailed`` (exit 1) when a step fails: running it again resumes. When
    another run held the lock and finished the same rollback meanwhile, nothing is done
    and the outcome says so (``already_done``).
    """
    return procedure.run(context, model, to=to, reason=reason, incident=incident, force=force, on_wait=on_wait)


@dataclass(frozen=True)
class RollbackResponse:
    """What the gate did about a rollback verdict on the serving version: a plan, a run, or why neither."""

    plan: RollbackPlan | None = None
    outcome: procedure.Outcome | None = None
    error: HarnessError | None = None


def respond_to_rollback(result: GateResult, recorded: RecordedRelease, *, settings: ReleaseSettings,
                        execute: bool, registry: Registry | None = None, actor: str | None = None,
                        incidents_dir: PathLike = "incidents", today: dt.date | None = None,
                        clock: Clock = SYSTEM_CLOCK, on_wait: Callable[[], None] | None = None,
                        incident: str | None = None) -> RollbackResponse | None:
    """When the gate judged the serving version and said rollback: plan it, or run it with ``execute``.

    ``None`` when no rollback is needed. A failure is returned, not raised: the verdict stands.
    """
    if not recorded.rollback_needed:
        return None
    context = rollback_context(result.project, settings, registry=registry, actor=actor, incidents_dir=incidents_dir,
                               trigger_policies=frozenset(result.decision.policies), today=today,
                               backdate=result.report.run.backdated, clock=clock)
    reason = f"gate verdict rollback on {result.outputs.path}"
    try:
        if not execute:
            return RollbackResponse(plan=plan_rollback(context, recorded.model, reason=reason, incident=incident))
        return RollbackResponse(outcome=run_rollback(context, recorded.model, reason=reason, on_wait=on_wait,
                                                     incident=incident))
    except HarnessError as exc:
        return RollbackResponse(error=exc)


@dataclass(frozen=True)
class ReleaseOutcome:
    """What recording a gate did, and what was done about a rollback verdict on the serving version."""

    recorded: RecordedRelease
    rollback: RollbackResponse | None


def release_verdict(result: GateResult, *, settings: ReleaseSettings, registry: Registry | None = None,
                    model: str | None = None, version: str | None = None, promote: bool = False,
                    on_rollback: str = "plan", create_version: bool | None = None, actor: str | None = None,
                    incidents_dir: PathLike = "incidents", today: dt.date | None = None, clock: Clock = SYSTEM_CLOCK,
                    on_wait: Callable[[], None] | None = None, incident: str | None = None) -> ReleaseOutcome:
    """After a gate: record the verdict (and promote), then plan or execute a rollback it calls for.

    ``on_rollback`` is ``plan`` (say what would happen) or ``execute`` (run the procedure).
    Raises when recording fails; a rollback failure is returned in ``rollback.error``.
    """
    if on_rollback not in ("plan", "execute"):
        raise InputError(f"on_rollback must be 'plan' or 'execute', not {on_rollback!r}")
    recorded = record_release(result, settings=settings, registry=registry, model=model, version=version,
                              promote=promote, actor=actor, create_version=create_version, clock=clock)
    response = respond_to_rollback(result, recorded, settings=settings, execute=on_rollback == "execute",
                                   registry=registry, actor=actor, incidents_dir=incidents_dir, today=today,
                                   clock=clock, on_wait=on_wait, incident=incident)
    return ReleaseOutcome(recorded, response)
