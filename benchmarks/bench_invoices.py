"""Invoices benchmark: the upcoming invoice at 1M stored events, and 1,000 invoices issuing at once.

    python benchmarks/bench_invoices.py             # full: 1,000,000 stored events
    python benchmarks/bench_invoices.py --quick     # smoke run: 100,000 stored events

Rows (medians, p95 in brackets; timings are reported, never asserted):

* ``fetch_upcoming``: ``sim.invoices.fetch_upcoming`` for one customer whose current billing period
  holds a month of its events (about 4,800 of the 1M), on a plan with a unit-priced count, a
  tiered sum (with sub line items), a matrix by region and a fixed fee billed in advance
  (target 50 ms); the same through the SDK (``client.invoices.fetch_upcoming``, strict);
* ``issue 1,000 invoices``: 1,000 subscriptions on that plan, 10 events each in May; the clock moves
  past June 1 + grace and one call settles the 1,000 issuances (lines computed and frozen,
  ``invoice.issued`` emitted) — without an endpoint, and with an endpoint delivering every
  ``invoice.issued`` to an in-process receiver (target 1 s); the per-invoice cost is beside it,
  and the process's CPU time (what a loaded machine does not inflate).

Webhook signing and in-process delivery per event are ``bench_webhooks.py``'s rows.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    FILL_START,
    banner,
    fill,
    fresh,
    make_account,
    median,
    ms,
    p95,
    parser,
    perf,
    table,
    verdict,
)
from orbsim import ManualClock, OrbSim

UPCOMING_TARGET = 0.050
ISSUE_TARGET = 1.0


def priced_plan(sim: OrbSim) -> Any:
    item = sim.items.create(name="Platform")
    calls = sim.metrics.create(
        name="API calls",
        description=None,
        item_id=item.id,
        sql="SELECT COUNT(*) FROM events WHERE event_name = 'api_call'",
    )
    compute = sim.metrics.create(
        name="Compute seconds",
        description=None,
        item_id=item.id,
        sql="SELECT SUM(n) FROM events WHERE event_name = 'compute_seconds'",
    )
    common = {"item_id": item.id, "cadence": "monthly", "currency": "USD"}
    return sim.plans.create(
        name="Usage",
        prices=[
            {
                "price": {
                    **common,
                    "name": "calls",
                    "billable_metric_id": calls.id,
                    "model_type": "unit",
                    "unit_config": {"unit_amount": "0.001"},
                }
            },
            {
                "price": {
                    **common,
                    "name": "compute",
                    "billable_metric_id": compute.id,
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
                    "name": "calls by region",
                    "billable_metric_id": calls.id,
                    "model_type": "matrix",
                    "matrix_config": {
                        "dimensions": ["region"],
                        "default_unit_amount": "0.002",
                        "matrix_values": [
                            {"dimension_values": ["eu-central"], "unit_amount": "0.003"}
                        ],
                    },
                }
            },
            {
                "price": {
                    **common,
                    "name": "platform fee",
                    "model_type": "unit",
                    "unit_config": {"unit_amount": "20"},
                    "billed_in_advance": True,
                }
            },
        ],
    )


def timed(call: Any, repeat: int) -> list[float]:
    call()
    out = []
    for _ in range(repeat):
        started = perf()
        call()
        out.append(perf() - started)
    return out


def upcoming_rows(total: int, repeat: int) -> list[list[str]]:
    account = make_account(FILL_START)
    fill(account, total)
    sim, clock = account.sim, account.clock
    plan = priced_plan(sim)
    # Anchored on tomorrow's day: the current period is the month of events before now.
    anchor = (clock.now() + timedelta(days=1)).day
    sub = sim.subscriptions.create(
        customer_id=account.customer_ids[0],
        plan_id=plan.id,
        start_date="2024-01-01T00:00:00Z",
        billing_cycle_anchor_configuration={"day": anchor},
    )
    upcoming = sim.invoices.fetch_upcoming(subscription_id=sub.id)
    line = upcoming.line_items[0]
    counted = int(line.quantity) * 3  # api_call is one event in three
    fresh()
    engine = timed(lambda: sim.invoices.fetch_upcoming(subscription_id=sub.id), repeat)
    client = sim.client(_strict_response_validation=True)
    sdk = timed(lambda: client.invoices.fetch_upcoming(subscription_id=sub.id), repeat)
    span = f"{line.start_date:%b %d} – {line.end_date:%b %d}"
    return [
        [
            f"`fetch_upcoming`, one customer ({span}, ~{counted:,} events), {total:,} stored",
            f"{ms(median(engine))} ({ms(p95(engine))})",
            "< 50 ms",
            verdict(median(engine) < UPCOMING_TARGET),
        ],
        [
            "same through the SDK (`client.invoices.fetch_upcoming`, strict)",
            f"{ms(median(sdk))} ({ms(p95(sdk))})",
            "-",
            "-",
        ],
    ]


def issuing_sim(with_endpoint: bool) -> tuple[OrbSim, ManualClock, list[int]]:
    clock = ManualClock("2024-05-01T00:00:00Z")
    sim = OrbSim(clock=clock, seed=0)
    plan = priced_plan(sim)
    received: list[int] = []
    if with_endpoint:
        sim.webhooks.mount("http://localhost/hooks", lambda request: received.append(1))
        sim.webhook_endpoints.create(
            url="http://localhost/hooks", enabled_event_types=["invoice.issued"]
        )
    customers = []
    for i in range(1_000):
        customer = sim.customers.create(name=f"C{i}", email=f"c{i}@bench.test")
        sim.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
        customers.append(customer.id)
    clock.set("2024-05-31T20:00:00Z")
    for offset in range(0, 1_000, 50):
        events = [
            {
                "event_name": ("api_call", "compute_seconds")[j % 2],
                "idempotency_key": f"e{offset}-{k}-{j}",
                "customer_id": customer_id,
                "timestamp": (datetime(2024, 5, 31, 19, tzinfo=UTC) + timedelta(seconds=j))
                .isoformat()
                .replace("+00:00", "Z"),
                "properties": {"region": "eu-central" if j % 3 else "us-east", "n": j},
            }
            for k, customer_id in enumerate(customers[offset : offset + 50])
            for j in range(10)
        ]
        sim.events.ingest(events=events)
    received.clear()  # the opening invoices (May's fee, in advance) issued as they subscribed
    return sim, clock, received


def issue_rows(repeat: int) -> list[list[str]]:
    rows = []
    for with_endpoint in (False, True):
        timings, cpu = [], []
        for _ in range(repeat):
            sim, clock, received = issuing_sim(with_endpoint)
            clock.set("2024-06-01T12:00:00Z")
            fresh()
            started, started_cpu = perf(), time.process_time()
            sim.now()  # the call that settles the 1,000 issuances
            timings.append(perf() - started)
            cpu.append(time.process_time() - started_cpu)
            issued = sim.invoices.list(limit=100, status=["issued"])
            assert len(issued.data) == 100 and issued.data[0].line_items
            assert not with_endpoint or len(received) == 1_000
        what = "with an in-process `invoice.issued` receiver" if with_endpoint else "no endpoint"
        mid = median(timings)
        rows.append(
            [
                f"issue 1,000 invoices at June 1 + grace, one call ({what})",
                f"{ms(mid)} ({mid / 1_000 * 1e6:,.0f} µs per invoice; CPU {ms(median(cpu))})",
                "< 1 s",
                verdict(mid < ISSUE_TARGET),
            ]
        )
    return rows


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    total = args.events or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat or (5 if args.quick else 15)
    print(banner("bench_invoices", {"stored events": f"{total:,}", "repeat": repeat}))
    rows = upcoming_rows(total, repeat)
    rows += issue_rows(max(1, min(repeat, 3)))
    print(table(["what", "median (p95)", "target", "meets"], rows))


if __name__ == "__main__":
    main()
