"""A policy's own tests: every ``examples.fail`` output must fail it, every ``examples.pass`` output pass it.

``harness validate`` runs them, so every policy repository gets the check, not only this
one's test suite. Each example is judged by the policy's per-output rules, exactly the
functions the engine calls; run-level rules judge whole runs and have no examples.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import InputError
from ..model import Example, OutputRecord, Policy
from ..text.mask import mask_text
from ..text.normalize import printable


@dataclass(frozen=True, slots=True)
class ExampleOutcome:
    """How one example fared: the rules that failed it (or crashed on it)."""

    policy: Policy
    example: Example
    failed_rules: tuple[str, ...]
    crashed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        if self.crashed:
            return False
        return bool(self.failed_rules) == (self.example.expect == "fail")


def run_examples(policy: Policy) -> list[ExampleOutcome]:
    """Judge each of the policy's examples with its per-output rules."""
    outcomes = []
    per_output = [rule for rule in policy.rules if rule.impl is not None and rule.impl.level == "output"]
    for example in policy.examples:
        record = OutputRecord("example", example.text, 0, {})
        failed, crashed = [], []
        for rule in per_output:
            try:
                findings = rule.impl.fn(rule.prepared, record, None)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a crash is never a pass, nor a fail that proves the example
                crashed.append(f"{rule.id} ({type(exc).__name__}: {exc})")
                continue
            if not isinstance(findings, list | tuple):
                crashed.append(f"{rule.id} (returned {type(findings).__name__}, not a list of findings)")
            elif findings:
                failed.append(rule.id)
        outcomes.append(ExampleOutcome(policy, example, tuple(failed), tuple(crashed)))
    return outcomes


def _quoted(text: str) -> str:
    shown = printable(mask_text(" ".join(text.split())))
    return repr(shown if len(shown) <= 60 else shown[:59] + "…")


def example_errors(policies: Iterable[Policy]) -> list[InputError]:
    """One error per example that does not behave as the policy says it should."""
    errors = []
    for policy in policies:
        for outcome in run_examples(policy):
            if outcome.ok:
                continue
            example = outcome.example
            if outcome.crashed:
                message = f"example {_quoted(example.text)} crashed rule(s): {'; '.join(outcome.crashed)}"
            elif example.expect == "fail":
                message = (f"fail example {_quoted(example.text)} passes every per-output rule of"
                           f" {policy.id}; it must fail at least one")
            else:
                message = (f"pass example {_quoted(example.text)} fails rule(s)"
                           f" {', '.join(outcome.failed_rules)} of {policy.id}; it must pass them all")
            errors.append(InputError(message, example.location))
    return errors
