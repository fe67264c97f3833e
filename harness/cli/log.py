"""``harness log verify|show``: the tamper-evident decision log."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import ExitCode
from ..text.normalize import one_line
from . import common

EXIT_CODES = common.exit_codes(
    "  0  the hash chain is intact (verify), or the log was shown",
    "  4  the chain is broken: the first edited, deleted, inserted, reordered or cut-off line is named",
    "  6  environment: the log is missing or cannot be read")


def register(commands: Any) -> None:
    parser = common.command(
        commands, "log", help="the tamper-evident decision log: verify its hash chain or show it",
        description="Every gate decision, promotion, waiver applied and rollback step, with who and when, in a"
                    " hash-chained JSON Lines file.",
        exit_codes=EXIT_CODES)
    actions = common.actions(parser, "log_command")
    verify = actions.add_parser("verify", help="check the hash chain; name the first bad line",
                                description="Check every entry's hash and its link to the one before, and the"
                                            " head record that shows entries cut off the end.")
    show = actions.add_parser("show", help="print the history readably (after verifying it)",
                              description="Print every entry, oldest first, after verifying the chain.")
    show.add_argument("--model", help="only the entries of this model")
    show.add_argument("--format", choices=("text", "json"), default="text",
                      help="text: one line an entry; json: the entries as written (default: text)")
    for sub in (verify, show):
        sub.add_argument("--log", metavar="PATH", help="the log (default: release.decision_log of the playbook)")
        common.repository_options(sub, evals=False, today=False)
    parser.set_defaults(func=lambda args: run(args, parser))


def _what(entry: dict[str, Any]) -> str:
    details = entry.get("details") or {}
    return {"gate": f"verdict {entry.get('verdict')}", "promotion": f"promoted to {details.get('alias')}",
            "waiver": f"waiver {details.get('ticket')} for {details.get('policy')}/{details.get('rule')}",
            "rollback_step": f"rollback {details.get('rollback')} step {details.get('step')}: {details.get('status')}",
            "rollback": f"rollback {details.get('rollback')} {details.get('from')} -> {details.get('to')} done",
            "manual_alias": f"alias moved by hand: {details.get('reason')}"}.get(str(entry.get("kind")),
                                                                                str(entry.get("kind")))


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .. import api
    from ..project import read_playbook

    if args.log_command is None:
        return common.missing_action(parser)
    path = args.log or read_playbook(args.policies).release.decision_log
    if args.log_command == "verify":
        count = api.verify_decision_log(path)
        print(f"ok: {count} entries, hash chain intact ({path})")
        return int(ExitCode.PROMOTE)
    entries = api.read_decision_log(path, model=args.model)
    if args.format == "json":
        print(json.dumps(entries, indent=2, ensure_ascii=False))
        return int(ExitCode.PROMOTE)
    common.say(*(one_line(f"{e['seq']:>5} {e['time']} {e.get('actor', '?'):<28} {e.get('model') or '-'}"
                          f" {e.get('model_version') or '-':<10} {_what(e)}") for e in entries), err=False)
    return int(ExitCode.PROMOTE)
