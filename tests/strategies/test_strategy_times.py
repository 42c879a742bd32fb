"""``orbsim.strategies.times``: timestamps inside, before and after ingestion's window (edges
included), renderings of one instant, timestamps near edges, billing-period edges."""

from __future__ import annotations

import operator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

import pytest
from hypothesis import find, given
from hypothesis import strategies as st

from helpers.strategy_sim import NOW, fresh_sim
from helpers.time import US
from orbsim import Settings
from orbsim import strategies as ost
from orbsim.engine.timeparse import parse_timestamp

if TYPE_CHECKING:
    pass


@given(when=ost.timestamps(NOW))
def test_ingestible_timestamps_are_inside_the_window(when: datetime) -> None:
    assert NOW - timedelta(hours=12) <= when <= NOW + timedelta(minutes=5)


@given(when=ost.timestamps(NOW, window="too_old", settings=Settings(grace_period=timedelta(0))))
def test_too_old_timestamps_follow_the_settings(when: datetime) -> None:
    assert NOW - timedelta(days=30) <= when < NOW


@given(when=ost.timestamps(NOW, window="too_far_in_future"))
def test_future_timestamps_are_past_the_tolerance(when: datetime) -> None:
    assert NOW + timedelta(minutes=5) < when <= NOW + timedelta(days=30, minutes=5)


@given(when=ost.timestamps(NOW, window="any"))
def test_timestamps_any_window_is_the_union(when: datetime) -> None:
    assert NOW - timedelta(days=31) <= when <= NOW + timedelta(days=31)


def test_the_window_edges_are_generated() -> None:
    for edge in (NOW - timedelta(hours=12), NOW + timedelta(minutes=5)):
        assert find(ost.timestamps(NOW), partial(operator.eq, edge)) == edge
    assert (
        find(ost.timestamps(NOW, window="too_old"), lambda w: True)
        == NOW - timedelta(hours=12) - US
    )


def test_unknown_window() -> None:
    with pytest.raises(ValueError, match="window must be one of"):
        ost.timestamps(NOW, window="soon")  # type: ignore[arg-type]


@given(
    rendered=ost.render_timestamps(
        st.just(NOW + timedelta(microseconds=5)),
        ("Z", "+00:00", "offset", "naive", "datetime"),
    )
)
def test_renderings_mean_the_same_instant(rendered: datetime | str) -> None:
    assert parse_timestamp(rendered) == NOW + timedelta(microseconds=5)


@given(when=ost.timestamps_near("2024-06-01T00:00:00Z", NOW, spread=timedelta(seconds=30)))
def test_timestamps_near_stay_near(when: datetime) -> None:
    edges = [datetime(2024, 6, 1, tzinfo=UTC), NOW]
    assert min(abs(when - edge) for edge in edges) <= timedelta(seconds=30)


def test_billing_period_edges() -> None:
    sim, customer_id = fresh_sim()
    plan = sim.plans.create(name="p")
    sim.subscriptions.create(
        customer_id=customer_id, plan_id=plan.id, start_date="2024-04-10T00:00:00Z"
    )
    edges = ost.billing_period_edges(sim, customer_id)
    assert edges == sorted(edges)
    for expected in ("2024-04-10T00:00:00Z", "2024-05-01T00:00:00Z", "2024-05-01T12:00:00Z"):
        assert parse_timestamp(expected) in edges
