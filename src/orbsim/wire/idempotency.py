"""``Idempotency-Key`` on every mutating request (POST, PUT, PATCH, DELETE): a retried request
gets the stored answer instead of running twice.

Both official SDKs (Python and Node) send a key on every non-GET request and reuse it on their
retries, so a response lost after the simulator committed never duplicates an event, a backfill,
an amendment (a version and a quota slot) or a deletion. Orb's idempotency page documents the
header for POST and PATCH and says GET, PUT and DELETE ignore it; orbsim honours it on PUT and
DELETE too (design.md, issue 12), so a retried amendment is stored once. Keys live 48 hours, the
key is echoed on keyed responses, replays carry ``Idempotent-Replayed: true``, and a key reused
with a different request is a 409 ``resource-conflict``. GET ignores the header.

What is stored: every answer the endpoint itself gave, 2xx and deterministic 4xx alike (as Stripe
does), so a retry gets the same answer the original got. Not stored: 409 and 429 (they mean "try
again later", so a later retry must run again), 5xx (transient by definition), and rejections
that happen before the key is looked at (401, unknown URL, 413 body size, a key that is too
long) - those are recomputed identically anyway.

Keys are compared on method, path (``/v1`` prefix ignored), query and a SHA-256 of the body, so
memory per key stays small. Expiry uses the simulator's clock; expired keys are dropped lazily.
At most ``Settings.idempotency_max_keys`` (10,000) are kept: past it the oldest are forgotten
early (a retry of a request that old does not happen), so the store stays bounded even while a
test holds the clock still and nothing ever expires.

The store is part of the simulator's state: it is ``sim.wire.idempotency``, and ``OrbSim``'s
``snapshot``/``restore`` and ``dump``/``load`` carry it with the engine state it describes.
Otherwise a POST retried after ``restore`` would replay the answer for a customer the restore
removed, and a POST retried after a server restart with ``--state`` would run a second time.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Self

from orbsim.engine.timeparse import format_timestamp
from orbsim.errors import RequestValidationError, ResourceConflict
from orbsim.times import to_utc
from orbsim.wire.codec import problem_response
from orbsim.wire.messages import WireRequest, WireResponse, api_path, decode_body, encode_body

if TYPE_CHECKING:
    from orbsim.sim import OrbSim

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
    """The keys of one simulator, oldest first (so expiry pops from the left).

    ``dump_state``/``load_state`` give it a plain-JSON form for state files; ``__deepcopy__``
    serves snapshots (entries are immutable, so only the containers are copied).
    """

    __slots__ = ("_order", "entries", "stored")

    def __init__(self, entries: Iterable[Entry] = (), stored: int = 0) -> None:
        """``entries`` oldest first."""
        self._order: deque[Entry] = deque(entries)
        self.entries: dict[str, Entry] = {entry.key: entry for entry in self._order}
        self.stored = stored
        """Answers stored so far (not persisted): lets a caller tell that a request stored one."""

    def lookup(self, key: str, now: datetime) -> Entry | None:
        order = self._order
        while order and now >= order[0].expires_at:
            old = order.popleft()
            if self.entries.get(old.key) is old:
                del self.entries[old.key]
        return self.entries.get(key)

    def store(self, entry: Entry, max_keys: int | None = None) -> None:
        """Keep ``entry``; with ``max_keys``, forget the oldest keys beyond that many."""
        self.entries[entry.key] = entry
        order = self._order
        order.append(entry)
        self.stored += 1
        if max_keys is not None:
            entries = self.entries
            while len(entries) > max_keys or len(order) > 2 * max_keys:
                old = order.popleft()
                if entries.get(old.key) is old:
                    del entries[old.key]

    def __len__(self) -> int:
        return len(self.entries)

    def __deepcopy__(self, memo: dict[int, Any]) -> IdempotencyStore:
        return self.copy()

    def copy(self) -> IdempotencyStore:
        """A copy for a snapshot (entries are immutable, so only the containers are copied)."""
        copied = IdempotencyStore(self._order, self.stored)
        copied.entries = dict(self.entries)  # an entry replaced by a newer one stays replaced
        return copied

    def dump_state(self) -> list[dict[str, Any]]:
        """The live entries as JSON data, oldest first (the order expiry relies on)."""
        return [
            _encode_entry(entry) for entry in self._order if self.entries.get(entry.key) is entry
        ]

    def load_state(self, data: Any) -> None:
        """Replace the contents with ``dump_state`` data; malformed data raises ValueError."""
        if not isinstance(data, list):
            raise ValueError(f"idempotency keys: expected a list, got {type(data).__name__}")
        entries = [_decode_entry(item, index) for index, item in enumerate(data)]
        self.entries = {entry.key: entry for entry in entries}
        self._order = deque(entries)

    @classmethod
    def from_state(cls, data: Any) -> Self:
        store = cls()
        store.load_state(data)
        return store


def _encode_entry(entry: Entry) -> dict[str, Any]:
    method, path, query, digest = entry.request
    return {
        "key": entry.key,
        "expires_at": format_timestamp(entry.expires_at),  # the API's form, as state files
        "method": method,
        "path": path,
        "query": query,
        "body_sha256": digest.hex(),
        "status": entry.status,
        "headers": [[name, value] for name, value in entry.headers],
        **encode_body(entry.body),
    }


def _decode_entry(item: Any, index: int) -> Entry:
    where = f"idempotency keys[{index}]"
    try:
        body = decode_body(item)
        expires_at = datetime.fromisoformat(item["expires_at"])
        if expires_at.tzinfo is None:
            raise ValueError(f"expires_at {item['expires_at']!r} has no UTC offset")
        headers = tuple((str(name), str(value)) for name, value in item["headers"])
        request = (
            _text(item["method"]),
            _text(item["path"]),
            _text(item["query"]),
            bytes.fromhex(item["body_sha256"]),
        )
        status = item["status"]
        if type(status) is not int:
            raise ValueError(f"status: expected an integer, got {status!r}")
        return Entry(_text(item["key"]), expires_at, request, status, headers, body)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{where}: {exc!r}") from None


def _text(value: Any) -> str:
    if type(value) is not str:
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _now(sim: OrbSim) -> datetime:
    """The simulator's clock, read directly (no backfill settling is needed to compare keys)."""
    now = sim.clock.now()
    return to_utc(now)


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
    path = api_path(request.path)
    method = request.method.upper()
    fingerprint = (method, path, request.query, hashlib.sha256(request.body).digest())
    with sim.lock:  # check, execute and store as one step: the server is threaded
        store = sim.wire.idempotency  # inside the lock: ``restore`` may replace the store
        now = _now(sim)
        entry = store.lookup(key, now)
        if entry is not None:
            if entry.request == fingerprint:
                return WireResponse(entry.status, [*entry.headers, (REPLAYED, "true")], entry.body)
            method, path = entry.request[:2]
            error = ResourceConflict(
                f"{HEADER} {key!r} was already used for a different request "
                f"({method} {path}); use a new key for a new request"
            )
            sim.report_error(error)
            conflict = problem_response(error)
            conflict.headers.append((HEADER, key))
            return conflict
        response = execute()
        response.headers.append((HEADER, key))
        status = response.status
        if status < 500 and status != 409 and status != 429:
            expires_at = now + settings.idempotency_ttl
            snapshot = tuple(response.headers)
            entry = Entry(key, expires_at, fingerprint, status, snapshot, response.body)
            store.store(entry, settings.idempotency_max_keys)
        return response
