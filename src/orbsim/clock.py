"""Where the simulator reads the time from.

``SystemClock`` asks ``datetime.now`` on every call, so freezegun and time-machine move the code
under test and the simulator together. ``ManualClock`` moves only when told, forward only.
"""

from __future__ import annotations

import datetime as _dt
import threading
from typing import Protocol, runtime_checkable

from orbsim.times import to_utc

UTC = _dt.UTC


@runtime_checkable
class Clock(Protocol):
    """Anything with a ``now()`` returning a timezone-aware datetime."""

    def now(self) -> _dt.datetime: ...


class SystemClock:
    """The wall clock (or whatever freezegun / time-machine make of it)."""

    def now(self) -> _dt.datetime:
        # Look the class up on the module at call time: freezegun swaps ``datetime.datetime``.
        return _dt.datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


_aware = to_utc


class ManualClock:
    """A clock that stands still until ``advance`` or ``set`` moves it forward."""

    def __init__(self, start: _dt.datetime | str | None = None) -> None:
        if start is None:
            start = _dt.datetime(2024, 1, 1, tzinfo=UTC)
        elif isinstance(start, str):
            start = _dt.datetime.fromisoformat(start)
        self._now = _aware(start)
        self._lock = threading.Lock()

    def now(self) -> _dt.datetime:
        return self._now

    def advance(self, delta: _dt.timedelta | None = None, /, **kwargs: float) -> _dt.datetime:
        """Move forward by ``delta`` or by ``timedelta(**kwargs)``; returns the new time."""
        step = delta if delta is not None else _dt.timedelta(**kwargs)
        if step < _dt.timedelta(0):
            raise ValueError(f"ManualClock only moves forward; got advance({step})")
        with self._lock:
            self._now = self._now + step
            return self._now

    def set(self, when: _dt.datetime | str) -> _dt.datetime:
        """Jump to ``when`` (not earlier than now); returns it."""
        target = _aware(_dt.datetime.fromisoformat(when) if isinstance(when, str) else when)
        with self._lock:
            if target < self._now:
                raise ValueError(
                    f"ManualClock only moves forward; {target.isoformat()} is before "
                    f"{self._now.isoformat()}"
                )
            self._now = target
            return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()!r})"
