"""Optional rate limits (``Settings.requests_per_second`` / ``events_per_minute``): token buckets
per API key on the simulator's clock, with an exact ``retry-after``."""

from __future__ import annotations

from typing import Any

import pytest

from helpers.wire import START, assert_problem, call, fingerprint, make_sim, payload, populate
from orbsim import ManualClock, OrbSim, Settings
from orbsim.wire.messages import WireResponse
from orbsim.wire.ratelimit import preset_category


def clock_of(sim: OrbSim) -> ManualClock:
    assert isinstance(sim.clock, ManualClock)
    return sim.clock


def ping(sim: OrbSim, key: str = "test-key") -> WireResponse:
    return call(sim, "GET", "/v1/ping", headers={"authorization": f"Bearer {key}"})


def ingest(sim: OrbSim, n: int, prefix: str, key: str = "test-key") -> WireResponse:
    events = [
        {
            "event_name": "api_call",
            "timestamp": "2024-05-15T11:00:00Z",
            "properties": {},
            "idempotency_key": f"{prefix}-{i}",
            "external_customer_id": "acme",
        }
        for i in range(n)
    ]
    return call(
        sim, "POST", "/v1/ingest", {"events": events}, headers={"authorization": f"Bearer {key}"}
    )


def assert_limited(response: WireResponse, wait_ms: int) -> dict[str, object]:
    body = assert_problem(response, 429, "429-too-many-requests")
    assert response.header("retry-after-ms") == str(wait_ms)
    assert response.header("retry-after") == str(-(-wait_ms // 1000))  # whole seconds, up
    assert response.header("x-should-retry") is None  # a real transient limit: retry it
    return body


def test_no_limits_by_default() -> None:
    sim = make_sim()
    assert all(ping(sim).status == 200 for _ in range(500))


def test_the_request_after_the_burst_is_refused_with_the_exact_wait() -> None:
    sim = make_sim(requests_per_second=2)
    clock = clock_of(sim)
    assert [ping(sim).status for _ in range(2)] == [200, 200]
    body = assert_limited(ping(sim), 500)
    assert "2 requests per second" in str(body["detail"])
    clock.advance(milliseconds=499)
    assert_limited(ping(sim), 1)
    clock.advance(milliseconds=1)
    assert ping(sim).status == 200
    assert_limited(ping(sim), 500)
    clock.advance(seconds=1)  # the bucket refills to its one-second capacity, no more
    assert [ping(sim).status for _ in range(3)] == [200, 200, 429]


def test_fractional_waits_round_up_to_the_millisecond_and_are_truthful() -> None:
    sim = make_sim(requests_per_second=3)
    clock = clock_of(sim)
    for _ in range(3):
        assert ping(sim).status == 200
    assert_limited(ping(sim), 334)  # 333.33 ms, rounded up
    clock.advance(microseconds=333_333)
    assert ping(sim).status == 429  # one microsecond early
    clock.advance(microseconds=1)
    assert ping(sim).status == 200


def test_rates_below_one_per_second_admit_one_request_then_space_them() -> None:
    sim = make_sim(requests_per_second=0.5)
    clock = clock_of(sim)
    assert ping(sim).status == 200
    assert_limited(ping(sim), 2000)
    clock.advance(seconds=2)
    assert ping(sim).status == 200


def test_refused_requests_take_no_token_and_change_nothing() -> None:
    sim = make_sim()
    populate(sim)
    limited = OrbSim(settings=Settings(requests_per_second=1), clock=ManualClock(START))
    populate(limited)
    before = fingerprint(limited)
    assert ping(limited).status == 200
    customer = {"name": "Zed", "email": "zed@example.com"}
    for _ in range(5):
        assert call(limited, "POST", "/v1/customers", customer).status == 429
    assert fingerprint(limited) == before
    clock_of(limited).advance(seconds=1)  # refused requests did not push the wait further out
    assert call(limited, "POST", "/v1/customers", customer).status == 201


def test_limits_are_per_api_key() -> None:
    sim = make_sim(requests_per_second=1)
    assert ping(sim, "alpha").status == 200
    assert ping(sim, "alpha").status == 429
    assert ping(sim, "beta").status == 200


def test_unauthenticated_and_admin_requests_are_not_counted() -> None:
    sim = make_sim(requests_per_second=1)
    for _ in range(3):
        assert call(sim, "GET", "/v1/ping", auth=False).status == 401
        assert call(sim, "GET", "/_orbsim/clock").status != 429
    assert ping(sim).status == 200
    assert ping(sim).status == 429


def test_events_per_minute_counts_events_not_requests() -> None:
    sim = make_sim(events_per_minute=10)
    clock = clock_of(sim)
    assert all(ping(sim).status == 200 for _ in range(50))  # no events, no cost
    assert ingest(sim, 6, "a").status == 200
    body = assert_limited(ingest(sim, 5, "b"), 6000)  # one event over: 60 s / 10 per event
    assert "10 events per minute" in str(body["detail"])
    assert ingest(sim, 4, "c").status == 200  # fits exactly
    assert_limited(ingest(sim, 1, "d"), 6000)
    clock.advance(seconds=30)
    assert ingest(sim, 5, "e").status == 200
    assert len(sim.events.search(event_ids=["a-0", "c-3", "e-4"]).data) == 3
    assert sim.events.search(event_ids=["b-0", "d-0"]).data == []


def test_a_batch_larger_than_the_bucket_is_refused_for_good() -> None:
    sim = make_sim(events_per_minute=10)
    response = ingest(sim, 11, "big")
    body = assert_problem(response, 429, "429-too-many-requests")
    assert response.header("x-should-retry") == "false"
    assert response.header("retry-after-ms") is None
    assert "never be admitted" in str(body["detail"])
    assert ingest(sim, 10, "ok").status == 200


def test_malformed_ingest_bodies_cost_no_events() -> None:
    sim = make_sim(events_per_minute=1)
    bad = call(sim, "POST", "/v1/ingest", raw=b"{not json", headers={"content-type": "x"})
    assert bad.status == 400
    assert call(sim, "POST", "/v1/ingest", {"events": "nope"}).status == 400
    assert ingest(sim, 1, "x").status == 200


def test_both_limits_together_report_the_longer_wait() -> None:
    sim = make_sim(requests_per_second=1, events_per_minute=6)
    clock = clock_of(sim)
    assert ingest(sim, 6, "a").status == 200
    clock.advance(seconds=1)
    body = assert_limited(ingest(sim, 1, "b"), 9000)  # events: 10 s per event, 1 s elapsed
    assert "6 events per minute" in str(body["detail"])
    assert ping(sim).status == 200  # the request bucket was not charged by the refusal
    body = assert_limited(ingest(sim, 1, "b"), 9000)
    assert "1 requests per second and 6 events per minute" in str(body["detail"])


def test_rate_limited_requests_are_recorded_as_such() -> None:
    sim = make_sim(requests_per_second=1)
    ping(sim)
    ping(sim)
    first, second = sim.requests
    assert (first.status, first.rate_limited) == (200, False)
    assert (second.status, second.rate_limited) == (429, True)
    assert second.response_headers["retry-after-ms"] == "1000"


def test_a_rate_limited_keyed_request_is_not_stored_for_replay() -> None:
    sim = make_sim(requests_per_second=1)
    customer = {"name": "Zed", "email": "zed@example.com"}
    key = {"idempotency-key": "create-zed"}
    assert ping(sim).status == 200
    assert call(sim, "POST", "/v1/customers", customer, headers=key).status == 429
    clock_of(sim).advance(seconds=1)
    created = call(sim, "POST", "/v1/customers", customer, headers=key)
    assert created.status == 201 and created.header("Idempotent-Replayed") is None
    assert payload(created)["name"] == "Zed"


def test_sdk_retries_a_rate_limit_and_gives_up_while_the_clock_stands_still() -> None:
    orb = pytest.importorskip("orb")
    sim = make_sim(requests_per_second=1)
    client = sim.client(_strict_response_validation=True)
    client.customers.create(name="a", email="a@example.com")
    sleeps: list[float] = []
    original: Any = client._calculate_retry_timeout

    def recorded(*args: Any, **kwargs: Any) -> float:
        sleeps.append(original(*args, **kwargs))
        return 0.0

    client._calculate_retry_timeout = recorded  # type: ignore[method-assign]  # a spy on the SDK
    with pytest.raises(orb.RateLimitError):
        client.customers.create(name="b", email="b@example.com")
    assert sleeps == [1.0, 1.0]  # retry-after-ms honoured (ManualClock: no time passes)
    assert len(sim.requests.filter("POST", "/customers", status=429)) == 3
    clock_of(sim).advance(seconds=1)
    assert client.customers.create(name="b", email="b@example.com").name == "b"
    assert len(sim.customers.list().data) == 2


# -- Orb's published limits, by category (Settings.rate_limit_preset) ------------------------------

CUSTOMER = {"name": "Zed", "email": "zed@example.com"}


def test_the_orb_presets_are_opt_in() -> None:
    assert Settings().rate_limit_preset is None
    with pytest.raises(ValueError, match="orb_test_mode"):
        Settings(rate_limit_preset="orb_sandbox")


def test_test_mode_allows_5_writes_per_second_apart_from_reads() -> None:
    sim = make_sim(rate_limit_preset="orb_test_mode")
    clock = clock_of(sim)
    assert all(call(sim, "POST", "/v1/customers", CUSTOMER).status == 201 for _ in range(5))
    body = assert_limited(call(sim, "POST", "/v1/customers", CUSTOMER), 200)
    assert "5 write requests per second (Orb test mode)" in str(body["detail"])
    assert_limited(call(sim, "PUT", "/v1/customers/nobody", {"name": "x"}), 200)  # PUT: a write
    assert_limited(call(sim, "POST", "/v1/events/search", {"event_ids": ["x"]}), 200)
    assert all(ping(sim).status == 200 for _ in range(50))  # reads have their own bucket
    body = assert_limited(ping(sim), 20)
    assert "50 read requests per second (Orb test mode)" in str(body["detail"])
    clock.advance(milliseconds=200)
    assert call(sim, "POST", "/v1/customers", CUSTOMER).status == 201
    assert len(sim.customers.list().data) == 6


def test_test_mode_limits_ingest_requests_and_ingested_events_separately() -> None:
    sim = make_sim(rate_limit_preset="orb_test_mode")
    clock = clock_of(sim)
    assert all(ingest(sim, 1, f"r{i}").status == 200 for i in range(10))
    body = assert_limited(ingest(sim, 1, "r10"), 100)
    assert "10 ingest requests per second (Orb test mode)" in str(body["detail"])
    assert call(sim, "POST", "/v1/customers", CUSTOMER).status == 201  # not a write
    clock.advance(seconds=1)
    assert ingest(sim, 995, "big").status == 200  # the 10 events are refilled by now
    assert ingest(sim, 995, "big2").status == 200
    body = assert_limited(ingest(sim, 20, "over"), 300)  # 10 events over: 30 ms per event
    assert "2000 ingested events per minute (Orb test mode)" in str(body["detail"])


def test_a_batch_larger_than_a_minute_of_test_mode_volume_is_refused_for_good() -> None:
    sim = make_sim(rate_limit_preset="orb_test_mode")
    response = ingest(sim, 2001, "huge")
    body = assert_problem(response, 429, "429-too-many-requests")
    assert response.header("x-should-retry") == "false"
    assert "never be admitted" in str(body["detail"])
    assert "2000 ingested events per minute" in str(body["detail"])


@pytest.mark.parametrize(
    ("preset", "writes", "wait_ms", "label"),
    [
        ("orb_trial", 1, 1000, "1 write requests per second (Orb trial)"),
        ("orb_live_mode", 50, 20, "50 write requests per second (Orb live mode)"),
    ],
)
def test_trial_and_live_mode_presets(preset: str, writes: int, wait_ms: int, label: str) -> None:
    sim = make_sim(rate_limit_preset=preset)
    for _ in range(writes):
        assert call(sim, "POST", "/v1/customers", CUSTOMER).status == 201
    assert label in str(
        assert_limited(call(sim, "POST", "/v1/customers", CUSTOMER), wait_ms)["detail"]
    )


@pytest.mark.parametrize(
    ("method", "path", "category"),
    [
        ("GET", "/subscriptions/sub_1/usage", "analytics"),
        ("GET", "/v1/subscriptions/sub_1/costs", "analytics"),
        ("GET", "/customers/cus_1/costs", "analytics"),
        ("GET", "/customers/external_customer_id/acme/costs", "analytics"),
        ("GET", "/customers/cus_1", "read"),
        ("GET", "/events/volume", "read"),
        ("POST", "/ingest", "ingest"),
        ("POST", "/v1/ingest", "ingest"),
        ("POST", "/events/search", "write"),
        ("PUT", "/events/evt_1", "write"),
        ("DELETE", "/customers/cus_1", "write"),
        ("PATCH", "/customers/cus_1", "write"),
    ],
)
def test_requests_fall_into_orbs_categories(method: str, path: str, category: str) -> None:
    assert preset_category(method, path) == category


def test_an_explicit_knob_applies_on_top_of_a_preset() -> None:
    sim = make_sim(rate_limit_preset="orb_test_mode", requests_per_second=2)
    assert [ping(sim).status for _ in range(2)] == [200, 200]
    assert "2 requests per second" in str(assert_limited(ping(sim), 500)["detail"])


def test_sdk_waits_as_test_mode_tells_it_to(monkeypatch: pytest.MonkeyPatch) -> None:
    orb = pytest.importorskip("orb")
    sim = make_sim(rate_limit_preset="orb_test_mode")
    client = sim.client(_strict_response_validation=True)
    sleeps: list[float] = []
    original = client._calculate_retry_timeout

    def recorded(*args: Any, **kwargs: Any) -> float:
        sleeps.append(original(*args, **kwargs))
        return 0.0

    monkeypatch.setattr(client, "_calculate_retry_timeout", recorded)

    def batch(key: str) -> Any:
        return [
            {
                "idempotency_key": key,
                "event_name": "api_call",
                "external_customer_id": "acme",
                "timestamp": START.isoformat(),
                "properties": {},
            }
        ]

    for i in range(10):
        client.events.ingest(events=batch(f"e{i}"))
    with pytest.raises(orb.RateLimitError):
        client.events.ingest(events=batch("e10"))
    assert sleeps == [0.1, 0.1]  # retry-after-ms: 100 ms until the next ingest request
    clock_of(sim).advance(milliseconds=100)
    client.events.ingest(events=batch("e10"))
    assert len(sim.events.search(event_ids=[f"e{i}" for i in range(11)]).data) == 11
