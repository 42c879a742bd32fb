"""Webhook event types: the ones the SDK knows, the ones orbsim emits, and their payloads' shape.

An event type orbsim emits is one ``EventKind`` in ``EVENT_KINDS`` (``register_event_kind`` adds
one): the payload key that holds its resource and, for the ``standard`` payload style, the
projection that cuts the resource down where the SDK's standard type says so (subscriptions
minified, invoices without their line items and totals; customers and backfills whole).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

PayloadStyle = Literal["expanded", "standard"]
PAYLOAD_STYLES: tuple[PayloadStyle, ...] = ("expanded", "standard")

WEBHOOK_EVENT_TYPES: frozenset[str] = frozenset(
    """
    backfill.reflected backfill.reverted billable_metric.edited
    credit_block.accounting_sync_failed credit_block.accounting_sync_succeeded
    credit_note.accounting_sync_failed credit_note.accounting_sync_succeeded credit_note.issued
    credit_note.marked_as_void customer.accounting_sync_failed customer.accounting_sync_succeeded
    customer.balance_transaction_created customer.created customer.credit_balance_depleted
    customer.credit_balance_dropped customer.credit_balance_recovered
    customer.credit_ledger_incremented customer.edited data_exports.transfer_error
    data_exports.transfer_success event.unmatched_event ingestion.unmatched_customer_ids
    invoice.accounting_sync_failed invoice.accounting_sync_succeeded
    invoice.automation_schedule_step_executed invoice.cost_data_exported
    invoice.dunning_schedule_created invoice.dunning_schedule_ended invoice.dunning_schedule_reset
    invoice.dunning_schedule_step_executed invoice.edited invoice.invoice_date_elapsed
    invoice.issue_failed invoice.issued invoice.issued_summary invoice.manually_marked_as_paid
    invoice.manually_marked_as_void invoice.payment_failed invoice.payment_processing
    invoice.payment_succeeded invoice.sync_failed invoice.sync_succeeded invoice.undo_mark_as_paid
    invoice_due_date_recalculation.canceled invoice_due_date_recalculation.completed
    invoice_due_date_recalculation.started metric.events_dropped_by_watermark
    payment_method.created payment_method.deleted plan.created plan.default_version_set
    plan.edited plan.version_created price.edited resource_event.test
    sales_order.accounting_sync_failed sales_order.accounting_sync_succeeded
    subscription.accounting_sync_failed subscription.accounting_sync_succeeded
    subscription.alert_disabled subscription.cancellation_scheduled
    subscription.cancellation_unscheduled subscription.cost_exceeded subscription.created
    subscription.edited subscription.ended subscription.fixed_fee_quantity_updated
    subscription.grouped_cost_exceeded subscription.invoicing_threshold_exceeded
    subscription.license_allocation_reset subscription.license_balance_threshold_reached
    subscription.plan_change_scheduled subscription.plan_changed
    subscription.plan_version_change_scheduled subscription.plan_version_changed
    subscription.spend_exceeded subscription.started subscription.trial_ended
    subscription.usage_exceeded transaction.accounting_sync_failed
    transaction.accounting_sync_succeeded
    """.split()  # noqa: SIM905 (81 names read better as text)
)
"""Every event type of the SDK's webhook unions (``orb.types.UnwrapWebhookEvent``, SDK 4.90): the
values an endpoint's ``enabled_event_types`` may name. ``EVENT_KINDS`` lists those orbsim emits."""


Projection = Callable[[Any], Any]
"""Turns the expanded resource (a model) into its standard-style value."""


@dataclass(frozen=True, slots=True)
class EventKind:
    """One event type orbsim emits: which payload key holds the resource, and its standard form."""

    type: str
    resource: str | None
    """The payload key of the resource (``"customer"``, ``"backfill"``...); None: no resource."""
    standard: Projection | None = None
    """The resource in the ``standard`` style; None: the same as ``expanded``."""


EVENT_KINDS: dict[str, EventKind] = {}
"""The event types orbsim emits, by type."""


def register_event_kind(
    type: str, *, resource: str | None, standard: Projection | None = None
) -> EventKind:
    """Declare an event type orbsim emits (a type of the SDK's union, once)."""
    if type not in WEBHOOK_EVENT_TYPES:
        raise ValueError(f"{type!r} is not a webhook event type of the SDK")
    if type in EVENT_KINDS:
        raise ValueError(f"webhook event type {type!r} is already registered")
    kind = EventKind(type, resource, standard)
    EVENT_KINDS[type] = kind
    return kind


def keep_keys(*names: str) -> Projection:
    """A projection keeping only ``names`` of a model (or dict), in that order."""

    def project(resource: Any) -> dict[str, Any]:
        if isinstance(resource, Mapping):
            return {name: resource[name] for name in names if name in resource}
        return {name: getattr(resource, name) for name in names}

    return project


def drop_keys(*names: str) -> Projection:
    """A projection leaving out ``names`` of a model (or dict)."""
    dropped = frozenset(names)

    def project(resource: Any) -> dict[str, Any]:
        if isinstance(resource, Mapping):
            return {key: value for key, value in resource.items() if key not in dropped}
        return {
            key: getattr(resource, key) for key in type(resource).model_fields if key not in dropped
        }

    return project


def minified_subscription(subscription: Any) -> dict[str, Any]:
    """The standard style's subscription: ids, dates, status, and minified customer and plan."""
    customer = subscription.customer
    plan = subscription.plan
    return {
        "id": subscription.id,
        "created_at": subscription.created_at,
        "customer": {"id": customer.id, "external_customer_id": customer.external_customer_id},
        "end_date": subscription.end_date,
        "metadata": subscription.metadata,
        "name": subscription.name,
        "plan": (
            None
            if plan is None
            else {"id": plan.id, "external_plan_id": plan.external_plan_id, "name": plan.name}
        ),
        "start_date": subscription.start_date,
        "status": subscription.status,
    }


INVOICE_STANDARD_DROPPED = (
    "discount",
    "discounts",
    "hidden_line_item_count",
    "line_items",
    "maximum",
    "maximum_amount",
    "minimum",
    "minimum_amount",
    "subtotal",
)
"""Keys of the SDK's ``Invoice`` that its standard-style webhook invoice does not have."""

for _type in ("customer.created", "customer.edited"):
    register_event_kind(_type, resource="customer")
for _type in ("subscription.created", "subscription.started", "subscription.ended"):
    register_event_kind(_type, resource="subscription", standard=minified_subscription)
for _type in ("backfill.reflected", "backfill.reverted"):
    register_event_kind(_type, resource="backfill")
register_event_kind(
    "invoice.issued", resource="invoice", standard=drop_keys(*INVOICE_STANDARD_DROPPED)
)
register_event_kind("ingestion.unmatched_customer_ids", resource=None)
register_event_kind("resource_event.test", resource=None)
