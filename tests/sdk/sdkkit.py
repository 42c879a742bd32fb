"""Helpers shared by the SDK tests (a uniquely named module: ``conftest`` is not importable
reliably when several test directories have one)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

START = datetime(2024, 5, 15, 12, tzinfo=UTC)


class CountingTransport(httpx.BaseTransport):
    """Wraps ``sim.transport()`` and remembers every request (to prove there were no retries)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)


def event(key: str, customer_id: str, when: datetime = START, **properties: Any) -> dict[str, Any]:
    return {
        "event_name": "api_call",
        "timestamp": when,
        "properties": properties or {"n": 1},
        "idempotency_key": key,
        "customer_id": customer_id,
    }


def unit_price(client: Any, cadence: str) -> dict[str, Any]:
    """A valid unit price body on a new item (Orb requires an item for every price)."""
    item = client.items.create(name=f"{cadence} item")
    return {
        "cadence": cadence,
        "name": "calls",
        "model_type": "unit",
        "item_id": item.id,
        "unit_config": {"unit_amount": "0.01"},
    }
