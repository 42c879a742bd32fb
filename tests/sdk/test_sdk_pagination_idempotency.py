"""SDK auto-pagination over orbsim's cursors, and ``Idempotency-Key`` replay as the SDK sees it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orb
import pytest

from helpers.sdk import START, CountingTransport
from orbsim import ManualClock, OrbSim


def test_customers_pages_are_walked_newest_first(
    client: Any, clock: ManualClock, counting: CountingTransport
) -> None:
    created = []
    for i in range(5):
        created.append(client.customers.create(name=f"C{i}", email=f"c{i}@x.test").id)
        clock.advance(seconds=1)
    before = len(counting.requests)
    seen = [c.id for c in client.customers.list(limit=2)]
    assert seen == created[::-1]
    assert len(counting.requests) - before == 3  # pages of 2, 2, 1; the last has no cursor
    queries = [r.url.params for r in counting.requests[before:]]
    assert all(q["limit"] == "2" for q in queries)
    assert "cursor" not in queries[0] and "cursor" in queries[1]


def test_backfill_pages_are_walked(client: Any) -> None:
    ids = []
    for i in range(5):
        start = START - timedelta(days=10 - i)
        window: dict[str, Any] = {
            "timeframe_start": start,
            "timeframe_end": start + timedelta(days=1),
        }
        ids.append(client.events.backfills.create(**window).id)
    assert [b.id for b in client.events.backfills.list(limit=2)] == ids[::-1]
    first = client.events.backfills.list(limit=2)
    assert first.has_next_page()
    assert first.pagination_metadata.has_more is True


def test_subscriptions_filtered_by_several_customers(client: Any) -> None:
    plan = client.plans.create(name="P", currency="USD", prices=[])
    customers = [client.customers.create(name=n, email=f"{n}@x.test") for n in "abc"]
    subs = {
        c.id: client.subscriptions.create(customer_id=c.id, plan_id=plan.id).id for c in customers
    }
    a, b, _ = customers
    found = client.subscriptions.list(customer_id=[a.id, b.id])
    assert sorted(s.id for s in found) == sorted([subs[a.id], subs[b.id]])
    assert {s.customer.id for s in found} == {a.id, b.id}


def test_same_key_and_body_replays(client: Any, sim: OrbSim) -> None:
    raw = client.customers.with_raw_response.create(
        name="Acme", email="a@acme.test", idempotency_key="create-acme"
    )
    again = client.customers.with_raw_response.create(
        name="Acme", email="a@acme.test", idempotency_key="create-acme"
    )
    assert raw.status_code == again.status_code == 201
    assert raw.headers.get("Idempotent-Replayed") is None
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Idempotency-Key"] == "create-acme"
    assert raw.parse().id == again.parse().id
    assert len(sim.customers.list().data) == 1


def test_same_key_different_body_is_a_conflict(client: Any, counting: CountingTransport) -> None:
    client.customers.create(name="Acme", email="a@acme.test", idempotency_key="k")
    before = len(counting.requests)
    with pytest.raises(orb.ResourceConflict):
        client.customers.create(name="Other", email="o@acme.test", idempotency_key="k")
    assert len(counting.requests) == before + 1


def test_keys_expire_after_48_hours(client: Any, clock: ManualClock, sim: OrbSim) -> None:
    first = client.customers.create(name="A", email="a@x.test", idempotency_key="k")
    clock.advance(hours=47)
    assert client.customers.create(name="A", email="a@x.test", idempotency_key="k").id == first.id
    clock.advance(hours=1)
    assert client.customers.create(name="A", email="a@x.test", idempotency_key="k").id != first.id
    assert len(sim.customers.list().data) == 2


class LoseFirstResponse(httpx.BaseTransport):
    """The simulator commits, then the connection drops before the answer arrives."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.keys: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.keys.append(request.headers.get("Idempotency-Key"))
        response = self.inner.handle_request(request)
        if len(self.keys) == 1:
            raise httpx.ReadError("connection reset", request=request)
        return response


def test_sdk_retry_after_a_lost_response_does_not_duplicate(
    sim: OrbSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    lossy = LoseFirstResponse(sim.transport())
    client = sim.client(_strict_response_validation=True, http_client=httpx.Client(transport=lossy))
    monkeypatch.setattr(client, "_calculate_retry_timeout", lambda *args, **kwargs: 0)
    window: dict[str, Any] = {
        "timeframe_start": START - timedelta(days=3),
        "timeframe_end": START - timedelta(days=2),
    }
    backfill = client.events.backfills.create(**window)
    assert len(lossy.keys) == 2 and lossy.keys[0] == lossy.keys[1] is not None
    assert [b.id for b in sim.events.backfills.list().data] == [backfill.id]
