"""Injected failures: make the next matching requests fail the way a real network and API can.

``sim.faults.add(kind, ...)`` arms a ``Fault`` for requests matched by method and path (fnmatch
on the path without ``/v1``), for the next ``times`` matching requests or, with ``probability``,
on a seeded coin flip per matching request. Kinds:

* an HTTP status (409, 429, 401, 413 or any 5xx): Orb's problem+json body for that status, a
  ``retry-after-ms`` hint (``Settings.fault_retry_after_ms``, 1 ms by default, so the SDK's retries
  stay fast) and ``Transient-Error: true`` on 5xx. No ``x-should-retry`` header: these are the
  transient failures a client is expected to retry. The simulator does not run the request.
* ``"connect_error"`` / ``"read_timeout"``: the request never reaches the simulator; the in-process
  transports raise ``httpx.ConnectError`` / ``httpx.ReadTimeout``, the server closes the
  connection without answering.
* ``"lost_response"``: the simulator runs (and commits) the request, then the answer is lost: the
  in-process transports raise ``httpx.ReadTimeout``, the server closes the connection. This is the
  case idempotency exists for.

Faults are checked first (before authentication), in the order they were added; the first one
that fires wins. A fault that has fired ``times`` times is spent and leaves ``list()``; the
``Fault`` object stays readable (``fired``, ``active``) for assertions. Probability draws come
from a ``random.Random`` per fault, seeded from ``seed=`` or from the simulator's seed and the
fault's number, so two simulators with the same seed fail on the same requests.

The store is part of the simulator's ``WireState`` (``sim.wire.faults``); ``routes.dispatch``
looks at it with one truthiness check, so a simulator without faults pays nothing more.
"""

from __future__ import annotations

import enum
import json
import random
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import translate
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, cast

from orbsim.errors import (
    OrbAuthenticationError,
    OrbError,
    OrbInternalServerError,
    RequestTooLarge,
    ResourceConflict,
    TooManyRequests,
)
from orbsim.wire.codec import JSON
from orbsim.wire.messages import WireResponse, api_path

if TYPE_CHECKING:
    pass

TRANSPORT_KINDS: Final[frozenset[str]] = frozenset(
    {"connect_error", "read_timeout", "lost_response"}
)
BEFORE_DISPATCH: Final[frozenset[str]] = frozenset({"connect_error", "read_timeout"})
"""Transport kinds that stop the request before the simulator sees it."""

_STATUS_ERRORS: Final[dict[int, type[OrbError]]] = {
    401: OrbAuthenticationError,
    409: ResourceConflict,
    413: RequestTooLarge,
    429: TooManyRequests,
}
_DETAILS: Final[dict[int, str]] = {
    401: "the API key was rejected",
    409: "a concurrent request with the same Idempotency-Key is still running; retry",
    413: "the request was refused as too large",
    429: "too many requests; retry after the time in retry-after-ms",
}
ALLOWED_STATUSES: Final[str] = "401, 409, 413, 429 or 500-599"


class _Unset(enum.Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET
"""``times`` not given: 1, or unlimited for a probability fault."""


MAX_TIMES = 1_000_000
"""The most firings one fault can be armed for (``None`` means unlimited anyway)."""
MAX_RETRY_AFTER_MS = 3_600_000
"""The longest ``retry-after-ms`` hint a fault may carry: one hour."""


def _number(value: int) -> str:
    """An integer for a message: a 400-digit one is described, not printed."""
    text = str(value)
    return text if len(text) <= 24 else f"an integer of {len(text.lstrip('-'))} digits"


def _check_kind(kind: object) -> int | str:
    if isinstance(kind, bool) or not isinstance(kind, int | str):
        raise ValueError(f"fault kind must be an HTTP status or a transport kind, got {kind!r}")
    if isinstance(kind, str):
        if kind in TRANSPORT_KINDS:
            return kind
        if not (kind.isascii() and kind.isdigit()):
            raise ValueError(
                f"unknown fault kind {kind!r}; use an HTTP status ({ALLOWED_STATUSES}) or one of "
                f"{', '.join(sorted(TRANSPORT_KINDS))}"
            )
        kind = int(kind)
    if kind in _STATUS_ERRORS or 500 <= kind <= 599:
        return kind
    raise ValueError(f"cannot inject HTTP status {kind}; use {ALLOWED_STATUSES}")


@dataclass(eq=False)
class Fault:
    """One armed failure; returned by ``sim.faults.add`` and usable as a context manager."""

    id: str
    kind: int | str
    """An HTTP status, or ``"connect_error"``, ``"read_timeout"``, ``"lost_response"``."""
    method: str
    """Upper-case method, or ``"*"``."""
    path: str
    """fnmatch pattern on the path without ``/v1`` (``*`` also matches ``/``)."""
    times: int | None
    """How many times it fires; ``None``: unlimited."""
    probability: float | None
    seed: int | str | None
    retry_after_ms: int
    """The ``retry-after-ms`` hint of a status fault (0: none sent)."""
    fired: int = 0
    _regex: re.Pattern[str] | None = field(default=None, repr=False)
    _random: random.Random | None = field(default=None, repr=False)
    _owner: Faults | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        """Still armed (not spent, not removed)."""
        return self._owner is not None

    @property
    def remaining(self) -> int | None:
        """Firings left; ``None`` when unlimited."""
        if self.times is None:
            return None
        return self.times - self.fired if self.active else 0

    def matches(self, method: str, path: str) -> bool:
        """Whether a request (method, path without ``/v1``) is one this fault applies to."""
        if self.method != "*" and self.method != method:
            return False
        return self._regex is None or self._regex.match(path) is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (for the admin API and for messages)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "times": self.times,
            "probability": self.probability,
            "seed": self.seed,
            "retry_after_ms": self.retry_after_ms,
            "fired": self.fired,
            "active": self.active,
        }

    def detach(self) -> None:
        """Mark it spent or removed (its ``Faults`` calls this; use ``remove`` to disarm)."""
        self._owner = None

    def draw(self) -> bool:
        """Whether it fires this time: always without ``probability``, else a seeded draw."""
        rng = self._random
        probability = self.probability
        return rng is None or probability is None or rng.random() < probability

    def remove(self) -> None:
        """Disarm this fault (no-op if already spent or removed)."""
        owner = self._owner
        if owner is not None:
            owner.remove(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()


class Faults:
    """The armed faults of one simulator, in the order they were added (``sim.faults``)."""

    def __init__(self, seed: int | str | None, default_retry_after_ms: int) -> None:
        self._seed = seed
        self.default_retry_after_ms = default_retry_after_ms
        self._active: list[Fault] = []
        """Read without the lock by ``dispatch`` (an empty list is the fast path)."""
        self._lock = threading.Lock()
        self._added = 0

    @property
    def armed(self) -> bool:
        """Whether any fault is armed (read without the lock: the fast path of ``dispatch``)."""
        return bool(self._active)

    def configure(self, seed: int | str | None, default_retry_after_ms: int) -> None:
        """Follow the simulator's current seed and settings (``restore`` may change them)."""
        self._seed = seed
        self.default_retry_after_ms = default_retry_after_ms

    def add(
        self,
        kind: int | str,
        *,
        method: str = "*",
        path: str = "*",
        times: int | _Unset | None = UNSET,
        probability: float | None = None,
        seed: int | str | None = None,
        retry_after_ms: int | None = None,
    ) -> Fault:
        """Arm a fault; raises ``ValueError`` for an unknown kind or a bad argument.

        ``times``: how many firings (``None``: unlimited); by default 1, or unlimited when
        ``probability`` is given.
        ``seed`` (probability faults) defaults to one derived from the simulator's seed and the
        number of faults added so far. ``retry_after_ms`` defaults to
        ``Settings.fault_retry_after_ms``.
        """
        checked = _check_kind(kind)
        if not isinstance(method, str) or not method:
            raise ValueError(f"method must be an HTTP method or '*', got {method!r}")
        if not isinstance(path, str) or not path:
            raise ValueError(f"path must be an fnmatch pattern such as '/ingest', got {path!r}")
        path = api_path(path)
        if times is UNSET:
            times = None if probability is not None else 1
        if times is not None and (isinstance(times, bool) or not isinstance(times, int)):
            raise ValueError(f"times must be a positive integer or None, got {times!r}")
        if times is not None and not 1 <= times <= MAX_TIMES:
            raise ValueError(f"times must be between 1 and {MAX_TIMES}, got {_number(times)}")
        if probability is not None:
            if isinstance(probability, bool) or not isinstance(probability, int | float):
                raise ValueError(f"probability must be a number in (0, 1], got {probability!r}")
            if not 0 < probability <= 1:
                raise ValueError(f"probability must be in (0, 1], got {probability}")
            probability = float(probability)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | str)):
            raise ValueError(f"seed must be an integer or a string, got {seed!r}")
        if retry_after_ms is None:
            retry_after_ms = self.default_retry_after_ms
        elif isinstance(retry_after_ms, bool) or not isinstance(retry_after_ms, int):
            raise ValueError(f"retry_after_ms must be an integer, got {retry_after_ms!r}")
        if not 0 <= retry_after_ms <= MAX_RETRY_AFTER_MS:
            raise ValueError(
                f"retry_after_ms must be between 0 and {MAX_RETRY_AFTER_MS} (one hour), "
                f"got {_number(retry_after_ms)}"
            )
        with self._lock:
            self._added += 1
            number = self._added
            rng: random.Random | None = None
            if probability is not None:
                if seed is None and self._seed is not None:
                    rng = random.Random(f"orbsim-fault/{self._seed}/{number}")
                else:
                    rng = random.Random(seed)
            fault = Fault(
                id=f"fault_{number}",
                kind=checked,
                method="*" if method == "*" else method.upper(),
                path=path,
                times=times,
                probability=probability,
                seed=seed,
                retry_after_ms=retry_after_ms,
                _regex=None if path == "*" else re.compile(translate(path)),
                _random=rng,
                _owner=self,
            )
            self._active = [*self._active, fault]  # copy-on-write: readers never see a tear
        return fault

    def list(self) -> list[Fault]:
        """The armed faults, oldest first (spent and removed ones are not listed)."""
        return list(self._active)

    def get(self, fault_id: str) -> Fault:
        """An armed fault by id; ``KeyError`` if there is none."""
        for fault in self._active:
            if fault.id == fault_id:
                return fault
        raise KeyError(fault_id)

    def remove(self, fault: Fault | str) -> None:
        """Disarm a fault (by object or id); unknown or already spent ones are ignored."""
        with self._lock:
            kept = []
            for armed in self._active:
                if armed is fault or armed.id == fault:
                    armed.detach()
                else:
                    kept.append(armed)
            self._active = kept

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            for fault in self._active:
                fault.detach()
            self._active = []

    def __len__(self) -> int:
        return len(self._active)

    def __iter__(self) -> Iterator[Fault]:
        return iter(list(self._active))

    def __bool__(self) -> bool:
        return bool(self._active)

    def __repr__(self) -> str:
        return f"Faults({self._active!r})"

    def take(self, method: str, path: str) -> Fault | None:
        """The fault that fires for this request, counted; None if none does."""
        with self._lock:
            for fault in self._active:
                if not fault.matches(method, path):
                    continue
                if not fault.draw():
                    continue
                fault.fired += 1
                if fault.times is not None and fault.fired >= fault.times:
                    fault.detach()
                    self._active = [f for f in self._active if f is not fault]
                return fault
        return None


def status_response(fault: Fault, method: str, path: str) -> WireResponse:
    """The answer of a status fault: Orb's body for the status, retry hint, transient marker."""
    status = cast(int, fault.kind)
    detail = (
        f"orbsim injected HTTP {status} ({fault.id}) for {method} {path}: "
        f"{_DETAILS.get(status, 'a transient server error; retry')}"
    )
    error_class = _STATUS_ERRORS.get(status, OrbInternalServerError)
    error = error_class(detail)
    problem = error.to_problem()
    if status >= 500:
        problem["status"] = status
        if status != 500:
            problem["title"] = _phrase(status) or problem["title"]
    headers = [("content-type", JSON)]
    if fault.retry_after_ms > 0:
        headers.append(("retry-after-ms", str(fault.retry_after_ms)))
    if status >= 500:
        headers.append(("Transient-Error", "true"))
    body = json.dumps(problem, separators=(",", ":")).encode()
    return WireResponse(status, headers, body)


def dropped_response(fault: Fault, method: str, path: str) -> WireResponse:
    """Stands for a request stopped before the simulator: the transport must not deliver it.

    Transports raise (or drop the connection) when ``transport_fault`` is set; a caller of
    ``dispatch`` that ignores the field sees a 503 explaining what happened.
    """
    kind = cast(str, fault.kind)
    error = OrbInternalServerError(
        f"orbsim injected {kind} ({fault.id}) for {method} {path}: the transport drops this "
        "request without an answer"
    )
    problem = error.to_problem()
    problem["status"] = 503
    body = json.dumps(problem, separators=(",", ":")).encode()
    return WireResponse(503, [("content-type", JSON)], body, kind)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
