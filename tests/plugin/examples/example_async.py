import orb
import pytest

from pytest_orbsim import OrbTime


@pytest.mark.asyncio
async def test_async_client(orb_async_client: orb.AsyncOrb, orb_time: OrbTime) -> None:
    customer = await orb_async_client.customers.create(name="Acme", email="billing@acme.test")
    assert customer.created_at == orb_time.now()
