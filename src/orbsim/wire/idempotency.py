"""``Idempotency-Key`` on POST: a retried request gets the stored answer instead of running twice.

Orb honours the header on POST (ignored on GET/PUT/DELETE), keeps keys for 48 hours, echoes the
key on keyed responses and marks replays with ``Idempotent-Replayed: true``; a key reused with a
different request is a 409 ``resource-conflict``. The SDK sends a key on every POST and reuses it on
its retries, so a response lost after the simulator committed never duplicates an event or a
backfill.

What is stored: every answer the endpoint itself gave, 2xx and deterministic 4xx alike (as Stripe
does), so a retry gets the same answer the original got. Not stored: 409 and 429 (they mean "try
again later", so a later retry must run again), 5xx (transient by definition), and rejections
that happen before the key is looked at (401, unknown URL, 413 body size, a key that is too
long) - those are recomputed identically anyway.

Keys are compared on method, path (``/v1`` prefix ignored), query and a SHA-256 of the body, so
memory per key stays small. Expiry uses the simulator's clock; expired keys are dropped lazily.
The store lives on the simulator object (``sim._wire_idempotency``), so it dies with it.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple, cast

from orbsim.errors import RequestValidationError, ResourceConflict
from orbsim.wire.codec import problem_response
from orbsim.wire.messages import WireRequest, WireResponse

if TYPE_CHECKING:
    from orbsim.engine.sim import OrbSim

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


class Entry(NamedTuple):
    key: str
    expires_at: datetime
    request: tuple[str, str, str, bytes]
    """Method, path without ``/v1``, raw query, SHA-256 of the body."""
    status: int
    headers: tuple[tuple[str, str], ...]
    """A snapshot: later changes to the response object sent do not leak into replays."""
    body: bytes


class IdempotencyStore:
    """The keys of one simulator, oldest first (so expiry pops from the left)."""

    __slots__ = ("_order", "entries")

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self._order: deque[Entry] = deque()

    def lookup(self, key: str, now: datetime) -> Entry | None:
        order = self._order
        while order and now >= order[0].expires_at:
            old = order.popleft()
            if self.entries.get(old.key) is old:
                del self.entries[old.key]
        return self.entries.get(key)

    def store(self, entry: Entry) -> None:
        self.entries[entry.key] = entry
        self._order.append(entry)

    def __len__(self) -> int:
        return len(self.entries)


_STORE_ATTRIBUTE = "_wire_idempotency"


def store_of(sim: OrbSim) -> IdempotencyStore:
    """The simulator's key store, kept on the simulator so it lives and dies with it."""
    store = sim.__dict__.get(_STORE_ATTRIBUTE)
    if store is None:
        with sim._lock:
            store = sim.__dict__.setdefault(_STORE_ATTRIBUTE, IdempotencyStore())
    return cast(IdempotencyStore, store)


def _now(sim: OrbSim) -> datetime:
    """The simulator's clock, read directly (no backfill settling is needed to compare keys)."""
    now = sim.clock.now()
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def run(
    sim: OrbSim, key: str, request: WireRequest, execute: Callable[[], WireResponse]
) -> WireResponse:
    """Replay the stored answer for ``key``, refuse a mismatching reuse, or execute and store."""
    settings = sim.settings
    if not key or len(key) > settings.idempotency_key_max_length:
        raise RequestValidationError(
            f"{HEADER} must be 1 to {settings.idempotency_key_max_length} characters long; "
            f"got {len(key)} characters"
        )
    path = request.path[3:] if request.path.startswith("/v1/") else request.path
    method = request.method.upper()
    fingerprint = (method, path, request.query, hashlib.sha256(request.body).digest())
    store = store_of(sim)
    with sim._lock:  # check, execute and store as one step: the server is threaded
        now = _now(sim)
        entry = store.lookup(key, now)
        if entry is not None:
            if entry.request == fingerprint:
                return WireResponse(entry.status, [*entry.headers, (REPLAYED, "true")], entry.body)
            method, path = entry.request[:2]
            conflict = problem_response(
                ResourceConflict(
                    f"{HEADER} {key!r} was already used for a different request "
                    f"({method} {path}); use a new key for a new request"
                )
            )
            conflict.headers.append((HEADER, key))
            return conflict
        response = execute()
        response.headers.append((HEADER, key))
        status = response.status
        if status < 500 and status != 409 and status != 429:
            expires_at = now + settings.idempotency_ttl
            snapshot = tuple(response.headers)
            store.store(Entry(key, expires_at, fingerprint, status, snapshot, response.body))
        return response
