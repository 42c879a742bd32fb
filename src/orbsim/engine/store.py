"""Plain, compact structures holding every event version ever accepted (nothing is deleted).

Events are plain ``__slots__`` objects, indexed by id and by UTC hour (globally and per customer
identifier), so that amend/search by id are O(1) and a customer-month view touches only that
customer's events.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime
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


def hour_of(timestamp: datetime) -> int:
    """Hours since the epoch (floor), the bucket an event belongs to."""
    return int(timestamp.timestamp() // 3600)


class EventStore:
    """Owns every stored event (live and backfill) and the hour indexes over them."""

    def __init__(self) -> None:
        self.live: dict[str, StoredEvent] = {}
        self.by_hour: HourIndex = {}
        self.by_customer_id: dict[str, HourIndex] = {}
        self.by_alias: dict[str, HourIndex] = {}
        self.backfill_events: dict[str, list[StoredEvent]] = {}
        self.count = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> EventStore:
        """Written out rather than left to ``copy.deepcopy``'s generic walk, several times faster
        on large stores; every index of the copy points at the same copied events."""
        copied = EventStore()
        memo[id(self)] = copied
        copies: dict[int, StoredEvent] = {}
        for bucket in self.by_hour.values():
            for event in bucket:
                found = memo.get(id(event))
                copies[id(event)] = found if found is not None else event.__deepcopy__(memo)

        def index(hours: HourIndex) -> HourIndex:
            return {hour: [copies[id(e)] for e in bucket] for hour, bucket in hours.items()}

        copied.live = {key: copies[id(e)] for key, e in self.live.items()}
        copied.by_hour = index(self.by_hour)
        copied.by_customer_id = {key: index(hours) for key, hours in self.by_customer_id.items()}
        copied.by_alias = {key: index(hours) for key, hours in self.by_alias.items()}
        copied.backfill_events = {
            key: [copies[id(e)] for e in events] for key, events in self.backfill_events.items()
        }
        copied.count = self.count
        return copied

    def add(self, event: StoredEvent) -> None:
        if event.backfill is None:
            self.live[event.id] = event
        else:
            self.backfill_events.setdefault(event.id, []).append(event)
        hour = event.hour
        bucket = self.by_hour.get(hour)
        if bucket is None:
            self.by_hour[hour] = [event]
        else:
            bucket.append(event)
        if event.customer_id is not None:
            index = self.by_customer_id.get(event.customer_id)
            if index is None:
                index = self.by_customer_id[event.customer_id] = {}
        else:
            alias = event.external_customer_id
            assert alias is not None
            index = self.by_alias.get(alias)
            if index is None:
                index = self.by_alias[alias] = {}
        owned = index.get(hour)
        if owned is None:
            index[hour] = [event]
        else:
            owned.append(event)
        self.count += 1

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
