"""How state files write times."""

from __future__ import annotations

from datetime import UTC, datetime

from orbsim.engine.timeparse import format_timestamp


def state_time(value: datetime) -> str:
    """How state files write a time: a UTC time as the API does (``Z``, a fraction only as far
    as needed, ``format_timestamp``); a time in another zone (a customer-local period edge)
    with its offset, so it loads back in its zone. Both forms are read."""
    return format_timestamp(value) if value.tzinfo is UTC else value.isoformat()
