"""Plans, subscriptions and billing periods — design.md section 4.

Unless a test says otherwise the clock stands at 2024-05-20 12:00 UTC, customers live in Etc/UTC
and a subscription created without ``start_date`` starts at today's midnight.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import orb.types
import pytest
from freezegun import freeze_time

from helpers.checks import sdk_parses, walk
from helpers.time import US, local, utc
from orbsim import (
    ConstraintViolation,
    DuplicateResourceCreation,
    ManualClock,
    OrbSim,
    RequestValidationError,
    ResourceNotFound,
    Settings,
)
from orbsim.models import BillingCadence, Customer, Plan

NOW = "2024-05-20T12:00:00Z"
TODAY = datetime(2024, 5, 20, tzinfo=UTC)
FAR = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def customer(sim: OrbSim) -> Customer:
    return sim.customers.create(name="Acme", email="billing@acme.test", external_customer_id="acme")


@pytest.fixture
def plan(sim: OrbSim) -> Plan:
    return sim.plans.create(name="Pro", external_plan_id="pro")


def subscribe(
    sim: OrbSim, customer: Customer, cadence: BillingCadence = "monthly", **fields: Any
) -> Any:
    plan = sim.plans.create(name=f"{cadence} plan", billing_cadence=cadence)
    return sim.subscriptions.create(customer_id=customer.id, plan_id=plan.id, **fields)


def periods(sim: OrbSim, subscription_id: str, count: int) -> list[tuple[datetime, datetime]]:
    found = sim.subscriptions.billing_periods(subscription_id, until=FAR)
    return [(p.start, p.end) for p in found[:count]]


def current(subscription: Any) -> tuple[datetime | None, datetime | None]:
    return (
        subscription.current_billing_period_start_date,
        subscription.current_billing_period_end_date,
    )


def subscription_ids(sim: OrbSim, **filters: Any) -> list[str]:
    return [s.id for s in sim.subscriptions.list(limit=100, **filters).data]


# --------------------------------------------------------------------------------------------------
# Plans


def test_plan_defaults_parse_with_the_sdk(sim: OrbSim) -> None:
    plan = sim.plans.create(name="Pro")

    assert (plan.currency, plan.invoicing_currency, plan.billing_cadence) == (
        "USD",
        "USD",
        "monthly",
    )
    assert plan.external_plan_id is None
    assert plan.created_at == utc(2024, 5, 20, 12)
    assert sim.plans.fetch(plan.id) == plan
    data = sdk_parses(plan, orb.types.Plan)
    assert data["product"]["name"] == "Pro"
    assert data["prices"] == []


@pytest.mark.parametrize("cadence", ["monthly", "quarterly", "semi_annual", "annual"])
def test_plan_cadences(sim: OrbSim, cadence: BillingCadence) -> None:
    assert sim.plans.create(name="P", billing_cadence=cadence).billing_cadence == cadence


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "name: field required"),
        ({"name": ""}, "name:"),
        ({"name": "P", "billing_cadence": "weekly"}, "'weekly'"),
        ({"name": "P", "currency": "EURO"}, "'EURO'"),
        ({"name": "P", "colour": "red"}, "unknown field 'colour'"),
        ({"name": "P", "external_plan_id": ""}, "external_plan_id"),
    ],
)
def test_plan_create_refuses_invalid_bodies(
    sim: OrbSim, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(RequestValidationError, match=re.escape(message)):
        sim.plans.create(**fields)
    assert sim.plans.list().data == []


def test_plan_currency_is_normalised(sim: OrbSim) -> None:
    plan = sim.plans.create(name="Euro", currency="eur")

    assert (plan.currency, plan.invoicing_currency) == ("EUR", "EUR")


def test_external_plan_id_is_unique(sim: OrbSim, plan: Plan) -> None:
    with pytest.raises(DuplicateResourceCreation, match=f"'pro' already belongs to plan {plan.id}"):
        sim.plans.create(name="Other", external_plan_id="pro")

    assert [p.id for p in sim.plans.list().data] == [plan.id]
    assert sim.plans.fetch_by_external_id("pro") == plan


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda sim: sim.plans.fetch("plan_missing"), "Plan with identifier: plan_missing"),
        (
            lambda sim: sim.plans.fetch_by_external_id("plan_missing"),
            "Plan with identifier: external_plan_id=plan_missing",
        ),
    ],
)
def test_unknown_plan_is_not_found(
    sim: OrbSim, call: Callable[[OrbSim], Any], message: str
) -> None:
    with pytest.raises(ResourceNotFound, match=re.escape(message)):
        call(sim)


@pytest.mark.parametrize("limit", [1, 2, 5, 100])
def test_plan_list_is_newest_first_and_paginates(
    sim: OrbSim, clock: ManualClock, limit: int
) -> None:
    created = []
    for i in range(5):
        created.append(sim.plans.create(name=f"P{i}").id)
        if i % 2:
            clock.advance(seconds=1)

    ids, pages = walk(sim.plans.list, limit)

    assert ids == created[::-1]
    assert pages == math.ceil(5 / limit)


@pytest.mark.parametrize("limit", [0, 101])
def test_plan_list_limit_bounds(sim: OrbSim, limit: int) -> None:
    with pytest.raises(RequestValidationError, match=f"got {limit}"):
        sim.plans.list(limit=limit)


# --------------------------------------------------------------------------------------------------
# Subscriptions: create


@pytest.mark.parametrize(
    "ids",
    [
        {"customer_id": "<customer>", "plan_id": "<plan>"},
        {"external_customer_id": "acme", "plan_id": "<plan>"},
        {"customer_id": "<customer>", "external_plan_id": "pro"},
        {"external_customer_id": "acme", "external_plan_id": "pro"},
    ],
)
def test_subscribe_by_id_or_external_id(
    sim: OrbSim, customer: Customer, plan: Plan, ids: dict[str, str]
) -> None:
    body: dict[str, Any] = {
        key: {"<customer>": customer.id, "<plan>": plan.id}.get(v, v) for key, v in ids.items()
    }

    created = sim.subscriptions.create(**body)

    assert created.customer.id == customer.id
    assert created.plan is not None and created.plan.id == plan.id
    assert created.name == "Pro"  # defaults to the plan's name
    assert created.created_at == utc(2024, 5, 20, 12)
    sdk_parses(created, orb.types.MutatedSubscription)
    fetched = sim.subscriptions.fetch(created.id)
    sdk_parses(fetched, orb.types.Subscription)
    assert fetched.model_dump() == created.model_dump(exclude={"changed_resources"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"plan_id": "<plan>"}, "exactly one of customer_id or external_customer_id"),
        (
            {"customer_id": "<customer>", "external_customer_id": "acme", "plan_id": "<plan>"},
            "exactly one of customer_id or external_customer_id",
        ),
        (
            {"customer_id": "<customer>", "external_customer_id": None, "plan_id": "<plan>"},
            None,  # null counts as absent
        ),
        ({"customer_id": "<customer>"}, "one of plan_id or external_plan_id is required"),
        (
            {"customer_id": "<customer>", "plan_id": "<plan>", "external_plan_id": "pro"},
            "exactly one of plan_id / external_plan_id is required; both were given",
        ),
        ({"customer_id": "", "plan_id": "<plan>"}, "customer_id"),
        ({"customer_id": "<customer>", "plan_id": "<plan>", "colour": "red"}, "'colour'"),
        (
            {"customer_id": "<customer>", "plan_id": "<plan>", "start_date": "next tuesday"},
            "start_date",
        ),
        (
            {
                "customer_id": "<customer>",
                "plan_id": "<plan>",
                "align_billing_with_subscription_start_date": "yes",
            },
            "align_billing_with_subscription_start_date",
        ),
    ],
)
def test_subscribe_needs_exactly_one_customer_one_plan_and_a_valid_body(
    sim: OrbSim, customer: Customer, plan: Plan, body: dict[str, Any], message: str | None
) -> None:
    body = {
        key: {"<customer>": customer.id, "<plan>": plan.id}.get(v, v) for key, v in body.items()
    }
    if message is None:
        assert sim.subscriptions.create(**body).customer.id == customer.id
        return

    with pytest.raises(RequestValidationError, match=re.escape(message)):
        sim.subscriptions.create(**body)

    assert sim.subscriptions.list().data == []
    assert sim.customers.fetch(customer.id).currency is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"customer_id": "cus_x", "plan_id": "<plan>"}, "Customer with identifier: cus_x"),
        (
            {"external_customer_id": "nobody", "plan_id": "<plan>"},
            "Customer with identifier: external_customer_id=nobody",
        ),
        ({"customer_id": "<customer>", "plan_id": "plan_x"}, "Plan with identifier: plan_x"),
        (
            {"customer_id": "<customer>", "external_plan_id": "basic"},
            "Plan with identifier: external_plan_id=basic",
        ),
    ],
)
def test_subscribe_to_unknown_customer_or_plan_is_not_found(
    sim: OrbSim, customer: Customer, plan: Plan, body: dict[str, Any], message: str
) -> None:
    body = {
        key: {"<customer>": customer.id, "<plan>": plan.id}.get(v, v) for key, v in body.items()
    }

    with pytest.raises(ResourceNotFound, match=re.escape(message)):
        sim.subscriptions.create(**body)

    assert sim.subscriptions.list().data == []


def test_unknown_subscription_is_not_found(sim: OrbSim) -> None:
    with pytest.raises(ResourceNotFound, match="Subscription with identifier: sub_x"):
        sim.subscriptions.fetch("sub_x")
    with pytest.raises(ResourceNotFound, match="Subscription with identifier: sub_x"):
        sim.subscriptions.billing_periods("sub_x")


def test_subscription_name_and_metadata(sim: OrbSim, customer: Customer, plan: Plan) -> None:
    created = sim.subscriptions.create(
        customer_id=customer.id, plan_id=plan.id, name="Acme Pro", metadata={"a": "1", "b": None}
    )

    assert (created.name, created.metadata) == ("Acme Pro", {"a": "1"})


@pytest.mark.parametrize(("count", "ok"), [(99, True), (100, False)])
def test_at_most_100_subscriptions_per_customer(
    sim: OrbSim, customer: Customer, plan: Plan, count: int, ok: bool
) -> None:
    for _ in range(count):
        sim.subscriptions.create(customer_id=customer.id, plan_id=plan.id)

    if ok:
        sim.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
        assert len(subscription_ids(sim, customer_id=[customer.id])) == 100
        return
    with pytest.raises(ConstraintViolation, match="already has 100 subscriptions"):
        sim.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    assert len(subscription_ids(sim, customer_id=[customer.id])) == 100
    other = sim.customers.create(name="Other", email="o@x.test")
    assert sim.subscriptions.create(customer_id=other.id, plan_id=plan.id).customer.id == other.id


def test_plan_currency_must_match_the_customers(sim: OrbSim, customer: Customer) -> None:
    euro = sim.plans.create(name="Euro", currency="EUR")
    sim.subscriptions.create(customer_id=customer.id, plan_id=euro.id)
    dollar = sim.plans.create(name="Dollar", currency="USD")
    before = subscription_ids(sim)

    with pytest.raises(ConstraintViolation, match=f"plan {dollar.id} invoices in USD") as exc:
        sim.subscriptions.create(customer_id=customer.id, plan_id=dollar.id)

    assert f"customer {customer.id} is billed in EUR" in exc.value.detail
    assert subscription_ids(sim) == before
    assert sim.customers.fetch(customer.id).currency == "EUR"


# --------------------------------------------------------------------------------------------------
# Start and end dates


@pytest.mark.parametrize(
    ("tz", "now", "start"),
    [
        ("Etc/UTC", utc(2024, 5, 20, 12), utc(2024, 5, 20)),
        ("Etc/UTC", utc(2024, 5, 20), utc(2024, 5, 20)),
        ("Etc/UTC", utc(2024, 5, 20) - US, utc(2024, 5, 19)),
        ("America/Los_Angeles", utc(2024, 5, 20, 3), utc(2024, 5, 19, 7)),  # still the 19th there
        ("America/Los_Angeles", utc(2024, 5, 20, 7), utc(2024, 5, 20, 7)),  # local midnight (PDT)
        ("America/Los_Angeles", utc(2024, 5, 20, 7) - US, utc(2024, 5, 19, 7)),
        ("America/Los_Angeles", utc(2024, 1, 10, 12), utc(2024, 1, 10, 8)),  # PST
        ("Asia/Tokyo", utc(2024, 5, 20, 15), utc(2024, 5, 20, 15)),  # already the 21st there
        ("Asia/Tokyo", utc(2024, 5, 20, 15) - US, utc(2024, 5, 19, 15)),
        ("Asia/Kolkata", utc(2024, 5, 20, 12), utc(2024, 5, 19, 18, 30)),
    ],
)
def test_default_start_is_the_start_of_today_in_the_customers_timezone(
    tz: str, now: datetime, start: datetime
) -> None:
    sim = OrbSim(clock=ManualClock(now))
    customer = sim.customers.create(name="Acme", email="a@acme.test", timezone=tz)

    subscription = subscribe(sim, customer)

    assert subscription.start_date == start
    assert subscription.status == "active"
    assert subscription.current_billing_period_start_date == start


def test_default_start_uses_the_account_timezone_when_the_customer_has_none() -> None:
    settings = Settings(default_timezone="America/Los_Angeles")
    sim = OrbSim(settings=settings, clock=ManualClock(utc(2024, 5, 20, 3)))
    customer = sim.customers.create(name="Acme", email="a@acme.test")

    assert subscribe(sim, customer).start_date == utc(2024, 5, 19, 7)


@pytest.mark.parametrize(
    ("end", "ok"),
    [
        (TODAY - timedelta(days=1), False),
        (TODAY - US, False),
        (TODAY, False),
        (TODAY + US, True),
    ],
)
def test_end_date_must_be_after_the_start(
    sim: OrbSim, customer: Customer, end: datetime, ok: bool
) -> None:
    if ok:
        subscription = subscribe(sim, customer, end_date=end)
        assert (subscription.start_date, subscription.end_date) == (TODAY, end)
        assert subscription.status == "ended"
        return
    with pytest.raises(RequestValidationError, match=re.escape(f"end ({end.isoformat()})")) as exc:
        subscribe(sim, customer, end_date=end)
    assert f"after start ({TODAY.isoformat()})" in exc.value.detail
    assert subscription_ids(sim) == []
    assert sim.customers.fetch(customer.id).currency is None


def test_dates_accept_iso_strings_and_naive_times_mean_utc(sim: OrbSim, customer: Customer) -> None:
    subscription = subscribe(
        sim, customer, start_date="2024-06-01T02:00:00+02:00", end_date="2024-07-01T00:00:00"
    )

    assert (subscription.start_date, subscription.end_date) == (utc(2024, 6, 1), utc(2024, 7, 1))


# --------------------------------------------------------------------------------------------------
# Status follows the clock


@pytest.mark.parametrize(
    ("now", "status", "period"),
    [
        (utc(2024, 6, 1) - US, "upcoming", None),
        (utc(2024, 6, 1), "active", (utc(2024, 6, 1), utc(2024, 7, 1))),
        (utc(2024, 7, 15) - US, "active", (utc(2024, 7, 1), utc(2024, 7, 15))),
        (utc(2024, 7, 15), "ended", None),
        (utc(2025, 1, 1), "ended", None),
    ],
)
def test_status_and_current_period_follow_the_clock(
    sim: OrbSim,
    clock: ManualClock,
    customer: Customer,
    now: datetime,
    status: str,
    period: tuple[datetime, datetime] | None,
) -> None:
    created = subscribe(sim, customer, start_date=utc(2024, 6, 1), end_date=utc(2024, 7, 15))
    assert created.status == "upcoming"
    clock.set(now)

    fetched = sim.subscriptions.fetch(created.id)

    assert fetched.status == status
    assert current(fetched) == (period or (None, None))
    assert subscription_ids(sim, status=status) == [created.id]
    sdk_parses(fetched, orb.types.Subscription)


# --------------------------------------------------------------------------------------------------
# Billing periods: cadence, alignment, anchor, timezone


@pytest.mark.parametrize(
    ("cadence", "first_end", "later"),
    [
        ("monthly", utc(2024, 6, 1), (utc(2025, 6, 1), utc(2025, 7, 1))),
        ("quarterly", utc(2024, 8, 1), (utc(2025, 5, 1), utc(2025, 8, 1))),
        ("semi_annual", utc(2024, 11, 1), (utc(2025, 5, 1), utc(2025, 11, 1))),
        ("annual", utc(2025, 5, 1), (utc(2025, 5, 1), utc(2026, 5, 1))),
    ],
)
def test_current_billing_period_per_cadence(
    sim: OrbSim,
    clock: ManualClock,
    customer: Customer,
    cadence: BillingCadence,
    first_end: datetime,
    later: tuple[datetime, datetime],
) -> None:
    subscription = subscribe(sim, customer, cadence)

    # The first period runs from the start to the first 1st of a cadence month: it may be short.
    assert current(subscription) == (TODAY, first_end)
    assert subscription.billing_cycle_day == 1
    clock.set(first_end - US)
    assert current(sim.subscriptions.fetch(subscription.id)) == (TODAY, first_end)
    clock.set(first_end)
    assert sim.subscriptions.fetch(subscription.id).current_billing_period_start_date == first_end
    clock.set(utc(2025, 6, 15))
    assert current(sim.subscriptions.fetch(subscription.id)) == later


@pytest.mark.parametrize(
    ("start", "options", "cycle_day", "expected"),
    [
        pytest.param(
            utc(2024, 1, 15, 10),
            {},
            1,
            [utc(2024, 1, 15, 10), utc(2024, 2, 1), utc(2024, 3, 1), utc(2024, 4, 1)],
            id="default-aligns-to-the-1st",
        ),
        pytest.param(
            utc(2024, 1, 15, 10),
            {"align_billing_with_subscription_start_date": True},
            15,
            [utc(2024, 1, 15, 10), utc(2024, 2, 15), utc(2024, 3, 15), utc(2024, 4, 15)],
            id="align-to-start-day",
        ),
        pytest.param(
            utc(2024, 1, 31),
            {"align_billing_with_subscription_start_date": True},
            31,
            [utc(2024, 1, 31), utc(2024, 2, 29), utc(2024, 3, 31), utc(2024, 4, 30)],
            id="align-31st-leap-year",
        ),
        pytest.param(
            utc(2023, 1, 31),
            {"align_billing_with_subscription_start_date": True},
            31,
            [utc(2023, 1, 31), utc(2023, 2, 28), utc(2023, 3, 31), utc(2023, 4, 30)],
            id="align-31st-common-year",
        ),
        pytest.param(
            utc(2024, 4, 10),
            {"billing_cycle_anchor_configuration": {"day": 31}},
            31,
            [utc(2024, 4, 10), utc(2024, 4, 30), utc(2024, 5, 31), utc(2024, 6, 30)],
            id="anchor-31-clamped-to-april-30",
        ),
        pytest.param(
            utc(2024, 2, 10),
            {"billing_cycle_anchor_configuration": {"day": 30}},
            30,
            [utc(2024, 2, 10), utc(2024, 2, 29), utc(2024, 3, 30), utc(2024, 4, 30)],
            id="anchor-30-clamped-to-feb-29",
        ),
        pytest.param(
            utc(2023, 2, 10),
            {"billing_cycle_anchor_configuration": {"day": 29}},
            29,
            [utc(2023, 2, 10), utc(2023, 2, 28), utc(2023, 3, 29), utc(2023, 4, 29)],
            id="anchor-29-clamped-to-feb-28",
        ),
        pytest.param(
            utc(2024, 4, 30),
            {"billing_cycle_anchor_configuration": {"day": 30}},
            30,
            [utc(2024, 4, 30), utc(2024, 5, 30), utc(2024, 6, 30)],
            id="start-on-the-anchor-day-is-a-full-period",
        ),
        pytest.param(
            utc(2024, 1, 15),
            {
                "align_billing_with_subscription_start_date": True,
                "billing_cycle_anchor_configuration": {"day": 5},
            },
            5,
            [utc(2024, 1, 15), utc(2024, 2, 5), utc(2024, 3, 5)],
            id="anchor-wins-over-align",
        ),
    ],
)
def test_monthly_alignment(
    sim: OrbSim,
    customer: Customer,
    start: datetime,
    options: dict[str, Any],
    cycle_day: int,
    expected: list[datetime],
) -> None:
    subscription = subscribe(sim, customer, start_date=start, **options)

    assert subscription.billing_cycle_day == cycle_day
    assert subscription.billing_cycle_anchor_configuration.day == cycle_day
    assert periods(sim, subscription.id, len(expected) - 1) == list(pairwise(expected))


@pytest.mark.parametrize(
    ("cadence", "start", "options", "expected"),
    [
        pytest.param(
            "quarterly",
            utc(2024, 1, 15),
            {"billing_cycle_anchor_configuration": {"day": 1, "month": 2}},
            [utc(2024, 1, 15), utc(2024, 2, 1), utc(2024, 5, 1), utc(2024, 8, 1)],
            id="quarterly-anchored-in-february",
        ),
        pytest.param(
            "quarterly",
            utc(2024, 1, 31),
            {"align_billing_with_subscription_start_date": True},
            [utc(2024, 1, 31), utc(2024, 4, 30), utc(2024, 7, 31), utc(2024, 10, 31)],
            id="quarterly-aligned-to-the-31st",
        ),
        pytest.param(
            "semi_annual",
            utc(2024, 3, 10),
            {},
            [utc(2024, 3, 10), utc(2024, 9, 1), utc(2025, 3, 1), utc(2025, 9, 1)],
            id="semi-annual-default",
        ),
        pytest.param(
            "annual",
            utc(2024, 2, 29),
            {"align_billing_with_subscription_start_date": True},
            [utc(2024, 2, 29), utc(2025, 2, 28), utc(2026, 2, 28), utc(2027, 2, 28)],
            id="annual-leap-day-clamped",
        ),
    ],
)
def test_longer_cadences(
    sim: OrbSim,
    customer: Customer,
    cadence: BillingCadence,
    start: datetime,
    options: dict[str, Any],
    expected: list[datetime],
) -> None:
    subscription = subscribe(sim, customer, cadence, start_date=start, **options)

    assert periods(sim, subscription.id, len(expected) - 1) == list(pairwise(expected))


@pytest.mark.parametrize(
    ("anchor", "message"),
    [
        ({"day": 0}, "billing_cycle_anchor_configuration.day"),
        ({"day": 32}, "billing_cycle_anchor_configuration.day"),
        ({"day": 5, "month": 13}, "billing_cycle_anchor_configuration.month"),
        ({"month": 2}, "billing_cycle_anchor_configuration.day: field required"),
        ({"day": 5, "week": 1}, "unknown field 'billing_cycle_anchor_configuration.week'"),
    ],
)
def test_invalid_anchor_configuration_is_refused(
    sim: OrbSim, customer: Customer, anchor: dict[str, int], message: str
) -> None:
    with pytest.raises(RequestValidationError, match=re.escape(message)):
        subscribe(sim, customer, billing_cycle_anchor_configuration=anchor)
    assert subscription_ids(sim) == []


@pytest.mark.parametrize("day", [1, 31])
def test_anchor_day_bounds_are_accepted(sim: OrbSim, customer: Customer, day: int) -> None:
    subscription = subscribe(sim, customer, billing_cycle_anchor_configuration={"day": day})

    assert subscription.billing_cycle_day == day


def test_periods_follow_the_customers_timezone(sim: OrbSim) -> None:
    tz = "America/Los_Angeles"
    customer = sim.customers.create(name="Acme", email="a@acme.test", timezone=tz)

    subscription = subscribe(sim, customer, start_date=local(tz, 2024, 1, 10))

    # Local midnights: 08:00 UTC in winter (PST), 07:00 UTC in summer (PDT, from March 10).
    assert periods(sim, subscription.id, 4) == [
        (utc(2024, 1, 10, 8), utc(2024, 2, 1, 8)),
        (utc(2024, 2, 1, 8), utc(2024, 3, 1, 8)),
        (utc(2024, 3, 1, 8), utc(2024, 4, 1, 7)),
        (utc(2024, 4, 1, 7), utc(2024, 5, 1, 7)),
    ]
    assert [p.start for p in sim.subscriptions.billing_periods(subscription.id, until=FAR)][
        10:12
    ] == [utc(2024, 11, 1, 7), utc(2024, 12, 1, 8)]
    assert current(subscription) == (utc(2024, 5, 1, 7), utc(2024, 6, 1, 7))


@pytest.mark.parametrize(
    ("tz", "first_boundary"),
    [
        ("Etc/UTC", utc(2024, 6, 1)),
        ("America/Los_Angeles", utc(2024, 6, 1, 7)),
        ("Asia/Tokyo", utc(2024, 5, 31, 15)),
        ("Asia/Kolkata", utc(2024, 5, 31, 18, 30)),
        ("Pacific/Chatham", utc(2024, 5, 31, 11, 15)),
    ],
)
def test_period_boundary_is_local_midnight(sim: OrbSim, tz: str, first_boundary: datetime) -> None:
    customer = sim.customers.create(name="Acme", email="a@acme.test", timezone=tz)
    subscription = subscribe(sim, customer, start_date=utc(2024, 5, 20))

    assert periods(sim, subscription.id, 1) == [(utc(2024, 5, 20), first_boundary)]


def test_billing_periods_until_now_by_default(
    sim: OrbSim, clock: ManualClock, customer: Customer
) -> None:
    subscription = subscribe(sim, customer, start_date=utc(2024, 1, 15))

    found = sim.subscriptions.billing_periods(subscription.id)

    assert [p.start for p in found] == [utc(2024, 1, 15)] + [utc(2024, m, 1) for m in (2, 3, 4, 5)]
    assert found[-1].start <= sim.now() < found[-1].end
    clock.set(utc(2024, 6, 1) - US)
    assert len(sim.subscriptions.billing_periods(subscription.id)) == 5
    clock.set(utc(2024, 6, 1))  # the period starting exactly now is the current one: included
    assert sim.subscriptions.billing_periods(subscription.id)[-1].start == utc(2024, 6, 1)
    # An explicit ``until`` is exclusive: periods that start before it.
    assert len(sim.subscriptions.billing_periods(subscription.id, until=utc(2024, 6, 1))) == 5
    assert len(sim.subscriptions.billing_periods(subscription.id, until=utc(2024, 6, 1) + US)) == 6


@pytest.mark.parametrize(
    "until", ["2024-08-01T00:00:00Z", "2024-08-01T02:00:00+02:00", datetime(2024, 8, 1)]
)
def test_billing_periods_until_accepts_iso_strings_and_naive_utc(
    sim: OrbSim, customer: Customer, until: Any
) -> None:
    subscription = subscribe(sim, customer)

    found = sim.subscriptions.billing_periods(subscription.id, until=until)

    assert [p.start for p in found] == [TODAY, utc(2024, 6, 1), utc(2024, 7, 1)]


def test_billing_periods_until_must_be_a_timestamp(sim: OrbSim, customer: Customer) -> None:
    subscription = subscribe(sim, customer)

    with pytest.raises(RequestValidationError, match="until: 'soon'"):
        sim.subscriptions.billing_periods(subscription.id, until="soon")


def test_billing_periods_are_contiguous_and_cut_by_the_end_date(
    sim: OrbSim, customer: Customer
) -> None:
    subscription = subscribe(sim, customer, start_date=utc(2024, 1, 15), end_date=utc(2024, 4, 10))

    found = sim.subscriptions.billing_periods(subscription.id, until=FAR)

    assert [(p.start, p.end) for p in found] == [
        (utc(2024, 1, 15), utc(2024, 2, 1)),
        (utc(2024, 2, 1), utc(2024, 3, 1)),
        (utc(2024, 3, 1), utc(2024, 4, 1)),
        (utc(2024, 4, 1), utc(2024, 4, 10)),
    ]
    assert all(a.end == b.start for a, b in pairwise(found))


# --------------------------------------------------------------------------------------------------
# List


@pytest.fixture
def portfolio(sim: OrbSim, clock: ManualClock) -> dict[str, str]:
    """Two customers on two plans: s1 a/p active, s2 a/q active, s3 b/p upcoming, s4 b/q ended."""
    a = sim.customers.create(name="A", email="a@x.test", external_customer_id="a")
    b = sim.customers.create(name="B", email="b@x.test", external_customer_id="b")
    p = sim.plans.create(name="P", external_plan_id="p")
    q = sim.plans.create(name="Q", external_plan_id="q")
    ids = {"a": a.id, "b": b.id, "p": p.id, "q": q.id}
    cases: dict[str, tuple[Customer, Plan, dict[str, Any]]] = {
        "s1": (a, p, {}),
        "s2": (a, q, {}),
        "s3": (b, p, {"start_date": utc(2024, 9, 1)}),
        "s4": (b, q, {"start_date": utc(2024, 1, 1), "end_date": utc(2024, 2, 1)}),
    }
    for name, (cust, plan, extra) in cases.items():
        ids[name] = sim.subscriptions.create(customer_id=cust.id, plan_id=plan.id, **extra).id
        clock.advance(seconds=1)
    return ids


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["s4", "s3", "s2", "s1"]),
        ({"customer_id": ["<a>"]}, ["s2", "s1"]),
        ({"customer_id": "<a>"}, ["s2", "s1"]),
        ({"customer_id": ["<a>", "<b>"]}, ["s4", "s3", "s2", "s1"]),
        ({"external_customer_id": ["b"]}, ["s4", "s3"]),
        ({"external_customer_id": ["nobody"]}, []),
        ({"customer_id": ["cus_unknown"]}, []),
        ({"plan_id": "<p>"}, ["s3", "s1"]),
        ({"external_plan_id": "q"}, ["s4", "s2"]),
        ({"external_plan_id": "nothing"}, []),
        ({"status": "active"}, ["s2", "s1"]),
        ({"status": "upcoming"}, ["s3"]),
        ({"status": "ended"}, ["s4"]),
        ({"status": ["ended", "upcoming"]}, ["s4", "s3"]),
        ({"customer_id": ["<b>"], "plan_id": "<q>"}, ["s4"]),
        ({"external_customer_id": ["a"], "status": "ended"}, []),
    ],
)
def test_subscription_list_filters(
    sim: OrbSim, portfolio: dict[str, str], filters: dict[str, Any], expected: list[str]
) -> None:
    def resolve(value: Any) -> Any:
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, str) and value.startswith("<"):
            return portfolio[value.strip("<>")]
        return value

    found = subscription_ids(sim, **{key: resolve(value) for key, value in filters.items()})

    assert found == [portfolio[name] for name in expected]


def test_subscription_list_refuses_an_unknown_status(sim: OrbSim) -> None:
    with pytest.raises(RequestValidationError, match="got 'paused'"):
        sim.subscriptions.list(status=["active", "paused"])


@pytest.mark.parametrize("limit", [0, 101])
def test_subscription_list_limit_bounds(sim: OrbSim, limit: int) -> None:
    with pytest.raises(RequestValidationError, match=f"got {limit}"):
        sim.subscriptions.list(limit=limit)


@pytest.mark.parametrize("limit", [1, 3, 4, 100])
def test_subscription_list_pagination(sim: OrbSim, portfolio: dict[str, str], limit: int) -> None:
    ids, pages = walk(sim.subscriptions.list, limit)

    assert ids == [portfolio[name] for name in ("s4", "s3", "s2", "s1")]
    assert pages == math.ceil(4 / limit)
    for subscription in sim.subscriptions.list().data:
        sdk_parses(subscription, orb.types.Subscription)


def test_subscriptions_of_a_deleted_customer_disappear(
    sim: OrbSim, portfolio: dict[str, str]
) -> None:
    sim.customers.delete(portfolio["a"])

    assert subscription_ids(sim) == [portfolio["s4"], portfolio["s3"]]
    assert subscription_ids(sim, external_customer_id=["a"]) == []
    with pytest.raises(ResourceNotFound, match=portfolio["s1"]):
        sim.subscriptions.fetch(portfolio["s1"])


# --------------------------------------------------------------------------------------------------
# freezegun: the default SystemClock follows frozen time


def test_status_follows_freezegun() -> None:
    with freeze_time("2024-05-31 12:00:00") as frozen:
        sim = OrbSim()
        customer = sim.customers.create(
            name="Acme", email="a@acme.test", timezone="America/Los_Angeles"
        )
        plan = sim.plans.create(name="Pro")
        created = sim.subscriptions.create(
            customer_id=customer.id, plan_id=plan.id, start_date="2024-06-01T07:00:00Z"
        )
        assert created.status == "upcoming"
        assert current(created) == (None, None)

        frozen.move_to("2024-06-01T07:00:00Z")
        fetched = sim.subscriptions.fetch(created.id)
        assert fetched.status == "active"
        assert current(fetched) == (utc(2024, 6, 1, 7), utc(2024, 7, 1, 7))
        sdk_parses(fetched, orb.types.Subscription)


def test_default_start_follows_freezegun() -> None:
    with freeze_time("2024-05-20 03:00:00"):
        sim = OrbSim()
        customer = sim.customers.create(
            name="Acme", email="a@acme.test", timezone="America/Los_Angeles"
        )

        subscription = subscribe(sim, customer)

        assert subscription.start_date == utc(2024, 5, 19, 7)  # still May 19 in Los Angeles
        assert current(subscription) == (utc(2024, 5, 19, 7), utc(2024, 6, 1, 7))
        assert json.loads(json.dumps(subscription.model_dump(mode="json")))["start_date"] == (
            "2024-05-19T07:00:00Z"
        )


# --------------------------------------------------------------------------------------------------
# A rejected subscription changes nothing, not even the ids handed out next


@pytest.mark.parametrize(
    "fields",
    [
        {"end_date": TODAY},
        {"billing_cycle_anchor_configuration": {"day": 32}},
        {"plan_id": "plan_missing"},
        {"external_customer_id": "acme"},
    ],
    ids=["end-before-start", "bad-anchor", "unknown-plan", "two-customer-ids"],
)
def test_rejected_subscription_changes_nothing(clock: ManualClock, fields: dict[str, Any]) -> None:
    reference, sim = OrbSim(clock=clock, seed=3), OrbSim(clock=clock, seed=3)
    for each in (reference, sim):
        each.customers.create(name="Acme", email="a@acme.test", external_customer_id="acme")
        each.plans.create(name="Pro", external_plan_id="pro")
    customer = sim.customers.fetch_by_external_id("acme")
    body = {"customer_id": customer.id, "external_plan_id": "pro", **fields}
    if "plan_id" in fields:
        del body["external_plan_id"]

    with pytest.raises((RequestValidationError, ResourceNotFound)):
        sim.subscriptions.create(**body)

    assert sim.customers.fetch(customer.id) == customer  # currency still unset
    assert subscription_ids(sim) == []
    made = sim.subscriptions.create(customer_id=customer.id, external_plan_id="pro")
    expected = reference.subscriptions.create(external_customer_id="acme", external_plan_id="pro")
    assert made.id == expected.id
