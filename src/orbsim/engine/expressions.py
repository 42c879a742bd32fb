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
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Final, Protocol

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

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

Scalar = str | int | float | bool

MAX_EXPRESSION_CHARS: Final = 50_000
"""Longest expression text accepted; longer ones are refused at creation."""
MAX_EXPRESSION_NODES: Final = 20_000
"""Most syntax-tree nodes accepted in one expression."""


class ExpressionSyntaxError(ValueError):
    """An expression that does not parse or uses syntax outside the supported grammar."""


class Row(Protocol):
    """What an expression reads from an event (``StoredEvent`` satisfies it)."""

    @property
    def properties(self) -> Mapping[str, Any]: ...
    @property
    def event_name(self) -> str | None: ...
    @property
    def timestamp(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class _Row:
    """A row with only properties (filters tested on bare properties, subquery output rows)."""

    properties: Mapping[str, Any]
    event_name: str | None = None
    timestamp: datetime | None = None


_Get = Callable[[Any], object]
_Pred = Callable[[Any], bool | None]
_Op = Callable[[Any, Any], bool]


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    """A parsed boolean computed property; call it on an event's properties to test a match."""

    source: str
    """The expression text exactly as given."""
    property_names: frozenset[str]
    """Every event property the expression references (built-in columns excluded)."""
    _predicate: _Pred = field(repr=False, compare=False)

    def __deepcopy__(self, memo: dict[int, Any]) -> CompiledFilter:
        return self  # immutable (and its compiled closures cannot be copied)

    def __call__(self, properties: Mapping[str, Scalar]) -> bool:
        """Whether the filter is TRUE for ``properties``; NULL (unknown) counts as no match."""
        return self._predicate(_Row(properties)) is True

    def evaluate(self, properties: Mapping[str, Scalar]) -> bool | None:
        """The three-valued result: ``True``, ``False`` or ``None`` for SQL NULL."""
        return self._predicate(_Row(properties))

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
    number = _as_number(value)
    if number is None:
        raise ValueError(f"metric {_shorten(source)!r} produced {value!r}, which is not a number")
    return number if isinstance(number, Decimal) else Decimal(number)


# --- entry points -------------------------------------------------------------------------------


def compile_filter(text: str, what: str = "deprecation_filter") -> CompiledFilter:
    """Compile a boolean computed property; ``what`` names the field in error messages."""
    tree = _parse(text, what)
    if isinstance(tree, exp.Query):
        raise _unsupported(tree, text, what, "subquery")
    scope = _EventScope(what, text)
    try:
        predicate = _predicate(tree, scope)
    except RecursionError as error:
        raise _invalid(text, what, "nested too deeply") from error
    return CompiledFilter(source=text, property_names=frozenset(scope.used), _predicate=predicate)


def compile_metric(text: str, what: str = "sql") -> CompiledMetric:
    """Compile a billable metric's SQL: one aggregated value over the ``events`` table."""
    tree = _parse(text, what)
    if not isinstance(tree, exp.Select):
        if isinstance(tree, exp.Query):
            raise _unsupported(tree, text, what, f"{tree.key.upper()} of queries")
        raise _invalid(text, what, "a metric is a query: SELECT <aggregate> FROM events ...")
    try:
        query = _compile_select(tree, text, what, top=True)
    except RecursionError as error:
        raise _invalid(text, what, "nested too deeply") from error
    names: set[str] = set()
    _collect_properties(query, names)

    def first_cell(events: Iterable[Any]) -> object:
        rows = query.run(events)
        if not rows:
            return None
        return next(iter(rows[0].properties.values()))

    # SELECT <one aggregate> FROM events [WHERE ...]: the aggregate's value, directly
    run = _bare_aggregate(tree, query) or first_cell

    return CompiledMetric(
        source=text,
        property_names=frozenset(names),
        _run=run,
        additive=_is_additive(tree),
        _running=_running_factory(tree, text, what),
    )


def _bare_aggregate(tree: Any, query: _Query) -> Callable[[Iterable[Any]], object] | None:
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
    if not _is_aggregate(body):
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

    def __init__(self, where: _Pred | None, get: _Get) -> None:
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

    def __init__(self, where: _Pred | None, get: _Get) -> None:
        super().__init__(where, get)
        self._texts: set[str] = set()
        self._others: set[object] = set()

    def _feed(self, values: list[object]) -> None:
        texts, others = self._texts, self._others
        for value in values:
            if type(value) is str:
                texts.add(value)
            elif value is not None and _kind(value) is not None:
                others.add(_distinct_key(value))

    def value(self) -> object:
        return len(self._texts) + len(self._others)


class _RunningExtreme(Running):
    """MAX/MIN as :func:`_extreme_of`: the best value of each kind, folded left to right (ties
    keep the earlier value, as ``max``/``min`` over the whole list do)."""

    __slots__ = ("_best", "_pick")

    def __init__(self, where: _Pred | None, get: _Get, pick: Callable[..., Any]) -> None:
        super().__init__(where, get)
        self._pick = pick
        self._best: dict[int, object] = {}

    def _feed(self, values: list[object]) -> None:
        best, pick, kinds = self._best, self._pick, _KINDS
        for value in values:
            kind = kinds.get(type(value)) or _kind(value)
            if kind is not None:
                best[kind] = pick(best[kind], value) if kind in best else value

    def value(self) -> object:
        for kind in _KIND_PREFERENCE:
            if kind in self._best:
                chosen = self._best[kind]
                return _as_number(chosen) if kind == _NUM else chosen
        return None


def _running_factory(tree: Any, source: str, what: str) -> Callable[[], Running] | None:
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
    scope = _EventScope(what, source)
    where = tree.args.get("where")
    predicate = None if where is None else _predicate(where.this, scope)
    getter = _value(argument, scope)
    if isinstance(body, exp.Count):
        return lambda: _RunningDistinct(predicate, getter)
    pick = max if isinstance(body, exp.Max) else min
    return lambda: _RunningExtreme(predicate, getter, pick)


def _is_additive(tree: Any) -> bool:
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


def _parse(text: str, what: str) -> Any:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, not {type(text).__name__}")
    if not text.strip():
        raise ExpressionSyntaxError(f"invalid {what}: the expression is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionSyntaxError(
            f"invalid {what}: the expression is {len(text)} characters long"
            f" (at most {MAX_EXPRESSION_CHARS})"
        )
    try:
        tree = sqlglot.parse_one(text)
    except (ParseError, TokenError) as error:
        raise _invalid(text, what, _describe_parse_error(error)) from error
    except RecursionError as error:
        raise _invalid(text, what, "nested too deeply") from error
    if isinstance(tree, exp.Block):
        raise _invalid(text, what, "multiple statements; give a single expression")
    for count, _node in enumerate(tree.walk(), start=1):
        if count > MAX_EXPRESSION_NODES:
            raise ExpressionSyntaxError(
                f"invalid {what}: the expression has more than {MAX_EXPRESSION_NODES} terms"
            )
    for alias in tree.find_all(exp.Alias):
        if alias.find_ancestor(exp.Select) is None or not _is_select_item(alias):
            # sqlglot reads ``a = 1 b`` (and ``0x1F`` as ``0 x1F``) as an alias: stray text.
            raise _invalid(text, what, f"unexpected text {alias.alias!r} after an operand")
    return tree


def _is_select_item(alias: Any) -> bool:
    parent = alias.parent
    return isinstance(parent, exp.Select) and alias.arg_key == "expressions"


# --- errors -------------------------------------------------------------------------------------

_ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _invalid(text: str, what: str, reason: str) -> ExpressionSyntaxError:
    """A parse-level error; the text is shortened so a huge expression cannot flood a log."""
    return ExpressionSyntaxError(f"invalid {what} {_shorten(text)!r}: {reason}")


def _describe_parse_error(error: ParseError | TokenError) -> str:
    """sqlglot's first error without its terminal underlining, which is noise in an API message."""
    details = getattr(error, "errors", None)
    if details:
        first = details[0]
        return f"{first.get('description')} at line {first.get('line')}, column {first.get('col')}"
    lines = _ANSI.sub("", str(error)).splitlines()
    return lines[0] if lines else type(error).__name__


_ARITHMETIC: Final[dict[type[Any], str]] = {
    exp.Add: "+",
    exp.Sub: "-",
    exp.Mul: "*",
    exp.Div: "/",
    exp.IntDiv: "DIV",
    exp.Mod: "%",
    exp.Pow: "POWER",
    exp.DPipe: "||",
    exp.BitwiseAnd: "&",
    exp.BitwiseOr: "|",
    exp.BitwiseXor: "^",
    exp.BitwiseLeftShift: "<<",
    exp.BitwiseRightShift: ">>",
    exp.BitwiseNot: "~",
}

_NAMED: Final[dict[type[Any], str]] = {
    exp.Star: "*",
    exp.NullSafeEQ: "null-safe comparison (<=> / IS [NOT] DISTINCT FROM)",
    exp.ILike: "ILIKE",
    exp.Escape: "LIKE ... ESCAPE",
    exp.SimilarTo: "SIMILAR TO",
    exp.RegexpLike: "regular-expression match",
    exp.Glob: "GLOB",
    exp.Placeholder: "query parameter",
    exp.Parameter: "query parameter",
    exp.Bracket: "subscript",
    exp.Dot: "dotted access",
    exp.Tuple: "row value (tuple)",
    exp.Array: "array",
    exp.Interval: "INTERVAL",
    exp.National: "national string literal",
    exp.Collate: "COLLATE",
    exp.Window: "window function (OVER)",
    exp.Join: "JOIN",
}


def _construct(node: Any, source: str) -> str:
    """A human name for an unsupported sqlglot node, as the user would recognise it."""
    if isinstance(node, exp.Any | exp.All):
        return f"{node.key.upper()} quantifier"
    if isinstance(node, exp.Query | exp.Subquery | exp.SubqueryPredicate):
        return "subquery"
    for cls, name in _NAMED.items():
        if isinstance(node, cls):
            return name
    for cls, symbol in _ARITHMETIC.items():
        if isinstance(node, cls):
            return f"arithmetic operator {symbol}"
    if isinstance(node, exp.Func):
        return f"function call {_function_name(node, source)}"
    return f"expression {type(node).__name__}"


def _function_name(node: Any, source: str) -> str:
    """The function name as written (``SUBSTR``), not sqlglot's normalised one (``SUBSTRING``)."""
    meta = node.meta
    start, end = meta.get("start"), meta.get("end")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start <= end < len(source):
        return source[start : end + 1].upper()
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    return str(node.sql_name())


def _unsupported(
    node: Any, source: str, what: str, construct: str | None = None
) -> ExpressionSyntaxError:
    """Name the construct and show the offending fragment (as sqlglot re-renders it)."""
    fragment = _shorten(node.sql())
    return ExpressionSyntaxError(
        f"unsupported syntax in {what}: {construct or _construct(node, source)} in `{fragment}`"
    )


# --- values -------------------------------------------------------------------------------------

_NUM: Final = 1
_STR: Final = 2
_BOOL: Final = 3
_TIME: Final = 4
_KINDS: Final[dict[type[object], int]] = {
    bool: _BOOL,
    int: _NUM,
    float: _NUM,
    Decimal: _NUM,
    str: _STR,
    datetime: _TIME,
}


def _kind(value: object) -> int | None:
    """The comparison kind of a value; ``None`` means SQL NULL (missing, ``None`` or non-scalar)."""
    kind = _KINDS.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int | float | Decimal):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return _NUM
    if isinstance(value, str):
        return _STR
    if isinstance(value, datetime):
        return _TIME
    return None


def _as_number(value: object) -> int | Decimal | None:
    """A number for arithmetic: ints stay ints, floats enter by their shortest repr."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[return-value]
    if kind is float:
        return Decimal(repr(value)) if math.isfinite(value) else None  # type: ignore[arg-type]
    if kind is Decimal:
        return value  # type: ignore[return-value]
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return _as_number(int(value) if isinstance(value, int) else float(value))


def _same_kind_pair(left: object, right: object) -> tuple[object, object]:
    """Make a float and a Decimal comparable exactly (a float by its shortest repr)."""
    if type(left) is float and type(right) is Decimal:
        return Decimal(repr(left)), right
    if type(left) is Decimal and type(right) is float:
        return left, Decimal(repr(right))
    return left, right


@dataclass(frozen=True, slots=True)
class _Const:
    value: object


@dataclass(frozen=True, slots=True)
class _Prop:
    """A key of ``row.properties`` (an event property, or a subquery's output column)."""

    name: str


@dataclass(frozen=True, slots=True)
class _Computed:
    get: _Get


_Operand = _Const | _Prop | _Computed

_PREDICATES: Final = (exp.Predicate, exp.And, exp.Or, exp.Not)


def _get(operand: _Operand) -> _Get:
    if isinstance(operand, _Const):
        value = operand.value
        return lambda _row: value
    if isinstance(operand, _Prop):
        name = operand.name
        return lambda row: row.properties.get(name)
    return operand.get


def _constant(result: bool | None) -> _Pred:
    return lambda _row: result


# --- scopes: what a name means where ----------------------------------------------------------

_BUILTINS: Final[dict[str, _Get]] = {
    "event_name": lambda row: row.event_name,
    "timestamp": lambda row: row.timestamp,
    "timestamp_millis": lambda row: None if row.timestamp is None else _millis(row.timestamp),
}


def _millis(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class _Scope:
    """Resolves names and aggregates for one clause; the base refuses aggregates."""

    def __init__(self, what: str, source: str) -> None:
        self.what = what
        self.source = source
        self.used: set[str] = set()

    def lookup(self, node: Any) -> _Operand | None:
        """A precomputed value for a whole node (group keys), or None to compile it."""
        return None

    def column(self, node: Any, name: str) -> _Operand:
        raise NotImplementedError

    def aggregate(self, node: Any) -> _Operand:
        raise _unsupported(
            node,
            self.source,
            self.what,
            f"aggregate function {_function_name(node, self.source)} outside a metric's SELECT",
        )


class _EventScope(_Scope):
    """Rows are events: built-in columns, then properties."""

    def column(self, node: Any, name: str) -> _Operand:
        builtin = _BUILTINS.get(name)
        if builtin is not None and not node.this.quoted:
            return _Computed(builtin)
        self.used.add(name)
        return _Prop(name)


class _ColumnsScope(_Scope):
    """Rows come from a subquery: only its output columns exist."""

    def __init__(self, what: str, source: str, columns: Sequence[str]) -> None:
        super().__init__(what, source)
        self.columns = columns

    def column(self, node: Any, name: str) -> _Operand:
        if name in self.columns:
            return _Prop(name)
        raise ExpressionSyntaxError(
            f"invalid {self.what}: the subquery has no column {name!r}"
            f" (it has {', '.join(self.columns) or 'none'})"
        )


class _GroupScope(_Scope):
    """The SELECT list / HAVING / ORDER BY of an aggregating query: rows are groups."""

    def __init__(self, inner: _Scope, keys: Sequence[Any]) -> None:
        super().__init__(inner.what, inner.source)
        self.inner = inner
        self.key_sql = {key.sql(): f"\x00k{index}" for index, key in enumerate(keys)}
        self.aggregates: list[tuple[str, Callable[[Sequence[Any]], object]]] = []

    def lookup(self, node: Any) -> _Operand | None:
        slot = self.key_sql.get(node.sql()) if not isinstance(node, exp.Literal) else None
        return None if slot is None else _Prop(slot)

    def column(self, node: Any, name: str) -> _Operand:
        raise ExpressionSyntaxError(
            f"invalid {self.what}: column {name!r} must be aggregated or listed in GROUP BY"
        )

    def aggregate(self, node: Any) -> _Operand:
        slot = f"\x00a{len(self.aggregates)}"
        self.aggregates.append((slot, _compile_aggregate(node, self.inner)))
        return _Prop(slot)


# --- value expressions --------------------------------------------------------------------------

_AGGREGATES: Final = (exp.Count, exp.Sum, exp.Avg, exp.Max, exp.Min)
_BY_FUNCTIONS: Final = {"LATEST_BY", "EARLIEST_BY"}


def _is_aggregate(node: Any) -> bool:
    if isinstance(node, _AGGREGATES):
        return True
    return isinstance(node, exp.Anonymous) and str(node.name).upper() in _BY_FUNCTIONS


def _operand(node: Any, scope: _Scope) -> _Operand:
    """Compile a node in value position."""
    while isinstance(node, exp.Paren):
        node = node.this
    found = scope.lookup(node)
    if found is not None:
        return found
    source, what = scope.source, scope.what
    if isinstance(node, exp.Column):
        if not isinstance(node.this, exp.Identifier):
            raise _unsupported(node, source, what, "*")
        if node.args.get("table") is not None:
            raise _unsupported(node, source, what, f"qualified column {node.sql()}")
        return scope.column(node, str(node.this.this))
    if isinstance(node, exp.Literal):
        return _Const(str(node.this) if node.is_string else _number(node, scope))
    if isinstance(node, exp.Boolean):
        return _Const(bool(node.this))
    if isinstance(node, exp.Null):
        return _Const(None)
    if _is_aggregate(node):
        return scope.aggregate(node)
    if isinstance(node, exp.Neg):
        inner = node.this
        while isinstance(inner, exp.Paren):
            inner = inner.this
        if isinstance(inner, exp.Literal) and not inner.is_string:
            return _Const(-_number(inner, scope))
        return _fold(_unary_number(_get(_operand(inner, scope)), operator.neg), node)
    if isinstance(node, _PREDICATES) and not isinstance(node, exp.SubqueryPredicate):
        raise _unsupported(node, source, what, "predicate used as a value")
    return _fold(_computed(node, scope), node)


def _fold(getter: _Get, node: Any) -> _Operand:
    """Evaluate a constant sub-expression once, at compile time."""
    if node.find(exp.Column) is None and not any(_is_aggregate(n) for n in node.walk()):
        return _Const(getter(_Row({})))
    return _Computed(getter)


def _number(node: Any, scope: _Scope) -> int | float:
    text = str(node.this)
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise _unsupported(node, scope.source, scope.what, f"numeric literal {text}") from None


def _value(node: Any, scope: _Scope) -> _Get:
    return _get(_operand(node, scope))


def _truth(node: Any, scope: _Scope) -> _Pred:
    """A node in boolean position inside a value (CASE WHEN, IF): a predicate."""
    return _predicate(node, scope)


def _computed(node: Any, scope: _Scope) -> _Get:
    """Compile a non-leaf value node."""
    source, what = scope.source, scope.what
    for cls, symbol in _ARITHMETIC.items():
        if isinstance(node, cls):
            return _arithmetic(node, symbol, scope)
    if isinstance(node, exp.Case):
        return _case(node, scope)
    if isinstance(node, exp.If):
        condition = _truth(node.this, scope)
        then = _value(node.args["true"], scope)
        otherwise = _value(node.args["false"], scope) if node.args.get("false") else None
        return lambda row: (
            then(row) if condition(row) is True else otherwise(row) if otherwise else None
        )
    if isinstance(node, exp.Coalesce):
        getters = [_value(node.this, scope), *(_value(e, scope) for e in node.expressions)]

        def coalesce(row: Any) -> object:
            for getter in getters:
                found = getter(row)
                if _kind(found) is not None:
                    return found
            return None

        return coalesce
    if isinstance(node, exp.Nullif):
        left, right = _value(node.this, scope), _value(node.expression, scope)

        def nullif(row: Any) -> object:
            found = left(row)
            return None if _compare(found, right(row), operator.eq, False) is True else found

        return nullif
    if isinstance(node, exp.Greatest | exp.Least):
        getters = [_value(node.this, scope), *(_value(e, scope) for e in node.expressions)]
        pick = max if isinstance(node, exp.Greatest) else min
        return lambda row: _extreme([g(row) for g in getters], pick)
    if isinstance(node, exp.Lower | exp.Upper):
        inner = _value(node.this, scope)
        method = str.lower if isinstance(node, exp.Lower) else str.upper
        return lambda row: _text_map(inner(row), method)
    if isinstance(node, exp.Abs):
        return _unary_number(_value(node.this, scope), abs)
    if isinstance(node, exp.Floor | exp.Ceil):
        if node.args.get("decimals") is not None:
            raise _unsupported(node, source, what, f"{node.key.upper()} with a precision")
        rounding = math.floor if isinstance(node, exp.Floor) else math.ceil
        return _unary_number(_value(node.this, scope), lambda n: int(rounding(n)))
    if isinstance(node, exp.Round):
        return _round(node, scope)
    if isinstance(node, exp.Cast | exp.TryCast):
        return _cast(node, scope)
    if isinstance(node, exp.DateTrunc | exp.TimestampTrunc):
        return _date_trunc(node, scope)
    if isinstance(node, exp.Anonymous):
        name = str(node.name).upper()
        if name == "HOUR_FLOOR_TIMESTAMP_MILLIS":
            if len(node.expressions) != 1:
                raise _unsupported(node, source, what, "hour_floor_timestamp_millis arity")
            inner = _value(node.expressions[0], scope)
            return _unary_number(inner, lambda n: int(n // 3_600_000) * 3_600_000)
    raise _unsupported(node, source, what)


def _text_map(value: object, method: Callable[[str], str]) -> object:
    return method(value) if isinstance(value, str) else None


def _extreme(values: list[object], pick: Callable[..., Any]) -> object:
    """GREATEST/LEAST: NULL if any argument is NULL (as in standard SQL); one kind only."""
    kinds = {_kind(v) for v in values}
    if None in kinds or len(kinds) != 1:
        return None
    if kinds == {_NUM}:
        return pick(_as_number(v) for v in values)
    return pick(values)


def _unary_number(inner: _Get, function: Callable[[Any], Any]) -> _Get:
    def apply(row: Any) -> object:
        number = _as_number(inner(row))
        return None if number is None else function(number)

    return apply


def _arithmetic(node: Any, symbol: str, scope: _Scope) -> _Get:
    if symbol == "||":
        left, right = _value(node.this, scope), _value(node.expression, scope)

        def concat(row: Any) -> object:
            a, b = _text(left(row)), _text(right(row))
            return None if a is None or b is None else a + b

        return concat
    functions: dict[str, Callable[[Any, Any], object]] = {
        "+": operator.add,
        "-": operator.sub,
        "*": operator.mul,
        "/": _divide,
        "%": _modulo,
    }
    function = functions.get(symbol)
    if function is None:
        raise _unsupported(node, scope.source, scope.what)
    left, right = _value(node.this, scope), _value(node.expression, scope)

    def apply(row: Any) -> object:
        a = _as_number(left(row))
        if a is None:
            return None
        b = _as_number(right(row))
        if b is None:
            return None
        return function(a, b)

    return apply


def _divide(a: int | Decimal, b: int | Decimal) -> Decimal | None:
    if b == 0:
        return None
    return Decimal(a) / Decimal(b)


def _modulo(a: int | Decimal, b: int | Decimal) -> int | Decimal | None:
    if b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return int(math.fmod(a, b)) if abs(a) < 2**53 and abs(b) < 2**53 else a - b * int(a / b)
    return Decimal(a) % Decimal(b)


def _case(node: Any, scope: _Scope) -> _Get:
    default = _value(node.args["default"], scope) if node.args.get("default") else None
    subject = node.args.get("this")
    branches: list[tuple[_Pred, _Get]] = []
    if subject is not None:
        subject_value = _value(subject, scope)
        for branch in node.args["ifs"]:
            match = _value(branch.this, scope)
            branches.append((_equals(subject_value, match), _value(branch.args["true"], scope)))
    else:
        for branch in node.args["ifs"]:
            branches.append((_truth(branch.this, scope), _value(branch.args["true"], scope)))

    def case(row: Any) -> object:
        for condition, result in branches:
            if condition(row) is True:
                return result(row)
        return None if default is None else default(row)

    return case


def _equals(left: _Get, right: _Get) -> _Pred:
    return lambda row: _compare(left(row), right(row), operator.eq, False)


def _round(node: Any, scope: _Scope) -> _Get:
    inner = _value(node.this, scope)
    places_node = node.args.get("decimals")
    places = 0
    if places_node is not None:
        places_operand = _operand(places_node, scope)
        if not isinstance(places_operand, _Const) or type(places_operand.value) is not int:
            raise _unsupported(node, scope.source, scope.what, "ROUND with a non-integer precision")
        places = places_operand.value
    quantum = Decimal(1).scaleb(-places)

    def round_half_up(row: Any) -> object:
        number = _as_number(inner(row))
        if number is None:
            return None
        rounded = Decimal(number).quantize(quantum, rounding=ROUND_HALF_UP)
        return int(rounded) if places <= 0 else rounded

    return round_half_up


_INTEGER_TYPES: Final = {"INT", "BIGINT", "SMALLINT", "TINYINT", "INTEGER", "UBIGINT", "UINT"}
_DECIMAL_TYPES: Final = {"DOUBLE", "FLOAT", "DECIMAL", "NUMERIC", "REAL", "BIGDECIMAL"}
_TEXT_TYPES: Final = {"VARCHAR", "TEXT", "CHAR", "NVARCHAR", "NCHAR", "STRING"}
_TIME_TYPES: Final = {"TIMESTAMP", "TIMESTAMPTZ", "DATETIME", "DATE", "TIMESTAMPLTZ"}


def _cast(node: Any, scope: _Scope) -> _Get:
    target = str(node.to.this.name).upper() if hasattr(node.to.this, "name") else ""
    inner = _value(node.this, scope)
    if target in _INTEGER_TYPES:
        return lambda row: _to_integer(inner(row))
    if target in _DECIMAL_TYPES:
        return lambda row: _to_decimal(inner(row))
    if target in _TEXT_TYPES:
        return lambda row: _text(inner(row))
    if target == "BOOLEAN":
        return lambda row: _to_boolean(inner(row))
    if target in _TIME_TYPES:
        return lambda row: _to_time(inner(row))
    raise _unsupported(node, scope.source, scope.what, f"cast to {node.to.sql()}")


def _to_decimal(value: object) -> Decimal | int | None:
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            return None
        return parsed if parsed.is_finite() else None
    return _as_number(value)


def _to_integer(value: object) -> int | None:
    number = _to_decimal(value)
    return None if number is None else int(number)


def _to_boolean(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        return True if lowered == "true" else False if lowered == "false" else None
    number = _as_number(value)
    return None if number is None else number != 0


def _to_time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace(" ", "T")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return None


def _text(value: object) -> str | None:
    """CAST(x AS VARCHAR): how a value prints."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    if isinstance(value, datetime):
        return value.isoformat()
    return None


_TRUNC_UNITS: Final = {"MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "YEAR"}


def _date_trunc(node: Any, scope: _Scope) -> _Get:
    unit_node = node.args.get("unit")
    unit = str(unit_node.name if hasattr(unit_node, "name") else unit_node).upper()
    if unit not in _TRUNC_UNITS:
        raise _unsupported(node, scope.source, scope.what, f"date_trunc unit {unit.lower()!r}")
    inner = _value(node.this, scope)
    width = {"MINUTE": 60, "HOUR": 3600, "DAY": 86_400}.get(unit)
    if width is not None:
        # Fixed-width UTC buckets: one float op per event, one datetime per distinct bucket.
        buckets: dict[int, datetime] = {}

        def bucket(row: Any) -> object:
            moment = inner(row)
            if not isinstance(moment, datetime):
                return None
            seconds = math.floor(moment.timestamp())
            start = seconds - seconds % width
            found = buckets.get(start)
            if found is None:
                if len(buckets) > 100_000:
                    buckets.clear()
                found = buckets[start] = datetime.fromtimestamp(start, UTC)
            return found

        return bucket

    def truncate(row: Any) -> object:
        moment = inner(row)
        if not isinstance(moment, datetime):
            return None
        return _truncate(moment, unit)

    return truncate


def _truncate(moment: datetime, unit: str) -> datetime:
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    if unit == "MINUTE":
        return moment.replace(second=0, microsecond=0)
    if unit == "HOUR":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "DAY":
        return day
    if unit == "WEEK":
        return day - timedelta(days=day.weekday())
    if unit == "MONTH":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


# --- comparisons --------------------------------------------------------------------------------

# (operator, result when kinds differ, operator with operands swapped)
_COMPARISONS: Final[dict[type[Any], tuple[_Op, bool | None, _Op]]] = {
    exp.EQ: (operator.eq, False, operator.eq),
    exp.NEQ: (operator.ne, True, operator.ne),
    exp.LT: (operator.lt, None, operator.gt),
    exp.LTE: (operator.le, None, operator.ge),
    exp.GT: (operator.gt, None, operator.lt),
    exp.GTE: (operator.ge, None, operator.le),
}


def _compare(left: object, right: object, op: _Op, mismatch: bool | None) -> bool | None:
    left_kind = _kind(left)
    right_kind = _kind(right)
    if left_kind is None or right_kind is None:
        return None
    if left_kind != right_kind:
        return mismatch
    left, right = _same_kind_pair(left, right)
    return op(left, right)


def _comparison(left: _Operand, right: _Operand, node_type: type[Any]) -> _Pred:
    op, mismatch, swapped = _COMPARISONS[node_type]
    if isinstance(left, _Const) and not isinstance(right, _Const):
        left, right, op = right, left, swapped
    if isinstance(right, _Const):
        if isinstance(left, _Const):
            return _constant(_compare(left.value, right.value, op, mismatch))
        if isinstance(left, _Prop) and type(right.value) is not Decimal:
            return _prop_vs_const(left.name, op, right.value, mismatch)
        if type(right.value) is str:
            return _text_vs_const(_get(left), op, right.value, mismatch)
    get_left, get_right = _get(left), _get(right)
    return lambda row: _compare(get_left(row), get_right(row), op, mismatch)


def _prop_vs_const(name: str, op: _Op, value: object, mismatch: bool | None) -> _Pred:
    """The hot path (``amount > 100``): the literal's kind is settled at compile time."""
    const_kind = _kind(value)
    if const_kind is None:
        return _constant(None)
    kinds = _KINDS

    def compare(row: Any) -> bool | None:
        found = row.properties.get(name)
        if found is None:
            return None
        kind = kinds.get(type(found)) or _kind(found)
        if kind == const_kind:
            return op(found, value)
        return None if kind is None else mismatch

    return compare


def _text_vs_const(getter: _Get, op: _Op, value: str, mismatch: bool | None) -> _Pred:
    """A computed value against a string literal (``event_name = 'api_call'``)."""

    def compare(row: Any) -> bool | None:
        found = getter(row)
        if type(found) is str:
            return op(found, value)
        kind = _kind(found)
        return None if kind is None else op(found, value) if kind == _STR else mismatch

    return compare


def _in(needle: _Operand, haystack: Sequence[_Operand]) -> _Pred:
    """``x IN (...)``: TRUE on an equal value, else NULL if x or any item is NULL, else FALSE."""
    constants = [item.value for item in haystack if isinstance(item, _Const)]
    if isinstance(needle, _Prop) and len(constants) == len(haystack):
        return _prop_in_constants(needle.name, constants)
    get_needle = _get(needle)
    getters = tuple(_get(item) for item in haystack)

    def contains(row: Any) -> bool | None:
        value = get_needle(row)
        if _kind(value) is None:
            return None
        unknown = False
        for get_item in getters:
            equal = _compare(value, get_item(row), operator.eq, False)
            if equal:
                return True
            if equal is None:
                unknown = True
        return None if unknown else False

    return contains


def _prop_in_constants(name: str, values: Sequence[object]) -> _Pred:
    """A literal list becomes one set per kind, so ``1`` never matches ``TRUE`` (``1 == True``)."""
    by_kind: dict[int, set[object]] = {}
    has_null = False
    for value in values:
        kind = _kind(value)
        if value is None or kind is None:
            has_null = True
        else:
            by_kind.setdefault(kind, set()).add(value)
    sets = {kind: frozenset(members) for kind, members in by_kind.items()}
    miss: bool | None = None if has_null else False
    kinds = _KINDS

    def contains(row: Any) -> bool | None:
        found = row.properties.get(name)
        if found is None:
            return None
        kind = kinds.get(type(found)) or _kind(found)
        if kind is None:
            return None
        members = sets.get(kind)
        if members is not None and found in members:
            return True
        return miss

    return contains


def _is_null(operand: _Operand) -> _Pred:
    if isinstance(operand, _Const):
        return _constant(_kind(operand.value) is None)
    getter = _get(operand)
    return lambda row: _kind(getter(row)) is None


# --- LIKE ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Segment:
    """A ``%``-free piece of a LIKE pattern: fixed length, literal runs at fixed offsets."""

    length: int
    runs: tuple[tuple[int, str], ...]

    @classmethod
    def parse(cls, part: str) -> _Segment:
        runs = [(m.start(), m.group()) for m in re.finditer(r"[^_]+", part)]
        return cls(len(part), tuple(runs))

    def at(self, text: str, position: int) -> bool:
        if position + self.length > len(text):
            return False
        return all(text.startswith(run, position + offset) for offset, run in self.runs)

    def find(self, text: str, position: int) -> int:
        """The leftmost start >= position where the segment matches, or -1.

        Anchors on the segment's first literal run with ``str.find``, so leading or embedded
        ``_`` runs cost nothing per text position (``%`` + 5000 ``_`` + ``b%`` is one scan).
        """
        last_start = len(text) - self.length
        if not self.runs:
            return position if position <= last_start else -1
        offset, first = self.runs[0]
        probe = position + offset
        while True:
            found = text.find(first, probe)
            if found < 0:
                return -1
            start = found - offset
            if start > last_start:
                return -1
            if self.at(text, start):
                return start
            probe = found + 1


@lru_cache(maxsize=256)
def _like_matcher(pattern: str) -> Callable[[str], bool]:
    """Match a LIKE pattern without regex backtracking.

    The pattern splits on ``%`` into fixed-length segments; the first must sit at the start, the
    last at the end, and each middle one is taken at its leftmost position (always optimal, since
    ``%`` absorbs whatever lies between).
    """
    parts = pattern.split("%")
    segments = [_Segment.parse(part) for part in parts]
    if len(segments) == 1:
        only = segments[0]
        return lambda text: len(text) == only.length and only.at(text, 0)
    first, *middle, last = segments
    middle = [segment for segment in middle if segment.length]

    def match(text: str) -> bool:
        if not first.at(text, 0):
            return False
        position = first.length
        for segment in middle:
            start = segment.find(text, position)
            if start < 0:
                return False
            position = start + segment.length
        tail_start = len(text) - last.length
        return tail_start >= position and last.at(text, tail_start)

    return match


def _like_value(text: object, pattern: object) -> bool | None:
    """LIKE on runtime values: NULL in, NULL out; a non-string on either side never matches."""
    if _kind(text) is None or _kind(pattern) is None:
        return None
    if not isinstance(text, str) or not isinstance(pattern, str):
        return False
    return _like_matcher(pattern)(text)


def _like(node: Any, text: _Operand, pattern: _Operand, scope: _Scope) -> _Pred:
    if isinstance(pattern, _Const) and not (
        pattern.value is None or isinstance(pattern.value, str)
    ):
        raise _unsupported(node, scope.source, scope.what, "LIKE with a non-string pattern")
    if isinstance(pattern, _Const) and isinstance(pattern.value, str):
        pattern_text = pattern.value
        match = _like_matcher(pattern_text)
        if isinstance(text, _Const):
            return _constant(_like_value(text.value, pattern_text))
        get_text = _get(text)

        def like(row: Any) -> bool | None:
            found = get_text(row)
            if type(found) is str:
                return match(found)
            return _like_value(found, pattern_text)

        return like
    get_text, get_pattern = _get(text), _get(pattern)
    return lambda row: _like_value(get_text(row), get_pattern(row))


# --- boolean structure --------------------------------------------------------------------------


def _flatten(node: Any, cls: type[Any]) -> list[Any]:
    """``a AND (b AND c)`` as ``[a, b, c]``, iteratively (sqlglot nests one level per clause)."""
    parts: list[Any] = []
    pending = [node]
    while pending:
        current = pending.pop()
        while isinstance(current, exp.Paren):
            current = current.this
        if isinstance(current, cls):
            pending.append(current.expression)
            pending.append(current.this)
        else:
            parts.append(current)
    return parts


def _and(parts: Sequence[_Pred]) -> _Pred:
    def conjunction(row: Any) -> bool | None:
        unknown = False
        for part in parts:
            result = part(row)
            if result is False:
                return False
            if result is None:
                unknown = True
        return None if unknown else True

    return conjunction


def _or(parts: Sequence[_Pred]) -> _Pred:
    def disjunction(row: Any) -> bool | None:
        unknown = False
        for part in parts:
            result = part(row)
            if result is True:
                return True
            if result is None:
                unknown = True
        return None if unknown else False

    return disjunction


def _not(inner: _Pred) -> _Pred:
    def negation(row: Any) -> bool | None:
        result = inner(row)
        return None if result is None else not result

    return negation


def _bare(operand: _Operand) -> _Pred:
    """A value in boolean position: its value if boolean, else NULL."""
    if isinstance(operand, _Const):
        value = operand.value
        return _constant(value if isinstance(value, bool) else None)
    if isinstance(operand, _Prop):
        name = operand.name

        def truth(row: Any) -> bool | None:
            found = row.properties.get(name)
            return found if found is True or found is False else None

        return truth
    getter = operand.get

    def computed_truth(row: Any) -> bool | None:
        found = getter(row)
        return found if found is True or found is False else None

    return computed_truth


def _predicate(node: Any, scope: _Scope) -> _Pred:
    """Compile a node in boolean position."""
    while isinstance(node, exp.Paren):
        node = node.this
    source, what = scope.source, scope.what
    if isinstance(node, exp.And):
        return _and(tuple(_predicate(part, scope) for part in _flatten(node, exp.And)))
    if isinstance(node, exp.Or):
        return _or(tuple(_predicate(part, scope) for part in _flatten(node, exp.Or)))
    if isinstance(node, exp.Not):
        return _not(_predicate(node.this, scope))
    node_type = type(node)
    if node_type in _COMPARISONS:
        left = _operand(node.this, scope)
        return _comparison(left, _operand(node.expression, scope), node_type)
    if node_type is exp.In:
        return _compile_in(node, scope)
    if node_type is exp.Between:
        if node.args.get("symmetric"):
            raise _unsupported(node, source, what, "BETWEEN SYMMETRIC")
        value = _operand(node.this, scope)
        low = _operand(node.args["low"], scope)
        high = _operand(node.args["high"], scope)
        return _and((_comparison(value, low, exp.GTE), _comparison(value, high, exp.LTE)))
    if node_type is exp.Is:
        if not isinstance(node.expression, exp.Null):
            raise _unsupported(
                node, source, what, f"IS {node.expression.sql()} (only IS [NOT] NULL)"
            )
        return _is_null(_operand(node.this, scope))
    if node_type is exp.Like:
        like = _like(node, _operand(node.this, scope), _operand(node.expression, scope), scope)
        return _not(like) if node.args.get("negate") else like
    if isinstance(node, exp.Literal) or (
        isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal)
    ):
        raise _unsupported(node, source, what, f"literal {node.sql()} is not a predicate")
    if isinstance(node, exp.Query | exp.Subquery | exp.SubqueryPredicate):
        raise _unsupported(node, source, what, "subquery")
    if isinstance(node, _PREDICATES):
        raise _unsupported(node, source, what)
    if isinstance(node, tuple(_ARITHMETIC)):
        symbol = _ARITHMETIC[type(node)]
        operand = _operand(node, scope)  # refuses unsupported operators first
        del operand
        raise _unsupported(node, source, what, f"arithmetic operator {symbol} is not a predicate")
    return _bare(_operand(node, scope))


def _compile_in(node: Any, scope: _Scope) -> _Pred:
    for key, construct in (("query", "subquery"), ("unnest", "IN UNNEST"), ("field", "IN field")):
        if node.args.get(key) is not None:
            raise _unsupported(node, scope.source, scope.what, construct)
    items = node.expressions
    if not items:
        raise _unsupported(node, scope.source, scope.what, "empty IN list")
    return _in(_operand(node.this, scope), [_operand(item, scope) for item in items])


# --- aggregates ---------------------------------------------------------------------------------


def _compile_aggregate(node: Any, scope: _Scope) -> Callable[[Sequence[Any]], object]:
    """An aggregate over the rows of one group, its argument compiled in the input scope."""
    source, what = scope.source, scope.what
    for inner in node.walk():
        if inner is not node and _is_aggregate(inner):
            raise _unsupported(inner, source, what, "aggregate inside an aggregate")
    if isinstance(node, exp.Anonymous):
        name = str(node.name).upper()
        if len(node.expressions) != 2:
            raise _unsupported(node, source, what, f"{name} takes (value, time)")
        value = _value(node.expressions[0], scope)
        key = _value(node.expressions[1], scope)
        return _by(value, key, latest=name == "LATEST_BY")
    argument = node.this
    distinct = False
    if isinstance(argument, exp.Distinct):
        if len(argument.expressions) != 1:
            raise _unsupported(node, source, what, "DISTINCT over several values")
        distinct = True
        argument = argument.expressions[0]
    if isinstance(node, exp.Count):
        if isinstance(argument, exp.Star):
            return len
        if argument is None:
            raise _unsupported(node, source, what, "COUNT() without an argument")
        getter = _value(argument, scope)
        if distinct:
            return _count_distinct(getter)
        return lambda rows: sum(1 for r in rows if _kind(getter(r)) is not None)
    if isinstance(argument, exp.Star) or argument is None:
        raise _unsupported(node, source, what, f"{node.key.upper()}(*)")
    getter = _value(argument, scope)
    if isinstance(node, exp.Sum | exp.Avg):
        average = isinstance(node, exp.Avg)

        def total(rows: Sequence[Any]) -> object:
            numbers = [n for r in rows if (n := _as_number(getter(r))) is not None]
            if distinct:
                numbers = list(dict.fromkeys(numbers))
            if not numbers:
                return None
            summed = sum(numbers)
            return Decimal(summed) / len(numbers) if average else summed

        return total
    pick = max if isinstance(node, exp.Max) else min
    return lambda rows: _extreme_of([getter(r) for r in rows], pick)


def _count_distinct(getter: _Get) -> Callable[[Sequence[Any]], object]:
    """COUNT(DISTINCT x): strings (the common case) go straight into a set; other values by
    kind, so ``1`` and ``TRUE`` stay apart while ``1`` and ``1.0`` are one value."""

    def count(rows: Sequence[Any]) -> int:
        texts: set[str] = set()
        others: set[object] = set()
        for row in rows:
            value = getter(row)
            if type(value) is str:
                texts.add(value)
            elif value is not None and _kind(value) is not None:
                others.add(_distinct_key(value))
        return len(texts) + len(others)

    return count


def _distinct_key(value: object) -> object:
    kind = _kind(value)
    if kind == _NUM:
        return (kind, _as_number(value))
    return (kind, value)


_KIND_PREFERENCE: Final = (_NUM, _TIME, _STR, _BOOL)


def _extreme_of(values: Sequence[object], pick: Callable[..., Any]) -> object:
    """MAX/MIN over one kind; with several kinds present numbers win, then times, then text."""
    by_kind: dict[int, list[object]] = {}
    kinds = _KINDS
    for value in values:
        kind = kinds.get(type(value)) or _kind(value)
        if kind is not None:
            members = by_kind.get(kind)
            if members is None:
                by_kind[kind] = [value]
            else:
                members.append(value)
    for kind in _KIND_PREFERENCE:
        members = by_kind.get(kind)
        if members:
            # int, float and Decimal order exactly against each other in Python
            chosen = pick(members)
            return _as_number(chosen) if kind == _NUM else chosen
    return None


def _by(value: _Get, key: _Get, latest: bool) -> Callable[[Sequence[Any]], object]:
    def pick(rows: Sequence[Any]) -> object:
        best: object = None
        best_key: object = None
        for row in rows:
            candidate = key(row)
            if _kind(candidate) is None:
                continue
            if best_key is None:
                better = True
            else:
                newer = _compare(candidate, best_key, operator.ge if latest else operator.lt, None)
                better = newer is True
            if better:
                best_key, best = candidate, value(row)
        return best

    return pick


# --- queries ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Query:
    """A compiled SELECT: ``run(events)`` returns its output rows (``_Row`` of named columns)."""

    columns: list[str]
    source_query: _Query | None
    where: _Pred | None
    keys: list[_Get]
    aggregates: list[tuple[str, Callable[[Sequence[Any]], object]]]
    grouped: bool
    outputs: list[_Get]
    having: _Pred | None
    order: list[tuple[_Get, bool, bool]]
    limit: int | None
    offset: int
    distinct: bool
    property_names: set[str]
    single: bool = field(init=False, default=False)
    """Whether :meth:`single_aggregate_row` holds (so ``run`` takes ``_run_single``)."""

    def __post_init__(self) -> None:
        self.single = self.single_aggregate_row()

    def run(self, events: Iterable[Any]) -> list[_Row]:
        if self.single:
            return self._run_single(events)
        rows: Iterable[Any] = events if self.source_query is None else self.source_query.run(events)
        where = self.where
        if where is not None:
            rows = [row for row in rows if where(row) is True]
        elif not isinstance(rows, list):
            rows = list(rows)
        inputs: Sequence[Any] = self._groups(rows) if self.grouped else rows
        results: list[tuple[_Row, tuple[object, ...]]] = []
        for item in inputs:
            if self.having is not None and self.having(item) is not True:
                continue
            values = {
                name: output(item) for name, output in zip(self.columns, self.outputs, strict=True)
            }
            sort_key = tuple(getter(item) for getter, _desc, _nulls in self.order)
            results.append((_Row(values), sort_key))
        if self.distinct:
            seen: dict[tuple[object, ...], tuple[_Row, tuple[object, ...]]] = {}
            for result in results:
                signature = tuple(_distinct_key(v) for v in result[0].properties.values())
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

    def _run_single(self, events: Iterable[Any]) -> list[_Row]:
        """``run`` for a :meth:`single_aggregate_row` query: what the general path computes for
        it (one group of every matching event, no sorting or slicing), without its steps."""
        where = self.where
        rows = list(events) if where is None else [row for row in events if where(row) is True]
        group = _Row({slot: aggregate(rows) for slot, aggregate in self.aggregates})
        values = {
            name: output(group) for name, output in zip(self.columns, self.outputs, strict=True)
        }
        return [_Row(values)]

    def _groups(self, rows: Sequence[Any]) -> list[_Row]:
        keys = self.keys
        groups: dict[tuple[object, ...], tuple[tuple[object, ...], list[Any]]] = {}
        if len(keys) == 1:
            (key,) = keys
            single: dict[object, tuple[tuple[object, ...], list[Any]]] = {}
            for row in rows:
                value = key(row)
                # str and datetime keys cannot collide across kinds (1 == 1.0 == True can)
                signature = value if type(value) in _PLAIN_KEYS else _distinct_key(value)
                entry = single.get(signature)
                if entry is None:
                    single[signature] = ((value,), [row])
                else:
                    entry[1].append(row)
            groups = single  # type: ignore[assignment]
        elif keys:
            for row in rows:
                values = tuple(key(row) for key in keys)
                signature = tuple(_distinct_key(v) for v in values)
                entry = groups.get(signature)
                if entry is None:
                    groups[signature] = (values, [row])
                else:
                    entry[1].append(row)
        else:
            groups[()] = ((), list(rows))
        found: list[_Row] = []
        for values, members in groups.values():
            slots: dict[str, object] = {f"\x00k{i}": v for i, v in enumerate(values)}
            for slot, aggregate in self.aggregates:
                slots[slot] = aggregate(members)
            found.append(_Row(slots))
        return found


_PLAIN_KEYS: Final = frozenset((str, datetime))


def _sorter(
    index: int, nulls_first: bool, descending: bool
) -> Callable[[tuple[_Row, tuple[object, ...]]], tuple[int, int, object]]:
    return lambda result: _sort_key(result[1][index], nulls_first, descending)


def _sort_key(value: object, nulls_first: bool, descending: bool) -> tuple[int, int, object]:
    """Sort NULLs by the clause's rule; values of different kinds sort by kind."""
    kind = _kind(value)
    if kind is None:
        # reverse=True flips the whole tuple, so pre-flip the NULL rank for descending sorts.
        first = 0 if nulls_first != descending else 2
        return (first, 0, 0)
    if kind == _NUM:
        value = _as_number(value)
    return (1, kind, value)


def _compile_select(node: Any, source: str, what: str, top: bool) -> _Query:
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
            raise _unsupported(node, source, what, key.rstrip("_").upper().replace("JOINS", "JOIN"))
    for window in node.find_all(exp.Window):
        raise _unsupported(window, source, what)
    from_ = node.args.get("from_")
    if from_ is None:
        raise _invalid(source, what, "a metric query needs FROM events")
    table = from_.this
    inner_query: _Query | None = None
    if isinstance(table, exp.Table):
        if table.args.get("db") is not None or str(table.name).lower() != "events":
            raise _unsupported(table, source, what, f"table {table.sql()} (only `events` exists)")
        scope: _Scope = _EventScope(what, source)
    elif isinstance(table, exp.Subquery) and isinstance(table.this, exp.Select):
        inner_query = _compile_select(table.this, source, what, top=False)
        scope = _ColumnsScope(what, source, inner_query.columns)
    else:
        raise _unsupported(table, source, what, "FROM source (only `events` or a subquery)")
    items = list(node.expressions)
    columns: list[str] = []
    bodies: list[Any] = []
    for index, item in enumerate(items):
        if isinstance(item, exp.Star) or (
            isinstance(item, exp.Column) and isinstance(item.this, exp.Star)
        ):
            raise _unsupported(item, source, what, "SELECT *")
        if isinstance(item, exp.Alias):
            name, body = str(item.alias), item.this
        elif isinstance(item, exp.Column) and isinstance(item.this, exp.Identifier):
            name, body = str(item.this.this), item
        else:
            name, body = f"_col{index}", item
        if name in columns:
            raise _invalid(source, what, f"two output columns are named {name!r}")
        columns.append(name)
        bodies.append(body)
    if top and len(bodies) != 1:
        raise _invalid(source, what, f"a metric selects exactly one value, not {len(bodies)}")
    where = None
    if node.args.get("where") is not None:
        where = _predicate(node.args["where"].this, scope)
    group = node.args.get("group")
    key_nodes: list[Any] = []
    if group is not None:
        for key in group.expressions:
            key_nodes.append(_resolve_reference(key, columns, bodies, scope))
    if top and key_nodes:
        raise _unsupported(
            group,
            source,
            what,
            "GROUP BY in the outer query (a metric is one value; group in a subquery)",
        )
    having = node.args.get("having")
    order = node.args.get("order")
    aggregating = (
        bool(key_nodes)
        or any(_is_aggregate(n) for body in bodies for n in body.walk())
        or (having is not None)
    )
    single_row_source = inner_query is not None and inner_query.grouped and not inner_query.keys
    key_getters = [_value(key, scope) for key in key_nodes]
    output_scope: _Scope = _GroupScope(scope, key_nodes) if aggregating else scope
    outputs = [_value(body, output_scope) for body in bodies]
    if top and not aggregating and not single_row_source:
        raise _invalid(
            source, what, "a metric must aggregate its events (COUNT, SUM, MAX, ...) into one value"
        )
    having_pred = _predicate(having.this, output_scope) if having is not None else None
    order_terms: list[tuple[_Get, bool, bool]] = []
    if order is not None:
        for ordered in order.expressions:
            target = _resolve_reference(ordered.this, columns, bodies, output_scope)
            order_terms.append(
                (
                    _value(target, output_scope),
                    bool(ordered.args.get("desc")),
                    bool(ordered.args.get("nulls_first")),
                )
            )
    limit = _count_clause(node.args.get("limit"), source, what, "LIMIT")
    offset = _count_clause(node.args.get("offset"), source, what, "OFFSET") or 0
    aggregates = output_scope.aggregates if isinstance(output_scope, _GroupScope) else []
    names = set(scope.used) if isinstance(scope, _EventScope) else set()
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


def _resolve_reference(node: Any, columns: list[str], bodies: list[Any], scope: _Scope) -> Any:
    """GROUP BY / ORDER BY items: an ordinal or a SELECT alias means that select expression."""
    if isinstance(node, exp.Literal) and not node.is_string:
        position = int(str(node.this)) if str(node.this).isdigit() else 0
        if not 1 <= position <= len(bodies):
            raise _invalid(
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
        raise _unsupported(clause, source, what, f"{name} with a non-integer count")
    return int(str(value.this))


def _collect_properties(query: _Query, names: set[str]) -> None:
    names.update(query.property_names)
    if query.source_query is not None:
        _collect_properties(query.source_query, names)
