"""``harness signoff``: approve a file of the policy repository as its role's holder, or list the sign-offs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import ExitCode, InputError
from ..text.normalize import one_line
from . import common

EXIT_CODES = common.exit_codes(
    "  0  signed, or the sign-offs were listed",
    "  4  invalid input: the file is outside the repository, missing or not a regular file; the role is not in"
    " the playbook or the address is not its holder's; signoffs.yaml has a problem",
    common.EXIT_ENVIRONMENT)


def register(commands: Any) -> None:
    parser = common.command(
        commands, "signoff", help="approve a file as a playbook role (its sha256 is recorded), or list sign-offs",
        description="Record in <policies>/signoffs.yaml that the holder of a playbook role approves a file as it"
                    " is now: the sha256 of its bytes, the role, the address and the time. Any later edit of the"
                    " file makes the sign-off stale. --status lists every sign-off, valid or stale.",
        exit_codes=EXIT_CODES)
    parser.add_argument("file", nargs="?", type=Path, metavar="FILE", help="the file to approve (or, with --status,"
                                                                          " to list the sign-offs of)")
    parser.add_argument("--by", metavar="ROLE:EMAIL",
                        help="the role of the playbook and the address that holds it, e.g."
                             " governance_lead:governance-lead@example.com")
    parser.add_argument("--status", action="store_true", help="list the sign-offs, valid or stale")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="with --status: text, one a line; json: a document (default: text)")
    common.repository_options(parser, evals=False, today=False)
    parser.set_defaults(func=lambda args: run(args, parser))


def _role_and_address(value: str) -> tuple[str, str]:
    role, sep, address = value.partition(":")
    if not sep or not role.strip() or not address.strip():
        raise InputError(f"--by {value!r}: expected ROLE:EMAIL, e.g. governance_lead:governance-lead@example.com")
    return role.strip(), common.actor_arg(address.strip())


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..project.signoff import sign, status

    if args.status:
        found = status(args.policies, args.file)
        if args.format == "json":
            print(json.dumps({"signoffs": [{**entry.to_json(), "valid": valid} for entry, valid in found]},
                             indent=2, ensure_ascii=True))
        elif not found:
            common.say("no sign-offs", err=False)
        else:
            common.say(*(one_line(f"{'valid' if valid else 'STALE':<5}  {e.file}  {e.role}  {e.by}  {e.at:%Y-%m-%d}"
                                  f"  sha256 {e.sha256[:12]}") for e, valid in found), err=False)
        return int(ExitCode.PROMOTE)
    if args.file is None or args.by is None:
        parser.error("give FILE and --by ROLE:EMAIL to sign, or --status to list the sign-offs")
    try:
        role, address = _role_and_address(args.by)
    except argparse.ArgumentTypeError as exc:
        raise InputError(f"--by: {exc}") from None
    entry = sign(args.policies, args.file, role, address, args.clock)
    common.say(one_line(f"signed {entry.file} (sha256 {entry.sha256[:12]}) as {entry.role}: {entry.by} at"
                        f" {entry.at:%Y-%m-%dT%H:%M:%SZ}"), err=False)
    return int(ExitCode.PROMOTE)
