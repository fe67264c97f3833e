"""The library API called directly: typed results, the kept report, the one clock, environment errors."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from harness import api
from harness.clock import FixedClock
from harness.errors import EnvError, ExitCode, InputError
from harness.model import ReleaseSettings, Verdict
from harness.project import read_playbook
from harness.release.decision_log import read_log
from harness.release.registry import RegistryError, UnknownVersion, open_registry
from harness.report import Report, load_report

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "examples" / "outputs"
BASELINE = OUT / "acme-support-1.0.0.jsonl"
MODEL = "acme-support-assistant"
REPO = {"policies": ROOT / "policies", "evals": ROOT / "evals"}


TODAY = dt.date(2026, 11, 27)  # the shipped latency waiver applies until 2027-03-31


def gate(version: str, **extra):
    return api.run_gate(OUT / f"acme-support-{version}.jsonl", baseline=BASELINE, today=TODAY, backdate=True,
                        **REPO, **extra)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ReleaseSettings:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    return api.release_settings(read_playbook(ROOT / "policies"), registry=f"file://{tmp_path}/registry.json",
                                decision_log=tmp_path / "decisions.jsonl", reports_dir=tmp_path / "reports",
                                state_dir=tmp_path / "rollbacks")


@pytest.mark.parametrize(("version", "verdict", "code"), [
    pytest.param("1.1.0", Verdict.PROMOTE, ExitCode.PROMOTE, id="promote"),
    pytest.param("1.2.0", Verdict.ROLLBACK, ExitCode.ROLLBACK, id="rollback"),
    pytest.param("1.2.1", Verdict.BLOCK, ExitCode.BLOCK, id="block"),
])
def test_run_gate_returns_a_typed_result(version, verdict, code):
    result = gate(version)
    assert result.verdict is verdict and result.exit_code is code
    assert isinstance(result.report, Report)
    assert result.report.verdict is verdict and result.report.run.model_version == version
    assert result.decision.reasons == result.report.reasons
    assert {o.policy.id for o in result.evaluation.outcomes} == {p.id for p in result.report.policies}


def test_run_scan_exits_zero_unless_asked_to_fail_on_findings():
    logs = ROOT / "examples" / "production" / "support-2026-11-20.jsonl"
    assert api.run_scan(logs, today=TODAY, backdate=True, **REPO).exit_code == ExitCode.PROMOTE
    strict = api.run_scan(logs, fail_on_findings=True, today=TODAY, backdate=True, **REPO)
    assert strict.exit_code == ExitCode.BLOCK and strict.kind == "scan"


def test_validate_the_shipped_repository_runs_its_examples():
    result = api.validate(today=TODAY, backdate=True, **REPO)
    assert result.ok and result.exit_code == ExitCode.PROMOTE
    assert result.examples == sum(len(p.examples) for p in result.project.policies) > 30


def test_a_recorded_gate_keeps_the_report_whose_sha256_it_records(settings):
    result = gate("1.1.0")
    recorded = api.record_release(result, settings=settings, model=MODEL, version="1.1.0", promote=True)
    assert recorded.promoted
    kept = recorded.report.path
    assert kept == settings.reports_dir / f"{recorded.report.sha256}.json"
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == recorded.report.sha256
    tags = open_registry(settings.registry).get_version(MODEL, "1.1.0").tags
    assert tags["harness.report_sha256"] == recorded.report.sha256
    [entry] = [e for e in read_log(settings.decision_log) if e["kind"] == "gate"]
    assert entry["report_sha256"] == recorded.report.sha256
    assert load_report(settings.reports_dir, recorded.report.sha256) == result.report


def test_a_stored_report_that_was_changed_is_refused(settings):
    recorded = api.record_release(gate("1.1.0"), settings=settings, model=MODEL, version="1.1.0")
    recorded.report.path.write_text(recorded.report.path.read_text().replace("promote", "blocks", 1))
    with pytest.raises(EnvError, match="does not match its sha256"):
        load_report(settings.reports_dir, recorded.report.sha256)


def test_every_timestamp_comes_from_the_injected_clock(settings):
    clock = FixedClock("2031-05-06T07:08:09.123Z")
    result = api.run_gate(OUT / "acme-support-1.1.0.jsonl", baseline=BASELINE, clock=clock, today=TODAY,
                          backdate=True, **REPO)
    assert result.report.run.started_at == result.report.run.finished_at == "2031-05-06T07:08:09.123Z"
    assert result.report.run.judged_on == "2026-11-27"
    api.record_release(result, settings=settings, model=MODEL, version="1.1.0", promote=True, clock=clock)
    registry = open_registry(settings.registry)
    version = registry.get_version(MODEL, "1.1.0")
    assert version.created_at == version.tags["harness.gated_at"] == "2031-05-06T07:08:09.123Z"
    assert [m.at for m in registry.alias_history(MODEL, "champion")] == ["2031-05-06T07:08:09.123Z"]
    assert {e["time"] for e in read_log(settings.decision_log)} == {"2031-05-06T07:08:09.123Z"}


def test_the_clock_decides_which_waivers_still_apply():
    before = api.run_gate(OUT / "acme-support-1.1.0.jsonl", baseline=BASELINE, clock=FixedClock("2027-03-31T23:59:59Z"),
                          **REPO)
    after = api.run_gate(OUT / "acme-support-1.1.0.jsonl", baseline=BASELINE, clock=FixedClock("2027-04-01T00:00:00Z"),
                         **REPO)
    assert before.verdict is Verdict.PROMOTE and before.report.run.judged_on == "2027-03-31"
    assert after.verdict is Verdict.BLOCK  # the latency waiver expired on 2027-03-31
    assert any("expired on 2027-03-31" in w for w in after.report.warnings)


def test_a_corrupt_registry_is_an_environment_error_found_before_judging(settings):
    Path(settings.registry.removeprefix("file://")).write_text("{not json")
    with pytest.raises(RegistryError, match="corrupted registry file") as info:
        api.connect(settings, model=MODEL, version="1.1.0")
    assert info.value.exit_code == ExitCode.ENVIRONMENT


def test_record_release_needs_a_model_and_version(settings, tmp_path):
    outputs = tmp_path / "o.jsonl"
    outputs.write_text('{"case_id": "x", "output": "fine"}\n')
    result = api.run_gate(outputs, **REPO, allow_unmatched=True)
    with pytest.raises(InputError, match="needs the model and its version"):
        api.record_release(result, settings=settings)


def test_move_alias_refuses_a_blocked_version_unless_forced(settings):
    api.record_release(gate("1.1.0"), settings=settings, model=MODEL, version="1.1.0", promote=True)
    api.record_release(gate("1.2.1"), settings=settings, model=MODEL, version="1.2.1", promote=True)
    with pytest.raises(InputError, match="tagged blocked"):
        api.move_alias(MODEL, "1.2.1", reason="hotfix", settings=settings)
    assert open_registry(settings.registry).get_alias(MODEL, "champion") == "1.1.0"
    moved = api.move_alias(MODEL, "1.2.1", reason="vendor outage, approved by the governance lead",
                           settings=settings, force=True)
    assert moved.forced and moved.move.to_version == "1.2.1"
    assert "forced over blocked" in moved.move.reason
    [entry] = [e for e in read_log(settings.decision_log) if e["kind"] == "manual_alias"]
    assert entry["details"]["forced"] is True


def test_an_unknown_version_is_refused_by_a_registry_that_does_not_create_versions(settings):
    registry = open_registry(settings.registry)
    registry.register(MODEL, "1.0.0")
    object.__setattr__(registry, "creates_versions", False)  # as MLflow's backend is
    with pytest.raises(UnknownVersion, match="--create-version"):
        api.record_release(gate("1.1.0"), settings=settings, registry=registry, model=MODEL, version="1.1.0")
    assert [v.version for v in registry.versions(MODEL)] == ["1.0.0"]
    api.record_release(gate("1.1.0"), settings=settings, registry=registry, model=MODEL, version="1.1.0",
                       create_version=True)
    assert [v.version for v in registry.versions(MODEL)] == ["1.0.0", "1.1.0"]


def test_the_gate_and_rollback_through_the_api(settings, tmp_path):
    for name in ("policies", "evals", "incidents", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    repo = {"policies": tmp_path / "policies", "evals": tmp_path / "evals"}
    outputs = tmp_path / "examples" / "outputs"

    def judged(version: str):
        return api.run_gate(outputs / f"acme-support-{version}.jsonl", baseline=outputs / "acme-support-1.0.0.jsonl",
                            today=TODAY, backdate=True, **repo)

    for version in ("1.0.0", "1.1.0"):
        api.record_release(judged(version), settings=settings, model=MODEL, version=version, promote=True)
    api.move_alias(MODEL, "1.2.0", reason="hotfix outside the gate", settings=settings, create=True)
    bad = judged("1.2.0")
    recorded = api.record_release(bad, settings=settings, model=MODEL, version="1.2.0")
    assert recorded.rollback_needed
    response = api.respond_to_rollback(bad, recorded, settings=settings, execute=False,
                                       incidents_dir=tmp_path / "incidents", today=TODAY)
    assert response is not None and response.plan is not None
    assert (response.plan.state.from_version, response.plan.state.to_version) == ("1.2.0", "1.1.0")
    assert response.plan.verify_ok, response.plan.verify_detail
    context = api.rollback_context(bad.project, settings, incidents_dir=tmp_path / "incidents", today=TODAY,
                                   backdate=True)
    outcome = api.run_rollback(context, MODEL, reason="PII in answers")
    assert outcome.state.status == "done" and not outcome.already_done
    assert open_registry(settings.registry).get_alias(MODEL, "champion") == "1.1.0"
    assert api.verify_decision_log(settings.decision_log) == len(read_log(settings.decision_log))
    assert json.loads(next((tmp_path / "audit" / "outbox").glob("*.json")).read_text())["audience"] in {
        "product", "risk", "compliance"}
