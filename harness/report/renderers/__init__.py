"""Renderers: one module per format, each a function of the :class:`~harness.report.Report` alone.

A renderer is ``fn(report, *, color=False, width=None) -> str``: ``color`` asks for ANSI
colour, ``width`` is the terminal's width (``None``: not a terminal, do not wrap). Formats
are plugins of the ``harness.reporters`` entry point group; the built-ins are ``text``,
``json``, ``junit``, ``markdown``, ``github`` (workflow-command annotations) and ``sarif``
(SARIF 2.1.0). Adding a format touches one new module.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from ...plugins import PluginRegistry
from ..model import Report


class Renderer(Protocol):
    def __call__(self, report: Report, *, color: bool = False, width: int | None = None) -> str: ...


def _validate(name: str, obj: Any) -> Renderer:
    if not callable(obj):
        raise TypeError(f"expected a function (report, *, color, width) -> str, got {type(obj).__name__}")
    return obj


def _builtins() -> Iterable[tuple[str, Any]]:
    from . import github, json, junit, markdown, sarif, terminal

    return (("text", terminal.render), ("json", json.render), ("junit", junit.render),
            ("markdown", markdown.render), ("github", github.render), ("sarif", sarif.render))


#: every report format by name (``--format``)
REPORTERS: PluginRegistry[Renderer] = PluginRegistry("reporter", "harness.reporters", validate=_validate,
                                                     builtins=_builtins)
#: the formats that ship with the harness
BUILTIN_FORMATS = ("text", "json", "junit", "markdown", "github", "sarif")


def render(report: Report, fmt: str, *, color: bool = False, width: int | None = None) -> str:
    """The report in format ``fmt``; ``InputError`` naming the known formats for an unknown one."""
    return REPORTERS.get(fmt)(report, color=color, width=width)
