"""Release configuration and gate decisions recorded in the model registry and the decision log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .audit import DEFAULT_LOG
from .gate import Decision
from .records import Playbook, Verdict, utc_now

TAG_VERDICT = "harness.verdict"
TAG_REPORT = "harness.report_sha256"
TAG_OUTPUTS = "harness.outputs"
TAG_OUTPUTS_SHA = "harness.outputs_sha256"
TAG_BASELINE = "harness.baseline"
TAG_GATED_AT = "harness.gated_at"
TAG_PROMOTED_AT = "harness.promoted_at"
TAG_BLOCKED = "blocked"
TAG_ROLLED_BACK_AT = "harness.rolled_back_at"


@dataclass(frozen=True)
class ReleaseConfig:
    """The ``release`` section of ``playbook.yaml``, with command-line overrides applied."""

    registry: str = "file://registry.json"
    alias: str = "champion"
    decision_log: Path = DEFAULT_LOG
    state_dir: Path = Path("audit/rollbacks")
    hooks: tuple[Mapping[str, Any], ...] = ()
    health_check: Mapping[str, Any] | None = None
    notifier: Mapping[str, Any] = field(default_factory=lambda: {"kind": "outbox", "path": "audit/outbox"})
    notify: tuple[str, ...] = ("product", "risk", "compliance")
    stakeholders: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_playbook(cls, playbook: Playbook, **overrides: Any) -> ReleaseConfig:
        release: Mapping[str, Any] = playbook.data.get("release", {})
        values: dict[str, Any] = {
            "registry": release.get("registry", cls.registry),
            "alias": release.get("alias", cls.alias),
            "decision_log": Path(release.get("decision_log", cls.decision_log)),
            "state_dir": Path(release.get("state_dir", cls.state_dir)),
            "hooks": tuple(release.get("hooks", ())),
            "health_check": release.get("health_check"),
            "notify": tuple(release.get("notify", cls.notify)),
            "stakeholders": dict(playbook.data.get("stakeholders", {})),
        }
        if "notifier" in release:
            values["notifier"] = release["notifier"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True)
class GateRecord:
    """What a gate run changed in the registry."""

    promoted: bool
    tags: Mapping[str, str]
    serving: str | None  # the version the alias points at after the gate
    was_serving: bool  # the judged version was the serving one (a canary or production sample)


def record_gate(registry: Any, config: ReleaseConfig, *, model: str, version: str, decision: Decision,
                report_sha256: str, outputs_path: str, outputs_sha256: str, promote: bool, actor: str,
                baseline_path: str | None = None) -> GateRecord:
    """Tag the judged version with the verdict; move the serving alias to it when it passed and ``promote``."""
    registry.register(model, version)
    serving = registry.get_alias(model, config.alias)
    now = utc_now()
    tags = {TAG_VERDICT: decision.verdict.value, TAG_REPORT: report_sha256, TAG_OUTPUTS: outputs_path,
            TAG_OUTPUTS_SHA: outputs_sha256, TAG_GATED_AT: now}
    tags[TAG_BASELINE] = baseline_path or ""  # overwrite what an earlier gate run of this version left
    promoted = False
    if decision.verdict is Verdict.PROMOTE:
        tags[TAG_BLOCKED] = "false"  # a version blocked before and fixed since is no longer blocked
        if promote and serving != version:
            registry.move_alias(model, config.alias, version, actor=actor,
                                reason=f"promoted by the gate (report {report_sha256[:12]})")
            tags[TAG_PROMOTED_AT] = now
            promoted = True
    else:
        tags[TAG_BLOCKED] = "true"
    registry.set_tags(model, version, tags)
    return GateRecord(promoted, tags, version if promoted else serving, serving == version)


def last_known_good(registry: Any, model: str, alias: str, current: str | None,
                    exclude: Sequence[str] = ()) -> str | None:
    """The most recent version promoted through a passing gate before ``current``.

    MLflow aliases keep no history, so the harness's own record of alias moves is read:
    newest first, the first version (not the current one) whose gate verdict was
    ``promote`` and which has not itself been rolled back from.
    """
    history = registry.alias_history(model, alias)
    seen_current = current is None or all(move.to_version != current for move in history)
    for move in reversed(history):
        if move.to_version == current:
            seen_current = True
            continue
        if not seen_current or move.to_version in exclude:
            continue
        tags = registry.get_version(model, move.to_version).tags
        if tags.get(TAG_VERDICT) == "promote" and TAG_PROMOTED_AT in tags and TAG_ROLLED_BACK_AT not in tags:
            return str(move.to_version)
    return None
