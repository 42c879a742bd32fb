"""Webhook events: what happened, and for which endpoints. Not how it is delivered.

The engine records a ``WebhookEvent`` when something Orb announces happens (a customer is created, a
backfill is reflected, ...), at the simulated moment of its cause, together with a snapshot of the
resource as it was then and the endpoints that were subscribed then (``Target``). The wire layer
(``orbsim.wire.delivery``) turns each (event, target) into signed bytes and delivers them.

The payload builders (``WebhookEvent.payload``) return plain values and pydantic models in the shape
of the SDK's webhook types, for both payload styles:

* ``expanded``: ``{id, created_at, type, <resource>, properties, payload_style}`` with the full
  resource (``orb.types.CustomerCreatedWebhookEvent`` etc., parsed by ``client.webhooks.unwrap``);
* ``standard``: the same envelope, with the resource cut down where the SDK's standard type says so
  (``orb.types.webhooks.*StandardWebhookEvent``, parsed by ``client.webhooks.unwrap_standard``):
  subscriptions become ``{id, created_at, customer{id, external_customer_id}, end_date, metadata,
  name, plan{id, external_plan_id, name}, start_date, status}``, invoices lose their line items,
  subtotal, discounts, minimums and maximums; customers and backfills are sent whole.

An event type is one ``EventKind`` in ``EVENT_KINDS`` (``register_event_kind`` adds one); the
endpoint rules (URL policy, the 20-endpoint limit, event-type subscriptions) are here too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel

from orbsim.errors import ConstraintViolation, RequestValidationError

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


# --------------------------------------------------------------------------------------------------
# Event kinds and payload builders

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


@dataclass(frozen=True, slots=True)
class Target:
    """An endpoint as it was when the event happened: where to send it, signed with what."""

    endpoint_id: str
    url: str
    secret: str
    payload_style: PayloadStyle


@dataclass(frozen=True, slots=True, eq=False)
class WebhookEvent:
    """Something that happened, to announce to ``targets`` (the subscribed endpoints then).

    ``occurred_at`` is the simulated moment of the cause (a backfill reflected at its due time even
    when the clock is read later); ``created_at``, the payload's, is that moment to the second, as
    the SDK documents it. ``resource`` is a snapshot (a copy no later change reaches).
    """

    id: str
    type: str
    occurred_at: datetime
    resource: BaseModel | None
    properties: Mapping[str, Any]
    targets: tuple[Target, ...]
    seq: int = 0

    @property
    def created_at(self) -> datetime:
        return self.occurred_at.replace(microsecond=0)

    def payload(self, style: PayloadStyle) -> dict[str, Any]:
        """The webhook body in ``style``, as values ``pydantic_core.to_json`` serialises."""
        kind = EVENT_KINDS[self.type]
        body: dict[str, Any] = {"id": self.id, "created_at": self.created_at, "type": self.type}
        if kind.resource is not None:
            resource: Any = self.resource
            if style == "standard" and kind.standard is not None:
                resource = kind.standard(resource)
            body[kind.resource] = resource
        body["properties"] = dict(self.properties)
        body["payload_style"] = style
        return body


# --------------------------------------------------------------------------------------------------
# Endpoint rules


def _loopback(host: str) -> bool:
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always loopback
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_webhook_url(url: object, allowed_hosts: frozenset[str] = frozenset()) -> str:
    """``url`` if it is an http(s) URL to a loopback host (or to a host in ``allowed_hosts``;
    ``"*"`` allows every host); RequestValidationError naming the problem otherwise."""
    if not isinstance(url, str) or not url:
        raise RequestValidationError(f"url: expected a non-empty string, got {url!r}")
    if len(url) > 2048:
        raise RequestValidationError(f"url: at most 2048 characters, got {len(url)}")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise RequestValidationError(f"url: {url!r} is not a valid URL ({exc})") from None
    del port
    if parts.scheme not in ("http", "https"):
        raise RequestValidationError(
            f"url: {url!r} has scheme {parts.scheme!r}; webhook endpoints take http or https URLs"
        )
    host = parts.hostname
    if not host:
        raise RequestValidationError(f"url: {url!r} has no host")
    if "*" in allowed_hosts or host.lower() in allowed_hosts or _loopback(host):
        return url
    raise RequestValidationError(
        f"url: host {host!r} of {url!r} is not a loopback address; orbsim delivers webhooks only "
        "to loopback hosts (localhost, 127.0.0.0/8, ::1) unless Settings.webhook_allowed_hosts "
        "names the host (or '*')"
    )


def check_event_types(value: object) -> tuple[str, ...] | None:
    """``enabled_event_types``: None (every type) or a list of the SDK's event types."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise RequestValidationError(
            f"enabled_event_types: expected a list of event types or null, got {value!r}"
        )
    types: list[str] = []
    for item in value:
        if not isinstance(item, str) or item not in WEBHOOK_EVENT_TYPES:
            raise RequestValidationError(
                f"enabled_event_types: {item!r} is not a webhook event type "
                "(see orbsim.engine.webhooks.WEBHOOK_EVENT_TYPES)"
            )
        if item not in types:
            types.append(item)
    return tuple(types)


def check_payload_style(value: object, default: PayloadStyle) -> PayloadStyle:
    """``payload_style``: ``expanded``, ``standard``, or None for the account's default."""
    if value is None:
        return default
    if value == "expanded" or value == "standard":
        return value
    raise RequestValidationError(
        f"payload_style: expected 'expanded', 'standard' or null, got {value!r}"
    )


def check_endpoint_count(existing: int, limit: int) -> None:
    if existing >= limit:
        raise ConstraintViolation(
            f"this account already has {existing} webhook endpoints; at most {limit} are allowed "
            "(Settings.max_webhook_endpoints; delete one first)"
        )


@dataclass(slots=True, eq=False)
class WebhookEndpointRecord:
    """A webhook endpoint: where to send which events, in which style, signed with ``secret``."""

    id: str
    url: str
    secret: str
    created_at: datetime
    seq: int
    enabled: bool = True
    enabled_event_types: tuple[str, ...] | None = None
    payload_style: PayloadStyle = "expanded"

    def wants(self, event_type: str) -> bool:
        """Subscribed to ``event_type`` and enabled."""
        return self.enabled and (
            self.enabled_event_types is None or event_type in self.enabled_event_types
        )

    def target(self) -> Target:
        return Target(self.id, self.url, self.secret, self.payload_style)

    def sort_key(self) -> tuple[int, int]:
        return int(self.created_at.timestamp() * 1_000_000), self.seq

    def fields(self) -> dict[str, Any]:
        """The response fields of ``WebhookEndpoint`` (no secret)."""
        return {
            "id": self.id,
            "created_at": self.created_at,
            "enabled": self.enabled,
            "enabled_event_types": (
                None if self.enabled_event_types is None else list(self.enabled_event_types)
            ),
            "payload_style": self.payload_style,
            "url": self.url,
        }


@dataclass(slots=True)
class WebhookState:
    """The account's webhook endpoints, and the events not yet handed to delivery.

    ``pending`` is filled while an operation runs and emptied (``drain``) when it ends; it is
    never part of a snapshot taken between operations.
    """

    endpoints: dict[str, WebhookEndpointRecord] = field(default_factory=dict)
    pending: list[WebhookEvent] = field(default_factory=list)
    emitted: int = 0
    """How many events were emitted so far (the ``seq`` of the next one)."""

    def targets_for(self, event_type: str) -> tuple[Target, ...]:
        """The endpoints subscribed to ``event_type`` now, oldest first."""
        if not self.endpoints:
            return ()
        return tuple(
            record.target()
            for record in sorted(self.endpoints.values(), key=WebhookEndpointRecord.sort_key)
            if record.wants(event_type)
        )

    def emit(
        self,
        event_type: str,
        *,
        at: datetime,
        new_id: Callable[[], str],
        resource: BaseModel | None = None,
        properties: Mapping[str, Any] | None = None,
        targets: tuple[Target, ...] | None = None,
    ) -> WebhookEvent | None:
        """Record that ``event_type`` happened at ``at``; None if no endpoint wants it.

        ``resource`` must be a snapshot (a model no later change reaches); ``targets`` defaults to
        the subscribed endpoints (``resource_event.test`` names its endpoint instead).
        """
        kind = EVENT_KINDS.get(event_type)
        if kind is None:
            raise ValueError(f"orbsim does not emit webhook event type {event_type!r}")
        if (kind.resource is None) != (resource is None):
            need = f"a {kind.resource} resource" if kind.resource else "no resource"
            raise ValueError(f"webhook event {event_type!r} takes {need}")
        chosen = self.targets_for(event_type) if targets is None else targets
        if not chosen:
            return None
        self.emitted += 1
        event = WebhookEvent(
            id=new_id(),
            type=event_type,
            occurred_at=at,
            resource=resource,
            properties=dict(properties or {}),
            targets=chosen,
            seq=self.emitted,
        )
        self.pending.append(event)
        return event

    def drain(self) -> list[WebhookEvent]:
        """The events emitted since the last drain, in the order they happened."""
        events = self.pending
        if not events:
            return events
        self.pending = []
        events.sort(key=lambda e: (e.occurred_at, e.seq))
        return events
