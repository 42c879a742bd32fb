"""Command line: ``orbsim demo`` runs a short scripted scenario and prints what happened."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta

from orbsim.clock import ManualClock
from orbsim.engine.sim import OrbSim
from orbsim.errors import OrbError


def _step(title: str) -> None:
    print(f"\n== {title}")


def demo() -> int:
    """A customer reports usage, fixes mistakes, and is refused where Orb would refuse."""
    clock = ManualClock("2024-05-20T12:00:00Z")
    sim = OrbSim(clock=clock, seed=42)
    _step("customer, plan and subscription")
    customer = sim.customers.create(
        name="Acme Corp", email="billing@acme.test", external_customer_id="acme"
    )
    plan = sim.plans.create(name="API usage", external_plan_id="api-usage")
    sub = sim.subscriptions.create(
        customer_id=customer.id, plan_id=plan.id, start_date="2024-05-01T00:00:00Z"
    )
    print(f"customer {customer.id} (alias {customer.external_customer_id}) on plan {plan.name!r}")
    print(
        f"current billing period: {sub.current_billing_period_start_date} -> "
        f"{sub.current_billing_period_end_date}"
    )

    _step("ingest three events (one by alias)")
    now = sim.now()
    sim.events.ingest(
        events=[
            {
                "idempotency_key": "evt-1",
                "event_name": "api_call",
                "customer_id": customer.id,
                "timestamp": (now - timedelta(hours=1)).isoformat(),
                "properties": {"region": "eu"},
            },
            {
                "idempotency_key": "evt-2",
                "event_name": "api_call",
                "external_customer_id": "acme",
                "timestamp": (now - timedelta(minutes=30)).isoformat(),
                "properties": {"region": "us"},
            },
            {
                "idempotency_key": "evt-3",
                "event_name": "api_call",
                "customer_id": customer.id,
                "timestamp": now.isoformat(),
                "properties": {"region": "eu", "test": True},
            },
        ]
    )
    print(f"billable events: {[e.id for e in sim.billable_events(customer_id=customer.id)]}")

    _step("the same batch again is a no-op (idempotency)")
    sim.events.ingest(
        events=[
            {
                "idempotency_key": "evt-1",
                "event_name": "other",
                "customer_id": customer.id,
                "timestamp": now.isoformat(),
                "properties": {},
            }
        ]
    )
    print(f"still {len(sim.billable_events(customer_id=customer.id))} billable events")

    _step("an event older than the 12 h grace period is refused, atomically")
    try:
        sim.events.ingest(
            events=[
                {
                    "idempotency_key": "evt-4",
                    "event_name": "api_call",
                    "customer_id": customer.id,
                    "timestamp": (now - timedelta(hours=13)).isoformat(),
                    "properties": {},
                },
            ]
        )
    except OrbError as exc:
        print(f"{type(exc).__name__}: {exc.detail}")

    _step("amend evt-2 and deprecate evt-3 (a test call)")
    sim.events.update(
        "evt-2",
        event_name="api_call",
        external_customer_id="acme",
        timestamp=(now - timedelta(minutes=30)).isoformat(),
        properties={"region": "eu"},
    )
    sim.events.deprecate("evt-3")
    for event in sim.billable_events(customer_id=customer.id):
        print(f"  {event.id}: {event.event_name} {event.properties}")
    print(f"evt-2 has {len(sim.event_versions('evt-2'))} versions (nothing is ever deleted)")

    _step("after the period is invoiced, amending is refused")
    clock.set("2024-06-01T13:00:00Z")
    try:
        sim.events.deprecate("evt-1")
    except OrbError as exc:
        print(f"{type(exc).__name__}: {exc.detail}")

    _step("backfill May 10 to replace existing usage")
    backfill = sim.events.backfills.create(
        timeframe_start="2024-05-10T00:00:00Z",
        timeframe_end="2024-05-11T00:00:00Z",
        customer_id=customer.id,
    )
    sim.events.ingest(
        backfill_id=backfill.id,
        events=[
            {
                "idempotency_key": f"bf-{i}",
                "event_name": "api_call",
                "customer_id": customer.id,
                "timestamp": f"2024-05-10T{i:02d}:00:00Z",
                "properties": {"region": "eu"},
            }
            for i in range(5)
        ],
    )
    closed = sim.events.backfills.close(backfill.id)
    print(f"backfill {closed.id}: status {closed.status}, {closed.events_ingested} events")
    may10 = sim.billable_events(
        customer_id=customer.id,
        timeframe_start="2024-05-10T00:00:00Z",
        timeframe_end="2024-05-11T00:00:00Z",
    )
    print(f"billable on May 10: {len(may10)}")
    reverted = sim.events.backfills.revert(backfill.id)
    after = sim.billable_events(
        customer_id=customer.id,
        timeframe_start="2024-05-10T00:00:00Z",
        timeframe_end="2024-05-11T00:00:00Z",
    )
    print(f"after revert: status {reverted.status}, billable on May 10: {len(after)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orbsim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run a short scripted scenario and print what happened")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo()
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
