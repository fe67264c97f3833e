"""A gate decision recorded in the model registry, and the search for the last-known-good version."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..clock import SYSTEM_CLOCK, Clock
from ..model import Verdict
from .registry import AliasMove, Registry, UnknownModel, UnknownVersion

TAG_VERDICT = "harness.verdict"
TAG_REPORT = "harness.report_sha256"
TAG_OUTPUTS = "harness.outputs"
TAG_OUTPUTS_SHA = "harness.outputs_sha256"
TAG_BASELINE = "harness.baseline"
TAG_GATED_AT = "harness.gated_at"
TAG_PROMOTED_AT = "harness.promoted_at"
TAG_BLOCKED = "blocked"
TAG_ROLLED_BACK_AT = "harness.rolled_back_at"


def is_blocked(tags: Mapping[str, str]) -> bool:
    """Whether a version's last gate blocked it (``blocked=true``)."""
    return tags.get(TAG_BLOCKED) == "true"


@dataclass(frozen=True)
class GateTags:
    """What recording a gate changed in the registry."""

    version: str  # the judged version, as the registry names it
    promoted: bool
    tags: Mapping[str, str]
    serving: str | None  # the version the alias points at after the gate
    was_serving: bool  # the judged version was the serving one (a canary or production sample)
    registered: bool  # the version was not in the registry and was registered
    move: AliasMove | None = None  # the alias move of a promotion


@dataclass(frozen=True)
class GatePlan:
    """What recording a gate will change, worked out by reading the registry only."""

    version: str  # the registry's name for the judged version (as given, when it is to be registered)
    register: bool
    serving: str | None  # what the alias points at now
    promote: bool  # the alias moves to ``version``
    tags: Mapping[str, str]

    @property
    def reason(self) -> str:
        """The reason recorded with the promotion's alias move."""
        return f"promoted by the gate (report {self.tags.get(TAG_REPORT, '')[:12]})"


def plan_gate(registry: Registry, *, alias: str, model: str, version: str, verdict: Verdict, report_sha256: str,
              outputs_path: str, outputs_sha256: str, promote: bool, baseline_path: str | None = None,
              create_version: bool | None = None, partial: bool = False, clock: Clock = SYSTEM_CLOCK) -> GatePlan:
    """The tags of the judged version and whether the alias moves, changing nothing yet.

    A ``partial`` gate (``--select``/``--deselect``) that passed proves nothing about what it did not
    run: it tags nothing (a version blocked by a whole gate stays blocked) and never moves the alias.
    One that failed blocks the version as any gate does.

    A version the registry does not know is to be registered when ``create_version`` says so, or
    by default when the backend holds only names (the file registry). MLflow versions are
    real model artifacts: an unknown one is refused unless asked, never replaced by a placeholder.
    """
    register = False
    try:
        version = registry.get_version(model, version).version  # the registry's name for it (MLflow: "2")
    except (UnknownModel, UnknownVersion) as exc:
        allowed = registry.creates_versions if create_version is None else create_version
        if not allowed:
            raise UnknownVersion(f"{exc.message}: register it in {registry.uri} first (or pass --create-version"
                                 " to register a placeholder version with no model behind it)", exc.location) from None
        register = True
    try:
        serving = registry.get_alias(model, alias)
    except UnknownModel:
        serving = None  # a model the gate registers now
    if partial and verdict is Verdict.PROMOTE:
        return GatePlan(version, register, serving, False, {})
    now = clock.timestamp()
    tags = {TAG_VERDICT: verdict.value, TAG_REPORT: report_sha256, TAG_OUTPUTS: outputs_path,
            TAG_OUTPUTS_SHA: outputs_sha256, TAG_GATED_AT: now,
            TAG_BASELINE: baseline_path or ""}  # overwrite what an earlier gate run of this version left
    moves = verdict is Verdict.PROMOTE and promote and serving != version
    if verdict is Verdict.PROMOTE:
        tags[TAG_BLOCKED] = "false"  # a version blocked before and fixed since is no longer blocked
        if moves:
            tags[TAG_PROMOTED_AT] = now
    else:
        tags[TAG_BLOCKED] = "true"
    return GatePlan(version, register, serving, moves, tags)


def apply_gate(registry: Registry, plan: GatePlan, *, model: str, alias: str, actor: str,
               move_reason: str | None = None) -> GateTags:
    """Register the version if planned, move the alias if planned, then tag the version."""
    version = registry.register(model, plan.version).version if plan.register else plan.version
    move = None
    if plan.promote:
        move = registry.move_alias(model, alias, version, actor=actor, reason=move_reason or plan.reason)
    if plan.tags:
        registry.set_tags(model, version, plan.tags)
    return GateTags(version, plan.promote, plan.tags, version if plan.promote else plan.serving,
                    plan.serving == version, plan.register, move)


def tag_gated_version(registry: Registry, *, alias: str, model: str, version: str, verdict: Verdict,
                      report_sha256: str, outputs_path: str, outputs_sha256: str, promote: bool, actor: str,
                      baseline_path: str | None = None, create_version: bool | None = None,
                      clock: Clock = SYSTEM_CLOCK) -> GateTags:
    """Tag the judged version with the verdict; move the serving alias to it when it passed and ``promote``.

    The registry alone, with no decision log: :func:`harness.api.record_release` logs the
    intent before these changes and the outcome after.
    """
    plan = plan_gate(registry, alias=alias, model=model, version=version, verdict=verdict,
                     report_sha256=report_sha256, outputs_path=outputs_path, outputs_sha256=outputs_sha256,
                     promote=promote, baseline_path=baseline_path, create_version=create_version, clock=clock)
    return apply_gate(registry, plan, model=model, alias=alias, actor=actor)


@dataclass(frozen=True)
class LastKnownGood:
    """The last-known-good version (or none), and every version looked at with why it was passed over."""

    version: str | None
    considered: tuple[tuple[str, str], ...]

    def explain(self) -> str:
        if not self.considered:
            return "the alias history holds no earlier version"
        return "; ".join(f"{version}: {why}" for version, why in self.considered)


def last_known_good(registry: Registry, model: str, alias: str, current: str | None,
                    exclude: Sequence[str] = ()) -> LastKnownGood:
    """The most recent version promoted through a passing gate before ``current``.

    MLflow aliases keep no history, so the harness's own record of alias moves is read:
    newest first, the first version (not the current one) whose gate verdict was
    ``promote``, which the gate itself promoted, and which has not been rolled back from.
    """
    history = registry.alias_history(model, alias)
    seen_current = current is None or all(move.to_version != current for move in history)
    considered: dict[str, str] = {}
    for move in reversed(history):
        candidate = str(move.to_version)
        if candidate == current:
            seen_current = True
            considered.setdefault(candidate, "it is the version serving now")
            continue
        if candidate in considered:
            continue
        if not seen_current:
            considered[candidate] = f"served after {current} in the alias history"
            continue
        if candidate in exclude:
            considered[candidate] = "excluded"
            continue
        try:
            tags = registry.get_version(model, candidate).tags
        except UnknownVersion:
            considered[candidate] = "no longer in the registry"
            continue
        verdict = tags.get(TAG_VERDICT)
        if verdict is None:
            considered[candidate] = "never judged by a gate (moved there by hand)"
        elif verdict != "promote":
            considered[candidate] = f"its last gate verdict was {verdict}"
        elif TAG_PROMOTED_AT not in tags:
            considered[candidate] = "passed a gate but was put in service by hand, not promoted by the gate"
        elif TAG_ROLLED_BACK_AT in tags:
            considered[candidate] = f"rolled back from at {tags[TAG_ROLLED_BACK_AT]}"
        else:
            return LastKnownGood(candidate, tuple(considered.items()))
    return LastKnownGood(None, tuple(considered.items()))
