"""Orb computed properties and metric SQL: one evaluator, compiled once into plain closures.

Orb uses one SQL dialect in three places: a backfill's ``deprecation_filter`` and a subscription's
``filter`` are *boolean computed properties* (a predicate per event), and a billable metric is a
``SELECT`` over the ``events`` table that aggregates a computed property into one quantity. This
module parses all three with sqlglot (never ``eval``), checks the tree against the supported
grammar, and compiles it into nested closures; evaluating an event never walks the sqlglot tree.
Anything outside the grammar raises :class:`ExpressionSyntaxError` naming the construct.

Values (per event):

* bare identifiers are event properties (``"my prop"`` quotes one; double quotes always mean an
  identifier). Names are case-sensitive as written. A missing property, or one holding a value that
  is not a string/number/boolean, is SQL NULL. Names sqlglot reads as keywords or niladic
  functions (such as ``current_date``) must be quoted;
* built-in columns: ``event_name`` (string), ``timestamp`` (a UTC timestamp) and
  ``timestamp_millis`` (milliseconds since the epoch, an integer). They shadow properties of the
  same name;
* literals: ``'strings'``, integers, decimals, ``TRUE``/``FALSE``, ``NULL``,
  ``TIMESTAMP '2024-01-01T00:00:00Z'``;
* ``CASE`` (both forms), ``IF(c, a, b)``, ``COALESCE``, ``NULLIF``, ``GREATEST``, ``LEAST``,
  ``lower``, ``upper``, ``ABS``, ``ROUND(x[, n])``, ``FLOOR``, ``CEIL``, ``CAST`` / ``::`` /
  ``TRY_CAST`` to integer, decimal/double, string, boolean and timestamp types,
  ``date_trunc('minute'|'hour'|'day'|'week'|'month'|'year', timestamp)``,
  ``hour_floor_timestamp_millis(timestamp_millis)``;
* arithmetic ``+ - * / %`` on numbers and ``||`` on strings.

Predicates: ``= != <> < <= > >=``, ``AND``, ``OR``, ``NOT``, ``[NOT] IN (...)``,
``[NOT] BETWEEN``, ``IS [NOT] NULL``, ``[NOT] LIKE``, and any value in boolean position.

Metric SQL: ``SELECT <expression> FROM events [WHERE ...]`` whose expression aggregates with
``COUNT(*)``, ``COUNT([DISTINCT] x)``, ``SUM``, ``AVG``, ``MIN``, ``MAX``,
``LATEST_BY(value, time)`` and ``EARLIEST_BY(value, time)``; ``FROM`` may instead be a subquery
with its own ``WHERE``, ``GROUP BY`` (expressions, select aliases or ordinals), ``HAVING``,
``ORDER BY`` and ``LIMIT``/``OFFSET``, so "the sum over days of each day's maximum" is
``SELECT SUM(m) FROM (SELECT MAX(x) AS m FROM events GROUP BY date_trunc('day', timestamp))``.

Semantics (our choices where Orb is silent; the README's Behaviour notes repeat them):

* three-valued logic as in SQL; a NULL predicate is "no match";
* kinds never coerce implicitly: a string is not a number (``amount = '100'`` does not match
  ``100``; ``SUM`` and arithmetic ignore/return NULL for strings and booleans; ``CAST`` converts);
  ``=`` across kinds is FALSE, ``!=`` TRUE, ordering NULL;
* arithmetic is exact decimal arithmetic (JSON floats enter by their shortest repr, so
  ``0.1 + 0.2 = 0.3``); ``/`` is true division; division or modulo by zero is NULL;
* ``CAST`` of text that does not parse is NULL; ``CAST(2.7 AS INTEGER)`` truncates to 2;
* ``LIKE`` knows ``%`` and ``_``, is case-sensitive, has no escape character and runs in time
  linear in the text for every pattern shape that matters (no regex backtracking);
* NULLs sort first ascending and last descending (sqlglot's default dialect);
* ``LATEST_BY``/``EARLIEST_BY`` ignore rows whose time is NULL; ties go to the later/earlier row in
  input order.

The package's modules, one job each:

* ``syntax``: parsing, the size limits and the grammar's error messages;
* ``kinds``: what a value is and how values convert, compare and compute;
* ``rows``: values and predicates over one row (event or subquery row), and the scopes;
* ``aggregates``: aggregates over a group's rows, and the scope whose rows are groups;
* ``queries``: a compiled SELECT's steps and the fast paths (bare aggregate, running metrics);
* ``compiled``: the entry points ``compile_filter``/``compile_metric`` and what they return.
"""

from __future__ import annotations

from orbsim.engine.expressions.compiled import (
    CompiledFilter,
    CompiledMetric,
    compile_filter,
    compile_metric,
    quantity_of,
)
from orbsim.engine.expressions.queries import Running
from orbsim.engine.expressions.rows import Scalar
from orbsim.engine.expressions.syntax import (
    MAX_EXPRESSION_CHARS,
    MAX_EXPRESSION_NODES,
    ExpressionSyntaxError,
)

__all__ = [
    "MAX_EXPRESSION_CHARS",
    "MAX_EXPRESSION_NODES",
    "CompiledFilter",
    "CompiledMetric",
    "ExpressionSyntaxError",
    "Running",
    "Scalar",
    "compile_filter",
    "compile_metric",
    "quantity_of",
]
