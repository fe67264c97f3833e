"""The check API: what a check is, what it receives and what it returns.

A check is a small pure function wrapped by the :func:`check` decorator, which carries
its metadata: the name used in policy files, whether it judges one output or the whole
run, the JSON Schema of its options (the policy and eval schemas are composed from
these, so a new check needs no edit anywhere else), a ``prepare`` hook that turns the
validated options into what the function needs (raising ``InputError`` at load time
when they make no sense; a NaN or an infinity anywhere in the options is refused before
it is called, for every check), and an optional ``prefilter``: an RE2 pattern whose absence
from an output proves the check passes, so the engine can skip calling it (a check that searches the folded
views of a text too may add ``prefilter_views``, a finer test for texts that are not ASCII).

Per-output checks: ``fn(prepared, record, case) -> Sequence[Finding]`` (empty: a pass). A check that
runs on every output and does not read the case may add ``batch(prepared, records)``, giving the
findings of many records in one call (the engine then calls ``fn`` only where ``batch`` raised), and
``columns(prepared, view)``: the same from the values of the record fields it reads, as a streamed scan
holds them in columns before any record is built (``view.values(path)``; a
:class:`~harness.checks.base.Unsuitable` from the view or the hook means "judge these records one by one").
Run-level checks: ``fn(prepared, run: RunView) -> RunOutcome``. The engine adds the
policy, the rule, the case and the location. Decorating registers nothing: a check
reaches the engine through the registry (built-ins, the ``harness.checks`` entry point
group, a policy repository's ``plugins:``), never as a side effect of an import.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..errors import InputError
from ..model import EvalCase, Finding, OutputRecord

Prepare = Callable[[Mapping[str, Any]], Any]
Level = Literal["output", "run"]

#: keys every rule may carry whatever its check; a check's options may not reuse them
RULE_KEYS = ("id", "check", "message", "description")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.")


class OutputCheckFn(Protocol):
    """The function of a per-output check."""

    def __call__(self, prepared: Any, record: OutputRecord, case: EvalCase | None) -> Sequence[Finding]: ...


@dataclass(frozen=True, slots=True)
class RunView:
    """The records a run-level rule sees, and the positions where its inner (``of:``) rule failed."""

    records: Sequence[OutputRecord]
    failed: frozenset[int] = frozenset()
    baseline: RunView | None = None
    #: each record's case id as a reader sees it (``model.output.case_key``), set when ids repeat that way
    keys: Sequence[str] | None = None

    def pass_flags(self) -> list[bool]:
        return [i not in self.failed for i in range(len(self.records))]

    def case_keys(self) -> Sequence[str]:
        """The key of each record's case: ids that differ only by letter case, spaces or invisible
        characters are one case (``keys``), else the ids themselves."""
        return self.keys if self.keys is not None else [record.case_id for record in self.records]


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What a run-level check concluded: a status, a message, the figure and its limit."""

    status: str  # pass | fail | error
    message: str
    value: float | None = None
    threshold: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    flipped: tuple[tuple[str, str], ...] = ()  # (case_id, what changed)


class RunCheckFn(Protocol):
    """The function of a run-level check."""

    def __call__(self, prepared: Any, run: RunView) -> RunOutcome: ...


def _keep(options: Mapping[str, Any]) -> Any:
    return options


def _non_finite(options: Mapping[str, Any]) -> tuple[tuple[str | int, ...], float] | None:
    """The path and value of the first NaN or infinity in ``options`` (mappings and lists looked into, however
    deeply nested: a stack, not recursion), or None."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), options)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                return path, value
        elif isinstance(value, Mapping):
            stack += reversed([((*path, key), item) for key, item in value.items()])
        elif isinstance(value, list | tuple):
            stack += reversed([((*path, i), item) for i, item in enumerate(value)])
    return None


def _finite_first(prepare: Prepare) -> Prepare:
    """``prepare`` behind a check that every number in the options is finite.

    JSON Schema cannot say so (every comparison with NaN is false, so ``max_ms: .nan`` satisfies
    ``exclusiveMinimum: 0``, and then no latency is ever over it): this holds for every check, plugins included.
    """
    if getattr(prepare, "_finite_first", False):
        return prepare

    def prepare_finite(options: Mapping[str, Any]) -> Any:
        found = _non_finite(options)
        if found is not None:
            path, value = found
            shown = ".nan" if math.isnan(value) else ".inf" if value > 0 else "-.inf"
            raise InputError(f"expected a finite number, got {shown}", subpath=path)
        return prepare(options)

    prepare_finite._finite_first = True  # type: ignore[attr-defined]
    prepare_finite.__wrapped__ = prepare  # type: ignore[attr-defined]
    prepare_finite.__doc__ = prepare.__doc__
    return prepare_finite


class Unsuitable(Exception):
    """A column cannot stand for the record values a check reads (its type differs from theirs): the engine
    then judges the block's records one by one."""


#: a record field's value where the record has none, in the lists a :class:`ColumnView` gives
class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:  # one object, across processes too
        return "MISSING"


MISSING: Any = _Missing()


class ColumnView(Protocol):
    """The values of record fields for a block of records not built yet, in record order."""

    def __len__(self) -> int: ...

    def values(self, path: str) -> list[Any]:
        """The value at a dotted path of each record, as the record's JSON holds it (a string, an integer, a
        float, a bool), or :data:`MISSING`; raises :class:`Unsuitable` when the values are objects or arrays,
        or numbers whose integer or float nature the columns lost."""
        ...

    def numbers(self, path: str) -> Any:
        """The numbers at a path as a float array (NaN: missing); :class:`Unsuitable` unless every present value
        is a number."""
        ...


@dataclass(frozen=True, eq=False)
class Check:
    """A registered check: its function and metadata. Calling it calls the function."""

    name: str
    fn: Callable[..., Any]
    level: Level
    #: JSON Schema of the options: ``properties`` and ``required``, plus any other keyword
    options: Mapping[str, Any]
    #: turns the options into what ``fn`` needs; any NaN or infinity in them is refused first (``InputError``)
    prepare: Prepare = _keep
    prefilter: Callable[[Any], str | None] | None = None
    #: compares with the case's ``reference`` unless the rule gives a ``value``
    uses_case: bool = False
    description: str = ""
    #: ``batch(prepared, records) -> {index: findings}``: the findings ``fn`` gives each failing record of a list
    #: (without the case: only for checks that do not read it), one call for many records; optional
    batch: Callable[[Any, Sequence[OutputRecord]], Mapping[int, Sequence[Finding]]] | None = None
    #: ``columns(prepared, view: ColumnView) -> {index: findings}``: as ``batch``, from the columns of a block of
    #: records not built yet (only for checks that do not read the case); optional
    columns: Callable[[Any, ColumnView], Mapping[int, Sequence[Finding]]] | None = None
    #: ``prefilter_views(prepared) -> (pattern, views) | None``: a finer prefilter for a check that searches the
    #: folded views of an output (``views(text)``: ``Folded`` objects, see ``text.normalize.fold_views``) besides
    #: the text itself, whose ``prefilter`` must send every text that is not ASCII to it: the check finds nothing
    #: when ``pattern`` occurs neither in the text nor in any of its views. The engine then matches ``pattern``
    #: against each output, and against the views of an output that is not ASCII; optional
    prefilter_views: Callable[[Any], tuple[str, Callable[[str], Sequence[Any]]] | None] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "prepare", _finite_first(self.prepare))

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def __repr__(self) -> str:
        return f"<check {self.name!r} ({self.level})>"


#: what an option's ``$ref`` may point at: the policy schema's own definitions
_LOCAL_REFS = ("#/$defs/inner_rule", "#/$defs/tags", "#/$defs/severity", "#/$defs/on_fail", "#/$defs/incident_id")


def _refs(schema: Any) -> list[str]:
    if isinstance(schema, Mapping):
        found = [schema["$ref"]] if isinstance(schema.get("$ref"), str) else []
        return found + [ref for value in schema.values() for ref in _refs(value)]
    if isinstance(schema, list):
        return [ref for value in schema for ref in _refs(value)]
    return []


def options_problem(check: Check) -> str | None:
    """What is wrong with a check's options schema, in words; ``None`` when it is a valid JSON Schema."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    schema = {"type": "object", **check.options}
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "its root"
        return f"its options schema is not a valid JSON Schema at {where}: {exc.message}"
    outside = sorted({ref for ref in _refs(schema) if ref not in _LOCAL_REFS})
    if outside:
        return (f"its options schema refers to {', '.join(outside)}; only the policy schema's"
                f" {', '.join(_LOCAL_REFS)} may be referred to")
    return None


def validate_check(name: str, obj: Any) -> Check:
    """``obj`` as a :class:`Check` registered under ``name``; ``TypeError``/``ValueError`` saying what is wrong."""
    if not isinstance(obj, Check):
        raise TypeError(f"expected a function decorated with harness.checks.check, got {type(obj).__name__}")
    if obj.name != name:
        raise ValueError(f"it calls itself {obj.name!r}")
    problem = options_problem(obj)
    if problem is not None:
        raise ValueError(problem)
    return obj


def check(
    name: str,
    *,
    level: Level = "output",
    options: Mapping[str, Any] | None = None,
    prepare: Prepare | None = None,
    prefilter: Callable[[Any], str | None] | None = None,
    uses_case: bool = False,
    batch: Callable[[Any, Sequence[OutputRecord]], Mapping[int, Sequence[Finding]]] | None = None,
    columns: Callable[[Any, ColumnView], Mapping[int, Sequence[Finding]]] | None = None,
    prefilter_views: Callable[[Any], tuple[str, Callable[[str], Sequence[Any]]] | None] | None = None,
) -> Callable[[Callable[..., Any]], Check]:
    """Make ``fn`` the check ``name``, with the JSON Schema of its ``options``.

    ``options`` is an object schema without the common rule keys (``id``, ``check``,
    ``message``, ``description``), for example
    ``{"properties": {"max_ms": {"type": "number"}}, "required": ["max_ms"]}``.
    A run-level check takes its inner per-output rule as ``{"$ref": "#/$defs/inner_rule"}``.
    """
    if not name or not set(name) <= _NAME_CHARS or not name[0].isalnum():
        raise ValueError(f"check name {name!r}: use lower-case letters, digits, '-', '_' and '.'")
    if level not in ("output", "run"):
        raise ValueError(f"check {name!r}: level must be 'output' or 'run', not {level!r}")
    schema = dict(options or {})
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping):
        raise ValueError(f"check {name!r}: options['properties'] must be a mapping of option names to schemas")
    clash = sorted(set(properties) & set(RULE_KEYS))
    if clash:
        raise ValueError(f"check {name!r}: options may not redefine the rule keys {clash}")
    missing = sorted(set(schema.get("required", ())) - set(properties))
    if missing:
        raise ValueError(f"check {name!r}: required options {missing} are not among its properties")

    def wrap(fn: Callable[..., Any]) -> Check:
        if not callable(fn):
            raise TypeError(f"check {name!r}: expected a function, got {type(fn).__name__}")
        doc = (fn.__doc__ or "").strip().splitlines()
        return Check(name, fn, level, schema, prepare or _keep, prefilter, uses_case, doc[0] if doc else "", batch,
                     columns, prefilter_views)

    return wrap
