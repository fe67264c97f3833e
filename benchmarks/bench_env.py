"""The bytecode cache of the benchmarks' child processes (shared by ``gate_throughput.py`` and ``suite_load.py``).

An installed harness runs from compiled bytecode: ``pip install`` compiles it, and an editable install writes it
the first time a module is imported. With ``PYTHONDONTWRITEBYTECODE`` set (some containers set it, this machine's
shell does), every run would compile the package's sources again, in the parent and in each forked worker that
imports a module after the fork: a second of CPU per 1 M-record scan that no user pays. So the children run
without it (:func:`environment`), and the measured tree is compiled first (:func:`compile_tree`).
"""

from __future__ import annotations

import compileall
import contextlib
import os
import sys
from pathlib import Path


def environment(**extra: str) -> dict[str, str]:
    """This process's environment with Python's bytecode cache on, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


def compile_tree(root: Path) -> str:
    """Compile the bytecode of the ``harness`` package under ``root`` (into its ``__pycache__`` folders, or under
    ``PYTHONPYCACHEPREFIX`` when that is set), as an install does; what was done, for a printed header. What
    compileall says of a file it cannot compile or write goes to standard error (standard output may be JSON)."""
    with contextlib.redirect_stdout(sys.stderr):
        ok = compileall.compile_dir(str(root / "harness"), quiet=1)
    return "harness bytecode compiled beforehand, as an install does" if ok else \
        "harness bytecode could not all be compiled or written (see standard error): those modules are compiled" \
        " by every run"

