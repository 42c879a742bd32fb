"""Fixtures of the wire tests: ``sim``'s clock starts at ``START``; ``server`` serves it over
HTTP; ``served`` is an ``orbsim serve`` subprocess; ``receiver`` a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from helpers.receiver import Receiver
from helpers.served import Served
from helpers.wire import START
from orbsim import OrbSim, OrbSimServer


@pytest.fixture
def clock_start() -> datetime:
    """The wire tests' clock (and so ``sim``'s) starts at ``helpers.wire.START``."""
    return START


@pytest.fixture
def server(sim: OrbSim) -> Iterator[OrbSimServer]:
    """``sim`` served over HTTP on a free loopback port, stopped after the test."""
    with sim.serve() as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback HTTP server recording the webhooks it receives (answering 200)."""
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def served() -> Iterator[Served]:
    """``orbsim serve --port 0`` in a subprocess, killed and reaped after the test."""
    server = Served()
    try:
        yield server
    finally:
        server.close()
