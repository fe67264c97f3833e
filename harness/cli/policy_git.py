"""``harness policy history|diff``: a policy's versions in git with the gate decisions that used them, and
semantic diffs of the policy set between revisions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import ExitCode
from . import common

HISTORY_EXIT_CODES = common.exit_codes(
    "  0  the history was shown",
    "  4  invalid input: an unknown policy id (the known ones are listed), a folder outside a git repository or a"
    " repository with no commits, a decision log whose hash chain is broken or whose signatures do not verify"
    " (a forged entry, an unsigned one after signed ones: the line is named)",
    "  6  environment: git is missing or failed (a damaged clone), or the decision log cannot be read")
DIFF_EXIT_CODES = common.exit_codes(
    "  0  the diff was shown (no changes included)",
    "  4  invalid input: a revision that does not exist, a folder outside a git repository or a repository with"
    " no commits, a policy or waivers.yaml that does not parse at a revision (REV:path:line)",
    "  6  environment: git is missing or failed (a damaged clone)")

HISTORY_DESCRIPTION = """\
Every version of a policy in the git history of the policies folder, oldest first: its version, how it
came (added, changed, moved, removed), the commit, author, date and subject. The policy is followed by
its id, so a file that moved is still the same policy; uncommitted edits come last. Under each version,
the gate decisions of the decision log that judged with exactly that file (a gate entry records the
sha256 of every policy file it used): sequence number, time, model, version and verdict. Commit
subjects and author names are shown on one line each, with personal data masked. In a shallow clone
the history is incomplete: it says so, and the first version seen is marked "present", not "added"."""

DIFF_DESCRIPTION = """\
What changed in the policy set from the git revision REV1 to REV2 (default: the working tree), in the
reader's terms: policies added, removed, deprecated or moved; rules added or removed (matched by id);
each field of a rule or a policy that changed, old -> new (thresholds, severity, on_fail, patterns,
allow and word lists, scope, version, owner, status); waivers added, removed, changed or expired.
Policies are compared as parsed documents, so formatting-only edits (comments, key order, quoting,
flow or block style, a default written out) are no change."""


def register(actions: Any) -> None:
    history = actions.add_parser(
        "history", help="every version of a policy in git, and the gate decisions that used each",
        description=HISTORY_DESCRIPTION, epilog="exit codes:\n" + HISTORY_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    history.add_argument("policy_id", metavar="ID", help="the policy's id, e.g. privacy.no-pii")
    _policies_option(history)
    history.add_argument("--decision-log", type=Path, metavar="PATH",
                         help="the decision log to read gate decisions from (default: release.decision_log of"
                              " the playbook); a log that does not exist shows no decisions")
    _format_option(history)
    history.set_defaults(func=run_history)

    diff = actions.add_parser(
        "diff", help="what changed in the policy set between two git revisions, in the reader's terms",
        description=DIFF_DESCRIPTION, epilog="exit codes:\n" + DIFF_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    diff.add_argument("rev_old", metavar="REV1", help="the older revision: a branch, a tag or a commit")
    diff.add_argument("rev_new", metavar="REV2", nargs="?",
                      help="the newer revision (default: the working tree, uncommitted edits included)")
    _policies_option(diff)
    _format_option(diff)
    diff.set_defaults(func=run_diff)


def _policies_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policies", type=Path, default=Path("policies"), metavar="DIR",
                        help="the policies folder, inside a git repository (default: policies)")


def _format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text: lines for a reader; json: a document for machines (default: text)")


def run_history(args: argparse.Namespace) -> int:
    from ..api.governance import policy_history

    history = policy_history(args.policies, args.policy_id, decision_log=args.decision_log)
    if args.format == "json":  # every control or invisible character escaped: data, never a terminal command
        print(json.dumps(history.to_json(), indent=2, ensure_ascii=True))
    else:
        common.say(*history.text_lines(), err=False)
    return int(ExitCode.PROMOTE)


def run_diff(args: argparse.Namespace) -> int:
    from ..api.governance import policy_diff

    diff = policy_diff(args.policies, args.rev_old, args.rev_new, clock=args.clock)
    if args.format == "json":
        print(json.dumps(diff.to_json(), indent=2, ensure_ascii=True))
    else:
        common.say(*diff.text_lines(), err=False)
    return int(ExitCode.PROMOTE)
