"""``harness audit``: the audit report, one document to read top to bottom (Markdown, HTML or JSON)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import ExitCode
from . import common

EXIT_CODES = common.exit_codes(
    "  0  the report was written (a broken hash chain, a stale sign-off or an expired waiver is reported in it)",
    "  4  invalid input: a policy, suite, waiver, sign-off or incident does not load; --output names an input"
    " or a record",
    "  6  environment: the decision log cannot be read, or the report cannot be written")


def register(commands: Any) -> None:
    parser = common.command(
        commands, "audit", help="the audit report: policies, incidents and their lessons, waivers, releases",
        description="One document an auditor reads top to bottom: the policy catalogue with sign-offs, the"
                    " traceability matrix (incident -> the policies and suites that encode its lessons -> the last"
                    " gate decisions that used them), incidents with no captured lesson, policies with no examples"
                    " or uncovered rules, waivers (active, expired, who approved), the release history from the"
                    " decision log with its hash-chain verification, and the policy diff since the last promoted"
                    " release. HTML is one self-contained file: no script, no external asset, no network.",
        exit_codes=EXIT_CODES)
    parser.add_argument("--format", choices=("markdown", "html", "json"), default="markdown",
                        help="markdown (GitHub-flavoured), html (one self-contained page) or json (default:"
                             " markdown)")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="write the report to PATH, atomically (default: standard output); never an input or"
                             " a record of the release")
    parser.add_argument("--decision-log", type=Path, metavar="PATH",
                        help="the decision log (default: release.decision_log of the playbook)")
    parser.add_argument("--incidents", type=Path, default=Path("incidents"), metavar="DIR",
                        help="incident records (default: incidents)")
    parser.add_argument("--today", type=common.date_arg, metavar="YYYY-MM-DD",
                        help="the date waivers are judged against (default: today, UTC)")
    parser.add_argument("--recent", type=common.positive, default=3, metavar="N",
                        help="how many of the latest gate decisions to show per policy and suite (default: 3)")
    common.repository_options(parser, today=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from ..api.audit import build_audit_report, check_audit_path, render_audit, write_audit

    if args.output is not None:  # before anything is read: a refused path costs nothing
        check_audit_path(args.output, policies=args.policies, evals=args.evals, incidents=args.incidents,
                         decision_log=args.decision_log)
    report = build_audit_report(policies=args.policies, evals=args.evals, incidents=args.incidents,
                                decision_log=args.decision_log, today=args.today, recent=args.recent,
                                clock=args.clock)
    chain = report.history.chain
    if chain.status == "broken":
        common.say(f"harness: warning: the decision log's hash chain is broken at line {chain.broken_at}"
                   f" ({chain.path}); the report says so")
    elif chain.signature in ("invalid", "unapproved key"):
        common.say(f"harness: warning: the decision log's signatures cannot be trusted ({chain.path}):"
                   f" {chain.signature_detail}; the report says so")
    if args.output is None:
        sys.stdout.write(render_audit(report, args.format))
        return int(ExitCode.PROMOTE)
    written = write_audit(report, args.output, fmt=args.format)
    common.say(f"wrote the audit report ({args.format}) to {written}", err=False)
    return int(ExitCode.PROMOTE)
