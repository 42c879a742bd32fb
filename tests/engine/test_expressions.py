"""Examples of Orb computed properties and metric SQL, as orbsim evaluates them.

The first block is every example Orb publishes (the API reference, the advanced-metrics guide and
the changelog), each evaluated over a small event list whose right answer is worked out by hand.
The rest pins the semantics orbsim chose where Orb is silent (see the module docstring of
``orbsim.engine.expressions``) and the constructs it refuses at creation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from orbsim.engine.expressions import (
    MAX_EXPRESSION_CHARS,
    ExpressionSyntaxError,
    compile_filter,
    compile_metric,
)

T, F, N = True, False, None
START = datetime(2024, 3, 1, tzinfo=UTC)


@dataclass
class Ev:
    """The three things an expression reads from an event."""

    properties: dict[str, Any] = field(default_factory=dict)
    event_name: str = "api_call"
    timestamp: datetime = START


def at(hours: float, event_name: str = "api_call", **properties: Any) -> Ev:
    return Ev(properties, event_name, START + timedelta(hours=hours))


def metric(sql: str, events: list[Ev]) -> Decimal:
    return compile_metric(sql).quantity(events)


def value(sql: str, events: list[Ev]) -> object:
    return compile_metric(sql).evaluate(events)


# --- Orb's published examples -------------------------------------------------------------------


def test_api_reference_metric_sum_of_bytes_downloaded_in_fast_mode() -> None:
    """The POST /metrics example of Orb's API reference."""
    events = [
        at(1, bytes_downloaded=100, download_speed="fast"),
        at(2, bytes_downloaded=50, download_speed="slow"),
        at(3, bytes_downloaded=7, download_speed="fast"),
    ]

    assert (
        metric("SELECT sum(bytes_downloaded) FROM events WHERE download_speed = 'fast'", events)
        == 107
    )


@pytest.mark.parametrize(
    ("text", "properties", "expected"),
    [
        # API reference examples of boolean computed properties (filters)
        ("my_property = 'foo'", {"my_property": "foo"}, T),
        ("my_property = 'foo'", {"my_property": "bar"}, F),
        (
            "my_numeric_property > 100 AND my_other_property = 'bar'",
            {"my_numeric_property": 101, "my_other_property": "bar"},
            T,
        ),
        (
            "my_numeric_property > 100 AND my_other_property = 'bar'",
            {"my_numeric_property": 100, "my_other_property": "bar"},
            F,
        ),
        ("case when my_event_type = 'foo' then true else false end", {"my_event_type": "foo"}, T),
        ("case when my_event_type = 'foo' then true else false end", {"my_event_type": "x"}, F),
        ("case when my_event_type = 'foo' then true else false end", {}, F),
    ],
)
def test_api_reference_filter_examples(
    text: str, properties: dict[str, Any], expected: bool | None
) -> None:
    assert compile_filter(text).evaluate(properties) is expected


def test_api_reference_grouping_expression_hour_floor_timestamp_millis() -> None:
    """``hour_floor_timestamp_millis(timestamp_millis)``: the start of the event's hour, in ms."""
    events = [at(0.25), at(0.75), at(5.5), at(5.9)]

    hours = value(
        "SELECT COUNT(DISTINCT hour_floor_timestamp_millis(timestamp_millis)) FROM events", events
    )
    first = value("SELECT MIN(hour_floor_timestamp_millis(timestamp_millis)) FROM events", events)

    assert hours == 2  # two distinct active hours
    assert first == int(START.timestamp()) * 1000


def test_changelog_latest_by_minus_earliest_by_is_storage_added() -> None:
    """Changelog "New custom SQL functions": storage added over the period."""
    events = [at(30, storage_gb=12.5), at(1, storage_gb=10), at(50, storage_gb=11), at(20)]

    assert value("SELECT EARLIEST_BY(storage_gb, timestamp) FROM events", events) == 10
    assert value("SELECT LATEST_BY(storage_gb, timestamp) FROM events", events) == 11
    added = (
        "SELECT LATEST_BY(storage_gb, timestamp) - EARLIEST_BY(storage_gb, timestamp) FROM events"
    )
    assert metric(added, events) == 1


def test_advanced_metrics_sum_over_days_of_each_days_maximum() -> None:
    """Advanced metrics guide, "Sum of maximum ... per day": a GROUP BY subquery."""
    events = [
        at(1, storage_gb=5),
        at(2, storage_gb=8),  # day 1 max 8
        at(25, storage_gb=3),  # day 2 max 3
        at(49, storage_gb=4),
        at(50, storage_gb=1),  # day 3 max 4
    ]
    sql = (
        "SELECT SUM(daily_max) FROM (SELECT MAX(storage_gb) AS daily_max FROM events"
        " GROUP BY date_trunc('day', timestamp))"
    )

    assert metric(sql, events) == 15


def test_advanced_metrics_average_daily_volume_excluding_the_top_days() -> None:
    """Advanced metrics guide: "average volume over the month excluding the top n days"."""
    daily = [10, 50, 20, 40, 30]  # days 0..4; the top 2 days (50, 40) are excluded
    events = [at(24 * day + 1, volume=amount) for day, amount in enumerate(daily)]
    sql = (
        "SELECT AVG(daily) FROM (SELECT date_trunc('day', timestamp) AS day, SUM(volume) AS daily"
        " FROM events GROUP BY day ORDER BY daily DESC OFFSET 2)"
    )

    assert metric(sql, events) == 20


def test_advanced_metrics_case_builds_a_compute_unit_billed_differently_per_event() -> None:
    """Advanced metrics guide: ``CASE`` to bill differently for each event."""
    events = [
        at(1, instance="gpu", minutes=10),
        at(2, instance="cpu", minutes=10),
        at(3, instance="tpu", minutes=10),
    ]
    sql = (
        "SELECT SUM(CASE WHEN instance = 'gpu' THEN minutes * 8 WHEN instance = 'cpu'"
        " THEN minutes ELSE 0 END) FROM events"
    )

    assert metric(sql, events) == 90


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # computed properties: multiply by a constant, combine two properties, COALESCE for nulls
        ("SELECT SUM(duration_ms / 1000) FROM events", Decimal("3.5")),
        ("SELECT SUM(cpus * duration_ms) FROM events", 9000),
        ("SELECT SUM(COALESCE(cpus, 1)) FROM events", 7),
        # the simple metrics of the quickstart: count, sum, max, unique
        ("SELECT COUNT(*) FROM events", 3),
        ("SELECT MAX(duration_ms) FROM events", 2500),
        ("SELECT COUNT(DISTINCT user) FROM events", 1),
    ],
)
def test_advanced_metrics_computed_properties_and_simple_metrics(
    sql: str, expected: Decimal | int
) -> None:
    events = [
        at(1, duration_ms=1000, cpus=4, user="u1"),
        at(2, duration_ms=2500, cpus=2, user="u1"),
        at(3),  # no duration, no cpus, no user
    ]

    assert metric(sql, events) == expected


# --- aggregates ---------------------------------------------------------------------------------


def test_aggregates_over_no_events() -> None:
    assert value("SELECT COUNT(*) FROM events", []) == 0
    assert value("SELECT SUM(x) FROM events", []) is None
    assert metric("SELECT SUM(x) FROM events", []) == 0  # a NULL quantity is 0
    assert metric("SELECT MAX(x) FROM events", []) == 0


def test_event_name_is_a_column() -> None:
    events = [at(1, "api_call"), at(2, "api_call"), at(3, "login")]

    assert metric("SELECT COUNT(*) FROM events WHERE event_name = 'api_call'", events) == 2
    assert metric("SELECT COUNT(DISTINCT event_name) FROM events", events) == 2


def test_a_number_sent_as_a_string_is_not_summed_until_cast() -> None:
    """The bug a metric test should catch: ``"amount": "5"`` is text, not a number."""
    events = [at(1, amount=5), at(2, amount="5"), at(3, amount="x")]

    assert metric("SELECT SUM(amount) FROM events", events) == 5
    assert metric("SELECT COUNT(amount) FROM events", events) == 3
    assert metric("SELECT SUM(CAST(amount AS DOUBLE)) FROM events", events) == 10  # 'x' is NULL


def test_arithmetic_is_exact_decimal() -> None:
    events = [at(1, x=0.1), at(2, x=0.2)]

    assert metric("SELECT SUM(x) FROM events", events) == Decimal("0.3")
    assert metric("SELECT SUM(x * 3) FROM events", events) == Decimal("0.9")
    assert value("SELECT SUM(x / 0) FROM events", events) is None  # division by zero is NULL
    assert metric("SELECT AVG(x) FROM events", events) == Decimal("0.15")


def test_count_distinct_keeps_kinds_apart() -> None:
    events = [at(1, v=1), at(2, v=1.0), at(3, v="1"), at(4, v=True), at(5)]

    assert metric("SELECT COUNT(DISTINCT v) FROM events", events) == 3  # 1 == 1.0; '1'; TRUE


def test_latest_by_breaks_ties_by_input_order_and_skips_null_times() -> None:
    same = [at(1, v=1), at(1, v=2)]

    assert value("SELECT LATEST_BY(v, timestamp) FROM events", same) == 2
    assert value("SELECT EARLIEST_BY(v, timestamp) FROM events", same) == 1
    assert value("SELECT LATEST_BY(v, t) FROM events", [at(1, v=1, t=5), at(2, v=2)]) == 1


def test_having_and_limit_in_a_subquery() -> None:
    events = [at(1, user="a"), at(2, user="a"), at(3, user="b"), at(4, user="c"), at(5, user="c")]
    busy = (
        "SELECT COUNT(*) FROM (SELECT user, COUNT(*) AS n FROM events GROUP BY user"
        " HAVING COUNT(*) >= 2)"
    )
    top = (
        "SELECT SUM(n) FROM (SELECT user, COUNT(*) AS n FROM events GROUP BY 1"
        " ORDER BY n DESC, user LIMIT 1)"
    )

    assert metric(busy, events) == 2
    assert metric(top, events) == 2


def test_outer_select_over_a_single_row_subquery() -> None:
    events = [at(1, x=2), at(2, x=3)]

    assert metric("SELECT total * 10 FROM (SELECT SUM(x) AS total FROM events)", events) == 50


def test_a_non_numeric_result_is_an_error_not_a_zero() -> None:
    with pytest.raises(ValueError, match=r"produced 'eu', which is not a number"):
        metric("SELECT MAX(region) FROM events", [at(1, region="eu")])


# --- the shared evaluator in filters ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "event", "expected"),
    [
        ("event_name = 'api_call'", at(1, "api_call"), T),
        ("event_name = 'api_call'", at(1, "login"), F),
        ("event_name IN ('a', 'b')", at(1, "b"), T),
        ("event_name LIKE 'api%'", at(1, "api_call"), T),
        ("timestamp >= TIMESTAMP '2024-03-01T02:00:00Z'", at(3), T),
        ("timestamp >= TIMESTAMP '2024-03-01T02:00:00Z'", at(1), F),
        ("timestamp_millis < 1709251200000 + 3600000", at(0.5), T),
        ("lower(region) = 'eu'", at(1, region="EU"), T),
        ("upper(region) = 'EU'", at(1, region="eu"), T),
        ("CAST(amount AS INTEGER) = 5", at(1, amount="5"), T),
        ("amount::int = 5", at(1, amount=5.9), T),  # casts truncate
        ("COALESCE(tier, 'free') = 'free'", at(1), T),
        ("amount * 2 > 10", at(1, amount=6), T),
        ("amount + 1 > 2", at(1, amount="9"), N),  # text is not a number
        ("-amount < 0", at(1, amount=1), T),
        ("amount % 2 = 1", at(1, amount=7), T),
        ("region || '-' || tier = 'eu-pro'", at(1, region="eu", tier="pro"), T),
        ("CASE WHEN amount > 5 THEN 'big' ELSE 'small' END = 'big'", at(1, amount=6), T),
        ("CASE tier WHEN 'pro' THEN TRUE END", at(1, tier="free"), N),
        ("IF(amount > 5, TRUE, FALSE)", at(1, amount=1), F),
        ("NULLIF(amount, 0) IS NULL", at(1, amount=0), T),
        ("ROUND(amount, 1) = 2.5", at(1, amount=2.45), T),  # half up, exactly
        ("\"event_name\" = 'x'", Ev({"event_name": "x"}), T),  # quoted: the property
    ],
)
def test_filters_use_the_full_evaluator(text: str, event: Ev, expected: bool | None) -> None:
    assert compile_filter(text).evaluate_event(event) is expected


def test_built_ins_are_not_properties() -> None:
    compiled = compile_filter("event_name = 'api_call' AND region = 'eu'")

    assert compiled.property_names == frozenset({"region"})
    assert compiled.evaluate({"region": "eu"}) is N  # bare properties carry no event name
    assert compiled.matches(at(1, region="eu"))


def test_like_with_thousands_of_wildcards_matches_correctly() -> None:
    """``'%' || 5000 underscores || 'b%'``: folded once, matched by scanning for the literal."""
    pattern = "'%' || '" + "_" * 5000 + "' || 'b%'"
    compiled = compile_filter(f"text LIKE {pattern}")

    assert compiled.matches(at(1, text="a" * 5000 + "b"))
    assert not compiled.matches(at(1, text="b" + "a" * 5000))
    assert not compiled.matches(at(1, text="a" * 20_000))


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("a_c", "abc", T),
        ("a_c", "abbc", F),
        ("%_b_%", "xxbx", T),
        ("%b__", "abxbyz", T),
        ("%b__", "abxyzq", F),
        ("%b__", "abxyb", F),
        ("%b__", "xbyz", T),
        ("_%_", "a", F),
        ("_%_", "ab", T),
        ("%ab%ab%", "abab", T),
        ("%ab%ab%", "aba", F),
    ],
)
def test_like_segments(pattern: str, text: str, expected: bool) -> None:
    assert compile_filter(f"v LIKE '{pattern}'").evaluate({"v": text}) is expected


# --- refused at creation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT a FROM events", r"a metric must aggregate its events"),
        ("SELECT COUNT(*), SUM(a) FROM events", r"selects exactly one value, not 2"),
        ("SELECT COUNT(*) FROM other", r"table other \(only `events` exists\)"),
        ("SELECT COUNT(*) FROM events JOIN x ON a", r"JOIN"),
        ("SELECT SUM(a) OVER () FROM events", r"window function \(OVER\)"),
        ("SELECT COUNT(*) FROM events UNION SELECT 1 FROM events", r"UNION of queries"),
        ("SELECT COUNT(*) FROM events WHERE SUM(a) > 1", r"aggregate function SUM outside"),
        ("SELECT SUM(MAX(a)) FROM events", r"aggregate inside an aggregate"),
        ("SELECT region, COUNT(*) FROM events GROUP BY region", r"exactly one value"),
        ("SELECT COUNT(*) FROM events GROUP BY region", r"GROUP BY in the outer query"),
        ("SELECT SUM(x) FROM (SELECT a FROM events)", r"the subquery has no column 'x'"),
        ("SELECT STDDEV(a) FROM events", r"function call STDDEV"),
        ("SELECT * FROM events", r"SELECT \*"),
        ("SELECT COUNT(*) FROM events e WHERE e.a = 1", r"qualified column e\.a"),
        ("SELECT SUM(", r"^invalid sql"),
        ("WITH c AS (SELECT 1) SELECT COUNT(*) FROM c", r"WITH"),
        (
            "SELECT SUM(a) FROM (SELECT a, COUNT(*) AS n FROM events GROUP BY b)",
            r"must be aggregated or listed in GROUP BY",
        ),
        ("SELECT SUM(CAST(a AS BLOB)) FROM events", r"cast to VARBINARY"),
        (
            "SELECT COUNT(*) FROM events WHERE date_trunc('quarter', timestamp) = 1",
            r"unit 'quarter'",
        ),
        ("SELECT COUNT(*) FROM events LIMIT x", r"LIMIT with a non-integer count"),
        ("a = 1", r"a metric is a query"),
        ("SELECT COUNT(*) FROM (SELECT a FROM events) GROUP BY 2", r"GROUP BY"),
    ],
)
def test_unsupported_metric_sql_is_refused_naming_the_construct(sql: str, message: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        compile_metric(sql)

    assert re.search(message, str(info.value)), str(info.value)


def test_aggregates_are_refused_in_filters() -> None:
    with pytest.raises(ExpressionSyntaxError, match=r"aggregate function COUNT outside"):
        compile_filter("COUNT(*) > 1")


def test_expressions_are_bounded_in_size() -> None:
    huge = "a = '" + "x" * MAX_EXPRESSION_CHARS + "'"

    with pytest.raises(
        ExpressionSyntaxError, match=rf"characters long \(at most {MAX_EXPRESSION_CHARS}\)"
    ):
        compile_filter(huge)
    with pytest.raises(ExpressionSyntaxError, match=r"more than \d+ terms"):
        compile_filter(" OR ".join(["a = 1"] * 5000))
