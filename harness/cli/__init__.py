"""The ``harness`` command: one module per subcommand, each parsing, calling :mod:`harness.api`, printing.

Errors become one readable line each and an exit code: 4 for invalid input, 6 when the
environment failed (registry, lock, decision log), 5 for a bug (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import traceback
from collections.abc import Sequence

from .. import __version__
from ..clock import SYSTEM_CLOCK, Clock
from ..errors import EnvError, ExitCode, HarnessError, InputError
from . import (
    audit,
    common,
    gate,
    incident,
    log,
    metrics,
    new,
    policy,
    register,
    registry,
    rollback,
    schema,
    signoff,
    validate,
)

EXIT_CODES = common.exit_codes(
    "  0  promote: every gating policy passed (warn-only failures allowed); other commands: done",
    "  1  block: a policy with on_fail: block failed; scan --fail-on-findings: findings; rollback: a step failed",
    "  3  rollback required: a policy with on_fail: rollback failed",
    "  4  invalid input: schema, parse or usage error (for gate and scan: nothing was judged)",
    common.EXIT_ENVIRONMENT) + "\nEach command's --help lists its own exit codes."

COMMANDS = (gate, validate, policy, new, rollback, incident, metrics, register, signoff, audit, registry, log, schema)


def build_parser() -> argparse.ArgumentParser:
    parser = common.Parser(
        prog="harness",
        description="Release gate for AI models: policies and regression evals judge a model's outputs.",
        epilog="exit codes:\n" + EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    parser.set_defaults(clock=SYSTEM_CLOCK)  # main() passes its own
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=common.Parser)
    for module in COMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None, *, clock: Clock = SYSTEM_CLOCK) -> int:
    """Run one command; its exit code. Usage errors raise ``SystemExit(4)`` as argparse does.

    ``clock`` is the time every command reads (today's date for waivers, timestamps): a fixed one
    replays a day.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    args.clock = clock
    judging = args.command in ("gate", "scan")
    try:
        return int(args.func(args))
    except InputError as exc:
        common.say(*common.error_lines(exc))
        common.say("harness: invalid input; nothing was judged (exit 4)" if judging else
                   "harness: invalid input (exit 4)")
        return int(ExitCode.INVALID_INPUT)
    except EnvError as exc:
        common.say(*(f"harness: {line}" for line in common.error_lines(exc)))
        common.say(f"harness: the environment failed{'; nothing was judged' if judging else ''} (exit 6)")
        return int(ExitCode.ENVIRONMENT)
    except HarnessError as exc:
        common.say(*(f"harness: {line}" for line in common.error_lines(exc)))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        common.say("harness: interrupted")
        return 130  # the shell's convention for SIGINT
    except BrokenPipeError:
        raise  # the reader left (`harness log show | head`): run() ends quietly
    except OSError as exc:  # a disk, a device or a folder failed us: the environment, not the input
        common.say(f"harness: cannot read or write: {_os_error(exc)}",
                   f"harness: the environment failed{'; no verdict was recorded' if judging else ''} (exit 6)")
        return int(ExitCode.ENVIRONMENT)
    except BaseException as exc:  # SystemExit too: only a plugin's code can raise it here, never a success
        if args.debug:
            traceback.print_exc()
        common.say(f"harness: internal error: {type(exc).__name__}: {common.masked(exc)}"
                   " (run with --debug for a traceback)")
        return int(ExitCode.INTERNAL_ERROR)


def _os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or type(exc).__name__}{where}"


def run() -> None:
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `harness log show | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    except OSError as exc:  # standard output on a full disk (/dev/full): what was printed is lost
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the interpreter's own flush at exit stays quiet
        common.say(f"harness: cannot write to standard output: {_os_error(exc)} (exit 6)")
        code = int(ExitCode.ENVIRONMENT)
    # the process ends here: the interpreter's last collection need not walk what the run made (a tenth of a
    # second after a large scan); files are closed and buffers flushed as ever
    gc.freeze()
    sys.exit(code)
