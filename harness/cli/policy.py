"""``harness policy test|history|diff``: a policy's self-tests, its versions in git, and semantic diffs."""

from __future__ import annotations

import argparse
from typing import Any

from . import common, policy_git, policy_test

EXIT_CODES = common.exit_codes(
    "  0  done: every example behaved (test), the history or the diff was shown",
    "  1  test: an example did not behave as declared (or, with --require-coverage, a rule no fail example"
    " triggers)",
    "  4  invalid input: a file that does not parse or validate, a revision or policy that does not exist",
    common.EXIT_ENVIRONMENT) + "\nEach action's --help lists its own exit codes."


def register(commands: Any) -> None:
    parser = common.command(
        commands, "policy", help="run policies' own examples with rule coverage; a policy's history; diffs",
        description="test: run every policy's examples and report the rules no fail example triggers."
                    " history: every version of a policy in git and the gate decisions that used it."
                    " diff: what changed in the policy set between two git revisions, in the reader's terms.",
        exit_codes=EXIT_CODES)
    actions = common.actions(parser, "policy_command")
    policy_test.register(actions)
    policy_git.register(actions)
    parser.set_defaults(func=lambda args: _missing(args, parser))


def _missing(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    return common.missing_action(parser)
