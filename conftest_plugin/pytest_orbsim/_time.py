"""``orb_time``: freezegun-based time control shared by the code under test and the simulator."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_NOW = "2024-05-20T12:00:00Z"
"""Where ``orb_time`` freezes the clock unless ``@pytest.mark.orbsim(now=...)`` says otherwise."""

IGNORE = ["_pytest.timing", "orb."]
"""Modules freezegun leaves alone.

* ``_pytest.timing``: pytest's durations stay real.
* ``orb.`` (the SDK's submodules; the trailing dot keeps ``orbsim`` out): freezegun swaps the
  ``datetime`` class bound in every loaded module, and the SDK's lenient model builder compares
  field types with ``type_ == datetime``; swapped, the comparison fails and ``created_at`` stays a
  string. Unswapped, it parses as usual. freezegun also consults this list up the call stack
  (5 frames), which is fine: the SDK's frames are always farther than that from the simulator's
  clock reads, with httpx in between.

httpx and httpcore must *not* be listed: the in-process transport runs the simulator inside
httpx's frames, so the simulator would read real time again. asyncio is handled by
``real_asyncio=True`` (``asyncio.sleep`` keeps working).
"""


def _utc(value: datetime | str) -> datetime:
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class OrbTime:
    """The frozen clock of one test: ``now()``, ``tick(...)``, ``move_to(...)``.

    Everything reading the time through ``datetime``/``time`` sees it — the test, the code under
    test, the simulator (its default ``SystemClock``), and the server thread of ``orb_server``.
    """

    def __init__(self, factory: Any) -> None:
        self._factory = factory

    def now(self) -> datetime:
        """The frozen time, timezone-aware UTC."""
        frozen: datetime = self._factory()
        return frozen.replace(tzinfo=UTC)

    def tick(self, delta: timedelta | float = 1.0) -> datetime:
        """Move forward by ``delta`` (a timedelta or seconds); returns the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        self._factory.tick(step)
        return self.now()

    def move_to(self, when: datetime | str) -> datetime:
        """Jump to ``when`` (ISO 8601 string or datetime; naive means UTC), even backwards."""
        self._factory.move_to(_utc(when))
        return self.now()

    def __repr__(self) -> str:
        return f"OrbTime({self.now().isoformat()!r})"


@contextmanager
def frozen(now: datetime | str, *, preload_sdk: bool = True) -> Iterator[OrbTime]:
    """Freeze time at ``now`` for the block (the ``orb_time`` fixture's body).

    With ``preload_sdk``, every SDK module is imported first (see ``_preload_sdk``); the fixture
    asks for it only when the test may use the SDK.
    """
    try:
        from freezegun import freeze_time
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "orb_time needs freezegun: pip install 'orbsim[testing]'", name="freezegun"
        ) from exc
    _preload_orbsim(wire=preload_sdk)
    if preload_sdk:
        _preload_sdk()
    with freeze_time(_utc(now), tick=False, ignore=IGNORE, real_asyncio=True) as factory:
        yield OrbTime(factory)


_SKIPPED = ("orbsim.strategies", "orbsim.testing", "orbsim.cli")
"""orbsim modules not preloaded: they import optional packages (hypothesis) or are the CLI."""


def _preload_orbsim(*, wire: bool) -> None:
    """Import orbsim before freezing, for the same reason as the SDK (see ``_preload_sdk``).

    The plugin itself imports nothing of orbsim (it must cost nothing in runs that do not use
    it), so the first fixture to need it may be ``orb_time``; its pydantic models must bind the
    real ``datetime``. With ``wire``, the modules the simulator imports lazily (its HTTP layer)
    are imported too.
    """
    import orbsim

    if not wire or _wire_loaded[:1] == [id(orbsim)]:
        return
    import pkgutil

    for info in pkgutil.walk_packages(orbsim.__path__, "orbsim."):
        if not info.name.startswith(_SKIPPED):
            importlib.import_module(info.name)
    _wire_loaded[:] = [id(orbsim)]


_wire_loaded: list[int] = []


_preloaded: list[str] = []


def _preload_sdk() -> None:
    """Import every SDK module before freezing, so each binds the real ``datetime`` class.

    The SDK imports resources (and their types) lazily, on first use. A module first imported
    while frozen binds freezegun's ``FakeDatetime``, and pydantic cannot build a schema for it
    (``PydanticSchemaGenerationError`` on the first response of that resource). Importing all of
    ``orb.resources`` and ``orb.types`` costs about half a second, once per process; the check
    after that is a dict lookup (it redoes the work if something, like pytester, unloaded them).
    """
    if _preloaded and _preloaded[-1] in sys.modules:
        return
    try:
        import orb  # noqa: F401
    except ImportError:  # the SDK is optional
        return
    import pkgutil

    names = []
    for package_name in ("orb.resources", "orb.types"):
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, package_name + "."):
            importlib.import_module(info.name)
            names.append(info.name)
    _preloaded[:] = names or ["orb"]
