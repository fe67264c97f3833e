"""The playbook (``policies/playbook.yaml``) as typed sections.

Severities with their SLAs, roles, stakeholders, channels, regulatory clocks, the review
window, metric targets, the waiver rules per severity, the release settings (registry, alias, hooks, health check,
notifier) and the plugins a policy repository brings. Durations are ``timedelta``s.
The raw document is kept in ``data`` for sections later issues read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import InputError
from .policy import OnFail, Source

_DURATION = re.compile(r"^([0-9]+)(m|h|d)$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> dt.timedelta:
    """``30m``, ``72h``, ``5d`` as a timedelta; ``ValueError`` for anything else."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"expected a duration such as 30m, 72h or 5d, got {text!r}")
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def format_duration(delta: dt.timedelta) -> str:
    """The shortest of ``5d``, ``72h``, ``90m`` that says ``delta`` exactly."""
    minutes = int(delta.total_seconds() // 60)
    for unit, size in (("d", 1440), ("h", 60)):
        if minutes and minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


@dataclass(frozen=True, slots=True)
class Severity:
    name: str
    meaning: str
    default_on_fail: OnFail | None = None
    #: clock name (contain, rca, fix, review) to the time allowed
    sla: Mapping[str, dt.timedelta] = field(default_factory=dict)
    examples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RegulatoryClock:
    id: str
    regime: str
    when: str  # the incident condition that starts it, e.g. personal_data
    due_after: dt.timedelta
    start: str = "became_aware"  # became_aware | detected


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


@dataclass(frozen=True, slots=True)
class Hook:
    """A rollback hook (step 2): a command (argv, no shell) or a webhook that gets the JSON payload."""

    kind: str  # command | webhook
    target: str  # the command line, or the URL
    timeout_s: float = 60.0
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Hook:
        """``--hook``: an http(s) URL is a webhook, anything else a command."""
        return cls("webhook", text) if _is_url(text) else cls("command", text)


def _hook(raw: Mapping[str, Any]) -> Hook:
    """A hook as the playbook writes it (``kind``, ``run`` or ``url``, ``timeout_s``, ``headers``)."""
    return Hook(raw["kind"], raw.get("run") or raw["url"], float(raw.get("timeout_s", 60)),
                MappingProxyType(dict(raw.get("headers", {}))))


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """The health check of rollback step 4: a command that must exit 0, or a URL that must answer 2xx."""

    kind: str  # command | http
    target: str
    timeout_s: float = 60.0

    @classmethod
    def parse(cls, text: str) -> HealthCheck:
        return cls("http", text) if _is_url(text) else cls("command", text)


@dataclass(frozen=True, slots=True)
class NotifierSpec:
    """Which notifier tells the stakeholders (``kind``), and its options as written."""

    kind: str = "outbox"
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({"path": "audit/outbox"}))

    @classmethod
    def parse(cls, text: str) -> NotifierSpec:
        """``--notifier``: ``outbox:DIR``, ``webhook:URL`` or ``smtp:HOST:PORT:FROM`` (plugins: in the playbook)."""
        kind, _, rest = text.partition(":")
        if kind == "outbox" and rest:
            return cls("outbox", {"path": rest})
        if kind == "webhook" and _is_url(rest):
            return cls("webhook", {"url": rest})
        if kind == "smtp" and rest.count(":") == 2:
            host, port, sender = rest.split(":")
            return cls("smtp", {"host": host, "port": int(port) if port.isdigit() else port, "from": sender})
        raise InputError(f"--notifier {text!r}: expected outbox:DIR, webhook:URL or smtp:HOST:PORT:FROM")

    def config(self) -> dict[str, Any]:
        """The mapping a notifier factory reads: ``kind`` and the options."""
        return {"kind": self.kind, **self.options}


@dataclass(frozen=True)
class ReleaseSettings:
    """The ``release`` section: where versions live, what serves, and what a rollback runs."""

    registry: str = "file://registry.json"
    alias: str = "champion"
    decision_log: Path = Path("audit/decisions.jsonl")
    state_dir: Path = Path("audit/rollbacks")
    #: where the JSON report of every recorded gate is kept, named by its sha256
    reports_dir: Path = Path("audit/reports")
    hooks: tuple[Hook, ...] = ()
    health_check: HealthCheck | None = None
    notifier: NotifierSpec = NotifierSpec()
    notify: tuple[str, ...] = ("product", "risk", "compliance")
    stakeholders: Mapping[str, str] = field(default_factory=dict)

    def with_overrides(self, **overrides: Any) -> ReleaseSettings:
        """A copy with every override that is not ``None`` applied (the command line's)."""
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_data(cls, release: Mapping[str, Any], stakeholders: Mapping[str, str]) -> ReleaseSettings:
        hook = _hook
        check = release.get("health_check")
        notifier = release.get("notifier")
        return cls(
            registry=release.get("registry", cls.registry),
            alias=release.get("alias", cls.alias),
            decision_log=Path(release.get("decision_log", cls.decision_log)),
            state_dir=Path(release.get("state_dir", cls.state_dir)),
            reports_dir=Path(release.get("reports_dir", cls.reports_dir)),
            hooks=tuple(hook(h) for h in release.get("hooks", ())),
            health_check=None if check is None else HealthCheck(
                check["kind"], check.get("run") or check["url"], float(check.get("timeout_s", 60))),
            notifier=NotifierSpec() if notifier is None else NotifierSpec(
                notifier["kind"], MappingProxyType({k: v for k, v in notifier.items() if k != "kind"})),
            notify=tuple(release.get("notify", cls.notify)),
            stakeholders=MappingProxyType(dict(stakeholders)),
        )


@dataclass(frozen=True, slots=True)
class ContainmentAction:
    """A containment action of the playbook (``containment:``): what it does and the hook it runs."""

    name: str
    description: str
    #: whether a successful run stops the harm (starts nothing; stops the time-to-contain clock)
    contains: bool = True
    hook: Hook | None = None
    #: roles (keys of ``roles:``) told through the notifier: escalation
    notify_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoticeSettings:
    """The ``notices`` section: templates, escalation on opening, the internal clock, audiences and addresses."""

    templates: str = "templates/notices"
    escalate_on_open: tuple[str, ...] = ("sev1",)
    escalate_to: tuple[str, ...] = ("governance_lead", "security_officer")
    #: internal audiences are told within this long of detection (``None``: no internal clock)
    internal_within: dt.timedelta | None = None
    internal_severities: tuple[str, ...] = ("sev1", "sev2")
    internal_audiences: tuple[str, ...] = ("internal",)
    after_containment: tuple[str, ...] = ("customers", "partners")
    recipients: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: channel name (``ticket``, ``email``...) to the notifier delivering through it
    notifiers: Mapping[str, NotifierSpec] = field(default_factory=dict)

    @classmethod
    def from_data(cls, raw: Mapping[str, Any]) -> NoticeSettings:
        internal = raw.get("internal") or {}
        return cls(
            templates=raw.get("templates", cls.templates),
            escalate_on_open=tuple(raw.get("escalate_on_open", cls.escalate_on_open)),
            escalate_to=tuple(raw.get("escalate_to", cls.escalate_to)),
            internal_within=parse_duration(internal["due_after"]) if "due_after" in internal else None,
            internal_severities=tuple(internal.get("severities", cls.internal_severities)),
            internal_audiences=tuple(internal.get("audiences", cls.internal_audiences)),
            after_containment=tuple(raw.get("after_containment", cls.after_containment)),
            recipients=MappingProxyType({k: tuple(v) for k, v in raw.get("recipients", {}).items()}),
            notifiers=MappingProxyType({
                name: NotifierSpec(spec["kind"], MappingProxyType({k: v for k, v in spec.items() if k != "kind"}))
                for name, spec in raw.get("notifiers", {}).items()}),
        )


@dataclass(frozen=True, slots=True)
class ReviewFollowUp:
    """A follow-up every review adds (``lifecycle.review_follow_ups``), owned by a role."""

    text: str
    owner_role: str
    due_after: dt.timedelta


@dataclass(frozen=True)
class LifecycleRules:
    """The ``lifecycle`` section: which severities are held to the strict rules, what every review adds."""

    #: evidence before a rollback; closing needs sign-off, lesson, follow-ups, notices; scan --open-incident opens
    strict_severities: tuple[str, ...] = ("sev1", "sev2")
    review_follow_ups: tuple[ReviewFollowUp, ...] = ()

    @classmethod
    def from_data(cls, raw: Mapping[str, Any]) -> LifecycleRules:
        return cls(tuple(raw.get("strict_severities", cls.strict_severities)),
                   tuple(ReviewFollowUp(f["text"], f["owner"], parse_duration(f["due_after"]))
                         for f in raw.get("review_follow_ups", ())))


@dataclass(frozen=True, slots=True)
class WaiverRule:
    """How far a waiver of a policy of one severity may go (``waiver_rules`` in the playbook)."""

    severity: str
    #: the most days ``expires`` may lie after ``approved``
    max_days: int
    #: the roles (keys of ``roles:``) whose address may approve
    approvers: tuple[str, ...]
    #: whether a waiver may waive the whole policy: name neither a rule nor cases, or without cases name its only
    #: rule (any rule, for an eval suite), or, with others in force on the same day, every rule of it
    whole_policy: bool = False

    @classmethod
    def from_data(cls, severity: str, raw: Mapping[str, Any]) -> WaiverRule:
        return cls(severity, int(raw["max_days"]), tuple(raw["approvers"]), bool(raw.get("whole_policy", False)))


#: the rules when the playbook has no ``waiver_rules`` entry for a severity; other severities cannot be waived
DEFAULT_WAIVER_RULES: Mapping[str, WaiverRule] = MappingProxyType({
    "sev1": WaiverRule("sev1", 7, ("governance_lead",), whole_policy=False),
    "sev2": WaiverRule("sev2", 30, ("governance_lead", "security_officer"), whole_policy=False),
    "sev3": WaiverRule("sev3", 180, ("governance_lead", "security_officer"), whole_policy=True),
})

DEFAULT_SEVERITIES: Mapping[str, Severity] = MappingProxyType({
    "sev1": Severity("sev1", "critical: safety or privacy breach", OnFail.ROLLBACK,
                     {"contain": dt.timedelta(hours=1)}),
    "sev2": Severity("sev2", "major: model quality or ethical failure", OnFail.BLOCK, {"rca": dt.timedelta(hours=24)}),
    "sev3": Severity("sev3", "minor: functional defect", OnFail.BLOCK, {"fix": dt.timedelta(hours=72)}),
})


@dataclass(frozen=True)
class Playbook:
    """The whole playbook, typed; :data:`DEFAULT_PLAYBOOK` when a repository has none."""

    severities: Mapping[str, Severity] = field(default_factory=lambda: DEFAULT_SEVERITIES)
    roles: Mapping[str, str] = field(default_factory=dict)
    stakeholders: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    regulatory_clocks: tuple[RegulatoryClock, ...] = ()
    review_within: dt.timedelta | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    #: severity to how far its policies may be waived: the playbook's entries over :data:`DEFAULT_WAIVER_RULES`
    waiver_rules: Mapping[str, WaiverRule] = field(default_factory=lambda: DEFAULT_WAIVER_RULES)
    release: ReleaseSettings = ReleaseSettings()
    #: containment actions by name (``harness incident contain --action``)
    containment: Mapping[str, ContainmentAction] = field(default_factory=dict)
    notices: NoticeSettings = NoticeSettings()
    lifecycle: LifecycleRules = LifecycleRules()
    #: importable modules holding checks that live in the policy repository
    plugins: tuple[str, ...] = ()
    version: str | None = None
    owner: str | None = None
    source: Source | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: Mapping[str, Any], source: Source | None = None) -> Playbook:
        """A playbook from a schema-checked document."""
        severities = {
            name: Severity(name, raw["meaning"],
                           OnFail(raw["default_on_fail"]) if "default_on_fail" in raw else None,
                           MappingProxyType({k: parse_duration(v) for k, v in raw.get("sla", {}).items()}),
                           tuple(raw.get("examples", ())))
            for name, raw in data["severities"].items()
        }
        stakeholders = dict(data.get("stakeholders", {}))
        review = data.get("review_within")
        return cls(
            severities=MappingProxyType(severities),
            roles=MappingProxyType(dict(data.get("roles", {}))),
            stakeholders=MappingProxyType(stakeholders),
            channels=MappingProxyType({k: tuple(v) for k, v in data.get("channels", {}).items()}),
            regulatory_clocks=tuple(
                RegulatoryClock(c["id"], c["regime"], c["when"], parse_duration(c["due_after"]),
                                c.get("from", "became_aware"))
                for c in data.get("regulatory_clocks", ())),
            review_within=parse_duration(review) if review else None,
            metrics=MappingProxyType(dict(data.get("metrics", {}))),
            waiver_rules=MappingProxyType({**DEFAULT_WAIVER_RULES, **{
                name: WaiverRule.from_data(name, raw) for name, raw in data.get("waiver_rules", {}).items()}}),
            release=ReleaseSettings.from_data(data.get("release", {}), stakeholders),
            containment=MappingProxyType({
                name: ContainmentAction(name, raw["description"], bool(raw.get("contains", True)),
                                        _hook(raw["hook"]) if "hook" in raw else None,
                                        tuple(raw.get("notify_roles", ())))
                for name, raw in data.get("containment", {}).items()}),
            notices=NoticeSettings.from_data(data.get("notices", {})),
            lifecycle=LifecycleRules.from_data(data.get("lifecycle", {})),
            plugins=tuple(data.get("plugins", ())),
            version=data.get("version"),
            owner=data.get("owner"),
            source=source,
            data=MappingProxyType(dict(data)),
        )


#: the playbook of a policy repository that has no playbook.yaml
DEFAULT_PLAYBOOK = Playbook()
