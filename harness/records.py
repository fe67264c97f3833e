"""The domain records: frozen, typed, built only from schema-checked data."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple


def utc_now() -> str:
    """The current time as ISO 8601 UTC to the second (``2026-11-27T18:00:00Z``), as reports and tags write it."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Verdict(enum.StrEnum):
    """What the gate decides for a candidate."""

    PROMOTE = "promote"
    BLOCK = "block"
    ROLLBACK = "rollback"


class OnFail(enum.StrEnum):
    BLOCK = "block"
    ROLLBACK = "rollback"
    WARN = "warn"


@dataclass(frozen=True, slots=True)
class Source:
    """The file a record came from, with its sha256, so reports tie verdicts to exact inputs."""

    path: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of a policy or of an eval case.

    ``options`` are the schema-checked options as written; ``prepared`` is what the
    check's ``prepare`` hook made of them at load time (compiled regexes and the like).
    ``inner`` is the per-output rule a run-level check aggregates (``of:``).
    """

    id: str
    check: str
    options: Mapping[str, Any]
    prepared: Any = field(default=None, compare=False, repr=False)
    inner: Rule | None = None
    message: str | None = None
    json_path: str = ""


@dataclass(frozen=True, slots=True)
class Scope:
    """Which outputs a policy applies to; empty means every output."""

    tags: frozenset[str] = frozenset()
    suites: frozenset[str] = frozenset()

    @property
    def everything(self) -> bool:
        return not self.tags and not self.suites

    def covers(self, tags: frozenset[str], suite: str | None) -> bool:
        if self.everything:
            return True
        return bool(self.tags & tags) or (suite is not None and suite in self.suites)


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    version: str
    title: str
    severity: str
    on_fail: OnFail
    owner: str
    rules: tuple[Rule, ...]
    source: Source
    status: str = "active"
    description: str = ""
    lessons_from: tuple[str, ...] = ()
    scope: Scope = Scope()
    max_failures: float = 0
    examples_pass: tuple[str, ...] = ()
    examples_fail: tuple[str, ...] = ()
    kind: str = "policy"

    @property
    def gating(self) -> bool:
        """Whether a failure of this policy can change the verdict."""
        return self.status == "active" and self.on_fail is not OnFail.WARN


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


@dataclass(frozen=True, slots=True)
class Waiver:
    policy: str
    reason: str
    approver: str
    ticket: str
    expires: str  # ISO date, last day (UTC) on which the waiver applies
    rule: str | None = None
    cases: frozenset[str] | None = None
    location: str = ""

    def expired(self, today: str) -> bool:
        return today > self.expires

    def covers(self, policy: str, rule: str, case_id: str) -> bool:
        return (
            policy == self.policy
            and (self.rule is None or self.rule == rule)
            and (self.cases is None or case_id in self.cases)
        )


@dataclass(frozen=True, slots=True)
class Playbook:
    severities: Mapping[str, Mapping[str, Any]]
    data: Mapping[str, Any]
    source: Source | None = None


class OutputRecord(NamedTuple):
    """One model output (one JSONL line). ``fields`` keeps every field of the line but ``output``.

    A named tuple rather than a dataclass: a million of them are built per large run, and a
    tuple is built several times faster and is just as immutable.
    """

    case_id: str
    output: str
    line: int
    fields: Mapping[str, Any]

    @property
    def latency_ms(self) -> float | None:
        value = self.fields.get("latency_ms")
        return value if type(value) in (int, float) else None

    @property
    def tags(self) -> tuple[str, ...]:
        value = self.fields.get("tags")
        return tuple(value) if isinstance(value, list) else ()


@dataclass(frozen=True, slots=True)
class Finding:
    """What a check found in one output: a kind, a message, and where (character span)."""

    kind: str
    message: str
    start: int | None = None
    end: int | None = None
    masked: str | None = None
