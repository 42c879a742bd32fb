from collections.abc import Callable

import orb

from orbsim import OrbSim
from pytest_orbsim import OrbCustomer


def test_usage_reaches_billing(
    orb_sim: OrbSim, orb_client: orb.Orb, orb_customer: Callable[..., OrbCustomer]
) -> None:
    customer = orb_customer(alias="acme")  # customer + plan + active subscription
    orb_client.events.ingest(
        events=[
            {
                "idempotency_key": "call-1",
                "event_name": "api_call",
                "external_customer_id": "acme",
                "timestamp": orb_sim.now().isoformat(),
                "properties": {"region": "eu"},
            }
        ]
    )
    billed = orb_sim.billable_events(customer_id=customer.id)
    assert [e.id for e in billed] == ["call-1"]
    orb_sim.requests.assert_called("POST", "/ingest", times=1)


def test_refusals_are_typed(orb_client: orb.Orb) -> None:
    try:
        orb_client.customers.fetch("no-such-customer")
    except orb.ResourceNotFound as exc:
        assert exc.status_code == 404
    else:
        raise AssertionError("expected ResourceNotFound")
