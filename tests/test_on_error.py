"""``sim.on_error``: every OrbError the simulator answers with reaches the listeners, once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orbsim import (
    DuplicateResourceCreation,
    OrbError,
    OrbSim,
    RequestValidationError,
    ResourceNotFound,
)
from orbsim.engine.reporting import raises_no_orb_error, reports_errors


@pytest.fixture
def clock_start() -> datetime:
    return datetime(2024, 5, 15, 12, tzinfo=UTC)


def test_engine_errors_reach_the_listener_once(sim: OrbSim) -> None:
    seen: list[OrbError] = []
    sim.on_error(seen.append)
    with pytest.raises(ResourceNotFound) as missing:
        sim.customers.fetch("nope")  # raised by a lookup nested in the operation
    with pytest.raises(RequestValidationError) as unknown:
        sim.events.ingest(events=[], colour="blue")  # refused before the operation starts
    with pytest.raises(RequestValidationError) as late:
        sim.billable_events(timeframe_start="soon")
    assert seen == [missing.value, unknown.value, late.value]


def test_http_errors_reach_the_listener(sim: OrbSim) -> None:
    seen: list[OrbError] = []
    sim.on_error(seen.append)
    client = sim.client(max_retries=0)
    client.customers.create(name="A", email="a@a.test", external_customer_id="acme")
    with pytest.raises(Exception, match="already belongs"):
        client.customers.create(name="B", email="b@b.test", external_customer_id="acme")
    with pytest.raises(Exception, match="URL"):
        client.get("/no/such/path", cast_to=object)
    assert [type(e).__name__ for e in seen] == ["DuplicateResourceCreation", "URLNotFound"]
    assert isinstance(seen[0], DuplicateResourceCreation)


def test_a_removed_listener_hears_nothing_more(sim: OrbSim) -> None:
    seen: list[OrbError] = []
    remove = sim.on_error(seen.append)
    remove()
    remove()  # twice is fine
    with pytest.raises(ResourceNotFound):
        sim.plans.fetch("nope")
    assert seen == []


def test_lookups_marked_as_raising_no_orb_error_are_left_unwrapped() -> None:
    """``reports_errors`` wraps every public method except the lookups marked with
    ``raises_no_orb_error`` (called many times per operation, they cannot report anything)."""
    reported: list[OrbError] = []

    class Engine:
        def report(self, error: OrbError) -> None:
            reported.append(error)

    def lookup(self: Any, key: str) -> str | None:
        return None

    def fetch(self: Any, key: str) -> str:
        raise ResourceNotFound.of("Thing", key)

    marked = raises_no_orb_error(lookup)
    service = reports_errors(type("Service", (), {"lookup": marked, "fetch": fetch}))
    assert vars(service)["lookup"] is marked
    assert vars(service)["fetch"] is not fetch
    thing = service()
    thing._engine = Engine()
    with pytest.raises(ResourceNotFound) as missing:
        thing.fetch("x")
    assert reported == [missing.value]
    assert thing.lookup("x") is None


def test_the_engine_lookups_left_unwrapped(sim: OrbSim) -> None:
    engine = sim.engine
    unwrapped = {
        engine.customers.get_live,
        engine.customers.holder_of,
        engine.subscriptions.of_customer,
        engine.usage.counted_events,
        engine.events.backfills.settle,
    }
    assert all(not hasattr(method, "__wrapped__") for method in unwrapped)
    assert hasattr(engine.customers.require, "__wrapped__")  # raises ResourceNotFound
