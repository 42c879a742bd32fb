"""What the reference model keeps: customers, backfills and events as small dataclasses, the
documented refusals, and the few time and JSON helpers both the model and the machine use.

Nothing here imports hypothesis or ``orbsim.engine``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from orbsim.errors import (
    ConstraintViolation,
    DuplicateResourceCreation,
    OrbError,
    RequestValidationError,
    ResourceConflict,
    ResourceNotFound,
    TooManyRequests,
)

__all__ = [
    "DOCUMENTED_REFUSALS",
    "EFFECTIVE",
    "Predicate",
    "Properties",
    "RefBackfill",
    "RefCustomer",
    "RefEvent",
    "canonical",
    "month_start",
    "parse_time",
    "typed",
]

Properties = dict[str, Any]
Predicate = Callable[[Properties], bool]

DOCUMENTED_REFUSALS: dict[str, tuple[type[OrbError], ...]] = {
    "create customer": (DuplicateResourceCreation, RequestValidationError),
    "ingest": (RequestValidationError, ConstraintViolation, ResourceNotFound),
    "amend": (RequestValidationError, ConstraintViolation, ResourceNotFound, TooManyRequests),
    "deprecate": (ConstraintViolation, ResourceNotFound, TooManyRequests),
    "create backfill": (RequestValidationError, ResourceNotFound, ResourceConflict),
    "close backfill": (ConstraintViolation, ResourceNotFound),
    "revert backfill": (ResourceNotFound,),
    "fetch backfill": (ResourceNotFound,),
    "list backfills": (RequestValidationError,),
    "delete customer": (ConstraintViolation, ResourceNotFound),
}
"""The errors design.md documents for each operation; anything else fails the machine."""

EFFECTIVE = ("reflected", "pending_revert")
"""Backfill statuses whose events count (and whose replacement hides others)."""


@dataclass(eq=False)
class RefCustomer:
    """A customer as the reference sees it."""

    id: str
    alias: str | None
    subscription_start: datetime | None
    """Start of its monthly subscription (None: not subscribed)."""

    @property
    def subscribed(self) -> bool:
        return self.subscription_start is not None


@dataclass(eq=False)
class RefBackfill:
    """A backfill and its own status machine, kept by the reference."""

    id: str
    start: datetime
    end: datetime
    scope: str | None
    replace: bool
    matches: Predicate | None
    filter_text: str | None
    seq: int
    close_time: datetime | None
    status: str = "pending"
    closed_at: datetime | None = None
    revert_requested_at: datetime | None = None
    reverted_at: datetime | None = None
    reflect_order: int = -1
    observed: int = 0
    """Reads (fetch, or a list page holding it) since its reflection or revert started."""
    events: dict[str, RefEvent] = field(default_factory=dict)
    events_ingested: int = 0

    def accepting(self) -> bool:
        return self.status == "pending" and self.closed_at is None

    def reflecting(self) -> bool:
        """Closed and not yet reflected, or reverting: waiting for the progression."""
        return (self.status == "pending" and self.closed_at is not None) or (
            self.status == "pending_revert"
        )

    def due(self, delay: timedelta | None) -> datetime | None:
        """When the clock next moves this backfill on; ``delay`` None: only reads move a closed
        or reverting backfill on (the ``"observations"`` progression), the clock only closes."""
        if self.status == "pending":
            if self.closed_at is None:
                return self.close_time
            return None if delay is None else self.closed_at + delay
        if self.status == "pending_revert":
            assert self.revert_requested_at is not None
            return None if delay is None else self.revert_requested_at + delay
        return None


@dataclass(eq=False)
class RefEvent:
    """An ingested event: its newest name and properties, its version count, what it counts for."""

    key: str
    timestamp: datetime
    event_name: str
    properties: Properties
    customer_id: str | None
    alias: str | None
    backfill: RefBackfill | None = None
    versions: int = 1
    deprecated: bool = False
    amended: bool = False


def parse_time(value: Any) -> datetime:
    """A ``datetime`` or ISO 8601 string as an aware UTC datetime (naive means UTC)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def typed(props: Properties) -> tuple[tuple[str, str, Any], ...]:
    """Properties comparable by JSON type too (Python calls ``1 == 1.0 == True``)."""
    return tuple(sorted((k, type(v).__name__, v) for k, v in props.items()))


def month_start(moment: datetime, months_ahead: int = 0) -> datetime:
    """The first of ``moment``'s month (UTC), ``months_ahead`` months later."""
    index = moment.year * 12 + moment.month - 1 + months_ahead
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def canonical(payload: Mapping[str, Any]) -> str:
    """An event body as JSON sees it: null keys are absent, ``1``, ``1.0`` and ``true`` differ."""
    present = {k: v for k, v in payload.items() if v is not None}
    return json.dumps(present, sort_keys=True, default=repr)
