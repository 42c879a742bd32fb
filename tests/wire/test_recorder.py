"""The request log (``sim.requests``): what is recorded, filters, bounds, thread safety, and the
assertion helpers' failure messages."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import httpx
import pytest

from helpers.wire import AUTH, START, call, make_sim, populate
from orbsim import ManualClock, OrbSim

CUSTOMER = {"name": "Zed", "email": "zed@example.com"}


def event(key: str, **properties: object) -> dict[str, object]:
    return {
        "event_name": "api_call",
        "timestamp": "2024-05-15T11:00:00Z",
        "properties": properties,
        "idempotency_key": key,
        "external_customer_id": "acme",
    }


def test_fields_of_a_recorded_request() -> None:
    sim = make_sim()
    assert isinstance(sim.clock, ManualClock)
    sim.clock.advance(minutes=5)
    call(
        sim,
        "POST",
        "/v1/customers",
        CUSTOMER,
        headers={"idempotency-key": "k1", "x-stainless-retry-count": "0", "x-other": "no"},
    )
    (record,) = sim.requests
    assert record.index == 1
    assert record.at == START + timedelta(minutes=5)
    assert (record.method, record.path, record.query) == ("POST", "/customers", {})
    assert record.body == CUSTOMER
    assert record.status == 201
    assert isinstance(record.response, dict) and record.response["name"] == "Zed"
    assert record.headers == {
        "idempotency-key": "k1",
        "content-type": "application/json",
        "x-stainless-retry-count": "0",
    }
    assert record.idempotency_key == "k1"
    assert record.response_headers["idempotency-key"] == "k1"
    assert record.response_headers["content-type"] == "application/json"
    assert not record.replayed and record.fault is None and not record.rate_limited
    assert record.delivered
    data = json.loads(json.dumps(record.to_dict()))
    assert data["at"] == "2024-05-15T12:05:00Z" and data["status"] == 201
    assert repr(record) == "<RecordedRequest #1 POST /customers -> 201>"


def test_query_is_parsed_and_repeated_names_give_lists() -> None:
    sim = make_sim()
    call(sim, "GET", "/v1/subscriptions", query="customer_id[]=a&customer_id[]=b&limit=5")
    record = sim.requests.last()
    assert record.query == {"customer_id[]": ["a", "b"], "limit": "5"}
    assert record.summary().startswith("#1 GET /subscriptions?customer_id[]=a")


def test_non_json_bodies_are_kept_as_text_and_empty_ones_as_none() -> None:
    sim = make_sim()
    call(sim, "POST", "/v1/customers", raw=b"name=zed", headers={"content-type": "text/plain"})
    call(sim, "GET", "/v1/ping")
    text, empty = sim.requests
    assert text.body == "name=zed" and text.status == 400
    assert empty.body is None and empty.response == {"response": "pong"}


def test_idempotent_replays_are_flagged() -> None:
    sim = make_sim()
    for _ in range(2):
        call(sim, "POST", "/v1/customers", CUSTOMER, headers={"idempotency-key": "same"})
    first, second = sim.requests
    assert not first.replayed and second.replayed
    assert first.response == second.response
    assert second.summary().endswith("-> 201 (replayed)")


def test_faults_are_recorded_with_what_the_client_saw() -> None:
    sim = make_sim()
    sim.faults.add("connect_error", path="/ping")
    sim.faults.add("lost_response", method="POST", path="/customers")
    sim.faults.add(503, path="/ping")
    call(sim, "GET", "/v1/ping")
    call(sim, "POST", "/v1/customers", CUSTOMER)
    call(sim, "GET", "/v1/ping")
    dropped, lost, unavailable = sim.requests
    assert (dropped.fault, dropped.status, dropped.delivered) == ("connect_error", None, False)
    assert dropped.response is None and dropped.response_headers == {}
    assert (lost.fault, lost.status, lost.delivered) == ("lost_response", 201, False)
    assert lost.response["name"] == "Zed"
    assert (unavailable.fault, unavailable.status, unavailable.delivered) == (503, 503, True)
    assert dropped.summary().endswith("-> no answer (fault connect_error)")


def test_filter_and_last() -> None:
    sim = make_sim()
    ids = populate(sim)
    call(sim, "GET", f"/v1/customers/{ids['alice']}")
    call(sim, "GET", "/v1/customers/missing")
    call(sim, "POST", "/v1/customers", CUSTOMER)
    call(sim, "GET", f"/v1/events/backfills/{ids['backfill']}")
    requests = sim.requests
    assert len(requests) == 4
    assert [r.method for r in requests.filter(method="get")] == ["GET", "GET", "GET"]
    assert len(requests.filter(path="/customers/*")) == 2
    assert len(requests.filter(path="/v1/customers/*")) == 2
    assert len(requests.filter("*", "/events/backfills*")) == 1
    assert [r.status for r in requests.filter(status="4xx")] == [404]
    assert [r.status for r in requests.filter(status="2xx")] == [200, 201, 200]
    assert requests.filter("GET", "/customers/*", 200)[0].path == f"/customers/{ids['alice']}"
    assert requests.last().path.startswith("/events/backfills/")
    assert requests.last("GET", "/customers/*").status == 404
    assert requests[0].index == 1 and requests[-1].index == 4
    with pytest.raises(LookupError, match=r"no recorded request matches DELETE \*"):
        requests.last("DELETE")


def test_the_log_is_bounded_and_clear_keeps_numbering() -> None:
    sim = make_sim()
    sim.requests.limit = 3
    for _ in range(5):
        call(sim, "GET", "/v1/ping")
    assert [r.index for r in sim.requests] == [3, 4, 5]
    sim.requests.clear()
    assert len(sim.requests) == 0 and list(sim.requests) == []
    call(sim, "GET", "/v1/ping")
    assert [r.index for r in sim.requests] == [6]
    sim.requests.limit = 0
    call(sim, "GET", "/v1/ping")
    assert len(sim.requests) == 0 and sim.requests.limit == 0
    with pytest.raises(ValueError):
        sim.requests.limit = -1


def test_default_limit_is_ten_thousand() -> None:
    sim = OrbSim()
    assert sim.requests.limit == 10_000
    assert sim.requests is sim.requests


def test_admin_requests_are_not_recorded() -> None:
    sim = make_sim()
    call(sim, "GET", "/_orbsim/clock")
    call(sim, "GET", "/v1/_orbsim/clock")
    assert len(sim.requests) == 0


def test_server_requests_are_recorded_too() -> None:
    sim = make_sim()
    with sim.serve() as server, httpx.Client(base_url=server.base_url, headers=AUTH) as http:
        http.post("/customers", json=CUSTOMER, headers={"Idempotency-Key": "srv"})
    record = sim.requests.last()
    assert (record.method, record.path, record.status) == ("POST", "/customers", 201)
    assert record.idempotency_key == "srv" and record.body == CUSTOMER


def test_recording_is_thread_safe() -> None:
    sim = make_sim()
    sim.requests.limit = 100_000
    stop = threading.Event()
    seen: list[int] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(len(sim.requests.filter(method="GET")))

    def write() -> None:
        for _ in range(300):
            call(sim, "GET", "/v1/ping")

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write) for _ in range(4)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    reader.join()
    assert len(sim.requests) == 1200
    assert sorted(r.index for r in sim.requests) == list(range(1, 1201))
    assert seen == sorted(seen)


# -- assertion helpers -----------------------------------------------------------------------------


def ingest(sim: OrbSim, *events: dict[str, object]) -> None:
    call(sim, "POST", "/v1/ingest", {"events": list(events)})


def test_assert_called_passes_and_returns_the_matches() -> None:
    sim = make_sim()
    ingest(sim, event("e1", region="eu"))
    ingest(sim, event("e2", region="us"))
    found = sim.requests.assert_called("POST", "/ingest", times=2, status=200)
    assert len(found) == 2
    sim.requests.assert_called("post", "/v1/ingest")
    only = sim.requests.assert_called(
        "POST", "/ingest", times=1, body={"events": [{"properties": {"region": "us"}}]}
    )
    assert only[0].body["events"][0]["idempotency_key"] == "e2"


def test_assert_called_lists_what_was_recorded() -> None:
    sim = make_sim()
    call(sim, "GET", "/v1/ping")
    ingest(sim, event("e1"))
    with pytest.raises(AssertionError) as failure:
        sim.requests.assert_called("POST", "/ingest", times=2)
    message = str(failure.value)
    assert "expected POST /ingest to be called 2 times" in message
    assert "it was called once." in message
    assert "Recorded requests (2):" in message
    assert "#1 GET /ping -> 200" in message
    assert "#2 POST /ingest -> 200" in message


def test_assert_called_on_an_empty_log() -> None:
    sim = make_sim()
    with pytest.raises(AssertionError, match=r"(?s)called at least once.*none\."):
        sim.requests.assert_called("GET", "/ping")


def test_assert_called_shows_a_unified_diff_of_the_body() -> None:
    sim = make_sim()
    ingest(sim, event("e1", region="eu", tier=1))
    with pytest.raises(AssertionError) as failure:
        sim.requests.assert_called(
            "POST",
            "/ingest",
            body={"events": [{"idempotency_key": "e1", "properties": {"region": "us"}}]},
        )
    message = str(failure.value)
    assert "1 request(s) matched POST /ingest but 0 had that body." in message
    assert "--- expected body (subset)" in message
    assert "+++ recorded body" in message
    assert '-        "region": "us"' in message
    assert '+        "region": "eu"' in message
    assert '"tier"' not in message.split("+++ recorded body")[1].split("Recorded requests")[0]


def test_body_subset_rules() -> None:
    sim = make_sim()
    ingest(sim, event("e1", flag=True, n=1))
    requests = sim.requests
    requests.assert_called("POST", "/ingest", body={"events": [{"properties": {"n": 1.0}}]})
    with pytest.raises(AssertionError):  # JSON true is not 1
        requests.assert_called("POST", "/ingest", body={"events": [{"properties": {"n": True}}]})
    with pytest.raises(AssertionError):  # arrays match element by element, same length
        requests.assert_called("POST", "/ingest", body={"events": []})
    with pytest.raises(AssertionError):
        requests.assert_called("POST", "/ingest", body={"missing": None})


def test_assert_not_called() -> None:
    sim = make_sim()
    sim.requests.assert_not_called("POST", "/events/backfills*")
    ingest(sim, event("e1"))
    sim.requests.assert_not_called("POST", "/ingest", status=400)
    sim.requests.assert_not_called("POST", "/ingest", body={"events": [{"idempotency_key": "e9"}]})
    with pytest.raises(AssertionError) as failure:
        sim.requests.assert_not_called(
            "POST", "/ingest", body={"events": [{"idempotency_key": "e1"}]}
        )
    message = str(failure.value)
    assert "expected POST /ingest with a body containing" in message
    assert "not to be called; it was called once:" in message
    assert "#1 POST /ingest -> 200" in message


def test_status_filter_in_assertions() -> None:
    sim = make_sim()
    call(sim, "GET", "/v1/customers/nope")
    sim.requests.assert_called("GET", "/customers/*", status=404, times=1)
    with pytest.raises(AssertionError, match=r"GET /customers/\* \(status 200\)"):
        sim.requests.assert_called("GET", "/customers/*", status=200)


def test_large_bodies_are_kept_truncated_and_the_log_is_bounded_in_bytes() -> None:
    sim = make_sim()
    log = sim.requests
    log.body_limit = 100
    big = {"name": "x" * 500, "email": "big@example.com"}
    call(sim, "POST", "/v1/customers", big)
    record = log.last()
    assert record.status == 201
    assert record.body_truncated and record.body_size == len(json.dumps(big))
    assert isinstance(record.body, str) and len(record.body) == 100  # the prefix, as text
    assert log.bytes_kept <= 200
    log.byte_limit = 1000
    for n in range(50):
        call(sim, "POST", "/v1/customers", {"name": f"n{n}", "email": f"n{n}@example.com"})
    assert log.bytes_kept <= 1000
    assert 0 < len(log) < 50  # the oldest went first
    assert log.last().body == {"name": "n49", "email": "n49@example.com"}


def test_a_refused_request_keeps_only_a_prefix_of_its_body() -> None:
    sim = make_sim()
    raw = b"x" * 100_000
    call(sim, "POST", "/v1/ingest", raw=raw, auth=False)
    record = sim.requests.last()
    assert record.status == 401
    assert record.body_size == 100_000 and record.body_truncated
    assert len(record.body) == 1024
    assert sim.requests.bytes_kept < 2048


def test_log_limits_must_be_counts() -> None:
    log = make_sim().requests
    for name in ("limit", "byte_limit", "body_limit"):
        with pytest.raises(ValueError, match=name):
            setattr(log, name, -1)
