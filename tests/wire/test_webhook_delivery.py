"""Webhook delivery: signatures the SDK verifies (under ManualClock, orb_time-style freezing and
plain freezegun), in-process receivers, HTTP targets on loopback with retries, refusal of other
hosts, order, reentrancy, redelivery, and the delivery log's filters and assertion messages."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import orb
import pytest
from freezegun import freeze_time

from helpers.receiver import Receiver
from orbsim import ManualClock, OrbSim
from orbsim.engine.webhooks import WebhookEndpointRecord, WebhookEvent, WebhookState
from orbsim.wire.delivery import (
    DeliveryLog,
    WebhookDispatcher,
    WebhookRequest,
    format_timestamp,
    signature,
    signed_headers,
    wall_clock,
)

START = datetime(2021, 3, 1, 9, 0, tzinfo=UTC)  # far from the real time: the SDK checks it
SDK = orb.Orb(api_key="unused", base_url="http://orbsim.invalid/v1")


def verify(request: WebhookRequest | Any, secret: str) -> Any:
    """What a receiver does: the SDK's own check and parse."""
    return SDK.webhooks.unwrap(request.body, request.headers, secret=secret)


class Account:
    """A simulator, a webhook state with endpoints, and a dispatcher: the pieces phase 2 wires."""

    def __init__(self, *urls: str, styles: tuple[str, ...] = ()) -> None:
        self.sim = OrbSim(clock=ManualClock(START))
        self.state = WebhookState()
        self.dispatcher = WebhookDispatcher(retry_delays=(0, 0, 0))
        self._n = 0
        for n, url in enumerate(urls, start=1):
            style = styles[n - 1] if n <= len(styles) else "expanded"
            self.state.endpoints[f"we_{n}"] = WebhookEndpointRecord(
                f"we_{n}",
                url,
                f"whsec_{n}",
                START,
                n,
                payload_style=style,  # type: ignore[arg-type]
            )

    def new_id(self) -> str:
        self._n += 1
        return f"evt_{self._n}"

    def customer_created(self, name: str = "Acme") -> WebhookEvent | None:
        customer = self.sim.customers.create(name=name, email=f"{name.lower()}@x.test")
        return self.state.emit(
            "customer.created", at=self.sim.now(), new_id=self.new_id, resource=customer
        )

    def test_event(self, message: str) -> WebhookEvent | None:
        return self.state.emit(
            "resource_event.test",
            at=self.sim.now(),
            new_id=self.new_id,
            properties={"message": message},
        )

    def flush(self) -> None:
        self.dispatcher.deliver(self.state.drain(), self.sim.now())


# -- signing ---------------------------------------------------------------------------------------


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


def test_configure_checks_its_values() -> None:
    dispatcher = WebhookDispatcher()
    assert dispatcher.configure(max_attempts=2, retry_delays=[0.1], timeout=1) is dispatcher
    assert (dispatcher.max_attempts, dispatcher.retry_delays, dispatcher.timeout) == (2, (0.1,), 1)
    with pytest.raises(ValueError, match="max_attempts"):
        dispatcher.configure(max_attempts=0)
    with pytest.raises(ValueError, match="max_attempts"):
        dispatcher.configure(max_attempts=True)
    with pytest.raises(ValueError, match="retry_delays"):
        dispatcher.configure(retry_delays=[-1])
    with pytest.raises(ValueError, match="timeout"):
        dispatcher.configure(timeout=0)
    with pytest.raises(ValueError, match="signature_clock"):
        dispatcher.configure(signature_clock="sundial")  # type: ignore[arg-type]


# -- in-process receivers --------------------------------------------------------------------------


def test_each_endpoint_gets_its_style_and_its_secret() -> None:
    account = Account("http://localhost/a", "http://localhost/b", styles=("expanded", "standard"))
    a = account.dispatcher.mount("http://localhost/a")
    b = account.dispatcher.mount("http://localhost/b")
    account.customer_created()
    account.flush()
    assert verify(a.requests[0], "whsec_1").payload_style == "expanded"
    standard = SDK.webhooks.unwrap_standard(
        b.requests[0].body, b.requests[0].headers, secret="whsec_2"
    )
    assert standard.payload_style == "standard"
    with pytest.raises(ValueError, match="signatures match"):
        verify(b.requests[0], "whsec_1")
    a_delivery, b_delivery = account.dispatcher.deliveries
    assert (a_delivery.endpoint_id, b_delivery.endpoint_id) == ("we_1", "we_2")
    assert a_delivery.event_id == b_delivery.event_id == "evt_1"
    assert a_delivery.via == "receiver" and a_delivery.status == "delivered"


def test_a_receiver_that_raises_is_retried_then_failed_and_never_raises() -> None:
    account = Account("http://localhost/hooks")
    calls: list[str] = []

    def broken(request: WebhookRequest) -> None:
        calls.append(request.json()["id"])
        raise RuntimeError("database is down")

    account.dispatcher.mount("http://localhost/hooks", broken)
    account.customer_created()
    account.flush()  # does not raise
    (delivery,) = account.dispatcher.deliveries
    assert calls == ["evt_1"] * 4
    assert delivery.status == "failed" and len(delivery.attempts) == 4
    assert delivery.attempts[-1].error == "receiver raised RuntimeError: database is down"
    assert "failed after 4 attempts (receiver raised RuntimeError" in delivery.summary()


def test_a_receiver_answering_500_once_gets_the_same_event_again() -> None:
    account = Account("http://localhost/hooks")
    answers = iter([500, None])
    seen: list[tuple[str, str]] = []

    def flaky(request: WebhookRequest) -> int | None:
        seen.append((request.json()["id"], request.headers["X-Orb-Timestamp"]))
        return next(answers)

    account.dispatcher.mount("http://localhost/hooks", flaky)
    account.customer_created()
    account.flush()
    (delivery,) = account.dispatcher.deliveries
    assert [a.status for a in delivery.attempts] == [500, 200]
    assert delivery.status == "delivered"
    assert seen[0][0] == seen[1][0] == "evt_1"  # the same event id: receivers deduplicate by it


def test_a_receiver_returning_nonsense_is_a_failed_attempt() -> None:
    account = Account("http://localhost/hooks")
    account.dispatcher.configure(max_attempts=1)
    account.dispatcher.mount("http://localhost/hooks", lambda request: "ok")  # type: ignore[arg-type, return-value]
    account.customer_created()
    account.flush()
    (delivery,) = account.dispatcher.deliveries
    assert delivery.status == "failed"
    assert delivery.attempts[0].error == "receiver returned 'ok'; return None or an HTTP status"


def test_deliveries_arrive_in_the_order_things_happened() -> None:
    account = Account("http://localhost/hooks")
    mount = account.dispatcher.mount("http://localhost/hooks")
    account.customer_created("First")
    account.sim.clock.advance(minutes=1)  # type: ignore[attr-defined]
    account.test_event("second")
    account.customer_created("Third")
    account.flush()
    received = [r.json() for r in mount.requests]
    assert [r["id"] for r in received] == ["evt_1", "evt_2", "evt_3"]
    assert received[0]["customer"]["name"] == "First"
    assert received[1]["properties"] == {"message": "second"}


def test_events_caused_by_a_receiver_come_after_the_current_one() -> None:
    """A receiver that makes the simulator do more (here: emits another event) does not get the
    new event nested inside its own delivery; it comes next, in order."""
    account = Account("http://localhost/a", "http://localhost/b")
    order: list[str] = []

    def reacting(request: WebhookRequest) -> None:
        payload = request.json()
        order.append(f"a:{payload['id']}")
        if payload["type"] == "customer.created":
            account.test_event("reaction")
            account.flush()

    account.dispatcher.mount("http://localhost/a", reacting)
    account.dispatcher.mount(
        "http://localhost/b", lambda request: order.append(f"b:{request.json()['id']}")
    )
    account.customer_created()
    account.flush()
    assert order == ["a:evt_1", "b:evt_1", "a:evt_2", "b:evt_2"]


def test_unmounting_mid_way_fails_the_delivery_without_network() -> None:
    account = Account("http://localhost/hooks")
    account.dispatcher.mount("http://localhost/hooks")
    account.customer_created()
    events = account.state.drain()
    account.dispatcher.enqueue(events, account.sim.now())
    account.dispatcher.unmount("http://localhost/hooks")
    account.dispatcher.pump()
    (delivery,) = account.dispatcher.deliveries
    assert delivery.status == "failed"
    assert delivery.attempts[0].error == (
        "no receiver is mounted at 'http://localhost/hooks' any more"
    )


def test_redelivery_sends_the_same_body_signed_anew() -> None:
    account = Account("http://localhost/hooks")
    mount = account.dispatcher.mount("http://localhost/hooks")
    account.customer_created()
    account.flush()
    first = account.dispatcher.deliveries[0]
    again = account.dispatcher.redeliver(first.id, account.sim.now())
    assert again.redelivery_of == first.id and again.id != first.id
    assert again.body == first.body and again.status == "delivered"
    assert [r.json()["id"] for r in mount.requests] == ["evt_1", "evt_1"]
    verify(mount.requests[1], "whsec_1")
    with pytest.raises(LookupError):
        account.dispatcher.redeliver("dlv_404", account.sim.now())


# -- HTTP targets ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_http_delivery_to_a_loopback_server_verifies(receiver: Receiver) -> None:
    account = Account(receiver.url)
    account.customer_created()
    account.flush()
    assert account.dispatcher.flush(timeout=10)
    ((headers, body),) = receiver.requests
    event = SDK.webhooks.unwrap(body, headers, secret="whsec_1")
    assert event.type == "customer.created"
    assert headers["User-Agent"] == "orbsim-webhooks/1"
    (delivery,) = account.dispatcher.deliveries
    assert delivery.via == "http" and delivery.status == "delivered"
    assert delivery.attempts[0].status == 200


def test_http_non_2xx_is_retried_with_the_same_event(receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    account = Account(receiver.url)
    account.customer_created()
    account.flush()
    assert account.dispatcher.flush(timeout=10)
    (delivery,) = account.dispatcher.deliveries
    assert [a.status for a in delivery.attempts] == [500, 503, 200]
    assert delivery.status == "delivered"
    assert len({json.loads(body)["id"] for _, body in receiver.requests}) == 1


def test_http_gives_up_after_max_attempts(receiver: Receiver) -> None:
    receiver.statuses = [500] * 10
    account = Account(receiver.url)
    account.dispatcher.configure(max_attempts=3)
    account.customer_created()
    account.flush()
    assert account.dispatcher.flush(timeout=10)
    (delivery,) = account.dispatcher.deliveries
    assert [a.status for a in delivery.attempts] == [500, 500, 500]
    assert delivery.status == "failed" and len(receiver.requests) == 3


def test_http_connection_errors_are_retried_then_failed() -> None:
    account = Account(f"http://127.0.0.1:{free_port()}/hooks")
    account.dispatcher.configure(max_attempts=2, timeout=2)
    account.customer_created()
    account.flush()  # returns at once: HTTP goes through the background worker
    assert account.dispatcher.flush(timeout=10)
    (delivery,) = account.dispatcher.deliveries
    assert delivery.status == "failed"
    assert [a.status for a in delivery.attempts] == [None, None]
    assert all(a.error and a.error.startswith("ConnectError") for a in delivery.attempts)


def test_http_keeps_the_order_across_retries(receiver: Receiver) -> None:
    receiver.statuses = [500]
    account = Account(receiver.url)
    for n in range(5):
        account.test_event(f"m{n}")
    account.flush()
    assert account.dispatcher.flush(timeout=10)
    messages = [json.loads(body)["properties"]["message"] for _, body in receiver.requests]
    assert messages == ["m0", "m0", "m1", "m2", "m3", "m4"]


def test_non_loopback_hosts_are_never_contacted() -> None:
    """An endpoint whose host is not allowed (any more) fails without a network attempt."""
    account = Account("http://198.51.100.7/hooks")  # TEST-NET-2: would never answer anyway
    account.customer_created()
    account.flush()
    assert account.dispatcher.flush(timeout=10)
    (delivery,) = account.dispatcher.deliveries
    assert delivery.status == "failed" and len(delivery.attempts) == 1
    assert delivery.attempts[0].error is not None
    assert delivery.attempts[0].error.startswith("refused: url: host '198.51.100.7'")


def test_allowed_hosts_are_consulted_before_each_attempt() -> None:
    account = Account("http://hooks.example/x")
    allowed: set[str] = set()
    account.dispatcher = WebhookDispatcher(lambda: frozenset(allowed), retry_delays=())
    mount = account.dispatcher.mount("http://hooks.example/x")  # mounted: never network
    account.customer_created()
    account.flush()
    assert len(mount.requests) == 1  # receivers are in-process: no host rule applies


def test_the_worker_thread_stops_when_idle(receiver: Receiver) -> None:
    account = Account(receiver.url)
    account.customer_created()
    account.flush()
    assert account.dispatcher.flush(timeout=10)
    for _ in range(100):
        if account.dispatcher._worker is None:
            break
        threading.Event().wait(0.01)
    assert account.dispatcher._worker is None
    assert not [t for t in threading.enumerate() if t.name == "orbsim-webhooks"]


# -- the log ---------------------------------------------------------------------------------------


def test_log_filters_and_helpers() -> None:
    account = Account("http://localhost/a", "http://localhost/b")
    account.dispatcher.mount("http://localhost/a")
    account.dispatcher.mount("http://localhost/b", lambda request: 500)
    account.dispatcher.configure(max_attempts=1)
    account.customer_created()
    account.test_event("ping")
    account.flush()
    log = account.dispatcher.deliveries
    assert len(log) == 4
    assert log.types() == [
        "customer.created",
        "customer.created",
        "resource_event.test",
        "resource_event.test",
    ]
    assert [d.id for d in log.filter("customer.*")] == ["dlv_1", "dlv_2"]
    assert [d.id for d in log.filter(endpoint_id="we_2")] == ["dlv_2", "dlv_4"]
    assert [d.id for d in log.filter(status="failed")] == ["dlv_2", "dlv_4"]
    assert [d.id for d in log.filter(url="*/a")] == ["dlv_1", "dlv_3"]
    assert log.last("resource_event.test").endpoint_id == "we_2"
    assert log.payloads("resource_event.test", endpoint_id="we_1") == [log[2].payload]
    assert log.get("dlv_3") is log[2]
    data = json.loads(json.dumps(log[0].to_dict()))
    assert data["type"] == "customer.created" and data["attempts"][0]["status"] == 200
    assert data["occurred_at"] == "2021-03-01T09:00:00Z"
    assert json.loads(data["body"])["id"] == "evt_1"
    log.clear()
    assert len(log) == 0 and log.get("dlv_1") is None
    with pytest.raises(LookupError, match=r"no webhook delivery matches customer\.created"):
        log.last("customer.created")


def test_assert_delivered_passes_and_fails_with_a_listing() -> None:
    account = Account("http://localhost/a")
    account.dispatcher.mount("http://localhost/a")
    account.customer_created("Acme")
    account.flush()
    log = account.dispatcher.deliveries
    acme = {"customer": {"name": "Acme"}}
    (found,) = log.assert_delivered("customer.created", times=1, payload=acme)
    assert found.endpoint_id == "we_1"
    log.assert_not_delivered("backfill.*")
    with pytest.raises(AssertionError) as info:
        log.assert_delivered("customer.created", payload={"customer": {"name": "Other"}})
    message = str(info.value)
    assert "with a payload containing" in message and "1 matched the type but 0" in message
    assert '-    "name": "Other"' in message and '+    "name": "Acme"' in message
    with pytest.raises(AssertionError, match="to be delivered 2 times\nit was delivered once"):
        log.assert_delivered("customer.created", times=2)
    with pytest.raises(AssertionError, match=r"expected no customer\.created delivery"):
        log.assert_not_delivered("customer.created")
    with pytest.raises(AssertionError, match=r"Webhook deliveries \(1\):\n  dlv_1 customer"):
        log.assert_delivered("invoice.issued")


def test_log_is_bounded() -> None:
    log = DeliveryLog(limit=2)
    account = Account("http://localhost/a")
    account.dispatcher._log = log
    account.dispatcher.mount("http://localhost/a")
    for n in range(3):
        account.test_event(str(n))
    account.flush()
    assert [d.id for d in log] == ["dlv_2", "dlv_3"] and log.get("dlv_1") is None


def test_muted_drops_what_is_handed_over_meanwhile() -> None:
    account = Account("http://localhost/a")
    mount = account.dispatcher.mount("http://localhost/a")
    account.customer_created("Replayed")
    with account.dispatcher.muted():
        account.flush()
    account.customer_created("Live")
    account.flush()
    assert [r.json()["customer"]["name"] for r in mount.requests] == ["Live"]
    assert len(account.dispatcher.deliveries) == 1
