"""The README's morning-after story runs as written: every command, its exit code, and what it leaves behind."""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from harness.api import incidents as api
from harness.cli import main
from harness.clock import FixedClock

ROOT = Path(__file__).resolve().parents[1]
START = "2026-12-03T13:00:00Z"
INCIDENT = "INC-2026-0008"  # the next free id of 2026 after the shipped ones
#: the exit code of each command the story shows that does not exit 0
EXPECTED = {"--open-incident": 3}
HEREDOC = re.compile(r"^cat (>>?) (\S+) <<'EOF'$")


def story() -> list[tuple[str, object]]:
    """The story's steps: ("env", (name, value)), ("write", (mode, path, text)) or ("run", argv)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    [block] = re.findall(r"<!-- incident-story:start -->\n```sh\n(.*?)```\n<!-- incident-story:end -->", text,
                         flags=re.S)
    steps: list[tuple[str, object]] = []
    lines = iter(block.splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        heredoc = HEREDOC.match(line)
        if heredoc:
            body = []
            for inner in lines:
                if inner == "EOF":
                    break
                body.append(inner)
            else:
                raise AssertionError(f"unterminated heredoc: {line}")
            steps.append(("write", (heredoc.group(1), heredoc.group(2), "\n".join(body) + "\n")))
            continue
        words = shlex.split(line, comments=True)
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            steps.append(("env", (name, value)))
            continue
        assert words[0] == "harness", f"the story runs only harness commands: {line}"
        steps.append(("run", words[1:]))
    return steps


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("policies", "evals", "incidents", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path


def test_the_readme_story_runs_from_gate_to_close(scratch: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    clock = FixedClock(START)
    ran = []
    for kind, step in story():
        if kind == "env":
            monkeypatch.setenv(*step)  # type: ignore[misc]
        elif kind == "write":
            mode, path, body = step  # type: ignore[misc]
            with open(path, "a" if mode == ">>" else "w", encoding="utf-8") as handle:
                handle.write(body)
        else:
            argv = list(step)  # type: ignore[call-overload]
            expected = next((code for flag, code in EXPECTED.items() if flag in argv), 0)
            code = main(argv, clock=clock)
            output = capsys.readouterr()
            assert code == expected, f"harness {shlex.join(argv)}: exit {code}, expected {expected}\n{output.err}"
            ran.append((argv, output.out + output.err))
            clock.advance(dt.timedelta(minutes=5))
    assert len(ran) >= 20

    opened = next(out for argv, out in ran if "--open-incident" in argv)
    assert f"opened {INCIDENT} (sev1)" in opened  # the README's id is the one the gate opens
    desk = api.desk("incidents", policies="policies", evals="evals", clock=clock)
    incident = desk.store.load(INCIDENT)
    assert incident.state.label == "closed"
    [rollback] = incident.of_type("rollback")  # the gate's rollback, recorded in the incident it opened
    assert (rollback.get("from"), rollback.get("to"), rollback.get("outcome")) == ("1.2.0", "1.1.0", "done")
    assert incident.contained_at == rollback.at
    [gdpr] = incident.sent("regulators", "gdpr-art33")
    assert gdpr.get("subject") == f"Personal data breach notification (GDPR Art. 33): {INCIDENT}"
    assert gdpr.at - incident.became_aware <= dt.timedelta(hours=72)
    assert {e.get("role") for e in incident.of_type("signed_off")} == {"governance_lead"}
    assert incident.of_type("signed_off")[0].by == "governance-lead@example.com"
    assert {e.by for e in incident.of_type("contained")} == {"ai-oncall@example.com"}  # $GITHUB_ACTOR
    assert [f.status for f in incident.follow_ups.values()] == ["done", "done"]
    assert "training materials" in incident.follow_ups["FU-2"].text  # added by the review, from the playbook
    assert api.view(desk, incident).referenced_by == ("eval:inc-2026-0008-hotfix-pii",)

    record = (scratch / "incidents" / f"{INCIDENT}.yaml").read_text(encoding="utf-8")
    assert record.endswith("  measures: Rolled back to 1.1.0 within the hour; transcripts purged; customers"
                           " informed.\n")  # what the on-call appended is kept as written
    vault = scratch / "incidents" / "evidence" / INCIDENT
    stored = {e.get("sha256") for e in incident.of_type("evidence")}
    assert {p.name for p in vault.iterdir()} == stored and len(stored) == 3
    # each channel of the playbook: escalation through release.notifier, internal by ticket and e-mail, the
    # regulator by official notice
    folders = ("outbox", "tickets", "official-notices", "statements")
    where = {(json.loads(p.read_text())["audience"], folder)
             for folder in folders for p in (scratch / "audit" / folder).glob("*.json")}
    assert {("escalation", "outbox"), ("internal", "tickets"), ("internal", "outbox"),
            ("regulators", "official-notices")} <= where
    assert (scratch / "evals" / "privacy" / "inc-2026-0008-hotfix-pii.yaml").is_file()

    show = next(out for argv, out in reversed(ran) if argv[:2] == ["incident", "show"])
    assert f"{INCIDENT}  sev1  closed" in show and "next due: nothing" in show
    clocks = next(out for argv, out in ran if argv[:2] == ["incident", "clocks"])
    assert "INC-2026-0007  review" in clocks and INCIDENT not in clocks  # only open incidents' clocks
    verify = next(out for argv, out in ran if argv[:2] == ["incident", "verify"])
    assert "3 evidence file(s), each intact" in verify
    metrics = next(out for argv, out in ran if argv[:1] == ["metrics"])
    assert "repeats: INC-2026-0007 repeats INC-2026-0005" in metrics
    assert "8 incident(s)" in metrics


def test_the_story_refuses_a_step_out_of_order(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What the README says of refusals: closing before the review names the missing step, and records nothing."""
    clock = FixedClock(START)
    assert main(["incident", "open", "--title", "PII in answers", "--severity", "sev1", "--model",
                 "acme-support-assistant", "--model-version", "1.2.0", "--by", "ai-oncall@example.com"],
                clock=clock) == 0
    events = (scratch / "incidents" / f"{INCIDENT}.events.jsonl").read_bytes()
    capsys.readouterr()
    assert main(["incident", "close", INCIDENT, "--by", "governance-lead@example.com"], clock=clock) == 4
    err = capsys.readouterr().err
    assert "the missing step is containment" in err
    assert (scratch / "incidents" / f"{INCIDENT}.events.jsonl").read_bytes() == events
