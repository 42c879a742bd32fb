"""Aggregates over the rows of one group: COUNT, SUM, AVG, MIN, MAX, LATEST_BY, EARLIEST_BY.

The group scope compiles a SELECT list, HAVING or ORDER BY whose rows are groups, collecting the
aggregates it meets.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Final

from sqlglot import exp

from orbsim.engine.expressions.kinds import (
    BOOL,
    KINDS,
    NUM,
    STR,
    TIME,
    as_number,
    compare_values,
    kind_of,
)
from orbsim.engine.expressions.rows import Getter, Operand, Prop, Scope, compile_value, is_aggregate
from orbsim.engine.expressions.syntax import ExpressionSyntaxError, unsupported

# --- aggregates ---------------------------------------------------------------------------------


class GroupScope(Scope):
    """The SELECT list / HAVING / ORDER BY of an aggregating query: rows are groups."""

    def __init__(self, inner: Scope, keys: Sequence[Any]) -> None:
        super().__init__(inner.what, inner.source)
        self.inner = inner
        self.key_sql = {key.sql(): f"\x00k{index}" for index, key in enumerate(keys)}
        self.aggregates: list[tuple[str, Callable[[Sequence[Any]], object]]] = []

    def lookup(self, node: Any) -> Operand | None:
        slot = self.key_sql.get(node.sql()) if not isinstance(node, exp.Literal) else None
        return None if slot is None else Prop(slot)

    def column(self, node: Any, name: str) -> Operand:
        raise ExpressionSyntaxError(
            f"invalid {self.what}: column {name!r} must be aggregated or listed in GROUP BY"
        )

    def aggregate(self, node: Any) -> Operand:
        slot = f"\x00a{len(self.aggregates)}"
        self.aggregates.append((slot, _compile_aggregate(node, self.inner)))
        return Prop(slot)


def _compile_aggregate(node: Any, scope: Scope) -> Callable[[Sequence[Any]], object]:
    """An aggregate over the rows of one group, its argument compiled in the input scope."""
    source, what = scope.source, scope.what
    for inner in node.walk():
        if inner is not node and is_aggregate(inner):
            raise unsupported(inner, source, what, "aggregate inside an aggregate")
    if isinstance(node, exp.Anonymous):
        name = str(node.name).upper()
        if len(node.expressions) != 2:
            raise unsupported(node, source, what, f"{name} takes (value, time)")
        value = compile_value(node.expressions[0], scope)
        key = compile_value(node.expressions[1], scope)
        return _by(value, key, latest=name == "LATEST_BY")
    argument = node.this
    distinct = False
    if isinstance(argument, exp.Distinct):
        if len(argument.expressions) != 1:
            raise unsupported(node, source, what, "DISTINCT over several values")
        distinct = True
        argument = argument.expressions[0]
    if isinstance(node, exp.Count):
        if isinstance(argument, exp.Star):
            return len
        if argument is None:
            raise unsupported(node, source, what, "COUNT() without an argument")
        getter = compile_value(argument, scope)
        if distinct:
            return _count_distinct(getter)
        return lambda rows: sum(1 for r in rows if kind_of(getter(r)) is not None)
    if isinstance(argument, exp.Star) or argument is None:
        raise unsupported(node, source, what, f"{node.key.upper()}(*)")
    getter = compile_value(argument, scope)
    if isinstance(node, exp.Sum | exp.Avg):
        average = isinstance(node, exp.Avg)

        def total(rows: Sequence[Any]) -> object:
            numbers = [n for r in rows if (n := as_number(getter(r))) is not None]
            if distinct:
                numbers = list(dict.fromkeys(numbers))
            if not numbers:
                return None
            summed = sum(numbers)
            return Decimal(summed) / len(numbers) if average else summed

        return total
    pick = max if isinstance(node, exp.Max) else min
    return lambda rows: _extreme_of([getter(r) for r in rows], pick)


def _count_distinct(getter: Getter) -> Callable[[Sequence[Any]], object]:
    """COUNT(DISTINCT x): strings (the common case) go straight into a set; other values by
    kind, so ``1`` and ``TRUE`` stay apart while ``1`` and ``1.0`` are one value."""

    def count(rows: Sequence[Any]) -> int:
        texts: set[str] = set()
        others: set[object] = set()
        for row in rows:
            value = getter(row)
            if type(value) is str:
                texts.add(value)
            elif value is not None and kind_of(value) is not None:
                others.add(distinct_key(value))
        return len(texts) + len(others)

    return count


def distinct_key(value: object) -> object:
    kind = kind_of(value)
    if kind == NUM:
        return (kind, as_number(value))
    return (kind, value)


KIND_PREFERENCE: Final = (NUM, TIME, STR, BOOL)


def _extreme_of(values: Sequence[object], pick: Callable[..., Any]) -> object:
    """MAX/MIN over one kind; with several kinds present numbers win, then times, then text."""
    by_kind: dict[int, list[object]] = {}
    kinds = KINDS
    for value in values:
        kind = kinds.get(type(value)) or kind_of(value)
        if kind is not None:
            members = by_kind.get(kind)
            if members is None:
                by_kind[kind] = [value]
            else:
                members.append(value)
    for kind in KIND_PREFERENCE:
        members = by_kind.get(kind)
        if members:
            # int, float and Decimal order exactly against each other in Python
            chosen = pick(members)
            return as_number(chosen) if kind == NUM else chosen
    return None


def _by(value: Getter, key: Getter, latest: bool) -> Callable[[Sequence[Any]], object]:
    def pick(rows: Sequence[Any]) -> object:
        best: object = None
        best_key: object = None
        for row in rows:
            candidate = key(row)
            if kind_of(candidate) is None:
                continue
            if best_key is None:
                better = True
            else:
                newer = compare_values(
                    candidate, best_key, operator.ge if latest else operator.lt, None
                )
                better = newer is True
            if better:
                best_key, best = candidate, value(row)
        return best

    return pick
