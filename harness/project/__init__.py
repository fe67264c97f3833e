"""The policy repository: loading it, its plugins, its policies' own examples (next: diff and history)."""

from __future__ import annotations

from .examples import ExampleOutcome, example_errors, run_examples
from .loader import PLAYBOOK, WAIVERS, Project, inspect_project, load_project, read_playbook
from .waivers import expired_waivers

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
