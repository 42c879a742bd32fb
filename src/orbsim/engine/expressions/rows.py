"""Row expressions: a value or a predicate over one row, compiled into nested closures.

A row is an event (built-in columns, then properties) or a subquery's output row; a scope says
what a name means where. Evaluating a row never walks the sqlglot tree.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Final, Protocol

from sqlglot import exp

from orbsim.engine.expressions.kinds import (
    KINDS,
    NUM,
    STR,
    Comparator,
    as_number,
    compare_values,
    divide,
    kind_of,
    modulo,
    to_boolean,
    to_decimal,
    to_integer,
    to_text,
    to_time,
    truncate_time,
)
from orbsim.engine.expressions.syntax import (
    ARITHMETIC_OPERATORS,
    ExpressionSyntaxError,
    function_name,
    unsupported,
)

Scalar = str | int | float | bool


class Row(Protocol):
    """What an expression reads from an event (``StoredEvent`` satisfies it)."""

    @property
    def properties(self) -> Mapping[str, Any]: ...
    @property
    def event_name(self) -> str | None: ...
    @property
    def timestamp(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class PlainRow:
    """A row with only properties (filters tested on bare properties, subquery output rows)."""

    properties: Mapping[str, Any]
    event_name: str | None = None
    timestamp: datetime | None = None


Getter = Callable[[Any], object]
Predicate = Callable[[Any], bool | None]


@dataclass(frozen=True, slots=True)
class _Const:
    value: object


@dataclass(frozen=True, slots=True)
class Prop:
    """A key of ``row.properties`` (an event property, or a subquery's output column)."""

    name: str


@dataclass(frozen=True, slots=True)
class _Computed:
    get: Getter


Operand = _Const | Prop | _Computed

_PREDICATES: Final = (exp.Predicate, exp.And, exp.Or, exp.Not)


def _get(operand: Operand) -> Getter:
    if isinstance(operand, _Const):
        value = operand.value
        return lambda _row: value
    if isinstance(operand, Prop):
        name = operand.name
        return lambda row: row.properties.get(name)
    return operand.get


def _constant(result: bool | None) -> Predicate:
    return lambda _row: result


# --- scopes: what a name means where ----------------------------------------------------------

_BUILTINS: Final[dict[str, Getter]] = {
    "event_name": lambda row: row.event_name,
    "timestamp": lambda row: row.timestamp,
    "timestamp_millis": lambda row: None if row.timestamp is None else _millis(row.timestamp),
}


def _millis(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class Scope:
    """Resolves names and aggregates for one clause; the base refuses aggregates."""

    def __init__(self, what: str, source: str) -> None:
        self.what = what
        self.source = source
        self.used: set[str] = set()

    def lookup(self, node: Any) -> Operand | None:
        """A precomputed value for a whole node (group keys), or None to compile it."""
        return None

    def column(self, node: Any, name: str) -> Operand:
        raise NotImplementedError

    def aggregate(self, node: Any) -> Operand:
        raise unsupported(
            node,
            self.source,
            self.what,
            f"aggregate function {function_name(node, self.source)} outside a metric's SELECT",
        )


class EventScope(Scope):
    """Rows are events: built-in columns, then properties."""

    def column(self, node: Any, name: str) -> Operand:
        builtin = _BUILTINS.get(name)
        if builtin is not None and not node.this.quoted:
            return _Computed(builtin)
        self.used.add(name)
        return Prop(name)


class ColumnsScope(Scope):
    """Rows come from a subquery: only its output columns exist."""

    def __init__(self, what: str, source: str, columns: Sequence[str]) -> None:
        super().__init__(what, source)
        self.columns = columns

    def column(self, node: Any, name: str) -> Operand:
        if name in self.columns:
            return Prop(name)
        raise ExpressionSyntaxError(
            f"invalid {self.what}: the subquery has no column {name!r}"
            f" (it has {', '.join(self.columns) or 'none'})"
        )


# --- value expressions --------------------------------------------------------------------------

_AGGREGATES: Final = (exp.Count, exp.Sum, exp.Avg, exp.Max, exp.Min)
_BY_FUNCTIONS: Final = {"LATEST_BY", "EARLIEST_BY"}


def is_aggregate(node: Any) -> bool:
    if isinstance(node, _AGGREGATES):
        return True
    return isinstance(node, exp.Anonymous) and str(node.name).upper() in _BY_FUNCTIONS


def _operand(node: Any, scope: Scope) -> Operand:
    """Compile a node in value position."""
    while isinstance(node, exp.Paren):
        node = node.this
    found = scope.lookup(node)
    if found is not None:
        return found
    source, what = scope.source, scope.what
    if isinstance(node, exp.Column):
        if not isinstance(node.this, exp.Identifier):
            raise unsupported(node, source, what, "*")
        if node.args.get("table") is not None:
            raise unsupported(node, source, what, f"qualified column {node.sql()}")
        return scope.column(node, str(node.this.this))
    if isinstance(node, exp.Literal):
        return _Const(str(node.this) if node.is_string else _number(node, scope))
    if isinstance(node, exp.Boolean):
        return _Const(bool(node.this))
    if isinstance(node, exp.Null):
        return _Const(None)
    if is_aggregate(node):
        return scope.aggregate(node)
    if isinstance(node, exp.Neg):
        inner = node.this
        while isinstance(inner, exp.Paren):
            inner = inner.this
        if isinstance(inner, exp.Literal) and not inner.is_string:
            return _Const(-_number(inner, scope))
        return _fold(_unary_number(_get(_operand(inner, scope)), operator.neg), node)
    if isinstance(node, _PREDICATES) and not isinstance(node, exp.SubqueryPredicate):
        raise unsupported(node, source, what, "predicate used as a value")
    return _fold(_computed(node, scope), node)


def _fold(getter: Getter, node: Any) -> Operand:
    """Evaluate a constant sub-expression once, at compile time."""
    if node.find(exp.Column) is None and not any(is_aggregate(n) for n in node.walk()):
        return _Const(getter(PlainRow({})))
    return _Computed(getter)


def _number(node: Any, scope: Scope) -> int | float:
    text = str(node.this)
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise unsupported(node, scope.source, scope.what, f"numeric literal {text}") from None


def compile_value(node: Any, scope: Scope) -> Getter:
    return _get(_operand(node, scope))


def _truth(node: Any, scope: Scope) -> Predicate:
    """A node in boolean position inside a value (CASE WHEN, IF): a predicate."""
    return compile_predicate(node, scope)


def _computed(node: Any, scope: Scope) -> Getter:
    """Compile a non-leaf value node."""
    source, what = scope.source, scope.what
    for cls, symbol in ARITHMETIC_OPERATORS.items():
        if isinstance(node, cls):
            return _arithmetic(node, symbol, scope)
    if isinstance(node, exp.Case):
        return _case(node, scope)
    if isinstance(node, exp.If):
        condition = _truth(node.this, scope)
        then = compile_value(node.args["true"], scope)
        otherwise = compile_value(node.args["false"], scope) if node.args.get("false") else None
        return lambda row: (
            then(row) if condition(row) is True else otherwise(row) if otherwise else None
        )
    if isinstance(node, exp.Coalesce):
        getters = [
            compile_value(node.this, scope),
            *(compile_value(e, scope) for e in node.expressions),
        ]

        def coalesce(row: Any) -> object:
            for getter in getters:
                found = getter(row)
                if kind_of(found) is not None:
                    return found
            return None

        return coalesce
    if isinstance(node, exp.Nullif):
        left, right = compile_value(node.this, scope), compile_value(node.expression, scope)

        def nullif(row: Any) -> object:
            found = left(row)
            return None if compare_values(found, right(row), operator.eq, False) is True else found

        return nullif
    if isinstance(node, exp.Greatest | exp.Least):
        getters = [
            compile_value(node.this, scope),
            *(compile_value(e, scope) for e in node.expressions),
        ]
        pick = max if isinstance(node, exp.Greatest) else min
        return lambda row: _extreme([g(row) for g in getters], pick)
    if isinstance(node, exp.Lower | exp.Upper):
        inner = compile_value(node.this, scope)
        method = str.lower if isinstance(node, exp.Lower) else str.upper
        return lambda row: _text_map(inner(row), method)
    if isinstance(node, exp.Abs):
        return _unary_number(compile_value(node.this, scope), abs)
    if isinstance(node, exp.Floor | exp.Ceil):
        if node.args.get("decimals") is not None:
            raise unsupported(node, source, what, f"{node.key.upper()} with a precision")
        rounding = math.floor if isinstance(node, exp.Floor) else math.ceil
        return _unary_number(compile_value(node.this, scope), lambda n: int(rounding(n)))
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
                raise unsupported(node, source, what, "hour_floor_timestamp_millis arity")
            inner = compile_value(node.expressions[0], scope)
            return _unary_number(inner, lambda n: int(n // 3_600_000) * 3_600_000)
    raise unsupported(node, source, what)


def _text_map(value: object, method: Callable[[str], str]) -> object:
    return method(value) if isinstance(value, str) else None


def _extreme(values: list[object], pick: Callable[..., Any]) -> object:
    """GREATEST/LEAST: NULL if any argument is NULL (as in standard SQL); one kind only."""
    kinds = {kind_of(v) for v in values}
    if None in kinds or len(kinds) != 1:
        return None
    if kinds == {NUM}:
        return pick(as_number(v) for v in values)
    return pick(values)


def _unary_number(inner: Getter, function: Callable[[Any], Any]) -> Getter:
    def apply(row: Any) -> object:
        number = as_number(inner(row))
        return None if number is None else function(number)

    return apply


def _arithmetic(node: Any, symbol: str, scope: Scope) -> Getter:
    if symbol == "||":
        left, right = compile_value(node.this, scope), compile_value(node.expression, scope)

        def concat(row: Any) -> object:
            a, b = to_text(left(row)), to_text(right(row))
            return None if a is None or b is None else a + b

        return concat
    functions: dict[str, Callable[[Any, Any], object]] = {
        "+": operator.add,
        "-": operator.sub,
        "*": operator.mul,
        "/": divide,
        "%": modulo,
    }
    function = functions.get(symbol)
    if function is None:
        raise unsupported(node, scope.source, scope.what)
    left, right = compile_value(node.this, scope), compile_value(node.expression, scope)

    def apply(row: Any) -> object:
        a = as_number(left(row))
        if a is None:
            return None
        b = as_number(right(row))
        if b is None:
            return None
        return function(a, b)

    return apply


def _case(node: Any, scope: Scope) -> Getter:
    default = compile_value(node.args["default"], scope) if node.args.get("default") else None
    subject = node.args.get("this")
    branches: list[tuple[Predicate, Getter]] = []
    if subject is not None:
        subject_value = compile_value(subject, scope)
        for branch in node.args["ifs"]:
            match = compile_value(branch.this, scope)
            branches.append(
                (_equals(subject_value, match), compile_value(branch.args["true"], scope))
            )
    else:
        for branch in node.args["ifs"]:
            branches.append((_truth(branch.this, scope), compile_value(branch.args["true"], scope)))

    def case(row: Any) -> object:
        for condition, result in branches:
            if condition(row) is True:
                return result(row)
        return None if default is None else default(row)

    return case


def _equals(left: Getter, right: Getter) -> Predicate:
    return lambda row: compare_values(left(row), right(row), operator.eq, False)


def _round(node: Any, scope: Scope) -> Getter:
    inner = compile_value(node.this, scope)
    places_node = node.args.get("decimals")
    places = 0
    if places_node is not None:
        places_operand = _operand(places_node, scope)
        if not isinstance(places_operand, _Const) or type(places_operand.value) is not int:
            raise unsupported(node, scope.source, scope.what, "ROUND with a non-integer precision")
        places = places_operand.value
    quantum = Decimal(1).scaleb(-places)

    def round_half_up(row: Any) -> object:
        number = as_number(inner(row))
        if number is None:
            return None
        rounded = Decimal(number).quantize(quantum, rounding=ROUND_HALF_UP)
        return int(rounded) if places <= 0 else rounded

    return round_half_up


_INTEGER_TYPES: Final = {"INT", "BIGINT", "SMALLINT", "TINYINT", "INTEGER", "UBIGINT", "UINT"}
_DECIMAL_TYPES: Final = {"DOUBLE", "FLOAT", "DECIMAL", "NUMERIC", "REAL", "BIGDECIMAL"}
_TEXT_TYPES: Final = {"VARCHAR", "TEXT", "CHAR", "NVARCHAR", "NCHAR", "STRING"}
_TIME_TYPES: Final = {"TIMESTAMP", "TIMESTAMPTZ", "DATETIME", "DATE", "TIMESTAMPLTZ"}


def _cast(node: Any, scope: Scope) -> Getter:
    target = str(node.to.this.name).upper() if hasattr(node.to.this, "name") else ""
    inner = compile_value(node.this, scope)
    if target in _INTEGER_TYPES:
        return lambda row: to_integer(inner(row))
    if target in _DECIMAL_TYPES:
        return lambda row: to_decimal(inner(row))
    if target in _TEXT_TYPES:
        return lambda row: to_text(inner(row))
    if target == "BOOLEAN":
        return lambda row: to_boolean(inner(row))
    if target in _TIME_TYPES:
        return lambda row: to_time(inner(row))
    raise unsupported(node, scope.source, scope.what, f"cast to {node.to.sql()}")


_TRUNC_UNITS: Final = {"MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "YEAR"}


def _date_trunc(node: Any, scope: Scope) -> Getter:
    unit_node = node.args.get("unit")
    unit = str(unit_node.name if hasattr(unit_node, "name") else unit_node).upper()
    if unit not in _TRUNC_UNITS:
        raise unsupported(node, scope.source, scope.what, f"date_trunc unit {unit.lower()!r}")
    inner = compile_value(node.this, scope)
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
        return truncate_time(moment, unit)

    return truncate


# --- comparisons --------------------------------------------------------------------------------

# (operator, result when kinds differ, operator with operands swapped)
_COMPARISONS: Final[dict[type[Any], tuple[Comparator, bool | None, Comparator]]] = {
    exp.EQ: (operator.eq, False, operator.eq),
    exp.NEQ: (operator.ne, True, operator.ne),
    exp.LT: (operator.lt, None, operator.gt),
    exp.LTE: (operator.le, None, operator.ge),
    exp.GT: (operator.gt, None, operator.lt),
    exp.GTE: (operator.ge, None, operator.le),
}


def _comparison(left: Operand, right: Operand, node_type: type[Any]) -> Predicate:
    op, mismatch, swapped = _COMPARISONS[node_type]
    if isinstance(left, _Const) and not isinstance(right, _Const):
        left, right, op = right, left, swapped
    if isinstance(right, _Const):
        if isinstance(left, _Const):
            return _constant(compare_values(left.value, right.value, op, mismatch))
        if isinstance(left, Prop) and type(right.value) is not Decimal:
            return _prop_vs_const(left.name, op, right.value, mismatch)
        if type(right.value) is str:
            return _text_vs_const(_get(left), op, right.value, mismatch)
    get_left, get_right = _get(left), _get(right)
    return lambda row: compare_values(get_left(row), get_right(row), op, mismatch)


def _prop_vs_const(name: str, op: Comparator, value: object, mismatch: bool | None) -> Predicate:
    """The hot path (``amount > 100``): the literal's kind is settled at compile time."""
    const_kind = kind_of(value)
    if const_kind is None:
        return _constant(None)
    kinds = KINDS

    def compare(row: Any) -> bool | None:
        found = row.properties.get(name)
        if found is None:
            return None
        kind = kinds.get(type(found)) or kind_of(found)
        if kind == const_kind:
            return op(found, value)
        return None if kind is None else mismatch

    return compare


def _text_vs_const(getter: Getter, op: Comparator, value: str, mismatch: bool | None) -> Predicate:
    """A computed value against a string literal (``event_name = 'api_call'``)."""

    def compare(row: Any) -> bool | None:
        found = getter(row)
        if type(found) is str:
            return op(found, value)
        kind = kind_of(found)
        return None if kind is None else op(found, value) if kind == STR else mismatch

    return compare


def _in(needle: Operand, haystack: Sequence[Operand]) -> Predicate:
    """``x IN (...)``: TRUE on an equal value, else NULL if x or any item is NULL, else FALSE."""
    constants = [item.value for item in haystack if isinstance(item, _Const)]
    if isinstance(needle, Prop) and len(constants) == len(haystack):
        return _prop_in_constants(needle.name, constants)
    get_needle = _get(needle)
    getters = tuple(_get(item) for item in haystack)

    def contains(row: Any) -> bool | None:
        value = get_needle(row)
        if kind_of(value) is None:
            return None
        unknown = False
        for get_item in getters:
            equal = compare_values(value, get_item(row), operator.eq, False)
            if equal:
                return True
            if equal is None:
                unknown = True
        return None if unknown else False

    return contains


def _prop_in_constants(name: str, values: Sequence[object]) -> Predicate:
    """A literal list becomes one set per kind, so ``1`` never matches ``TRUE`` (``1 == True``)."""
    by_kind: dict[int, set[object]] = {}
    has_null = False
    for value in values:
        kind = kind_of(value)
        if value is None or kind is None:
            has_null = True
        else:
            by_kind.setdefault(kind, set()).add(value)
    sets = {kind: frozenset(members) for kind, members in by_kind.items()}
    miss: bool | None = None if has_null else False
    kinds = KINDS

    def contains(row: Any) -> bool | None:
        found = row.properties.get(name)
        if found is None:
            return None
        kind = kinds.get(type(found)) or kind_of(found)
        if kind is None:
            return None
        members = sets.get(kind)
        if members is not None and found in members:
            return True
        return miss

    return contains


def _is_null(operand: Operand) -> Predicate:
    if isinstance(operand, _Const):
        return _constant(kind_of(operand.value) is None)
    getter = _get(operand)
    return lambda row: kind_of(getter(row)) is None


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
    if kind_of(text) is None or kind_of(pattern) is None:
        return None
    if not isinstance(text, str) or not isinstance(pattern, str):
        return False
    return _like_matcher(pattern)(text)


def _like(node: Any, text: Operand, pattern: Operand, scope: Scope) -> Predicate:
    if isinstance(pattern, _Const) and not (
        pattern.value is None or isinstance(pattern.value, str)
    ):
        raise unsupported(node, scope.source, scope.what, "LIKE with a non-string pattern")
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


def _and(parts: Sequence[Predicate]) -> Predicate:
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


def _or(parts: Sequence[Predicate]) -> Predicate:
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


def _not(inner: Predicate) -> Predicate:
    def negation(row: Any) -> bool | None:
        result = inner(row)
        return None if result is None else not result

    return negation


def _bare(operand: Operand) -> Predicate:
    """A value in boolean position: its value if boolean, else NULL."""
    if isinstance(operand, _Const):
        value = operand.value
        return _constant(value if isinstance(value, bool) else None)
    if isinstance(operand, Prop):
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


def compile_predicate(node: Any, scope: Scope) -> Predicate:
    """Compile a node in boolean position."""
    while isinstance(node, exp.Paren):
        node = node.this
    source, what = scope.source, scope.what
    if isinstance(node, exp.And):
        return _and(tuple(compile_predicate(part, scope) for part in _flatten(node, exp.And)))
    if isinstance(node, exp.Or):
        return _or(tuple(compile_predicate(part, scope) for part in _flatten(node, exp.Or)))
    if isinstance(node, exp.Not):
        return _not(compile_predicate(node.this, scope))
    node_type = type(node)
    if node_type in _COMPARISONS:
        left = _operand(node.this, scope)
        return _comparison(left, _operand(node.expression, scope), node_type)
    if node_type is exp.In:
        return _compile_in(node, scope)
    if node_type is exp.Between:
        if node.args.get("symmetric"):
            raise unsupported(node, source, what, "BETWEEN SYMMETRIC")
        value = _operand(node.this, scope)
        low = _operand(node.args["low"], scope)
        high = _operand(node.args["high"], scope)
        return _and((_comparison(value, low, exp.GTE), _comparison(value, high, exp.LTE)))
    if node_type is exp.Is:
        if not isinstance(node.expression, exp.Null):
            raise unsupported(
                node, source, what, f"IS {node.expression.sql()} (only IS [NOT] NULL)"
            )
        return _is_null(_operand(node.this, scope))
    if node_type is exp.Like:
        like = _like(node, _operand(node.this, scope), _operand(node.expression, scope), scope)
        return _not(like) if node.args.get("negate") else like
    if isinstance(node, exp.Literal) or (
        isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal)
    ):
        raise unsupported(node, source, what, f"literal {node.sql()} is not a predicate")
    if isinstance(node, exp.Query | exp.Subquery | exp.SubqueryPredicate):
        raise unsupported(node, source, what, "subquery")
    if isinstance(node, _PREDICATES):
        raise unsupported(node, source, what)
    if isinstance(node, tuple(ARITHMETIC_OPERATORS)):
        symbol = ARITHMETIC_OPERATORS[type(node)]
        operand = _operand(node, scope)  # refuses unsupported operators first
        del operand
        raise unsupported(node, source, what, f"arithmetic operator {symbol} is not a predicate")
    return _bare(_operand(node, scope))


def _compile_in(node: Any, scope: Scope) -> Predicate:
    for key, construct in (("query", "subquery"), ("unnest", "IN UNNEST"), ("field", "IN field")):
        if node.args.get(key) is not None:
            raise unsupported(node, scope.source, scope.what, construct)
    items = node.expressions
    if not items:
        raise unsupported(node, scope.source, scope.what, "empty IN list")
    return _in(_operand(node.this, scope), [_operand(item, scope) for item in items])
