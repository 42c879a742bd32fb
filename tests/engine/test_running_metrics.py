"""The incremental evaluation of cumulative windows gives exactly the straight re-evaluation.

``fetch_costs`` extends COUNT(DISTINCT x) / MAX(x) / MIN(x) metrics day by day instead of
re-evaluating each day's whole prefix. These properties compare the two on random data, so the
fast path cannot drift from the evaluator: first the running value against ``evaluate`` on every
prefix, then, through the public API, each cumulative daily quantity of ``fetch_costs`` against
``fetch_usage`` over the same ``[period start, day end)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orbsim import ManualClock, OrbSim
from orbsim.engine.expressions import compile_metric

START = datetime(2024, 5, 1, tzinfo=UTC)

RUNNING_SQL = [
    "SELECT COUNT(DISTINCT region) FROM events",
    "SELECT COUNT(DISTINCT n) FROM events WHERE event_name = 'a'",
    "SELECT MAX(n) FROM events",
    "SELECT MIN(n) AS low FROM events WHERE region <> 'eu'",
    "SELECT MAX(region) FROM events",
    "SELECT MIN(timestamp) FROM events WHERE n > 1",
]

# Mixed kinds on purpose: ints, floats and Decimals that tie (1, 1.0), booleans, text, NULLs.
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([1.0, 2.5, -0.5, 3.0]),
    st.sampled_from(["us", "eu", "ap", "1", "true", "US"]),
)


@dataclass
class Ev:
    properties: dict[str, Any] = field(default_factory=dict)
    event_name: str = "a"
    timestamp: datetime = START


EVENTS = st.lists(
    st.builds(
        Ev,
        properties=st.fixed_dictionaries({"region": VALUES, "n": VALUES}),
        event_name=st.sampled_from(["a", "b"]),
        timestamp=st.integers(0, 1000).map(lambda m: START + timedelta(minutes=m)),
    ),
    max_size=40,
)


def test_only_bare_distinct_counts_and_extremes_run_incrementally() -> None:
    for sql in RUNNING_SQL:
        assert compile_metric(sql).running() is not None, sql
    for sql in [
        "SELECT COUNT(*) FROM events",
        "SELECT SUM(n) FROM events",
        "SELECT MAX(n) + 1 FROM events",
        "SELECT COUNT(DISTINCT region) FROM events HAVING COUNT(*) > 2",
        "SELECT MAX(peak) FROM (SELECT MAX(n) AS peak FROM events GROUP BY region)",
    ]:
        assert compile_metric(sql).running() is None, sql


@settings(max_examples=150, deadline=None)
@given(
    sql=st.sampled_from(RUNNING_SQL),
    events=EVENTS,
    cuts=st.lists(st.integers(0, 40), max_size=6),
)
def test_running_value_equals_evaluating_every_prefix(
    sql: str, events: list[Ev], cuts: list[int]
) -> None:
    compiled = compile_metric(sql)
    running = compiled.running()
    assert running is not None
    bounds = sorted({min(c, len(events)) for c in cuts} | {len(events)})
    fed = 0
    for bound in bounds:
        running.add(events[fed:bound])
        fed = bound
        expected = compiled.evaluate(events[:bound])
        got = running.value()
        assert got == expected and type(got) is type(expected), (sql, bound)


SINGLE_ROW_SQL = [
    "SELECT COUNT(*) FROM events WHERE event_name = 'a'",
    "SELECT SUM(n) FROM events",
    "SELECT AVG(n) * 2 AS doubled FROM events WHERE region IS NOT NULL",
    "SELECT COUNT(DISTINCT region) + MAX(n) FROM events WHERE n > 0 OR region = 'eu'",
    "SELECT COALESCE(MIN(region), 'none') FROM events",
    "SELECT LATEST_BY(n, timestamp) FROM events",
    "SELECT SUM(CASE WHEN region = 'us' THEN n ELSE 0 END) FROM events",
    "SELECT COUNT(DISTINCT region) FROM events",
    "SELECT MAX(n) AS top FROM events WHERE n > 1",
    "SELECT (AVG(n)) FROM events WHERE event_name = 'b'",
    "SELECT EARLIEST_BY(region, timestamp) FROM events WHERE n IS NOT NULL",
]


@settings(max_examples=150, deadline=None)
@given(sql=st.sampled_from(SINGLE_ROW_SQL), events=EVENTS)
def test_single_row_metrics_equal_the_general_query_path(sql: str, events: list[Ev]) -> None:
    """A query with one output row over all matching events (no GROUP BY, ORDER BY, LIMIT...)
    skips the general query steps, and one whose only column is an aggregate is that aggregate
    over the matching events; ``LIMIT 1``, which changes nothing for one row, sends the same
    query through the general steps, and both must give the same value of the same type."""
    fast = compile_metric(sql)
    general = compile_metric(sql + " LIMIT 1")
    expected = general.evaluate(events)
    got = fast.evaluate(events)
    assert got == expected and type(got) is type(expected), sql


PLAN_SQL = [
    "SELECT COUNT(DISTINCT region) FROM events",
    "SELECT MAX(n) FROM events WHERE event_name = 'a'",
    "SELECT MIN(n) FROM events",
]


PLAN_EVENTS = st.lists(
    st.tuples(
        st.integers(0, 6 * 24 * 60 - 1),
        st.sampled_from(["a", "b"]),
        st.sampled_from(["us", "eu", "ap", None]),
        st.one_of(st.none(), st.integers(-5, 50), st.sampled_from([2.5, 7.0])),
    ),
    max_size=30,
)
EventRow = tuple[int, str, str | None, int | float | None]
SIX_DAYS = {
    "timeframe_start": START.isoformat(),
    "timeframe_end": (START + timedelta(days=6)).isoformat(),
}


def _subscribed(
    sql: str, events: list[EventRow], matrix_twin: str | None = None
) -> tuple[OrbSim, str]:
    """A subscription to a plan pricing ``sql`` at 1 per unit, with ``events`` ingested; with
    ``matrix_twin``, two identical matrix prices by region instead, one on ``sql`` and one on
    ``matrix_twin``."""
    clock = ManualClock(START)
    sim = OrbSim(clock=clock, seed=0)
    item = sim.items.create(name="API")

    def price(metric_sql: str, name: str) -> dict[str, Any]:
        metric = sim.metrics.create(name=name, description=None, item_id=item.id, sql=metric_sql)
        body: dict[str, Any] = {
            "name": name,
            "item_id": item.id,
            "billable_metric_id": metric.id,
            "cadence": "monthly",
            "currency": "USD",
        }
        if matrix_twin is None:
            return {"price": {**body, "model_type": "unit", "unit_config": {"unit_amount": "1"}}}
        config = {
            "dimensions": ["region"],
            "default_unit_amount": "1.5",
            "matrix_values": [
                {"dimension_values": ["eu"], "unit_amount": "2.25"},
                {"dimension_values": ["us"], "unit_amount": "0.125"},
            ],
        }
        return {"price": {**body, "model_type": "matrix", "matrix_config": config}}

    prices: list[Mapping[str, Any]] = [price(sql, "m")]
    if matrix_twin is not None:
        prices.append(price(matrix_twin, "twin"))
    plan = sim.plans.create(name="Usage", prices=prices)
    customer = sim.customers.create(name="Acme", email="a@acme.test")
    sub = sim.subscriptions.create(
        customer_id=customer.id, plan_id=plan.id, start_date=START.isoformat()
    )
    for index, (minute, name, region, n) in enumerate(sorted(events, key=lambda e: e[0])):
        properties: dict[str, Any] = {}
        if region is not None:
            properties["region"] = region
        if n is not None:
            properties["n"] = n
        moment = START + timedelta(minutes=minute)
        clock.set(max(clock.now(), moment + timedelta(minutes=1)))  # within the grace period
        sim.events.ingest(
            events=[
                {
                    "idempotency_key": f"e{index}",
                    "event_name": name,
                    "customer_id": customer.id,
                    "timestamp": moment.isoformat(),
                    "properties": properties,
                }
            ]
        )
    clock.set(START + timedelta(days=7))
    return sim, sub.id


@settings(max_examples=25, deadline=None)
@given(sql=st.sampled_from(PLAN_SQL), events=PLAN_EVENTS)
def test_fetch_costs_daily_quantities_equal_fetch_usage_over_the_same_prefix(
    sql: str, events: list[EventRow]
) -> None:
    sim, sub = _subscribed(sql, events)
    days = sim.subscriptions.fetch_costs(sub, **SIX_DAYS).data
    assert len(days) == 6
    for day in days:
        (cost,) = day.per_price_costs
        (entry,) = sim.subscriptions.fetch_usage(
            sub,
            timeframe_start=day.timeframe_start.isoformat(),
            timeframe_end=day.timeframe_end.isoformat(),
        ).data
        (usage,) = entry.usage
        assert cost.quantity == usage.quantity
        assert Decimal(cost.total) == Decimal(repr(usage.quantity))


CUMULATIVE_SQL = [
    *PLAN_SQL,
    "SELECT COUNT(*) FROM events WHERE event_name = 'a'",
    "SELECT SUM(n) FROM events",
    "SELECT SUM(n) + 1 FROM events",  # neither additive nor running: evaluated per prefix
]


@settings(max_examples=40, deadline=None)
@given(sql=st.sampled_from(CUMULATIVE_SQL), events=PLAN_EVENTS)
def test_cumulative_daily_usage_equals_usage_over_each_prefix(
    sql: str, events: list[EventRow]
) -> None:
    """``fetch_usage(view_mode="cumulative", granularity="day")`` extends additive and running
    metrics window by window; each window must equal a straight ``fetch_usage`` over
    ``[timeframe start, window end)``."""
    sim, sub = _subscribed(sql, events)
    (entry,) = sim.subscriptions.fetch_usage(
        sub, granularity="day", view_mode="cumulative", **SIX_DAYS
    ).data
    assert len(entry.usage) == 6
    for window in entry.usage:
        assert window.timeframe_start == START
        (straight,) = sim.subscriptions.fetch_usage(
            sub,
            timeframe_start=START.isoformat(),
            timeframe_end=window.timeframe_end.isoformat(),
        ).data
        assert window.quantity == straight.usage[0].quantity


@settings(max_examples=40, deadline=None)
@given(
    sql=st.sampled_from(
        ["SELECT COUNT(*) FROM events WHERE event_name = 'a'", "SELECT SUM(n) FROM events"]
    ),
    events=PLAN_EVENTS,
    view_mode=st.sampled_from(["cumulative", "periodic"]),
)
def test_matrix_cells_of_additive_metrics_run_day_by_day_as_straight_evaluation(
    sql: str, events: list[EventRow], view_mode: str
) -> None:
    """A matrix price on an additive metric keeps each cell's running total from day to day;
    its twin, priced on the same metric written ``+ 0`` (not additive, so each day re-evaluates
    every cell over the whole prefix), must bill the same quantity and amount every day."""
    twin = sql.replace(" FROM", " + 0 FROM", 1)
    sim, sub = _subscribed(sql, events, matrix_twin=twin)
    days = sim.subscriptions.fetch_costs(sub, view_mode=view_mode, **SIX_DAYS).data
    assert len(days) == 6
    for day in days:
        fast, straight = day.per_price_costs
        assert (fast.quantity, fast.subtotal) == (straight.quantity, straight.subtotal)
