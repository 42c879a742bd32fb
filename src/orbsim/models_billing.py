"""Response models for what the events are worth: items, billable metrics, prices, usage, costs.

Shapes are the official SDK's (``orb.types.Item``, ``BillableMetric``, ``shared.Price``'s
``UnitPrice``/``PackagePrice``/``MatrixPrice``/``TieredPrice``/``BulkPrice``,
``SubscriptionUsage``, ``AggregatedCost``); every key the SDK declares is emitted (optional ones
as ``null``) and unknown keys are refused, as in :mod:`orbsim.models`. Amounts are decimal
strings; usage quantities are JSON numbers, as the SDK types them (``quantity: float``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from orbsim.models import PaginationMetadata, _Model

__all__ = [
    "AggregatedCost",
    "BillableMetric",
    "BillableMetricTiny",
    "BillingCycleConfiguration",
    "BulkPrice",
    "Costs",
    "GroupedUsage",
    "GroupedUsageEntry",
    "Item",
    "ItemExternalConnection",
    "ItemSlim",
    "MatrixPrice",
    "MetricGroup",
    "MetricRef",
    "PackagePrice",
    "PerPriceCost",
    "Price",
    "PriceCadence",
    "TieredPrice",
    "UngroupedUsage",
    "UnitPrice",
    "UsageEntry",
    "UsageWindow",
]

PriceCadence = Literal["one_time", "monthly", "quarterly", "semi_annual", "annual"]
ViewMode = Literal["periodic", "cumulative"]
ExternalConnectionName = Literal[
    "stripe",
    "quickbooks",
    "bill.com",
    "netsuite",
    "taxjar",
    "avalara",
    "anrok",
    "numeral",
    "stripe_tax",
]


class ItemExternalConnection(_Model):
    external_connection_name: ExternalConnectionName
    external_entity_id: str


class Item(_Model):
    id: str
    created_at: datetime
    name: str
    external_connections: list[ItemExternalConnection] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    archived_at: datetime | None = None


class BillableMetric(_Model):
    id: str
    name: str
    description: str | None
    item: Item
    metadata: dict[str, str] = Field(default_factory=dict)
    sql: str
    status: Literal["active", "draft", "archived"] = "active"
    parameter_definitions: list[dict[str, Any]] | None = None


# --- prices ---------------------------------------------------------------------------------------


class BillableMetricTiny(_Model):
    id: str


class ItemSlim(_Model):
    id: str
    name: str


class BillingCycleConfiguration(_Model):
    duration: int
    duration_unit: Literal["day", "month"]


class _UnitConfig(_Model):
    unit_amount: str
    prorated: bool | None = None
    scaling_factor: float | None = None


class _PackageConfig(_Model):
    package_amount: str
    package_size: int


class _Tier(_Model):
    first_unit: float
    unit_amount: str
    last_unit: float | None = None


class _TieredConfig(_Model):
    tiers: list[_Tier]
    prorated: bool | None = None


class _BulkTier(_Model):
    unit_amount: str
    maximum_units: float | None = None


class _BulkConfig(_Model):
    tiers: list[_BulkTier]


class _MatrixValue(_Model):
    dimension_values: list[str | None]
    unit_amount: str
    scaling_factor: float | None = None


class _MatrixConfig(_Model):
    default_unit_amount: str
    dimensions: list[str | None]
    matrix_values: list[_MatrixValue]
    scaling_factor: float | None = None


class _PriceBase(_Model):
    """The keys every SDK price model declares; the ones orbsim does not simulate stay null."""

    id: str
    billable_metric: BillableMetricTiny | None
    billing_cycle_configuration: BillingCycleConfiguration
    billing_mode: Literal["in_advance", "in_arrear"]
    cadence: PriceCadence
    composite_price_filters: list[dict[str, Any]] | None = None
    conversion_rate: float | None = None
    conversion_rate_config: dict[str, Any] | None = None
    created_at: datetime
    credit_allocation: dict[str, Any] | None = None
    currency: str
    discount: dict[str, Any] | None = None
    external_price_id: str | None
    fixed_price_quantity: float | None
    invoice_grouping_key: str | None
    invoicing_cycle_configuration: BillingCycleConfiguration | None = None
    item: ItemSlim
    maximum: dict[str, Any] | None = None
    maximum_amount: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    minimum: dict[str, Any] | None = None
    minimum_amount: str | None = None
    name: str
    plan_phase_order: int | None = None
    price_type: Literal["usage_price", "fixed_price"]
    replaces_price_id: str | None = None
    dimensional_price_configuration: dict[str, Any] | None = None
    license_type: dict[str, Any] | None = None


class UnitPrice(_PriceBase):
    model_type: Literal["unit"]
    unit_config: _UnitConfig


class PackagePrice(_PriceBase):
    model_type: Literal["package"]
    package_config: _PackageConfig


class TieredPrice(_PriceBase):
    model_type: Literal["tiered"]
    tiered_config: _TieredConfig


class BulkPrice(_PriceBase):
    model_type: Literal["bulk"]
    bulk_config: _BulkConfig


class MatrixPrice(_PriceBase):
    model_type: Literal["matrix"]
    matrix_config: _MatrixConfig


Price = Annotated[
    UnitPrice | PackagePrice | TieredPrice | BulkPrice | MatrixPrice,
    Field(discriminator="model_type"),
]


# --- usage ----------------------------------------------------------------------------------------


class MetricRef(_Model):
    id: str
    name: str


class UsageWindow(_Model):
    quantity: float
    timeframe_start: datetime
    timeframe_end: datetime


class UsageEntry(_Model):
    billable_metric: MetricRef
    usage: list[UsageWindow]
    view_mode: ViewMode


class UngroupedUsage(_Model):
    data: list[UsageEntry]


class MetricGroup(_Model):
    property_key: str
    property_value: str


class GroupedUsageEntry(UsageEntry):
    metric_group: MetricGroup


class GroupedUsage(_Model):
    data: list[GroupedUsageEntry]
    pagination_metadata: PaginationMetadata | None = None


# --- costs ----------------------------------------------------------------------------------------


class PerPriceCost(_Model):
    price: Price
    price_id: str
    subtotal: str
    total: str
    quantity: float | None


class AggregatedCost(_Model):
    per_price_costs: list[PerPriceCost]
    subtotal: str
    total: str
    timeframe_start: datetime
    timeframe_end: datetime


class Costs(_Model):
    """``subscriptions.fetch_costs`` and ``customers.costs.list`` responses: ``{data: [...]}``."""

    data: list[AggregatedCost]
