"""The rollback procedure of the playbook, as five recorded, resumable steps.

1. verify the last-known-good version (re-judged with today's policies when its outputs are on record);
2. trigger the rollback pipeline: move the serving alias, then run the configured hooks;
3. notify the stakeholders (Product, Risk, Compliance by default);
4. validate service health (health check, and the gate over the restored version's outputs);
5. document the change: the decision log, and the incident record when one is named.

Each step is recorded with its outcome and time in a state file. A failed step stops the
procedure; running it again resumes from the first step that did not succeed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ExitCode, HarnessError, InputError, Location
from .fileio import write_atomic
from .records import utc_now
from .release import (
    TAG_BASELINE,
    TAG_OUTPUTS,
    TAG_OUTPUTS_SHA,
    TAG_ROLLED_BACK_AT,
    ReleaseConfig,
    last_known_good,
)

STEPS = ("verify", "trigger", "notify", "validate", "document")


class RollbackError(InputError):
    """The rollback cannot start (no last-known-good version, unknown model or version)."""


class RollbackFailed(HarnessError):
    """A step failed or the restored service is unhealthy; re-run to resume."""

    exit_code = ExitCode.BLOCK


@dataclass(frozen=True)
class Context:
    """What the procedure needs from outside: judged by the caller, so the steps stay testable."""

    config: ReleaseConfig
    registry: Any
    actor: str
    judge: Callable[[str, str | None], Any] | None = None  # (outputs, baseline) -> Decision, today's policies
    restored_outputs: str | None = None
    incidents_dir: Path = Path("incidents")
    trigger_policies: frozenset[str] = frozenset()
    log: Callable[[Mapping[str, Any]], Any] | None = None  # appends a decision-log entry


@dataclass
class State:
    """The progress of one rollback, kept on disk until it is done."""

    id: str
    model: str
    alias: str
    from_version: str | None
    to_version: str
    forced: bool
    reason: str
    incident: str | None
    started_at: str
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: str = "in_progress"  # in_progress | failed | unhealthy | done

    def next_step(self) -> str | None:
        return next((s for s in STEPS if self.steps.get(s, {}).get("status") != "ok"), None)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def state_path(config: ReleaseConfig, model: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
    return config.state_dir / f"{safe}.json"


def load_state(config: ReleaseConfig, model: str) -> State | None:
    path = state_path(config, model)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return State(**data)
    except (json.JSONDecodeError, TypeError) as exc:
        raise RollbackError(f"unreadable rollback state ({exc}); inspect it, then delete it to start over",
                            Location(str(path))) from None


def _save(config: ReleaseConfig, state: State) -> None:
    write_atomic(state_path(config, state.model), json.dumps(state.to_json(), indent=2) + "\n")


def plan(ctx: Context, model: str, *, to: str | None = None, reason: str = "", incident: str | None = None) -> State:
    """Work out from/to without changing anything (``--dry-run`` prints this; ``run`` starts from it)."""
    existing = load_state(ctx.config, model)
    if existing is not None and existing.status != "done":
        if to is not None and to != existing.to_version:
            raise RollbackError(
                f"an unfinished rollback {existing.id} of {model} to {existing.to_version} exists: re-run without --to"
                f" to finish it, or delete {state_path(ctx.config, model)} to abandon it")
        return existing
    _check_incident(ctx, incident)
    _check_notifier(ctx)
    registry, alias = ctx.registry, ctx.config.alias
    registry.versions(model)  # unknown model: RegistryError names it
    current = registry.get_alias(model, alias)
    if to is not None:
        registry.get_version(model, to)
        target, forced = to, True
    else:
        found = last_known_good(registry, model, alias, current)
        if found is None:
            raise RollbackError(
                f"no last-known-good version of {model!r}: no earlier version was promoted through a passing"
                f" gate; the alias {alias!r} stays at {current!r}. Name a version with --to to force one.")
        target, forced = found, False
    return State(uuid.uuid4().hex[:12], model, alias, current, target, forced, reason, incident, utc_now())


def _check_incident(ctx: Context, incident: str | None) -> None:
    import re

    if incident is None:
        return
    if not re.fullmatch(r"INC-[0-9]{4}-[0-9]{4}", incident):
        raise RollbackError(f"--incident {incident!r}: expected an id like INC-2026-0001")
    if not (ctx.incidents_dir / f"{incident}.yaml").exists():
        raise RollbackError(f"unknown incident {incident!r}: no record in {ctx.incidents_dir}")


def _check_notifier(ctx: Context) -> None:
    from .notify import notifier_from_config

    notifier_from_config(ctx.config.notifier, base=Path.cwd())  # raises InputError when misconfigured
    missing = [a for a in ctx.config.notify if a not in ctx.config.stakeholders]
    if missing:
        raise RollbackError(f"release.notify names {', '.join(missing)}, which the playbook's stakeholders lack")


def run(ctx: Context, state: State) -> State:
    """Run (or resume) the procedure; raises ``RollbackFailed`` when a step fails."""
    with ctx.registry.lock(state.model):
        on_disk = load_state(ctx.config, state.model)
        if on_disk is not None and on_disk.id != state.id and on_disk.status != "done":
            state = on_disk  # another run started one meanwhile: resume that one
        serving = ctx.registry.get_alias(state.model, state.alias)
        if state.steps and serving not in (state.from_version, state.to_version):
            raise RollbackFailed(
                f"the alias {state.alias!r} now points at {serving}, neither {state.from_version} nor"
                f" {state.to_version}: someone moved it since this rollback started. Nothing was changed; check"
                f" `harness registry show`, then delete {state_path(ctx.config, state.model)} and start again"
                " if a rollback is still needed.")
        if not state.steps and serving != state.from_version:
            raise RollbackFailed(
                f"the alias {state.alias!r} moved to {ctx.registry.get_alias(state.model, state.alias)} while this"
                " run waited (another rollback?); nothing was done. Check `harness registry show`, then re-run"
                " if a rollback is still needed.")
        for step in STEPS:
            if state.steps.get(step, {}).get("status") == "ok":
                continue
            started = utc_now()
            try:
                ok, detail = _STEP_FUNCS[step](ctx, state)
            except HarnessError as exc:
                ok, detail = False, str(exc)
            except Exception as exc:  # any crash is recorded as a failed step, never lost
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            state.steps[step] = {**state.steps.get(step, {}), "status": "ok" if ok else "failed",
                                 "started_at": started, "finished_at": utc_now(), "detail": detail}
            if not ok:
                state.status = "unhealthy" if step == "validate" else "failed"
            _save(ctx.config, state)
            if ctx.log is not None:
                ctx.log({"kind": "rollback_step", "model": state.model, "model_version": state.to_version,
                         "details": {"rollback": state.id, "step": step, "status": state.steps[step]["status"],
                                     "detail": detail, "from": state.from_version, "to": state.to_version}})
            if not ok:
                raise RollbackFailed(f"step {STEPS.index(step) + 1} ({step}) failed: {detail}. "
                                     + _NEXT[step])
        state.status = "done"
        _save(ctx.config, state)
        state_path(ctx.config, state.model).rename(
            ctx.config.state_dir / f"{state_path(ctx.config, state.model).stem}.{state.id}.done.json")
    return state


_NEXT = {
    "verify": "Pick a version that passes today's policies and re-run with --to VERSION.",
    "trigger": "The alias move is recorded; fix the hook and re-run the same command to resume.",
    "notify": "Fix the notifier (or notify by hand) and re-run the same command to resume.",
    "validate": "The restored version is serving but unhealthy: check the service, escalate to the incident"
                " commander, and re-run the same command to validate again.",
    "document": "Re-run the same command to write the record.",
}


def _verify(ctx: Context, state: State) -> tuple[bool, str]:
    tags = ctx.registry.get_version(state.model, state.to_version).tags
    outputs = tags.get(TAG_OUTPUTS)
    if state.forced:
        return True, f"{state.to_version} forced with --to (not re-verified against a last-known-good record)"
    if not outputs or ctx.judge is None or not Path(outputs).exists():
        return True, f"{state.to_version} is the last version promoted through a passing gate (outputs not on record)"
    import hashlib

    with open(outputs, "rb") as handle:  # hashed, not parsed: the judge below parses it once
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    if digest != tags.get(TAG_OUTPUTS_SHA):
        return False, f"the recorded outputs {outputs} changed since {state.to_version} was gated"
    baseline = tags.get(TAG_BASELINE)
    decision = ctx.judge(outputs, baseline if baseline and Path(baseline).exists() else None)
    failing = [r for r in decision.reasons
               if not ctx.trigger_policies or r.split(" ", 1)[0] in ctx.trigger_policies]
    if failing:
        return False, (f"{state.to_version} fails today's policies on its recorded outputs: {'; '.join(failing)};"
                       " it is not good")
    return True, f"{state.to_version} re-judged on {outputs} with today's policies: {decision.verdict.value}"


def _trigger(ctx: Context, state: State) -> tuple[bool, str]:
    from .hooks import post_webhook, run_command

    registry, model = ctx.registry, state.model
    if state.from_version and TAG_ROLLED_BACK_AT not in registry.get_version(model, state.from_version).tags:
        # tagged before the alias moves, so that a version rolled back from is never taken for good again
        registry.set_tags(model, state.from_version, {TAG_ROLLED_BACK_AT: utc_now()})
    if registry.get_alias(model, state.alias) != state.to_version:
        registry.move_alias(model, state.alias, state.to_version, actor=ctx.actor,
                            reason=f"rollback {state.id}: {state.reason or 'rollback'}")
    details = [f"alias {state.alias!r} moved {state.from_version} -> {state.to_version}"]
    payload = {"model": model, "from": state.from_version, "to": state.to_version, "reason": state.reason,
               "incident": state.incident, "rollback": state.id}
    for hook in ctx.config.hooks:
        timeout = float(hook.get("timeout_s", 60))
        if hook["kind"] == "command":
            result = run_command(hook["run"], payload=payload, timeout_s=timeout)
        else:
            result = post_webhook(hook["url"], payload, timeout_s=timeout, headers=hook.get("headers", {}))
        details.append(f"hook {hook.get('run') or hook.get('url')}: {result.detail}")
        if not result.ok:
            return False, "; ".join(details)
    return True, "; ".join(details)


def _notify(ctx: Context, state: State) -> tuple[bool, str]:
    from .notify import Notice, notifier_from_config

    notifier = notifier_from_config(ctx.config.notifier, base=Path.cwd())
    delivered: dict[str, str] = state.steps.setdefault("notify", {}).setdefault("delivered", {})
    sent = [f"{audience}: {ref} (earlier run)" for audience, ref in delivered.items()]
    for audience in ctx.config.notify:
        if audience in delivered:
            continue  # a resumed run does not notify twice
        recipient = ctx.config.stakeholders.get(audience)
        if recipient is None:
            return False, f"no stakeholder {audience!r} in the playbook's stakeholders"
        notice = Notice(
            audience, (recipient,), f"[rollback] {state.model}: {state.from_version} -> {state.to_version}",
            f"The serving alias {state.alias!r} of {state.model} was rolled back from {state.from_version} to"
            f" {state.to_version}.\nReason: {state.reason or 'not given'}\nIncident: {state.incident or 'none'}\n"
            f"Rollback id: {state.id}\n",
            {"model": state.model, "from": state.from_version, "to": state.to_version, "incident": state.incident})
        delivered[audience] = notifier.send(notice)
        _save(ctx.config, state)
        sent.append(f"{audience}: {delivered[audience]}")
    return True, "; ".join(sent) or "nobody to notify"


def _validate(ctx: Context, state: State) -> tuple[bool, str]:
    from .hooks import check_http, run_command

    details = []
    check = ctx.config.health_check
    if check is not None:
        timeout = float(check.get("timeout_s", 60))
        result = (run_command(check["run"], payload={"model": state.model, "to": state.to_version},
                              timeout_s=timeout) if check["kind"] == "command"
                  else check_http(check["url"], timeout_s=timeout))
        details.append(f"health check: {result.detail}")
        if not result.ok:
            return False, "; ".join(details)
    if ctx.restored_outputs is not None and ctx.judge is not None:
        baseline = ctx.registry.get_version(state.model, state.to_version).tags.get(TAG_BASELINE)
        decision = ctx.judge(ctx.restored_outputs, baseline if baseline and Path(baseline).exists() else None)
        details.append(f"gate over {ctx.restored_outputs}: {decision.verdict.value}")
        if decision.verdict.value != "promote":
            return False, "; ".join(details + list(decision.reasons))
    return True, "; ".join(details) or "no health check configured and no restored outputs given"


def _document(ctx: Context, state: State) -> tuple[bool, str]:
    done = []
    if state.incident:
        done.append(_incident_event(ctx.incidents_dir, state))
    if ctx.log is not None:
        entry = ctx.log({"kind": "rollback", "model": state.model, "model_version": state.to_version,
                         "verdict": "rollback", "details": {"rollback": state.id, "from": state.from_version,
                                                            "to": state.to_version, "reason": state.reason,
                                                            "incident": state.incident, "steps": state.steps}})
        done.append(f"decision log entry {entry.get('seq')}")
    return True, "; ".join(done) or "nothing to document"


def _incident_event(directory: Path, state: State) -> str:
    import yaml

    path = directory / f"{state.incident}.yaml"
    if not path.exists():
        raise RollbackError(f"unknown incident {state.incident!r}: no such record", Location(str(path)))
    text = path.read_text(encoding="utf-8")
    try:
        record = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RollbackError(f"the incident record is not valid YAML: {str(exc).splitlines()[0]}",
                            Location(str(path))) from None
    if not isinstance(record, dict):
        raise RollbackError("the incident record is not a mapping", Location(str(path)))
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    events = list(record.get("events") or [])
    if any(e.get("rollback") == state.id for e in events if isinstance(e, dict)):
        return f"incident {state.incident} already has this rollback"
    events.append({"at": utc_now(), "kind": "rollback", "rollback": state.id,
                   "summary": f"{state.model} rolled back from {state.from_version} to {state.to_version}"})
    record["events"] = events
    write_atomic(path, header + yaml.safe_dump(record, sort_keys=False, allow_unicode=True))
    return f"event added to {path}"


_STEP_FUNCS: Mapping[str, Callable[[Context, State], tuple[bool, str]]] = {
    "verify": _verify, "trigger": _trigger, "notify": _notify, "validate": _validate, "document": _document,
}


def describe(state: State) -> Sequence[str]:
    """The plan in plain words, for ``--dry-run`` and the gate's ``--on-rollback plan``."""
    lines = [f"Rollback of {state.model}: alias {state.alias!r} {state.from_version} -> {state.to_version}"
             + (" (forced with --to)" if state.forced else " (last-known-good)")]
    for number, step in enumerate(STEPS, start=1):
        status = state.steps.get(step, {}).get("status", "pending")
        lines.append(f"  {number}. {step:<9} {status}")
    return lines
