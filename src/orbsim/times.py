"""The small time helpers every layer shares: one UTC normaliser, one timezone check, one span.

Naive datetimes are UTC (Orb reads a time without an offset as UTC); other offsets are converted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["span", "to_utc", "zone"]


EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
"""The request times orbsim accepts, in UTC: datetime's own range less a day at each end, so that
the hour and day arithmetic of volume buckets, grace periods and billing periods never
overflows (``0001-01-01T00:00:00+01:00`` is in year 0 in UTC)."""


def to_utc(value: datetime, field: str | None = None) -> datetime:
    """``value`` as an aware UTC datetime (naive means UTC); UTC values are returned as they are.

    With ``field`` (a time that came in a request), a time outside ``EARLIEST``..``LATEST`` is a
    ValueError naming ``field``, never an OverflowError."""
    tzinfo = value.tzinfo
    utc: datetime | None
    if tzinfo is UTC:
        utc = value
    elif tzinfo is None or value.utcoffset() is None:
        utc = value.replace(tzinfo=UTC)
    elif field is None:
        return value.astimezone(UTC)
    else:
        try:
            utc = value.astimezone(UTC)
        except OverflowError:
            utc = None
    if field is not None and (utc is None or not EARLIEST <= utc <= LATEST):
        shown = [moment.isoformat().replace("+00:00", "Z") for moment in (EARLIEST, LATEST)]
        raise ValueError(
            f"{field}: {value.isoformat()!r} is outside the supported range "
            f"{shown[0]} to {shown[1]}"
        )
    assert utc is not None
    return utc


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
