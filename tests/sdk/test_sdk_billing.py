"""The official SDK's billing methods against orbsim, strictly validated: items, metrics, prices,
plans with prices, subscription usage and costs, customer costs, and their bad inputs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orb
import pytest

from helpers.sdk import START, event
from orbsim import OrbSim


@pytest.fixture
def item(client: Any) -> Any:
    return client.items.create(name="API")


@pytest.fixture
def metric(client: Any, item: Any) -> Any:
    return client.metrics.create(
        name="API calls",
        description="calls",
        item_id=item.id,
        sql="SELECT COUNT(*) FROM events WHERE event_name = 'api_call'",
        metadata={"team": "core"},
    )


def unit_price(item: Any, metric: Any, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "API calls",
        "item_id": item.id,
        "billable_metric_id": metric.id,
        "cadence": "monthly",
        "currency": "USD",
        "model_type": "unit",
        "unit_config": {"unit_amount": "0.50"},
    }
    return body | overrides


@pytest.fixture
def billed(client: Any, customer: Any, item: Any, metric: Any) -> Any:
    """``customer`` on a plan charging $0.50 per API call, with three calls on May 15."""
    plan = client.plans.create(
        name="Usage", currency="USD", prices=[{"price": unit_price(item, metric)}]
    )
    subscription = client.subscriptions.create(
        customer_id=customer.id, plan_id=plan.id, start_date="2024-05-01T00:00:00Z"
    )
    client.events.ingest(
        events=[event(f"e{i}", customer.id, START - timedelta(hours=i + 1)) for i in range(3)]
    )
    return subscription


def test_items(client: Any) -> None:
    created = client.items.create(name="API", metadata={"a": "1"})
    updated = client.items.update(created.id, name="API v2", metadata={"a": None, "b": "2"})
    archived = client.items.archive(created.id)

    assert client.items.fetch(created.id).name == "API v2"
    assert updated.metadata == {"b": "2"}
    assert archived.archived_at is not None
    assert [i.id for i in client.items.list()] == [created.id]


def test_metrics(client: Any, metric: Any, item: Any) -> None:
    updated = client.metrics.update(metric.id, metadata={"team": None, "x": "y"})

    assert metric.item.id == item.id and metric.status == "active"
    assert metric.sql == "SELECT COUNT(*) FROM events WHERE event_name = 'api_call'"
    assert updated.metadata == {"x": "y"}
    assert client.metrics.fetch(metric.id) == updated
    assert [m.id for m in client.metrics.list()] == [metric.id]


@pytest.mark.parametrize(
    ("model_type", "config"),
    [
        ("unit", {"unit_config": {"unit_amount": "0.50"}}),
        ("package", {"package_config": {"package_amount": "5", "package_size": 100}}),
        (
            "tiered",
            {
                "tiered_config": {
                    "tiers": [
                        {"first_unit": 0, "last_unit": 10, "unit_amount": "1"},
                        {"first_unit": 10, "unit_amount": "0.5"},
                    ]
                }
            },
        ),
        ("bulk", {"bulk_config": {"tiers": [{"maximum_units": 10, "unit_amount": "1"}]}}),
        (
            "matrix",
            {
                "matrix_config": {
                    "dimensions": ["region"],
                    "default_unit_amount": "1",
                    "matrix_values": [{"dimension_values": ["eu"], "unit_amount": "2"}],
                }
            },
        ),
    ],
)
def test_prices_of_every_simulated_model(
    client: Any, item: Any, metric: Any, model_type: str, config: dict[str, Any]
) -> None:
    body = {k: v for k, v in unit_price(item, metric).items() if k != "unit_config"}
    price = client.prices.create(
        **{**body, "model_type": model_type, **config, "external_price_id": model_type}
    )

    assert price.price_model_type == model_type
    assert client.prices.fetch(price.id) == price
    assert client.prices.external_price_id.fetch(model_type) == price
    assert client.prices.update(price.id, metadata={"k": "v"}).metadata == {"k": "v"}
    assert [p.id for p in client.prices.list()] == [price.id]


def test_fixed_fee(client: Any, item: Any) -> None:
    fee = client.prices.create(
        name="Platform",
        item_id=item.id,
        cadence="monthly",
        currency="USD",
        model_type="unit",
        unit_config={"unit_amount": "20"},
        fixed_price_quantity=2,
        billed_in_advance=True,
    )

    assert fee.price_type == "fixed_price"
    assert fee.billable_metric is None
    assert fee.fixed_price_quantity == 2
    assert fee.billing_mode == "in_advance"


def test_plans_return_their_prices(client: Any, item: Any, metric: Any) -> None:
    plan = client.plans.create(
        name="Usage", currency="USD", prices=[{"price": unit_price(item, metric)}]
    )

    (price,) = plan.prices
    assert price.price_model_type == "unit" and price.billable_metric.id == metric.id
    assert client.plans.fetch(plan.id).prices == plan.prices


def test_usage(client: Any, billed: Any, metric: Any) -> None:
    usage = client.subscriptions.fetch_usage(billed.id)
    by_day = client.subscriptions.fetch_usage(
        billed.id,
        granularity="day",
        timeframe_start="2024-05-13T00:00:00Z",
        timeframe_end="2024-05-16T00:00:00Z",
    )
    grouped = client.subscriptions.fetch_usage(
        billed.id, billable_metric_id=metric.id, group_by="n"
    )

    assert [(d.billable_metric.id, d.usage[0].quantity) for d in usage.data] == [(metric.id, 3)]
    assert [w.quantity for w in by_day.data[0].usage] == [0, 0, 3]
    assert [(g.metric_group.property_value, g.usage[0].quantity) for g in grouped.data] == [
        ("1", 3)
    ]


def test_costs(client: Any, billed: Any, customer: Any) -> None:
    window = {"timeframe_start": "2024-05-14T00:00:00Z", "timeframe_end": "2024-05-16T00:00:00Z"}
    costs = client.subscriptions.fetch_costs(billed.id, **window)
    periodic = client.subscriptions.fetch_costs(billed.id, view_mode="periodic", **window)

    assert [(c.subtotal, c.total) for c in costs.data] == [("0.00", "0.00"), ("1.50", "1.50")]
    assert costs.data[1].per_price_costs[0].quantity == 3
    assert [c.total for c in periodic.data] == ["0.00", "1.50"]
    assert client.customers.costs.list(customer.id, **window).data == costs.data
    assert client.customers.costs.list_by_external_id("acme", **window).data == costs.data


@pytest.mark.parametrize(
    ("call", "error", "detail"),
    [
        (lambda c, ids: c.items.fetch("nope"), orb.NotFoundError, "nope"),
        (lambda c, ids: c.metrics.fetch("nope"), orb.NotFoundError, "nope"),
        (lambda c, ids: c.prices.fetch("nope"), orb.NotFoundError, "nope"),
        (lambda c, ids: c.prices.external_price_id.fetch("nope"), orb.NotFoundError, "nope"),
        (lambda c, ids: c.subscriptions.fetch_usage("nope"), orb.NotFoundError, "nope"),
        (lambda c, ids: c.subscriptions.fetch_costs("nope"), orb.NotFoundError, "nope"),
        (lambda c, ids: c.customers.costs.list("nope"), orb.NotFoundError, "nope"),
        (
            lambda c, ids: c.metrics.create(
                name="m", description=None, item_id="nope", sql="SELECT COUNT(*) FROM events"
            ),
            orb.BadRequestError,
            "item_id: no item with id 'nope'",
        ),
        (
            lambda c, ids: c.metrics.create(
                name="m", description=None, item_id=ids["item"], sql="SELECT nope FROM"
            ),
            orb.BadRequestError,
            "invalid sql",
        ),
        (
            lambda c, ids: c.prices.create(**{**ids["price"], "billable_metric_id": "nope"}),
            orb.BadRequestError,
            "billable_metric_id: no billable metric with id 'nope'",
        ),
        (
            lambda c, ids: c.prices.create(
                **{**ids["price"], "unit_config": {"unit_amount": "-1"}}
            ),
            orb.BadRequestError,
            "amounts cannot be negative",
        ),
        (
            lambda c, ids: c.plans.create(
                name="p", currency="EUR", prices=[{"price": ids["price"]}]
            ),
            orb.BadRequestError,
            "does not match the plan's currency 'EUR'",
        ),
        (
            lambda c, ids: c.subscriptions.fetch_usage(
                ids["sub"], timeframe_start="2024-05-02T00:00:00Z"
            ),
            orb.BadRequestError,
            "must be given together",
        ),
    ],
)
def test_bad_input_is_refused_naming_field_and_value(
    client: Any,
    sim: OrbSim,
    billed: Any,
    item: Any,
    metric: Any,
    call: Any,
    error: Any,
    detail: str,
) -> None:
    ids = {"item": item.id, "price": unit_price(item, metric), "sub": billed.id}
    prices_before = len(sim.prices.list(limit=100).data)

    with pytest.raises(error) as info:
        call(client, ids)

    assert detail in info.value.body["detail"]
    assert len(sim.prices.list(limit=100).data) == prices_before
