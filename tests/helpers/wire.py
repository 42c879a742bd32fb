"""Helpers for the wire tests: build ``WireRequest``s, decode answers, fingerprint state."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from orbsim import ManualClock, OrbSim, Settings
from orbsim.errors import ERRORS_BY_TYPE, TYPE_PREFIX
from orbsim.wire.messages import WireRequest, WireResponse
from orbsim.wire.routes import dispatch

START = datetime(2024, 5, 15, 12, tzinfo=UTC)
AUTH = {"authorization": "Bearer test-key"}


def request(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    auth: bool = True,
) -> WireRequest:
    """A request as a transport would build it; ``body`` is JSON-encoded, ``raw`` sent as is."""
    fields = dict(AUTH) if auth else {}
    content = raw if raw is not None else b""
    if body is not None:
        content = json.dumps(body).encode()
        fields["content-type"] = "application/json"
    fields.update(headers or {})
    return WireRequest(method, path, query, fields, content)


def call(sim: OrbSim, method: str, path: str, body: Any = None, **kw: Any) -> WireResponse:
    return dispatch(sim, request(method, path, body, **kw))


def payload(response: WireResponse) -> Any:
    return json.loads(response.body)


def assert_problem(
    response: WireResponse, status: int, suffix: str | None = None
) -> dict[str, Any]:
    """A well-formed Orb error: JSON, type/status/title/detail, status consistent with type."""
    assert response.status == status, (response.status, response.body)
    assert response.header("content-type") == "application/json"
    body = json.loads(response.body)
    assert isinstance(body, dict)
    assert {"type", "status", "title", "detail"} <= body.keys()
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["type"].startswith(TYPE_PREFIX)
    kind = body["type"].removeprefix(TYPE_PREFIX)
    if status == 405:  # a served path with another method: Orb's url-not-found body, and Allow
        assert kind == "404-url-not-found" and response.header("allow"), body
    else:
        assert ERRORS_BY_TYPE[kind].status == status
    if suffix is not None:
        assert kind == suffix, body
    assert "Traceback" not in response.body.decode()
    return body


def make_sim(**settings: Any) -> OrbSim:
    return OrbSim(settings=Settings(**settings), clock=ManualClock(START))


def populate(sim: OrbSim) -> dict[str, str]:
    """A small account: two customers (one with an alias), a plan, a subscription, events, a
    backfill. Returns the ids the tests refer to."""
    alice = sim.customers.create(
        name="Alice", email="alice@example.com", external_customer_id="a/b c"
    )
    bob = sim.customers.create(name="Bob", email="bob@example.com")
    plan = sim.plans.create(name="Basic", external_plan_id="basic")
    sub = sim.subscriptions.create(customer_id=alice.id, plan_id=plan.id)
    now = sim.now()
    sim.events.ingest(
        events=[
            {
                "event_name": "api_call",
                "timestamp": now.isoformat(),
                "properties": {"n": i},
                "idempotency_key": f"evt-{i}",
                "customer_id": alice.id,
            }
            for i in range(3)
        ]
    )
    backfill = sim.events.backfills.create(
        timeframe_start="2024-05-01T00:00:00Z",
        timeframe_end="2024-05-02T00:00:00Z",
        customer_id=bob.id,
    )
    item = sim.items.create(name="API")
    metric = sim.metrics.create(
        name="calls", description=None, item_id=item.id, sql="SELECT COUNT(*) FROM events"
    )
    price = sim.prices.create(
        name="calls",
        item_id=item.id,
        billable_metric_id=metric.id,
        cadence="monthly",
        currency="USD",
        model_type="unit",
        unit_config={"unit_amount": "0.50"},
        external_price_id="calls",
    )
    return {
        "alice": alice.id,
        "bob": bob.id,
        "plan": plan.id,
        "subscription": sub.id,
        "backfill": backfill.id,
        "event": "evt-0",
        "item": item.id,
        "metric": metric.id,
        "price": price.id,
    }


def fingerprint(sim: OrbSim) -> str:
    """Everything a rejected request must leave untouched, as one comparable string."""
    state = {
        "customers": sim.customers.list(limit=100).model_dump(mode="json"),
        "plans": sim.plans.list(limit=100).model_dump(mode="json"),
        "subscriptions": sim.subscriptions.list(limit=100).model_dump(mode="json"),
        "backfills": sim.events.backfills.list(limit=100).model_dump(mode="json"),
        "billable": [e.model_dump(mode="json") for e in sim.billable_events()],
        "versions": [
            v.model_dump(mode="json") for i in range(3) for v in sim.event_versions(f"evt-{i}")
        ],
        "stored": sim.engine.state.events.count,
        "items": sim.items.list(limit=100).model_dump(mode="json"),
        "metrics": sim.metrics.list(limit=100).model_dump(mode="json"),
        "prices": sim.prices.list(limit=100).model_dump(mode="json"),
    }
    return json.dumps(state, sort_keys=True)
