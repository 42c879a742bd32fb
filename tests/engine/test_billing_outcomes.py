"""What the events are worth, through the engine API: items, metrics, prices, usage and costs.

Each test reads as an example: a customer on a plan with a metric and a price, some events, and
the quantities and amounts Orb's rules give for them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from orbsim import (
    ConstraintViolation,
    DuplicateResourceCreation,
    GroupedUsage,
    ManualClock,
    OrbSim,
    RequestValidationError,
    ResourceNotFound,
)

NOW = datetime(2024, 5, 2, tzinfo=UTC)
MAY = {"timeframe_start": "2024-05-01T00:00:00Z", "timeframe_end": "2024-06-01T00:00:00Z"}


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(NOW)
        self.sim = OrbSim(clock=self.clock, seed=0)
        sim = self.sim
        self.item = sim.items.create(name="API")
        self.calls = sim.metrics.create(
            name="API calls",
            description="calls",
            item_id=self.item.id,
            sql="SELECT COUNT(*) FROM events WHERE event_name = 'api_call'",
        )
        self.price_body: dict[str, Any] = {
            "name": "API calls",
            "item_id": self.item.id,
            "billable_metric_id": self.calls.id,
            "cadence": "monthly",
            "currency": "USD",
            "model_type": "unit",
            "unit_config": {"unit_amount": "0.50"},
        }
        self.plan = sim.plans.create(name="Usage", prices=[{"price": self.price_body}])
        self.customer = sim.customers.create(
            name="Acme", email="a@acme.test", external_customer_id="acme"
        )
        self.sub = sim.subscriptions.create(
            customer_id=self.customer.id, plan_id=self.plan.id, start_date="2024-05-01T00:00:00Z"
        )
        self.keys = iter(range(10**6))

    def ingest(self, when: str, name: str = "api_call", **properties: Any) -> str:
        """Ingest one event at ``when`` (ISO), moving the clock just past it if it is behind."""
        moment = datetime.fromisoformat(when)
        if self.clock.now() < moment + timedelta(minutes=1):
            self.clock.set(moment + timedelta(minutes=1))
        key = f"e{next(self.keys)}"
        self.sim.events.ingest(
            events=[
                {
                    "idempotency_key": key,
                    "event_name": name,
                    "customer_id": self.customer.id,
                    "timestamp": when,
                    "properties": properties,
                }
            ]
        )
        return key

    def usage(self, **kw: Any) -> list[float]:
        (entry,) = self.sim.subscriptions.fetch_usage(self.sub.id, **kw).data
        return [w.quantity for w in entry.usage]

    def total(self) -> str:
        return self.sim.subscriptions.fetch_costs(self.sub.id, **MAY).data[-1].total


@pytest.fixture
def world() -> World:
    return World()


def test_a_plan_stores_full_price_objects(world: World) -> None:
    (price,) = world.plan.prices
    assert price["model_type"] == "unit"
    assert price["unit_config"]["unit_amount"] == "0.50"
    assert price["billable_metric"] == {"id": world.calls.id}
    assert price["item"] == {"id": world.item.id, "name": "API"}
    assert world.sim.prices.fetch(price["id"]).id == price["id"]
    plan = world.sim.subscriptions.fetch(world.sub.id).plan
    assert plan is not None and plan.prices == world.plan.prices


def test_usage_and_costs_follow_the_events(world: World) -> None:
    for hour in (1, 2, 3):
        world.ingest(f"2024-05-10T0{hour}:00:00+00:00")
    world.ingest("2024-05-10T04:00:00+00:00", name="login")

    assert world.usage() == [3.0]
    assert world.total() == "1.50"


def test_amend_deprecate_backfill_and_revert_each_change_the_bill(world: World) -> None:
    sim = world.sim
    keys = [world.ingest(f"2024-05-10T0{hour}:00:00+00:00") for hour in (1, 2, 3)]
    assert world.usage() == [3.0]

    sim.events.update(
        keys[0],
        event_name="login",
        customer_id=world.customer.id,
        timestamp="2024-05-10T01:00:00+00:00",
        properties={},
    )
    assert world.usage() == [2.0]

    sim.events.deprecate(keys[1])
    assert world.usage() == [1.0]
    assert world.total() == "0.50"

    world.clock.set("2024-05-11T00:00:00Z")
    backfill = sim.events.backfills.create(
        timeframe_start="2024-05-10T00:00:00Z",
        timeframe_end="2024-05-10T12:00:00Z",
        customer_id=world.customer.id,
        replace_existing_events=True,
    )
    sim.events.ingest(
        backfill_id=backfill.id,
        events=[
            {
                "idempotency_key": f"fix{i}",
                "event_name": "api_call",
                "customer_id": world.customer.id,
                "timestamp": "2024-05-10T05:00:00Z",
                "properties": {},
            }
            for i in range(5)
        ],
    )
    assert world.usage() == [1.0]  # not reflected yet
    assert sim.events.backfills.close(backfill.id).status == "pending"
    assert world.usage() == [1.0]  # reflection is asynchronous: poll, as with Orb
    assert poll(sim, backfill.id, until="reflected") == 1
    assert world.usage() == [5.0]
    assert world.total() == "2.50"

    assert sim.events.backfills.revert(backfill.id).status == "pending_revert"
    assert world.usage() == [5.0]
    assert poll(sim, backfill.id, until="reverted") == 1
    assert world.usage() == [1.0]


def poll(sim: OrbSim, backfill_id: str, *, until: str) -> int:
    """Fetch the backfill until its status is ``until`` (at most 10 times); the fetches made."""
    for fetches in range(1, 11):
        if sim.events.backfills.fetch(backfill_id).status == until:
            return fetches
    raise AssertionError(f"backfill {backfill_id} never became {until}")


def test_usage_by_day_has_every_window_and_cumulative_adds_up(world: World) -> None:
    world.ingest("2024-05-18T12:00:00+00:00")
    world.ingest("2024-05-18T13:00:00+00:00")
    world.ingest("2024-05-20T11:00:00+00:00")
    window = {"timeframe_start": "2024-05-17T00:00:00Z", "timeframe_end": "2024-05-21T00:00:00Z"}

    assert world.usage(granularity="day", **window) == [0.0, 2.0, 0.0, 1.0]
    assert world.usage(granularity="day", view_mode="cumulative", **window) == [0, 2, 2, 3]


def test_events_outside_the_subscription_do_not_count(world: World) -> None:
    sim = world.sim
    other = sim.customers.create(name="Other", email="o@x.test")
    sim.events.ingest(
        events=[
            {
                "idempotency_key": "x",
                "event_name": "api_call",
                "customer_id": other.id,
                "timestamp": NOW.isoformat(),
                "properties": {},
            }
        ]
    )
    ended = sim.subscriptions.create(
        customer_id=other.id,
        plan_id=world.plan.id,
        start_date="2024-05-05T00:00:00Z",
        end_date="2024-05-10T00:00:00Z",
    )

    assert sim.subscriptions.fetch_usage(ended.id).data[0].usage[0].quantity == 0


def test_subscription_filter_and_usage_customer_ids_are_respected() -> None:
    world = World()
    sim = world.sim
    child = sim.customers.create(name="Child", email="c@acme.test")
    eu_only = sim.subscriptions.create(
        customer_id=world.customer.id,
        plan_id=world.plan.id,
        start_date="2024-05-01T00:00:00Z",
        filter="region = 'eu'",
    )
    pooled = sim.subscriptions.create(
        customer_id=world.customer.id,
        plan_id=world.plan.id,
        start_date="2024-05-01T00:00:00Z",
        usage_customer_ids=[child.id],
    )
    world.ingest("2024-05-10T01:00:00+00:00", region="eu")
    world.ingest("2024-05-10T02:00:00+00:00", region="us")
    sim.events.ingest(
        events=[
            {
                "idempotency_key": "c1",
                "event_name": "api_call",
                "customer_id": child.id,
                "timestamp": world.clock.now().isoformat(),
                "properties": {},
            }
        ]
    )

    assert world.usage() == [2.0]
    assert sim.subscriptions.fetch_usage(eu_only.id).data[0].usage[0].quantity == 1
    assert sim.subscriptions.fetch_usage(pooled.id).data[0].usage[0].quantity == 1


def test_group_by_returns_one_entry_per_value(world: World) -> None:
    world.ingest("2024-05-10T01:00:00+00:00", region="eu")
    world.ingest("2024-05-10T02:00:00+00:00", region="eu")
    world.ingest("2024-05-10T03:00:00+00:00", region="us")
    world.ingest("2024-05-10T04:00:00+00:00")

    grouped = world.sim.subscriptions.fetch_usage(
        world.sub.id, billable_metric_id=world.calls.id, group_by="region"
    )
    assert isinstance(grouped, GroupedUsage)

    assert [(g.metric_group.property_value, g.usage[0].quantity) for g in grouped.data] == [
        ("eu", 2.0),
        ("us", 1.0),
    ]


def test_costs_are_cumulative_by_default_and_periodic_on_request(world: World) -> None:
    world.ingest("2024-05-18T12:00:00+00:00")
    world.ingest("2024-05-20T11:00:00+00:00")
    window = {"timeframe_start": "2024-05-18T00:00:00Z", "timeframe_end": "2024-05-21T00:00:00Z"}
    sim = world.sim

    cumulative = sim.subscriptions.fetch_costs(world.sub.id, **window).data
    periodic = sim.subscriptions.fetch_costs(world.sub.id, view_mode="periodic", **window).data

    assert [c.total for c in cumulative] == ["0.50", "0.50", "1.00"]
    assert {c.timeframe_start for c in cumulative} == {datetime(2024, 5, 1, tzinfo=UTC)}
    assert [c.total for c in periodic] == ["0.50", "0.00", "0.50"]
    assert [c.per_price_costs[0].quantity for c in periodic] == [1, 0, 1]
    customer_costs = sim.customers.costs.list(world.customer.id, **window).data
    assert [c.total for c in customer_costs] == ["0.50", "0.50", "1.00"]
    by_alias = sim.customers.costs.list_by_external_id("acme", **window).data
    assert by_alias == customer_costs


def test_no_subscription_means_nothing_is_billed() -> None:
    sim = OrbSim(clock=ManualClock(NOW))
    lonely = sim.customers.create(name="L", email="l@x.test")

    assert sim.customers.costs.list(lonely.id).data == []


@pytest.mark.parametrize(
    ("change", "error", "detail"),
    [
        ({"item_id": "nope"}, RequestValidationError, "item_id: no item with id 'nope'"),
        (
            {"billable_metric_id": "nope"},
            RequestValidationError,
            "billable_metric_id: no billable metric with id 'nope'",
        ),
        ({"model_type": "bps", "bps_config": {}}, RequestValidationError, "'bps' is not simulated"),
        (
            {"unit_config": {"unit_amount": "-1"}},
            RequestValidationError,
            "amounts cannot be negative, got '-1'",
        ),
        ({"currency": "EUR"}, RequestValidationError, "does not match the plan's currency 'USD'"),
        ({"cadence": "custom"}, RequestValidationError, "custom cadences are not simulated"),
    ],
)
def test_bad_plan_prices_are_refused_and_change_nothing(
    world: World, change: dict[str, Any], error: type[Exception], detail: str
) -> None:
    before = world.sim.plans.list().data

    with pytest.raises(error, match=detail.replace("(", r"\(").replace(")", r"\)")):
        world.sim.plans.create(name="Bad", prices=[{"price": {**world.price_body, **change}}])

    assert world.sim.plans.list().data == before
    assert len(world.sim.prices.list().data) == 1


def test_unknown_ids_are_not_found(world: World) -> None:
    sim = world.sim
    for call in (
        lambda: sim.items.fetch("nope"),
        lambda: sim.metrics.fetch("nope"),
        lambda: sim.prices.fetch("nope"),
        lambda: sim.prices.external_price_id.fetch("nope"),
        lambda: sim.subscriptions.fetch_usage("nope"),
        lambda: sim.subscriptions.fetch_costs("nope"),
        lambda: sim.subscriptions.fetch_usage(
            world.sub.id, billable_metric_id="nope", group_by="r"
        ),
    ):
        with pytest.raises(ResourceNotFound):
            call()


def test_metrics_over_archived_items_and_bad_sql_are_refused(world: World) -> None:
    sim = world.sim
    old = sim.items.create(name="Old")
    sim.items.archive(old.id)

    with pytest.raises(RequestValidationError, match=r"item .* is archived"):
        sim.metrics.create(
            name="m", description=None, item_id=old.id, sql="SELECT COUNT(*) FROM events"
        )
    with pytest.raises(RequestValidationError, match=r"sql: unsupported syntax in sql: JOIN"):
        sim.metrics.create(
            name="m",
            description=None,
            item_id=world.item.id,
            sql="SELECT COUNT(*) FROM events JOIN users ON a",
        )
    assert [m.id for m in sim.metrics.list().data] == [world.calls.id]


def test_external_price_ids_are_unique(world: World) -> None:
    sim = world.sim
    body = {**world.price_body, "external_price_id": "calls-v1"}
    created = sim.prices.create(**body)

    assert sim.prices.external_price_id.fetch("calls-v1").id == created.id
    with pytest.raises(DuplicateResourceCreation, match="calls-v1"):
        sim.prices.create(**body)


def test_a_metric_that_yields_text_is_an_error_at_read_time(world: World) -> None:
    sim = world.sim
    bad = sim.metrics.create(
        name="region", description=None, item_id=world.item.id, sql="SELECT MAX(region) FROM events"
    )
    plan = sim.plans.create(
        name="R", prices=[{"price": {**world.price_body, "billable_metric_id": bad.id}}]
    )
    sub = sim.subscriptions.create(
        customer_id=world.customer.id, plan_id=plan.id, start_date="2024-05-01T00:00:00Z"
    )
    world.ingest("2024-05-10T01:00:00+00:00", region="eu")

    with pytest.raises(ConstraintViolation, match=r"produced 'eu', which is not a number"):
        sim.subscriptions.fetch_usage(sub.id)


def test_amounts_are_decimal_strings_rounded_to_the_currency(world: World) -> None:
    sim = world.sim
    third = sim.plans.create(
        name="Third",
        prices=[{"price": {**world.price_body, "unit_config": {"unit_amount": "0.333"}}}],
    )
    sub = sim.subscriptions.create(
        customer_id=world.customer.id, plan_id=third.id, start_date="2024-05-01T00:00:00Z"
    )
    for hour in range(5):
        world.ingest(f"2024-05-10T0{hour}:00:00+00:00")

    cost = sim.subscriptions.fetch_costs(sub.id, **MAY).data[-1]
    assert cost.per_price_costs[0].subtotal == "1.67"  # 5 x 0.333 = 1.665, half up
    assert Decimal(cost.total) == Decimal("1.67")
