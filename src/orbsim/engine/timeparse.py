"""Turning the timestamps users and the SDK send into timezone-aware UTC datetimes.

The SDK sends ``datetime.isoformat()`` output (``+00:00``, maybe microseconds, maybe naive) and
users send ``Z`` strings; all are accepted. Naive times are UTC; other offsets are converted to UTC.
"""

from __future__ import annotations

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


def iso(value: datetime) -> str:
    """Render a UTC datetime the way Orb does in messages: ``2024-05-01T12:00:00Z``."""
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
