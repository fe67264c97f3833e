"""Speed of the incident records at scale (on demand, not a test).

Usage:
  python benchmarks/incident_speed.py [--incidents 500] [--events 12] [--long 2000] [--repeat 3]

Builds ``--incidents`` incidents in a temporary folder through the store (not timed), each walked
through ``--events`` events (contain, RCA, follow-ups, resolution, review, sign-off, close), and one
incident with ``--long`` events. Then reports the median wall seconds of ``--repeat`` runs of:

- reading every incident (``IncidentStore.load_all``: two schemas and the lifecycle replay per record);
- every running clock of every open incident (``running_clocks``, what ``harness incident clocks`` does);
- the metrics (``compute_metrics`` without git history);
- one step appended to an incident of ``--events`` events and to the one of ``--long`` events (every step
  re-reads and replaces the whole events file: the ratio shows how that grows).

Rough targets (printed, not asserted): reading 500 incidents under 10 s; one step under 1 s at 2,000 events.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.api import incidents as api
from harness.clock import FixedClock
from harness.incidents import IncidentStore
from harness.incidents.metrics import compute_metrics
from harness.project import read_playbook

ROOT = Path(__file__).resolve().parents[1]
START = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)


def walk(store: IncidentStore, number: int, events: int) -> str:
    detected = START + dt.timedelta(hours=7 * number)
    created = store.create({"title": f"incident {number}", "severity": ("sev1", "sev2", "sev3")[number % 3],
                            "detected": detected.isoformat().replace("+00:00", "Z"), "model": "m",
                            "model_version": "1"})
    at = detected
    steps = [("contained", {"action": "disable-endpoint", "outcome": "done", "contains": True}),
             ("rca", {"trigger": "t", "root_cause_type": "model", "corrective_action": "c", "preventive_action": "p",
                      "owner": "o@example.com", "deadline": "2026-12-31"})]
    fu = 0
    while len(steps) < max(events - 4, 2):
        fu += 1
        steps.append(("follow_up", {"id": f"FU-{fu}", "action": "added", "text": "do it", "owner": "o@example.com",
                                    "due": "2026-12-31"}))
        if len(steps) < events - 4:
            steps.append(("follow_up", {"id": f"FU-{fu}", "action": "done"}))
    steps += [("resolved", {}), ("review", {"participants": ["a"], "lessons": ["l"]}),
              ("signed_off", {"role": "governance_lead"})]
    with store.transaction(created.id) as tx:
        for kind, fields in steps:
            at += dt.timedelta(minutes=20)
            by = "governance-lead@example.com" if kind == "signed_off" else "oncall@example.com"
            tx.append(tx.event(kind, by=by, at=at, **fields))
    return created.id


def median(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--events", type=int, default=12)
    parser.add_argument("--long", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clock = FixedClock("2026-12-03T12:00:00Z")
        store = IncidentStore(Path(tmp) / "incidents", clock=clock)
        built = time.perf_counter()
        ids = [walk(store, n, args.events) for n in range(args.incidents)]
        long_id = walk(store, args.incidents, args.long)
        print(f"built {args.incidents} incidents of {args.events} events and one of {args.long}"
              f" in {time.perf_counter() - built:.1f} s (not part of the figures)")
        playbook = read_playbook(ROOT / "policies")
        desk = api.desk(store.directory, policies=ROOT / "policies", evals=ROOT / "evals", clock=clock)
        desk.playbook  # noqa: B018 - read once, as a command does
        loaded = median(args.repeat, store.load_all)
        clocks = median(args.repeat, lambda: api.running_clocks(desk))
        found, _ = store.load_all()
        metrics = median(args.repeat, lambda: compute_metrics(found, playbook, policies_dir=ROOT / "policies",
                                                              evals_dir=ROOT / "evals", repo_dir=None, since=None,
                                                              clock=clock))

        def step(incident: str) -> float:
            def once() -> None:
                clock.advance(dt.timedelta(minutes=1))
                with store.transaction(incident) as tx:
                    tx.append(tx.event("evidence", by="o@example.com", name="n", sha256="0" * 64, size=1,
                                       source="s"))
            return median(args.repeat, once)

        short, long = step(ids[0]), step(long_id)
    print(f"read every incident ({args.incidents + 1}):   {loaded:8.3f} s  (target < 10 s at 500)")
    print(f"running clocks of the open ones:   {clocks:8.3f} s")
    print(f"metrics (no git):                  {metrics:8.3f} s")
    print(f"one step, {args.events:>5} events:           {short:8.3f} s")
    print(f"one step, {args.long:>5} events:           {long:8.3f} s  (ratio {long / short:.1f}; target < 1 s)")


if __name__ == "__main__":
    main()
