"""The workflow steps after opening: classify, contain, evidence, notify, RCA, remediate, review, close, reopen.

Each reads the incident under its lock (waiting as long as a hook may run), checks the step against
the transitions table and ``at`` against the previous event and the clock before anything runs,
runs what it runs, and appends its events; a refused step records nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ...clock import format_timestamp
from ...errors import InputError
from ...incidents.model import ROOT_CAUSE_TYPES, Incident
from ...incidents.store import IncidentStore
from .desk import Desk, PathLike, StepResult, parse_day, parse_flags, relative


def classify(desk: Desk, incident: str, *, severity: str | None, reason: str, by: str,
             at: dt.datetime | None = None, flags: Iterable[str] = ()) -> StepResult:
    """Change the severity (or set flags such as personal_data) with a reason; every change is kept."""
    changes = parse_flags(flags)
    if severity is None and not changes:
        raise InputError("classify needs --severity or --flag")
    if not reason.strip():
        raise InputError("classify needs --reason: why the severity or the flags change")
    new = desk.severity(severity) if severity else None
    with desk.store.transaction(incident, wait_s=desk.wait_s()) as tx:
        desk.refuse_unless(tx, "classified")
        desk.check_at(at, tx.incident.last_at)
        new = new or tx.incident.severity
        after = tx.append(tx.event("classified", by=by, at=at, severity=new, reason=reason, flags=changes))
    shown = ", ".join(name if value else f"no {name}" for name, value in changes.items())
    return StepResult(after, (f"{incident}: severity {new}" + (f" (flags: {shown})" if changes else ""),))


def contain(desk: Desk, incident: str, *, action: str, by: str, at: dt.datetime | None = None,
            note: str | None = None, by_hand: bool = False) -> StepResult:
    """Run a containment action of the playbook (its hook; its roles are told) and record the outcome.

    ``by_hand``: the action was taken outside the harness (at ``at``) and is only recorded: no hook runs,
    nobody is told, the event says so.
    """
    from ...release.hooks import post_webhook, run_command

    actions = desk.playbook.containment
    if action not in actions:
        raise InputError(f"unknown containment action {action!r}: expected one of {', '.join(actions) or 'none'}"
                         " (containment: in the playbook)")
    spec = actions[action]
    desk.check_live(at, by_hand, "runs the action's hook")
    with desk.store.transaction(incident, wait_s=desk.wait_s()) as tx:
        desk.refuse_unless(tx, "contained")
        desk.check_at(at, tx.incident.last_at)
        current = tx.incident
        payload = {"incident": current.id, "action": action, "severity": current.severity,
                   "model": current.record.model, "model_version": current.record.model_version,
                   "endpoint": current.record.get("endpoint")}
        ok, details = True, []
        if by_hand:
            details.append(f"done by hand, recorded by {by}")
        elif spec.hook is not None:
            hook = spec.hook
            result = (run_command(hook.target, payload=payload, timeout_s=hook.timeout_s) if hook.kind == "command"
                      else post_webhook(hook.target, payload, timeout_s=hook.timeout_s, headers=hook.headers))
            ok = result.ok
            details.append(f"hook {hook.target}: {result.detail}")
        after = tx.append(tx.event("contained", by=by, at=at, action=action, outcome="done" if ok else "failed",
                                   contains=spec.contains, detail="; ".join(details) or "no hook: done by hand",
                                   note=note, by_hand=by_hand or None))
    step = StepResult(after, (f"{incident}: {action} {'done' if ok else 'FAILED'}"
                              + (f" ({'; '.join(details)})" if details else ""),), ok)
    if ok and spec.notify_roles and not by_hand:
        step = step.then(escalate(desk, incident, by=by, at=at, roles=spec.notify_roles))
    if after.contained_at is not None and current.contained_at is None:
        step = dataclasses.replace(step, said=(*step.said, f"{incident}: contained at"
                                                            f" {format_timestamp(after.contained_at)}"))
    return step


def escalate(desk: Desk, incident: str, *, by: str, roles: Sequence[str], at: dt.datetime | None = None,
             by_hand: bool = False) -> StepResult:
    """Tell roles of the playbook (Governance Lead, Security Officer) through the notifier; each notice recorded.

    The incident's own ``roles:`` override the playbook's holders (a deputy on call).
    """
    current = desk.store.load(incident)
    own = current.record.get("roles") or {}
    holders = {**desk.playbook.roles, **own}
    missing = [role for role in roles if role not in holders]
    if missing:
        raise InputError(f"escalation to {', '.join(missing)}: no such role in the playbook's roles"
                         f" ({', '.join(desk.playbook.roles) or 'none'}) or the incident's")
    return notify(desk, incident, audience="escalation", by=by, at=at, recipients=tuple(holders[r] for r in roles),
                  by_hand=by_hand)


def add_evidence(desk: Desk, incident: str, files: Sequence[PathLike], *, by: str, at: dt.datetime | None = None,
                 note: str | None = None, label: str | None = None) -> StepResult:
    """Copy files into the incident's content-addressed vault (read-only, originals untouched) and record each.

    The source is recorded relative to the working directory when below it; ``label`` replaces it (files the
    harness wrote itself, such as the failing results of a gate run).
    """
    from ...incidents.evidence import capture, check_sources

    if not files:
        raise InputError("evidence add needs at least one FILE")
    sources = check_sources([Path(f) for f in files], vault=desk.store.vault(incident))
    with desk.store.transaction(incident, wait_s=desk.wait_s()) as tx:
        desk.refuse_unless(tx, "evidence")
        desk.check_at(at, tx.incident.last_at)
        entries = capture(desk.store.vault(incident), sources)
        for entry in entries:
            entry["source"] = label or relative(entry["source"])
        after = tx.append(*(tx.event("evidence", by=by, at=at, note=note, **entry) for entry in entries))
    return StepResult(after, tuple(f"{incident}: evidence {e['name']} sha256 {e['sha256'][:12]} ({e['size']} bytes)"
                                   for e in entries))


def notify(desk: Desk, incident: str, *, audience: str, by: str, at: dt.datetime | None = None,
           clock_id: str | None = None, fields: Mapping[str, str] | None = None,
           recipients: Sequence[str] | None = None, by_hand: bool = False) -> StepResult:
    """Render the audience's template and deliver it through each of the audience's channels (``channels:`` of
    the playbook, e.g. ticket and email; the notifier of each from ``notices.notifiers``), recording each
    delivery: the sent time and the channel's answer, or the failure (``ok`` False; the notice stays due until
    one channel delivered it). A statement to customers or partners before containment is refused.
    ``by_hand``: the notice went out by other means (at ``at``: a regulator's web form, a phone call) and is only
    recorded, rendered but not sent.
    """
    from ...incidents.notices import deliver, notice_fields, render_notice

    desk.check_live(at, by_hand, "delivers a notice")
    if recipients is not None and audience == "regulators" and not by_hand:
        raise InputError("--to is not taken for regulators: the official notice goes to the authority the playbook"
                         " names (notices.recipients.regulators); a notice sent another way is recorded with --by-hand")
    channels = (None,) if desk.notifier is not None else (desk.playbook.channels.get(audience) or (None,))
    notifiers = [] if by_hand else [desk.notifier_for(c) for c in channels]  # a broken notifier config fails first
    with desk.store.transaction(incident, wait_s=desk.wait_s()) as tx:
        desk.refuse_unless(tx, "notice", audience=audience, after_containment=desk.playbook.notices.after_containment)
        desk.check_at(at, tx.incident.last_at)
        rendered = render_notice(tx.incident, desk.playbook, desk.policies_dir, audience, clock_id=clock_id,
                                 fields=dict(fields or {}))
        if recipients is not None:
            rendered = dataclasses.replace(rendered, recipients=tuple(recipients))
        events, said, sent = [], [], False
        what = f"{incident}: notice to {audience}" + (f" ({rendered.clock})" if rendered.clock else "")
        if by_hand:
            events.append(tx.event("notice", by=by, at=at, by_hand=True,
                                   **notice_fields(rendered, "sent", f"sent outside the harness, recorded by {by}",
                                                   "by-hand")))
            said.append(f"{what} recorded as sent by hand")
        for name, notifier in notifiers:
            outcome, answer = deliver(rendered, notifier)
            answer = relative(answer) if outcome == "sent" and Path(answer).is_absolute() else answer
            sent = sent or outcome == "sent"
            events.append(tx.event("notice", by=by, at=at, **notice_fields(rendered, outcome, answer, name)))
            said.append(f"{what} sent via {name}: {answer}" if outcome == "sent"
                        else f"{what} FAILED via {name}: {answer}")
        after = tx.append(*events)
    return StepResult(after, tuple(said), all(e["outcome"] == "sent" for e in events))


def record_rca(desk: Desk, incident: str, *, trigger: str, root_cause_type: str, corrective_action: str,
               preventive_action: str, owner: str, deadline: str, by: str, at: dt.datetime | None = None,
               failing_policy: str | None = None) -> StepResult:
    """Record the root-cause analysis (the playbook's template); a repeat of a recent incident is named."""
    from ...incidents.metrics import find_repeat

    if root_cause_type not in ROOT_CAUSE_TYPES:
        raise InputError(f"--type {root_cause_type!r}: expected one of {', '.join(ROOT_CAUSE_TYPES)}")
    parse_day(deadline, "--deadline")
    for name, value in (("--trigger", trigger), ("--corrective", corrective_action),
                        ("--preventive", preventive_action), ("--owner", owner)):
        if not value or not value.strip():
            raise InputError(f"{name} is required and may not be empty")
    with desk.store.transaction(incident, wait_s=desk.wait_s()) as tx:
        desk.refuse_unless(tx, "rca")
        desk.check_at(at, tx.incident.last_at)
        others, broken = desk.store.load_all()
        repeat = find_repeat(tx.incident, [o for o in others if o.id != tx.incident.id],
                             root_cause_type=root_cause_type, failing_policy=failing_policy)
        after = tx.append(tx.event("rca", by=by, at=at, trigger=trigger, root_cause_type=root_cause_type,
                                   corrective_action=corrective_action, preventive_action=preventive_action,
                                   owner=owner, deadline=deadline, failing_policy=failing_policy, variant_of=repeat))
    said = [f"{incident}: root-cause analysis recorded ({root_cause_type})"]
    if repeat:
        said.append(f"{incident}: a repeat of {repeat} (same model, root-cause type and failing policy within 90"
                    " days): recorded as variant_of")
    if broken:
        said.append(f"{incident}: warning: {len(broken)} problem(s) in other incident records kept them out of the"
                    " repeat check (harness validate lists them)")
    return StepResult(after, tuple(said))


def remediate(desk: Desk, incident: str, *, by: str, at: dt.datetime | None = None,
              add: str | None = None, owner: str | None = None, due: str | None = None,
              done: str | None = None, closed_by: str | None = None, drop: str | None = None,
              reason: str | None = None, resolved: bool = False) -> StepResult:
    """Follow-ups (add with owner and due date; done, optionally closed by a policy or eval; dropped with a reason)
    and the resolution (``resolved``: the fix is in place)."""
    if not (add or done or drop or resolved):
        raise InputError("remediate needs --add, --done, --drop or --resolved")
    if add and not (owner and due):
        raise InputError("--add needs --owner and --due")
    if due:
        parse_day(due, "--due")
    if drop and not (reason and reason.strip()):
        raise InputError(f"--drop {drop} needs --reason")
    with desk.store.transaction(incident, wait_s=desk.wait_s()) as tx:
        desk.check_at(at, tx.incident.last_at)
        events, said = [], []
        if add or done or drop:
            desk.refuse_unless(tx, "follow_up")
        known = tx.incident.follow_ups
        for option, ident in (("--done", done), ("--drop", drop)):
            if ident and ident not in known:
                raise InputError(f"{option} {ident}: {incident} has no such follow-up (it has:"
                                 f" {', '.join(known) or 'none'})")
        if add:
            number = len(known) + 1
            events.append(tx.event("follow_up", by=by, at=at, id=f"FU-{number}", action="added", text=add,
                                   owner=owner, due=due))
            said.append(f"{incident}: follow-up FU-{number} added ({owner}, due {due})")
        for ident, action in ((done, "done"), (drop, "dropped")):
            if ident:
                events.append(tx.event("follow_up", by=by, at=at, id=ident, action=action,
                                       closed_by=closed_by if action == "done" else None,
                                       reason=reason if action == "dropped" else None))
                said.append(f"{incident}: follow-up {ident} {action}")
        if resolved:
            desk.refuse_unless(tx, "resolved")
            events.append(tx.event("resolved", by=by, at=at))
            said.append(f"{incident}: resolved")
        after = tx.append(*events)
    return StepResult(after, tuple(said))


def review(desk: Desk, incident: str, *, lessons: Sequence[str], participants: Sequence[str], by: str,
           at: dt.datetime | None = None, policies: Sequence[str] = (), evals: Sequence[str] = ()) -> StepResult:
    """Record the post-incident review: lessons, participants, the policies and eval suites that encode them.

    Every follow-up of the playbook's ``lifecycle.review_follow_ups`` is added with it (such as refreshing the
    training materials), owned by the address of its role, due that long after the review.
    """
    if not lessons or not participants:
        raise InputError("review needs at least one --lesson and one --participant")
    known_policies, known_suites = desk.known_lessons
    unknown = [f"policy {p!r}" for p in policies if p not in known_policies]
    unknown += [f"eval suite {s!r}" for s in evals if s not in known_suites]
    if unknown:
        raise InputError(f"review links to {', '.join(unknown)}: not in the repository ({desk.policies_dir},"
                         f" {desk.evals_dir}); add them first or fix the id")
    standing = desk.playbook.lifecycle.review_follow_ups
    owners = [f.owner_role for f in standing if f.owner_role not in desk.playbook.roles]
    if owners:
        raise InputError(f"lifecycle.review_follow_ups names role(s) {', '.join(owners)} that roles: lacks")
    with desk.store.transaction(incident, wait_s=desk.wait_s()) as tx:
        desk.refuse_unless(tx, "review")
        desk.check_at(at, tx.incident.last_at)
        moment = at or desk.clock.now()
        events = [tx.event("review", by=by, at=at, lessons=list(lessons), participants=list(participants),
                           policies=list(policies), evals=list(evals))]
        number = len(tx.incident.follow_ups)
        said = [f"{incident}: review recorded ({len(lessons)} lesson(s))"]
        for item in standing:
            number += 1
            due = (moment + item.due_after).date().isoformat()
            owner = desk.playbook.roles[item.owner_role]
            events.append(tx.event("follow_up", by=by, at=at, id=f"FU-{number}", action="added", text=item.text,
                                   owner=owner, due=due))
            said.append(f"{incident}: follow-up FU-{number} added ({owner}, due {due}): {item.text}")
        after = tx.append(*events)
    return StepResult(after, tuple(said))


def sign_off(desk: Desk, incident: str, *, role: str, by: str, at: dt.datetime | None = None) -> StepResult:
    """Sign the review off as a role of the playbook; the actor must be that role's address."""
    from ...project.signoff import holder_problem

    problem = holder_problem(desk.playbook.roles, role, by)
    if problem:
        raise InputError(f"--sign-off {role}: {problem} (--by)")
    with desk.store.transaction(incident, wait_s=desk.wait_s()) as tx:
        desk.refuse_unless(tx, "signed_off")
        desk.check_at(at, tx.incident.last_at)
        after = tx.append(tx.event("signed_off", by=by, at=at, role=role))
    return StepResult(after, (f"{incident}: review signed off by {role} ({by})",))


def unsent_notices(desk: Desk, incident: Incident) -> list[str]:
    """Every notice the incident owes and has not sent (due yet or not: an incident never closes owing one)."""
    from ...incidents.notices import unsent

    return [f"{d.clock}:{d.audience}" if d.clock == "internal" else str(d.clock)
            for d in unsent(incident, desk.playbook)]


def close(desk: Desk, incident: str, *, by: str, at: dt.datetime | None = None,
          note: str | None = None) -> StepResult:
    """Close: after the review; a strict severity (sev1, sev2) also needs the sign-off, its lesson in a policy or
    eval suite, every follow-up done or dropped and every notice it owes sent (due yet or not)."""
    references = desk.references  # the repository is read before the lock is taken
    with desk.store.transaction(incident, wait_s=desk.wait_s()) as tx:
        current = tx.incident
        facts = {"signed_off": bool(current.signoffs),
                 "open_follow_ups": tuple(f.id for f in current.follow_ups.values() if f.status == "open"),
                 "unsent_notices": tuple(unsent_notices(desk, current)),
                 "referenced": bool(references.get(current.id))}
        desk.refuse_unless(tx, "closed", **facts)
        desk.check_at(at, current.last_at)
        after = tx.append(tx.event("closed", by=by, at=at, note=note))
    return StepResult(after, (f"{incident}: closed",))


def reopen(desk: Desk, incident: str, *, reason: str, by: str, at: dt.datetime | None = None) -> StepResult:
    """Reopen a closed incident; it needs a new review (and sign-off) before it closes again."""
    if not reason or not reason.strip():
        raise InputError("reopen needs --reason")
    with desk.store.transaction(incident, wait_s=desk.wait_s()) as tx:
        desk.refuse_unless(tx, "reopened")
        desk.check_at(at, tx.incident.last_at)
        after = tx.append(tx.event("reopened", by=by, at=at, reason=reason))
    return StepResult(after, (f"{incident}: reopened (state {after.state.label})",))


def rollback_refusal(store: IncidentStore, incident: str, *, strict: Sequence[str] = ("sev1", "sev2"),
                     no_evidence_reason: str | None = None) -> str | None:
    """Why a rollback may not be recorded in ``incident`` now: closed, or of a ``strict`` severity without
    evidence (unless ``no_evidence_reason`` says why there is none)."""
    from ...incidents.lifecycle import Facts, refusal

    current = store.load(incident)
    problem = refusal(current.state, "rollback", Facts(severity=current.severity))
    if problem:
        return f"{incident}: {problem}"
    severity = current.strictest(tuple(strict))
    if severity in strict and not current.of_type("evidence") and not no_evidence_reason:
        return (f"{incident} is {severity} and has no evidence: capture it before the rollback changes the"
                " system (harness incident evidence add), or give --no-evidence --reason")
    return None
