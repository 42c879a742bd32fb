"""Shared test setup: hypothesis profiles, and the ``clock`` and ``sim`` fixtures.

``sim`` is a fresh ``OrbSim`` (default settings) on the ManualClock ``clock``. Where the clock
starts and the id seed are fixtures too: a directory's conftest.py or a test module overrides
``clock_start`` or ``sim_seed`` to change them.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, settings

from orbsim import ManualClock, OrbSim

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=60,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def clock_start() -> datetime:
    """Where ``clock`` starts: 2024-05-20 12:00 UTC, inside a May billing period."""
    return datetime(2024, 5, 20, 12, tzinfo=UTC)


@pytest.fixture
def sim_seed() -> int:
    """The id seed of ``sim``."""
    return 0


@pytest.fixture
def clock(clock_start: datetime) -> ManualClock:
    """A ManualClock at ``clock_start``: time moves only when a test moves it."""
    return ManualClock(clock_start)


@pytest.fixture
def sim(clock: ManualClock, sim_seed: int) -> OrbSim:
    """A fresh simulator with default settings on ``clock``."""
    return OrbSim(clock=clock, seed=sim_seed)
