"""``harness schema NAME``: the JSON Schema of a file kind, composed with this repository's checks."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ExitCode, Location
from . import common

NAMES = ("policy", "eval", "playbook", "waivers", "output", "report")


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
    from ..errors import InputError
    from ..io.schema import compose, load_schema, render
    from ..project import read_playbook
    from ..project.plugins import project_checks

    def refuse(message: str, index: int) -> None:
        raise InputError(message, Location(str(args.policies / "playbook.yaml"), json_path=f"$.plugins[{index}]"))

    schema = load_schema(args.name)
    if args.name in ("policy", "eval"):
        modules = read_playbook(args.policies).plugins if args.policies.is_dir() else ()
        schema = compose(project_checks(modules, args.policies.resolve().parent, refuse))[args.name]
    sys.stdout.write(render(schema))
    return int(ExitCode.PROMOTE)
