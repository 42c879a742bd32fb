"""Plain, compact structures holding every event version ever accepted (nothing is deleted).

Events are plain ``__slots__`` objects, indexed by id and by UTC hour (globally and per customer
identifier), so that amend/search by id are O(1) and a customer-month view touches only that
customer's events.

``EventStore.order`` lists every event in ingestion order; every other index is built from it, in
its order. The hour indexes are built on first use: a state file's load (``adopt``) lists its
events and indexes them by id, and the first read that needs an hour index (or ``settle``, which
``orbsim serve`` calls in slices after a start) builds the rest from ``order``, exactly as
``extend`` would have.

``EventStore.freeze`` gives a consistent view of all events as they are at that moment without
copying them: events are only ever appended, and the store's ``amend``/``deprecate`` keep the
version list an event had when frozen (copy on write). A state file is written from such a view
while the store keeps changing (``orbsim.statefile.snapshot``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import compress
from operator import attrgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orbsim.engine.backfills import BackfillRecord

HourIndex = dict[int, list["StoredEvent"]]

# (kind, event_name, properties, recorded_at) — one entry of an event's audit trail.
Version = tuple[str, str, dict[str, Any], datetime]


class StoredEvent:
    """One usage event: its newest version in the fields, older versions in ``history``."""

    __slots__ = (
        "backfill",
        "customer_id",
        "deprecated",
        "event_name",
        "external_customer_id",
        "history",
        "hour",
        "id",
        "ingested_at",
        "properties",
        "timestamp",
    )

    def __init__(
        self,
        event_id: str,
        event_name: str,
        properties: dict[str, Any],
        timestamp: datetime,
        hour: int,
        customer_id: str | None,
        external_customer_id: str | None,
        ingested_at: datetime,
        backfill: BackfillRecord | None,
    ) -> None:
        self.id = event_id
        self.event_name = event_name
        self.properties = properties
        self.timestamp = timestamp
        self.hour = hour
        self.customer_id = customer_id
        self.external_customer_id = external_customer_id
        self.ingested_at = ingested_at
        self.backfill = backfill
        self.deprecated = False
        self.history: list[Version] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> StoredEvent:
        """A copy sharing only immutable values (times, strings, scalar property values); its
        backfill is copied through ``memo``, so events and backfills keep pointing at each other."""
        backfill = self.backfill
        copied = StoredEvent(
            self.id,
            self.event_name,
            dict(self.properties),  # values are scalars: a shallow copy is a deep one
            self.timestamp,
            self.hour,
            self.customer_id,
            self.external_customer_id,
            self.ingested_at,
            None if backfill is None else copy.deepcopy(backfill, memo),
        )
        memo[id(self)] = copied
        copied.deprecated = self.deprecated
        if self.history is not None:
            copied.history = [
                (kind, name, dict(props), at) for kind, name, props, at in self.history
            ]
        return copied

    @property
    def amended(self) -> bool:
        return self.history is not None and any(v[0] == "amended" for v in self.history)

    def versions(self) -> list[Version]:
        """Every version, oldest first (the first is the ingested one)."""
        if self.history is None:
            return [("ingested", self.event_name, self.properties, self.ingested_at)]
        return self.history

    def _start_history(self) -> list[Version]:
        if self.history is None:
            self.history = [("ingested", self.event_name, self.properties, self.ingested_at)]
        return self.history

    def amend(self, event_name: str, properties: dict[str, Any], now: datetime) -> None:
        self._start_history().append(("amended", event_name, properties, now))
        self.event_name = event_name
        self.properties = properties

    def deprecate(self, now: datetime) -> None:
        self._start_history().append(("deprecated", self.event_name, self.properties, now))
        self.deprecated = True

    def body(self) -> dict[str, Any]:
        """The event as it was ingested (for idempotent comparison)."""
        first = self.versions()[0]
        return {
            "event_name": first[1],
            "properties": first[2],
            "timestamp": self.timestamp,
            "customer_id": self.customer_id,
            "external_customer_id": self.external_customer_id,
        }


_ID = attrgetter("id")
_BACKFILL = attrgetter("backfill")
_HISTORY = attrgetter("history")
_EVENT_NAME = attrgetter("event_name")
_PROPERTIES = attrgetter("properties")
_INGESTED_AT = attrgetter("ingested_at")


def hour_of(timestamp: datetime) -> int:
    """Hours since the epoch (floor), the bucket an event belongs to."""
    return int(timestamp.timestamp() // 3600)


class EventStore:
    """Owns every stored event (live and backfill) and the hour indexes over them."""

    def __init__(self) -> None:
        self.live: dict[str, StoredEvent] = {}
        self.backfill_events: dict[str, list[StoredEvent]] = {}
        self.order: list[StoredEvent] = []
        """Every event, in ingestion order (the order ``extend`` and ``adopt`` saw them)."""
        self._by_hour: HourIndex = {}
        self._by_customer_id: dict[str, HourIndex] = {}
        self._by_alias: dict[str, HourIndex] = {}
        self._indexed = 0
        """How many events of ``order`` (its first ones) the hour indexes hold."""
        self._frozen: tuple[dict[StoredEvent, list[Version]], ...] = ()

    @property
    def count(self) -> int:
        """How many events (live and backfill) are stored."""
        return len(self.order)

    @property
    def by_hour(self) -> HourIndex:
        """Every event by the UTC hour of its timestamp, each bucket in ingestion order."""
        if self._indexed < len(self.order):
            self.settle()
        return self._by_hour

    @property
    def by_customer_id(self) -> dict[str, HourIndex]:
        """Events sent with a ``customer_id``, by that id, then by hour."""
        if self._indexed < len(self.order):
            self.settle()
        return self._by_customer_id

    @property
    def by_alias(self) -> dict[str, HourIndex]:
        """Events sent with an ``external_customer_id`` only, by that alias, then by hour."""
        if self._indexed < len(self.order):
            self.settle()
        return self._by_alias

    def __deepcopy__(self, memo: dict[int, Any]) -> EventStore:
        """Written out rather than left to ``copy.deepcopy``'s generic walk, several times faster
        on large stores: the events are copied in ingestion order and the copy's indexes are
        built from them (so they are the same), on first use."""
        copied = EventStore()
        memo[id(self)] = copied
        events: list[StoredEvent] = []
        for event in self.order:
            found = memo.get(id(event))
            events.append(found if found is not None else event.__deepcopy__(memo))
        copied.adopt(events)
        return copied

    def freeze(self) -> FrozenEvents:
        """The events as they are now, unaffected by later changes, until ``release``d.

        O(1): nothing is copied until an event is amended or deprecated (then its versions of
        this moment are kept for the view). Call it under the engine's lock."""
        preserved: dict[StoredEvent, list[Version]] = {}
        self._frozen = (*self._frozen, preserved)
        return FrozenEvents(
            self.order, len(self.order), preserved, lambda: self._release(preserved)
        )

    def _release(self, preserved: dict[StoredEvent, list[Version]]) -> None:
        self._frozen = tuple(p for p in self._frozen if p is not preserved)

    def _preserve(self, event: StoredEvent) -> None:
        for preserved in self._frozen:
            if event not in preserved:
                preserved[event] = list(event.versions())

    def amend(
        self, event: StoredEvent, event_name: str, properties: dict[str, Any], now: datetime
    ) -> None:
        """``event.amend``, keeping its current versions for frozen views."""
        if self._frozen:
            self._preserve(event)
        event.amend(event_name, properties, now)

    def deprecate(self, event: StoredEvent, now: datetime) -> None:
        """``event.deprecate``, keeping its current versions for frozen views."""
        if self._frozen:
            self._preserve(event)
        event.deprecate(now)

    def add(self, event: StoredEvent) -> None:
        """Store one event (``extend`` of one)."""
        self.extend([event])

    def extend(self, events: list[StoredEvent]) -> None:
        """Store ``events``, in order, and index them (ingest stores a batch at once). If the
        hour indexes are still to be built (``adopt``), they are left to that, first use."""
        pending = self._indexed < len(self.order)
        self.adopt(events)
        if not pending:
            self._index(events)
            self._indexed = len(self.order)

    def adopt(self, events: list[StoredEvent]) -> None:
        """Store ``events``, in order, indexed by id only; the hour indexes follow on first use
        (or ``settle``). What a state file's load does: the id index is built at C speed when
        none of the events belongs to a backfill."""
        self.order.extend(events)
        if not any(map(_BACKFILL, events)):
            self.live.update(zip(map(_ID, events), events, strict=True))
        else:
            live = self.live
            backfill_events = self.backfill_events
            for event in events:
                if event.backfill is None:
                    live[event.id] = event
                else:
                    found = backfill_events.get(event.id)
                    if found is None:
                        backfill_events[event.id] = [event]
                    else:
                        found.append(event)

    def settle(self, limit: int | None = None) -> bool:
        """Build the hour indexes of (at most ``limit`` of) the events not yet in them;
        returns whether every event is now indexed. Call it under the engine's lock."""
        start = self._indexed
        stop = len(self.order) if limit is None else min(len(self.order), start + limit)
        if start < stop:
            self._index(self.order[start:stop])
            self._indexed = stop
        return self._indexed == len(self.order)

    def _index(self, events: list[StoredEvent]) -> None:
        """The one place the hour indexes are kept (``events`` follow the indexed ones)."""
        by_hour = self._by_hour
        by_customer = self._by_customer_id
        by_alias = self._by_alias
        for event in events:
            hour = event.hour
            bucket = by_hour.get(hour)
            if bucket is None:
                by_hour[hour] = [event]
            else:
                bucket.append(event)
            key = event.customer_id
            if key is not None:
                index = by_customer.get(key)
                if index is None:
                    index = by_customer[key] = {}
            else:
                key = event.external_customer_id
                assert key is not None
                index = by_alias.get(key)
                if index is None:
                    index = by_alias[key] = {}
            owned = index.get(hour)
            if owned is None:
                index[hour] = [event]
            else:
                owned.append(event)

    @staticmethod
    def scan(
        index: HourIndex, first_hour: int | None, end_hour: int | None
    ) -> Iterator[StoredEvent]:
        """Events of ``index`` in hours ``[first_hour, end_hour)`` (None = unbounded)."""
        if not index:
            return
        if first_hour is None or end_hour is None or end_hour - first_hour > len(index):
            hours = sorted(
                h
                for h in index
                if (first_hour is None or h >= first_hour) and (end_hour is None or h < end_hour)
            )
        else:
            hours = [h for h in range(first_hour, end_hour) if h in index]
        for hour in hours:
            yield from index[hour]


class FrozenSlice:
    """Consecutive events of a frozen view, each as it was when frozen: ``names``,
    ``properties`` and ``recorded`` are its ingested version's, ``later`` its later versions by
    position (only for events that have some). Plain lists, read from the events' fields in C
    loops: a slice makes few objects the cyclic collector tracks."""

    __slots__ = ("events", "later", "names", "properties", "recorded")

    def __init__(
        self,
        events: list[StoredEvent],
        names: list[str],
        properties: list[dict[str, Any]],
        recorded: list[datetime],
        later: dict[int, list[Version]],
    ) -> None:
        self.events = events
        self.names = names
        self.properties = properties
        self.recorded = recorded
        self.later = later


class FrozenEvents:
    """``EventStore.freeze``'s view: the first ``count`` events of ``order``, each with the
    versions it had when frozen. It may be read from another thread while the store changes."""

    __slots__ = ("_order", "_preserved", "_release", "count")

    def __init__(
        self,
        order: list[StoredEvent],
        count: int,
        preserved: dict[StoredEvent, list[Version]],
        release: Callable[[], None],
    ) -> None:
        self._order = order
        self._preserved = preserved
        self._release = release
        self.count = count

    def slices(self, size: int) -> Iterator[FrozenSlice]:
        """The events, ``size`` at a time, in ingestion order, as they were when frozen."""
        order = self._order
        for start in range(0, self.count, size):
            yield self._read(order[start : min(start + size, self.count)])

    def _read(self, events: list[StoredEvent]) -> FrozenSlice:
        """The fields are read first and the preserved versions after: an amend (or deprecate)
        preserves an event's versions before it changes them, so an event changed while it was
        read is found preserved, with the versions of the frozen moment."""
        histories = list(map(_HISTORY, events))
        names = list(map(_EVENT_NAME, events))
        properties = list(map(_PROPERTIES, events))
        recorded = list(map(_INGESTED_AT, events))
        changed = {p: list(histories[p]) for p in compress(range(len(events)), histories)}
        preserved = self._preserved
        if preserved:
            for position, event in enumerate(events):
                versions = preserved.get(event)
                if versions is not None:
                    changed[position] = versions
        later: dict[int, list[Version]] = {}
        for position in sorted(changed):
            versions = changed[position]
            _, names[position], properties[position], recorded[position] = versions[0]
            if len(versions) > 1:
                later[position] = versions[1:]
        return FrozenSlice(events, names, properties, recorded, later)

    def __iter__(self) -> Iterator[tuple[StoredEvent, list[Version]]]:
        """``(event, its versions then)``, in ingestion order."""
        for frozen in self.slices(4096):
            for position, event in enumerate(frozen.events):
                ingested = (
                    "ingested",
                    frozen.names[position],
                    frozen.properties[position],
                    frozen.recorded[position],
                )
                yield event, [ingested, *frozen.later.get(position, ())]

    def release(self) -> None:
        """Stop keeping versions for this view (idempotent)."""
        self._release()
