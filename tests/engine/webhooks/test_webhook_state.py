"""The record of what happened (``orbsim.engine.webhooks.state``): emit targets the subscribed,
enabled endpoints oldest first, records nothing without one, checks its arguments; drain hands
events over once, in time order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from helpers.webhook_events import START, customer_and_subscription, ids, state_with
from orbsim import OrbSim
from orbsim.engine.webhooks import (
    Target,
    WebhookState,
)


def test_emit_targets_only_enabled_subscribed_endpoints_oldest_first(sim: OrbSim) -> None:
    customer, _ = customer_and_subscription(sim)
    state = state_with("expanded", "standard", "expanded")
    state.endpoints["we_2"].enabled_event_types = ("customer.created",)
    state.endpoints["we_3"].enabled = False
    new_id = ids()
    created = state.emit("customer.created", at=START, new_id=new_id, resource=customer)
    edited = state.emit("customer.edited", at=START, new_id=new_id, resource=customer)
    assert created is not None and edited is not None
    assert created.targets == (
        Target("we_1", "http://localhost/hooks/1", "whsec_1", "expanded"),
        Target("we_2", "http://localhost/hooks/2", "whsec_2", "standard"),
    )
    assert [t.endpoint_id for t in edited.targets] == ["we_1"]


def test_emit_without_subscribers_records_nothing(sim: OrbSim) -> None:
    customer, _ = customer_and_subscription(sim)
    state = WebhookState()
    calls: list[int] = []

    def new_id() -> str:
        calls.append(1)
        return "x"

    assert state.emit("customer.created", at=START, new_id=new_id, resource=customer) is None
    assert calls == [] and state.drain() == [] and state.emitted == 0
    state = state_with("expanded")
    state.endpoints["we_1"].enabled_event_types = ("backfill.reflected",)
    assert state.emit("customer.created", at=START, new_id=ids(), resource=customer) is None


def test_drain_hands_events_over_once_in_time_order(sim: OrbSim) -> None:
    customer, _ = customer_and_subscription(sim)
    state = state_with("expanded")
    new_id = ids()
    late = state.emit(
        "customer.edited", at=START + timedelta(hours=1), new_id=new_id, resource=customer
    )
    early = state.emit("customer.created", at=START, new_id=new_id, resource=customer)
    tie = state.emit("customer.edited", at=START, new_id=new_id, resource=customer)
    assert state.drain() == [early, tie, late]
    assert state.drain() == []
    assert [e.seq for e in (late, early, tie) if e is not None] == [1, 2, 3]


def test_emit_checks_its_arguments(sim: OrbSim) -> None:
    customer, _ = customer_and_subscription(sim)
    state = state_with("expanded")
    with pytest.raises(ValueError, match="does not emit"):
        state.emit("invoice.paid", at=START, new_id=ids(), resource=customer)
    with pytest.raises(ValueError, match="takes a customer resource"):
        state.emit("customer.created", at=START, new_id=ids())
    with pytest.raises(ValueError, match="takes no resource"):
        state.emit("resource_event.test", at=START, new_id=ids(), resource=customer)


def test_explicit_targets_reach_an_endpoint_not_subscribed() -> None:
    state = state_with("expanded")
    state.endpoints["we_1"].enabled_event_types = ("customer.created",)
    target = state.endpoints["we_1"].target()
    event = state.emit(
        "resource_event.test", at=START, new_id=ids(), properties={}, targets=(target,)
    )
    assert event is not None and event.targets == (target,)
