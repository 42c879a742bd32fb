"""The whole invoice story through the official SDK, strictly validated: usage through a period,
the upcoming invoice from the prices, a backfill into the open period changing the draft, the
clock passing end + grace, ``invoice.issued`` arriving and verifying, a later backfill leaving
the issued invoice unchanged, and a revert restoring the draft of the current period. Line items
per price: quantity, amounts, sub line items for tiers and matrix cells, dates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from orb.types.unwrap_webhook_event import UnwrapWebhookEvent

from helpers.sdk import sdk_validate
from orbsim import ManualClock, OrbSim

MAY = datetime(2024, 5, 1, tzinfo=UTC)
JUNE = datetime(2024, 6, 1, tzinfo=UTC)
JULY = datetime(2024, 7, 1, tzinfo=UTC)
HOOK = "http://localhost:8088/orb/webhooks"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2024, 5, 10, 12, tzinfo=UTC))


def catalog(client: Any, *, advance: bool = True) -> tuple[Any, Any]:
    """A plan with a tiered count of calls, a matrix of calls by region and a $20 fee."""
    item = client.items.create(name="API")
    calls = client.metrics.create(
        name="API calls",
        description=None,
        item_id=item.id,
        sql="SELECT COUNT(*) FROM events WHERE event_name = 'api_call'",
    )
    common = {"item_id": item.id, "cadence": "monthly", "currency": "USD"}
    plan = client.plans.create(
        name="Usage",
        currency="USD",
        prices=[
            {
                "price": {
                    **common,
                    "name": "calls",
                    "billable_metric_id": calls.id,
                    "model_type": "tiered",
                    "tiered_config": {
                        "tiers": [
                            {"first_unit": 0, "last_unit": 2, "unit_amount": "1.00"},
                            {"first_unit": 2, "last_unit": None, "unit_amount": "0.25"},
                        ]
                    },
                }
            },
            {
                "price": {
                    **common,
                    "name": "calls by region",
                    "billable_metric_id": calls.id,
                    "model_type": "matrix",
                    "matrix_config": {
                        "dimensions": ["region"],
                        "default_unit_amount": "0.10",
                        "matrix_values": [{"dimension_values": ["eu"], "unit_amount": "0.50"}],
                    },
                }
            },
            {
                "price": {
                    **common,
                    "name": "platform fee",
                    "model_type": "unit",
                    "unit_config": {"unit_amount": "20.00"},
                    "billed_in_advance": advance,
                }
            },
        ],
    )
    return plan, calls


def calls(
    customer_id: str, day: int, count: int, region: str = "eu", prefix: str = "c"
) -> list[dict[str, Any]]:
    return [
        {
            "idempotency_key": f"{prefix}-{day}-{i}",
            "event_name": "api_call",
            "customer_id": customer_id,
            "timestamp": f"2024-05-{day:02d}T0{i % 10}:00:00Z",
            "properties": {"region": region},
        }
        for i in range(count)
    ]


def lines(invoice: Any) -> dict[str, tuple[float, str]]:
    return {line.name: (line.quantity, line.amount) for line in invoice.line_items}


def test_the_whole_story(sim: OrbSim, client: Any, clock: ManualClock) -> None:
    inbox = sim.webhooks.mount(HOOK)
    endpoint = client.webhook_endpoints.create(url=HOOK, enabled_event_types=["invoice.issued"])
    plan, _ = catalog(client)
    customer = client.customers.create(name="Acme", email="ops@acme.test")
    sub = client.subscriptions.create(customer_id=customer.id, plan_id=plan.id, start_date=MAY)

    # The fee billed in advance for May is on the invoice dated at the start, issued at once.
    (opening,) = client.invoices.list(subscription_id=sub.id).data
    assert opening.invoice_date == MAY and opening.issued_at == datetime(
        2024, 5, 10, 12, tzinfo=UTC
    )
    assert lines(opening) == {"platform fee": (1.0, "20.00")}
    assert opening.line_items[0].start_date == MAY and opening.line_items[0].end_date == JUNE

    # Usage through the period: 3 calls from eu, 2 from us.
    client.events.ingest(events=calls(customer.id, 10, 3) + calls(customer.id, 10, 2, "us", "u"))
    upcoming = client.invoices.fetch_upcoming(subscription_id=sub.id)
    assert upcoming.target_date == JUNE and upcoming.status == "draft"
    assert lines(upcoming) == {
        "calls": (5.0, "2.75"),  # 2 x $1.00 + 3 x $0.25
        "calls by region": (5.0, "1.70"),  # 3 x $0.50 + 2 x $0.10
        "platform fee": (1.0, "20.00"),  # June's, in advance
    }
    assert (upcoming.subtotal, upcoming.total, upcoming.amount_due) == ("24.45",) * 3
    tiered, matrix, fee = upcoming.line_items
    assert [(s.type, s.quantity, s.amount) for s in tiered.sub_line_items] == [
        ("tier", 2.0, "2.00"),
        ("tier", 3.0, "0.75"),
    ]
    assert [(s.matrix_config.dimension_values, s.amount) for s in matrix.sub_line_items] == [
        (["eu"], "1.50"),
        (["us"], "0.20"),
    ]
    assert (tiered.start_date, tiered.end_date) == (MAY, JUNE)
    assert (fee.start_date, fee.end_date) == (JUNE, JULY)

    # A backfill into the open period (replacing May 10's calls by 10 us calls) changes the draft.
    clock.set(datetime(2024, 5, 20, tzinfo=UTC))
    backfill = client.events.backfills.create(
        timeframe_start="2024-05-10T00:00:00Z",
        timeframe_end="2024-05-11T00:00:00Z",
        customer_id=customer.id,
        replace_existing_events=True,
    )
    client.events.ingest(backfill_id=backfill.id, events=calls(customer.id, 10, 10, "us", "fix"))
    assert client.events.backfills.close(backfill.id).status == "pending"  # reflects async
    assert lines(client.invoices.fetch(upcoming.id))["calls"] == (5.0, "2.75")
    assert client.events.backfills.fetch(backfill.id).status == "reflected"  # the first poll
    draft = client.invoices.fetch(upcoming.id)
    assert lines(draft)["calls"] == (10.0, "4.00") and lines(draft)["calls by region"] == (
        10.0,
        "1.00",
    )

    # The clock passes June 1 + grace: the May invoice issues, invoice.issued verifies.
    clock.set(JUNE + timedelta(hours=12))
    issued = client.invoices.fetch(upcoming.id)
    assert issued.status == "issued" and issued.total == "25.00"
    first, request = inbox.requests  # the opening invoice issued when the subscription began
    assert json.loads(first.body)["invoice"]["id"] == opening.id
    event = client.webhooks.unwrap(request.body, request.headers, secret=endpoint.secret)
    sdk_validate(UnwrapWebhookEvent, json.loads(request.body))
    assert event.type == "invoice.issued" and event.created_at == JUNE + timedelta(hours=12)
    assert event.invoice.id == issued.id and event.invoice.total == "25.00"

    # A later backfill into May changes usage, never the issued invoice.
    clock.set(JUNE + timedelta(days=2))
    late = client.events.backfills.create(
        timeframe_start="2024-05-20T00:00:00Z",
        timeframe_end="2024-05-21T00:00:00Z",
        customer_id=customer.id,
        replace_existing_events=False,
    )
    client.events.ingest(backfill_id=late.id, events=calls(customer.id, 20, 4, "eu", "late"))
    assert client.events.backfills.close(late.id).status == "pending"
    assert client.events.backfills.fetch(late.id).status == "reflected"
    may_usage = client.subscriptions.fetch_usage(
        sub.id, timeframe_start=MAY, timeframe_end=JUNE
    ).data[0]
    assert may_usage.usage[0].quantity == 14
    assert client.invoices.fetch(issued.id).total == "25.00"
    assert client.invoices.fetch(issued.id).line_items == issued.line_items

    # In June: usage, a backfill into the open period, then its revert restores the draft.
    june_calls = [
        {**e, "timestamp": e["timestamp"].replace("2024-05-01T0", "2024-06-02T2")}
        for e in calls(customer.id, 1, 3, "eu", "jun")
    ]
    client.events.ingest(events=june_calls)
    before = client.invoices.fetch_upcoming(subscription_id=sub.id)
    assert lines(before)["calls"] == (3.0, "2.25")
    fix = client.events.backfills.create(
        timeframe_start="2024-06-01T00:00:00Z",
        timeframe_end="2024-06-02T00:00:00Z",
        customer_id=customer.id,
        replace_existing_events=False,
    )
    client.events.ingest(
        backfill_id=fix.id,
        events=[
            {**e, "timestamp": "2024-06-01T05:00:00Z"} for e in calls(customer.id, 1, 2, "eu", "bf")
        ],
    )
    assert client.events.backfills.close(fix.id).status == "pending"
    assert client.events.backfills.fetch(fix.id).status == "reflected"
    assert lines(client.invoices.fetch_upcoming(subscription_id=sub.id))["calls"] == (5.0, "2.75")
    assert client.events.backfills.revert(fix.id).status == "pending_revert"
    assert lines(client.invoices.fetch_upcoming(subscription_id=sub.id))["calls"] == (5.0, "2.75")
    assert client.events.backfills.fetch(fix.id).status == "reverted"
    restored = client.invoices.fetch_upcoming(subscription_id=sub.id)
    assert restored.id == before.id and lines(restored) == lines(before)


def test_fixed_fee_only_invoices_need_no_grace(client: Any, clock: ManualClock) -> None:
    item = client.items.create(name="Seat")
    plan = client.plans.create(
        name="Flat",
        currency="USD",
        prices=[
            {
                "price": {
                    "item_id": item.id,
                    "cadence": "monthly",
                    "currency": "USD",
                    "name": "seat",
                    "model_type": "unit",
                    "unit_config": {"unit_amount": "9.99"},
                    "fixed_price_quantity": 3,
                }
            }
        ],
    )
    customer = client.customers.create(name="Acme", email="ops@acme.test")
    sub = client.subscriptions.create(customer_id=customer.id, plan_id=plan.id, start_date=MAY)
    draft = client.invoices.fetch_upcoming(subscription_id=sub.id)
    assert draft.eligible_to_issue_at == JUNE  # in arrears, fixed only: at the invoice date
    assert lines(draft) == {"seat": (3.0, "29.97")}
    clock.set(JUNE)
    assert client.invoices.fetch(draft.id).status == "issued"


def test_zero_quantity_lines_can_be_hidden(client: Any) -> None:
    plan, _ = catalog(client, advance=False)
    customer = client.customers.create(name="Acme", email="ops@acme.test")
    sub = client.subscriptions.create(customer_id=customer.id, plan_id=plan.id, start_date=MAY)
    every = client.invoices.fetch_upcoming(subscription_id=sub.id)
    assert [line.name for line in every.line_items] == ["calls", "calls by region", "platform fee"]
    shown = client.invoices.fetch_upcoming(
        subscription_id=sub.id, include_zero_quantity_line_items=False
    )
    assert [line.name for line in shown.line_items] == ["platform fee"]
    assert shown.hidden_line_item_count == 2 and shown.total == every.total == "20.00"
