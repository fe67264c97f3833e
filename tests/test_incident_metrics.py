"""Incident metrics on a fixture set whose expected figures were worked out by hand (see each test).

The fixture (model ``bot`` unless noted; times UTC; now = 2026-06-30 12:00):

=====  ====  ================  =========  =====  ===================================================
id     sev   detected          contained  RCA    other
=====  ====  ================  =========  =====  ===================================================
0001   sev1  01-10 10:00       +30m       +20h   data, privacy.no-pii; resolved 01-12 10:00; reviewed
                                                 01-13 10:00; closed; FU-1 done
0002   sev1  02-01 00:00       +1h        +30h   model, quality.tone; resolved 02-09; reviewed 02-10;
                                                 closed; FU-1 done, FU-2 dropped
0003   sev1  04-12 10:00       +2h        +10h   data, privacy.no-pii (record): detected exactly 90 days
                                                 after 0001 was resolved, so a repeat of it; FU-1 open due
                                                 06-01 (overdue), FU-2 open due 07-15
0004   sev1  04-12 10:01       +45m       +2h    data, privacy.no-pii: 90 days and a minute after, not a
                                                 repeat; FU-1 done
0005   sev2  05-01 00:00       +3h        +12h   model, variant_of 0002 (explicit repeat); resolved 05-04,
                                                 reviewed 05-05, no policy or suite references it
0006   sev1  06-30 10:00       (open, 2 h later: past its 1 h)
=====  ====  ================  =========  =====  ===================================================
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.clock import FixedClock, parse_timestamp
from harness.errors import InputError
from harness.incidents import Incident, IncidentStore
from harness.incidents.metrics import compute_metrics, find_repeat
from harness.incidents.metrics_render import render_metrics
from harness.project import read_playbook
from harness.project.signoff import sign

NOW = "2026-06-30T12:00:00Z"
PLAYBOOK = """\
severities:
  sev1: {meaning: critical, sla: {contain: 1h, rca: 24h}}
  sev2: {meaning: major, sla: {rca: 24h}}
  sev3: {meaning: minor, sla: {fix: 72h}}
roles:
  governance_lead: gl@example.com
metrics:
  time_to_contain_sev1: 1h
  rca_completion: 24h
  repeat_incident_rate: 0.05
  policy_update_lag: 7d
  follow_up_completion: 0.9
  rca_within_sla: 0.75
"""
BY = "oncall@example.com"


def at(text: str) -> dt.datetime:
    return parse_timestamp(text)


def minutes(n: float) -> dt.timedelta:
    return dt.timedelta(minutes=n)


class Walk:
    """Append one incident's events in order, each at an explicit time."""

    def __init__(self, store: IncidentStore, incident: str) -> None:
        self.store, self.incident = store, incident

    def __call__(self, kind: str, when: dt.datetime, **fields: Any) -> Walk:
        with self.store.transaction(self.incident) as tx:
            tx.append(tx.event(kind, by=BY, at=when, **fields))
        return self

    def contain(self, when: dt.datetime) -> Walk:
        return self("contained", when, action="disable-endpoint", outcome="done", contains=True)

    def rca(self, when: dt.datetime, cause: str, **fields: Any) -> Walk:
        return self("rca", when, trigger="a release", root_cause_type=cause, corrective_action="roll back",
                    preventive_action="add an eval", owner="ml@example.com", deadline="2026-12-31", **fields)

    def follow_up(self, when: dt.datetime, ident: str, action: str, **fields: Any) -> Walk:
        if action == "added":
            fields = {"text": f"do {ident}", "owner": "ml@example.com", "due": "2026-12-31", **fields}
        return self("follow_up", when, id=ident, action=action, **fields)

    def review(self, when: dt.datetime, **fields: Any) -> Walk:
        return self("review", when, participants=["gl@example.com"], lessons=["test it"], **fields)


def create(store: IncidentStore, detected: str, severity: str = "sev1", model: str = "bot",
           failing: tuple[str, ...] = (), title: str = "an incident") -> tuple[Walk, dt.datetime]:
    data: dict[str, Any] = {"title": title, "severity": severity, "detected": detected, "model": model,
                            "model_version": "1.0"}
    if failing:
        data["failing_policies"] = list(failing)
    incident = store.create(data)
    return Walk(store, incident.id), at(detected)


def build_fixture(root: Path, *, title: str = "an incident") -> IncidentStore:
    """The six incidents of the module docstring, in ``root/incidents``."""
    store = IncidentStore(root / "incidents", clock=FixedClock(NOW))
    w, t = create(store, "2026-01-10T10:00:00Z", title=title)  # 0001
    (w.contain(t + minutes(30)).rca(t + dt.timedelta(hours=20), "data", failing_policy="privacy.no-pii")
     .follow_up(t + dt.timedelta(hours=21), "FU-1", "added").follow_up(t + dt.timedelta(hours=22), "FU-1", "done")
     ("resolved", at("2026-01-12T10:00:00Z"))
     .review(at("2026-01-13T10:00:00Z"), policies=["privacy.no-pii"], evals=["review-named-suite"])
     ("signed_off", at("2026-01-13T11:00:00Z"), role="governance_lead")("closed", at("2026-01-14T10:00:00Z")))

    w, t = create(store, "2026-02-01T00:00:00Z")  # 0002
    (w.contain(t + minutes(60)).rca(t + dt.timedelta(hours=30), "model", failing_policy="quality.tone")
     .follow_up(t + dt.timedelta(hours=31), "FU-1", "added").follow_up(t + dt.timedelta(hours=31), "FU-2", "added")
     .follow_up(t + dt.timedelta(hours=32), "FU-1", "done")
     .follow_up(t + dt.timedelta(hours=33), "FU-2", "dropped", reason="covered by FU-1")
     ("resolved", at("2026-02-09T00:00:00Z")).review(at("2026-02-10T00:00:00Z"))
     ("closed", at("2026-02-11T00:00:00Z")))

    w, t = create(store, "2026-04-12T10:00:00Z", failing=("privacy.no-pii",))  # 0003
    (w.contain(t + minutes(120)).rca(t + dt.timedelta(hours=10), "data")
     .follow_up(t + dt.timedelta(hours=11), "FU-1", "added", due="2026-06-01")
     .follow_up(t + dt.timedelta(hours=11), "FU-2", "added", due="2026-07-15"))

    w, t = create(store, "2026-04-12T10:01:00Z", failing=("privacy.no-pii",))  # 0004
    (w.contain(t + minutes(45)).rca(t + dt.timedelta(hours=2), "data")
     .follow_up(t + dt.timedelta(hours=3), "FU-1", "added").follow_up(t + dt.timedelta(hours=4), "FU-1", "done"))

    w, t = create(store, "2026-05-01T00:00:00Z", severity="sev2")  # 0005
    (w.contain(t + minutes(180)).rca(t + dt.timedelta(hours=12), "model", variant_of="INC-2026-0002")
     ("resolved", at("2026-05-04T00:00:00Z")).review(at("2026-05-05T00:00:00Z")))

    create(store, "2026-06-30T10:00:00Z")  # 0006: open, uncontained
    return store


def git(repo: Path, *args: str, when: str | None = None) -> None:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "HOME": str(repo),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    if when:
        env |= {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def build_repository(root: Path, *, with_git: bool = True) -> None:
    """The policy repository: a policy that took 0001's lesson 3 days after its review, a suite that took
    0002's 10 days after; the policy existed before the review (that commit must not count)."""
    write(root / "policies" / "playbook.yaml", PLAYBOOK)
    policy = root / "policies" / "privacy.yaml"
    suite = root / "evals" / "tone.yaml"
    write(policy, "id: privacy.no-pii\nversion: 1.0.0\n")
    if with_git:
        git(root, "init", "-q")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "policy, before the review", when="2026-01-05T09:00:00+00:00")
    write(policy, "id: privacy.no-pii\nversion: 1.0.1\n")  # after the review, but not the lesson yet
    if with_git:
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "typo", when="2026-01-14T09:00:00+00:00")
    write(policy, "id: privacy.no-pii\nversion: 1.1.0\nlessons_from: [INC-2026-0001]\n")
    if with_git:
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "lesson of 0001", when="2026-01-16T10:00:00+00:00")
    write(suite, "suite: tone\nfrom_incident: INC-2026-0002\ncases: []\n")
    if with_git:
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "lesson of 0002", when="2026-02-20T00:00:00+00:00")


def metrics_of(root: Path, store: IncidentStore, *, since: dt.date | None = None) -> Any:
    incidents, problems = store.load_all()
    assert problems == []
    return compute_metrics(incidents, read_playbook(root / "policies"), policies_dir=root / "policies",
                           evals_dir=root / "evals", repo_dir=root, since=since, clock=FixedClock(NOW))


@pytest.fixture
def fixture(tmp_path: Path) -> tuple[Path, IncidentStore]:
    build_repository(tmp_path)
    return tmp_path, build_fixture(tmp_path)


def test_time_to_contain_median_p90_and_breaches(fixture: tuple[Path, IncidentStore]) -> None:
    metrics = metrics_of(*fixture)
    overall, sev1, sev2 = metrics.time_to_contain

    # all contained: 30, 45, 60, 120, 180 min; median 60; p90 at position 3.6: 120 + 0.6 * 60 = 156 min
    assert (overall.scope, overall.count, overall.median, overall.p90) == ("all", 5, minutes(60), minutes(156))
    # sev1: 30, 45, 60, 120; median 52.5 min; p90 at position 2.7: 60 + 0.7 * 60 = 102 min
    assert (sev1.scope, sev1.count, sev1.median, sev1.p90) == ("sev1", 4, minutes(52.5), minutes(102))
    # 0002 took exactly 1 h (within); 0003 took 2 h; 0006 is uncontained 2 h after detection
    assert (sev1.target, sev1.judged, sev1.within, sev1.breaches, sev1.overdue) == (minutes(60), 5, 3, 2, 1)
    assert sev1.breached
    # sev2 has no containment target: its 3 h is reported, not judged
    assert (sev2.scope, sev2.count, sev2.median, sev2.target, sev2.judged, sev2.breached) == \
        ("sev2", 1, minutes(180), None, 0, False)
    assert metrics.rows.set_index("id").loc["INC-2026-0006", "contain_within"] is False


def test_rca_completion_within_sla_share(fixture: tuple[Path, IncidentStore]) -> None:
    metrics = metrics_of(*fixture)
    overall = metrics.rca_completion[0]
    hours = dt.timedelta(hours=1)

    # 2, 10, 12, 20, 30 h; median 12 h; p90 at position 3.6: 20 + 0.6 * 10 = 26 h
    assert (overall.count, overall.median, overall.p90) == (5, 12 * hours, 26 * hours)
    # 0002 took 30 h against 24 h: 4 of 5 within, 80 % against the playbook's 75 %: the figure holds,
    # but the success indicator wants every RCA within its SLA
    assert (overall.judged, overall.within, overall.within_share, overall.share_target) == (5, 4, 0.8, 0.75)
    assert not overall.breached
    assert metrics.indicators.rcas_within_sla is False
    # 0006 has no RCA after 2 h of its 24: not yet judged
    assert metrics.rows.set_index("id").loc["INC-2026-0006", "rca_within"] is None


def test_repeat_rate_counts_the_90_day_boundary_and_variant_of(fixture: tuple[Path, IncidentStore]) -> None:
    metrics = metrics_of(*fixture)

    # 0003 detected exactly 90 days after 0001 was resolved: a repeat; 0004 a minute later: not;
    # 0005 names 0002 as variant_of
    assert metrics.repeats == {"INC-2026-0003": "INC-2026-0001", "INC-2026-0005": "INC-2026-0002"}
    rate = metrics.repeat_rate
    assert (rate.numerator, rate.denominator, rate.target) == (2, 6, 0.05)
    assert rate.value == pytest.approx(1 / 3)
    assert rate.breached


def test_follow_up_completion(fixture: tuple[Path, IncidentStore]) -> None:
    metrics = metrics_of(*fixture)

    # done: 0001 FU-1, 0002 FU-1, 0004 FU-1; dropped: 0002 FU-2; open: 0003 FU-1 (due 06-01, overdue), FU-2
    assert metrics.follow_ups == {"done": 3, "dropped": 1, "open": 2, "overdue": 1}
    completion = metrics.follow_up_completion
    assert (completion.numerator, completion.denominator, completion.value) == (3, 5, 0.6)
    assert completion.breached  # the playbook asks for 90 %


def test_policy_update_lag_from_git_history(fixture: tuple[Path, IncidentStore]) -> None:
    metrics = metrics_of(*fixture)
    rows = metrics.rows.set_index("id")
    days = dt.timedelta(days=1)

    # 0001 reviewed 01-13 10:00; its policy was committed 01-05 (before: does not count), 01-14 (after, but not
    # naming the incident yet: does not count) and 01-16 10:00 with the lesson: 3 days
    assert rows.loc["INC-2026-0001", "policy_update_lag"] == 3 * days
    assert rows.loc["INC-2026-0001", "policy_update_at"] == at("2026-01-16T10:00:00Z")
    # 0002 reviewed 02-10 00:00, its suite committed 02-20 00:00: 10 days
    assert rows.loc["INC-2026-0002", "policy_update_lag"] == 10 * days
    # 0005 reviewed 05-05 and nothing references it 56 days later: overdue
    assert rows["policy_update_status"].to_dict() == {
        "INC-2026-0001": "measured", "INC-2026-0002": "measured", "INC-2026-0003": "not_reviewed",
        "INC-2026-0004": "not_reviewed", "INC-2026-0005": "overdue", "INC-2026-0006": "not_reviewed"}
    lag = metrics.policy_update_lag
    # 3 d and 10 d: median 6.5 d, p90 3 + 0.9 * 7 = 9.3 d; judged 3 (two measured, one overdue), 1 within 7 d
    assert (lag.count, lag.median, lag.p90) == (2, 6.5 * days, 9.3 * days)
    assert (lag.target, lag.judged, lag.within, lag.overdue, lag.not_measured, lag.breached) == \
        (7 * days, 3, 1, 1, 0, True)


def test_policy_update_lag_without_git_is_not_measured_and_says_so(tmp_path: Path) -> None:
    build_repository(tmp_path, with_git=False)
    metrics = metrics_of(tmp_path, build_fixture(tmp_path))

    statuses = metrics.rows.set_index("id")["policy_update_status"]
    assert (statuses["INC-2026-0001"], statuses["INC-2026-0002"]) == ("not_measured", "not_measured")
    assert metrics.policy_update_lag.not_measured == 2
    assert metrics.policy_update_lag.count == 0
    assert any("INC-2026-0001 not measured" in note for note in metrics.notes)
    assert "not measured" in render_metrics(metrics, "text")


def test_a_shallow_clone_does_not_pass_a_cut_off_history_for_a_measurement(tmp_path: Path) -> None:
    full = tmp_path / "full"
    build_repository(full)
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{full}", str(shallow))
    metrics = metrics_of(shallow, build_fixture(shallow))

    statuses = metrics.rows.set_index("id")["policy_update_status"]
    assert (statuses["INC-2026-0001"], statuses["INC-2026-0002"]) == ("not_measured", "not_measured")
    assert any("shallow" in note for note in metrics.notes)


def test_success_indicators_and_the_playbook_signoff(fixture: tuple[Path, IncidentStore]) -> None:
    root, store = fixture
    before = metrics_of(root, store)
    assert before.indicators.open_sev1 == ("INC-2026-0003", "INC-2026-0004", "INC-2026-0006")
    assert before.indicators.playbook_signoff is None
    assert "playbook signed off" in before.breaches

    sign(root / "policies", root / "policies" / "playbook.yaml", "governance_lead", "gl@example.com",
         FixedClock(NOW))
    signed = metrics_of(root, store).indicators.playbook_signoff
    assert signed is not None and signed.by == "gl@example.com"

    with open(root / "policies" / "playbook.yaml", "a", encoding="utf-8") as handle:
        handle.write("# edited after the sign-off\n")
    assert metrics_of(root, store).indicators.playbook_signoff is None


def test_since_keeps_later_incidents_and_earlier_ones_still_count_for_repeats(
        fixture: tuple[Path, IncidentStore]) -> None:
    metrics = metrics_of(*fixture, since=dt.date(2026, 4, 1))

    assert list(metrics.rows["id"]) == ["INC-2026-0003", "INC-2026-0004", "INC-2026-0005", "INC-2026-0006"]
    # 0001 is out of scope but 0003 still repeats it
    assert metrics.repeats == {"INC-2026-0003": "INC-2026-0001", "INC-2026-0005": "INC-2026-0002"}
    assert (metrics.repeat_rate.numerator, metrics.repeat_rate.denominator) == (2, 4)


def test_renderings_carry_targets_and_breaches(fixture: tuple[Path, IncidentStore]) -> None:
    metrics = metrics_of(*fixture)

    text = render_metrics(metrics, "text")
    table = {tuple(re.split(r"\s{2,}", line)[:2]): re.split(r"\s{2,}", line)[2:] for line in text.splitlines()}
    assert table["time to contain", "sev1"] == ["median 52m30s, p90 1h42m (n=4)", "<= 1h",
                                                "3/5 within, 1 overdue: BREACHED"]
    assert table["time to contain", "sev2"] == ["median 3h00m, p90 3h00m (n=1)", "-", "no target"]
    assert table["RCA completion", "all"] == ["median 12h00m, p90 1d02h00m (n=5)", "75.0% within", "4/5 within: ok"]
    assert table["repeat incident rate", "all"] == ["2/6 = 33.3%", "<= 5.0%", "BREACHED"]
    assert "zero open sev1:      no (INC-2026-0003, INC-2026-0004, INC-2026-0006)" in text

    document = json.loads(render_metrics(metrics, "json"))
    sev1 = document["time_to_contain"][1]
    assert (sev1["scope"], sev1["median_s"], sev1["p90_s"], sev1["target_s"], sev1["breaches"], sev1["breached"]) \
        == ("sev1", 3150.0, 6120.0, 3600.0, 2, True)
    assert document["repeat_rate"]["repeats"] == metrics.repeats
    assert document["rows"][0]["time_to_contain_s"] == 1800.0
    assert document["rows"][0]["detected"] == "2026-01-10T10:00:00.000Z"
    assert "follow-up completion" in document["breaches"]

    rows = list(csv.DictReader(io.StringIO(render_metrics(metrics, "csv"))))
    by_figure = {(row["figure"], row["scope"]): row for row in rows}
    assert by_figure["time to contain", "sev1"] == {
        "figure": "time to contain", "scope": "sev1", "count": "4", "median_s": "3150.0", "p90_s": "6120.0",
        "target_s": "3600.0", "numerator": "3", "denominator": "5", "share": "0.6", "share_target": "1.0",
        "overdue": "1", "not_measured": "0", "breached": "True"}
    assert (by_figure["repeat incident rate", "all"]["share"], by_figure["repeat incident rate", "all"]["breached"]) \
        == (str(2 / 6), "True")


# -- find_repeat, on its own ----------------------------------------------------------------------


@pytest.mark.parametrize(("detected", "model", "cause", "policy", "expected"), [
    pytest.param("2026-04-12T10:00:00Z", "bot", "data", "privacy.no-pii", "INC-2026-0001", id="exactly-90-days"),
    pytest.param("2026-04-12T10:00:01Z", "bot", "data", "privacy.no-pii", None, id="90-days-and-a-second"),
    pytest.param("2026-01-12T10:00:00Z", "bot", "data", "privacy.no-pii", "INC-2026-0001", id="at-resolution"),
    pytest.param("2026-01-11T10:00:00Z", "bot", "data", "privacy.no-pii", None, id="before-resolution"),
    pytest.param("2026-02-01T00:00:00Z", "other-bot", "data", "privacy.no-pii", None, id="another-model"),
    pytest.param("2026-02-01T00:00:00Z", "bot", "infra", "privacy.no-pii", None, id="another-root-cause"),
    pytest.param("2026-02-01T00:00:00Z", "bot", "data", "quality.tone", None, id="no-shared-policy"),
])
def test_find_repeat_rule(tmp_path: Path, detected: str, model: str, cause: str, policy: str,
                          expected: str | None) -> None:
    store = IncidentStore(tmp_path / "incidents", clock=FixedClock(NOW))
    w, t = create(store, "2026-01-10T10:00:00Z", failing=("privacy.no-pii",))
    w.contain(t + minutes(30)).rca(t + minutes(60), "data")("resolved", at("2026-01-12T10:00:00Z"))
    earlier = store.load("INC-2026-0001")
    w, t = create(store, detected, model=model)
    later: Incident = store.load(w.incident)

    # as the lead calls it while recording the RCA, and once the RCA is recorded
    assert find_repeat(later, [earlier], root_cause_type=cause, failing_policy=policy) == expected
    w.contain(t + minutes(1)).rca(t + minutes(2), cause, failing_policy=policy)
    assert find_repeat(store.load(w.incident), [earlier]) == expected


def test_an_explicit_variant_of_wins(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path / "incidents", clock=FixedClock(NOW))
    w, t = create(store, "2026-03-01T00:00:00Z")
    w.contain(t + minutes(1)).rca(t + minutes(2), "human_error", variant_of="INC-2025-0042")

    assert find_repeat(store.load(w.incident), []) == "INC-2025-0042"


# -- the command (its module's register() on a parser of its own; the lead wires it into harness) --------------


def run_cli(root: Path, *argv: str) -> int:
    from harness.cli import common
    from harness.cli import metrics as command

    parser = common.Parser(prog="harness")
    command.register(parser.add_subparsers(dest="command", parser_class=common.Parser))
    args = parser.parse_args(["metrics", "--incidents", str(root / "incidents"), "--policies",
                              str(root / "policies"), "--evals", str(root / "evals"), *argv])
    args.clock = FixedClock(NOW)
    return int(args.func(args))


def test_cli_fails_on_breach_only_when_asked(fixture: tuple[Path, IncidentStore],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = fixture
    assert run_cli(root, "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["incidents"] == 6

    assert run_cli(root, "--since", "2026-06-01", "--fail-on-breach") == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("Incident metrics: 1 incident(s) detected since 2026-06-01")
    assert "harness: off target: time to contain (all); time to contain (sev1);" in captured.err


def test_cli_refuses_to_count_without_an_incident_that_does_not_read(fixture: tuple[Path, IncidentStore]) -> None:
    root, _ = fixture
    (root / "incidents" / "INC-2026-0003.events.jsonl").write_text("{not json\n", encoding="utf-8")

    with pytest.raises(InputError, match=r"INC-2026-0003\.events\.jsonl:1"):
        run_cli(root)
