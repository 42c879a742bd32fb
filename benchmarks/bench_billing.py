"""Billing benchmark: usage and costs for one customer-month with 1M events stored.

    python benchmarks/bench_billing.py             # full: 1,000,000 stored events
    python benchmarks/bench_billing.py --quick     # smoke run: 100,000 stored events

Rows: ``sim.subscriptions.fetch_usage`` and ``fetch_costs`` for one customer and April 2024
(about 5,000 of the customer's events) on a plan with three metrics (a filtered count, a filtered
sum, a count distinct) priced unit / tiered / package, plus a fixed fee; the same for a plan whose
one metric is a GROUP BY subquery (the sum over days of each day's maximum); costs of a matrix
price by region on the count (another customer's month); metric creation; and
the SDK calls through ``sim.client()`` beside the same calls on a canned ``httpx.MockTransport``
serving the identical JSON, once on that customer-month and once on a customer-month with five
events (where the engine's work is small, so the ratio is the in-process transport's overhead).
Medians (p95 in brackets); the SDK comparison is in CPU time, over interleaved rounds (wall
clock is noise on a shared machine). Timings are reported, never asserted.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import orb

from _common import (
    FILL_START,
    SUBSCRIPTION_START,
    banner,
    fill,
    fresh,
    make_account,
    median,
    ms,
    p95,
    parser,
    perf,
    progress,
    table,
    us,
    verdict,
)

MONTH = {"timeframe_start": "2024-04-01T00:00:00Z", "timeframe_end": "2024-05-01T00:00:00Z"}
THREE_METRICS = (
    ("API calls", "SELECT COUNT(*) FROM events WHERE event_name = 'api_call'"),
    ("Compute seconds", "SELECT SUM(n) FROM events WHERE event_name = 'compute_seconds'"),
    ("Active regions", "SELECT COUNT(DISTINCT region) FROM events"),
)
DAILY_PEAK = (
    "SELECT SUM(peak) FROM (SELECT MAX(n) AS peak FROM events WHERE event_name = 'storage_gb'"
    " GROUP BY date_trunc('day', timestamp))"
)


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    call()
    out = []
    for _ in range(repeat):
        started = perf()
        call()
        out.append(perf() - started)
    return out


def interleaved(
    ours: Callable[[], object], theirs: Callable[[], object], rounds: int
) -> tuple[list[float], list[float]]:
    """CPU seconds per call of each, over ``rounds`` alternating rounds of equal length."""
    ours()
    theirs()
    started = time.process_time()
    theirs()
    per_round = max(1, min(200, int(0.05 / max(time.process_time() - started, 1e-6))))
    mine: list[float] = []
    canned_side: list[float] = []
    for _ in range(rounds):
        for call, out in ((theirs, canned_side), (ours, mine)):
            started = time.process_time()
            for _ in range(per_round):
                call()
            out.append((time.process_time() - started) / per_round)
    return mine, canned_side


def canned(payload: bytes) -> orb.Orb:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=payload, headers={"content-type": "application/json"})

    return orb.Orb(
        api_key="k",
        base_url="http://orbsim.test/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(answer)),
        _strict_response_validation=True,
    )


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    total = args.events or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat or (5 if args.quick else 15)
    if total < 800_000:  # the fill covers 8,000 events a day from 2024-01-10: use January
        MONTH.update(timeframe_start="2024-01-01T00:00:00Z", timeframe_end="2024-02-01T00:00:00Z")
    print(banner("bench_billing", {"stored events": f"{total:,}", "repeat": repeat}))

    account = make_account(FILL_START)
    sim = account.sim
    item = sim.items.create(name="Platform")
    three = [
        sim.metrics.create(name=name, description=None, item_id=item.id, sql=sql)
        for name, sql in THREE_METRICS
    ]
    peak = sim.metrics.create(
        name="Daily peak storage", description=None, item_id=item.id, sql=DAILY_PEAK
    )
    common = {"item_id": item.id, "cadence": "monthly", "currency": "USD"}
    plan = sim.plans.create(
        name="Usage",
        prices=[
            {
                "price": {
                    **common,
                    "name": "calls",
                    "billable_metric_id": three[0].id,
                    "model_type": "unit",
                    "unit_config": {"unit_amount": "0.001"},
                }
            },
            {
                "price": {
                    **common,
                    "name": "compute",
                    "billable_metric_id": three[1].id,
                    "model_type": "tiered",
                    "tiered_config": {
                        "tiers": [
                            {"first_unit": 0, "last_unit": 100_000, "unit_amount": "0.0002"},
                            {"first_unit": 100_000, "last_unit": None, "unit_amount": "0.0001"},
                        ]
                    },
                }
            },
            {
                "price": {
                    **common,
                    "name": "regions",
                    "billable_metric_id": three[2].id,
                    "model_type": "package",
                    "package_config": {"package_amount": "5", "package_size": 2},
                }
            },
            {
                "price": {
                    **common,
                    "name": "platform fee",
                    "model_type": "unit",
                    "unit_config": {"unit_amount": "20"},
                }
            },
        ],
    )
    peak_plan = sim.plans.create(
        name="Storage",
        prices=[
            {
                "price": {
                    **common,
                    "name": "storage",
                    "billable_metric_id": peak.id,
                    "model_type": "unit",
                    "unit_config": {"unit_amount": "0.01"},
                }
            }
        ],
    )
    matrix_plan = sim.plans.create(
        name="Regional",
        prices=[
            {
                "price": {
                    **common,
                    "name": "calls by region",
                    "billable_metric_id": three[0].id,
                    "model_type": "matrix",
                    "matrix_config": {
                        "dimensions": ["region"],
                        "default_unit_amount": "0.002",
                        "matrix_values": [
                            {"dimension_values": ["eu-central"], "unit_amount": "0.003"}
                        ],
                    },
                }
            }
        ],
    )
    matrix_sub = sim.subscriptions.create(
        customer_id=account.customer_ids[2], plan_id=matrix_plan.id, start_date=SUBSCRIPTION_START
    )
    first, second = account.customer_ids[0], account.customer_ids[1]
    usage_sub = sim.subscriptions.create(
        customer_id=first, plan_id=plan.id, start_date=SUBSCRIPTION_START
    )
    peak_sub = sim.subscriptions.create(
        customer_id=second, plan_id=peak_plan.id, start_date=SUBSCRIPTION_START
    )
    progress(f"filling {total:,} events")
    fill(account, total)
    april = len(
        sim.billable_events(
            customer_id=first,
            timeframe_start=MONTH["timeframe_start"],
            timeframe_end=MONTH["timeframe_end"],
        )
    )
    fresh()

    rows: list[list[str]] = []

    def row(what: str, times: list[float], target: float | None, unit: str = "ms") -> None:
        shown = ms if unit == "ms" else us
        value = f"{shown(median(times))} ({shown(p95(times))})"
        goal = "-" if target is None else f"< {shown(target)}"
        met = "-" if target is None else verdict(median(times) < target)
        rows.append([what, value, goal, met])

    row(
        f"fetch_usage, 3 metrics, one customer-month ({april:,} events)",
        timed(lambda: sim.subscriptions.fetch_usage(usage_sub.id, **MONTH), repeat),
        0.050,
    )
    row(
        "fetch_usage, same, granularity=day (30 windows)",
        timed(
            lambda: sim.subscriptions.fetch_usage(usage_sub.id, granularity="day", **MONTH),
            repeat,
        ),
        None,
    )
    row(
        "fetch_costs, 3 usage prices + a fixed fee, one customer-month (30 daily windows)",
        timed(lambda: sim.subscriptions.fetch_costs(usage_sub.id, **MONTH), repeat),
        0.050,
    )
    row(
        "fetch_usage, GROUP BY-subquery metric (sum of daily maxima), one customer-month",
        timed(lambda: sim.subscriptions.fetch_usage(peak_sub.id, **MONTH), repeat),
        0.100,
    )
    row(
        "fetch_costs, same GROUP BY-subquery metric (30 cumulative windows)",
        timed(lambda: sim.subscriptions.fetch_costs(peak_sub.id, **MONTH), repeat),
        None,
    )
    row(
        "fetch_costs, matrix price by region on the COUNT metric (30 cumulative windows)",
        timed(lambda: sim.subscriptions.fetch_costs(matrix_sub.id, **MONTH), repeat),
        None,
    )
    counter = iter(range(10**9))
    row(
        "metrics.create (GROUP BY-subquery SQL)",
        timed(
            lambda: sim.metrics.create(
                name=f"m{next(counter)}", description=None, item_id=item.id, sql=DAILY_PEAK
            ),
            max(repeat, 50),
        ),
        0.005,
    )
    print(table([f"engine call ({total:,} stored)", "median (p95)", "target", "meets"], rows))
    print()

    client = sim.client(_strict_response_validation=True)
    sdk_rows = []
    cases: list[tuple[str, Callable[[orb.Orb], Any], Any]] = [
        (
            "subscriptions.fetch_usage",
            lambda c: c.subscriptions.fetch_usage(usage_sub.id, **MONTH),
            sim.subscriptions.fetch_usage(usage_sub.id, **MONTH),
        ),
        (
            "subscriptions.fetch_costs",
            lambda c: c.subscriptions.fetch_costs(usage_sub.id, **MONTH),
            sim.subscriptions.fetch_costs(usage_sub.id, **MONTH),
        ),
    ]
    # The same calls where the engine's work is small (a customer-month with a few events), so
    # the ratio shows the in-process transport's own overhead rather than the engine's compute.
    now = account.clock.now()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month_end = (month_start + timedelta(days=32)).replace(day=1)
    small_month = {
        "timeframe_start": month_start.isoformat(),
        "timeframe_end": month_end.isoformat(),
    }
    small = sim.customers.create(name="Small", email="small@example.com")
    small_sub = sim.subscriptions.create(
        customer_id=small.id, plan_id=plan.id, start_date=SUBSCRIPTION_START
    )
    sim.events.ingest(
        events=[
            {
                "idempotency_key": f"small{i}",
                "event_name": ("api_call", "compute_seconds")[i % 2],
                "customer_id": small.id,
                "timestamp": (now - timedelta(minutes=10 + i)).isoformat(),
                "properties": {"region": ("us", "eu")[i % 2], "n": i},
            }
            for i in range(5)
        ]
    )
    cases += [
        (
            "subscriptions.fetch_usage, 5 events",
            lambda c: c.subscriptions.fetch_usage(small_sub.id, **small_month),
            sim.subscriptions.fetch_usage(small_sub.id, **small_month),
        ),
        (
            "subscriptions.fetch_costs, 5 events",
            lambda c: c.subscriptions.fetch_costs(small_sub.id, **small_month),
            sim.subscriptions.fetch_costs(small_sub.id, **small_month),
        ),
    ]
    # CPU time (this process only), rounds alternating between the two clients so that the
    # load of a shared machine falls on both alike; the stored events are frozen out of the
    # cyclic collector so a full collection over them does not land in one side's round.
    gc.collect()
    gc.freeze()
    rounds = 7 if args.quick else 15
    for name, call, model in cases:
        payload = json.dumps(model.model_dump(mode="json")).encode()
        mock = canned(payload)
        ours, theirs = interleaved(
            lambda call=call: call(client), lambda call=call, mock=mock: call(mock), rounds
        )
        ratio = median(ours) / median(theirs)
        sdk_rows.append(
            [
                name,
                ms(median(theirs)),
                ms(median(ours)),
                f"{ratio:.2f}x",
                "<= 1.25x",
                verdict(ratio <= 1.25),
            ]
        )
    print(
        table(
            [
                f"SDK call (median CPU of {rounds} interleaved rounds)",
                "canned MockTransport",
                "sim.client()",
                "ratio",
                "target",
                "meets",
            ],
            sdk_rows,
        )
    )


if __name__ == "__main__":
    main()
