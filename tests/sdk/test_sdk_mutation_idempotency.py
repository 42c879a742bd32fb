"""``Idempotency-Key`` on every mutating method (PUT and DELETE too), as both official SDKs send
one on each non-GET request and reuse it on retries: a lost answer retried never applies twice."""

from __future__ import annotations

from typing import Any

from helpers.sdk import START, event
from orbsim import ManualClock, OrbSim, Settings


def test_an_amendment_whose_answer_was_lost_is_stored_once(
    sim: OrbSim, client: Any, subscribed: Any
) -> None:
    client.events.ingest(events=[event("evt-1", subscribed.id)])
    sim.faults.add("lost_response", method="PUT", path="/events/evt-1")
    client.events.update(
        "evt-1",
        event_name="api_call",
        timestamp=START,
        properties={"n": 2},
        customer_id=subscribed.id,
    )
    versions = sim.event_versions("evt-1")
    assert [v.properties for v in versions] == [{"n": 1}, {"n": 2}]  # the retry was a replay
    put = sim.requests.filter("PUT", "/events/evt-1")
    assert [r.status for r in put] == [200, 200]
    assert put[1].response_headers.get("idempotent-replayed") == "true"


def test_a_retried_amendment_uses_one_quota_slot() -> None:
    sim = OrbSim(settings=Settings(amend_limit=1), clock=ManualClock(START))
    client = sim.client(_strict_response_validation=True)
    customer = client.customers.create(name="A", email="a@example.com")
    plan = client.plans.create(name="p", currency="USD", prices=[])
    client.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    client.events.ingest(events=[event("evt-1", customer.id)])
    sim.faults.add("lost_response", method="PUT", path="/events/evt-1")
    amended = client.events.update(
        "evt-1",
        event_name="api_call",
        timestamp=START,
        properties={"n": 2},
        customer_id=customer.id,
    )
    assert amended.amended == "evt-1"  # not TooManyRequests: the retry used no second slot


def test_a_retried_delete_replays_its_204(sim: OrbSim, client: Any, customer: Any) -> None:
    sim.faults.add("lost_response", method="DELETE", path=f"/customers/{customer.id}")
    client.customers.delete(customer.id)  # the retry answers 204 again, not 404
    deletes = sim.requests.filter("DELETE", f"/customers/{customer.id}")
    assert [r.status for r in deletes] == [204, 204]


def test_the_same_key_with_another_put_body_is_a_conflict(
    sim: OrbSim, client: Any, subscribed: Any
) -> None:
    import orb

    client.events.ingest(events=[event("evt-1", subscribed.id), event("evt-2", subscribed.id)])
    common: dict[str, Any] = {
        "event_name": "api_call",
        "timestamp": START,
        "customer_id": subscribed.id,
        "idempotency_key": "amend-once",
    }
    client.events.update("evt-1", properties={"n": 5}, **common)
    try:
        client.with_options(max_retries=0).events.update("evt-1", properties={"n": 6}, **common)
    except orb.ResourceConflict:
        pass
    else:  # pragma: no cover - the assertion below explains
        raise AssertionError("a reused Idempotency-Key with another body must be refused")
    assert [v.properties for v in sim.event_versions("evt-1")] == [{"n": 1}, {"n": 5}]
