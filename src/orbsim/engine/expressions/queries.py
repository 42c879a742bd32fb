"""Metric queries: a compiled SELECT's steps (WHERE, GROUP BY, HAVING, ORDER BY, LIMIT/OFFSET,
subqueries) and the fast paths for the shapes most billable metrics have.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlglot import exp

from orbsim.engine.expressions.aggregates import KIND_PREFERENCE, GroupScope, distinct_key
from orbsim.engine.expressions.kinds import KINDS, NUM, as_number, kind_of
from orbsim.engine.expressions.rows import (
    ColumnsScope,
    EventScope,
    Getter,
    PlainRow,
    Predicate,
    Scope,
    compile_predicate,
    compile_value,
    is_aggregate,
)
from orbsim.engine.expressions.syntax import invalid, unsupported

# --- fast paths ---------------------------------------------------------------------------------


def bare_aggregate(tree: Any, query: _Query) -> Callable[[Iterable[Any]], object] | None:
    """For ``SELECT <one aggregate> FROM events [WHERE ...]`` (a single aggregate row whose only
    column is the aggregate itself): the aggregate over the matching events, which is what the
    query's one output cell holds. ``None`` for any other query."""
    if not query.single or len(query.aggregates) != 1 or len(tree.expressions) != 1:
        return None
    (body,) = tree.expressions
    if isinstance(body, exp.Alias):
        body = body.this
    while isinstance(body, exp.Paren):
        body = body.this
    if not is_aggregate(body):
        return None
    where = query.where
    ((_slot, aggregate),) = query.aggregates

    def value(events: Iterable[Any]) -> object:
        if where is None:
            return aggregate(events if isinstance(events, list) else list(events))
        return aggregate([row for row in events if where(row) is True])

    return value


class Running:
    """A metric's value over a growing prefix of events (see :meth:`CompiledMetric.running`)."""

    __slots__ = ("_get", "_where")

    def __init__(self, where: Predicate | None, get: Getter) -> None:
        self._where = where
        self._get = get

    def add(self, events: Iterable[Any]) -> None:
        where = self._where
        get = self._get
        self._feed([get(e) for e in events if where is None or where(e) is True])

    def value(self) -> object:
        raise NotImplementedError

    def _feed(self, values: list[object]) -> None:
        raise NotImplementedError


class _RunningDistinct(Running):
    """COUNT(DISTINCT x), the same keys as :func:`_count_distinct`."""

    __slots__ = ("_others", "_texts")

    def __init__(self, where: Predicate | None, get: Getter) -> None:
        super().__init__(where, get)
        self._texts: set[str] = set()
        self._others: set[object] = set()

    def _feed(self, values: list[object]) -> None:
        texts, others = self._texts, self._others
        for value in values:
            if type(value) is str:
                texts.add(value)
            elif value is not None and kind_of(value) is not None:
                others.add(distinct_key(value))

    def value(self) -> object:
        return len(self._texts) + len(self._others)


class _RunningExtreme(Running):
    """MAX/MIN as :func:`_extreme_of`: the best value of each kind, folded left to right (ties
    keep the earlier value, as ``max``/``min`` over the whole list do)."""

    __slots__ = ("_best", "_pick")

    def __init__(self, where: Predicate | None, get: Getter, pick: Callable[..., Any]) -> None:
        super().__init__(where, get)
        self._pick = pick
        self._best: dict[int, object] = {}

    def _feed(self, values: list[object]) -> None:
        best, pick, kinds = self._best, self._pick, KINDS
        for value in values:
            kind = kinds.get(type(value)) or kind_of(value)
            if kind is not None:
                best[kind] = pick(best[kind], value) if kind in best else value

    def value(self) -> object:
        for kind in KIND_PREFERENCE:
            if kind in self._best:
                chosen = self._best[kind]
                return as_number(chosen) if kind == NUM else chosen
        return None


def running_factory(tree: Any, source: str, what: str) -> Callable[[], Running] | None:
    """How to run ``tree`` incrementally, for a bare COUNT(DISTINCT x) / MAX(x) / MIN(x) over
    events; ``None`` when the query has any other shape."""
    from_ = tree.args.get("from_")
    if from_ is None or not isinstance(from_.this, exp.Table):
        return None
    for key in ("group", "having", "limit", "offset", "order", "distinct"):
        if tree.args.get(key):
            return None
    if len(tree.expressions) != 1:
        return None
    (body,) = tree.expressions
    if isinstance(body, exp.Alias):
        body = body.this
    argument = body.this
    if isinstance(body, exp.Count):
        if not isinstance(argument, exp.Distinct) or len(argument.expressions) != 1:
            return None
        argument = argument.expressions[0]
    elif not isinstance(body, exp.Max | exp.Min) or isinstance(argument, exp.Distinct):
        return None
    if argument is None or isinstance(argument, exp.Star):
        return None
    scope = EventScope(what, source)
    where = tree.args.get("where")
    predicate = None if where is None else compile_predicate(where.this, scope)
    getter = compile_value(argument, scope)
    if isinstance(body, exp.Count):
        return lambda: _RunningDistinct(predicate, getter)
    pick = max if isinstance(body, exp.Max) else min
    return lambda: _RunningExtreme(predicate, getter, pick)


def is_additive(tree: Any) -> bool:
    from_ = tree.args.get("from_")
    if from_ is None or not isinstance(from_.this, exp.Table) or tree.args.get("group"):
        return False
    if tree.args.get("having") or tree.args.get("limit") or tree.args.get("offset"):
        return False
    (body,) = tree.expressions
    if isinstance(body, exp.Alias):
        body = body.this
    if isinstance(body, exp.Count):
        return not isinstance(body.this, exp.Distinct)
    return isinstance(body, exp.Sum) and not isinstance(body.this, exp.Distinct)


# --- queries ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Query:
    """A compiled SELECT: ``run(events)`` returns its output rows (``PlainRow`` of named
    columns)."""

    columns: list[str]
    source_query: _Query | None
    where: Predicate | None
    keys: list[Getter]
    aggregates: list[tuple[str, Callable[[Sequence[Any]], object]]]
    grouped: bool
    outputs: list[Getter]
    having: Predicate | None
    order: list[tuple[Getter, bool, bool]]
    limit: int | None
    offset: int
    distinct: bool
    property_names: set[str]
    single: bool = field(init=False, default=False)
    """Whether :meth:`single_aggregate_row` holds (so ``run`` takes ``_run_single``)."""

    def __post_init__(self) -> None:
        self.single = self.single_aggregate_row()

    def run(self, events: Iterable[Any]) -> list[PlainRow]:
        if self.single:
            return self._run_single(events)
        rows: Iterable[Any] = events if self.source_query is None else self.source_query.run(events)
        where = self.where
        if where is not None:
            rows = [row for row in rows if where(row) is True]
        elif not isinstance(rows, list):
            rows = list(rows)
        inputs: Sequence[Any] = self._groups(rows) if self.grouped else rows
        results: list[tuple[PlainRow, tuple[object, ...]]] = []
        for item in inputs:
            if self.having is not None and self.having(item) is not True:
                continue
            values = {
                name: output(item) for name, output in zip(self.columns, self.outputs, strict=True)
            }
            sort_key = tuple(getter(item) for getter, _desc, _nulls in self.order)
            results.append((PlainRow(values), sort_key))
        if self.distinct:
            seen: dict[tuple[object, ...], tuple[PlainRow, tuple[object, ...]]] = {}
            for result in results:
                signature = tuple(distinct_key(v) for v in result[0].properties.values())
                seen.setdefault(signature, result)
            results = list(seen.values())
        for index in reversed(range(len(self.order))):
            _getter, descending, nulls_first = self.order[index]
            results.sort(key=_sorter(index, nulls_first, descending), reverse=descending)
        selected = [row for row, _key in results]
        end = None if self.limit is None else self.offset + self.limit
        return selected[self.offset : end]

    def single_aggregate_row(self) -> bool:
        """``SELECT <aggregates> FROM events [WHERE ...]``: no GROUP BY, HAVING, ORDER BY,
        LIMIT, OFFSET or DISTINCT, so the answer is one row over all matching events (most
        billable metrics have this shape)."""
        return (
            self.grouped
            and self.source_query is None
            and not self.keys
            and self.having is None
            and not self.order
            and self.limit is None
            and not self.offset
            and not self.distinct
        )

    def _run_single(self, events: Iterable[Any]) -> list[PlainRow]:
        """``run`` for a :meth:`single_aggregate_row` query: what the general path computes for
        it (one group of every matching event, no sorting or slicing), without its steps."""
        where = self.where
        rows = list(events) if where is None else [row for row in events if where(row) is True]
        group = PlainRow({slot: aggregate(rows) for slot, aggregate in self.aggregates})
        values = {
            name: output(group) for name, output in zip(self.columns, self.outputs, strict=True)
        }
        return [PlainRow(values)]

    def _groups(self, rows: Sequence[Any]) -> list[PlainRow]:
        keys = self.keys
        groups: dict[tuple[object, ...], tuple[tuple[object, ...], list[Any]]] = {}
        if len(keys) == 1:
            (key,) = keys
            single: dict[object, tuple[tuple[object, ...], list[Any]]] = {}
            for row in rows:
                value = key(row)
                # str and datetime keys cannot collide across kinds (1 == 1.0 == True can)
                signature = value if type(value) in _PLAIN_KEYS else distinct_key(value)
                entry = single.get(signature)
                if entry is None:
                    single[signature] = ((value,), [row])
                else:
                    entry[1].append(row)
            groups = single  # type: ignore[assignment]
        elif keys:
            for row in rows:
                values = tuple(key(row) for key in keys)
                signature = tuple(distinct_key(v) for v in values)
                entry = groups.get(signature)
                if entry is None:
                    groups[signature] = (values, [row])
                else:
                    entry[1].append(row)
        else:
            groups[()] = ((), list(rows))
        found: list[PlainRow] = []
        for values, members in groups.values():
            slots: dict[str, object] = {f"\x00k{i}": v for i, v in enumerate(values)}
            for slot, aggregate in self.aggregates:
                slots[slot] = aggregate(members)
            found.append(PlainRow(slots))
        return found


_PLAIN_KEYS: Final = frozenset((str, datetime))


def _sorter(
    index: int, nulls_first: bool, descending: bool
) -> Callable[[tuple[PlainRow, tuple[object, ...]]], tuple[int, int, object]]:
    return lambda result: _sort_key(result[1][index], nulls_first, descending)


def _sort_key(value: object, nulls_first: bool, descending: bool) -> tuple[int, int, object]:
    """Sort NULLs by the clause's rule; values of different kinds sort by kind."""
    kind = kind_of(value)
    if kind is None:
        # reverse=True flips the whole tuple, so pre-flip the NULL rank for descending sorts.
        first = 0 if nulls_first != descending else 2
        return (first, 0, 0)
    if kind == NUM:
        value = as_number(value)
    return (1, kind, value)


def compile_select(node: Any, source: str, what: str, top: bool) -> _Query:
    for key in (
        "joins",
        "with_",
        "laterals",
        "windows",
        "qualify",
        "pivots",
        "connect",
        "prewhere",
    ):
        if node.args.get(key):
            raise unsupported(node, source, what, key.rstrip("_").upper().replace("JOINS", "JOIN"))
    for window in node.find_all(exp.Window):
        raise unsupported(window, source, what)
    from_ = node.args.get("from_")
    if from_ is None:
        raise invalid(source, what, "a metric query needs FROM events")
    table = from_.this
    inner_query: _Query | None = None
    if isinstance(table, exp.Table):
        if table.args.get("db") is not None or str(table.name).lower() != "events":
            raise unsupported(table, source, what, f"table {table.sql()} (only `events` exists)")
        scope: Scope = EventScope(what, source)
    elif isinstance(table, exp.Subquery) and isinstance(table.this, exp.Select):
        inner_query = compile_select(table.this, source, what, top=False)
        scope = ColumnsScope(what, source, inner_query.columns)
    else:
        raise unsupported(table, source, what, "FROM source (only `events` or a subquery)")
    items = list(node.expressions)
    columns: list[str] = []
    bodies: list[Any] = []
    for index, item in enumerate(items):
        if isinstance(item, exp.Star) or (
            isinstance(item, exp.Column) and isinstance(item.this, exp.Star)
        ):
            raise unsupported(item, source, what, "SELECT *")
        if isinstance(item, exp.Alias):
            name, body = str(item.alias), item.this
        elif isinstance(item, exp.Column) and isinstance(item.this, exp.Identifier):
            name, body = str(item.this.this), item
        else:
            name, body = f"_col{index}", item
        if name in columns:
            raise invalid(source, what, f"two output columns are named {name!r}")
        columns.append(name)
        bodies.append(body)
    if top and len(bodies) != 1:
        raise invalid(source, what, f"a metric selects exactly one value, not {len(bodies)}")
    where = None
    if node.args.get("where") is not None:
        where = compile_predicate(node.args["where"].this, scope)
    group = node.args.get("group")
    key_nodes: list[Any] = []
    if group is not None:
        for key in group.expressions:
            key_nodes.append(_resolve_reference(key, columns, bodies, scope))
    if top and key_nodes:
        raise unsupported(
            group,
            source,
            what,
            "GROUP BY in the outer query (a metric is one value; group in a subquery)",
        )
    having = node.args.get("having")
    order = node.args.get("order")
    aggregating = (
        bool(key_nodes)
        or any(is_aggregate(n) for body in bodies for n in body.walk())
        or (having is not None)
    )
    single_row_source = inner_query is not None and inner_query.grouped and not inner_query.keys
    key_getters = [compile_value(key, scope) for key in key_nodes]
    output_scope: Scope = GroupScope(scope, key_nodes) if aggregating else scope
    outputs = [compile_value(body, output_scope) for body in bodies]
    if top and not aggregating and not single_row_source:
        raise invalid(
            source, what, "a metric must aggregate its events (COUNT, SUM, MAX, ...) into one value"
        )
    having_pred = compile_predicate(having.this, output_scope) if having is not None else None
    order_terms: list[tuple[Getter, bool, bool]] = []
    if order is not None:
        for ordered in order.expressions:
            target = _resolve_reference(ordered.this, columns, bodies, output_scope)
            order_terms.append(
                (
                    compile_value(target, output_scope),
                    bool(ordered.args.get("desc")),
                    bool(ordered.args.get("nulls_first")),
                )
            )
    limit = _count_clause(node.args.get("limit"), source, what, "LIMIT")
    offset = _count_clause(node.args.get("offset"), source, what, "OFFSET") or 0
    aggregates = output_scope.aggregates if isinstance(output_scope, GroupScope) else []
    names = set(scope.used) if isinstance(scope, EventScope) else set()
    return _Query(
        columns=columns,
        source_query=inner_query,
        where=where,
        keys=key_getters,
        aggregates=aggregates,
        grouped=aggregating,
        outputs=outputs,
        having=having_pred,
        order=order_terms,
        limit=limit,
        offset=offset,
        distinct=bool(node.args.get("distinct")),
        property_names=names,
    )


def _resolve_reference(node: Any, columns: list[str], bodies: list[Any], scope: Scope) -> Any:
    """GROUP BY / ORDER BY items: an ordinal or a SELECT alias means that select expression."""
    if isinstance(node, exp.Literal) and not node.is_string:
        position = int(str(node.this)) if str(node.this).isdigit() else 0
        if not 1 <= position <= len(bodies):
            raise invalid(
                scope.source, scope.what, f"position {node.this} is not in the select list"
            )
        return bodies[position - 1]
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier):
        name = str(node.this.this)
        if name in columns and not (isinstance(bodies[columns.index(name)], exp.Column)):
            return bodies[columns.index(name)]
    return node


def _count_clause(clause: Any, source: str, what: str, name: str) -> int | None:
    if clause is None:
        return None
    value = clause.args.get("expression") or clause.this
    if not isinstance(value, exp.Literal) or value.is_string or not str(value.this).isdigit():
        raise unsupported(clause, source, what, f"{name} with a non-integer count")
    return int(str(value.this))


def collect_properties(query: _Query, names: set[str]) -> None:
    names.update(query.property_names)
    if query.source_query is not None:
        collect_properties(query.source_query, names)
