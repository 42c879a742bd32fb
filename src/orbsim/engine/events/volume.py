"""``sim.events.volume``: events ingested per UTC hour of their timestamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from orbsim.engine.events.arguments import refuse_unknown
from orbsim.engine.ledger import EFFECTIVE
from orbsim.engine.pagination import VOLUME_MAX_LIMIT, check_limit, decode_cursor, encode_cursor
from orbsim.engine.reporting import reports_errors
from orbsim.engine.store import StoredEvent
from orbsim.engine.timeparse import iso, optional_timestamp, parse_timestamp
from orbsim.errors import RequestValidationError
from orbsim.models import EventVolume, EventVolumes, PaginationMetadata

if TYPE_CHECKING:
    from orbsim.engine.core import Engine

_HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ingested(bucket: list[StoredEvent]) -> int:
    """How many events of one hour's bucket the volume counts: live ones, and those of
    backfills in effect (an open, closing or reverted backfill's events do not show)."""
    count = 0
    for event in bucket:
        backfill = event.backfill
        if backfill is None or backfill.status in EFFECTIVE:
            count += 1
    return count


@reports_errors
class Volume:
    """``sim.events.volume``: events ingested per UTC hour of their timestamp.

    "Ingested" follows Orb's volume page ("the number of events ingested with a timestamp
    between the timeframe"): each accepted idempotency key once, amended or deprecated alike
    (neither is a new ingestion, and Orb never deletes ingested data), whoever holds its alias;
    events of a backfill once its effects show (``reflected``, ``pending_revert``). Keys refused
    as duplicates were never ingested.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(
        self,
        *,
        timeframe_start: datetime | str | None = None,
        timeframe_end: datetime | str | None = None,
        limit: int = 20,
        cursor: str | None = None,
        **unknown: Any,
    ) -> EventVolumes:
        """Non-empty hours in ``[timeframe_start, timeframe_end)``, oldest first (hours widened)."""
        refuse_unknown("event volume", unknown)
        if timeframe_start is None:
            raise RequestValidationError("timeframe_start: field required")
        try:
            start = parse_timestamp(timeframe_start, "timeframe_start")
            end_given = optional_timestamp(timeframe_end, "timeframe_end")
        except ValueError as exc:
            raise RequestValidationError(str(exc)) from None
        size = check_limit(limit, VOLUME_MAX_LIMIT)
        engine = self._engine
        with engine.transaction() as now:
            end = end_given or now
            if end <= start:
                raise RequestValidationError(
                    f"timeframe_end ({iso(end)}) must be after timeframe_start ({iso(start)})"
                )
            first = int((start - _EPOCH) // _HOUR)
            last = -int(-((end - _EPOCH) / _HOUR) // 1)  # ceil: the hour containing end is included
            if cursor:
                first = max(first, decode_cursor(cursor)[0] + 1)
            store = engine.state.events
            hours = sorted(h for h in store.by_hour if first <= h < last)
            buckets: list[tuple[int, int]] = []
            has_more = False
            for hour in hours:
                count = ingested(store.by_hour[hour])
                if not count:
                    continue
                if len(buckets) == size:
                    has_more = True
                    break
                buckets.append((hour, count))
            next_cursor = encode_cursor((buckets[-1][0], 0)) if has_more else None
            data = [
                EventVolume(
                    timeframe_start=_EPOCH + hour * _HOUR,
                    timeframe_end=_EPOCH + (hour + 1) * _HOUR,
                    count=count,
                )
                for hour, count in buckets
            ]
            return EventVolumes(
                data=data,
                pagination_metadata=PaginationMetadata(
                    has_more=next_cursor is not None, next_cursor=next_cursor
                ),
            )
