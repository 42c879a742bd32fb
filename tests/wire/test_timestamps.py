"""One timestamp format on the way out, API and admin alike: UTC with ``Z``, and fractional
seconds only as far as they are needed (none, milliseconds or microseconds), so a timestamp
sent as ``...:00.123Z`` comes back as ``...:00.123Z``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from helpers.wire import START, call, make_sim, payload
from orbsim.engine.timeparse import format_timestamp


@pytest.mark.parametrize(
    ("sent", "returned"),
    [
        ("2024-05-15T11:00:00Z", "2024-05-15T11:00:00Z"),
        ("2024-05-15T11:00:00.123Z", "2024-05-15T11:00:00.123Z"),
        ("2024-05-15T11:00:00.120Z", "2024-05-15T11:00:00.120Z"),
        ("2024-05-15T11:00:00.123456Z", "2024-05-15T11:00:00.123456Z"),
        ("2024-05-15T11:00:00.123400Z", "2024-05-15T11:00:00.123400Z"),
        ("2024-05-15T13:00:00.5+02:00", "2024-05-15T11:00:00.500Z"),
    ],
)
def test_search_returns_the_timestamp_as_sent(sent: str, returned: str) -> None:
    sim = make_sim()
    event = {
        "idempotency_key": "a",
        "event_name": "api_call",
        "timestamp": sent,
        "properties": {},
        "external_customer_id": "acme",
    }
    assert call(sim, "POST", "/v1/ingest", {"events": [event]}).status == 200
    found = payload(call(sim, "POST", "/v1/events/search", {"event_ids": ["a"]}))
    assert found["data"][0]["timestamp"] == returned


def test_format_timestamp() -> None:
    assert format_timestamp(START) == "2024-05-15T12:00:00Z"
    assert format_timestamp(START + timedelta(microseconds=1)) == "2024-05-15T12:00:00.000001Z"


def test_the_admin_api_writes_the_same_format() -> None:
    sim = make_sim()
    clock = payload(call(sim, "GET", "/_orbsim/clock"))
    assert clock["now"] == "2024-05-15T12:00:00Z"
    call(sim, "GET", "/v1/ping")
    logged = payload(call(sim, "GET", "/_orbsim/requests"))["data"]
    assert logged[0]["at"] == "2024-05-15T12:00:00Z"
    late = payload(call(sim, "POST", "/_orbsim/clock/advance", {"to": "2024-05-15T12:00:00.25Z"}))
    assert late["now"] == "2024-05-15T12:00:00.250Z"
