"""The policy repository: loading it, its plugins, its policies' own examples (next: diff and history)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .loader import PLAYBOOK, WAIVERS, Project, inspect_project, load_project, read_playbook
from .waivers import expired_waivers

if TYPE_CHECKING:
    from .examples import ExampleOutcome, example_errors, run_examples


def __getattr__(name: str) -> Any:
    """The examples' runner is imported on first use: it brings the personal-data detector (its patterns take
    most of a second to compile), which reading the playbook or an incident never needs."""
    if name in ("ExampleOutcome", "example_errors", "run_examples"):
        from . import examples

        return getattr(examples, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "PLAYBOOK",
    "WAIVERS",
    "ExampleOutcome",
    "Project",
    "example_errors",
    "expired_waivers",
    "inspect_project",
    "load_project",
    "read_playbook",
    "run_examples",
]
