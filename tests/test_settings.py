"""Settings: Orb's documented defaults, frozen, validated."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from pydantic import ValidationError

from orbsim import Settings
from orbsim.settings import apply_assignments, parse_duration


def test_defaults_are_orbs() -> None:
    settings = Settings()
    assert settings.grace_period == timedelta(hours=12)
    assert settings.future_tolerance == timedelta(minutes=5)
    assert (settings.amend_limit, settings.deprecate_limit) == (100, 100)
    assert settings.quota_window == timedelta(days=100)
    assert settings.backfill_max_timeframe == timedelta(days=31)
    assert settings.backfill_default_close_delay == timedelta(days=1)
    assert settings.reflection_delay == timedelta(0)
    assert settings.idempotency_ttl == timedelta(hours=48)
    assert settings.idempotency_key_max_length == 64
    assert settings.search_max_event_ids == 500
    assert settings.api_keys is None


def test_settings_are_frozen_and_refuse_unknown_names() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.grace_period = timedelta(0)  # type: ignore[misc]
    with pytest.raises(ValidationError, match="grace_periods"):
        Settings(grace_periods=timedelta(0))  # type: ignore[call-arg]


def test_settings_validate_values() -> None:
    with pytest.raises(ValidationError, match="unknown IANA timezone"):
        Settings(default_timezone="Mars/Olympus")
    with pytest.raises(ValidationError):
        Settings(amend_limit=-1)


# -- durations ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT12H", timedelta(hours=12)),
        ("P1D", timedelta(days=1)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("P2W", timedelta(weeks=2)),
        ("PT0S", timedelta(0)),
        ("10m", timedelta(minutes=10)),
        ("12h", timedelta(hours=12)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("250ms", timedelta(milliseconds=250)),
        ("1.5s", timedelta(seconds=1.5)),
        ("3d", timedelta(days=3)),
        ("1w", timedelta(weeks=1)),
        ("0s", timedelta(0)),
    ],
)
def test_durations_are_iso_8601_or_a_number_with_a_unit(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert Settings(grace_period=text).grace_period == expected


@pytest.mark.parametrize("bare", [12, 12.5, "12", "3600", True])
def test_a_bare_number_is_not_a_duration(bare: object) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(grace_period=bare)
    message = str(refused.value)
    assert "grace_period" in message
    for form in ("PT12H", "12h", "10m"):  # the message shows the accepted forms
        assert form in message


@pytest.mark.parametrize("text", ["P1Y", "P2M", "P1M2D"])
def test_calendar_units_are_refused_because_they_have_no_fixed_length(text: str) -> None:
    with pytest.raises(ValueError, match="no fixed length"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["", "PT", "P", "soon", "-PT1H", "-5m", "12 h", "1x", "PT1H2"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="accepted forms"):
        parse_duration(text)


def test_negative_timedeltas_are_refused() -> None:
    with pytest.raises(ValidationError, match="negative"):
        Settings(reflection_delay=timedelta(seconds=-1))


def test_settings_round_trip_through_json() -> None:
    settings = Settings(grace_period=timedelta(hours=1, milliseconds=5), amend_limit=3)
    dumped = settings.model_dump(mode="json")
    assert dumped["grace_period"] == "PT1H0.005S"
    assert Settings.model_validate(dumped) == settings


# -- NAME=VALUE assignments -----------------------------------------------------------------------


def test_assignments_set_every_kind_of_field() -> None:
    settings = apply_assignments(
        Settings(),
        [
            "grace_period=48h",
            "reflection_delay=PT10M",
            "amend_limit=5",
            "max_events_per_request=500",
            "requests_per_second=2.5",
            "default_timezone=Europe/Berlin",
            "api_keys=one,two",
        ],
    )
    assert settings.grace_period == timedelta(hours=48)
    assert settings.reflection_delay == timedelta(minutes=10)
    assert settings.amend_limit == 5
    assert settings.max_events_per_request == 500
    assert settings.requests_per_second == 2.5
    assert settings.default_timezone == "Europe/Berlin"
    assert settings.api_keys == frozenset({"one", "two"})


def test_an_optional_field_can_be_unset_with_none() -> None:
    base = Settings(max_events_per_request=10)
    assert apply_assignments(base, ["max_events_per_request=none"]).max_events_per_request is None


def test_assignments_keep_the_other_fields_and_the_last_one_wins() -> None:
    base = Settings(amend_limit=3)
    settings = apply_assignments(base, ["deprecate_limit=1", "deprecate_limit=2"])
    assert (settings.amend_limit, settings.deprecate_limit) == (3, 2)


def test_an_unknown_name_is_refused_with_the_valid_names() -> None:
    with pytest.raises(ValueError) as refused:
        apply_assignments(Settings(), ["grace=12h"])
    message = str(refused.value)
    assert "unknown setting 'grace'" in message
    for name in Settings.model_fields:
        assert name in message


@pytest.mark.parametrize(
    ("assignment", "needle"),
    [
        ("grace_period", "NAME=VALUE"),
        ("=12h", "NAME=VALUE"),
        ("grace_period=12", "PT12H"),
        ("amend_limit=many", "amend_limit"),
        ("amend_limit=-1", "amend_limit"),
        ("amend_limit=none", "amend_limit"),
        ("default_timezone=Mars/Olympus", "unknown IANA timezone"),
    ],
)
def test_bad_assignments_say_what_is_wrong(assignment: str, needle: str) -> None:
    with pytest.raises(ValueError, match=re.escape(needle)):
        apply_assignments(Settings(), [assignment])
