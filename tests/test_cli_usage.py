"""What a new user meets: help for everything, the right exit codes per command, messages that say what happened."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "examples" / "outputs"


def parsers(parser: argparse.ArgumentParser, path: str = "harness") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, f"{path} {name}")


ALL = list(parsers(build_parser()))


@pytest.mark.parametrize(("name", "parser"), ALL, ids=[name for name, _ in ALL])
def test_every_command_and_option_has_help(name, parser):
    assert parser.description, f"{name} has no description"
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            assert all(choice.help for choice in action._choices_actions), name
        else:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


@pytest.mark.parametrize(("command", "own", "foreign"), [
    pytest.param("scan", "1  with --fail-on-findings", "3  rollback required", id="scan"),
    pytest.param("validate", "4  at least one error", "1  block", id="validate"),
    pytest.param("rollback", "1  a step failed", "3  rollback required", id="rollback"),
    pytest.param("log", "4  the chain is broken", "3  rollback required", id="log"),
])
def test_each_command_documents_its_own_exit_codes(command, own, foreign, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert own in out and foreign not in out


@pytest.mark.parametrize("command", ["registry", "log"])
def test_a_missing_action_lists_the_actions(command, capsys):
    assert main([command]) == 4
    err = capsys.readouterr().err
    assert "choose an action" in err
    assert {"registry": "show", "log": "verify"}[command] in err


def test_options_that_do_not_apply_are_not_offered(capsys):
    with pytest.raises(SystemExit) as info:
        main(["registry", "show", "--model", "m", "--hook", "true"])
    assert info.value.code == 4
    assert "unrecognized arguments: --hook true" in capsys.readouterr().err


def gate(version: str, *extra: str) -> int:
    return main(["gate", "--outputs", f"examples/outputs/acme-support-{version}.jsonl", "--baseline",
                 "examples/outputs/acme-support-1.0.0.jsonl", "--today", "2026-11-27", "--backdate", *extra])


def test_a_fresh_clone_has_no_registry_yet(workdir, capsys):
    assert main(["registry", "show", "--model", "acme-support-assistant"]) == 4
    err = capsys.readouterr().err
    assert "no registry yet at" in err and "audit/registry.json" in err and "unknown model" not in err
    assert "nothing was judged" not in err


def test_registry_show_never_prints_none(workdir, capsys):
    assert main(["registry", "alias", "--model", "m", "--version", "1", "--create", "--reason", "first"]) == 0
    assert "(not set) -> 1" in capsys.readouterr().out
    assert main(["registry", "show", "--model", "m", "--alias", "canary"]) == 0
    out = capsys.readouterr().out
    assert "'canary' -> (not set)" in out and "None" not in out


def test_a_corrupt_registry_stops_the_gate_before_judging_with_exit_6(workdir, capsys):
    Path("audit").mkdir()
    Path("audit/registry.json").write_text("{oops")
    assert gate("1.1.0", "--promote", "--model", "m", "--model-version", "1") == 6
    captured = capsys.readouterr()
    assert "Verdict" not in captured.out
    assert "corrupted registry file" in captured.err and "nothing was judged (exit 6)" in captured.err


def test_a_recording_failure_after_the_verdict_never_says_nothing_was_judged(workdir, capsys):
    Path("audit").mkdir()
    Path("audit/decisions.jsonl").write_text('{"kind": "gate"}')  # a cut-off line: the log refuses appends
    assert gate("1.2.1", "--promote", "--model", "m", "--model-version", "1.2.1") == 6
    captured = capsys.readouterr()
    assert "Verdict: BLOCK" in captured.out
    assert "the verdict BLOCK above stands, but recording it failed" in captured.err
    assert "nothing was judged" not in captured.err
    assert gate("1.2.0", "--promote", "--model", "m", "--model-version", "1.2.0") == 3  # a rollback stays 3


def test_a_missing_decision_log_is_an_environment_error(workdir, capsys):
    assert main(["log", "verify"]) == 6
    err = capsys.readouterr().err
    assert "decision log not found" in err and "invalid input" not in err


def test_text_output_off_a_terminal_is_not_wrapped(workdir, capsys):
    assert gate("1.2.0") == 3
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if "pii-echo-001 (line 16) privacy.no-pii/no-personal-data" in line]
    assert line.rstrip().endswith("— found: email j***@example.com, phone ***-***-**47")


def test_a_policy_failed_by_a_run_level_rule_says_so(workdir, capsys):
    assert gate("1.2.1", "--format", "json") == 1
    report = json.loads(capsys.readouterr().out)
    parity = next(p for p in report["policies"] if p["id"] == "fairness.refusal-parity")
    assert parity["status"] == "fail" and parity["run_failed"] == ["answer-rate-parity-by-group"]
    assert gate("1.2.1") == 1
    row = next(line for line in capsys.readouterr().out.splitlines() if "fairness.refusal-parity" in line)
    assert "+ run-level answer-rate-parity-by-group" in row


def test_the_unmatched_case_ids_are_named(workdir, tmp_path, capsys):
    outputs = Path("extra.jsonl")
    outputs.write_text(Path("examples/outputs/acme-support-1.1.0.jsonl").read_text()
                       + "".join(json.dumps({"case_id": f"stray-{i}", "output": "ok"}) + "\n" for i in range(7)))
    assert main(["gate", "--outputs", str(outputs), "--today", "2026-11-27", "--backdate", "--format", "json"]) == 4
    assert "extra.jsonl:55: case_id 'stray-0' matches no eval case; expected the id of a case of the eval suites" \
        in capsys.readouterr().err
    main(["gate", "--outputs", str(outputs), "--today", "2026-11-27", "--backdate", "--format", "json",
          "--allow-unmatched"])
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    assert "7 case id(s) in the outputs match no eval case: stray-0, stray-1, stray-2, stray-3, stray-4 and 2 more" \
        in warnings


def test_a_disparity_tie_compares_two_different_groups(workdir, capsys):
    assert gate("1.1.0", "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    parity = next(a for a in report["aggregates"] if a["rule"] == "answer-rate-parity-by-group")
    assert parity["value"] == 0
    assert "(nonbinary 1.00 vs female 1.00)" in parity["message"]


def test_a_registry_that_cannot_be_written_keeps_a_rollback_verdict_at_3(workdir, capsys):
    Path("audit/registry.json.lock").mkdir(parents=True)  # the write lock's path is a directory
    assert gate("1.2.0", "--registry", "file://audit/registry.json", "--model", "m", "--model-version", "1.2.0") == 3
    err = capsys.readouterr().err
    assert "cannot write the registry" in err and "internal error" not in err
    assert gate("1.1.0", "--promote", "--model", "m", "--model-version", "1.1.0") == 6


def test_a_plugin_check_that_exits_or_returns_garbage_fails_closed(workdir, capsys):
    Path("policies/playbook.yaml").write_text(Path("policies/playbook.yaml").read_text() + "plugins: [hostile]\n")
    Path("hostile.py").write_text(
        "import sys\nfrom harness.checks import check\n"
        "@check('quits')\ndef quits(options, record, case):\n    sys.exit(0)\n"
        "@check('says_nothing')\ndef says_nothing(options, record, case):\n    return None\n"
        "@check('says_a_string')\ndef says_a_string(options, record, case):\n    return 'BAD'\n")
    for name in ("quits", "says_nothing", "says_a_string"):
        Path("policies/hostile.yaml").write_text(
            f"id: hostile.{name.replace('_', '-')}\nversion: 1.0.0\ntitle: t\nseverity: sev3\non_fail: block\n"
            f"owner: o\nrules: [{{id: r, check: {name}}}]\n")
        assert gate("1.1.0", "--format", "json") == 1, name
        report = json.loads(capsys.readouterr().out)
        [policy] = [p for p in report["policies"] if p["id"].startswith("hostile.")]
        assert policy["status"] == "error", name


def test_personal_data_in_case_ids_and_model_names_is_masked_in_every_format(workdir, capsys):
    outputs = Path("pii-ids.jsonl")
    outputs.write_text("".join(json.dumps(r) + "\n" for r in [
        {"case_id": "4111 1111 1111 1111", "output": "I'm sorry, but no.", "model": "bot of jane.doe@example.org"},
        {"case_id": "ssn 536-22-1234", "output": "Sure: write to jane.roe@example.org", "latency_ms": 5},
    ]))
    for fmt in ("json", "text", "markdown", "junit"):
        main(["scan", "--outputs", str(outputs), "--format", fmt, "--color", "never"])
        out = capsys.readouterr().out
        for raw in ("4111 1111 1111 1111", "536-22-1234", "jane.doe@example.org", "jane.roe@example.org"):
            assert raw not in out, (fmt, raw)
        shown = "**** **** **** 1111" if fmt != "markdown" else r"\*\*\*\* \*\*\*\* \*\*\*\* 1111"
        assert shown in out, fmt


def test_log_show_and_registry_show_print_one_line_per_entry(workdir, capsys):
    forged = "ok\n   99 2026-01-01 ceo@example.com promoted to champion"
    assert main(["registry", "alias", "--model", "m", "--version", "1", "--create", "--reason", forged]) == 0
    capsys.readouterr()
    assert main(["log", "show"]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 3 and "\\n   99" in out  # the move's intent, its outcome, the manual move
    assert main(["registry", "show", "--model", "m"]) == 0
    assert not any(line.lstrip().startswith("99 ") for line in capsys.readouterr().out.splitlines())
