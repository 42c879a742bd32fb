"""The line items of an invoice: each price of the subscription's plan over the period it bills.

An invoice dated ``d`` bills, per price of the plan (``orbsim.engine.catalog``):

* in arrears (usage prices, and fixed fees with ``billed_in_advance`` false): the period that
  ends at ``d``; a usage price's quantity is its billable metric over the subscription's counted
  events of that period (the billable view, ``UsageReader.counted_events``), exactly as
  ``subscriptions.fetch_costs`` computes it;
* in advance (fixed fees with ``billed_in_advance`` true): the period that starts at ``d``.

A ``one_time`` fee is billed only for the subscription's first period. Amounts are exact until
they become a line's subtotal, rounded once (half up) to the currency's minor unit
(``orbsim.engine.prices.round_money``); ``sub_line_items`` break tiered prices into their tiers and
matrix prices into their cells. Fixed fees are not prorated for a partial first or last period
(as ``fetch_costs`` does not prorate them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from orbsim.engine.catalog import PriceRecord, Prices
from orbsim.engine.prices import PriceModel, price_amount, round_money
from orbsim.engine.store import StoredEvent
from orbsim.errors import ConstraintViolation

if TYPE_CHECKING:
    from orbsim.engine.billing import SubscriptionRecord
    from orbsim.engine.core import Engine
    from orbsim.engine.state import AccountState

__all__ = ["Line", "billed_prices", "compute_lines", "has_advance", "plan_prices"]


@dataclass(slots=True)
class Line:
    """One computed line: a price over the dates it bills (before rendering)."""

    price_id: str
    name: str
    quantity: Decimal
    amount: Decimal
    start: datetime
    end: datetime
    price: dict[str, Any]
    """The price as ``prices.fetch`` returns it (JSON data)."""
    usage: bool
    """Whether it bills usage (a price with a billable metric)."""
    sub_line_items: list[dict[str, Any]] = field(default_factory=list)


def plan_prices(state: AccountState, sub: SubscriptionRecord) -> list[PriceRecord]:
    plan = state.plans[sub.plan_id].model
    return [state.prices[p["id"]] for p in plan.prices if p.get("id") in state.prices]


def _in_advance(price: PriceRecord) -> bool:
    return price.data.get("billing_mode") == "in_advance"


def has_advance(state: AccountState, sub: SubscriptionRecord) -> bool:
    """Whether the subscription's plan bills fixed fees in advance."""
    return any(_in_advance(p) for p in plan_prices(state, sub))


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)


def billed_prices(
    state: AccountState,
    sub: SubscriptionRecord,
    closes: tuple[datetime, datetime] | None,
    opens: tuple[datetime, datetime] | None,
) -> list[tuple[PriceRecord, tuple[datetime, datetime]]]:
    """The prices an invoice bills, each with the window it bills (no quantities computed)."""
    out = []
    first_start = sub.schedule.start
    for price in plan_prices(state, sub):
        window = opens if _in_advance(price) else closes
        if window is None:
            continue
        if price.data["cadence"] == "one_time" and window[0] != first_start:
            continue
        out.append((price, window))
    return out


def compute_lines(
    engine: Engine,
    sub: SubscriptionRecord,
    closes: tuple[datetime, datetime] | None,
    opens: tuple[datetime, datetime] | None,
    cache: dict[str, tuple[PriceModel, dict[str, Any]]] | None = None,
) -> list[Line]:
    """The lines of the invoice closing ``closes`` and opening ``opens`` (either may be None).

    ``cache`` keeps each price's arithmetic and response body across the invoices of one
    settlement (prices do not change within it)."""
    state = engine.state
    currency = state.plans[sub.plan_id].model.currency
    lines: list[Line] = []
    events: list[StoredEvent] | None = None
    totals: dict[str, Decimal] = {}  # each metric's quantity, once for the prices sharing it
    for price, (start, end) in billed_prices(state, sub, closes, opens):
        data = price.data
        known = None if cache is None else cache.get(price.id)
        if known is None:
            known = (price.model, Prices.model(price).model_dump(mode="json"))
            if cache is not None:
                cache[price.id] = known
        model, body = known
        subs: list[dict[str, Any]] = []
        if price.metric_id is None:
            quantity = Decimal(repr(data["fixed_price_quantity"]))
            amount = price_amount(model, quantity)
        else:
            if events is None:
                events = engine.usage.counted_events(sub, start, end)
            metric = state.metrics[price.metric_id]
            quantity, amount, subs = _usage(metric, model, events, currency, totals)
        lines.append(
            Line(
                price_id=price.id,
                name=str(data["name"]),
                quantity=quantity,
                amount=amount,
                start=start,
                end=end,
                price=body,
                usage=price.metric_id is not None,
                sub_line_items=subs,
            )
        )
    return lines


def _quantity(metric: Any, events: Sequence[StoredEvent]) -> Decimal:
    try:
        quantity: Decimal = metric.compiled.quantity(events)
    except ValueError as exc:
        raise ConstraintViolation(f"billable metric {metric.id} ({metric.name}): {exc}") from None
    return quantity


def _usage(
    metric: Any,
    model: Any,
    events: Sequence[StoredEvent],
    currency: str,
    totals: dict[str, Decimal],
) -> tuple[Decimal, Decimal, list[dict[str, Any]]]:
    subs: list[dict[str, Any]] = []
    if model.model_type == "matrix":
        matrix = model.matrix
        grouped: dict[tuple[str, ...], list[StoredEvent]] = {}
        for event in events:
            key = tuple(_text(event.properties.get(d)) for d in matrix.dimensions)
            grouped.setdefault(key, []).append(event)
        groups = {key: _quantity(metric, chunk) for key, chunk in grouped.items()}
        quantity = sum(groups.values(), Decimal(0))
        for key in sorted(groups):
            cell = groups[key]
            rate = matrix.values.get(key, matrix.default_unit_amount)
            subs.append(
                {
                    "type": "matrix",
                    "name": ", ".join(key),
                    "quantity": float(cell),
                    "amount": str(round_money(cell * rate, currency)),
                    "matrix_config": {"dimension_values": list(key)},
                    "grouping": None,
                }
            )
        return quantity, price_amount(model, quantity, groups), subs
    known = totals.get(metric.id)
    quantity = _quantity(metric, events) if known is None else known
    totals[metric.id] = quantity
    if model.model_type == "tiered":
        for index, tier in enumerate(model.tiers):
            top = quantity if tier.last_unit is None else min(quantity, tier.last_unit)
            inside = max(Decimal(0), top - tier.first_unit)
            upper = "" if tier.last_unit is None else _number(tier.last_unit)
            subs.append(
                {
                    "type": "tier",
                    "name": f"Tier {index + 1} ({_number(tier.first_unit)}-{upper})",
                    "quantity": float(inside),
                    "amount": str(round_money(inside * tier.unit_amount, currency)),
                    "tier_config": {
                        "first_unit": float(tier.first_unit),
                        "last_unit": None if tier.last_unit is None else float(tier.last_unit),
                        "unit_amount": str(tier.unit_amount),
                    },
                    "grouping": None,
                }
            )
    return quantity, price_amount(model, quantity), subs
