"""``orbsim.strategies.invalid``: each invalid event is refused for its rule (alone, in a batch,
at the current time or a frozen one), every rule can be asked for, keys never collide with valid
events', and failures shrink to the rule's edge."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from freezegun import freeze_time
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from helpers.strategy_sim import CUSTOMER_ID, NOW, fresh_sim
from helpers.time import US
from orbsim import OrbSim, RequestValidationError
from orbsim import strategies as ost
from orbsim.engine.timeparse import parse_timestamp

if TYPE_CHECKING:
    pass


@given(case=ost.invalid_events(now=NOW, customer_ids=[CUSTOMER_ID], external_customer_ids=["acme"]))
def test_each_invalid_event_is_refused_for_its_rule(case: ost.InvalidEvent) -> None:
    sim, _ = fresh_sim()
    rule, payload = case
    with pytest.raises(RequestValidationError) as refused:
        sim.events.ingest(events=[payload])
    problems = refused.value.validation_errors
    assert len(problems) == 1, f"{rule} broke more than one rule: {problems}"
    assert case.field in problems[0], f"{rule}: {problems[0]!r} does not name {case.field!r}"
    assert sim.billable_events() == []


@pytest.mark.parametrize("rule", sorted(ost.INVALID_EVENT_RULES))
@settings(max_examples=10)
@given(data=st.data())
def test_every_rule_can_be_asked_for(rule: str, data: st.DataObject) -> None:
    sim, customer_id = fresh_sim()
    case = data.draw(ost.invalid_events(now=NOW, customer_ids=[customer_id], rules=[rule]))
    assert case.rule == rule
    with pytest.raises(RequestValidationError) as refused:
        sim.events.ingest(events=[case.payload])
    assert case.field in " ".join(refused.value.validation_errors)


def test_invalid_events_rejects_unknown_rules() -> None:
    with pytest.raises(ValueError, match="valid rules: unknown_field"):
        ost.invalid_events(now=NOW, rules=["no_such_rule"])


def test_invalid_events_shrink_to_the_edge() -> None:
    case = find(
        ost.invalid_events(now=NOW, external_customer_ids=["acme"]),
        lambda c: c.rule == "older_than_grace",
    )
    assert case.payload["timestamp"] == "2024-05-19T23:59:59.999999Z"
    assert parse_timestamp(case.payload["timestamp"]) == NOW - timedelta(hours=12) - US
    assert case.payload["properties"] == {}


def _keys(batch: list[dict[str, object]]) -> set[object]:
    return {event["idempotency_key"] for event in batch}


def test_invalid_events_never_reuse_a_key_of_event_batches() -> None:
    pairs = st.tuples(
        ost.event_batches(now=NOW, external_customer_ids=["acme"]),
        ost.invalid_events(now=NOW, external_customer_ids=["acme"]),
    )
    with pytest.raises(NoSuchExample):
        find(pairs, lambda pair: pair[1].payload.get("idempotency_key") in _keys(pair[0]))


@settings(max_examples=200, deadline=None)
@given(
    batch=ost.event_batches(now=NOW, external_customer_ids=["acme"]),
    bad=ost.invalid_events(now=NOW, external_customer_ids=["acme"]),
)
def test_a_bad_event_in_a_batch_is_refused_for_its_own_rule(
    batch: list[dict[str, object]], bad: ost.InvalidEvent
) -> None:
    sim, _ = fresh_sim()
    with pytest.raises(RequestValidationError) as refused:
        sim.events.ingest(events=[*batch, bad.payload])
    failed = refused.value.validation_failed or []
    assert len(failed) == 1, failed
    assert bad.field in " ".join(failed[0]["validation_errors"]), (bad.rule, failed)


@given(case=ost.invalid_events(now=NOW, keys=st.just("mine"), rules=["missing_event_name"]))
def test_invalid_events_take_their_keys_from_keys(case: ost.InvalidEvent) -> None:
    assert case.payload["idempotency_key"] == "mine"


@settings(max_examples=50, deadline=None)
@given(case=ost.invalid_events(external_customer_ids=["acme"]))
def test_invalid_events_default_to_the_current_time(case: ost.InvalidEvent) -> None:
    sim = OrbSim()  # the SystemClock: the same "now" the strategy used
    with pytest.raises(RequestValidationError) as refused:
        sim.events.ingest(events=[case.payload])
    problems = refused.value.validation_errors
    assert len(problems) == 1, f"{case.rule} broke more than one rule: {problems}"
    assert case.field in problems[0]


def test_invalid_events_without_now_follow_frozen_time() -> None:
    with freeze_time("2024-01-02T03:04:05Z"):
        case = find(
            ost.invalid_events(external_customer_ids=["acme"], rules=["older_than_grace"]),
            lambda c: True,
        )
    assert case.payload["timestamp"] == "2024-01-01T15:04:04.999999Z"
