"""Backfill benchmark: close / revert of a replacing backfill and a customer-month
``billable_events`` view, with 1M events stored.

    python benchmarks/bench_backfills.py             # full: 1,000,000 stored events
    python benchmarks/bench_backfills.py --quick     # smoke run: 100,000 stored events, < 60 s
    python benchmarks/bench_backfills.py --events 2000000 --repeat 30

Prints markdown tables on stdout (progress on stderr). Timings are reported, never asserted.
See benchmarks/README.md for what each number means.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BATCH,
    FILL_START,
    Account,
    banner,
    count,
    fill,
    fresh,
    make_account,
    make_payloads,
    median,
    month_bounds,
    ms,
    parser,
    perf,
    progress,
    table,
)
from orbsim import Settings

TARGET = 0.100  # seconds
BACKFILL_DAYS = 7


def plan_window(account: Account) -> tuple[datetime, datetime, datetime, datetime]:
    """The month measured (the one holding the middle of the stored data) and a backfill
    timeframe of up to ``BACKFILL_DAYS`` inside it that ends before ``now - grace period``."""
    sim = account.sim
    now = sim.now()
    first = datetime.fromisoformat(FILL_START)
    middle = first + (now - first) / 2
    month_start, month_end = month_bounds(middle)
    grace_end = now - sim.settings.grace_period
    day = middle.replace(hour=0, minute=0, second=0, microsecond=0)
    start = max(month_start, first, day - timedelta(days=BACKFILL_DAYS // 2))
    end = min(month_end, grace_end, start + timedelta(days=BACKFILL_DAYS))
    end = end.replace(minute=0, second=0, microsecond=0)
    if end <= start:
        raise RuntimeError("not enough stored history for a backfill; use more --events")
    return month_start, month_end, start, end


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument(
        "--backfill-events", type=int, default=300, help="events ingested into each backfill"
    )
    args = p.parse_args(argv)
    stored = args.events or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat or (5 if args.quick else 20)
    per_backfill = args.backfill_events
    sustained = 50 if args.quick else 200

    print(
        banner(
            "orbsim backfills",
            {
                "mode": "quick" if args.quick else "full",
                "stored events": f"{stored:,}",
                "events per backfill": per_backfill,
                "repeat": repeat,
            },
        )
    )

    # Immediate reflection: the timed close (revert) does the reflection work itself, as the
    # default progression's first read would.
    immediate = Settings(reflection_progression="immediate")
    account = make_account(FILL_START, settings=immediate, subscribe=True)
    progress(f"filling to {stored:,} events")
    fill(account, stored, batch=BATCH)
    sim = account.sim
    customer = account.customer_ids[0]
    month_start, month_end, bf_start, bf_end = plan_window(account)
    progress(
        f"now {sim.now().isoformat()}; month {month_start:%Y-%m}; "
        f"backfill timeframe [{bf_start.isoformat()}, {bf_end.isoformat()})"
    )

    def view() -> int:
        return len(
            sim.billable_events(
                customer_id=customer, timeframe_start=month_start, timeframe_end=month_end
            )
        )

    fresh()
    plain_times = []
    for _ in range(repeat):
        started = perf()
        visible_before = view()
        plain_times.append(perf() - started)

    close_times, revert_times, replaced_times = [], [], []
    visible_replaced = 0
    span = int((bf_end - bf_start).total_seconds())
    for round_ in range(repeat):
        backfill = sim.events.backfills.create(
            timeframe_start=bf_start,
            timeframe_end=bf_end,
            customer_id=customer,
            replace_existing_events=True,
        )
        base = int(bf_start.timestamp())
        events = make_payloads(
            0, per_backfill, bf_end, [customer], prefix=f"bf{round_:03d}-"
        )  # timestamps are re-spread over the whole timeframe below
        for i, event in enumerate(events):
            moment = datetime.fromtimestamp(base + (i * 7919) % span, tz=bf_start.tzinfo)
            event["timestamp"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        sim.events.ingest(events=events, backfill_id=backfill.id)
        fresh()

        started = perf()
        closed = sim.events.backfills.close(backfill.id)
        close_times.append(perf() - started)
        if closed.status != "reflected":
            raise RuntimeError(f"closed backfill is {closed.status}, expected reflected")

        started = perf()
        visible_replaced = view()
        replaced_times.append(perf() - started)

        started = perf()
        reverted = sim.events.backfills.revert(backfill.id)
        revert_times.append(perf() - started)
        if reverted.status != "reverted":
            raise RuntimeError(f"reverted backfill is {reverted.status}, expected reverted")
        if view() != visible_before:
            raise RuntimeError("revert did not restore the billable view")
        progress(
            f"round {round_ + 1}/{repeat}: close {ms(close_times[-1])}, "
            f"view {ms(replaced_times[-1])}, revert {ms(revert_times[-1])}"
        )

    # Back-to-back calls: the results die young, but some survive into the oldest GC generation,
    # so every so often a call pays for a full collection over everything the store holds.
    full_gc: list[float] = []
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            gc_started[0] = perf()
        else:
            full_gc.append(perf() - gc_started[0])

    fresh()
    sustained_times = []
    gc.callbacks.append(on_gc)
    try:
        for _ in range(sustained):
            started = perf()
            view()
            sustained_times.append(perf() - started)
    finally:
        gc.callbacks.remove(on_gc)
    progress(f"{sustained} back-to-back views: {len(full_gc)} full GC passes")

    def row(what: str, values: list[float]) -> list[str]:
        return [
            what,
            ms(median(values)),
            ms(max(values)),
            f"< {TARGET * 1000:g} ms",
            "yes" if median(values) < TARGET else "**no**",
        ]

    rows = [
        row(f"close a replacing backfill ({per_backfill} events; reflects at once)", close_times),
        row("revert that reflected backfill (reverts at once)", revert_times),
        row(
            f"`billable_events`, 1 customer x {month_start:%Y-%m}, no backfill "
            f"({count(visible_before)} events)",
            plain_times,
        ),
        row(
            f"`billable_events`, same, replacing backfill reflected "
            f"({count(visible_replaced)} events)",
            replaced_times,
        ),
        row(
            f"`billable_events`, no backfill, {sustained} calls back to back "
            f"({len(full_gc)} full GC passes"
            + (f", longest {ms(max(full_gc))})" if full_gc else ")"),
            sustained_times,
        ),
    ]
    print(f"### Backfills with {stored:,} events stored\n")
    print(table(["operation", "median", "max", "target", "meets"], rows))
    days = (bf_end - bf_start).total_seconds() / 86400
    print(
        f"\n{repeat} rounds, each with a new backfill of customer 1 of {len(account.customer_ids)} "
        f"over [{bf_start:%Y-%m-%d %H:%M}, {bf_end:%Y-%m-%d %H:%M}) UTC ({days:g} days), "
        f"replace_existing_events=True, reflection_delay 0; events spread over "
        f"{FILL_START[:10]} .. {sim.now():%Y-%m-%d} across {len(account.customer_ids)} customers."
    )


if __name__ == "__main__":
    main()
