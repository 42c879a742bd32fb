"""Amend (``sim.events.update``) and deprecate: body rules, customer rules, billing-period
windows, quotas, and the audit trail of versions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from helpers.time import US
from orbsim import (
    ConstraintViolation,
    ManualClock,
    OrbSim,
    RequestValidationError,
    ResourceNotFound,
    Settings,
    TooManyRequests,
)
from orbsim.models import Customer

NOW = datetime(2024, 5, 20, 12, tzinfo=UTC)
TS = "2024-05-20T11:00:00Z"


class World:
    """A simulator on a manual clock with one customer ``acme`` subscribed since March 1st."""

    def __init__(self, start: datetime | str = NOW, **settings: Any) -> None:
        self.clock = ManualClock(start)
        self.sim = OrbSim(clock=self.clock, settings=Settings(**settings))
        self.plan = self.sim.plans.create(name="p")
        self.timestamps: dict[str, str] = {}
        self.acme = self.customer("acme")

    def customer(self, alias: str, subscribe: bool = True) -> Customer:
        customer = self.sim.customers.create(
            name=alias, email=f"{alias}@example.com", external_customer_id=alias
        )
        if subscribe:
            self.sim.subscriptions.create(
                customer_id=customer.id, plan_id=self.plan.id, start_date="2024-03-01T00:00:00Z"
            )
        return customer

    def ingest(self, key: str, timestamp: str = TS, **ids: Any) -> str:
        if not ids:
            ids = {"customer_id": self.acme.id}
        self.timestamps[key] = timestamp
        self.sim.events.ingest(
            events=[
                {
                    "idempotency_key": key,
                    "event_name": "api_call",
                    "timestamp": timestamp,
                    "properties": {"n": 1},
                    **ids,
                }
            ]
        )
        return key

    def amend(self, key: str, **changes: Any) -> str:
        """Amend ``key`` with a valid body (by acme's id) unless ``changes`` say otherwise."""
        body: dict[str, Any] = {
            "event_name": "fixed",
            "timestamp": self.timestamps.get(key, TS),
            "properties": {"n": 2},
        }
        if "customer_id" not in changes and "external_customer_id" not in changes:
            body["customer_id"] = self.acme.id
        body.update(changes)
        return self.sim.events.update(key, **body).amended

    def deprecate(self, key: str, **_: Any) -> str:
        return self.sim.events.deprecate(key).deprecated

    def billable(self, **scope: Any) -> list[tuple[str, str, dict[str, Any]]]:
        return [(e.id, e.event_name, e.properties) for e in self.sim.billable_events(**scope)]


@pytest.fixture
def w() -> World:
    return World()


Action = Callable[[World, str], str]
ACTIONS: dict[str, Action] = {
    "amend": lambda w, key: w.amend(key),
    "deprecate": lambda w, key: w.deprecate(key),
}


# --------------------------------------------------------------------------------------------------
# Amend: what changes, and the audit trail
# --------------------------------------------------------------------------------------------------


def test_amend_replaces_name_and_properties_and_keeps_every_version(w: World) -> None:
    w.ingest("evt-1")
    w.clock.advance(minutes=1)

    assert w.amend("evt-1", event_name="renamed", properties={"n": 5}) == "evt-1"
    w.clock.advance(minutes=1)
    w.amend("evt-1", event_name="renamed", properties={"n": 7})

    assert w.billable() == [("evt-1", "renamed", {"n": 7})]
    versions = w.sim.event_versions("evt-1")
    assert [(v.version, v.kind, v.event_name, v.properties) for v in versions] == [
        (1, "ingested", "api_call", {"n": 1}),
        (2, "amended", "renamed", {"n": 5}),
        (3, "amended", "renamed", {"n": 7}),
    ]
    assert [v.recorded_at for v in versions] == [
        NOW,
        NOW + timedelta(minutes=1),
        NOW + timedelta(minutes=2),
    ]
    assert {(v.timestamp, v.customer_id) for v in versions} == {
        (datetime(2024, 5, 20, 11, tzinfo=UTC), w.acme.id)
    }


def test_only_the_newest_version_counts(w: World) -> None:
    w.ingest("evt-1")
    w.amend("evt-1", event_name="storage")

    assert w.billable(event_name="storage") == [("evt-1", "storage", {"n": 2})]
    assert w.billable(event_name="api_call") == []
    assert [v.count for v in w.sim.events.volume.list(timeframe_start="2024-05-20").data] == [1]


def test_deprecate_stops_counting_and_is_recorded(w: World) -> None:
    w.ingest("evt-1")
    w.amend("evt-1")
    w.clock.advance(minutes=3)

    assert w.deprecate("evt-1") == "evt-1"

    assert w.billable() == []
    assert [
        (v.kind, v.event_name, v.properties, v.recorded_at) for v in w.sim.event_versions("evt-1")
    ] == [
        ("ingested", "api_call", {"n": 1}, NOW),
        ("amended", "fixed", {"n": 2}, NOW),
        ("deprecated", "fixed", {"n": 2}, NOW + timedelta(minutes=3)),
    ]


def test_the_callers_properties_are_copied_on_amend(w: World) -> None:
    w.ingest("evt-1")
    properties = {"n": 2}
    w.amend("evt-1", properties=properties)

    properties["n"] = 99

    assert w.billable() == [("evt-1", "fixed", {"n": 2})]


# --------------------------------------------------------------------------------------------------
# Unknown events and malformed bodies
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
def test_an_unknown_event_is_not_found(w: World, action: str) -> None:
    with pytest.raises(ResourceNotFound, match="Event with identifier: nope"):
        ACTIONS[action](w, "nope")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"idempotency_key": "evt-1"},
            r"unknown field\(s\) idempotency_key \(amend is idempotent by design; no "
            r"idempotency_key is accepted in the body\)",
        ),
        ({"foo": 1}, r"amend event: unknown field\(s\) foo\b"),
        ({"backfill_id": "bf", "debug": True}, r"unknown field\(s\) backfill_id, debug\b"),
    ],
)
def test_amend_body_with_unknown_keys_is_refused(
    w: World, extra: dict[str, Any], message: str
) -> None:
    w.ingest("evt-1")

    with pytest.raises(RequestValidationError, match=message):
        w.amend("evt-1", **extra)

    assert w.billable() == [("evt-1", "api_call", {"n": 1})]


def test_deprecate_takes_no_body(w: World) -> None:
    w.ingest("evt-1")

    with pytest.raises(RequestValidationError, match="unknown field\\(s\\) idempotency_key"):
        w.sim.events.deprecate("evt-1", idempotency_key="evt-1")

    assert w.billable() == [("evt-1", "api_call", {"n": 1})]


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("event_name", "event_name: field required"),
        ("timestamp", "timestamp: field required"),
        ("properties", "properties: field required"),
    ],
)
def test_amend_requires_name_timestamp_and_properties(w: World, missing: str, message: str) -> None:
    w.ingest("evt-1")
    body = {
        "event_name": "x",
        "timestamp": TS,
        "properties": {},
        "customer_id": w.acme.id,
    }
    del body[missing]

    with pytest.raises(RequestValidationError, match=message):
        w.sim.events.update("evt-1", **body)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"event_name": ""}, "event_name: expected a non-empty string, got ''"),
        ({"properties": {"a": {"b": 1}}}, "properties.a: nested dict values are not allowed"),
        ({"properties": {"a": None}}, "properties.a: null is not allowed"),
        ({"timestamp": "later"}, "timestamp: 'later' is not an ISO 8601 timestamp"),
    ],
)
def test_amend_body_values_are_validated_like_ingest(
    w: World, changes: dict[str, Any], message: str
) -> None:
    w.ingest("evt-1")

    with pytest.raises(RequestValidationError, match=message):
        w.amend("evt-1", **changes)


# --------------------------------------------------------------------------------------------------
# The timestamp and the customer cannot change
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "same_instant",
    [
        "2024-05-20T11:00:00Z",
        "2024-05-20T11:00:00+00:00",
        "2024-05-20T11:00:00.000000Z",
        "2024-05-20T11:00:00",
        "2024-05-20T13:00:00+02:00",
        datetime(2024, 5, 20, 11, tzinfo=UTC),
    ],
)
def test_the_same_timestamp_in_any_form_is_accepted(w: World, same_instant: Any) -> None:
    w.ingest("evt-1")

    w.amend("evt-1", timestamp=same_instant)

    assert w.billable() == [("evt-1", "fixed", {"n": 2})]


@pytest.mark.parametrize(
    "other", ["2024-05-20T11:00:00.000001Z", "2024-05-20T10:59:59.999999Z", "2024-05-20T11:30:00Z"]
)
def test_a_different_timestamp_is_refused(w: World, other: str) -> None:
    w.ingest("evt-1")

    with pytest.raises(RequestValidationError) as info:
        w.amend("evt-1", timestamp=other)

    assert info.value.detail == (
        f"timestamp {other} does not match the stored timestamp 2024-05-20T11:00:00Z of event "
        "'evt-1'; the timestamp cannot be amended"
    )
    assert w.billable() == [("evt-1", "api_call", {"n": 1})]


@pytest.mark.parametrize(
    ("sent_by", "amend_by"),
    [
        ("customer_id", "customer_id"),
        ("customer_id", "external_customer_id"),
        ("external_customer_id", "external_customer_id"),
        ("external_customer_id", "customer_id"),
    ],
)
def test_either_identifier_of_the_events_customer_is_accepted(
    w: World, sent_by: str, amend_by: str
) -> None:
    ids = {"customer_id": w.acme.id, "external_customer_id": "acme"}
    w.ingest("evt-1", **{sent_by: ids[sent_by]})

    w.amend("evt-1", **{amend_by: ids[amend_by]})

    assert w.billable(customer_id=w.acme.id) == [("evt-1", "fixed", {"n": 2})]


@pytest.mark.parametrize(
    ("sent_by", "amend_with", "shown"),
    [
        ("customer_id", {"customer_id": "OTHER"}, "customer_id 'OTHER'"),
        ("customer_id", {"external_customer_id": "globex"}, "external_customer_id 'globex'"),
        ("customer_id", {"external_customer_id": "nobody"}, "external_customer_id 'nobody'"),
        ("customer_id", {"customer_id": "cus_missing"}, "customer_id 'cus_missing'"),
        ("external_customer_id", {"customer_id": "OTHER"}, "customer_id 'OTHER'"),
        ("external_customer_id", {"external_customer_id": "globex"}, "'globex'"),
    ],
)
def test_a_different_customer_is_refused(
    w: World, sent_by: str, amend_with: dict[str, str], shown: str
) -> None:
    globex = w.customer("globex")
    shown = shown.replace("OTHER", globex.id)
    amend_with = {k: v.replace("OTHER", globex.id) for k, v in amend_with.items()}
    w.ingest("evt-1", **{sent_by: w.acme.id if sent_by == "customer_id" else "acme"})

    with pytest.raises(RequestValidationError, match=f"{shown} does not match event 'evt-1'"):
        w.amend("evt-1", **amend_with)

    assert w.billable() == [("evt-1", "api_call", {"n": 1})]


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ({"customer_id": None}, "neither was given"),
        ({"customer_id": "ACME", "external_customer_id": "acme"}, "both were given"),
    ],
)
def test_amend_needs_exactly_one_customer_identifier(
    w: World, ids: dict[str, Any], message: str
) -> None:
    w.ingest("evt-1")
    ids = {k: (w.acme.id if v == "ACME" else v) for k, v in ids.items()}

    with pytest.raises(RequestValidationError, match=message):
        w.amend("evt-1", **ids)


# --------------------------------------------------------------------------------------------------
# The customer must exist now, with an active subscription
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
def test_an_event_sent_before_its_customer_existed_is_editable_once_it_is_subscribed(
    w: World, action: str
) -> None:
    w.ingest("early", external_customer_id="newco")
    change = {"external_customer_id": "newco"}

    def attempt() -> str:
        if action == "amend":
            return w.amend("early", **change)
        return w.deprecate("early")

    with pytest.raises(
        ConstraintViolation, match="external_customer_id 'newco' does not identify a customer"
    ):
        attempt()

    newco = w.customer("newco", subscribe=False)
    with pytest.raises(
        ConstraintViolation, match=f"customer {newco.id} has no active subscription"
    ):
        attempt()

    w.sim.subscriptions.create(
        customer_id=newco.id, plan_id=w.plan.id, start_date="2024-05-01T00:00:00Z"
    )
    assert attempt() == "early"
    assert len(w.sim.event_versions("early")) == 2


@pytest.mark.parametrize("action", ACTIONS)
def test_a_deleted_customer_cannot_have_events_edited(action: str) -> None:
    w = World()
    gone = w.sim.customers.create(name="gone", email="g@example.com")
    w.sim.subscriptions.create(
        customer_id=gone.id, plan_id=w.plan.id, start_date="2024-05-01T00:00:00Z"
    )
    w.ingest("evt-1", customer_id=gone.id)
    w.sim.customers.delete(gone.id)

    with pytest.raises(ConstraintViolation, match=f"customer_id '{gone.id}' does not identify"):
        if action == "amend":
            w.amend("evt-1", customer_id=gone.id)
        else:
            w.deprecate("evt-1")


@pytest.mark.parametrize(
    "subscription",
    [
        None,
        {"start_date": "2024-05-01T00:00:00Z", "end_date": "2024-05-10T00:00:00Z"},  # ended
        {"start_date": "2024-06-01T00:00:00Z"},  # upcoming
    ],
    ids=["none", "ended", "upcoming"],
)
@pytest.mark.parametrize("action", ACTIONS)
def test_an_active_subscription_is_required(
    w: World, subscription: dict[str, Any] | None, action: str
) -> None:
    bob = w.customer("bob", subscribe=False)
    if subscription is not None:
        w.sim.subscriptions.create(customer_id=bob.id, plan_id=w.plan.id, **subscription)
    w.ingest("evt-1", customer_id=bob.id)

    with pytest.raises(ConstraintViolation, match=f"customer {bob.id} has no active subscription"):
        if action == "amend":
            w.amend("evt-1", customer_id=bob.id)
        else:
            w.deprecate("evt-1")

    assert [e.id for e in w.sim.billable_events(customer_id=bob.id)] == ["evt-1"]


# --------------------------------------------------------------------------------------------------
# Billing-period windows: current period, previous within grace, never invoiced
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize(
    ("now", "editable"),
    [
        ("2024-05-01T06:00:00Z", True),
        ("2024-05-01T11:59:59.999999Z", True),  # current start + grace - 1 µs
        ("2024-05-01T12:00:00Z", False),  # current start + grace: April is invoiced
        ("2024-05-20T12:00:00Z", False),
    ],
)
def test_the_previous_period_is_editable_only_within_the_grace_period(
    action: str, now: str, editable: bool
) -> None:
    w = World("2024-05-01T06:00:00Z")
    w.ingest("april", "2024-04-30T23:59:59.999999Z")  # last instant of April's period
    w.ingest("may", "2024-05-01T00:00:00Z")  # first instant of May's period
    w.clock.set(now)

    assert ACTIONS[action](w, "may") == "may"
    if editable:
        assert ACTIONS[action](w, "april") == "april"
    else:
        with pytest.raises(ConstraintViolation) as info:
            ACTIONS[action](w, "april")
        assert "cannot " + action + " event at 2024-04-30T23:59:59.999999Z" in info.value.detail
        assert "invoiced at 2024-05-01T12:00:00Z" in info.value.detail
        assert len(w.sim.event_versions("april")) == 1


@pytest.mark.parametrize("action", ACTIONS)
def test_older_periods_are_invoiced_and_refused(action: str) -> None:
    w = World("2024-03-31T20:00:00Z")
    w.ingest("march", "2024-03-31T19:00:00Z")
    w.clock.set("2024-05-01T00:00:00Z")  # March is two periods back, April is previous

    with pytest.raises(ConstraintViolation) as info:
        ACTIONS[action](w, "march")

    assert info.value.detail.startswith(f"cannot {action} event at 2024-03-31T19:00:00Z")
    assert "it is before the current billing period [2024-05-01T00:00:00Z" in info.value.detail
    assert w.billable() == [("march", "api_call", {"n": 1})]


@pytest.mark.parametrize("action", ACTIONS)
def test_an_event_just_after_the_current_period_is_refused(action: str) -> None:
    w = World("2024-05-31T23:58:00Z")
    w.ingest("june", "2024-06-01T00:02:00Z")  # within the 5 minute future tolerance

    with pytest.raises(ConstraintViolation, match="it is after the current billing period"):
        ACTIONS[action](w, "june")


# --------------------------------------------------------------------------------------------------
# Deprecated events
# --------------------------------------------------------------------------------------------------


def test_a_deprecated_event_cannot_be_amended(w: World) -> None:
    w.ingest("evt-1")
    w.deprecate("evt-1")

    with pytest.raises(
        ConstraintViolation, match="event 'evt-1' was deprecated; a deprecated event cannot"
    ):
        w.amend("evt-1")

    assert [v.kind for v in w.sim.event_versions("evt-1")] == ["ingested", "deprecated"]


def test_deprecating_twice_succeeds_and_uses_no_quota() -> None:
    w = World(deprecate_limit=2)
    w.ingest("a")
    w.ingest("b")

    assert w.deprecate("a") == "a"
    assert w.deprecate("a") == "a"
    assert w.deprecate("b") == "b"  # the second deprecation of "a" did not count

    assert [v.kind for v in w.sim.event_versions("a")] == ["ingested", "deprecated"]


def test_deprecating_again_succeeds_even_once_the_period_is_invoiced(w: World) -> None:
    w.ingest("evt-1")
    w.deprecate("evt-1")
    w.clock.set("2024-07-01T00:00:00Z")

    assert w.deprecate("evt-1") == "evt-1"


# --------------------------------------------------------------------------------------------------
# Quotas
# --------------------------------------------------------------------------------------------------

LIMIT_SETTING = {"amend": "amend_limit", "deprecate": "deprecate_limit"}
QUOTA_NAME = {"amend": "amendment", "deprecate": "deprecation"}


def limited(action: str, limit: int, **settings: Any) -> World:
    """A World whose quota for ``action`` is ``limit``."""
    settings[LIMIT_SETTING[action]] = limit
    return World(**settings)


@pytest.mark.parametrize("action", ACTIONS)
def test_the_limit_th_request_is_allowed_and_the_next_is_refused(action: str) -> None:
    w = limited(action, 3)
    for key in ("a", "b", "c", "d"):
        w.ingest(key)

    for key in ("a", "b", "c"):
        assert ACTIONS[action](w, key) == key
    with pytest.raises(TooManyRequests) as info:
        ACTIONS[action](w, "d")

    assert info.value.detail.startswith(
        f"{QUOTA_NAME[action]} limit reached: customer {w.acme.id} already has 3 "
        f"{QUOTA_NAME[action]}s in the last 100 days (limit 3); the next one is allowed at "
        "2024-08-28T12:00:00Z"
    )
    assert info.value.status == 429
    assert info.value.should_retry is False
    assert len(w.sim.event_versions("d")) == 1


@pytest.mark.parametrize("action", ACTIONS)
def test_a_limit_of_zero_refuses_the_first_request(action: str) -> None:
    w = limited(action, 0)
    w.ingest("a")

    with pytest.raises(TooManyRequests, match="already has 0"):
        ACTIONS[action](w, "a")


def test_the_default_limits_are_one_hundred_each(w: World) -> None:
    w.sim.events.ingest(
        events=[
            {
                "idempotency_key": f"e{i}",
                "event_name": "x",
                "timestamp": TS,
                "properties": {},
                "customer_id": w.acme.id,
            }
            for i in range(101)
        ]
    )
    for i in range(100):
        w.amend("e0")
        w.deprecate(f"e{i + 1}")

    with pytest.raises(TooManyRequests, match="limit 100"):
        w.amend("e0")
    with pytest.raises(TooManyRequests, match="limit 100"):
        w.deprecate("e0")


def test_amend_and_deprecate_are_counted_separately() -> None:
    w = World(amend_limit=1, deprecate_limit=1)
    for key in ("a", "b", "c", "d"):
        w.ingest(key)

    w.amend("a")
    w.deprecate("b")  # the amendment used no deprecation quota

    with pytest.raises(TooManyRequests, match="amendment limit reached"):
        w.amend("c")
    with pytest.raises(TooManyRequests, match="deprecation limit reached"):
        w.deprecate("d")


@pytest.mark.parametrize("action", ACTIONS)
def test_quotas_are_per_customer(action: str) -> None:
    w = limited(action, 1)
    globex = w.customer("globex")
    w.ingest("acme-1")
    w.ingest("acme-2")
    w.ingest("globex-1", customer_id=globex.id)
    w.ingest("globex-alias", external_customer_id="globex")

    ACTIONS[action](w, "acme-1")
    with pytest.raises(TooManyRequests, match=f"customer {w.acme.id} "):
        ACTIONS[action](w, "acme-2")

    if action == "amend":
        w.amend("globex-1", customer_id=globex.id)
        with pytest.raises(TooManyRequests, match=f"customer {globex.id} "):
            w.amend("globex-alias", external_customer_id="globex")  # same customer, by alias
    else:
        w.deprecate("globex-1")
        with pytest.raises(TooManyRequests, match=f"customer {globex.id} "):
            w.deprecate("globex-alias")


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize(
    ("elapsed", "allowed"),
    [
        (timedelta(hours=1) - US, False),
        (timedelta(hours=1), True),
    ],
)
def test_the_quota_window_rolls(action: str, elapsed: timedelta, allowed: bool) -> None:
    w = limited(action, 2, quota_window=timedelta(hours=1))
    for key in ("a", "b", "c"):
        w.ingest(key)
    ACTIONS[action](w, "a")  # at 12:00
    w.clock.advance(minutes=10)
    ACTIONS[action](w, "b")  # at 12:10

    w.clock.set(NOW + elapsed)
    if allowed:
        assert ACTIONS[action](w, "c") == "c"
    else:
        with pytest.raises(
            TooManyRequests,
            match=r"already has 2 .*s in the last 1 hour .*allowed at 2024-05-20T13:00:00Z",
        ):
            ACTIONS[action](w, "c")


def test_the_window_frees_one_use_at_a_time() -> None:
    w = World(amend_limit=2, quota_window=timedelta(hours=1))
    w.ingest("a")
    w.amend("a")  # 12:00
    w.clock.advance(minutes=10)
    w.amend("a")  # 12:10
    w.clock.set("2024-05-20T13:00:00Z")
    w.amend("a")  # the 12:00 use expired

    with pytest.raises(TooManyRequests, match="allowed at 2024-05-20T13:10:00Z"):
        w.amend("a")


def _refusal_unknown(w: World) -> None:
    w.amend("nope")


def _refusal_bad_body(w: World) -> None:
    w.amend("a", properties={"x": [1]})


def _refusal_timestamp(w: World) -> None:
    w.amend("a", timestamp="2024-05-20T11:00:01Z")


def _refusal_customer(w: World) -> None:
    w.amend("a", external_customer_id="someone-else")


def _refusal_deprecated(w: World) -> None:
    w.amend("gone")


def _refusal_invoiced(w: World) -> None:
    w.amend("old")


REFUSALS: dict[str, tuple[Callable[[World], None], type[Exception]]] = {
    "unknown event": (_refusal_unknown, ResourceNotFound),
    "bad body": (_refusal_bad_body, RequestValidationError),
    "timestamp": (_refusal_timestamp, RequestValidationError),
    "customer": (_refusal_customer, RequestValidationError),
    "deprecated": (_refusal_deprecated, ConstraintViolation),
    "invoiced": (_refusal_invoiced, ConstraintViolation),
}


@pytest.mark.parametrize("refusal", REFUSALS)
def test_a_refused_request_uses_no_quota(refusal: str) -> None:
    w = World("2024-04-20T12:00:00Z", amend_limit=1)
    w.ingest("old", "2024-04-20T11:00:00Z")
    w.clock.set(NOW)
    w.ingest("a")
    w.ingest("gone")
    w.deprecate("gone")
    attempt, error = REFUSALS[refusal]

    for _ in range(3):
        with pytest.raises(error):
            attempt(w)

    assert w.amend("a") == "a"


def test_a_quota_refusal_uses_no_quota_either() -> None:
    w = World(amend_limit=1, quota_window=timedelta(hours=1))
    w.ingest("a")
    w.amend("a")  # 12:00
    w.clock.advance(minutes=30)
    with pytest.raises(TooManyRequests):
        w.amend("a")  # 12:30, refused: must not push the window
    w.clock.set("2024-05-20T13:00:00Z")

    assert w.amend("a") == "a"
