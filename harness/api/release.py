"""Releasing through the registry: record a gate, promote, move an alias by hand, look, read the log."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import InputError
from ..model import Playbook, ReleaseSettings, Verdict
from ..release import decision_log
from ..release.provenance import current_actor, policy_commit
from ..release.record import GateTags, is_blocked, tag_gated_version
from ..release.registry import AliasMove, ModelVersion, Registry, UnknownModel, UnknownVersion, open_registry
from ..report import StoredReport, store_report
from .judge import GateResult, PathLike


def release_settings(playbook: Playbook, **overrides: Any) -> ReleaseSettings:
    """The playbook's ``release`` section with the caller's overrides (``None`` keeps the playbook's value).

    The overrides are the fields of :class:`~harness.model.ReleaseSettings`; a name that is not one is an
    ``InputError`` naming the fields.
    """
    known = {f.name for f in dataclasses.fields(ReleaseSettings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InputError(f"unknown release setting(s) {', '.join(unknown)}; expected: {', '.join(sorted(known))}")
    return playbook.release.with_overrides(**overrides)


def connect(settings: ReleaseSettings, *, model: str | None = None, version: str | None = None,
            create_version: bool | None = None, clock: Clock = SYSTEM_CLOCK) -> Registry:
    """Open the registry and make sure it answers, before anything is judged.

    A wrong URI, an unreachable server or a corrupt file is reported now (``EnvError``,
    exit 6) rather than after a verdict; so is a version the registry would refuse to record.
    """
    registry = open_registry(settings.registry, clock=clock)
    if model is not None:
        try:
            registry.get_alias(model, settings.alias)
            if version is not None:
                registry.get_version(model, version)
        except (UnknownModel, UnknownVersion):
            if not (registry.creates_versions if create_version is None else create_version):
                raise
    return registry


@dataclass(frozen=True)
class RecordedRelease:
    """What recording a gate did: the kept report, the tags, the alias, the decision-log entries."""

    model: str
    version: str
    verdict: Verdict
    report: StoredReport
    tags: GateTags
    alias: str
    entries: tuple[Mapping[str, Any], ...]

    @property
    def promoted(self) -> bool:
        return self.tags.promoted

    @property
    def rollback_needed(self) -> bool:
        """The judged version is the serving one and the verdict is rollback: production must roll back."""
        return self.verdict is Verdict.ROLLBACK and self.tags.was_serving


class DecisionLog:
    """Appends entries with the actor and the policy repository's commit filled in."""

    def __init__(self, path: Path, *, actor: str, policies_dir: Path, clock: Clock = SYSTEM_CLOCK) -> None:
        self.path, self.actor, self.clock = path, actor, clock
        self.commit = policy_commit(policies_dir)

    def __call__(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        return decision_log.append_entry(self.path, {"actor": self.actor, "policy_commit": self.commit, **entry},
                                         clock=self.clock)


def record_release(result: GateResult, *, settings: ReleaseSettings, registry: Registry | None = None,
                   model: str | None = None, version: str | None = None, promote: bool = False,
                   actor: str | None = None, create_version: bool | None = None,
                   clock: Clock = SYSTEM_CLOCK) -> RecordedRelease:
    """Keep the report, tag the judged version with the verdict, promote it if asked, and log it all.

    The report's JSON bytes are kept as ``<reports_dir>/<sha256>.json``; that sha256 is the
    one written to the registry tags and the decision log.
    """
    model = model or result.outputs.most_common("model")  # the report's copies are masked for display
    version = version or result.outputs.most_common("model_version")
    if not model or not version:
        raise InputError("recording in a registry needs the model and its version: pass --model and --model-version")
    registry = registry or connect(settings, clock=clock)
    _same_model(result, registry, model, version)
    actor = current_actor(actor)
    stored = store_report(result.report, settings.reports_dir)
    baseline = result.baseline.path if result.baseline is not None else None
    with registry.lock(model):
        tags = tag_gated_version(registry, alias=settings.alias, model=model, version=version,
                                 verdict=result.verdict, report_sha256=stored.sha256, outputs_path=result.outputs.path,
                                 outputs_sha256=result.outputs.sha256, promote=promote, actor=actor,
                                 baseline_path=baseline, create_version=create_version, clock=clock)
    version = tags.version
    log = DecisionLog(settings.decision_log, actor=actor, policies_dir=result.project.policies_dir, clock=clock)
    entries = [log({
        "kind": "gate", "model": model, "model_version": version, "verdict": result.verdict.value,
        "report_sha256": stored.sha256, "report": str(stored.path),
        "policy_sha256": {p.path: p.sha256 for p in result.report.run.policies},
        "details": {"outputs": result.outputs.path, "outputs_sha256": result.outputs.sha256,
                    "judged_on": result.report.run.judged_on, "reasons": list(result.decision.reasons)}})]
    waived: dict[tuple[str, str, str], int] = {}
    for r in result.report.results:
        if r.status == "waived" and r.waiver:
            waived[(r.policy, r.rule, r.waiver)] = waived.get((r.policy, r.rule, r.waiver), 0) + 1
    for (policy, rule, ticket), count in sorted(waived.items()):
        entries.append(log({"kind": "waiver", "model": model, "model_version": version,
                            "report_sha256": stored.sha256,
                            "details": {"policy": policy, "rule": rule, "ticket": ticket, "results": count}}))
    if tags.promoted:
        entries.append(log({"kind": "promotion", "model": model, "model_version": version, "verdict": "promote",
                            "report_sha256": stored.sha256, "details": {"alias": settings.alias}}))
    return RecordedRelease(model, tags.version, result.verdict, stored, tags, settings.alias, tuple(entries))


def _resolved(registry: Registry, model: str, version: str) -> str:
    try:
        return registry.get_version(model, version).version
    except (UnknownModel, UnknownVersion):
        return version


def _same_model(result: GateResult, registry: Registry, model: str, version: str) -> None:
    """Refuse to record a verdict on outputs that say they are of another version.

    Records without a ``model_version`` field say nothing and are accepted; a registry that
    names one version two ways (MLflow's ``2`` and its tag ``1.4.2``) is asked. The ``model``
    field is a label of the serving stack and need not be the registry's model name.
    """
    versions = result.outputs.values("model_version")
    if not versions or versions == {version}:
        return
    wanted = _resolved(registry, model, version)
    if {_resolved(registry, model, v) for v in versions} != {wanted}:
        raise InputError(f"the outputs are of version {', '.join(sorted(versions))} of {model}, not {version!r}:"
                         " nothing was recorded (a verdict belongs to the version that produced the outputs)")


@dataclass(frozen=True)
class ManualMove:
    move: AliasMove
    forced: bool
    entry: Mapping[str, Any]


def move_alias(model: str, version: str, *, reason: str, settings: ReleaseSettings, registry: Registry | None = None,
               create: bool = False, force: bool = False, actor: str | None = None,
               policies_dir: PathLike = "policies", clock: Clock = SYSTEM_CLOCK) -> ManualMove:
    """Point the serving alias at a version by hand: recorded, and never taken for a last-known-good.

    An unknown version is refused unless ``create``; a version tagged ``blocked`` unless
    ``force`` (the reason is recorded either way).
    """
    if not reason.strip():
        raise InputError("a manual alias move needs a reason")
    registry = registry or connect(settings, clock=clock)
    actor = current_actor(actor)
    forced = False
    with registry.lock(model):
        if create:
            registry.register(model, version)
        known = registry.get_version(model, version)  # a typo must not go into service
        version, tags = known.version, known.tags
        if is_blocked(tags):
            if not force:
                raise InputError(f"{model} {version} is tagged blocked (its last gate verdict was"
                                 f" {tags.get('harness.verdict', 'not promote')}); pass --force to serve it anyway"
                                 " (the reason is recorded)")
            forced = True
        move = registry.move_alias(model, settings.alias, version, actor=actor,
                                   reason=f"by hand{' (forced over blocked)' if forced else ''}: {reason}")
    log = DecisionLog(settings.decision_log, actor=actor, policies_dir=Path(policies_dir), clock=clock)
    entry = log({"kind": "manual_alias", "model": model, "model_version": version,
                 "details": {"alias": settings.alias, "from": move.from_version, "reason": reason, "forced": forced}})
    return ManualMove(move, forced, entry)


@dataclass(frozen=True)
class RegistryView:
    """A model as the registry holds it: versions with tags, the serving alias, the alias history."""

    model: str
    uri: str
    alias: str
    serving: str | None
    versions: tuple[ModelVersion, ...]
    history: tuple[AliasMove, ...]


def registry_view(model: str, *, settings: ReleaseSettings, clock: Clock = SYSTEM_CLOCK) -> RegistryView:
    registry = connect(settings, clock=clock)
    versions = tuple(registry.versions(model))
    return RegistryView(model, settings.registry, settings.alias, registry.get_alias(model, settings.alias),
                        versions, tuple(registry.alias_history(model, settings.alias)))


def verify_decision_log(path: PathLike) -> int:
    """Check the whole hash chain; the number of entries. ``LogTampered`` names the first bad line."""
    return decision_log.verify_log(Path(path))


def read_decision_log(path: PathLike, *, model: str | None = None) -> list[dict[str, Any]]:
    """The verified entries, oldest first, optionally of one model only."""
    decision_log.verify_log(Path(path))
    return decision_log.read_log(Path(path), model=model)
