"""Reporters: one module per format, each a function registered under its format name.

A reporter turns the report (plain data, see ``report.schema.json``) and the evaluation
behind it into text. Adding a format touches one new module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..engine import Evaluation


class Reporter(Protocol):
    def __call__(self, report: dict[str, Any], evaluation: Evaluation, *, color: bool = False) -> str: ...


_REPORTERS: dict[str, Reporter] = {}


def reporter(name: str) -> Callable[[Reporter], Reporter]:
    """Register a reporter under a ``--format`` name."""

    def register(fn: Reporter) -> Reporter:
        _REPORTERS[name] = fn
        return fn

    return register


def get_reporter(name: str) -> Reporter:
    from . import json_report, junit, markdown, terminal  # noqa: F401 - registers the built-ins

    return _REPORTERS[name]


FORMATS = ("text", "json", "junit", "markdown")
