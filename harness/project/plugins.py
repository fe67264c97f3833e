"""Checks that live in a policy repository, named by ``plugins:`` in its ``playbook.yaml``.

Each entry is a module name, imported with the repository (the directory holding the
policies directory) first on ``sys.path``; every :class:`harness.checks.Check` the module
defines joins the project's checks. Nothing is registered globally: the checks belong to
the project that named them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..checks import Check, all_checks

#: called with a problem's message and the index of the plugin entry it concerns
OnProblem = Callable[[str, int], None]


def project_checks(modules: tuple[str, ...], root: Path, on_problem: OnProblem) -> Mapping[str, Any]:
    """The registered checks plus those of ``modules``; each problem goes to ``on_problem``."""
    checks: dict[str, Any] = dict(all_checks())
    if not modules:
        return checks
    entry = str(root.resolve())
    sys.path.insert(0, entry)
    try:
        for i, name in enumerate(modules):
            try:
                module = importlib.import_module(name)
            except Exception as exc:  # any failure of a repository's own code is that repository's problem
                on_problem(f"cannot import plugin module {name!r} (from {entry}): {type(exc).__name__}: {exc}", i)
                continue
            found = [v for v in vars(module).values() if isinstance(v, Check)]
            if not found:
                on_problem(f"plugin module {name!r} defines no check (functions decorated with"
                           " harness.checks.check)", i)
            for item in found:
                if item.name in checks and checks[item.name] is not item:
                    on_problem(f"plugin module {name!r} defines check {item.name!r}, which already exists", i)
                    continue
                checks[item.name] = item
    finally:
        if entry in sys.path:
            sys.path.remove(entry)
    return checks
