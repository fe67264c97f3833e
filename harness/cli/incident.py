"""``harness incident``: walk an incident from detection to closure, one command per workflow step."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import re
from pathlib import Path
from typing import Any

from ..errors import ExitCode, InputError
from ..text.normalize import one_line
from . import common

EXIT_CODES = common.exit_codes(
    "  0  done: the step was recorded (show, list, clocks: printed; verify: the vault is intact)",
    "  1  recorded, but what it ran failed (a containment hook, a notice's delivery: the notice stays due);"
    " clocks --fail-on-breach: a clock is overdue or was breached; verify: the vault does not match; rollback: a"
    " step failed",
    "  3  gate/scan --open-incident: as the gate (rollback required)",
    "  4  invalid input: unknown incident, severity or action, a step out of order (the missing step is named),"
    " a time before the previous event or in the future, a broken record (file, line, field); nothing recorded",
    common.EXIT_ENVIRONMENT)

STEPS_HELP = {
    "open": "open the next INC-YYYY-NNNN (by hand, or --from-report a failed gate or scan)",
    "classify": "change the severity or the flags (personal_data, serious_incident...), with a reason",
    "contain": "run a containment action of the playbook (disable-endpoint, safe-mode, rate-limit...)",
    "evidence": "evidence add FILE...: copy files into the incident's read-only, content-addressed vault",
    "notify": "render an audience's template and deliver it (internal, regulators, customers...)",
    "rca": "record the root-cause analysis",
    "remediate": "follow-ups (add, done, drop) and the resolution (--resolved)",
    "rollback": "roll the model back to the last-known-good version, recorded in the incident",
    "review": "record the post-incident review (lessons, participants, linked policies and evals); --sign-off",
    "close": "close the incident (a sev1/sev2 needs the sign-off, its lesson encoded, follow-ups and notices done)",
    "reopen": "reopen a closed incident (it needs a new review)",
    "show": "the incident: timeline, clocks, what is due next",
    "list": "every incident, one a line",
    "clocks": "every running clock of every open incident, with the time left or overdue",
    "verify": "re-hash the incident's evidence vault",
}


_AT = (r"\A(19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
       r"(Z|[+-][0-9]{2}:[0-9]{2})\Z")


@functools.cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)  # compiled on first use: `harness --help` pays nothing


def at_arg(value: str) -> dt.datetime:
    """``--at``: an ISO 8601 time with its zone (``2026-03-09T15:42Z``, ``...+01:00``), years 1900 to 2099;
    naive times, week dates and ordinal dates are refused."""
    from ..clock import parse_timestamp

    text = value.strip()
    problem = None if _pattern(_AT).match(text) else "not a time like 2026-03-09T15:42:00Z (with its zone)"
    if problem is None:
        try:
            return parse_timestamp(text)
        except ValueError as exc:
            problem = str(exc)
    raise argparse.ArgumentTypeError(f"{value!r}: {problem}; expected a time like 2026-03-09T15:42:00Z")


def _common(parser: argparse.ArgumentParser, *, acting: bool = True) -> None:
    parser.add_argument("--incidents", type=Path, default=Path("incidents"), metavar="DIR",
                        help="incident records (default: incidents)")
    common.repository_options(parser, today=False)
    if acting:
        parser.add_argument("--by", type=common.actor_arg, metavar="ACTOR",
                            help="who acts (default: $GITHUB_ACTOR, git user.email, login)")
        parser.add_argument("--at", type=at_arg, metavar="TIME",
                            help="when it happened, to back-fill (ISO 8601 with zone; default: now); never before"
                                 " the previous event")
        parser.add_argument("--format", choices=("text", "json"), default="text",
                            help="text, or json: the incident after the step (default: text)")


def _id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", metavar="INC-YYYY-NNNN", help="the incident")


def register(commands: Any) -> None:
    parser = common.command(
        commands, "incident", help="incidents as records: open, contain, notify, RCA, review, close; clocks",
        description="The playbook's response workflow (detect, classify, contain, notify, root-cause, remediate,"
                    " roll back, review, close) as commands. Each records a timestamped event with its actor in"
                    " incidents/INC-YYYY-NNNN.events.jsonl; the record people write (INC-YYYY-NNNN.yaml) is never"
                    " rewritten.", exit_codes=EXIT_CODES)
    actions = common.actions(parser, "incident_command")

    def action(name: str, description: str | None = None) -> argparse.ArgumentParser:
        return actions.add_parser(name, help=STEPS_HELP[name], description=description or STEPS_HELP[name],
                                  epilog="exit codes:\n" + EXIT_CODES,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)

    sub = action("open", "Open the next free INC-<year>-NNNN. By hand (--title, --severity, --model,"
                         " --model-version) or --from-report: a failed gate's or scan's JSON report gives the severity"
                         " (the most severe failing policy), the model and versions, and the failing results as masked"
                         " evidence. A severity in the playbook's notices.escalate_on_open tells the Governance Lead"
                         " and the Security Officer at once.")
    sub.add_argument("--from-report", type=Path, metavar="REPORT.json", help="draft it from a gate or scan report")
    sub.add_argument("--title", help="one line saying what happened")
    sub.add_argument("--severity", help="sev1, sev2, sev3 (the playbook's); with --from-report: overrides")
    sub.add_argument("--model", help="the model that misbehaved")
    sub.add_argument("--model-version", help="its version")
    sub.add_argument("--summary", help="what is known so far")
    sub.add_argument("--category", help="privacy, safety, fairness, formatting, latency...")
    sub.add_argument("--endpoint", help="the endpoint or feature that served it")
    sub.add_argument("--flag", action="append", default=[], metavar="NAME",
                     help="a fact that starts regulatory clocks: personal_data, serious_incident, death,"
                          " widespread_infringement, critical_infrastructure (repeatable)")
    sub.add_argument("--became-aware", type=at_arg, metavar="TIME",
                     help="when the team became aware (regulatory clocks start here; default: --at)")
    sub.add_argument("--failing-policy", action="append", default=[], metavar="ID",
                     help="a policy whose failure revealed it (the repeat rule compares them; repeatable)")
    sub.add_argument("--evidence", action="append", default=[], type=Path, metavar="FILE",
                     help="capture this file as evidence at once (repeatable)")
    _common(sub)

    sub = action("classify")
    _id(sub)
    sub.add_argument("--severity", help="the new severity (a severity of the playbook)")
    sub.add_argument("--flag", action="append", default=[], metavar="NAME",
                     help="set a flag (personal_data...); no-NAME clears it (repeatable)")
    sub.add_argument("--reason", required=True, help="why")
    _common(sub)

    sub = action("contain")
    _id(sub)
    sub.add_argument("--action", required=True, help="a containment action of the playbook")
    sub.add_argument("--by-hand", action="store_true",
                     help="the action was taken outside the harness (at --at): record it, run no hook")
    sub.add_argument("--note", help="a remark kept with the event")
    _common(sub)

    sub = action("evidence")
    evidence = sub.add_subparsers(dest="evidence_command", metavar="ACTION", parser_class=common.Parser,
                                  required=True)
    add = evidence.add_parser("add", help="copy files into the vault (originals untouched)",
                              description="Copy each file into incidents/evidence/INC-…/<sha256> (read-only) and"
                                          " record its path, size, sha256, time and actor. Every file is checked"
                                          " before any is copied.")
    _id(add)
    add.add_argument("files", nargs="+", type=Path, metavar="FILE", help="the files to capture")
    add.add_argument("--note", help="a remark kept with each evidence event")
    _common(add)

    sub = action("notify", "Render the audience's template (policies/templates/notices/AUDIENCE.md, or"
                           " AUDIENCE-CLOCK.md for a regulatory clock) and deliver it through the notifier (the"
                           " playbook's, or --notifier). The sent time and the channel's answer are recorded; a failed"
                           " delivery is recorded and the notice stays due. Customers and partners only after"
                           " containment.")
    _id(sub)
    sub.add_argument("--audience", required=True, help="internal, legal, pr, regulators, customers, partners...")
    sub.add_argument("--clock", dest="clock_id", metavar="CLOCK",
                     help="the regulatory clock this notice answers (gdpr-art33...; needed when several apply)")
    sub.add_argument("--field", action="append", default=[], metavar="KEY=VALUE",
                     help="a value for the template (repeatable)")
    sub.add_argument("--to", action="append", metavar="ADDRESS", help="recipients instead of the playbook's")
    sub.add_argument("--notifier", metavar="SPEC", help="outbox:DIR, webhook:URL or smtp:HOST:PORT:FROM")
    sub.add_argument("--by-hand", action="store_true",
                     help="the notice went out by other means (at --at): record it, send nothing")
    _common(sub)

    sub = action("rca", "Record the root-cause analysis: trigger, root-cause type, corrective and preventive"
                        " action, owner and deadline. A repeat of an incident resolved in the previous 90 days (same"
                        " model, root-cause type and failing policy) is recorded as variant_of.")
    _id(sub)
    sub.add_argument("--trigger", required=True, help="the trigger event")
    sub.add_argument("--type", required=True, dest="root_cause_type",
                     help="data, model, infra, policy or human_error")
    sub.add_argument("--corrective", required=True, help="the corrective action")
    sub.add_argument("--preventive", required=True, help="the preventive action")
    sub.add_argument("--owner", required=True, help="who owns the corrective and preventive actions")
    sub.add_argument("--deadline", required=True, metavar="YYYY-MM-DD", help="by when they are done")
    sub.add_argument("--failing-policy", help="the policy whose failure it was (the repeat rule compares it)")
    _common(sub)

    sub = action("remediate")
    _id(sub)
    sub.add_argument("--add", metavar="TEXT", help="a follow-up (needs --owner and --due)")
    sub.add_argument("--owner", help="with --add: who does it")
    sub.add_argument("--due", metavar="YYYY-MM-DD", help="with --add: by when")
    sub.add_argument("--done", metavar="FU-N", help="a follow-up done")
    sub.add_argument("--closed-by", metavar="ID", help="with --done: the policy or eval that encodes it")
    sub.add_argument("--drop", metavar="FU-N", help="a follow-up dropped (needs --reason)")
    sub.add_argument("--reason", help="with --drop: why it is dropped")
    sub.add_argument("--resolved", action="store_true", help="the fix is in place: the incident is resolved")
    _common(sub)

    sub = action("rollback", "The rollback procedure (harness rollback) recorded in the incident: refused on a"
                             " closed incident, and for a sev1/sev2 incident without evidence unless --no-evidence"
                             " --reason says why.")
    _id(sub)
    from .rollback import rollback_options

    rollback_options(sub, incident=False)

    sub = action("review")
    _id(sub)
    sub.add_argument("--lesson", action="append", default=[], help="a lesson learned (repeatable)")
    sub.add_argument("--participant", action="append", default=[], help="who took part (repeatable)")
    sub.add_argument("--policy", action="append", default=[], help="a policy that encodes a lesson (repeatable)")
    sub.add_argument("--eval", action="append", default=[], dest="evals_linked",
                     help="an eval suite that encodes a lesson (repeatable)")
    sub.add_argument("--sign-off", metavar="ROLE",
                     help="sign the review off as this role of the playbook (--by must be its address)")
    _common(sub)

    sub = action("close")
    _id(sub)
    sub.add_argument("--note", help="a remark kept with the event")
    _common(sub)

    sub = action("reopen")
    _id(sub)
    sub.add_argument("--reason", required=True, help="why it is reopened")
    _common(sub)

    for name in ("show", "verify"):
        sub = action(name)
        _id(sub)
        _common(sub, acting=False)
        sub.add_argument("--format", choices=("text", "json"), default="text", help="text or json (default: text)")

    sub = action("list")
    sub.add_argument("--open", action="store_true", help="only open incidents")
    sub.add_argument("--severity", help="only this severity")
    _common(sub, acting=False)
    sub.add_argument("--format", choices=("text", "json"), default="text", help="text or json (default: text)")

    sub = action("clocks", "Every running clock of every open incident (SLAs, review, policy update, notices),"
                           " nearest deadline first, with the time left or how long overdue.")
    sub.add_argument("--fail-on-breach", action="store_true",
                     help="exit 1 when a clock is overdue (for a scheduled CI job)")
    _common(sub, acting=False)
    sub.add_argument("--format", choices=("text", "json"), default="text", help="text or json (default: text)")
    parser.set_defaults(func=lambda args: run(args, parser))


def _desk(args: argparse.Namespace) -> Any:
    from ..api import incidents

    notifier = None
    if getattr(args, "notifier", None):
        from ..model import NotifierSpec

        notifier = NotifierSpec.parse(args.notifier).config()
    return incidents.desk(args.incidents, policies=args.policies, evals=args.evals, clock=args.clock,
                          notifier=notifier)


def _actor(args: argparse.Namespace) -> str:
    from ..release.provenance import current_actor

    return current_actor(args.by)


def _fields(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--field {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


_ADDRESS = r"\A[^@\s]+@[^@\s]+\.[^@\s]+\Z"


def _check_text(args: argparse.Namespace) -> None:
    """Every text option is valid UTF-8 (no lone surrogates from undecodable bytes) and every --to an address."""
    for name, value in vars(args).items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise InputError(f"--{name.replace('_', '-')}: not valid UTF-8 text") from None
    for address in getattr(args, "to", None) or ():
        if not _pattern(_ADDRESS).match(address) or not address.isprintable():
            raise InputError(f"--to {address!r}: expected an e-mail address like legal@example.com")
    if getattr(args, "by", None) is not None and not args.by.strip():
        raise InputError("--by is empty: name who acts, or leave --by out")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..api import incidents

    command = args.incident_command
    if command is None:
        return common.missing_action(parser)
    _check_text(args)
    if command in ("show", "list", "clocks", "verify"):
        return _read(args, command)
    if command == "rollback":
        return _rollback(args)
    desk, by = _desk(args), _actor(args)
    at = args.at
    if command == "open":
        if args.from_report is not None:
            step = incidents.open_from_report(desk, args.from_report, by=by, at=at, title=args.title,
                                              severity=args.severity, flags=args.flag)
        else:
            missing = [f"--{n.replace('_', '-')}" for n in ("title", "severity", "model", "model_version")
                       if not getattr(args, n)]
            if missing:
                raise InputError(f"incident open needs {', '.join(missing)} (or --from-report REPORT.json)")
            step = incidents.open_incident(desk, title=args.title, severity=args.severity, model=args.model,
                                           model_version=args.model_version, by=by, at=at, summary=args.summary,
                                           category=args.category, endpoint=args.endpoint, flags=args.flag,
                                           became_aware=args.became_aware, evidence=args.evidence,
                                           failing_policies=args.failing_policy)
    elif command == "classify":
        step = incidents.classify(desk, args.id, severity=args.severity, reason=args.reason, by=by, at=at,
                                  flags=args.flag)
    elif command == "contain":
        step = incidents.contain(desk, args.id, action=args.action, by=by, at=at, note=args.note,
                                 by_hand=args.by_hand)
    elif command == "evidence":
        step = incidents.add_evidence(desk, args.id, args.files, by=by, at=at, note=args.note)
    elif command == "notify":
        step = incidents.notify(desk, args.id, audience=args.audience, clock_id=args.clock_id,
                                fields=_fields(args.field), recipients=args.to, by=by, at=at,
                                by_hand=args.by_hand)
    elif command == "rca":
        step = incidents.record_rca(desk, args.id, trigger=args.trigger, root_cause_type=args.root_cause_type,
                                    corrective_action=args.corrective, preventive_action=args.preventive,
                                    owner=args.owner, deadline=args.deadline, failing_policy=args.failing_policy,
                                    by=by, at=at)
    elif command == "remediate":
        step = incidents.remediate(desk, args.id, by=by, at=at, add=args.add, owner=args.owner, due=args.due,
                                   done=args.done, closed_by=args.closed_by, drop=args.drop, reason=args.reason,
                                   resolved=args.resolved)
    elif command == "review":
        if args.sign_off and not (args.lesson or args.participant):
            step = incidents.sign_off(desk, args.id, role=args.sign_off, by=by, at=at)
        else:
            step = incidents.review(desk, args.id, lessons=args.lesson, participants=args.participant, by=by, at=at,
                                    policies=args.policy, evals=args.evals_linked)
            if args.sign_off:
                step = step.then(incidents.sign_off(desk, args.id, role=args.sign_off, by=by, at=at))
    elif command == "close":
        step = incidents.close(desk, args.id, by=by, at=at, note=args.note)
    else:
        step = incidents.reopen(desk, args.id, reason=args.reason, by=by, at=at)
    said = [one_line(line) for line in step.said]  # a title or an answer cannot fake a line of ours
    if args.format == "json":
        print(json.dumps(incidents.view(desk, step.incident).to_json(), indent=2, ensure_ascii=True))
        common.say(*said)
    else:
        common.say(*said, err=False)
    return int(ExitCode.PROMOTE if step.ok else ExitCode.BLOCK)


def _rollback(args: argparse.Namespace) -> int:
    from . import rollback

    desk = _desk(args)
    current = desk.store.load(args.id)
    args.incident = args.id
    if args.model is None:
        args.model = current.record.model
    return rollback.run(args)


def _read(args: argparse.Namespace, command: str) -> int:
    from ..api import incidents

    desk = _desk(args)
    if command == "verify":
        problems, notes = incidents.verify_evidence(desk, args.id)
        count = len(desk.store.load(args.id).of_type("evidence"))
        if args.format == "json":
            print(json.dumps({"incident": args.id, "evidence": count, "problems": problems, "notes": notes},
                             indent=2, ensure_ascii=True))
        elif problems:
            common.say(*(f"{args.id}: {p}" for p in problems), err=False)
        else:
            common.say(f"{args.id}: {count} evidence file(s), each intact (sha256 and size as recorded)", err=False)
        if notes and args.format != "json":
            common.say(*(one_line(f"harness: note: {n}") for n in notes))
            if any("is writable" in n for n in notes):
                common.say(f"harness: note: git keeps no read-only bit: chmod a-w {desk.store.vault(args.id)}/*")
        return int(ExitCode.BLOCK if problems else ExitCode.PROMOTE)
    if command == "show":
        view = incidents.view(desk, args.id)
        if args.format == "json":
            print(json.dumps(view.to_json(), indent=2, ensure_ascii=True))
        else:
            common.say(*show_lines(view), err=False)
        return int(ExitCode.PROMOTE)
    if command == "list":
        views = incidents.list_incidents(desk, open_only=args.open, severity=args.severity)
        if args.format == "json":
            print(json.dumps([_summary(v) for v in views], indent=2, ensure_ascii=True))
        else:
            common.say(*(one_line(f"{v.incident.id}  {v.incident.severity:<5} {v.incident.state.label:<10}"
                                  f" {v.incident.record.title}") for v in views), err=False)
            if not views:
                common.say("no incidents", err=False)
        return int(ExitCode.PROMOTE)
    running = incidents.running_clocks(desk)
    now = desk.clock.now()
    overdue = [c for _, c in running if c.status(now) == "overdue"]
    if args.format == "json":
        print(json.dumps([c.to_json(now) for _, c in running], indent=2, ensure_ascii=True))
    else:
        from ..incidents.clocks import describe_left

        common.say(*(one_line(f"{c.incident}  {c.name:<24} due {_time(c.due_at)}  {describe_left(c.left(now))}"
                              f"  ({c.description})") for _, c in running), err=False)
        if not running:
            common.say("no running clocks", err=False)
    if overdue and args.fail_on_breach:
        common.say(f"harness: {len(overdue)} clock(s) overdue (exit 1)")
        return int(ExitCode.BLOCK)
    return int(ExitCode.PROMOTE)


def _time(moment: dt.datetime | None) -> str:
    from ..clock import format_timestamp

    return format_timestamp(moment)[:16] + "Z" if moment else "-"


def _summary(view: Any) -> dict[str, Any]:
    incident = view.incident
    nxt = view.next_due
    return {"id": incident.id, "title": incident.record.title, "severity": incident.severity,
            "state": incident.state.label, "detected": _time(incident.detected), "model": incident.record.model,
            "model_version": incident.record.model_version,
            "next_due": nxt.to_json(view.now) if nxt else None}


def show_lines(view: Any) -> list[str]:
    """The incident for a terminal: identity, timeline, clocks, follow-ups, events."""
    from ..incidents.clocks import describe_left

    incident, now = view.incident, view.now
    record = incident.record
    lines = [f"{incident.id}  {incident.severity}  {incident.state.label}: {record.title}",
             f"  model {record.model} {record.model_version}" + (f", endpoint {record.get('endpoint')}"
                                                                  if record.get("endpoint") else "")]
    flags = [name for name, on in incident.flags.items() if on]
    if flags:
        lines.append(f"  flags: {', '.join(flags)}")
    lines.append("timeline:")
    lines += [f"  {name:<17} {value[:16] + 'Z' if value else '-'}" for name, value in incident.timestamps().items()]
    if view.clocks:
        lines.append("clocks:")
        for clock in view.clocks:
            status = clock.status(now)
            when = describe_left(clock.left(now)) if clock.running else (
                f"at {_time(clock.stopped_at)}" if clock.stopped_at else "")
            lines.append(f"  {status:<8} {clock.name:<24} due {_time(clock.due_at)} {when}")
    nxt = view.next_due
    lines.append(f"next due: {nxt.name} by {_time(nxt.due_at)} ({describe_left(nxt.left(now))})" if nxt
                 else "next due: nothing")
    if incident.follow_ups:
        lines.append("follow-ups:")
        lines += [f"  {f.id} {f.status:<7} due {f.due} {f.owner}: {f.text}" for f in incident.follow_ups.values()]
    if view.referenced_by:
        lines.append(f"lessons encoded in: {', '.join(view.referenced_by)}")
    lines.append("events:")
    for event in incident.events:
        lines.append(f"  {event.seq:>3} {_time(event.at)} {event.by:<28} {event.type}: {_event_text(event)}")
    return [one_line(line) for line in lines]


def _event_text(event: Any) -> str:
    data = event.data
    kind = event.type
    if kind == "classified":
        return f"{data.get('severity')} ({data.get('reason')})"
    if kind == "contained":
        return f"{data.get('action')} {data.get('outcome')}"
    if kind == "evidence":
        return f"{data.get('name')} sha256 {str(data.get('sha256'))[:12]}"
    if kind == "notice":
        return f"{data.get('audience')} {data.get('outcome')} via {data.get('channel')}"
    if kind == "rca":
        return f"{data.get('root_cause_type')}: {data.get('trigger')}"
    if kind == "follow_up":
        return f"{data.get('id')} {data.get('action')}" + (f": {data.get('text')}" if data.get("text") else "")
    if kind == "rollback":
        return f"{data.get('model')} {data.get('from')} -> {data.get('to')} {data.get('outcome')}"
    if kind == "review":
        return f"{len(data.get('lessons', []))} lessons; {', '.join(data.get('policies', []) + data.get('evals', []))}"
    if kind == "signed_off":
        return str(data.get("role"))
    return str(data.get("reason") or data.get("note") or "")
