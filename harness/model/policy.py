"""Policies and their rules, as loaded from schema-checked YAML: frozen, typed, never mutated."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal, Protocol

from ..errors import Location


class OnFail(enum.StrEnum):
    """What a failing policy asks for."""

    BLOCK = "block"
    ROLLBACK = "rollback"
    WARN = "warn"


@dataclass(frozen=True, slots=True)
class Source:
    """The file a policy, suite or playbook came from, with its sha256, so reports tie verdicts to exact inputs."""

    path: str
    sha256: str


class CheckLike(Protocol):
    """What a rule needs of its check (``harness.checks.Check``), named here so that the model needs no checks."""

    name: str
    level: str  # output | run
    fn: Callable[..., Any]
    prepare: Callable[[Mapping[str, Any]], Any]
    prefilter: Callable[[Any], str | None] | None
    uses_case: bool


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of a policy or of an eval case.

    ``options`` are the schema-checked options as written; ``prepared`` is what the
    check's ``prepare`` hook made of them at load time (compiled patterns and the like);
    ``impl`` is the check itself, resolved against the project's checks at load time.
    ``inner`` is the per-output rule a run-level check aggregates (``of:``).
    """

    id: str
    check: str
    options: Mapping[str, Any]
    impl: CheckLike = field(compare=False, repr=False)
    prepared: Any = field(default=None, compare=False, repr=False)
    inner: Rule | None = None
    message: str | None = None
    json_path: str = ""
    #: how the rule's findings show what they matched: ``full``, ``partial`` or ``none``; ``None``: the
    #: policy's default (see :meth:`Policy.mask_of`)
    mask: str | None = None


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


_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")


@dataclass(frozen=True, slots=True)
class MaxFailures:
    """How many failing outputs a policy tolerates: a count, or a fraction of the outputs checked.

    Written in a policy as a whole number (``3``: three outputs), a number strictly between
    0 and 1 (``0.01``: one per cent) or a percentage string (``"1%"``). ``1.0`` or ``2.0``
    is refused: it could mean a count or 100 %, and guessing wrong turns a policy off.
    """

    count: int | None = 0
    fraction: float | None = None

    @classmethod
    def parse(cls, value: Any) -> MaxFailures:
        """The typed limit; ``ValueError`` saying what to write instead when ``value`` is ambiguous or wrong."""
        if isinstance(value, bool):
            raise ValueError(f"expected a count or a fraction, got {value!r}")
        if isinstance(value, int):
            if value < 0:
                raise ValueError(f"a count cannot be negative, got {value}")
            return cls(count=value)
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(f"expected a count or a fraction, got {value!r}")
            if value.is_integer():
                whole = int(value)
                raise ValueError(f"{value!r} is ambiguous: write {whole} for a count of failing outputs, or a"
                                 f" fraction below 1 (0.05) or a percentage ('5%') for a share of them")
            if not 0 < value < 1:
                raise ValueError(f"a fraction must lie strictly between 0 and 1, got {value!r}; write a whole"
                                 " number for a count")
            return cls(count=None, fraction=value)
        if isinstance(value, str):
            match = _PERCENT.match(value)
            if match is None:
                raise ValueError(f"expected a count (3), a fraction (0.05) or a percentage ('5%'), got {value!r}")
            percent = float(match.group(1))
            if not 0 < percent < 100:
                raise ValueError(f"a percentage must lie strictly between 0% and 100%, got {value!r}")
            return cls(count=None, fraction=percent / 100)
        raise ValueError(f"expected a count or a fraction, got {type(value).__name__}")

    def exceeded(self, failed: int, checked: int) -> bool:
        """Whether ``failed`` of ``checked`` outputs is more than the limit allows."""
        if self.fraction is not None:  # exactly: '57%' of 100 outputs is 57, not 56.99999999999999
            return Fraction(failed) > Fraction(repr(self.fraction)) * checked
        return failed > (self.count or 0)

    def __str__(self) -> str:
        return f"{self.fraction * 100:g}%" if self.fraction is not None else str(self.count)


@dataclass(frozen=True, slots=True)
class Example:
    """One of a policy's own tests: an output that must pass the policy, or one that must fail it."""

    text: str
    expect: Literal["pass", "fail"]
    location: Location = field(default_factory=Location)
    #: the record's other fields when the example is written as an output record (``latency_ms``, ``model``...)
    fields: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


def mask_mode(rule: Rule, *, private: bool) -> str:
    """How ``rule``'s findings are shown when it belongs to a privacy policy (``private``) or not."""
    if rule.mask is not None:
        return rule.mask
    return "full" if private and rule.check != "pii" else "none"


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
    status: str = "active"  # draft | active | deprecated
    description: str = ""
    lessons_from: tuple[str, ...] = ()
    scope: Scope = Scope()
    max_failures: MaxFailures = MaxFailures()
    examples: tuple[Example, ...] = ()
    kind: str = "policy"  # policy | suite (an eval suite judged like a policy)

    @property
    def private(self) -> bool:
        """A privacy policy: its category (the id's first part) is ``privacy``, or a rule checks ``pii``."""
        return self.id.split(".", 1)[0] == "privacy" or any(
            r.check == "pii" or (r.inner is not None and r.inner.check == "pii") for r in self.rules)

    def mask_of(self, rule: Rule) -> str:
        """How ``rule``'s findings are shown: as the rule says; else ``full`` in a privacy policy, ``none`` elsewhere.

        A ``pii`` rule's findings are masked by kind already (``j***@example.com``): ``none``
        unless the rule asks for more.
        """
        return mask_mode(rule, private=self.private)

    @property
    def gating(self) -> bool:
        """Whether a failure of this policy can change the verdict."""
        return self.status == "active" and self.on_fail is not OnFail.WARN
