"""The entry points: a compiled filter (a boolean computed property) and a compiled metric (a
query reduced to one value, or a billing quantity).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlglot import exp

from orbsim.engine.expressions.kinds import as_number
from orbsim.engine.expressions.queries import (
    Running,
    bare_aggregate,
    collect_properties,
    compile_select,
    is_additive,
    running_factory,
)
from orbsim.engine.expressions.rows import (
    EventScope,
    PlainRow,
    Predicate,
    Row,
    Scalar,
    compile_predicate,
)
from orbsim.engine.expressions.syntax import invalid, parse_expression, shorten, unsupported


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    """A parsed boolean computed property; call it on an event's properties to test a match."""

    source: str
    """The expression text exactly as given."""
    property_names: frozenset[str]
    """Every event property the expression references (built-in columns excluded)."""
    _predicate: Predicate = field(repr=False, compare=False)

    def __deepcopy__(self, memo: dict[int, Any]) -> CompiledFilter:
        return self  # immutable (and its compiled closures cannot be copied)

    def __call__(self, properties: Mapping[str, Scalar]) -> bool:
        """Whether the filter is TRUE for ``properties``; NULL (unknown) counts as no match."""
        return self._predicate(PlainRow(properties)) is True

    def evaluate(self, properties: Mapping[str, Scalar]) -> bool | None:
        """The three-valued result: ``True``, ``False`` or ``None`` for SQL NULL."""
        return self._predicate(PlainRow(properties))

    def matches(self, event: Row) -> bool:
        """Whether the filter is TRUE for a whole event (built-in columns included)."""
        return self._predicate(event) is True

    def evaluate_event(self, event: Row) -> bool | None:
        return self._predicate(event)


@dataclass(frozen=True, slots=True)
class CompiledMetric:
    """A parsed metric query; :meth:`evaluate` turns events into one value (None = NULL)."""

    source: str
    property_names: frozenset[str]
    _run: Callable[[Iterable[Any]], object] = field(repr=False, compare=False)
    additive: bool = False
    """True when the value over a union of disjoint event sets is the sum of their values
    (``SELECT SUM(x)`` / ``SELECT COUNT(...)`` straight over events), so cumulative views can
    add up daily values instead of re-evaluating every prefix."""
    _running: Callable[[], Running] | None = field(default=None, repr=False, compare=False)

    def running(self) -> Running | None:
        """A fresh running evaluation, when the query can be extended event by event
        (``SELECT COUNT(DISTINCT x)`` / ``MAX(x)`` / ``MIN(x)`` straight over events, optionally
        with a WHERE): feeding it consecutive chunks gives, after each chunk, exactly what
        :meth:`evaluate` gives over everything fed so far. ``None`` for any other query."""
        return None if self._running is None else self._running()

    def __deepcopy__(self, memo: dict[int, Any]) -> CompiledMetric:
        return self  # immutable (and its compiled closures cannot be copied)

    def evaluate(self, events: Iterable[Row]) -> object:
        """The query's single value over ``events`` (the caller applies the time range)."""
        return self._run(events)

    def quantity(self, events: Iterable[Row]) -> Decimal:
        """The value as a billing quantity: NULL is 0; a non-number raises ValueError."""
        return quantity_of(self._run(events), self.source)


def quantity_of(value: object, source: str = "metric") -> Decimal:
    if value is None:
        return Decimal(0)
    number = as_number(value)
    if number is None:
        raise ValueError(f"metric {shorten(source)!r} produced {value!r}, which is not a number")
    return number if isinstance(number, Decimal) else Decimal(number)


# --- entry points -------------------------------------------------------------------------------


def compile_filter(text: str, what: str = "deprecation_filter") -> CompiledFilter:
    """Compile a boolean computed property; ``what`` names the field in error messages."""
    tree = parse_expression(text, what)
    if isinstance(tree, exp.Query):
        raise unsupported(tree, text, what, "subquery")
    scope = EventScope(what, text)
    try:
        predicate = compile_predicate(tree, scope)
    except RecursionError as error:
        raise invalid(text, what, "nested too deeply") from error
    return CompiledFilter(source=text, property_names=frozenset(scope.used), _predicate=predicate)


def compile_metric(text: str, what: str = "sql") -> CompiledMetric:
    """Compile a billable metric's SQL: one aggregated value over the ``events`` table."""
    tree = parse_expression(text, what)
    if not isinstance(tree, exp.Select):
        if isinstance(tree, exp.Query):
            raise unsupported(tree, text, what, f"{tree.key.upper()} of queries")
        raise invalid(text, what, "a metric is a query: SELECT <aggregate> FROM events ...")
    try:
        query = compile_select(tree, text, what, top=True)
    except RecursionError as error:
        raise invalid(text, what, "nested too deeply") from error
    names: set[str] = set()
    collect_properties(query, names)

    def first_cell(events: Iterable[Any]) -> object:
        rows = query.run(events)
        if not rows:
            return None
        return next(iter(rows[0].properties.values()))

    # SELECT <one aggregate> FROM events [WHERE ...]: the aggregate's value, directly
    run = bare_aggregate(tree, query) or first_cell

    return CompiledMetric(
        source=text,
        property_names=frozenset(names),
        _run=run,
        additive=is_additive(tree),
        _running=running_factory(tree, text, what),
    )
