"""``OrbSim``: the simulated Orb account. Owns the state, the clock and the lock.

Every public operation takes the lock, reads the clock once, settles due backfill transitions and
then acts, so behaviour is the same under freezegun, time-machine or a ManualClock.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    import orb

    from orbsim.engine.persistence import Snapshot, StatePath
    from orbsim.wire.faults import Faults
    from orbsim.wire.idempotency import IdempotencyStore
    from orbsim.wire.recorder import RequestLog
    from orbsim.wire.server import OrbSimServer
    from orbsim.wire.transport import AsyncOrbSimTransport, OrbSimTransport


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
        self._op = _Operation(self)
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

    def _operation(self) -> _Operation:
        """Lock, read the clock once, settle what became due, and hand the time to the caller.

        Used as ``with sim._operation() as now:``; one reusable object (the lock is reentrant),
        because this runs on every call, the ingest hot path included.
        """
        return self._op

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
            return [
                _billable(
                    {
                        "id": e.id,
                        "customer_id": (
                            e.customer_id
                            if e.customer_id is not None
                            else owner
                            if scoped
                            else ledger.owner(e)
                        ),
                        "external_customer_id": e.external_customer_id,
                        "event_name": e.event_name,
                        "properties": dict(e.properties),
                        "timestamp": e.timestamp,
                        "backfill_id": e.backfill.id if e.backfill is not None else None,
                    }
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

    # -- persistence ------------------------------------------------------------------------------

    _PERSISTED: tuple[str, ...] = ("_wire_idempotency",)
    """Names of extra attributes (e.g. wire-level state) that ``snapshot``/``dump`` carry."""

    @property
    def _wire_idempotency(self) -> IdempotencyStore:
        """The HTTP layer's ``Idempotency-Key`` store: part of the state, so a retried POST
        replays after ``load`` and never replays what ``restore`` took away. Created on first
        use (importing the wire layer only then)."""
        store: IdempotencyStore | None = self.__dict__.get("_wire_idempotency_store")
        if store is None:
            from orbsim.wire.idempotency import IdempotencyStore

            store = self.__dict__.setdefault("_wire_idempotency_store", IdempotencyStore())
        return store

    @_wire_idempotency.setter
    def _wire_idempotency(self, store: IdempotencyStore) -> None:
        self.__dict__["_wire_idempotency_store"] = store

    @_wire_idempotency.deleter
    def _wire_idempotency(self) -> None:
        self.__dict__.pop("_wire_idempotency_store", None)

    def snapshot(self) -> Snapshot:
        """An immutable deep copy of the whole state, for ``restore``.

        It holds customers, plans, subscriptions (with their billing schedules), every stored
        event with its versions and indexes, backfills (status, lifecycle times, reflection order,
        events, filters), quota uses, the id generator and sequence counter (ids generated after
        a restore are the ones that would have come next), the settings, and a deep copy of every
        attribute named in the class-level tuple ``_PERSISTED`` (an extension point for state
        kept outside the engine, e.g. ``_PERSISTED = ("_wire_state",)``; such a value must
        support ``copy.deepcopy``). The clock is not part of it.
        """
        from orbsim.engine.persistence import take_snapshot

        return take_snapshot(self)

    def restore(self, snapshot: Snapshot) -> None:
        """Put the state of ``snapshot`` back, in place; the snapshot stays reusable.

        The settings come back too (they are part of the state); the clock is left alone, so
        backfill transitions that came due since the snapshot settle, at their due times, on the
        next call. ``_PERSISTED`` attributes are set to copies of their snapshot values (deleted
        if they did not exist then).
        """
        from orbsim.engine.persistence import restore_snapshot

        restore_snapshot(self, snapshot)

    def dump(self, path: StatePath, *, indent: int | None = None) -> None:
        """Write the state (as ``snapshot``) and the clock's time to a JSON file, atomically.

        The format is versioned (``orbsim.engine.persistence`` documents it). A ``_PERSISTED``
        attribute is written as its ``dump_state()`` if it has one, else as itself (plain JSON).
        """
        from orbsim.engine.persistence import dump

        dump(self, path, indent=indent)

    @classmethod
    def load(cls, path: StatePath, clock: Clock | None = None) -> OrbSim:
        """A new simulator with the state of a file written by ``dump``.

        Without ``clock``, a state dumped from a ManualClock gets a ManualClock at the dumped
        time, any other a SystemClock. Unknown formats or versions raise ValueError. A
        ``_PERSISTED`` attribute is given back through ``load_state(data)`` if the new
        simulator's attribute has that method, else set to the data.
        """
        from orbsim.engine.persistence import load

        return load(cls, path, clock)

    # -- serving ----------------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0, **kw: Any) -> OrbSimServer:
        """Start a real HTTP server for this simulator; use as ``with sim.serve() as server``.

        ``port=0`` picks a free port; ``server.base_url`` is what to give the SDK. Keyword
        arguments go to ``orbsim.wire.server.OrbSimServer`` (e.g. ``log_requests=True``).
        """
        from orbsim.wire.server import OrbSimServer

        return OrbSimServer(self, host, port, **kw).start()

    # -- in-process wire (orbsim.wire is imported here, lazily: the engine never depends on it) ----

    def transport(self) -> OrbSimTransport:
        """An ``httpx`` transport answering from this simulator, for ``httpx.Client``."""
        from orbsim.wire.transport import OrbSimTransport

        return OrbSimTransport(self)

    def async_transport(self) -> AsyncOrbSimTransport:
        """An ``httpx`` async transport answering from this simulator, for ``httpx.AsyncClient``."""
        from orbsim.wire.transport import AsyncOrbSimTransport

        return AsyncOrbSimTransport(self)

    @property
    def faults(self) -> Faults:
        """Failures to inject into HTTP requests: ``sim.faults.add(503, path="/ingest")``.

        Status faults, connection errors, timeouts and lost responses, for the next N matching
        requests or with a seeded probability (see ``orbsim.wire.faults``). The engine's own
        methods are never affected.
        """
        from orbsim.wire.faults import faults_of

        return faults_of(self)

    @property
    def requests(self) -> RequestLog:
        """The HTTP requests this simulator answered, with their answers, for assertions
        (``sim.requests.assert_called("POST", "/ingest", times=1)``; see
        ``orbsim.wire.recorder``)."""
        from orbsim.wire.recorder import log_of

        return log_of(self)

    def client(self, **kw: Any) -> orb.Orb:
        """The official ``orb.Orb`` client wired to this simulator in-process.

        Defaults: ``api_key="test-key"``, ``base_url="http://orbsim.test/v1"`` and an
        ``httpx.Client`` on ``self.transport()``; every ``Orb(...)`` argument can be overridden.
        Needs the SDK: ``pip install 'orbsim[sdk]'``.
        """
        from orbsim.wire.sdk import build_client

        return build_client(self, **kw)

    def async_client(self, **kw: Any) -> orb.AsyncOrb:
        """The official ``orb.AsyncOrb`` client wired to this simulator in-process."""
        from orbsim.wire.sdk import build_async_client

        return build_async_client(self, **kw)


_BILLABLE_FIELDS = frozenset(BillableEvent.model_fields)
_new_billable = BillableEvent.__new__
_set = object.__setattr__


def _billable(fields: dict[str, object]) -> BillableEvent:
    """Build a BillableEvent from trusted fields without validation.

    ``model_construct`` costs ~2.4 µs per event; a customer-month can hold tens of thousands.
    """
    event = _new_billable(BillableEvent)
    _set(event, "__dict__", fields)
    _set(event, "__pydantic_fields_set__", _BILLABLE_FIELDS)
    _set(event, "__pydantic_extra__", None)
    _set(event, "__pydantic_private__", None)
    return event


class _Operation:
    """The context every public operation runs in (see ``OrbSim._operation``)."""

    __slots__ = ("_sim",)

    def __init__(self, sim: OrbSim) -> None:
        self._sim = sim

    def __enter__(self) -> datetime:
        sim = self._sim
        sim._lock.acquire()
        try:
            now = sim.clock.now()
            if now.tzinfo is None:
                now = now.replace(tzinfo=UTC)
            sim.events.backfills.settle(now)
        except BaseException:
            sim._lock.release()
            raise
        return now

    def __exit__(self, *exc_info: object) -> None:
        self._sim._lock.release()
