"""Regression eval suites: the prompts behind past incidents and what each answer must do."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .policy import OnFail, Policy, Rule, Scope, Source

#: where a case built by :meth:`EvalCase.lazy` keeps what builds its ``expect`` rules until they are first read
_BUILD = "_build_expect"
_new = object.__new__


@dataclass(frozen=True)
class EvalCase:
    """One regression case. ``expect`` is a tuple of rules; a case of a loaded suite builds it the first time it
    is read (:meth:`lazy`): a suite of 100,000 cases judged against a few outputs builds the rules of those only.
    """

    id: str
    suite: str
    input: str
    reference: str | None = None
    tags: frozenset[str] = frozenset()
    slice: Mapping[str, Any] = field(default_factory=dict)
    expect: tuple[Rule, ...] = ()

    @classmethod
    def lazy(cls, id: str, suite: str, input: str, reference: str | None, tags: frozenset[str],
             slice: Mapping[str, Any], expect: Callable[[int], tuple[Rule, ...]], index: int) -> EvalCase:
        """A case whose ``expect`` is ``expect(index)``, called when it is first read (once, but for a race of two
        threads, where both build the same rules). One ``expect`` serves the many cases with the same rules."""
        case = _new(cls)
        attributes = case.__dict__  # filled in place: a tenth cheaper than a new dict set as __dict__
        attributes["id"], attributes["suite"], attributes["input"] = id, suite, input
        attributes["reference"], attributes["tags"], attributes["slice"] = reference, tags, slice
        attributes[_BUILD] = (expect, index)
        return case

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop(_BUILD, None)
        state["expect"] = self.expect
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class _LazyExpect:
    """``EvalCase.expect`` until a case has it in its own attributes: built by the case's builder, then kept."""

    def __get__(self, case: EvalCase | None, owner: type | None = None) -> tuple[Rule, ...]:
        if case is None:
            return ()  # the field's default
        attributes = case.__dict__
        build = attributes.get(_BUILD)
        if build is None:  # another thread built them a moment ago
            return attributes["expect"]
        rules: tuple[Rule, ...] = build[0](build[1])
        attributes["expect"] = rules  # read from here on: the instance's attribute hides this descriptor
        attributes.pop(_BUILD, None)
        return rules


setattr(EvalCase, "expect", _LazyExpect())  # noqa: B010 (after @dataclass, which reads the default)


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
    #: the ids and the checks of the cases' rules, when the loader knows them without building every case's rules
    known_rule_ids: frozenset[str] | None = field(default=None, compare=False, repr=False)
    known_checks: frozenset[str] | None = field(default=None, compare=False, repr=False)
    #: the ``cases_file`` its cases were read from (as shown in messages), and the line of each case in it
    cases_path: str | None = field(default=None, compare=False, repr=False)
    case_lines: tuple[int, ...] = field(default=(), compare=False, repr=False)

    def rule_ids(self) -> frozenset[str]:
        """The ids of the rules of its cases."""
        if self.known_rule_ids is not None:
            return self.known_rule_ids
        return frozenset(rule.id for case in self.cases for rule in case.expect)

    def checks(self) -> frozenset[str]:
        """The checks the rules of its cases run."""
        if self.known_checks is not None:
            return self.known_checks
        return frozenset(rule.check for case in self.cases for rule in case.expect)

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
