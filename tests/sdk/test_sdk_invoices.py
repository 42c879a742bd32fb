"""Invoices through the official SDK, strictly validated: the lifecycle on the simulator's clock
(draft while the period runs and through its grace period, then issued and frozen), manual
issuance, void and mark_paid, list filters, the ``invoice.issued`` webhook, and bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orb
import pytest
from orb.types.unwrap_webhook_event import UnwrapWebhookEvent
from orb.types.webhooks.unwrap_standard_webhook_event import UnwrapStandardWebhookEvent

from helpers.sdk import sdk_validate
from orbsim import ManualClock, OrbSim, Settings

MAY = datetime(2024, 5, 1, tzinfo=UTC)
JUNE = datetime(2024, 6, 1, tzinfo=UTC)
JULY = datetime(2024, 7, 1, tzinfo=UTC)
GRACE = timedelta(hours=12)
HOOK = "http://localhost:8088/orb/webhooks"


def subscribe(client: Any, *, external_customer_id: str = "acme", **customer: Any) -> Any:
    """A customer on a monthly plan since May 1st (periods are calendar months)."""
    created = client.customers.create(
        name="Acme", email="ops@acme.test", external_customer_id=external_customer_id, **customer
    )
    plan = client.plans.create(name="Platform", currency="USD", prices=[])
    return client.subscriptions.create(customer_id=created.id, plan_id=plan.id, start_date=MAY)


def at(clock: ManualClock, moment: datetime) -> None:
    clock.set(moment)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2024, 5, 10, tzinfo=UTC))


def test_the_upcoming_invoice_is_the_draft_of_the_current_period(client: Any) -> None:
    sub = subscribe(client)
    upcoming = client.invoices.fetch_upcoming(subscription_id=sub.id)
    assert upcoming.status == "draft"
    assert upcoming.target_date == JUNE  # the invoice date is the period end
    assert upcoming.eligible_to_issue_at == JUNE + GRACE
    assert upcoming.will_auto_issue is True and upcoming.issued_at is None
    assert upcoming.subscription is not None and upcoming.subscription.id == sub.id
    assert upcoming.customer.external_customer_id == "acme"
    assert (upcoming.subtotal, upcoming.total, upcoming.amount_due) == ("0.00", "0.00", "0.00")
    assert upcoming.due_date is None  # not finalised
    # The same invoice, fetched by id, carries its invoice date.
    fetched = client.invoices.fetch(upcoming.id)
    assert fetched.invoice_date == JUNE and fetched.status == "draft"


def test_a_draft_issues_at_period_end_plus_grace_and_the_next_period_opens(
    client: Any, clock: ManualClock
) -> None:
    sub = subscribe(client)
    may = client.invoices.fetch_upcoming(subscription_id=sub.id)
    assert client.invoices.list().data == []  # drafts are listed only when asked for

    at(clock, JUNE + GRACE - timedelta(seconds=1))
    assert client.invoices.fetch(may.id).status == "draft"  # still within the grace period
    june = client.invoices.fetch_upcoming(subscription_id=sub.id)
    assert june.id != may.id and june.target_date == JULY

    at(clock, JUNE + GRACE)
    issued = client.invoices.fetch(may.id)
    assert issued.status == "issued" and issued.issued_at == JUNE + GRACE
    assert issued.eligible_to_issue_at is None and issued.will_auto_issue is False
    assert issued.due_date == JUNE  # net terms 0
    assert issued.memo is None
    assert [i.id for i in client.invoices.list().data] == [may.id]
    drafts = client.invoices.list(status=["draft"]).data
    assert [i.id for i in drafts] == [june.id]


def test_invoices_issue_lazily_each_at_its_own_moment(client: Any, clock: ManualClock) -> None:
    sub = subscribe(client)
    at(clock, datetime(2024, 8, 15, tzinfo=UTC))  # three period ends passed in one step
    issued = client.invoices.list(subscription_id=sub.id).data
    assert [i.invoice_date for i in issued] == [
        datetime(2024, 8, 1, tzinfo=UTC),
        JULY,
        JUNE,
    ]  # newest invoice date first
    assert [i.issued_at for i in issued] == [i.invoice_date + GRACE for i in issued]


def test_invoice_issued_arrives_at_its_moment_and_verifies(
    sim: OrbSim, client: Any, clock: ManualClock
) -> None:
    inbox = sim.webhooks.mount(HOOK)
    endpoint = client.webhook_endpoints.create(url=HOOK, enabled_event_types=["invoice.issued"])
    sub = subscribe(client)
    draft = client.invoices.fetch_upcoming(subscription_id=sub.id)
    at(clock, JULY)
    assert inbox.requests == []  # settled lazily, by the next operation
    client.invoices.fetch(draft.id)
    assert len(inbox.requests) == 1
    request = inbox.requests[0]
    event = client.webhooks.unwrap(request.body, request.headers, secret=endpoint.secret)
    sdk_validate(UnwrapWebhookEvent, json.loads(request.body))
    assert event.type == "invoice.issued"
    assert event.created_at == JUNE + GRACE  # the simulated moment it issued
    assert event.invoice.id == draft.id and event.invoice.status == "issued"
    assert event.properties.automatically_marked_as_paid is False


def test_manual_issuance_keeps_drafts_until_issue(clock: ManualClock) -> None:
    sim = OrbSim(settings=Settings(auto_issue_invoices=False), clock=clock)
    client = sim.client(_strict_response_validation=True)
    sub = subscribe(client)
    draft = client.invoices.fetch_upcoming(subscription_id=sub.id)
    assert draft.will_auto_issue is False
    with pytest.raises(orb.BadRequestError, match="eligible for issuance at 2024-06-01T12:00:00Z"):
        client.invoices.issue(draft.id)
    at(clock, JULY)
    waiting = client.invoices.fetch(draft.id)
    assert waiting.status == "draft" and waiting.eligible_to_issue_at == JUNE + GRACE
    issued = client.invoices.issue(draft.id, synchronous=True)
    assert issued.status == "issued" and issued.issued_at == JULY


def test_the_customers_auto_issuance_overrides_the_account_setting(clock: ManualClock) -> None:
    manual = OrbSim(settings=Settings(auto_issue_invoices=False), clock=clock)
    client = manual.client(_strict_response_validation=True)
    sub = subscribe(client, auto_issuance=True)
    assert client.invoices.fetch_upcoming(subscription_id=sub.id).will_auto_issue is True
    automatic = OrbSim(clock=clock).client(_strict_response_validation=True)
    held = subscribe(automatic, auto_issuance=False)
    draft = automatic.invoices.fetch_upcoming(subscription_id=held.id)
    at(clock, JULY)
    assert client.invoices.list(subscription_id=sub.id).data[0].status == "issued"
    assert automatic.invoices.fetch(draft.id).status == "draft"


def test_issuing_voiding_and_paying_follow_the_status(client: Any, clock: ManualClock) -> None:
    sub = subscribe(client)
    draft = client.invoices.fetch_upcoming(subscription_id=sub.id)
    with pytest.raises(orb.BadRequestError, match="status is draft; only an issued invoice can be"):
        client.invoices.mark_paid(draft.id, payment_received_date="2024-06-02")
    with pytest.raises(orb.BadRequestError, match="cannot be voided: its status is draft"):
        client.invoices.void(draft.id)
    with pytest.raises(orb.BadRequestError, match="eligible for issuance at 2024-06-01T12:00:00Z"):
        client.invoices.issue(draft.id)
    at(clock, JULY)
    with pytest.raises(orb.BadRequestError, match="cannot be issued: its status is issued"):
        client.invoices.issue(draft.id)
    paid = client.invoices.mark_paid(draft.id, payment_received_date="2024-06-02", notes="wire")
    assert paid.status == "paid" and paid.paid_at == JULY
    assert paid.payment_received_at == datetime(2024, 6, 2, tzinfo=UTC)
    with pytest.raises(orb.BadRequestError, match="cannot be voided: its status is paid"):
        client.invoices.void(draft.id)
    with pytest.raises(orb.BadRequestError, match="cannot be marked as paid: its status is paid"):
        client.invoices.mark_paid(draft.id, payment_received_date="2024-06-02")


def test_void_then_nothing_else(client: Any, clock: ManualClock) -> None:
    sub = subscribe(client)
    draft = client.invoices.fetch_upcoming(subscription_id=sub.id)
    at(clock, JULY)
    voided = client.invoices.void(draft.id)
    assert voided.status == "void" and voided.voided_at == JULY
    with pytest.raises(orb.BadRequestError, match="status is void"):
        client.invoices.issue(draft.id)
    with pytest.raises(orb.BadRequestError, match="status is void"):
        client.invoices.mark_paid(draft.id, payment_received_date="2024-07-01")
    assert [i.id for i in client.invoices.list(status=["void"]).data] == [draft.id]


def test_unknown_ids_are_404(client: Any) -> None:
    calls: tuple[Callable[[], object], ...] = (
        lambda: client.invoices.fetch("nope"),
        lambda: client.invoices.issue("nope"),
        lambda: client.invoices.void("nope"),
        lambda: client.invoices.mark_paid("nope", payment_received_date="2024-06-01"),
        lambda: client.invoices.fetch_upcoming(subscription_id="nope"),
    )
    for call in calls:
        with pytest.raises(orb.NotFoundError):
            call()


def test_bad_parameters_are_400(client: Any) -> None:
    sub = subscribe(client)
    draft = client.invoices.fetch_upcoming(subscription_id=sub.id)
    with pytest.raises(orb.BadRequestError, match="payment_received_date"):
        client.invoices.mark_paid(draft.id, payment_received_date="yesterday")
    with pytest.raises(orb.BadRequestError, match=r"date_type: .due_date. is not simulated"):
        client.invoices.list(date_type="due_date")
    with pytest.raises(orb.BadRequestError, match="status"):
        client.invoices.list(extra_query={"status[]": "lost"})
    with pytest.raises(orb.BadRequestError, match="unknown query parameter 'colour'"):
        client.invoices.list(extra_query={"colour": "red"})


def test_an_upcoming_or_ended_subscription_has_no_upcoming_invoice(
    client: Any, clock: ManualClock
) -> None:
    customer = client.customers.create(name="Later", email="l@x.test")
    plan = client.plans.create(name="P", currency="USD", prices=[])
    later = client.subscriptions.create(customer_id=customer.id, plan_id=plan.id, start_date=JULY)
    with pytest.raises(orb.BadRequestError, match="is upcoming"):
        client.invoices.fetch_upcoming(subscription_id=later.id)
    ending = client.subscriptions.create(
        customer_id=customer.id,
        plan_id=plan.id,
        start_date=MAY,
        end_date=datetime(2024, 5, 20, tzinfo=UTC),
    )
    assert client.invoices.fetch_upcoming(subscription_id=ending.id).target_date == datetime(
        2024, 5, 20, tzinfo=UTC
    )  # the last invoice is dated at the subscription's end
    at(clock, datetime(2024, 5, 21, tzinfo=UTC))
    with pytest.raises(orb.BadRequestError, match="is ended"):
        client.invoices.fetch_upcoming(subscription_id=ending.id)
    (last,) = client.invoices.list(subscription_id=ending.id).data
    assert last.invoice_date == datetime(2024, 5, 20, tzinfo=UTC)


def test_list_filters_and_pages(client: Any, clock: ManualClock) -> None:
    first = subscribe(client, external_customer_id="one")
    second = subscribe(client, external_customer_id="two")
    at(clock, datetime(2024, 8, 15, tzinfo=UTC))
    assert len(client.invoices.list().data) == 6
    by_alias = client.invoices.list(external_customer_id="two").data
    assert {i.subscription.id for i in by_alias} == {second.id}
    by_customer = client.invoices.list(customer_id=first.customer.id).data
    assert {i.subscription.id for i in by_customer} == {first.id}
    recent = client.invoices.list(invoice_date_gte=JULY, subscription_id=first.id).data
    assert [i.invoice_date for i in recent] == [datetime(2024, 8, 1, tzinfo=UTC), JULY]
    before = client.invoices.list(invoice_date_lt=JULY, subscription_id=first.id).data
    assert [i.invoice_date for i in before] == [JUNE]
    assert client.invoices.list(is_recurring=False).data == []
    assert len(client.invoices.list(amount="0.00").data) == 6
    assert client.invoices.list(amount_gt="0").data == []
    assert len(client.invoices.list(due_date="2024-06-01").data) == 2
    pages = [[i.id for i in p.data] for p in client.invoices.list(limit=4).iter_pages()]
    assert [len(p) for p in pages] == [4, 2]
    assert len({i for p in pages for i in p}) == 6


def test_a_customer_with_an_issued_invoice_cannot_be_deleted(
    client: Any, clock: ManualClock
) -> None:
    sub = subscribe(client)
    other = subscribe(client, external_customer_id="other")
    at(clock, JUNE + GRACE - timedelta(seconds=1))
    client.customers.delete(other.customer.id)  # drafts only: deletable
    with pytest.raises(orb.NotFoundError):
        client.invoices.list(customer_id=other.customer.id)
    at(clock, JUNE + GRACE)
    issued = client.invoices.list().data
    assert [i.subscription.id for i in issued] == [sub.id]  # the deleted one issues nothing
    with pytest.raises(orb.BadRequestError, match=f"has an issued invoice, {issued[0].id}"):
        client.customers.delete(sub.customer.id)


def test_invoices_survive_a_state_file(
    sim: OrbSim, client: Any, clock: ManualClock, tmp_path: Any
) -> None:
    sub = subscribe(client)
    draft = client.invoices.fetch_upcoming(subscription_id=sub.id)
    sim.dump(tmp_path / "state.json")
    restored = OrbSim.load(tmp_path / "state.json", clock=clock)
    at(clock, JULY)  # the schedule came along: the draft issues on the restored clock
    assert restored.invoices.fetch(draft.id).status == "issued"
    assert restored.invoices.fetch_upcoming(subscription_id=sub.id).target_date == datetime(
        2024, 8, 1, tzinfo=UTC
    )


def test_the_subscriptions_auto_issuance_overrides_the_customers(
    client: Any, clock: ManualClock
) -> None:
    sub = subscribe(client, auto_issuance=True)
    client.subscriptions.update(sub.id, auto_issuance=False)
    draft = client.invoices.fetch_upcoming(subscription_id=sub.id)
    assert draft.will_auto_issue is False
    at(clock, JULY)
    assert client.invoices.fetch(draft.id).status == "draft"
    client.subscriptions.update(sub.id, auto_issuance=None)  # back to the customer's: automatic
    june = client.invoices.fetch_upcoming(subscription_id=sub.id)
    assert june.will_auto_issue is True


def test_net_terms_set_the_due_date_and_the_memo_comes_from_the_subscription(
    client: Any, clock: ManualClock
) -> None:
    sub = subscribe(client)
    client.subscriptions.update(sub.id, net_terms=30, default_invoice_memo="Thank you!")
    draft = client.invoices.fetch_upcoming(subscription_id=sub.id)
    assert draft.due_date is None and draft.memo == "Thank you!"
    at(clock, JULY)
    issued = client.invoices.fetch(draft.id)
    assert issued.due_date == JUNE + timedelta(days=30)
    assert [i.id for i in client.invoices.list(due_date_gt="2024-06-30").data] == [draft.id]
    assert client.invoices.list(due_date_lt="2024-07-01").data == []
    client.subscriptions.update(sub.id, net_terms=0, default_invoice_memo=None)
    frozen = client.invoices.fetch(draft.id)  # issued: its due date and memo stay
    assert (frozen.due_date, frozen.memo) == (JUNE + timedelta(days=30), "Thank you!")


def test_a_standard_endpoint_gets_the_standard_invoice(
    sim: OrbSim, client: Any, clock: ManualClock
) -> None:
    inbox = sim.webhooks.mount(HOOK)
    endpoint = client.webhook_endpoints.create(
        url=HOOK, enabled_event_types=["invoice.issued"], payload_style="standard"
    )
    sub = subscribe(client)
    draft = client.invoices.fetch_upcoming(subscription_id=sub.id)
    at(clock, JULY)
    client.invoices.fetch(draft.id)
    (request,) = inbox.requests
    parsed = client.webhooks.unwrap_standard(request.body, request.headers, secret=endpoint.secret)
    sdk_validate(UnwrapStandardWebhookEvent, json.loads(request.body))
    assert parsed.type == "invoice.issued" and parsed.invoice.id == draft.id
    assert "line_items" not in json.loads(request.body)["invoice"]


def test_what_would_change_invoice_amounts_is_refused_not_ignored(client: Any) -> None:
    with pytest.raises(orb.BadRequestError, match=r"plan: adjustments: .* is not simulated"):
        client.plans.create(
            name="Discounted",
            currency="USD",
            prices=[],
            adjustments=[
                {
                    "adjustment": {
                        "adjustment_type": "percentage_discount",
                        "percentage_discount": 0.1,
                        "applies_to_price_ids": [],
                    }
                }
            ],
        )
    customer = client.customers.create(name="Acme", email="ops@acme.test")
    plan = client.plans.create(name="Platform", currency="USD", prices=[])
    for fields in (
        {"coupon_redemption_code": "SPRING"},
        {"price_overrides": [{"id": "x"}]},
        {"per_credit_overage_amount": 1.5},
    ):
        with pytest.raises(orb.BadRequestError, match=f"{next(iter(fields))}: .* is not simulated"):
            client.subscriptions.create(customer_id=customer.id, plan_id=plan.id, **fields)
    assert client.subscriptions.list().data == []  # nothing was created
