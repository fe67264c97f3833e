"""``harness log verify|show|keygen``: the tamper-evident decision log and its release key."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import ExitCode
from ..text.normalize import one_line
from . import common

EXIT_CODES = common.exit_codes(
    "  0  the hash chain is intact, every signature checks and every alias move in the registry has a completed"
    " entry (verify); the log was shown; a key pair was written (keygen)",
    "  4  the chain is broken (the first edited, deleted, inserted, reordered or cut-off line is named), a"
    " signature is bad, by another key or missing after signed entries (the line is named), or the registry"
    " shows an alias move the log does not account for (each is named); keygen: a file exists or the private"
    " key would be inside the policy repository",
    "  6  environment: the log, its head record or the registry is missing or cannot be read")


def register(commands: Any) -> None:
    parser = common.command(
        commands, "log", help="the tamper-evident decision log: verify its hash chain or show it",
        description="Every gate decision, promotion, waiver applied and rollback step, with who and when, in a"
                    " hash-chained JSON Lines file.",
        exit_codes=EXIT_CODES)
    actions = common.actions(parser, "log_command")
    verify = actions.add_parser("verify", help="check the hash chain and the registry's alias moves against it",
                                description="Check every entry's bytes, its hash and its link to the one before,"
                                            " and the head record that shows entries cut off the end; then check"
                                            " that every move of the serving alias in the registry has a completed"
                                            " entry in the log (a move without one is named).")
    verify.add_argument("--chain-only", action="store_true",
                        help="check the hash chain and the signatures only, without opening the registry")
    verify.add_argument("--require-signed", action="store_true",
                        help="every entry must be signed by the release key (an unsigned one is an error), and"
                             " the key must be committed unchanged and signed off")
    verify.add_argument("--format", choices=("text", "json"), default="text",
                        help="text: a summary line; json: the chain, signature and registry checks (default: text)")
    common.registry_options(verify)
    show = actions.add_parser("show", help="print the history readably (after verifying it)",
                              description="Print every entry, oldest first, after verifying the chain.")
    show.add_argument("--model", help="only the entries of this model")
    show.add_argument("--format", choices=("text", "json"), default="text",
                      help="text: one line an entry; json: the entries as written (default: text)")
    keygen = actions.add_parser(
        "keygen", help="write a new Ed25519 release key: the private half outside the repository",
        description="Write a new Ed25519 key pair for signing the decision log: the private half (PEM, PKCS #8,"
                    " mode 0600) at --private, which must be outside the policy repository, and the public half"
                    " (PEM) at --public, to commit. Neither file may exist. Sign with HARNESS_SIGNING_KEY_FILE=PATH"
                    " or HARNESS_SIGNING_KEY=\"$(cat PATH)\".")
    keygen.add_argument("--private", type=Path, required=True, metavar="PATH",
                        help="where to write the private key (outside the policy repository)")
    keygen.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    for sub in (verify, show):
        sub.add_argument("--log", metavar="PATH", help="the log (default: release.decision_log of the playbook)")
    for sub in (verify, keygen):
        sub.add_argument("--public", "--public-key", dest="public", type=Path, metavar="PATH",
                         help="the release key's public half (default: release-key.pub in the policies folder)")
    for sub in (verify, show, keygen):
        common.repository_options(sub, evals=False, today=False)
    parser.set_defaults(func=lambda args: run(args, parser))


def _what(entry: dict[str, Any]) -> str:
    details = entry.get("details") or {}
    return {"gate": f"verdict {entry.get('verdict')}", "promotion": f"promoted to {details.get('alias')}",
            "waiver": f"waiver {details.get('ticket')} for {details.get('policy')}/{details.get('rule')}",
            "rollback_step": f"rollback {details.get('rollback')} step {details.get('step')}: {details.get('status')}",
            "rollback": f"rollback {details.get('rollback')} {details.get('from')} -> {details.get('to')} done",
            "manual_alias": f"alias moved by hand: {details.get('reason')}",
            "alias_move": f"alias {details.get('alias')} -> {details.get('to')}: {details.get('phase')}"
                          f" (move {details.get('move')})"}.get(str(entry.get("kind")), str(entry.get("kind")))


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .. import api
    from ..project import read_playbook

    if args.log_command is None:
        return common.missing_action(parser)
    if args.log_command == "verify":
        return _verify(args)
    if args.log_command == "keygen":
        return _keygen(args)
    path = args.log or read_playbook(args.policies).release.decision_log
    entries = api.read_decision_log(path, model=args.model)
    if args.format == "json":  # every control or invisible character escaped: the data, never a terminal command
        print(json.dumps(entries, indent=2, ensure_ascii=True))
        return int(ExitCode.PROMOTE)
    common.say(*(one_line(f"{e['seq']:>5} {e['time']} {e.get('actor', '?'):<28} {e.get('model') or '-'}"
                          f" {e.get('model_version') or '-':<10} {_what(e)}") for e in entries), err=False)
    return int(ExitCode.PROMOTE)


def _verify(args: argparse.Namespace) -> int:
    from .. import api
    from ..project import read_playbook

    overrides = {**common.overrides(args), "decision_log": Path(args.log) if args.log else None}
    settings = api.release_settings(read_playbook(args.policies), **overrides)
    trail = api.verify_audit_trail(settings, chain_only=args.chain_only, clock=args.clock, policies_dir=args.policies,
                                   public_key=args.public, require_signed=args.require_signed)
    path = settings.decision_log
    if args.format == "json":  # every non-ASCII character escaped: the data, never a terminal command
        print(json.dumps(trail.to_json(), indent=2, ensure_ascii=True))
        return int(ExitCode.PROMOTE if trail.ok else ExitCode.INVALID_INPUT)
    signed = [f"signatures: {trail.signatures.describe()}"] if trail.signatures is not None else []
    if trail.signatures is not None:
        common.say(*(one_line(f"harness: warning: {warning}") for warning in trail.signatures.warnings()))
    if trail.check is None:
        common.say(f"ok: {trail.entries} entries, hash chain intact ({path}); the registry was not consulted",
                   *signed, err=False)
        return int(ExitCode.PROMOTE)
    common.say(*(one_line(f"harness: note: {note}") for note in trail.check.notes))
    if not trail.ok:
        common.say(*(one_line(f"harness: {problem}") for problem in trail.check.problems))
        common.say(f"harness: the hash chain of {path} is intact, but {len(trail.check.problems)} alias move(s) in"
                   f" {settings.registry} have no completed entry in it (exit 4)")
        return int(ExitCode.INVALID_INPUT)
    common.say(f"ok: {trail.entries} entries, hash chain intact ({path}); {trail.check.moves} alias move(s) in"
               f" {settings.registry}, each with its entry", *signed, err=False)
    return int(ExitCode.PROMOTE)


def _keygen(args: argparse.Namespace) -> int:
    from ..release import signing

    public = signing.public_key_path(args.policies, args.public)
    pair = signing.generate_key_pair(args.private, public, policies_dir=args.policies)
    if args.format == "json":
        print(json.dumps(pair.to_json(), indent=2, ensure_ascii=True))
        return int(ExitCode.PROMOTE)
    common.say(f"wrote the release key {signing.shown(pair.fingerprint)}:",
               f"  private: {pair.private} (mode 0600; keep it in the CI secret store, never in the repository)",
               f"  public:  {pair.public} (commit it with a sign-off)",
               f"sign with {signing.ENV_KEY_FILE}={pair.private} or {signing.ENV_KEY}=\"$(cat {pair.private})\"",
               err=False)
    return int(ExitCode.PROMOTE)
