"""``OrbSim``: the simulated Orb account. Owns the state, the clock and the lock.

Every public operation takes the lock, reads the clock once, settles due backfill transitions and
then acts, so behaviour is the same under freezegun, time-machine or a ManualClock.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from orbsim.clock import Clock, SystemClock
from orbsim.engine.billing import Plans, Subscriptions
from orbsim.engine.customers import Customers
from orbsim.engine.events import Events
from orbsim.engine.ids import IdGenerator
from orbsim.engine.ledger import Ledger
from orbsim.engine.store import EventStore, StoredEvent
from orbsim.engine.timeparse import optional_timestamp
from orbsim.errors import RequestValidationError, ResourceNotFound
from orbsim.models import BillableEvent, EventVersion
from orbsim.settings import Settings


class OrbSim:
    """An in-memory Orb account: ``customers``, ``plans``, ``subscriptions``, ``events``."""

    def __init__(
        self,
        settings: Settings | None = None,
        clock: Clock | None = None,
        seed: int | str | None = 0,
    ) -> None:
        self.settings = settings if settings is not None else Settings()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.seed = seed
        self._lock = threading.RLock()
        self._ids = IdGenerator(seed)
        self._seq = itertools.count(1)
        self._store = EventStore()
        self._ledger = Ledger(self)
        self.customers = Customers(self)
        self.plans = Plans(self)
        self.subscriptions = Subscriptions(self)
        self.events = Events(self)

    def __repr__(self) -> str:
        return (
            f"OrbSim(customers={len(self.customers.live_records())}, "
            f"events={self._store.count}, clock={self.clock!r})"
        )

    # -- time -----------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The simulator's current time (timezone-aware UTC)."""
        with self._operation() as now:
            return now

    @contextmanager
    def _operation(self) -> Iterator[datetime]:
        """Lock, read the clock once, settle what became due, and hand the time to the caller."""
        with self._lock:
            now = self.clock.now()
            if now.tzinfo is None:
                now = now.replace(tzinfo=UTC)
            self.events.backfills.settle(now)
            yield now

    def _next_seq(self) -> int:
        return next(self._seq)

    # -- views ------------------------------------------------------------------------------------

    def billable_events(
        self,
        *,
        customer_id: str | None = None,
        external_customer_id: str | None = None,
        timeframe_start: datetime | str | None = None,
        timeframe_end: datetime | str | None = None,
        event_name: str | None = None,
    ) -> list[BillableEvent]:
        """The event versions that count for billing now, oldest first.

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
        with self._operation():
            store = self._store
            sources = []
            owner: str | None = None
            scoped = customer_id is not None or external_customer_id is not None
            if customer_id is not None:
                record = self.customers.require(customer_id)
                owner = record.id
                sources.append(store.by_customer_id.get(owner, {}))
                if record.alias is not None:
                    sources.append(store.by_alias.get(record.alias, {}))
            elif external_customer_id is not None:
                holder = self.customers.holder_of(external_customer_id)
                if holder is not None:
                    owner = holder.id
                    sources.append(store.by_customer_id.get(owner, {}))
                sources.append(store.by_alias.get(external_customer_id, {}))
            else:
                sources.append(store.by_hour)
            first = int(start.timestamp() // 3600) if start is not None else None
            last = int(end.timestamp() // 3600) + 1 if end is not None else None
            ledger = self._ledger
            replacing = ledger.replacing(start, end, owner if scoped else True)
            found: list[StoredEvent] = []
            for index in sources:
                for event in store.scan(index, first, last):
                    ts = event.timestamp
                    if start is not None and ts < start:
                        continue
                    if end is not None and ts >= end:
                        continue
                    if event_name is not None and event.event_name != event_name:
                        continue
                    if ledger.counts(event, replacing, owner, owner_known=scoped):
                        found.append(event)
            found.sort(key=lambda e: (e.timestamp, e.id))
            construct = BillableEvent.model_construct
            return [
                construct(
                    id=e.id,
                    customer_id=e.customer_id if e.customer_id is not None else owner,
                    external_customer_id=e.external_customer_id,
                    event_name=e.event_name,
                    properties=e.properties,
                    timestamp=e.timestamp,
                    backfill_id=e.backfill.id if e.backfill is not None else None,
                )
                for e in found
            ]

    def event_versions(self, event_id: str) -> list[EventVersion]:
        """The audit trail of an event: every version ever accepted, oldest first."""
        with self._operation():
            event = self._store.live.get(event_id)
            if event is None:
                raise ResourceNotFound.of("Event", event_id)
            return [
                EventVersion(
                    id=event.id,
                    version=number,
                    kind=kind,
                    event_name=name,
                    properties=dict(properties),
                    timestamp=event.timestamp,
                    customer_id=event.customer_id,
                    external_customer_id=event.external_customer_id,
                    recorded_at=recorded_at,
                    backfill_id=None,
                )
                for number, (kind, name, properties, recorded_at) in enumerate(
                    event.versions(), start=1
                )
            ]
