"""Releasing through the registry: record a gate, promote, move an alias by hand, look, read the log."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import InputError, Location
from ..model import Playbook, ReleaseSettings, Verdict
from ..release import decision_log, signing, trail
from ..release.provenance import current_actor, policy_commit
from ..release.record import GatePlan, GateTags, apply_gate, is_blocked, plan_gate
from ..release.registry import (
    AliasMove,
    ModelVersion,
    Registry,
    RegistryError,
    UnknownModel,
    UnknownVersion,
    check_name,
    open_registry,
)
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
    check_name(settings.alias, what="alias", source="the serving alias (--alias or release.alias)")
    if model is not None:
        check_name(model, what="model name", source="--model")
    if version is not None:
        check_name(version, what="version", source="--model-version")
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
    """Appends entries with the actor and the policy repository's commit filled in, signed when a key is configured.

    The signing key (``$HARNESS_SIGNING_KEY`` or ``$HARNESS_SIGNING_KEY_FILE``) is read and checked
    against the policy repository's release key here, before anything is recorded: a key that is
    malformed, inside the repository or not the release key is a ``SigningKeyError`` (exit 4). Without
    a key, a log whose last entry is signed is refused here too (``UnsignedAfterSigned``, exit 4).
    """

    def __init__(self, path: Path, *, actor: str, policies_dir: Path, clock: Clock = SYSTEM_CLOCK,
                 environ: Mapping[str, str] | None = None) -> None:
        self.path, self.actor, self.clock = path, actor, clock
        self.signer = signing.configured_signer(Path(policies_dir), environ=environ)
        if self.signer is None:
            decision_log.check_unsigned_append(path)
        self.commit = policy_commit(policies_dir)

    @property
    def signed(self) -> bool:
        """Whether the entries appended carry the release key's signature."""
        return self.signer is not None

    def __call__(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        return decision_log.append_entry(self.path, {"actor": self.actor, "policy_commit": self.commit, **entry},
                                         clock=self.clock, signer=self.signer)


def record_release(result: GateResult, *, settings: ReleaseSettings, registry: Registry | None = None,
                   model: str | None = None, version: str | None = None, promote: bool = False,
                   actor: str | None = None, create_version: bool | None = None,
                   clock: Clock = SYSTEM_CLOCK) -> RecordedRelease:
    """Keep the report, log the verdict, tag the judged version, promote it if asked: in that order.

    The report's JSON bytes are kept as ``<reports_dir>/<sha256>.json``; that sha256 is the
    one written to the registry tags and the decision log. Everything the registry is to change
    is worked out first; the gate's entry (and, for a promotion, the intent to move the alias)
    is in the decision log before the registry changes, and the move's outcome after. A log
    that cannot be appended to stops the recording with the registry untouched.
    """
    if promote and result.report.run.selection is not None:
        raise InputError("a partial gate cannot promote: it ran only the selected policies and suites"
                         " (--select/--deselect); run the whole gate to promote")
    model, version = _model_and_version(result, model, version)
    registry = registry or connect(settings, clock=clock)
    _same_model(result, registry, model, version)
    actor = current_actor(actor)
    log = DecisionLog(settings.decision_log, actor=actor, policies_dir=result.project.policies_dir, clock=clock)
    stored = store_report(result.report, settings.reports_dir)
    baseline = result.baseline.path if result.baseline is not None else None
    with registry.lock(model):
        trail.resolve_pending(settings.decision_log, log, registry, model)
        plan = plan_gate(registry, alias=settings.alias, model=model, version=version, verdict=result.verdict,
                         report_sha256=stored.sha256, outputs_path=result.outputs.path,
                         outputs_sha256=result.outputs.sha256, promote=promote, baseline_path=baseline,
                         create_version=create_version, partial=result.report.run.selection is not None,
                         clock=clock)
        entries = _decision_entries(result, log, model=model, version=plan.version, report=stored)
        tags = _apply_logged(registry, log, plan, entries, model=model, alias=settings.alias, actor=actor,
                             judged=_judged(result))
        if tags.promoted:
            entries.append(log({
                "kind": "promotion", "model": model, "model_version": tags.version, "verdict": "promote",
                "report_sha256": stored.sha256,
                "details": {"alias": settings.alias, "from": plan.serving, **_judged(result),
                            "move": trail.move_id_of(tags.move.reason if tags.move else "")}}))
    return RecordedRelease(model, tags.version, result.verdict, stored, tags, settings.alias, tuple(entries))


def _model_and_version(result: GateResult, model: str | None, version: str | None) -> tuple[str, str]:
    """The model and version to record: given, else the outputs' most common; refused unless well formed."""
    where = Location(file=result.outputs.path)
    if model is not None:
        check_name(model, what="model name", source="--model")
    else:
        model = result.outputs.most_common("model")  # the report's copies are masked for display
        if model is not None:
            check_name(model, what="model name", source="the outputs' model field", location=where)
    if version is not None:
        check_name(version, what="version", source="--model-version")
    else:
        version = result.outputs.most_common("model_version")
        if version is not None:
            check_name(version, what="version", source="the outputs' model_version field", location=where)
    if not model or not version:
        raise InputError("recording in a registry needs the model and its version: pass --model and --model-version")
    return model, version


def _judged(result: GateResult) -> dict[str, Any]:
    """The date waivers were judged against, and whether it was before the day the gate ran."""
    judged: dict[str, Any] = {"judged_on": result.report.run.judged_on, "backdated": result.report.run.backdated}
    selection = result.report.run.selection
    if selection is not None:  # a partial gate says so wherever it is recorded
        judged["selection"] = {"select": list(selection.select), "deselect": list(selection.deselect),
                               "policies": list(selection.policies), "suites": list(selection.suites)}
    return judged


def _decision_entries(result: GateResult, log: DecisionLog, *, model: str, version: str,
                      report: StoredReport) -> list[Mapping[str, Any]]:
    """The gate's entry and one per waiver applied, written before the registry changes."""
    entries: list[Mapping[str, Any]] = [log({
        "kind": "gate", "model": model, "model_version": version, "verdict": result.verdict.value,
        "report_sha256": report.sha256, "report": str(report.path),
        "policy_sha256": {p.path: p.sha256 for p in result.report.run.policies},
        "details": {"outputs": result.outputs.path, "outputs_sha256": result.outputs.sha256, **_judged(result),
                    "reasons": list(result.decision.reasons)}})]
    waived: dict[tuple[str, str, str], int] = {}
    for r in result.report.results:
        if r.status == "waived" and r.waiver:
            waived[(r.policy, r.rule, r.waiver)] = waived.get((r.policy, r.rule, r.waiver), 0) + 1
    for (policy, rule, ticket), count in sorted(waived.items()):
        entries.append(log({"kind": "waiver", "model": model, "model_version": version,
                            "report_sha256": report.sha256,
                            "details": {"policy": policy, "rule": rule, "ticket": ticket, "results": count,
                                        **_judged(result)}}))
    return entries


def _apply_logged(registry: Registry, log: DecisionLog, plan: GatePlan, entries: list[Mapping[str, Any]], *,
                  model: str, alias: str, actor: str, judged: Mapping[str, Any]) -> GateTags:
    """Change the registry as planned; a promotion's move between its intent and its outcome in the log."""
    move_id = None
    if plan.promote:
        move_id, intent = trail.announce(log, model=model, alias=alias, from_version=plan.serving,
                                         to_version=plan.version, cause="promotion", reason=plan.reason,
                                         details={"report_sha256": plan.tags["harness.report_sha256"], **judged})
        entries.append(intent)
    try:
        tags = apply_gate(registry, plan, model=model, alias=alias, actor=actor,
                          move_reason=trail.tagged_reason(plan.reason, move_id))
    except BaseException as exc:
        if move_id is not None:
            trail.fail_quietly(log, move_id, model=model, alias=alias, to_version=plan.version, error=exc)
        raise
    if move_id is not None and tags.move is not None:
        entries.append(trail.conclude(log, move_id, model=model, alias=alias, to_version=tags.version, phase="done",
                                      at=tags.move.at))
    return tags


def _resolved(registry: Registry, model: str, version: str) -> str:
    try:
        return registry.get_version(model, version).version
    except (UnknownModel, UnknownVersion):
        return version


def _shown(value: str) -> str:
    """A value from the outputs for a message: as is when it is a plain name, else quoted with escapes."""
    return value if value.isprintable() and value.isascii() else repr(value)


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
        raise InputError(f"the outputs are of version {', '.join(sorted(map(_shown, versions)))} of {model}, not"
                         f" {version!r}:"
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
    ``force`` (the reason is recorded either way). The intent is logged before the move and
    its outcome after, as for every alias move.
    """
    check_name(model, what="model name", source="--model")
    check_name(version, what="version", source="--version")
    if not reason.strip():
        raise InputError("a manual alias move needs a reason")
    registry = registry or connect(settings, clock=clock)
    actor = current_actor(actor)
    log = DecisionLog(settings.decision_log, actor=actor, policies_dir=Path(policies_dir), clock=clock)
    with registry.lock(model):
        if create:
            registry.register(model, version)
        trail.resolve_pending(settings.decision_log, log, registry, model)
        known = registry.get_version(model, version)  # a typo must not go into service
        version, tags = known.version, known.tags
        forced = is_blocked(tags)
        if forced and not force:
            raise InputError(f"{model} {version} is tagged blocked (its last gate verdict was"
                             f" {tags.get('harness.verdict', 'not promote')}); pass --force to serve it anyway"
                             " (the reason is recorded)")
        move = trail.logged_move(registry, log, model=model, alias=settings.alias, version=version, actor=actor,
                                 reason=f"by hand{' (forced over blocked)' if forced else ''}: {reason}",
                                 cause="manual", details={"forced": forced})
        entry = log({"kind": "manual_alias", "model": model, "model_version": version,
                     "details": {"alias": settings.alias, "from": move.from_version, "reason": reason,
                                 "forced": forced, "move": trail.move_id_of(move.reason)}})
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
    check_name(model, what="model name", source="--model")
    registry = connect(settings, clock=clock)
    versions = tuple(registry.versions(model))
    return RegistryView(model, settings.registry, settings.alias, registry.get_alias(model, settings.alias),
                        versions, tuple(registry.alias_history(model, settings.alias)))


def verify_decision_log(path: PathLike, *, policies_dir: PathLike | None = None, public_key: PathLike | None = None,
                        require_signed: bool = False) -> int:
    """Check the whole hash chain; the number of entries. ``LogTampered`` names the first bad line.

    Given the policy repository (``policies_dir``) or the release key's public half (``public_key``),
    the signatures are checked too (see :func:`verify_decision_log_signatures`, which says what signs it).
    """
    if policies_dir is None and public_key is None and not require_signed:
        return decision_log.verify_log(Path(path))
    return verify_decision_log_signatures(path, policies_dir=policies_dir or "policies", public_key=public_key,
                                          require_signed=require_signed).entries


def verify_decision_log_signatures(path: PathLike, *, policies_dir: PathLike = "policies",
                                   public_key: PathLike | None = None,
                                   require_signed: bool = False) -> signing.LogVerification:
    """Check the hash chain and every signature against the policy repository's release key.

    The result says how many entries are signed and unsigned, by which key, and from which entry
    on (``status``: ``signed``, ``unsigned``, ``mixed`` or ``empty``). An unsigned entry after a signed
    one, a bad signature, a signature by another key, a signed entry with no public key to check it
    and (``require_signed``) any unsigned entry are an ``InputError`` naming the line (exit 4).

    The release key's own standing is looked at too (``provenance``): whether it is the one committed
    at HEAD and carries a valid sign-off; a key swapped in the working tree re-signs anything, so its
    ``warnings()`` say so, and ``require_signed`` makes them an error.
    """
    keys = signing.release_keys(Path(policies_dir), Path(public_key) if public_key is not None else None)
    checked = signing.verify_signatures(Path(path), keys, require_signed=require_signed)
    if keys.current is None:
        return checked
    checked = dataclasses.replace(checked, provenance=signing.key_provenance(Path(policies_dir),
                                                                             Path(keys.current.path)))
    if require_signed and checked.warnings():
        raise signing.SigningKeyError(f"--require-signed: the release key {signing.shown(keys.current.fingerprint)}"
                                      f" is not one the policy repository approved: {'; '.join(checked.warnings())}",
                                      Location(file=keys.current.path))
    return checked


@dataclass(frozen=True)
class AuditTrail:
    """The decision log's hash chain and signatures checked, and the registry's alias moves compared with it."""

    entries: int
    check: trail.CrossCheck | None  # None: the registry was not consulted
    #: what signs the log; None when the signatures were not checked (no policy repository given)
    signatures: signing.LogVerification | None = None

    @property
    def ok(self) -> bool:
        return self.check is None or self.check.ok

    def to_json(self) -> dict[str, Any]:
        check = None if self.check is None else {
            "ok": self.check.ok, "moves": self.check.moves, "problems": list(self.check.problems),
            "notes": list(self.check.notes)}
        return {"ok": self.ok, "entries": self.entries, "chain": "intact",
                "signatures": None if self.signatures is None else self.signatures.to_json(), "registry": check}


def verify_audit_trail(settings: ReleaseSettings, *, registry: Registry | None = None, chain_only: bool = False,
                       lock_timeout: float = 60.0, clock: Clock = SYSTEM_CLOCK, policies_dir: PathLike | None = None,
                       public_key: PathLike | None = None, require_signed: bool = False) -> AuditTrail:
    """Check the log's chain, then that every alias move in the registry has a completed entry in the log.

    With ``policies_dir`` (or ``public_key``) the signatures are checked after the chain (see
    :func:`verify_decision_log_signatures`) and the result's ``signatures`` says what signs the log.
    The models checked are those the log names (and, for a file registry, every model in it),
    each under the aliases the log names and the configured one. A model found wanting is
    checked again under its lock, so a gate that is moving an alias right now is not reported.
    """
    signatures = None
    if policies_dir is None and public_key is None and not require_signed:
        count = decision_log.verify_log(settings.decision_log)
    else:
        signatures = verify_decision_log_signatures(settings.decision_log, policies_dir=policies_dir or "policies",
                                                    public_key=public_key, require_signed=require_signed)
        count = signatures.entries
    if chain_only:
        return AuditTrail(count, None, signatures)
    entries = decision_log.read_log(settings.decision_log)
    registry = registry or connect(settings, clock=clock)
    models = {str(e["model"]) for e in entries if e.get("model")}
    listed = getattr(registry, "models", None)
    if callable(listed):
        models |= set(listed())
    checks = [_cross_check_model(settings, registry, model, lock_timeout) for model in sorted(models)]
    merged = trail.CrossCheck(sum(c.moves for c in checks), tuple(p for c in checks for p in c.problems),
                              tuple(n for c in checks for n in c.notes))
    return AuditTrail(count, merged, signatures)


def _cross_check_model(settings: ReleaseSettings, registry: Registry, model: str,
                       lock_timeout: float) -> trail.CrossCheck:
    def check() -> trail.CrossCheck:
        entries = decision_log.read_log(settings.decision_log)
        return trail.cross_check(entries, registry, models=[model], aliases=[settings.alias])

    found = check()
    if found.ok:
        return found
    try:
        with registry.lock(model, timeout=lock_timeout):  # wait for a recording in progress, then look again
            return check()
    except RegistryError:  # a read-only registry folder, a lock held too long: what was seen stands
        return found


def read_decision_log(path: PathLike, *, model: str | None = None) -> list[dict[str, Any]]:
    """The verified entries, oldest first, optionally of one model only."""
    decision_log.verify_log(Path(path))
    return decision_log.read_log(Path(path), model=model)
