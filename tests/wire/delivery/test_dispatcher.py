"""The webhook dispatcher (``orbsim.wire.delivery.dispatcher``): its policy, in-process
receivers (styles and secrets, retries, nonsense answers, order, reentrancy, unmounting,
redelivery), HTTP targets on loopback with retries, refusal of other hosts, and the worker
thread's lifetime."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from helpers.receiver import Receiver
from helpers.webhooks import SDK, Account, verify
from orbsim.wire.delivery import (
    WebhookDispatcher,
    WebhookRequest,
)


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
