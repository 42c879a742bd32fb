"""``orbsim.strategies.customers``: generated ``customers.create`` payloads are accepted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypothesis import given

from helpers.strategy_sim import NOW
from orbsim import ManualClock, OrbSim
from orbsim import strategies as ost

if TYPE_CHECKING:
    pass


@given(payload=ost.customer_payloads())
def test_customer_payloads_are_accepted(payload: dict[str, Any]) -> None:
    sim = OrbSim(clock=ManualClock(NOW))
    customer = sim.customers.create(**payload)
    assert customer.name == payload["name"]
    assert customer.external_customer_id == payload.get("external_customer_id")
