"""``harness gate`` and ``harness scan``: judge outputs, print the report, record and roll back when asked."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any

from ..errors import EnvError, ExitCode, HarnessError, InputError
from ..text.normalize import one_line
from . import common

GATE_EXIT_CODES = common.exit_codes(
    "  0  promote: every gating policy passed (failures of warn or draft policies are only reported)",
    "  1  block: a policy with on_fail: block failed",
    "  3  rollback required: a policy with on_fail: rollback failed (also when the rollback the gate ran failed,"
    " or recording or writing --output failed)",
    "  4  invalid input: a schema, YAML, JSONL or usage error, a --select/--deselect pattern that matches nothing,"
    " --promote with a selection, or (--strict) a policy whose examples misbehave; nothing was judged",
    common.EXIT_ENVIRONMENT + ", or --output could not be written; a verdict printed above stands")
SCAN_EXIT_CODES = common.exit_codes(
    "  0  the scan ran (findings or not); with --fail-on-findings: nothing failed",
    "  1  with --fail-on-findings: a policy failed or a result is not a pass",
    "  4  invalid input: a schema, YAML, JSONL or usage error, a --select/--deselect pattern that matches nothing,"
    " or (--strict) a policy whose examples misbehave; nothing was judged",
    "  6  environment: the report could not be written to --output or standard output")


def _judging_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outputs", required=True, metavar="PATH",
                        help="model outputs: JSON Lines (one {case_id, output, ...} per line), gzip- or"
                             " zstd-compressed JSON Lines, Parquet, or a directory or glob of such files")
    parser.add_argument("--baseline", metavar="PATH",
                        help="outputs of the last-known-good model, for baseline rules (the same formats)")
    parser.add_argument("--map", dest="field_map", metavar="FIELD=PATH,...",
                        help="where the record fields are in the input, for logs named otherwise:"
                             " output=response.text,case_id=request_id (dotted paths into each line or row)")
    parser.add_argument("--max-results", type=common.non_negative, default=None, metavar="N",
                        help="list at most the first N results in the report (default 100000; 0: all of them);"
                             " the counts stay exact")
    parser.add_argument("--results-file", type=Path, metavar="PATH",
                        help="write every result (masked, one JSON object per line) here, atomically")
    parser.add_argument("--model", help="model name for the report (default: most common in the outputs)")
    parser.add_argument("--model-version", help="model version for the report (default: from the outputs)")
    parser.add_argument("--format", default="text", metavar="FORMAT",
                        help="report format: text, json, junit, markdown, github (workflow-command annotations),"
                             " sarif (SARIF 2.1.0), or an installed reporter plugin (default: text)")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="write the report here (atomically) and print the text summary instead")
    parser.add_argument("--select", action="extend", nargs="+", default=[], metavar="PATTERN",
                        help="judge only the policies and eval suites whose id matches a glob (repeatable; a"
                             " suite answers to 'name' and 'eval:name'); the report records it, and a gate with a"
                             " selection cannot --promote")
    parser.add_argument("--deselect", action="extend", nargs="+", default=[], metavar="PATTERN",
                        help="leave out the policies and eval suites whose id matches a glob (repeatable)")
    parser.add_argument("--strict", action="store_true",
                        help="refuse to judge (exit 4) when a policy's own examples misbehave; without it, the"
                             " report warns")
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    parser.add_argument("--workers", type=common.positive, metavar="N",
                        help="processes judging large runs (50,000 outputs and up) in parallel"
                             " (default and maximum: the CPUs available)")
    parser.add_argument("--open-incident", action="store_true",
                        help="open an incident from this run when the verdict is rollback (scan: when a sev1 or"
                             " sev2 policy has findings), its failing results as evidence; a rollback the gate runs"
                             " is recorded in it")
    common.repository_options(parser)
    common.color_option(parser)


def register(commands: Any) -> None:
    gate = common.command(
        commands, "gate", help="judge a candidate's outputs and decide promote / block / rollback",
        description="Judge a candidate model's outputs with every policy and eval suite; the exit code is the"
                    " verdict. With --registry, --promote, --on-rollback or --decision-log the decision is"
                    " recorded in the model registry and the decision log.",
        exit_codes=GATE_EXIT_CODES)
    _judging_options(gate)
    common.registry_options(gate)
    common.recording_options(gate)
    gate.add_argument("--allow-unmatched", action="store_true",
                      help="judge records whose case id matches no eval case too (by default they are invalid"
                           " input: they would be judged by the policies and the run-level rules)")
    gate.add_argument("--promote", action="store_true",
                      help="on promote, move the serving alias to --model-version (needs a registry)")
    gate.add_argument("--create-version", action="store_true",
                      help="register --model-version when the registry does not know it (an MLflow registry"
                           " otherwise refuses: its versions are real model artifacts)")
    gate.add_argument("--on-rollback", choices=("plan", "execute"),
                      help="when the judged version is serving and the verdict is rollback: print the plan"
                           " (the default once the registry is in use) or run the rollback procedure")
    common.procedure_options(gate)
    gate.set_defaults(func=lambda args: judge(args, "gate"))

    scan = common.command(
        commands, "scan", help="evaluate any outputs (e.g. production logs) and report every finding",
        description="Evaluate any outputs, such as a day of production logs after an incident, with the same"
                    " policies, and report every finding. Exits 0 unless the input is invalid or"
                    " --fail-on-findings is given.",
        exit_codes=SCAN_EXIT_CODES)
    _judging_options(scan)
    scan.add_argument("--executor", choices=("local", "dask"), default="local",
                      help="where the outputs are judged: local processes (--workers; the fastest on one machine)"
                           " or a Dask cluster (default: local)")
    scan.add_argument("--scheduler", metavar="ADDRESS",
                      help="with --executor dask: an existing cluster's scheduler (tcp://host:8786); without it a"
                           " local cluster is started for the run. Workers read the outputs at the same path")
    scan.add_argument("--dask-workers", type=common.positive, default=2, metavar="N",
                      help="workers of the local Dask cluster (default 2)")
    scan.add_argument("--fail-on-findings", action="store_true",
                      help="exit 1 when any policy fails or any result is not a pass")
    scan.add_argument("--incidents", type=Path, default=Path("incidents"), metavar="DIR",
                      help="incident records, for --open-incident (default: incidents)")
    scan.add_argument("--by", type=common.actor_arg, metavar="ACTOR",
                      help="who opens the incident (default: $GITHUB_ACTOR, git user.email, login)")
    scan.set_defaults(func=_scan)


def _releasing(args: argparse.Namespace) -> bool:
    return bool(args.registry or args.promote or args.decision_log or args.on_rollback or args.create_version)


def _scan(args: argparse.Namespace) -> int:
    from ..outputs.digests import prefetched

    with prefetched(args.outputs):  # the sha256 of a large input starts now, beside the loading of the rules
        return judge(args, "scan")


def judge(args: argparse.Namespace, kind: str) -> int:
    from .. import api
    from ..report import REPORTERS, render

    if args.format not in REPORTERS:
        raise InputError(f"--format {args.format!r}: expected one of {', '.join(REPORTERS.names())}")
    REPORTERS.get(args.format)  # a broken reporter plugin fails now, before anything is judged
    if kind == "gate" and args.promote and (args.select or args.deselect):
        raise InputError("a partial gate cannot promote: --promote with --select/--deselect; run every policy and"
                         " eval suite to promote")
    project = api.load(args.policies, args.evals)
    records = api.release_settings(project.playbook, **common.overrides(args))  # protected even when not used
    _check_written_paths(args, records)
    releasing = kind == "gate" and _releasing(args)
    settings = registry = actor = None
    if releasing:  # the actor and the registry must answer before anything is judged
        from ..release.provenance import current_actor
        from ..release.signing import configured_signer

        actor = current_actor(args.by)
        configured_signer(project.policies_dir)  # a bad or foreign signing key stops us before anything is judged
        settings = records
        registry = api.connect(settings, model=args.model, version=args.model_version,
                               create_version=args.create_version or None, clock=args.clock)
    bars = common.ProgressBars() if common.wants_progress(args.outputs, args.no_progress) else None
    run = api.run_gate if kind == "gate" else api.run_scan
    options: dict[str, Any] = ({"fail_on_findings": args.fail_on_findings} if kind == "scan"
                               else {"allow_unmatched": args.allow_unmatched})
    options |= {"select": args.select, "deselect": args.deselect, "strict": args.strict,
                "field_map": args.field_map, "results_file": args.results_file,
                "max_results": api.MAX_RESULTS if args.max_results is None else (args.max_results or None)}
    if kind == "scan":
        if args.scheduler and args.executor != "dask":
            raise InputError("--scheduler is for --executor dask")
        if args.scheduler is not None:
            _check_scheduler(args.scheduler)
        options |= {"executor": args.executor, "scheduler": args.scheduler, "dask_workers": args.dask_workers}
    from ..api.judge import results_named_at_the_end

    # a --results-file is named once the report is written: an interruption in between leaves neither
    with results_named_at_the_end():
        with bars if bars is not None else contextlib.nullcontext():
            result = run(args.outputs, project=project, policies=args.policies, evals=args.evals,
                         baseline=args.baseline, model=args.model, model_version=args.model_version, today=args.today,
                         backdate=args.backdate, workers=args.workers, progress=bars, clock=args.clock, **options)

        color = common.use_color(sys.stdout, args.color)
        width = common.terminal_width(sys.stdout)
        if args.output is None or args.format != "text":
            shown = args.format if args.output is None else "text"  # with --output: the summary here, the report there
            sys.stdout.write(render(result.report, shown, color=color and shown == "text", width=width))
        if result.example_problems and (args.output is not None or args.format != "text"):  # else said above
            from ..api.judge import example_warnings

            common.say(*(f"harness: warning: {one_line(w)}" for w in example_warnings(result.example_problems)))
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            _append_summary(args, result, summary, records)
        args.opened_incident, failed = _open_incident(args, result, kind) if args.open_incident else (None, 0)
        code = _record_verdict(args, result, settings, registry, actor) if releasing else int(result.exit_code)
        if failed and code in (ExitCode.PROMOTE, ExitCode.BLOCK):  # a verdict that calls for more keeps its code
            code = failed
        if args.output is not None:  # after recording: a report that cannot be written never stops a rollback
            code = _write_report(args, result, records, color=color, code=code)
    step_outputs = os.environ.get("GITHUB_OUTPUT")
    if step_outputs:
        _append_step_outputs(args, result, step_outputs, records, code)
    return code


def _check_written_paths(args: argparse.Namespace, records: Any) -> None:
    """Refuse (exit 4, before anything is judged) a ``--output`` or ``--results-file`` that is an input or a record
    of the run, a file the next scan of the same ``--outputs`` (a directory, a glob) would read, or each other."""
    from .. import api
    from ..outputs.sources import covers

    written = [(option, path, what) for option, path, what in (("--output", args.output, "the report"),
                                                               ("--results-file", args.results_file, "the results"))
               if path is not None]
    for option, path, what in written:
        api.check_report_path(path, settings=records, outputs=args.outputs, baseline=args.baseline,
                              policies=args.policies, evals=args.evals, incidents=getattr(args, "incidents", None),
                              option=option, written=what)
        for name, spec in (("--outputs", args.outputs), ("--baseline", args.baseline)):
            if spec is not None and covers(spec, path):
                raise InputError(f"{option} {path} is read as part of {name} {spec}: {what} would replace an input"
                                 " or be judged as outputs by the next run; write it elsewhere")
    if len(written) == 2 and os.path.realpath(args.output) == os.path.realpath(args.results_file):
        raise InputError(f"--output and --results-file are the same file ({args.output}): the report would replace"
                         " the results; name two files")


#: what --scheduler accepts: [PROTOCOL://]HOST:PORT, the host a name, an IPv4 address or an [IPv6] address
_SCHEDULER = re.compile(r"(?:(?:tcp|tls|ws|wss|ucx)://)?(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})")


def _check_scheduler(address: str) -> None:
    match = _SCHEDULER.fullmatch(address)
    if match is None or not 0 < int(match.group(1)) < 65536:
        raise InputError(f"--scheduler {address!r}: expected a Dask scheduler address [PROTOCOL://]HOST:PORT"
                         " (protocol tcp, tls, ws, wss or ucx), e.g. tcp://scheduler.example:8786")


def _open_incident(args: argparse.Namespace, result: Any, kind: str) -> tuple[str | None, int]:
    """``--open-incident``: an incident drafted from the run when it calls for one; its id, and the exit code of a
    failure to open it (0 when none).

    A gate opens one on a rollback verdict; a scan when a policy of a strict severity (``lifecycle`` of the
    playbook: sev1, sev2) has findings. A failure to open it is said and never stops what the verdict calls
    for: the gate's rollback still runs (without an incident to record it in).
    """
    from ..api import incidents

    report = result.report
    if kind == "gate":
        wanted = report.verdict.value == "rollback"
    else:
        strict = result.project.playbook.lifecycle.strict_severities
        wanted = any(p.status in ("fail", "error") and p.severity in strict for p in report.policies)
    if not wanted:
        common.say("no incident opened: " + ("the verdict is not rollback" if kind == "gate"
                                              else "no policy of a strict severity (sev1, sev2) has findings"))
        return None, 0
    try:
        from ..release.provenance import current_actor

        desk = incidents.desk(args.incidents, policies=args.policies, evals=args.evals, clock=args.clock)
        step = incidents.open_from(desk, report, path=None, sha256=None, by=current_actor(args.by))
    except HarnessError as exc:
        common.say(*(f"harness: no incident opened: {line}" for line in common.error_lines(exc)))
        return None, int(exc.exit_code)
    except OSError as exc:
        common.say(f"harness: no incident opened: cannot write: {exc.strerror or exc} ({exc.filename or ''})")
        return None, int(ExitCode.ENVIRONMENT)
    common.say(*(one_line(line) for line in step.said))
    return step.incident.id, 0


def _append_summary(args: argparse.Namespace, result: Any, summary: str, records: Any) -> None:
    """Append the Markdown report to ``$GITHUB_STEP_SUMMARY``: a convenience for CI, never worth the verdict.

    A path that is an input or a record of the run (the decision log...) is skipped with a warning, as is
    one that cannot be written.
    """
    from .. import api

    try:
        api.append_summary(result, summary, settings=records, evals=args.evals,
                           incidents=getattr(args, "incidents", None))
    except InputError as exc:
        common.say(*(f"harness: warning: summary skipped: {line}" for line in common.error_lines(exc)))
    except EnvError as exc:
        common.say(f"harness: warning: cannot append to $GITHUB_STEP_SUMMARY ({summary}): {exc.message}")


def _append_step_outputs(args: argparse.Namespace, result: Any, path: str, records: Any, code: int) -> None:
    """Append the verdict and counts to ``$GITHUB_OUTPUT``; like the summary, never worth the verdict."""
    from ..api.github import write_step_outputs

    try:
        write_step_outputs(result, path, exit_code=code, settings=records, evals=args.evals,
                           incidents=getattr(args, "incidents", None))
    except InputError as exc:
        common.say(*(f"harness: warning: step outputs skipped: {line}" for line in common.error_lines(exc)))
    except EnvError as exc:
        common.say(f"harness: warning: cannot append to $GITHUB_OUTPUT ({one_line(path)}): {exc.message}")


def _record_verdict(args: argparse.Namespace, result: Any, settings: Any, registry: Any, actor: str | None) -> int:
    """Record the verdict (and roll back when asked); the exit code: the verdict's, unless recording failed."""
    try:
        return _record(args, result, settings, registry, actor)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # after a verdict: say what failed, never "nothing was judged"
        if isinstance(exc, HarnessError):
            common.say(*(f"harness: {line}" for line in common.error_lines(exc)))
            code = exc.exit_code
        else:
            if args.debug:
                traceback.print_exc()
            common.say(f"harness: internal error: {type(exc).__name__}: {common.masked(exc)}")
            code = ExitCode.INTERNAL_ERROR
        verdict = result.verdict.value
        code = ExitCode.ROLLBACK if verdict == "rollback" else code  # production must still roll back
        common.say(f"harness: the verdict {verdict.upper()} above stands, but recording it failed (exit {int(code)})")
        return int(code)


def _write_report(args: argparse.Namespace, result: Any, settings: Any, *, color: bool, code: int) -> int:
    """Write the report to ``--output``; a failure is one line and exit 6, but a rollback verdict keeps 3."""
    from .. import api

    try:
        api.write_report(result, args.output, fmt=args.format, settings=settings, evals=args.evals,
                         incidents=getattr(args, "incidents", None), color=color)
    except EnvError as exc:
        verdict = result.verdict.value
        if code == int(result.exit_code):  # recording went well (or was not asked for): this failure decides
            code = int(ExitCode.ROLLBACK if verdict == "rollback" else ExitCode.ENVIRONMENT)
        common.say(*(f"harness: {line}; the verdict {verdict.upper()} stands (exit {code})"
                     for line in common.error_lines(exc)))
        return code
    print(f"report written to {args.output}", file=sys.stderr)
    return code


def _record(args: argparse.Namespace, result: Any, settings: Any, registry: Any, actor: str | None) -> int:
    from .. import api

    model_hint = args.model or result.report.run.model
    released = api.release_verdict(
        result, settings=settings, registry=registry, model=args.model, version=args.model_version,
        promote=args.promote, on_rollback=args.on_rollback or "plan", create_version=args.create_version or None,
        actor=actor, incidents_dir=args.incidents, today=args.today, clock=args.clock,
        incident=getattr(args, "opened_incident", None),
        on_wait=lambda: common.say(f"waiting for the lock on {model_hint}: another rollback or gate is running"))
    recorded, response = released.recorded, released.rollback
    alias, model, version = recorded.alias, recorded.model, recorded.version
    common.say(f"recorded: report {recorded.report.path} (sha256 {recorded.report.sha256[:12]})")
    if recorded.promoted:
        common.say(f"promoted: {alias!r} -> {model} {version}")
    elif result.verdict.value == "promote" and result.report.run.selection is not None:
        common.say(f"a partial gate: logged only; the registry's tags of {model} {version} are unchanged")
    elif result.verdict.value != "promote" and not recorded.rollback_needed:
        serving = recorded.tags.serving or "nothing (the alias is not set)"
        common.say(f"{model} {version} tagged blocked; {alias!r} stays at {serving}")
    if response is None:
        return int(result.exit_code)
    if response.error is not None:
        common.say(*(f"harness: rollback required, but: {line}" for line in common.error_lines(response.error)))
    elif response.plan is not None:
        common.say(*response.plan.describe(), f"run it: harness rollback --model {model}")
    elif response.outcome is not None:
        from ..release.rollback import describe

        common.say(response.outcome.note or "\n".join(describe(response.outcome.state)))
    return int(ExitCode.ROLLBACK)
