"""Selecting what runs: ``--select`` and ``--deselect`` patterns over policy ids and eval suite ids.

A pattern is an ``fnmatch`` glob, matched case-sensitively against every policy id and every
eval suite id (a suite answers to its own id, ``refusal-parity``, and to the id it has in reports,
``eval:refusal-parity``). With no ``select`` everything is selected; ``deselect`` then removes.
A pattern that matches nothing is an error naming it: a typo must not quietly judge less.

The selected project keeps every eval case (``Project.cases``): outputs of a deselected suite are still
outputs the selected policies judge by their suite and tags, and still count as known cases.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import InputError, InputErrors
from .loader import Project

#: how many known ids an error about a pattern names
SHOWN_IDS = 12


@dataclass(frozen=True, slots=True)
class Selection:
    """What a partial run asked for (the patterns) and what it ran (policy ids, eval suite ids)."""

    select: tuple[str, ...]
    deselect: tuple[str, ...]
    policies: tuple[str, ...]
    suites: tuple[str, ...]


def _ids(project: Project) -> dict[str, tuple[str, ...]]:
    """Every selectable thing by its key (a policy id, or ``eval:<suite>``), with the names it answers to."""
    names: dict[str, tuple[str, ...]] = {p.id: (p.id,) for p in project.policies}
    names |= {s.policy_id: (s.suite, s.policy_id) for s in project.suites}
    return names


def _matches(pattern: str, names: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for name in names)


def _unknown(option: str, pattern: str, known: Sequence[str]) -> InputError:
    shown = ", ".join(known[:SHOWN_IDS]) + (f" and {len(known) - SHOWN_IDS} more" if len(known) > SHOWN_IDS else "")
    return InputError(f"{option} {pattern!r} matches no policy id and no eval suite id; expected a glob over:"
                      f" {shown or 'nothing (no policies, no suites)'}")


def select_project(project: Project, select: Sequence[str] = (),
                   deselect: Sequence[str] = ()) -> tuple[Project, Selection | None]:
    """The project narrowed to the selected policies and suites, and the selection (``None``: no patterns).

    ``InputErrors`` (exit 4) names every pattern that matches nothing, and says so when the
    patterns leave nothing to judge (deprecated policies, which are never judged, do not count).
    """
    select, deselect = tuple(select), tuple(deselect)
    if not select and not deselect:
        return project, None
    names = _ids(project)
    known = sorted({name for aliases in names.values() for name in aliases})
    problems = [_unknown(option, pattern, known)
                for option, patterns in (("--select", select), ("--deselect", deselect))
                for pattern in dict.fromkeys(patterns)
                if not any(_matches(pattern, aliases) for aliases in names.values())]
    InputErrors.raise_if_any(problems)
    kept = {key for key, aliases in names.items()
            if (not select or any(_matches(p, aliases) for p in select))
            and not any(_matches(p, aliases) for p in deselect)}
    policies = tuple(p for p in project.policies if p.id in kept)
    suites = tuple(s for s in project.suites if s.policy_id in kept)
    if not suites and all(p.status == "deprecated" for p in policies):  # deprecated policies judge nothing
        asked = " ".join([*(f"--select {p}" for p in select), *(f"--deselect {p}" for p in deselect)])
        left = f" (only deprecated policies, which are not judged: {', '.join(p.id for p in policies)})" \
            if policies else ""
        raise InputError(f"{asked}: no policy and no eval suite is left to judge{left}")
    selection = Selection(select, deselect, tuple(p.id for p in policies if p.status != "deprecated"),
                          tuple(s.suite for s in suites))
    return dataclasses.replace(project, policies=policies, suites=suites), selection
