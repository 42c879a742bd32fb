"""``sim.events.search``: events by id, as Orb's event search answers."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from orbsim.engine import validation as v
from orbsim.engine.events.arguments import MISSING, refuse_unknown
from orbsim.engine.ledger import EFFECTIVE
from orbsim.engine.reporting import reports_errors
from orbsim.engine.store import StoredEvent
from orbsim.engine.timeparse import iso, optional_timestamp
from orbsim.errors import RequestValidationError
from orbsim.models import Event, EventSearchResponse

if TYPE_CHECKING:
    from orbsim.engine.core import Engine


@reports_errors
class Search:
    """``sim.events.search`` (a part of ``Events``)."""

    _engine: Engine

    def search(
        self,
        *,
        event_ids: Any = MISSING,
        timeframe_start: datetime | str | None = None,
        timeframe_end: datetime | str | None = None,
        **unknown: Any,
    ) -> EventSearchResponse:
        """Events by id (1..500) with timestamps in ``[start, end)``; amended ones are left out."""
        refuse_unknown("event search", unknown)
        limit = self._engine.settings.search_max_event_ids
        if event_ids is MISSING:
            raise RequestValidationError("event_ids: field required")
        if type(event_ids) is not list or not all(type(i) is str for i in event_ids):
            raise RequestValidationError(
                f"event_ids: expected a list of strings, got {v.short(event_ids)}"
            )
        if not 1 <= len(event_ids) <= limit:
            raise RequestValidationError(
                f"event_ids: between 1 and {limit} ids are required, got {len(event_ids)}"
            )
        try:
            start_given = optional_timestamp(timeframe_start, "timeframe_start")
            end_given = optional_timestamp(timeframe_end, "timeframe_end")
        except ValueError as exc:
            raise RequestValidationError(str(exc)) from None
        engine = self._engine
        with engine.transaction() as now:
            start = start_given or now - engine.settings.search_default_lookback
            end = end_given or now
            if end <= start:
                raise RequestValidationError(
                    f"timeframe_end ({iso(end)}) must be after timeframe_start ({iso(start)})"
                )
            ledger = engine.ledger
            replacing = ledger.replacing(start, end)
            store = engine.state.events
            data: list[Event] = []
            for event_id in dict.fromkeys(event_ids):
                candidates: list[StoredEvent] = []
                live = store.live.get(event_id)
                if live is not None and not live.amended:
                    candidates.append(live)
                candidates.extend(
                    e
                    for e in store.backfill_events.get(event_id, ())
                    if e.backfill is not None and e.backfill.status in EFFECTIVE
                )
                for event in candidates:
                    if start <= event.timestamp < end:
                        data.append(self._search_item(event, ledger.counts(event, replacing)))
            return EventSearchResponse(data=data)

    def _search_item(self, event: StoredEvent, counts: bool) -> Event:
        customer_id = event.customer_id
        alias = event.external_customer_id
        customers = self._engine.customers
        if customer_id is None and alias is not None:
            holder = customers.holder_of(alias)
            customer_id = holder.id if holder is not None else None
        elif customer_id is not None and alias is None:
            record = self._engine.state.customers.get(customer_id)
            alias = record.alias if record is not None else None
        return Event(
            id=event.id,
            customer_id=customer_id,
            external_customer_id=alias,
            event_name=event.event_name,
            properties=dict(event.properties),
            timestamp=event.timestamp,
            deprecated=not counts,
        )
