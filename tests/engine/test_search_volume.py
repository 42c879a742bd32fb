"""Event search by id (``sim.events.search``) and hourly volume (``sim.events.volume.list``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from helpers.time import US
from orbsim import ManualClock, OrbSim, RequestValidationError
from orbsim.models import Customer

NOW = datetime(2024, 5, 20, 12, tzinfo=UTC)


@pytest.fixture
def acme(sim: OrbSim) -> Customer:
    customer = sim.customers.create(name="Acme", email="a@example.com", external_customer_id="acme")
    plan = sim.plans.create(name="p")
    sim.subscriptions.create(
        customer_id=customer.id, plan_id=plan.id, start_date="2024-05-01T00:00:00Z"
    )
    return customer


def ingest(sim: OrbSim, *events: tuple[str, str], **ids: str) -> None:
    """Ingest ``(key, timestamp)`` pairs for one customer (by alias ``acme`` by default)."""
    ids = ids or {"external_customer_id": "acme"}
    sim.events.ingest(
        events=[
            {
                "idempotency_key": key,
                "event_name": "api_call",
                "timestamp": timestamp,
                "properties": {"k": key},
                **ids,
            }
            for key, timestamp in events
        ]
    )


def found(sim: OrbSim, ids: list[str], **window: Any) -> list[str]:
    return [e.id for e in sim.events.search(event_ids=ids, **window).data]


def hours(sim: OrbSim, **query: Any) -> list[tuple[str, int]]:
    """Volume buckets as ``("HH:MM", count)``, checking each bucket spans exactly one hour."""
    page = sim.events.volume.list(**query)
    for bucket in page.data:
        assert bucket.timeframe_end - bucket.timeframe_start == timedelta(hours=1)
        assert bucket.timeframe_start.minute == bucket.timeframe_start.second == 0
    return [(b.timeframe_start.strftime("%d %H:%M"), b.count) for b in page.data]


# --------------------------------------------------------------------------------------------------
# Search: arguments
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 499, 500])
def test_search_accepts_one_to_five_hundred_ids(sim: OrbSim, count: int) -> None:
    assert sim.events.search(event_ids=[f"id-{i}" for i in range(count)]).data == []


@pytest.mark.parametrize("count", [0, 501, 1000])
def test_search_refuses_zero_or_more_than_five_hundred_ids(sim: OrbSim, count: int) -> None:
    with pytest.raises(
        RequestValidationError, match=f"event_ids: between 1 and 500 ids are required, got {count}"
    ):
        sim.events.search(event_ids=[f"id-{i}" for i in range(count)])


@pytest.mark.parametrize(
    ("event_ids", "message"),
    [
        ("evt-1", "event_ids: expected a list of strings, got 'evt-1'"),
        (["evt-1", 2], r"event_ids: expected a list of strings, got \['evt-1', 2\]"),
        (None, "event_ids: expected a list of strings, got None"),
    ],
)
def test_search_event_ids_must_be_a_list_of_strings(
    sim: OrbSim, event_ids: Any, message: str
) -> None:
    with pytest.raises(RequestValidationError, match=message):
        sim.events.search(event_ids=event_ids)


def test_search_requires_event_ids_and_refuses_unknown_arguments(sim: OrbSim) -> None:
    with pytest.raises(RequestValidationError, match="event_ids: field required"):
        sim.events.search()
    with pytest.raises(RequestValidationError, match=r"unknown field\(s\) customer_id"):
        sim.events.search(event_ids=["x"], customer_id="c")


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (
            {"timeframe_start": "2024-05-20T11:00:00Z", "timeframe_end": "2024-05-20T11:00:00Z"},
            r"timeframe_end \(2024-05-20T11:00:00Z\) must be after timeframe_start "
            r"\(2024-05-20T11:00:00Z\)",
        ),
        ({"timeframe_start": "2024-05-21T00:00:00Z"}, r"timeframe_end \(2024-05-20T12:00:00Z\)"),
        ({"timeframe_start": "soon"}, "timeframe_start: 'soon' is not an ISO 8601 timestamp"),
        ({"timeframe_end": 12}, "timeframe_end: expected an ISO 8601 timestamp string, got 12"),
    ],
)
def test_search_timeframe_is_validated(sim: OrbSim, window: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestValidationError, match=message):
        sim.events.search(event_ids=["x"], **window)


# --------------------------------------------------------------------------------------------------
# Search: results
# --------------------------------------------------------------------------------------------------


def test_search_returns_the_events_asked_for_in_order_once_each(
    sim: OrbSim, acme: Customer
) -> None:
    ingest(sim, ("a", "2024-05-20T09:00:00Z"), ("b", "2024-05-20T10:00:00Z"))
    ingest(sim, ("c", "2024-05-20T11:00:00Z"))

    assert found(sim, ["c", "missing", "a", "c", "a"]) == ["c", "a"]
    assert found(sim, ["A"]) == []  # ids are case-sensitive


def test_search_shows_the_event_and_both_customer_identifiers(sim: OrbSim, acme: Customer) -> None:
    ingest(sim, ("by-id", "2024-05-20T10:00:00Z"), customer_id=acme.id)
    ingest(sim, ("by-alias", "2024-05-20T10:30:00Z"))
    ingest(sim, ("orphan", "2024-05-20T11:00:00Z"), external_customer_id="nobody-yet")

    data = sim.events.search(event_ids=["by-id", "by-alias", "orphan"]).data
    assert [e.model_dump() for e in data] == [
        {
            "id": "by-id",
            "customer_id": acme.id,
            "external_customer_id": "acme",
            "event_name": "api_call",
            "properties": {"k": "by-id"},
            "timestamp": datetime(2024, 5, 20, 10, tzinfo=UTC),
            "deprecated": False,
        },
        {
            "id": "by-alias",
            "customer_id": acme.id,  # resolved from the alias
            "external_customer_id": "acme",
            "event_name": "api_call",
            "properties": {"k": "by-alias"},
            "timestamp": datetime(2024, 5, 20, 10, 30, tzinfo=UTC),
            "deprecated": False,
        },
        {
            "id": "orphan",
            "customer_id": None,  # no customer holds the alias yet
            "external_customer_id": "nobody-yet",
            "event_name": "api_call",
            "properties": {"k": "orphan"},
            "timestamp": datetime(2024, 5, 20, 11, tzinfo=UTC),
            "deprecated": False,
        },
    ]


def test_search_resolves_an_alias_once_its_customer_exists(sim: OrbSim) -> None:
    ingest(sim, ("early", "2024-05-20T11:00:00Z"), external_customer_id="newco")
    [before] = sim.events.search(event_ids=["early"]).data
    newco = sim.customers.create(name="N", email="n@example.com", external_customer_id="newco")

    [after] = sim.events.search(event_ids=["early"]).data

    assert (before.customer_id, after.customer_id) == (None, newco.id)


def test_search_leaves_out_amended_events_and_flags_deprecated_ones(
    sim: OrbSim, acme: Customer
) -> None:
    ingest(
        sim,
        ("plain", "2024-05-20T09:00:00Z"),
        ("amended", "2024-05-20T10:00:00Z"),
        ("deprecated", "2024-05-20T11:00:00Z"),
    )
    sim.events.update(
        "amended",
        event_name="x",
        timestamp="2024-05-20T10:00:00Z",
        properties={},
        external_customer_id="acme",
    )
    sim.events.deprecate("deprecated")

    data = sim.events.search(event_ids=["plain", "amended", "deprecated"]).data

    assert [(e.id, e.deprecated) for e in data] == [("plain", False), ("deprecated", True)]
    assert data[1].properties == {"k": "deprecated"}


def test_search_default_window_starts_one_week_back_inclusive(
    sim: OrbSim, clock: ManualClock, acme: Customer
) -> None:
    ingest(sim, ("evt", "2024-05-20T11:00:00Z"))

    clock.set("2024-05-27T11:00:00Z")  # now - 7 days == the event's timestamp
    assert found(sim, ["evt"]) == ["evt"]

    clock.advance(US)
    assert found(sim, ["evt"]) == []
    assert found(sim, ["evt"], timeframe_start="2024-05-20T11:00:00Z") == ["evt"]


def test_search_default_window_ends_now_exclusive(
    sim: OrbSim, clock: ManualClock, acme: Customer
) -> None:
    ingest(sim, ("now", "2024-05-20T12:00:00Z"), ("soon", "2024-05-20T12:04:00Z"))

    assert found(sim, ["now", "soon"]) == []
    assert found(sim, ["now", "soon"], timeframe_end="2024-05-20T13:00:00Z") == ["now", "soon"]

    clock.advance(US)
    assert found(sim, ["now", "soon"]) == ["now"]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2024-05-20T10:00:00Z", "2024-05-20T11:00:00Z", ["at-10"]),
        ("2024-05-20T10:00:00.000001Z", "2024-05-20T11:00:00Z", []),
        ("2024-05-20T10:00:00Z", "2024-05-20T11:00:00.000001Z", ["at-10", "at-11"]),
        ("2024-05-20T12:00:00+02:00", "2024-05-20T13:00:00+02:00", ["at-10"]),
        (datetime(2024, 5, 20, 10, tzinfo=UTC), datetime(2024, 5, 20, 12, tzinfo=UTC), None),
    ],
)
def test_search_timeframe_is_start_inclusive_end_exclusive(
    sim: OrbSim, acme: Customer, start: Any, end: Any, expected: list[str] | None
) -> None:
    ingest(sim, ("at-10", "2024-05-20T10:00:00Z"), ("at-11", "2024-05-20T11:00:00Z"))

    result = found(sim, ["at-10", "at-11"], timeframe_start=start, timeframe_end=end)

    assert result == (expected if expected is not None else ["at-10", "at-11"])


def test_search_returns_copies(sim: OrbSim, acme: Customer) -> None:
    ingest(sim, ("evt", "2024-05-20T11:00:00Z"))
    [first] = sim.events.search(event_ids=["evt"]).data

    first.properties["k"] = "changed"

    [again] = sim.events.search(event_ids=["evt"]).data
    assert again.properties == {"k": "evt"}


# --------------------------------------------------------------------------------------------------
# Volume
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def spread(sim: OrbSim, clock: ManualClock, acme: Customer) -> OrbSim:
    """Events across 20 May 00:00-12:05, ingested now (12:00) or later; hour 02 stays empty."""
    ingest(
        sim,
        ("00a", "2024-05-20T00:00:00Z"),
        ("00b", "2024-05-20T00:59:59.999999Z"),
        ("01a", "2024-05-20T01:00:00Z"),
        ("03a", "2024-05-20T03:30:00Z"),
        ("03b", "2024-05-20T03:45:00Z"),
        ("03c", "2024-05-20T03:50:00Z"),
        ("11a", "2024-05-20T11:15:00Z"),
        ("12a", "2024-05-20T12:05:00Z"),  # future tolerance: counted in its own hour
    )
    clock.set("2024-05-20T12:30:00Z")
    ingest(sim, ("04a", "2024-05-20T04:00:00Z"), customer_id=acme.id)  # late: its timestamp's hour
    return sim


def test_volume_counts_per_hour_by_timestamp_oldest_first_skipping_empty_hours(
    spread: OrbSim,
) -> None:
    assert hours(spread, timeframe_start="2024-05-20T00:00:00Z") == [
        ("20 00:00", 2),
        ("20 01:00", 1),
        ("20 03:00", 3),
        ("20 04:00", 1),
        ("20 11:00", 1),
        ("20 12:00", 1),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"timeframe_start": "2024-05-20T03:00:00Z"}, ["03", "04", "11", "12"]),
        ({"timeframe_start": "2024-05-20T03:59:59Z"}, ["03", "04", "11", "12"]),  # widened
        ({"timeframe_start": "2024-05-20T04:00:00Z"}, ["04", "11", "12"]),
        (
            {"timeframe_start": "2024-05-20T00:00:00Z", "timeframe_end": "2024-05-20T03:00:00Z"},
            ["00", "01"],  # end exclusive
        ),
        (
            {"timeframe_start": "2024-05-20T00:00:00Z", "timeframe_end": "2024-05-20T03:00:01Z"},
            ["00", "01", "03"],  # the hour containing the end is included
        ),
        (
            {"timeframe_start": "2024-05-20T05:00:00+02:00", "timeframe_end": "2024-05-20T04:00"},
            ["03"],  # offsets converted; a naive time is UTC
        ),
        ({"timeframe_start": datetime(2024, 5, 20, 11, 59, tzinfo=UTC)}, ["11", "12"]),
    ],
)
def test_volume_timeframe_is_widened_to_whole_hours(
    spread: OrbSim, query: dict[str, Any], expected: list[str]
) -> None:
    assert [h[3:5] for h, _ in hours(spread, **query)] == expected


def test_volume_default_end_is_now(sim: OrbSim, clock: ManualClock, acme: Customer) -> None:
    ingest(sim, ("past", "2024-05-20T11:30:00Z"), ("soon", "2024-05-20T12:04:00Z"))

    assert hours(sim, timeframe_start="2024-05-20T11:00:00Z") == [("20 11:00", 1)]

    clock.advance(US)  # now is inside the 12:00 hour, which is then included whole
    assert hours(sim, timeframe_start="2024-05-20T11:00:00Z") == [("20 11:00", 1), ("20 12:00", 1)]


def test_volume_pages_walk_every_bucket(spread: OrbSim) -> None:
    seen: list[tuple[str, int]] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = spread.events.volume.list(
            timeframe_start="2024-05-20T00:00:00Z", limit=2, cursor=cursor
        )
        pages += 1
        seen += [(b.timeframe_start.strftime("%H"), b.count) for b in page.data]
        assert page.pagination_metadata.has_more is (
            page.pagination_metadata.next_cursor is not None
        )
        cursor = page.pagination_metadata.next_cursor
        if cursor is None:
            break
        assert len(page.data) == 2

    assert seen == [("00", 2), ("01", 1), ("03", 3), ("04", 1), ("11", 1), ("12", 1)]
    assert pages == 3


def test_volume_last_full_page_has_no_next_cursor(spread: OrbSim) -> None:
    page = spread.events.volume.list(timeframe_start="2024-05-20T11:00:00Z", limit=2)

    assert len(page.data) == 2
    assert page.pagination_metadata.model_dump() == {"has_more": False, "next_cursor": None}


def test_volume_limit_defaults_to_twenty(sim: OrbSim, clock: ManualClock, acme: Customer) -> None:
    for i in range(25):  # one event per hour over 25 hours, each sent within the grace period
        ingest(sim, (f"e{i}", (clock.now() - timedelta(minutes=30)).isoformat()))
        clock.advance(hours=1)
    start = NOW - timedelta(hours=1)

    first = sim.events.volume.list(timeframe_start=start)
    assert len(first.data) == 20 and first.pagination_metadata.has_more
    rest = sim.events.volume.list(
        timeframe_start=start, cursor=first.pagination_metadata.next_cursor
    )
    assert [b.count for b in rest.data] == [1] * 5
    assert rest.pagination_metadata.next_cursor is None
    assert rest.data[0].timeframe_start == first.data[-1].timeframe_end


def test_volume_counts_ingested_events_deprecated_and_amended_alike(
    spread: OrbSim, acme: Customer
) -> None:
    """Orb's volume page: "the number of events ingested". A deprecation or an amendment is not
    an ingestion and does not undo one: each key stays one event in its timestamp's hour."""
    before = hours(spread, timeframe_start="2024-05-20T00:00:00Z")
    spread.events.deprecate("01a")
    spread.events.deprecate("03a")
    spread.events.update(
        "03b",
        event_name="renamed",
        timestamp="2024-05-20T03:45:00Z",
        properties={},
        customer_id=acme.id,
    )
    spread.events.update(
        "03b",
        event_name="renamed again",
        timestamp="2024-05-20T03:45:00Z",
        properties={},
        customer_id=acme.id,
    )

    assert (
        hours(spread, timeframe_start="2024-05-20T00:00:00Z")
        == before
        == [
            ("20 00:00", 2),
            ("20 01:00", 1),
            ("20 03:00", 3),
            ("20 04:00", 1),
            ("20 11:00", 1),
            ("20 12:00", 1),
        ]
    )
    assert len(spread.billable_events()) == 7  # billing leaves the two deprecated ones out


def test_volume_leaves_out_duplicates_and_refused_batches(sim: OrbSim, acme: Customer) -> None:
    """A key already ingested is skipped (the ingest ``debug`` object calls it ``duplicate``,
    not ``ingested``), and a refused batch ingests nothing."""
    ingest(sim, ("a", "2024-05-20T10:00:00Z"))
    ingest(sim, ("a", "2024-05-20T10:30:00Z"), ("b", "2024-05-20T10:40:00Z"))  # a: duplicate
    with pytest.raises(RequestValidationError):
        ingest(sim, ("c", "2024-05-20T10:50:00Z"), ("d", "2024-05-01T00:00:00Z"))  # d: too old

    assert hours(sim, timeframe_start="2024-05-20T10:00:00Z") == [("20 10:00", 2)]


def test_volume_keeps_the_events_of_a_deleted_customer(sim: OrbSim) -> None:
    """Ingested is ingested: deleting the customer (or freeing its alias) removes no event."""
    customer = sim.customers.create(name="Gone", email="g@example.com", external_customer_id="g")
    ingest(sim, ("a", "2024-05-20T10:00:00Z"), customer_id=customer.id)
    ingest(sim, ("b", "2024-05-20T10:10:00Z"), external_customer_id="g")
    sim.customers.delete(customer.id)

    assert hours(sim, timeframe_start="2024-05-20T10:00:00Z") == [("20 10:00", 2)]


def test_volume_counts_every_customer_and_unattributed_aliases(sim: OrbSim, acme: Customer) -> None:
    ingest(sim, ("a", "2024-05-20T10:00:00Z"))
    ingest(sim, ("b", "2024-05-20T10:10:00Z"), customer_id=acme.id)
    ingest(sim, ("c", "2024-05-20T10:20:00Z"), external_customer_id="someone-else")

    assert hours(sim, timeframe_start="2024-05-20T10:00:00Z") == [("20 10:00", 3)]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({}, "timeframe_start: field required"),
        ({"timeframe_start": None}, "timeframe_start: field required"),
        ({"timeframe_start": "nope"}, "timeframe_start: 'nope' is not an ISO 8601 timestamp"),
        (
            {"timeframe_start": "2024-05-20T00:00:00Z", "limit": 0},
            "limit: must be between 1 and 1000",
        ),
        ({"timeframe_start": "2024-05-20T00:00:00Z", "limit": 1001}, "got 1001"),
        ({"timeframe_start": "2024-05-20T00:00:00Z", "limit": "x"}, "limit: expected an integer"),
        (
            {"timeframe_start": "2024-05-20T00:00:00Z", "timeframe_end": "2024-05-20T00:00:00Z"},
            r"timeframe_end \(2024-05-20T00:00:00Z\) must be after timeframe_start",
        ),
        ({"timeframe_start": "2024-05-21T00:00:00Z"}, "must be after timeframe_start"),
        ({"timeframe_start": "2024-05-20T00:00:00Z", "cursor": "%%%"}, "cursor: '%%%' is not"),
        ({"timeframe_start": "2024-05-20T00:00:00Z", "customer_id": "c"}, "customer_id"),
    ],
)
def test_volume_arguments_are_validated(sim: OrbSim, query: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestValidationError, match=message):
        sim.events.volume.list(**query)


@pytest.mark.parametrize("limit", [1, 100, 101, 1000, "7"])  # Orb's volume page: 1..1000
def test_volume_limit_bounds_are_inclusive(sim: OrbSim, limit: Any) -> None:
    page = sim.events.volume.list(timeframe_start="2024-05-20T00:00:00Z", limit=limit)

    assert page.data == []
    assert page.pagination_metadata.next_cursor is None
