"""``harness rollback``: the playbook's five-step rollback to the last-known-good version."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ExitCode, InputError
from ..text.normalize import one_line
from . import common

EXIT_CODES = common.exit_codes(
    "  0  done: all five steps succeeded (or a rollback that finished while this run waited made it unneeded);"
    " --dry-run: the plan would pass step 1",
    "  1  a step failed, the restored service is unhealthy, or the alias moved meanwhile (re-run to resume);"
    " --dry-run: the verify step fails",
    "  4  invalid input: unknown model or version, no last-known-good, a blocked target without --force",
    common.EXIT_ENVIRONMENT)


def register(commands: Any) -> None:
    parser = common.command(
        commands, "rollback", help="roll the serving alias back to the last-known-good version (5 recorded steps)",
        description="The playbook's rollback procedure: verify the last-known-good version, move the alias and run"
                    " the hooks, notify stakeholders, validate health, document. A failed step stops it; running the"
                    " same command again resumes from the first step that did not succeed.",
        exit_codes=EXIT_CODES)
    rollback_options(parser)
    parser.set_defaults(func=run)


def rollback_options(parser: argparse.ArgumentParser, *, incident: bool = True) -> None:
    """The options of ``harness rollback`` (``harness incident rollback`` takes the incident as its argument)."""
    parser.add_argument("--model", required=incident, help="registered model name"
                        + ("" if incident else " (default: the incident's model)"))
    if incident:
        parser.add_argument("--incident", metavar="INC-YYYY-NNNN", help="record the rollback in this incident")
    parser.add_argument("--no-evidence", action="store_true",
                        help="roll back although the sev1/sev2 incident holds no evidence yet (needs --reason;"
                             " recorded in the incident)")
    parser.add_argument("--to", metavar="VERSION", help="force this version instead of the last-known-good")
    parser.add_argument("--force", action="store_true",
                        help="with --to: accept a version tagged blocked (needs --reason; both are recorded)")
    parser.add_argument("--reason", default="", help="why (shown to stakeholders and in the log)")
    parser.add_argument("--restored-outputs", metavar="FILE",
                        help="outputs of the restored version: gated in step 4")
    parser.add_argument("--dry-run", action="store_true",
                        help="show the plan and run the verify step (judge the target); change nothing")
    common.registry_options(parser)
    common.recording_options(parser)
    common.procedure_options(parser)
    common.repository_options(parser)


def run(args: argparse.Namespace) -> int:
    from .. import api
    from ..release.rollback import STEPS, RollbackFailed, describe

    if args.force and args.to is None:
        raise InputError("--force applies to --to VERSION only: name the blocked version to roll back to")
    if args.no_evidence and not (args.incident and args.reason.strip()):
        raise InputError("--no-evidence needs --incident and --reason (why no evidence was captured first)")
    project = api.load(args.policies, args.evals)
    settings = api.release_settings(project.playbook, **common.overrides(args))
    context = api.rollback_context(project, settings, actor=args.by, restored_outputs=args.restored_outputs,
                                   incidents_dir=args.incidents, today=args.today,
                                   backdate=getattr(args, "backdate", False), clock=args.clock,
                                   no_evidence_reason=args.reason if args.no_evidence else None)
    if args.dry_run:
        plan = api.plan_rollback(context, args.model, to=args.to, reason=args.reason, incident=args.incident,
                                 force=args.force)
        common.say(*plan.describe(), "dry run: nothing was changed", err=False)
        if not plan.verify_ok:
            common.say("harness: the rollback would stop at step 1 (verify); see above (exit 1)")
            return int(ExitCode.BLOCK)
        return int(ExitCode.PROMOTE)
    try:
        outcome = api.run_rollback(
            context, args.model, to=args.to, reason=args.reason, incident=args.incident, force=args.force,
            on_wait=lambda: common.say(f"waiting for the lock on {args.model}: another rollback or gate is running"))
    except RollbackFailed as exc:
        if exc.state is not None:
            common.say(*describe(exc.state))
        common.say(*(f"harness: rollback incomplete: {line}" for line in common.error_lines(exc)))
        return int(exc.exit_code)
    if outcome.already_done:
        common.say(one_line(outcome.note), err=False)
        return int(ExitCode.PROMOTE)
    state = outcome.state
    if outcome.resumed_from is not None:
        number = STEPS.index(outcome.resumed_from) + 1
        common.say(f"resumed rollback {state.id} from step {number} ({outcome.resumed_from})", err=False)
    common.say(*describe(state), err=False)
    common.say(*(line for step in STEPS for line in step_lines(step, str(state.steps[step]["detail"]))), err=False)
    return int(ExitCode.PROMOTE)


def step_lines(step: str, detail: str) -> list[str]:
    """A step's detail for the terminal: hook output indented under the step, each line made safe.

    A hook's output is untrusted text: indented, no line of it can pass for a line of the harness's own.
    """
    first, *rest = detail.splitlines() or [""]
    return [one_line(f"  {step}: {first}"), *(one_line(f"      | {line}") for line in rest)]
