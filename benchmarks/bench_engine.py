"""Event-engine benchmark: ingest throughput, memory per stored event, by-id latency vs. size.

    python benchmarks/bench_engine.py            # full: 100k-event throughput, 1M-event latency
    python benchmarks/bench_engine.py --quick    # smoke run, < 60 s
    python benchmarks/bench_engine.py --events 2000000 --repeat 7

Prints markdown tables on stdout (progress on stderr). Timings are reported, never asserted.
See benchmarks/README.md for what each number means.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BATCH,
    FILL_START,
    Account,
    Payload,
    banner,
    batches,
    count,
    fill,
    fresh,
    make_account,
    make_payloads,
    median,
    month_bounds,
    ms,
    p95,
    parser,
    perf,
    progress,
    table,
    time_calls,
    us,
    verdict,
)
from orbsim import Settings

SMALL = 10_000
CALLS = 200
WARMUP = 10
INGEST_TARGET = 100_000  # events/s
PYDANTIC_RATIO_TARGET = 2.0
MEMORY_TARGET = 1024  # bytes per stored event
GROWTH_LIMIT = 2.0  # "does not grow": large/small median below this, for 100x the events


class Event(BaseModel):
    """The plain pydantic model the engine's validation is compared with."""

    event_name: str
    timestamp: datetime
    properties: dict[str, str | int | float | bool]
    idempotency_key: str
    customer_id: str | None = None
    external_customer_id: str | None = None


# -- 1. throughput ------------------------------------------------------------------------------


def bench_throughput(n: int, batch: int, repeat: int) -> tuple[float, float, float, float]:
    """Best-of-``repeat`` seconds to ingest ``n`` pre-built events (fresh simulator each time)
    and to validate the same payloads with ``Event.model_validate``; each with the thread CPU
    seconds of its best round (wall >> CPU means other processes took the cores)."""
    ids = make_account().customer_ids
    probe = make_account()
    payloads = make_payloads(0, n, probe.clock.now(), ids)
    chunks = batches(payloads, batch)
    del probe

    engine: list[tuple[float, float]] = []
    for round_ in range(repeat):
        account = make_account()
        if account.customer_ids != ids:  # pragma: no cover - ids are seeded
            raise RuntimeError("customer ids are not deterministic")
        ingest = account.sim.events.ingest
        fresh()
        started, cpu = perf(), time.thread_time()
        for chunk in chunks:
            ingest(events=chunk)
        engine.append((perf() - started, time.thread_time() - cpu))
        if round_ == 0:
            stored = len(account.sim.billable_events())
            if stored != n:
                raise RuntimeError(f"expected {n} billable events, found {stored}")
        progress(f"engine ingest round {round_ + 1}/{repeat}: {ms(engine[-1][0])}")
        del account, ingest
        fresh()

    validate = Event.model_validate
    pydantic: list[tuple[float, float]] = []
    for round_ in range(repeat):
        kept: list[list[Event]] = []
        fresh()
        started, cpu = perf(), time.thread_time()
        for chunk in chunks:
            kept.append([validate(d) for d in chunk])
        pydantic.append((perf() - started, time.thread_time() - cpu))
        progress(f"pydantic round {round_ + 1}/{repeat}: {ms(pydantic[-1][0])}")
        del kept
        fresh()
    return (*min(engine), *min(pydantic))


# -- 2. memory ----------------------------------------------------------------------------------


def bench_memory(n: int, batch: int, via_json: bool) -> float:
    """Bytes the simulator retains per stored event (tracemalloc, current size after ingest).

    Payloads are built inside the traced region one batch at a time and dropped after ingest, so
    what is left after ``gc.collect()`` is what the simulator keeps (ids, properties, timestamps,
    indexes), including the strings it keeps references to. ``via_json`` decodes each batch from
    JSON first, as the HTTP layer does, so that no string is shared between events (worst case).
    """
    account = make_account()
    ingest = account.sim.events.ingest
    now = account.clock.now()
    ids = account.customer_ids
    fresh()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for first in range(0, n, batch):
            chunk = make_payloads(first, min(batch, n - first), now, ids)
            if via_json:
                chunk = json.loads(json.dumps(chunk))
            ingest(events=chunk)
        del chunk
        fresh()
        retained = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    del account, ingest
    fresh()
    return retained / n


# -- 3. latency of by-id operations vs. stored events -------------------------------------------


def rss_bytes() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


Timings = dict[str, list[float]]


def by_id_calls(account: Account, calls: int) -> dict[str, list[Callable[[], object]]]:
    """``calls`` amend, deprecate and search calls, each on a different recent event of the
    current billing period (so that the billing-period rule lets them through)."""
    sim = account.sim
    now = sim.now()
    month_start, _ = month_bounds(now)
    first_ok = month_start.strftime("%Y-%m-%dT%H:%M:%SZ")
    eligible = [p for p in account.recent if p["timestamp"] >= first_ok]
    need = 3 * calls
    if len(eligible) < need:
        raise RuntimeError(f"only {len(eligible)} events in the current period; need {need}")
    stride = len(eligible) // need
    picked = [eligible[i * stride] for i in range(need)]
    update, deprecate, search = sim.events.update, sim.events.deprecate, sim.events.search
    end = now + timedelta(minutes=1)

    def amend(p: Payload) -> Callable[[], object]:
        return lambda: update(
            p["idempotency_key"],
            event_name=p["event_name"],
            timestamp=p["timestamp"],
            properties={"region": "amended", "n": 1},
            customer_id=p["customer_id"],
        )

    def retire(p: Payload) -> Callable[[], object]:
        return lambda: deprecate(p["idempotency_key"])

    def find(p: Payload) -> Callable[[], object]:
        def call() -> object:
            found = search(
                event_ids=[p["idempotency_key"]], timeframe_start=month_start, timeframe_end=end
            )
            if len(found.data) != 1:
                raise RuntimeError(f"search found {len(found.data)} events, expected 1")
            return found

        return call

    return {
        "amend (`events.update`)": [amend(p) for p in picked[0::3]],
        "deprecate (`events.deprecate`)": [retire(p) for p in picked[1::3]],
        "search by id (`events.search`, 1 id)": [find(p) for p in picked[2::3]],
    }


def measure_by_id(account: Account, calls: int, batch: int) -> Timings:
    ops = by_id_calls(account, calls + WARMUP)
    out: Timings = {}
    for name, fns in ops.items():
        fresh()
        out[name] = time_calls(fns)[WARMUP:]
    # Ingest latency at this size: a few more batches through the normal fill path.
    before = len(account.batch_seconds)
    fill(account, account.ingested + 20 * batch, batch=batch)
    out[f"ingest one batch of {batch}"] = account.batch_seconds[before:]
    return out


def bench_latency(
    large: int, calls: int, batch: int
) -> tuple[Timings, Timings, tuple[float, float], float | None]:
    settings = Settings(amend_limit=10**9, deprecate_limit=10**9)
    account = make_account(FILL_START, settings=settings, subscribe=True)
    fresh()
    rss0 = rss_bytes()
    progress(f"filling to {SMALL:,} events")
    fill(account, SMALL, batch=batch)
    small_timings = measure_by_id(account, calls, batch)
    progress(f"filling to {large:,} events")
    fill(account, large, batch=batch)
    rss1 = rss_bytes()
    fill_rate = (
        account.ingested / account.ingest_seconds,
        account.ingested / account.ingest_cpu_seconds,
    )
    fresh()
    large_timings = measure_by_id(account, calls, batch)
    rss_per_event = None
    if rss0 is not None and rss1 is not None:
        rss_per_event = (rss1 - rss0) / large
    del account
    fresh()
    return small_timings, large_timings, fill_rate, rss_per_event


# -- output -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument(
        "--ingest-events",
        type=int,
        default=100_000,
        help="events for the throughput and memory phases (default 100,000)",
    )
    p.add_argument("--batch-size", type=int, default=BATCH)
    p.add_argument("--calls", type=int, default=CALLS, help="calls per by-id operation")
    args = p.parse_args(argv)
    large = args.events or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat or (2 if args.quick else 5)
    n, batch, calls = args.ingest_events, args.batch_size, args.calls
    # tracemalloc makes the memory phase ~10x slower: quick mode measures fewer events.
    memory_n = min(n, 50_000) if args.quick else n
    if large <= SMALL:
        p.error(f"--events must be more than {SMALL:,}")

    print(
        banner(
            "orbsim event engine",
            {
                "mode": "quick" if args.quick else "full",
                "ingest events": f"{n:,}",
                "batch": batch,
                "repeat": repeat,
                "large size": f"{large:,}",
            },
        )
    )

    progress("phase 1: ingest throughput")
    engine_s, engine_cpu, pydantic_s, pydantic_cpu = bench_throughput(n, batch, repeat)
    progress("phase 2: memory (tracemalloc)")
    direct_bytes = bench_memory(memory_n, batch, via_json=False)
    json_bytes = bench_memory(memory_n, batch, via_json=True)
    progress("phase 3: by-id latency")
    small_t, large_t, fill_rate, rss_per_event = bench_latency(large, calls, batch)

    rate = n / engine_s
    ratio = engine_s / pydantic_s
    rows = [
        [
            f"engine ingest, {n:,} events in batches of {batch} (best of {repeat})",
            f"{count(rate)} events/s ({ms(engine_s)}; {ms(engine_cpu)} CPU)",
            f">= {count(INGEST_TARGET)} events/s",
            verdict(rate >= INGEST_TARGET),
        ],
        [
            f"plain pydantic `Event.model_validate`, same payloads (best of {repeat})",
            f"{count(n / pydantic_s)} events/s ({ms(pydantic_s)}; {ms(pydantic_cpu)} CPU)",
            "-",
            "-",
        ],
        [
            "engine time / pydantic time",
            f"{ratio:.2f}x",
            f"<= {PYDANTIC_RATIO_TARGET:g}x",
            verdict(ratio <= PYDANTIC_RATIO_TARGET),
        ],
        [
            f"memory per stored event, {memory_n:,} events, direct payloads (tracemalloc)",
            f"{direct_bytes:,.0f} B",
            f"<= {MEMORY_TARGET:,} B",
            verdict(direct_bytes <= MEMORY_TARGET),
        ],
        [
            f"memory per stored event, {memory_n:,} events, JSON-decoded batches (tracemalloc)",
            f"{json_bytes:,.0f} B",
            f"<= {MEMORY_TARGET:,} B",
            verdict(json_bytes <= MEMORY_TARGET),
        ],
        [
            f"ingest rate while filling to {large:,} (clock advancing, ingest calls only)",
            f"{count(fill_rate[0])} events/s ({count(fill_rate[1])} per CPU-second)",
            "-",
            "-",
        ],
    ]
    if rss_per_event is not None:
        rows.append(
            [
                f"RSS growth per event while filling to {large:,} (approximate)",
                f"{rss_per_event:,.0f} B",
                "-",
                "-",
            ]
        )
    print("### Ingest throughput and memory\n")
    print(table(["measurement", "value", "target", "meets"], rows))
    print()

    lat_rows = []
    for name, small_values in small_t.items():
        large_values = large_t[name]
        growth = median(large_values) / median(small_values)
        lat_rows.append(
            [
                name,
                f"{us(median(small_values))} ({us(p95(small_values))})",
                f"{us(median(large_values))} ({us(p95(large_values))})",
                f"{growth:.2f}x",
                verdict(growth < GROWTH_LIMIT) if "ingest" not in name else "-",
            ]
        )
    print(f"### By-id latency, {SMALL:,} vs {large:,} stored events\n")
    print(
        table(
            [
                "operation",
                f"{SMALL:,} stored: median (p95)",
                f"{large:,} stored: median (p95)",
                "large / small",
                f"flat (< {GROWTH_LIMIT:g}x)",
            ],
            lat_rows,
        )
    )
    print(
        f"\n{calls} calls per operation (after {WARMUP} warm-up calls), each on a different event "
        "of the current billing period; ingest rows: 20 batches. Settings(amend_limit=10**9, "
        "deprecate_limit=10**9) lifts the 100-per-100-days per-customer quotas for the benchmark."
    )


if __name__ == "__main__":
    main()
