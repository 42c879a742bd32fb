"""Turning the timestamps users and the SDK send into timezone-aware UTC datetimes.

The SDK sends ``datetime.isoformat()`` output (``+00:00``, maybe microseconds, maybe naive) and
users send ``Z`` strings; all are accepted. Naive times are UTC; other offsets are converted to UTC.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta

from orbsim.times import to_utc

_ZERO = timedelta(0)


def parse_timestamp(value: object, field: str = "timestamp") -> datetime:
    """Parse a datetime or ISO 8601 string to an aware UTC datetime, or raise ValueError."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"{field}: {value!r} is not an ISO 8601 timestamp (e.g. 2024-05-01T12:00:00Z)"
            ) from None
    elif isinstance(value, date):
        raise ValueError(f"{field}: expected a date-time, got the date {value.isoformat()!r}")
    else:
        raise ValueError(f"{field}: expected an ISO 8601 timestamp string, got {value!r}")
    return to_utc(parsed, field)


def optional_timestamp(value: object, field: str) -> datetime | None:
    """Like ``parse_timestamp`` but ``None`` stays ``None``."""
    return None if value is None else parse_timestamp(value, field)


@functools.lru_cache(maxsize=8192)
def format_timestamp(value: datetime) -> str:
    """The one way orbsim writes a time, in API answers, admin answers and messages alike: UTC
    with ``Z`` (as Orb's documentation and SDK examples write it), fractional seconds only as far
    as needed: none, milliseconds, or microseconds. So ``2024-05-01T12:00:00.123Z`` comes back as
    sent, and a JavaScript client's milliseconds keep three digits. A naive time is UTC.

    Cached: responses repeat the same few instants (``created_at``, period edges), and a cache hit
    is cheaper than pydantic's own datetime serialisation."""
    if value.tzinfo is not None and value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    micros = value.microsecond
    if not micros:
        return value.isoformat(timespec="seconds")[:19] + "Z"
    if micros % 1000 == 0:
        return value.isoformat(timespec="milliseconds")[:23] + "Z"
    return value.isoformat(timespec="microseconds")[:26] + "Z"


iso = format_timestamp
"""The name the engine's messages use."""
