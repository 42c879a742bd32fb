"""Optional rate limits per API key, on the simulator's clock: ``Settings.requests_per_second``
and ``Settings.events_per_minute`` (both off by default).

Each limit is a token bucket, implemented as GCRA (one "theoretical arrival time" per key and
limit, so memory does not grow with traffic):

* requests: a bucket of ``max(1, requests_per_second)`` requests refilled at
  ``requests_per_second`` per second, i.e. a burst of one second's worth, then a steady rate;
* events: a bucket of ``events_per_minute`` events refilled at ``events_per_minute / 60`` per
  second; a ``POST /ingest`` costs as many tokens as its ``events`` array holds (other requests
  cost none).

A request is admitted only if both buckets can pay for it; otherwise it gets 429
``too-many-requests`` and changes nothing (no token is taken, the engine is not called). The
answer's ``retry-after-ms`` is the exact wait, rounded up to a whole millisecond, until this
request would be admitted (if nothing else arrives meanwhile); ``retry-after`` is the same in
whole seconds, rounded up (HTTP's format). No ``x-should-retry`` header: the SDK retries it. Only
a batch larger than the whole events bucket, which can never be admitted, carries
``x-should-retry: false``.

Arithmetic is exact (integer microseconds and fractions), so with a ``ManualClock`` the advertised
wait is exactly right: advancing by it admits the request, one microsecond less does not.
"""

from __future__ import annotations

import json
import math
import threading
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import TYPE_CHECKING

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


class RateLimiter:
    """The buckets of one simulator, keyed by (API key, limit name)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tat: dict[tuple[str, str], Fraction] = {}
        """Theoretical arrival time (µs since the epoch) per bucket: full when <= now."""

    def admit(
        self, settings: Settings, api_key: str, now: datetime, events: int
    ) -> WireResponse | None:
        """None if the request may proceed (its tokens are taken); else the 429 answer."""
        now = to_utc(now)
        at = Fraction((now - _EPOCH) // _MICROSECOND)
        rps = settings.requests_per_second
        epm = settings.events_per_minute
        plans: list[tuple[tuple[str, str], Fraction, Fraction]] = []
        """(bucket, new arrival time, latest admissible arrival time) of each bucket paid."""
        waits: list[tuple[Fraction, str]] = []
        with self._lock:
            if rps is not None:
                rate = Fraction(repr(rps))
                interval = _SECOND / rate
                capacity = max(Fraction(1), rate) * interval
                bucket = (api_key, "requests")
                new_tat = max(self._tat.get(bucket, at), at) + interval
                if new_tat - at > capacity:
                    waits.append((new_tat - capacity - at, f"{_number(rps)} requests per second"))
                plans.append((bucket, new_tat, capacity))
            if epm is not None and events > 0:
                interval = Fraction(_MINUTE, epm)
                if events > epm:
                    return _refusal(
                        f"this request carries {events} events but the limit is {epm} events "
                        "per minute per API key: it can never be admitted; send smaller batches",
                        None,
                    )
                capacity = epm * interval
                bucket = (api_key, "events")
                new_tat = max(self._tat.get(bucket, at), at) + events * interval
                if new_tat - at > capacity:
                    waits.append((new_tat - capacity - at, f"{epm} events per minute"))
                plans.append((bucket, new_tat, capacity))
            if not waits:
                for bucket, new_tat, _ in plans:
                    self._tat[bucket] = new_tat
                return None
        wait = max(w for w, _ in waits)
        limits = " and ".join(name for _, name in waits)
        wait_ms = math.ceil(wait / 1000)
        admitted = now + timedelta(microseconds=math.ceil(wait))
        return _refusal(
            f"rate limit exceeded: at most {limits} per API key; this request would be admitted "
            f"in {wait_ms} ms (at {admitted.isoformat().replace('+00:00', 'Z')})",
            wait,
        )

    def reset(self) -> None:
        """Forget every bucket (all full again)."""
        with self._lock:
            self._tat.clear()


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
