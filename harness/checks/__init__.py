"""Checks: the API a check is written against, and the registry that finds them.

The built-in checks live in :mod:`harness.checks.builtin`. Others arrive through the
``harness.checks`` entry point group, through ``plugins:`` in a policy repository's
``playbook.yaml``, or through :data:`CHECKS` ``.register`` (tests: ``.registered``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..plugins import PluginRegistry
from .base import RULE_KEYS, Check, OutputCheckFn, RunCheckFn, RunOutcome, RunView, check, validate_check

__all__ = [
    "CHECKS",
    "RULE_KEYS",
    "Check",
    "OutputCheckFn",
    "RunCheckFn",
    "RunOutcome",
    "RunView",
    "all_checks",
    "check",
    "get_check",
]


def _builtins() -> Iterable[tuple[str, Any]]:
    from .builtin import BUILTIN_CHECKS

    return ((c.name, c) for c in BUILTIN_CHECKS)


#: every check the harness knows outside a particular policy repository
CHECKS: PluginRegistry[Check] = PluginRegistry("check", "harness.checks", validate=validate_check,
                                               builtins=_builtins)


def get_check(name: str) -> Check:
    """The registered check ``name``; ``InputError`` listing the known ones otherwise."""
    return CHECKS.get(name)


def all_checks() -> Mapping[str, Check]:
    """Every registered check by name (built-ins, entry points and registrations)."""
    return CHECKS.items()
