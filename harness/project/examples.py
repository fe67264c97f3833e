"""A policy's own tests: every ``examples.fail`` output must fail it, every ``examples.pass`` output pass it.

``harness validate`` runs them, so every policy repository gets the check, not only this
one's test suite; ``harness policy test`` runs them too and adds rule coverage. Each example
is judged by the policy's per-output rules, exactly the functions the engine calls; run-level
rules judge whole runs and have no examples.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..model import Example, OutputRecord, Policy, Rule
from ..text.mask import mask_text
from ..text.normalize import one_line, printable


@dataclass(frozen=True, slots=True)
class ExampleOutcome:
    """How one example fared: the rules that failed it (or crashed on it)."""

    policy: Policy
    example: Example
    failed_rules: tuple[str, ...]
    #: each crash as ``rule (ExceptionType: message)``, the message masked, on one line and bounded
    crashed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        if self.crashed:
            return False
        return bool(self.failed_rules) == (self.example.expect == "fail")


#: at most this many characters of a crash's message are kept (masked, on one line)
CRASH_MESSAGE_MAX = 300
#: characters past a cut in which personal data is still looked for, so a value cut in half is masked
_CUT_CONTEXT = 200


def per_output_rules(policy: Policy) -> tuple[Rule, ...]:
    """The rules an example can exercise: those whose check judges one output at a time."""
    return tuple(rule for rule in policy.rules if rule.impl is not None and rule.impl.level == "output")


def example_record(example: Example) -> OutputRecord:
    """The output record an example stands for: its text, and the metadata it gives where examples carry any."""
    return OutputRecord("example", example.text, 0, example.fields)


def judge_example(policy: Policy, example: Example) -> ExampleOutcome:
    """Judge one example with every per-output rule of ``policy``, as the engine does: what the check returns
    is taken as the gate takes it, and a crash (or anything but findings) is recorded, never raised."""
    from ..evaluation.scanner import CheckCrashed, _plain_findings, _unexpected

    record = example_record(example)
    failed: list[str] = []
    crashed: list[str] = []
    for rule in per_output_rules(policy):
        try:
            findings: Any = rule.impl.fn(rule.prepared, record, None)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a crash is never a pass, nor a fail that proves the example
            findings = CheckCrashed(f"{type(exc).__name__}: {exc}")
        else:
            if type(findings) is not list and type(findings) is not tuple:
                findings = _unexpected(findings)
            if findings:
                findings = _plain_findings(findings, "none")
        if isinstance(findings, CheckCrashed):
            crashed.append(f"{rule.id} ({masked_head(one_line(findings), CRASH_MESSAGE_MAX)})")
        elif findings:
            failed.append(rule.id)
    return ExampleOutcome(policy, example, tuple(failed), tuple(crashed))


def run_examples(policy: Policy) -> list[ExampleOutcome]:
    """Judge each of the policy's examples with its per-output rules."""
    return [judge_example(policy, example) for example in policy.examples]


def masked_head(text: str, limit: int) -> str:
    """At most ``limit`` characters of ``text`` (``…`` ending a cut one) with personal data masked.

    A long text is not masked whole (minutes for megabytes): personal data is looked for in the
    shown part, and a value the cut splits (found by looking ``_CUT_CONTEXT`` characters past the
    cut) is starred out rather than shown as its first half.
    """
    if len(text) <= limit + _CUT_CONTEXT:
        masked = mask_text(text)
        return masked if len(masked) <= limit else masked[:limit - 1] + "…"
    from ..text.pii import find_pii

    cut = limit - 1
    chars = list(text[:cut])
    for match in find_pii(text[:cut + _CUT_CONTEXT]):
        if match.start < cut < match.end:  # the cut splits it: mask_text would not see it in what is kept
            chars[match.start:] = ("*" if not c.isspace() else c for c in chars[match.start:])
    return mask_text("".join(chars))[:cut] + "…"


def shown_example(text: str, limit: int = 60) -> str:
    """An example's text for one line of output: personal data masked, whitespace collapsed, no control
    characters, at most ``limit`` characters."""
    return printable(masked_head(" ".join(text.split()), limit))


def _quoted(text: str) -> str:
    return repr(shown_example(text))


def outcome_problem(outcome: ExampleOutcome) -> str | None:
    """What is wrong with an example's outcome, in one sentence naming the example; ``None`` when it behaved."""
    if outcome.ok:
        return None
    example, policy = outcome.example, outcome.policy
    if outcome.crashed:
        return f"example {_quoted(example.text)} crashed rule(s): {'; '.join(outcome.crashed)}"
    if example.expect == "fail":
        return (f"fail example {_quoted(example.text)} passes every per-output rule of"
                f" {policy.id}; it must fail at least one")
    return (f"pass example {_quoted(example.text)} fails rule(s)"
            f" {', '.join(outcome.failed_rules)} of {policy.id}; it must pass them all")


def example_errors(policies: Iterable[Policy]) -> list[InputError]:
    """One error per example that does not behave as the policy says it should."""
    errors = []
    for policy in policies:
        for outcome in run_examples(policy):
            problem = outcome_problem(outcome)
            if problem is not None:
                errors.append(InputError(problem, outcome.example.location))
    return errors
