"""``orbsim.strategies.ingestion``: valid batches are ingested in full (directly and through the
SDK), events shrink to a plain event and compose with other strategies, key namespaces are
disjoint."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from helpers.strategy_sim import CUSTOMER_ID, NOW, fresh_sim
from orbsim import strategies as ost
from orbsim.engine.timeparse import parse_timestamp

if TYPE_CHECKING:
    from orb.types.event_ingest_params import Event


@given(
    batch=ost.event_batches(
        now=NOW,
        customer_ids=[CUSTOMER_ID],
        external_customer_ids=["acme", "not-yet-a-customer"],
        timestamp_formats=("Z", "+00:00", "offset", "naive", "datetime"),
    )
)
def test_valid_batches_are_ingested_in_full(batch: list[dict[str, object]]) -> None:
    sim, _ = fresh_sim()
    sim.events.ingest(events=batch)
    billed = sim.billable_events()
    assert sorted(e.id for e in billed) == sorted(str(e["idempotency_key"]) for e in batch)


@settings(max_examples=20)
@given(batch=ost.event_batches(now=NOW, customer_ids=[CUSTOMER_ID], max_size=5))
def test_valid_batches_pass_through_the_sdk(batch: list[Event]) -> None:
    sim, _ = fresh_sim()
    with sim.client(_strict_response_validation=True, max_retries=0) as client:
        client.events.ingest(events=batch)
    assert len(sim.billable_events()) == len(batch)


def test_valid_events_shrink_to_a_plain_event() -> None:
    event = find(ost.events(now=NOW, external_customer_ids=["acme"]), lambda e: True)
    assert event == {
        "idempotency_key": "0",
        "event_name": "api_call",
        "timestamp": "2024-05-20T12:00:00Z",
        "properties": {},
        "external_customer_id": "acme",
    }


def test_events_need_a_time() -> None:
    with pytest.raises(ValueError, match="now="):
        ost.events(customer_ids=["x"])


@given(
    event=ost.events(
        customer_ids=[CUSTOMER_ID],
        timestamps=ost.timestamps_near(NOW - timedelta(hours=1)),
        properties=ost.properties(st.just("region"), st.sampled_from(["eu", "us"])),
        names=st.just("tokens"),
    )
)
def test_events_compose_with_other_strategies(event: dict[str, object]) -> None:
    assert event["event_name"] == "tokens"
    properties = event["properties"]
    assert isinstance(properties, dict)
    assert set(properties) <= {"region"}
    moment = parse_timestamp(event["timestamp"])
    assert abs(moment - (NOW - timedelta(hours=1))) <= timedelta(minutes=10)


@given(
    first=ost.idempotency_keys(namespace="a"),
    second=ost.idempotency_keys(namespace="a~b"),
    plain=ost.idempotency_keys(),
)
def test_key_namespaces_are_disjoint(first: str, second: str, plain: str) -> None:
    assert first.startswith("a~") and second.startswith("a~b~")
    assert len({first, second, plain}) == 3


def test_a_namespace_must_be_non_empty() -> None:
    with pytest.raises(ValueError, match="namespace"):
        ost.idempotency_keys(namespace="")
