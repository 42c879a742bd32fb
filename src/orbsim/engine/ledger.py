"""The billable view: which stored event versions count for billing right now.

Nothing is ever deleted; the view is computed. An event counts unless it was deprecated, or it
belongs to a backfill that is not in effect, or a later-reflected replacing backfill covers it
(same timeframe, scope and ``deprecation_filter``). Backfills compose in reflection order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from orbsim._internals import trusted_factory
from orbsim.engine.reporting import reporting
from orbsim.engine.store import EventStore, StoredEvent
from orbsim.engine.timeparse import optional_timestamp
from orbsim.errors import RequestValidationError
from orbsim.models import BillableEvent

if TYPE_CHECKING:
    from orbsim.engine.backfills import BackfillRecord
    from orbsim.engine.core import Engine

EFFECTIVE = frozenset(("reflected", "pending_revert"))
_billable = trusted_factory(BillableEvent)


class Ledger:
    """Answers "does this event count?" against the backfills in effect."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def owner(self, event: StoredEvent) -> str | None:
        """The customer an event counts for: its customer_id, or the live holder of its alias."""
        if event.customer_id is not None:
            return event.customer_id
        assert event.external_customer_id is not None
        holder = self._engine.customers.holder_of(event.external_customer_id)
        return None if holder is None else holder.id

    def replacing(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        customer_id: str | bool | None = True,
    ) -> list[BackfillRecord]:
        """Replacing backfills in effect that overlap ``[start, end)``.

        ``customer_id=True`` keeps every scope; a customer id (or None for unattributed events)
        keeps account-wide backfills and those scoped to that customer.
        """
        found = []
        for backfill in self._engine.state.backfills_in_effect:
            if not backfill.replace_existing_events:
                continue
            if start is not None and backfill.timeframe_end <= start:
                continue
            if end is not None and backfill.timeframe_start >= end:
                continue
            if (
                customer_id is not True
                and backfill.customer_id is not None
                and backfill.customer_id != customer_id
            ):
                continue
            found.append(backfill)
        return found

    def counts(
        self,
        event: StoredEvent,
        replacing: Iterable[BackfillRecord],
        owner: str | None = None,
        owner_known: bool = False,
    ) -> bool:
        """Whether ``event`` counts, given the replacing backfills that may hide it.

        Pass ``owner_known=True`` with ``owner`` when the caller already knows the customer.
        """
        if event.deprecated:
            return False
        own = event.backfill
        if own is None:
            after = -1
        elif own.status in EFFECTIVE:
            after = own.reflect_seq
        else:
            return False
        timestamp = event.timestamp
        for backfill in replacing:
            if backfill is own or backfill.reflect_seq <= after:
                continue
            if not backfill.timeframe_start <= timestamp < backfill.timeframe_end:
                continue
            if backfill.customer_id is not None:
                if not owner_known:
                    owner = self.owner(event)
                    owner_known = True
                if backfill.customer_id != owner:
                    continue
            matcher = backfill.matcher
            if matcher is not None and not matcher.matches(event):
                continue
            return False
        return True

    @reporting
    def billable_events(
        self,
        *,
        customer_id: str | None = None,
        external_customer_id: str | None = None,
        timeframe_start: datetime | str | None = None,
        timeframe_end: datetime | str | None = None,
        event_name: str | None = None,
    ) -> list[BillableEvent]:
        """The event versions that count for billing now, oldest first (``sim.billable_events``).

        Scoped to a customer (by id or alias; alias events count for the customer holding the
        alias) or, with neither, the whole account. Newest amendments only; deprecated events,
        events hidden by reflected replacing backfills and events of backfills not in effect
        are left out.
        """
        if customer_id is not None and external_customer_id is not None:
            raise RequestValidationError(
                "billable_events: give customer_id or external_customer_id, not both"
            )
        try:
            start = optional_timestamp(timeframe_start, "timeframe_start")
            end = optional_timestamp(timeframe_end, "timeframe_end")
        except ValueError as exc:
            raise RequestValidationError(str(exc)) from None
        engine = self._engine
        with engine.transaction():
            store = engine.state.events
            customers = engine.customers
            sources = []
            owner: str | None = None
            scoped = customer_id is not None or external_customer_id is not None
            if customer_id is not None:
                record = customers.require(customer_id)
                owner = record.id
                sources.append(store.by_customer_id.get(owner, {}))
                if record.alias is not None:
                    sources.append(store.by_alias.get(record.alias, {}))
            elif external_customer_id is not None:
                holder = customers.holder_of(external_customer_id)
                if holder is not None:
                    owner = holder.id
                    sources.append(store.by_customer_id.get(owner, {}))
                sources.append(store.by_alias.get(external_customer_id, {}))
            else:
                sources.append(store.by_hour)
            first = int(start.timestamp() // 3600) if start is not None else None
            last = int(end.timestamp() // 3600) + 1 if end is not None else None
            replacing = self.replacing(start, end, owner if scoped else True)
            found: list[StoredEvent] = []
            for index in sources:
                for event in EventStore.scan(index, first, last):
                    ts = event.timestamp
                    if start is not None and ts < start:
                        continue
                    if end is not None and ts >= end:
                        continue
                    if event_name is not None and event.event_name != event_name:
                        continue
                    if self.counts(event, replacing, owner, owner_known=scoped):
                        found.append(event)
            found.sort(key=lambda e: (e.timestamp, e.id))
            return [
                _billable(
                    {
                        "id": e.id,
                        "customer_id": (
                            e.customer_id
                            if e.customer_id is not None
                            else owner
                            if scoped
                            else self.owner(e)
                        ),
                        "external_customer_id": e.external_customer_id,
                        "event_name": e.event_name,
                        "properties": dict(e.properties),
                        "timestamp": e.timestamp,
                        "backfill_id": e.backfill.id if e.backfill is not None else None,
                    },
                )
                for e in found
            ]
