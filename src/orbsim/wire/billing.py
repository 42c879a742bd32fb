"""HTTP routes for items, billable metrics, prices, subscription usage and costs.

Handlers are as thin as those of ``routes.py``: path and query parameters and the JSON body go to
the engine method of the same name, which validates them. ``ENDPOINTS`` is joined to
``routes.ROUTES`` (kept as plain tuples so this module need not import ``routes``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from orbsim.wire.codec import Document

if TYPE_CHECKING:
    from orbsim.wire.codec import Query
    from orbsim.wire.routes import Call, Payload

__all__ = ["ENDPOINTS"]


def _limit(query: Query) -> int:
    limit = query.integer("limit")
    return 20 if limit is None else limit


# --- items ----------------------------------------------------------------------------------------


def create_item(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.items.create(**call.body())


def list_items(call: Call) -> tuple[int, Payload]:
    q = call.query
    return 200, call.sim.items.list(limit=_limit(q), cursor=q.one("cursor"))


def fetch_item(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.items.fetch(call.params[0])


def update_item(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.items.update(call.params[0], **call.body())


def archive_item(call: Call) -> tuple[int, Payload]:
    call.no_body()
    return 200, call.sim.items.archive(call.params[0])


# --- metrics --------------------------------------------------------------------------------------

_CREATED_AT = frozenset(f"created_at[{op}]" for op in ("gte", "gt", "lt", "lte"))


def created_at(query: Query) -> dict[str, str | None]:
    """The ``created_at[gte|gt|lt|lte]`` query parameters as ``created_at_gte=``, ..."""
    return {f"created_at_{op}": query.one(f"created_at[{op}]") for op in ("gte", "gt", "lt", "lte")}


def create_metric(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.metrics.create(**call.body())


def list_metrics(call: Call) -> tuple[int, Payload]:
    q = call.query
    return 200, call.sim.metrics.list(
        limit=_limit(q), cursor=q.one("cursor"), status=q.one("status"), **created_at(q)
    )


def fetch_metric(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.metrics.fetch(call.params[0])


def update_metric(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.metrics.update(call.params[0], **call.body())


# --- prices ---------------------------------------------------------------------------------------


def create_price(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.prices.create(**call.body())


def list_prices(call: Call) -> tuple[int, Payload]:
    q = call.query
    return 200, call.sim.prices.list(limit=_limit(q), cursor=q.one("cursor"))


def fetch_price(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.prices.fetch(call.params[0])


def update_price(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.prices.update(call.params[0], **call.body())


def fetch_price_by_external_id(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.prices.external_price_id.fetch(call.params[0])


# --- usage and costs ------------------------------------------------------------------------------

_USAGE_QUERY = frozenset(
    {
        "billable_metric_id",
        "first_dimension_key",
        "first_dimension_value",
        "second_dimension_key",
        "second_dimension_value",
        "granularity",
        "group_by",
        "timeframe_start",
        "timeframe_end",
        "view_mode",
    }
)
_COSTS_QUERY = frozenset({"currency", "timeframe_start", "timeframe_end", "view_mode"})


def fetch_usage(call: Call) -> tuple[int, Payload]:
    q = call.query
    return 200, Document(
        call.sim.engine.usage.usage_document(
            call.params[0], **{name: q.one(name) for name in _USAGE_QUERY}
        )
    )


def fetch_costs(call: Call) -> tuple[int, Payload]:
    q = call.query
    return 200, Document(
        call.sim.engine.usage.costs_document(
            call.params[0], **{name: q.one(name) for name in _COSTS_QUERY}
        )
    )


def customer_costs(call: Call) -> tuple[int, Payload]:
    q = call.query
    return 200, Document(
        call.sim.engine.usage.customer_costs_document(
            call.params[0], **{name: q.one(name) for name in _COSTS_QUERY}
        )
    )


def customer_costs_by_alias(call: Call) -> tuple[int, Payload]:
    q = call.query
    return 200, Document(
        call.sim.engine.usage.customer_costs_document(
            external_customer_id=call.params[0], **{name: q.one(name) for name in _COSTS_QUERY}
        )
    )


_PAGE = frozenset({"limit", "cursor"})

Endpoint = tuple[str, str, Callable[["Call"], "tuple[int, Payload]"], frozenset[str]]

ENDPOINTS: tuple[Endpoint, ...] = (
    ("POST", "/items", create_item, frozenset()),
    ("GET", "/items", list_items, _PAGE),
    ("GET", "/items/{item_id}", fetch_item, frozenset()),
    ("PUT", "/items/{item_id}", update_item, frozenset()),
    ("POST", "/items/{item_id}/archive", archive_item, frozenset()),
    ("POST", "/metrics", create_metric, frozenset()),
    ("GET", "/metrics", list_metrics, _PAGE | _CREATED_AT | {"status"}),
    ("GET", "/metrics/{metric_id}", fetch_metric, frozenset()),
    ("PUT", "/metrics/{metric_id}", update_metric, frozenset()),
    ("POST", "/prices", create_price, frozenset()),
    ("GET", "/prices", list_prices, _PAGE),
    (
        "GET",
        "/prices/external_price_id/{external_price_id}",
        fetch_price_by_external_id,
        frozenset(),
    ),
    ("GET", "/prices/{price_id}", fetch_price, frozenset()),
    ("PUT", "/prices/{price_id}", update_price, frozenset()),
    ("GET", "/subscriptions/{subscription_id}/usage", fetch_usage, _USAGE_QUERY),
    ("GET", "/subscriptions/{subscription_id}/costs", fetch_costs, _COSTS_QUERY),
    ("GET", "/customers/external_customer_id/{id}/costs", customer_costs_by_alias, _COSTS_QUERY),
    ("GET", "/customers/{customer_id}/costs", customer_costs, _COSTS_QUERY),
)
