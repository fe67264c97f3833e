"""The five steps of a rollback. Each returns (ok, what happened); a failure stops the procedure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..io.files import sha256_file
from . import trail
from .record import TAG_BASELINE, TAG_OUTPUTS, TAG_OUTPUTS_SHA, TAG_ROLLED_BACK_AT
from .rollback import Context, State

StepResult = tuple[bool, str]
#: saves fields in the step's record at once (kept when the step fails, read back when it is resumed)
Progress = Callable[[Mapping[str, Any]], None]


def _nothing_to_keep(fields: Mapping[str, Any]) -> None:
    """The progress of a step run outside the procedure (``--dry-run``'s verify): nothing is saved."""

#: what to do when a step failed
NEXT = {
    "verify": "Pick a version that passes today's policies and re-run with --to VERSION.",
    "trigger": "The alias move is recorded; fix the hook and re-run the same command to resume.",
    "notify": "Fix the notifier (or notify by hand) and re-run the same command to resume.",
    "validate": "The restored version is serving but unhealthy: check the service, escalate to the incident"
                " commander, and re-run the same command to validate again.",
    "document": "Re-run the same command to write the record.",
}


def _existing(path: str | None) -> str | None:
    return path if path and Path(path).exists() else None


def verify(ctx: Context, state: State, progress: Progress = _nothing_to_keep) -> StepResult:
    """Step 1: the target is good: re-judged with today's policies on the outputs it was gated on.

    Changes nothing, so ``--dry-run`` runs it too.
    """
    tags = ctx.registry.get_version(state.model, state.to_version).tags
    outputs = tags.get(TAG_OUTPUTS)
    if state.forced:
        return True, f"{state.to_version} forced with --to (not re-verified against a last-known-good record)"
    if not outputs or ctx.judge is None or not Path(outputs).exists():
        return True, f"{state.to_version} is the last version promoted through a passing gate (outputs not on record)"
    if sha256_file(outputs) != tags.get(TAG_OUTPUTS_SHA):  # hashed, not parsed: the judge parses it once
        return False, f"the recorded outputs {outputs} changed since {state.to_version} was gated"
    decision = ctx.judge(outputs, _existing(tags.get(TAG_BASELINE)))
    failing = [r for r in decision.reasons
               if not ctx.trigger_policies or r.split(" ", 1)[0] in ctx.trigger_policies]
    if failing:
        return False, (f"{state.to_version} fails today's policies on its recorded outputs: {'; '.join(failing)};"
                       " it is not good")
    return True, f"{state.to_version} re-judged on {outputs} with today's policies: {decision.verdict.value}"


def trigger(ctx: Context, state: State, progress: Progress) -> StepResult:
    """Step 2: move the serving alias to the target, then run the hooks (the deployment pipeline)."""
    from .hooks import post_webhook, run_command

    registry, model = ctx.registry, state.model
    if state.from_version and TAG_ROLLED_BACK_AT not in registry.get_version(model, state.from_version).tags:
        # tagged before the alias moves, so that a version rolled back from is never taken for good again
        registry.set_tags(model, state.from_version, {TAG_ROLLED_BACK_AT: ctx.clock.timestamp()})
    if registry.get_alias(model, state.alias) != state.to_version:
        move = trail.logged_move(registry, ctx.log, model=model, alias=state.alias, version=state.to_version,
                                 actor=ctx.actor, reason=f"rollback {state.id}: {state.reason or 'rollback'}",
                                 cause="rollback", details={"rollback": state.id})
        progress({"move": trail.move_id_of(move.reason)})  # the step's log entry names it, even when a hook fails
    details = [f"alias {state.alias!r} moved {state.from_version} -> {state.to_version}"]
    payload = {"model": model, "from": state.from_version, "to": state.to_version, "reason": state.reason,
               "incident": state.incident, "rollback": state.id}
    for hook in ctx.settings.hooks:
        if hook.kind == "command":
            result = run_command(hook.target, payload=payload, timeout_s=hook.timeout_s)
        else:
            result = post_webhook(hook.target, payload, timeout_s=hook.timeout_s, headers=hook.headers)
        details.append(f"hook {hook.target}: {result.detail}")
        if not result.ok:
            return False, "; ".join(details)
    return True, "; ".join(details)


def notify(ctx: Context, state: State, progress: Progress) -> StepResult:
    """Step 3: tell every audience of ``release.notify``; a resumed run never tells anyone twice."""
    from .notify import Notice, notifier_from_config

    notifier = notifier_from_config(ctx.settings.notifier.config(), base=ctx.base, clock=ctx.clock)
    delivered: dict[str, str] = dict(state.steps.get("notify", {}).get("delivered", {}))
    sent = [f"{audience}: {ref} (earlier run)" for audience, ref in delivered.items()]
    for audience in ctx.settings.notify:
        if audience in delivered:
            continue
        recipient = ctx.settings.stakeholders.get(audience)
        if recipient is None:
            return False, f"no stakeholder {audience!r} in the playbook's stakeholders"
        notice = Notice(
            audience, (recipient,), f"[rollback] {state.model}: {state.from_version} -> {state.to_version}",
            f"The serving alias {state.alias!r} of {state.model} was rolled back from {state.from_version} to"
            f" {state.to_version}.\nReason: {state.reason or 'not given'}\nIncident: {state.incident or 'none'}\n"
            f"Rollback id: {state.id}\n",
            {"model": state.model, "from": state.from_version, "to": state.to_version, "incident": state.incident})
        delivered[audience] = notifier.send(notice)
        progress({"delivered": dict(delivered)})  # a resumed run never tells this audience again
        sent.append(f"{audience}: {delivered[audience]}")
    return True, "; ".join(sent) or "nobody to notify"


def validate(ctx: Context, state: State, progress: Progress = _nothing_to_keep) -> StepResult:
    """Step 4: the health check, and the gate over the restored version's outputs when given."""
    from .hooks import check_http, run_command

    details = []
    check = ctx.settings.health_check
    if check is not None:
        result = (run_command(check.target, payload={"model": state.model, "to": state.to_version},
                              timeout_s=check.timeout_s) if check.kind == "command"
                  else check_http(check.target, timeout_s=check.timeout_s))
        details.append(f"health check: {result.detail}")
        if not result.ok:
            return False, "; ".join(details)
    if ctx.restored_outputs is not None and ctx.judge is not None:
        baseline = ctx.registry.get_version(state.model, state.to_version).tags.get(TAG_BASELINE)
        decision = ctx.judge(ctx.restored_outputs, _existing(baseline))
        details.append(f"gate over {ctx.restored_outputs}: {decision.verdict.value}")
        if decision.verdict.value != "promote":
            return False, "; ".join(details + list(decision.reasons))
    return True, "; ".join(details) or "no health check configured and no restored outputs given"


def document(ctx: Context, state: State, progress: Progress = _nothing_to_keep) -> StepResult:
    """Step 5: an event in the incident record when one is named.

    The decision log's ``rollback`` entry, which sums up all five steps, follows this step's
    own entry once it succeeded (see :func:`harness.release.rollback.run`).
    """
    done = []
    if state.incident:
        if ctx.record_incident is None:
            return False, f"incident {state.incident} is named but this rollback cannot write incident records"
        done.append(ctx.record_incident(state.incident, {
            "rollback": state.id, "model": state.model, "from": state.from_version or "none",
            "to": state.to_version, "outcome": "done", "by": ctx.actor}))
    if ctx.log is not None:
        done.append("the rollback entry of the decision log follows")
    return True, "; ".join(done) or "nothing to document"


STEP_FUNCTIONS: Mapping[str, Callable[[Context, State, Progress], StepResult]] = {
    "verify": verify, "trigger": trigger, "notify": notify, "validate": validate, "document": document,
}
