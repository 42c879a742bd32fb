"""The simulator the strategy tests ingest into: at ``NOW``, with one customer (alias ``acme``)
whose id is reproducible (seed 0), so strategies can name it."""

from __future__ import annotations

from datetime import UTC, datetime

from orbsim import ManualClock, OrbSim, Settings

NOW = datetime(2024, 5, 20, 12, 0, tzinfo=UTC)


def fresh_sim(settings: Settings | None = None) -> tuple[OrbSim, str]:
    """A simulator at NOW with one customer (alias ``acme``); returns it and the customer id."""
    sim = OrbSim(settings=settings, clock=ManualClock(NOW), seed=0)
    customer = sim.customers.create(name="Acme", email="a@acme.test", external_customer_id="acme")
    return sim, customer.id


SIM, CUSTOMER_ID = fresh_sim()  # ids are reproducible (seed=0), so strategies can name them
