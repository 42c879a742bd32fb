"""Webhook endpoint rules (``orbsim.engine.webhooks.endpoint_rules``): the URL policy, event
types, payload style, the endpoint limit, and the endpoint record's fields and subscriptions."""

from __future__ import annotations

import pytest

from helpers.webhook_events import START
from orbsim.engine.webhooks import (
    WebhookEndpointRecord,
    check_endpoint_count,
    check_event_types,
    check_payload_style,
    check_webhook_url,
)
from orbsim.errors import ConstraintViolation, RequestValidationError


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/hooks",
        "https://localhost:8443/hooks",
        "http://127.0.0.1:9000/",
        "http://127.9.9.9/x",
        "http://[::1]:8080/x",
        "http://api.localhost/x",
        "http://LOCALHOST./x",
    ],
)
def test_loopback_urls_are_accepted(url: str) -> None:
    assert check_webhook_url(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://localhost/x", "scheme 'ftp'"),
        ("localhost/hooks", "scheme ''"),
        ("http:///path", "has no host"),
        ("http://localhost:99999/x", "not a valid URL"),
        ("https://example.com/hooks", "host 'example.com'"),
        ("http://10.0.0.5/hooks", "not a loopback address"),
        ("http://localhost.example.com/x", "not a loopback address"),
        ("", "non-empty string"),
        ("http://localhost/" + "x" * 2100, "at most 2048"),
    ],
)
def test_bad_urls_are_refused_naming_the_problem(url: str, message: str) -> None:
    with pytest.raises(RequestValidationError, match=message):
        check_webhook_url(url)


def test_url_check_names_the_value_and_the_setting() -> None:
    with pytest.raises(RequestValidationError) as info:
        check_webhook_url("https://hooks.example.com/orb")
    assert "'https://hooks.example.com/orb'" in info.value.detail
    assert "Settings.webhook_allowed_hosts" in info.value.detail
    with pytest.raises(RequestValidationError, match="non-empty string"):
        check_webhook_url(42)


def test_allowed_hosts_open_other_hosts() -> None:
    allowed = frozenset({"hooks.example.com"})
    assert check_webhook_url("https://hooks.example.com/x", allowed)
    with pytest.raises(RequestValidationError):
        check_webhook_url("https://other.example.com/x", allowed)
    assert check_webhook_url("https://anywhere.example/x", frozenset({"*"}))
    with pytest.raises(RequestValidationError, match="scheme"):
        check_webhook_url("ftp://anywhere.example/x", frozenset({"*"}))


def test_event_types_are_checked_and_deduplicated() -> None:
    assert check_event_types(None) is None
    assert check_event_types([]) == ()
    assert check_event_types(["customer.created", "invoice.issued", "customer.created"]) == (
        "customer.created",
        "invoice.issued",
    )
    with pytest.raises(RequestValidationError, match=r"'customer\.exploded' is not a webhook"):
        check_event_types(["customer.created", "customer.exploded"])
    with pytest.raises(RequestValidationError, match="expected a list"):
        check_event_types("customer.created")
    with pytest.raises(RequestValidationError, match="is not a webhook event type"):
        check_event_types([1])


def test_payload_style_defaults_to_the_account_style() -> None:
    assert check_payload_style(None, "standard") == "standard"
    assert check_payload_style("expanded", "standard") == "expanded"
    with pytest.raises(RequestValidationError, match="'compact'"):
        check_payload_style("compact", "expanded")


def test_endpoint_limit() -> None:
    check_endpoint_count(19, 20)
    with pytest.raises(ConstraintViolation, match="already has 20 webhook endpoints; at most 20"):
        check_endpoint_count(20, 20)


def test_endpoint_record_fields_and_subscriptions() -> None:
    record = WebhookEndpointRecord("we_1", "http://localhost/h", "whsec_x", START, 1)
    assert record.wants("customer.created")
    record.enabled_event_types = ("backfill.reflected",)
    assert not record.wants("customer.created") and record.wants("backfill.reflected")
    record.enabled = False
    assert not record.wants("backfill.reflected")
    assert record.fields() == {
        "id": "we_1",
        "created_at": START,
        "enabled": False,
        "enabled_event_types": ["backfill.reflected"],
        "payload_style": "expanded",
        "url": "http://localhost/h",
    }
