"""``WebhookDispatcher`` (``sim.webhooks``): queues each (event, endpoint) in order, delivers to
in-process receivers in the calling thread and to HTTP URLs from a background thread, retries
failed attempts and records them all in the delivery log. Nothing here raises into the
operation that caused the event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from orbsim.engine.webhooks import Target, WebhookEvent, check_webhook_url
from orbsim.errors import RequestValidationError
from orbsim.wire.delivery.delivery_log import Attempt, Delivery, DeliveryLog
from orbsim.wire.delivery.receivers import Mount, Receiver, WebhookRequest
from orbsim.wire.delivery.signing import SignatureClock, render, signed_headers, wall_clock

if TYPE_CHECKING:
    import httpx

    from orbsim.engine.webhooks import WebhookEndpoints

log = logging.getLogger("orbsim.webhooks")


class WebhookDispatcher:
    """Delivers a simulator's webhook events (``sim.webhooks``): receivers, HTTP, retries, log.

    ``allowed_hosts`` returns the hosts besides loopback that HTTP deliveries may reach (the
    simulator passes ``Settings.webhook_allowed_hosts``).
    """

    def __init__(
        self,
        allowed_hosts: Callable[[], frozenset[str]] = frozenset,
        *,
        now: Callable[[], datetime] | None = None,
        endpoints: WebhookEndpoints | None = None,
        max_attempts: int = 4,
        retry_delays: Sequence[float] = (0.05, 0.25, 1.0),
        timeout: float = 5.0,
        signature_clock: SignatureClock = "wall",
        verify: bool = True,
    ) -> None:
        self._log = DeliveryLog()
        self._allowed_hosts = allowed_hosts
        self._sim_now = now
        self._endpoints = endpoints
        self.max_attempts = max_attempts
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self.signature_clock: SignatureClock = signature_clock
        self.verify = verify
        self._mounts: dict[str, Mount] = {}
        self._lock = threading.Lock()
        self._queue: deque[Delivery] = deque()  # in-process deliveries to make, in order
        self._pumping = threading.Lock()
        self._pumper: int | None = None
        self._http: deque[Delivery] = deque()
        self._http_idle = threading.Condition(self._lock)
        self._http_outstanding = 0
        self._worker: threading.Thread | None = None
        self._muted = 0

    def bind(
        self,
        *,
        allowed_hosts: Callable[[], frozenset[str]],
        now: Callable[[], datetime],
        endpoints: WebhookEndpoints,
    ) -> None:
        """Attach to a simulator: its host allowance, its clock reading (which settles), its
        endpoints (for ``send_test``). The ``OrbSim`` facade calls this once."""
        self._allowed_hosts = allowed_hosts
        self._sim_now = now
        self._endpoints = endpoints

    def accept(self, events: list[WebhookEvent], now: datetime) -> Callable[[], None]:
        """The engine's webhook sink: queue ``events`` (under the simulator's lock) and return
        ``pump``, which the engine calls once the lock is released."""
        self.enqueue(events, now)
        return self.pump

    def clear(self) -> None:
        """Forget the recorded deliveries (``deliveries`` starts empty; ids keep counting)."""
        self._log.clear()

    @property
    def deliveries(self) -> DeliveryLog:
        """The delivery log; reading it first settles the simulator (what came due is sent)."""
        if self._sim_now is not None:
            self._sim_now()
        return self._log

    def _now(self) -> datetime:
        return self._sim_now() if self._sim_now is not None else wall_clock()

    def configure(
        self,
        *,
        max_attempts: int | None = None,
        retry_delays: Sequence[float] | None = None,
        timeout: float | None = None,
        signature_clock: SignatureClock | None = None,
        verify: bool | None = None,
    ) -> WebhookDispatcher:
        """Change the delivery policy; returns ``self``."""
        if max_attempts is not None:
            if isinstance(max_attempts, bool) or not isinstance(max_attempts, int):
                raise ValueError(f"max_attempts must be an integer >= 1, got {max_attempts!r}")
            if max_attempts < 1:
                raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
            self.max_attempts = max_attempts
        if retry_delays is not None:
            delays = tuple(float(d) for d in retry_delays)
            if any(d < 0 for d in delays):
                raise ValueError(f"retry_delays must be >= 0, got {delays}")
            self.retry_delays = delays
        if timeout is not None:
            if timeout <= 0:
                raise ValueError(f"timeout must be > 0, got {timeout}")
            self.timeout = timeout
        if signature_clock is not None:
            if signature_clock not in ("wall", "simulated"):
                raise ValueError(
                    f"signature_clock must be 'wall' or 'simulated', got {signature_clock!r}"
                )
            self.signature_clock = signature_clock
        if verify is not None:
            self.verify = verify
        return self

    # -- receivers --------------------------------------------------------------------------------

    def mount(self, url: str, receiver: Receiver | None = None) -> Mount:
        """Deliver to ``receiver`` in-process whatever is sent to ``url`` (exactly this string);
        without a receiver, the mount only collects (``mount.requests``). Replaces a mount."""
        mount = Mount(url, receiver)
        with self._lock:
            self._mounts[url] = mount
        return mount

    def unmount(self, url: str) -> None:
        with self._lock:
            self._mounts.pop(url, None)

    @property
    def mounts(self) -> dict[str, Mount]:
        with self._lock:
            return dict(self._mounts)

    # -- delivering -------------------------------------------------------------------------------

    def enqueue(self, events: Sequence[WebhookEvent], now: datetime) -> None:
        """Queue every (event, target) of ``events`` (called in order, under the simulator's
        lock, so concurrent operations keep their order); ``pump`` delivers them."""
        if self._muted:
            return
        for event in events:
            try:
                bodies: dict[str, bytes] = {}
                for target in event.targets:
                    body = bodies.get(target.payload_style)
                    if body is None:
                        body = bodies[target.payload_style] = render(event, target.payload_style)
                    self._queue_one(event, target, body, now, None)
            except Exception:  # a bug here must not break the operation that caused the event
                log.exception("webhook event %s (%s) could not be queued", event.id, event.type)

    def _queue_one(
        self,
        event: WebhookEvent | Delivery,
        target: Target,
        body: bytes,
        now: datetime,
        redelivery_of: str | None,
    ) -> Delivery:
        log_ = self._log
        with self._lock:
            via: Literal["receiver", "http"] = "receiver" if target.url in self._mounts else "http"
        event_id = event.id if isinstance(event, WebhookEvent) else event.event_id
        delivery = Delivery(
            id=log_.new_id(),
            event_id=event_id,
            type=event.type,
            endpoint_id=target.endpoint_id,
            url=target.url,
            payload_style=target.payload_style,
            occurred_at=event.occurred_at,
            created_at=event.created_at,
            via=via,
            body=body,
            secret=target.secret,
            sim_time=now,
            redelivery_of=redelivery_of,
        )
        log_.add(delivery)
        with self._lock:
            if via == "receiver":
                self._queue.append(delivery)
            else:
                self._http.append(delivery)
                self._http_outstanding += 1
        return delivery

    def pump(self) -> None:
        """Make the queued deliveries: receivers now, in this thread; HTTP in the background.

        Reentrant-safe: a receiver whose work causes more events (it calls the simulator) gets
        them after the current delivery, in order, from the outer loop.
        """
        me = threading.get_ident()
        if self._pumper == me:
            return
        while True:
            if not self._pumping.acquire(blocking=False):
                return  # another thread is pumping; it will take ours too
            self._pumper = me
            try:
                while True:
                    with self._lock:
                        if not self._queue:
                            break
                        delivery = self._queue.popleft()
                    self._deliver_in_process(delivery)
            finally:
                self._pumper = None
                self._pumping.release()
            with self._lock:
                if not self._queue:
                    break
        self._start_worker()

    @contextmanager
    def muted(self) -> Iterator[None]:
        """Drop the events handed over meanwhile: for re-running what already happened (a
        state file's journal replayed at start), whose webhooks were sent the first time."""
        self._muted += 1
        try:
            yield
        finally:
            self._muted -= 1

    def deliver(self, events: Sequence[WebhookEvent], now: datetime) -> None:
        """``enqueue`` and ``pump`` in one call (for callers that hold no lock)."""
        self.enqueue(events, now)
        self.pump()

    def redeliver(self, delivery_id: str, now: datetime | None = None) -> Delivery:
        """Send a recorded delivery's body again, to the same endpoint, signed anew (a receiver
        sees the same event id again). ``LookupError`` if the log has no such delivery."""
        original = self._log.get(delivery_id)
        if original is None:
            raise LookupError(f"no webhook delivery {delivery_id!r} in the log")
        if now is None:
            now = self._now()
        target = Target(original.endpoint_id, original.url, original.secret, original.payload_style)
        delivery = self._queue_one(original, target, original.body, now, original.id)
        self.pump()
        return delivery

    def send_test(
        self, endpoint_id: str | None = None, *, message: str | None = None
    ) -> list[Delivery]:
        """Send ``resource_event.test`` to one endpoint (or every endpoint taking the type);
        returns its deliveries (in-process ones done, HTTP ones possibly still pending)."""
        if self._endpoints is None:
            raise RuntimeError("this dispatcher is not bound to a simulator")
        event_id = self._endpoints.send_test(endpoint_id, message=message)
        if event_id is None:
            return []
        return [d for d in self._log.all() if d.event_id == event_id]

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every HTTP delivery is done (delivered or out of attempts); False on
        timeout. In-process deliveries are always done by the time the operation returns."""
        deadline = time.monotonic() + timeout
        with self._http_idle:
            while self._http_outstanding:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._http_idle.wait(remaining)
        return True

    # -- one delivery -----------------------------------------------------------------------------

    def _sign_time(self, delivery: Delivery) -> datetime:
        return delivery.sim_time if self.signature_clock == "simulated" else wall_clock()

    def _record(
        self,
        delivery: Delivery,
        attempt: Attempt,
        headers: dict[str, str],
        final: bool = False,
    ) -> None:
        failed = final or (not attempt.ok and attempt.number >= self.max_attempts)
        self._log.record(delivery, attempt, headers, "failed" if failed else None)

    def _attempted(
        self,
        delivery: Delivery,
        number: int,
        at: datetime,
        headers: dict[str, str],
        answer: tuple[int | None, str | None],
        final: bool = False,
    ) -> bool:
        """Record attempt ``number`` (its ``answer``: HTTP status, error); True if it succeeded,
        else the failure is logged as a warning."""
        status, error = answer
        attempt = Attempt(number, at, headers["X-Orb-Timestamp"], status, error)
        self._record(delivery, attempt, headers, final=final)
        if attempt.ok:
            return True
        log.warning("webhook %s attempt %d failed: %s", delivery.summary(), number, error or status)
        return False

    def _deliver_in_process(self, delivery: Delivery) -> None:
        with self._lock:
            mount = self._mounts.get(delivery.url)
        for number in range(1, self.max_attempts + 1):
            headers = signed_headers(delivery.secret, delivery.body, self._sign_time(delivery))
            at = wall_clock()
            if mount is None:
                gone = f"no receiver is mounted at {delivery.url!r} any more"
                self._attempted(delivery, number, at, headers, (None, gone), final=True)
                return
            answer = mount.answer(WebhookRequest(delivery.url, headers, delivery.body))
            if self._attempted(delivery, number, at, headers, answer):
                return

    # -- HTTP -------------------------------------------------------------------------------------

    def _start_worker(self) -> None:
        with self._lock:
            if not self._http or (self._worker is not None and self._worker.is_alive()):
                return
            worker = threading.Thread(target=self._work, name="orbsim-webhooks", daemon=True)
            self._worker = worker
        worker.start()

    def _work(self) -> None:
        import httpx

        client = httpx.Client(
            timeout=self.timeout, verify=self.verify, follow_redirects=False, trust_env=False
        )
        try:
            while True:
                with self._lock:
                    if not self._http:
                        self._worker = None
                        return
                    delivery = self._http.popleft()
                try:
                    self._deliver_http(client, delivery)
                finally:
                    with self._http_idle:
                        self._http_outstanding -= 1
                        self._http_idle.notify_all()
        finally:
            client.close()

    def _deliver_http(self, client: httpx.Client, delivery: Delivery) -> None:
        for number in range(1, self.max_attempts + 1):
            headers = signed_headers(delivery.secret, delivery.body, self._sign_time(delivery))
            at = wall_clock()
            try:
                check_webhook_url(delivery.url, self._allowed_hosts())
            except RequestValidationError as exc:
                error = f"refused: {exc.detail}"
                attempt = Attempt(number, at, headers["X-Orb-Timestamp"], None, error)
                self._record(delivery, attempt, headers, final=True)
                log.warning("webhook %s not sent: %s", delivery.summary(), error)
                return
            answer: tuple[int | None, str | None]
            try:
                response = client.post(delivery.url, content=delivery.body, headers=headers)
                answer = response.status_code, None
            except (
                Exception
            ) as exc:  # httpx's errors, and never let the worker die with work queued
                answer = None, f"{type(exc).__name__}: {exc}"
            if self._attempted(delivery, number, at, headers, answer):
                return
            if number < self.max_attempts and self.retry_delays:
                time.sleep(self.retry_delays[min(number, len(self.retry_delays)) - 1])

    def __repr__(self) -> str:
        return f"WebhookDispatcher({len(self._log)} deliveries, {len(self._mounts)} mounts)"
