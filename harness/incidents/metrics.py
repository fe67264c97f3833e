"""Incident metrics against the playbook's targets, computed with pandas over the incidents and git history.

One row per incident (its times, causes, repeat and follow-ups), then the figures the
governance lead reviews, each beside its target with breaches marked:

- **time to contain** (detection to the first successful containment or rollback), median
  and p90 by linear interpolation, per severity; an incident breaches when it took longer
  than every target that applies to it (its severity's ``sla.contain``, and for sev1
  ``metrics.time_to_contain_sev1``), or is still uncontained past it;
- **RCA completion time** (detection to the first RCA), the same way, against the
  severity's ``sla.rca`` and ``metrics.rca_completion``; the share within target is held to
  ``metrics.rca_within_sla`` (default: all of them);
- **repeat incident rate**: the share of incidents that repeat an earlier one
  (:func:`find_repeat`), at most ``metrics.repeat_incident_rate``;
- **policy update lag**: from the review to the first commit at or after it that touched a
  policy (``lessons_from``) or eval suite (``from_incident``) referencing the incident now,
  at most ``metrics.policy_update_lag``; without a git repository it is not measured (and
  said so), and with no such commit yet it is pending, or a breach once the target passed;
- **follow-up completion**: done out of those not dropped, at least
  ``metrics.follow_up_completion`` when the playbook sets it;
- **success indicators**: no open sev1, every RCA within target, the playbook signed off by
  the governance lead with a sign-off that still matches its bytes.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock, format_timestamp, parse_timestamp
from ..errors import EnvError, InputError, Location
from ..model.playbook import Playbook, format_duration, parse_duration
from ..project.signoff import SignOff, valid_signoff
from .model import Incident
from .register import Lessons, lesson_references

FORMATS = ("text", "json", "csv")
#: an earlier incident counts for the repeat rule when it was resolved at most this long before detection
REPEAT_WINDOW = dt.timedelta(days=90)
#: the quantile reported beside the median
P90 = 0.9
GIT_TIMEOUT_S = 60.0
#: the role whose sign-off of the playbook is a success indicator
PLAYBOOK_SIGNER = "governance_lead"
TOP_SEVERITY = "sev1"


def failing_policies(incident: Incident) -> frozenset[str]:
    """The policies whose failure revealed the incident: the record's, and the one its RCA names."""
    rca = incident.rca
    named = rca.get("failing_policy") if rca is not None else None
    return frozenset([*incident.record.failing_policies, *([named] if named else [])])


def cause_of(incident: Incident) -> str | None:
    """The root-cause type of the incident's latest RCA (``None`` before one)."""
    rca = incident.rca
    return rca.get("root_cause_type") if rca is not None else None


def find_repeat(incident: Incident, others: Iterable[Incident], *, root_cause_type: str | None = None,
                failing_policy: str | None = None) -> str | None:
    """The id of the earlier incident ``incident`` repeats, or ``None``.

    Its RCA's ``variant_of`` when it names one; else the latest-resolved incident with the
    same model, the same root-cause type and a failing policy in common, resolved in the
    :data:`REPEAT_WINDOW` before ``incident`` was detected (both ends included).
    ``root_cause_type`` and ``failing_policy`` are those of an RCA being recorded: given, they
    are used instead of the latest RCA's (and its ``variant_of`` is not).
    """
    rca = incident.rca
    if root_cause_type is None and rca is not None and rca.get("variant_of"):
        return str(rca.get("variant_of"))
    if root_cause_type is None:
        cause, policies = cause_of(incident), failing_policies(incident)
    else:
        cause = root_cause_type
        policies = frozenset([*incident.record.failing_policies, *([failing_policy] if failing_policy else [])])
    if cause is None or not policies:
        return None
    earliest = incident.detected - REPEAT_WINDOW
    matches = [other for other in others
               if other.id != incident.id and other.record.model == incident.record.model
               and cause_of(other) == cause and failing_policies(other) & policies
               and other.resolved_at is not None and earliest <= other.resolved_at <= incident.detected]
    if not matches:
        return None
    return max(matches, key=lambda other: (other.resolved_at, other.id)).id


@dataclass(frozen=True)
class Targets:
    """The playbook's targets: per severity for the clocks, one each for the rest (``None``: no target)."""

    contain: Mapping[str, dt.timedelta | None]
    rca: Mapping[str, dt.timedelta | None]
    repeat_rate: float | None
    policy_update_lag: dt.timedelta | None
    follow_up_completion: float | None
    rca_within_sla: float = 1.0

    @classmethod
    def from_playbook(cls, playbook: Playbook) -> Targets:
        metrics = playbook.metrics
        sev1_contain, rca_completion = _duration(playbook, "time_to_contain_sev1"), _duration(playbook,
                                                                                               "rca_completion")
        contain, rca = {}, {}
        for name, severity in playbook.severities.items():
            contain[name] = _strictest(severity.sla.get("contain"), sev1_contain if name == TOP_SEVERITY else None)
            # judged only where the severity has an RCA clock (the sev3 clock is the fix): as `incident clocks`
            rca[name] = _strictest(severity.sla["rca"], rca_completion) if "rca" in severity.sla else None
        repeat, completion = metrics.get("repeat_incident_rate"), metrics.get("follow_up_completion")
        return cls(contain, rca, None if repeat is None else float(repeat), _duration(playbook, "policy_update_lag"),
                   None if completion is None else float(completion), float(metrics.get("rca_within_sla", 1.0)))


def _duration(playbook: Playbook, key: str) -> dt.timedelta | None:
    raw = playbook.metrics.get(key)
    if raw is None:
        return None
    try:
        return parse_duration(str(raw))
    except ValueError as exc:
        where = playbook.source.path if playbook.source else "playbook.yaml"
        raise InputError(str(exc), Location(where, None, None, f"$.metrics.{key}")) from None


def _strictest(*limits: dt.timedelta | None) -> dt.timedelta | None:
    given = [limit for limit in limits if limit is not None]
    return min(given) if given else None


@dataclass(frozen=True)
class TimeFigure:
    """Durations (median, p90 over ``count``) and how many of the ``judged`` incidents met their target."""

    name: str
    scope: str
    count: int
    median: dt.timedelta | None
    p90: dt.timedelta | None
    #: the target of every incident in scope (``None``: none, or it differs by severity)
    target: dt.timedelta | None
    judged: int
    within: int
    #: incidents with no value yet whose target has already passed (they are among the judged, not within)
    overdue: int = 0
    #: the share of the judged that must be within target
    share_target: float = 1.0
    #: incidents the figure could not be measured for (see the notes)
    not_measured: int = 0

    @property
    def breaches(self) -> int:
        return self.judged - self.within

    @property
    def within_share(self) -> float | None:
        return self.within / self.judged if self.judged else None

    @property
    def breached(self) -> bool:
        share = self.within_share
        return share is not None and share < self.share_target

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "scope": self.scope, "count": self.count,
                "median_s": _seconds(self.median), "p90_s": _seconds(self.p90), "target_s": _seconds(self.target),
                "median": _human(self.median), "p90": _human(self.p90),
                "target": format_duration(self.target) if self.target is not None else None,
                "judged": self.judged, "within": self.within, "breaches": self.breaches, "overdue": self.overdue,
                "within_share": self.within_share, "share_target": self.share_target,
                "not_measured": self.not_measured, "breached": self.breached}


@dataclass(frozen=True)
class RateFigure:
    """A share (``numerator`` of ``denominator``) against a target that is a ceiling (``max``) or a floor (``min``)."""

    name: str
    numerator: int
    denominator: int
    target: float | None
    bound: str  # max | min

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def breached(self) -> bool:
        value = self.value
        if value is None or self.target is None:
            return False
        return value > self.target if self.bound == "max" else value < self.target

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "numerator": self.numerator, "denominator": self.denominator,
                "value": self.value, "target": self.target, "bound": self.bound, "breached": self.breached}


@dataclass(frozen=True)
class Indicators:
    """The playbook's success indicators."""

    open_sev1: tuple[str, ...]
    rcas_within_sla: bool
    playbook_signoff: SignOff | None

    @property
    def zero_open_sev1(self) -> bool:
        return not self.open_sev1

    def unmet(self) -> list[str]:
        return [name for name, met in (("zero open sev1", self.zero_open_sev1), ("RCAs within SLA",
                                                                                self.rcas_within_sla),
                                       ("playbook signed off", self.playbook_signoff is not None)) if not met]

    def to_json(self) -> dict[str, Any]:
        return {"zero_open_sev1": self.zero_open_sev1, "open_sev1": list(self.open_sev1),
                "rcas_within_sla": self.rcas_within_sla,
                "playbook_signed_off": self.playbook_signoff is not None,
                "playbook_signoff": self.playbook_signoff.to_json() if self.playbook_signoff else None}


@dataclass(frozen=True)
class Metrics:
    """Every figure, its target and whether it was breached, and the per-incident rows they come from."""

    computed_at: dt.datetime
    since: dt.date | None
    incidents: int
    #: a pandas DataFrame, one row per incident in scope (see :data:`ROW_COLUMNS`)
    rows: Any = field(repr=False)
    #: over every incident, then one per severity
    time_to_contain: tuple[TimeFigure, ...]
    rca_completion: tuple[TimeFigure, ...]
    repeat_rate: RateFigure
    #: incident to the earlier one it repeats
    repeats: Mapping[str, str]
    policy_update_lag: TimeFigure
    follow_up_completion: RateFigure
    #: follow-ups done, dropped, open, and open past their due date
    follow_ups: Mapping[str, int]
    indicators: Indicators
    notes: tuple[str, ...] = ()

    def figures(self) -> list[TimeFigure | RateFigure]:
        return [*self.time_to_contain, *self.rca_completion, self.policy_update_lag, self.repeat_rate,
                self.follow_up_completion]

    @property
    def breaches(self) -> list[str]:
        """What is off target: each breached figure (name and scope) and each unmet success indicator."""
        found = [f"{f.name} ({f.scope})" if isinstance(f, TimeFigure) else f.name for f in self.figures()
                 if f.breached]
        return found + self.indicators.unmet()

    def to_json(self) -> dict[str, Any]:
        return {
            "metrics_version": 1,
            "computed_at": format_timestamp(self.computed_at),
            "since": self.since.isoformat() if self.since else None,
            "incidents": self.incidents,
            "time_to_contain": [f.to_json() for f in self.time_to_contain],
            "rca_completion": [f.to_json() for f in self.rca_completion],
            "policy_update_lag": self.policy_update_lag.to_json(),
            "repeat_rate": {**self.repeat_rate.to_json(), "repeats": dict(self.repeats)},
            "follow_up_completion": {**self.follow_up_completion.to_json(), **self.follow_ups},
            "indicators": self.indicators.to_json(),
            "breaches": self.breaches,
            "notes": list(self.notes),
            "rows": rows_json(self.rows),
        }


ROW_COLUMNS = (
    "id", "severity", "state", "model", "detected", "contained_at", "time_to_contain", "contain_target",
    "contain_within", "rca_completed_at", "rca_time", "rca_target", "rca_within", "resolved_at",
    "review_completed_at", "closed_at", "root_cause_type", "failing_policies", "variant_of", "repeat_of",
    "policy_update_at", "policy_update_lag", "policy_update_status", "follow_ups_done", "follow_ups_dropped",
    "follow_ups_open", "follow_ups_overdue")
_MOMENTS = ("detected", "contained_at", "rca_completed_at", "resolved_at", "review_completed_at", "closed_at",
            "policy_update_at")
_DURATIONS = ("time_to_contain", "contain_target", "rca_time", "rca_target", "policy_update_lag")


def _git(repo_dir: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    argv = ["git", "--literal-pathspecs", "-c", "log.showSignature=false", "-C", str(repo_dir), *args]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return None
    except subprocess.TimeoutExpired:
        raise EnvError(f"git {args[0]} in {repo_dir} took longer than {GIT_TIMEOUT_S:g} s") from None


def lesson_commit(repo_dir: Path, files: Sequence[Path], incident: str,
                  since: dt.datetime) -> tuple[bool, dt.datetime | None]:
    """The time of the first commit at or after ``since`` that added or changed one of ``files`` such that the
    file, as committed, references ``incident``; ``(False, None)`` without git history of the files.

    A commit that touched a file for another reason before the file named the incident does not count.
    """
    if not files:
        return True, None
    paths = [str(Path(f).resolve()) for f in files]
    shallow = _git(repo_dir, "rev-parse", "--is-shallow-repository")
    if shallow is not None and shallow.stdout.strip() == "true":  # a CI checkout with --depth: history cut off
        return False, None
    done = _git(repo_dir, "log", "--format=%x00%H%x09%cI", "--name-only", "--reverse", "--", *paths)
    if done is None or done.returncode != 0:
        return False, None
    top = _git(repo_dir, "rev-parse", "--show-toplevel")
    root = Path(top.stdout.strip()) if top is not None and top.returncode == 0 else Path(repo_dir)
    for block in done.stdout.split("\x00")[1:]:
        header, _, names = block.partition("\n")
        commit, _, when = header.partition("\t")
        moment = parse_timestamp(when.strip())
        if moment < since:
            continue
        for name in filter(None, (n.strip() for n in names.splitlines())):
            shown = _git(root, "show", f"{commit}:{name}")
            if shown is not None and shown.returncode == 0 and incident in shown.stdout:
                return True, moment
    return True, None


def _row(incident: Incident, others: Sequence[Incident], targets: Targets, lessons: Lessons,
         repo_dir: Path | None, now: dt.datetime, notes: list[str]) -> dict[str, Any]:
    severity = incident.severity
    contain_target, rca_target = targets.contain.get(severity), targets.rca.get(severity)
    contained = incident.contained_at - incident.detected if incident.contained_at else None
    rca_time = incident.rca_completed_at - incident.detected if incident.rca_completed_at else None
    rca = incident.rca
    update_at, lag, update_status = _policy_update(incident, lessons, targets.policy_update_lag, repo_dir, now,
                                                   notes)
    today = now.date()
    follow_ups = list(incident.follow_ups.values())
    return {
        "id": incident.id, "severity": severity, "state": incident.state.label, "model": incident.record.model,
        "detected": incident.detected, "contained_at": incident.contained_at, "time_to_contain": contained,
        "contain_target": contain_target,
        "contain_within": _within(contained, contain_target, now - incident.detected),
        "rca_completed_at": incident.rca_completed_at, "rca_time": rca_time, "rca_target": rca_target,
        "rca_within": _within(rca_time, rca_target, now - incident.detected),
        "resolved_at": incident.resolved_at, "review_completed_at": incident.review_completed_at,
        "closed_at": incident.closed_at, "root_cause_type": cause_of(incident),
        "failing_policies": "; ".join(sorted(failing_policies(incident))),
        "variant_of": rca.get("variant_of") if rca is not None else None,
        "repeat_of": find_repeat(incident, others),
        "policy_update_at": update_at, "policy_update_lag": lag, "policy_update_status": update_status,
        "follow_ups_done": sum(f.status == "done" for f in follow_ups),
        "follow_ups_dropped": sum(f.status == "dropped" for f in follow_ups),
        "follow_ups_open": sum(f.status == "open" for f in follow_ups),
        "follow_ups_overdue": sum(f.status == "open" and dt.date.fromisoformat(f.due) < today for f in follow_ups),
    }


def _within(took: dt.timedelta | None, target: dt.timedelta | None, elapsed: dt.timedelta) -> bool | None:
    """Whether it met its target: ``None`` with no target, or when it has not happened and still may in time."""
    if target is None:
        return None
    if took is not None:
        return took <= target
    return False if elapsed > target else None


def _policy_update(incident: Incident, lessons: Lessons, target: dt.timedelta | None, repo_dir: Path | None,
                   now: dt.datetime, notes: list[str]) -> tuple[dt.datetime | None, dt.timedelta | None, str]:
    """When the lesson reached a commit, how long after the review, and the status: measured, pending,
    overdue, not_reviewed or not_measured."""
    review = incident.review_completed_at
    if review is None:
        return None, None, "not_reviewed"
    known, first = lesson_commit(repo_dir, lessons.files, incident.id, review) if repo_dir is not None \
        else (False, None)
    if not known:
        notes.append(f"policy update lag of {incident.id} not measured: {repo_dir or 'no repository given'} has"
                     " no (or only a shallow) git history of the files that reference it; fetch it whole"
                     " (git fetch --unshallow)")
        return None, None, "not_measured"
    if first is not None:
        return first, first - review, "measured"
    return None, None, "overdue" if target is not None and now - review > target else "pending"


def _frame(records: list[dict[str, Any]]) -> Any:
    import pandas as pd

    frame = pd.DataFrame.from_records(records, columns=list(ROW_COLUMNS))
    for column in _MOMENTS:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in _DURATIONS:
        frame[column] = pd.to_timedelta(frame[column])
    return frame


def _time_figure(name: str, scope: str, rows: Any, value: str, within: str, target: dt.timedelta | None,
                 share_target: float = 1.0, *, overdue: Any = None, not_measured: int = 0) -> TimeFigure:
    values = rows[value].dropna()
    judged = rows[within].dropna()
    median = values.median().to_pytimedelta() if len(values) else None
    p90 = values.quantile(P90).to_pytimedelta() if len(values) else None
    late = int((rows[value].isna() & (rows[within] == False)).sum()) if overdue is None else overdue  # noqa: E712
    return TimeFigure(name, scope, len(values), median, p90, target, len(judged), int((judged == True).sum()),  # noqa: E712
                      late, share_target, not_measured)


def compute_metrics(incidents: Sequence[Incident], playbook: Playbook, *, policies_dir: Path | str,
                    evals_dir: Path | str | None, repo_dir: Path | str | None, since: dt.date | None = None,
                    clock: Clock = SYSTEM_CLOCK) -> Metrics:
    """The figures of the incidents detected on or after ``since`` (UTC; all when ``None``).

    ``incidents`` are all the incidents there are (``IncidentStore.load_all()``): earlier ones
    count for the repeat rule and open sev1s count whatever their date. ``repo_dir`` is the
    git work tree the policy update lag is read from (``None``: not measured).
    """
    now = clock.now()
    targets = Targets.from_playbook(playbook)
    references = lesson_references(policies_dir, evals_dir)
    scope = sorted((i for i in incidents if since is None or i.detected.date() >= since), key=lambda i: i.id)
    notes: list[str] = []
    repo = Path(repo_dir) if repo_dir is not None else None
    rows = _frame([_row(i, incidents, targets, references.get(i.id, Lessons()), repo, now, notes) for i in scope])

    severities = [*playbook.severities, *sorted(set(rows["severity"]) - set(playbook.severities))]
    contain = [_time_figure("time to contain", "all", rows, "time_to_contain", "contain_within", None)]
    rca = [_time_figure("RCA completion", "all", rows, "rca_time", "rca_within", None, targets.rca_within_sla)]
    for severity in severities:
        subset = rows[rows["severity"] == severity]
        if len(subset):
            contain.append(_time_figure("time to contain", severity, subset, "time_to_contain", "contain_within",
                                        targets.contain.get(severity)))
            rca.append(_time_figure("RCA completion", severity, subset, "rca_time", "rca_within",
                                    targets.rca.get(severity), targets.rca_within_sla))

    import pandas as pd

    status = rows["policy_update_status"]
    lag_target = targets.policy_update_lag
    lag_within = rows["policy_update_lag"].map(lambda lag: None if lag_target is None or pd.isna(lag)
                                               else bool(lag <= lag_target)).astype(object)
    lag_within[status == "overdue"] = False
    lag = _time_figure("policy update lag", "all", rows.assign(lag_within=lag_within), "policy_update_lag",
                       "lag_within", lag_target, overdue=int((status == "overdue").sum()),
                       not_measured=int((status == "not_measured").sum()))

    repeats = {row.id: row.repeat_of for row in rows.itertuples() if isinstance(row.repeat_of, str)}
    done, dropped = int(rows["follow_ups_done"].sum()), int(rows["follow_ups_dropped"].sum())
    still_open, overdue = int(rows["follow_ups_open"].sum()), int(rows["follow_ups_overdue"].sum())
    open_sev1 = tuple(sorted(i.id for i in incidents if i.is_open and i.severity == TOP_SEVERITY))
    playbook_path = Path(policies_dir) / "playbook.yaml"
    signoff = valid_signoff(policies_dir, playbook_path, PLAYBOOK_SIGNER) if playbook_path.is_file() else None
    return Metrics(
        now, since, len(scope), rows, tuple(contain), tuple(rca),
        RateFigure("repeat incident rate", len(repeats), len(scope), targets.repeat_rate, "max"), repeats, lag,
        RateFigure("follow-up completion", done, done + still_open, targets.follow_up_completion, "min"),
        {"done": done, "dropped": dropped, "open": still_open, "overdue": overdue},
        Indicators(open_sev1, rca[0].breaches == 0, signoff), tuple(notes))


def metrics_for(incidents_dir: Path | str = "incidents", policies_dir: Path | str = "policies",
                evals_dir: Path | str | None = "evals", *, since: dt.date | None = None,
                clock: Clock = SYSTEM_CLOCK) -> Metrics:
    """The metrics of a repository's folders; git history is read from the folder above the policies.

    ``InputErrors`` when an incident does not read: a figure silently computed without it would be wrong.
    """
    from ..errors import InputErrors
    from ..project.loader import read_playbook
    from .store import IncidentStore

    incidents, problems = IncidentStore(incidents_dir, clock=clock).load_all()
    InputErrors.raise_if_any(problems)
    evals = Path(evals_dir) if evals_dir is not None and Path(evals_dir).is_dir() else None
    return compute_metrics(incidents, read_playbook(policies_dir), policies_dir=policies_dir, evals_dir=evals,
                           repo_dir=Path(policies_dir).resolve().parent, since=since, clock=clock)


def rows_json(rows: Any) -> list[dict[str, Any]]:
    """The rows as JSON: times as timestamps, durations in seconds, missing values as null."""
    out = []
    for record in rows.to_dict(orient="records"):
        item: dict[str, Any] = {}
        for key, value in record.items():
            if key in _MOMENTS:
                item[key] = None if value is None or value != value else format_timestamp(value.to_pydatetime())
            elif key in _DURATIONS:
                item[f"{key}_s"] = None if value is None or value != value else value.total_seconds()
            elif hasattr(value, "item"):  # a numpy scalar
                item[key] = value.item()
            else:
                item[key] = None if value is None or value != value else value
        out.append(item)
    return out


def _seconds(delta: dt.timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


def _human(delta: dt.timedelta | None) -> str | None:
    """``45m30s``, ``1h05m``, ``2d03h10m``: a duration for people, to the second under an hour."""
    if delta is None:
        return None
    total = round(delta.total_seconds())
    sign, total = ("-", -total) if total < 0 else ("", total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{sign}{days}d{hours:02d}h{minutes:02d}m"
    if hours:
        return f"{sign}{hours}h{minutes:02d}m"
    return f"{sign}{minutes}m{seconds:02d}s"
