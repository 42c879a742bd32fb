"""``POST /ingest?debug=true``: Orb's debug object lists which idempotency keys this request
ingested and which it skipped as already ingested (the Node, Go and Ruby SDKs still declare it;
Python 4.90 reaches it with ``extra_query``). A value that is not a boolean is refused."""

from __future__ import annotations

from typing import Any

import pytest

from helpers.sdk import event
from orbsim import OrbSim, RequestValidationError

orb = pytest.importorskip("orb")


def test_debug_lists_ingested_and_duplicate_keys(client: Any, customer: Any) -> None:
    first = client.events.ingest(
        events=[event("a", customer.id), event("b", customer.id)], extra_query={"debug": "true"}
    )
    assert first.to_dict()["debug"] == {"duplicate": [], "ingested": ["a", "b"]}
    again = client.events.ingest(
        events=[event("b", customer.id), event("c", customer.id), event("c", customer.id)],
        extra_query={"debug": True},
    )
    assert again.to_dict()["debug"] == {"duplicate": ["b"], "ingested": ["c"]}
    assert again.validation_failed == []


def test_without_debug_or_with_false_there_is_no_debug_key(client: Any, customer: Any) -> None:
    plain = client.events.ingest(events=[event("a", customer.id)])
    assert "debug" not in plain.to_dict()
    off = client.events.ingest(events=[event("b", customer.id)], extra_query={"debug": "false"})
    assert "debug" not in off.to_dict()


@pytest.mark.parametrize("value", ["banana", "yes please", "2"])
def test_a_non_boolean_debug_is_refused(
    sim: OrbSim, client: Any, customer: Any, value: str
) -> None:
    with pytest.raises(orb.RequestValidationError) as refused:
        client.events.ingest(events=[event("a", customer.id)], extra_query={"debug": value})
    assert "debug" in str(refused.value.body["detail"])
    assert sim.billable_events() == []  # refused before anything was ingested


def test_the_engine_takes_debug_too(sim: OrbSim) -> None:
    customer = sim.customers.create(name="A", email="a@example.com")
    events = [event("a", customer.id), event("a", customer.id)]
    answer = sim.events.ingest(events=events, debug=True)
    assert answer.debug is not None
    assert (answer.debug.ingested, answer.debug.duplicate) == (["a"], [])
    assert sim.events.ingest(events=events).debug is None


def test_debug_in_a_backfill_counts_keys_of_that_backfill(sim: OrbSim, clock: Any) -> None:
    customer = sim.customers.create(name="A", email="a@example.com")
    start = clock.now().replace(day=1, hour=0)
    backfill = sim.events.backfills.create(
        timeframe_start=start, timeframe_end=start.replace(day=2), customer_id=customer.id
    )
    sim.events.ingest(events=[event("a", customer.id)])  # the live stream has "a" already
    old = event("a", customer.id, when=start.replace(hour=3))
    answer = sim.events.ingest(events=[old], backfill_id=backfill.id, debug=True)
    assert answer.debug is not None and answer.debug.ingested == ["a"]
    with pytest.raises(RequestValidationError):
        sim.events.ingest(events=[{"idempotency_key": "x"}], debug=True)
