"""The audit of the endpoints besides customers, plans and subscriptions create/update: prices,
items, metrics, invoices, usage, events, backfills, webhook endpoints and the lists. Each SDK
parameter is simulated, stored, or refused with a 400 naming the field, the value and "not
simulated" (null and the value orbsim behaves as are accepted). Through the SDK with strict
response validation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orb
import pytest

from helpers.sdk import START, event
from orbsim import OrbSim

World = dict[str, Any]
Call = Callable[[Any, World], object]
"""``(client, world) -> ...``: one SDK call."""


@pytest.fixture
def world(client: Any, customer: Any) -> World:
    """An item, a count metric, a plan with a unit price on it, ``customer`` subscribed."""
    item = client.items.create(name="API")
    metric = client.metrics.create(
        name="calls", description=None, item_id=item.id, sql="SELECT COUNT(*) FROM events"
    )
    plan = client.plans.create(
        name="Usage", currency="USD", prices=[{"price": _unit(item.id, metric.id)}]
    )
    sub = client.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    return {"item": item, "metric": metric, "plan": plan, "sub": sub, "customer": customer}


def _unit(item_id: str, metric_id: str | None = None, **config: Any) -> dict[str, Any]:
    return {
        "name": "calls",
        "item_id": item_id,
        "billable_metric_id": metric_id,
        "cadence": "monthly",
        "currency": "USD",
        "model_type": "unit",
        "unit_config": {"unit_amount": "0.50", **config},
    }


def _price(**fields: Any) -> Call:
    return lambda c, w: c.prices.create(**(_unit(w["item"].id, w["metric"].id) | fields))


def _price_config(**config: Any) -> Call:
    return lambda c, w: c.prices.create(**_unit(w["item"].id, w["metric"].id, **config))


def _plan_entry(**entry: Any) -> Call:
    return lambda c, w: c.plans.create(
        name="P2", currency="USD", prices=[{"price": _unit(w["item"].id), **entry}]
    )


CYCLE = {"duration": 1, "duration_unit": "month"}
CONVERSION = {"conversion_rate_type": "unit", "unit_config": {"unit_amount": "2"}}
DIMENSIONAL = {"dimensional_price_group_id": "dpg_1", "dimension_values": ["eu"]}
ALLOCATION = {"amount": "10", "cadence": "monthly", "currency": "USD"}

REFUSED: list[tuple[str, Call, str, str]] = [
    ("prices.create", _price(invoice_grouping_key="region"), "invoice_grouping_key", "region"),
    ("prices.create", _price(conversion_rate=2.0), "conversion_rate", "2.0"),
    ("prices.create", _price(conversion_rate_config=CONVERSION), "conversion_rate_config", "'2'"),
    (
        "prices.create",
        _price(dimensional_price_configuration=DIMENSIONAL),
        "dimensional_price_configuration",
        "dpg_1",
    ),
    (
        "prices.create",
        _price(invoicing_cycle_configuration=CYCLE),
        "invoicing_cycle_configuration",
        "duration_unit",
    ),
    ("prices.create", _price(license_type_id="lt_1"), "license_type_id", "lt_1"),
    ("prices.create", _price_config(prorated=True), "unit_config.prorated", "True"),
    ("prices.create", _price_config(scaling_factor=2.5), "unit_config.scaling_factor", "2.5"),
    ("plans.create", _plan_entry(plan_phase_order=2), "prices[0].plan_phase_order", "2"),
    (
        "plans.create",
        _plan_entry(allocation_price=ALLOCATION),
        "prices[0].allocation_price",
        "'10'",
    ),
    (
        "plans.create",
        lambda c, w: c.plans.create(
            name="P2",
            currency="USD",
            prices=[],
            adjustments=[{"adjustment": {"adjustment_type": "usage_discount"}}],
        ),
        "adjustments",
        "usage_discount",
    ),
    ("invoices.list", lambda c, w: c.invoices.list(date_type="due_date"), "date_type", "due_date"),
    (
        "subscriptions.fetch_usage",
        lambda c, w: c.subscriptions.fetch_usage(w["sub"].id, first_dimension_key="region"),
        "first_dimension_key",
        "region",
    ),
    (
        "subscriptions.fetch_usage",
        lambda c, w: c.subscriptions.fetch_usage(w["sub"].id, second_dimension_value="eu"),
        "second_dimension_value",
        "eu",
    ),
]


def _catalog(client: Any) -> tuple[object, ...]:
    return (
        [p.to_dict() for p in client.prices.list()],
        [p.to_dict() for p in client.plans.list()],
    )


@pytest.mark.parametrize(
    ("method", "call", "field", "value"),
    REFUSED,
    ids=[f"{method}-{field}" for method, _, field, _ in REFUSED],
)
def test_an_unsimulated_field_is_refused_and_changes_nothing(
    client: Any, world: World, method: str, call: Call, field: str, value: str
) -> None:
    before = _catalog(client)

    with pytest.raises(orb.RequestValidationError) as refused:
        call(client, world)

    detail = refused.value.body["detail"]  # type: ignore[index]
    assert field in detail and value in detail and "not simulated" in detail, detail
    assert any(field in str(item) for item in refused.value.body["validation_errors"])  # type: ignore[index]
    assert _catalog(client) == before


ACCEPTED: list[tuple[str, Call]] = [
    (
        "price: nulls",
        _price(
            invoice_grouping_key=None,
            conversion_rate_config=None,
            dimensional_price_configuration=None,
            invoicing_cycle_configuration=None,
            license_type_id=None,
            tiered_config=None,  # another model's configuration, null
        ),
    ),
    ("price: a conversion rate of 1", _price(conversion_rate=1.0)),
    ("price: not prorated, scaled by 1", _price_config(prorated=False, scaling_factor=1)),
    ("price: the cadence's billing cycle", _price(billing_cycle_configuration=CYCLE)),
    (
        "plan price entry: nulls and a reference id",
        lambda c, w: c.plans.create(
            name="P2",
            currency="USD",
            prices=[
                {
                    "price": {**_unit(w["item"].id), "reference_id": "r1"},
                    "plan_phase_order": None,
                    "allocation_price": None,
                    "license_allocation_price": None,
                }
            ],
        ),
    ),
    ("invoices.list: nulls", lambda c, w: c.invoices.list(date_type=None, due_date_window=None)),
    # docs.withorb.com, List invoices: date_type "default: invoice_date"
    (
        "invoices.list: Orb's default date type",
        lambda c, w: c.invoices.list(date_type="invoice_date"),
    ),
    (
        "fetch_usage: null dimensions",
        lambda c, w: c.subscriptions.fetch_usage(
            w["sub"].id, first_dimension_key=None, first_dimension_value=None
        ),
    ),
]


@pytest.mark.parametrize(("case", "call"), ACCEPTED, ids=[case for case, _ in ACCEPTED])
def test_null_and_what_orbsim_does_are_accepted(
    client: Any, world: World, case: str, call: Call
) -> None:
    call(client, world)


def test_a_price_keeps_no_grouping_key_and_its_invoice_lines_no_grouping(
    client: Any, world: World
) -> None:
    price = client.prices.create(**_unit(world["item"].id), invoice_grouping_key=None)
    assert price.invoice_grouping_key is None
    upcoming = client.invoices.fetch_upcoming(subscription_id=world["sub"].id)
    assert [line.grouping for line in upcoming.line_items] == [None]


# -- updates: null clears, as the SDK documents -------------------------------------------


def test_null_metadata_clears_an_items_metadata_and_null_connections_remove_them(
    client: Any,
) -> None:
    """SDK: "the entire metadata mapping can be cleared by setting `metadata` to `null`"."""
    item = client.items.create(name="API", metadata={"a": "1"})
    client.items.update(
        item.id,
        external_connections=[
            {"external_connection_name": "stripe", "external_entity_id": "prod_1"}
        ],
    )

    updated = client.items.update(item.id, metadata=None, external_connections=None)

    assert updated.metadata == {} and updated.external_connections == []
    assert updated.name == "API"


def test_null_metadata_clears_a_metrics_and_a_null_description_empties_it(
    client: Any, world: World
) -> None:
    metric = client.metrics.update(world["metric"].id, description="calls", metadata={"a": "1"})
    assert metric.description == "calls" and metric.metadata == {"a": "1"}

    cleared = client.metrics.update(metric.id, description=None, metadata=None)

    assert cleared.description is None and cleared.metadata == {}
    assert client.metrics.fetch(metric.id).metadata == {}


def test_null_metadata_clears_a_prices(client: Any, world: World) -> None:
    price = client.prices.create(**_unit(world["item"].id), metadata={"a": "1", "b": "2"})
    assert client.prices.update(price.id, metadata={"a": None}).metadata == {"b": "2"}

    assert client.prices.update(price.id, metadata=None).metadata == {}
    assert client.prices.update(price.id).metadata == {}  # omitted: unchanged


@pytest.mark.parametrize("resource", ["items", "metrics"])
def test_a_null_name_is_refused_not_ignored(client: Any, world: World, resource: str) -> None:
    target = world["item" if resource == "items" else "metric"]

    with pytest.raises(orb.RequestValidationError, match="name: expected a non-empty string"):
        getattr(client, resource).update(target.id, name=None)

    assert getattr(client, resource).fetch(target.id).name == target.name


# -- list filters that were refused and are now simulated ---------------------------------


def test_plan_list_filters_by_creation_time_and_status(
    client: Any, clock: Any, world: World
) -> None:
    clock.advance(timedelta(hours=1))
    later = client.plans.create(name="Later", currency="USD", prices=[])
    cut = (START + timedelta(minutes=30)).isoformat()

    assert [p.id for p in client.plans.list(created_at_gte=cut)] == [later.id]
    assert [p.id for p in client.plans.list(created_at_lt=cut)] == [world["plan"].id]
    assert [p.id for p in client.plans.list(status="active")] == [later.id, world["plan"].id]
    assert list(client.plans.list(status="archived")) == []
    with pytest.raises(orb.RequestValidationError, match="status: expected active"):
        client.plans.list(extra_query={"status": "gone"})


def test_subscription_list_filters_by_creation_time(client: Any, clock: Any, world: World) -> None:
    clock.advance(timedelta(hours=1))
    later = client.subscriptions.create(customer_id=world["customer"].id, plan_id=world["plan"].id)
    cut = START + timedelta(minutes=30)

    assert [s.id for s in client.subscriptions.list(created_at_gt=cut)] == [later.id]
    assert [s.id for s in client.subscriptions.list(created_at_lte=cut)] == [world["sub"].id]
    with pytest.raises(orb.RequestValidationError, match=r"created_at\[gt\]"):
        client.subscriptions.list(created_at_gt="yesterday")


def test_metric_list_filters_by_creation_time(client: Any, clock: Any, world: World) -> None:
    clock.advance(timedelta(hours=1))
    later = client.metrics.create(
        name="later", description=None, item_id=world["item"].id, sql="SELECT COUNT(*) FROM events"
    )
    cut = START + timedelta(minutes=30)

    assert [m.id for m in client.metrics.list(created_at_gte=cut)] == [later.id]
    assert [m.id for m in client.metrics.list(created_at_lt=cut)] == [world["metric"].id]
    assert list(client.metrics.list(status="archived")) == []


def test_due_date_window_lists_the_invoices_due_in_the_last_days_or_months(
    client: Any, clock: Any, customer: Any
) -> None:
    """SDK: "'7d' filters invoices due in the last 7 days, and '2m' filters those due in the last
    2 months". Net terms 0: the invoices of May, June and July are due on June 1, July 1, Aug 1."""
    plan = client.plans.create(name="Platform", currency="USD", prices=[])
    client.subscriptions.create(
        customer_id=customer.id, plan_id=plan.id, start_date="2024-05-01T00:00:00Z"
    )
    clock.set(datetime(2024, 8, 15, 12, tzinfo=UTC))

    def due(window: str) -> list[str]:
        invoices = client.invoices.list(due_date_window=window)
        return [i.due_date.date().isoformat() for i in invoices]

    assert due("14d") == ["2024-08-01"]  # Aug 1 .. Aug 15, both included
    assert due("13d") == []
    assert due("1m") == ["2024-08-01"]  # since Jul 15
    assert due("2m") == ["2024-08-01", "2024-07-01"]
    assert due("3m") == ["2024-08-01", "2024-07-01", "2024-06-01"]
    clock.set(datetime(2024, 8, 31, tzinfo=UTC))
    assert due("2m") == ["2024-08-01", "2024-07-01"]  # since Jun 30 (no June 31)
    with pytest.raises(orb.RequestValidationError, match=r"due_date_window: .* got '7w'"):
        client.invoices.list(due_date_window="7w")


# -- what the SDK sends by default is never refused ---------------------------------------


def test_every_served_sdk_method_with_only_its_required_arguments_is_accepted(
    client: Any, sim: OrbSim, world: World
) -> None:
    """Nothing refused above is sent by the SDK when the caller leaves it out."""
    item, metric, sub, customer = world["item"], world["metric"], world["sub"], world["customer"]
    sim.requests.clear()
    price = client.prices.create(
        cadence="monthly",
        currency="USD",
        item_id=item.id,
        model_type="unit",
        name="p",
        unit_config={"unit_amount": "1"},
    )
    client.prices.update(price.id)
    client.prices.fetch(price.id)
    client.items.update(item.id)
    client.metrics.update(metric.id)
    client.events.ingest(events=[event("k1", customer.id)])
    client.events.search(event_ids=["k1"])
    client.events.volume.list(timeframe_start=START - timedelta(days=1))
    backfill = client.events.backfills.create(
        timeframe_start=START - timedelta(days=3), timeframe_end=START - timedelta(days=2)
    )
    client.events.backfills.list()
    client.events.backfills.close(backfill.id)
    endpoint = client.webhook_endpoints.create(url="http://localhost:9/hook")
    client.webhook_endpoints.update(endpoint.id)
    client.webhook_endpoints.list()
    client.invoices.list()
    client.invoices.fetch_upcoming(subscription_id=sub.id)
    client.subscriptions.fetch_usage(sub.id)
    client.subscriptions.fetch_costs(sub.id)
    client.customers.costs.list(customer.id)
    for resource in (client.plans, client.subscriptions, client.metrics, client.items):
        resource.list()
    client.prices.list()
    client.customers.list()

    assert [r.summary() for r in sim.requests if (r.status or 0) >= 400] == []
    assert len(sim.requests) == 25
