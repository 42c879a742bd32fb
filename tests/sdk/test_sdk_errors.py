"""Every error type end to end: the SDK raises its own exception for each Orb problem body, and
deterministic errors are never retried."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orb
import pytest

from helpers.sdk import START, CountingTransport, event
from orbsim import ManualClock, OrbSim, Settings


def make_client(sim: OrbSim, **kw: Any) -> tuple[Any, CountingTransport]:
    counting = CountingTransport(sim.transport())
    client = sim.client(
        _strict_response_validation=True, http_client=httpx.Client(transport=counting), **kw
    )
    return client, counting


def test_constraint_violation(client: Any, counting: CountingTransport) -> None:
    backfill = client.events.backfills.create(
        timeframe_start=START - timedelta(days=3), timeframe_end=START - timedelta(days=2)
    )
    client.events.backfills.revert(backfill.id)
    with pytest.raises(orb.ConstraintViolation) as caught:
        client.events.backfills.close(backfill.id)
    assert caught.value.status_code == 400
    assert "reverted" in str(caught.value.detail)
    assert len(counting.requests) == 3


def test_duplicate_resource_creation(client: Any, customer: Any) -> None:
    with pytest.raises(orb.DuplicateResourceCreation) as caught:
        client.customers.create(name="Other", email="o@x.test", external_customer_id="acme")
    assert caught.value.status_code == 400
    assert customer.id in str(caught.value.detail)


def test_request_validation_error_on_ingest(client: Any, customer: Any, sim: OrbSim) -> None:
    events = [
        event("good", customer.id),
        {**event("bad", customer.id), "timestamp": "yesterday", "colour": "red"},
    ]
    with pytest.raises(orb.RequestValidationError) as caught:
        client.events.ingest(events=events)
    error = caught.value
    assert error.status_code == 400
    assert error.validation_errors and all(isinstance(m, str) for m in error.validation_errors)
    assert isinstance(error.body, dict)
    failed = error.body["validation_failed"]
    assert [f["idempotency_key"] for f in failed] == ["bad"]
    assert len(failed[0]["validation_errors"]) == 2
    assert sim.billable_events() == []  # the batch is atomic


def test_request_validation_error_on_create(client: Any) -> None:
    with pytest.raises(orb.RequestValidationError) as caught:
        client.customers.create(name="", email="not-an-email")
    messages = caught.value.validation_errors
    assert any(isinstance(m, str) and m.startswith("name") for m in messages)
    assert any(isinstance(m, str) and m.startswith("email") for m in messages)


def test_authentication_error_is_not_retried() -> None:
    sim = OrbSim(settings=Settings(api_keys=frozenset({"good-key"})))
    client, counting = make_client(sim, api_key="wrong-key")
    with pytest.raises(orb.OrbAuthenticationError) as caught:
        client.top_level.ping()
    assert caught.value.status_code == 401
    assert len(counting.requests) == 1
    good, _ = make_client(sim, api_key="good-key")
    assert good.top_level.ping().response == "pong"


def test_resource_not_found(client: Any) -> None:
    with pytest.raises(orb.ResourceNotFound) as caught:
        client.customers.fetch("cus_missing")
    assert caught.value.status_code == 404
    assert caught.value.title
    with pytest.raises(orb.ResourceNotFound):
        client.events.backfills.fetch("bf_missing")
    with pytest.raises(orb.ResourceNotFound):
        client.events.deprecate("evt_missing")


def test_url_not_found(client: Any, sim: OrbSim) -> None:
    with pytest.raises(orb.URLNotFound) as caught:
        client.get("/nope", cast_to=object)
    assert caught.value.status_code == 404
    with httpx.Client(transport=sim.transport()) as http:
        response = http.patch(
            "http://orbsim.test/v1/customers", headers={"Authorization": "Bearer k"}
        )
    assert response.status_code == 405  # a served path, another method
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["type"].endswith("#404-url-not-found")


def test_resource_conflict_on_overlapping_backfills_is_not_retried(
    client: Any, counting: CountingTransport
) -> None:
    window: dict[str, Any] = {
        "timeframe_start": START - timedelta(days=5),
        "timeframe_end": START - timedelta(days=4),
    }
    client.events.backfills.create(**window)
    before = len(counting.requests)
    with pytest.raises(orb.ResourceConflict) as caught:
        client.events.backfills.create(**window)
    assert caught.value.status_code == 409
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(counting.requests) == before + 1  # exactly one request: no retries


def test_request_too_large() -> None:
    sim = OrbSim(settings=Settings(max_request_bytes=200), clock=ManualClock(START))
    client, counting = make_client(sim)
    with pytest.raises(orb.RequestTooLarge) as caught:
        client.customers.create(name="x" * 300, email="a@b.test")
    assert caught.value.status_code == 413
    assert len(counting.requests) == 1


def test_request_too_large_for_too_many_events() -> None:
    sim = OrbSim(settings=Settings(max_events_per_request=1), clock=ManualClock(START))
    client, _ = make_client(sim)
    customer = client.customers.create(name="A", email="a@b.test")
    with pytest.raises(orb.RequestTooLarge):
        client.events.ingest(events=[event("a", customer.id), event("b", customer.id)])


def test_too_many_requests_on_amend_quota_is_not_retried() -> None:
    sim = OrbSim(settings=Settings(amend_limit=1), clock=ManualClock(START))
    client, counting = make_client(sim)
    customer = client.customers.create(name="A", email="a@b.test")
    plan = client.plans.create(name="P", currency="USD", prices=[])
    client.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    client.events.ingest(events=[event("e1", customer.id)])
    amend = {"event_name": "api_call", "timestamp": START, "properties": {"n": 2}}
    client.events.update("e1", customer_id=customer.id, **amend)
    before = len(counting.requests)
    with pytest.raises(orb.TooManyRequests) as caught:
        client.events.update("e1", customer_id=customer.id, **amend)
    assert caught.value.status_code == 429
    assert len(counting.requests) == before + 1


def test_internal_server_error(sim: OrbSim, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal detail")

    monkeypatch.setattr(type(sim.customers), "fetch", boom)
    client, counting = make_client(sim, max_retries=0)
    with pytest.raises(orb.OrbInternalServerError) as caught:
        client.customers.fetch("anything")
    assert caught.value.status_code == 500
    assert "internal detail" not in caught.value.response.text
    assert len(counting.requests) == 1
