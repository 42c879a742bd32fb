"""Examples of what a backfill does to usage: the billable view, search and volume.

Every test starts from the same February history of two customers, Acme (alias ``acme``) and
Globex (alias ``globex``), ingested live while the clock walked through February; the clock then
stands at ``START`` (2024-03-01). Most backfills cover ``[Feb 1, Feb 8)``, which holds every
original event except ``a-later``.

``counted(sim)`` renders the billable view as a set of event ids; an event that comes from a
backfill is written ``id<backfill id>`` (see ``via``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from helpers.time import US, feb
from orbsim import (
    ConstraintViolation,
    ManualClock,
    OrbSim,
    RequestValidationError,
    ResourceConflict,
    Settings,
)
from orbsim.models import Backfill

START = datetime(2024, 3, 1, tzinfo=UTC)
DELAY = timedelta(hours=1)


def event(
    key: str,
    timestamp: datetime,
    customer: str | None = None,
    alias: str | None = None,
    **properties: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "idempotency_key": key,
        "event_name": "api_call",
        "timestamp": timestamp.isoformat(),
        "properties": properties,
    }
    if alias is not None:
        body["external_customer_id"] = alias
    else:
        body["customer_id"] = customer
    return body


@dataclass
class World:
    sim: OrbSim
    clock: ManualClock
    acme: str
    globex: str

    def backfill(self, **kwargs: Any) -> Backfill:
        kwargs.setdefault("timeframe_start", feb(1))
        kwargs.setdefault("timeframe_end", feb(8))
        return self.sim.events.backfills.create(**kwargs)

    def ingest(self, backfill: Backfill, *events: dict[str, Any]) -> None:
        self.sim.events.ingest(events=list(events), backfill_id=backfill.id)

    def close(self, backfill: Backfill) -> None:
        self.sim.events.backfills.close(backfill.id)

    def revert(self, backfill: Backfill) -> None:
        self.sim.events.backfills.revert(backfill.id)


def _settings(delay: timedelta) -> Settings:
    """A delay, or (none given) immediate reflection: these tests are about the billable view,
    not about how reflection progresses (``tests/sdk/test_sdk_reflection.py``)."""
    return (
        Settings(reflection_delay=delay) if delay else Settings(reflection_progression="immediate")
    )


def build_world(delay: timedelta = timedelta(0)) -> World:
    """Two customers and their February usage, ingested live; the clock ends at START."""
    clock = ManualClock(feb(1))
    sim = OrbSim(settings=_settings(delay), clock=clock)
    acme = sim.customers.create(
        name="Acme", email="billing@acme.com", external_customer_id="acme"
    ).id
    globex = sim.customers.create(
        name="Globex", email="billing@globex.com", external_customer_id="globex"
    ).id
    history = [
        event("a-eu", feb(2, 10), acme, region="eu"),
        event("b-eu", feb(2, 11), globex, region="eu"),
        event("a-us", feb(3, 10), acme, region="us"),
        event("a-none", feb(4, 10), acme),  # no region at all
        event("a-alias", feb(5, 10), alias="acme", region="eu"),  # sent by alias
        event("b-none", feb(6, 10), globex),
        event("a-later", feb(20, 10), acme, region="eu"),  # after the usual timeframe
    ]
    for item in history:
        clock.set(datetime.fromisoformat(item["timestamp"]))
        sim.events.ingest(events=[item])
    clock.set(START)
    return World(sim, clock, acme, globex)


@pytest.fixture
def world() -> World:
    return build_world()


ORIGINALS = {"a-eu", "b-eu", "a-us", "a-none", "a-alias", "b-none", "a-later"}
IN_FRAME = ORIGINALS - {"a-later"}
ACME = {"a-eu", "a-us", "a-none", "a-alias", "a-later"}
GLOBEX = {"b-eu", "b-none"}


def counted(sim: OrbSim, **scope: Any) -> set[str]:
    return {
        e.id if e.backfill_id is None else f"{e.id}<{e.backfill_id}>"
        for e in sim.billable_events(**scope)
    }


def via(backfill: Backfill, *keys: str) -> set[str]:
    return {f"{key}<{backfill.id}>" for key in keys}


def test_the_starting_view(world: World) -> None:
    assert counted(world.sim) == ORIGINALS
    assert counted(world.sim, customer_id=world.acme) == ACME
    assert counted(world.sim, external_customer_id="globex") == GLOBEX


# --- replace and add ----------------------------------------------------------------------------


def test_replace_hides_everything_in_its_timeframe_and_adds_its_own_events(world: World) -> None:
    backfill = world.backfill()
    world.ingest(
        backfill,
        event("a-eu", feb(2, 10), world.acme, region="eu", corrected=True),
        event("a-new", feb(7), world.acme),
    )
    assert counted(world.sim) == ORIGINALS  # nothing changes before it is closed

    world.close(backfill)

    assert counted(world.sim) == {"a-later"} | via(backfill, "a-eu", "a-new")
    assert counted(world.sim, customer_id=world.globex) == set()  # account-wide: all customers
    [corrected] = [e for e in world.sim.billable_events() if e.id == "a-eu"]
    assert corrected.properties == {"region": "eu", "corrected": True}


def test_add_keeps_the_existing_events(world: World) -> None:
    backfill = world.backfill(replace_existing_events=False)
    world.ingest(backfill, event("a-missed", feb(7), world.acme))

    world.close(backfill)

    assert counted(world.sim) == ORIGINALS | via(backfill, "a-missed")


def test_an_empty_replacing_backfill_simply_removes_usage(world: World) -> None:
    backfill = world.backfill(timeframe_start=feb(3), timeframe_end=feb(5))

    world.close(backfill)

    assert counted(world.sim) == ORIGINALS - {"a-us", "a-none"}


@pytest.mark.parametrize("by", ["customer_id", "external_customer_id"])
def test_a_customer_scoped_replace_leaves_other_customers_alone(world: World, by: str) -> None:
    scope = {"customer_id": world.acme} if by == "customer_id" else {"external_customer_id": "acme"}
    backfill = world.backfill(**scope)
    world.ingest(backfill, event("a-fixed", feb(2), world.acme))

    world.close(backfill)

    # the alias-sent a-alias counts for Acme, so it is replaced too
    assert counted(world.sim) == GLOBEX | {"a-later"} | via(backfill, "a-fixed")
    assert counted(world.sim, customer_id=world.globex) == GLOBEX
    assert counted(world.sim, external_customer_id="acme") == {"a-later"} | via(backfill, "a-fixed")


# --- deprecation_filter -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deprecation_filter", "hidden"),
    [
        ("region = 'eu'", {"a-eu", "a-alias", "b-eu"}),
        # events without a region are NULL: neither = nor != nor NOT matches them
        ("region != 'eu'", {"a-us"}),
        ("region <> 'eu'", {"a-us"}),
        ("NOT region = 'eu'", {"a-us"}),
        ("region IS NULL", {"a-none", "b-none"}),
        ("region IS NOT NULL", {"a-eu", "a-us", "a-alias", "b-eu"}),
        ("region = 'eu' OR region IS NULL", {"a-eu", "a-alias", "b-eu", "a-none", "b-none"}),
        ("region IN ('us', 'apac')", {"a-us"}),
        ("region = 'EU'", set()),  # case-sensitive
        ("TRUE", IN_FRAME),
        ("FALSE", set()),
        # the built-in columns and the rest of the computed-property language
        ("event_name = 'api_call'", IN_FRAME),
        ("event_name = 'login'", set()),
        ("timestamp < TIMESTAMP '2024-02-04T00:00:00Z'", {"a-eu", "b-eu", "a-us"}),
        ("lower(COALESCE(region, 'EU')) = 'eu'", {"a-eu", "a-alias", "b-eu", "a-none", "b-none"}),
        ("CASE WHEN region = 'us' THEN TRUE ELSE FALSE END", {"a-us"}),
    ],
)
def test_deprecation_filter_hides_only_what_it_matches(
    world: World, deprecation_filter: str, hidden: set[str]
) -> None:
    backfill = world.backfill(deprecation_filter=deprecation_filter)

    world.close(backfill)

    assert counted(world.sim) == ORIGINALS - hidden


def test_deprecation_filter_and_customer_scope_combine(world: World) -> None:
    backfill = world.backfill(customer_id=world.acme, deprecation_filter="region = 'eu'")

    world.close(backfill)

    assert counted(world.sim) == ORIGINALS - {"a-eu", "a-alias"}


def test_events_arriving_after_a_filter_backfill_are_hidden_if_they_match(world: World) -> None:
    sim, clock = world.sim, world.clock
    backfill = world.backfill(
        timeframe_start=feb(29), timeframe_end=START, deprecation_filter="region = 'eu'"
    )
    before_close = event("early-eu", START - timedelta(hours=3), world.acme, region="eu")
    sim.events.ingest(events=[before_close])
    world.close(backfill)
    clock.advance(minutes=30)

    sim.events.ingest(
        events=[
            event("late-eu", START - timedelta(hours=2), world.acme, region="eu"),
            event("late-us", START - timedelta(hours=2), world.acme, region="us"),
            event("late-none", START - timedelta(hours=2), world.globex),
            event("late-eu-by-alias", START - timedelta(hours=1), alias="globex", region="eu"),
            event("after-frame-eu", START, world.acme, region="eu"),  # timeframe_end is exclusive
        ]
    )

    assert counted(sim) == ORIGINALS | {"late-us", "late-none", "after-frame-eu"}
    found = sim.events.search(
        event_ids=["late-eu", "late-us"], timeframe_start=feb(29), timeframe_end=clock.now()
    )
    assert {(e.id, e.deprecated) for e in found.data} == {("late-eu", True), ("late-us", False)}

    world.revert(backfill)

    assert counted(sim) == ORIGINALS | {
        "early-eu",
        "late-eu",
        "late-us",
        "late-none",
        "late-eu-by-alias",
        "after-frame-eu",
    }


# --- search and volume --------------------------------------------------------------------------


def searched(world: World, *ids: str) -> list[tuple[str, bool, dict[str, Any]]]:
    found = world.sim.events.search(
        event_ids=list(ids), timeframe_start=feb(1), timeframe_end=START
    )
    return [(e.id, e.deprecated, e.properties) for e in found.data]


def test_search_shows_hidden_originals_as_deprecated_and_backfill_events_once_reflected() -> None:
    world = build_world(delay=DELAY)
    backfill = world.backfill(customer_id=world.acme)
    world.ingest(backfill, event("a-eu", feb(2, 10), world.acme, region="eu", fixed=True))
    world.close(backfill)

    reflecting = searched(world, "a-eu", "a-us", "b-eu")
    world.clock.advance(DELAY)
    reflected = searched(world, "a-eu", "a-us", "b-eu")
    world.revert(backfill)
    reverting = searched(world, "a-eu", "a-us", "b-eu")
    world.clock.advance(DELAY)
    reverted = searched(world, "a-eu", "a-us", "b-eu")

    original = [
        ("a-eu", False, {"region": "eu"}),
        ("a-us", False, {"region": "us"}),
        ("b-eu", False, {"region": "eu"}),
    ]
    assert reflecting == original  # closed, not yet reflected: no effect
    assert reflected == [
        ("a-eu", True, {"region": "eu"}),
        ("a-eu", False, {"region": "eu", "fixed": True}),
        ("a-us", True, {"region": "us"}),
        ("b-eu", False, {"region": "eu"}),
    ]
    assert reverting == reflected  # pending_revert still counts
    assert reverted == original


def volume(sim: OrbSim) -> list[tuple[datetime, int]]:
    page = sim.events.volume.list(timeframe_start=feb(1), timeframe_end=START, limit=100)
    return [(v.timeframe_start, v.count) for v in page.data]


def test_volume_shows_a_backfills_events_once_it_is_in_effect(world: World) -> None:
    """Volume counts events ingested, so a replacing backfill adds its events (once reflected)
    and hides none: the replaced originals were ingested too. Reverting takes its events out."""
    backfill = world.backfill(deprecation_filter="region = 'eu'")
    world.ingest(
        backfill,
        event("a-eu", feb(2, 10), world.acme, region="eu"),
        event("a-eu-2", feb(2, 10), world.acme, region="eu"),
        event("b-eu", feb(2, 15), world.globex, region="eu"),  # moved to another hour
    )
    before = volume(world.sim)

    world.close(backfill)

    assert before == [
        (feb(2, 10), 1),
        (feb(2, 11), 1),
        (feb(3, 10), 1),
        (feb(4, 10), 1),
        (feb(5, 10), 1),
        (feb(6, 10), 1),
        (feb(20, 10), 1),
    ]
    assert volume(world.sim) == [
        (feb(2, 10), 3),
        (feb(2, 11), 1),
        (feb(2, 15), 1),
        (feb(3, 10), 1),
        (feb(4, 10), 1),
        (feb(5, 10), 1),
        (feb(6, 10), 1),
        (feb(20, 10), 1),
    ]
    world.revert(backfill)
    assert volume(world.sim) == before


def test_volume_follows_the_backfill_status_not_the_close() -> None:
    """Closed but not yet reflected: its events do not show (Orb: "changes from a backfill are
    not reflected until the backfill is closed", and reflection is asynchronous); reverting
    (``pending_revert``) they still show; ``reverted``: gone."""
    world = build_world(DELAY)
    backfill = world.backfill(replace_existing_events=False)
    world.ingest(backfill, event("extra", feb(2, 15), world.acme))
    in_hour = [(feb(2, 15), 1)]

    def at_15() -> list[tuple[datetime, int]]:
        page = world.sim.events.volume.list(timeframe_start=feb(2, 15), timeframe_end=feb(2, 16))
        return [(v.timeframe_start, v.count) for v in page.data]

    assert at_15() == []  # open
    world.close(backfill)
    assert at_15() == []  # closed, reflecting
    world.clock.advance(DELAY)
    assert at_15() == in_hour  # reflected
    world.revert(backfill)
    assert at_15() == in_hour  # pending_revert
    world.clock.advance(DELAY)
    assert at_15() == []  # reverted


def test_volume_counts_whole_hours_and_replaced_events_still_count() -> None:
    """A window starting mid-hour counts that whole hour; an event a reflected backfill
    replaced leaves the billable view but stays in the volume (it was ingested)."""
    clock = ManualClock(datetime(2024, 2, 8, 1, tzinfo=UTC))
    sim = OrbSim(clock=clock, settings=_settings(timedelta(0)))
    customer = sim.customers.create(name="a", email="a@acme.com").id
    sim.events.ingest(events=[event("e", datetime(2024, 2, 8, 0, 10, tzinfo=UTC), customer)])
    clock.set(START)
    backfill = sim.events.backfills.create(
        timeframe_start=feb(1), timeframe_end=datetime(2024, 2, 8, 0, 30, tzinfo=UTC)
    )
    sim.events.backfills.close(backfill.id)

    window = sim.events.volume.list(
        timeframe_start=datetime(2024, 2, 8, 0, 45, tzinfo=UTC), timeframe_end=feb(8, 2)
    )

    assert sim.billable_events() == []
    assert [(v.timeframe_start, v.count) for v in window.data] == [(feb(8, 0), 1)]


# --- composing backfills ------------------------------------------------------------------------


@pytest.fixture
def stacked(world: World) -> tuple[World, Backfill, Backfill]:
    """An account-wide replace, then (reflected later) an Acme-only replace of the same week."""
    first = world.backfill()
    world.ingest(
        first,
        event("a-eu", feb(2, 10), world.acme, version=1),
        event("b-eu", feb(2, 11), world.globex, version=1),
    )
    world.close(first)
    second = world.backfill(customer_id=world.acme)
    world.ingest(second, event("a-eu", feb(2, 10), world.acme, version=2))
    world.close(second)
    return world, first, second


def test_a_later_replace_hides_an_earlier_backfills_events(
    stacked: tuple[World, Backfill, Backfill],
) -> None:
    world, first, second = stacked

    assert counted(world.sim) == {"a-later"} | via(first, "b-eu") | via(second, "a-eu")


def test_reverting_the_later_backfill_restores_the_earlier_view(
    stacked: tuple[World, Backfill, Backfill],
) -> None:
    world, first, second = stacked

    world.revert(second)

    assert counted(world.sim) == {"a-later"} | via(first, "a-eu", "b-eu")


def test_reverting_the_earlier_backfill_keeps_the_later_ones_effect(
    stacked: tuple[World, Backfill, Backfill],
) -> None:
    world, first, second = stacked

    world.revert(first)

    # Acme's week is still replaced by the second backfill; Globex gets its originals back
    assert counted(world.sim) == GLOBEX | {"a-later"} | via(second, "a-eu")


def test_reverting_both_in_either_order_restores_the_originals(
    stacked: tuple[World, Backfill, Backfill],
) -> None:
    world, first, second = stacked

    world.revert(first)
    world.revert(second)

    assert counted(world.sim) == ORIGINALS


def test_a_later_replace_hides_an_earlier_add_only_backfills_events(world: World) -> None:
    added = world.backfill(replace_existing_events=False)
    world.ingest(
        added, event("a-extra", feb(3), world.acme), event("b-extra", feb(3), world.globex)
    )
    world.close(added)
    replacing = world.backfill(customer_id=world.acme)
    world.close(replacing)

    assert counted(world.sim) == GLOBEX | {"a-later"} | via(added, "b-extra")


def test_an_add_only_backfill_after_a_replace_adds_to_it(world: World) -> None:
    replacing = world.backfill()
    world.ingest(replacing, event("a-eu", feb(2, 10), world.acme))
    world.close(replacing)
    added = world.backfill(replace_existing_events=False)
    world.ingest(added, event("a-extra", feb(3), world.acme))
    world.close(added)

    assert counted(world.sim) == {"a-later"} | via(replacing, "a-eu") | via(added, "a-extra")


# --- revert restores exactly; nothing is ever deleted -------------------------------------------


def test_revert_restores_exactly_the_previous_view_after_reflection_delay() -> None:
    world = build_world(delay=DELAY)
    sim = world.sim
    before = sim.billable_events()
    backfill = world.backfill(customer_id=world.acme)
    world.ingest(backfill, event("a-eu", feb(2, 10), world.acme, region="us"))
    world.close(backfill)
    world.clock.advance(DELAY)
    during = sim.billable_events()
    assert during != before

    world.revert(backfill)
    world.clock.advance(DELAY - US)
    assert sim.billable_events() == during  # pending_revert: the effects still count
    world.clock.advance(US)

    assert sim.events.backfills.fetch(backfill.id).status == "reverted"
    assert sim.billable_events() == before


def test_hidden_originals_are_kept_with_their_full_history(world: World) -> None:
    sim = world.sim
    history = {key: sim.event_versions(key) for key in sorted(ORIGINALS)}
    backfill = world.backfill()
    world.ingest(backfill, event("a-eu", feb(2, 10), world.acme, region="us"))
    world.close(backfill)

    assert {key: sim.event_versions(key) for key in sorted(ORIGINALS)} == history

    world.revert(backfill)

    assert {key: sim.event_versions(key) for key in sorted(ORIGINALS)} == history


def test_an_open_backfill_reverted_never_changes_usage(world: World) -> None:
    backfill = world.backfill()
    world.ingest(backfill, event("a-eu", feb(2, 10), world.acme, region="us"))

    world.revert(backfill)
    world.clock.advance(days=2)  # long past its close_time

    assert counted(world.sim) == ORIGINALS


# --- property: reverting everything restores the original view ----------------------------------

TIMEFRAMES = [(feb(1), feb(8)), (feb(5), feb(12)), (feb(29), START)]
SCOPES = [None, "acme", "globex"]
FILTERS = [None, "region = 'eu'", "region != 'eu'", "region IS NULL"]
WHO = [("customer", "acme"), ("customer", "globex"), ("alias", "acme"), ("alias", "nobody")]
PROPS: list[dict[str, Any]] = [{}, {"region": "eu"}, {"region": "us"}]

# (key, who, hours after the backfill's timeframe_start, properties)
backfill_event = st.tuples(
    st.sampled_from(["a-eu", "b-eu", "k1", "k2"]),
    st.sampled_from(WHO),
    st.sampled_from([0, 26, 100, 200]),
    st.sampled_from(PROPS),
)
# create a backfill, ingest into it one event at a time, then close it, leave it open or revert it
backfill_op = st.tuples(
    st.just("backfill"),
    st.sampled_from(TIMEFRAMES),
    st.sampled_from(SCOPES),
    st.booleans(),
    st.sampled_from(FILTERS),
    st.lists(backfill_event, max_size=3),
    st.sampled_from(["close", "leave open", "revert"]),
)
# close or revert an earlier backfill (by creation order, modulo how many exist)
step_op = st.tuples(st.sampled_from(["close", "revert"]), st.integers(0, 3))
# a live event arriving now (hours ago), possibly inside a filter backfill's timeframe
live_op = st.tuples(
    st.just("live"),
    st.sampled_from(["live-1", "live-2", "a-eu"]),
    st.sampled_from(WHO),
    st.sampled_from([1, 6]),
    st.sampled_from(PROPS),
)
clock_op = st.tuples(st.just("advance"), st.sampled_from([30, 60 * 13, 60 * 24 * 2]))  # minutes
operations = st.lists(st.one_of(backfill_op, step_op, live_op, clock_op), min_size=1, max_size=8)


def who_fields(who: tuple[str, str], customers: dict[str, str]) -> dict[str, str]:
    kind, name = who
    return {"alias": name} if kind == "alias" else {"customer": customers[name]}


def outcome(call: Any, **kwargs: Any) -> str:
    try:
        call(**kwargs)
    except RequestValidationError as exc:
        return f"refused: {exc}"
    return "ok"


def full_view(sim: OrbSim, customers: dict[str, str]) -> list[Any]:
    until = sim.now() + timedelta(hours=1)
    keys = sorted(ORIGINALS | {"live-1", "live-2", "k1", "k2"})
    return [
        sim.billable_events(),
        *(sim.billable_events(customer_id=c) for c in customers.values()),
        sim.billable_events(external_customer_id="nobody"),
        sim.events.search(event_ids=keys, timeframe_start=feb(1), timeframe_end=until).data,
        sim.events.volume.list(timeframe_start=feb(1), timeframe_end=until, limit=100).data,
    ]


@hypothesis_settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(delay=st.sampled_from([timedelta(0), DELAY]), ops=operations)
def test_reverting_every_backfill_restores_the_original_view(
    delay: timedelta, ops: list[tuple[Any, ...]]
) -> None:
    world = build_world(delay)
    twin = build_world(delay)  # receives the same live events, never a backfill
    sim, customers = world.sim, {"acme": world.acme, "globex": world.globex}
    assert (twin.acme, twin.globex) == (world.acme, world.globex)
    refused = (RequestValidationError, ResourceConflict, ConstraintViolation)
    created: list[Backfill] = []

    for op in ops:
        if op[0] == "backfill":
            _, (start, end), scope, replace, deprecation_filter, items, then = op
            try:
                backfill = sim.events.backfills.create(
                    timeframe_start=start,
                    timeframe_end=end,
                    customer_id=customers[scope] if scope else None,
                    replace_existing_events=replace,
                    deprecation_filter=deprecation_filter if replace else None,
                )
            except refused:
                continue
            created.append(backfill)
            for key, who, hours, props in items:
                timestamp = start + timedelta(hours=hours)
                payload = event(key, timestamp, **who_fields(who, customers), **props)
                outcome(sim.events.ingest, events=[payload], backfill_id=backfill.id)
            if then != "leave open":
                getattr(sim.events.backfills, then)(backfill.id)
        elif op[0] in ("close", "revert") and created:
            with contextlib.suppress(ConstraintViolation):  # closing a reverted backfill
                getattr(sim.events.backfills, op[0])(created[op[1] % len(created)].id)
        elif op[0] == "live":
            _, key, who, hours, props = op
            timestamp = sim.now() - timedelta(hours=hours)
            payload = event(key, timestamp, **who_fields(who, customers), **props)
            outcomes = [outcome(s.events.ingest, events=[payload]) for s in (sim, twin.sim)]
            assert outcomes[0] == outcomes[1]
        elif op[0] == "advance":
            world.clock.advance(minutes=op[1])
            twin.clock.advance(minutes=op[1])

    for backfill in created:
        sim.events.backfills.revert(backfill.id)
    world.clock.advance(delay)
    twin.clock.advance(delay)

    assert {b.status for b in sim.events.backfills.list(limit=100).data} <= {"reverted"}
    assert full_view(sim, customers) == full_view(twin.sim, customers)
