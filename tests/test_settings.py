"""Settings: Orb's documented defaults, frozen, validated."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from orbsim import Settings


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
