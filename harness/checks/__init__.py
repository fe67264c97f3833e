"""The check registry.

A check is a small pure function registered with the ``@check`` decorator, which carries
its metadata: the name used in policy files, whether it judges one output or the whole
run, a ``prepare`` hook that turns the rule's options into what the function needs (and
raises ``InputError`` at load time when they make no sense), and an optional
``prefilter``: an RE2 pattern whose absence from an output proves the check passes, so
the engine can skip calling it on most records.

Per-output checks have the signature ``fn(prepared, record, case) -> Sequence[Finding]``;
an empty result is a pass. Run-level checks have ``fn(prepared, run) -> RunOutcome``.
The engine adds the policy, the rule, the case and the location.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InputError

Prepare = Callable[[Mapping[str, Any], str], Any]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    fn: Callable[..., Any]
    level: Literal["output", "run"]
    prepare: Prepare
    prefilter: Callable[[Any], str | None] | None = None
    uses_case: bool = False  # compares with the case's ``reference`` unless given a ``value``
    description: str = ""


_REGISTRY: dict[str, Check] = {}


def _identity(options: Mapping[str, Any], where: str) -> Any:
    return options


def check(
    name: str,
    *,
    level: Literal["output", "run"] = "output",
    prepare: Prepare | None = None,
    prefilter: Callable[[Any], str | None] | None = None,
    uses_case: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn`` as the check ``name``; the function itself is returned unchanged."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise ValueError(f"check {name!r} is already registered by {_REGISTRY[name].fn!r}")
        doc = (fn.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = Check(
            name, fn, level, prepare or _identity, prefilter, uses_case, doc[0] if doc else ""
        )
        return fn

    return register


def _load_builtins() -> None:
    # Importing the modules runs their decorators once; the registry is their only state.
    from . import aggregate, content, pii, structured  # noqa: F401


def get_check(name: str) -> Check:
    """The registered check ``name``; ``InputError`` listing the known ones otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise InputError(f"unknown check {name!r}; expected one of: {known}") from None


def all_checks() -> Mapping[str, Check]:
    _load_builtins()
    return dict(_REGISTRY)
