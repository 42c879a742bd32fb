"""Optional rate limits per API key, on the simulator's clock (all off by default).

Two knobs of orbsim's own, and Orb's published tables:

* ``Settings.requests_per_second``: one bucket over every API request;
* ``Settings.events_per_minute``: one bucket of ingested events (a ``POST /ingest`` costs as many
  tokens as its ``events`` array holds; other requests cost none);
* ``Settings.rate_limit_preset``: Orb's limits by category, as docs.withorb.com/api-reference/
  rate-limits publishes them for test mode, live mode and trial accounts (``PRESETS``). Orb's
  categories: analytics (subscription usage and costs, customer costs), read-only queries (every
  other GET), write actions (every POST, PUT, PATCH and DELETE except ingest; ``POST
  /events/search`` is a POST, so it counts as a write, as the table says), ingest requests, and
  ingested events per minute. (Orb's ledger category covers credit-balance endpoints, which
  orbsim does not serve.)

Each limit is a token bucket, implemented as GCRA (one "theoretical arrival time" per key and
bucket, so memory does not grow with traffic). A limit of N per second holds a burst of
``max(1, N)`` requests refilled at N per second; N events per minute hold N events refilled at
N / 60 per second.

A request is admitted only if every bucket it touches can pay for it; otherwise it gets 429
``too-many-requests`` and changes nothing (no token is taken, the engine is not called). Orb
documents the 429 and recommends exponential backoff; it documents no rate-limit headers. The
headers are orbsim's own, chosen because the SDKs honour them: ``retry-after-ms`` is the exact
wait, rounded up to a whole millisecond, until this request would be admitted (if nothing else
arrives meanwhile); ``retry-after`` is the same in whole seconds, rounded up (HTTP's format). No
``x-should-retry`` header: the SDK retries it. Only a batch larger than a whole events bucket,
which can never be admitted, carries ``x-should-retry: false``.

Arithmetic is exact (integer microseconds and fractions), so with a ``ManualClock`` the advertised
wait is exactly right: advancing by it admits the request, one microsecond less does not.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

from orbsim.engine.timeparse import iso
from orbsim.errors import TooManyRequests
from orbsim.times import to_utc
from orbsim.wire.codec import JSON
from orbsim.wire.messages import WireResponse

if TYPE_CHECKING:
    from orbsim.settings import Settings

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_SECOND = 1_000_000
_MINUTE = 60 * _SECOND


Category = Literal["analytics", "read", "write", "ingest"]


@dataclass(frozen=True, slots=True)
class Preset:
    """One of Orb's published rate-limit tables: requests per second by category, and ingested
    events per minute."""

    label: str
    per_second: Mapping[Category, int]
    events_per_minute: int


PRESETS: Mapping[str, Preset] = {
    "orb_test_mode": Preset(
        "Orb test mode", {"analytics": 5, "read": 50, "write": 5, "ingest": 10}, 2_000
    ),
    "orb_live_mode": Preset(
        "Orb live mode", {"analytics": 10, "read": 100, "write": 50, "ingest": 100}, 10_000
    ),
    "orb_trial": Preset("Orb trial", {"analytics": 1, "read": 10, "write": 1, "ingest": 2}, 100),
}
"""docs.withorb.com/api-reference/rate-limits: live mode, test mode and trial columns."""

_NOUNS: Mapping[Category, str] = {
    "analytics": "analytics queries",
    "read": "read requests",
    "write": "write requests",
    "ingest": "ingest requests",
}
_ANALYTICS = (
    re.compile(r"/subscriptions/[^/]+/(?:usage|costs)"),
    re.compile(r"/customers/(?:external_customer_id/)?[^/]+/costs"),
)


def preset_category(method: str, path: str) -> Category:
    """Orb's rate-limit category of a request (``path`` with or without the ``/v1`` prefix)."""
    path = path.removeprefix("/v1")
    method = method.upper()
    if method == "GET":
        if any(pattern.fullmatch(path) for pattern in _ANALYTICS):
            return "analytics"
        return "read"
    if method == "POST" and path == "/ingest":
        return "ingest"
    return "write"


@dataclass(frozen=True, slots=True)
class _Limit:
    bucket: str
    interval: Fraction
    """Microseconds per token."""
    burst: Fraction
    """Tokens the bucket holds when full."""
    cost: int
    label: str


def _limits(settings: Settings, method: str, path: str, events: int) -> list[_Limit]:
    """The buckets a request pays into (``events``: how many events an ingest carries)."""
    limits: list[_Limit] = []
    rps = settings.requests_per_second
    if rps is not None:
        rate = Fraction(repr(rps))
        burst = max(Fraction(1), rate)
        limits.append(
            _Limit("requests", _SECOND / rate, burst, 1, f"{_number(rps)} requests per second")
        )
    epm = settings.events_per_minute
    if epm is not None and events > 0:
        limits.append(
            _Limit(
                "events", Fraction(_MINUTE, epm), Fraction(epm), events, f"{epm} events per minute"
            )
        )
    name = settings.rate_limit_preset
    if name is not None:
        preset = PRESETS[name]
        category = preset_category(method, path)
        rate_n = preset.per_second[category]
        limits.append(
            _Limit(
                f"{name}:{category}",
                Fraction(_SECOND, rate_n),
                Fraction(max(1, rate_n)),
                1,
                f"{rate_n} {_NOUNS[category]} per second ({preset.label})",
            )
        )
        if category == "ingest" and events > 0:
            per_minute = preset.events_per_minute
            limits.append(
                _Limit(
                    f"{name}:events",
                    Fraction(_MINUTE, per_minute),
                    Fraction(per_minute),
                    events,
                    f"{per_minute} ingested events per minute ({preset.label})",
                )
            )
    return limits


class RateLimiter:
    """The buckets of one simulator, keyed by (API key, bucket name)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tat: dict[tuple[str, str], Fraction] = {}
        """Theoretical arrival time (µs since the epoch) per bucket: full when <= now."""

    def admit(
        self,
        settings: Settings,
        api_key: str,
        now: datetime,
        events: int,
        method: str = "GET",
        path: str = "/",
    ) -> WireResponse | None:
        """None if the request may proceed (its tokens are taken); else the 429 answer."""
        limits = _limits(settings, method, path, events)
        for limit in limits:
            if limit.cost > limit.burst:
                return _refusal(
                    f"this request carries {limit.cost} events but the limit is {limit.label} "
                    "per API key: it can never be admitted; send smaller batches",
                    None,
                )
        now = to_utc(now)
        at = Fraction((now - _EPOCH) // _MICROSECOND)
        plans: list[tuple[tuple[str, str], Fraction]] = []
        waits: list[tuple[Fraction, str]] = []
        with self._lock:
            for limit in limits:
                bucket = (api_key, limit.bucket)
                capacity = limit.burst * limit.interval
                new_tat = max(self._tat.get(bucket, at), at) + limit.cost * limit.interval
                if new_tat - at > capacity:
                    waits.append((new_tat - capacity - at, limit.label))
                plans.append((bucket, new_tat))
            if not waits:
                for bucket, new_tat in plans:
                    self._tat[bucket] = new_tat
                return None
        wait = max(w for w, _ in waits)
        names = " and ".join(name for _, name in waits)
        wait_ms = math.ceil(wait / 1000)
        admitted = now + timedelta(microseconds=math.ceil(wait))
        return _refusal(
            f"rate limit exceeded: at most {names} per API key; this request would be admitted "
            f"in {wait_ms} ms (at {iso(admitted)})",
            wait,
        )

    def reset(self) -> None:
        """Forget every bucket (all full again)."""
        with self._lock:
            self._tat.clear()


def limited(settings: Settings) -> bool:
    """Whether any rate limit is configured (else ``admit`` need not be called)."""
    return (
        settings.requests_per_second is not None
        or settings.events_per_minute is not None
        or settings.rate_limit_preset is not None
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _refusal(detail: str, wait_us: Fraction | None) -> WireResponse:
    problem = TooManyRequests(detail).to_problem()
    headers = [("content-type", JSON)]
    if wait_us is None:
        headers.append(("x-should-retry", "false"))
    else:
        headers.append(("retry-after", str(math.ceil(wait_us / _SECOND))))
        headers.append(("retry-after-ms", str(math.ceil(wait_us / 1000))))
    return WireResponse(429, headers, json.dumps(problem, separators=(",", ":")).encode())


def count_events(body: bytes) -> int:
    """Events in an ingest body; 0 if it is not a JSON object with an ``events`` array (such a
    request is refused by the endpoint anyway and should not be charged for events)."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return 0
    if type(value) is dict:
        events = value.get("events")
        if type(events) is list:
            return len(events)
    return 0
