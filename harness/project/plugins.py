"""Checks that live in a policy repository, named by ``plugins:`` in its ``playbook.yaml``.

Each entry is a module name, imported with the repository (the directory holding the
policies directory) first on ``sys.path``; every :class:`harness.checks.Check` the module
defines joins the project's checks. Nothing is registered globally and nothing stays
imported: the repository's modules leave ``sys.modules`` once their checks are taken, so
two repositories may both have a ``house_checks`` module, and an edited plugin is read
afresh the next time the repository loads. A plugin may not share the name of a module
already imported from elsewhere (``json``, ``harness``...). Loading a repository runs its
plugins' code: judge only repositories you would run the tests of.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from ..checks import Check, all_checks
from ..checks.base import options_problem

#: called with a problem's message and the index of the plugin entry it concerns
OnProblem = Callable[[str, int], None]
_IMPORTING = threading.Lock()  # sys.path and sys.modules are process-wide


def _inside(module: ModuleType, root: Path) -> bool:
    places = [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or ())]
    return any(place and Path(place).resolve().is_relative_to(root) for place in places)


def _import_from(name: str, root: Path) -> ModuleType:
    """Import ``name`` from ``root``, then forget every module that came from ``root``."""
    top = name.split(".", 1)[0]
    existing = sys.modules.get(top)
    if existing is not None and not _inside(existing, root):
        where = getattr(existing, "__file__", None) or "a built-in module"
        raise ImportError(f"{top!r} is already imported from {where}; a plugin module may not reuse that name")
    before = set(sys.modules)
    sys.path.insert(0, str(root))
    try:
        importlib.invalidate_caches()
        with contextlib.redirect_stdout(sys.stderr):  # a chatty plugin must not corrupt --format json
            return importlib.import_module(name)
    finally:
        sys.path.remove(str(root))
        for key in set(sys.modules) - before:
            module = sys.modules.get(key)
            if module is not None and _inside(module, root):
                del sys.modules[key]


def project_checks(modules: tuple[str, ...], root: Path, on_problem: OnProblem) -> Mapping[str, Any]:
    """The registered checks plus those of ``modules``; each problem goes to ``on_problem``."""
    checks: dict[str, Any] = dict(all_checks())
    root = root.resolve()
    for i, name in enumerate(modules):
        try:
            with _IMPORTING:
                module = _import_from(name, root)
        except BaseException as exc:  # a repository's own code may raise anything, SystemExit included
            if isinstance(exc, KeyboardInterrupt):
                raise
            on_problem(f"cannot import plugin module {name!r} (from {root}): {type(exc).__name__}: {exc}", i)
            continue
        found = [v for v in vars(module).values() if isinstance(v, Check)]
        if not found:
            on_problem(f"plugin module {name!r} defines no check (functions decorated with harness.checks.check)",
                       i)
        for item in found:
            if item.name in checks and checks[item.name] is not item:
                on_problem(f"plugin module {name!r} defines check {item.name!r}, which already exists", i)
                continue
            problem = options_problem(item)
            if problem is not None:
                on_problem(f"plugin module {name!r}: check {item.name!r}: {problem}", i)
                continue
            checks[item.name] = item
    return checks
