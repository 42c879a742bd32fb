"""Server mode vs in-process: the same official-SDK call through ``sim.client()`` (httpx transport,
no socket) and through ``sim.serve()`` (loopback HTTP/1.1, keep-alive). Prints best-of-N µs per
call (the two modes interleaved) and the ratio; design.md's target is server <= 3x in-process.

    python benchmarks/bench_server.py [--repeat 7] [--number 300]
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable

import orb

from orbsim import ManualClock, OrbSim

NOW = "2024-05-20T12:00:00+00:00"


def best_of(calls: list[Callable[[], object]], repeat: int, number: int) -> list[float]:
    """Best mean µs per call for each of ``calls``, runs interleaved so load hits all alike."""
    for call in calls:
        for _ in range(min(number, 50)):  # warm up connection pools and caches
            call()
    best = [float("inf")] * len(calls)
    for _ in range(repeat):
        for index, call in enumerate(calls):
            started = time.perf_counter()
            for _ in range(number):
                call()
            best[index] = min(best[index], (time.perf_counter() - started) / number)
    return [seconds * 1e6 for seconds in best]


def cases(client: orb.Orb, sim: OrbSim, tag: str) -> dict[str, Callable[[], object]]:
    """The measured SDK calls, bound to ``client`` (keys never repeat across calls)."""
    customer = sim.customers.create(name="Bench", email=f"{tag}@bench.test")
    backfill = sim.events.backfills.create(
        timeframe_start="2024-05-10T00:00:00Z",
        timeframe_end="2024-05-11T00:00:00Z",
        customer_id=customer.id,
    )
    keys = itertools.count()

    def ingest_one() -> object:
        event = {
            "idempotency_key": f"{tag}-{next(keys)}",
            "event_name": "api_call",
            "customer_id": customer.id,
            "timestamp": NOW,
            "properties": {"region": "eu", "units": 3},
        }
        return client.events.ingest(events=[event])

    return {
        "events.ingest (1 event)": ingest_one,
        "events.backfills.fetch": lambda: client.events.backfills.fetch(backfill.id),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=300)
    args = parser.parse_args()

    local_sim = OrbSim(clock=ManualClock(NOW), seed=1)
    remote_sim = OrbSim(clock=ManualClock(NOW), seed=1)
    options = {"_strict_response_validation": True, "max_retries": 0}
    with (
        local_sim.client(**options) as local,
        remote_sim.serve() as server,
        orb.Orb(api_key="bench", base_url=server.base_url, **options) as remote,
    ):
        local_cases = cases(local, local_sim, "local")
        remote_cases = cases(remote, remote_sim, "remote")
        rows = []
        for name, local_call in local_cases.items():
            in_process, served = best_of([local_call, remote_cases[name]], args.repeat, args.number)
            rows.append((name, in_process, served, served / in_process))
        connections = server.connections_accepted

    print(f"best of {args.repeat} x {args.number} calls; µs per call")
    print(f"| {'SDK call':<26} | {'in-process':>10} | {'server':>8} | {'ratio':>5} |")
    print(f"|{'-' * 28}|{'-' * 11}:|{'-' * 9}:|{'-' * 6}:|")
    for name, in_process, served, ratio in rows:
        print(f"| {name:<26} | {in_process:>10.0f} | {served:>8.0f} | {ratio:>4.2f}x |")
    print(f"server connections accepted: {connections} (keep-alive)")


if __name__ == "__main__":
    main()
