"""``orbsim demo``: a customer reports usage through the official SDK, fixes mistakes, and is
refused where Orb would refuse. Every call goes through Orb's wire format to an in-process
simulator on a ``ManualClock``; each step prints what happened.

The scenario is ``Demo.run``: one method per step, in order.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from orbsim import ManualClock, OrbSim

if TYPE_CHECKING:
    import orb
    from orb.types.event_ingest_params import Event

    from orbsim import BillableEvent

__all__ = ["Demo", "main"]

MAY_10 = ("2024-05-10T00:00:00Z", "2024-05-11T00:00:00Z")


def main() -> int:
    """Run the demo; 1 (with a hint) if the official SDK is not installed."""
    try:
        import orb
    except ImportError:  # pragma: no cover - the sdk extra is part of the Quickstart
        print("orbsim demo drives the official SDK: pip install 'orbsim[sdk]'", file=sys.stderr)
        return 1
    Demo(orb.APIStatusError).run()
    return 0


def step(title: str) -> None:
    print(f"\n== {title}")


class Demo:
    """The scenario's state: the clock, the simulator, the SDK client and what was created."""

    def __init__(self, refusal: type[orb.APIStatusError]) -> None:
        self.refusal = refusal
        """The SDK's error for a refused request."""
        self.clock = ManualClock("2024-05-20T12:00:00Z")
        self.sim = OrbSim(clock=self.clock, seed=42)
        self.client: orb.Orb = self.sim.client(_strict_response_validation=True)
        self.now = self.clock.now()
        self.customer_id = ""
        self.events: list[Event] = []

    def run(self) -> None:
        self.create_customer_plan_and_subscription()
        self.ingest_three_events()
        self.ingest_the_same_batch_again()
        self.refuse_a_late_event()
        self.amend_and_deprecate()
        self.refuse_changes_to_an_invoiced_period()
        self.backfill_and_revert()

    # -- the steps --------------------------------------------------------------------------

    def create_customer_plan_and_subscription(self) -> None:
        step("customer, plan and subscription (POST /customers, /plans, /subscriptions)")
        customer = self.client.customers.create(
            name="Acme Corp", email="billing@acme.test", external_customer_id="acme"
        )
        self.customer_id = customer.id
        item = self.client.items.create(name="API calls")
        unit_price: Any = {
            "cadence": "monthly",
            "item_id": item.id,
            "model_type": "unit",
            "name": "API calls",
            "unit_config": {"unit_amount": "0.01"},
        }
        plan = self.client.plans.create(name="API usage", currency="USD", prices=[unit_price])
        subscription = self.client.subscriptions.create(
            customer_id=customer.id, plan_id=plan.id, start_date="2024-05-01T00:00:00Z"
        )
        print(f"customer {customer.id} (alias {customer.external_customer_id}) on {plan.name!r}")
        print(
            "current billing period: "
            f"{subscription.current_billing_period_start_date} -> "
            f"{subscription.current_billing_period_end_date}"
        )

    def ingest_three_events(self) -> None:
        step("ingest three events, one by alias (POST /ingest)")
        self.events = [
            self.event("evt-1", self.now - timedelta(hours=1), region="eu"),
            self.event("evt-2", self.now - timedelta(minutes=30), alias="acme", region="us"),
            self.event("evt-3", self.now, region="eu", test=True),
        ]
        print(f"response: {self.client.events.ingest(events=self.events).to_dict()}")
        print(f"billable events: {[e.id for e in self.billable()]}")

    def ingest_the_same_batch_again(self) -> None:
        step("the same batch again is a no-op (per-event idempotency)")
        self.client.events.ingest(events=self.events)
        print(f"still {len(self.billable())} billable events")

    def refuse_a_late_event(self) -> None:
        step("an event older than the 12 h grace period is refused, and the batch with it")
        late = self.event("evt-4", self.now - timedelta(hours=13))
        self.refused(lambda: self.client.events.ingest(events=[late]))

    def amend_and_deprecate(self) -> None:
        step("amend evt-2 (PUT /events/evt-2) and deprecate evt-3, a test call")
        self.client.events.update(
            "evt-2",
            event_name="api_call",
            external_customer_id="acme",
            timestamp=self.now - timedelta(minutes=30),
            properties={"region": "eu"},
        )
        self.client.events.deprecate("evt-3")
        found = self.client.events.search(
            event_ids=["evt-1", "evt-2", "evt-3"], timeframe_end=self.now + timedelta(minutes=5)
        )
        for event in found.data:
            print(f"  search: {event.id} deprecated={event.deprecated} {event.properties}")
        print("  (search leaves amended events out, as Orb documents)")
        for billable in self.billable():
            print(f"  billable: {billable.id} {billable.properties}")
        versions = len(self.sim.event_versions("evt-2"))
        print(f"evt-2 has {versions} versions (nothing is ever deleted)")

    def refuse_changes_to_an_invoiced_period(self) -> None:
        step("June 1 12:00 UTC: May is invoiced, so its events can no longer be changed")
        self.clock.set("2024-06-01T13:00:00Z")
        self.refused(lambda: self.client.events.deprecate("evt-1"))

    def backfill_and_revert(self) -> None:
        step("backfill May 10 to replace existing usage (POST /events/backfills)")
        backfill = self.client.events.backfills.create(
            timeframe_start=MAY_10[0], timeframe_end=MAY_10[1], customer_id=self.customer_id
        )
        corrected = [
            self.event(f"bf-{hour}", f"2024-05-10T{hour:02d}:00:00Z", region="eu")
            for hour in range(5)
        ]
        self.client.events.ingest(backfill_id=backfill.id, events=corrected)
        self.refused(
            lambda: self.client.events.backfills.create(
                timeframe_start="2024-05-10T12:00:00Z", timeframe_end="2024-05-12T00:00:00Z"
            )
        )
        closing = self.client.events.backfills.close(backfill.id)
        print(f"close answers status {closing.status} (Orb reflects asynchronously): poll")
        closed = self.client.events.backfills.fetch(backfill.id)
        print(f"backfill {closed.id}: status {closed.status}, {closed.events_ingested} events")
        print(f"billable on May 10: {len(self.billable(*MAY_10))}")
        self.client.events.backfills.revert(backfill.id)  # pending_revert, until the next read
        reverted = self.client.events.backfills.fetch(backfill.id)
        after = self.billable(*MAY_10)
        print(f"after revert: status {reverted.status}, billable on May 10: {len(after)}")

    # -- helpers ----------------------------------------------------------------------------

    def event(
        self, key: str, timestamp: datetime | str, *, alias: str | None = None, **properties: Any
    ) -> Event:
        """An ``api_call`` event of the demo's customer (sent by ``alias`` if given)."""
        event: Event = {
            "idempotency_key": key,
            "event_name": "api_call",
            "timestamp": timestamp,
            "properties": properties,
        }
        if alias is not None:
            event["external_customer_id"] = alias
        else:
            event["customer_id"] = self.customer_id
        return event

    def billable(self, start: str | None = None, end: str | None = None) -> list[BillableEvent]:
        """The customer's billable events (in ``[start, end)`` if given), from the simulator."""
        return self.sim.billable_events(
            customer_id=self.customer_id, timeframe_start=start, timeframe_end=end
        )

    def refused(self, call: Callable[[], object]) -> None:
        """Make a call Orb refuses; print the error the SDK raised."""
        try:
            call()
        except self.refusal as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            print(f"refused: {type(exc).__name__} ({exc.status_code}): {body.get('detail')}")
        else:  # pragma: no cover - the scenario is built so that Orb refuses
            print("unexpectedly accepted")
