"""Customers: create, fetch (by id or alias), list, update, delete — design.md section 4.

The story every test tells: a simulator whose clock stands at 2024-05-20 12:00 UTC, a customer or
two, and one rule of Orb's checked on both sides of its boundary.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orb.types
import pytest
from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st

from helpers.checks import sdk_parses, walk
from helpers.time import US, utc
from orbsim import (
    ConstraintViolation,
    DuplicateResourceCreation,
    ManualClock,
    OrbSim,
    RequestValidationError,
    ResourceNotFound,
    Settings,
)
from orbsim.models import Customer

NOW = "2024-05-20T12:00:00Z"
GRACE = Settings().grace_period  # 12 h
# A monthly subscription started today (default start: today's midnight) has a first period
# [2024-05-20, 2024-06-01) that is invoiced at its end + grace period.
FIRST_PERIOD_END = datetime(2024, 6, 1, tzinfo=UTC)
INVOICED_AT = FIRST_PERIOD_END + GRACE


def new_customer(sim: OrbSim, name: str = "Acme", **fields: Any) -> Customer:
    return sim.customers.create(name=name, email=f"{name.lower()}@example.com", **fields)


def subscribe(sim: OrbSim, customer: Customer, currency: str = "USD", **fields: Any) -> Any:
    plan = sim.plans.create(name=f"{currency} plan", currency=currency)
    return sim.subscriptions.create(customer_id=customer.id, plan_id=plan.id, **fields)


def listed(sim: OrbSim, **filters: Any) -> list[str]:
    return [c.id for c in sim.customers.list(limit=100, **filters).data]


def state(sim: OrbSim) -> list[dict[str, Any]]:
    """Everything a user can see of the customers, to compare before/after a rejected call."""
    return [c.model_dump() for c in sim.customers.list(limit=100).data]


# --------------------------------------------------------------------------------------------------
# Create


def test_create_returns_a_customer_with_orbs_defaults(sim: OrbSim) -> None:
    customer = sim.customers.create(name="Acme", email="billing@acme.test")

    assert customer.name == "Acme"
    assert customer.email == "billing@acme.test"
    assert customer.created_at == utc(2024, 5, 20, 12)
    assert customer.timezone == "Etc/UTC"
    assert customer.external_customer_id is None
    assert customer.currency is None
    assert customer.metadata == {}
    assert customer.balance == "0.00"
    assert sim.customers.fetch(customer.id) == customer
    data = sdk_parses(customer, orb.types.Customer)
    assert data["created_at"] == "2024-05-20T12:00:00Z"


def test_create_with_every_field_parses_with_the_sdk(sim: OrbSim) -> None:
    customer = sim.customers.create(
        name="Acme",
        email="billing@acme.test",
        external_customer_id="acme",
        timezone="Europe/Paris",
        currency="eur",
        metadata={"tier": "gold", "dropped": None},
        payment_provider="stripe_charge",
        payment_provider_id="cus_stripe_1",
        billing_address={"line1": "1 Rue de Rivoli", "city": "Paris", "country": "FR"},
        shipping_address={"line1": "2 Rue de Rivoli"},
        tax_id={"country": "FR", "type": "eu_vat", "value": "FR123"},
        auto_issuance=True,
        email_delivery=False,
        additional_emails=["ops@acme.test"],
        reporting_configuration={"exempt": True},
        accounting_sync_configuration={
            "excluded": False,
            "accounting_providers": [{"provider_type": "netsuite", "external_provider_id": "n1"}],
        },
        payment_configuration={"payment_providers": [{"provider_type": "stripe"}]},
        tax_configuration=None,  # taxes are not simulated: a configuration is refused
        hierarchy={"child_customer_ids": []},
    )

    data = sdk_parses(customer, orb.types.Customer)
    assert data["currency"] == "EUR"
    assert data["metadata"] == {"tier": "gold"}
    assert data["auto_collection"] is True  # defaults to true with a payment provider
    assert data["billing_address"] == {
        "line1": "1 Rue de Rivoli",
        "line2": None,
        "city": "Paris",
        "state": None,
        "postal_code": None,
        "country": "FR",
    }
    assert data["tax_id"] == {"country": "FR", "type": "eu_vat", "value": "FR123"}
    assert data["hierarchy"] == {"parent": None, "children": []}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "a@b.test"}, "name: field required"),
        ({"name": "Acme"}, "email: field required"),
        ({"name": "", "email": "a@b.test"}, "name:"),
        ({"name": "Acme", "email": "not-an-email"}, "'not-an-email'"),
        ({"name": "Acme", "email": "a@b.test", "colour": "red"}, "unknown field 'colour'"),
        (
            {"name": "Acme", "email": "a@b.test", "billing_address": {"street": "Main"}},
            "unknown field 'billing_address.street'",
        ),
        ({"name": "Acme", "email": "a@b.test", "metadata": {"seats": 5}}, "metadata.seats"),
        ({"name": "Acme", "email": "a@b.test", "external_customer_id": ""}, "external_customer_id"),
        ({"name": "Acme", "email": "a@b.test", "currency": "EURO"}, "'EURO'"),
        ({"name": "Acme", "email": "a@b.test", "auto_issuance": "yes"}, "auto_issuance"),
    ],
)
def test_create_refuses_invalid_bodies_and_creates_nothing(
    sim: OrbSim, fields: dict[str, Any], message: str
) -> None:
    new_customer(sim, "Existing")
    before = state(sim)

    with pytest.raises(RequestValidationError, match=re.escape(message)):
        sim.customers.create(**fields)

    assert state(sim) == before


# --------------------------------------------------------------------------------------------------
# Timezone: defaults to the account's, must be IANA, immutable


def test_timezone_defaults_to_the_account_timezone(clock: ManualClock) -> None:
    sim = OrbSim(settings=Settings(default_timezone="America/Los_Angeles"), clock=clock)

    assert new_customer(sim).timezone == "America/Los_Angeles"
    assert new_customer(sim, "Explicit", timezone="Asia/Tokyo").timezone == "Asia/Tokyo"


@pytest.mark.parametrize("tz", ["America/Los_Angeles", "Asia/Kolkata", "Etc/UTC", "UTC"])
def test_iana_timezones_are_accepted(sim: OrbSim, tz: str) -> None:
    assert new_customer(sim, timezone=tz).timezone == tz


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "", "PST8PDT/Nowhere", "+02:00"])
def test_unknown_timezone_is_refused(sim: OrbSim, tz: str) -> None:
    with pytest.raises(RequestValidationError, match="timezone: must be an IANA") as exc:
        new_customer(sim, timezone=tz)

    assert repr(tz) in exc.value.detail
    assert listed(sim) == []


@pytest.mark.parametrize("tz", ["Europe/Paris", "Etc/UTC"])  # a new value, and the same value
def test_timezone_is_immutable(sim: OrbSim, tz: str) -> None:
    customer = new_customer(sim, external_customer_id="acme")

    with pytest.raises(RequestValidationError, match="unknown field 'timezone'"):
        sim.customers.update(customer.id, timezone=tz)
    with pytest.raises(RequestValidationError, match="unknown field 'timezone'"):
        sim.customers.update_by_external_id("acme", timezone=tz)

    assert sim.customers.fetch(customer.id) == customer


# --------------------------------------------------------------------------------------------------
# Aliases (external_customer_id)


def test_alias_is_unique_among_live_customers(sim: OrbSim) -> None:
    first = new_customer(sim, "First", external_customer_id="acme")
    before = state(sim)

    with pytest.raises(
        DuplicateResourceCreation, match=f"'acme' already belongs to customer {first.id}"
    ):
        new_customer(sim, "Second", external_customer_id="acme")

    assert state(sim) == before
    assert sim.customers.fetch_by_external_id("acme") == first


def test_aliases_differing_only_in_case_are_distinct(sim: OrbSim) -> None:
    lower = new_customer(sim, "Lower", external_customer_id="acme")
    upper = new_customer(sim, "Upper", external_customer_id="ACME")

    assert sim.customers.fetch_by_external_id("acme") == lower
    assert sim.customers.fetch_by_external_id("ACME") == upper


def test_alias_is_reusable_after_its_holder_is_deleted(sim: OrbSim) -> None:
    old = new_customer(sim, "Old", external_customer_id="acme")
    sim.customers.delete(old.id)

    new = new_customer(sim, "New", external_customer_id="acme")

    assert new.id != old.id
    assert sim.customers.fetch_by_external_id("acme") == new
    with pytest.raises(ResourceNotFound, match=old.id):
        sim.customers.fetch(old.id)


def test_alias_freed_by_deletion_can_be_added_by_update(sim: OrbSim) -> None:
    old = new_customer(sim, "Old", external_customer_id="acme")
    other = new_customer(sim, "Other")
    sim.customers.delete(old.id)

    updated = sim.customers.update(other.id, external_customer_id="acme")

    assert updated.external_customer_id == "acme"
    assert sim.customers.fetch_by_external_id("acme").id == other.id


def test_alias_can_be_added_once_by_update(sim: OrbSim) -> None:
    customer = new_customer(sim)

    updated = sim.customers.update(customer.id, external_customer_id="acme")

    assert updated.external_customer_id == "acme"
    assert sim.customers.fetch_by_external_id("acme") == updated
    assert sim.customers.fetch(customer.id) == updated
    sdk_parses(updated, orb.types.Customer)


@pytest.mark.parametrize("alias", ["acme-2", None], ids=["change", "remove"])
def test_alias_cannot_be_changed_or_removed(sim: OrbSim, alias: str | None) -> None:
    customer = new_customer(sim, external_customer_id="acme")

    with pytest.raises(ConstraintViolation, match="already has external_customer_id 'acme'"):
        sim.customers.update(customer.id, external_customer_id=alias)

    assert sim.customers.fetch_by_external_id("acme") == customer
    if alias is not None:
        with pytest.raises(ResourceNotFound, match=alias):
            sim.customers.fetch_by_external_id(alias)


def test_updating_the_alias_to_its_own_value_is_a_no_op(sim: OrbSim) -> None:
    customer = new_customer(sim, external_customer_id="acme")

    assert sim.customers.update(customer.id, external_customer_id="acme") == customer
    assert sim.customers.update_by_external_id("acme", external_customer_id="acme") == customer


def test_alias_held_by_another_customer_cannot_be_added(sim: OrbSim) -> None:
    holder = new_customer(sim, "Holder", external_customer_id="acme")
    other = new_customer(sim, "Other")
    before = state(sim)

    with pytest.raises(DuplicateResourceCreation, match=f"'acme' already belongs to .*{holder.id}"):
        sim.customers.update(other.id, external_customer_id="acme")

    assert state(sim) == before


@pytest.mark.parametrize(
    ("now", "allowed"),
    [
        (INVOICED_AT - US, True),
        (INVOICED_AT, False),
        (INVOICED_AT + timedelta(days=40), False),
    ],
    ids=["1us-before-invoicing", "at-invoicing", "later"],
)
def test_alias_cannot_be_added_once_the_customer_was_invoiced(
    sim: OrbSim, clock: ManualClock, now: datetime, allowed: bool
) -> None:
    customer = new_customer(sim)
    subscribe(sim, customer)
    clock.set(now)

    if allowed:
        assert sim.customers.update(customer.id, external_customer_id="acme").external_customer_id
        return
    with pytest.raises(ConstraintViolation, match=re.escape("invoiced for usage (at 2024-06-01")):
        sim.customers.update(customer.id, external_customer_id="acme")
    assert sim.customers.fetch(customer.id).external_customer_id is None


def test_alias_can_be_added_when_only_a_future_subscription_exists(
    sim: OrbSim, clock: ManualClock
) -> None:
    customer = new_customer(sim)
    subscribe(sim, customer, start_date=utc(2025, 1, 1))
    clock.set(utc(2024, 12, 31))

    assert sim.customers.update(customer.id, external_customer_id="acme").external_customer_id


# --------------------------------------------------------------------------------------------------
# Update: mutable fields, metadata semantics, currency


def test_update_changes_mutable_fields(sim: OrbSim) -> None:
    customer = new_customer(sim)

    updated = sim.customers.update(
        customer.id,
        name="Acme Corp",
        email="finance@acme.test",
        email_delivery=False,
        additional_emails=["ops@acme.test"],
        billing_address={"country": "US"},
        payment_provider="stripe_invoice",
        payment_provider_id="cus_9",
    )

    assert (updated.name, updated.email) == ("Acme Corp", "finance@acme.test")
    assert updated.email_delivery is False
    assert updated.additional_emails == ["ops@acme.test"]
    assert updated.billing_address is not None and updated.billing_address.country == "US"
    assert (updated.payment_provider, updated.payment_provider_id) == ("stripe_invoice", "cus_9")
    assert (updated.id, updated.created_at, updated.timezone) == (
        customer.id,
        customer.created_at,
        customer.timezone,
    )
    assert sim.customers.fetch(customer.id) == updated
    sdk_parses(updated, orb.types.Customer)


def test_update_with_no_fields_returns_the_customer_unchanged(sim: OrbSim) -> None:
    customer = new_customer(sim)

    assert sim.customers.update(customer.id) == customer


def test_nullable_fields_can_be_cleared(sim: OrbSim) -> None:
    customer = new_customer(
        sim,
        billing_address={"country": "US"},
        tax_id={"country": "US", "type": "us_ein", "value": "12-3456789"},
    )

    updated = sim.customers.update(customer.id, billing_address=None, tax_id=None)

    assert (updated.billing_address, updated.tax_id) == (None, None)
    sdk_parses(updated, orb.types.Customer)


@pytest.mark.parametrize(
    ("initial", "update", "expected"),
    [
        ({"a": "1", "b": "2"}, {"a": None}, {"b": "2"}),  # a null value removes a key
        ({"a": "1"}, {"missing": None}, {"a": "1"}),  # removing an absent key is fine
        ({"a": "1"}, {"b": "2"}, {"a": "1", "b": "2"}),  # other keys are kept
        ({"a": "1"}, {"a": "9"}, {"a": "9"}),
        ({"a": "1", "b": "2"}, None, {}),  # a null map clears everything
        ({"a": "1"}, {}, {"a": "1"}),
    ],
)
def test_metadata_update_semantics(
    sim: OrbSim,
    initial: dict[str, str],
    update: dict[str, str | None] | None,
    expected: dict[str, str],
) -> None:
    customer = new_customer(sim, metadata=initial)

    assert sim.customers.update(customer.id, metadata=update).metadata == expected
    assert sim.customers.fetch(customer.id).metadata == expected


def test_metadata_is_kept_when_not_given(sim: OrbSim) -> None:
    customer = new_customer(sim, metadata={"a": "1"})

    assert sim.customers.update(customer.id, name="Renamed").metadata == {"a": "1"}


def test_null_metadata_values_are_dropped_at_creation(sim: OrbSim) -> None:
    assert new_customer(sim, metadata={"a": "1", "b": None}).metadata == {"a": "1"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": None}, "name: cannot be null"),
        ({"email": None}, "email: cannot be null"),
        ({"email": "nope"}, "'nope'"),
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"metadata": {"seats": 5}}, "metadata.seats"),
        ({"additional_emails": ["a@b.test", "a@b.test"]}, "must not contain duplicates"),
    ],
)
def test_update_refuses_invalid_fields_and_changes_nothing(
    sim: OrbSim, fields: dict[str, Any], message: str
) -> None:
    customer = new_customer(sim, metadata={"a": "1"})

    with pytest.raises(RequestValidationError, match=re.escape(message)):
        sim.customers.update(customer.id, **fields)

    assert sim.customers.fetch(customer.id) == customer


def test_update_by_external_id(sim: OrbSim) -> None:
    customer = new_customer(sim, external_customer_id="acme")

    updated = sim.customers.update_by_external_id("acme", name="Acme Corp")

    assert updated.id == customer.id
    assert sim.customers.fetch(customer.id).name == "Acme Corp"


def test_unknown_default_payment_method_is_not_found(sim: OrbSim) -> None:
    customer = new_customer(sim)

    with pytest.raises(ResourceNotFound, match="pm_missing"):
        sim.customers.update(customer.id, default_payment_method_id="pm_missing")
    assert sim.customers.update(customer.id, default_payment_method_id=None) == customer


def test_currency_is_set_from_the_plan_at_the_first_subscription(sim: OrbSim) -> None:
    customer = new_customer(sim)
    assert customer.currency is None

    subscription = subscribe(sim, customer, currency="EUR")

    assert subscription.customer.currency == "EUR"
    assert sim.customers.fetch(customer.id).currency == "EUR"
    sdk_parses(sim.customers.fetch(customer.id), orb.types.Customer)


@pytest.mark.parametrize("currency", ["USD", None])
def test_currency_is_immutable_once_set(sim: OrbSim, currency: str | None) -> None:
    customer = new_customer(sim)
    subscribe(sim, customer, currency="EUR")

    with pytest.raises(
        ConstraintViolation, match=f"already 'EUR' and cannot be changed to {currency!r}"
    ):
        sim.customers.update(customer.id, currency=currency)

    assert sim.customers.fetch(customer.id).currency == "EUR"


def test_currency_update_to_the_same_value_is_accepted(sim: OrbSim) -> None:
    customer = new_customer(sim, currency="EUR")

    assert sim.customers.update(customer.id, currency="eur").currency == "EUR"


def test_currency_can_be_set_by_update_while_unset(sim: OrbSim) -> None:
    customer = new_customer(sim)

    assert sim.customers.update(customer.id, currency="gbp").currency == "GBP"
    with pytest.raises(ConstraintViolation, match="already 'GBP'"):
        sim.customers.update(customer.id, currency="USD")


def test_currency_given_at_creation_must_match_the_plan(sim: OrbSim) -> None:
    customer = new_customer(sim, currency="EUR")

    with pytest.raises(
        ConstraintViolation, match=r"invoices in USD but customer \w+ is billed in EUR"
    ):
        subscribe(sim, customer, currency="USD")
    assert subscribe(sim, customer, currency="EUR").customer.currency == "EUR"


def test_a_rejected_subscription_does_not_set_the_currency(sim: OrbSim) -> None:
    customer = new_customer(sim)

    with pytest.raises(RequestValidationError, match="must be after start"):
        subscribe(sim, customer, currency="EUR", end_date=utc(2024, 5, 1))

    assert sim.customers.fetch(customer.id).currency is None
    assert subscribe(sim, customer, currency="USD").customer.currency == "USD"


# --------------------------------------------------------------------------------------------------
# Fetch


def test_fetch_by_id_and_by_alias(sim: OrbSim) -> None:
    customer = new_customer(sim, external_customer_id="acme/eu 1")

    assert sim.customers.fetch(customer.id) == customer
    assert sim.customers.fetch_by_external_id("acme/eu 1") == customer


@pytest.mark.parametrize(
    "call",
    [
        lambda sim: sim.customers.fetch("cus_missing"),
        lambda sim: sim.customers.fetch_by_external_id("cus_missing"),
        lambda sim: sim.customers.update("cus_missing", name="x"),
        lambda sim: sim.customers.update_by_external_id("cus_missing", name="x"),
        lambda sim: sim.customers.delete("cus_missing"),
    ],
    ids=["fetch", "fetch_by_external_id", "update", "update_by_external_id", "delete"],
)
def test_unknown_customer_is_not_found(sim: OrbSim, call: Callable[[OrbSim], Any]) -> None:
    with pytest.raises(ResourceNotFound, match="cus_missing") as exc:
        call(sim)
    assert exc.value.status == 404
    assert exc.value.title


# --------------------------------------------------------------------------------------------------
# Delete


def test_deleted_customer_is_gone_everywhere(sim: OrbSim) -> None:
    customer = new_customer(sim, external_customer_id="acme")
    keeper = new_customer(sim, "Keeper")
    subscription = subscribe(sim, customer)

    assert sim.customers.delete(customer.id) is None  # type: ignore[func-returns-value]  # pinned: nothing returned

    for call in (
        lambda: sim.customers.fetch(customer.id),
        lambda: sim.customers.update(customer.id, name="x"),
        lambda: sim.customers.delete(customer.id),
    ):
        with pytest.raises(ResourceNotFound, match=customer.id):
            call()
    for call in (
        lambda: sim.customers.fetch_by_external_id("acme"),
        lambda: sim.customers.update_by_external_id("acme", name="x"),
    ):
        with pytest.raises(ResourceNotFound, match="external_customer_id=acme"):
            call()
    assert listed(sim) == [keeper.id]
    with pytest.raises(ResourceNotFound, match=subscription.id):
        sim.subscriptions.fetch(subscription.id)
    with pytest.raises(ResourceNotFound, match=subscription.id):
        sim.subscriptions.billing_periods(subscription.id)
    assert sim.subscriptions.list().data == []
    assert sim.subscriptions.list(customer_id=[customer.id]).data == []
    assert sim.subscriptions.list(external_customer_id=["acme"]).data == []


def test_a_deleted_customer_cannot_be_subscribed(sim: OrbSim) -> None:
    customer = new_customer(sim, external_customer_id="acme")
    plan = sim.plans.create(name="Plan")
    sim.customers.delete(customer.id)

    with pytest.raises(ResourceNotFound, match=customer.id):
        sim.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    with pytest.raises(ResourceNotFound, match="external_customer_id=acme"):
        sim.subscriptions.create(external_customer_id="acme", plan_id=plan.id)


@pytest.mark.parametrize(
    ("grace", "now", "allowed"),
    [
        (GRACE, INVOICED_AT - US, True),
        (GRACE, INVOICED_AT, False),
        (GRACE, INVOICED_AT + US, False),
        (timedelta(0), FIRST_PERIOD_END - US, True),
        (timedelta(0), FIRST_PERIOD_END, False),
        (timedelta(days=3), FIRST_PERIOD_END + timedelta(days=3) - US, True),
        (timedelta(days=3), FIRST_PERIOD_END + timedelta(days=3), False),
    ],
)
def test_deletion_is_refused_once_a_period_was_invoiced(
    clock: ManualClock, grace: timedelta, now: datetime, allowed: bool
) -> None:
    sim = OrbSim(settings=Settings(grace_period=grace), clock=clock)
    customer = new_customer(sim)
    subscription = subscribe(sim, customer)
    clock.set(now)

    if allowed:
        sim.customers.delete(customer.id)
        assert listed(sim) == []
        return
    invoiced = (FIRST_PERIOD_END + grace).isoformat()
    with pytest.raises(ConstraintViolation, match=re.escape(f"invoiced at {invoiced}")) as exc:
        sim.customers.delete(customer.id)
    assert customer.id in exc.value.detail
    assert listed(sim) == [customer.id]
    assert sim.subscriptions.fetch(subscription.id).id == subscription.id


def test_deletion_is_refused_at_once_for_a_backdated_subscription(sim: OrbSim) -> None:
    customer = new_customer(sim)
    subscribe(sim, customer, start_date=utc(2024, 4, 1))  # [Apr 1, May 1): due May 1 12:00

    # The April invoice was due before the subscription existed: it issues as it is created.
    (april,) = sim.invoices.list().data
    assert april.invoice_date == utc(2024, 5, 1) and april.issued_at == sim.now()
    with pytest.raises(ConstraintViolation, match=re.escape(f"issued invoice, {april.id}")):
        sim.customers.delete(customer.id)


def test_any_invoiced_subscription_blocks_deletion(sim: OrbSim, clock: ManualClock) -> None:
    customer = new_customer(sim)
    subscribe(sim, customer, start_date=utc(2024, 9, 1))  # upcoming
    subscribe(sim, customer, start_date=utc(2024, 5, 20), end_date=utc(2024, 5, 25))
    clock.set(utc(2024, 5, 25, 12))  # the short one's only period [May 20, May 25) is invoiced

    with pytest.raises(ConstraintViolation, match=re.escape("invoiced at 2024-05-25T12:00:00")):
        sim.customers.delete(customer.id)


def test_a_customer_with_only_a_future_subscription_can_be_deleted(
    sim: OrbSim, clock: ManualClock
) -> None:
    customer = new_customer(sim)
    subscribe(sim, customer, start_date=utc(2025, 1, 1))
    clock.set(utc(2024, 12, 31, 23))

    sim.customers.delete(customer.id)

    assert listed(sim) == []


def test_deletion_under_freezegun_follows_the_frozen_clock() -> None:
    with freeze_time("2024-05-20 12:00:00") as frozen:
        sim = OrbSim()
        customer = new_customer(sim)
        subscribe(sim, customer)

        frozen.move_to(INVOICED_AT)
        with pytest.raises(ConstraintViolation, match=customer.id):
            sim.customers.delete(customer.id)

    with freeze_time(INVOICED_AT - US):
        sim = OrbSim()
        customer = new_customer(sim)
        subscribe(sim, customer, start_date=utc(2024, 5, 20))
        sim.customers.delete(customer.id)
        assert listed(sim) == []


# --------------------------------------------------------------------------------------------------
# List


def test_list_is_newest_first(sim: OrbSim, clock: ManualClock) -> None:
    first = new_customer(sim, "First")
    second = new_customer(sim, "Second")  # same instant: creation order breaks the tie
    clock.advance(seconds=1)
    third = new_customer(sim, "Third")

    assert listed(sim) == [third.id, second.id, first.id]
    page = sim.customers.list()
    assert page.pagination_metadata.model_dump() == {"has_more": False, "next_cursor": None}
    for customer in page.data:
        sdk_parses(customer, orb.types.Customer)
    json.dumps(page.model_dump(mode="json"))


def test_list_default_limit_is_20(sim: OrbSim) -> None:
    for i in range(21):
        new_customer(sim, f"C{i}")

    page = sim.customers.list()

    assert len(page.data) == 20
    assert page.pagination_metadata.has_more is True


@pytest.mark.parametrize(("limit", "ok"), [(0, False), (1, True), (100, True), (101, False)])
def test_list_limit_bounds(sim: OrbSim, limit: int, ok: bool) -> None:
    new_customer(sim)
    if ok:
        assert len(sim.customers.list(limit=limit).data) == 1
        return
    with pytest.raises(RequestValidationError, match=f"between 1 and 100, got {limit}"):
        sim.customers.list(limit=limit)


@pytest.mark.parametrize("limit", [1, 2, 3, 6, 7, 8, 100])
def test_cursor_pagination_walks_every_customer_exactly_once(
    sim: OrbSim, clock: ManualClock, limit: int
) -> None:
    created = []
    for i in range(7):
        created.append(new_customer(sim, f"C{i}"))
        if i % 3 == 0:  # some share a creation instant, some do not
            clock.advance(minutes=1)
    sim.customers.delete(new_customer(sim, "Gone").id)

    ids, pages = walk(sim.customers.list, limit)

    assert ids == [c.id for c in reversed(created)]
    assert pages == max(1, math.ceil(7 / limit))


@given(
    gaps=st.lists(st.sampled_from([0, 1, 3600]), max_size=25),
    limit=st.integers(min_value=1, max_value=30),
)
def test_any_walk_returns_every_customer_once_newest_first(gaps: list[int], limit: int) -> None:
    clock = ManualClock(NOW)
    sim = OrbSim(clock=clock)
    created = []
    for i, gap in enumerate(gaps):
        clock.advance(seconds=gap)
        created.append(new_customer(sim, f"C{i}").id)

    ids, pages = walk(sim.customers.list, limit)

    assert ids == created[::-1]
    assert pages == max(1, math.ceil(len(created) / limit))


def test_pages_are_stable_while_customers_arrive_and_leave(sim: OrbSim, clock: ManualClock) -> None:
    for i in range(5):
        new_customer(sim, f"C{i}")
        clock.advance(seconds=1)
    expected = listed(sim)

    first = sim.customers.list(limit=2)
    new_customer(sim, "Newcomer")  # newer than the cursor: not part of this walk
    sim.customers.delete(expected[4])  # the oldest, not yet returned
    second = sim.customers.list(limit=2, cursor=first.pagination_metadata.next_cursor)
    assert second.pagination_metadata.next_cursor is None

    assert [c.id for c in first.data + second.data] == expected[:4]


def test_invalid_cursor_is_refused(sim: OrbSim) -> None:
    with pytest.raises(RequestValidationError, match="'not-a-cursor'"):
        sim.customers.list(cursor="not-a-cursor")


@pytest.fixture
def three_customers(sim: OrbSim, clock: ManualClock) -> dict[str, str]:
    """a at 12:00, b at 13:00, c at 14:00 (UTC, 2024-05-20)."""
    ids = {}
    for name in "abc":
        ids[name] = new_customer(sim, name).id
        clock.advance(hours=1)
    return ids


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"created_at_gte": utc(2024, 5, 20, 13)}, "cb"),
        ({"created_at_gte": utc(2024, 5, 20, 13) + US}, "c"),
        ({"created_at_gt": utc(2024, 5, 20, 13)}, "c"),
        ({"created_at_gt": utc(2024, 5, 20, 13) - US}, "cb"),
        ({"created_at_lt": utc(2024, 5, 20, 13)}, "a"),
        ({"created_at_lt": utc(2024, 5, 20, 13) + US}, "ba"),
        ({"created_at_lte": utc(2024, 5, 20, 13)}, "ba"),
        ({"created_at_lte": utc(2024, 5, 20, 13) - US}, "a"),
        ({"created_at_gte": "2024-05-20T12:30:00Z", "created_at_lt": "2024-05-20T14:00:00Z"}, "b"),
        ({"created_at_gte": "2024-05-20T15:00:00+02:00"}, "cb"),  # 13:00 UTC
        ({"created_at_gte": "2024-05-20T13:00:00"}, "cb"),  # naive means UTC
        ({"created_at_gt": "2024-05-20T14:00:00Z"}, ""),
    ],
)
def test_list_created_at_filters(
    sim: OrbSim, three_customers: dict[str, str], filters: dict[str, Any], expected: str
) -> None:
    assert listed(sim, **filters) == [three_customers[name] for name in expected]


def test_list_created_at_filter_must_be_a_timestamp(sim: OrbSim) -> None:
    with pytest.raises(RequestValidationError, match=re.escape("created_at[gte]: 'yesterday'")):
        sim.customers.list(created_at_gte="yesterday")


def test_list_follows_freezegun() -> None:
    with freeze_time("2024-05-20 12:00:00") as frozen:
        sim = OrbSim()
        early = new_customer(sim, "Early")
        frozen.tick(timedelta(hours=1))
        late = new_customer(sim, "Late")

        assert late.created_at == utc(2024, 5, 20, 13)
        assert listed(sim) == [late.id, early.id]
        assert listed(sim, created_at_lt=utc(2024, 5, 20, 13)) == [early.id]
        sdk_parses(late, orb.types.Customer)


# --------------------------------------------------------------------------------------------------
# A rejected request changes nothing, not even the ids handed out next


@pytest.mark.parametrize(
    "rejected",
    [
        lambda sim: new_customer(sim, "Dup", external_customer_id="taken"),
        lambda sim: new_customer(sim, "Bad", timezone="Nowhere/Special"),
        lambda sim: new_customer(sim, "Bad", colour="red"),
        lambda sim: sim.customers.update("missing", name="x"),
        lambda sim: sim.customers.list(limit=0),
    ],
    ids=["duplicate-alias", "bad-timezone", "unknown-field", "unknown-customer", "bad-limit"],
)
def test_rejected_requests_change_nothing(
    clock: ManualClock, rejected: Callable[[OrbSim], Any]
) -> None:
    reference, sim = OrbSim(clock=clock, seed=7), OrbSim(clock=clock, seed=7)
    for each in (reference, sim):
        new_customer(each, "Holder", external_customer_id="taken")
    before = state(sim)

    with pytest.raises((RequestValidationError, DuplicateResourceCreation, ResourceNotFound)):
        rejected(sim)

    assert state(sim) == before
    assert new_customer(sim, "Next").id == new_customer(reference, "Next").id
