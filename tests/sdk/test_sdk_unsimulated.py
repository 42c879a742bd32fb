"""What orbsim does not simulate is refused with a 400 naming the field and the value, never
accepted and ignored; null (what the SDK sends when nothing is set) and the value orbsim behaves
as are accepted. Through the SDK with strict response validation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orb
import pytest

from helpers.sdk import START

Call = Callable[[Any, Any, Any], object]
"""``(client, customer, plan) -> ...``: one SDK call."""

TAXES = {"tax_provider": "avalara", "tax_exempt": False}
PHASES = [{"order": 1, "duration": 30, "duration_unit": "daily"}]


def _customer(**fields: Any) -> Call:
    return lambda c, cus, plan: c.customers.create(name="B", email="b@b.test", **fields)


def _customer_update(**fields: Any) -> Call:
    return lambda c, cus, plan: c.customers.update(cus.id, **fields)


def _customer_update_by_alias(**fields: Any) -> Call:
    return lambda c, cus, plan: c.customers.update_by_external_id("acme", **fields)


def _subscription(**fields: Any) -> Call:
    return lambda c, cus, plan: c.subscriptions.create(
        customer_id=cus.id, plan_id=plan.id, **fields
    )


def _subscription_update(**fields: Any) -> Call:
    def call(c: Any, cus: Any, plan: Any) -> object:
        sub = c.subscriptions.list(customer_id=[cus.id]).data[0]
        return c.subscriptions.update(sub.id, **fields)

    return call


def _plan(**fields: Any) -> Call:
    return lambda c, cus, plan: c.plans.create(name="P2", currency="USD", prices=[], **fields)


REFUSED: list[tuple[str, Call, str, str]] = [
    ("customers.create", _customer(auto_collection=True), "auto_collection", "True"),
    ("customers.create", _customer(tax_configuration=TAXES), "tax_configuration", "avalara"),
    (
        "customers.create",
        _customer(hierarchy={"child_customer_ids": ["cus_x"]}),
        "hierarchy",
        "cus_x",
    ),
    ("customers.update", _customer_update(auto_collection=True), "auto_collection", "True"),
    ("customers.update", _customer_update(tax_configuration=TAXES), "tax_configuration", "avalara"),
    (
        "customers.update",
        _customer_update(hierarchy={"parent_customer_id": "cus_p"}),
        "hierarchy",
        "cus_p",
    ),
    (
        "customers.update_by_external_id",
        _customer_update_by_alias(auto_collection=True),
        "auto_collection",
        "True",
    ),
    ("subscriptions.create", _subscription(auto_collection=True), "auto_collection", "True"),
    (
        "subscriptions.create",
        _subscription(invoicing_threshold="100.00"),
        "invoicing_threshold",
        "100.00",
    ),
    ("subscriptions.create", _subscription(plan_version_number=2), "plan_version_number", "2"),
    ("subscriptions.create", _subscription(trial_duration_days=7), "trial_duration_days", "7"),
    ("subscriptions.create", _subscription(initial_phase_order=1), "initial_phase_order", "1"),
    (
        "subscriptions.create",
        _subscription(external_marketplace="aws"),
        "external_marketplace",
        "aws",
    ),
    (
        "subscriptions.create",
        _subscription(external_marketplace_reporting_id="r-1"),
        "external_marketplace_reporting_id",
        "r-1",
    ),
    ("subscriptions.create", _subscription(aws_region="us-east-1"), "aws_region", "us-east-1"),
    ("subscriptions.create", _subscription(currency="EUR"), "currency", "EUR"),
    (
        "subscriptions.update",
        _subscription_update(auto_collection=True),
        "auto_collection",
        "True",
    ),
    (
        "subscriptions.update",
        _subscription_update(invoicing_threshold="5.00"),
        "invoicing_threshold",
        "5.00",
    ),
    ("plans.create", _plan(plan_phases=PHASES), "plan_phases", "duration"),
    ("plans.create", _plan(status="draft"), "status", "draft"),
]


@pytest.fixture
def world(client: Any, customer: Any) -> tuple[Any, Any]:
    """``customer`` (alias ``acme``) subscribed to a USD plan."""
    plan = client.plans.create(name="Usage", currency="USD", prices=[])
    client.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    return customer, plan


def _state(client: Any, customer: Any) -> tuple[object, ...]:
    return (
        [c.to_dict() for c in client.customers.list()],
        [s.to_dict() for s in client.subscriptions.list()],
        [p.to_dict() for p in client.plans.list()],
        client.customers.fetch(customer.id).to_dict(),
    )


@pytest.mark.parametrize(
    ("method", "call", "field", "value"),
    REFUSED,
    ids=[f"{method}-{field}" for method, _, field, _ in REFUSED],
)
def test_an_unsimulated_field_is_refused_and_changes_nothing(
    client: Any, world: tuple[Any, Any], method: str, call: Call, field: str, value: str
) -> None:
    customer, plan = world
    before = _state(client, customer)

    with pytest.raises(orb.RequestValidationError) as refused:
        call(client, customer, plan)

    detail = refused.value.body["detail"]  # type: ignore[index]
    assert field in detail and value in detail and "not simulated" in detail, detail
    assert any(field in str(item) for item in refused.value.body["validation_errors"])  # type: ignore[index]
    assert _state(client, customer) == before


ACCEPTED: list[tuple[str, Call]] = [
    ("customer: nulls", _customer(auto_collection=None, tax_configuration=None, hierarchy=None)),
    ("customer: false / empty", _customer(auto_collection=False, hierarchy={})),
    ("customer update: false", _customer_update(auto_collection=False, tax_configuration=None)),
    (
        "subscription: what orbsim does",
        _subscription(
            auto_collection=False,
            invoicing_threshold=None,
            plan_version_number=1,
            trial_duration_days=0,
            initial_phase_order=None,
            external_marketplace=None,
            currency="USD",
        ),
    ),
    ("subscription update: nulls", _subscription_update(auto_collection=None)),
    ("plan: active, no phases", _plan(status="active", plan_phases=None)),
]


@pytest.mark.parametrize(("case", "call"), ACCEPTED, ids=[case for case, _ in ACCEPTED])
def test_null_and_what_orbsim_does_are_accepted(
    client: Any, world: tuple[Any, Any], case: str, call: Call
) -> None:
    customer, plan = world
    call(client, customer, plan)


def test_the_plans_net_terms_and_memo_are_the_subscriptions_default(
    client: Any, customer: Any, sim: Any, clock: Any
) -> None:
    """SDK ``subscriptions.create``: net_terms "If not provided, this defaults to the value
    specified in the plan"; the memo: "if this is not provided, it is determined by the plan"."""
    plan = client.plans.create(
        name="Net 30", currency="USD", prices=[], net_terms=30, default_invoice_memo="plan memo"
    )
    sub = client.subscriptions.create(
        customer_id=customer.id, plan_id=plan.id, start_date=START - timedelta(days=45)
    )

    issued = [i for i in client.invoices.list(subscription_id=sub.id) if i.status == "issued"]
    assert issued, "a past period was issued at creation"
    invoice = issued[0]
    assert invoice.memo == "plan memo"
    assert invoice.due_date == invoice.invoice_date + timedelta(days=30)


def test_auto_issuance_at_subscription_creation_is_kept(client: Any, customer: Any) -> None:
    """It was accepted and echoed but lost at creation; now it decides issuance (here: manual)."""
    plan = client.plans.create(name="Manual", currency="USD", prices=[])
    sub = client.subscriptions.create(
        customer_id=customer.id,
        plan_id=plan.id,
        start_date=START - timedelta(days=45),
        auto_issuance=False,
    )

    assert sub.auto_issuance is False
    statuses = {i.status for i in client.invoices.list(subscription_id=sub.id)}
    assert "issued" not in statuses
