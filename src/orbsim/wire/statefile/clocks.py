"""Clocks that one thread can pin, so that a journalled request replays at the time it ran.

Determinism of the replay: while a journalled request runs, the clock is pinned, on that thread
only, to one reading taken under the lock; the journal records that reading and the replay pins
the clock to it again. Ids come from the simulator's seeded generator, whose state is in the state
file, so replaying the same requests in the same order at the same times rebuilds the same state,
ids included. Admin requests that change state (``POST /_orbsim/clock/advance``,
``POST /_orbsim/reset``) are journalled without a time.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime

from orbsim.clock import ManualClock, SystemClock


class _Pin(threading.local):
    """The pinned time of the current thread (None: not pinned)."""

    at: datetime | None = None


class _Pinnable:
    """Mixin: ``pinned(at)`` makes ``now()`` return ``at`` on the calling thread only."""

    _pin: _Pin

    def now(self) -> datetime:
        at = self._pin.at
        return at if at is not None else super().now()  # type: ignore[misc]

    @contextlib.contextmanager
    def pinned(self, at: datetime) -> Iterator[None]:
        self._pin.at = at
        try:
            yield
        finally:
            self._pin.at = None


class PinnableSystemClock(_Pinnable, SystemClock):
    """The wall clock, pinnable per thread (a ``SystemClock``, so state files say so)."""

    def __init__(self) -> None:
        self._pin = _Pin()


class PinnableManualClock(_Pinnable, ManualClock):
    """A ``ManualClock``, pinnable per thread (``/_orbsim/clock/advance`` moves it)."""

    def __init__(self, start: datetime | str | None = None) -> None:
        super().__init__(start)
        self._pin = _Pin()


PinnableClock = PinnableSystemClock | PinnableManualClock
