"""``harness validate``: check the whole policy repository and list every problem at once."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..text.normalize import one_line
from . import common

EXIT_CODES = common.exit_codes(
    "  0  valid: every file is well-formed and every policy example behaves as declared",
    "  4  at least one error (each is listed: file:line:column: JSON path: problem), an expired waiver and a stale"
    " sign-off included; with --since, a policy changed without a version bump, a version gone down, a policy"
    " deleted before it was deprecated, a sev1/sev2 policy loosened without its owner's sign-off, or a revision"
    " that does not exist or where a policy does not parse",
    "  6  environment: the result cannot be written (standard output on a full disk, a closed pipe); with --since,"
    " git is not installed or fails (a damaged clone)")


def register(commands: Any) -> None:
    parser = common.command(
        commands, "validate", help="check every policy, eval suite, waiver and the playbook; list all errors",
        description="Load and check the whole policy repository: schemas, checks and their options, patterns,"
                    " duplicate ids, waivers (expired ones too) and every policy's own examples (each `fail`"
                    " example must fail the policy, each `pass` example pass it), and sign-offs made stale by a"
                    " later edit. With --since REV, also compare every policy with the one of the same id at the git"
                    " revision REV (CI: the merge base): content changed without a version bump, a version that"
                    " went down, a policy deleted that was not deprecated first, and a sev1 or sev2 policy"
                    " loosened (a rule removed, a threshold that permits more, on_fail or severity lowered, the"
                    " scope narrowed, any pattern or list changed) without a sign-off of the new content by its"
                    " owner's role (harness signoff FILE --by ROLE:EMAIL). Lists every error at once.",
        exit_codes=EXIT_CODES)
    common.repository_options(parser)
    parser.add_argument("--incidents", type=Path, default=Path("incidents"), metavar="DIR",
                        help="incident records, checked when the folder exists (default: incidents)")
    parser.add_argument("--since", metavar="REV",
                        help="also check the policies' versions against this git revision (a branch, tag or"
                             " commit; CI: the merge base, e.g. $(git merge-base origin/main HEAD))")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text: one error a line on standard error; json: a document on standard output"
                             " (default: text)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import api

    result = api.validate(args.policies, args.evals, today=args.today, backdate=args.backdate,
                          clock=args.clock, incidents=args.incidents, since=args.since)
    project = result.project
    if args.format == "json":
        document: dict[str, Any] = {
            "valid": result.ok,
            "errors": [{"file": e.location.file, "line": e.location.line, "column": e.location.column,
                        "path": e.location.json_path, "message": e.message} for e in result.errors],
            "policies": len(project.policies),
            "suites": len(project.suites),
            "cases": len(project.cases),
            "examples": result.examples,
        }
        if result.since is not None:
            since = result.since
            document["since"] = {"revision": since.revision, "commit": since.commit, "changed": list(since.changed),
                                 "added": list(since.added), "removed": list(since.removed)}
        print(json.dumps(document, indent=2))
        return int(result.exit_code)
    for problem in result.errors:
        common.say(*_lines(problem))
    if result.ok:
        rules = sum(len(p.rules) for p in project.policies)
        print(f"ok: {len(project.policies)} policies ({rules} rules, {result.examples} examples),"
              f" {len(project.suites)} eval suites ({len(project.cases)} cases), {len(project.waivers)} waiver(s)")
        if result.since is not None:
            since = result.since
            common.say(f"versions checked against {since.revision} ({since.commit[:12]}):"
                       f" {len(since.changed)} changed, {len(since.added)} added, {len(since.removed)} removed",
                       err=False)
    else:
        common.say(f"harness: {len(result.errors)} error(s)")
    return int(result.exit_code)


def _lines(problem: InputError) -> list[str]:
    """An error's line; a governance error unmasked, as it names role holders' addresses the reader signs with."""
    from ..governance import GovernanceError

    if isinstance(problem, GovernanceError):
        return [one_line(problem)]
    return common.error_lines(problem)
