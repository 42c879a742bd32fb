"""Clocks: ManualClock moves only forward and only when told; SystemClock follows freezegun."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from orbsim import ManualClock, OrbSim, SystemClock


def test_manual_clock_starts_where_told_and_normalises_to_utc() -> None:
    assert ManualClock("2024-05-20T14:00:00+02:00").now() == datetime(2024, 5, 20, 12, tzinfo=UTC)
    assert ManualClock(datetime(2024, 1, 1)).now().tzinfo is UTC


def test_manual_clock_advances_and_sets_forward_only() -> None:
    clock = ManualClock("2024-05-20T12:00:00Z")
    assert clock.advance(hours=1) == datetime(2024, 5, 20, 13, tzinfo=UTC)
    assert clock.advance(timedelta(minutes=30)) == datetime(2024, 5, 20, 13, 30, tzinfo=UTC)
    assert clock.set("2024-05-21T00:00:00Z") == datetime(2024, 5, 21, tzinfo=UTC)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="only moves forward"):
        clock.set("2024-05-20T00:00:00Z")
    assert clock.now() == datetime(2024, 5, 21, tzinfo=UTC)


def test_system_clock_follows_freezegun() -> None:
    with freeze_time("2024-05-20 12:00:00") as frozen:
        sim = OrbSim()
        assert sim.now() == datetime(2024, 5, 20, 12, tzinfo=UTC)
        frozen.tick(timedelta(hours=2))
        assert sim.now() == datetime(2024, 5, 20, 14, tzinfo=UTC)
    assert isinstance(sim.clock, SystemClock)
