"""The ``harness`` command: parses arguments, calls the library, prints, maps results to exit codes."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .errors import ExitCode, HarnessError, InputError, InputErrors
from .fileio import write_atomic
from .text import printable

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


def _release_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", metavar="URI",
                        help="model registry: file://PATH or an MLflow tracking URI"
                             " (default: playbook release.registry)")
    parser.add_argument("--alias", help="serving alias (default: playbook release.alias, else champion)")
    parser.add_argument("--decision-log", type=Path, metavar="PATH",
                        help="append-only decision log (default: playbook release.decision_log)")
    parser.add_argument("--by", metavar="ACTOR", help="who acts (default: $GITHUB_ACTOR, git user.email, login)")
    parser.add_argument("--hook", action="append", metavar="CMD_OR_URL",
                        help="rollback hook instead of the playbook's: a command, or an http(s) URL to POST to"
                             " (repeatable)")
    parser.add_argument("--health-check", metavar="CMD_OR_URL",
                        help="health check instead of the playbook's: a command, or an http(s) URL expecting 2xx")
    parser.add_argument("--notifier", metavar="SPEC",
                        help="notifier instead of the playbook's: outbox:DIR, webhook:URL or smtp:HOST:PORT:FROM")


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
    _release_options(gate)
    gate.add_argument("--promote", action="store_true",
                      help="on promote, move the serving alias to --model-version (needs a registry)")
    gate.add_argument("--on-rollback", choices=("plan", "execute"),
                      help="when the judged version is serving and the verdict is rollback: print the plan"
                           " (the default once the registry is in use) or run the rollback procedure")

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

    rollback = commands.add_parser(
        "rollback", help="roll the serving alias back to the last-known-good version (5 recorded steps)",
        description="The playbook's rollback procedure: verify the last-known-good version, move the alias and"
                    " run the hooks, notify stakeholders, validate health, document. A failed step stops it;"
                    " running the same command again resumes from the first step that did not succeed.",
        epilog="exit codes: 0 done, 1 a step failed or the service is unhealthy (re-run to resume),"
               " 4 invalid input (unknown model or version, no last-known-good), 5 internal error",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    rollback.add_argument("--model", required=True, help="registered model name")
    rollback.add_argument("--to", metavar="VERSION", help="force this version instead of the last-known-good")
    rollback.add_argument("--incident", metavar="INC-YYYY-NNNN", help="record the rollback in this incident")
    rollback.add_argument("--reason", default="", help="why (shown to stakeholders and in the log)")
    rollback.add_argument("--restored-outputs", metavar="FILE",
                          help="outputs of the restored version: gated in step 4")
    rollback.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    rollback.add_argument("--incidents", type=Path, default=Path("incidents"), metavar="DIR")
    _release_options(rollback)
    _common(rollback)

    log = commands.add_parser("log", help="the tamper-evident decision log: verify or show it")
    log_commands = log.add_subparsers(dest="log_command", metavar="ACTION", required=True)
    verify = log_commands.add_parser("verify", help="check the hash chain; exit 4 naming the first bad line")
    show = log_commands.add_parser("show", help="print the history readably")
    show.add_argument("--model", help="only this model")
    show.add_argument("--format", choices=("text", "json"), default="text")
    for sub in (verify, show):
        sub.add_argument("--log", type=Path, metavar="PATH", help="default: release.decision_log of the playbook")
        sub.add_argument("--policies", type=Path, default=Path("policies"), metavar="DIR")

    registry = commands.add_parser("registry", help="look at the model registry, or move an alias by hand")
    registry_commands = registry.add_subparsers(dest="registry_command", metavar="ACTION", required=True)
    reg_show = registry_commands.add_parser("show", help="versions, tags, aliases and alias history of a model")
    reg_alias = registry_commands.add_parser(
        "alias", help="point the serving alias at a version by hand (recorded; never a last-known-good)")
    reg_alias.add_argument("--version", required=True)
    reg_alias.add_argument("--reason", required=True)
    reg_alias.add_argument("--create", action="store_true",
                           help="register the model version first if it is not in the registry yet")
    for sub in (reg_show, reg_alias):
        sub.add_argument("--model", required=True)
        _release_options(sub)
        sub.add_argument("--policies", type=Path, default=Path("policies"), metavar="DIR")
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
    from .records import utc_now as now
    from .report import RunInfo, build_report
    from .reports import get_reporter

    started = now()
    project = load_project(args.policies, args.evals)
    if not project.policies and not project.suites:
        raise InputError(f"no policies in {args.policies} and no eval suites in {args.evals}: nothing to judge")
    size = args.outputs.stat().st_size if args.outputs.exists() else 0
    bar = _progress(not args.no_progress and sys.stderr.isatty() and size >= PROGRESS_MIN_BYTES)
    with bar if bar is not None else contextlib.nullcontext():
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
        if args.output.is_dir():
            raise InputError(f"--output {args.output} is a directory; name a file")
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
    if kind == "gate" and (args.registry or args.promote or args.decision_log or args.on_rollback):
        code = _release(args, project, outputs, report, evaluation, decision, color)
        if code is not None:
            return code
    if kind == "scan":
        failing = any(r["status"] in ("fail", "error") for r in report["results"]) or \
            any(p["status"] in ("fail", "error") for p in report["policies"])
        return int(ExitCode.BLOCK if args.fail_on_findings and failing else ExitCode.PROMOTE)
    return int(decision.exit_code)


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _release_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The command line's overrides of the playbook's ``release`` section."""
    overrides: dict[str, Any] = {"registry": args.registry, "alias": args.alias, "decision_log": args.decision_log}
    if args.hook:
        overrides["hooks"] = tuple({"kind": "webhook", "url": h} if _is_url(h) else {"kind": "command", "run": h}
                                   for h in args.hook)
    if args.health_check:
        check = args.health_check
        overrides["health_check"] = {"kind": "http", "url": check} if _is_url(check) else {"kind": "command",
                                                                                            "run": check}
    if args.notifier:
        kind, _, rest = args.notifier.partition(":")
        if kind == "outbox" and rest:
            overrides["notifier"] = {"kind": "outbox", "path": rest}
        elif kind == "webhook" and _is_url(rest):
            overrides["notifier"] = {"kind": "webhook", "url": rest}
        elif kind == "smtp" and rest.count(":") == 2:
            host, port, sender = rest.split(":")
            overrides["notifier"] = {"kind": "smtp", "host": host, "port": int(port) if port.isdigit() else port,
                                     "from": sender}
        else:
            raise InputError(f"--notifier {args.notifier!r}: expected outbox:DIR, webhook:URL or smtp:HOST:PORT:FROM")
    return overrides


def _release_context(args: argparse.Namespace, playbook: Any) -> tuple[Any, Any, str, Callable[..., Any]]:
    from .audit import append_entry, current_actor, policy_commit
    from .registry import open_registry
    from .release import ReleaseConfig

    config = ReleaseConfig.from_playbook(playbook, **_release_overrides(args))
    registry = open_registry(config.registry)
    actor = current_actor(args.by)
    commit = policy_commit(args.policies)

    def log(entry: dict[str, Any]) -> dict[str, Any]:
        return append_entry(config.decision_log, {"actor": actor, "policy_commit": commit, **entry})

    return config, registry, actor, log


def _release(args: argparse.Namespace, project: Any, outputs: Any, report: dict[str, Any], evaluation: Any,
             decision: Any, color: bool) -> int | None:
    """Record the gate in the registry and the decision log; promote; plan or run a rollback."""
    import hashlib

    from . import rollback as procedure
    from .reports import get_reporter

    model, version = report["run"]["model"], report["run"]["model_version"]
    if not model or not version:
        raise InputError("--registry/--promote need the model and its version: pass --model and --model-version")
    config, registry, actor, log = _release_context(args, project.playbook)
    report_sha = hashlib.sha256(get_reporter("json")(report, evaluation).encode()).hexdigest()
    record = None
    with registry.lock(model):
        from .release import record_gate

        record = record_gate(registry, config, model=model, version=version, decision=decision,
                             report_sha256=report_sha, outputs_path=outputs.path, outputs_sha256=outputs.sha256,
                             promote=args.promote, actor=actor,
                             baseline_path=str(args.baseline) if args.baseline else None)
    policy_sha = {p["path"]: p["sha256"] for p in report["run"]["policies"]}
    log({"kind": "gate", "model": model, "model_version": version, "verdict": decision.verdict.value,
         "report_sha256": report_sha, "policy_sha256": policy_sha,
         "details": {"outputs": outputs.path, "outputs_sha256": outputs.sha256, "reasons": list(decision.reasons)}})
    waived: dict[tuple[str, str, str], int] = {}
    for r in report["results"]:
        if r["status"] == "waived":
            waived[(r["policy"], r["rule"], r["waiver"])] = waived.get((r["policy"], r["rule"], r["waiver"]), 0) + 1
    for (policy, rule, ticket), count in sorted(waived.items()):
        log({"kind": "waiver", "model": model, "model_version": version, "report_sha256": report_sha,
             "details": {"policy": policy, "rule": rule, "ticket": ticket, "results": count}})
    if record.promoted:
        log({"kind": "promotion", "model": model, "model_version": version, "verdict": "promote",
             "report_sha256": report_sha, "details": {"alias": config.alias}})
        print(f"promoted: {config.alias!r} -> {model} {version}", file=sys.stderr)
    elif decision.verdict.value != "promote" and not (decision.verdict.value == "rollback" and record.was_serving):
        print(f"{model} {version} tagged blocked; {config.alias!r} stays at {record.serving}", file=sys.stderr)
    if decision.verdict.value == "rollback" and record.was_serving:
        context = _rollback_context(args, project, config, registry, actor, log, decision)
        try:
            state = procedure.plan(context, model, reason=f"gate verdict rollback on {outputs.path}")
            if args.on_rollback != "execute":
                print("\n".join(procedure.describe(state)), file=sys.stderr)
                print(f"run it: harness rollback --model {model}", file=sys.stderr)
                return int(ExitCode.ROLLBACK)
            done = procedure.run(context, state)
            print("\n".join(procedure.describe(done)), file=sys.stderr)
        except HarnessError as exc:  # the verdict stands: exit 3 tells CI a rollback is required
            print(f"harness: rollback required, but: {exc}", file=sys.stderr)
            return int(ExitCode.ROLLBACK)
    return None


def _rollback_context(args: argparse.Namespace, project: Any, config: Any, registry: Any, actor: str,
                      log: Callable[..., Any], decision: Any = None) -> Any:
    from .engine import evaluate
    from .gate import decide
    from .outputs import load_outputs
    from .rollback import Context

    def judge(path: str, baseline: str | None) -> Any:
        base = load_outputs(baseline) if baseline else None
        return decide(evaluate(project, load_outputs(path), base, today=args.today).outcomes)

    triggers = frozenset(decision.policies) if decision is not None else frozenset()
    return Context(config, registry, actor, judge, getattr(args, "restored_outputs", None),
                   getattr(args, "incidents", Path("incidents")), triggers, log)


def _rollback(args: argparse.Namespace) -> int:
    from . import rollback as procedure
    from .loader import load_project

    project = load_project(args.policies, args.evals)
    config, registry, actor, log = _release_context(args, project.playbook)
    context = _rollback_context(args, project, config, registry, actor, log)
    state = procedure.plan(context, args.model, to=args.to, reason=args.reason, incident=args.incident)
    if args.dry_run:
        print("\n".join(procedure.describe(state)))
        print("dry run: nothing was changed")
        return int(ExitCode.PROMOTE)
    try:
        done = procedure.run(context, state)
    except procedure.RollbackFailed as exc:
        current = procedure.load_state(config, args.model)
        if current is not None:
            print("\n".join(procedure.describe(current)), file=sys.stderr)
        print(f"harness: rollback incomplete: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    print("\n".join(procedure.describe(done)))
    for step in procedure.STEPS:
        print(f"  {step}: {done.steps[step]['detail']}")
    return int(ExitCode.PROMOTE)


def _log(args: argparse.Namespace) -> int:
    from .audit import read_log, verify_log
    from .loader import read_playbook
    from .release import ReleaseConfig

    path = args.log
    if path is None:
        path = ReleaseConfig.from_playbook(read_playbook(args.policies)).decision_log
    if args.log_command == "verify":
        count = verify_log(path)
        print(f"ok: {count} entries, hash chain intact ({path})")
        return int(ExitCode.PROMOTE)
    verify_log(path)
    entries = read_log(path, model=args.model)
    if args.format == "json":
        print(json.dumps(entries, indent=2))
        return int(ExitCode.PROMOTE)
    for e in entries:
        details = e.get("details") or {}
        what = {"gate": f"verdict {e.get('verdict')}", "promotion": f"promoted to {details.get('alias')}",
                "waiver": f"waiver {details.get('ticket')} for {details.get('policy')}/{details.get('rule')}",
                "rollback_step": f"rollback {details.get('rollback')} step {details.get('step')}:"
                                 f" {details.get('status')}",
                "rollback": f"rollback {details.get('rollback')} {details.get('from')} -> {details.get('to')} done",
                "manual_alias": f"alias moved by hand: {details.get('reason')}"}.get(str(e.get("kind")), e.get("kind"))
        print(printable(f"{e['seq']:>5} {e['time']} {e.get('actor', '?'):<28} {e.get('model') or '-'}"
                        f" {e.get('model_version') or '-':<10} {what}"))
    return int(ExitCode.PROMOTE)


def _registry(args: argparse.Namespace) -> int:
    from .loader import read_playbook
    from .registry import open_registry
    from .release import ReleaseConfig

    config = ReleaseConfig.from_playbook(read_playbook(args.policies), **_release_overrides(args))
    registry = open_registry(config.registry)
    if args.registry_command == "alias":
        from .audit import append_entry, current_actor, policy_commit

        actor = current_actor(args.by)
        with registry.lock(args.model):
            if args.create:
                registry.register(args.model, args.version)
            else:
                registry.get_version(args.model, args.version)  # a typo must not go into service
            before = registry.get_alias(args.model, config.alias)
            registry.move_alias(args.model, config.alias, args.version, actor=actor,
                                reason=f"by hand: {args.reason}")
        append_entry(config.decision_log, {"kind": "manual_alias", "actor": actor,
                                           "policy_commit": policy_commit(args.policies), "model": args.model,
                                           "model_version": args.version,
                                           "details": {"alias": config.alias, "from": before, "reason": args.reason}})
        print(f"{config.alias!r}: {before} -> {args.version} (recorded as a manual move)")
        return int(ExitCode.PROMOTE)
    serving = registry.get_alias(args.model, config.alias)
    print(f"{args.model} ({config.registry}); {config.alias!r} -> {serving}")
    for v in registry.versions(args.model):
        mark = "*" if v.version == serving else " "
        tags = ", ".join(f"{k}={val}" for k, val in sorted(v.tags.items()) if not k.endswith("sha256"))
        print(f" {mark} {v.version:<12} {tags}")
    for move in registry.alias_history(args.model, config.alias):
        print(f"   {move.at} {move.from_version} -> {move.to_version} by {move.actor}: {move.reason}")
    return int(ExitCode.PROMOTE)


def _validate(args: argparse.Namespace) -> int:
    from .loader import expired_waivers, load_project
    from .records import utc_now as now

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
        if args.command == "rollback":
            return _rollback(args)
        if args.command == "log":
            return _log(args)
        if args.command == "registry":
            return _registry(args)
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
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `harness log show | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    sys.exit(code)
