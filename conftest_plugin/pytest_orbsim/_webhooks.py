"""``orb_webhooks``: a webhook endpoint on ``orb_sim`` whose deliveries a test can read back.

The endpoint is created through the simulator (so it gets a signing secret like any other) at
``URL``, where an in-process receiver collects every delivery; nothing goes over the network.
``events()`` returns them verified and parsed by the SDK's ``client.webhooks.unwrap`` (or
``unwrap_standard`` for a standard-style endpoint), which is what an integration's handler does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported when used: the plugin must not load orbsim into every pytest run
    from orbsim import OrbSim

URL = "http://localhost/orbsim-webhooks"
"""Where ``orb_webhooks`` receives (a loopback URL: accepted without any setting)."""


class OrbWebhooks:
    """What ``orb_webhooks`` set up: ``endpoint`` (with its ``secret``), what arrived."""

    def __init__(self, sim: OrbSim, url: str = URL, **endpoint_fields: Any) -> None:
        self.sim = sim
        self.url = url
        self._mount = sim.webhooks.mount(url)
        self.endpoint = sim.webhook_endpoints.create(url=url, **endpoint_fields)

    @property
    def secret(self) -> str:
        return str(self.endpoint.secret)

    @property
    def requests(self) -> list[Any]:
        """The ``WebhookRequest``s received (``.body`` bytes, signed ``.headers``), in order;
        reading settles the simulator first, so what came due on the clock is there."""
        self.sim.now()
        return list(self._mount.requests)

    @property
    def deliveries(self) -> Any:
        """The simulator's delivery log (every endpoint's), for its filters and assertions."""
        return self.sim.webhooks.deliveries

    def payloads(self, type: str | None = None) -> list[Any]:
        """The bodies received, parsed as JSON (only ``type``'s if given)."""
        parsed = [json.loads(request.body) for request in self.requests]
        return [p for p in parsed if type is None or p.get("type") == type]

    def types(self) -> list[str]:
        return [payload["type"] for payload in self.payloads()]

    def events(self, type: str | None = None) -> list[Any]:
        """The deliveries verified and parsed by the SDK (``orb.Orb().webhooks.unwrap``)."""
        import orb

        client = orb.Orb(api_key="orbsim-test-key", webhook_secret=self.secret)
        standard = self.endpoint.payload_style == "standard"
        found = []
        for request in self.requests:
            unwrap = client.webhooks.unwrap_standard if standard else client.webhooks.unwrap
            event = unwrap(request.body, request.headers)
            if type is None or event.type == type:
                found.append(event)
        client.close()
        return found

    def clear(self) -> None:
        """Forget what arrived (the delivery log keeps its own record)."""
        self._mount.requests.clear()

    def __repr__(self) -> str:
        return f"OrbWebhooks({self.url!r}, {len(self._mount.requests)} received)"


@pytest.fixture
def orb_webhooks(orb_sim: OrbSim) -> Iterator[OrbWebhooks]:
    """A webhook endpoint on ``orb_sim`` (every event type, expanded payloads) whose
    deliveries collect in-process: ``.events()``, ``.payloads()``, ``.types()``, ``.secret``."""
    webhooks = OrbWebhooks(orb_sim)
    yield webhooks
    orb_sim.webhooks.unmount(webhooks.url)
