"""``orbsim.strategies``: valid payloads are accepted, each invalid one is refused for its rule."""

from __future__ import annotations

import operator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
from freezegun import freeze_time
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from helpers.time import US
from orbsim import ManualClock, OrbSim, RequestValidationError, Settings
from orbsim import strategies as ost
from orbsim.engine.timeparse import parse_timestamp

if TYPE_CHECKING:
    from orb.types.event_ingest_params import Event

NOW = datetime(2024, 5, 20, 12, 0, tzinfo=UTC)


def fresh_sim(settings: Settings | None = None) -> tuple[OrbSim, str]:
    """A simulator at NOW with one customer (alias ``acme``); returns it and the customer id."""
    sim = OrbSim(settings=settings, clock=ManualClock(NOW), seed=0)
    customer = sim.customers.create(name="Acme", email="a@acme.test", external_customer_id="acme")
    return sim, customer.id


SIM, CUSTOMER_ID = fresh_sim()  # ids are reproducible (seed=0), so strategies can name them


# -- invalid events ---------------------------------------------------------------------------


@given(case=ost.invalid_events(now=NOW, customer_ids=[CUSTOMER_ID], external_customer_ids=["acme"]))
def test_each_invalid_event_is_refused_for_its_rule(case: ost.InvalidEvent) -> None:
    sim, _ = fresh_sim()
    rule, payload = case
    with pytest.raises(RequestValidationError) as refused:
        sim.events.ingest(events=[payload])
    problems = refused.value.validation_errors
    assert len(problems) == 1, f"{rule} broke more than one rule: {problems}"
    assert case.field in problems[0], f"{rule}: {problems[0]!r} does not name {case.field!r}"
    assert sim.billable_events() == []


@pytest.mark.parametrize("rule", sorted(ost.INVALID_EVENT_RULES))
@settings(max_examples=10)
@given(data=st.data())
def test_every_rule_can_be_asked_for(rule: str, data: st.DataObject) -> None:
    sim, customer_id = fresh_sim()
    case = data.draw(ost.invalid_events(now=NOW, customer_ids=[customer_id], rules=[rule]))
    assert case.rule == rule
    with pytest.raises(RequestValidationError) as refused:
        sim.events.ingest(events=[case.payload])
    assert case.field in " ".join(refused.value.validation_errors)


def test_invalid_events_rejects_unknown_rules() -> None:
    with pytest.raises(ValueError, match="valid rules: unknown_field"):
        ost.invalid_events(now=NOW, rules=["no_such_rule"])


def test_invalid_events_shrink_to_the_edge() -> None:
    case = find(
        ost.invalid_events(now=NOW, external_customer_ids=["acme"]),
        lambda c: c.rule == "older_than_grace",
    )
    assert case.payload["timestamp"] == "2024-05-19T23:59:59.999999Z"
    assert parse_timestamp(case.payload["timestamp"]) == NOW - timedelta(hours=12) - US
    assert case.payload["properties"] == {}


# -- valid events -------------------------------------------------------------------------------


@given(
    batch=ost.event_batches(
        now=NOW,
        customer_ids=[CUSTOMER_ID],
        external_customer_ids=["acme", "not-yet-a-customer"],
        timestamp_formats=("Z", "+00:00", "offset", "naive", "datetime"),
    )
)
def test_valid_batches_are_ingested_in_full(batch: list[dict[str, object]]) -> None:
    sim, _ = fresh_sim()
    sim.events.ingest(events=batch)
    billed = sim.billable_events()
    assert sorted(e.id for e in billed) == sorted(str(e["idempotency_key"]) for e in batch)


@settings(max_examples=20)
@given(batch=ost.event_batches(now=NOW, customer_ids=[CUSTOMER_ID], max_size=5))
def test_valid_batches_pass_through_the_sdk(batch: list[Event]) -> None:
    sim, _ = fresh_sim()
    with sim.client(_strict_response_validation=True, max_retries=0) as client:
        client.events.ingest(events=batch)
    assert len(sim.billable_events()) == len(batch)


def test_valid_events_shrink_to_a_plain_event() -> None:
    event = find(ost.events(now=NOW, external_customer_ids=["acme"]), lambda e: True)
    assert event == {
        "idempotency_key": "0",
        "event_name": "api_call",
        "timestamp": "2024-05-20T12:00:00Z",
        "properties": {},
        "external_customer_id": "acme",
    }


def test_events_need_a_time() -> None:
    with pytest.raises(ValueError, match="now="):
        ost.events(customer_ids=["x"])


@given(
    event=ost.events(
        customer_ids=[CUSTOMER_ID],
        timestamps=ost.timestamps_near(NOW - timedelta(hours=1)),
        properties=ost.properties(st.just("region"), st.sampled_from(["eu", "us"])),
        names=st.just("tokens"),
    )
)
def test_events_compose_with_other_strategies(event: dict[str, object]) -> None:
    assert event["event_name"] == "tokens"
    properties = event["properties"]
    assert isinstance(properties, dict)
    assert set(properties) <= {"region"}
    moment = parse_timestamp(event["timestamp"])
    assert abs(moment - (NOW - timedelta(hours=1))) <= timedelta(minutes=10)


# -- timestamps ---------------------------------------------------------------------------------


@given(when=ost.timestamps(NOW))
def test_ingestible_timestamps_are_inside_the_window(when: datetime) -> None:
    assert NOW - timedelta(hours=12) <= when <= NOW + timedelta(minutes=5)


@given(when=ost.timestamps(NOW, window="too_old", settings=Settings(grace_period=timedelta(0))))
def test_too_old_timestamps_follow_the_settings(when: datetime) -> None:
    assert NOW - timedelta(days=30) <= when < NOW


@given(when=ost.timestamps(NOW, window="too_far_in_future"))
def test_future_timestamps_are_past_the_tolerance(when: datetime) -> None:
    assert NOW + timedelta(minutes=5) < when <= NOW + timedelta(days=30, minutes=5)


@given(when=ost.timestamps(NOW, window="any"))
def test_timestamps_any_window_is_the_union(when: datetime) -> None:
    assert NOW - timedelta(days=31) <= when <= NOW + timedelta(days=31)


def test_the_window_edges_are_generated() -> None:
    for edge in (NOW - timedelta(hours=12), NOW + timedelta(minutes=5)):
        assert find(ost.timestamps(NOW), partial(operator.eq, edge)) == edge
    assert (
        find(ost.timestamps(NOW, window="too_old"), lambda w: True)
        == NOW - timedelta(hours=12) - US
    )


def test_unknown_window() -> None:
    with pytest.raises(ValueError, match="window must be one of"):
        ost.timestamps(NOW, window="soon")  # type: ignore[arg-type]


@given(
    rendered=ost.render_timestamps(
        st.just(NOW + timedelta(microseconds=5)),
        ("Z", "+00:00", "offset", "naive", "datetime"),
    )
)
def test_renderings_mean_the_same_instant(rendered: datetime | str) -> None:
    assert parse_timestamp(rendered) == NOW + timedelta(microseconds=5)


@given(when=ost.timestamps_near("2024-06-01T00:00:00Z", NOW, spread=timedelta(seconds=30)))
def test_timestamps_near_stay_near(when: datetime) -> None:
    edges = [datetime(2024, 6, 1, tzinfo=UTC), NOW]
    assert min(abs(when - edge) for edge in edges) <= timedelta(seconds=30)


def test_billing_period_edges() -> None:
    sim, customer_id = fresh_sim()
    plan = sim.plans.create(name="p")
    sim.subscriptions.create(
        customer_id=customer_id, plan_id=plan.id, start_date="2024-04-10T00:00:00Z"
    )
    edges = ost.billing_period_edges(sim, customer_id)
    assert edges == sorted(edges)
    for expected in ("2024-04-10T00:00:00Z", "2024-05-01T00:00:00Z", "2024-05-01T12:00:00Z"):
        assert parse_timestamp(expected) in edges


# -- customers and backfills --------------------------------------------------------------------


@given(payload=ost.customer_payloads())
def test_customer_payloads_are_accepted(payload: dict[str, Any]) -> None:
    sim = OrbSim(clock=ManualClock(NOW))
    customer = sim.customers.create(**payload)
    assert customer.name == payload["name"]
    assert customer.external_customer_id == payload.get("external_customer_id")


@given(data=st.data())
def test_backfill_payloads_are_accepted(data: st.DataObject) -> None:
    sim, customer_id = fresh_sim()
    payload = data.draw(
        ost.backfill_payloads(now=NOW, customer_ids=[customer_id], external_customer_ids=["acme"])
    )
    backfill = sim.events.backfills.create(**payload)
    assert backfill.status == "pending"
    assert backfill.timeframe_end - backfill.timeframe_start <= timedelta(days=31)
    if "customer_id" in payload or "external_customer_id" in payload:
        assert backfill.customer_id == customer_id


@given(text=ost.deprecation_filters(("region", "tier", "count")))
def test_deprecation_filters_are_valid(text: str) -> None:
    sim, _ = fresh_sim()
    backfill = sim.events.backfills.create(
        timeframe_start=NOW - timedelta(hours=2),
        timeframe_end=NOW - timedelta(hours=1),
        deprecation_filter=text,
    )
    assert backfill.deprecation_filter == text


# -- key spaces and the default time ----------------------------------------------------------


def _keys(batch: list[dict[str, object]]) -> set[object]:
    return {event["idempotency_key"] for event in batch}


def test_invalid_events_never_reuse_a_key_of_event_batches() -> None:
    pairs = st.tuples(
        ost.event_batches(now=NOW, external_customer_ids=["acme"]),
        ost.invalid_events(now=NOW, external_customer_ids=["acme"]),
    )
    with pytest.raises(NoSuchExample):
        find(pairs, lambda pair: pair[1].payload.get("idempotency_key") in _keys(pair[0]))


@settings(max_examples=200, deadline=None)
@given(
    batch=ost.event_batches(now=NOW, external_customer_ids=["acme"]),
    bad=ost.invalid_events(now=NOW, external_customer_ids=["acme"]),
)
def test_a_bad_event_in_a_batch_is_refused_for_its_own_rule(
    batch: list[dict[str, object]], bad: ost.InvalidEvent
) -> None:
    sim, _ = fresh_sim()
    with pytest.raises(RequestValidationError) as refused:
        sim.events.ingest(events=[*batch, bad.payload])
    failed = refused.value.validation_failed or []
    assert len(failed) == 1, failed
    assert bad.field in " ".join(failed[0]["validation_errors"]), (bad.rule, failed)


@given(case=ost.invalid_events(now=NOW, keys=st.just("mine"), rules=["missing_event_name"]))
def test_invalid_events_take_their_keys_from_keys(case: ost.InvalidEvent) -> None:
    assert case.payload["idempotency_key"] == "mine"


@given(
    first=ost.idempotency_keys(namespace="a"),
    second=ost.idempotency_keys(namespace="a~b"),
    plain=ost.idempotency_keys(),
)
def test_key_namespaces_are_disjoint(first: str, second: str, plain: str) -> None:
    assert first.startswith("a~") and second.startswith("a~b~")
    assert len({first, second, plain}) == 3


def test_a_namespace_must_be_non_empty() -> None:
    with pytest.raises(ValueError, match="namespace"):
        ost.idempotency_keys(namespace="")


@settings(max_examples=50, deadline=None)
@given(case=ost.invalid_events(external_customer_ids=["acme"]))
def test_invalid_events_default_to_the_current_time(case: ost.InvalidEvent) -> None:
    sim = OrbSim()  # the SystemClock: the same "now" the strategy used
    with pytest.raises(RequestValidationError) as refused:
        sim.events.ingest(events=[case.payload])
    problems = refused.value.validation_errors
    assert len(problems) == 1, f"{case.rule} broke more than one rule: {problems}"
    assert case.field in problems[0]


def test_invalid_events_without_now_follow_frozen_time() -> None:
    with freeze_time("2024-01-02T03:04:05Z"):
        case = find(
            ost.invalid_events(external_customer_ids=["acme"], rules=["older_than_grace"]),
            lambda c: True,
        )
    assert case.payload["timestamp"] == "2024-01-01T15:04:04.999999Z"
