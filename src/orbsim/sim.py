"""``OrbSim``: the simulated Orb account, the facade above the engine and the wire layer.

It composes the engine (``orbsim.engine.core.Engine``: the account state, the resource services,
the clock and the lock) with one ``WireState`` (faults, request log, rate limiter,
``Idempotency-Key`` store), and is the only place that knows both: ``client()``, ``serve()``,
``faults``, ``requests``, snapshots and state files are here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orbsim import statefile
from orbsim.clock import Clock, ManualClock, SystemClock
from orbsim.engine.core import Engine, Transaction
from orbsim.engine.state import AccountState
from orbsim.errors import OrbError
from orbsim.models import BillableEvent, EventVersion
from orbsim.settings import Settings, coerce_settings
from orbsim.wire.idempotency import IdempotencyStore
from orbsim.wire.state import WireState

if TYPE_CHECKING:
    import threading

    import orb

    from orbsim.wire.delivery import WebhookDispatcher
    from orbsim.wire.faults import Faults
    from orbsim.wire.recorder import RequestLog
    from orbsim.wire.server import OrbSimServer
    from orbsim.wire.transport import AsyncOrbSimTransport, OrbSimTransport

StatePath = str | os.PathLike[str]
_IDEMPOTENCY = "idempotency"
"""The state file extension holding the ``Idempotency-Key`` store."""


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Snapshot:
    """The complete state of an ``OrbSim`` at ``taken_at``; opaque and never modified.

    It holds a private copy (later changes to the simulator do not reach it) and ``restore``
    installs a fresh copy of it, so one snapshot can be restored any number of times.
    """

    taken_at: datetime
    """The simulator's time when the snapshot was taken."""
    state: AccountState
    """The account (private: ``restore`` copies it again, never installs it)."""
    idempotency: IdempotencyStore

    @property
    def settings(self) -> Settings:
        """The settings in force then (restored with the state)."""
        return self.state.settings

    def __repr__(self) -> str:
        state = self.state
        return (
            f"Snapshot(taken_at={self.taken_at.isoformat()!r}, "
            f"customers={len(state.customers)}, events={state.events.count}, "
            f"backfills={len(state.backfills)})"
        )


class OrbSim:
    """An in-memory Orb account: ``customers``, ``plans``, ``subscriptions``, ``events``."""

    def __init__(
        self,
        settings: Settings | Mapping[str, Any] | None = None,
        clock: Clock | None = None,
        seed: int | str | None = 0,
    ) -> None:
        settings = coerce_settings(settings)
        self.engine = Engine(settings, clock if clock is not None else SystemClock(), seed)
        """The domain: ``engine.state`` is the account state, ``engine.transaction()`` the
        context every operation runs in."""
        self.wire = WireState.fresh(seed, settings.fault_retry_after_ms)
        """What the HTTP layer keeps (faults, request log, rate limits, Idempotency-Key store)."""
        self.customers = self.engine.customers
        self.plans = self.engine.plans
        self.subscriptions = self.engine.subscriptions
        self.events = self.engine.events
        self.items = self.engine.items
        self.metrics = self.engine.metrics
        self.prices = self.engine.prices
        self.webhook_endpoints = self.engine.webhook_endpoints
        self.invoices = self.engine.invoices
        """``client.invoices``: fetch_upcoming, list, fetch, issue, void, mark_paid."""
        """``client.webhook_endpoints`` on the engine (create returns the signing secret)."""
        self.wire.webhooks.bind(
            allowed_hosts=lambda: self.settings.webhook_allowed_hosts,
            now=self.now,
            endpoints=self.engine.webhook_endpoints,
        )
        self.engine.webhook_sink = self.wire.webhooks.accept

    def __repr__(self) -> str:
        return (
            f"OrbSim(customers={len(self.customers.live_records())}, "
            f"events={self.engine.state.events.count}, clock={self.clock!r})"
        )

    # -- configuration --------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The settings in force (part of the state: ``restore`` and ``load`` bring theirs)."""
        return self.engine.state.settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self.engine.state.settings = settings

    @property
    def clock(self) -> Clock:
        return self.engine.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self.engine.clock = clock

    @property
    def seed(self) -> int | str | None:
        """The seed of the id generator (reproducible ids)."""
        return self.engine.state.seed

    @property
    def lock(self) -> threading.RLock:
        """The simulator's reentrant lock, held by every operation; hold it to make several
        calls (or a call and something else, such as a journal append) one atomic step."""
        return self.engine.lock

    def on_error(self, listener: Callable[[OrbError], None]) -> Callable[[], None]:
        """Call ``listener`` with every ``OrbError`` this simulator answers with: raised by an
        engine method, or answered over HTTP. Returns a function that removes the listener."""
        listeners = self.engine.error_listeners
        listeners.append(listener)

        def remove() -> None:
            if listener in listeners:
                listeners.remove(listener)

        return remove

    def report_error(self, error: OrbError) -> None:
        """Tell the ``on_error`` listeners about ``error`` (the wire layer's answers)."""
        self.engine.report(error)

    def transaction(self) -> Transaction:
        """``with sim.transaction() as now``: lock, read the clock once, settle due work."""
        return self.engine.transaction()

    # -- time and views -------------------------------------------------------------------------

    def now(self) -> datetime:
        """The simulator's current time (timezone-aware UTC)."""
        return self.engine.now()

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
        return self.engine.ledger.billable_events(
            customer_id=customer_id,
            external_customer_id=external_customer_id,
            timeframe_start=timeframe_start,
            timeframe_end=timeframe_end,
            event_name=event_name,
        )

    def event_versions(self, event_id: str) -> list[EventVersion]:
        """The audit trail of an event: every version ever accepted, oldest first."""
        return self.events.versions(event_id)

    # -- state ------------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """An immutable deep copy of the whole state, for ``restore``.

        It holds the account state (customers, plans, subscriptions with their billing schedules,
        every stored event with its versions, backfills, quota uses, the id generator and
        sequence counter, the settings: everything in ``orbsim.engine.state.AccountState``) and
        the HTTP layer's ``Idempotency-Key`` store. The clock is not part of it.
        """
        with self.engine.transaction() as now:
            return Snapshot(now, self.engine.state.copy(), self.wire.idempotency.copy())

    def restore(self, snapshot: Snapshot) -> None:
        """Put the state of ``snapshot`` back, in place; the snapshot stays reusable.

        The settings come back too (they are part of the state); the clock is left alone, so
        backfill transitions that came due since the snapshot settle, at their due times, on the
        next call.
        """
        if not isinstance(snapshot, Snapshot):
            raise TypeError(f"restore() needs a Snapshot, got {type(snapshot).__name__}")
        with self.engine.lock:
            self.engine.swap(snapshot.state.copy())
            self.wire.idempotency = snapshot.idempotency.copy()

    def reset(self) -> None:
        """Back to an empty account with the same settings, seed and clock, as a freshly
        started simulator: faults, the request log, rate limits and Idempotency-Keys go too."""
        with self.engine.lock:
            self.engine.reset()
            self.wire.idempotency = IdempotencyStore()
            self.wire.clear_traffic()

    def state_document(self) -> dict[str, Any]:
        """The state as the JSON document ``dump`` writes (plain data), taken as a snapshot so
        the encoding runs off the lock."""
        document: dict[str, Any] = json.loads(b"".join(self.state_snapshot().chunks()))
        return document

    def dump(self, path: StatePath, *, indent: int | None = None) -> None:
        """Write the state (as ``snapshot``) and the clock's time to a JSON file, atomically.

        The format is versioned (``orbsim.statefile`` documents it).
        """
        if indent is not None:
            with self.engine.transaction() as now:
                # The document refers to live objects: it becomes text before the lock is left.
                text = statefile.dumps(
                    self.engine.state,
                    taken_at=now,
                    manual_clock=isinstance(self.clock, ManualClock),
                    extensions={_IDEMPOTENCY: self.wire.idempotency.dump_state()},
                    indent=indent,
                )
            statefile.write_atomically(Path(path), text.encode())
            return
        statefile.write_chunks_atomically(Path(path), self.state_snapshot().chunks())

    def state_snapshot(self, *, hide_api_keys: bool = False) -> statefile.Snapshot:
        """The state now, as a ``statefile.Snapshot`` whose ``chunks()`` are the bytes ``dump``
        writes; taking it costs O(state without the events) under the lock, the events are
        encoded as the chunks are read (on any thread, the simulator going on meanwhile).
        ``hide_api_keys``: ``settings.api_keys`` reads null (``GET /_orbsim/state``)."""
        with self.engine.transaction() as now:
            return statefile.snapshot(
                self.engine.state,
                taken_at=now,
                manual_clock=isinstance(self.clock, ManualClock),
                extensions={_IDEMPOTENCY: self.wire.idempotency.dump_state()},
                hide_api_keys=hide_api_keys,
            )

    @classmethod
    def load(cls, path: StatePath, clock: Clock | None = None) -> OrbSim:
        """A new simulator with the state of a file written by ``dump``.

        Without ``clock``, a state dumped from a ManualClock gets a ManualClock at the dumped
        time, any other a SystemClock. Unknown formats or versions raise ValueError; files
        of older versions are migrated.
        """
        document = statefile.read(path)
        unknown = sorted(set(document.extensions) - {_IDEMPOTENCY})
        if unknown:
            raise ValueError(
                f"state file has extension(s) {', '.join(unknown)} that orbsim does not know"
            )
        if clock is None:
            clock = ManualClock(document.taken_at) if document.manual_clock else SystemClock()
        state = document.state
        sim = cls(settings=state.settings, clock=clock, seed=state.seed)
        sim.engine.swap(state)
        sim.wire.idempotency = IdempotencyStore.from_state(
            document.extensions.get(_IDEMPOTENCY, [])
        )
        return sim

    # -- the wire ---------------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """Failures to inject into HTTP requests: ``sim.faults.add(503, path="/ingest")``.

        Status faults, connection errors, timeouts and lost responses, for the next N matching
        requests or with a seeded probability (see ``orbsim.wire.faults``). The engine's own
        methods are never affected.
        """
        faults = self.wire.faults
        faults.configure(self.seed, self.settings.fault_retry_after_ms)
        return faults

    @property
    def requests(self) -> RequestLog:
        """The HTTP requests this simulator answered, with their answers, for assertions
        (``sim.requests.assert_called("POST", "/ingest", times=1)``; see
        ``orbsim.wire.recorder``)."""
        return self.wire.requests

    @property
    def webhooks(self) -> WebhookDispatcher:
        """Webhook delivery: ``deliveries`` (the log, with assertion helpers), ``mount(url,
        receiver)`` for in-process receivers, ``configure(...)`` for retries and signing,
        ``flush()`` to wait for HTTP deliveries, ``redeliver``, ``send_test`` (see
        ``orbsim.wire.delivery``)."""
        return self.wire.webhooks

    def serve(self, host: str = "127.0.0.1", port: int = 0, **kw: Any) -> OrbSimServer:
        """Start a real HTTP server for this simulator; use as ``with sim.serve() as server``.

        ``port=0`` picks a free port; ``server.base_url`` is what to give the SDK. Keyword
        arguments go to ``orbsim.wire.server.OrbSimServer`` (e.g. ``log_requests=True``).
        """
        from orbsim.wire.server import OrbSimServer

        return OrbSimServer(self, host, port, **kw).start()

    def transport(self) -> OrbSimTransport:
        """An ``httpx`` transport answering from this simulator, for ``httpx.Client``."""
        from orbsim.wire.transport import OrbSimTransport

        return OrbSimTransport(self)

    def async_transport(self) -> AsyncOrbSimTransport:
        """An ``httpx`` async transport answering from this simulator, for ``httpx.AsyncClient``."""
        from orbsim.wire.transport import AsyncOrbSimTransport

        return AsyncOrbSimTransport(self)

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
