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

The package's modules, one job each (every name is re-exported here):

* ``kinds``: the SDK's event types, the ones orbsim emits (``EventKind``) and their projections;
* ``events``: ``WebhookEvent``, its ``Target``s, ``ResourceFields`` and event ids;
* ``endpoint_rules``: ``WebhookEndpointRecord`` and the checks of an endpoint's fields;
* ``state``: ``WebhookState``, the account's endpoints, pending events and timers;
* ``endpoints``: ``WebhookEndpoints``, ``sim.webhook_endpoints``.
"""

from orbsim.engine.webhooks.endpoint_rules import (
    WebhookEndpointRecord,
    check_endpoint_count,
    check_event_types,
    check_payload_style,
    check_webhook_url,
)
from orbsim.engine.webhooks.endpoints import WebhookEndpoints
from orbsim.engine.webhooks.events import (
    Resource,
    ResourceFields,
    Target,
    WebhookEvent,
    event_id,
)
from orbsim.engine.webhooks.kinds import (
    EVENT_KINDS,
    INVOICE_STANDARD_DROPPED,
    PAYLOAD_STYLES,
    WEBHOOK_EVENT_TYPES,
    EventKind,
    PayloadStyle,
    Projection,
    drop_keys,
    keep_keys,
    minified_subscription,
    register_event_kind,
)
from orbsim.engine.webhooks.state import WebhookState

__all__ = [
    "EVENT_KINDS",
    "INVOICE_STANDARD_DROPPED",
    "PAYLOAD_STYLES",
    "WEBHOOK_EVENT_TYPES",
    "EventKind",
    "PayloadStyle",
    "Projection",
    "Resource",
    "ResourceFields",
    "Target",
    "WebhookEndpointRecord",
    "WebhookEndpoints",
    "WebhookEvent",
    "WebhookState",
    "check_endpoint_count",
    "check_event_types",
    "check_payload_style",
    "check_webhook_url",
    "drop_keys",
    "event_id",
    "keep_keys",
    "minified_subscription",
    "register_event_kind",
]
