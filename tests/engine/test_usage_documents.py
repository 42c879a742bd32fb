"""The usage and costs answers are built as plain data (``orbsim.engine.usage.Document``), not as
one pydantic model per entry: these tests pin that data to the response models, so the shape
cannot drift from the SDK's types.

For every kind of answer (usage ungrouped, grouped, by day, cumulative; costs periodic and
cumulative over every price model, fixed fees included; a customer's costs merged over two
subscriptions) the document must validate into its model unchanged, and the bytes the HTTP layer
sends (pydantic-core serialising the document) must be the bytes the model itself serialises to.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic_core
import pytest
from pydantic import BaseModel

from orbsim import ManualClock, OrbSim
from orbsim.models_billing import Costs, GroupedUsage, UngroupedUsage

MAY = {"timeframe_start": "2024-05-01T00:00:00Z", "timeframe_end": "2024-06-01T00:00:00Z"}
ODD = {"timeframe_start": "2024-05-03T07:30:00.250Z", "timeframe_end": "2024-05-09T01:00:00Z"}


def _price(item: str, name: str, metric: str | None, model: str, config: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "item_id": item,
        "cadence": "monthly",
        "currency": "USD",
        "model_type": model,
        f"{model}_config": config,
    }
    if metric is not None:
        body["billable_metric_id"] = metric
    return {"price": body}


@pytest.fixture(scope="module")
def account() -> tuple[OrbSim, str, str, str, str]:
    """A customer in Berlin (local days are not UTC days) on two plans covering every price
    model, with events over May, several with microseconds."""
    clock = ManualClock(datetime(2024, 5, 1, tzinfo=UTC))
    sim = OrbSim(clock=clock, seed=0)
    item = sim.items.create(name="API").id

    def metric(sql: str) -> str:
        return sim.metrics.create(name=sql[:30], description=None, item_id=item, sql=sql).id

    calls = metric("SELECT COUNT(*) FROM events WHERE event_name = 'api_call'")
    seconds = metric("SELECT SUM(n) FROM events WHERE event_name = 'compute'")
    regions = metric("SELECT COUNT(DISTINCT region) FROM events")
    peak = metric(
        "SELECT SUM(top) FROM (SELECT MAX(n) AS top FROM events"
        " GROUP BY date_trunc('day', timestamp))"
    )
    tiers = [
        {"first_unit": 0, "last_unit": 10, "unit_amount": "0.5"},
        {"first_unit": 10, "last_unit": None, "unit_amount": "0.25"},
    ]
    usage_plan = sim.plans.create(
        name="Usage",
        prices=[
            _price(item, "calls", calls, "unit", {"unit_amount": "0.333"}),
            _price(item, "seconds", seconds, "tiered", {"tiers": tiers}),
            _price(item, "regions", regions, "package", {"package_amount": "5", "package_size": 2}),
            _price(
                item,
                "bulk",
                seconds,
                "bulk",
                {"tiers": [{"maximum_units": 5, "unit_amount": "1"}, {"unit_amount": "0.5"}]},
            ),
            _price(item, "platform", None, "unit", {"unit_amount": "20"}),
        ],
    )
    matrix_plan = sim.plans.create(
        name="Matrix",
        prices=[
            _price(
                item,
                "by region",
                calls,
                "matrix",
                {
                    "default_unit_amount": "1",
                    "dimensions": ["region"],
                    "matrix_values": [{"dimension_values": ["eu"], "unit_amount": "2.5"}],
                },
            ),
            _price(item, "peak", peak, "unit", {"unit_amount": "0.1"}),
        ],
    )
    customer = sim.customers.create(
        name="Acme", email="a@acme.test", external_customer_id="acme", timezone="Europe/Berlin"
    ).id
    usage_sub = sim.subscriptions.create(
        customer_id=customer, plan_id=usage_plan.id, start_date="2024-05-01T00:00:00Z"
    ).id
    matrix_sub = sim.subscriptions.create(
        customer_id=customer, plan_id=matrix_plan.id, start_date="2024-05-01T00:00:00Z"
    ).id
    events: list[dict[str, Any]] = sorted(
        (
            {
                "idempotency_key": f"e{i}",
                "event_name": ("api_call", "compute")[i % 2],
                "customer_id": customer,
                "timestamp": f"2024-05-{8 + i % 11:02d}T{i % 24:02d}:{i % 60:02d}:00.{i:06d}Z",
                "properties": {"region": ("eu", "us", "ap")[i % 3], "n": i % 7},
            }
            for i in range(60)
        ),
        key=lambda event: str(event["timestamp"]),
    )
    for event in events:  # each inside the grace period of the clock's moment
        clock.set(datetime.fromisoformat(event["timestamp"]) + timedelta(minutes=1))
        sim.events.ingest(events=[event])
    return sim, usage_sub, matrix_sub, calls, customer


def _usage(sub: int, **kw: Any) -> Callable[[Any], tuple[Any, type[BaseModel]]]:
    def build(account: Any) -> tuple[Any, type[BaseModel]]:
        sim, usage_sub, matrix_sub, calls, _customer = account
        sub_id = (usage_sub, matrix_sub)[sub]
        if kw.get("group_by"):
            kw["billable_metric_id"] = calls
        model = GroupedUsage if kw.get("group_by") else UngroupedUsage
        return sim.engine.usage.usage_document(sub_id, **kw), model

    return build


def _costs(sub: int, **kw: Any) -> Callable[[Any], tuple[Any, type[BaseModel]]]:
    def build(account: Any) -> tuple[Any, type[BaseModel]]:
        sim, usage_sub, matrix_sub, _calls, _customer = account
        return sim.engine.usage.costs_document((usage_sub, matrix_sub)[sub], **kw), Costs

    return build


def _customer_costs(**kw: Any) -> Callable[[Any], tuple[Any, type[BaseModel]]]:
    def build(account: Any) -> tuple[Any, type[BaseModel]]:
        sim, _usage_sub, _matrix_sub, _calls, customer = account
        return sim.engine.usage.customer_costs_document(customer, **kw), Costs

    return build


CASES = {
    "usage, default period": _usage(0),
    "usage, May": _usage(0, **MAY),
    "usage, by local day": _usage(0, granularity="day", **MAY),
    "usage, by day, cumulative": _usage(1, granularity="day", view_mode="cumulative", **MAY),
    "usage, odd timeframe by day": _usage(0, granularity="day", **ODD),
    "usage, grouped by region": _usage(0, group_by="region", granularity="day", **ODD),
    "usage, grouped, empty": _usage(0, group_by="absent", **MAY),
    "costs, cumulative": _costs(0, **MAY),
    "costs, periodic": _costs(0, view_mode="periodic", **MAY),
    "costs, matrix and GROUP BY metric": _costs(1, **ODD),
    "costs, default period": _costs(1),
    "customer costs, two subscriptions merged": _customer_costs(view_mode="periodic", **ODD),
}


@pytest.mark.parametrize("case", CASES)
def test_document_is_the_response_model_byte_for_byte(
    account: tuple[OrbSim, str, str, str, str], case: str
) -> None:
    document, model_type = CASES[case](account)
    model = model_type.model_validate(document)
    assert model.model_dump() == document
    sent = pydantic_core.to_json(document)
    assert sent == model.__pydantic_serializer__.to_json(model)
    assert bool(document["data"]) is ("empty" not in case)


def test_costs_documents_have_every_price_on_every_day(
    account: tuple[OrbSim, str, str, str, str],
) -> None:
    sim, usage_sub, _matrix_sub, _calls, _customer = account
    document = sim.engine.usage.costs_document(usage_sub, **MAY)
    days = document["data"]
    assert len(days) == 32  # Berlin's local days: May in UTC starts and ends mid-day there
    assert all(len(day["per_price_costs"]) == 5 for day in days)
    # one Price body per price, shared by its entries, equal to what prices.fetch answers
    first = days[0]["per_price_costs"][0]["price"]
    assert all(day["per_price_costs"][0]["price"] is first for day in days)
    fetched = sim.prices.fetch(days[0]["per_price_costs"][0]["price_id"])
    assert pydantic_core.to_json(first) == fetched.__pydantic_serializer__.to_json(fetched)
