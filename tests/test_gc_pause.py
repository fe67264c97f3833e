"""A pause of the cyclic collector around objects that live on leaves them in the oldest generation.

A 100,000-case suite is loaded with the collector paused; resuming it plainly let the next young collection walk
every object the load made (a third of a second): ``paused_gc(lasting=True)`` moves them to the oldest generation
instead (what the report builder did already, now one helper for both).
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from harness.outputs import jsonl, paused_gc

ROOT = Path(__file__).resolve().parents[1]


def _generation(obj: object) -> int | None:
    return next((g for g in range(3) if any(o is obj for o in gc.get_objects(generation=g))), None)


def test_what_a_lasting_pause_made_is_old_and_a_plain_pause_leaves_it_young(monkeypatch: Any) -> None:
    monkeypatch.setattr(jsonl, "LASTING_OBJECTS", 1000)
    assert not gc.get_freeze_count(), "a test before this one left the heap frozen"
    gc.collect()
    with paused_gc(lasting=True):
        kept = [[i] for i in range(1000)]  # (lists are tracked; dicts of numbers are not)
    assert gc.isenabled()
    assert _generation(kept[500]) == 2
    with paused_gc():
        young = [[i] for i in range(1000)]
    assert _generation(young[500]) in (0, 1)  # a young collection will walk it
    with paused_gc(lasting=True):
        few = [[i] for i in range(500)]  # fewer than LASTING_OBJECTS: left young, as any small load's garbage
    assert _generation(few[100]) in (0, 1)


def test_a_lasting_pause_inside_a_frozen_heap_leaves_it_frozen() -> None:
    gc.collect()
    gc.freeze()
    try:
        with paused_gc(lasting=True):
            made = [[i] for i in range(100)]
        assert gc.get_freeze_count() > 0 and _generation(made[0]) in (0, 1)  # not moved: the heap stays frozen
    finally:
        gc.unfreeze()


def test_a_paused_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with paused_gc(lasting=True):
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_cli_freezes_the_heap_before_the_interpreter_exits(tmp_path: Any) -> None:
    """Its last collection walks none of a run's objects; what atexit handlers and flushes do still happens."""
    import subprocess
    import sys

    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"
            f"sys.argv = ['harness', 'validate', '--policies', {str(ROOT / 'policies')!r}, '--evals', "
            f"{str(ROOT / 'evals')!r}]\n"
            "from harness.cli import run\n"
            "run()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "frozen True"
    assert done.stdout.startswith("ok: ")  # what it printed, flushed before the exit
