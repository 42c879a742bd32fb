"""Webhook signing (``orbsim.wire.delivery.signing``): the HMAC the SDK checks, the timestamp
format, the wall clock that ignores freezegun, and verification under each way of controlling
time (a ManualClock years away, orb_time-style freezing, plain freezegun)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from helpers.webhooks import SDK, START, Account, verify
from orbsim import OrbSim
from orbsim.engine.webhooks import WebhookEndpointRecord, WebhookState
from orbsim.wire.delivery import (
    WebhookDispatcher,
    format_timestamp,
    signature,
    signed_headers,
    wall_clock,
)


def test_signature_is_the_hmac_the_sdk_checks() -> None:
    body = b'{"id":"evt_1"}'
    expected = hmac.new(b"whsec_k", b'v1:2024-01-01T00:00:00:{"id":"evt_1"}', hashlib.sha256)
    assert signature("whsec_k", "2024-01-01T00:00:00", body) == expected.hexdigest()
    headers = signed_headers("whsec_k", body, wall_clock())
    SDK.webhooks.verify_signature(body, headers, secret="whsec_k")
    assert headers["X-Orb-Signature"].startswith("v1=")
    assert headers["Content-Type"] == "application/json"


def test_a_tampered_body_or_wrong_secret_fails_verification() -> None:
    body = b'{"id":"evt_1"}'
    headers = signed_headers("whsec_k", body, wall_clock())
    with pytest.raises(ValueError, match="None of the given webhook signatures match"):
        SDK.webhooks.verify_signature(b'{"id":"evt_2"}', headers, secret="whsec_k")
    with pytest.raises(ValueError, match="None of the given webhook signatures match"):
        SDK.webhooks.verify_signature(body, headers, secret="whsec_other")


def test_timestamp_format() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 1, 5, tzinfo=UTC)
    assert format_timestamp(moment) == "2024-05-01T12:00:01.000005+00:00"
    assert datetime.fromisoformat(format_timestamp(moment)) == moment
    assert format_timestamp(datetime(2024, 5, 1)) == "2024-05-01T00:00:00.000000+00:00"


def test_wall_clock_ignores_freezegun() -> None:
    real = datetime.now(UTC)
    with freeze_time("2020-01-01"):
        assert datetime.now(UTC).year == 2020
        assert abs(wall_clock() - real) < timedelta(minutes=1)


# -- verification under each way of controlling time -----------------------------------------------


def test_receivers_verify_under_a_manual_clock_years_away() -> None:
    account = Account("http://localhost/hooks")
    mount = account.dispatcher.mount("http://localhost/hooks")
    account.sim.clock.advance(days=400)  # type: ignore[attr-defined]
    account.customer_created()
    account.flush()
    (request,) = mount.requests
    event = verify(request, "whsec_1")
    assert event.type == "customer.created"
    assert event.created_at == START + timedelta(days=400)  # the simulated moment, in the payload
    signed = datetime.fromisoformat(request.headers["X-Orb-Timestamp"])
    assert abs(signed - datetime.now(UTC)) < timedelta(minutes=1)  # the real time, in the header


def test_receivers_verify_under_freezegun_that_leaves_the_sdk_alone() -> None:
    """As the plugin's ``orb_time`` freezes: the simulator follows the frozen clock, the SDK's
    modules are ignored and keep real time; wall-clock signing matches the SDK."""
    with freeze_time("2024-05-20T12:00:00Z", tick=False, ignore=["orb."]):
        sim = OrbSim()  # SystemClock: follows the frozen time
        state = WebhookState()
        state.endpoints["we_1"] = WebhookEndpointRecord(
            "we_1", "http://localhost/h", "whsec_1", sim.now(), 1
        )
        dispatcher = WebhookDispatcher()
        mount = dispatcher.mount("http://localhost/h")
        customer = sim.customers.create(name="A", email="a@x.test")
        state.emit("customer.created", at=sim.now(), new_id=lambda: "evt_1", resource=customer)
        dispatcher.deliver(state.drain(), sim.now())
        event = verify(mount.requests[0], "whsec_1")
        assert event.created_at == datetime(2024, 5, 20, 12, tzinfo=UTC)


def test_simulated_signing_pairs_with_a_freezegun_that_freezes_the_sdk_too() -> None:
    with freeze_time("2024-05-20T12:00:00Z", tick=False):
        sim = OrbSim()
        state = WebhookState()
        state.endpoints["we_1"] = WebhookEndpointRecord(
            "we_1", "http://localhost/h", "whsec_1", sim.now(), 1
        )
        wall = WebhookDispatcher()
        simulated = WebhookDispatcher(signature_clock="simulated")
        wall_mount = wall.mount("http://localhost/h")
        sim_mount = simulated.mount("http://localhost/h")
        customer = sim.customers.create(name="A", email="a@x.test")
        state.emit("customer.created", at=sim.now(), new_id=lambda: "evt_1", resource=customer)
        events = state.drain()
        wall.deliver(events, sim.now())
        simulated.deliver(events, sim.now())
        assert sim_mount.requests[0].headers["X-Orb-Timestamp"].startswith("2024-05-20T12:00:00")
        assert verify(sim_mount.requests[0], "whsec_1").type == "customer.created"
        with pytest.raises(ValueError, match="too new"):  # the SDK sees 2024; signed with now
            verify(wall_mount.requests[0], "whsec_1")
