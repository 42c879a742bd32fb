"""Webhooks over the real HTTP server: endpoints served to any HTTP client, deliveries POSTed to a
loopback receiver, and the admin API (list deliveries, redeliver, send a test event, flush, clear)
for suites in other languages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import orb
import pytest
from orb.types.resource_event_test_webhook_event import ResourceEventTestWebhookEvent

from helpers.receiver import Receiver
from helpers.wire import START
from orbsim import OrbSim
from orbsim.wire.server import OrbSimServer

AUTH = {"Authorization": "Bearer k"}
SDK = orb.Orb(api_key="unused", base_url="http://orbsim.invalid/v1")


@pytest.fixture
def sim_seed() -> int:
    return 3


@pytest.fixture
def http(server: OrbSimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as client:
        yield client


def endpoint(http: httpx.Client, url: str, **fields: Any) -> dict[str, Any]:
    response = http.post("/v1/webhook_endpoints", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def flush(http: httpx.Client) -> None:
    assert http.post("/_orbsim/webhooks/flush", json={"timeout": 10}).json() == {"done": True}


def test_server_mode_delivers_to_a_loopback_receiver(
    http: httpx.Client, receiver: Receiver
) -> None:
    made = endpoint(http, receiver.url)
    assert made["secret"].startswith("whsec_")
    answer = http.post("/v1/customers", json={"name": "Acme", "email": "a@acme.test"})
    assert answer.status_code == 201
    flush(http)
    ((headers, body),) = receiver.requests
    parsed = SDK.webhooks.unwrap(body, headers, secret=made["secret"])
    assert parsed.type == "customer.created" and parsed.customer.id == answer.json()["id"]


def test_a_receiver_answering_500_never_breaks_the_request(
    http: httpx.Client, receiver: Receiver
) -> None:
    receiver.statuses = [500] * 10
    endpoint(http, receiver.url)
    answer = http.post("/v1/customers", json={"name": "Acme", "email": "a@acme.test"})
    assert answer.status_code == 201
    flush(http)
    (delivery,) = http.get("/_orbsim/webhooks/deliveries").json()["data"]
    assert delivery["status"] == "failed"
    assert [a["status"] for a in delivery["attempts"]] == [500, 500, 500, 500]


def test_list_filter_redeliver_and_clear(
    sim: OrbSim, http: httpx.Client, receiver: Receiver
) -> None:
    made = endpoint(http, receiver.url, enabled_event_types=["customer.created", "customer.edited"])
    customer = http.post("/v1/customers", json={"name": "A", "email": "a@a.test"}).json()
    http.put(f"/v1/customers/{customer['id']}", json={"name": "B"})
    flush(http)
    listed = http.get("/_orbsim/webhooks/deliveries").json()["data"]
    assert [d["type"] for d in listed] == ["customer.created", "customer.edited"]
    first = listed[0]
    assert first["endpoint_id"] == made["id"] and first["status"] == "delivered"
    assert first["via"] == "http" and first["occurred_at"] == "2024-05-15T12:00:00Z"
    assert json.loads(first["body"])["customer"]["name"] == "A"
    filtered = http.get("/_orbsim/webhooks/deliveries", params={"type": "customer.ed*"})
    assert [d["type"] for d in filtered.json()["data"]] == ["customer.edited"]
    assert http.get("/_orbsim/webhooks/deliveries", params={"limit": 1}).json()["data"][0][
        "type"
    ] == ("customer.edited")
    again = http.post("/_orbsim/webhooks/redeliver", json={"delivery_id": first["id"]})
    assert again.status_code == 201 and again.json()["redelivery_of"] == first["id"]
    flush(http)
    assert len(receiver.requests) == 3
    assert json.loads(receiver.requests[2][1]) == json.loads(receiver.requests[0][1])
    assert http.delete("/_orbsim/webhooks/deliveries").status_code == 204
    assert http.get("/_orbsim/webhooks/deliveries").json() == {"data": []}


def test_send_a_test_event(http: httpx.Client, receiver: Receiver) -> None:
    made = endpoint(http, receiver.url)
    sent = http.post("/_orbsim/webhooks/test", json={"message": "ping"})
    assert sent.status_code == 201
    (delivery,) = sent.json()["data"]
    assert delivery["type"] == "resource_event.test" and delivery["endpoint_id"] == made["id"]
    flush(http)
    ((headers, body),) = receiver.requests
    parsed = SDK.webhooks.unwrap(body, headers, secret=made["secret"])
    assert isinstance(parsed, ResourceEventTestWebhookEvent)
    assert parsed.properties.message == "ping"
    missing = http.post("/_orbsim/webhooks/test", json={"endpoint_id": "nope"})
    assert missing.status_code == 404
    assert http.post("/_orbsim/webhooks/test", json={}).json()["data"][0]["type"] == (
        "resource_event.test"
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "query", "words"),
    [
        ("POST", "/_orbsim/webhooks/redeliver", {}, None, "'delivery_id' must be"),
        ("POST", "/_orbsim/webhooks/redeliver", {"delivery_id": "x", "y": 1}, None, "'y'"),
        ("POST", "/_orbsim/webhooks/test", {"endpoint_id": 5}, None, "'endpoint_id' must be"),
        ("POST", "/_orbsim/webhooks/test", {"message": 5}, None, "message: expected a string"),
        ("POST", "/_orbsim/webhooks/flush", {"timeout": -1}, None, "'timeout' must be"),
        ("GET", "/_orbsim/webhooks/deliveries", None, {"status": "lost"}, "'status'"),
        ("GET", "/_orbsim/webhooks/deliveries", None, {"limit": "0"}, "'limit'"),
        ("GET", "/_orbsim/webhooks/deliveries", None, {"kind": "x"}, "unknown query"),
    ],
)
def test_bad_admin_requests_are_400(
    http: httpx.Client, method: str, path: str, body: Any, query: Any, words: str
) -> None:
    response = http.request(method, path, json=body, params=query)
    assert response.status_code == 400, response.text
    assert words in response.json()["detail"]


def test_redelivering_an_unknown_delivery_is_404(http: httpx.Client) -> None:
    response = http.post("/_orbsim/webhooks/redeliver", json={"delivery_id": "dlv_404"})
    assert response.status_code == 404
    assert "WebhookDelivery with identifier: dlv_404" in response.json()["detail"]


def test_reset_forgets_endpoints_and_deliveries(http: httpx.Client) -> None:
    made = endpoint(http, "http://localhost:9/unused")
    http.post("/_orbsim/webhooks/test", json={"endpoint_id": made["id"]})
    assert http.post("/_orbsim/reset").status_code == 200
    assert http.get("/v1/webhook_endpoints").json()["data"] == []
    assert http.get("/_orbsim/webhooks/deliveries").json() == {"data": []}


def test_a_journal_replay_at_start_sends_nothing_again(tmp_path: Any) -> None:
    """``orbsim serve --state`` re-runs the journal at start; its webhooks went out already."""
    from orbsim.wire.messages import WireRequest
    from orbsim.wire.routes import dispatch
    from orbsim.wire.statefile import PinnableManualClock, StateFile

    def post(path: str, body: Any) -> WireRequest:
        headers = {"authorization": "Bearer k", "content-type": "application/json"}
        return WireRequest("POST", path, "", headers, json.dumps(body).encode())

    url = "http://localhost/hooks"
    first = OrbSim(clock=PinnableManualClock(START), seed=3)
    first_inbox = first.webhooks.mount(url)
    state = StateFile(first, tmp_path / "state.json", dispatch)
    state.compact()
    assert state.dispatch(first, post("/v1/webhook_endpoints", {"url": url})).status == 201
    made = state.dispatch(first, post("/v1/customers", {"name": "A", "email": "a@a.test"}))
    assert made.status == 201 and len(first_inbox.requests) == 1

    second = OrbSim.load(state.path)
    second.clock = PinnableManualClock(first.clock.now())
    second_inbox = second.webhooks.mount(url)
    assert StateFile(second, state.path, dispatch).replay() == 2
    assert second_inbox.requests == []
    assert second.customers.fetch(json.loads(made.body)["id"]).name == "A"
    second.customers.update(json.loads(made.body)["id"], name="B")  # live again afterwards
    assert [r.json()["type"] for r in second_inbox.requests] == ["customer.edited"]
