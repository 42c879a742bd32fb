"""Mistakes a newcomer makes get a clear error naming what was expected, not a traceback.

(The plugin's own options are checked in ``tests/plugin/test_options.py``.)
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from pydantic import ValidationError

from orbsim import ManualClock, OrbSim, Settings
from orbsim.clock import ClockConflictWarning


def test_settings_may_be_a_mapping_of_fields() -> None:
    sim = OrbSim(settings={"grace_period": timedelta(hours=1), "amend_limit": 5})
    assert isinstance(sim.settings, Settings)
    assert sim.settings.grace_period == timedelta(hours=1)
    assert sim.settings.amend_limit == 5
    assert sim.settings.deprecate_limit == Settings().deprecate_limit


def test_a_mapping_is_validated_like_settings() -> None:
    with pytest.raises(ValidationError, match="amend_limt"):
        OrbSim(settings={"amend_limt": 1})
    with pytest.raises(ValidationError, match="amend_limit"):
        OrbSim(settings={"amend_limit": -1})


def test_other_settings_types_are_a_type_error_naming_the_expected_type() -> None:
    with pytest.raises(TypeError, match=r"orbsim\.Settings or a mapping of its fields.*got list"):
        OrbSim(settings=[("amend_limit", 1)])  # type: ignore[arg-type]


def test_manual_clock_backwards_says_why_and_what_to_do() -> None:
    clock = ManualClock("2024-05-20T12:00:00Z")
    with pytest.raises(ValueError, match=r"advance\(-1:00:00\).*only moves forward.*snapshot"):
        clock.advance(hours=-1)
    with pytest.raises(ValueError, match=r"set\(2024-05-19T12:00:00\+00:00\) is before now"):
        clock.set("2024-05-19T12:00:00Z")
    assert clock.now() == datetime(2024, 5, 20, 12, tzinfo=UTC)  # unchanged


def test_manual_clock_rejects_what_is_not_a_time() -> None:
    with pytest.raises(ValueError, match=r"ManualClock\(start\): 'yesterday' is not an ISO 8601"):
        ManualClock("yesterday")
    with pytest.raises(TypeError, match=r"ManualClock\.set: expected a datetime"):
        ManualClock().set(1716206400)  # type: ignore[arg-type]


def test_a_manual_clock_under_freezegun_warns_of_two_clocks() -> None:
    with freeze_time("2024-05-20T12:00:00Z"), pytest.warns(ClockConflictWarning, match="disagree"):
        ManualClock("2024-05-20T12:00:00Z")


def test_a_manual_clock_without_frozen_time_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ManualClock("2024-05-20T12:00:00Z")
        with freeze_time("2024-05-20T12:00:00Z"):
            OrbSim()  # the SystemClock follows freezegun: one clock
