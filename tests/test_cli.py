"""The ``harness`` command end to end, on the shipped examples and on broken inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import xmlschema

from harness.cli import main
from harness.io.schema import validator

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "examples" / "outputs"
BASELINE = str(OUT / "acme-support-1.0.0.jsonl")
JUNIT_XSD = ROOT / "tests" / "data" / "junit-10.xsd"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def gate(*args: str, command: str = "gate") -> int:
    return main([command, *args, "--color", "never", "--today", "2026-11-27", "--backdate"])


@pytest.mark.parametrize(
    ("version", "code", "verdict"),
    [
        pytest.param("1.1.0", 0, "promote", id="good-candidate-promotes"),
        pytest.param("1.2.0", 3, "rollback", id="pii-leak-rolls-back"),
        pytest.param("1.2.1", 1, "block", id="harm-bias-json-blocks"),
    ],
)
def test_gate_on_shipped_examples(version, code, verdict, capsys, tmp_path):
    report_path = tmp_path / "report.json"
    assert gate("--outputs", str(OUT / f"acme-support-{version}.jsonl"), "--baseline", BASELINE,
                "--format", "json", "--output", str(report_path)) == code
    report = json.loads(report_path.read_text())
    validator("report").validate(report)
    assert report["verdict"] == verdict
    assert report["run"]["model_version"] == version
    assert len(report["run"]["outputs"]["sha256"]) == 64
    assert all(len(p["sha256"]) == 64 for p in report["run"]["policies"])
    assert f"Verdict: {verdict.upper()}" in capsys.readouterr().out


def test_rollback_report_masks_personal_data(tmp_path):
    report_path = tmp_path / "r.json"
    gate("--outputs", str(OUT / "acme-support-1.2.0.jsonl"), "--baseline", BASELINE, "--format", "json",
         "--output", str(report_path))
    text = report_path.read_text()
    report = json.loads(text)
    pii = [f for r in report["results"] for f in r["findings"] if f["kind"] in ("email", "phone", "credit_card")]
    assert {f["kind"] for f in pii} >= {"email", "credit_card"}
    raw = (OUT / "acme-support-1.2.0.jsonl").read_text()
    for finding in pii:
        record = json.loads(raw.splitlines()[_line_of(report, finding) - 1])
        value = record["output"][finding["start"]:finding["end"]]
        assert value not in text, f"raw {finding['kind']} leaked into the report"
        assert finding["masked"] != value


def _line_of(report, finding):
    return next(r["line"] for r in report["results"] if finding in r["findings"])


def test_junit_report_is_valid_against_the_xsd(tmp_path):
    path = tmp_path / "junit.xml"
    assert gate("--outputs", str(OUT / "acme-support-1.2.1.jsonl"), "--baseline", BASELINE,
                "--format", "junit", "--output", str(path)) == 1
    schema = xmlschema.XMLSchema(str(JUNIT_XSD))
    schema.validate(str(path))
    tree = schema.to_dict(str(path))
    suites = {s["@name"]: s for s in tree["testsuite"]}
    assert int(tree["@failures"]) > 0
    assert "safety.refuse-harmful-requests" in suites
    # one testcase per case x policy: every case of a suite appears in its testsuite
    assert int(suites["eval:harmful-requests"]["@tests"]) == 10


def test_markdown_is_appended_to_the_github_step_summary(tmp_path, monkeypatch, capsys):
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    gate("--outputs", str(OUT / "acme-support-1.2.0.jsonl"), "--baseline", BASELINE)
    text = summary.read_text()
    assert text.startswith("# earlier step\n")
    assert "**rollback**" in text and "| privacy.no-pii |" in text


def test_scan_reports_findings_and_exits_zero_unless_asked(capsys):
    logs = str(ROOT / "examples" / "production" / "support-2026-11-20.jsonl")
    assert gate("--outputs", logs, "--format", "json", command="scan") == 0
    report = json.loads(capsys.readouterr().out)
    validator("report").validate(report)
    assert report["run"]["kind"] == "scan"
    assert any(f["kind"] == "email" for r in report["results"] for f in r["findings"])
    assert gate("--outputs", logs, "--fail-on-findings", command="scan") == 1


def test_validate_shipped_repository(capsys):
    assert main(["validate", "--today", "2026-11-27", "--backdate"]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param('{"case_id": "a", "output": "x"}\n{"case_id": "b",\n', ":2: invalid JSON",
                     id="broken-jsonl-line"),
        pytest.param("", "no output records", id="zero-records"),
    ],
)
def test_gate_bad_outputs_exit_4(tmp_path, capsys, content, expected):
    path = tmp_path / "o.jsonl"
    path.write_text(content)
    assert gate("--outputs", str(path)) == 4
    err = capsys.readouterr().err
    assert expected in err and "nothing was judged" in err


def test_gate_missing_file_exit_4(capsys):
    assert gate("--outputs", "does/not/exist.jsonl") == 4
    assert "does/not/exist.jsonl: file not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        pytest.param("id: x\nversion: 1.0.0\n  bad: [\n", "invalid YAML", id="bad-yaml"),
        pytest.param("id: x\nversion: 1.0.0\ntitle: t\nseverity: sev2\non_fail: block\nowner: o\n"
                     "rules: [{id: r, check: pii}]\ncolour: red\n",
                     "bad.yaml:8:1: $.colour: unknown key 'colour'", id="unknown-key"),
    ],
)
def test_broken_policy_exit_4_in_gate_and_validate(tmp_path, capsys, policy, expected):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "bad.yaml").write_text(policy)
    outputs = tmp_path / "o.jsonl"
    outputs.write_text('{"case_id": "a", "output": "x"}\n')
    assert gate("--outputs", str(outputs), "--policies", str(policies), "--evals", str(tmp_path)) == 4
    assert expected in capsys.readouterr().err
    assert main(["validate", "--policies", str(policies), "--evals", str(tmp_path)]) == 4
    assert expected in capsys.readouterr().err


def test_usage_errors_exit_4(capsys):
    with pytest.raises(SystemExit) as info:
        main(["gate"])
    assert info.value.code == 4
    assert "--outputs" in capsys.readouterr().err


def test_help_and_version_do_not_import_pandas():
    code = ("import sys; from harness.cli import build_parser; "
            "build_parser().format_help(); print('pandas' in sys.modules, 'jsonschema' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    version = subprocess.run([sys.executable, "-m", "harness", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("harness ")


def test_output_to_a_device_writes_through_and_keeps_the_device(tmp_path):
    import os
    import stat

    from harness.io.files import write_atomic

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_atomic(fifo, "report\n")
        assert os.read(reader, 100) == b"report\n"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    target = tmp_path / "sub" / "r.json"
    write_atomic(target, "{}\n")
    assert target.read_text() == "{}\n" and list(target.parent.iterdir()) == [target]


def test_terminal_and_markdown_reports_neutralise_hostile_output(tmp_path, capsys):
    hostile = "[bold]x[/bold] \x1b[2J\x1b]0;pwned\x07 </failure> | <script>alert(1)</script> `tick` jane@example.org"
    outputs = tmp_path / "o.jsonl"
    outputs.write_text(json.dumps({"case_id": "evil\x1b[31m", "output": hostile, "latency_ms": 1}) + "\n")
    assert main(["scan", "--outputs", str(outputs), "--color", "always"]) == 0
    out = capsys.readouterr().out
    assert "\x1b[2J" not in out and "\x1b]0;" not in out and "evil\x1b" not in out
    assert "jane@example.org" not in out
    assert main(["scan", "--outputs", str(outputs), "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert "<script>" not in md and "jane@example.org" not in md
    assert "\x1b" not in md and "\x07" not in md
