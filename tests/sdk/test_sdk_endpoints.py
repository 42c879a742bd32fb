"""Every endpoint through the official sync SDK, with strict response validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orb
import pytest

from helpers.sdk import START, CountingTransport, event, unit_price
from orbsim import ManualClock, OrbSim


def test_ping(client: Any) -> None:
    assert client.top_level.ping().response == "pong"


def test_customers_crud(client: Any, sim: OrbSim) -> None:
    created = client.customers.create(
        name="Acme",
        email="ops@acme.test",
        external_customer_id="acme/eu",
        timezone="Europe/Paris",
        metadata={"tier": "gold"},
        billing_address={"city": "Paris", "country": "FR"},
    )
    assert created.external_customer_id == "acme/eu"
    assert created.timezone == "Europe/Paris"
    assert created.billing_address is not None and created.billing_address.city == "Paris"
    assert client.customers.fetch(created.id) == created
    assert client.customers.fetch_by_external_id("acme/eu").id == created.id

    updated = client.customers.update(created.id, name="Acme SAS", metadata={"tier": None})
    assert updated.name == "Acme SAS"
    assert updated.metadata == {}
    by_alias = client.customers.update_by_external_id("acme/eu", email="billing@acme.test")
    assert by_alias.email == "billing@acme.test"
    assert sim.customers.fetch(created.id).email == "billing@acme.test"

    assert client.customers.delete(created.id) is None
    assert sim.customers.list().data == []


def test_customers_list_filters(client: Any, clock: ManualClock) -> None:
    first = client.customers.create(name="A", email="a@x.test")
    clock.advance(hours=1)
    second = client.customers.create(name="B", email="b@x.test")
    everyone = client.customers.list()
    assert [c.id for c in everyone.data] == [second.id, first.id]
    recent = client.customers.list(created_at_gte=START + timedelta(minutes=30))
    assert [c.id for c in recent.data] == [second.id]
    older = client.customers.list(created_at_lt=START + timedelta(minutes=30))
    assert [c.id for c in older.data] == [first.id]


def test_plans(client: Any) -> None:
    plan = client.plans.create(
        name="Pro",
        currency="EUR",
        external_plan_id="pro",
        net_terms=30,
        default_invoice_memo="thanks",
        metadata={"k": "v"},
        prices=[{"price": unit_price(client, "annual")}],
    )
    assert plan.invoicing_currency == "EUR"
    assert plan.net_terms == 30
    assert plan.default_invoice_memo == "thanks"
    assert plan.model_extra == {"billing_cadence": "annual"}
    assert client.plans.fetch(plan.id) == plan
    assert client.plans.external_plan_id.fetch("pro") == plan
    assert [p.id for p in client.plans.list()] == [plan.id]


def test_plans_update_the_fields_orb_lets_you_edit(client: Any, customer: Any) -> None:
    plan = client.plans.create(
        name="Pro", currency="USD", external_plan_id="pro", metadata={"a": "1", "b": "2"}, prices=[]
    )
    updated = client.plans.update(
        plan.id, name="Pro 2", description="the better one", metadata={"a": None, "c": "3"}
    )
    assert (updated.name, updated.description) == ("Pro 2", "the better one")
    assert updated.metadata == {"b": "2", "c": "3"}  # null removes a key, others merge
    assert updated.currency == "USD" and updated.created_at == plan.created_at
    renamed = client.plans.external_plan_id.update("pro", external_plan_id="pro-2024")
    assert renamed.external_plan_id == "pro-2024"
    assert client.plans.external_plan_id.fetch("pro-2024") == renamed
    with pytest.raises(orb.NotFoundError):
        client.plans.external_plan_id.fetch("pro")
    subscription = client.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    assert client.subscriptions.fetch(subscription.id).plan.name == "Pro 2"


def test_plan_updates_that_orb_refuses(client: Any) -> None:
    first = client.plans.create(name="A", currency="USD", external_plan_id="a", prices=[])
    client.plans.create(name="B", currency="USD", external_plan_id="b", prices=[])
    with pytest.raises(orb.BadRequestError, match="already belongs to plan"):
        client.plans.update(first.id, external_plan_id="b")
    with pytest.raises(orb.BadRequestError, match="name"):
        client.plans.update(first.id, name="")
    with pytest.raises(orb.BadRequestError, match="currency"):
        client.plans.update(first.id, extra_body={"currency": "EUR"})  # immutable
    with pytest.raises(orb.NotFoundError):
        client.plans.update("no-such-plan", name="x")
    assert client.plans.fetch(first.id) == first  # nothing changed


def test_subscriptions_update_metadata_and_invoicing_fields(client: Any, customer: Any) -> None:
    plan = client.plans.create(name="Usage", currency="USD", prices=[])
    created = client.subscriptions.create(
        customer_id=customer.id, plan_id=plan.id, metadata={"team": "a"}, net_terms=15
    )
    updated = client.subscriptions.update(
        created.id,
        metadata={"team": "b", "cost_center": "7"},
        net_terms=30,
        auto_collection=False,
        auto_issuance=True,
        default_invoice_memo="thanks",
        invoicing_threshold=None,  # what orbsim does: no threshold (a value is refused)
    )
    assert updated.metadata == {"team": "b", "cost_center": "7"}
    assert (updated.net_terms, updated.auto_collection, updated.auto_issuance) == (30, False, True)
    assert (updated.default_invoice_memo, updated.invoicing_threshold) == ("thanks", None)
    assert client.subscriptions.fetch(created.id) == updated
    cleared = client.subscriptions.update(created.id, metadata=None, net_terms=None)
    assert cleared.metadata == {} and cleared.net_terms == 0
    with pytest.raises(orb.BadRequestError, match="net_terms"):
        client.subscriptions.update(created.id, net_terms=-1)
    with pytest.raises(orb.BadRequestError, match="plan_id"):
        client.subscriptions.update(created.id, extra_body={"plan_id": plan.id})  # not editable
    with pytest.raises(orb.NotFoundError):
        client.subscriptions.update("no-such-subscription", metadata={})


def test_subscriptions(client: Any, customer: Any) -> None:
    plan = client.plans.create(name="Usage", currency="USD", prices=[])
    created = client.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    assert created.status == "active"
    assert created.customer.id == customer.id
    assert created.current_billing_period_start_date == START.replace(hour=0)
    assert created.current_billing_period_end_date == START.replace(month=6, day=1, hour=0)
    fetched = client.subscriptions.fetch(created.id)
    assert fetched.id == created.id
    by_alias = client.subscriptions.create(external_customer_id="acme", plan_id=plan.id)
    listed = client.subscriptions.list(plan_id=plan.id, status="active")
    assert [s.id for s in listed] == [by_alias.id, created.id]


def test_ingest_search_amend_deprecate_volume(client: Any, subscribed: Any, sim: OrbSim) -> None:
    cid = subscribed.id
    early = START - timedelta(hours=1)
    result = client.events.ingest(
        events=[event("e1", cid, early, n=1), event("e2", cid, early, n=2)],
        extra_query={"debug": "true"},
    )
    assert result.validation_failed == []
    found = client.events.search(event_ids=["e1", "e2"])
    assert sorted(e.id for e in found.data) == ["e1", "e2"]
    assert all(e.customer_id == cid and e.external_customer_id == "acme" for e in found.data)

    amended = client.events.update(
        "e1", event_name="api_call", timestamp=early, properties={"n": 10}, customer_id=cid
    )
    assert amended.amended == "e1"
    assert client.events.deprecate("e2").deprecated == "e2"
    assert [(e.id, e.properties) for e in sim.billable_events(customer_id=cid)] == [
        ("e1", {"n": 10})
    ]

    volume = client.events.volume.list(timeframe_start=START - timedelta(days=1))
    assert [(v.timeframe_start, v.count) for v in volume.data] == [(early, 2)]  # both ingested


def test_backfill_lifecycle(client: Any, subscribed: Any, sim: OrbSim) -> None:
    start = START - timedelta(days=5)
    backfill = client.events.backfills.create(
        timeframe_start=start, timeframe_end=start + timedelta(days=1), customer_id=subscribed.id
    )
    assert backfill.status == "pending"
    assert backfill.customer_id == subscribed.id
    ingest = client.events.ingest(
        events=[event("old-1", subscribed.id, start + timedelta(hours=2))], backfill_id=backfill.id
    )
    assert ingest.validation_failed == []
    assert client.events.backfills.fetch(backfill.id).events_ingested == 1
    listed = client.events.backfills.list(customer_id=subscribed.id, status="pending")
    assert [b.id for b in listed] == [backfill.id]

    closed = client.events.backfills.close(backfill.id)
    assert closed.status == "pending"  # reflection is asynchronous, as in Orb
    assert client.events.backfills.fetch(backfill.id).status == "reflected"  # the first poll
    assert [e.id for e in sim.billable_events(customer_id=subscribed.id)] == ["old-1"]
    reverting = client.events.backfills.revert(backfill.id)
    assert reverting.status == "pending_revert"
    reverted = client.events.backfills.fetch(backfill.id)
    assert reverted.status == "reverted"
    assert reverted.reverted_at == START
    assert sim.billable_events(customer_id=subscribed.id) == []


def test_path_ids_are_percent_encoded_by_the_sdk(client: Any, counting: CountingTransport) -> None:
    created = client.customers.create(name="Slash", email="s@x.test", external_customer_id="a/b?c")
    assert client.customers.fetch_by_external_id("a/b?c").id == created.id
    assert counting.requests[-1].url.raw_path == b"/v1/customers/external_customer_id/a%2Fb%3Fc"


def test_transport_works_with_a_plain_httpx_client(sim: OrbSim) -> None:
    with httpx.Client(transport=sim.transport(), base_url="http://orbsim.test") as http:
        response = http.get("/v1/ping", headers={"Authorization": "Bearer k"})
    assert response.status_code == 200
    assert response.json() == {"response": "pong"}


def test_client_defaults(sim: OrbSim) -> None:
    client = sim.client()
    assert client.api_key == "test-key"
    assert str(client.base_url) == "http://orbsim.test/v1/"
    assert client.with_options(max_retries=0).top_level.ping().response == "pong"


def test_streaming_and_raw_responses(client: Any) -> None:
    with client.customers.with_streaming_response.create(name="S", email="s@x.test") as response:
        assert response.status_code == 201
        assert response.headers["content-type"] == "application/json"
        assert int(response.headers["content-length"]) == len(response.read())
        assert response.parse().name == "S"
    raw = client.top_level.with_raw_response.ping()
    assert raw.http_response.json() == {"response": "pong"}
    assert raw.http_response.content == b'{"response":"pong"}'
    assert b"".join(raw.http_response.iter_bytes(chunk_size=3)) == b'{"response":"pong"}'
