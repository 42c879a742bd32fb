"""Wire-level state (faults, rate-limit buckets, the request log) kept on the simulator object.

The engine knows nothing of these; each lives in the simulator's ``__dict__`` under its own name
and is created once, under the simulator's lock, the first time the wire layer asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

if TYPE_CHECKING:
    from orbsim.engine.sim import OrbSim

T = TypeVar("T")


def attached(sim: OrbSim, name: str, factory: Callable[[], T]) -> T:
    """``sim``'s value under ``name``, made by ``factory`` on first use (thread-safe)."""
    value = sim.__dict__.get(name)
    if value is None:
        with sim._lock:
            value = sim.__dict__.get(name)
            if value is None:
                value = sim.__dict__[name] = factory()
    return cast(T, value)
