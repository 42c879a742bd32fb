"""Telling listeners about the errors the engine's public operations raise (``sim.on_error``).

``reports_errors`` wraps a service class's public methods: an ``OrbError`` leaving one is handed
to ``Engine.report`` before it propagates (once, however deeply the calls nest). This is what
the pytest plugin's failure report shows as "errors raised", with no patching of ``OrbError``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from orbsim.errors import OrbError

C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])


class _Reporter(Protocol):
    def report(self, error: OrbError) -> None: ...


def reporting(method: F) -> F:
    """Wrap one method of an object whose ``_engine`` is an ``Engine``."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except OrbError as error:
            engine: _Reporter = self._engine
            engine.report(error)
            raise

    return wrapper  # type: ignore[return-value]


_UNREPORTED = "__orbsim_raises_no_orb_error__"


def raises_no_orb_error(method: F) -> F:
    """Mark a public lookup that cannot raise an ``OrbError`` (``customers.get_live``):
    ``reports_errors`` leaves it unwrapped, as wrapping it would report nothing and the engine's
    hot paths call such lookups many times per operation."""
    setattr(method, _UNREPORTED, True)
    return method


def reports_errors(cls: C) -> C:
    """Apply ``reporting`` to every public method defined by ``cls`` (except
    :func:`raises_no_orb_error` lookups)."""
    for name, member in list(vars(cls).items()):
        if (
            not name.startswith("_")
            and inspect.isfunction(member)
            and not getattr(member, _UNREPORTED, False)
        ):
            setattr(cls, name, reporting(member))
    return cls
