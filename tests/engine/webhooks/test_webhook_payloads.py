"""Webhook payloads (``orbsim.engine.webhooks.kinds`` and ``events``) in both styles, validated
strictly against the SDK's webhook types: the envelope, the standard style's cuts, projections,
registering kinds, and ResourceFields rendering as their model would."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pydantic_core
import pytest
from orb.types.backfill_reflected_webhook_event import BackfillReflectedWebhookEvent
from orb.types.customer_created_webhook_event import CustomerCreatedWebhookEvent
from orb.types.customer_edited_webhook_event import CustomerEditedWebhookEvent
from orb.types.ingestion_unmatched_customer_ids_webhook_event import (
    IngestionUnmatchedCustomerIDsWebhookEvent,
)
from orb.types.resource_event_test_webhook_event import ResourceEventTestWebhookEvent
from orb.types.subscription_started_webhook_event import SubscriptionStartedWebhookEvent
from orb.types.unwrap_webhook_event import UnwrapWebhookEvent
from orb.types.webhooks.backfill_reverted_standard_webhook_event import (
    BackfillRevertedStandardWebhookEvent,
)
from orb.types.webhooks.subscription_created_standard_webhook_event import (
    SubscriptionCreatedStandardWebhookEvent,
)
from orb.types.webhooks.unwrap_standard_webhook_event import UnwrapStandardWebhookEvent

from helpers.sdk import sdk_validate
from helpers.webhook_events import START, body, customer_and_subscription, ids, state_with
from orbsim import OrbSim
from orbsim.engine.webhooks import (
    EVENT_KINDS,
    INVOICE_STANDARD_DROPPED,
    WEBHOOK_EVENT_TYPES,
    ResourceFields,
    drop_keys,
    keep_keys,
    register_event_kind,
)


def test_expanded_payloads_validate_strictly_against_the_sdk_types(sim: OrbSim) -> None:
    customer, subscription = customer_and_subscription(sim)
    backfill = sim.events.backfills.create(
        timeframe_start=START - timedelta(days=3), timeframe_end=START - timedelta(days=2)
    )
    state = state_with("expanded")
    new_id = ids()
    emitted = [
        state.emit("customer.created", at=START, new_id=new_id, resource=customer),
        state.emit(
            "customer.edited",
            at=START,
            new_id=new_id,
            resource=customer,
            properties={"previous_attributes": {"email": "old@acme.test"}},
        ),
        state.emit("subscription.started", at=START, new_id=new_id, resource=subscription),
        state.emit("backfill.reflected", at=START, new_id=new_id, resource=backfill),
        state.emit(
            "ingestion.unmatched_customer_ids",
            at=START,
            new_id=new_id,
            properties={"external_customer_ids": ["ghost"]},
        ),
        state.emit("resource_event.test", at=START, new_id=new_id, properties={"message": "hello"}),
    ]
    types: list[Any] = [
        CustomerCreatedWebhookEvent,
        CustomerEditedWebhookEvent,
        SubscriptionStartedWebhookEvent,
        BackfillReflectedWebhookEvent,
        IngestionUnmatchedCustomerIDsWebhookEvent,
        ResourceEventTestWebhookEvent,
    ]
    for event, sdk_type in zip(emitted, types, strict=True):
        assert event is not None
        payload = body(event, "expanded")
        parsed = sdk_validate(sdk_type, payload)
        assert parsed.type == event.type and parsed.payload_style == "expanded"
        assert type(sdk_validate(UnwrapWebhookEvent, payload)) is sdk_type
    edited = sdk_validate(CustomerEditedWebhookEvent, body(emitted[1], "expanded"))
    assert edited.properties.previous_attributes.email == "old@acme.test"
    started = body(emitted[2], "expanded")
    assert started["subscription"]["customer"]["name"] == "Acme"  # the whole customer
    assert started["subscription"]["plan"]["external_plan_id"] == "pro"
    assert body(emitted[4], "expanded")["properties"] == {"external_customer_ids": ["ghost"]}


def test_payload_envelope_and_created_at_to_the_second(sim: OrbSim) -> None:
    customer, _ = customer_and_subscription(sim)
    state = state_with("expanded")
    event = state.emit("customer.created", at=START, new_id=ids(), resource=customer)
    assert event is not None
    payload = body(event, "expanded")
    assert list(payload) == ["id", "created_at", "type", "customer", "properties", "payload_style"]
    assert payload["id"] == "evt_1"
    assert payload["created_at"] == "2024-05-15T12:30:15Z"
    assert event.occurred_at == START  # the exact moment is kept for ordering
    assert payload["customer"]["id"] == customer.id and payload["properties"] == {}


def test_resource_fields_render_as_their_model_would_in_both_styles(sim: OrbSim) -> None:
    _, subscription = customer_and_subscription(sim)
    fields = subscription.model_dump()
    state = state_with("expanded")
    from_model = state.emit("subscription.created", at=START, new_id=ids(), resource=subscription)
    from_fields = state.emit(
        "subscription.created",
        at=START,
        new_id=ids(),
        resource=lambda: ResourceFields(type(subscription), fields),
    )
    assert from_model is not None and from_fields is not None
    assert isinstance(from_fields.resource, ResourceFields)  # validated only when rendered
    for style in ("expanded", "standard"):
        model_body = pydantic_core.to_json(from_model.payload(style))
        fields_body = pydantic_core.to_json(from_fields.payload(style))
        assert fields_body.replace(b'"evt_2"', b'"evt_1"') == model_body


def test_standard_style_minifies_subscriptions(sim: OrbSim) -> None:
    _, subscription = customer_and_subscription(sim)
    event = state_with("standard").emit(
        "subscription.created", at=START, new_id=ids(), resource=subscription
    )
    payload = body(event, "standard")
    parsed = sdk_validate(SubscriptionCreatedStandardWebhookEvent, payload)
    assert parsed.payload_style == "standard"
    assert payload["subscription"] == {
        "id": subscription.id,
        "created_at": "2024-05-15T12:30:15.250000Z",
        "customer": {"id": subscription.customer.id, "external_customer_id": "acme"},
        "end_date": None,
        "metadata": {},
        "name": "Pro",
        "plan": {"id": subscription.plan.id, "external_plan_id": "pro", "name": "Pro"},
        "start_date": payload["subscription"]["start_date"],
        "status": "active",
    }
    assert type(sdk_validate(UnwrapStandardWebhookEvent, payload)).__name__ == (
        "SubscriptionCreatedStandardWebhookEvent"
    )


def test_standard_style_sends_customers_and_backfills_whole(sim: OrbSim) -> None:
    backfill = sim.events.backfills.create(
        timeframe_start=START - timedelta(days=3), timeframe_end=START - timedelta(days=2)
    )
    event = state_with("standard").emit(
        "backfill.reverted", at=START, new_id=ids(), resource=backfill
    )
    assert event is not None
    payload = body(event, "standard")
    sdk_validate(BackfillRevertedStandardWebhookEvent, payload)
    assert payload["backfill"] == body(event, "expanded")["backfill"]


def test_invoice_issued_is_registered_with_the_standard_cut() -> None:
    kind = EVENT_KINDS["invoice.issued"]
    assert kind.resource == "invoice" and kind.standard is not None
    invoice = {"id": "inv_1", "subtotal": "1.00", "line_items": [], "total": "1.00"}
    assert kind.standard(invoice) == {"id": "inv_1", "total": "1.00"}
    assert set(INVOICE_STANDARD_DROPPED) >= {"line_items", "subtotal", "minimum", "maximum"}


def test_projections_work_on_models_and_dicts(sim: OrbSim) -> None:
    customer, _ = customer_and_subscription(sim)
    assert keep_keys("id", "name")(customer) == {"id": customer.id, "name": "Acme"}
    assert keep_keys("b", "a")({"a": 1, "b": 2, "c": 3}) == {"b": 2, "a": 1}
    dropped = drop_keys("metadata")(customer)
    assert "metadata" not in dropped and dropped["email"] == "a@acme.test"


def test_every_emitted_kind_is_an_sdk_type() -> None:
    assert set(EVENT_KINDS) <= WEBHOOK_EVENT_TYPES
    assert len(WEBHOOK_EVENT_TYPES) == 81
    assert {
        "customer.created",
        "customer.edited",
        "subscription.created",
        "subscription.started",
        "subscription.ended",
        "backfill.reflected",
        "backfill.reverted",
        "invoice.issued",
        "ingestion.unmatched_customer_ids",
        "resource_event.test",
    } <= set(EVENT_KINDS)
    with pytest.raises(ValueError, match="not a webhook event type"):
        register_event_kind("customer.exploded", resource="customer")
    with pytest.raises(ValueError, match="already registered"):
        register_event_kind("customer.created", resource="customer")
