"""What every command shares: the parser class, option groups, output, progress bars and error lines."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
from pathlib import Path
from typing import Any, NoReturn, TextIO

from ..errors import ExitCode, HarnessError
from ..text.normalize import one_line, printable

PROGRESS_MIN_BYTES = 20_000_000  # below this a run takes a second or two: no bar
EXIT_ENVIRONMENT = "  6  environment: the registry, a lock or the decision log failed (fix it and re-run)"


class Parser(argparse.ArgumentParser):
    """Usage errors exit with 4 (invalid input), as every other input error does."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.INVALID_INPUT), f"{self.prog}: error: {message}\n")


def command(commands: Any, name: str, *, help: str, description: str, exit_codes: str) -> Parser:
    """A subcommand with its help line, its description and its own exit codes."""
    parser: Parser = commands.add_parser(name, help=help, description=description,
                                         epilog="exit codes:\n" + exit_codes,
                                         formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser


def actions(parser: Parser, dest: str) -> Any:
    """Sub-actions (``registry show``...): a missing action lists the choices and exits 4."""
    sub = parser.add_subparsers(dest=dest, metavar="ACTION", parser_class=Parser)
    parser.set_defaults(**{dest: None})
    return sub


def missing_action(parser: argparse.ArgumentParser) -> int:
    """The error for ``harness registry`` with no action: the actions, one a line."""
    choices = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    listed = "\n".join(f"  {c.dest:<8} {c.help}" for c in choices._choices_actions)
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: error: choose an action:\n{listed}", file=sys.stderr)
    return int(ExitCode.INVALID_INPUT)


def date_arg(value: str) -> dt.date:
    """A date written exactly ``YYYY-MM-DD`` (not ``20261203`` or ``2026-W49-4``, which ``fromisoformat`` takes)."""
    from ..model.waiver import parse_date

    try:
        return parse_date(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def actor_arg(value: str) -> str:
    """``--by``: a name on one line, with no control characters, of a bounded length."""
    from ..release.provenance import actor_problem

    problem = actor_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return value


def non_negative(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0, got {value!r}")
    return number


def positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return number


def repository_options(parser: argparse.ArgumentParser, *, evals: bool = True, today: bool = True) -> None:
    parser.add_argument("--policies", type=Path, default=Path("policies"), metavar="DIR",
                        help="policy repository: playbook.yaml, waivers.yaml, **/*.yaml (default: policies)")
    if evals:
        parser.add_argument("--evals", type=Path, default=Path("evals"), metavar="DIR",
                            help="eval suites, **/*.yaml (default: evals)")
    if today:
        parser.add_argument("--today", type=date_arg, metavar="YYYY-MM-DD",
                            help="the date waivers are judged against (default: today, UTC); a date in the past"
                                 " needs --backdate")
        parser.add_argument("--backdate", action="store_true",
                            help="allow --today before today (expired waivers apply again); the report and the"
                                 " decision log record it")


def color_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour in terminal output (default: auto, only on a terminal; NO_COLOR is honoured)")


def registry_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", metavar="URI",
                        help="model registry: file://PATH or an MLflow tracking URI"
                             " (default: playbook release.registry)")
    parser.add_argument("--alias", help="serving alias (default: playbook release.alias, else champion)")


def recording_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--decision-log", type=Path, metavar="PATH",
                        help="append-only decision log (default: playbook release.decision_log)")
    parser.add_argument("--by", type=actor_arg, metavar="ACTOR",
                        help="who acts (default: $GITHUB_ACTOR, git user.email, login); one line, at most"
                             " 256 characters")


def procedure_options(parser: argparse.ArgumentParser) -> None:
    """The rollback procedure's hooks, health check and notifier, overriding the playbook's."""
    parser.add_argument("--hook", action="append", metavar="CMD_OR_URL",
                        help="rollback hook instead of the playbook's: a command, or an http(s) URL to POST to"
                             " (repeatable)")
    parser.add_argument("--health-check", metavar="CMD_OR_URL",
                        help="health check instead of the playbook's: a command, or an http(s) URL expecting 2xx")
    parser.add_argument("--notifier", metavar="SPEC",
                        help="notifier instead of the playbook's: outbox:DIR, webhook:URL or smtp:HOST:PORT:FROM")
    parser.add_argument("--incidents", type=Path, default=Path("incidents"), metavar="DIR",
                        help="incident records, for --incident (default: incidents)")


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The command line's overrides of the playbook's ``release`` section (absent options stay ``None``)."""
    from ..model import HealthCheck, Hook, NotifierSpec

    hooks = getattr(args, "hook", None)
    check = getattr(args, "health_check", None)
    notifier = getattr(args, "notifier", None)
    return {
        "registry": getattr(args, "registry", None),
        "alias": getattr(args, "alias", None),
        "decision_log": getattr(args, "decision_log", None),
        "hooks": tuple(Hook.parse(h) for h in hooks) if hooks else None,
        "health_check": HealthCheck.parse(check) if check else None,
        "notifier": NotifierSpec.parse(notifier) if notifier else None,
    }


def use_color(stream: TextIO, choice: str) -> bool:
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or stream.isatty()


def terminal_width(stream: TextIO) -> int | None:
    """The terminal's width when ``stream`` is one; ``None`` (do not wrap) otherwise."""
    return shutil.get_terminal_size((120, 24)).columns if stream.isatty() else None


def say(*lines: str, err: bool = True) -> None:
    """Print lines that may hold untrusted text (model or version names), made safe for a terminal."""
    stream = sys.stderr if err else sys.stdout
    for line in lines:
        print(printable(line), file=stream)


def masked(exc: BaseException) -> str:
    """An exception's text with personal data masked: plugin code may put anything in it."""
    from ..text.mask import mask_text

    return mask_text(str(exc))


def error_lines(exc: HarnessError) -> list[str]:
    """An error's lines for the terminal: one per input error, so no text inside one can forge another."""
    from ..errors import InputError, InputErrors

    if isinstance(exc, InputErrors):
        return [one_line(masked(e)) for e in exc.errors]
    if isinstance(exc, InputError):
        return [one_line(masked(exc))]
    return [printable(line) for line in masked(exc).splitlines()] or [type(exc).__name__]


class ProgressBars:
    """Rich progress bars on standard error: loading (bytes), then judging (outputs)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                             TimeRemainingColumn(), transient=True, console=Console(file=sys.stderr))
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> ProgressBars:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(None, None, None)

    def _update(self, name: str, done: int, total: int) -> None:
        if name not in self._tasks:
            self._tasks[name] = self._bar.add_task(name, total=total)
        self._bar.update(self._tasks[name], completed=done, total=total)

    def loading(self, done: int, total: int) -> None:
        self._update("loading outputs", done, total)

    def judging(self, done: int, total: int) -> None:
        self._update("evaluating", done, total)

    def scanning(self, done: int, total: int, records: int, unit: str = "bytes") -> None:
        """One pass reading and judging (a streamed scan): ``done`` of ``total`` bytes (or partitions), with the
        records judged so far and their rate."""
        import time

        now = time.monotonic()
        self._started = getattr(self, "_started", now)
        rate = records / (now - self._started) if now > self._started else 0.0
        name = "judging outputs" if unit == "bytes" else "judging partitions"
        if name not in self._tasks:
            self._tasks[name] = self._bar.add_task(name, total=total)
        self._bar.update(self._tasks[name], completed=done, total=total,
                         description=f"{name} ({records:,} records, {rate:,.0f}/s)")


def wants_progress(path: Path | str, disabled: bool) -> bool:
    if disabled or not sys.stderr.isatty():
        return False
    try:
        size = Path(path).stat().st_size if Path(path).is_file() else PROGRESS_MIN_BYTES
    except OSError:
        return False
    return size >= PROGRESS_MIN_BYTES


def exit_codes(*lines: str) -> str:
    every = [*lines, "  5  internal error (a bug: --debug shows the traceback)", "130  interrupted (Ctrl-C)"]
    return "\n".join(sorted(every, key=lambda line: int(line.split()[0]))) + "\n"
