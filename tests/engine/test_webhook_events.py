"""Webhook events in the engine: payloads in both styles (validated strictly against the SDK's
webhook types), endpoint rules (URL policy, event types, payload style, the endpoint limit), and
the emit/drain record of what happened."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
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
from orbsim import OrbSim
from orbsim.engine.webhooks import (
    EVENT_KINDS,
    INVOICE_STANDARD_DROPPED,
    WEBHOOK_EVENT_TYPES,
    ResourceFields,
    Target,
    WebhookEndpointRecord,
    WebhookState,
    check_endpoint_count,
    check_event_types,
    check_payload_style,
    check_webhook_url,
    drop_keys,
    keep_keys,
    register_event_kind,
)
from orbsim.errors import ConstraintViolation, RequestValidationError

START = datetime(2024, 5, 15, 12, 30, 15, 250_000, tzinfo=UTC)


@pytest.fixture
def clock_start() -> datetime:
    return START


def body(state_event: Any, style: str) -> dict[str, Any]:
    """The payload as the receiver sees it: serialised, then parsed."""
    parsed: dict[str, Any] = json.loads(pydantic_core.to_json(state_event.payload(style)))
    return parsed


def ids() -> Any:
    counter = iter(range(1, 1000))
    return lambda: f"evt_{next(counter)}"


def state_with(*styles: str) -> WebhookState:
    state = WebhookState()
    for n, style in enumerate(styles, start=1):
        state.endpoints[f"we_{n}"] = WebhookEndpointRecord(
            id=f"we_{n}",
            url=f"http://localhost/hooks/{n}",
            secret=f"whsec_{n}",
            created_at=START,
            seq=n,
            payload_style=style,  # type: ignore[arg-type]
        )
    return state


def customer_and_subscription(sim: OrbSim) -> tuple[Any, Any]:
    customer = sim.customers.create(name="Acme", email="a@acme.test", external_customer_id="acme")
    plan = sim.plans.create(name="Pro", external_plan_id="pro")
    subscription = sim.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    return customer, sim.subscriptions.fetch(subscription.id)


# -- payloads --------------------------------------------------------------------------------------


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


# -- emit and drain --------------------------------------------------------------------------------


def test_emit_targets_only_enabled_subscribed_endpoints_oldest_first(sim: OrbSim) -> None:
    customer, _ = customer_and_subscription(sim)
    state = state_with("expanded", "standard", "expanded")
    state.endpoints["we_2"].enabled_event_types = ("customer.created",)
    state.endpoints["we_3"].enabled = False
    new_id = ids()
    created = state.emit("customer.created", at=START, new_id=new_id, resource=customer)
    edited = state.emit("customer.edited", at=START, new_id=new_id, resource=customer)
    assert created is not None and edited is not None
    assert created.targets == (
        Target("we_1", "http://localhost/hooks/1", "whsec_1", "expanded"),
        Target("we_2", "http://localhost/hooks/2", "whsec_2", "standard"),
    )
    assert [t.endpoint_id for t in edited.targets] == ["we_1"]


def test_emit_without_subscribers_records_nothing(sim: OrbSim) -> None:
    customer, _ = customer_and_subscription(sim)
    state = WebhookState()
    calls: list[int] = []

    def new_id() -> str:
        calls.append(1)
        return "x"

    assert state.emit("customer.created", at=START, new_id=new_id, resource=customer) is None
    assert calls == [] and state.drain() == [] and state.emitted == 0
    state = state_with("expanded")
    state.endpoints["we_1"].enabled_event_types = ("backfill.reflected",)
    assert state.emit("customer.created", at=START, new_id=ids(), resource=customer) is None


def test_drain_hands_events_over_once_in_time_order(sim: OrbSim) -> None:
    customer, _ = customer_and_subscription(sim)
    state = state_with("expanded")
    new_id = ids()
    late = state.emit(
        "customer.edited", at=START + timedelta(hours=1), new_id=new_id, resource=customer
    )
    early = state.emit("customer.created", at=START, new_id=new_id, resource=customer)
    tie = state.emit("customer.edited", at=START, new_id=new_id, resource=customer)
    assert state.drain() == [early, tie, late]
    assert state.drain() == []
    assert [e.seq for e in (late, early, tie) if e is not None] == [1, 2, 3]


def test_emit_checks_its_arguments(sim: OrbSim) -> None:
    customer, _ = customer_and_subscription(sim)
    state = state_with("expanded")
    with pytest.raises(ValueError, match="does not emit"):
        state.emit("invoice.paid", at=START, new_id=ids(), resource=customer)
    with pytest.raises(ValueError, match="takes a customer resource"):
        state.emit("customer.created", at=START, new_id=ids())
    with pytest.raises(ValueError, match="takes no resource"):
        state.emit("resource_event.test", at=START, new_id=ids(), resource=customer)


def test_explicit_targets_reach_an_endpoint_not_subscribed() -> None:
    state = state_with("expanded")
    state.endpoints["we_1"].enabled_event_types = ("customer.created",)
    target = state.endpoints["we_1"].target()
    event = state.emit(
        "resource_event.test", at=START, new_id=ids(), properties={}, targets=(target,)
    )
    assert event is not None and event.targets == (target,)


# -- endpoint rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/hooks",
        "https://localhost:8443/hooks",
        "http://127.0.0.1:9000/",
        "http://127.9.9.9/x",
        "http://[::1]:8080/x",
        "http://api.localhost/x",
        "http://LOCALHOST./x",
    ],
)
def test_loopback_urls_are_accepted(url: str) -> None:
    assert check_webhook_url(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://localhost/x", "scheme 'ftp'"),
        ("localhost/hooks", "scheme ''"),
        ("http:///path", "has no host"),
        ("http://localhost:99999/x", "not a valid URL"),
        ("https://example.com/hooks", "host 'example.com'"),
        ("http://10.0.0.5/hooks", "not a loopback address"),
        ("http://localhost.example.com/x", "not a loopback address"),
        ("", "non-empty string"),
        ("http://localhost/" + "x" * 2100, "at most 2048"),
    ],
)
def test_bad_urls_are_refused_naming_the_problem(url: str, message: str) -> None:
    with pytest.raises(RequestValidationError, match=message):
        check_webhook_url(url)


def test_url_check_names_the_value_and_the_setting() -> None:
    with pytest.raises(RequestValidationError) as info:
        check_webhook_url("https://hooks.example.com/orb")
    assert "'https://hooks.example.com/orb'" in info.value.detail
    assert "Settings.webhook_allowed_hosts" in info.value.detail
    with pytest.raises(RequestValidationError, match="non-empty string"):
        check_webhook_url(42)


def test_allowed_hosts_open_other_hosts() -> None:
    allowed = frozenset({"hooks.example.com"})
    assert check_webhook_url("https://hooks.example.com/x", allowed)
    with pytest.raises(RequestValidationError):
        check_webhook_url("https://other.example.com/x", allowed)
    assert check_webhook_url("https://anywhere.example/x", frozenset({"*"}))
    with pytest.raises(RequestValidationError, match="scheme"):
        check_webhook_url("ftp://anywhere.example/x", frozenset({"*"}))


def test_event_types_are_checked_and_deduplicated() -> None:
    assert check_event_types(None) is None
    assert check_event_types([]) == ()
    assert check_event_types(["customer.created", "invoice.issued", "customer.created"]) == (
        "customer.created",
        "invoice.issued",
    )
    with pytest.raises(RequestValidationError, match=r"'customer\.exploded' is not a webhook"):
        check_event_types(["customer.created", "customer.exploded"])
    with pytest.raises(RequestValidationError, match="expected a list"):
        check_event_types("customer.created")
    with pytest.raises(RequestValidationError, match="is not a webhook event type"):
        check_event_types([1])


def test_payload_style_defaults_to_the_account_style() -> None:
    assert check_payload_style(None, "standard") == "standard"
    assert check_payload_style("expanded", "standard") == "expanded"
    with pytest.raises(RequestValidationError, match="'compact'"):
        check_payload_style("compact", "expanded")


def test_endpoint_limit() -> None:
    check_endpoint_count(19, 20)
    with pytest.raises(ConstraintViolation, match="already has 20 webhook endpoints; at most 20"):
        check_endpoint_count(20, 20)


def test_endpoint_record_fields_and_subscriptions() -> None:
    record = WebhookEndpointRecord("we_1", "http://localhost/h", "whsec_x", START, 1)
    assert record.wants("customer.created")
    record.enabled_event_types = ("backfill.reflected",)
    assert not record.wants("customer.created") and record.wants("backfill.reflected")
    record.enabled = False
    assert not record.wants("backfill.reflected")
    assert record.fields() == {
        "id": "we_1",
        "created_at": START,
        "enabled": False,
        "enabled_event_types": ["backfill.reflected"],
        "payload_style": "expanded",
        "url": "http://localhost/h",
    }
