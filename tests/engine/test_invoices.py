"""The invoice lifecycle in the engine: steps settled lazily in time order, schedules that
survive snapshots and state files (and start for files written before invoices existed), and
what deleting a customer does to its invoice schedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orbsim import (
    ConstraintViolation,
    ManualClock,
    OrbSim,
    ResourceNotFound,
    Settings,
)

MAY = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2024, 5, 10, tzinfo=UTC))


@pytest.fixture
def sim(clock: ManualClock) -> OrbSim:
    return OrbSim(clock=clock)


def subscribe(sim: OrbSim, name: str = "acme", **fields: Any) -> str:
    customer = sim.customers.create(name=name, email=f"{name}@x.test")
    plan = sim.plans.create(name="P")
    return sim.subscriptions.create(
        customer_id=customer.id, plan_id=plan.id, start_date=MAY, **fields
    ).id


def test_many_subscriptions_issue_in_time_order_at_one_settlement(
    sim: OrbSim, clock: ManualClock
) -> None:
    for day in (20, 5, 12):
        subscribe(sim, f"c{day}", billing_cycle_anchor_configuration={"day": day})
    clock.set(datetime(2024, 6, 25, tzinfo=UTC))
    issued = [invoice.issued_at for invoice in sim.invoices.list(limit=100).data]
    # Periods end on the anchor day; each invoice issues 12 h later. The first period of the
    # subscription anchored on the 5th ended before it was created (May 10): it issues then.
    assert sorted(at for at in issued if at is not None) == [
        datetime(2024, 5, 10, tzinfo=UTC),
        datetime(2024, 5, 12, 12, tzinfo=UTC),
        datetime(2024, 5, 20, 12, tzinfo=UTC),
        datetime(2024, 6, 5, 12, tzinfo=UTC),
        datetime(2024, 6, 12, 12, tzinfo=UTC),
        datetime(2024, 6, 20, 12, tzinfo=UTC),
    ]


def test_the_webhooks_of_one_settlement_arrive_in_the_order_things_happened(
    sim: OrbSim, clock: ManualClock
) -> None:
    seen: list[tuple[str, datetime]] = []
    sim.webhooks.mount(
        "http://localhost/h",
        lambda r: seen.append((json.loads(r.body)["type"], json.loads(r.body)["created_at"])),
    )
    sim.webhook_endpoints.create(url="http://localhost/h")
    subscribe(sim, end_date=datetime(2024, 6, 10, tzinfo=UTC))
    clock.set(datetime(2024, 7, 1, tzinfo=UTC))
    sim.now()
    types = [t for t, _ in seen]
    assert types[-3:] == ["invoice.issued", "subscription.ended", "invoice.issued"]
    moments = [at for _, at in seen]
    assert moments == sorted(moments)


def test_invoice_issued_announces_the_invoice_as_it_was_when_it_issued(
    sim: OrbSim, clock: ManualClock
) -> None:
    # The call that voids the invoice first settles its issuance: the webhook, delivered when
    # that call ends, still shows the invoice as issued then, not as voided a moment later.
    bodies: list[Any] = []
    sim.webhooks.mount("http://localhost/h", lambda r: bodies.append(json.loads(r.body)))
    sim.webhook_endpoints.create(url="http://localhost/h", enabled_event_types=["invoice.issued"])
    subscribe(sim)
    clock.set(datetime(2024, 6, 1, 6, tzinfo=UTC))
    drafts = sim.invoices.list(limit=100, status="draft").data
    (draft,) = [i for i in drafts if i.invoice_date == datetime(2024, 6, 1, tzinfo=UTC)]
    clock.set(datetime(2024, 6, 2, tzinfo=UTC))
    voided = sim.invoices.void(draft.id)
    assert voided.status == "void" and voided.voided_at is not None
    (body,) = [b for b in bodies if b["invoice"]["id"] == draft.id]
    assert body["invoice"]["status"] == "issued"
    assert body["invoice"]["voided_at"] is None
    assert body["invoice"]["issued_at"] == "2024-06-01T12:00:00Z"


def test_a_deleted_customers_schedule_stops(sim: OrbSim, clock: ManualClock) -> None:
    sub = subscribe(sim)
    draft = sim.invoices.fetch_upcoming(subscription_id=sub)
    sim.customers.delete(draft.customer.id)
    clock.set(datetime(2024, 9, 1, tzinfo=UTC))
    with pytest.raises(ResourceNotFound):
        sim.invoices.fetch(draft.id)
    assert sim.invoices.list(status=["draft", "issued"]).data == []
    assert sim.engine.state.invoice_timers == []  # popped and dropped, not kept forever


def test_a_snapshot_restores_the_schedule_with_the_invoices(
    sim: OrbSim, clock: ManualClock
) -> None:
    sub = subscribe(sim)
    draft = sim.invoices.fetch_upcoming(subscription_id=sub)
    snapshot = sim.snapshot()
    clock.set(datetime(2024, 6, 2, tzinfo=UTC))
    assert sim.invoices.fetch(draft.id).status == "issued"
    sim.restore(snapshot)
    # restored to a draft whose issuance is still to come; the clock then settles it again
    assert sim.invoices.fetch(draft.id).status == "issued"
    assert [i.id for i in sim.invoices.list().data] == [draft.id]


def test_a_state_file_written_before_invoices_existed_gets_its_invoices(
    sim: OrbSim, clock: ManualClock, tmp_path: Path
) -> None:
    sub = subscribe(sim)
    path = tmp_path / "state.json"
    sim.dump(path)
    document = json.loads(path.read_text())
    del document["state"]["invoices"], document["state"]["invoice_timers"]
    path.write_text(json.dumps(document))
    loaded = OrbSim.load(path, clock=clock)
    assert loaded.invoices.fetch_upcoming(subscription_id=sub).id == (
        sim.invoices.fetch_upcoming(subscription_id=sub).id
    )  # ids come from the seed, the subscription and the invoice date
    clock.set(datetime(2024, 6, 2, tzinfo=UTC))
    assert [i.invoice_date for i in loaded.invoices.list().data] == [
        datetime(2024, 6, 1, tzinfo=UTC)
    ]


def test_invoices_take_no_ids_from_the_account(clock: ManualClock) -> None:
    """Settling invoices does not change the ids other resources get."""
    early, late = OrbSim(clock=ManualClock(clock.now())), OrbSim(clock=clock)
    for sim in (early, late):
        subscribe(sim)
    clock.set(datetime(2024, 9, 1, tzinfo=UTC))
    late.now()  # settles four invoices
    assert early.customers.create(name="n", email="n@x.test").id == (
        late.customers.create(name="n", email="n@x.test").id
    )


def test_manual_issuance_is_read_when_the_draft_becomes_eligible(clock: ManualClock) -> None:
    sim = OrbSim(settings=Settings(auto_issue_invoices=False), clock=clock)
    sub = subscribe(sim)
    draft = sim.invoices.fetch_upcoming(subscription_id=sub)
    sim.customers.update(draft.customer.id, auto_issuance=True)  # before it is eligible
    clock.set(datetime(2024, 6, 2, tzinfo=UTC))
    assert sim.invoices.fetch(draft.id).status == "issued"
    june = sim.invoices.fetch_upcoming(subscription_id=sub)
    sim.customers.update(draft.customer.id, auto_issuance=False)
    clock.set(datetime(2024, 7, 2, tzinfo=UTC))
    assert sim.invoices.fetch(june.id).status == "draft"
    assert sim.invoices.issue(june.id).issued_at == datetime(2024, 7, 2, tzinfo=UTC)
    with pytest.raises(ConstraintViolation, match="its status is issued"):
        sim.invoices.issue(june.id)


def test_the_grace_period_setting_moves_issuance(clock: ManualClock) -> None:
    sim = OrbSim(settings=Settings(grace_period=timedelta(days=2)), clock=clock)
    sub = subscribe(sim)
    draft = sim.invoices.fetch_upcoming(subscription_id=sub)
    assert draft.eligible_to_issue_at == datetime(2024, 6, 3, tzinfo=UTC)
    clock.set(datetime(2024, 6, 3, tzinfo=UTC) - timedelta(microseconds=1))
    assert sim.invoices.fetch(draft.id).status == "draft"
    clock.set(datetime(2024, 6, 3, tzinfo=UTC))
    assert sim.invoices.fetch(draft.id).status == "issued"
