"""The small time helpers every layer shares: one UTC normaliser, one timezone check, one span.

Naive datetimes are UTC (Orb reads a time without an offset as UTC); other offsets are converted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["span", "to_utc", "zone"]


def to_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (naive means UTC); UTC values are returned as they are."""
    tzinfo = value.tzinfo
    if tzinfo is UTC:
        return value
    if tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def zone(name: object) -> ZoneInfo | None:
    """The ``ZoneInfo`` of an IANA timezone name, or None if ``name`` is not one (callers word
    the error for their field)."""
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def span(delta: timedelta) -> str:
    """``100 days``, ``1 hour``, ``90 seconds``: a duration in its largest whole unit."""
    seconds = delta.total_seconds()
    if seconds > 0:
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds >= size and seconds % size == 0:
                count = int(seconds // size)
                return f"{count} {unit}" + ("s" if count != 1 else "")
    return f"{seconds:g} seconds"
