"""The billable view (``sim.billable_events``) and the audit trail (``sim.event_versions``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orbsim import ManualClock, OrbSim, RequestValidationError, ResourceNotFound
from orbsim.models import Customer

NOW = datetime(2024, 5, 20, 12, tzinfo=UTC)


def customer(sim: OrbSim, alias: str) -> Customer:
    created = sim.customers.create(
        name=alias, email=f"{alias}@example.com", external_customer_id=alias
    )
    plan = sim.plans.create(name="p")
    sim.subscriptions.create(
        customer_id=created.id, plan_id=plan.id, start_date="2024-05-01T00:00:00Z"
    )
    return created


@pytest.fixture
def acme(sim: OrbSim) -> Customer:
    return customer(sim, "acme")


@pytest.fixture
def globex(sim: OrbSim) -> Customer:
    return customer(sim, "globex")


def send(sim: OrbSim, key: str, timestamp: str, name: str = "api_call", **ids: Any) -> None:
    sim.events.ingest(
        events=[
            {
                "idempotency_key": key,
                "event_name": name,
                "timestamp": timestamp,
                "properties": {"key": key},
                **ids,
            }
        ]
    )


def ids(sim: OrbSim, **query: Any) -> list[str]:
    return [e.id for e in sim.billable_events(**query)]


@pytest.fixture
def usage(sim: OrbSim, acme: Customer, globex: Customer) -> OrbSim:
    """Two customers, events by id and by alias, one alias nobody holds yet."""
    send(sim, "acme-id-10", "2024-05-20T10:00:00Z", customer_id=acme.id)
    send(sim, "acme-alias-09", "2024-05-20T09:00:00Z", external_customer_id="acme")
    send(sim, "acme-alias-11", "2024-05-20T11:00:00Z", "storage", external_customer_id="acme")
    send(sim, "b-tie", "2024-05-20T10:00:00Z", customer_id=acme.id)  # same time as acme-id-10
    send(sim, "globex-id-10", "2024-05-20T10:30:00Z", customer_id=globex.id)
    send(sim, "newco-alias-08", "2024-05-20T08:00:00Z", external_customer_id="newco")
    return sim


# --------------------------------------------------------------------------------------------------
# Scope
# --------------------------------------------------------------------------------------------------


def test_a_customers_events_by_id_and_by_alias_oldest_first(usage: OrbSim, acme: Customer) -> None:
    expected = ["acme-alias-09", "acme-id-10", "b-tie", "acme-alias-11"]  # ties broken by id

    assert ids(usage, customer_id=acme.id) == expected
    assert ids(usage, external_customer_id="acme") == expected


def test_alias_events_are_reported_with_the_holders_customer_id(
    usage: OrbSim, acme: Customer
) -> None:
    billed = {e.id: e for e in usage.billable_events(customer_id=acme.id)}

    assert (billed["acme-alias-09"].customer_id, billed["acme-alias-09"].external_customer_id) == (
        acme.id,
        "acme",
    )
    assert (billed["acme-id-10"].customer_id, billed["acme-id-10"].external_customer_id) == (
        acme.id,
        None,
    )
    assert {e.backfill_id for e in billed.values()} == {None}


def test_the_whole_account_without_a_customer(usage: OrbSim) -> None:
    assert ids(usage) == [
        "newco-alias-08",
        "acme-alias-09",
        "acme-id-10",
        "b-tie",
        "globex-id-10",
        "acme-alias-11",
    ]


def test_an_alias_nobody_holds_yet_has_its_own_events(usage: OrbSim) -> None:
    assert ids(usage, external_customer_id="newco") == ["newco-alias-08"]
    assert ids(usage, external_customer_id="unknown") == []


def test_alias_events_move_to_the_customer_created_with_the_alias(usage: OrbSim) -> None:
    newco = usage.customers.create(name="N", email="n@example.com", external_customer_id="newco")

    [billed] = usage.billable_events(customer_id=newco.id)
    assert (billed.id, billed.customer_id) == ("newco-alias-08", newco.id)


def test_alias_events_follow_the_alias_to_a_new_holder(sim: OrbSim) -> None:
    old = sim.customers.create(name="old", email="o@example.com", external_customer_id="acme")
    send(sim, "by-id", "2024-05-20T10:00:00Z", customer_id=old.id)
    send(sim, "by-alias", "2024-05-20T11:00:00Z", external_customer_id="acme")
    sim.customers.delete(old.id)

    new = sim.customers.create(name="new", email="n@example.com", external_customer_id="acme")

    assert ids(sim, customer_id=new.id) == ["by-alias"]
    with pytest.raises(ResourceNotFound, match=old.id):
        sim.billable_events(customer_id=old.id)


@pytest.mark.parametrize(
    ("query", "error", "message"),
    [
        (
            {"customer_id": "ACME", "external_customer_id": "acme"},
            RequestValidationError,
            "give customer_id or external_customer_id, not both",
        ),
        ({"customer_id": "cus_missing"}, ResourceNotFound, "Customer with identifier: cus_missing"),
        ({"timeframe_start": "later"}, RequestValidationError, "timeframe_start: 'later' is not"),
        ({"timeframe_end": 5}, RequestValidationError, "timeframe_end: expected an ISO 8601"),
    ],
)
def test_billable_events_arguments_are_checked(
    usage: OrbSim, acme: Customer, query: dict[str, Any], error: type[Exception], message: str
) -> None:
    query = {k: (acme.id if v == "ACME" else v) for k, v in query.items()}

    with pytest.raises(error, match=message):
        usage.billable_events(**query)


# --------------------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2024-05-20T10:00:00Z", "2024-05-20T11:00:00Z", ["acme-id-10", "b-tie"]),
        ("2024-05-20T10:00:00.000001Z", "2024-05-20T11:00:00Z", []),
        ("2024-05-20T09:00:00Z", "2024-05-20T10:00:00Z", ["acme-alias-09"]),
        (
            "2024-05-20T09:00:00Z",
            "2024-05-20T10:00:00.000001Z",
            ["acme-alias-09", "acme-id-10", "b-tie"],
        ),
        (None, "2024-05-20T10:00:00Z", ["acme-alias-09"]),
        ("2024-05-20T10:00:01Z", None, ["acme-alias-11"]),
        ("2024-05-20T12:00:00+02:00", "2024-05-20T11:00:00", ["acme-id-10", "b-tie"]),
        (datetime(2024, 5, 20, 11, tzinfo=UTC), datetime(2024, 5, 20, 12, tzinfo=UTC), None),
    ],
)
def test_timeframe_is_start_inclusive_end_exclusive(
    usage: OrbSim, acme: Customer, start: Any, end: Any, expected: list[str] | None
) -> None:
    result = ids(usage, customer_id=acme.id, timeframe_start=start, timeframe_end=end)

    assert result == (expected if expected is not None else ["acme-alias-11"])


def test_event_name_filter(usage: OrbSim, acme: Customer) -> None:
    assert ids(usage, customer_id=acme.id, event_name="storage") == ["acme-alias-11"]
    assert ids(usage, event_name="nothing") == []


# --------------------------------------------------------------------------------------------------
# Amend and deprecate in the view
# --------------------------------------------------------------------------------------------------


def test_only_the_newest_version_counts_and_deprecated_events_do_not(
    usage: OrbSim, acme: Customer
) -> None:
    usage.events.update(
        "acme-id-10",
        event_name="storage",
        timestamp="2024-05-20T10:00:00Z",
        properties={"key": "v2"},
        customer_id=acme.id,
    )
    usage.events.deprecate("acme-alias-09")

    billed = usage.billable_events(customer_id=acme.id)
    assert [(e.id, e.event_name, e.properties) for e in billed] == [
        ("acme-id-10", "storage", {"key": "v2"}),
        ("b-tie", "api_call", {"key": "b-tie"}),
        ("acme-alias-11", "storage", {"key": "acme-alias-11"}),
    ]
    assert ids(usage, customer_id=acme.id, event_name="storage") == ["acme-id-10", "acme-alias-11"]
    assert "acme-alias-09" not in ids(usage)


def test_events_stay_billable_after_the_grace_period(
    usage: OrbSim, clock: ManualClock, acme: Customer
) -> None:
    before = ids(usage, customer_id=acme.id)
    clock.advance(days=40)

    assert ids(usage, customer_id=acme.id) == before


# --------------------------------------------------------------------------------------------------
# event_versions
# --------------------------------------------------------------------------------------------------


def test_event_versions_of_an_untouched_event(usage: OrbSim, acme: Customer) -> None:
    [version] = usage.event_versions("acme-alias-09")

    assert version.model_dump() == {
        "id": "acme-alias-09",
        "version": 1,
        "kind": "ingested",
        "event_name": "api_call",
        "properties": {"key": "acme-alias-09"},
        "timestamp": datetime(2024, 5, 20, 9, tzinfo=UTC),
        "customer_id": None,
        "external_customer_id": "acme",
        "recorded_at": NOW,
        "backfill_id": None,
    }


def test_event_versions_of_an_unknown_event(sim: OrbSim) -> None:
    with pytest.raises(ResourceNotFound, match="Event with identifier: nope"):
        sim.event_versions("nope")


def test_event_versions_are_copies(usage: OrbSim) -> None:
    [version] = usage.event_versions("b-tie")
    version.properties["key"] = "changed"

    assert usage.event_versions("b-tie")[0].properties == {"key": "b-tie"}
    assert usage.events.search(event_ids=["b-tie"]).data[0].properties == {"key": "b-tie"}


def test_billable_events_are_copies(usage: OrbSim) -> None:
    [billed] = [e for e in usage.billable_events() if e.id == "b-tie"]
    billed.properties["key"] = "changed"

    assert usage.event_versions("b-tie")[0].properties == {"key": "b-tie"}
    [again] = [e for e in usage.billable_events() if e.id == "b-tie"]
    assert again.properties == {"key": "b-tie"}


def test_account_wide_view_attributes_alias_events_to_the_alias_holder() -> None:
    sim = OrbSim(clock=ManualClock("2024-05-20T12:00:00Z"))
    customer = sim.customers.create(name="a", email="a@x.com", external_customer_id="acme")
    sim.events.ingest(
        events=[
            {
                "idempotency_key": "k",
                "event_name": "e",
                "timestamp": "2024-05-20T11:00:00Z",
                "properties": {},
                "external_customer_id": "acme",
            }
        ]
    )

    assert [e.customer_id for e in sim.billable_events()] == [customer.id]
    assert [e.customer_id for e in sim.billable_events(customer_id=customer.id)] == [customer.id]
