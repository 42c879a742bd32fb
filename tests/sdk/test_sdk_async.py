"""The official async SDK (``orb.AsyncOrb``) on ``sim.async_transport()``, strictly validated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import orb
import pytest
import pytest_asyncio

from helpers.sdk import START, event
from orbsim import ManualClock, OrbSim, Settings


class AsyncCounting(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
def acounting(sim: OrbSim) -> AsyncCounting:
    return AsyncCounting(sim.async_transport())


@pytest_asyncio.fixture
async def aclient(sim: OrbSim, acounting: AsyncCounting) -> AsyncIterator[Any]:
    async with sim.async_client(
        _strict_response_validation=True, http_client=httpx.AsyncClient(transport=acounting)
    ) as c:
        yield c


@pytest.mark.asyncio
async def test_every_endpoint(aclient: Any, sim: OrbSim, clock: ManualClock) -> None:
    assert (await aclient.top_level.ping()).response == "pong"

    customer = await aclient.customers.create(name="A", email="a@x.test", external_customer_id="a")
    assert (await aclient.customers.fetch(customer.id)).id == customer.id
    assert (await aclient.customers.fetch_by_external_id("a")).id == customer.id
    assert (await aclient.customers.update(customer.id, name="A2")).name == "A2"
    assert (await aclient.customers.update_by_external_id("a", name="A3")).name == "A3"
    assert [c.id async for c in aclient.customers.list()] == [customer.id]

    plan = await aclient.plans.create(name="P", currency="USD", external_plan_id="p", prices=[])
    assert (await aclient.plans.fetch(plan.id)).id == plan.id
    assert (await aclient.plans.external_plan_id.fetch("p")).id == plan.id
    assert [p.id async for p in aclient.plans.list()] == [plan.id]

    sub = await aclient.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    assert (await aclient.subscriptions.fetch(sub.id)).id == sub.id
    subs = aclient.subscriptions.list(customer_id=[customer.id], external_customer_id=["a"])
    assert [s.id async for s in subs] == [sub.id]

    early = START - timedelta(hours=1)
    ingested = await aclient.events.ingest(events=[event("e1", customer.id, early)])
    assert ingested.validation_failed == []
    assert [e.id for e in (await aclient.events.search(event_ids=["e1"])).data] == ["e1"]
    amended = await aclient.events.update(
        "e1", event_name="x", timestamp=early, properties={}, external_customer_id="a"
    )
    assert amended.amended == "e1"
    volume = await aclient.events.volume.list(timeframe_start=START - timedelta(days=1))
    assert [v.count for v in volume.data] == [1]
    assert (await aclient.events.deprecate("e1")).deprecated == "e1"

    window: dict[str, Any] = {
        "timeframe_start": START - timedelta(days=3),
        "timeframe_end": START - timedelta(days=2),
    }
    backfill = await aclient.events.backfills.create(**window, customer_id=customer.id)
    assert (await aclient.events.backfills.fetch(backfill.id)).status == "pending"
    assert [b.id async for b in aclient.events.backfills.list(status="pending")] == [backfill.id]
    assert (await aclient.events.backfills.close(backfill.id)).status == "pending"
    assert (await aclient.events.backfills.fetch(backfill.id)).status == "reflected"
    assert (await aclient.events.backfills.revert(backfill.id)).status == "pending_revert"
    assert (await aclient.events.backfills.fetch(backfill.id)).status == "reverted"

    assert await aclient.customers.delete(customer.id) is None
    assert sim.customers.list().data == []


@pytest.mark.asyncio
async def test_errors(aclient: Any, acounting: AsyncCounting) -> None:
    with pytest.raises(orb.ResourceNotFound):
        await aclient.customers.fetch("nope")
    with pytest.raises(orb.URLNotFound):
        await aclient.get("/nope", cast_to=object)
    with pytest.raises(orb.RequestValidationError) as caught:
        await aclient.events.ingest(events=[{"event_name": "x"}])
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["validation_failed"][0]["idempotency_key"] == "events[0]"
    window: dict[str, Any] = {
        "timeframe_start": START - timedelta(days=3),
        "timeframe_end": START - timedelta(days=2),
    }
    await aclient.events.backfills.create(**window)
    before = len(acounting.requests)
    with pytest.raises(orb.ResourceConflict):
        await aclient.events.backfills.create(**window)
    assert len(acounting.requests) == before + 1
    await aclient.customers.create(name="A", email="a@x.test", external_customer_id="dup")
    with pytest.raises(orb.DuplicateResourceCreation):
        await aclient.customers.create(name="B", email="b@x.test", external_customer_id="dup")


@pytest.mark.asyncio
async def test_authentication_error() -> None:
    sim = OrbSim(settings=Settings(api_keys=frozenset({"right"})))
    async with sim.async_client(api_key="wrong", _strict_response_validation=True) as client:
        with pytest.raises(orb.OrbAuthenticationError):
            await client.top_level.ping()


@pytest.mark.asyncio
async def test_pagination_and_idempotent_replay(aclient: Any, clock: ManualClock) -> None:
    ids = []
    for i in range(5):
        ids.append((await aclient.customers.create(name=f"C{i}", email=f"c{i}@x.test")).id)
        clock.advance(seconds=1)
    assert [c.id async for c in aclient.customers.list(limit=2)] == ids[::-1]
    kwargs = {"name": "Same", "email": "s@x.test", "idempotency_key": "same"}
    first = await aclient.customers.with_raw_response.create(**kwargs)
    second = await aclient.customers.with_raw_response.create(**kwargs)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.parse().id == second.parse().id


@pytest.mark.asyncio
async def test_async_streaming_response(aclient: Any) -> None:
    async with aclient.customers.with_streaming_response.create(
        name="S", email="s@x.test"
    ) as response:
        assert response.status_code == 201
        assert (await response.parse()).name == "S"
    async with httpx.AsyncClient(transport=aclient._client._transport) as http:
        got = await http.get("http://orbsim.test/v1/ping", headers={"Authorization": "Bearer k"})
        assert [chunk async for chunk in got.aiter_bytes()] == [b'{"response":"pong"}']


@pytest.mark.asyncio
async def test_more_errors_without_retries() -> None:
    settings = Settings(amend_limit=0, max_request_bytes=300)
    sim = OrbSim(settings=settings, clock=ManualClock(START))
    counting = AsyncCounting(sim.async_transport())
    async with sim.async_client(
        _strict_response_validation=True, http_client=httpx.AsyncClient(transport=counting)
    ) as client:
        customer = await client.customers.create(name="A", email="a@x.test")
        plan = await client.plans.create(name="P", currency="USD", prices=[])
        await client.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
        await client.events.ingest(events=[event("e1", customer.id)])
        before = len(counting.requests)
        with pytest.raises(orb.TooManyRequests):
            await client.events.update(
                "e1", event_name="x", timestamp=START, properties={}, customer_id=customer.id
            )
        assert len(counting.requests) == before + 1
        with pytest.raises(orb.RequestTooLarge):
            await client.customers.create(name="x" * 400, email="a@x.test")
        window: dict[str, Any] = {
            "timeframe_start": START - timedelta(days=3),
            "timeframe_end": START,
        }
        with pytest.raises(orb.RequestValidationError):  # inside the grace period
            await client.events.backfills.create(**window)
        window["timeframe_end"] = START - timedelta(days=2)
        backfill = await client.events.backfills.create(**window)
        await client.events.backfills.revert(backfill.id)
        with pytest.raises(orb.ConstraintViolation):
            await client.events.backfills.close(backfill.id)
