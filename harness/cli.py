"""The ``harness`` command: parses arguments, calls the library, prints, maps results to exit codes."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .errors import ExitCode, HarnessError, InputError, InputErrors

PROGRESS_MIN_BYTES = 20_000_000  # below this a run takes a second or two: no bar

EXIT_CODES_HELP = """exit codes:
  0  promote: every gating policy passed (warn-only failures allowed); scan: done
  1  block: a policy with on_fail: block failed; scan --fail-on-findings: findings
  3  rollback required: a policy with on_fail: rollback failed
  4  invalid input: schema, parse or usage error (nothing was judged)
  5  internal error
"""


def _use_color(stream: TextIO, choice: str) -> bool:
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or stream.isatty()


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that readers see the old or the new content, never half of it.

    A target that exists but is not a regular file (``/dev/null``, a pipe) is written to
    directly: renaming a temporary file over a device node would replace the device.
    """
    if path.exists() and not path.is_file():
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _today(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {value!r}") from None


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return number


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policies", type=Path, default=Path("policies"), metavar="DIR",
                        help="policy repository: playbook.yaml, waivers.yaml, **/*.yaml (default: policies)")
    parser.add_argument("--evals", type=Path, default=Path("evals"), metavar="DIR",
                        help="eval suites, **/*.yaml (default: evals)")
    parser.add_argument("--today", type=_today, metavar="YYYY-MM-DD",
                        help="the date waivers are judged against (default: today, UTC)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour in terminal output (default: auto, only on a terminal; NO_COLOR is honoured)")


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outputs", type=Path, required=True, metavar="FILE",
                        help="model outputs, JSON Lines: one {case_id, output, ...} per line")
    parser.add_argument("--baseline", type=Path, metavar="FILE",
                        help="outputs of the last-known-good model, for baseline rules")
    parser.add_argument("--model", help="model name for the report (default: most common in the outputs)")
    parser.add_argument("--model-version", help="model version for the report (default: from the outputs)")
    parser.add_argument("--format", choices=("text", "json", "junit", "markdown"), default="text",
                        help="report format (default: text)")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="write the report here (atomically) and print the text summary instead")
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    parser.add_argument("--workers", type=_positive, default=_cpus(), metavar="N",
                        help="processes judging large runs (50,000 outputs and up) in parallel"
                             " (default: the CPUs available, here %(default)s)")
    _common(parser)


class _Parser(argparse.ArgumentParser):
    """Usage errors exit with 4 (invalid input), as every other input error does."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.INVALID_INPUT), f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="harness",
        description="Release gate for AI models: policies and regression evals judge a model's outputs.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    gate = commands.add_parser(
        "gate", help="judge a candidate's outputs and decide promote / block / rollback",
        description="Judge a candidate model's outputs with every policy and eval suite; the exit code is"
                    " the verdict.", epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _run_options(gate)

    scan = commands.add_parser(
        "scan", help="evaluate any outputs (e.g. production logs) and report every finding",
        description="Evaluate any outputs, such as a day of production logs after an incident, with the"
                    " same policies and report. Exits 0 unless the input is invalid.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _run_options(scan)
    scan.add_argument("--fail-on-findings", action="store_true",
                      help="exit 1 when any policy fails or any result is not a pass")

    validate = commands.add_parser(
        "validate", help="check every policy, eval suite, waiver and the playbook; list all errors",
        description="Load and check the whole policy repository. Lists every error (file:line:column:"
                    " JSON path: problem) and exits 4 if there is any, including expired waivers.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(validate)
    validate.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def _progress(enabled: bool) -> Any:
    """A rich progress bar on stderr for long runs, or a do-nothing stand-in."""
    if not enabled:
        return None
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                    TimeRemainingColumn(), transient=True, console=_stderr_console())


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(file=sys.stderr)


def _judge(args: argparse.Namespace, kind: str) -> int:
    from .engine import evaluate
    from .gate import decide
    from .loader import load_project
    from .outputs import load_outputs
    from .report import RunInfo, build_report, now
    from .reports import get_reporter

    started = now()
    project = load_project(args.policies, args.evals)
    if not project.policies and not project.suites:
        raise InputError(f"no policies in {args.policies} and no eval suites in {args.evals}: nothing to judge")
    size = args.outputs.stat().st_size if args.outputs.exists() else 0
    bar = _progress(not args.no_progress and sys.stderr.isatty() and size >= PROGRESS_MIN_BYTES)
    with bar if bar is not None else _Null():
        on_bytes: Callable[[int], None] | None = None
        if bar is not None:
            task = bar.add_task("loading outputs", total=size)
            on_bytes = lambda done: bar.update(task, completed=done)  # noqa: E731
        outputs = load_outputs(args.outputs, display=str(args.outputs), progress=on_bytes)
        baseline = load_outputs(args.baseline, display=str(args.baseline)) if args.baseline else None
        on_records = None
        if bar is not None:
            bar.update(task, completed=size)
            judged = bar.add_task("evaluating", total=len(outputs))
            on_records = lambda done, total: bar.update(judged, completed=done)  # noqa: E731
        evaluation = evaluate(project, outputs, baseline, today=args.today, progress=on_records,
                              require_all_cases=kind == "gate", workers=args.workers)
    decision = decide(evaluation.outcomes)
    run = RunInfo(kind, started, now(), args.model, args.model_version)
    report = build_report(project, outputs, evaluation, decision, run, baseline)

    color = _use_color(sys.stdout, args.color)
    rendered = get_reporter(args.format)(report, evaluation, color=color and args.format == "text")
    if args.output is not None:
        write_atomic(args.output, rendered)
        if args.format != "text":
            sys.stdout.write(get_reporter("text")(report, evaluation, color=color))
        print(f"report written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(rendered)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(get_reporter("markdown")(report, evaluation))
    if kind == "scan":
        failing = any(r["status"] in ("fail", "error") for r in report["results"]) or \
            any(p["status"] in ("fail", "error") for p in report["policies"])
        return int(ExitCode.BLOCK if args.fail_on_findings and failing else ExitCode.PROMOTE)
    return int(decision.exit_code)


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _validate(args: argparse.Namespace) -> int:
    from .loader import expired_waivers, load_project
    from .report import now

    today = args.today or now()[:10]
    try:
        project = load_project(args.policies, args.evals)
        problems: Sequence[InputError] = expired_waivers(project, today)
    except InputErrors as exc:
        problems, project = exc.errors, None
    except InputError as exc:
        problems, project = [exc], None
    if args.format == "json":
        print(json.dumps({
            "valid": not problems,
            "errors": [{"file": e.location.file, "line": e.location.line, "column": e.location.column,
                        "path": e.location.json_path, "message": e.message} for e in problems],
            "policies": len(project.policies) if project else None,
            "suites": len(project.suites) if project else None,
            "cases": len(project.cases) if project else None,
        }, indent=2))
    else:
        for problem in problems:
            print(problem, file=sys.stderr)
        if project is not None and not problems:
            rules = sum(len(p.rules) for p in project.policies)
            print(f"ok: {len(project.policies)} policies ({rules} rules), {len(project.suites)} eval suites"
                  f" ({len(project.cases)} cases), {len(project.waivers)} waiver(s)")
        elif problems:
            print(f"harness: {len(problems)} error(s)", file=sys.stderr)
    return int(ExitCode.INVALID_INPUT if problems else ExitCode.PROMOTE)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args)
        return _judge(args, args.command)
    except InputError as exc:
        for line in str(exc).splitlines():
            print(line, file=sys.stderr)
        print("harness: invalid input; nothing was judged (exit 4)", file=sys.stderr)
        return int(ExitCode.INVALID_INPUT)
    except HarnessError as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return int(ExitCode.INTERNAL_ERROR)
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(f"harness: internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)",
              file=sys.stderr)
        return int(ExitCode.INTERNAL_ERROR)


def run() -> None:
    sys.exit(main())
