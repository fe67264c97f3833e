"""``harness register export``: the risk register of closed incidents."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import ExitCode
from . import common

EXIT_CODES = common.exit_codes(
    "  0  the register was written",
    "  4  invalid input: an incident record or a policy does not read (each error is listed)",
    common.EXIT_ENVIRONMENT)


def register(commands: Any) -> None:
    parser = common.command(
        commands, "register", help="the risk register: closed incidents, their causes, actions and lessons",
        description="Archive closed incidents: id, title, severity, model, dates (detected, contained, resolved,"
                    " reviewed, closed), root-cause type, corrective and preventive actions, lessons, and the"
                    " policies and eval suites that encode them (named by the review, or referencing the incident"
                    " through lessons_from / from_incident).",
        exit_codes=EXIT_CODES)
    actions = common.actions(parser, "register_command")
    export = actions.add_parser("export", help="write the register as Markdown, CSV or JSON",
                                description="Write the register of every closed incident. Markdown escapes markup,"
                                            " HTML and pipes; CSV cells that a spreadsheet would run as a formula"
                                            " (= + - @) start with a '.")
    export.add_argument("--format", choices=("markdown", "csv", "json"), default="markdown",
                        help="markdown: a table; csv: one line an incident; json: a document (default: markdown)")
    export.add_argument("--output", type=Path, metavar="PATH",
                        help="write to this file (replaced atomically) instead of standard output")
    export.add_argument("--incidents", type=Path, default=Path("incidents"), metavar="DIR",
                        help="incident records (default: incidents)")
    common.repository_options(export, today=False)
    parser.set_defaults(func=lambda args: run(args, parser))


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..incidents.register import register_for, render_register
    from ..io.files import write_atomic

    if args.register_command is None:
        return common.missing_action(parser)
    entries = register_for(args.incidents, args.policies, args.evals)
    text = render_register(entries, args.format)
    if args.output is None:
        print(text, end="")
    else:
        write_atomic(args.output, text)
        common.say(f"wrote {len(entries)} closed incident(s) to {args.output}", err=False)
    return int(ExitCode.PROMOTE)
