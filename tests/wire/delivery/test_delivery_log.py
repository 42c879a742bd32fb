"""The delivery log (``orbsim.wire.delivery.delivery_log``): filters, helpers, assertion
messages with a listing, its bound, and muting."""

from __future__ import annotations

import json

import pytest

from helpers.webhooks import Account
from orbsim.wire.delivery import (
    DeliveryLog,
)


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
