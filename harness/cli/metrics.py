"""``harness metrics``: the incident figures against the playbook's targets."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import ExitCode
from . import common

EXIT_CODES = common.exit_codes(
    "  0  the figures were computed (with --fail-on-breach: and every target is met)",
    "  1  --fail-on-breach: a target is breached or a success indicator is not met (each is named)",
    "  4  invalid input: an incident record, a policy or the playbook does not read (each error is listed)",
    common.EXIT_ENVIRONMENT)


def register(commands: Any) -> None:
    parser = common.command(
        commands, "metrics", help="incident metrics against the playbook's targets",
        description="Time to contain (median, p90, breaches, per severity), RCA completion time, repeat incident"
                    " rate, policy update lag (from the review to the first commit that changed a policy or eval"
                    " suite referencing the incident; read from git history), follow-up completion, and the success"
                    " indicators (no open sev1, RCAs within SLA, the playbook signed off by the governance lead),"
                    " each beside the playbook's target with breaches marked.",
        exit_codes=EXIT_CODES)
    parser.add_argument("--since", type=common.date_arg, metavar="YYYY-MM-DD",
                        help="only incidents detected on or after this date (UTC); earlier ones still count as the"
                             " incidents a later one repeats")
    parser.add_argument("--format", choices=("text", "json", "csv"), default="text",
                        help="text: a table; json: every figure and the per-incident rows; csv: one line a figure"
                             " (default: text)")
    parser.add_argument("--incidents", type=Path, default=Path("incidents"), metavar="DIR",
                        help="incident records (default: incidents)")
    common.repository_options(parser, today=False)
    parser.add_argument("--fail-on-breach", action="store_true",
                        help="exit 1 when a target is breached or a success indicator is not met (for a scheduled"
                             " CI job)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..incidents.metrics import metrics_for
    from ..incidents.metrics_render import render_metrics

    metrics = metrics_for(args.incidents, args.policies, args.evals, since=args.since, clock=args.clock)
    text = render_metrics(metrics, args.format)
    if args.format == "text":
        common.say(*text.splitlines(), err=False)
    else:
        print(text, end="")
    if args.fail_on_breach and metrics.breaches:
        common.say(f"harness: off target: {'; '.join(metrics.breaches)} (exit 1)")
        return int(ExitCode.BLOCK)
    return int(ExitCode.PROMOTE)
