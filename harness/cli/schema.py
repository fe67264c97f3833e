"""``harness schema NAME``: the JSON Schema of a file kind, composed with this repository's checks."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ExitCode
from . import common

NAMES = ("policy", "eval", "playbook", "waivers", "output", "report", "incident", "incident-event")


def register(commands: Any) -> None:
    parser = common.command(
        commands, "schema", help="print the JSON Schema of a file kind (with this repository's plugin checks)",
        description="Print a JSON Schema. The policy and eval schemas are composed from every check this"
                    " repository can use, its `plugins:` included: point an editor's yaml-language-server at the"
                    " file you save it to.",
        exit_codes=common.exit_codes("  0  printed", "  4  invalid input: the repository's playbook or plugins"))
    parser.add_argument("name", choices=NAMES, help="which schema")
    common.repository_options(parser, evals=False, today=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import api
    from ..io.schema import render

    sys.stdout.write(render(api.schema(args.name, policies=args.policies)))
    return int(ExitCode.PROMOTE)
