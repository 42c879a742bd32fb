"""What ``orbsim serve --state`` costs per write: the journal it uses vs write-through dumps.

For a simulator holding N stored events, times a single-event ``POST /ingest`` through
``dispatch`` (in process: the HTTP server's own cost is the same in every column) answered

* without persistence;
* with the journal (``StateFile.dispatch``: one appended line per write);
* write-through: ``sim.dump(path)`` after every write (the design the journal replaced).

It also prints the compaction (``sim.dump``) time, what it adds per write once amortised over the
journal bytes that trigger it, and the replay time per journal entry at restart. Median µs per
request of ``--number`` requests (after warm-up).

    python benchmarks/bench_state_file.py [--sizes 0,1000,3000,10000] [--number 200]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from orbsim import OrbSim
from orbsim.wire import statefile
from orbsim.wire.messages import WireRequest
from orbsim.wire.routes import dispatch
from orbsim.wire.statefile import PinnableManualClock, StateFile

NOW = "2024-05-20T12:00:00+00:00"
AUTH = {"authorization": "Bearer k", "content-type": "application/json"}


def filled(size: int, shape: str = "dense") -> tuple[OrbSim, list[str]]:
    """A simulator with ``size`` events: ``dense``, 50 customers in turn and timestamps repeating
    every 39,000 s; ``spread``, 1,000 customers and every timestamp distinct (microseconds)."""
    sim = OrbSim(clock=PinnableManualClock(NOW), seed=0)
    count = 50 if shape == "dense" else 1000
    customers = [
        sim.customers.create(name=f"c{i}", email=f"c{i}@bench.test").id for i in range(count)
    ]
    now = sim.now()
    for start in range(0, size, 500):
        sim.events.ingest(
            events=[
                {
                    "idempotency_key": f"fill-{n}",
                    "event_name": "api_call",
                    "customer_id": customers[n % 50]
                    if shape == "dense"
                    else customers[(n * 7919) % count],
                    "timestamp": (
                        now - timedelta(seconds=n % 39_000)
                        if shape == "dense"
                        else now - timedelta(microseconds=n * 39_001)
                    ).isoformat(),
                    "properties": {"region": "eu", "n": n},
                }
                for n in range(start, min(size, start + 500))
            ]
        )
    return sim, customers


def ingest_requests(customers: list[str], tag: str) -> Callable[[], WireRequest]:
    keys = itertools.count()

    def make() -> WireRequest:
        n = next(keys)
        body = {
            "events": [
                {
                    "idempotency_key": f"{tag}-{n}",
                    "event_name": "api_call",
                    "customer_id": customers[n % 50],
                    "timestamp": NOW,
                    "properties": {"region": "eu", "units": 3},
                }
            ]
        }
        return WireRequest("POST", "/v1/ingest", "", AUTH, json.dumps(body).encode())

    return make


def median_us(call: Callable[[], object], number: int) -> float:
    for _ in range(10):
        call()
    samples = []
    for _ in range(number):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def measure(size: int, number: int, directory: Path) -> dict[str, float]:
    sim, customers = filled(size)
    plain = ingest_requests(customers, f"plain{size}")
    journalled = ingest_requests(customers, f"journal{size}")
    through = ingest_requests(customers, f"through{size}")
    state = StateFile(sim, directory / f"state-{size}.json", dispatch)
    state.compact()
    dumped = directory / f"dump-{size}.json"

    def write_through() -> None:
        with sim.lock:
            dispatch(sim, through())
            sim.dump(dumped)

    results = {
        "plain": median_us(lambda: dispatch(sim, plain()), number),
        "journal": median_us(lambda: state.dispatch(sim, journalled()), number),
        "through": median_us(write_through, max(10, number // 10)),
    }
    started = time.perf_counter()
    state.compact()
    results["compact"] = (time.perf_counter() - started) * 1e6
    state_bytes = state.path.stat().st_size
    entry_bytes = 400  # about one journal line of a single-event ingest
    every = max(state_bytes, statefile._COMPACT_AT_LEAST) / entry_bytes
    results["amortised"] = results["compact"] / every
    results["state_kib"] = state_bytes / 1024

    for _ in range(number):  # a journal to replay, then restart from the files
        state.dispatch(sim, journalled())
    restarted = OrbSim.load(state.path)
    restarted.clock = PinnableManualClock(restarted.clock.now())
    started = time.perf_counter()
    replayed = StateFile(restarted, state.path, dispatch).replay()
    results["replay"] = (time.perf_counter() - started) / replayed * 1e6
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,1000,3000,10000")
    parser.add_argument("--number", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        "| stored events | state file | no persistence | journal | write-through dump "
        "| compaction (dump) | compaction per write, amortised | replay per entry |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as directory:
        for size in sizes:
            print(f"measuring {size} stored events ...", file=sys.stderr)
            r = measure(size, args.number, Path(directory))
            print(
                f"| {size:,} | {r['state_kib']:,.0f} KiB | {r['plain']:,.0f} µs "
                f"| {r['journal']:,.0f} µs | {r['through']:,.0f} µs "
                f"| {r['compact'] / 1000:,.1f} ms "
                f"| {r['amortised']:,.1f} µs | {r['replay']:,.0f} µs |"
            )


if __name__ == "__main__":
    main()
