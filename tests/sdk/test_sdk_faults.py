"""The official SDK, with its DEFAULT retries (``max_retries=2``), against injected faults: every
failure before or after the simulator commits ends with exactly one copy of each event, backfill
and customer; connection failures surface as the SDK's own exceptions once retries run out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orb
import pytest

from helpers.sdk import START, event
from orbsim import ManualClock, OrbSim

WINDOW: dict[str, Any] = {
    "timeframe_start": START - timedelta(days=3),
    "timeframe_end": START - timedelta(days=2),
}


@pytest.fixture
def sdk(sim: OrbSim) -> Iterator[Any]:
    with sim.client(_strict_response_validation=True) as client:
        assert client.max_retries == 2
        yield client


def spy_delays(client: Any, *, sleep: bool) -> list[float]:
    """Record the delays the SDK computes between attempts; with ``sleep=False`` wait none of
    them. Retry counts are untouched. (Transport faults carry no retry hint, so the SDK backs
    off 0.5 s then 1 s; tests of those skip the wait.)"""
    delays: list[float] = []
    original = client._calculate_retry_timeout

    def delay(*args: Any, **kwargs: Any) -> float:
        computed: float = original(*args, **kwargs)
        delays.append(computed)
        return computed if sleep else 0.0

    client._calculate_retry_timeout = delay
    return delays


def only_keys(sim: OrbSim, customer_id: str) -> list[str]:
    return sorted(e.id for e in sim.billable_events(customer_id=customer_id))


# -- ingest ----------------------------------------------------------------------------------------


def test_ingest_with_a_lost_response_keeps_one_copy_of_each_event(sim: OrbSim, sdk: Any) -> None:
    customer = sdk.customers.create(name="Acme", email="ops@acme.test")
    sim.faults.add("lost_response", method="POST", path="/ingest")
    # The SDK's own backoff, unpatched (no response, so no retry hint: ~0.4 s).
    result = sdk.events.ingest(events=[event("e1", customer.id), event("e2", customer.id)])
    assert result.validation_failed == []
    assert only_keys(sim, customer.id) == ["e1", "e2"]
    first, retry = sim.requests.assert_called("POST", "/ingest", times=2)
    assert first.fault == "lost_response" and not first.delivered
    assert retry.replayed and retry.idempotency_key == first.idempotency_key
    assert retry.headers["x-stainless-retry-count"] == "1"


def test_ingest_lost_twice_still_keeps_one_copy(sim: OrbSim, sdk: Any) -> None:
    customer = sdk.customers.create(name="Acme", email="ops@acme.test")
    sim.faults.add("lost_response", method="POST", path="/ingest", times=2)
    spy_delays(sdk, sleep=False)
    sdk.events.ingest(events=[event("e1", customer.id)])
    assert only_keys(sim, customer.id) == ["e1"]
    assert [r.replayed for r in sim.requests.filter("POST", "/ingest")] == [False, True, True]
    assert len(sim.event_versions("e1")) == 1


def test_per_event_keys_dedupe_even_without_a_replay(sim: OrbSim, sdk: Any) -> None:
    """A caller that gives up after a lost response and sends the batch again (a new SDK call,
    so a new Idempotency-Key) still gets one copy: the events' own keys deduplicate."""
    customer = sdk.customers.create(name="Acme", email="ops@acme.test")
    sim.faults.add("lost_response", method="POST", path="/ingest", times=3)
    spy_delays(sdk, sleep=False)
    batch = [event("e1", customer.id), event("e2", customer.id)]
    with pytest.raises(orb.APITimeoutError):
        sdk.events.ingest(events=batch)
    sdk.events.ingest(events=batch)
    assert only_keys(sim, customer.id) == ["e1", "e2"]
    calls = sim.requests.filter("POST", "/ingest")
    assert len(calls) == 4 and not calls[-1].replayed
    assert calls[-1].idempotency_key != calls[0].idempotency_key


@pytest.mark.parametrize("kind", [500, 503, 429, "connect_error", "read_timeout"])
def test_ingest_failing_before_commit_is_retried_once(sim: OrbSim, sdk: Any, kind: Any) -> None:
    customer = sdk.customers.create(name="Acme", email="ops@acme.test")
    sim.faults.add(kind, method="POST", path="/ingest")
    delays = spy_delays(sdk, sleep=isinstance(kind, int))
    sdk.events.ingest(events=[event("e1", customer.id)])
    assert only_keys(sim, customer.id) == ["e1"]
    first, retry = sim.requests.filter("POST", "/ingest")
    assert first.fault == kind and not retry.replayed and retry.status == 200
    if isinstance(kind, int):
        assert delays == [0.001]  # retry-after-ms: 1 honoured


# -- backfills and customers -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lost_response", 500, 503, 429])
def test_backfill_create_survives_a_fault_with_one_backfill(
    sim: OrbSim, sdk: Any, kind: Any
) -> None:
    sim.faults.add(kind, method="POST", path="/events/backfills")
    delays = spy_delays(sdk, sleep=kind != "lost_response")
    backfill = sdk.events.backfills.create(**WINDOW)
    assert [b.id for b in sim.events.backfills.list().data] == [backfill.id]
    first, retry = sim.requests.assert_called("POST", "/events/backfills", times=2)
    assert first.idempotency_key == retry.idempotency_key
    assert retry.replayed == (kind == "lost_response")
    assert retry.status == 200 and retry.response["id"] == backfill.id
    if kind != "lost_response":
        assert delays == [0.001]


@pytest.mark.parametrize("kind", ["lost_response", 500, 503, 429, 409])
def test_customer_create_survives_a_fault_with_one_customer(
    sim: OrbSim, sdk: Any, kind: Any
) -> None:
    sim.faults.add(kind, method="POST", path="/customers")
    spy_delays(sdk, sleep=kind != "lost_response")
    customer = sdk.customers.create(name="Acme", email="ops@acme.test", external_customer_id="acme")
    assert [c.id for c in sim.customers.list().data] == [customer.id]
    lost = kind == "lost_response"  # recorded with the 201 the client never saw
    sim.requests.assert_called("POST", "/customers", times=2 if lost else 1, status=201)
    assert sim.requests.last("POST", "/customers").replayed == lost


def test_backfill_create_lost_on_every_attempt_raises_but_exists_once(
    sim: OrbSim, sdk: Any
) -> None:
    sim.faults.add("lost_response", method="POST", path="/events/backfills", times=3)
    spy_delays(sdk, sleep=False)
    with pytest.raises(orb.APITimeoutError):
        sdk.events.backfills.create(**WINDOW)
    assert len(sim.events.backfills.list().data) == 1  # committed by the first attempt
    assert [r.replayed for r in sim.requests] == [False, True, True]


# -- connection failures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error"),
    [("connect_error", orb.APIConnectionError), ("read_timeout", orb.APITimeoutError)],
)
def test_connection_failures_raise_once_retries_are_exhausted(
    sim: OrbSim, sdk: Any, kind: str, error: type[Exception]
) -> None:
    sim.faults.add(kind, method="POST", path="/customers", times=3)
    delays = spy_delays(sdk, sleep=False)
    with pytest.raises(error) as raised:
        sdk.customers.create(name="Acme", email="ops@acme.test")
    assert type(raised.value) is error
    assert len(delays) == 2  # the default: two retries, three attempts
    assert sim.customers.list().data == []
    assert [(r.fault, r.status) for r in sim.requests] == [(kind, None)] * 3
    assert sim.faults.list() == []  # spent


@pytest.mark.parametrize("kind", ["connect_error", "read_timeout"])
def test_connection_failure_once_is_retried_successfully(sim: OrbSim, sdk: Any, kind: str) -> None:
    fault = sim.faults.add(kind, method="POST", path="/customers")
    spy_delays(sdk, sleep=False)
    customer = sdk.customers.create(name="Acme", email="ops@acme.test")
    assert [c.id for c in sim.customers.list().data] == [customer.id]
    assert fault.fired == 1 and [r.status for r in sim.requests] == [None, 201]


# -- determinism, listing --------------------------------------------------------------------------


def run_flaky_ingest(seed: int) -> tuple[list[object], list[str]]:
    sim = OrbSim(clock=ManualClock(START), seed=seed)
    sim.faults.add(503, method="POST", path="/ingest", probability=0.3)
    sim.faults.add("lost_response", method="POST", path="/ingest", probability=0.2)
    with sim.client(_strict_response_validation=True) as client:
        spy_delays(client, sleep=False)
        customer = client.customers.create(name="Acme", email="ops@acme.test")
        for i in range(25):
            batch = [event(f"e{i}", customer.id)]
            while True:  # the caller's own retry on top of the SDK's, as real code would do
                try:
                    client.events.ingest(events=batch)
                    break
                except orb.APIError:
                    continue
        keys = only_keys(sim, customer.id)
    return [r.fault for r in sim.requests.filter("POST", "/ingest")], keys


def test_probability_faults_fire_on_the_same_requests_under_the_same_seed() -> None:
    pattern, keys = run_flaky_ingest(seed=5)
    again, keys_again = run_flaky_ingest(seed=5)
    other, _ = run_flaky_ingest(seed=6)
    assert pattern == again and keys == keys_again
    assert pattern != other
    assert {503, "lost_response"} <= set(pattern)
    assert keys == sorted(f"e{i}" for i in range(25))  # one copy of each, whatever failed


def test_faults_are_listed_and_cleared(sim: OrbSim, sdk: Any) -> None:
    a = sim.faults.add(503, method="POST", path="/customers", times=5)
    b = sim.faults.add("connect_error", path="/events/backfills*")
    assert sim.faults.list() == [a, b]
    sim.faults.clear()
    assert sim.faults.list() == []
    sdk.customers.create(name="Acme", email="ops@acme.test")
    assert (a.fired, b.fired) == (0, 0)
    sim.requests.assert_called("POST", "/customers", times=1, status=201)


# -- over the real server and the async client -----------------------------------------------------


@pytest.mark.parametrize("kind", ["lost_response", "connect_error", "read_timeout"])
def test_server_drops_the_connection_and_the_sdk_retries_on_a_new_one(
    sim: OrbSim, kind: str
) -> None:
    sim.faults.add(kind, method="POST", path="/events/backfills")
    with (
        sim.serve() as server,
        orb.Orb(
            api_key="test-key", base_url=server.base_url, _strict_response_validation=True
        ) as client,
    ):
        spy_delays(client, sleep=False)
        backfill = client.events.backfills.create(**WINDOW)
        assert server.connections_accepted == 2
    assert [b.id for b in sim.events.backfills.list().data] == [backfill.id]
    first, retry = sim.requests.filter("POST", "/events/backfills")
    assert first.fault == kind and retry.replayed == (kind == "lost_response")


def test_server_connection_failures_exhaust_retries(sim: OrbSim) -> None:
    sim.faults.add("connect_error", method="POST", path="/customers", times=3)
    with (
        sim.serve() as server,
        orb.Orb(api_key="test-key", base_url=server.base_url) as client,
    ):
        spy_delays(client, sleep=False)
        with pytest.raises(orb.APIConnectionError):
            client.customers.create(name="Acme", email="ops@acme.test")
        assert server.connections_accepted == 3
    assert sim.customers.list().data == []


@pytest.mark.asyncio
async def test_async_sdk_lost_response_keeps_one_copy(sim: OrbSim) -> None:
    customer = sim.customers.create(name="Acme", email="ops@acme.test")
    sim.faults.add("lost_response", method="POST", path="/ingest")
    sim.faults.add(503, method="POST", path="/events/backfills")
    async with sim.async_client(_strict_response_validation=True) as client:
        spy_delays(client, sleep=False)
        await client.events.ingest(events=[event("e1", customer.id)])
        await client.events.backfills.create(**WINDOW)
    assert only_keys(sim, customer.id) == ["e1"]
    assert len(sim.events.backfills.list().data) == 1
    assert [r.fault for r in sim.requests] == ["lost_response", None, 503, None]
