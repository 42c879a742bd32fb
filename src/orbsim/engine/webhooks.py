"""Webhook events: what happened, and for which endpoints. Not how it is delivered.

The engine records a ``WebhookEvent`` when something Orb announces happens (a customer is created, a
backfill is reflected, ...), at the simulated moment of its cause, together with a snapshot of the
resource as it was then and the endpoints that were subscribed then (``Target``). Signing and
delivery happen outside the engine, which only hands each (event, target) pair over.

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

import hashlib
import heapq
import ipaddress
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel

from orbsim.engine.pagination import paginate
from orbsim.engine.reporting import reports_errors
from orbsim.errors import ConstraintViolation, RequestValidationError, ResourceNotFound
from orbsim.models import Page, PaginationMetadata, WebhookEndpoint, WebhookEndpointWithSecret

if TYPE_CHECKING:
    from orbsim.engine.core import Engine

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


@dataclass(frozen=True, slots=True)
class ResourceFields:
    """A resource's fields as they were when the event happened, made into ``model`` only when
    the payload is built (``build``).

    An event waiting for delivery then holds a dict of references instead of a tree of models:
    1,000 invoices issuing at one boundary, each announced, no longer leave 1,000 validated
    ``Invoice`` trees alive until the operation ends (which made the garbage collector walk the
    whole heap). ``fields`` must be values no later change reaches (fresh containers, or ones
    never mutated again, like an issued invoice's frozen lines).
    """

    model: type[BaseModel]
    fields: Mapping[str, Any]

    def build(self) -> BaseModel:
        return self.model.model_validate(self.fields)


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
    resource: BaseModel | ResourceFields | None
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
            if isinstance(resource, ResourceFields):
                resource = resource.build()
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


_ALPHABET = string.ascii_letters + string.digits


def event_id(salt: str, number: int) -> str:
    """The id of the ``number``-th webhook event: 16 Orb-style characters, a pure function of the
    simulator's seed and the count, so emitting events never shifts other resources' ids."""
    digest = hashlib.blake2b(f"{salt}:webhook-event:{number}".encode(), digest_size=16).digest()
    return "".join(_ALPHABET[byte % len(_ALPHABET)] for byte in digest)


Resource = BaseModel | ResourceFields | Callable[[], BaseModel | ResourceFields]
"""A resource snapshot, or a function making one (called only if some endpoint wants it)."""


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
    salt: str = "0"
    """Makes event ids (``event_id``); the simulator's seed."""
    timers: list[tuple[datetime, int, str, str]] = field(default_factory=list)
    """A heap of events due later: (when, order, event type, resource id), e.g. a subscription
    that starts or ends in the future."""
    scheduled: int = 0

    def schedule(self, at: datetime, event_type: str, resource_id: str) -> None:
        """Emit ``event_type`` for ``resource_id`` when the clock reaches ``at`` (see ``due``)."""
        self.scheduled += 1
        heapq.heappush(self.timers, (at, self.scheduled, event_type, resource_id))

    def due(self, now: datetime) -> list[tuple[datetime, str, str]]:
        """The scheduled (when, event type, resource id) due by ``now``, in time order; removed."""
        timers = self.timers
        found: list[tuple[datetime, str, str]] = []
        while timers and timers[0][0] <= now:
            at, _, event_type, resource_id = heapq.heappop(timers)
            found.append((at, event_type, resource_id))
        return found

    # -- state files ------------------------------------------------------------------------------

    def dump_state(self) -> dict[str, Any]:
        """The endpoints and counters as JSON data (``pending`` is empty between operations)."""
        return {
            "endpoints": [
                {
                    **record.fields(),
                    "created_at": record.created_at.isoformat(),
                    "secret": record.secret,
                    "seq": record.seq,
                }
                for record in sorted(self.endpoints.values(), key=WebhookEndpointRecord.sort_key)
            ],
            "emitted": self.emitted,
            "salt": self.salt,
            "timers": [
                [at.isoformat(), order, event_type, resource_id]
                for at, order, event_type, resource_id in sorted(self.timers)
            ],
            "scheduled": self.scheduled,
        }

    def load_state(self, data: Any) -> None:
        """Replace the contents with ``dump_state`` data; malformed data raises ValueError."""
        try:
            endpoints = {}
            for raw in data["endpoints"]:
                types = raw["enabled_event_types"]
                style = raw["payload_style"]
                if style not in PAYLOAD_STYLES:
                    raise ValueError(f"unknown payload_style {style!r}")
                record = WebhookEndpointRecord(
                    id=str(raw["id"]),
                    url=str(raw["url"]),
                    secret=str(raw["secret"]),
                    created_at=datetime.fromisoformat(raw["created_at"]),
                    seq=int(raw["seq"]),
                    enabled=bool(raw["enabled"]),
                    enabled_event_types=None if types is None else tuple(map(str, types)),
                    payload_style=style,
                )
                endpoints[record.id] = record
            timers = [
                (datetime.fromisoformat(at), int(order), str(event_type), str(resource_id))
                for at, order, event_type, resource_id in data["timers"]
            ]
            emitted, scheduled, salt = int(data["emitted"]), int(data["scheduled"]), data["salt"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"webhooks: malformed state ({exc!r})") from None
        heapq.heapify(timers)
        self.endpoints = endpoints
        self.pending = []
        self.timers = timers
        self.emitted = emitted
        self.scheduled = scheduled
        self.salt = str(salt)

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
        new_id: Callable[[], str] | None = None,
        resource: Resource | None = None,
        properties: Mapping[str, Any] | None = None,
        targets: tuple[Target, ...] | None = None,
    ) -> WebhookEvent | None:
        """Record that ``event_type`` happened at ``at``; None if no endpoint wants it.

        ``resource`` must be a snapshot (a model no later change reaches), or a function making
        one; ``targets`` defaults to the subscribed endpoints (``resource_event.test`` may name
        its endpoint instead); ``new_id`` defaults to ``event_id(salt, seq)``.
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
        snapshot = resource() if callable(resource) else resource
        event = WebhookEvent(
            id=new_id() if new_id is not None else event_id(self.salt, self.emitted),
            type=event_type,
            occurred_at=at,
            resource=snapshot,
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


# --------------------------------------------------------------------------------------------------
# ``sim.webhook_endpoints``

_MISSING: Any = object()


def _no_extra(what: str, extra: Mapping[str, Any]) -> None:
    if extra:
        names = sorted(extra)
        raise RequestValidationError(
            f"{what}: unknown field(s) {', '.join(map(repr, names))}",
            validation_errors=[f"unknown field {name!r}" for name in names],
        )


@reports_errors
class WebhookEndpoints:
    """``sim.webhook_endpoints``: the SDK's ``client.webhook_endpoints`` on the engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _state(self) -> WebhookState:
        return self._engine.state.webhooks

    def _require(self, endpoint_id: str) -> WebhookEndpointRecord:
        record = self._state().endpoints.get(endpoint_id)
        if record is None:
            raise ResourceNotFound.of("WebhookEndpoint", endpoint_id)
        return record

    def create(
        self,
        *,
        url: str = _MISSING,
        enabled_event_types: list[str] | None = None,
        payload_style: PayloadStyle | None = None,
        **extra: Any,
    ) -> WebhookEndpointWithSecret:
        """A new, enabled endpoint; the response carries the signing secret (only this one)."""
        _no_extra("webhook endpoint", extra)
        if url is _MISSING:
            raise RequestValidationError(
                "webhook endpoint: url is required", validation_errors=["url: field required"]
            )
        engine = self._engine
        settings = engine.settings
        checked_url = check_webhook_url(url, settings.webhook_allowed_hosts)
        types = check_event_types(enabled_event_types)
        style = check_payload_style(payload_style, settings.webhook_payload_style)
        with engine.transaction() as now:
            account = engine.state
            state = account.webhooks
            check_endpoint_count(len(state.endpoints), settings.max_webhook_endpoints)
            record = WebhookEndpointRecord(
                id=account.new_id(),
                url=checked_url,
                secret="whsec_" + account.new_id() + account.new_id(),
                created_at=now,
                seq=account.take_seq(),
                enabled=True,
                enabled_event_types=types,
                payload_style=style,
            )
            state.endpoints[record.id] = record
            return WebhookEndpointWithSecret(**record.fields(), secret=record.secret)

    def retrieve(self, webhook_endpoint_id: str) -> WebhookEndpoint:
        with self._engine.transaction():
            return WebhookEndpoint(**self._require(webhook_endpoint_id).fields())

    def update(
        self,
        webhook_endpoint_id: str,
        /,
        *,
        url: str | None = _MISSING,
        enabled_event_types: list[str] | None = _MISSING,
        payload_style: PayloadStyle | None = _MISSING,
        **extra: Any,
    ) -> WebhookEndpoint:
        """Change the URL, the event types (null: every type) or the payload style (null: the
        account's); omitted fields stay as they are."""
        _no_extra("webhook endpoint update", extra)
        settings = self._engine.settings
        new_url = None
        if url is not _MISSING:
            if url is None:
                raise RequestValidationError("url: cannot be null; omit it to keep the URL")
            new_url = check_webhook_url(url, settings.webhook_allowed_hosts)
        types = _MISSING
        if enabled_event_types is not _MISSING:
            types = check_event_types(enabled_event_types)
        style = None
        if payload_style is not _MISSING:
            style = check_payload_style(payload_style, settings.webhook_payload_style)
        with self._engine.transaction():
            record = self._require(webhook_endpoint_id)
            if new_url is not None:
                record.url = new_url
            if types is not _MISSING:
                record.enabled_event_types = types
            if style is not None:
                record.payload_style = style
            return WebhookEndpoint(**record.fields())

    def list(self, *, limit: int = 20, cursor: str | None = None) -> Page[WebhookEndpoint]:
        """The account's endpoints, newest first."""
        with self._engine.transaction():
            page, next_cursor = paginate(
                self._state().endpoints.values(), WebhookEndpointRecord.sort_key, limit, cursor
            )
            return Page[WebhookEndpoint](
                data=[WebhookEndpoint(**record.fields()) for record in page],
                pagination_metadata=PaginationMetadata(
                    has_more=next_cursor is not None, next_cursor=next_cursor
                ),
            )

    def delete(self, webhook_endpoint_id: str) -> None:
        """Remove the endpoint; events that happen from now on are not sent to it."""
        with self._engine.transaction():
            self._require(webhook_endpoint_id)
            del self._state().endpoints[webhook_endpoint_id]

    def enable(self, webhook_endpoint_id: str) -> WebhookEndpoint:
        with self._engine.transaction():
            record = self._require(webhook_endpoint_id)
            record.enabled = True
            return WebhookEndpoint(**record.fields())

    def disable(self, webhook_endpoint_id: str) -> WebhookEndpoint:
        """Stop sending to the endpoint until it is enabled again (events meanwhile are lost)."""
        with self._engine.transaction():
            record = self._require(webhook_endpoint_id)
            record.enabled = False
            return WebhookEndpoint(**record.fields())

    def send_test(
        self, webhook_endpoint_id: str | None = None, *, message: str | None = None
    ) -> str | None:
        """Emit ``resource_event.test`` (orbsim's, not an SDK method): to one endpoint, whatever
        event types it takes (it must be enabled), or to every endpoint that takes the type.
        Returns the event id, or None when no endpoint takes it."""
        if message is not None and not isinstance(message, str):
            raise RequestValidationError(f"message: expected a string, got {message!r}")
        with self._engine.transaction() as now:
            state = self._state()
            targets = None
            if webhook_endpoint_id is not None:
                record = self._require(webhook_endpoint_id)
                if not record.enabled:
                    raise ConstraintViolation(
                        f"webhook endpoint {record.id} is disabled; enable it to send it events"
                    )
                targets = (record.target(),)
            properties = {} if message is None else {"message": message}
            event = state.emit(
                "resource_event.test", at=now, properties=properties, targets=targets
            )
            return None if event is None else event.id
