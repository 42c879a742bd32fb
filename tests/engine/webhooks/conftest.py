"""The engine's webhook tests: ``sim``'s clock starts at ``helpers.webhook_events.START``."""

from __future__ import annotations

from datetime import datetime

import pytest

from helpers.webhook_events import START


@pytest.fixture
def clock_start() -> datetime:
    return START
