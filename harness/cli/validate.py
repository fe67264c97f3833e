"""``harness validate``: check the whole policy repository and list every problem at once."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from . import common

EXIT_CODES = common.exit_codes(
    "  0  valid: every file is well-formed and every policy example behaves as declared",
    "  4  at least one error (each is listed: file:line:column: JSON path: problem), an expired waiver included",
    "  6  environment: the result cannot be written (standard output on a full disk, a closed pipe)")


def register(commands: Any) -> None:
    parser = common.command(
        commands, "validate", help="check every policy, eval suite, waiver and the playbook; list all errors",
        description="Load and check the whole policy repository: schemas, checks and their options, patterns,"
                    " duplicate ids, waivers (expired ones too) and every policy's own examples (each `fail`"
                    " example must fail the policy, each `pass` example pass it). Lists every error at once.",
        exit_codes=EXIT_CODES)
    common.repository_options(parser)
    parser.add_argument("--incidents", type=Path, default=Path("incidents"), metavar="DIR",
                        help="incident records, checked when the folder exists (default: incidents)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text: one error a line on standard error; json: a document on standard output"
                             " (default: text)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import api

    result = api.validate(args.policies, args.evals, today=args.today, backdate=args.backdate,
                          clock=args.clock, incidents=args.incidents)
    project = result.project
    if args.format == "json":
        print(json.dumps({
            "valid": result.ok,
            "errors": [{"file": e.location.file, "line": e.location.line, "column": e.location.column,
                        "path": e.location.json_path, "message": e.message} for e in result.errors],
            "policies": len(project.policies),
            "suites": len(project.suites),
            "cases": len(project.cases),
            "examples": result.examples,
        }, indent=2))
        return int(result.exit_code)
    for problem in result.errors:
        common.say(*common.error_lines(problem))
    if result.ok:
        rules = sum(len(p.rules) for p in project.policies)
        print(f"ok: {len(project.policies)} policies ({rules} rules, {result.examples} examples),"
              f" {len(project.suites)} eval suites ({len(project.cases)} cases), {len(project.waivers)} waiver(s)")
    else:
        common.say(f"harness: {len(result.errors)} error(s)")
    return int(result.exit_code)
