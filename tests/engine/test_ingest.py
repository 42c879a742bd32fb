"""Ingest (``sim.events.ingest``): per-event validation, the time window, atomic batches,
at-most-once keys, request limits, and hypothesis properties of the whole operation."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st

from helpers.time import US
from orbsim import (
    ManualClock,
    OrbSim,
    RequestTooLarge,
    RequestValidationError,
    Settings,
)
from orbsim.models import Customer

NOW = datetime(2024, 5, 20, 12, tzinfo=UTC)
TS = "2024-05-20T11:00:00Z"
GRACE = timedelta(hours=12)
FUTURE = timedelta(minutes=5)


def new_sim(**settings: Any) -> OrbSim:
    return OrbSim(clock=ManualClock(NOW), settings=Settings(**settings))


def subscribed(sim: OrbSim, alias: str = "acme") -> Customer:
    customer = sim.customers.create(
        name=alias, email=f"{alias}@example.com", external_customer_id=alias
    )
    plan = sim.plans.create(name="p")
    sim.subscriptions.create(
        customer_id=customer.id, plan_id=plan.id, start_date="2024-05-01T00:00:00Z"
    )
    return customer


@pytest.fixture
def customer(sim: OrbSim) -> Customer:
    return subscribed(sim)


def event(key: str = "evt-1", customer: Customer | None = None, /, **fields: Any) -> dict[str, Any]:
    """A valid event body; ``fields`` override (or add) keys."""
    body: dict[str, Any] = {
        "idempotency_key": key,
        "event_name": "api_call",
        "timestamp": TS,
        "properties": {"n": 1},
    }
    if customer is not None:
        body["customer_id"] = customer.id
    else:
        body["external_customer_id"] = "acme"
    body.update(fields)
    return body


def without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def stored_ids(sim: OrbSim) -> list[str]:
    return [e.id for e in sim.billable_events()]


def refused(sim: OrbSim, events: list[Any]) -> RequestValidationError:
    """Ingest ``events``, expect a refusal, and check nothing at all was stored."""
    before = [e.model_dump() for e in sim.billable_events()]
    with pytest.raises(RequestValidationError) as info:
        sim.events.ingest(events=events)
    assert [e.model_dump() for e in sim.billable_events()] == before
    return info.value


# --------------------------------------------------------------------------------------------------
# The happy path
# --------------------------------------------------------------------------------------------------


def test_a_valid_event_is_stored_and_billable(sim: OrbSim, customer: Customer) -> None:
    response = sim.events.ingest(events=[event("evt-1", customer, properties={"n": 3})])

    assert response.validation_failed == []
    [billed] = sim.billable_events(customer_id=customer.id)
    assert (billed.id, billed.event_name, billed.properties) == ("evt-1", "api_call", {"n": 3})
    assert billed.timestamp == datetime(2024, 5, 20, 11, tzinfo=UTC)
    assert billed.customer_id == customer.id


def test_an_empty_batch_is_accepted_and_stores_nothing(sim: OrbSim) -> None:
    assert sim.events.ingest(events=[]).validation_failed == []
    assert stored_ids(sim) == []


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (None, "expected a list of events, got None"),
        ({"idempotency_key": "k"}, "expected a list of events"),
        ("evt", "expected a list of events, got 'evt'"),
    ],
)
def test_events_must_be_a_list(sim: OrbSim, events: Any, message: str) -> None:
    with pytest.raises(RequestValidationError, match=message):
        sim.events.ingest(events=events)


def test_events_is_required(sim: OrbSim) -> None:
    with pytest.raises(RequestValidationError, match="events: field required"):
        sim.events.ingest()


def test_each_event_must_be_an_object(sim: OrbSim) -> None:
    error = refused(sim, [event("good"), ["not", "an", "object"]])
    assert error.validation_failed == [
        {
            "idempotency_key": "events[1]",
            "validation_errors": ["each event must be an object, got ['not', 'an', 'object']"],
        }
    ]


# --------------------------------------------------------------------------------------------------
# Keys, names and identifiers
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("unknown", ["debug", "customer", "Timestamp", "backfill_id"])
def test_unknown_keys_are_refused_and_named(sim: OrbSim, unknown: str) -> None:
    error = refused(sim, [event("evt-1", **{unknown: "x"})])
    assert error.validation_failed is not None
    [failure] = error.validation_failed
    assert failure["idempotency_key"] == "evt-1"
    assert failure["validation_errors"] == [f"unknown field(s): {unknown!r}"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [("", "''"), (None, "None"), (7, "7"), (["api_call"], "['api_call']")],
)
def test_event_name_must_be_a_non_empty_string(sim: OrbSim, value: Any, shown: str) -> None:
    error = refused(sim, [event("evt-1", event_name=value)])
    assert f"event_name: expected a non-empty string, got {shown}" in error.validation_errors[0]


def test_event_name_is_required(sim: OrbSim) -> None:
    error = refused(sim, [without(event("evt-1"), "event_name")])
    assert error.validation_errors == ["evt-1: event_name: expected a non-empty string, got None"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [("", "''"), (None, "None"), (7, "7"), (["k"], "['k']")],
)
def test_idempotency_key_must_be_a_non_empty_string(sim: OrbSim, value: Any, shown: str) -> None:
    error = refused(sim, [event("ok"), event(idempotency_key=value)])
    assert error.validation_failed == [
        {
            "idempotency_key": "events[1]",
            "validation_errors": [f"idempotency_key: expected a non-empty string, got {shown}"],
        }
    ]


def test_idempotency_key_is_required(sim: OrbSim) -> None:
    error = refused(sim, [without(event(), "idempotency_key")])
    assert error.validation_errors == [
        "events[0]: idempotency_key: expected a non-empty string, got None"
    ]


# --------------------------------------------------------------------------------------------------
# Timestamps: accepted forms, refused forms
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2024-05-20T11:00:00Z", datetime(2024, 5, 20, 11, tzinfo=UTC)),
        ("2024-05-20T11:00:00+00:00", datetime(2024, 5, 20, 11, tzinfo=UTC)),
        ("2024-05-20T11:00:00-00:00", datetime(2024, 5, 20, 11, tzinfo=UTC)),
        ("2024-05-20T11:00:00.123456Z", datetime(2024, 5, 20, 11, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-20T11:00:00.5+00:00", datetime(2024, 5, 20, 11, 0, 0, 500000, tzinfo=UTC)),
        ("2024-05-20T11:00:00", datetime(2024, 5, 20, 11, tzinfo=UTC)),  # naive = UTC
        ("2024-05-20T13:00:00+02:00", datetime(2024, 5, 20, 11, tzinfo=UTC)),
        ("2024-05-20T06:30:00-04:30", datetime(2024, 5, 20, 11, tzinfo=UTC)),
        (datetime(2024, 5, 20, 11, tzinfo=UTC), datetime(2024, 5, 20, 11, tzinfo=UTC)),
        (datetime(2024, 5, 20, 11), datetime(2024, 5, 20, 11, tzinfo=UTC)),  # naive = UTC
        (
            datetime(2024, 5, 20, 7, tzinfo=ZoneInfo("America/New_York")),  # EDT, UTC-4
            datetime(2024, 5, 20, 11, tzinfo=UTC),
        ),
    ],
)
def test_timestamp_forms_are_accepted_and_stored_as_utc(
    sim: OrbSim, customer: Customer, given: str | datetime, stored: datetime
) -> None:
    sim.events.ingest(events=[event("evt-1", customer, timestamp=given)])

    [billed] = sim.billable_events()
    assert billed.timestamp == stored
    assert billed.timestamp.utcoffset() == timedelta(0)
    [found] = sim.events.search(event_ids=["evt-1"]).data
    assert found.timestamp == stored


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "timestamp: 'yesterday' is not an ISO 8601 timestamp"),
        ("", "timestamp: '' is not an ISO 8601 timestamp"),
        ("2024-13-01T00:00:00Z", "timestamp: '2024-13-01T00:00:00Z' is not an ISO 8601 timestamp"),
        ("2024-05-20T25:00:00Z", "timestamp: '2024-05-20T25:00:00Z' is not an ISO 8601 timestamp"),
        ("20/05/2024 11:00", "timestamp: '20/05/2024 11:00' is not an ISO 8601 timestamp"),
        ("2024-05-20", "timestamp: '2024-05-20' is a date, not a date-time"),
        ("20240520", "timestamp: '20240520' is a date, not a date-time"),
        (1716202800, "timestamp: expected an ISO 8601 string, got 1716202800"),
        (None, "timestamp: expected an ISO 8601 string, got None"),
        (date(2024, 5, 20), r"timestamp: expected an ISO 8601 string, got datetime\.date"),
    ],
)
def test_malformed_timestamps_are_refused_and_named(
    sim: OrbSim, customer: Customer, value: Any, message: str
) -> None:
    error = refused(sim, [event("evt-1", customer, timestamp=value)])
    assert error.validation_failed is not None
    [failure] = error.validation_failed
    assert failure["idempotency_key"] == "evt-1"
    [text] = failure["validation_errors"]
    assert re.match(message, text), text


def test_timestamp_is_required(sim: OrbSim, customer: Customer) -> None:
    error = refused(sim, [without(event("evt-1", customer), "timestamp")])
    assert error.validation_errors == ["evt-1: timestamp: field required"]


# --------------------------------------------------------------------------------------------------
# The accepted time window: future tolerance and grace period, both sides of each boundary
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (FUTURE - US, True),
        (FUTURE, True),
        (FUTURE + US, False),
        (timedelta(hours=1), False),
    ],
)
def test_future_tolerance_is_five_minutes_inclusive(
    sim: OrbSim, customer: Customer, offset: timedelta, accepted: bool
) -> None:
    when = NOW + offset
    body = event("evt-1", customer, timestamp=when.isoformat())
    if accepted:
        sim.events.ingest(events=[body])
        assert stored_ids(sim) == ["evt-1"]
    else:
        error = refused(sim, [body])
        shown = when.isoformat().replace("+00:00", "Z")
        assert error.validation_errors == [
            f"evt-1: timestamp {shown} is more than 5 minutes in the future "
            "(now 2024-05-20T12:00:00Z)"
        ]


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (GRACE - US, True),
        (GRACE, True),
        (GRACE + US, False),
        (timedelta(days=2), False),
    ],
)
def test_grace_period_is_twelve_hours_inclusive(
    sim: OrbSim, customer: Customer, offset: timedelta, accepted: bool
) -> None:
    when = NOW - offset
    body = event("evt-1", customer, timestamp=when.isoformat())
    if accepted:
        sim.events.ingest(events=[body])
        assert stored_ids(sim) == ["evt-1"]
    else:
        error = refused(sim, [body])
        shown = when.isoformat().replace("+00:00", "Z")
        [text] = error.validation_errors
        assert text.startswith(
            f"evt-1: timestamp {shown} is older than the grace period of 12 hours"
        )
        assert "earliest accepted 2024-05-20T00:00:00Z" in text


def test_the_window_follows_the_clock(sim: OrbSim, clock: ManualClock, customer: Customer) -> None:
    early = NOW - GRACE
    sim.events.ingest(events=[event("first", customer, timestamp=early.isoformat())])
    clock.advance(US)

    refused(sim, [event("second", customer, timestamp=early.isoformat())])
    sim.events.ingest(events=[event("third", customer, timestamp=(NOW + FUTURE + US).isoformat())])

    assert stored_ids(sim) == ["first", "third"]


def test_window_bounds_follow_settings() -> None:
    sim = new_sim(grace_period=timedelta(hours=1), future_tolerance=timedelta(0))
    bob = subscribed(sim, "bob")
    sim.events.ingest(events=[event("edge", bob, timestamp=(NOW - timedelta(hours=1)).isoformat())])
    sim.events.ingest(events=[event("now", bob, timestamp=NOW.isoformat())])

    assert (
        "older than the grace period of 1 hour"
        in refused(
            sim, [event("old", bob, timestamp=(NOW - timedelta(hours=1) - US).isoformat())]
        ).validation_errors[0]
    )
    assert (
        "more than 0 seconds in the future"
        in refused(sim, [event("soon", bob, timestamp=(NOW + US).isoformat())]).validation_errors[0]
    )


# --------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "properties",
    [
        {},
        {"region": "eu"},
        {"count": 3, "ratio": 0.25, "negative": -7, "huge": 10**20, "flag": False},
        {"": "empty key is a key", "unicode": "ünïcødé"},
    ],
)
def test_flat_scalar_properties_are_accepted_verbatim(
    sim: OrbSim, customer: Customer, properties: dict[str, Any]
) -> None:
    sim.events.ingest(events=[event("evt-1", customer, properties=properties)])

    [billed] = sim.billable_events()
    assert billed.properties == properties
    assert [type(v) for v in billed.properties.values()] == [type(v) for v in properties.values()]


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"a": {"b": 1}}, "properties.a: nested dict values are not allowed"),
        ({"a": [1, 2]}, "properties.a: nested list values are not allowed"),
        ({"a": None}, "properties.a: null is not allowed"),
        ({"a": float("nan")}, "properties.a: nan is not a finite number"),
        ({"a": float("inf")}, "properties.a: inf is not a finite number"),
        ({"a": -math.inf}, "properties.a: -inf is not a finite number"),
        ({"a": b"bytes"}, "properties.a: b'bytes' is not a string, number or boolean"),
        ({1: "one"}, "properties: keys must be strings, got 1"),
        ([("a", 1)], r"properties: expected an object, got \[\('a', 1\)\]"),
        ("a=1", "properties: expected an object, got 'a=1'"),
        (None, "properties: expected an object, got None"),
    ],
)
def test_properties_must_be_a_flat_object_of_scalars(
    sim: OrbSim, customer: Customer, properties: Any, message: str
) -> None:
    with pytest.raises(RequestValidationError, match=message):
        sim.events.ingest(events=[event("evt-1", customer, properties=properties)])
    assert stored_ids(sim) == []


def test_every_bad_property_is_reported(sim: OrbSim, customer: Customer) -> None:
    error = refused(sim, [event("evt-1", customer, properties={"x": None, "y": [1], "ok": 1})])
    assert error.validation_errors == [
        "evt-1: properties.x: null is not allowed (use string, number or boolean)",
        "evt-1: properties.y: nested list values are not allowed; "
        "values must be string, number or boolean",
    ]


def test_properties_are_required(sim: OrbSim, customer: Customer) -> None:
    error = refused(sim, [without(event("evt-1", customer), "properties")])
    assert error.validation_errors == ["evt-1: properties: field required (may be {})"]


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # the common shape
        {"timestamp": "2024-05-20T13:00:00+02:00", "properties": {"n": 1, "r": 0.5}},  # unusual
    ],
    ids=["common", "unusual"],
)
def test_the_callers_dicts_are_copied(
    sim: OrbSim, customer: Customer, overrides: dict[str, Any]
) -> None:
    body = event("evt-1", customer, **overrides)
    properties = body["properties"]
    sim.events.ingest(events=[body])

    properties["n"] = 999
    properties["added"] = True
    body["event_name"] = "changed"

    [billed] = sim.billable_events()
    assert billed.event_name == "api_call"
    assert billed.properties["n"] == 1 and "added" not in billed.properties
    [found] = sim.events.search(event_ids=["evt-1"]).data
    assert found.properties["n"] == 1 and "added" not in found.properties
    assert sim.event_versions("evt-1")[0].properties["n"] == 1


# --------------------------------------------------------------------------------------------------
# Customers: exactly one identifier; ids must exist, aliases need not
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ({}, "exactly one of customer_id / external_customer_id is required; neither was given"),
        (
            {"customer_id": None, "external_customer_id": None},
            "exactly one of customer_id / external_customer_id is required; neither was given",
        ),
        (
            {"customer_id": "CUSTOMER", "external_customer_id": "acme"},
            "exactly one of customer_id / external_customer_id is required; both were given",
        ),
        ({"external_customer_id": ""}, "external_customer_id: expected a non-empty string, got ''"),
        ({"external_customer_id": 42}, "external_customer_id: expected a non-empty string, got 42"),
        ({"customer_id": ""}, "customer_id: expected a non-empty string, got ''"),
        ({"customer_id": 42}, "customer_id: expected a non-empty string, got 42"),
    ],
)
def test_exactly_one_customer_identifier(
    sim: OrbSim, customer: Customer, ids: dict[str, Any], message: str
) -> None:
    ids = {k: (customer.id if v == "CUSTOMER" else v) for k, v in ids.items()}
    body = without(without(event("evt-1"), "customer_id"), "external_customer_id")
    error = refused(sim, [{**body, **ids}])
    [text] = error.validation_errors
    assert text.startswith(f"evt-1: {message}")


@pytest.mark.parametrize(
    "ids",
    [
        {"customer_id": "CUSTOMER"},
        {"customer_id": "CUSTOMER", "external_customer_id": None},
        {"external_customer_id": "acme"},
        {"customer_id": None, "external_customer_id": "acme"},
    ],
)
def test_null_counts_as_absent(sim: OrbSim, customer: Customer, ids: dict[str, Any]) -> None:
    ids = {k: (customer.id if v == "CUSTOMER" else v) for k, v in ids.items()}
    body = without(without(event("evt-1"), "customer_id"), "external_customer_id")
    sim.events.ingest(events=[{**body, **ids}])

    assert [e.id for e in sim.billable_events(customer_id=customer.id)] == ["evt-1"]


def test_an_unknown_customer_id_is_refused(sim: OrbSim, customer: Customer) -> None:
    error = refused(sim, [event("evt-1", customer, customer_id="cus_missing")])
    [text] = error.validation_errors
    assert text.startswith("evt-1: customer_id 'cus_missing' does not match any customer")


def test_a_deleted_customer_id_is_refused(sim: OrbSim) -> None:
    gone = sim.customers.create(name="gone", email="gone@example.com")
    sim.events.ingest(events=[event("before", gone)])
    sim.customers.delete(gone.id)

    error = refused(sim, [event("after", gone)])
    assert f"customer_id {gone.id!r} does not match any customer" in error.validation_errors[0]


def test_an_unknown_alias_is_accepted_and_attributed_once_the_customer_exists(
    sim: OrbSim,
) -> None:
    sim.events.ingest(events=[event("early", external_customer_id="newco")])
    [pending] = sim.billable_events(external_customer_id="newco")
    assert (pending.id, pending.customer_id) == ("early", None)

    newco = sim.customers.create(name="N", email="n@example.com", external_customer_id="newco")

    [billed] = sim.billable_events(customer_id=newco.id)
    assert (billed.id, billed.customer_id, billed.external_customer_id) == (
        "early",
        newco.id,
        "newco",
    )
    [found] = sim.events.search(event_ids=["early"]).data
    assert (found.customer_id, found.external_customer_id) == (newco.id, "newco")


def test_events_by_alias_and_by_id_both_count_for_the_customer(
    sim: OrbSim, customer: Customer
) -> None:
    sim.events.ingest(events=[event("by-id", customer), event("by-alias")])

    expected = ["by-alias", "by-id"]
    assert [e.id for e in sim.billable_events(customer_id=customer.id)] == expected
    assert [e.id for e in sim.billable_events(external_customer_id="acme")] == expected


# --------------------------------------------------------------------------------------------------
# Atomic batches and the error body
# --------------------------------------------------------------------------------------------------


def test_one_bad_event_refuses_the_whole_batch_and_lists_every_failure(
    sim: OrbSim, customer: Customer
) -> None:
    events = [
        event("good-1", customer),
        event("bad-name", customer, event_name=""),
        event("good-2", customer),
        event("bad-time", customer, timestamp="soon"),
    ]
    error = refused(sim, events)

    assert error.validation_failed == [
        {
            "idempotency_key": "bad-name",
            "validation_errors": ["event_name: expected a non-empty string, got ''"],
        },
        {
            "idempotency_key": "bad-time",
            "validation_errors": [
                "timestamp: 'soon' is not an ISO 8601 timestamp (e.g. 2024-05-01T12:00:00Z)"
            ],
        },
    ]
    assert error.validation_errors == [
        "bad-name: event_name: expected a non-empty string, got ''",
        "bad-time: timestamp: 'soon' is not an ISO 8601 timestamp (e.g. 2024-05-01T12:00:00Z)",
    ]
    assert "2 of 4 events failed validation and nothing was ingested" in error.detail
    problem = error.to_problem()
    assert problem["status"] == 400
    assert problem["type"].endswith("#400-request-validation-errors")
    assert problem["validation_failed"] == error.validation_failed
    assert problem["validation_errors"] == error.validation_errors


def test_one_event_with_several_problems_lists_them_all(sim: OrbSim) -> None:
    error = refused(
        sim,
        [{"idempotency_key": "k", "event_name": "", "timestamp": "x", "properties": [], "y": 1}],
    )
    assert error.validation_failed is not None
    [failure] = error.validation_failed
    assert failure["validation_errors"] == [
        "unknown field(s): 'y'",
        "event_name: expected a non-empty string, got ''",
        "properties: expected an object, got []",
        "timestamp: 'x' is not an ISO 8601 timestamp (e.g. 2024-05-01T12:00:00Z)",
        "exactly one of customer_id / external_customer_id is required; neither was given",
    ]


def test_keys_of_a_refused_batch_can_be_sent_again_once_fixed(
    sim: OrbSim, customer: Customer
) -> None:
    refused(sim, [event("a", customer), event("b", customer, properties={"x": None})])

    sim.events.ingest(events=[event("a", customer), event("b", customer, properties={"x": 0})])

    assert stored_ids(sim) == ["a", "b"]


# --------------------------------------------------------------------------------------------------
# Idempotency keys: within a batch, across batches, after deprecation
# --------------------------------------------------------------------------------------------------


def test_the_same_key_twice_with_identical_bodies_is_stored_once(
    sim: OrbSim, customer: Customer
) -> None:
    sim.events.ingest(
        events=[event("dup", customer), event("other", customer), event("dup", customer)]
    )

    assert stored_ids(sim) == ["dup", "other"]
    assert len(sim.event_versions("dup")) == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"properties": {"n": 1}}, {"properties": {"n": 2}}),
        ({"properties": {"n": 1}}, {"properties": {"n": True}}),
        ({"properties": {"n": 1}}, {"properties": {"n": 1.0}}),
        ({"properties": {"n": 1}}, {"properties": {"n": "1"}}),
        ({"properties": {"n": 1}}, {"properties": {"n": 1, "m": 2}}),
        ({"event_name": "a"}, {"event_name": "b"}),
        ({"timestamp": "2024-05-20T11:00:00Z"}, {"timestamp": "2024-05-20T11:00:01Z"}),
    ],
)
def test_the_same_key_twice_with_different_bodies_refuses_the_batch(
    sim: OrbSim, customer: Customer, first: dict[str, Any], second: dict[str, Any]
) -> None:
    error = refused(
        sim,
        [
            event("dup", customer, **first),
            event("fine", customer),
            event("dup", customer, **second),
        ],
    )
    assert error.validation_failed == [
        {
            "idempotency_key": "dup",
            "validation_errors": [
                "idempotency_key 'dup' appears more than once in this request with different "
                "bodies; the whole batch is rejected"
            ],
        }
    ]


def test_an_explicit_null_identifier_is_the_same_body_as_an_absent_one(
    sim: OrbSim, customer: Customer
) -> None:
    plain = event("dup", customer)
    explicit = {**plain, "external_customer_id": None}
    sim.events.ingest(events=[plain, explicit])

    assert stored_ids(sim) == ["dup"]


@pytest.mark.parametrize(
    "second",
    [
        {},
        {"event_name": "other", "properties": {"n": 2}},
        {"properties": {"nested": {"no": 1}}},  # even an invalid body
        {"external_customer_id": "someone-else", "customer_id": None},
    ],
    ids=["same", "different", "invalid", "other-customer"],
)
def test_a_key_already_ingested_is_skipped_silently(
    sim: OrbSim, customer: Customer, second: dict[str, Any]
) -> None:
    sim.events.ingest(events=[event("evt-1", customer)])

    response = sim.events.ingest(
        events=[event("evt-1", customer, **second), event("new", customer)]
    )

    assert response.validation_failed == []
    assert stored_ids(sim) == ["evt-1", "new"]
    [first, _] = sim.billable_events()
    assert (first.event_name, first.properties, first.customer_id) == (
        "api_call",
        {"n": 1},
        customer.id,
    )
    assert len(sim.event_versions("evt-1")) == 1


def test_a_key_already_ingested_is_skipped_even_after_the_grace_period(
    sim: OrbSim, clock: ManualClock, customer: Customer
) -> None:
    sim.events.ingest(events=[event("evt-1", customer)])
    clock.advance(days=3)

    sim.events.ingest(events=[event("evt-1", customer)])

    assert stored_ids(sim) == ["evt-1"]


def test_a_deprecated_key_cannot_be_ingested_again(sim: OrbSim, customer: Customer) -> None:
    sim.events.ingest(events=[event("evt-1", customer)])
    sim.events.deprecate("evt-1")

    error = refused(sim, [event("fresh", customer), event("evt-1", customer)])

    assert error.validation_failed == [
        {
            "idempotency_key": "evt-1",
            "validation_errors": ["event 'evt-1' was deprecated and cannot be ingested again"],
        }
    ]
    assert [e.id for e in sim.events.search(event_ids=["fresh", "evt-1"]).data] == ["evt-1"]


def test_an_amended_key_is_skipped_and_keeps_its_amendment(sim: OrbSim, customer: Customer) -> None:
    sim.events.ingest(events=[event("evt-1", customer)])
    sim.events.update(
        "evt-1", event_name="fixed", timestamp=TS, properties={"n": 2}, customer_id=customer.id
    )

    sim.events.ingest(events=[event("evt-1", customer)])

    [billed] = sim.billable_events()
    assert (billed.event_name, billed.properties) == ("fixed", {"n": 2})


# --------------------------------------------------------------------------------------------------
# Request size
# --------------------------------------------------------------------------------------------------


def test_max_events_per_request() -> None:
    sim = new_sim(max_events_per_request=2)
    bob = subscribed(sim, "bob")
    sim.events.ingest(events=[event("a", bob), event("b", bob)])

    with pytest.raises(
        RequestTooLarge, match="ingest request has 3 events; at most 2 are accepted"
    ):
        sim.events.ingest(events=[event("c", bob), event("d", bob), event("e", bob)])

    assert stored_ids(sim) == ["a", "b"]


def test_requests_are_unlimited_by_default(sim: OrbSim, customer: Customer) -> None:
    sim.events.ingest(events=[event(f"evt-{i}", customer) for i in range(2_000)])

    assert len(sim.billable_events()) == 2_000


# --------------------------------------------------------------------------------------------------
# freezegun drives the default SystemClock
# --------------------------------------------------------------------------------------------------


def test_grace_boundary_under_freezegun() -> None:
    with freeze_time("2024-05-20T12:00:00Z"):
        sim = OrbSim()
        alice = subscribed(sim, "alice")
        assert sim.now() == NOW

        sim.events.ingest(events=[event("edge", alice, timestamp="2024-05-20T00:00:00Z")])
        error = refused(sim, [event("old", alice, timestamp="2024-05-19T23:59:59.999999Z")])

    assert "older than the grace period" in error.validation_errors[0]
    assert stored_ids(sim) == ["edge"]


def test_freezegun_tick_and_move_to_move_the_simulator() -> None:
    with freeze_time("2024-05-20T12:00:00Z") as frozen:
        sim = OrbSim()
        alice = subscribed(sim, "alice")
        sim.events.ingest(events=[event("a", alice, timestamp="2024-05-20T00:00:00Z")])

        frozen.tick(timedelta(microseconds=1))
        assert sim.now() == NOW + US
        refused(sim, [event("b", alice, timestamp="2024-05-20T00:00:00Z")])

        frozen.move_to("2024-05-20T00:10:00Z")  # backwards: the window moves back too
        sim.events.ingest(events=[event("c", alice, timestamp="2024-05-20T00:15:00Z")])
        refused(sim, [event("d", alice, timestamp="2024-05-20T00:15:00.000001Z")])

        # A datetime taken from the frozen clock is a valid timestamp.
        sim.events.ingest(events=[event("e", alice, timestamp=datetime.now(UTC))])

    assert stored_ids(sim) == ["a", "e", "c"]


def test_freezegun_with_tick_true_keeps_time_moving() -> None:
    with freeze_time("2024-05-20T12:00:00Z", tick=True):
        sim = OrbSim()
        alice = subscribed(sim, "alice")
        first = sim.now()
        sim.events.ingest(events=[event("a", alice, timestamp=datetime.now(UTC))])
        assert sim.now() >= first >= NOW

    assert stored_ids(sim) == ["a"]


# --------------------------------------------------------------------------------------------------
# Hypothesis properties
# --------------------------------------------------------------------------------------------------

ALIASES = ["acme", "globex", "not-yet-a-customer"]
SEARCH_START = NOW - timedelta(days=1)
SEARCH_END = NOW + timedelta(hours=1)

scalars = st.one_of(
    st.text(max_size=8),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.booleans(),
)
timestamps = st.datetimes(
    min_value=(NOW - GRACE).replace(tzinfo=None),
    max_value=(NOW + FUTURE).replace(tzinfo=None),
).map(lambda d: d.replace(tzinfo=UTC))
timestamp_values = st.one_of(
    timestamps,
    timestamps.map(lambda d: d.isoformat()),
    timestamps.map(lambda d: d.isoformat().replace("+00:00", "Z")),
    timestamps.map(lambda d: d.astimezone(ZoneInfo("Asia/Kolkata")).isoformat()),
)


@st.composite
def valid_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event body without its key; customers are named by alias or by 'ID:<alias>'."""
    body: dict[str, Any] = {
        "event_name": draw(st.sampled_from(["api_call", "storage", "seat"])),
        "timestamp": draw(timestamp_values),
        "properties": draw(st.dictionaries(st.text(max_size=5), scalars, max_size=4)),
    }
    alias = draw(st.sampled_from(ALIASES))
    if alias != "not-yet-a-customer" and draw(st.booleans()):
        body["customer_id"] = f"ID:{alias}"
        if draw(st.booleans()):
            body["external_customer_id"] = None
    else:
        body["external_customer_id"] = alias
        if draw(st.booleans()):
            body["customer_id"] = None
    return body


valid_batches = st.lists(valid_bodies(), max_size=12).map(
    lambda bodies: [{"idempotency_key": f"evt-{i}", **b} for i, b in enumerate(bodies)]
)

invalid_changes: list[dict[str, Any]] = [
    {"event_name": ""},
    {"idempotency_key": ""},
    {"timestamp": "not a time"},
    {"timestamp": (NOW - GRACE - US).isoformat()},
    {"timestamp": (NOW + FUTURE + US).isoformat()},
    {"properties": {"nested": {"a": 1}}},
    {"properties": {"list": [1]}},
    {"properties": {"null": None}},
    {"properties": {"nan": float("nan")}},
    {"properties": None},
    {"customer_id": "cus_unknown", "external_customer_id": None},
    {"customer_id": "ID:acme", "external_customer_id": "acme"},
    {"customer_id": None, "external_customer_id": None},
    {"unexpected": 1},
]


def world() -> tuple[OrbSim, dict[str, str]]:
    """A fresh simulator with two subscribed customers; maps alias -> customer id."""
    sim = new_sim()
    ids = {alias: subscribed(sim, alias).id for alias in ("acme", "globex")}
    return sim, ids


def resolve(batch: list[dict[str, Any]], ids: dict[str, str]) -> list[dict[str, Any]]:
    def one(body: dict[str, Any]) -> dict[str, Any]:
        value = body.get("customer_id")
        if isinstance(value, str) and value.startswith("ID:"):
            return {**body, "customer_id": ids[value[3:]]}
        return dict(body)

    return [one(b) for b in batch]


def snapshot(sim: OrbSim, keys: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    billable = [e.model_dump() for e in sim.billable_events()]
    found: list[dict[str, Any]] = []
    if keys:
        response = sim.events.search(
            event_ids=keys, timeframe_start=SEARCH_START, timeframe_end=SEARCH_END
        )
        found = [e.model_dump() for e in response.data]
    return billable, found


@given(batch=valid_batches)
def test_property_ingesting_a_valid_batch_twice_equals_once(batch: list[dict[str, Any]]) -> None:
    sim, ids = world()
    events = resolve(batch, ids)
    keys = [e["idempotency_key"] for e in events]

    sim.events.ingest(events=events)
    once = snapshot(sim, keys)
    sim.events.ingest(events=resolve(batch, ids))

    assert snapshot(sim, keys) == once
    assert sorted(e["id"] for e in once[0]) == sorted(keys)
    assert sorted(e["id"] for e in once[1]) == sorted(keys)


@given(
    batch=valid_batches,
    before=valid_batches,
    change=st.sampled_from(invalid_changes),
    base=valid_bodies(),
    position=st.integers(min_value=0),
)
def test_property_a_batch_with_an_invalid_event_changes_nothing(
    batch: list[dict[str, Any]],
    before: list[dict[str, Any]],
    change: dict[str, Any],
    base: dict[str, Any],
    position: int,
) -> None:
    sim, ids = world()
    earlier = [{**e, "idempotency_key": "old-" + e["idempotency_key"]} for e in before]
    sim.events.ingest(events=resolve(earlier, ids))
    keys = [e["idempotency_key"] for e in earlier + batch]
    state = snapshot(sim, keys)

    bad = {"idempotency_key": "bad", **base, **change}
    events = resolve(batch, ids)
    events.insert(position % (len(events) + 1), resolve([bad], ids)[0])
    with pytest.raises(RequestValidationError) as info:
        sim.events.ingest(events=events)

    assert snapshot(sim, keys) == state
    assert info.value.validation_failed is not None
    [failure] = info.value.validation_failed
    if "idempotency_key" in change:  # no usable key: the event is named by its position
        assert failure["idempotency_key"].startswith("events[")
    else:
        assert failure["idempotency_key"] == "bad"


@given(batch=valid_batches, data=st.data())
def test_property_the_order_of_a_batch_does_not_matter(
    batch: list[dict[str, Any]], data: st.DataObject
) -> None:
    with_copies = batch + [dict(e) for e in batch[: len(batch) // 2]]  # identical duplicates
    shuffled = data.draw(st.permutations(with_copies))

    sim_a, ids_a = world()
    sim_b, ids_b = world()
    assert ids_a == ids_b  # same seed, same customer ids
    sim_a.events.ingest(events=resolve(with_copies, ids_a))
    sim_b.events.ingest(events=resolve(shuffled, ids_b))

    keys = [e["idempotency_key"] for e in batch]
    assert snapshot(sim_a, keys) == snapshot(sim_b, keys)
