"""Webhook delivery: signing, in-process receivers, HTTP targets with retries, and the delivery log.

The engine records ``WebhookEvent``s (``orbsim.engine.webhooks``) at the simulated moment of their
cause; at the end of the operation that settled them, the simulator hands them here, in order
(``WebhookDispatcher.enqueue`` under the simulator's lock, ``pump`` after releasing it). For each
(event, endpoint) this module

* renders the body in the endpoint's payload style (compact JSON) and signs it as the SDK's
  ``client.webhooks.verify_signature`` checks: ``X-Orb-Timestamp: <ISO 8601>`` and
  ``X-Orb-Signature: v1=<hex HMAC-SHA256(secret, "v1:{timestamp}:{body}")>``;
* hands it to an in-process receiver if one is mounted at the endpoint's URL (``mount``), in the
  calling thread, before the SDK call that caused it returns; or POSTs it to the URL from a
  background thread (one per simulator, started on demand, gone when idle), in order;
* retries a failed attempt (non-2xx answer, connection error, timeout, a receiver that raises) up
  to ``max_attempts`` in all; HTTP attempts wait ``retry_delays`` (wall-clock seconds) in between,
  receivers are retried at once;
* records every delivery and attempt in ``deliveries`` (``DeliveryLog``), with filters and
  assertion helpers like the request log's.

Nothing here ever raises into the operation that caused the event: a receiver that raises, a URL
that answers 500 or refuses the connection, is a failed attempt in the log and a warning in the
``orbsim.webhooks`` logger.

Signing time. The SDK refuses an ``X-Orb-Timestamp`` more than 5 minutes from *its* clock. By
default (``signature_clock="wall"``) deliveries are signed with the process's real time, read
with ``time.clock_gettime(CLOCK_REALTIME)``, which freezegun leaves alone: a receiver verifies with
``client.webhooks.unwrap`` unchanged under a ``ManualClock`` set anywhere, and under the pytest
plugin's ``orb_time`` (which keeps the SDK on real time). The simulated moment stays in the payload
(``created_at``). With ``signature_clock="simulated"`` the timestamp is the simulator's time when
the delivery is made, for receivers whose clock follows the simulator's (a plain ``freezegun`` that
also freezes the SDK, with the default ``SystemClock``). Non-loopback URLs are never contacted
unless ``Settings.webhook_allowed_hosts`` allows them (checked again before every HTTP attempt).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Literal

import pydantic_core

from orbsim.engine.webhooks import PayloadStyle, Target, WebhookEvent, check_webhook_url
from orbsim.errors import RequestValidationError
from orbsim.wire.recorder import body_diff, listing

if TYPE_CHECKING:
    import httpx

    from orbsim.engine.webhooks import WebhookEndpoints

log = logging.getLogger("orbsim.webhooks")

SignatureClock = Literal["wall", "simulated"]
DeliveryStatus = Literal["pending", "delivered", "failed"]

USER_AGENT = "orbsim-webhooks/1"


# --------------------------------------------------------------------------------------------------
# Signing


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``v1:{timestamp}:{body}`` keyed with ``secret`` (the SDK's check)."""
    message = b"v1:" + timestamp.encode() + b":" + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def format_timestamp(moment: datetime) -> str:
    """``X-Orb-Timestamp``: ISO 8601, UTC, microseconds, ``+00:00`` (``fromisoformat`` reads it)."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.isoformat(timespec="microseconds")


def signed_headers(secret: str, body: bytes, moment: datetime) -> dict[str, str]:
    """The headers of one delivery attempt of ``body`` signed at ``moment``."""
    timestamp = format_timestamp(moment)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Orb-Timestamp": timestamp,
        "X-Orb-Signature": "v1=" + signature(secret, timestamp, body),
    }


def wall_clock() -> datetime:
    """The real time, even under freezegun (it patches ``time.time``, not ``clock_gettime``)."""
    return datetime.fromtimestamp(time.clock_gettime(time.CLOCK_REALTIME), UTC)


def render(event: WebhookEvent, style: PayloadStyle) -> bytes:
    """The body of ``event`` in ``style``: compact JSON, as the HTTP API writes its answers."""
    return pydantic_core.to_json(event.payload(style))


# --------------------------------------------------------------------------------------------------
# Receivers


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What a receiver gets: the POST Orb would send (``body`` bytes, signed ``headers``)."""

    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


Receiver = Callable[[WebhookRequest], "int | None"]
"""An in-process receiver: returns None (taken as 200) or an HTTP status; raising is a failure."""


class Mount:
    """An in-process receiver at ``url``: every delivery to an endpoint with exactly this URL is
    handed to ``receiver`` (if any) instead of being POSTed; ``requests`` keeps what arrived."""

    def __init__(self, url: str, receiver: Receiver | None) -> None:
        self.url = url
        self.receiver = receiver
        self.requests: list[WebhookRequest] = []

    def __call__(self, request: WebhookRequest) -> int | None:
        self.requests.append(request)
        if self.receiver is None:
            return None
        return self.receiver(request)

    def __repr__(self) -> str:
        return f"Mount({self.url!r}, {len(self.requests)} received)"


# --------------------------------------------------------------------------------------------------
# The delivery log


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try: when (wall clock), the timestamp it was signed with, and how it went."""

    number: int
    at: datetime
    signed_at: str
    status: int | None
    """The HTTP status answered (a receiver's return value; 200 for None); None on an error."""
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(eq=False)
class Delivery:
    """One event sent to one endpoint, with every attempt."""

    id: str
    event_id: str
    type: str
    endpoint_id: str
    url: str
    payload_style: PayloadStyle
    occurred_at: datetime
    """The simulated moment of the cause."""
    created_at: datetime
    """The payload's ``created_at`` (``occurred_at`` to the second)."""
    via: Literal["receiver", "http"]
    body: bytes
    secret: str = field(repr=False)
    sim_time: datetime
    """The simulator's time when the delivery was made (the signing time when ``simulated``)."""
    redelivery_of: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    """The headers of the latest attempt (empty until the first)."""
    attempts: list[Attempt] = field(default_factory=list)
    status: DeliveryStatus = "pending"

    @property
    def payload(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (the admin API's shape)."""
        return {
            "id": self.id,
            "event_id": self.event_id,
            "type": self.type,
            "endpoint_id": self.endpoint_id,
            "url": self.url,
            "payload_style": self.payload_style,
            "status": self.status,
            "via": self.via,
            "occurred_at": _iso(self.occurred_at),
            "created_at": _iso(self.created_at),
            "redelivery_of": self.redelivery_of,
            "headers": dict(self.headers),
            "body": self.text,
            "attempts": [
                {
                    "number": a.number,
                    "at": _iso(a.at),
                    "signed_at": a.signed_at,
                    "status": a.status,
                    "error": a.error,
                }
                for a in self.attempts
            ],
        }

    def summary(self) -> str:
        """One line: ``dlv_3 customer.created -> wh_x (http://...) delivered after 2 attempts``."""
        tries = len(self.attempts)
        after = f" after {tries} attempts" if tries > 1 else ""
        last = self.attempts[-1] if self.attempts else None
        why = ""
        if self.status == "failed" and last is not None:
            why = f" ({last.error or last.status})"
        return f"{self.id} {self.type} -> {self.endpoint_id} ({self.url}) {self.status}{after}{why}"

    def __repr__(self) -> str:
        return f"<Delivery {self.summary()}>"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and _subset(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_subset(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return bool(expected == actual)


class DeliveryLog:
    """Every webhook delivery of one simulator, oldest first (``sim.webhooks.deliveries``).

    ``type`` filters are fnmatch patterns (``"backfill.*"``); ``status`` is ``"delivered"``,
    ``"failed"`` or ``"pending"``. Thread-safe; keeps the last ``limit`` deliveries.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[Delivery] = deque(maxlen=limit)
        self._counter = itertools.count(1)
        self._by_id: dict[str, Delivery] = {}

    def new_id(self) -> str:
        """The id of the next delivery (``dlv_1``, ``dlv_2``, ...; kept across ``clear``)."""
        return f"dlv_{next(self._counter)}"

    def record(
        self,
        delivery: Delivery,
        attempt: Attempt,
        headers: dict[str, str],
        status: DeliveryStatus | None = None,
    ) -> None:
        """Add ``attempt`` to ``delivery`` (under the log's lock, so readers see it whole);
        ``status`` if given, else delivered on a 2xx."""
        with self._lock:
            delivery.attempts.append(attempt)
            delivery.headers = headers
            if status is not None:
                delivery.status = status
            elif attempt.ok:
                delivery.status = "delivered"

    def add(self, delivery: Delivery) -> None:
        with self._lock:
            if len(self._entries) == self._entries.maxlen and self._entries:
                self._by_id.pop(self._entries[0].id, None)
            self._entries.append(delivery)
            self._by_id[delivery.id] = delivery

    # -- reading ----------------------------------------------------------------------------------

    def all(self) -> list[Delivery]:
        with self._lock:
            return list(self._entries)

    def __iter__(self) -> Iterator[Delivery]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> Delivery:
        return self.all()[index]

    def get(self, delivery_id: str) -> Delivery | None:
        with self._lock:
            return self._by_id.get(delivery_id)

    def clear(self) -> None:
        """Forget every delivery (ids keep counting)."""
        with self._lock:
            self._entries.clear()
            self._by_id.clear()

    def filter(
        self,
        type: str | None = None,
        *,
        endpoint_id: str | None = None,
        url: str | None = None,
        status: DeliveryStatus | None = None,
    ) -> list[Delivery]:
        """Deliveries matching every given criterion, oldest first."""
        return [
            d
            for d in self.all()
            if (type is None or fnmatchcase(d.type, type))
            and (endpoint_id is None or d.endpoint_id == endpoint_id)
            and (url is None or fnmatchcase(d.url, url))
            and (status is None or d.status == status)
        ]

    def types(self, **criteria: Any) -> list[str]:
        """The event types delivered (matching ``criteria``, as ``filter``), in order."""
        return [d.type for d in self.filter(**criteria)]

    def payloads(self, type: str | None = None, **criteria: Any) -> list[Any]:
        """The parsed bodies of the matching deliveries, in order."""
        return [d.payload for d in self.filter(type, **criteria)]

    def last(self, type: str | None = None, **criteria: Any) -> Delivery:
        """The latest matching delivery; ``LookupError`` (listing the log) if there is none."""
        found = self.filter(type, **criteria)
        if not found:
            raise LookupError(
                f"no webhook delivery matches {_what(type, criteria)}\n{self._listing()}"
            )
        return found[-1]

    # -- assertions -------------------------------------------------------------------------------

    def assert_delivered(
        self,
        type: str,
        *,
        times: int | None = None,
        payload: Any = None,
        endpoint_id: str | None = None,
        status: DeliveryStatus | None = "delivered",
    ) -> list[Delivery]:
        """Assert that matching deliveries happened (``times``: exactly that many, else at least
        one); ``payload`` matches as a subset of the parsed body. Returns them."""
        candidates = self.filter(type, endpoint_id=endpoint_id, status=status)
        matched = (
            candidates
            if payload is None
            else [d for d in candidates if _subset(payload, d.payload)]
        )
        if (times is None and matched) or (times is not None and len(matched) == times):
            return matched
        criteria = {"endpoint_id": endpoint_id, "status": status}
        want = "at least once" if times is None else _times(times)
        lines = [f"expected {_what(type, criteria)} to be delivered {want}"]
        if payload is not None:
            lines[0] += f" with a payload containing {json.dumps(payload, default=str)}"
            lines.append(f"{len(candidates)} matched the type but {len(matched)} had that payload.")
            for delivery in candidates[-3:]:
                lines.append(f"\n{delivery.summary()}:\n{body_diff(payload, delivery.payload)}")
        else:
            lines.append(f"it was delivered {_times(len(matched))}.")
        lines.append(self._listing())
        raise AssertionError("\n".join(lines))

    def assert_not_delivered(self, type: str, *, endpoint_id: str | None = None) -> None:
        """Assert that no delivery of ``type`` (any status) was made."""
        found = self.filter(type, endpoint_id=endpoint_id)
        if not found:
            return
        lines = [f"expected no {_what(type, {'endpoint_id': endpoint_id})} delivery; found:"]
        lines.extend(f"  {d.summary()}" for d in found[-20:])
        raise AssertionError("\n".join(lines))

    def _listing(self) -> str:
        return listing("Webhook deliveries", self.all())

    def __repr__(self) -> str:
        return f"DeliveryLog({len(self)} deliveries)"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _what(type: str | None, criteria: dict[str, Any]) -> str:
    text = type or "*"
    extra = ", ".join(f"{k}={v!r}" for k, v in criteria.items() if v is not None)
    return f"{text} ({extra})" if extra else text


# --------------------------------------------------------------------------------------------------
# The dispatcher


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

    def _deliver_in_process(self, delivery: Delivery) -> None:
        with self._lock:
            mount = self._mounts.get(delivery.url)
        for number in range(1, self.max_attempts + 1):
            headers = signed_headers(delivery.secret, delivery.body, self._sign_time(delivery))
            status: int | None = None
            error: str | None = None
            at = wall_clock()
            if mount is None:
                error = f"no receiver is mounted at {delivery.url!r} any more"
            else:
                try:
                    answer = mount(WebhookRequest(delivery.url, headers, delivery.body))
                except Exception as exc:  # a receiver's bug must never reach the caller
                    error = f"receiver raised {type(exc).__name__}: {exc}"
                else:
                    if answer is None:
                        status = 200
                    elif isinstance(answer, int) and not isinstance(answer, bool):
                        status = answer
                    else:
                        error = f"receiver returned {answer!r}; return None or an HTTP status"
            attempt = Attempt(number, at, headers["X-Orb-Timestamp"], status, error)
            self._record(delivery, attempt, headers, final=mount is None)
            if attempt.ok:
                return
            log.warning(
                "webhook %s attempt %d failed: %s", delivery.summary(), number, error or status
            )
            if mount is None:
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
        import httpx

        for number in range(1, self.max_attempts + 1):
            headers = signed_headers(delivery.secret, delivery.body, self._sign_time(delivery))
            status: int | None = None
            error: str | None = None
            at = wall_clock()
            try:
                check_webhook_url(delivery.url, self._allowed_hosts())
            except RequestValidationError as exc:
                error = f"refused: {exc.detail}"
                attempt = Attempt(number, at, headers["X-Orb-Timestamp"], None, error)
                self._record(delivery, attempt, headers, final=True)
                log.warning("webhook %s not sent: %s", delivery.summary(), error)
                return
            try:
                response = client.post(delivery.url, content=delivery.body, headers=headers)
                status = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # never let the worker die with deliveries queued
                error = f"{type(exc).__name__}: {exc}"
            attempt = Attempt(number, at, headers["X-Orb-Timestamp"], status, error)
            self._record(delivery, attempt, headers)
            if attempt.ok:
                return
            log.warning(
                "webhook %s attempt %d failed: %s", delivery.summary(), number, error or status
            )
            if number < self.max_attempts and self.retry_delays:
                time.sleep(self.retry_delays[min(number, len(self.retry_delays)) - 1])

    def __repr__(self) -> str:
        return f"WebhookDispatcher({len(self._log)} deliveries, {len(self._mounts)} mounts)"
