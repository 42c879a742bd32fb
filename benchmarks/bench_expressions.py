"""How to evaluate metric SQL: orbsim's compiled closures vs stdlib sqlite3 (sqlglot-transpiled).

Prints a markdown table: for one customer-month (``--events``, default 5,000 events), the median
milliseconds to evaluate each metric with

* **closures**: ``orbsim.engine.expressions.compile_metric`` (parsed once, then plain Python);
* **sqlite3**: the same SQL transpiled by sqlglot to SQLite (bare identifiers rewritten to
  ``json_extract(properties, '$.name')``), run on an in-memory database that is loaded with the
  events on every call, because the billable view changes with every amendment, deprecation and
  backfill, so a standing copy would have to be kept in sync on every write;
* **sqlite3, query only**: the query alone on an already loaded table (a lower bound for a
  synchronised mirror).

It also times metric compilation. Run: ``python benchmarks/bench_expressions.py``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlglot
from sqlglot import exp

from orbsim.engine.expressions import compile_filter, compile_metric

METRICS = {
    "count": "SELECT COUNT(*) FROM events WHERE event_name = 'api_call'",
    "sum with filter": "SELECT SUM(bytes) FROM events WHERE region = 'eu'",
    "count distinct": "SELECT COUNT(DISTINCT user_id) FROM events",
    "case + coalesce": (
        "SELECT SUM(CASE WHEN region = 'eu' THEN COALESCE(bytes, 0) * 2 ELSE bytes END) FROM events"
    ),
    "sum of daily max (GROUP BY subquery)": (
        "SELECT SUM(m) FROM (SELECT MAX(storage_gb) AS m FROM events"
        " GROUP BY date_trunc('day', timestamp))"
    ),
}


@dataclass(slots=True)
class Event:
    event_name: str
    properties: dict[str, Any]
    timestamp: datetime


def make_events(n: int) -> list[Event]:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    step = timedelta(days=30) / n
    return [
        Event(
            "api_call" if i % 3 else "storage",
            {
                "bytes": i % 1000,
                "region": ("eu", "us", "apac")[i % 3],
                "user_id": f"u{i % 97}",
                "storage_gb": (i % 500) * 0.5,
            },
            start + step * i,
        )
        for i in range(n)
    ]


def to_sqlite(sql: str) -> str:
    tree = sqlglot.parse_one(sql)
    aliases = {a.alias for a in tree.find_all(exp.Alias)}

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.name not in aliases:
            if node.name == "timestamp":
                return exp.column("ts")
            if node.name == "event_name":
                return node
            return exp.Anonymous(
                this="json_extract",
                expressions=[exp.column("properties"), exp.Literal.string(f"$.{node.name}")],
            )
        if isinstance(node, exp.DateTrunc):  # only 'day' is used here: the ISO date prefix
            return exp.Anonymous(
                this="substr",
                expressions=[exp.column("ts"), exp.Literal.number(1), exp.Literal.number(10)],
            )
        return node

    return tree.transform(rewrite).sql(dialect="sqlite")


def load(events: list[Event]) -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE events (event_name TEXT, ts TEXT, properties TEXT)")
    connection.executemany(
        "INSERT INTO events VALUES (?, ?, ?)",
        [(e.event_name, e.timestamp.isoformat(), json.dumps(e.properties)) for e in events],
    )
    return connection


def median_ms(call: Callable[[], object], repeat: int) -> float:
    call()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    events = make_events(args.events)
    mirror = load(events)
    print(
        f"| metric ({args.events} events) | closures ms | sqlite3 load+query ms |"
        " sqlite3 query only ms | same result |"
    )
    print("|---|---|---|---|---|")
    for name, sql in METRICS.items():
        compiled = compile_metric(sql)
        lite = to_sqlite(sql)

        def fresh(lite: str = lite) -> object:
            connection = load(events)
            try:
                return connection.execute(lite).fetchone()[0]
            finally:
                connection.close()

        ours = compiled.quantity(events)
        theirs = mirror.execute(lite).fetchone()[0]
        same = abs(float(ours) - float(theirs or 0)) < 1e-6
        print(
            f"| {name} | {median_ms(lambda c=compiled: c.evaluate(events), args.repeat):.2f} |"
            f" {median_ms(fresh, args.repeat):.2f} |"
            f" {median_ms(lambda q=lite: mirror.execute(q).fetchone(), args.repeat):.2f} |"
            f" {'yes' if same else f'no ({ours} vs {theirs})'} |"
        )
    like = compile_filter("text LIKE '%' || '" + "_" * 5000 + "' || 'b%'")
    texts = [Event("x", {"text": "a" * 20_000}, events[0].timestamp)] * 10
    like_ms = median_ms(lambda: [like.matches(t) for t in texts], args.repeat) / len(texts)
    print(f"\nLIKE '%' || 5000 underscores || 'b%' on a 20,000-character text: {like_ms:.3f} ms")
    create = median_ms(lambda: compile_metric(METRICS["sum of daily max (GROUP BY subquery)"]), 50)
    print(f"\ncompile_metric (GROUP BY subquery metric): {create:.3f} ms median")


if __name__ == "__main__":
    main()
