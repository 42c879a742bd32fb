"""HTTP routes for invoices: upcoming, list, fetch, issue, void, mark_paid.

Handlers are as thin as those of ``routes.py``: path and query parameters and the JSON body go to
``sim.invoices``, which validates them. ``ENDPOINTS`` is joined to ``routes.ROUTES`` (plain tuples,
so this module need not import ``routes``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orbsim.errors import RequestValidationError

if TYPE_CHECKING:
    from orbsim.wire.codec import Query
    from orbsim.wire.routes import Call, Payload

__all__ = ["ENDPOINTS"]

_ZERO = "include_zero_quantity_line_items"
_DATES = ("invoice_date[gt]", "invoice_date[gte]", "invoice_date[lt]", "invoice_date[lte]")
_LIST_QUERY = frozenset(
    {
        "limit",
        "cursor",
        "customer_id",
        "external_customer_id",
        "subscription_id",
        "status",
        "status[]",
        "amount",
        "amount[gt]",
        "amount[lt]",
        "due_date",
        "due_date[gt]",
        "due_date[lt]",
        "due_date_window",
        "date_type",
        "is_recurring",
        _ZERO,
        *_DATES,
    }
)


def _bool(query: Query, name: str) -> bool | None:
    value = query.one(name)
    if value is None:
        return None
    if value in ("true", "false"):
        return value == "true"
    raise RequestValidationError(f"query parameter {name!r}: expected true or false, got {value!r}")


def fetch_upcoming(call: Call) -> tuple[int, Payload]:
    q = call.query
    subscription_id = q.one("subscription_id")
    if subscription_id is None:
        raise RequestValidationError("subscription_id is required")
    return 200, call.sim.invoices.fetch_upcoming(
        subscription_id=subscription_id, include_zero_quantity_line_items=_bool(q, _ZERO)
    )


def list_invoices(call: Call) -> tuple[int, Payload]:
    q = call.query
    limit = q.integer("limit")
    return 200, call.sim.invoices.list(
        limit=20 if limit is None else limit,
        cursor=q.one("cursor"),
        customer_id=q.one("customer_id"),
        external_customer_id=q.one("external_customer_id"),
        subscription_id=q.one("subscription_id"),
        status=q.many("status[]", "status"),
        invoice_date_gt=q.one("invoice_date[gt]"),
        invoice_date_gte=q.one("invoice_date[gte]"),
        invoice_date_lt=q.one("invoice_date[lt]"),
        invoice_date_lte=q.one("invoice_date[lte]"),
        due_date=q.one("due_date"),
        due_date_gt=q.one("due_date[gt]"),
        due_date_lt=q.one("due_date[lt]"),
        amount=q.one("amount"),
        amount_gt=q.one("amount[gt]"),
        amount_lt=q.one("amount[lt]"),
        is_recurring=_bool(q, "is_recurring"),
        include_zero_quantity_line_items=_bool(q, _ZERO),
        date_type=q.one("date_type"),
        due_date_window=q.one("due_date_window"),
    )


def fetch_invoice(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.invoices.fetch(
        call.params[0], include_zero_quantity_line_items=_bool(call.query, _ZERO)
    )


def issue_invoice(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.invoices.issue(call.params[0], **call.body())


def void_invoice(call: Call) -> tuple[int, Payload]:
    call.no_body()
    return 200, call.sim.invoices.void(call.params[0])


def mark_paid_invoice(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.invoices.mark_paid(call.params[0], **call.body())


Endpoint = tuple[str, str, Callable[["Call"], tuple[int, Any]], frozenset[str]]

ENDPOINTS: tuple[Endpoint, ...] = (
    ("GET", "/invoices/upcoming", fetch_upcoming, frozenset({"subscription_id", _ZERO})),
    ("GET", "/invoices", list_invoices, _LIST_QUERY),
    ("GET", "/invoices/{invoice_id}", fetch_invoice, frozenset({_ZERO})),
    ("POST", "/invoices/{invoice_id}/issue", issue_invoice, frozenset()),
    ("POST", "/invoices/{invoice_id}/void", void_invoice, frozenset()),
    ("POST", "/invoices/{invoice_id}/mark_paid", mark_paid_invoice, frozenset()),
)
