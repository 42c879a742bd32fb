"""Instants for tests: UTC and wall-clock constructors, and the smallest step of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["US", "feb", "local", "utc"]

US = timedelta(microseconds=1)
"""One microsecond: the resolution of timestamps, so ``edge - US`` is the last instant before."""


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A UTC instant."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(
    tz: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """Wall-clock time in ``tz``, as a UTC instant."""
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def feb(day: int, hour: int = 0) -> datetime:
    """``day`` February 2024 (a leap year) at ``hour``, UTC."""
    return datetime(2024, 2, day, hour, tzinfo=UTC)
