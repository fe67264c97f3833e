"""Regression eval suites: the prompts behind past incidents and what each answer must do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .policy import OnFail, Policy, Rule, Scope, Source


@dataclass(frozen=True, slots=True)
class EvalCase:
    id: str
    suite: str
    input: str
    reference: str | None = None
    tags: frozenset[str] = frozenset()
    slice: Mapping[str, Any] = field(default_factory=dict)
    expect: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True)
class EvalSuite:
    suite: str
    cases: tuple[EvalCase, ...]
    source: Source
    version: str = "0"
    severity: str = "sev2"
    on_fail: OnFail = OnFail.BLOCK
    owner: str = ""
    description: str = ""
    from_incident: str | None = None
    tags: frozenset[str] = frozenset()

    @property
    def policy_id(self) -> str:
        """The id under which the suite's results appear in reports."""
        return f"eval:{self.suite}"

    def as_policy(self) -> Policy:
        """The suite judged like a policy: its cases' ``expect`` rules over their outputs."""
        return Policy(
            id=self.policy_id, version=self.version, title=self.description or self.suite,
            severity=self.severity, on_fail=self.on_fail, owner=self.owner, rules=(),
            source=self.source, lessons_from=(self.from_incident,) if self.from_incident else (),
            scope=Scope(suites=frozenset({self.suite})), kind="suite",
        )
