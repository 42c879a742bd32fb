"""What a failing test's report shows about its simulator: recent requests and errors.

The request log is ``sim.requests`` (the wire layer records every HTTP request it answers). Errors
raised straight from engine calls never pass through it, so while ``orb_sim`` is active the
simulator's ``on_error`` hook also remembers every ``OrbError`` it answered with (last
``ERRORS_SHOWN``), from engine calls and over HTTP alike.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported when used: the plugin must not load orbsim into every pytest run
    from orbsim import OrbError, OrbSim

REQUESTS_SHOWN = 20
ERRORS_SHOWN = 10
SECTION = "orbsim"


class SimRecord:
    """The simulator of one test and the errors raised while it was active."""

    def __init__(self, sim: OrbSim) -> None:
        self.sim = sim
        self.errors: deque[OrbError] = deque(maxlen=ERRORS_SHOWN)


SIM_KEY = pytest.StashKey[SimRecord]()


@contextmanager
def recording_errors(record: SimRecord) -> Iterator[None]:
    """Remember every ``OrbError`` the simulator answers with in the block (``sim.on_error``)."""
    remove = record.sim.on_error(record.errors.append)
    try:
        yield
    finally:
        remove()


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(record: SimRecord) -> str:
    """The report section's text."""
    sim = record.sim
    lines = [f"simulator: {sim!r}"]
    try:
        log = sim.requests.all()
    except Exception as exc:  # the wire layer is optional; never break the report
        log = []
        lines.append(f"(request log unavailable: {exc!r})")
    shown = log[-REQUESTS_SHOWN:]
    if not log:
        lines.append("HTTP requests: none")
    else:
        lines.append(f"HTTP requests (last {len(shown)} of {len(log)}):")
        for request in shown:
            lines.append(f"  {request.summary()}")
            if request.status is not None and request.status >= 400:
                body = request.response
                if isinstance(body, dict):
                    detail = body.get("detail", body)
                    errors = body.get("validation_errors")
                    lines.append(f"      {body.get('title', '')}: {_short(detail)}")
                    if errors and errors != [detail]:
                        lines.append(f"      validation_errors: {_short(errors)}")
                elif body is not None:
                    lines.append(f"      {_short(body)}")
    if record.errors:
        lines.append(f"errors raised (last {len(record.errors)}):")
        for error in record.errors:
            lines.append(f"  {type(error).__name__} ({error.status}): {_short(error.detail)}")
    else:
        lines.append("errors raised: none")
    return "\n".join(lines)
