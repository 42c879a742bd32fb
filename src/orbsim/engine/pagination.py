"""Orb's list envelope: newest first, ``limit`` 1..100, opaque cursors, last page null.

Cursors encode the sort key of the last item returned, so pages stay stable while new items arrive.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from orbsim.errors import RequestValidationError

T = TypeVar("T")
SortKey = tuple[int, int]

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


VOLUME_MAX_LIMIT = 1000
"""Event volume pages may be longer: Orb's volume page documents ``limit`` 1..1000."""


def check_limit(limit: object, maximum: int = MAX_LIMIT) -> int:
    """Validate ``limit`` (1..100), accepting ints and digit strings (query parameters)."""
    if isinstance(limit, str) and limit.strip().lstrip("-").isdigit():
        limit = int(limit)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise RequestValidationError(f"limit: expected an integer between 1 and 100, got {limit!r}")
    if not 1 <= limit <= maximum:
        raise RequestValidationError(f"limit: must be between 1 and {maximum}, got {limit}")
    return limit


def encode_cursor(key: SortKey) -> str:
    raw = f"{key[0]}:{key[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> SortKey:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        first, second = base64.urlsafe_b64decode(padded.encode()).decode().split(":")
        return int(first), int(second)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise RequestValidationError(f"cursor: {cursor!r} is not a valid cursor") from None


def paginate(
    items: Iterable[T],
    key: Callable[[T], SortKey],
    limit: object = DEFAULT_LIMIT,
    cursor: str | None = None,
    *,
    descending: bool = True,
) -> tuple[Sequence[T], str | None]:
    """One page of ``items`` ordered by ``key``, and the next page's cursor (None at end)."""
    size = check_limit(limit)
    ordered = sorted(items, key=key, reverse=descending)
    if cursor:
        after = decode_cursor(cursor)
        if descending:
            ordered = [item for item in ordered if key(item) < after]
        else:
            ordered = [item for item in ordered if key(item) > after]
    page = ordered[:size]
    next_cursor = encode_cursor(key(page[-1])) if len(ordered) > size else None
    return page, next_cursor
