"""The state assertion helpers: they pass on the truth, and fail with a diff that explains."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orbsim import ManualClock, OrbSim, Settings
from orbsim.assertions import assert_backfill_status, assert_billable_events, assert_matches


@pytest.fixture
def sim() -> OrbSim:
    sim = OrbSim(clock=ManualClock("2024-05-20T12:00:00Z"))
    customer = sim.customers.create(name="Acme", email="a@acme.test", external_customer_id="acme")
    plan = sim.plans.create(name="usage")
    sim.subscriptions.create(customer_id=customer.id, plan_id=plan.id, start_date="2024-05-01")
    sim.events.ingest(
        events=[
            {
                "idempotency_key": f"evt-{n}",
                "event_name": "api_call",
                "external_customer_id": "acme",
                "timestamp": f"2024-05-20T1{n}:00:00Z",
                "properties": {"region": "eu" if n else "us"},
            }
            for n in range(2)
        ]
    )
    return sim


def test_billable_events_by_count_ids_and_fields(sim: OrbSim) -> None:
    events = assert_billable_events(sim, 2, external_customer_id="acme")
    assert [e.id for e in events] == ["evt-0", "evt-1"]
    assert_billable_events(sim, ["evt-0", "evt-1"], external_customer_id="acme")
    expected: list[dict[str, Any]] = [
        {
            "id": "evt-0",
            "properties": {"region": "us"},
            "timestamp": "2024-05-20T12:00:00+02:00",  # 10:00Z, the same instant
        },
        {"id": "evt-1", "event_name": "api_call"},
    ]
    assert_billable_events(sim, expected, external_customer_id="acme")
    assert_billable_events(sim, 0, external_customer_id="acme", event_name="storage")


def test_a_wrong_count_lists_what_is_billable(sim: OrbSim) -> None:
    with pytest.raises(AssertionError) as failure:
        assert_billable_events(sim, 3, external_customer_id="acme")
    message = str(failure.value)
    assert "billable events of customer alias 'acme': expected 3, found 2" in message
    assert 'evt-1  2024-05-20T11:00:00Z  api_call  {"region": "eu"}' in message


def test_wrong_ids_show_a_diff(sim: OrbSim) -> None:
    sim.events.deprecate("evt-0")
    with pytest.raises(AssertionError) as failure:
        assert_billable_events(sim, ["evt-0", "evt-1"], external_customer_id="acme")
    message = str(failure.value)
    assert "--- expected ids" in message and "+++ billable ids" in message
    assert '-  "evt-0",' in message


def test_wrong_fields_show_only_the_fields_named(sim: OrbSim) -> None:
    with pytest.raises(AssertionError) as failure:
        assert_billable_events(
            sim,
            [{"properties": {"region": "us"}}, {"properties": {"region": "us"}}],
            external_customer_id="acme",
        )
    message = str(failure.value)
    assert '-      "region": "us"' in message and '+      "region": "eu"' in message
    assert "event_name" not in message  # the diff shows what the expectation names


def test_expectations_of_the_wrong_type_are_refused(sim: OrbSim) -> None:
    with pytest.raises(TypeError, match="a count, a list of event ids, or a list of mappings"):
        assert_billable_events(sim, [1, 2], external_customer_id="acme")  # type: ignore[arg-type]


def test_backfill_status_and_fields() -> None:
    sim = OrbSim(
        clock=ManualClock("2024-05-20T12:00:00Z"),
        settings=Settings(reflection_delay=timedelta(minutes=10)),
    )
    backfill = sim.events.backfills.create(
        timeframe_start="2024-05-10T00:00:00Z", timeframe_end="2024-05-11T00:00:00Z"
    )
    with pytest.raises(AssertionError, match="it is open: it closes at its close_time"):
        assert_backfill_status(sim, backfill.id, "reflected")
    assert_backfill_status(sim, backfill.id, "pending", events_ingested=0)
    sim.clock.advance(minutes=1)  # type: ignore[attr-defined]
    sim.events.backfills.close(backfill.id)
    closed = assert_backfill_status(sim, backfill.id, "pending", close_time="2024-05-20T12:01:00Z")
    assert closed.close_time is not None
    with pytest.raises(AssertionError) as failure:
        assert_backfill_status(sim, backfill.id, "reflected")
    message = str(failure.value)
    assert f"backfill {backfill.id} is 'pending', expected 'reflected'" in message
    assert "closed at 2024-05-20T12:01:00Z and becomes reflected" in message
    assert "reflection_delay (0:10:00)" in message
    assert '-  "status": "reflected"' in message and '+  "status": "pending"' in message
    sim.clock.advance(minutes=10)  # type: ignore[attr-defined]
    assert_backfill_status(sim, backfill.id, "reflected")


def test_assert_matches_any_returned_object(sim: OrbSim) -> None:
    customer = sim.customers.fetch_by_external_id("acme")
    assert assert_matches(customer, {"name": "Acme", "external_customer_id": "acme"}) is customer
    with pytest.raises(AssertionError, match=r"customer does not match:\n--- expected customer"):
        assert_matches(customer, {"name": "Umbrella"}, what="customer")
