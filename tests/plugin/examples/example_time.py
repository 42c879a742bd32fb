from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orb
import pytest

from orbsim import OrbSim
from pytest_orbsim import OrbCustomer, OrbTime


@pytest.mark.orbsim(now="2024-05-31T20:00:00Z")
def test_amend_window_closes_at_period_end_plus_grace(
    orb_client: orb.Orb, orb_customer: Callable[..., OrbCustomer], orb_time: OrbTime
) -> None:
    orb_customer(alias="acme")
    event: dict[str, Any] = {
        "event_name": "api_call",
        "external_customer_id": "acme",
        "timestamp": "2024-05-31T19:00:00Z",
    }
    orb_client.events.ingest(
        events=[
            {
                "idempotency_key": "e1",
                "event_name": "api_call",
                "external_customer_id": "acme",
                "timestamp": "2024-05-31T19:00:00Z",
                "properties": {},
            }
        ]
    )

    orb_time.move_to("2024-06-01T11:59:59Z")  # May is invoiced at June 1 00:00 + 12 h grace
    orb_client.events.update("e1", **event, properties={"corrected": True})

    orb_time.tick(timedelta(seconds=1))
    with pytest.raises(orb.ConstraintViolation):
        orb_client.events.update("e1", **event, properties={"too": "late"})


@pytest.mark.orbsim(grace_period=timedelta(hours=1), amend_limit=1)
def test_settings_come_from_the_marker(orb_sim: OrbSim, orb_time: OrbTime) -> None:
    assert orb_sim.settings.grace_period == timedelta(hours=1)
    assert orb_sim.settings.amend_limit == 1
    assert orb_sim.now() == orb_time.now()  # 2024-05-20T12:00:00Z, the default
