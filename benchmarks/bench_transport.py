"""SDK calls through ``sim.transport()`` beside the same calls through a canned MockTransport.

The canned transport answers instantly with fixed JSON, so the ratio is what the simulator's
rules and wire layer add on top of the SDK's own cost. Target (design.md section 6): <= 1.15x.

    python benchmarks/bench_transport.py [--rounds 40] [--cpu]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orb

from orbsim import ManualClock, OrbSim


def canned_client(payload: object) -> orb.Orb:
    body = json.dumps(payload, separators=(",", ":")).encode()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=[("content-type", "application/json")], content=body)

    return orb.Orb(
        api_key="k",
        base_url="http://orbsim.test/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(answer)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40, help="best of this many rounds")
    parser.add_argument("--cpu", action="store_true", help="measure CPU time, not wall time")
    args = parser.parse_args()
    clock_fn = time.process_time if args.cpu else time.perf_counter

    clock = ManualClock(datetime(2024, 5, 15, 12, tzinfo=UTC))
    sim = OrbSim(clock=clock)
    customer = sim.customers.create(name="A", email="a@example.com")
    backfill = sim.events.backfills.create(
        timeframe_start="2024-05-01T00:00:00Z", timeframe_end="2024-05-02T00:00:00Z"
    )
    timestamp = clock.now().isoformat()
    counter = itertools.count()

    def event(key: str) -> Any:
        return {
            "event_name": "api_call",
            "timestamp": timestamp,
            "properties": {"a": 1},
            "idempotency_key": key,
            "customer_id": customer.id,
        }

    def ingest_one(client: orb.Orb) -> None:
        client.events.ingest(events=[event(f"k{next(counter)}")])

    def ingest_hundred(client: orb.Orb) -> None:
        batch = next(counter)
        client.events.ingest(events=[event(f"b{batch}-{i}") for i in range(100)])

    def fetch(client: orb.Orb) -> None:
        client.events.backfills.fetch(backfill.id)

    cases: list[tuple[str, Callable[[orb.Orb], None], object, int]] = [
        ("events.ingest, 1 event", ingest_one, {"validation_failed": []}, 300),
        ("events.ingest, 100 events", ingest_hundred, {"validation_failed": []}, 40),
        (
            "events.backfills.fetch",
            fetch,
            sim.events.backfills.fetch(backfill.id).model_dump(mode="json"),
            300,
        ),
    ]
    simulated = sim.client()
    unit = "CPU" if args.cpu else "wall"
    print(
        f"| SDK call ({unit} µs, best of {args.rounds}) | canned MockTransport | "
        "sim.transport() | ratio | target |"
    )
    print("|---|---:|---:|---:|---|")
    gc.disable()
    try:
        for name, call, payload, repeat in cases:
            canned = canned_client(payload)

            def per_call(
                client: orb.Orb, call: Callable[[orb.Orb], None] = call, repeat: int = repeat
            ) -> float:
                started = clock_fn()
                for _ in range(repeat):
                    call(client)
                return (clock_fn() - started) / repeat

            per_call(canned)
            per_call(simulated)
            best_canned = best_sim = float("inf")
            for _ in range(args.rounds):  # alternate, so machine noise hits both alike
                best_canned = min(best_canned, per_call(canned))
                best_sim = min(best_sim, per_call(simulated))
            print(
                f"| {name} | {best_canned * 1e6:,.0f} | {best_sim * 1e6:,.0f} | "
                f"{best_sim / best_canned:.2f}x | <= 1.15x |"
            )
    finally:
        gc.enable()


if __name__ == "__main__":
    main()
