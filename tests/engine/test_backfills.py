"""Examples of the backfill resource: its status machine, the overlap rule, creation limits,
ingestion into a backfill, and listing.

The clock starts at ``START`` (2024-03-01 00:00 UTC); most backfills cover February 1-8, safely
older than the 12-hour ingestion grace period. Where an intermediate state must be observable,
the account's ``reflection_delay`` is one hour (``DELAY``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time

from helpers.time import US, feb
from orbsim import (
    ConstraintViolation,
    ManualClock,
    OrbSim,
    RequestValidationError,
    ResourceConflict,
    ResourceNotFound,
    Settings,
)
from orbsim.models import Backfill

START = datetime(2024, 3, 1, tzinfo=UTC)
DELAY = timedelta(hours=1)
GRACE_BOUNDARY = START - timedelta(hours=12)  # 2024-02-29T12:00:00Z


def event(key: str, timestamp: datetime, customer: str | None = None, **kw: Any) -> dict[str, Any]:
    """An ingest payload; ``customer`` is an Orb customer id, ``alias=...`` an external id."""
    body: dict[str, Any] = {
        "idempotency_key": key,
        "event_name": "api_call",
        "timestamp": timestamp.isoformat(),
        "properties": kw.pop("properties", {}),
    }
    if "alias" in kw:
        body["external_customer_id"] = kw.pop("alias")
    else:
        body["customer_id"] = customer
    assert not kw
    return body


def _settings(delay: timedelta) -> Settings:
    """A delay, or (none given) immediate reflection: these tests are about the billable view,
    not about how reflection progresses (``tests/sdk/test_sdk_reflection.py``)."""
    return (
        Settings(reflection_delay=delay) if delay else Settings(reflection_progression="immediate")
    )


def make_sim(delay: timedelta = timedelta(0)) -> tuple[OrbSim, ManualClock]:
    clock = ManualClock(START)
    return OrbSim(settings=_settings(delay), clock=clock), clock


@pytest.fixture
def clock_start() -> datetime:
    return START


@pytest.fixture
def sim(clock: ManualClock, sim_seed: int) -> OrbSim:
    """The shared ``sim``, with immediate reflection (see ``_settings``)."""
    return OrbSim(clock=clock, seed=sim_seed, settings=_settings(timedelta(0)))


@pytest.fixture
def slow() -> tuple[OrbSim, ManualClock]:
    """A sim whose backfills take ``DELAY`` to reflect and to revert."""
    return make_sim(DELAY)


def acme(sim: OrbSim) -> str:
    return sim.customers.create(
        name="Acme", email="billing@acme.com", external_customer_id="acme"
    ).id


def globex(sim: OrbSim) -> str:
    return sim.customers.create(
        name="Globex", email="billing@globex.com", external_customer_id="globex"
    ).id


def everything(sim: OrbSim) -> list[Backfill]:
    return sim.events.backfills.list(limit=100).data


# --- the status machine -------------------------------------------------------------------------

CLOSED_AT = START + timedelta(minutes=10)
REFLECTED_AT = CLOSED_AT + DELAY
REVERTED_AT = REFLECTED_AT + DELAY
DEFAULT_CLOSE = START + timedelta(days=1)
STATES = ["open", "closed", "reflected", "pending_revert", "reverted"]


def reach(sim: OrbSim, clock: ManualClock, state: str, **create: Any) -> str:
    """Create a backfill at START and walk it (with reflection_delay=DELAY) into ``state``.

    open: created, accepting events | closed: closed at CLOSED_AT, reflecting |
    reflected: at REFLECTED_AT | pending_revert: revert asked at REFLECTED_AT | reverted: at
    REVERTED_AT.
    """
    backfills = sim.events.backfills
    create.setdefault("timeframe_start", feb(1))
    create.setdefault("timeframe_end", feb(8))
    backfill_id = backfills.create(**create).id
    depth = STATES.index(state)
    if depth >= STATES.index("closed"):
        clock.set(CLOSED_AT)
        backfills.close(backfill_id)
    if depth >= STATES.index("reflected"):
        clock.set(REFLECTED_AT)  # settled lazily by the next call
    if depth >= STATES.index("pending_revert"):
        backfills.revert(backfill_id)
    if depth >= STATES.index("reverted"):
        clock.set(REVERTED_AT)
    return backfill_id


@pytest.mark.parametrize(
    ("state", "status", "close_time", "reverted_at"),
    [
        ("open", "pending", DEFAULT_CLOSE, None),
        ("closed", "pending", CLOSED_AT, None),
        ("reflected", "reflected", CLOSED_AT, None),
        ("pending_revert", "pending_revert", CLOSED_AT, None),
        ("reverted", "reverted", CLOSED_AT, REVERTED_AT),
    ],
)
def test_each_state_as_fetch_shows_it(
    slow: tuple[OrbSim, ManualClock],
    state: str,
    status: str,
    close_time: datetime | None,
    reverted_at: datetime | None,
) -> None:
    sim, clock = slow
    backfill = sim.events.backfills.fetch(reach(sim, clock, state))

    assert (backfill.status, backfill.close_time, backfill.reverted_at) == (
        status,
        close_time,
        reverted_at,
    )


ACTION_TIME = object()  # stands for "the moment of the close/revert call"


@pytest.mark.parametrize(
    ("state", "action", "changes"),
    [
        # close: an open backfill closes now and starts reflecting (status stays pending)
        ("open", "close", {"close_time": ACTION_TIME}),
        ("closed", "close", {}),
        ("reflected", "close", {}),
        # revert: an open one never closed, so close_time goes away
        ("open", "revert", {"status": "reverted", "close_time": None, "reverted_at": ACTION_TIME}),
        # closed but not reflected yet: nothing was reflected, so it is reverted at once
        ("closed", "revert", {"status": "reverted", "reverted_at": ACTION_TIME}),
        # reflected: its effects are undone over reflection_delay
        ("reflected", "revert", {"status": "pending_revert"}),
        ("pending_revert", "revert", {}),
        ("reverted", "revert", {}),
    ],
)
def test_close_and_revert_from_each_state(
    slow: tuple[OrbSim, ManualClock], state: str, action: str, changes: dict[str, Any]
) -> None:
    sim, clock = slow
    backfill_id = reach(sim, clock, state)
    clock.advance(minutes=5)
    before = sim.events.backfills.fetch(backfill_id)
    now = sim.now()

    after = getattr(sim.events.backfills, action)(backfill_id)

    expected = {k: now if v is ACTION_TIME else v for k, v in changes.items()}
    assert after == before.model_copy(update=expected)
    assert sim.events.backfills.fetch(backfill_id) == after


@pytest.mark.parametrize("state", ["pending_revert", "reverted"])
def test_close_of_a_reverting_or_reverted_backfill_is_refused(
    slow: tuple[OrbSim, ManualClock], state: str
) -> None:
    sim, clock = slow
    backfill_id = reach(sim, clock, state)
    before = everything(sim)

    with pytest.raises(
        ConstraintViolation, match=f"backfill {backfill_id} cannot be closed: its status is {state}"
    ):
        sim.events.backfills.close(backfill_id)

    assert everything(sim) == before


@pytest.mark.parametrize("action", ["fetch", "close", "revert"])
def test_unknown_backfill_is_not_found(sim: OrbSim, action: str) -> None:
    with pytest.raises(ResourceNotFound, match="Backfill with identifier: bf_nope"):
        getattr(sim.events.backfills, action)("bf_nope")


def test_without_reflection_delay_close_reflects_and_revert_reverts_at_once(
    sim: OrbSim, clock: ManualClock
) -> None:
    backfill = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(8))
    clock.advance(minutes=10)

    closed = sim.events.backfills.close(backfill.id)
    assert (closed.status, closed.close_time) == ("reflected", CLOSED_AT)

    clock.advance(minutes=10)
    reverted = sim.events.backfills.revert(backfill.id)
    assert (reverted.status, reverted.close_time, reverted.reverted_at) == (
        "reverted",
        CLOSED_AT,
        CLOSED_AT + timedelta(minutes=10),
    )


@pytest.mark.parametrize(
    ("state", "moment", "status", "close_time", "reverted_at"),
    [
        # an open backfill closes itself at close_time, then reflects DELAY later
        ("open", DEFAULT_CLOSE - US, "pending", DEFAULT_CLOSE, None),
        ("open", DEFAULT_CLOSE, "pending", DEFAULT_CLOSE, None),
        ("open", DEFAULT_CLOSE + DELAY - US, "pending", DEFAULT_CLOSE, None),
        ("open", DEFAULT_CLOSE + DELAY, "reflected", DEFAULT_CLOSE, None),
        # a closed one is reflected exactly DELAY after it closed
        ("closed", CLOSED_AT + DELAY - US, "pending", CLOSED_AT, None),
        ("closed", CLOSED_AT + DELAY, "reflected", CLOSED_AT, None),
        # a reverting one is reverted exactly DELAY after the revert call
        ("pending_revert", REFLECTED_AT + DELAY - US, "pending_revert", CLOSED_AT, None),
        ("pending_revert", REFLECTED_AT + DELAY, "reverted", CLOSED_AT, REFLECTED_AT + DELAY),
    ],
)
def test_clock_driven_transitions_happen_exactly_when_due(
    slow: tuple[OrbSim, ManualClock],
    state: str,
    moment: datetime,
    status: str,
    close_time: datetime,
    reverted_at: datetime | None,
) -> None:
    sim, clock = slow
    backfill_id = reach(sim, clock, state)

    clock.set(moment)
    backfill = sim.events.backfills.fetch(backfill_id)

    assert (backfill.status, backfill.close_time, backfill.reverted_at) == (
        status,
        close_time,
        reverted_at,
    )


@pytest.mark.parametrize("delay", [timedelta(0), DELAY])
def test_a_month_after_close_time_fetch_shows_when_it_really_closed(delay: timedelta) -> None:
    sim, clock = make_sim(delay)
    customer = acme(sim)
    backfill = sim.events.backfills.create(
        timeframe_start=feb(1), timeframe_end=feb(8), close_time=START + timedelta(hours=6)
    )
    sim.events.ingest(events=[event("late", feb(2), customer)], backfill_id=backfill.id)

    clock.advance(days=31)
    fetched = sim.events.backfills.fetch(backfill.id)

    assert fetched.status == "reflected"
    assert fetched.close_time == START + timedelta(hours=6)
    assert [e.id for e in sim.billable_events(customer_id=customer)] == ["late"]
    with pytest.raises(ConstraintViolation, match=f"backfill {backfill.id} no longer accepts"):
        sim.events.ingest(events=[event("later", feb(3), customer)], backfill_id=backfill.id)


def test_a_lapsed_open_backfill_reverted_later_was_closed_at_its_close_time(
    sim: OrbSim, clock: ManualClock
) -> None:
    """The clock passed close_time unobserved: the revert sees a closed, reflected backfill."""
    backfill = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(8))
    clock.advance(days=30)

    reverted = sim.events.backfills.revert(backfill.id)

    assert (reverted.status, reverted.close_time, reverted.reverted_at) == (
        "reverted",
        DEFAULT_CLOSE,
        START + timedelta(days=30),
    )


def test_auto_close_follows_freezegun() -> None:
    with freeze_time("2024-03-01T00:00:00Z") as frozen:
        sim = OrbSim()  # the default SystemClock reads freezegun's time
        customer = acme(sim)
        backfill = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(8))

        frozen.tick(timedelta(hours=23))
        assert sim.events.backfills.fetch(backfill.id).status == "pending"
        sim.events.ingest(events=[event("in-time", feb(2), customer)], backfill_id=backfill.id)
        assert sim.billable_events(customer_id=customer) == []

        frozen.move_to("2024-04-01T00:00:00Z")
        fetched = sim.events.backfills.fetch(backfill.id)

        assert (fetched.status, fetched.close_time) == ("reflected", DEFAULT_CLOSE)
        assert [e.id for e in sim.billable_events(customer_id=customer)] == ["in-time"]


def test_reflection_delay_under_freezegun() -> None:
    with freeze_time("2024-03-01T00:00:00Z") as frozen:
        sim = OrbSim(settings=Settings(reflection_delay=DELAY))
        backfill = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(8))
        sim.events.backfills.close(backfill.id)

        frozen.tick(DELAY - US)
        assert sim.events.backfills.fetch(backfill.id).status == "pending"
        frozen.tick(US)
        assert sim.events.backfills.fetch(backfill.id).status == "reflected"


# --- overlap ------------------------------------------------------------------------------------

BLOCKS = {
    "open": True,
    "closed": True,  # closed but still reflecting: status is pending
    "reflected": False,
    "pending_revert": True,
    "reverted": False,
}
SCOPES = [
    # existing scope, new scope, do the scopes collide?
    ("account", "account", True),
    ("account", "acme", True),
    ("account", "globex", True),
    ("acme", "account", True),
    ("acme", "acme", True),
    ("acme", "globex", False),  # different customers may overlap
]


def scope_kwargs(sim: OrbSim, scope: str) -> dict[str, str]:
    if scope == "account":
        return {}
    return {"customer_id": sim.customers.fetch_by_external_id(scope).id}


@pytest.mark.parametrize("state", list(BLOCKS))
@pytest.mark.parametrize(("existing", "new", "collide"), SCOPES)
def test_overlap_matrix(
    slow: tuple[OrbSim, ManualClock], state: str, existing: str, new: str, collide: bool
) -> None:
    sim, clock = slow
    acme(sim)
    globex(sim)
    existing_id = reach(sim, clock, state, **scope_kwargs(sim, existing))
    before = everything(sim)
    create: dict[str, Any] = dict(
        timeframe_start=feb(5), timeframe_end=feb(12), **scope_kwargs(sim, new)
    )

    if collide and BLOCKS[state]:
        status = "pending" if state in ("open", "closed") else state
        with pytest.raises(ResourceConflict, match=f"{existing_id} .* that is {status}") as info:
            sim.events.backfills.create(**create)
        assert info.value.should_retry is False
        assert everything(sim) == before
    else:
        created = sim.events.backfills.create(**create)
        assert created.status == "pending"
        assert len(everything(sim)) == len(before) + 1


@pytest.mark.parametrize(
    ("start", "end", "conflict"),
    [
        (feb(1), feb(8), True),  # identical
        (feb(2), feb(3), True),  # inside
        (feb(7), feb(14), True),  # overlaps the end
        (datetime(2024, 1, 25, tzinfo=UTC), feb(2), True),  # overlaps the start
        (feb(8) - US, feb(14), True),  # one microsecond in common
        (feb(8), feb(14), False),  # touches the end: timeframes are half-open
        (datetime(2024, 1, 25, tzinfo=UTC), feb(1), False),  # touches the start
        (feb(9), feb(14), False),  # apart
    ],
)
def test_overlap_is_half_open(sim: OrbSim, start: datetime, end: datetime, conflict: bool) -> None:
    existing = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(8))

    if conflict:
        with pytest.raises(
            ResourceConflict, match=re.escape(f"overlaps an account-wide backfill {existing.id}")
        ):
            sim.events.backfills.create(timeframe_start=start, timeframe_end=end)
        assert everything(sim) == [existing]
    else:
        sim.events.backfills.create(timeframe_start=start, timeframe_end=end)


def test_external_customer_id_scope_collides_with_the_same_customers_id(sim: OrbSim) -> None:
    customer = acme(sim)
    first = sim.events.backfills.create(
        timeframe_start=feb(1), timeframe_end=feb(8), customer_id=customer
    )

    with pytest.raises(ResourceConflict, match=f"a backfill of customer {customer} {first.id}"):
        sim.events.backfills.create(
            timeframe_start=feb(1), timeframe_end=feb(8), external_customer_id="acme"
        )


def test_once_the_blocker_is_reflected_or_reverted_the_timeframe_is_free(
    sim: OrbSim,
) -> None:
    first = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(8))
    sim.events.backfills.close(first.id)  # reflected at once
    second = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(8))
    sim.events.backfills.revert(second.id)  # open -> reverted at once

    third = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(8))

    assert [b.status for b in everything(sim)] == ["pending", "reverted", "reflected"]
    assert everything(sim)[0] == third


# --- create: every rule on both sides of its boundary -------------------------------------------

ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("start 1µs before end", dict(timeframe_start=feb(8) - US, timeframe_end=feb(8))),
    (
        "exactly 31 days, ending exactly at now - grace",
        dict(timeframe_start=GRACE_BOUNDARY - timedelta(days=31), timeframe_end=GRACE_BOUNDARY),
    ),
    (
        "with a filter, ending exactly now",
        dict(timeframe_start=feb(20), timeframe_end=START, deprecation_filter="region = 'eu'"),
    ),
    ("close_time 1µs from now", dict(close_time=START + US)),
    ("close_time next year", dict(close_time=datetime(2025, 1, 1, tzinfo=UTC))),
    ("ISO strings", dict(timeframe_start="2024-02-01T00:00:00Z", timeframe_end="2024-02-08")),
    ("add instead of replace", dict(replace_existing_events=False)),
]


@pytest.mark.parametrize("kwargs", [k for _, k in ACCEPTED], ids=[n for n, _ in ACCEPTED])
def test_create_accepts(sim: OrbSim, kwargs: dict[str, Any]) -> None:
    create = {"timeframe_start": feb(1), "timeframe_end": feb(8), **kwargs}

    backfill = sim.events.backfills.create(**create)

    assert backfill.status == "pending"
    assert backfill.created_at == START
    assert backfill.close_time == kwargs.get("close_time", DEFAULT_CLOSE)
    assert backfill.events_ingested == 0
    assert backfill.reverted_at is None
    assert backfill.replace_existing_events is kwargs.get("replace_existing_events", True)
    assert backfill.deprecation_filter == kwargs.get("deprecation_filter")
    assert everything(sim) == [backfill]


REFUSED: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    (
        "start equals end",
        dict(timeframe_start=feb(8)),
        RequestValidationError,
        "timeframe_start (2024-02-08T00:00:00Z) must be before timeframe_end "
        "(2024-02-08T00:00:00Z)",
    ),
    (
        "start after end",
        dict(timeframe_start=feb(9)),
        RequestValidationError,
        "timeframe_start (2024-02-09T00:00:00Z) must be before",
    ),
    (
        "31 days and 1µs",
        dict(timeframe_start=feb(8) - timedelta(days=31) - US),
        RequestValidationError,
        "timeframe of 31 days, 0:00:00.000001 is longer than the maximum backfill timeframe "
        "of 31 days",
    ),
    (
        "end 1µs inside the grace period",
        dict(timeframe_start=feb(20), timeframe_end=GRACE_BOUNDARY + US),
        RequestValidationError,
        "timeframe_end 2024-02-29T12:00:00.000001Z is inside the ingestion grace period",
    ),
    (
        "with a filter, end 1µs in the future",
        dict(
            timeframe_start=feb(20),
            timeframe_end=START + US,
            deprecation_filter="region = 'eu'",
        ),
        RequestValidationError,
        "timeframe_end 2024-03-01T00:00:00.000001Z is in the future",
    ),
    (
        "close_time now",
        dict(close_time=START),
        RequestValidationError,
        "close_time 2024-03-01T00:00:00Z must be in the future",
    ),
    (
        "close_time in the past",
        dict(close_time=feb(20)),
        RequestValidationError,
        "close_time 2024-02-20T00:00:00Z must be in the future",
    ),
    (
        "customer_id and external_customer_id",
        dict(customer_id="cus_1", external_customer_id="acme"),
        RequestValidationError,
        "customer_id and external_customer_id cannot both be given",
    ),
    (
        "unknown customer_id",
        dict(customer_id="cus_missing"),
        ResourceNotFound,
        "Customer with identifier: cus_missing",
    ),
    (
        "unknown external_customer_id",
        dict(external_customer_id="nobody"),
        ResourceNotFound,
        "external_customer_id=nobody",
    ),
    (
        "filter with replace_existing_events=false",
        dict(replace_existing_events=False, deprecation_filter="region = 'eu'"),
        RequestValidationError,
        "deprecation_filter is only allowed with replace_existing_events=true",
    ),
    (
        "unparsable filter",
        dict(deprecation_filter="region = "),
        RequestValidationError,
        "invalid deprecation_filter 'region = '",
    ),
    (
        "unsupported function in the filter",
        dict(deprecation_filter="SUBSTR(region, 1, 2) = 'EU'"),
        RequestValidationError,
        "unsupported syntax in deprecation_filter: function call SUBSTR",
    ),
    (
        "unsupported arithmetic in the filter",
        dict(deprecation_filter="POWER(amount, 2) > 2"),
        RequestValidationError,
        "arithmetic operator POWER",
    ),
    (
        "empty filter",
        dict(deprecation_filter="  "),
        RequestValidationError,
        "the expression is empty",
    ),
    (
        "missing timeframe_end",
        dict(timeframe_end=None),
        RequestValidationError,
        "timeframe_end: field required",
    ),
    (
        "unparsable timestamp",
        dict(timeframe_start="last tuesday"),
        RequestValidationError,
        "timeframe_start: 'last tuesday' is not an ISO 8601 timestamp",
    ),
    (
        "unknown field",
        dict(backfill_name="oops"),
        RequestValidationError,
        "unknown field 'backfill_name'",
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [r[1:] for r in REFUSED],
    ids=[r[0] for r in REFUSED],
)
def test_create_refuses_and_changes_nothing(
    sim: OrbSim, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    existing = sim.events.backfills.create(timeframe_start=feb(10), timeframe_end=feb(12))
    create = {"timeframe_start": feb(1), "timeframe_end": feb(8), **kwargs}

    with pytest.raises(error, match=re.escape(message)):
        sim.events.backfills.create(**create)

    assert everything(sim) == [existing]


def test_create_scoped_by_alias_reports_the_customer_id(sim: OrbSim) -> None:
    customer = acme(sim)

    backfill = sim.events.backfills.create(
        timeframe_start=feb(1), timeframe_end=feb(8), external_customer_id="acme"
    )

    assert backfill.customer_id == customer


def test_create_for_a_deleted_customer_is_not_found(sim: OrbSim) -> None:
    customer = acme(sim)
    sim.customers.delete(customer)

    with pytest.raises(ResourceNotFound, match=customer):
        sim.events.backfills.create(
            timeframe_start=feb(1), timeframe_end=feb(8), customer_id=customer
        )
    assert everything(sim) == []


def test_the_grace_boundary_moves_with_the_clock(sim: OrbSim, clock: ManualClock) -> None:
    with pytest.raises(RequestValidationError, match="inside the ingestion grace period"):
        sim.events.backfills.create(timeframe_start=feb(28), timeframe_end=START)

    clock.advance(hours=12)

    assert sim.events.backfills.create(timeframe_start=feb(28), timeframe_end=START).status == (
        "pending"
    )


# --- ingesting into a backfill ------------------------------------------------------------------


def test_events_older_than_grace_go_in_and_are_counted(sim: OrbSim) -> None:
    customer = acme(sim)
    backfill = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(8))

    sim.events.ingest(
        events=[event("a", feb(1), customer), event("b", feb(8) - US, alias="acme")],
        backfill_id=backfill.id,
    )

    assert sim.events.backfills.fetch(backfill.id).events_ingested == 2


def test_without_a_backfill_the_same_old_event_is_refused(sim: OrbSim) -> None:
    customer = acme(sim)

    with pytest.raises(RequestValidationError, match="older than the grace period"):
        sim.events.ingest(events=[event("a", feb(1), customer)])


@pytest.mark.parametrize(
    "timestamp",
    [feb(1) - US, feb(8), feb(20)],
    ids=["1µs before start", "at end (exclusive)", "after end"],
)
def test_timestamps_outside_the_timeframe_are_refused(sim: OrbSim, timestamp: datetime) -> None:
    customer = acme(sim)
    backfill = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(8))
    before = everything(sim)

    shown = timestamp.isoformat().replace("+00:00", "Z")
    with pytest.raises(
        RequestValidationError,
        match=re.escape(f"timestamp {shown} is outside backfill {backfill.id}'s timeframe"),
    ):
        sim.events.ingest(
            events=[event("ok", feb(2), customer), event("bad", timestamp, customer)],
            backfill_id=backfill.id,
        )

    assert everything(sim) == before  # atomic: "ok" was not ingested either


@pytest.mark.parametrize(
    ("who", "accepted"),
    [
        ({"customer": "ACME"}, True),
        ({"alias": "acme"}, True),  # the scoped customer's alias
        ({"customer": "GLOBEX"}, False),
        ({"alias": "globex"}, False),
        ({"alias": "not-yet-a-customer"}, False),
    ],
)
def test_a_scoped_backfill_takes_only_its_customers_events(
    sim: OrbSim, who: dict[str, str], accepted: bool
) -> None:
    ids = {"ACME": acme(sim), "GLOBEX": globex(sim)}
    backfill = sim.events.backfills.create(
        timeframe_start=feb(1), timeframe_end=feb(8), customer_id=ids["ACME"]
    )
    who = {k: ids.get(v, v) for k, v in who.items()}
    payload = [event("e", feb(2), **who)]

    if accepted:
        sim.events.ingest(events=payload, backfill_id=backfill.id)
        assert sim.events.backfills.fetch(backfill.id).events_ingested == 1
    else:
        outsider = next(iter(who.values()))
        with pytest.raises(
            RequestValidationError,
            match=f"event customer '{outsider}' is outside backfill {backfill.id}'s scope",
        ):
            sim.events.ingest(events=payload, backfill_id=backfill.id)
        assert sim.events.backfills.fetch(backfill.id).events_ingested == 0


def test_an_account_wide_backfill_takes_any_customer_and_unknown_aliases(sim: OrbSim) -> None:
    customer = acme(sim)
    backfill = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(8))

    sim.events.ingest(
        events=[event("a", feb(2), customer), event("b", feb(2), alias="future-customer")],
        backfill_id=backfill.id,
    )

    assert sim.events.backfills.fetch(backfill.id).events_ingested == 2


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("closed", "it was closed at 2024-03-01T00:10:00Z"),
        ("reflected", "its status is reflected"),
        ("pending_revert", "its status is pending_revert"),
        ("reverted", "its status is reverted"),
    ],
)
def test_a_backfill_that_no_longer_accepts_events_refuses_them(
    slow: tuple[OrbSim, ManualClock], state: str, reason: str
) -> None:
    sim, clock = slow
    customer = acme(sim)
    backfill_id = reach(sim, clock, state)
    before = everything(sim)

    with pytest.raises(
        ConstraintViolation, match=f"backfill {backfill_id} no longer accepts events: {reason}"
    ):
        sim.events.ingest(events=[event("e", feb(2), customer)], backfill_id=backfill_id)

    assert everything(sim) == before


def test_a_reverted_open_backfill_refuses_events(sim: OrbSim) -> None:
    customer = acme(sim)
    backfill = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(8))
    sim.events.backfills.revert(backfill.id)

    with pytest.raises(ConstraintViolation, match="its status is reverted"):
        sim.events.ingest(events=[event("e", feb(2), customer)], backfill_id=backfill.id)


def test_events_are_accepted_until_the_microsecond_before_close_time(
    slow: tuple[OrbSim, ManualClock],
) -> None:
    sim, clock = slow
    customer = acme(sim)
    backfill = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(8))

    clock.set(DEFAULT_CLOSE - US)
    sim.events.ingest(events=[event("last", feb(2), customer)], backfill_id=backfill.id)
    clock.set(DEFAULT_CLOSE)
    with pytest.raises(ConstraintViolation, match="it was closed at 2024-03-02T00:00:00Z"):
        sim.events.ingest(events=[event("too-late", feb(2), customer)], backfill_id=backfill.id)

    assert sim.events.backfills.fetch(backfill.id).events_ingested == 1


def test_unknown_backfill_id_is_not_found(sim: OrbSim) -> None:
    customer = acme(sim)

    with pytest.raises(ResourceNotFound, match="Backfill with identifier: bf_nope"):
        sim.events.ingest(events=[event("e", feb(2), customer)], backfill_id="bf_nope")


def test_keys_deduplicate_within_a_backfill_not_across(sim: OrbSim) -> None:
    customer = acme(sim)
    sim.events.ingest(events=[event("dup", START - timedelta(hours=1), customer)])  # a live one
    first = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(8))
    second = sim.events.backfills.create(
        timeframe_start=feb(10), timeframe_end=feb(12), customer_id=customer
    )

    sim.events.ingest(events=[event("dup", feb(2), customer)], backfill_id=first.id)
    sim.events.ingest(
        events=[event("dup", feb(3), customer), event("other", feb(3), customer)],
        backfill_id=first.id,
    )
    sim.events.ingest(events=[event("dup", feb(11), customer)], backfill_id=second.id)

    assert sim.events.backfills.fetch(first.id).events_ingested == 2  # dup once, other
    assert sim.events.backfills.fetch(second.id).events_ingested == 1


def test_the_same_key_twice_in_one_batch_counts_once(sim: OrbSim) -> None:
    customer = acme(sim)
    backfill = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(8))
    twice = event("twice", feb(2), customer)

    sim.events.ingest(events=[twice, dict(twice)], backfill_id=backfill.id)

    assert sim.events.backfills.fetch(backfill.id).events_ingested == 1


def test_backfill_events_count_only_once_reflected(sim: OrbSim) -> None:
    customer = acme(sim)
    backfill = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(8))
    sim.events.ingest(events=[event("e", feb(2), customer)], backfill_id=backfill.id)
    assert sim.billable_events(customer_id=customer) == []

    sim.events.backfills.close(backfill.id)

    [counted] = sim.billable_events(customer_id=customer)
    assert (counted.id, counted.backfill_id) == ("e", backfill.id)


# --- list ---------------------------------------------------------------------------------------


def test_list_is_newest_first_and_pages_with_a_cursor(sim: OrbSim, clock: ManualClock) -> None:
    made = []
    for day in range(1, 6):
        made.append(
            sim.events.backfills.create(timeframe_start=feb(day), timeframe_end=feb(day) + DELAY)
        )
        if day % 2:
            clock.advance(minutes=1)  # some share a created_at, some do not
    newest_first = [b.id for b in reversed(made)]

    first = sim.events.backfills.list(limit=2)
    second = sim.events.backfills.list(limit=2, cursor=first.pagination_metadata.next_cursor)
    third = sim.events.backfills.list(limit=2, cursor=second.pagination_metadata.next_cursor)

    assert [b.id for b in first.data + second.data + third.data] == newest_first
    assert [p.pagination_metadata.has_more for p in (first, second, third)] == [True, True, False]
    assert third.pagination_metadata.next_cursor is None
    assert [b.id for b in sim.events.backfills.list().data] == newest_first


def test_list_exactly_one_full_page_has_no_next_cursor(sim: OrbSim) -> None:
    for day in (1, 2):
        sim.events.backfills.create(timeframe_start=feb(day), timeframe_end=feb(day) + DELAY)

    page = sim.events.backfills.list(limit=2)

    assert len(page.data) == 2
    assert page.pagination_metadata.next_cursor is None
    assert page.pagination_metadata.has_more is False


def test_list_of_nothing(sim: OrbSim) -> None:
    page = sim.events.backfills.list()

    assert page.data == []
    assert page.pagination_metadata.next_cursor is None


@pytest.mark.parametrize("limit", [1, 100])
def test_list_limit_bounds_accepted(sim: OrbSim, limit: int) -> None:
    sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(2))
    sim.events.backfills.create(timeframe_start=feb(3), timeframe_end=feb(4))

    assert len(sim.events.backfills.list(limit=limit).data) == min(limit, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(limit=0), "limit: must be between 1 and 100, got 0"),
        (dict(limit=101), "limit: must be between 1 and 100, got 101"),
        (dict(status="closed"), "status: must be one of pending, reflected, pending_revert"),
        (dict(cursor="!!not-a-cursor"), "cursor: '!!not-a-cursor' is not a valid cursor"),
    ],
)
def test_list_refuses_bad_parameters(sim: OrbSim, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestValidationError, match=re.escape(message)):
        sim.events.backfills.list(**kwargs)


def test_list_filters_by_customer_and_status(sim: OrbSim) -> None:
    customer = acme(sim)
    account = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(2))
    mine_open = sim.events.backfills.create(
        timeframe_start=feb(3), timeframe_end=feb(4), customer_id=customer
    )
    mine_done = sim.events.backfills.create(
        timeframe_start=feb(5), timeframe_end=feb(6), customer_id=customer
    )
    sim.events.backfills.close(mine_done.id)
    backfills = sim.events.backfills

    def ids(**kw: Any) -> list[str]:
        return [b.id for b in backfills.list(**kw).data]

    assert ids(customer_id=customer) == [mine_done.id, mine_open.id]
    assert ids(status="pending") == [mine_open.id, account.id]
    assert ids(status="reflected") == [mine_done.id]
    assert ids(customer_id=customer, status="pending") == [mine_open.id]
    assert ids(status="reverted") == []
    assert ids(customer_id="cus_someone_else") == []


def test_list_status_filter_sees_clock_driven_transitions(sim: OrbSim, clock: ManualClock) -> None:
    backfill = sim.events.backfills.create(timeframe_start=feb(1), timeframe_end=feb(2))
    clock.advance(days=2)

    assert [b.id for b in sim.events.backfills.list(status="reflected").data] == [backfill.id]
