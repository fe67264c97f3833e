"""A pause of the cyclic collector around objects that live on leaves them in the oldest generation.

A 100,000-case suite is loaded with the collector paused; resuming it plainly let the next young collection walk
every object the load made (a third of a second): ``paused_gc(lasting=True)`` moves them to the oldest generation
instead (what the report builder did already, now one helper for both).
"""

from __future__ import annotations

import gc
from pathlib import Path

from harness.outputs import paused_gc
from harness.project import load_project

ROOT = Path(__file__).resolve().parents[1]


def _generation(obj: object) -> int | None:
    return next((g for g in range(3) if any(o is obj for o in gc.get_objects(generation=g))), None)


def test_what_a_lasting_pause_made_is_old_and_a_plain_pause_leaves_it_young() -> None:
    gc.collect()
    with paused_gc(lasting=True):
        kept = [[i] for i in range(1000)]  # (lists are tracked; dicts of numbers are not)
    assert gc.isenabled()
    assert _generation(kept[500]) == 2
    with paused_gc():
        young = [[i] for i in range(1000)]
    assert _generation(young[500]) in (0, 1)  # a young collection will walk it


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


def test_a_loaded_project_is_in_the_oldest_generation() -> None:
    gc.collect()
    project = load_project(ROOT / "policies", ROOT / "evals")
    assert gc.isenabled()
    assert _generation(project.suites[0].cases[0]) == 2
