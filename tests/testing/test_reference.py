"""The reference model of ``orbsim.testing`` on its own: plain calls, no hypothesis.

Each test states one rule the reference encodes; the last ones drive the reference and a real
simulator through the same script and compare their billable views.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from orbsim import (
    ConstraintViolation,
    DuplicateResourceCreation,
    ManualClock,
    OrbSim,
    RequestValidationError,
    ResourceConflict,
    ResourceNotFound,
    Settings,
    TooManyRequests,
)
from orbsim.testing import ReferenceModel
from orbsim.testing.records import RefEvent, canonical, month_start, parse_time, typed

NOW = datetime(2024, 5, 20, 12, tzinfo=UTC)
SETTINGS = Settings(
    amend_limit=2,
    deprecate_limit=1,
    quota_window=timedelta(days=3),
    reflection_delay=timedelta(hours=1),
)


def is_eu(props: dict[str, Any]) -> bool:
    return props.get("region") == "eu"


def model(clock: ManualClock, settings: Settings = SETTINGS) -> ReferenceModel:
    return ReferenceModel(settings, now=clock.now, filters={"region = 'eu'": is_eu})


def event(key: str, when: datetime, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "idempotency_key": key,
        "event_name": "api_call",
        "timestamp": when,
        "properties": fields.pop("properties", {}),
    }
    body.update(fields or {"customer_id": "cus_1"})
    return body


def ingest(
    ref: ReferenceModel, events: list[dict[str, Any]], backfill_id: str | None = None
) -> Any:
    """Predict, and apply when accepted; returns the predicted error (None: accepted)."""
    backfill = ref.backfill(backfill_id)
    error, stored = ref.predict_ingest(events, backfill)
    if error is None:
        ref.apply_ingest(stored, backfill)
    return error


def keys(events: list[RefEvent]) -> list[str]:
    return [e.key for e in events]


def with_customer(clock: ManualClock, subscribed: bool = True) -> ReferenceModel:
    ref = model(clock)
    ref.add_customer("cus_1", "acme", NOW - timedelta(days=45) if subscribed else None)
    return ref


def test_importing_the_reference_does_not_import_hypothesis() -> None:
    code = (
        "import sys, orbsim.testing, orbsim.testing.reference\n"
        "assert 'hypothesis' not in sys.modules, 'hypothesis was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_helpers() -> None:
    assert parse_time("2024-05-20T14:00:00+02:00") == NOW
    assert parse_time(datetime(2024, 5, 20, 12)) == NOW  # naive is UTC
    assert month_start(NOW) == datetime(2024, 5, 1, tzinfo=UTC)
    assert month_start(datetime(2024, 12, 31, tzinfo=UTC), 1) == datetime(2025, 1, 1, tzinfo=UTC)
    assert month_start(datetime(2024, 1, 31, tzinfo=UTC), -1) == datetime(2023, 12, 1, tzinfo=UTC)
    assert canonical({"a": 1, "b": None}) == canonical({"a": 1})
    assert canonical({"a": 1}) != canonical({"a": 1.0}) != canonical({"a": True})
    assert typed({"n": 1}) != typed({"n": True})


def test_customers_aliases_and_deletion() -> None:
    clock = ManualClock(NOW)
    ref = with_customer(clock)
    assert ref.predict_create_customer("acme") is DuplicateResourceCreation
    assert ref.predict_create_customer(None) is None
    assert ingest(ref, [event("e1", NOW, external_customer_id="globex")]) is None
    assert ref.expected_billable("cus_2") == []
    ref.add_customer("cus_2", "globex", None)
    assert keys(ref.expected_billable("cus_2")) == ["e1"]  # events by alias count for the holder
    # the first period (April) is invoiced at May 1st + grace: cus_1 cannot be deleted any more
    assert ref.predict_delete_customer("cus_1") is ConstraintViolation
    assert ref.predict_delete_customer("cus_2") is None
    assert ref.predict_delete_customer("cus_9") is ResourceNotFound
    ref.remove_customer("cus_2")
    assert ref.holder("globex") is None
    assert ref.expected_billable("cus_2") == []
    ref.add_customer("cus_3", "globex", None)
    assert keys(ref.expected_billable("cus_3")) == ["e1"]


def test_ingest_keys_duplicates_and_windows() -> None:
    clock = ManualClock(NOW)
    ref = with_customer(clock)
    same = event("e1", NOW)
    assert ingest(ref, [same, dict(same)]) is None  # an exact copy is ingested once
    assert keys(ref.expected_billable()) == ["e1"]
    assert ingest(ref, [event("e2", NOW), event("e2", NOW, properties={"n": 1})]) is (
        RequestValidationError
    )
    assert ingest(ref, [event("e1", NOW, properties={"other": "body"})]) is None  # skipped
    assert ref.live["e1"].properties == {}
    too_old = NOW - SETTINGS.grace_period - timedelta(seconds=1)
    assert ingest(ref, [event("e3", too_old)]) is RequestValidationError
    too_new = NOW + SETTINGS.future_tolerance + timedelta(seconds=1)
    assert ingest(ref, [event("e3", too_new)]) is RequestValidationError
    assert ingest(ref, [event("e3", NOW, customer_id="cus_9")]) is RequestValidationError
    assert ingest(ref, [event("e3", NOW), event("e4", too_old)]) is RequestValidationError
    assert "e3" not in ref.live  # the batch is atomic
    error, stored = ref.predict_ingest([event("e3", NOW)], None, invalid=frozenset({0}))
    assert (error, stored) == (RequestValidationError, [])


def test_deprecated_keys_cannot_come_back() -> None:
    clock = ManualClock(NOW)
    ref = with_customer(clock)
    ingest(ref, [event("e1", NOW)])
    assert ref.predict_deprecate("e1") is None
    ref.apply_deprecate("e1")
    assert ref.expected_billable() == []
    assert ref.live["e1"].versions == 2
    assert ingest(ref, [event("e1", NOW)]) is RequestValidationError
    assert ref.predict_deprecate("e1") is None  # again: fine, and no quota used
    ref.apply_deprecate("e1")
    assert ref.live["e1"].versions == 2
    assert ref.deprecations == {"cus_1": [NOW]}


def test_amend_rules_and_quota() -> None:
    clock = ManualClock(NOW)
    ref = with_customer(clock)
    ingest(ref, [event("e1", NOW), event("e2", NOW, external_customer_id="acme")])
    own = {"customer_id": "cus_1"}
    assert ref.predict_amend("e1", own, NOW + timedelta(seconds=1)) is RequestValidationError
    assert ref.predict_amend("e1", {"customer_id": "cus_2"}, NOW) is RequestValidationError
    assert ref.predict_amend("e2", own, NOW) is None  # the alias's holder, by id
    for _ in range(SETTINGS.amend_limit):
        assert ref.predict_amend("e1", own, NOW) is None
        ref.apply_amend("e1", "tokens", {"n": 2})
    assert ref.predict_amend("e1", own, NOW) is TooManyRequests
    clock.advance(SETTINGS.quota_window)
    assert ref.predict_amend("e1", own, NOW) is None  # the rolling window moved on
    assert ref.live["e1"].versions == 3
    assert ref.live["e1"].event_name == "tokens"
    assert ref.expected_search() == [("e2", False, "api_call")]  # amended events are not shown


def test_amend_window_follows_monthly_periods() -> None:
    clock = ManualClock(NOW)
    ref = with_customer(clock)
    ingest(ref, [event("e1", NOW)])
    assert ref.editable(NOW)
    clock.set(datetime(2024, 6, 1, 11, tzinfo=UTC))  # the previous period, within the grace
    assert ref.editable(NOW)
    assert ref.predict_deprecate("e1") is None
    clock.advance(SETTINGS.grace_period)
    assert not ref.editable(NOW)
    assert ref.predict_deprecate("e1") is ConstraintViolation
    unsubscribed = with_customer(ManualClock(NOW), subscribed=False)
    ingest(unsubscribed, [event("e1", NOW)])
    assert unsubscribed.predict_amend("e1", {"customer_id": "cus_1"}, NOW) is ConstraintViolation


def test_backfill_status_machine() -> None:
    clock = ManualClock(NOW)
    ref = with_customer(clock)
    window = {"timeframe_start": NOW - timedelta(days=2), "timeframe_end": NOW - timedelta(days=1)}
    assert ref.predict_create_backfill({**window, "customer_id": "cus_9"}) is ResourceNotFound
    first = ref.add_backfill("bf_1", {**window, "close_time": NOW + timedelta(hours=2)})
    assert first.close_time == NOW + timedelta(hours=2)
    assert ref.predict_create_backfill({**window, "customer_id": "cus_1"}) is ResourceConflict
    touching = {
        "timeframe_start": window["timeframe_end"],
        "timeframe_end": NOW - timedelta(hours=13),
    }
    assert ref.predict_create_backfill(touching) is None  # half-open timeframes
    second = ref.add_backfill("bf_2", touching)
    assert second.close_time == NOW + SETTINGS.backfill_default_close_delay
    clock.advance(timedelta(hours=2))
    ref.settle()
    assert (first.status, first.closed_at) == ("pending", NOW + timedelta(hours=2))
    assert not first.accepting()
    clock.advance(SETTINGS.reflection_delay)
    ref.settle()
    assert first.status == "reflected" and first.reflect_order == 1
    ref.apply_revert("bf_1")
    assert first.status == "pending_revert"
    assert ref.predict_close("bf_1") is ConstraintViolation
    clock.advance(SETTINGS.reflection_delay)
    ref.settle()
    assert (first.status, first.reverted_at) == ("reverted", clock.now())
    ref.apply_revert("bf_2")  # never closed: reverted at once, no close time
    assert second.status == "reverted"
    assert second.close_time is None
    assert second.reverted_at == clock.now()


def test_backfills_replace_and_add_as_a_view() -> None:
    clock = ManualClock(NOW)
    ref = with_customer(clock)
    old = NOW - timedelta(hours=6)
    ingest(ref, [event("eu", old, properties={"region": "eu"}), event("us", old)])
    window = {"timeframe_start": NOW - timedelta(days=1), "timeframe_end": NOW}
    replace = ref.add_backfill("bf_1", {**window, "deprecation_filter": "region = 'eu'"})
    assert ingest(ref, [event("eu", old, properties={"region": "eu", "n": 2})], "bf_1") is None
    assert ingest(ref, [event("late", NOW)], "bf_1") is RequestValidationError  # end excluded
    assert keys(ref.expected_billable()) == ["eu", "us"]  # not counted before it reflects
    ref.apply_close("bf_1")
    clock.advance(SETTINGS.reflection_delay)
    ref.settle()
    assert replace.status == "reflected"
    counted = ref.expected_billable()
    assert [(e.key, e.backfill) for e in counted] == [("eu", replace), ("us", None)]
    assert ("eu", True, "api_call") in ref.expected_search()  # the hidden original
    assert ingest(ref, [event("x", old)], "bf_1") is ConstraintViolation  # closed
    hour = old.replace(minute=0, second=0, microsecond=0)
    assert ref.expected_volume() == {hour: 3}  # events ingested: the replaced original too
    ref.apply_revert("bf_1")
    assert ref.expected_volume() == {hour: 3}  # pending_revert: still in effect
    clock.advance(SETTINGS.reflection_delay)
    ref.settle()
    assert [(e.key, e.backfill) for e in ref.expected_billable()] == [("eu", None), ("us", None)]
    assert ref.expected_volume() == {hour: 2}  # reverted: its event is gone


def test_volume_counts_events_ingested_not_billable_ones() -> None:
    clock = ManualClock(NOW)
    ref = with_customer(clock)
    old = NOW - timedelta(hours=2)
    hour = old.replace(minute=0, second=0, microsecond=0)
    ingest(ref, [event("a", old), event("b", old), event("c", old, external_customer_id="x")])
    assert ingest(ref, [event("a", old, properties={"again": True})]) is None  # a duplicate
    ref.apply_deprecate("a")
    ref.apply_amend("b", "renamed", {"n": 1})

    assert keys(ref.expected_billable()) == ["b", "c"]
    assert ref.expected_volume() == {hour: 3}  # deprecated, amended and unclaimed alike
    opened = ref.add_backfill(
        "bf_1", {"timeframe_start": NOW - timedelta(days=1), "timeframe_end": NOW}
    )
    ingest(ref, [event("d", old)], opened.id)
    assert ref.expected_volume() == {hour: 3}  # an open backfill's events do not show yet


def test_a_later_correction_hides_an_earlier_one() -> None:
    clock = ManualClock(NOW)
    ref = with_customer(clock)
    window = {"timeframe_start": NOW - timedelta(days=2), "timeframe_end": NOW - timedelta(days=1)}
    at = NOW - timedelta(days=2)
    for backfill_id, key in (("bf_1", "first"), ("bf_2", "second")):
        ref.add_backfill(backfill_id, window)
        ingest(ref, [event(key, at)], backfill_id)
        ref.apply_close(backfill_id)
        clock.advance(SETTINGS.reflection_delay)
        ref.settle()
    assert keys(ref.expected_billable()) == ["second"]
    additive = ref.add_backfill("bf_3", {**window, "replace_existing_events": False})
    ingest(ref, [event("third", at)], "bf_3")
    ref.apply_close("bf_3")
    clock.advance(SETTINGS.reflection_delay)
    ref.settle()
    assert additive.status == "reflected"
    assert keys(ref.expected_billable()) == ["second", "third"]


def test_the_reference_agrees_with_the_simulator_on_a_script() -> None:
    """The same history through the reference and a real simulator: the same billable view."""
    clock = ManualClock(NOW)
    sim = OrbSim(settings=SETTINGS, clock=clock, seed=0)
    ref = model(clock)
    plan = sim.plans.create(name="usage", billing_cadence="monthly")
    customer = sim.customers.create(
        name="Acme", email="a@example.com", external_customer_id="acme", timezone="Etc/UTC"
    )
    start = NOW - timedelta(days=45)
    sim.subscriptions.create(customer_id=customer.id, plan_id=plan.id, start_date=start)
    ref.add_customer(customer.id, "acme", start)
    old = NOW - timedelta(hours=6)
    batch = [
        event("eu", old, customer_id=customer.id, properties={"region": "eu"}),
        event("us", old, external_customer_id="acme"),
        event("gone", NOW, customer_id=customer.id),
    ]
    sim.events.ingest(events=batch)
    assert ingest(ref, batch) is None
    sim.events.deprecate("gone")
    assert ref.predict_deprecate("gone") is None
    ref.apply_deprecate("gone")
    sim.events.update(
        "us", event_name="tokens", properties={"n": 1}, timestamp=old, external_customer_id="acme"
    )
    assert ref.predict_amend("us", {"external_customer_id": "acme"}, old) is None
    ref.apply_amend("us", "tokens", {"n": 1})
    payload: dict[str, Any] = {
        "timeframe_start": NOW - timedelta(days=1),
        "timeframe_end": NOW,
        "deprecation_filter": "region = 'eu'",
    }
    assert ref.predict_create_backfill(payload) is None
    backfill = sim.events.backfills.create(**payload)
    ref.add_backfill(backfill.id, payload)
    fix = [event("eu", old, customer_id=customer.id, properties={"region": "eu", "n": 2})]
    sim.events.ingest(events=fix, backfill_id=backfill.id)
    assert ingest(ref, fix, backfill.id) is None
    sim.events.backfills.close(backfill.id)
    ref.apply_close(backfill.id)
    for _ in range(2):
        actual = sorted(
            (e.id, e.backfill_id or "", e.event_name, typed(e.properties))
            for e in sim.billable_events()
        )
        expected = sorted(
            (e.key, e.backfill.id if e.backfill else "", e.event_name, typed(e.properties))
            for e in ref.expected_billable()
        )
        assert actual == expected
        clock.advance(SETTINGS.reflection_delay)
        ref.settle()
    assert ref.backfill(backfill.id) is not None
    assert sim.events.backfills.fetch(backfill.id).status == "reflected"
    assert [e.key for e in ref.expected_billable()] == ["eu", "us"]
