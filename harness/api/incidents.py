"""The incident workflow: one function per step, each recording a timestamped event with its actor.

    from harness.api import incidents
    desk = incidents.desk("incidents", policies="policies", evals="evals")
    opened = incidents.open_incident(desk, title="...", severity="sev1", model="m", model_version="1.2", by="me@x")
    incidents.contain(desk, opened.incident.id, action="disable-endpoint", by="me@x")

Every step reads the incident under its lock, checks the transitions table (a step out of
order is an ``InputError`` naming the missing step), runs what it runs (a containment hook,
a notice's delivery, the evidence copy) and appends its event; nothing is recorded when it
is refused. ``at`` back-fills the time of a step (never before the previous event, never in
the future). Nothing here prints or exits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock, format_timestamp
from ..errors import InputError
from ..incidents.clocks import IncidentClock, incident_clocks
from ..incidents.lifecycle import Facts, State, refusal
from ..incidents.model import ROOT_CAUSE_TYPES, Incident
from ..incidents.store import IncidentStore, Transaction
from ..model.playbook import Playbook
from ..model.waiver import parse_date

PathLike = str | os.PathLike[str]


@dataclass
class Desk:
    """Where the incidents live and what they are judged by: the store, the policy repository, the clock."""

    store: IncidentStore
    policies_dir: Path
    evals_dir: Path | None
    clock: Clock = SYSTEM_CLOCK
    #: the notifier config to use instead of the playbook's ``release.notifier`` (``--notifier``)
    notifier: Mapping[str, Any] | None = None

    @cached_property
    def playbook(self) -> Playbook:
        from ..project import read_playbook

        return read_playbook(self.policies_dir)

    @cached_property
    def references(self) -> Mapping[str, tuple[str, ...]]:
        """Incident id -> the policies (``lessons_from``) and eval suites (``from_incident``) naming it."""
        from ..project.loader import load_project

        project = load_project(self.policies_dir, self.evals_dir)
        found: dict[str, list[str]] = {}
        for policy in project.policies:
            for incident in policy.lessons_from:
                found.setdefault(incident, []).append(policy.id)
        for suite in project.suites:
            if suite.from_incident:
                found.setdefault(suite.from_incident, []).append(suite.policy_id)
        return {k: tuple(v) for k, v in found.items()}

    @cached_property
    def known_lessons(self) -> tuple[frozenset[str], frozenset[str]]:
        """The policy ids and eval suite names of the repository (a review's links must exist)."""
        from ..project.loader import load_project

        project = load_project(self.policies_dir, self.evals_dir)
        return frozenset(p.id for p in project.policies), frozenset(s.suite for s in project.suites)

    def notifier_for(self) -> Any:
        from ..release.notify import notifier_from_config

        config = self.notifier if self.notifier is not None else self.playbook.release.notifier.config()
        return notifier_from_config(config, base=Path.cwd(), clock=self.clock)


def desk(incidents: PathLike = "incidents", *, policies: PathLike = "policies", evals: PathLike | None = "evals",
         clock: Clock = SYSTEM_CLOCK, notifier: Mapping[str, Any] | None = None) -> Desk:
    """The incident desk over ``incidents/`` and the policy repository."""
    return Desk(IncidentStore(Path(incidents), clock=clock), Path(policies), Path(evals) if evals is not None else None,
                clock, notifier)


@dataclass(frozen=True)
class StepResult:
    """What a step did: the incident after it, and lines saying what happened."""

    incident: Incident
    said: tuple[str, ...] = ()
    #: False when what the step ran failed (a hook, a delivery): recorded, but the step did not succeed
    ok: bool = True
    events: tuple[Mapping[str, Any], ...] = field(default=())


def _refuse_unless(tx: Transaction, desk: Desk, event: str, **facts: Any) -> None:
    incident = tx.incident
    problem = refusal(incident.state, event, Facts(severity=incident.severity, **facts))
    if problem:
        raise InputError(f"{incident.id}: {problem}")


def _check_at(tx: Transaction, at: dt.datetime | None) -> None:
    """Refuse ``at`` before anything runs (a hook, a delivery, a copy): before the previous event, or ahead of now."""
    if at is None:
        return
    if at < tx.incident.last_at:
        raise InputError(f"--at {format_timestamp(at)} is before the incident's previous event"
                         f" ({format_timestamp(tx.incident.last_at)}); steps are recorded in time order")
    now = tx.store.clock.now()
    if at > now + dt.timedelta(seconds=1):
        raise InputError(f"--at {format_timestamp(at)} is in the future (now: {format_timestamp(now)}); steps are"
                         " recorded when they happened")


def _date(text: str, option: str) -> str:
    try:
        parse_date(text)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None
    return text


def _severity(desk: Desk, severity: str) -> str:
    if severity not in desk.playbook.severities:
        raise InputError(f"unknown severity {severity!r}: expected one of {', '.join(desk.playbook.severities)}"
                         " (the playbook's severities)")
    return severity


def _flags(flags: Iterable[str]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for flag in flags:
        name, value = (flag[3:], False) if flag.startswith("no-") else (flag, True)
        if not name.replace("_", "").isalnum() or not name[:1].isalpha() or name != name.lower():
            raise InputError(f"flag {flag!r}: expected a lower-case name like personal_data (or no-personal_data)")
        out[name] = value
    return out


# -- open ------------------------------------------------------------------------------------------------------

def open_incident(desk: Desk, *, title: str, severity: str, model: str, model_version: str, by: str,
                  at: dt.datetime | None = None, became_aware: dt.datetime | None = None, summary: str | None = None,
                  category: str | None = None, endpoint: str | None = None, flags: Iterable[str] = (),
                  failing_policies: Sequence[str] = (), source: Mapping[str, Any] | None = None,
                  versions: Mapping[str, Any] | None = None, evidence: Sequence[Path] = ()) -> StepResult:
    """Open the next free ``INC-YYYY-NNNN`` (detected at ``at`` or now); a severity in
    ``notices.escalate_on_open`` tells the ``escalate_to`` roles at once (recorded as notices).
    """
    _severity(desk, severity)
    now = desk.clock.now()
    detected = at or now
    if detected > now + dt.timedelta(seconds=1):
        raise InputError(f"--at {format_timestamp(detected)} is in the future (now: {format_timestamp(now)})")
    if became_aware is not None and became_aware > now + dt.timedelta(seconds=1):
        raise InputError("--became-aware is in the future")
    if evidence:
        from ..incidents.evidence import check_sources

        check_sources(evidence)  # refused before anything is recorded (the vault does not exist yet)
    record: dict[str, Any] = {"title": title, "summary": summary, "severity": severity, "category": category,
                              "detected": format_timestamp(detected),
                              "became_aware": format_timestamp(became_aware) if became_aware else None,
                              "reported_by": by, "model": model, "model_version": model_version,
                              "endpoint": endpoint, "versions": dict(versions) if versions else None,
                              "flags": _flags(flags) or None, "failing_policies": list(failing_policies) or None,
                              "source": dict(source) if source else None}
    header = "# yaml-language-server: $schema=../harness/schemas/incident.schema.json\n"
    incident = desk.store.create({k: v for k, v in record.items() if v is not None}, header=header)
    said = [f"opened {incident.id} ({severity}): {title}", f"record: {incident.record.path}"]
    if evidence:
        step = add_evidence(desk, incident.id, evidence, by=by, at=detected)
        incident, said = step.incident, [*said, *step.said]
    if severity in desk.playbook.notices.escalate_on_open:
        step = escalate(desk, incident.id, by=by, at=detected, roles=desk.playbook.notices.escalate_to)
        incident, said = step.incident, [*said, *step.said]
    return StepResult(incident, tuple(said))


def open_from_report(desk: Desk, report: PathLike, *, by: str, at: dt.datetime | None = None,
                     title: str | None = None, severity: str | None = None, flags: Iterable[str] = ()) -> StepResult:
    """Draft an incident from a failed gate or scan report (its JSON): the severity of the most severe failing
    policy, the model and version of the run, and the failing results, masked as in the report, as evidence.
    """
    from ..io.files import sha256_file
    from ..report.model import Report

    path = Path(report)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"--from-report {path}: cannot read: {exc.strerror}") from None
    try:
        parsed = Report.from_json(data)
    except (ValueError, InputError) as exc:
        raise InputError(f"--from-report {path}: not a harness JSON report ({exc})") from None
    return open_from(desk, parsed, path=path, sha256=sha256_file(path), by=by, at=at, title=title,
                     severity=severity, flags=flags)


def open_from(desk: Desk, report: Any, *, path: Path | None, sha256: str | None, by: str,
              at: dt.datetime | None = None, title: str | None = None, severity: str | None = None,
              flags: Iterable[str] = ()) -> StepResult:
    """:func:`open_from_report` for a :class:`~harness.report.model.Report` in memory (``gate --open-incident``)."""
    failing = [p for p in report.policies if p.status in ("fail", "error")]
    if not failing:
        raise InputError(f"{path or 'the report'}: no policy failed (verdict {report.verdict.value}); nothing to open"
                         " an incident for")
    order = list(desk.playbook.severities)
    rank = {name: i for i, name in enumerate(order)}
    worst = min(failing, key=lambda p: rank.get(p.severity, len(order)))
    chosen = severity or (worst.severity if worst.severity in rank else order[-1])
    run = report.run
    if not run.model or not run.model_version:
        raise InputError(f"{path or 'the report'}: the run names no model or model version; give --model and"
                         " --model-version to the gate, or open the incident by hand")
    names = ", ".join(p.id for p in failing[:3]) + (f" and {len(failing) - 3} more" if len(failing) > 3 else "")
    source: dict[str, Any] = {"kind": run.kind if run.kind in ("gate", "scan") else "manual", "run_id": run.id,
                              "verdict": report.verdict.value}
    if path is not None:
        source["report"] = str(path)
    if sha256:
        source["sha256"] = sha256
    with tempfile.TemporaryDirectory(prefix="harness-incident-") as tmp:
        results = Path(tmp) / f"failing-results-{run.id}.json"
        results.write_text(json.dumps({
            "run": {"id": run.id, "kind": run.kind, "model": run.model, "model_version": run.model_version,
                    "outputs": run.outputs.path, "outputs_sha256": run.outputs.sha256},
            "verdict": report.verdict.value,
            "policies": [{"id": p.id, "version": p.version, "severity": p.severity, "status": p.status,
                          "failed": p.failed} for p in failing],
            "results": [r for r in report.to_dict()["results"]],
            "aggregates": [a for a in report.to_dict()["aggregates"] if a["status"] != "pass"],
        }, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if path is None:  # a report in memory (gate --open-incident): kept as evidence too
            from ..io.files import sha256_file

            path_in_vault = Path(tmp) / f"report-{run.id}.json"
            path_in_vault.write_text(report.to_json(), encoding="utf-8")
            source["sha256"] = sha256_file(path_in_vault)
            evidence = [results, path_in_vault]
        else:
            evidence = [results, path]
        return open_incident(
            desk, title=title or f"{run.kind} verdict {report.verdict.value} on {run.model} {run.model_version}:"
                                 f" {names} failed",
            severity=chosen, model=run.model, model_version=run.model_version, by=by, at=at, flags=flags,
            summary=f"{len(report.results)} failing results; reasons: " + "; ".join(report.reasons)[:2000],
            failing_policies=[p.id for p in failing], source=source,
            versions={"policies": {p.id: p.version for p in run.policies}}, evidence=evidence)


# -- the workflow steps ------------------------------------------------------------------------------------------

def classify(desk: Desk, incident: str, *, severity: str | None, reason: str, by: str,
             at: dt.datetime | None = None, flags: Iterable[str] = ()) -> StepResult:
    """Change the severity (or set flags such as personal_data) with a reason; every change is kept."""
    changes = _flags(flags)
    if severity is None and not changes:
        raise InputError("classify needs --severity or --flag")
    if not reason.strip():
        raise InputError("classify needs --reason: why the severity or the flags change")
    with desk.store.transaction(incident) as tx:
        _refuse_unless(tx, desk, "classified")
        _check_at(tx, at)
        new = _severity(desk, severity) if severity else tx.incident.severity
        after = tx.append(tx.event("classified", by=by, at=at, severity=new, reason=reason, flags=changes))
    return StepResult(after, (f"{incident}: severity {new}"
                              + (f" (flags: {_shown_flags(changes)})" if changes else ""),))


def _shown_flags(flags: Mapping[str, bool]) -> str:
    return ", ".join(name if value else f"no {name}" for name, value in flags.items())


def contain(desk: Desk, incident: str, *, action: str, by: str, at: dt.datetime | None = None,
            note: str | None = None) -> StepResult:
    """Run a containment action of the playbook (its hook; its roles are told) and record the outcome."""
    from ..release.hooks import post_webhook, run_command

    actions = desk.playbook.containment
    if action not in actions:
        raise InputError(f"unknown containment action {action!r}: expected one of {', '.join(actions) or 'none'}"
                         " (containment: in the playbook)")
    spec = actions[action]
    with desk.store.transaction(incident) as tx:
        _refuse_unless(tx, desk, "contained")
        _check_at(tx, at)
        current = tx.incident
        payload = {"incident": current.id, "action": action, "severity": current.severity,
                   "model": current.record.model, "model_version": current.record.model_version,
                   "endpoint": current.record.get("endpoint")}
        ok, details = True, []
        if spec.hook is not None:
            hook = spec.hook
            result = (run_command(hook.target, payload=payload, timeout_s=hook.timeout_s) if hook.kind == "command"
                      else post_webhook(hook.target, payload, timeout_s=hook.timeout_s, headers=hook.headers))
            ok = result.ok
            details.append(f"hook {hook.target}: {result.detail}")
        events = [tx.event("contained", by=by, at=at, action=action, outcome="done" if ok else "failed",
                           contains=spec.contains, detail="; ".join(details) or "no hook: done by hand", note=note)]
        after = tx.append(*events)
    said = [f"{incident}: {action} {'done' if ok else 'FAILED'}" + (f" ({'; '.join(details)})" if details else "")]
    step = StepResult(after, tuple(said), ok)
    if ok and spec.notify_roles:
        told = escalate(desk, incident, by=by, at=at, roles=spec.notify_roles)
        step = StepResult(told.incident, (*step.said, *told.said), told.ok)
    if ok and spec.contains and after.contained_at is not None and current.contained_at is None:
        step = StepResult(step.incident, (*step.said, f"{incident}: contained at"
                                          f" {format_timestamp(after.contained_at)}"), step.ok)
    return step


def escalate(desk: Desk, incident: str, *, by: str, roles: Sequence[str], at: dt.datetime | None = None) -> StepResult:
    """Tell the playbook's roles (Governance Lead, Security Officer) through the notifier; each notice recorded."""
    missing = [role for role in roles if role not in desk.playbook.roles]
    if missing:
        raise InputError(f"escalation to {', '.join(missing)}: no such role in the playbook's roles"
                         f" ({', '.join(desk.playbook.roles) or 'none'})")
    return notify(desk, incident, audience="escalation", by=by, at=at,
                  recipients=tuple(desk.playbook.roles[r] for r in roles))


def add_evidence(desk: Desk, incident: str, files: Sequence[PathLike], *, by: str, at: dt.datetime | None = None,
                 note: str | None = None) -> StepResult:
    """Copy files into the incident's content-addressed vault (read-only, originals untouched) and record each."""
    from ..incidents.evidence import capture, check_sources

    if not files:
        raise InputError("evidence add needs at least one FILE")
    sources = check_sources([Path(f) for f in files], vault=desk.store.vault(incident))
    with desk.store.transaction(incident) as tx:
        _refuse_unless(tx, desk, "evidence")
        _check_at(tx, at)
        entries = capture(desk.store.vault(incident), sources)
        after = tx.append(*(tx.event("evidence", by=by, at=at, note=note, **entry) for entry in entries))
    return StepResult(after, tuple(f"{incident}: evidence {e['name']} sha256 {e['sha256'][:12]} ({e['size']} bytes)"
                                   for e in entries))


def notify(desk: Desk, incident: str, *, audience: str, by: str, at: dt.datetime | None = None,
           clock_id: str | None = None, fields: Mapping[str, str] | None = None,
           recipients: Sequence[str] | None = None) -> StepResult:
    """Render the audience's template, deliver it through the notifier, record the sent time and the answer.

    A failed delivery is recorded too (``ok`` False): the notice stays due. A statement to customers or
    partners before containment is refused.
    """
    from ..incidents.notices import audience_recipients, deliver, notice_fields, render_notice

    notifier = desk.notifier_for()
    channel = str((desk.notifier or desk.playbook.release.notifier.config()).get("kind", "outbox"))
    with desk.store.transaction(incident) as tx:
        _refuse_unless(tx, desk, "notice", audience=audience,
                       after_containment=desk.playbook.notices.after_containment)
        _check_at(tx, at)
        rendered = render_notice(tx.incident, desk.playbook, desk.policies_dir, audience, clock_id=clock_id,
                                 fields=dict(fields or {}))
        if recipients is not None:
            rendered = dataclasses.replace(rendered, recipients=tuple(recipients))
        elif not rendered.recipients:
            rendered = dataclasses.replace(rendered, recipients=audience_recipients(desk.playbook, audience))
        outcome, answer = deliver(rendered, notifier)
        after = tx.append(tx.event("notice", by=by, at=at, **notice_fields(rendered, outcome, answer, channel)))
    what = f"{incident}: notice to {audience}" + (f" ({rendered.clock})" if rendered.clock else "")
    said = f"{what} sent via {channel}: {answer}" if outcome == "sent" else f"{what} FAILED via {channel}: {answer}"
    return StepResult(after, (said,), outcome == "sent")


def record_rca(desk: Desk, incident: str, *, trigger: str, root_cause_type: str, corrective_action: str,
               preventive_action: str, owner: str, deadline: str, by: str, at: dt.datetime | None = None,
               failing_policy: str | None = None) -> StepResult:
    """Record the root-cause analysis (the playbook's template); a repeat of a recent incident is named."""
    if root_cause_type not in ROOT_CAUSE_TYPES:
        raise InputError(f"--type {root_cause_type!r}: expected one of {', '.join(ROOT_CAUSE_TYPES)}")
    _date(deadline, "--deadline")
    for name, value in (("--trigger", trigger), ("--corrective", corrective_action),
                        ("--preventive", preventive_action), ("--owner", owner)):
        if not value or not value.strip():
            raise InputError(f"{name} is required and may not be empty")
    with desk.store.transaction(incident) as tx:
        _refuse_unless(tx, desk, "rca")
        _check_at(tx, at)
        from ..incidents.metrics import find_repeat

        others, _ = desk.store.load_all()
        candidate = tx.incident
        repeat = find_repeat(candidate, [o for o in others if o.id != candidate.id],
                             root_cause_type=root_cause_type, failing_policy=failing_policy)
        after = tx.append(tx.event("rca", by=by, at=at, trigger=trigger, root_cause_type=root_cause_type,
                                   corrective_action=corrective_action, preventive_action=preventive_action,
                                   owner=owner, deadline=deadline, failing_policy=failing_policy, variant_of=repeat))
    said = [f"{incident}: root-cause analysis recorded ({root_cause_type})"]
    if repeat:
        said.append(f"{incident}: a repeat of {repeat} (same model, root-cause type and failing policy within 90"
                    " days): recorded as variant_of")
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
        _date(due, "--due")
    if drop and not (reason and reason.strip()):
        raise InputError(f"--drop {drop} needs --reason")
    with desk.store.transaction(incident) as tx:
        _check_at(tx, at)
        events, said = [], []
        if add or done or drop:
            _refuse_unless(tx, desk, "follow_up")
        if add:
            number = len(tx.incident.follow_ups) + 1
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
            _refuse_unless(tx, desk, "resolved")
            events.append(tx.event("resolved", by=by, at=at))
            said.append(f"{incident}: resolved")
        after = tx.append(*events)
    return StepResult(after, tuple(said))


def review(desk: Desk, incident: str, *, lessons: Sequence[str], participants: Sequence[str], by: str,
           at: dt.datetime | None = None, policies: Sequence[str] = (), evals: Sequence[str] = ()) -> StepResult:
    """Record the post-incident review: lessons, participants, the policies and eval suites that encode them."""
    if not lessons or not participants:
        raise InputError("review needs at least one --lesson and one --participant")
    known_policies, known_suites = desk.known_lessons
    unknown = [f"policy {p!r}" for p in policies if p not in known_policies]
    unknown += [f"eval suite {s!r}" for s in evals if s not in known_suites]
    if unknown:
        raise InputError(f"review links to {', '.join(unknown)}: not in the repository ({desk.policies_dir},"
                         f" {desk.evals_dir}); add them first or fix the id")
    with desk.store.transaction(incident) as tx:
        _refuse_unless(tx, desk, "review")
        _check_at(tx, at)
        after = tx.append(tx.event("review", by=by, at=at, lessons=list(lessons), participants=list(participants),
                                   policies=list(policies), evals=list(evals)))
    return StepResult(after, (f"{incident}: review recorded ({len(lessons)} lessons)",))


def sign_off(desk: Desk, incident: str, *, role: str, by: str, at: dt.datetime | None = None) -> StepResult:
    """Sign the review off as a role of the playbook; the actor must be that role's address."""
    roles = {**desk.playbook.roles}
    if role not in roles:
        raise InputError(f"--sign-off {role!r}: not a role of the playbook ({', '.join(roles) or 'none'})")
    if by.strip().lower() != roles[role].strip().lower():
        raise InputError(f"--sign-off {role}: {by!r} is not the {role} ({roles[role]}); sign off as that person"
                         " (--by)")
    with desk.store.transaction(incident) as tx:
        _refuse_unless(tx, desk, "signed_off")
        _check_at(tx, at)
        after = tx.append(tx.event("signed_off", by=by, at=at, role=role))
    return StepResult(after, (f"{incident}: review signed off by {role} ({by})",))


def unsent_notices(desk: Desk, incident: Incident) -> list[str]:
    """Every notice the incident owes and has not sent (due or not yet: an incident never closes owing one)."""
    from ..incidents.notices import unsent

    return [f"{d.clock}:{d.audience}" if d.clock == "internal" else str(d.clock)
            for d in unsent(incident, desk.playbook)]


def close(desk: Desk, incident: str, *, by: str, at: dt.datetime | None = None,
          note: str | None = None) -> StepResult:
    """Close: after the review; a sev1 or sev2 also needs the sign-off, its lesson in a policy or eval suite,
    every follow-up done or dropped and every notice it owes sent (due yet or not)."""
    with desk.store.transaction(incident) as tx:
        current = tx.incident
        facts = {"signed_off": bool(current.signoffs),
                 "open_follow_ups": tuple(f.id for f in current.follow_ups.values() if f.status == "open"),
                 "unsent_notices": tuple(unsent_notices(desk, current)),
                 "referenced": bool(desk.references.get(current.id))}
        _refuse_unless(tx, desk, "closed", **facts)
        _check_at(tx, at)
        after = tx.append(tx.event("closed", by=by, at=at, note=note))
    return StepResult(after, (f"{incident}: closed",))


def reopen(desk: Desk, incident: str, *, reason: str, by: str, at: dt.datetime | None = None) -> StepResult:
    """Reopen a closed incident; it needs a new review (and sign-off) before it closes again."""
    if not reason or not reason.strip():
        raise InputError("reopen needs --reason")
    with desk.store.transaction(incident) as tx:
        _refuse_unless(tx, desk, "reopened")
        _check_at(tx, at)
        after = tx.append(tx.event("reopened", by=by, at=at, reason=reason))
    return StepResult(after, (f"{incident}: reopened (state {after.state.label})",))


# -- rollback -------------------------------------------------------------------------------------------------

def rollback_refusal(store: IncidentStore, incident: str, *, no_evidence_reason: str | None = None) -> str | None:
    """Why a rollback may not be recorded in ``incident`` now: closed, or a sev1/sev2 without evidence
    (unless ``no_evidence_reason`` says why there is none)."""
    current = store.load(incident)
    problem = refusal(current.state, "rollback", Facts(severity=current.severity))
    if problem:
        return f"{incident}: {problem}"
    if current.severity in ("sev1", "sev2") and not current.of_type("evidence") and not no_evidence_reason:
        return (f"{incident} is {current.severity} and has no evidence: capture it before the rollback changes the"
                " system (harness incident evidence add), or give --no-evidence --reason")
    return None


# -- reading ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IncidentView:
    """An incident with its clocks as of now."""

    incident: Incident
    clocks: tuple[IncidentClock, ...]
    now: dt.datetime
    referenced_by: tuple[str, ...] = ()

    @property
    def next_due(self) -> IncidentClock | None:
        running = [c for c in self.clocks if c.running]
        return min(running, key=lambda c: c.due_at) if running else None

    def to_json(self) -> dict[str, Any]:
        nxt = self.next_due
        return {**self.incident.to_json(), "referenced_by": list(self.referenced_by),
                "clocks": [c.to_json(self.now) for c in self.clocks],
                "next_due": nxt.to_json(self.now) if nxt else None}


def view(desk: Desk, incident: Incident | str) -> IncidentView:
    """An incident (or its id) with its clocks."""
    current = desk.store.load(incident) if isinstance(incident, str) else incident
    refs = desk.references.get(current.id, ())
    return IncidentView(current, tuple(incident_clocks(current, desk.playbook, referenced=bool(refs))),
                        desk.clock.now(), refs)


def list_incidents(desk: Desk, *, open_only: bool = False, severity: str | None = None) -> list[IncidentView]:
    """Every incident (or the open ones, or one severity's), with clocks; ``InputErrors`` if a record is broken."""
    from ..errors import InputErrors

    found, problems = desk.store.load_all()
    InputErrors.raise_if_any(problems)
    if severity is not None:
        _severity(desk, severity)
    return [view(desk, i) for i in found
            if (not open_only or i.state is not State.CLOSED) and (severity is None or i.severity == severity)]


def running_clocks(desk: Desk) -> list[tuple[IncidentView, IncidentClock]]:
    """Every running (or overdue) clock of every open incident, nearest deadline first."""
    out = [(v, c) for v in list_incidents(desk, open_only=True) for c in v.clocks if c.running]
    out.sort(key=lambda pair: pair[1].due_at)
    return out


def verify_evidence(desk: Desk, incident: str) -> list[str]:
    """Re-hash the incident's vault; the problems (an empty list: intact)."""
    from ..incidents.evidence import verify

    return verify(desk.store.load(incident), desk.store.vault(incident))
