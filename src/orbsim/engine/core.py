"""``Engine``: one account's state, its clock, its lock and the resource services over them.

Every public operation of a service runs in ``engine.transaction()``: it takes the (reentrant)
lock, reads the clock once, settles the backfill transitions that came due since the last call
(each at the moment it was due) and hands that one reading of the time to the caller, so
behaviour is the same under freezegun, time-machine or a ManualClock::

    with engine.transaction() as now:
        record = engine.state.customers[...]

The services keep no state: they read ``engine.state`` inside the transaction, so ``swap`` (a
restore) and ``reset`` take effect for all of them at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from orbsim.clock import Clock
from orbsim.engine.billing import Plans, Subscriptions
from orbsim.engine.catalog import Items, Metrics, Prices
from orbsim.engine.customers import Customers
from orbsim.engine.events import Events
from orbsim.engine.invoices import Invoices
from orbsim.engine.ledger import Ledger
from orbsim.engine.state import AccountState
from orbsim.engine.usage import UsageReader
from orbsim.engine.webhooks import Resource, WebhookEndpoints, WebhookEvent
from orbsim.errors import OrbError
from orbsim.settings import Settings
from orbsim.times import to_utc

WebhookSink = Callable[[list[WebhookEvent], datetime], Callable[[], None] | None]
"""Takes the webhook events an operation settled or caused (under the lock, in order) and may
return a function to run once the lock is released (the delivery to receivers)."""


class Transaction:
    """The context of one operation (see the module docstring). One reusable object per
    engine, because it runs on every call, the ingest hot path included.

    When the outermost transaction ends, the webhook events it settled or caused go to the
    engine's ``webhook_sink`` in order, under the lock; what the sink returns runs after the
    lock is released (so a receiver may call the simulator).
    """

    __slots__ = ("_depth", "_engine", "_now")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._depth = 0
        self._now: datetime | None = None

    def __enter__(self) -> datetime:
        engine = self._engine
        lock = engine.lock
        lock.acquire()
        self._depth += 1
        try:
            now = engine.clock.now()
            if now.tzinfo is not UTC:
                now = to_utc(now)
            # Subscription starts and ends first: at one instant, a subscription ends and then
            # its last invoice issues (events of equal time keep the order they were emitted in).
            timers = engine.state.webhooks.timers
            if timers and timers[0][0] <= now:
                engine.subscriptions.settle_webhooks(now)
            if engine.state.invoice_timers and engine.state.invoice_timers[0].at <= now:
                engine.invoices.settle(now)  # applies the backfill transitions due before each step
            if engine.state.backfill_queue:
                engine.events.backfills.settle(now)
        except BaseException:
            self._release()
            raise
        self._now = now
        return now

    def __exit__(self, *exc_info: object) -> None:
        self._release()

    def _release(self) -> None:
        engine = self._engine
        self._depth -= 1
        webhooks = engine.state.webhooks
        if self._depth or not webhooks.pending:
            engine.lock.release()
            return
        after = None
        try:
            events = webhooks.drain()
            sink = engine.webhook_sink
            if sink is not None:
                after = sink(events, self._now or engine.clock.now())
        finally:
            engine.lock.release()
        if after is not None:
            after()


class Engine:
    """The domain of one simulated account; ``OrbSim`` is the facade over it."""

    def __init__(self, settings: Settings, clock: Clock, seed: int | str | None = 0) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        """Reentrant; held by every transaction. Hold it to make several calls one step."""
        self.state = AccountState.fresh(settings, seed)
        self.error_listeners: list[Callable[[OrbError], None]] = []
        """Called with every OrbError a public operation raises (``OrbSim.on_error``)."""
        self._last_reported: OrbError | None = None
        self._transaction = Transaction(self)
        self.ledger = Ledger(self)
        self.customers = Customers(self)
        self.plans = Plans(self)
        self.subscriptions = Subscriptions(self)
        self.events = Events(self)
        self.items = Items(self)
        self.metrics = Metrics(self)
        self.prices = Prices(self)
        self.usage = UsageReader(self)
        self.webhook_endpoints = WebhookEndpoints(self)
        self.invoices = Invoices(self)
        self.webhook_sink: WebhookSink | None = None
        """Where finished transactions hand their webhook events (the facade's delivery);
        None: they are dropped."""

    @property
    def settings(self) -> Settings:
        return self.state.settings

    def transaction(self) -> Transaction:
        """Lock, read the clock once, settle what became due; ``with ... as now``."""
        return self._transaction

    def now(self) -> datetime:
        with self._transaction as now:
            return now

    def emit_webhook(
        self,
        event_type: str,
        at: datetime,
        resource: Resource | None = None,
        properties: dict[str, Any] | None = None,
    ) -> None:
        """Record that ``event_type`` happened at ``at`` (inside a transaction; delivered when
        it ends). ``resource`` may be a function: it runs only if an endpoint wants it."""
        self.state.webhooks.emit(event_type, at=at, resource=resource, properties=properties)

    def report(self, error: OrbError) -> None:
        """Hand ``error`` to the listeners, once (nested operations report the same error)."""
        if not self.error_listeners or error is self._last_reported:
            return
        self._last_reported = error
        for listener in list(self.error_listeners):
            listener(error)

    def copy_state(self) -> tuple[datetime, AccountState]:
        """The time and a private copy of the state, taken in one transaction."""
        with self._transaction as now:
            return now, self.state.copy()

    def index_events(self, limit: int | None = None) -> bool:
        """Build (at most ``limit`` more of) the event store's hour indexes, under the lock;
        returns whether they are complete. A loaded state builds them on first use anyway
        (``EventStore.settle``): ``orbsim serve`` calls this in slices after a start, so the
        first read does not wait for a million events."""
        with self.lock:
            return self.state.events.settle(limit)

    def swap(self, state: AccountState) -> AccountState:
        """Install ``state`` (the caller gives up ownership of it); returns the one replaced."""
        with self.lock:
            old, self.state = self.state, state
            return old

    def reset(self) -> None:
        """An empty account with the same settings and seed."""
        with self.lock:
            self.state = AccountState.fresh(self.state.settings, self.state.seed)
