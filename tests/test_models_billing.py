"""Billing response models serialise to JSON that the official SDK parses strictly, key for key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

orb = pytest.importorskip("orb")

import orb.types as sdk  # noqa: E402
import orb.types.customers as sdk_customers  # noqa: E402
import orb.types.shared as sdk_shared  # noqa: E402
from pydantic import BaseModel, TypeAdapter, ValidationError  # noqa: E402

from orbsim.models_billing import (  # noqa: E402
    BillableMetric,
    Costs,
    GroupedUsage,
    Item,
    Price,
    UngroupedUsage,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PRICE = TypeAdapter(Price)


def declared(sdk_type: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in sdk_type.model_fields.items()}


def check(sdk_type: type[BaseModel], data: dict[str, Any]) -> Any:
    """Validate as ``Orb(_strict_response_validation=True)`` does; every declared key is sent."""
    parsed = sdk_type.model_validate(data)
    assert declared(sdk_type) == data.keys(), sorted(declared(sdk_type) ^ data.keys())
    return parsed


def make_item() -> Item:
    return Item(id="item_1", created_at=NOW, name="API calls")


def price_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": "price_1",
        "billable_metric": {"id": "metric_1"},
        "billing_cycle_configuration": {"duration": 1, "duration_unit": "month"},
        "billing_mode": "in_arrear",
        "cadence": "monthly",
        "created_at": NOW,
        "currency": "USD",
        "external_price_id": None,
        "fixed_price_quantity": None,
        "invoice_grouping_key": None,
        "item": {"id": "item_1", "name": "API calls"},
        "name": "API calls",
        "price_type": "usage_price",
    }
    return fields | overrides


def test_item_and_metric_parse_with_the_sdk() -> None:
    item = check(sdk.Item, make_item().model_dump(mode="json"))
    metric = BillableMetric(
        id="metric_1",
        name="Calls",
        description=None,
        item=make_item(),
        sql="SELECT COUNT(*) FROM events",
    )
    parsed = check(sdk.BillableMetric, metric.model_dump(mode="json"))

    assert item.archived_at is None
    assert parsed.item.id == "item_1" and parsed.status == "active"


@pytest.mark.parametrize(
    ("model_type", "config_key", "config", "sdk_type"),
    [
        ("unit", "unit_config", {"unit_amount": "0.50"}, sdk_shared.price.UnitPrice),
        (
            "package",
            "package_config",
            {"package_amount": "0.80", "package_size": 5},
            sdk_shared.price.PackagePrice,
        ),
        (
            "tiered",
            "tiered_config",
            {
                "tiers": [
                    {"first_unit": 0, "last_unit": 10, "unit_amount": "0.50"},
                    {"first_unit": 10, "last_unit": None, "unit_amount": "0.10"},
                ]
            },
            sdk_shared.price.TieredPrice,
        ),
        (
            "bulk",
            "bulk_config",
            {"tiers": [{"maximum_units": 10, "unit_amount": "0.5"}]},
            sdk_shared.price.BulkPrice,
        ),
        (
            "matrix",
            "matrix_config",
            {
                "default_unit_amount": "1",
                "dimensions": ["region"],
                "matrix_values": [{"dimension_values": ["eu"], "unit_amount": "2"}],
            },
            sdk_shared.price.MatrixPrice,
        ),
    ],
)
def test_each_price_model_parses_as_its_sdk_type(
    model_type: str, config_key: str, config: dict[str, Any], sdk_type: type[BaseModel]
) -> None:
    price = PRICE.validate_python(price_fields(model_type=model_type, **{config_key: config}))
    data = price.model_dump(mode="json")

    parsed = check(sdk_type, data)
    union = TypeAdapter(sdk.shared.Price).validate_python(data)

    assert type(union) is sdk_type
    assert parsed.currency == "USD"


def test_price_refuses_an_unsimulated_model_type_and_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        PRICE.validate_python(price_fields(model_type="bps", bps_config={"bps": 1}))
    with pytest.raises(ValidationError):
        PRICE.validate_python(
            price_fields(model_type="unit", unit_config={"unit_amount": "1"}, typo=1)
        )


def test_usage_responses_parse_as_the_sdk_union() -> None:
    window = {"quantity": 3.5, "timeframe_start": NOW, "timeframe_end": NOW}
    entry = {"billable_metric": {"id": "m", "name": "Calls"}, "usage": [window]}
    ungrouped = UngroupedUsage(data=[{**entry, "view_mode": "periodic"}])
    grouped = GroupedUsage(
        data=[
            {
                **entry,
                "view_mode": "cumulative",
                "metric_group": {"property_key": "region", "property_value": "eu"},
            }
        ],
        pagination_metadata={"has_more": False, "next_cursor": None},
    )
    usage_type = sdk.SubscriptionUsage

    adapter: Any = TypeAdapter(usage_type)  # type: ignore[arg-type]
    plain = adapter.validate_python(ungrouped.model_dump(mode="json"))
    by_group = adapter.validate_python(grouped.model_dump(mode="json"))

    assert type(plain).__name__ == "UngroupedSubscriptionUsage"
    assert type(by_group).__name__ == "GroupedSubscriptionUsage"
    check(
        sdk.subscription_usage.UngroupedSubscriptionUsageData,
        ungrouped.model_dump(mode="json")["data"][0],
    )


def test_costs_parse_with_the_sdk() -> None:
    price = price_fields(model_type="unit", unit_config={"unit_amount": "0.50"})
    cost = {
        "per_price_costs": [
            {
                "price": price,
                "price_id": "price_1",
                "subtotal": "1.50",
                "total": "1.50",
                "quantity": 3,
            }
        ],
        "subtotal": "1.50",
        "total": "1.50",
        "timeframe_start": NOW,
        "timeframe_end": NOW,
    }
    data = Costs(data=[cost]).model_dump(mode="json")

    parsed = check(sdk.SubscriptionFetchCostsResponse, data)
    check(sdk_customers.CostListResponse, data)
    check(sdk_shared.PerPriceCost, data["data"][0]["per_price_costs"][0])

    assert parsed.data[0].per_price_costs[0].quantity == 3
