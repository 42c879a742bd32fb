"""Builders shared by the SDK tests: a transport that counts requests, an event payload."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import httpx

if TYPE_CHECKING:
    import orb
    from orb.types.event_ingest_params import Event

START = datetime(2024, 5, 15, 12, tzinfo=UTC)


class CountingTransport(httpx.BaseTransport):
    """Wraps ``sim.transport()`` and remembers every request (to prove there were no retries)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)


def event(key: str, customer_id: str, when: datetime = START, **properties: Any) -> Event:
    """An ``api_call`` event for the SDK's ``events.ingest`` (properties default to ``n=1``)."""
    return {
        "event_name": "api_call",
        "timestamp": when,
        "properties": properties or {"n": 1},
        "idempotency_key": key,
        "customer_id": customer_id,
    }


class Served(Protocol):
    """Anything serving the API at ``base_url`` (``OrbSimServer``, an ``orbsim serve`` process)."""

    @property
    def base_url(self) -> str: ...


def sdk(server: Served) -> orb.Orb:
    """A strictly validating SDK client for ``server``, over HTTP, without retries."""
    import orb

    return orb.Orb(
        api_key="k", base_url=server.base_url, _strict_response_validation=True, max_retries=0
    )


def error_body(error: orb.APIStatusError) -> dict[str, Any]:
    """The JSON object an SDK error carries (Orb's problem+json body)."""
    body = error.body
    assert isinstance(body, dict), body
    return body


def sdk_validate(type_: Any, value: object) -> Any:
    """``value`` validated as the SDK type ``type_`` (a model or a union of models), as the SDK
    itself does (``orb._models.validate_type``)."""
    from orb._models import validate_type

    return validate_type(type_=type_, value=value)


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
