"""Snapshots of a simulator (in memory) and state files (JSON on disk).

``OrbSim.snapshot()`` deep-copies the whole engine state into an immutable :class:`Snapshot`;
``OrbSim.restore(snapshot)`` puts a copy of it back in place (same ``OrbSim`` object, same clock).
``OrbSim.dump(path)`` writes the same state as a versioned, readable JSON document (atomically:
temporary file in the same directory, fsync, ``os.replace``) and ``OrbSim.load(path)`` builds a
new simulator from one. Outline of the document (version 1)::

    {"format": "orbsim-state", "version": 1,
     "settings": {...Settings, durations as ISO 8601...},
     "clock": {"now": iso, "manual": bool},
     "ids": {"seed", "rng_state": [version, [625 ints], gauss_next], "issued": [...], "next_seq"},
     "customers": [{"seq", "deleted", "customer": {...Customer...}}],
     "plans": [{"seq", "plan": {...Plan...}}],
     "subscriptions": [{"id", "customer_id", "plan_id", "name", "created_at", "seq", "metadata",
                        "extra", "schedule": {"start", "end", "timezone", "cadence", "cycle_day",
                                              "anchor_month"}}],
     "events": [{"id", "timestamp", "customer_id", "external_customer_id", "backfill_id",
                 "versions": [{"kind", "event_name", "properties", "recorded_at"}, ...]}],
     "backfills": [{"id", "customer_id", "timeframe_start", "timeframe_end",
                    "replace_existing_events", "deprecation_filter", "created_at", "close_time",
                    "seq", "status", "closed_at", "reflected_at", "reflect_seq",
                    "revert_requested_at", "reverted_at", "events_ingested"}],
     "ledger": {"reflections": int, "active": [backfill ids], "effective": [backfill ids]},
     "quotas": {"amendment": {"limit", "window", "uses": {customer_id: [iso, ...]}},
                "deprecation": {...}},
     "extensions": {attribute name: data}}

Times are ISO 8601 strings with their UTC offset. Records are listed in the engine's own order
(creation order); events in an order consistent with every index of the event store (their
ingestion order), so every list the engine keeps comes back identical. Derived data is not written:
the event store's indexes, customer aliases, external plan ids, subscriptions per customer, each
event's current name/properties (its newest version) and ``deprecated`` flag (a ``deprecated``
version exists), and the compiled ``deprecation_filter`` (recompiled from its text). The file is
compact JSON unless ``dump(path, indent=2)`` asks for one meant for people; never a pickle.

State kept outside the engine joins in through ``OrbSim._PERSISTED``, a class-level tuple of
attribute names: snapshots hold a ``copy.deepcopy`` of each such attribute (or the fact that it was
absent), state files hold ``value.dump_state()`` if the value has that method, else the value
itself (which must then be plain JSON data), under ``extensions``; ``load`` hands the data to
``load_state(data)`` of the new simulator's attribute if it has that method, else sets it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import heapq
import itertools
import json
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from pydantic import TypeAdapter, ValidationError

from orbsim.clock import Clock, ManualClock, SystemClock
from orbsim.engine.backfills import STATUSES, BackfillRecord
from orbsim.engine.billing import PlanRecord, SubscriptionRecord
from orbsim.engine.customers import CustomerRecord
from orbsim.engine.filters import compile_filter
from orbsim.engine.ids import IdGenerator
from orbsim.engine.periods import BillingSchedule
from orbsim.engine.quotas import RollingQuota
from orbsim.engine.store import EventStore, StoredEvent, Version, hour_of
from orbsim.models import Customer, Plan
from orbsim.settings import Settings

if TYPE_CHECKING:
    from orbsim.engine.sim import OrbSim

__all__ = ["FORMAT", "VERSION", "Snapshot", "StatePath"]

FORMAT: Final = "orbsim-state"
VERSION: Final = 1

StatePath = str | os.PathLike[str]
S = TypeVar("S", bound="OrbSim")

_DURATION: TypeAdapter[timedelta] = TypeAdapter(timedelta)
_VERSION_KINDS = ("ingested", "amended", "deprecated")
_ABSENT: Final[Any] = object()


# -- the engine state -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Engine:
    """Every piece of mutable engine state, by reference (see ``_capture`` / ``_install``)."""

    seed: int | str | None
    ids: IdGenerator
    next_seq: int
    store: EventStore
    customers: dict[str, CustomerRecord]
    customers_by_alias: dict[str, CustomerRecord]
    plans: dict[str, PlanRecord]
    plans_by_external: dict[str, PlanRecord]
    subscriptions: dict[str, SubscriptionRecord]
    subscriptions_by_customer: dict[str, list[SubscriptionRecord]]
    amend_quota: RollingQuota
    deprecate_quota: RollingQuota
    backfills: dict[str, BackfillRecord]
    active: list[BackfillRecord]
    effective: list[BackfillRecord]
    reflections: int


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Snapshot:
    """The complete state of an ``OrbSim`` at ``taken_at``; opaque and never modified.

    It holds a private deep copy (later changes to the simulator do not reach it) and ``restore``
    installs a fresh copy of it, so one snapshot can be restored any number of times.
    """

    taken_at: datetime
    """The simulator's time when the snapshot was taken."""
    settings: Settings
    """The settings in force then (restored with the state)."""
    _engine: _Engine
    _extensions: Mapping[str, Any]

    def __repr__(self) -> str:
        engine = self._engine
        return (
            f"Snapshot(taken_at={self.taken_at.isoformat()!r}, "
            f"customers={len(engine.customers)}, events={engine.store.count}, "
            f"backfills={len(engine.backfills)})"
        )


def _next_seq(sim: OrbSim) -> int:
    """The next value of the sequence counter, without using it up."""
    upcoming = next(sim._seq)
    sim._seq = itertools.count(upcoming)
    return upcoming


def _capture(sim: OrbSim) -> _Engine:
    """The live engine state of ``sim`` (references, not copies; hold the lock)."""
    backfills = sim.events.backfills
    return _Engine(
        seed=sim.seed,
        ids=sim._ids,
        next_seq=_next_seq(sim),
        store=sim._store,
        customers=sim.customers._records,
        customers_by_alias=sim.customers._by_alias,
        plans=sim.plans._records,
        plans_by_external=sim.plans._by_external,
        subscriptions=sim.subscriptions._records,
        subscriptions_by_customer=sim.subscriptions._by_customer,
        amend_quota=sim.events._amend_quota,
        deprecate_quota=sim.events._deprecate_quota,
        backfills=backfills._records,
        active=backfills._active,
        effective=backfills._effective,
        reflections=backfills._reflections,
    )


def _install(sim: OrbSim, engine: _Engine) -> None:
    """Make ``engine`` the state of ``sim`` (the caller holds the lock and owns ``engine``)."""
    sim.seed = engine.seed
    sim._ids = engine.ids
    sim._seq = itertools.count(engine.next_seq)
    sim._store = engine.store
    sim.customers._records = engine.customers
    sim.customers._by_alias = engine.customers_by_alias
    sim.plans._records = engine.plans
    sim.plans._by_external = engine.plans_by_external
    sim.subscriptions._records = engine.subscriptions
    sim.subscriptions._by_customer = engine.subscriptions_by_customer
    sim.events._amend_quota = engine.amend_quota
    sim.events._deprecate_quota = engine.deprecate_quota
    backfills = sim.events.backfills
    backfills._records = engine.backfills
    backfills._active = engine.active
    backfills._effective = engine.effective
    backfills._reflections = engine.reflections


def _copy_event(event: StoredEvent, backfill: BackfillRecord | None) -> StoredEvent:
    copied = StoredEvent(
        event.id,
        event.event_name,
        dict(event.properties),  # values are scalars: a shallow copy is a deep one
        event.timestamp,
        event.hour,
        event.customer_id,
        event.external_customer_id,
        event.ingested_at,
        backfill,
    )
    copied.deprecated = event.deprecated
    if event.history is not None:
        copied.history = [(kind, name, dict(props), at) for kind, name, props, at in event.history]
    return copied


def _copy_quota(quota: RollingQuota) -> RollingQuota:
    copied = RollingQuota(quota.name, quota.limit, quota.window)
    copied._uses = {customer: deque(uses) for customer, uses in quota._uses.items()}
    return copied


def _copy_engine(engine: _Engine) -> _Engine:
    """A deep copy of ``engine``, sharing only immutable values.

    Written out rather than ``copy.deepcopy`` (ten times faster on large event stores); the
    compiled filters and billing schedules are frozen and shared; datetimes and strings are
    immutable.
    """
    ids = IdGenerator(None)
    ids._rng.setstate(engine.ids._rng.getstate())
    ids._issued = set(engine.ids._issued)

    customers = {
        key: CustomerRecord(r.model.model_copy(deep=True), r.seq, r.deleted)
        for key, r in engine.customers.items()
    }
    plans = {
        key: PlanRecord(r.model.model_copy(deep=True), r.seq) for key, r in engine.plans.items()
    }
    subscriptions = {
        key: dataclasses.replace(r, metadata=dict(r.metadata), extra=copy.deepcopy(r.extra))
        for key, r in engine.subscriptions.items()
    }
    backfills = {key: dataclasses.replace(r, events={}) for key, r in engine.backfills.items()}

    old = engine.store
    store = EventStore()
    copies: dict[int, StoredEvent] = {}
    for bucket in old.by_hour.values():
        for event in bucket:
            owner = None if event.backfill is None else backfills[event.backfill.id]
            copies[id(event)] = _copy_event(event, owner)

    def index(hours: dict[int, list[StoredEvent]]) -> dict[int, list[StoredEvent]]:
        return {hour: [copies[id(e)] for e in bucket] for hour, bucket in hours.items()}

    store.live = {key: copies[id(e)] for key, e in old.live.items()}
    store.by_hour = index(old.by_hour)
    store.by_customer_id = {key: index(hours) for key, hours in old.by_customer_id.items()}
    store.by_alias = {key: index(hours) for key, hours in old.by_alias.items()}
    store.backfill_events = {
        key: [copies[id(e)] for e in events] for key, events in old.backfill_events.items()
    }
    store.count = old.count
    for key, record in engine.backfills.items():
        backfills[key].events = {k: copies[id(e)] for k, e in record.events.items()}

    by_customer = {
        key: [subscriptions[s.id] for s in subs]
        for key, subs in engine.subscriptions_by_customer.items()
    }
    return _Engine(
        seed=engine.seed,
        ids=ids,
        next_seq=engine.next_seq,
        store=store,
        customers=customers,
        customers_by_alias={a: customers[r.id] for a, r in engine.customers_by_alias.items()},
        plans=plans,
        plans_by_external={e: plans[r.model.id] for e, r in engine.plans_by_external.items()},
        subscriptions=subscriptions,
        subscriptions_by_customer=by_customer,
        amend_quota=_copy_quota(engine.amend_quota),
        deprecate_quota=_copy_quota(engine.deprecate_quota),
        backfills=backfills,
        active=[backfills[b.id] for b in engine.active],
        effective=[backfills[b.id] for b in engine.effective],
        reflections=engine.reflections,
    )


def _persisted_names(sim: OrbSim) -> tuple[str, ...]:
    return tuple(type(sim)._PERSISTED)


def _copy_extension(value: Any) -> Any:
    return value if value is _ABSENT else copy.deepcopy(value)


def take_snapshot(sim: OrbSim) -> Snapshot:
    """Implementation of ``OrbSim.snapshot``."""
    with sim._operation() as now:
        engine = _copy_engine(_capture(sim))
        extensions = {
            name: _copy_extension(getattr(sim, name, _ABSENT)) for name in _persisted_names(sim)
        }
        return Snapshot(now, sim.settings, engine, extensions)


def restore_snapshot(sim: OrbSim, snapshot: Snapshot, *, fresh: bool = False) -> None:
    """Implementation of ``OrbSim.restore``; ``fresh`` installs the snapshot's own objects."""
    if not isinstance(snapshot, Snapshot):
        raise TypeError(f"restore() needs a Snapshot, got {type(snapshot).__name__}")
    with sim._lock:
        engine = snapshot._engine if fresh else _copy_engine(snapshot._engine)
        extensions = {
            name: value if fresh else _copy_extension(value)
            for name, value in snapshot._extensions.items()
        }
        sim.settings = snapshot.settings
        _install(sim, engine)
        for name, value in extensions.items():
            if value is _ABSENT:
                if hasattr(sim, name):
                    delattr(sim, name)
            else:
                setattr(sim, name, value)


# -- JSON encoding --------------------------------------------------------------------------------


def _iso(value: datetime) -> str:
    return value.isoformat()


def _opt_iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _duration(value: timedelta) -> Any:
    return _DURATION.dump_python(value, mode="json")


def ingestion_order(store: EventStore, backfills: Iterable[BackfillRecord]) -> list[StoredEvent]:
    """Every stored event, in an order consistent with every list the store keeps.

    Each index (``live``, each hour of ``by_hour``, each id of ``backfill_events``, each
    backfill's ``events``) lists its events in ingestion order, so adding the events again in an
    order that respects all of them rebuilds every index identically. The order by
    ``ingested_at`` is that order whenever the clock never went back; otherwise the indexes are
    merged topologically (ties still by ``ingested_at``).
    """
    events = [event for hour in sorted(store.by_hour) for event in store.by_hour[hour]]
    index = {id(event): i for i, event in enumerate(events)}
    by_rank = sorted(range(len(events)), key=lambda i: (events[i].ingested_at, i))
    rank = [0] * len(events)
    for position, i in enumerate(by_rank):
        rank[i] = position
    chains: list[Iterable[StoredEvent]] = [store.live.values()]
    chains.extend(store.backfill_events.values())
    chains.extend(backfill.events.values() for backfill in backfills)
    chains.extend(store.by_hour.values())
    edges: list[tuple[int, int]] = []
    consistent = True
    for chain in chains:
        previous = -1
        for event in chain:
            found = index.get(id(event))
            if found is None:
                raise RuntimeError(f"event {event.id!r} is indexed but not in the hour index")
            i = found
            if previous >= 0:
                edges.append((previous, i))
                consistent = consistent and rank[previous] < rank[i]
            previous = i
    if consistent:
        return [events[i] for i in by_rank]
    following: list[list[int]] = [[] for _ in events]
    waiting = [0] * len(events)
    for before, after in edges:
        following[before].append(after)
        waiting[after] += 1
    ready = [rank[i] for i in range(len(events)) if waiting[i] == 0]
    heapq.heapify(ready)
    ordered: list[StoredEvent] = []
    while ready:
        i = by_rank[heapq.heappop(ready)]
        ordered.append(events[i])
        for after in following[i]:
            waiting[after] -= 1
            if waiting[after] == 0:
                heapq.heappush(ready, rank[after])
    if len(ordered) != len(events):  # pragma: no cover - the indexes come from one real order
        raise RuntimeError("the event store's indexes disagree on the ingestion order")
    return ordered


def _encode_event(event: StoredEvent, iso: Callable[[datetime], str]) -> dict[str, Any]:
    return {
        "id": event.id,
        "timestamp": iso(event.timestamp),
        "customer_id": event.customer_id,
        "external_customer_id": event.external_customer_id,
        "backfill_id": None if event.backfill is None else event.backfill.id,
        "versions": [
            {
                "kind": kind,
                "event_name": name,
                "properties": properties,
                "recorded_at": iso(recorded_at),
            }
            for kind, name, properties, recorded_at in event.versions()
        ],
    }


def _iso_cache() -> Callable[[datetime], str]:
    """``isoformat`` remembering its answers (events of one request share their times)."""
    cache: dict[tuple[datetime, int], str] = {}

    def iso(value: datetime) -> str:
        key = (value, id(value.tzinfo))  # equal instants in other zones print differently
        text = cache.get(key)
        if text is None:
            text = cache[key] = value.isoformat()
        return text

    return iso


def _encode_backfill(record: BackfillRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "customer_id": record.customer_id,
        "timeframe_start": _iso(record.timeframe_start),
        "timeframe_end": _iso(record.timeframe_end),
        "replace_existing_events": record.replace_existing_events,
        "deprecation_filter": record.deprecation_filter,
        "created_at": _iso(record.created_at),
        "close_time": _opt_iso(record.close_time),
        "seq": record.seq,
        "status": record.status,
        "closed_at": _opt_iso(record.closed_at),
        "reflected_at": _opt_iso(record.reflected_at),
        "reflect_seq": record.reflect_seq,
        "revert_requested_at": _opt_iso(record.revert_requested_at),
        "reverted_at": _opt_iso(record.reverted_at),
        "events_ingested": record.events_ingested,
    }


def _encode_subscription(record: SubscriptionRecord) -> dict[str, Any]:
    schedule = record.schedule
    return {
        "id": record.id,
        "customer_id": record.customer_id,
        "plan_id": record.plan_id,
        "name": record.name,
        "created_at": _iso(record.created_at),
        "seq": record.seq,
        "metadata": record.metadata,
        "extra": record.extra,
        "schedule": {
            "start": _iso(schedule.start),
            "end": _opt_iso(schedule.end),
            "timezone": schedule.timezone,
            "cadence": schedule.cadence,
            "cycle_day": schedule.cycle_day,
            "anchor_month": schedule.anchor_month,
        },
    }


def _encode_quota(quota: RollingQuota) -> dict[str, Any]:
    return {
        "limit": quota.limit,
        "window": _duration(quota.window),
        "uses": {customer: [_iso(t) for t in uses] for customer, uses in quota._uses.items()},
    }


def _encode_extension(name: str, value: Any) -> Any:
    dump_state = getattr(value, "dump_state", None)
    data = dump_state() if callable(dump_state) else value
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"OrbSim._PERSISTED attribute {name!r} cannot be written to a state file: give it "
            f"dump_state()/load_state(data) methods or keep it plain JSON data ({exc})"
        ) from None
    return data


def encode(snapshot: Snapshot, *, manual_clock: bool) -> dict[str, Any]:
    """The JSON document (plain data) of a snapshot's state."""
    engine = snapshot._engine
    settings = snapshot.settings.model_dump(mode="json")
    if settings.get("api_keys") is not None:
        settings["api_keys"] = sorted(settings["api_keys"])
    version, internal, gauss_next = cast(
        "tuple[int, tuple[int, ...], float | None]", engine.ids._rng.getstate()
    )
    events = ingestion_order(engine.store, engine.backfills.values())
    iso = _iso_cache()
    return {
        "format": FORMAT,
        "version": VERSION,
        "settings": settings,
        "clock": {"now": _iso(snapshot.taken_at), "manual": manual_clock},
        "ids": {
            "seed": engine.seed,
            "rng_state": [version, list(internal), gauss_next],
            "issued": sorted(engine.ids._issued),
            "next_seq": engine.next_seq,
        },
        "customers": [
            {"seq": r.seq, "deleted": r.deleted, "customer": r.model.model_dump(mode="json")}
            for r in engine.customers.values()
        ],
        "plans": [
            {"seq": r.seq, "plan": r.model.model_dump(mode="json")} for r in engine.plans.values()
        ],
        "subscriptions": [_encode_subscription(r) for r in engine.subscriptions.values()],
        "events": [_encode_event(e, iso) for e in events],
        "backfills": [_encode_backfill(r) for r in engine.backfills.values()],
        "ledger": {
            "reflections": engine.reflections,
            "active": [b.id for b in engine.active],
            "effective": [b.id for b in engine.effective],
        },
        "quotas": {
            "amendment": _encode_quota(engine.amend_quota),
            "deprecation": _encode_quota(engine.deprecate_quota),
        },
        "extensions": {
            name: _encode_extension(name, value)
            for name, value in snapshot._extensions.items()
            if value is not _ABSENT
        },
    }


# -- JSON decoding --------------------------------------------------------------------------------


class _Reader:
    """Typed access to a decoded document; every problem is a ValueError naming where it is."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.where = where

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise ValueError(f"{self.where}: missing key {key!r}")
        return self.data[key]

    def _typed(self, key: str, kinds: tuple[type, ...], what: str, nullable: bool = False) -> Any:
        value = self._get(key)
        if value is None and nullable:
            return None
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ValueError(f"{self.where}.{key}: expected {what}, got {value!r}")
        return value

    def text(self, key: str) -> str:
        return cast(str, self._typed(key, (str,), "a string"))

    def opt_text(self, key: str) -> str | None:
        return cast("str | None", self._typed(key, (str,), "a string or null", nullable=True))

    def integer(self, key: str) -> int:
        return cast(int, self._typed(key, (int,), "an integer"))

    def flag(self, key: str) -> bool:
        return cast(bool, self._typed(key, (bool,), "a boolean"))

    def mapping(self, key: str) -> dict[str, Any]:
        return cast("dict[str, Any]", self._typed(key, (dict,), "an object"))

    def items(self, key: str) -> list[Any]:
        return cast("list[Any]", self._typed(key, (list,), "a list"))

    def time(self, key: str) -> datetime:
        return _parse_time(self.text(key), f"{self.where}.{key}")

    def opt_time(self, key: str) -> datetime | None:
        text = self.opt_text(key)
        return None if text is None else _parse_time(text, f"{self.where}.{key}")

    def reader(self, key: str) -> _Reader:
        return _Reader(self._get(key), f"{self.where}.{key}")

    def readers(self, key: str) -> list[_Reader]:
        return [_Reader(item, f"{self.where}.{key}[{i}]") for i, item in enumerate(self.items(key))]


def _parse_time(text: str, where: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not an ISO 8601 time") from None
    if value.utcoffset() is None:
        raise ValueError(f"{where}: {text!r} has no UTC offset")
    return value


def _model_data(data: dict[str, Any], *paths: tuple[str, ...]) -> dict[str, Any]:
    """``data`` with the datetimes at ``paths`` parsed, so models keep ``datetime.UTC`` times."""
    out = dict(data)
    for path in paths:
        holder = out
        for key in path[:-1]:
            inner = holder.get(key)
            if not isinstance(inner, dict):
                break
            holder[key] = holder = dict(inner)
        else:
            value = holder.get(path[-1])
            if isinstance(value, str):
                holder[path[-1]] = _parse_time(value, ".".join(path))
    return out


class _Times:
    """Parses ISO times, one ``datetime`` per distinct text (the engine shares ``now`` too)."""

    def __init__(self) -> None:
        self._cache: dict[str, datetime] = {}

    def __call__(self, text: object, where: str) -> datetime:
        value = self._cache.get(text) if type(text) is str else None
        if value is None:
            if type(text) is not str:
                raise ValueError(f"{where}: expected an ISO 8601 time, got {text!r}")
            value = self._cache[text] = _parse_time(text, where)
        return value


def _field(raw: dict[str, Any], key: str, kind: type) -> Any:
    try:
        value = raw[key]
    except KeyError:
        raise ValueError(f"missing key {key!r}") from None
    if type(value) is not kind:
        raise ValueError(f"{key}: expected {kind.__name__}, got {value!r}")
    return value


def _optional_text(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key, _ABSENT)
    if value is None or type(value) is str:
        return value
    if value is _ABSENT:
        raise ValueError(f"missing key {key!r}")
    raise ValueError(f"{key}: expected a string or null, got {value!r}")


def _decode_event(raw: Any, backfills: Mapping[str, BackfillRecord], times: _Times) -> StoredEvent:
    """One entry of ``events`` (hand-written checks: this runs once per stored event)."""
    if type(raw) is not dict:
        raise ValueError(f"expected an object, got {type(raw).__name__}")
    versions: list[Version] = []
    for item in _field(raw, "versions", list):
        if type(item) is not dict:
            raise ValueError(f"versions: expected objects, got {item!r}")
        kind = item.get("kind")
        if kind not in _VERSION_KINDS or (kind == "ingested") == bool(versions):
            raise ValueError(
                f"versions: the first version is 'ingested', later ones 'amended' or "
                f"'deprecated'; got {kind!r} as version {len(versions) + 1}"
            )
        versions.append(
            (
                kind,
                _field(item, "event_name", str),
                _field(item, "properties", dict),
                times(item.get("recorded_at"), "versions.recorded_at"),
            )
        )
    if not versions:
        raise ValueError("versions: the first version must be 'ingested'")
    backfill_id = _optional_text(raw, "backfill_id")
    backfill = None
    if backfill_id is not None:
        backfill = backfills.get(backfill_id)
        if backfill is None:
            raise ValueError(f"backfill_id: unknown backfill {backfill_id!r}")
    customer_id = _optional_text(raw, "customer_id")
    alias = _optional_text(raw, "external_customer_id")
    if (customer_id is None) == (alias is None):
        raise ValueError("exactly one of customer_id and external_customer_id must be set")
    timestamp = times(raw.get("timestamp"), "timestamp")
    _, name, properties, _ = versions[-1]
    event = StoredEvent(
        _field(raw, "id", str),
        name,
        properties,
        timestamp,
        hour_of(timestamp),
        customer_id,
        alias,
        versions[0][3],
        backfill,
    )
    if len(versions) > 1:
        event.history = versions
        event.deprecated = any(kind == "deprecated" for kind, *_ in versions)
    return event


def _decode_backfill(reader: _Reader) -> BackfillRecord:
    text = reader.opt_text("deprecation_filter")
    status = reader.text("status")
    if status not in STATUSES:
        raise ValueError(f"{reader.where}.status: unknown backfill status {status!r}")
    return BackfillRecord(
        id=reader.text("id"),
        customer_id=reader.opt_text("customer_id"),
        timeframe_start=reader.time("timeframe_start"),
        timeframe_end=reader.time("timeframe_end"),
        replace_existing_events=reader.flag("replace_existing_events"),
        deprecation_filter=text,
        matcher=None if text is None else compile_filter(text),
        created_at=reader.time("created_at"),
        close_time=reader.opt_time("close_time"),
        seq=reader.integer("seq"),
        status=status,
        closed_at=reader.opt_time("closed_at"),
        reflected_at=reader.opt_time("reflected_at"),
        reflect_seq=reader.integer("reflect_seq"),
        revert_requested_at=reader.opt_time("revert_requested_at"),
        reverted_at=reader.opt_time("reverted_at"),
        events_ingested=reader.integer("events_ingested"),
    )


def _decode_subscription(reader: _Reader) -> SubscriptionRecord:
    plan = reader.reader("schedule")
    schedule = BillingSchedule(
        start=plan.time("start"),
        end=plan.opt_time("end"),
        timezone=plan.text("timezone"),
        cadence=cast(Any, plan.text("cadence")),
        cycle_day=plan.integer("cycle_day"),
        anchor_month=plan.integer("anchor_month"),
    )
    return SubscriptionRecord(
        id=reader.text("id"),
        customer_id=reader.text("customer_id"),
        plan_id=reader.text("plan_id"),
        name=reader.text("name"),
        created_at=reader.time("created_at"),
        schedule=schedule,
        metadata=reader.mapping("metadata"),
        seq=reader.integer("seq"),
        extra=reader.mapping("extra"),
    )


def _decode_quota(reader: _Reader, name: str) -> RollingQuota:
    window = _DURATION.validate_python(reader._get("window"))
    quota = RollingQuota(name, reader.integer("limit"), window)
    uses = reader.reader("uses")
    quota._uses = {
        customer: deque(_parse_time(t, f"{uses.where}.{customer}") for t in uses.items(customer))
        for customer in uses.data
    }
    return quota


def _by_id(records: Iterable[Any], key: Callable[[Any], str], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for record in records:
        ident = key(record)
        if ident in out:
            raise ValueError(f"{what}: duplicate id {ident!r}")
        out[ident] = record
    return out


def _decode_engine(doc: _Reader) -> _Engine:
    ids_reader = doc.reader("ids")
    rng_state = ids_reader.items("rng_state")
    ids = IdGenerator(None)
    try:
        version, internal, gauss_next = rng_state
        ids._rng.setstate((version, tuple(internal), gauss_next))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{ids_reader.where}.rng_state: not a random.Random state ({exc})"
        ) from None
    ids._issued = set(ids_reader.items("issued"))
    seed = ids_reader._get("seed")
    if seed is not None and not isinstance(seed, int | str):
        raise ValueError(f"{ids_reader.where}.seed: expected an integer, string or null")

    customers: dict[str, CustomerRecord] = _by_id(
        (
            CustomerRecord(
                Customer.model_validate(_model_data(r.mapping("customer"), ("created_at",))),
                seq=r.integer("seq"),
                deleted=r.flag("deleted"),
            )
            for r in doc.readers("customers")
        ),
        lambda r: r.id,
        "customers",
    )
    by_alias: dict[str, CustomerRecord] = {}
    for record in customers.values():
        if not record.deleted and record.alias is not None:
            if record.alias in by_alias:
                raise ValueError(f"customers: two live customers have alias {record.alias!r}")
            by_alias[record.alias] = record

    plans: dict[str, PlanRecord] = _by_id(
        (
            PlanRecord(
                Plan.model_validate(
                    _model_data(r.mapping("plan"), ("created_at",), ("product", "created_at"))
                ),
                r.integer("seq"),
            )
            for r in doc.readers("plans")
        ),
        lambda r: r.model.id,
        "plans",
    )
    by_external = {r.model.external_plan_id: r for r in plans.values() if r.model.external_plan_id}

    subscriptions: dict[str, SubscriptionRecord] = _by_id(
        (_decode_subscription(r) for r in doc.readers("subscriptions")),
        lambda r: r.id,
        "subscriptions",
    )
    by_customer: dict[str, list[SubscriptionRecord]] = {}
    for sub in subscriptions.values():
        if sub.customer_id not in customers or sub.plan_id not in plans:
            raise ValueError(f"subscriptions: {sub.id} refers to an unknown customer or plan")
        by_customer.setdefault(sub.customer_id, []).append(sub)

    backfills: dict[str, BackfillRecord] = _by_id(
        (_decode_backfill(r) for r in doc.readers("backfills")), lambda r: r.id, "backfills"
    )
    store = EventStore()
    times = _Times()
    for number, raw in enumerate(doc.items("events")):
        try:
            event = _decode_event(raw, backfills, times)
            owner = event.backfill
            if event.id in (store.live if owner is None else owner.events):
                raise ValueError(f"duplicate event id {event.id!r}")
        except ValueError as exc:
            raise ValueError(f"state.events[{number}]: {exc}") from None
        if owner is not None:
            owner.events[event.id] = event
        store.add(event)

    ledger = doc.reader("ledger")

    def listed(key: str) -> list[BackfillRecord]:
        try:
            return [backfills[i] for i in ledger.items(key)]
        except (KeyError, TypeError):
            raise ValueError(f"{ledger.where}.{key}: unknown backfill id") from None

    quotas = doc.reader("quotas")
    return _Engine(
        seed=seed,
        ids=ids,
        next_seq=ids_reader.integer("next_seq"),
        store=store,
        customers=customers,
        customers_by_alias=by_alias,
        plans=plans,
        plans_by_external=by_external,
        subscriptions=subscriptions,
        subscriptions_by_customer=by_customer,
        amend_quota=_decode_quota(quotas.reader("amendment"), "amendment"),
        deprecate_quota=_decode_quota(quotas.reader("deprecation"), "deprecation"),
        backfills=backfills,
        active=listed("active"),
        effective=listed("effective"),
        reflections=ledger.integer("reflections"),
    )


def decode(data: Any) -> tuple[Snapshot, bool]:
    """A snapshot from a JSON document, and whether it was taken with a ManualClock."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"not an orbsim state file: format is {found!r}, expected {FORMAT!r}")
    version = data.get("version")
    if version != VERSION:
        raise ValueError(
            f"unsupported orbsim state file version {version!r}: this orbsim reads version "
            f"{VERSION}"
        )
    doc = _Reader(data, "state")
    try:
        settings = Settings.model_validate(doc.mapping("settings"))
        clock = doc.reader("clock")
        taken_at = clock.time("now")
        manual = clock.flag("manual")
        engine = _decode_engine(doc)
        extensions = doc.mapping("extensions")
    except ValidationError as exc:
        raise ValueError(f"invalid orbsim state file: {exc}") from None
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"invalid orbsim state file: {exc!r}") from None
    return Snapshot(taken_at, settings, engine, extensions), manual


# -- files ----------------------------------------------------------------------------------------


def dump(sim: OrbSim, path: StatePath, *, indent: int | None = None) -> None:
    """Implementation of ``OrbSim.dump``: serialise under the lock, write atomically after.

    The document refers to live objects (event properties, extension data), so it is turned into
    text before the lock is released.
    """
    with sim._operation() as now:
        extensions = {name: getattr(sim, name, _ABSENT) for name in _persisted_names(sim)}
        view = Snapshot(now, sim.settings, _capture(sim), extensions)
        document = encode(view, manual_clock=isinstance(sim.clock, ManualClock))
        text = json.dumps(document, indent=indent, ensure_ascii=False, allow_nan=False)
    _write_atomically(Path(path), text.encode())


def _write_atomically(path: Path, data: bytes) -> None:
    directory = path.parent
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable too (POSIX)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def load(cls: type[S], path: StatePath, clock: Clock | None = None) -> S:
    """Implementation of ``OrbSim.load``: ``cls(settings=, clock=, seed=)``, then the state."""
    try:
        data = json.loads(Path(path).read_bytes())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{os.fspath(path)} is not an orbsim state file: {exc}") from None
    snapshot, manual = decode(data)
    if clock is None:
        clock = ManualClock(snapshot.taken_at) if manual else SystemClock()
    sim = cls(settings=snapshot.settings, clock=clock, seed=snapshot._engine.seed)
    unknown = sorted(set(snapshot._extensions) - set(_persisted_names(sim)))
    if unknown:
        raise ValueError(
            f"state file has extension(s) {', '.join(unknown)} that {cls.__name__} does not "
            f"persist (not in {cls.__name__}._PERSISTED)"
        )
    with sim._lock:
        restore_snapshot(
            sim, Snapshot(snapshot.taken_at, snapshot.settings, snapshot._engine, {}), fresh=True
        )
        for name, data in snapshot._extensions.items():
            current = getattr(sim, name, None)
            load_state = getattr(current, "load_state", None)
            if callable(load_state):
                load_state(data)
            else:
                setattr(sim, name, data)
    return sim
