"""``harness policy test``: run every policy's own examples and report the rules no fail example triggers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import common

EXIT_CODES = common.exit_codes(
    "  0  every example behaved (uncovered rules are reported, not counted, without --require-coverage)",
    "  1  an example failed or crashed a rule, or (--require-coverage) a per-output rule no fail example triggers",
    "  4  invalid input: a selected policy (or the playbook) does not parse or validate (file:line), a PATH that"
    " does not exist or lies outside --policies, --output inside the policies, evals or incidents folder or naming"
    " a record of the release (the decision log, the registry file, the signing key's file)",
    "  6  environment: the report could not be written to --output")

DESCRIPTION = """\
Run every selected policy's `examples` with its per-output rules: each `fail` example must fail the
policy (the output names the rule(s) that caught it) and each `pass` example must pass every rule.

Coverage: a per-output rule that no `fail` example triggers is reported as uncovered; with
--require-coverage that is a failure (exit 1). Run-level rules (percentiles, rates, parity, baseline
comparisons) judge whole runs, so a single example cannot trigger them: they are listed as "run-level,
not coverable by examples" and never counted as uncovered. Example texts are shown with personal data
masked."""


def register(actions: Any) -> None:
    parser = actions.add_parser(
        "test", help="run policies' own examples with rule coverage", description=DESCRIPTION,
        epilog="exit codes:\n" + EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                        help="policy files or folders inside --policies (default: every policy in it)")
    parser.add_argument("--policies", type=Path, default=Path("policies"), metavar="DIR",
                        help="policy repository: playbook.yaml (plugins, severities) and **/*.yaml"
                             " (default: policies)")
    parser.add_argument("--require-coverage", action="store_true",
                        help="fail (exit 1) when a per-output rule is triggered by no fail example")
    parser.add_argument("--format", choices=("text", "json", "junit"), default="text",
                        help="text: a line per policy; json: a document for machines; junit: JUnit XML, a test"
                             " case per example (default: text)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="text: list every example, with the rules that caught each fail example")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="write the report here (atomically) in --format and print the text summary instead; never"
                             " inside --policies nor over the playbook's decision log or registry file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..api.policy_tests import render, render_text, run_policy_tests

    if args.output is not None:  # before anything is read: a refused path is never touched
        from ..api.reports import check_report_path
        from ..project import read_playbook

        root = Path(args.policies).parent  # the repository's other records: its eval suites and incidents
        check_report_path(args.output, settings=read_playbook(args.policies).release, policies=args.policies,
                          evals=root / "evals", incidents=root / "incidents")
    report = run_policy_tests(args.paths or None, policies_dir=args.policies, require_coverage=args.require_coverage)
    if args.output is not None:
        from ..errors import EnvError, Location
        from ..io.files import write_atomic

        try:
            write_atomic(args.output, render(report, args.format))
        except OSError as exc:
            raise EnvError(f"cannot write the report: {exc.strerror or exc}", Location(str(args.output))) from None
        sys.stdout.write(render_text(report, verbose=args.verbose))
    else:
        sys.stdout.write(render(report, args.format, verbose=args.verbose))
    return int(report.exit_code)
