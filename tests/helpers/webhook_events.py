"""Builders of the engine's webhook tests: a webhook state with endpoints in given payload
styles, predictable event ids, a payload as a receiver parses it, a customer and a subscription."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pydantic_core

from orbsim import OrbSim
from orbsim.engine.webhooks import WebhookEndpointRecord, WebhookState

START = datetime(2024, 5, 15, 12, 30, 15, 250_000, tzinfo=UTC)


def body(state_event: Any, style: str) -> dict[str, Any]:
    """The payload as the receiver sees it: serialised, then parsed."""
    parsed: dict[str, Any] = json.loads(pydantic_core.to_json(state_event.payload(style)))
    return parsed


def ids() -> Any:
    counter = iter(range(1, 1000))
    return lambda: f"evt_{next(counter)}"


def state_with(*styles: str) -> WebhookState:
    state = WebhookState()
    for n, style in enumerate(styles, start=1):
        state.endpoints[f"we_{n}"] = WebhookEndpointRecord(
            id=f"we_{n}",
            url=f"http://localhost/hooks/{n}",
            secret=f"whsec_{n}",
            created_at=START,
            seq=n,
            payload_style=style,  # type: ignore[arg-type]
        )
    return state


def customer_and_subscription(sim: OrbSim) -> tuple[Any, Any]:
    customer = sim.customers.create(name="Acme", email="a@acme.test", external_customer_id="acme")
    plan = sim.plans.create(name="Pro", external_plan_id="pro")
    subscription = sim.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    return customer, sim.subscriptions.fetch(subscription.id)
