"""Webhooks through the official SDK: endpoints as the SDK defines them, the story of what happened
arriving signed and in order (verified with ``client.webhooks.unwrap``, validated strictly), the
simulated moment of each cause, and bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orb
import pytest
from orb.types.unwrap_webhook_event import UnwrapWebhookEvent
from orb.types.webhooks.unwrap_standard_webhook_event import UnwrapStandardWebhookEvent

from helpers.sdk import START, error_body, event, sdk_validate, unit_price
from orbsim import ManualClock, OrbSim, Settings
from orbsim.wire.delivery import Mount, WebhookRequest

HOOK = "http://localhost:8088/orb/webhooks"


def unwrap(client: Any, request: WebhookRequest, secret: str) -> Any:
    """What a receiver does: verify and parse with the SDK, and (stricter than ``unwrap``, which
    only constructs) validate the payload against the SDK's union."""
    parsed = client.webhooks.unwrap(request.body, request.headers, secret=secret)
    strict = sdk_validate(UnwrapWebhookEvent, json.loads(request.body))
    assert type(strict) is type(parsed)
    return parsed


@pytest.fixture
def inbox(sim: OrbSim) -> Mount:
    """An in-process receiver at ``HOOK`` (collecting what arrives)."""
    return sim.webhooks.mount(HOOK)


@pytest.fixture
def endpoint(client: Any, inbox: Mount) -> Any:
    return client.webhook_endpoints.create(url=HOOK)


def make_plan(client: Any, **fields: Any) -> Any:
    return client.plans.create(
        name="Usage",
        currency="USD",
        prices=[{"price": unit_price(client, "monthly")}],
        **fields,
    )


def received(client: Any, inbox: Mount, secret: str) -> list[Any]:
    return [unwrap(client, request, secret) for request in inbox.requests]


# -- endpoints -------------------------------------------------------------------------------------


def test_create_returns_the_secret_and_nothing_else_does(client: Any) -> None:
    created = client.webhook_endpoints.create(
        url=HOOK, enabled_event_types=["customer.created"], payload_style="standard"
    )
    assert created.secret.startswith("whsec_") and len(created.secret) == 38
    assert created.enabled and created.enabled_event_types == ["customer.created"]
    assert created.payload_style == "standard" and created.url == HOOK
    assert created.created_at == START
    raw = client.webhook_endpoints.with_raw_response.retrieve(created.id)
    assert "secret" not in json.loads(raw.text)
    assert all(
        "secret" not in json.loads(r.text)["data"][0]
        for r in [client.webhook_endpoints.with_raw_response.list()]
    )


def test_update_enable_disable_list_delete(client: Any, clock: ManualClock) -> None:
    first = client.webhook_endpoints.create(url=HOOK)
    clock.advance(seconds=1)
    second = client.webhook_endpoints.create(url="http://127.0.0.1:9/other")
    updated = client.webhook_endpoints.update(
        first.id, enabled_event_types=["backfill.reflected"], url="http://localhost:1/new"
    )
    assert updated.enabled_event_types == ["backfill.reflected"]
    assert updated.url == "http://localhost:1/new" and updated.payload_style == "expanded"
    same = client.webhook_endpoints.update(first.id, payload_style="standard")
    assert same.enabled_event_types == ["backfill.reflected"]  # omitted: unchanged
    assert (
        client.webhook_endpoints.update(first.id, enabled_event_types=None).enabled_event_types
        is None
    )
    assert client.webhook_endpoints.disable(first.id).enabled is False
    assert client.webhook_endpoints.retrieve(first.id).enabled is False
    assert client.webhook_endpoints.enable(first.id).enabled is True
    page = client.webhook_endpoints.list(limit=1)
    assert [e.id for e in page.data] == [second.id]  # newest first
    assert [e.id for e in client.webhook_endpoints.list()] == [second.id, first.id]
    assert [e.id for p in client.webhook_endpoints.list(limit=1).iter_pages() for e in p.data] == [
        second.id,
        first.id,
    ]
    assert client.webhook_endpoints.delete(first.id) is None
    assert [e.id for e in client.webhook_endpoints.list()] == [second.id]


def test_unknown_endpoint_ids_are_404(client: Any) -> None:
    calls: tuple[Callable[[], object], ...] = (
        lambda: client.webhook_endpoints.retrieve("nope"),
        lambda: client.webhook_endpoints.update("nope", url=HOOK),
        lambda: client.webhook_endpoints.delete("nope"),
        lambda: client.webhook_endpoints.enable("nope"),
        lambda: client.webhook_endpoints.disable("nope"),
    )
    for call in calls:
        with pytest.raises(orb.NotFoundError) as info:
            call()
        assert "WebhookEndpoint with identifier: nope" in error_body(info.value)["detail"]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://localhost/hooks", "scheme 'ftp'"),
        ("mailto:ops@acme.test", "scheme 'mailto'"),
        ("https://hooks.acme.test/orb", "host 'hooks.acme.test'"),
        ("http://192.168.1.20/orb", "not a loopback address"),
        ("http://localhost:70000/x", "not a valid URL"),
    ],
)
def test_bad_urls_are_400_and_change_nothing(client: Any, url: str, words: str) -> None:
    with pytest.raises(orb.BadRequestError) as info:
        client.webhook_endpoints.create(url=url)
    assert words in error_body(info.value)["detail"]
    assert client.webhook_endpoints.list().data == []
    kept = client.webhook_endpoints.create(url=HOOK)
    with pytest.raises(orb.BadRequestError):
        client.webhook_endpoints.update(kept.id, url=url)
    assert client.webhook_endpoints.retrieve(kept.id).url == HOOK


def test_other_bad_input_is_400(client: Any) -> None:
    with pytest.raises(orb.BadRequestError, match=r"'invoice\.exploded' is not a webhook event"):
        client.webhook_endpoints.create(url=HOOK, enabled_event_types=["invoice.exploded"])
    with pytest.raises(orb.BadRequestError, match="payload_style"):
        client.webhook_endpoints.create(url=HOOK, extra_body={"payload_style": "compact"})
    with pytest.raises(orb.BadRequestError, match="unknown field"):
        client.webhook_endpoints.create(url=HOOK, extra_body={"secret": "mine"})
    with pytest.raises(orb.BadRequestError, match="url is required"):
        client.post("/webhook_endpoints", cast_to=object, body={})
    kept = client.webhook_endpoints.create(url=HOOK)
    with pytest.raises(orb.BadRequestError, match="url: cannot be null"):
        client.webhook_endpoints.update(kept.id, url=None)


def test_more_than_20_endpoints_are_refused(client: Any) -> None:
    for n in range(20):
        client.webhook_endpoints.create(url=f"http://localhost/{n}")
    with pytest.raises(orb.BadRequestError) as info:
        client.webhook_endpoints.create(url="http://localhost/20")
    assert error_body(info.value)["type"].endswith("400-constraint-violation")
    assert "already has 20 webhook endpoints; at most 20" in error_body(info.value)["detail"]
    client.webhook_endpoints.delete(client.webhook_endpoints.list().data[0].id)
    client.webhook_endpoints.create(url="http://localhost/20")  # room again


def test_allowed_hosts_and_the_account_payload_style() -> None:
    sim = OrbSim(
        settings=Settings(
            webhook_allowed_hosts=frozenset({"Hooks.Acme.Test"}), webhook_payload_style="standard"
        ),
        clock=ManualClock(START),
    )
    client = sim.client(_strict_response_validation=True)
    made = client.webhook_endpoints.create(url="https://hooks.acme.test/orb")
    assert made.payload_style == "standard"
    with pytest.raises(orb.BadRequestError):
        client.webhook_endpoints.create(url="https://other.acme.test/orb")


# -- what happens, delivered -----------------------------------------------------------------------


def test_the_story_arrives_signed_in_order_at_the_simulated_moments(
    sim: OrbSim, client: Any, clock: ManualClock, endpoint: Any, inbox: Mount
) -> None:
    """START is 2024 and the real clock is years later: every delivery still verifies."""
    customer = client.customers.create(
        name="Acme", email="ops@acme.test", external_customer_id="acme"
    )
    client.customers.update(customer.id, email="billing@acme.test")
    plan = make_plan(client)
    subscription = client.subscriptions.create(
        customer_id=customer.id,
        plan_id=plan.id,
        start_date=START + timedelta(days=1),
        end_date=START + timedelta(days=20),
    )
    client.events.ingest(
        events=[
            event("k1", customer.id),
            {**event("k2", customer.id), "customer_id": None, "external_customer_id": "ghost"},
        ]
    )
    backfill = client.events.backfills.create(
        timeframe_start=START - timedelta(days=3), timeframe_end=START - timedelta(days=2)
    )
    client.events.backfills.close(backfill.id)
    client.events.backfills.fetch(backfill.id)  # the first poll sees it reflected
    client.events.backfills.revert(backfill.id)
    client.events.backfills.fetch(backfill.id)  # and reverted
    clock.advance(days=30)  # the subscription starts and ends meanwhile; seen at the next call
    sim.now()
    events = received(client, inbox, endpoint.secret)
    assert [e.type for e in events] == [
        "customer.created",
        "customer.edited",
        "subscription.created",
        "ingestion.unmatched_customer_ids",
        "backfill.reflected",
        "backfill.reverted",
        "subscription.started",
        "invoice.issued",
        "subscription.ended",
        "invoice.issued",
    ]
    created, edited, sub_created, unmatched, reflected, reverted, started, may, ended, june = events
    assert created.customer.id == customer.id and created.created_at == START
    assert edited.customer.email == "billing@acme.test"
    assert edited.properties.previous_attributes.email == "ops@acme.test"
    assert sub_created.subscription.id == subscription.id
    assert sub_created.subscription.status == "upcoming"
    assert unmatched.properties.external_customer_ids == ["ghost"]
    assert reflected.backfill.id == backfill.id and reflected.backfill.status == "reflected"
    assert reverted.backfill.status == "reverted"
    assert started.created_at == START + timedelta(days=1)
    assert started.subscription.status == "active"
    assert ended.created_at == START + timedelta(days=20)
    assert ended.subscription.status == "ended"
    # the plan bills a fixed fee only: each period's invoice issues at its end, no grace; the
    # last period ends with the subscription (ended first, then its last invoice)
    assert may.created_at == datetime(2024, 6, 1, tzinfo=UTC)
    assert june.created_at == ended.created_at == START + timedelta(days=20)
    assert may.invoice.subscription.id == june.invoice.subscription.id == subscription.id
    assert len({e.id for e in events}) == len(events)
    sim.webhooks.deliveries.assert_delivered("subscription.started", times=1)


def test_transitions_are_delivered_at_their_due_time_not_when_seen() -> None:
    clock = ManualClock(START)
    sim = OrbSim(settings=Settings(reflection_delay=timedelta(hours=2)), clock=clock)
    client = sim.client(_strict_response_validation=True)
    inbox = sim.webhooks.mount(HOOK)
    endpoint = client.webhook_endpoints.create(
        url=HOOK, enabled_event_types=["backfill.reflected", "subscription.started"]
    )
    customer = client.customers.create(name="A", email="a@a.test")
    plan = make_plan(client)
    client.subscriptions.create(
        customer_id=customer.id, plan_id=plan.id, start_date=START + timedelta(hours=3)
    )
    backfill = client.events.backfills.create(
        timeframe_start=START - timedelta(days=3), timeframe_end=START - timedelta(days=2)
    )
    client.events.backfills.close(backfill.id)
    assert inbox.requests == []  # reflection is never instant
    clock.advance(days=2)
    client.customers.fetch(customer.id)  # any call settles what came due
    first, second = received(client, inbox, endpoint.secret)
    assert (first.type, first.created_at) == ("backfill.reflected", START + timedelta(hours=2))
    assert (second.type, second.created_at) == ("subscription.started", START + timedelta(hours=3))


def test_reading_the_delivery_log_settles_first(
    sim: OrbSim, client: Any, clock: ManualClock, endpoint: Any
) -> None:
    customer = client.customers.create(name="A", email="a@a.test")
    plan = make_plan(client)
    client.subscriptions.create(
        customer_id=customer.id, plan_id=plan.id, start_date=START + timedelta(days=1)
    )
    clock.advance(days=2)
    sim.webhooks.deliveries.assert_delivered("subscription.started", times=1)


def test_standard_endpoints_get_standard_payloads(sim: OrbSim, client: Any, inbox: Mount) -> None:
    endpoint = client.webhook_endpoints.create(url=HOOK, payload_style="standard")
    customer = client.customers.create(name="A", email="a@a.test", external_customer_id="a")
    plan = make_plan(client, external_plan_id="p")
    client.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    requests = inbox.requests
    assert [r.json()["type"] for r in requests] == [
        "customer.created",
        "subscription.created",
        "subscription.started",
    ]
    for request in requests:
        parsed = client.webhooks.unwrap_standard(
            request.body, request.headers, secret=endpoint.secret
        )
        sdk_validate(UnwrapStandardWebhookEvent, request.json())
        assert parsed.payload_style == "standard"
    with pytest.raises(ValueError, match="payload_style 'standard'"):
        client.webhooks.unwrap(requests[0].body, requests[0].headers, secret=endpoint.secret)
    assert requests[1].json()["subscription"]["customer"] == {
        "id": customer.id,
        "external_customer_id": "a",
    }


def test_subscriptions_disabled_and_deleted_endpoints(sim: OrbSim, client: Any) -> None:
    only_edits = client.webhook_endpoints.create(
        url="http://localhost/edits", enabled_event_types=["customer.edited"]
    )
    paused = client.webhook_endpoints.create(url="http://localhost/paused")
    gone = client.webhook_endpoints.create(url="http://localhost/gone")
    edits = sim.webhooks.mount("http://localhost/edits")
    paused_inbox = sim.webhooks.mount("http://localhost/paused")
    gone_inbox = sim.webhooks.mount("http://localhost/gone")  # mounted before any event
    client.webhook_endpoints.disable(paused.id)
    client.webhook_endpoints.delete(gone.id)
    customer = client.customers.create(name="A", email="a@a.test")
    client.customers.update(customer.id, name="B")
    assert [r.json()["type"] for r in edits.requests] == ["customer.edited"]
    assert paused_inbox.requests == [] and gone_inbox.requests == []
    client.webhook_endpoints.enable(paused.id)
    client.customers.update(customer.id, name="C")
    assert [r.json()["type"] for r in paused_inbox.requests] == ["customer.edited"]
    assert only_edits.id in {d.endpoint_id for d in sim.webhooks.deliveries}


def test_an_edit_that_changes_nothing_is_not_announced(
    sim: OrbSim, client: Any, endpoint: Any, inbox: Mount
) -> None:
    customer = client.customers.create(name="A", email="a@a.test")
    client.customers.update(customer.id, name="A")
    assert [r.json()["type"] for r in inbox.requests] == ["customer.created"]


def test_unmatched_aliases_once_per_batch_and_never_for_held_ones(
    sim: OrbSim, client: Any, endpoint: Any, inbox: Mount
) -> None:
    client.customers.create(name="A", email="a@a.test", external_customer_id="known")

    def by_alias(key: str, alias: str) -> dict[str, Any]:
        return {**event(key, "x"), "customer_id": None, "external_customer_id": alias}

    client.events.ingest(
        events=[
            by_alias("1", "ghost"),
            by_alias("2", "known"),
            by_alias("3", "ghost"),
            by_alias("4", "phantom"),
        ]
    )
    client.events.ingest(events=[by_alias("1", "ghost")])  # a duplicate: nothing new accepted
    client.events.ingest(events=[by_alias("5", "known")])
    unmatched = [r.json() for r in inbox.requests if r.json()["type"].startswith("ingestion")]
    assert [u["properties"]["external_customer_ids"] for u in unmatched] == [["ghost", "phantom"]]


def test_a_raising_receiver_or_a_failing_url_never_breaks_the_request(
    sim: OrbSim, client: Any
) -> None:
    def raises(request: WebhookRequest) -> None:
        raise RuntimeError("receiver bug")

    sim.webhooks.mount("http://localhost/raises", raises)
    sim.webhooks.mount("http://localhost/answers-500", lambda request: 500)
    client.webhook_endpoints.create(url="http://localhost/raises")
    client.webhook_endpoints.create(url="http://localhost/answers-500")
    customer = client.customers.create(name="A", email="a@a.test")  # does not raise
    assert client.customers.fetch(customer.id).name == "A"
    failed = sim.webhooks.deliveries.filter(status="failed")
    assert len(failed) == 2 and all(len(d.attempts) == 4 for d in failed)


def test_receivers_may_call_back_into_the_simulator(
    sim: OrbSim, client: Any, endpoint: Any
) -> None:
    """A receiver that reads the customer a webhook names (a common handler) sees it."""
    seen: list[str] = []

    def handler(request: WebhookRequest) -> None:
        payload = unwrap(client, request, endpoint.secret)
        if payload.type == "customer.created":
            seen.append(client.customers.fetch(payload.customer.id).name)
            client.customers.update(payload.customer.id, name="Renamed by the handler")

    sim.webhooks.mount(HOOK, handler)
    client.customers.create(name="A", email="a@a.test")
    assert seen == ["A"]
    assert sim.webhooks.deliveries.types() == ["customer.created", "customer.edited"]


def test_send_test_and_redeliver(sim: OrbSim, client: Any, endpoint: Any, inbox: Mount) -> None:
    other_inbox = sim.webhooks.mount("http://localhost/other")
    other = client.webhook_endpoints.create(
        url="http://localhost/other", enabled_event_types=["customer.created"]
    )
    (delivery,) = sim.webhooks.send_test(message="hello")  # only endpoints taking the type
    assert delivery.endpoint_id == endpoint.id
    (direct,) = sim.webhooks.send_test(other.id)  # one endpoint, whatever types it takes
    assert direct.endpoint_id == other.id
    parsed = unwrap(client, other_inbox.requests[0], other.secret)
    assert parsed.type == "resource_event.test" and parsed.properties.message is None
    assert unwrap(client, inbox.requests[0], endpoint.secret).properties.message == "hello"
    again = sim.webhooks.redeliver(delivery.id)
    assert again.redelivery_of == delivery.id
    assert [r.json()["id"] for r in inbox.requests] == [delivery.event_id, delivery.event_id]
    client.webhook_endpoints.disable(other.id)
    with pytest.raises(Exception, match="is disabled"):
        sim.webhooks.send_test(other.id)


def test_snapshots_and_state_files_keep_endpoints_and_schedules(
    sim: OrbSim, client: Any, clock: ManualClock, endpoint: Any, tmp_path: Any
) -> None:
    customer = client.customers.create(name="A", email="a@a.test")
    plan = make_plan(client)
    client.subscriptions.create(
        customer_id=customer.id, plan_id=plan.id, start_date=START + timedelta(days=1)
    )
    snapshot = sim.snapshot()
    client.webhook_endpoints.delete(endpoint.id)
    sim.restore(snapshot)
    assert client.webhook_endpoints.retrieve(endpoint.id).url == HOOK
    sim.dump(tmp_path / "state.json")
    loaded = OrbSim.load(tmp_path / "state.json")
    assert isinstance(loaded.clock, ManualClock)
    inbox = loaded.webhooks.mount(HOOK)
    assert isinstance(loaded.clock, ManualClock)
    loaded.clock.advance(days=2)
    loaded.now()
    (started,) = [r for r in inbox.requests if r.json()["type"] == "subscription.started"]
    lclient = loaded.client(_strict_response_validation=True)
    assert unwrap(lclient, started, endpoint.secret).created_at == START + timedelta(days=1)


@pytest.mark.asyncio
async def test_the_async_client_sees_the_same(sim: OrbSim, inbox: Mount) -> None:
    client = sim.async_client(_strict_response_validation=True)
    endpoint = await client.webhook_endpoints.create(url=HOOK)
    await client.customers.create(name="A", email="a@a.test")
    parsed = client.webhooks.unwrap(
        inbox.requests[0].body, inbox.requests[0].headers, secret=endpoint.secret
    )
    assert parsed.type == "customer.created"
    await client.close()


def test_nothing_starts_for_a_deleted_customer(
    sim: OrbSim, client: Any, clock: ManualClock, endpoint: Any, inbox: Mount
) -> None:
    customer = client.customers.create(name="A", email="a@a.test")
    plan = make_plan(client)
    client.subscriptions.create(
        customer_id=customer.id, plan_id=plan.id, start_date=START + timedelta(days=1)
    )
    client.customers.delete(customer.id)
    clock.advance(days=2)
    sim.webhooks.deliveries.assert_not_delivered("subscription.started")
    assert [r.json()["type"] for r in inbox.requests] == [
        "customer.created",
        "subscription.created",
    ]


def test_an_endpoint_created_after_the_moment_does_not_get_the_event() -> None:
    """The reflection happened (on the clock) before endpoint B existed, even though nothing
    observed it until B's create call: only A, subscribed then, is told."""
    clock = ManualClock(START)
    sim = OrbSim(settings=Settings(reflection_delay=timedelta(hours=1)), clock=clock)
    client = sim.client(_strict_response_validation=True)
    a_inbox = sim.webhooks.mount("http://localhost/a")
    b_inbox = sim.webhooks.mount("http://localhost/b")
    client.webhook_endpoints.create(url="http://localhost/a")
    backfill = client.events.backfills.create(
        timeframe_start=START - timedelta(days=3), timeframe_end=START - timedelta(days=2)
    )
    client.events.backfills.close(backfill.id)
    clock.advance(hours=2)
    client.webhook_endpoints.create(url="http://localhost/b")
    assert [r.json()["type"] for r in a_inbox.requests] == ["backfill.reflected"]
    assert b_inbox.requests == []


def test_endpoint_errors_reach_on_error_listeners(sim: OrbSim) -> None:
    heard: list[str] = []
    sim.on_error(lambda error: heard.append(type(error).__name__))
    with pytest.raises(Exception, match="WebhookEndpoint"):
        sim.webhook_endpoints.retrieve("nope")
    with pytest.raises(Exception, match="loopback"):
        sim.webhook_endpoints.create(url="https://hooks.acme.test/x")
    assert heard == ["ResourceNotFound", "RequestValidationError"]
