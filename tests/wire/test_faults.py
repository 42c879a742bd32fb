"""Injected faults (``sim.faults``) at the wire level: answers, matching, counting, determinism,
and how each transport realises them."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from helpers.wire import AUTH, assert_problem, call, fingerprint, make_sim, payload, populate
from orbsim import OrbSim
from orbsim.errors import TYPE_PREFIX
from orbsim.wire.faults import Fault

CUSTOMER = {"name": "Zed", "email": "zed@example.com"}


def client_for(sim: OrbSim) -> httpx.Client:
    return httpx.Client(transport=sim.transport(), base_url="http://orbsim.test/v1", headers=AUTH)


# -- status faults -------------------------------------------------------------------------------


def test_429_fault_is_too_many_requests_with_a_retry_hint_and_no_should_retry() -> None:
    sim = make_sim()
    sim.faults.add(429, path="/ping")
    response = call(sim, "GET", "/v1/ping")
    body = assert_problem(response, 429, "429-too-many-requests")
    assert "injected" in body["detail"]
    assert response.header("retry-after-ms") == "1"  # Settings.fault_retry_after_ms
    assert response.header("x-should-retry") is None  # a transient failure: the SDK retries
    assert response.header("Transient-Error") is None
    assert response.transport_fault is None
    assert payload(call(sim, "GET", "/v1/ping")) == {"response": "pong"}  # times=1: spent


def test_500_fault_is_an_internal_server_error_marked_transient() -> None:
    sim = make_sim()
    sim.faults.add(500)
    response = call(sim, "GET", "/v1/ping")
    assert_problem(response, 500, "500-internal-server-error")
    assert response.header("Transient-Error") == "true"
    assert response.header("retry-after-ms") == "1"


def test_503_fault_has_status_503_and_the_internal_server_error_type() -> None:
    sim = make_sim()
    sim.faults.add(503)
    response = call(sim, "GET", "/v1/ping")
    assert response.status == 503
    body = payload(response)
    assert body["type"] == TYPE_PREFIX + "500-internal-server-error"
    assert body["status"] == 503
    assert body["title"] == "Service Unavailable"
    assert response.header("Transient-Error") == "true"


def test_retry_hint_is_configurable_per_fault_and_in_settings() -> None:
    sim = make_sim(fault_retry_after_ms=250)
    sim.faults.add(503)
    sim.faults.add(503, retry_after_ms=40)
    sim.faults.add(503, retry_after_ms=0)
    hints = [call(sim, "GET", "/v1/ping").header("retry-after-ms") for _ in range(3)]
    assert hints == ["250", "40", None]  # 0: no hint, the client uses its own backoff


def test_a_status_fault_changes_nothing() -> None:
    sim = make_sim()
    populate(sim)
    before = fingerprint(sim)
    sim.faults.add(500, method="POST", path="/customers")
    sim.faults.add(429, method="POST", path="/ingest")
    assert call(sim, "POST", "/customers", CUSTOMER).status == 500
    event = {
        "event_name": "x",
        "timestamp": "2024-05-15T11:00:00Z",
        "properties": {},
        "idempotency_key": "new-1",
        "external_customer_id": "nobody",
    }
    assert call(sim, "POST", "/ingest", {"events": [event]}).status == 429
    assert fingerprint(sim) == before


def test_an_unauthenticated_request_neither_fires_nor_uses_up_a_fault() -> None:
    sim = make_sim()
    fault = sim.faults.add(503)
    for kind in (503, "connect_error", "lost_response"):
        sim.faults.clear()
        fault = sim.faults.add(kind)
        response = call(sim, "GET", "/v1/ping", auth=False)
        assert response.transport_fault is None
        assert_problem(response, 401)
        assert fault.remaining == 1
        assert sim.requests.last().fault is None
    assert call(sim, "GET", "/v1/ping").transport_fault == "lost_response"
    assert fault.remaining == 0


@pytest.mark.parametrize("status", [401, 409, 413, 502, 504, 599])
def test_other_injectable_statuses_carry_a_matching_orb_body(status: int) -> None:
    sim = make_sim()
    sim.faults.add(status)
    response = call(sim, "GET", "/v1/ping")
    assert response.status == status
    body = payload(response)
    assert body["status"] == status
    assert body["type"].startswith(TYPE_PREFIX)
    assert response.header("x-should-retry") is None


@pytest.mark.parametrize(
    "kind", [200, 302, 400, 404, 600, "500x", "timeout", True, None, 1.5, "lost response"]
)
def test_unknown_kinds_are_refused(kind: object) -> None:
    sim = make_sim()
    with pytest.raises(ValueError):
        sim.faults.add(kind)  # type: ignore[arg-type]
    assert sim.faults.list() == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"times": 0},
        {"times": -1},
        {"times": 1.5},
        {"probability": 0},
        {"probability": 1.5},
        {"probability": "0.5"},
        {"retry_after_ms": -1},
        {"retry_after_ms": 1.5},
        {"probability": 0.5, "seed": 1.5},
        {"path": ""},
        {"method": ""},
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_sim().faults.add(500, **kwargs)  # type: ignore[arg-type]


def test_status_given_as_a_string_is_accepted() -> None:
    sim = make_sim()
    assert sim.faults.add("503").kind == 503


# -- matching and counting -----------------------------------------------------------------------


def test_method_and_path_patterns_match_the_path_without_v1() -> None:
    sim = make_sim()
    ids = populate(sim)
    fault = sim.faults.add(503, method="post", path="/events/backfills*", times=None)
    assert fault.method == "POST" and fault.times is None
    assert call(sim, "GET", f"/v1/events/backfills/{ids['backfill']}").status == 200
    assert call(sim, "POST", f"/v1/events/backfills/{ids['backfill']}/close").status == 503
    assert call(sim, "POST", f"/events/backfills/{ids['backfill']}/close").status == 503
    assert call(sim, "POST", "/v1/customers", CUSTOMER).status == 201
    assert fault.fired == 2
    assert fault.active and fault.remaining is None


def test_a_v1_prefix_in_the_pattern_is_ignored() -> None:
    sim = make_sim()
    fault = sim.faults.add(503, path="/v1/ping")
    assert fault.path == "/ping"
    assert call(sim, "GET", "/ping").status == 503


def test_times_counts_firings_and_a_spent_fault_leaves_the_list() -> None:
    sim = make_sim()
    fault = sim.faults.add(500, path="/ping", times=2)
    assert sim.faults.list() == [fault] and len(sim.faults) == 1 and sim.faults
    statuses = [call(sim, "GET", "/v1/ping").status for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert fault.fired == 2 and fault.remaining == 0 and not fault.active
    assert sim.faults.list() == [] and not sim.faults


def test_first_armed_matching_fault_wins() -> None:
    sim = make_sim()
    first = sim.faults.add(503, path="/ping")
    second = sim.faults.add(429)
    assert call(sim, "GET", "/v1/ping").status == 503
    assert call(sim, "GET", "/v1/ping").status == 429
    assert (first.fired, second.fired) == (1, 1)


def test_list_remove_clear_and_context_manager() -> None:
    sim = make_sim()
    a = sim.faults.add(500, path="/ping")
    b = sim.faults.add(503, path="/customers")
    c = sim.faults.add("connect_error", method="DELETE")
    assert [f.id for f in sim.faults.list()] == [a.id, b.id, c.id]
    assert sim.faults.get(b.id) is b
    sim.faults.remove(b)
    sim.faults.remove(c.id)
    assert sim.faults.list() == [a] and not b.active and not c.active
    sim.faults.remove(b)  # no-op
    sim.faults.clear()
    assert sim.faults.list() == [] and not a.active and a.remaining == 0
    with pytest.raises(KeyError):
        sim.faults.get(a.id)
    with sim.faults.add(503) as scoped:
        assert isinstance(scoped, Fault) and sim.faults.list() == [scoped]
    assert sim.faults.list() == []
    assert call(sim, "GET", "/v1/ping").status == 200


def test_to_dict_is_json_ready() -> None:
    sim = make_sim()
    fault = sim.faults.add(429, method="POST", path="/ingest", times=3, retry_after_ms=5)
    data = json.loads(json.dumps(fault.to_dict()))
    assert data == {
        "id": fault.id,
        "kind": 429,
        "method": "POST",
        "path": "/ingest",
        "times": 3,
        "probability": None,
        "seed": None,
        "retry_after_ms": 5,
        "fired": 0,
        "active": True,
    }


def test_admin_requests_bypass_faults() -> None:
    sim = make_sim()
    fault = sim.faults.add(503, times=None)
    response = call(sim, "GET", "/_orbsim/clock")
    assert response.status != 503 and response.transport_fault is None
    assert fault.fired == 0
    assert call(sim, "GET", "/v1/ping").status == 503


# -- probability ---------------------------------------------------------------------------------


def fired_pattern(sim: OrbSim, n: int = 60) -> list[bool]:
    return [call(sim, "GET", "/v1/ping").status == 503 for _ in range(n)]


def test_probability_faults_are_deterministic_under_the_sims_seed() -> None:
    one, two, other = make_sim(), make_sim(), OrbSim(seed=7)
    for sim in (one, two, other):
        sim.faults.add(503, probability=0.3)
    pattern = fired_pattern(one)
    assert pattern == fired_pattern(two)
    assert pattern != fired_pattern(other)
    assert 5 < sum(pattern) < 35  # it is a coin flip, not "always" or "never"
    assert one.faults.list()[0].fired == sum(pattern)
    assert one.faults.list()[0].times is None  # unlimited by default with a probability


def test_explicit_seed_and_times_with_probability() -> None:
    one, two = make_sim(), OrbSim(seed=99)
    for sim in (one, two):
        sim.faults.add(503, probability=0.5, seed="fixed", times=4)
    pattern = fired_pattern(one, 40)
    assert pattern == fired_pattern(two, 40)
    assert sum(pattern) == 4


def test_each_probability_fault_gets_its_own_stream() -> None:
    sim = make_sim()
    sim.faults.add(503, probability=0.5, path="/ping")
    sim.faults.add(503, probability=0.5, path="/customers")
    pings, lists = [], []
    for _ in range(40):
        pings.append(call(sim, "GET", "/v1/ping").status)
        lists.append(call(sim, "GET", "/v1/customers").status)
    assert pings != lists  # same probability, different seeds: different requests fail


def test_probability_draws_only_for_matching_requests() -> None:
    one, two = make_sim(), make_sim()
    for sim in (one, two):
        sim.faults.add(503, probability=0.5, path="/ping")
    for _ in range(10):  # requests the fault does not match must not consume draws
        call(two, "POST", "/v1/customers", CUSTOMER)
    assert fired_pattern(one, 30) == fired_pattern(two, 30)


# -- transport faults, in-process -----------------------------------------------------------------


def test_connect_error_raises_before_the_simulator_sees_the_request() -> None:
    sim = make_sim()
    sim.faults.add("connect_error", method="POST", path="/customers")
    with client_for(sim) as http, pytest.raises(httpx.ConnectError):
        http.post("/customers", json=CUSTOMER)
    assert sim.customers.list().data == []


def test_read_timeout_raises_before_the_simulator_sees_the_request() -> None:
    sim = make_sim()
    sim.faults.add("read_timeout", method="POST", path="/customers")
    with client_for(sim) as http, pytest.raises(httpx.ReadTimeout):
        http.post("/customers", json=CUSTOMER)
    assert sim.customers.list().data == []


def test_lost_response_commits_then_raises_read_timeout() -> None:
    sim = make_sim()
    sim.faults.add("lost_response", method="POST", path="/customers")
    with client_for(sim) as http:
        with pytest.raises(httpx.ReadTimeout, match="lost_response"):
            http.post("/customers", json=CUSTOMER, headers={"Idempotency-Key": "k1"})
        assert [c.name for c in sim.customers.list().data] == ["Zed"]
        replay = http.post("/customers", json=CUSTOMER, headers={"Idempotency-Key": "k1"})
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert len(sim.customers.list().data) == 1


def test_dispatch_callers_see_a_marked_placeholder_for_dropped_requests() -> None:
    sim = make_sim()
    sim.faults.add("read_timeout")
    response = call(sim, "GET", "/v1/ping")
    assert response.transport_fault == "read_timeout"
    assert response.status == 503 and "read_timeout" in payload(response)["detail"]


def test_async_transport_realises_transport_faults() -> None:
    sim = make_sim()
    sim.faults.add("connect_error", path="/ping")
    sim.faults.add("lost_response", method="POST", path="/customers")

    async def scenario() -> None:
        transport = sim.async_transport()
        async with httpx.AsyncClient(
            transport=transport, base_url="http://orbsim.test/v1", headers=AUTH
        ) as http:
            with pytest.raises(httpx.ConnectError):
                await http.get("/ping")
            assert (await http.get("/ping")).status_code == 200
            with pytest.raises(httpx.ReadTimeout):
                await http.post("/customers", json=CUSTOMER)

    asyncio.run(scenario())
    assert len(sim.customers.list().data) == 1


# -- transport faults, server ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["connect_error", "read_timeout", "lost_response"])
def test_server_drops_the_connection_without_answering(kind: str) -> None:
    sim = make_sim()
    sim.faults.add(kind, method="POST", path="/customers")
    with (
        sim.serve() as server,
        httpx.Client(base_url=server.base_url, headers=AUTH) as http,
    ):
        assert http.get("/ping").status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            http.post("/customers", json=CUSTOMER)
        assert http.get("/ping").status_code == 200  # a new connection
        assert server.connections_accepted == 2
    committed = 1 if kind == "lost_response" else 0
    assert len(sim.customers.list().data) == committed


def test_server_answers_status_faults_normally() -> None:
    sim = make_sim()
    sim.faults.add(503, path="/ping")
    with (
        sim.serve() as server,
        httpx.Client(base_url=server.base_url, headers=AUTH) as http,
    ):
        response = http.get("/ping")
        assert response.status_code == 503
        assert response.headers["retry-after-ms"] == "1"
        assert response.headers["transient-error"] == "true"
        assert http.get("/ping").status_code == 200
        assert server.connections_accepted == 1  # keep-alive survives a status fault
