"""Where the simulator reads the time from.

``SystemClock`` asks ``datetime.now`` on every call, so freezegun and time-machine move the code
under test and the simulator together. ``ManualClock`` moves only when told, forward only.
"""

from __future__ import annotations

import datetime as _dt
import sys
import threading
import warnings
from typing import Protocol, runtime_checkable

from orbsim.times import to_utc

UTC = _dt.UTC


class ClockConflictWarning(UserWarning):
    """A ``ManualClock`` was made while freezegun froze time: two clocks that will disagree."""


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


def _moment(value: object, call: str) -> _dt.datetime:
    """A datetime or an ISO 8601 string, as aware UTC; a clear error naming ``call`` otherwise."""
    if isinstance(value, _dt.datetime):
        return _aware(value)
    if isinstance(value, str):
        try:
            return _aware(_dt.datetime.fromisoformat(value))
        except ValueError:
            raise ValueError(
                f"{call}: {value!r} is not an ISO 8601 time; give a datetime or a string such "
                "as '2024-05-20T12:00:00Z'"
            ) from None
    raise TypeError(f"{call}: expected a datetime or an ISO 8601 string, got {value!r}")


_GOING_BACK = (
    "a ManualClock only moves forward (settled backfills and invoices cannot be undone); to go "
    "back, restore a sim.snapshot() taken earlier or start a new simulator"
)


def _time_is_frozen() -> bool:
    """Whether freezegun is freezing time right now (without importing it)."""
    api = sys.modules.get("freezegun.api")
    return bool(getattr(api, "freeze_factories", None))


class ManualClock:
    """A clock that stands still until ``advance`` or ``set`` moves it forward.

    Made while freezegun freezes time, it warns (``ClockConflictWarning``): the code under test
    then reads the frozen time and the simulator its own, and the two drift apart as soon as
    either moves. Use the default ``SystemClock`` to follow freezegun.
    """

    def __init__(self, start: _dt.datetime | str | None = None) -> None:
        if start is None:
            self._now = _dt.datetime(2024, 1, 1, tzinfo=UTC)
        else:
            self._now = _moment(start, "ManualClock(start)")
        self._lock = threading.Lock()
        if _time_is_frozen():
            warnings.warn(
                ClockConflictWarning(
                    "ManualClock made while freezegun freezes time: the simulator will read the "
                    "ManualClock and the code under test the frozen time, two clocks that "
                    "disagree once either moves; use OrbSim() (its SystemClock follows freezegun)"
                    " or stop freezing time"
                ),
                stacklevel=2,
            )

    def now(self) -> _dt.datetime:
        return self._now

    def advance(self, delta: _dt.timedelta | None = None, /, **kwargs: float) -> _dt.datetime:
        """Move forward by ``delta`` or by ``timedelta(**kwargs)``; returns the new time."""
        step = delta if delta is not None else _dt.timedelta(**kwargs)
        if step < _dt.timedelta(0):
            raise ValueError(
                f"ManualClock.advance(-{-step}): {_GOING_BACK} (now {self._now.isoformat()})"
            )
        with self._lock:
            self._now = self._now + step
            return self._now

    def set(self, when: _dt.datetime | str) -> _dt.datetime:
        """Jump to ``when`` (not earlier than now); returns it."""
        target = _moment(when, "ManualClock.set")
        with self._lock:
            if target < self._now:
                raise ValueError(
                    f"ManualClock.set({target.isoformat()}) is before now "
                    f"({self._now.isoformat()}): {_GOING_BACK}"
                )
            self._now = target
            return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()!r})"
