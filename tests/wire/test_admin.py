"""The admin API under ``/_orbsim/`` over the real HTTP server: every endpoint, its auth and its
errors, and that admin traffic is never recorded, faulted or rate limited."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers.served import TIMEOUT, Served
from helpers.wire import START
from orbsim import ManualClock, OrbSim, Settings
from orbsim.engine.timeparse import iso
from orbsim.errors import TYPE_PREFIX
from orbsim.statefile import FORMAT
from orbsim.wire.server import OrbSimServer

AUTH = {"Authorization": "Bearer k"}
CUSTOMER: dict[str, Any] = {"name": "Acme", "email": "a@acme.test", "external_customer_id": "acme"}

ENDPOINTS = [
    ("GET", "/_orbsim/state"),
    ("POST", "/_orbsim/reset"),
    ("GET", "/_orbsim/settings"),
    ("PUT", "/_orbsim/settings"),
    ("PATCH", "/_orbsim/settings"),
    ("GET", "/_orbsim/clock"),
    ("POST", "/_orbsim/clock/advance"),
    ("GET", "/_orbsim/faults"),
    ("POST", "/_orbsim/faults"),
    ("DELETE", "/_orbsim/faults"),
    ("GET", "/_orbsim/requests"),
    ("DELETE", "/_orbsim/requests"),
    ("GET", "/_orbsim/webhooks/deliveries"),
    ("DELETE", "/_orbsim/webhooks/deliveries"),
    ("POST", "/_orbsim/webhooks/redeliver"),
    ("POST", "/_orbsim/webhooks/test"),
    ("POST", "/_orbsim/webhooks/flush"),
]


def make(**settings: Any) -> OrbSim:
    return OrbSim(settings=Settings(**settings), clock=ManualClock(START), seed=11)


@pytest.fixture
def sim_seed() -> int:
    return 11


@pytest.fixture
def http(server: OrbSimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=TIMEOUT) as client:
        yield client


def problem(response: httpx.Response, status: int, suffix: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == TYPE_PREFIX + suffix, body
    assert body["status"] == status and body["title"] and body["detail"]
    return body


# -- auth and routing ------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_needs_the_api_key(server: OrbSimServer, method: str, path: str) -> None:
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as anonymous:
        problem(anonymous.request(method, path), 401, "401-authentication-error")
        wrong = anonymous.request(method, path, headers={"Authorization": "Basic k"})
        problem(wrong, 401, "401-authentication-error")


def test_configured_api_keys_apply_to_admin_requests() -> None:
    sim = make(api_keys=frozenset({"secret"}))
    with sim.serve() as server, httpx.Client(base_url=server.url, timeout=TIMEOUT) as http:
        denied = http.get("/_orbsim/clock", headers={"Authorization": "Bearer other"})
        problem(denied, 401, "401-authentication-error")
        assert http.get("/_orbsim/clock", headers={"Authorization": "Bearer secret"}).is_success


def test_admin_is_also_served_under_v1(http: httpx.Client) -> None:
    assert http.get("/v1/_orbsim/clock").json() == http.get("/_orbsim/clock").json()
    assert http.post("/v1/_orbsim/clock/advance", json={"seconds": 1}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_orbsim/nothing"),
        ("POST", "/_orbsim/nothing"),
    ],
)
def test_unknown_admin_paths_are_url_not_found(http: httpx.Client, method: str, path: str) -> None:
    body = problem(http.request(method, path), 404, "404-url-not-found")
    assert "admin endpoint" in body["detail"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/_orbsim/clock", "GET"),
        ("GET", "/_orbsim/reset", "POST"),
        ("POST", "/_orbsim/state", "GET"),
        ("GET", "/_orbsim/clock/advance", "POST"),
        ("POST", "/_orbsim/settings", "GET, PATCH, PUT"),
        ("POST", "/_orbsim/", "GET"),  # GET /_orbsim/ is the dashboard
    ],
)
def test_admin_paths_with_another_method_are_405_with_allow(
    http: httpx.Client, method: str, path: str, allow: str
) -> None:
    response = http.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["type"] == TYPE_PREFIX + "404-url-not-found"


def test_unknown_query_parameters_are_refused(http: httpx.Client) -> None:
    problem(http.get("/_orbsim/clock", params={"x": "1"}), 400, "400-request-validation-errors")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/_orbsim/reset"), ("DELETE", "/_orbsim/faults"), ("DELETE", "/_orbsim/requests")],
)
def test_endpoints_without_a_body_refuse_one(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path, json={"unexpected": 1})
    body = problem(response, 400, "400-request-validation-errors")
    assert "unexpected" in body["detail"]
    assert http.request(method, path, json={}).is_success  # an empty object is no body


# -- state and reset -------------------------------------------------------------------------------


def test_state_never_lists_the_api_keys() -> None:
    sim = OrbSim(settings=Settings(api_keys=frozenset({"key-one", "key-two"})))
    with sim.serve() as server:
        response = httpx.get(
            f"{server.url}/_orbsim/state", headers={"Authorization": "Bearer key-one"}
        )
    assert response.status_code == 200
    assert response.json()["state"]["settings"]["api_keys"] is None
    assert b"key-two" not in response.content and b"key-one" not in response.content


def test_state_is_the_dump_document(sim: OrbSim, http: httpx.Client, tmp_path: Path) -> None:
    http.post("/v1/customers", json=CUSTOMER, headers={"Idempotency-Key": "c1"})
    response = http.get("/_orbsim/state")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["format"] == FORMAT
    assert document["clock"] == {"now": iso(START), "manual": True}
    assert [c["customer"]["name"] for c in document["state"]["customers"]] == ["Acme"]
    assert [k["key"] for k in document["extensions"]["idempotency"]] == ["c1"]
    sim.dump(tmp_path / "state.json")
    assert document == json.loads((tmp_path / "state.json").read_text())


def test_state_is_streamed_from_the_moment_it_was_asked_for(
    sim: OrbSim, server: OrbSimServer
) -> None:
    customer = sim.customers.create(**CUSTOMER)
    plan = sim.plans.create(name="P")
    sim.subscriptions.create(customer_id=customer.id, plan_id=plan.id, start_date="2024-05-01")
    events = [
        {
            "idempotency_key": f"e{n}",
            "event_name": "call",
            "customer_id": customer.id,
            "timestamp": iso(START - timedelta(minutes=1)),
            "properties": {"n": n},
        }
        for n in range(5000)
    ]
    sim.events.ingest(events=events)
    expected = sim.state_document()
    with (
        httpx.Client(base_url=server.url, headers=AUTH, timeout=TIMEOUT) as reader,
        httpx.Client(base_url=server.url, headers=AUTH, timeout=TIMEOUT) as writer,
        reader.stream("GET", "/_orbsim/state") as response,
    ):
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        chunks = response.iter_raw()
        received = [next(chunks)]
        # Half-read: the server holds no lock, and what changes now is not in this answer.
        amend = {"event_name": "renamed", "properties": {}, "timestamp": events[0]["timestamp"]}
        changed = writer.put("/v1/events/e0", json={**amend, "customer_id": customer.id})
        assert changed.status_code == 200, changed.text
        more = [{**events[0], "idempotency_key": "late"}]
        assert writer.post("/v1/ingest", json={"events": more}).status_code == 200
        received.extend(chunks)
    assert len(received) > 2  # the events came in pieces, not as one document
    assert json.loads(b"".join(received)) == expected
    assert len(sim.event_versions("e0")) == 2


def test_state_streams_through_the_in_process_transports_too(sim: OrbSim) -> None:
    sim.customers.create(**CUSTOMER)
    expected = sim.state_document()
    with (
        httpx.Client(transport=sim.transport(), base_url="http://orbsim", headers=AUTH) as http,
        http.stream("GET", "/_orbsim/state") as response,
    ):
        assert "content-length" not in response.headers
        assert json.loads(response.read()) == expected

    async def fetch() -> Any:
        transport = sim.async_transport()
        async with httpx.AsyncClient(
            transport=transport, base_url="http://orbsim", headers=AUTH
        ) as http:
            return (await http.get("/_orbsim/state")).json()

    assert asyncio.run(fetch()) == expected


def test_reset_empties_the_account_and_keeps_settings_seed_and_clock(http: httpx.Client) -> None:
    fresh_id = make().customers.create(**CUSTOMER).id  # what the first customer is called
    keyed = {"Idempotency-Key": "c1"}
    first = http.post("/v1/customers", json=CUSTOMER, headers=keyed).json()
    assert first["id"] == fresh_id
    http.post("/v1/customers", json={**CUSTOMER, "external_customer_id": "b"})
    http.post("/_orbsim/clock/advance", json={"seconds": 30})
    http.post("/_orbsim/faults", json={"kind": 500, "path": "/plans"})

    response = http.post("/_orbsim/reset")
    assert response.status_code == 200
    assert response.json() == {"now": iso(START + timedelta(seconds=30)), "manual": True}
    assert http.get("/_orbsim/requests").json() == {"data": []}
    assert http.get("/_orbsim/faults").json() == {"data": []}
    assert http.get("/v1/customers").json()["data"] == []
    again = http.post("/v1/customers", json=CUSTOMER, headers=keyed)
    assert again.headers.get("idempotent-replayed") is None  # keys went with the state
    assert again.json()["id"] == fresh_id  # ids start over from the same seed
    assert again.json()["created_at"] == "2024-05-15T12:00:30Z"  # the clock stayed


def test_reset_keeps_the_settings(http: httpx.Client) -> None:
    sim = make(grace_period=timedelta(hours=48), api_keys=frozenset({"k"}))
    with sim.serve() as server, httpx.Client(base_url=server.url, headers=AUTH) as client:
        assert client.post("/_orbsim/reset").status_code == 200
        assert sim.settings.grace_period == timedelta(hours=48)
        assert sim.settings.api_keys == frozenset({"k"})
        document = client.get("/_orbsim/state").json()
        assert document["state"]["settings"]["grace_period"] == "P2D"
        assert document["state"]["seed"] == 11


# -- the clock -------------------------------------------------------------------------------------


def test_clock_reports_time_and_kind(http: httpx.Client) -> None:
    assert http.get("/_orbsim/clock").json() == {"now": iso(START), "manual": True}


def test_advance_by_seconds_and_to_a_time(sim: OrbSim, http: httpx.Client) -> None:
    moved = http.post("/_orbsim/clock/advance", json={"seconds": 90})
    assert moved.json() == {"now": iso(START + timedelta(seconds=90)), "manual": True}
    moved = http.post("/_orbsim/clock/advance", json={"seconds": 0.5})
    assert moved.json()["now"] == "2024-05-15T12:01:30.500Z"
    moved = http.post("/_orbsim/clock/advance", json={"to": "2024-06-01T00:00:00Z"})
    assert moved.json()["now"] == "2024-06-01T00:00:00Z"
    same = http.post("/_orbsim/clock/advance", json={"to": "2024-06-01T02:00:00+02:00"})
    assert same.json()["now"] == "2024-06-01T00:00:00Z"  # standing still is allowed
    assert sim.now().isoformat() == "2024-06-01T00:00:00+00:00"


def test_advancing_settles_what_became_due(http: httpx.Client) -> None:
    customer = http.post("/v1/customers", json=CUSTOMER).json()
    backfill = http.post(
        "/v1/events/backfills",
        json={
            "timeframe_start": "2024-05-01T00:00:00Z",
            "timeframe_end": "2024-05-02T00:00:00Z",
            "customer_id": customer["id"],
        },
    ).json()
    assert backfill["status"] == "pending"
    http.post("/_orbsim/clock/advance", json={"seconds": 86400})
    fetched = http.get(f"/v1/events/backfills/{backfill['id']}").json()
    assert fetched["status"] == "reflected"


@pytest.mark.parametrize(
    ("body", "status", "suffix", "words"),
    [
        ({}, 400, "400-request-validation-errors", "exactly one"),
        (
            {"seconds": 1, "to": "2024-06-01T00:00:00Z"},
            400,
            "400-request-validation-errors",
            "exactly one",
        ),
        ({"minutes": 1}, 400, "400-request-validation-errors", "'minutes'"),
        ({"seconds": "60"}, 400, "400-request-validation-errors", "finite number"),
        ({"seconds": True}, 400, "400-request-validation-errors", "finite number"),
        ({"seconds": None}, 400, "400-request-validation-errors", "finite number"),
        ({"seconds": 1e300}, 400, "400-request-validation-errors", "1000 years"),
        ({"seconds": -1}, 400, "400-constraint-violation", "only moves forward"),
        ({"to": "2024-01-01T00:00:00Z"}, 400, "400-constraint-violation", "only moves forward"),
        ({"to": "tomorrow"}, 400, "400-request-validation-errors", "ISO 8601"),
        ({"to": 1717200000}, 400, "400-request-validation-errors", "ISO 8601"),
        ({"to": "9999-12-30T00:00:00Z"}, 400, "400-request-validation-errors", "1000 years"),
    ],
)
def test_bad_advance_bodies_are_refused_and_leave_the_clock(
    sim: OrbSim, http: httpx.Client, body: Any, status: int, suffix: str, words: str
) -> None:
    response = http.post("/_orbsim/clock/advance", json=body)
    assert words in problem(response, status, suffix)["detail"]
    assert sim.now() == START


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"{", "not valid JSON"), (b"[1]", "JSON object"), (b"null", "JSON object")],
)
def test_malformed_advance_bodies_are_refused(
    http: httpx.Client, content: bytes, words: str
) -> None:
    response = http.post(
        "/_orbsim/clock/advance", content=content, headers={"content-type": "application/json"}
    )
    assert words in problem(response, 400, "400-request-validation-errors")["detail"]


def test_bodies_are_json_whatever_the_content_type(http: httpx.Client) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}  # what curl -d sends
    moved = http.post("/_orbsim/clock/advance", content=b'{"seconds": 5}', headers=form)
    assert moved.status_code == 200, moved.text


def test_advance_is_refused_on_the_system_clock() -> None:
    sim = OrbSim()
    with sim.serve() as server, httpx.Client(base_url=server.url, headers=AUTH) as http:
        assert http.get("/_orbsim/clock").json()["manual"] is False
        response = http.post("/_orbsim/clock/advance", json={"seconds": 60})
        detail = problem(response, 400, "400-constraint-violation")["detail"]
        assert "system clock" in detail and "--clock manual" in detail


# -- faults ----------------------------------------------------------------------------------------


def test_faults_are_added_listed_fired_and_cleared(sim: OrbSim, http: httpx.Client) -> None:
    added = http.post(
        "/_orbsim/faults", json={"kind": 503, "method": "post", "path": "/customers", "times": 2}
    )
    assert added.status_code == 201
    fault = added.json()
    assert fault | {"id": "x"} == {
        "id": "x",
        "kind": 503,
        "method": "POST",
        "path": "/customers",
        "times": 2,
        "probability": None,
        "seed": None,
        "retry_after_ms": 1,
        "fired": 0,
        "active": True,
    }
    assert http.get("/_orbsim/faults").json() == {"data": [fault]}
    assert http.post("/v1/customers", json=CUSTOMER).status_code == 503
    listed = http.get("/_orbsim/faults").json()["data"]
    assert [(f["id"], f["fired"]) for f in listed] == [(fault["id"], 1)]

    http.post("/_orbsim/faults", json={"kind": "lost_response", "path": "/plans"})
    assert len(sim.faults) == 2
    cleared = http.delete("/_orbsim/faults")
    assert cleared.status_code == 204 and cleared.content == b""
    assert http.get("/_orbsim/faults").json() == {"data": []}
    assert http.post("/v1/customers", json=CUSTOMER).status_code == 201


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "'kind' is required"),
        ({"kind": 200}, "cannot inject HTTP status 200"),
        ({"kind": "explode"}, "unknown fault kind"),
        ({"kind": 500, "times": 0}, "times must be between 1 and 1000000"),
        ({"kind": 500, "probability": 2}, "probability"),
        ({"kind": 500, "path": ""}, "path"),
        ({"kind": 500, "when": "later"}, "'when'"),
    ],
)
def test_bad_fault_bodies_are_refused(
    sim: OrbSim, http: httpx.Client, body: Any, words: str
) -> None:
    response = http.post("/_orbsim/faults", json=body)
    assert words in problem(response, 400, "400-request-validation-errors")["detail"]
    assert len(sim.faults) == 0


def test_admin_requests_are_never_faulted(sim: OrbSim, http: httpx.Client) -> None:
    http.post("/_orbsim/faults", json={"kind": 500, "times": 5})
    for method, path in ENDPOINTS:
        if path != "/_orbsim/faults":
            body = {"seconds": 1} if path.endswith("advance") else None
            assert http.request(method, path, json=body).status_code < 500, (method, path)
    listed = http.get("/_orbsim/faults").json()["data"]
    if listed:  # reset cleared it; if not, it must not have fired on admin traffic
        assert listed[0]["fired"] == 0


# -- the request log -------------------------------------------------------------------------------


def test_the_log_lists_api_requests_but_not_admin_ones(http: httpx.Client) -> None:
    http.get("/_orbsim/clock")
    http.post("/v1/customers", json=CUSTOMER)
    http.post("/v1/customers", json=CUSTOMER)  # duplicate alias: 400
    http.get("/v1/customers")
    http.post("/_orbsim/clock/advance", json={"seconds": 1})
    data = http.get("/_orbsim/requests").json()["data"]
    assert [(r["method"], r["path"], r["status"]) for r in data] == [
        ("POST", "/customers", 201),
        ("POST", "/customers", 400),
        ("GET", "/customers", 200),
    ]
    assert data[0]["body"] == CUSTOMER and data[0]["response"]["name"] == "Acme"

    def listed(**params: Any) -> list[tuple[str, int]]:
        found = http.get("/_orbsim/requests", params=params)
        assert found.status_code == 200, found.text
        return [(r["method"], r["status"]) for r in found.json()["data"]]

    assert listed(method="get") == [("GET", 200)]
    assert listed(path="/customers", status=201) == [("POST", 201)]
    assert listed(status="4xx") == [("POST", 400)]
    assert listed(path="/v1/cust*") == [("POST", 201), ("POST", 400), ("GET", 200)]
    assert listed(limit=2) == [("POST", 400), ("GET", 200)]

    cleared = http.delete("/_orbsim/requests")
    assert cleared.status_code == 204
    assert http.get("/_orbsim/requests").json() == {"data": []}


@pytest.mark.parametrize(
    "query",
    ["status=abc", "status=2x", "status=1000", "limit=0", "limit=-1", "limit=x", "order=asc"],
)
def test_bad_log_filters_are_refused(http: httpx.Client, query: str) -> None:
    problem(http.get(f"/_orbsim/requests?{query}"), 400, "400-request-validation-errors")


def test_admin_requests_are_not_rate_limited() -> None:
    sim = make(requests_per_second=1)
    with sim.serve() as server, httpx.Client(base_url=server.url, headers=AUTH) as http:
        assert http.get("/v1/ping").status_code == 200
        assert http.get("/v1/ping").status_code == 429  # the API is limited...
        for _ in range(5):  # ...the admin API is not
            assert http.get("/_orbsim/clock").status_code == 200
        assert len(sim.requests) == 2


# -- orbsim serve --clock manual -------------------------------------------------------------------


def test_serve_with_a_manual_clock_lets_other_languages_drive_time() -> None:
    server = Served("--clock", "manual", "--now", "2024-05-20T12:00:00Z")
    try:
        with httpx.Client(
            base_url=server.base_url.removesuffix("/v1"), headers=AUTH, timeout=TIMEOUT
        ) as http:
            assert http.get("/_orbsim/clock").json() == {
                "now": "2024-05-20T12:00:00Z",
                "manual": True,
            }
            moved = http.post("/_orbsim/clock/advance", json={"to": "2024-05-21T00:00:00Z"})
            assert moved.json()["now"] == "2024-05-21T00:00:00Z"
            created = http.post("/v1/customers", json=CUSTOMER).json()
            assert created["created_at"] == "2024-05-21T00:00:00Z"
        assert server.stop(signal.SIGTERM) == 0
    finally:
        server.close()


def test_serve_defaults_to_the_system_clock(served_default: Served) -> None:
    with httpx.Client(
        base_url=served_default.base_url.removesuffix("/v1"), headers=AUTH, timeout=TIMEOUT
    ) as http:
        assert http.get("/_orbsim/clock").json()["manual"] is False


@pytest.fixture
def served_default() -> Iterator[Served]:
    server = Served()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--now", "2024-05-20T12:00:00Z"], "--now needs --clock manual"),
        (["--clock", "manual", "--now", "yesterday"], "ISO 8601"),
        (["--clock", "sundial"], "invalid choice"),
    ],
)
def test_serve_refuses_bad_clock_options(args: list[str], words: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orbsim.cli", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 2
    assert words in result.stderr
