"""Fixtures for driving the official SDK against an in-process simulator, strictly validated."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from helpers.sdk import START, CountingTransport, unit_price
from orbsim import OrbSim

pytest.importorskip("orb")


@pytest.fixture
def clock_start() -> datetime:
    """The SDK tests' clock starts at ``helpers.sdk.START``."""
    return START


@pytest.fixture
def counting(sim: OrbSim) -> CountingTransport:
    return CountingTransport(sim.transport())


@pytest.fixture
def client(sim: OrbSim, counting: CountingTransport) -> Iterator[Any]:
    with sim.client(
        _strict_response_validation=True, http_client=httpx.Client(transport=counting)
    ) as c:
        yield c


@pytest.fixture
def customer(client: Any) -> Any:
    return client.customers.create(name="Acme", email="ops@acme.test", external_customer_id="acme")


@pytest.fixture
def subscribed(client: Any, customer: Any) -> Any:
    """``customer`` on a monthly plan (current period: May 2024)."""
    plan = client.plans.create(
        name="Usage",
        currency="USD",
        external_plan_id="usage",
        prices=[{"price": unit_price(client, "monthly")}],
    )
    client.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    return customer
