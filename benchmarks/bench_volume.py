"""Event volume benchmark: ``sim.events.volume.list`` over a day, a week and a month of stored
events, with a reflected replacing backfill and some deprecated events in the window.

    python benchmarks/bench_volume.py             # full: 1,000,000 stored events
    python benchmarks/bench_volume.py --quick     # smoke run: 100,000 stored events, < 60 s

Prints a markdown table on stdout (progress on stderr). Timings are reported, never asserted.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    FILL_START,
    banner,
    count,
    fill,
    fresh,
    make_account,
    median,
    ms,
    parser,
    perf,
    progress,
    table,
)
from orbsim import Settings

TARGET = 0.100  # seconds, as for the other reads at 1M events


def main(argv: Sequence[str] | None = None) -> None:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    stored = args.events or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat or (5 if args.quick else 20)
    print(banner("orbsim event volume", {"stored events": count(stored), "repeat": repeat}))

    account = make_account(
        start=FILL_START, settings=Settings(reflection_progression="immediate"), subscribe=True
    )
    progress(f"filling {stored:,} events")
    fill(account, stored)
    sim = account.sim
    now = sim.now()
    first = datetime.fromisoformat(FILL_START)
    middle = (first + (now - first) / 2).replace(hour=0, minute=0, second=0, microsecond=0)
    backfill = sim.events.backfills.create(
        timeframe_start=middle, timeframe_end=middle + timedelta(days=1)
    )
    sim.events.ingest(
        events=[
            {
                "idempotency_key": f"bf-{i}",
                "event_name": "api_call",
                "customer_id": account.customer_ids[i % len(account.customer_ids)],
                "timestamp": (middle + timedelta(minutes=3 * i)).isoformat(),
                "properties": {"n": i},
            }
            for i in range(300)
        ],
        backfill_id=backfill.id,
    )
    sim.events.backfills.close(backfill.id)
    fresh()

    rows = []
    for label, days in (("1 day", 1), ("7 days", 7), ("30 days", 30)):
        start = middle - timedelta(days=days // 2)
        end = start + timedelta(days=days)
        walls, cpus = [], []
        buckets = 0
        for _ in range(repeat):
            started, cpu = perf(), time.thread_time()
            page = sim.events.volume.list(timeframe_start=start, timeframe_end=end, limit=1000)
            walls.append(perf() - started)
            cpus.append(time.thread_time() - cpu)
            buckets = len(page.data)
        events = sum(v.count for v in page.data)
        wall, cpu = median(walls), median(cpus)
        rows.append(
            [
                label,
                count(buckets),
                count(events),
                ms(wall),
                ms(cpu),
                "yes" if wall < TARGET else "**no**",
            ]
        )
    print(
        table(
            ["window", "hours", "events counted", "median wall", "median CPU", "< 100 ms"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
