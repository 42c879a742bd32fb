"""Response models of the invoices endpoints: the SDK's ``Invoice`` and its upcoming variant.

Every key the SDK's ``orb.types.shared.Invoice`` requires is present (nullable ones as ``null``),
so ``Orb(_strict_response_validation=True)`` parses ``model_dump(mode="json")``. What orbsim does
not simulate (taxes, discounts, minimums, maximums, credits, customer balance, payment providers,
credit notes, PDFs) keeps its neutral value: empty lists, ``null`` or ``"0.00"``-free amounts
equal to the subtotal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orbsim.models import Address, CustomerMinified

__all__ = [
    "Invoice",
    "InvoiceAutoCollection",
    "InvoiceLineItem",
    "InvoiceStatus",
    "MatrixSubLineItem",
    "OtherSubLineItem",
    "SubLineItemGrouping",
    "SubscriptionMinified",
    "TierSubLineItem",
    "UpcomingInvoice",
]

InvoiceStatus = Literal["issued", "paid", "synced", "void", "draft"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubscriptionMinified(_Model):
    id: str


class SubLineItemGrouping(_Model):
    key: str
    value: str | None = None


class TierConfig(_Model):
    first_unit: float
    last_unit: float | None = None
    unit_amount: str


class TierSubLineItem(_Model):
    """The part of a tiered price's quantity that fell in one tier."""

    type: Literal["tier"] = "tier"
    amount: str
    grouping: SubLineItemGrouping | None = None
    name: str
    quantity: float
    tier_config: TierConfig


class SubLineItemMatrixConfig(_Model):
    dimension_values: list[str | None]


class MatrixSubLineItem(_Model):
    """The quantity of one matrix cell (one combination of dimension values)."""

    type: Literal["matrix"] = "matrix"
    amount: str
    grouping: SubLineItemGrouping | None = None
    matrix_config: SubLineItemMatrixConfig
    name: str
    quantity: float
    scaled_quantity: float | None = None


class OtherSubLineItem(_Model):
    type: Literal["'null'"] = "'null'"
    amount: str
    grouping: SubLineItemGrouping | None = None
    name: str
    quantity: float


SubLineItem = Annotated[
    TierSubLineItem | MatrixSubLineItem | OtherSubLineItem, Field(discriminator="type")
]


class InvoiceLineItem(_Model):
    """One price of the subscription's plan over the dates it bills."""

    id: str
    adjusted_subtotal: str
    adjustments: list[Any] = Field(default_factory=list)
    amount: str
    credits_applied: str = "0.00"
    end_date: datetime
    filter: str | None = None
    grouping: str | None = None
    name: str
    partially_invoiced_amount: str = "0.00"
    price: dict[str, Any]
    """The price, as ``prices.fetch`` returns it."""
    quantity: float
    start_date: datetime
    sub_line_items: list[SubLineItem] = Field(default_factory=list)
    subtotal: str
    tax_amounts: list[Any] = Field(default_factory=list)
    usage_customer_ids: list[str] | None = None


class InvoiceAutoCollection(_Model):
    enabled: bool | None = None
    next_attempt_at: datetime | None = None
    num_attempts: int | None = None
    previously_attempted_at: datetime | None = None


class _InvoiceBase(_Model):
    id: str
    amount_due: str
    auto_collection: InvoiceAutoCollection = Field(default_factory=InvoiceAutoCollection)
    billing_address: Address | None = None
    created_at: datetime
    credit_notes: list[Any] = Field(default_factory=list)
    currency: str
    customer: CustomerMinified
    customer_balance_transactions: list[Any] = Field(default_factory=list)
    customer_tax_id: Any = None
    discount: Any = None
    discounts: list[Any] = Field(default_factory=list)
    due_date: datetime | None = None
    eligible_to_issue_at: datetime | None = None
    hidden_line_item_count: int = 0
    hosted_invoice_url: str | None = None
    invoice_number: str
    invoice_pdf: str | None = None
    invoice_source: Literal["subscription", "partial", "one_off"] = "subscription"
    issue_failed_at: datetime | None = None
    issued_at: datetime | None = None
    line_items: list[InvoiceLineItem]
    maximum: Any = None
    maximum_amount: str | None = None
    memo: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    minimum: Any = None
    minimum_amount: str | None = None
    paid_at: datetime | None = None
    payment_attempts: list[Any] = Field(default_factory=list)
    payment_failed_at: datetime | None = None
    payment_received_at: datetime | None = None
    payment_started_at: datetime | None = None
    scheduled_issue_at: datetime | None = None
    shipping_address: Address | None = None
    status: InvoiceStatus
    subscription: SubscriptionMinified | None = None
    subtotal: str
    sync_failed_at: datetime | None = None
    total: str
    voided_at: datetime | None = None
    will_auto_issue: bool


class Invoice(_InvoiceBase):
    """``orb.types.shared.Invoice``; ``invoice_date`` is the end of the period it closes."""

    invoice_date: datetime


class UpcomingInvoice(_InvoiceBase):
    """``orb.types.InvoiceFetchUpcomingResponse``: the invoice with ``target_date`` (the date it
    will carry) instead of ``invoice_date``."""

    target_date: datetime
