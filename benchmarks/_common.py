"""Shared helpers of the benchmark scripts: deterministic payloads, filling a simulator, tables.

Everything runs against ``ManualClock`` so that the stored data (ids, timestamps, billing periods)
is the same in every run; only the timings vary.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from orbsim import ManualClock, OrbSim, Settings

CLOCK_START = "2024-05-20T12:00:00Z"
"""Where the throughput/memory phases put the clock (all events lie within its grace window)."""
FILL_START = "2024-01-10T00:00:00Z"
"""Where a fill (events spread over time) starts; subscriptions start on 2024-01-01."""
SUBSCRIPTION_START = "2024-01-01T00:00:00Z"
CUSTOMERS = 50
BATCH = 500
FILL_STEP = timedelta(minutes=90)
"""How far the clock moves after each batch of a fill: 500 events per 90 min (8,000 a day)."""
WINDOW_SECONDS = 11 * 3600
"""Event timestamps lie in ``[now - 11 h, now)``: inside the default 12 h grace window."""
EVENT_NAMES = ("api_call", "storage_gb", "compute_seconds")
REGIONS = ("us-east", "us-west", "eu-central", "ap-south")

Payload = dict[str, Any]


def perf() -> float:
    return time.perf_counter()


def fresh() -> None:
    """Collect garbage so that one phase's leftovers do not slow the next one."""
    gc.collect()


# -- the simulator ------------------------------------------------------------------------------


@dataclass
class Account:
    """A simulator with ``CUSTOMERS`` customers, each subscribed to a monthly plan."""

    sim: OrbSim
    clock: ManualClock
    customer_ids: list[str]
    ingested: int = 0
    recent: deque[Payload] = field(default_factory=lambda: deque(maxlen=20_000))
    ingest_seconds: float = 0.0
    ingest_cpu_seconds: float = 0.0
    batch_seconds: list[float] = field(default_factory=list)


def make_account(
    start: str = CLOCK_START,
    settings: Settings | None = None,
    customers: int = CUSTOMERS,
    subscribe: bool = False,
) -> Account:
    clock = ManualClock(start)
    sim = OrbSim(settings=settings, clock=clock, seed=0)
    ids = [
        sim.customers.create(name=f"Customer {i}", email=f"c{i}@bench.test").id
        for i in range(customers)
    ]
    if subscribe:
        plan = sim.plans.create(name="p", billing_cadence="monthly")
        for cid in ids:
            sim.subscriptions.create(
                customer_id=cid, plan_id=plan.id, start_date=SUBSCRIPTION_START
            )
    return Account(sim=sim, clock=clock, customer_ids=ids)


def zulu(epoch_seconds: float) -> str:
    """``2024-05-20T11:59:59Z`` for a Unix time (whole seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def make_payloads(
    first: int, count: int, now: datetime, customer_ids: Sequence[str], prefix: str = "e"
) -> list[Payload]:
    """``count`` valid events numbered from ``first``, with timestamps spread over the 11 hours
    before ``now`` (deterministic: event ``i`` always has the same body for the same ``now``)."""
    end = int(now.timestamp()) - 1
    ncust = len(customer_ids)
    out = []
    for i in range(first, first + count):
        out.append(
            {
                "idempotency_key": f"{prefix}{i:09d}",
                "event_name": EVENT_NAMES[i % 3],
                "customer_id": customer_ids[(i * 7) % ncust],
                "timestamp": zulu(end - (i * 7919) % WINDOW_SECONDS),
                "properties": {"region": REGIONS[i % 4], "n": i % 1000},
            }
        )
    return out


def batches(items: Sequence[Payload], size: int) -> list[Sequence[Payload]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def fill(account: Account, total: int, batch: int = BATCH, step: timedelta = FILL_STEP) -> None:
    """Ingest events until ``account`` holds ``total``: one batch at a time, each with timestamps
    in the 11 h before the clock, the clock moving ``step`` after each batch.

    Only the ingest calls are timed (``ingest_seconds``, ``batch_seconds``, and the thread's CPU
    time in ``ingest_cpu_seconds``); the last 20,000 payloads are kept in ``recent``.
    """
    sim, clock = account.sim, account.clock
    ingest = sim.events.ingest
    while account.ingested < total:
        count = min(batch, total - account.ingested)
        payload = make_payloads(account.ingested, count, clock.now(), account.customer_ids)
        started, cpu = perf(), time.thread_time()
        ingest(events=payload)
        took = perf() - started
        account.ingest_cpu_seconds += time.thread_time() - cpu
        account.ingest_seconds += took
        account.batch_seconds.append(took)
        account.ingested += count
        account.recent.extend(payload)
        clock.advance(step)


# -- statistics and output -------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    return statistics.median(values)


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def time_calls(calls: Sequence[Callable[[], object]]) -> list[float]:
    """Run each call once, timing each one (seconds)."""
    out = []
    for call in calls:
        started = perf()
        call()
        out.append(perf() - started)
    return out


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f} ms"


def count(n: float) -> str:
    return f"{n:,.0f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table with padded columns."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small sizes, finishes in < 60 s")
    p.add_argument("--events", type=int, default=None, help="stored events for the large size")
    p.add_argument("--repeat", type=int, default=None, help="repetitions (best-of / median)")
    return p


def banner(title: str, settings: dict[str, object]) -> str:
    where = (
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}"
    )
    parts = ", ".join(f"{k}={v}" for k, v in settings.items())
    return f"## {title}\n\n{where}; {parts}\n"


def progress(message: str) -> None:
    """Progress goes to stderr so that stdout is only the tables."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def month_bounds(instant: datetime) -> tuple[datetime, datetime]:
    start = datetime(instant.year, instant.month, 1, tzinfo=UTC)
    end = (
        datetime(start.year + 1, 1, 1, tzinfo=UTC)
        if start.month == 12
        else datetime(start.year, start.month + 1, 1, tzinfo=UTC)
    )
    return start, end
