"""Backfill reflection is asynchronous, as Orb's SDK says: by default the close (or revert)
answer is never already ``reflected`` (``reverted``), and a poll loop runs at least once, at no
wall-clock cost. Progressions follow moto's state-transition manager: after N observations of the
backfill (default: 1), after a time on the simulator's clock, or immediately."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from helpers.sdk import START, event
from orbsim import ManualClock, OrbSim, Settings

DAY = "2024-05-10T00:00:00Z"
NEXT_DAY = "2024-05-11T00:00:00Z"


def setup(settings: Settings | None = None) -> tuple[OrbSim, Any, str, str]:
    """A simulator on May 15 with a customer who has one live event on May 10 at 03:00 and a
    pending backfill of May 10 holding one event at 05:00 (replacing the live one)."""
    clock = ManualClock("2024-05-10T06:00:00Z")
    sim = OrbSim(settings=settings, clock=clock)
    client = sim.client(_strict_response_validation=True)
    customer = client.customers.create(name="Acme", email="a@acme.test")
    plan = client.plans.create(name="p", currency="USD", prices=[])
    client.subscriptions.create(
        customer_id=customer.id, plan_id=plan.id, start_date="2024-05-01T00:00:00Z"
    )
    sim.events.ingest(events=[event("live", customer.id, when=_at("03"))])
    clock.set(START)
    backfill = client.events.backfills.create(
        timeframe_start=DAY, timeframe_end=NEXT_DAY, customer_id=customer.id
    )
    client.events.ingest(
        events=[event("backfilled", customer.id, when=_at("05"))], backfill_id=backfill.id
    )
    return sim, client, backfill.id, customer.id


def _at(hour: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(f"2024-05-10T{hour}:00:00+00:00")


def billed(sim: OrbSim, customer_id: str) -> list[str]:
    return [e.id for e in sim.billable_events(customer_id=customer_id, timeframe_start=DAY)]


def test_by_default_close_answers_pending_and_the_poll_loop_runs_once() -> None:
    sim, client, backfill_id, customer_id = setup()
    closed = client.events.backfills.close(backfill_id)
    assert closed.status == "pending"
    assert closed.close_time == START  # closed now: no longer accepting events
    assert billed(sim, customer_id) == ["live"]  # not reflected yet
    polls = 0
    status = closed.status
    while status != "reflected":  # the poll loop a user of Orb writes
        polls += 1
        assert polls < 10
        status = client.events.backfills.fetch(backfill_id).status
    assert polls == 1
    assert billed(sim, customer_id) == ["backfilled"]


def test_by_default_revert_answers_pending_revert_then_reverted() -> None:
    sim, client, backfill_id, customer_id = setup()
    client.events.backfills.close(backfill_id)
    assert client.events.backfills.fetch(backfill_id).status == "reflected"
    reverting = client.events.backfills.revert(backfill_id)
    assert (reverting.status, reverting.reverted_at) == ("pending_revert", None)
    assert billed(sim, customer_id) == ["backfilled"]  # still in effect until reverted
    reverted = client.events.backfills.fetch(backfill_id)
    assert (reverted.status, reverted.reverted_at) == ("reverted", START)
    assert billed(sim, customer_id) == ["live"]


def test_after_n_observations_and_list_is_an_observation_too() -> None:
    sim, client, backfill_id, _ = setup(Settings(reflection_observations=3))
    assert client.events.backfills.close(backfill_id).status == "pending"
    assert client.events.backfills.fetch(backfill_id).status == "pending"  # 1
    assert [b.status for b in client.events.backfills.list().data] == ["pending"]  # 2
    assert sim.events.backfills.fetch(backfill_id).status == "reflected"  # 3 (engine reads too)
    assert client.events.backfills.fetch(backfill_id).status == "reflected"


def test_after_a_time_on_the_simulators_clock() -> None:
    settings = Settings(reflection_progression="time", reflection_delay="10m")
    sim, client, backfill_id, customer_id = setup(settings)
    assert client.events.backfills.close(backfill_id).status == "pending"
    for _ in range(5):
        assert client.events.backfills.fetch(backfill_id).status == "pending"
    sim.clock.advance(minutes=10)  # type: ignore[attr-defined]
    assert billed(sim, customer_id) == ["backfilled"]  # reflected at close + 10 min, unobserved
    assert client.events.backfills.fetch(backfill_id).status == "reflected"


def test_a_reflection_delay_alone_means_time_progression() -> None:
    assert Settings(reflection_delay=timedelta(hours=1)).reflection_progression == "time"
    assert Settings().reflection_progression == "observations"
    with pytest.raises(ValidationError, match="reflection_delay"):
        Settings(reflection_progression="observations", reflection_delay="1h")


def test_immediate_is_still_available() -> None:
    sim, client, backfill_id, customer_id = setup(Settings(reflection_progression="immediate"))
    assert client.events.backfills.close(backfill_id).status == "reflected"
    assert billed(sim, customer_id) == ["backfilled"]
    assert client.events.backfills.revert(backfill_id).status == "reverted"


def test_a_backfill_closed_by_its_close_time_reflects_on_observation() -> None:
    sim, client, backfill_id, customer_id = setup()
    sim.clock.advance(days=2)  # type: ignore[attr-defined]  # past the default close_time
    assert billed(sim, customer_id) == ["live"]
    fetched = client.events.backfills.fetch(backfill_id)
    assert fetched.status == "reflected"
    assert fetched.close_time == START + timedelta(days=1)


def test_reverting_a_backfill_never_closed_is_immediate() -> None:
    _, client, backfill_id, _ = setup()
    assert client.events.backfills.revert(backfill_id).status == "reverted"


def test_peeking_at_a_reflecting_backfill_is_not_a_read() -> None:
    # Tools that watch the account (the dashboard, a state machine's checks) use peek: it shows
    # the status without moving the backfill on; the next fetch is still the first read.
    sim, client, backfill_id, customer_id = setup()
    client.events.backfills.close(backfill_id)
    assert sim.events.backfills.peek(backfill_id).status == "pending"
    assert [b.status for b in sim.events.backfills.peek_all()] == ["pending"]
    assert billed(sim, customer_id) == ["live"]
    assert client.events.backfills.fetch(backfill_id).status == "reflected"
    assert sim.events.backfills.peek(backfill_id).status == "reflected"


def test_peek_all_lists_newest_first_like_list() -> None:
    sim, client, first, customer_id = setup()
    client.events.backfills.revert(first)
    second = client.events.backfills.create(
        timeframe_start=DAY, timeframe_end=NEXT_DAY, customer_id=customer_id
    )
    assert [b.id for b in sim.events.backfills.peek_all()] == [second.id, first]
    assert [b.id for b in sim.events.backfills.peek_all()] == [
        b.id for b in client.events.backfills.list().data
    ]
