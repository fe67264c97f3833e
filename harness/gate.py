"""The gate decision: a pure function of the policy outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ExitCode
from .evaluation import Evaluation, PolicyOutcome
from .model import OnFail, Verdict


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reasons: tuple[str, ...]  # one line per policy that decided it
    policies: tuple[str, ...] = ()  # the ids of those policies

    @property
    def exit_code(self) -> ExitCode:
        return self.verdict.exit_code


def decide(outcomes: Sequence[PolicyOutcome]) -> Decision:
    """``rollback`` if a failing policy says so, else ``block`` if one says so, else ``promote``.

    A policy fails when its status is ``fail`` or ``error`` (an error is never a pass).
    ``warn`` policies and ``draft`` policies are reported but never change the verdict.
    """
    failing = [o for o in outcomes if o.status in ("fail", "error") and o.policy.gating]
    rollback = [o for o in failing if o.policy.on_fail is OnFail.ROLLBACK]
    block = [o for o in failing if o.policy.on_fail is OnFail.BLOCK]
    deciding = rollback or block
    verdict = Verdict.ROLLBACK if rollback else Verdict.BLOCK if block else Verdict.PROMOTE
    reasons = tuple(
        f"{o.policy.id} {o.policy.version} ({o.policy.severity}, on_fail {o.policy.on_fail.value}): {o.status}"
        for o in deciding
    )
    return Decision(verdict, reasons, tuple(o.policy.id for o in deciding))


def scan_exit_code(evaluation: Evaluation, *, fail_on_findings: bool) -> ExitCode:
    """A scan reports; it exits 1 only when asked to and something did not pass."""
    failing = any(r.status in ("fail", "error") for r in evaluation.results) or \
        any(o.status in ("fail", "error") for o in evaluation.outcomes)
    return ExitCode.BLOCK if fail_on_findings and failing else ExitCode.PROMOTE
