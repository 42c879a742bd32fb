"""The longest pause of a request after a large state is loaded, with and without ``gc.freeze()``.

``orbsim serve --state`` loads the state with the cyclic garbage collector paused, then calls
``gc.freeze()``: the loaded objects move to the permanent generation, which
collections do not walk. Without it, the objects made while the collector was paused are all in
its youngest generation, and the first collections after the load walk every one of them
(several per event) while a request waits.

Builds a state file of N stored events (default 1,000,000) once, then, in a fresh process for
each row (so the collector starts as ``orbsim serve``'s does): ``OrbSim.load``, optionally
``gc.freeze()``, then ``--requests`` single-event ``POST /ingest`` requests through ``dispatch``
(what the server's workers call): the longest, 99th-percentile and median request, the number of
collections and the longest of them, with its generation.

    python benchmarks/bench_gc_pauses.py [--events 1000000] [--requests 20000]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_state_file import filled, ingest_requests
from orbsim import OrbSim
from orbsim.wire.routes import dispatch
from orbsim.wire.statefile import PinnableManualClock


def child(path: Path, requests: int, freeze: bool) -> dict[str, Any]:
    sim = OrbSim.load(path)
    sim.clock = PinnableManualClock(sim.clock.now())
    customers = list(sim.engine.state.customers)
    if freeze:
        gc.freeze()
    collections: list[tuple[float, int]] = []
    started = [0.0]

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            collections.append((time.perf_counter() - started[0], info["generation"]))

    gc.callbacks.append(watch)
    request = ingest_requests(customers, "gc")
    samples = []
    for _ in range(requests):
        begun = time.perf_counter()
        dispatch(sim, request())
        samples.append(time.perf_counter() - begun)
    gc.callbacks.remove(watch)
    return {
        "max": max(samples),
        "p99": statistics.quantiles(samples, n=100, method="inclusive")[98],
        "median": statistics.median(samples),
        "collections": len(collections),
        "longest": max(collections, default=(0.0, 0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--freeze", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child), args.requests, args.freeze)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as name:
        path = Path(name) / "state.json"
        sim, _ = filled(args.events)
        sim.dump(path)
        del sim
        for freeze in (False, True):
            command = [sys.executable, __file__, "--child", str(path)]
            command += ["--requests", str(args.requests)] + (["--freeze"] if freeze else [])
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            rows.append((freeze, json.loads(out)))
    print(f"{args.events:,} stored events loaded, then {args.requests:,} single-event ingests")
    print("| after the load | longest request | p99 | median | collections: longest (generation) |")
    print("|---|---:|---:|---:|---:|")
    for freeze, r in rows:
        print(
            f"| {'gc.freeze()' if freeze else 'nothing (collector as is)'} "
            f"| {r['max'] * 1e3:.1f} ms | {r['p99'] * 1e3:.2f} ms | {r['median'] * 1e3:.2f} ms "
            f"| {r['collections']}: {r['longest'][0] * 1e3:.0f} ms ({r['longest'][1]}) |"
        )


if __name__ == "__main__":
    main()
