from collections.abc import Callable

import orb

from pytest_orbsim import OrbCustomer, OrbEnv, OrbTime


def report_usage(customer_alias: str, calls: int) -> None:
    """The code under test: builds its own client from the environment."""
    client = orb.Orb()
    client.events.ingest(
        events=[
            {
                "idempotency_key": f"{customer_alias}-{n}",
                "event_name": "api_call",
                "external_customer_id": customer_alias,
                "timestamp": "2024-05-20T11:00:00Z",
                "properties": {},
            }
            for n in range(calls)
        ]
    )


def test_reporter_sends_every_call(
    orb_env: OrbEnv, orb_time: OrbTime, orb_customer: Callable[..., OrbCustomer]
) -> None:
    orb_customer(alias="acme")
    report_usage("acme", calls=3)
    assert len(orb_env.sim.billable_events(external_customer_id="acme")) == 3
    assert orb_env.base_url.endswith("/v1")
