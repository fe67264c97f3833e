"""``harness new policy|suite|case``: commented skeletons that validate, and regression cases from a report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import ExitCode
from ..text.normalize import one_line
from . import common

EXIT_CODES = common.exit_codes(
    "  0  written (case: also when the report has nothing to add, which is said)",
    "  4  invalid input, nothing written: an id the schema refuses, a file that exists (never written over), an id"
    " or suite name already used (the file is named), an unknown incident, a report that is not JSON or not a"
    " harness report",
    "  6  environment: the file could not be written")


def register(commands: Any) -> None:
    parser = common.command(
        commands, "new", help="write a skeleton policy or eval suite, or regression cases from a report",
        description="Scaffolding. `policy` and `suite` write a commented skeleton that validates as written;"
                    " `case --from-report` turns the failing results of a gate or scan report into regression"
                    " cases. Nothing is ever written over; review what was written with git diff.",
        exit_codes=EXIT_CODES)
    actions = common.actions(parser, "new_command")
    policy = actions.add_parser(
        "policy", help="a commented skeleton policy (a draft with one example rule and its examples)",
        description="Write policies/<area>/<rest of the id>.yaml: every field explained in a comment, status"
                    " draft, one example rule with a fail and a pass example it really fails and passes.")
    policy.add_argument("id", metavar="ID", help="the policy id, dotted lower-case, like privacy.no-pii")
    policy.add_argument("--severity", metavar="SEV",
                        help="one of the playbook's severities (default: its least severe)")
    policy.add_argument("--on-fail", choices=("block", "rollback", "warn"),
                        help="what a failure does (default: the severity's default_on_fail, else block)")
    policy.add_argument("--owner", metavar="EMAIL",
                        help="who answers for the policy (default: the playbook's governance_lead; required"
                             " when it names none)")
    policy.add_argument("--title", help="the one-line title (default: a TODO)")
    policy.add_argument("--area", metavar="DIR",
                        help="the folder under the policies folder (default: the id's first segment)")
    policy.add_argument("--output", type=Path, metavar="PATH", help="write here instead")
    common.repository_options(policy, evals=False, today=False)

    suite = actions.add_parser(
        "suite", help="a commented skeleton eval suite with one case",
        description="Write evals/<name>.yaml: every field explained in a comment, one example case.")
    suite.add_argument("name", metavar="ID", help="the suite's name, lower-case, like inc-2026-0001-pii-echo")
    suite.add_argument("--output", type=Path, metavar="PATH", help="write here instead")

    case = actions.add_parser(
        "case", help="regression cases from the failing results of a gate or scan report",
        description="One case per failing case id of the report: the input of its output (when the outputs file"
                    " is still there, unchanged; else a TODO), the expectations it failed (a policy's rule, or the"
                    " eval case's own), the masked output as a comment. A new suite"
                    " (evals/regressions/<incident or date>.yaml), or appended to --suite, whose comments stay.")
    case.add_argument("--from-report", type=Path, required=True, metavar="REPORT",
                      help="the JSON report of harness gate or scan (--format json)")
    case.add_argument("--suite", type=Path, metavar="PATH", help="append to this suite instead of writing a new one")
    for sub in (suite, case):
        sub.add_argument("--incident", metavar="INC-YYYY-NNNN",
                         help="the incident the cases come from: the suite's from_incident (it must have a record)")
        sub.add_argument("--incidents", type=Path, default=Path("incidents"), metavar="DIR",
                         help="incident records (default: incidents)")
        common.repository_options(sub, today=False)
    for sub in (policy, suite, case):
        sub.add_argument("--format", choices=("text", "json"), default="text",
                         help="text: what was written and what next; json: the same as data (default: text)")
    parser.set_defaults(func=lambda args: run(args, parser))


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..api import scaffold

    if args.new_command is None:
        return common.missing_action(parser)
    if args.new_command == "policy":
        written = scaffold.new_policy(args.id, policies=args.policies, severity=args.severity, on_fail=args.on_fail,
                                      owner=args.owner, area=args.area, output=args.output, title=args.title)
    elif args.new_command == "suite":
        written = scaffold.new_suite(args.name, evals=args.evals, policies=args.policies, incidents=args.incidents,
                                     incident=args.incident, output=args.output)
    else:
        written = scaffold.cases_from_report(args.from_report, policies=args.policies, evals=args.evals,
                                             incidents=args.incidents, incident=args.incident, suite=args.suite,
                                             clock=args.clock)
    if args.format == "json":
        print(written.to_json(), end="")
        return int(ExitCode.PROMOTE)
    common.say(*(one_line(line) for line in _lines(written)), err=False)
    return int(ExitCode.PROMOTE)


def _lines(written: Any) -> list[str]:
    review = (f"review it: git diff -- {written.path}" if not written.created else
              f"review it: git add --intent-to-add {written.path} && git diff -- {written.path}")
    if written.kind == "policy":
        return [f"wrote {written.path}: policy {written.id} (status draft)", *written.notes,
                "next: replace the TODOs and the example rule, then harness validate and harness policy test", review]
    if written.kind == "suite":
        return [f"wrote {written.path}: suite {written.id} with 1 example case", *written.notes,
                "next: replace the TODOs and the example case, then harness validate", review]
    lines = []
    if written.cases:
        verb = "wrote" if written.created else "appended to"
        lines.append(f"{verb} {written.path}: {len(written.cases)} case(s) in suite {written.id}")
        lines += [f"  {c.id}" + (f" (from {c.from_case})" if c.id != c.from_case else "")
                  + f": expects {', '.join(c.expects)}" + ("" if c.input_known else "; input unknown (TODO)")
                  for c in written.cases]
    if written.skipped:
        lines.append(f"skipped {len(written.skipped)} case(s):")
        lines += [f"  {s.case_id}: {s.reason}" for s in written.skipped]
    lines += [f"note: {note}" for note in written.notes]
    if written.cases:
        lines.append(review)
    return lines
