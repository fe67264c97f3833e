"""Promotion, the rollback procedure and the decision log, end to end through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.incidents import IncidentStore

ROOT = Path(__file__).resolve().parents[1]
MODEL = "acme-support-assistant"
#: the day the shipped examples are judged on (the waivers are valid then): a past date, so --backdate
DAY = ("--today", "2026-11-27", "--backdate")


def set_release(**changes):
    path = Path("policies/playbook.yaml")
    data = yaml.safe_load(path.read_text())
    data["release"].update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def gate(version: str, *extra: str) -> int:
    return main(["gate", "--outputs", f"examples/outputs/acme-support-{version}.jsonl", "--baseline",
                 "examples/outputs/acme-support-1.0.0.jsonl", "--model", MODEL, "--model-version", version,
                 *DAY, "--color", "never", *extra])


def registry() -> dict:
    return json.loads(Path("audit/registry.json").read_text())["models"][MODEL]


def log_entries() -> list[dict]:
    return [json.loads(line) for line in Path("audit/decisions.jsonl").read_text().splitlines()]


def promote_two_then_serve_the_bad_one() -> None:
    assert gate("1.0.0", "--promote") == 0
    assert gate("1.1.0", "--promote") == 0
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.2.0", "--create",
                 "--reason", "hotfix deployed outside the gate"]) == 0


def test_demo_promote_promote_then_rollback_of_a_bad_release(workdir, capsys):
    promote_two_then_serve_the_bad_one()
    assert registry()["aliases"]["champion"] == "1.2.0"
    assert gate("1.2.0", "--on-rollback", "execute") == 3
    model = registry()
    assert model["aliases"]["champion"] == "1.1.0"
    assert model["versions"]["1.2.0"]["tags"]["blocked"] == "true"
    assert model["versions"]["1.1.0"]["tags"]["harness.verdict"] == "promote"
    kinds = [e["kind"] for e in log_entries()]
    assert kinds.count("promotion") == 2 and kinds.count("rollback_step") == 5 and "rollback" in kinds
    assert "waiver" in kinds  # 1.1.0 passed with the latency waiver
    assert len(list(Path("audit/outbox").glob("*.json"))) == 3  # product, risk, compliance
    assert main(["log", "verify"]) == 0
    assert main(["log", "show", "--model", MODEL]) == 0
    out = capsys.readouterr().out
    assert "rollback" in out and "ci-bot" in out


def test_blocked_candidate_is_tagged_and_the_alias_stays(workdir):
    assert gate("1.1.0", "--promote") == 0
    assert gate("1.2.1", "--promote") == 1
    model = registry()
    assert model["aliases"]["champion"] == "1.1.0"
    assert model["versions"]["1.2.1"]["tags"]["blocked"] == "true"
    assert len(model["versions"]["1.1.0"]["tags"]["harness.report_sha256"]) == 64


def test_rollback_plan_is_the_default_and_changes_nothing(workdir, capsys):
    promote_two_then_serve_the_bad_one()
    assert gate("1.2.0") == 3  # no registry options: the registry is not touched
    assert gate("1.2.0", "--on-rollback", "plan") == 3
    assert registry()["aliases"]["champion"] == "1.2.0"
    assert "harness rollback --model" in capsys.readouterr().err
    assert main(["rollback", *DAY, "--model", MODEL, "--dry-run"]) == 0
    assert registry()["aliases"]["champion"] == "1.2.0"


def test_manual_rollback_with_an_incident(workdir, capsys):
    promote_two_then_serve_the_bad_one()
    assert main(["incident", "open", "--title", "PII in answers", "--severity", "sev1", "--model", MODEL,
                 "--model-version", "1.2.0", "--incidents", "inc"]) == 0
    incident = IncidentStore("inc").ids()[-1]
    written = Path(f"inc/{incident}.yaml").read_bytes()
    # a sev1 incident without evidence: evidence comes before change
    assert main(["rollback", *DAY, "--model", MODEL, "--incident", incident, "--incidents", "inc",
                 "--reason", "PII in answers"]) == 4
    assert "has no evidence" in capsys.readouterr().err
    assert registry()["aliases"]["champion"] == "1.2.0"
    assert main(["rollback", *DAY, "--model", MODEL, "--incident", incident, "--incidents", "inc", "--no-evidence",
                 "--reason", "PII in answers"]) == 0
    assert registry()["aliases"]["champion"] == "1.1.0"
    events = [json.loads(line) for line in Path(f"inc/{incident}.events.jsonl").read_text().splitlines()]
    rollback = [e for e in events if e["type"] == "rollback"][-1]
    assert (rollback["from"], rollback["to"], rollback["outcome"]) == ("1.2.0", "1.1.0", "done")
    assert rollback["no_evidence_reason"] == "PII in answers"
    assert Path(f"inc/{incident}.yaml").read_bytes() == written  # what people wrote is never rewritten


def test_no_last_known_good_is_a_clear_error_and_changes_nothing(workdir, capsys):
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.2.0", "--create",
                 "--reason", "first deploy"]) == 0
    assert main(["rollback", *DAY, "--model", MODEL]) == 4
    assert "no last-known-good version" in capsys.readouterr().err
    assert registry()["aliases"]["champion"] == "1.2.0"


def test_unknown_model_and_version_exit_4(workdir, capsys):
    assert main(["rollback", "--model", "nope"]) == 4
    assert "nope" in capsys.readouterr().err
    promote_two_then_serve_the_bad_one()
    assert main(["rollback", *DAY, "--model", MODEL, "--to", "9.9.9"]) == 4
    assert "9.9.9" in capsys.readouterr().err


def test_a_failing_hook_stops_at_step_2_and_a_rerun_resumes(workdir, capsys):
    promote_two_then_serve_the_bad_one()
    set_release(hooks=[{"kind": "command", "run": f"{sys.executable} -c 'import sys; sys.exit(7)'"}])
    assert main(["rollback", *DAY, "--model", MODEL]) == 1
    err = capsys.readouterr().err
    assert "step 2 (trigger) failed" in err and "re-run" in err
    assert registry()["aliases"]["champion"] == "1.1.0"  # the alias move happened and is reported
    state = json.loads(Path(f"audit/rollbacks/{MODEL}.json").read_text())
    assert state["steps"]["verify"]["status"] == "ok" and state["steps"]["trigger"]["status"] == "failed"
    set_release(hooks=[{"kind": "command", "run": f"{sys.executable} examples/hooks/deploy.py"}])
    assert main(["rollback", *DAY, "--model", MODEL]) == 0
    steps = [e["details"]["step"] for e in log_entries() if e["kind"] == "rollback_step"]
    assert steps == ["verify", "trigger", "trigger", "notify", "validate", "document"]


def test_unhealthy_after_rollback_exits_non_zero(workdir, capsys):
    promote_two_then_serve_the_bad_one()
    set_release(health_check={"kind": "command", "run": f"{sys.executable} -c 'raise SystemExit(2)'"})
    assert main(["rollback", *DAY, "--model", MODEL]) == 1
    assert "unhealthy" in capsys.readouterr().err
    state = json.loads(Path(f"audit/rollbacks/{MODEL}.json").read_text())
    assert state["status"] == "unhealthy"


def test_a_rollback_killed_mid_way_resumes_and_finishes(workdir):
    promote_two_then_serve_the_bad_one()
    # the hook kills the harness process itself during step 2, after the alias moved
    set_release(hooks=[{"kind": "command", "run": "sh -c 'kill -9 $PPID'"}])
    killed = subprocess.run([sys.executable, "-m", "harness", "rollback", *DAY, "--model", MODEL],
                            capture_output=True, text=True)
    assert killed.returncode == -9
    state = json.loads(Path(f"audit/rollbacks/{MODEL}.json").read_text())
    assert state["steps"]["verify"]["status"] == "ok"
    [move] = [e["details"]["move"] for e in log_entries()
              if e["kind"] == "alias_move" and e["details"].get("cause") == "rollback"]
    assert state["steps"]["trigger"] == {"move": move}  # the move is kept; the step itself is not done
    set_release(hooks=[{"kind": "command", "run": f"{sys.executable} examples/hooks/deploy.py"}])
    assert main(["rollback", *DAY, "--model", MODEL]) == 0
    assert registry()["aliases"]["champion"] == "1.1.0"
    assert not Path(f"audit/rollbacks/{MODEL}.json").exists()
    [trigger] = [e for e in log_entries() if e["kind"] == "rollback_step" and e["details"]["step"] == "trigger"]
    assert trigger["details"]["move"] == state["steps"]["trigger"]["move"]  # the resumed step names the move
    assert main(["log", "verify"]) == 0


def test_two_rollbacks_started_together_act_once(workdir, tmp_path_factory):
    """The first run holds the lock inside a hook that blocks; the second waits, then sees it done."""
    promote_two_then_serve_the_bad_one()
    fifos = tmp_path_factory.mktemp("fifos")
    started, go = fifos / "started", fifos / "go"
    os.mkfifo(started)
    os.mkfifo(go)
    set_release(hooks=[{"kind": "command", "run": f"sh -c 'echo in-step-2 > {started}; cat {go} > /dev/null'"},
                       {"kind": "command", "run": f"{sys.executable} examples/hooks/deploy.py"}])
    command = [sys.executable, "-m", "harness", "rollback", *DAY, "--model", MODEL]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with open(started) as signal:  # blocks until the first run is inside step 2, holding the model's lock
        assert signal.read().strip() == "in-step-2"
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert second.stderr is not None
    assert "waiting for the lock" in second.stderr.readline()
    with open(go, "w"):  # let the first run finish its hook
        pass
    _first_out, _ = first.communicate(timeout=120)
    second_out, second_err = second.communicate(timeout=120)
    assert (first.returncode, second.returncode) == (0, 0), second_err
    assert "finished while this run waited" in second_out
    assert registry()["aliases"]["champion"] == "1.1.0"
    assert main(["log", "verify"]) == 0
    assert [e["kind"] for e in log_entries()].count("rollback") == 1
    assert len([e for e in log_entries() if e["kind"] == "rollback_step" and e["details"]["step"] == "trigger"]) == 1
    assert len(list(Path("audit/outbox").glob("*.json"))) == 3  # every stakeholder told once


def test_a_tampered_decision_log_is_detected(workdir, capsys):
    assert gate("1.0.0", "--promote") == 0
    assert gate("1.1.0", "--promote") == 0
    lines = Path("audit/decisions.jsonl").read_text().splitlines()
    entry = json.loads(lines[1])
    entry["verdict"] = "block"
    lines[1] = json.dumps(entry)
    Path("audit/decisions.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["log", "verify"]) == 4
    assert "decisions.jsonl:2" in capsys.readouterr().err


def test_command_line_overrides_hooks_health_check_and_notifier(workdir, tmp_path_factory):
    promote_two_then_serve_the_bad_one()
    outbox = tmp_path_factory.mktemp("outbox")
    marker = Path("audit/hook-ran")
    assert main(["rollback", *DAY, "--model", MODEL, "--hook", f"touch {marker}",
                 "--health-check", f"{sys.executable} -c pass", "--notifier", f"outbox:{outbox}"]) == 0
    assert marker.exists()
    assert len(list(outbox.glob("*.json"))) == 3
    assert main(["rollback", *DAY, "--model", MODEL, "--notifier", "pigeon:home", "--dry-run"]) == 4


def test_a_stale_rollback_does_not_move_an_alias_someone_moved_since(workdir, capsys):
    promote_two_then_serve_the_bad_one()
    assert main(["rollback", *DAY, "--model", MODEL, "--hook", "false"]) == 1
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.2.1", "--create",
                 "--reason", "new build"]) == 0
    assert main(["rollback", *DAY, "--model", MODEL]) == 1
    assert "someone moved it" in capsys.readouterr().err
    assert registry()["aliases"]["champion"] == "1.2.1"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--incident", "INC-2099-0001"], "unknown incident", id="unknown-incident"),
        pytest.param(["--incident", "../audit/x"], "expected an id like", id="incident-path"),
        pytest.param(["--notifier", "smtp:localhost:abc:me@example.com"], "port", id="bad-notifier"),
    ],
)
def test_bad_rollback_input_is_refused_before_anything_changes(workdir, capsys, args, expected):
    promote_two_then_serve_the_bad_one()
    assert main(["rollback", *DAY, "--model", MODEL, *args]) == 4
    assert expected in capsys.readouterr().err
    assert registry()["aliases"]["champion"] == "1.2.0"
    assert not Path(f"audit/rollbacks/{MODEL}.json").exists()


def test_gate_still_exits_3_when_the_rollback_it_runs_fails(workdir, capsys):
    promote_two_then_serve_the_bad_one()
    assert gate("1.2.0", "--on-rollback", "execute", "--hook", "false") == 3
    assert "rollback required, but" in capsys.readouterr().err


def test_a_resumed_rollback_does_not_notify_twice(workdir):
    promote_two_then_serve_the_bad_one()
    assert main(["rollback", *DAY, "--model", MODEL, "--health-check", "false"]) == 1
    assert main(["rollback", *DAY, "--model", MODEL, "--health-check", "true"]) == 0
    assert len(list(Path("audit/outbox").glob("*.json"))) == 3


def test_registry_alias_refuses_an_unknown_version_without_create(workdir, capsys):
    assert gate("1.1.0", "--promote") == 0
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.1.1", "--reason", "typo"]) == 4
    assert "1.1.1" in capsys.readouterr().err
    assert registry()["aliases"]["champion"] == "1.1.0"


def test_regating_a_version_replaces_its_verdict_tags(workdir):
    Path("examples/outputs/x.jsonl").write_text(Path("examples/outputs/acme-support-1.2.1.jsonl").read_text()
                                                .replace('"1.2.1"', '"1.1.0"'))
    assert main(["gate", "--outputs", "examples/outputs/x.jsonl", "--baseline",
                 "examples/outputs/acme-support-1.0.0.jsonl", "--model", MODEL, "--model-version", "1.1.0",
                 *DAY, "--promote"]) == 1
    assert registry()["versions"]["1.1.0"]["tags"]["blocked"] == "true"
    assert gate("1.1.0", "--promote") == 0
    tags = registry()["versions"]["1.1.0"]["tags"]
    assert tags["blocked"] == "false" and tags["harness.verdict"] == "promote"


def test_verify_stops_when_the_recorded_outputs_changed(workdir, capsys):
    promote_two_then_serve_the_bad_one()
    path = Path("examples/outputs/acme-support-1.1.0.jsonl")
    path.write_text(path.read_text() + "\n")
    assert main(["rollback", *DAY, "--model", MODEL]) == 1
    assert "changed since 1.1.0 was gated" in capsys.readouterr().err
    assert registry()["aliases"]["champion"] == "1.2.0"


def test_rollback_to_a_blocked_version_needs_force_and_a_reason(workdir, capsys):
    promote_two_then_serve_the_bad_one()
    assert gate("1.2.1", "--registry", "file://audit/registry.json") == 1  # 1.2.1 is now tagged blocked
    assert main(["rollback", *DAY, "--model", MODEL, "--to", "1.2.1"]) == 4
    assert "1.2.1 is tagged blocked" in capsys.readouterr().err
    assert main(["rollback", *DAY, "--model", MODEL, "--to", "1.2.1", "--force"]) == 4
    assert "--reason" in capsys.readouterr().err
    assert registry()["aliases"]["champion"] == "1.2.0"
    assert main(["rollback", *DAY, "--model", MODEL, "--to", "1.2.1", "--force",
                 "--reason", "1.2.0 leaks; 1.2.1 only"
                 " blocks on tone, approved by the governance lead"]) == 0
    assert registry()["aliases"]["champion"] == "1.2.1"
    [done] = [e for e in log_entries() if e["kind"] == "rollback"]
    assert done["details"]["override"].startswith("1.2.1 was tagged blocked; forced: 1.2.0 leaks")


def test_registry_alias_onto_a_blocked_version_needs_force(workdir, capsys):
    assert gate("1.1.0", "--promote") == 0
    assert gate("1.2.1", "--promote") == 1
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.2.1", "--reason", "try it"]) == 4
    assert "tagged blocked" in capsys.readouterr().err
    assert registry()["aliases"]["champion"] == "1.1.0"
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.2.1", "--reason", "try it", "--force"]) == 0
    assert registry()["aliases"]["champion"] == "1.2.1"
    assert log_entries()[-1]["details"]["forced"] is True


def test_a_dry_run_runs_the_verify_step_and_changes_nothing(workdir, capsys):
    promote_two_then_serve_the_bad_one()
    before = Path("audit/registry.json").read_text()
    assert main(["rollback", *DAY, "--model", MODEL, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "alias 'champion' 1.2.0 -> 1.1.0 (last-known-good)" in out
    assert "verify now (dry run): ok: 1.1.0 re-judged on" in out and "dry run: nothing was changed" in out
    path = Path("examples/outputs/acme-support-1.1.0.jsonl")
    path.write_text(path.read_text() + "\n")
    assert main(["rollback", *DAY, "--model", MODEL, "--dry-run"]) == 1
    captured = capsys.readouterr()
    assert "verify now (dry run): FAILS: the recorded outputs" in captured.out
    assert "would stop at step 1 (verify)" in captured.err
    assert Path("audit/registry.json").read_text() == before
    assert not Path(f"audit/rollbacks/{MODEL}.json").exists()


def test_a_resumed_rollback_says_from_which_step(workdir, capsys):
    promote_two_then_serve_the_bad_one()
    assert main(["rollback", *DAY, "--model", MODEL, "--health-check", "false"]) == 1
    capsys.readouterr()
    assert main(["rollback", *DAY, "--model", MODEL, "--dry-run"]) == 0
    assert "resumes unfinished rollback" in capsys.readouterr().out
    assert main(["rollback", *DAY, "--model", MODEL, "--health-check", "true"]) == 0
    out = capsys.readouterr().out
    assert "from step 4 (validate)" in out and out.startswith("resumed rollback ")


def test_no_last_known_good_says_which_versions_were_considered_and_why(workdir, capsys):
    assert gate("1.2.1", "--promote") == 1
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.0.0", "--create", "--reason", "seed"]) == 0
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.2.0", "--create", "--reason", "hotfix"]) == 0
    assert main(["rollback", *DAY, "--model", MODEL]) == 4
    err = capsys.readouterr().err
    assert "no last-known-good version" in err
    assert "1.2.0: it is the version serving now" in err
    assert "1.0.0: never judged by a gate (moved there by hand)" in err


def test_rollback_refuses_the_serving_version_and_force_without_to(workdir, capsys):
    promote_two_then_serve_the_bad_one()
    assert main(["rollback", *DAY, "--model", MODEL, "--to", "1.2.0", "--reason", "oops"]) == 4
    assert "1.2.0 is the version 'champion' serves now" in capsys.readouterr().err
    assert main(["rollback", *DAY, "--model", MODEL, "--force", "--reason", "why"]) == 4
    assert "--force applies to --to VERSION only" in capsys.readouterr().err
    assert registry()["aliases"]["champion"] == "1.2.0"
    assert "harness.rolled_back_at" not in registry()["versions"]["1.2.0"]["tags"]


def test_a_verdict_is_never_recorded_for_another_version_than_the_outputs_are_of(workdir, capsys):
    assert gate("1.1.0", "--promote") == 0
    assert main(["gate", "--outputs", "examples/outputs/acme-support-1.1.0.jsonl", "--baseline",
                 "examples/outputs/acme-support-1.0.0.jsonl", "--model", MODEL, "--model-version", "1.2.1",
                 *DAY, "--promote"]) == 4
    err = capsys.readouterr().err
    assert "the outputs are of version 1.1.0 of acme-support-assistant, not '1.2.1'" in err
    assert "the verdict PROMOTE above stands, but recording it failed (exit 4)" in err
    assert "1.2.1" not in registry()["versions"] and registry()["aliases"]["champion"] == "1.1.0"
