"""The pieces a webhook delivery test wires together: a simulator on a ``ManualClock`` far from
real time, a webhook state with endpoints, a dispatcher (``Account``), and the SDK's own check
of a delivery (``verify``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orb

from orbsim import ManualClock, OrbSim
from orbsim.engine.webhooks import WebhookEndpointRecord, WebhookEvent, WebhookState
from orbsim.wire.delivery import WebhookDispatcher, WebhookRequest

START = datetime(2021, 3, 1, 9, 0, tzinfo=UTC)  # far from the real time: the SDK checks it
SDK = orb.Orb(api_key="unused", base_url="http://orbsim.invalid/v1")


def verify(request: WebhookRequest | Any, secret: str) -> Any:
    """What a receiver does: the SDK's own check and parse."""
    return SDK.webhooks.unwrap(request.body, request.headers, secret=secret)


class Account:
    """A simulator, a webhook state with endpoints, and a dispatcher: the pieces phase 2 wires."""

    def __init__(self, *urls: str, styles: tuple[str, ...] = ()) -> None:
        self.sim = OrbSim(clock=ManualClock(START))
        self.state = WebhookState()
        self.dispatcher = WebhookDispatcher(retry_delays=(0, 0, 0))
        self._n = 0
        for n, url in enumerate(urls, start=1):
            style = styles[n - 1] if n <= len(styles) else "expanded"
            self.state.endpoints[f"we_{n}"] = WebhookEndpointRecord(
                f"we_{n}",
                url,
                f"whsec_{n}",
                START,
                n,
                payload_style=style,  # type: ignore[arg-type]
            )

    def new_id(self) -> str:
        self._n += 1
        return f"evt_{self._n}"

    def customer_created(self, name: str = "Acme") -> WebhookEvent | None:
        customer = self.sim.customers.create(name=name, email=f"{name.lower()}@x.test")
        return self.state.emit(
            "customer.created", at=self.sim.now(), new_id=self.new_id, resource=customer
        )

    def test_event(self, message: str) -> WebhookEvent | None:
        return self.state.emit(
            "resource_event.test",
            at=self.sim.now(),
            new_id=self.new_id,
            properties={"message": message},
        )

    def flush(self) -> None:
        self.dispatcher.deliver(self.state.drain(), self.sim.now())
