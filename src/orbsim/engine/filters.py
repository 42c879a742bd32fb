"""Compile Orb's backfill ``deprecation_filter`` into a fast, three-valued Python predicate.

A backfill with ``replace_existing_events`` may carry a ``deprecation_filter``: a SQL boolean
expression over event properties choosing which existing events the backfill deprecates. The
simulator tests it against every event in the backfill window, so the text is parsed once with
sqlglot, checked against a deliberately small grammar, and compiled into nested closures; evaluating
an event never walks the sqlglot tree again.

Grammar (anything else raises :class:`FilterSyntaxError` naming the construct):

* bare identifiers are event property names (``"my prop"`` quotes one; double quotes always mean an
  identifier, never a string). Names are case-sensitive as written, because property keys are. A
  property missing from the event, or holding a value that is not a ``Scalar`` (e.g. a JSON
  ``null``), is SQL NULL. Names that sqlglot reads as keywords or niladic functions (such as
  ``current_date``) must be quoted;
* literals: ``'single-quoted'`` strings, integers, decimals (as ``float``, so ``0.1`` matches a
  JSON ``0.1``), negative numbers, ``TRUE``/``FALSE``, ``NULL``;
* ``= != <> < <= > >=``, ``AND``, ``OR``, ``NOT``, parentheses, ``[NOT] IN (...)``,
  ``[NOT] BETWEEN a AND b``, ``IS [NOT] NULL``, ``[NOT] LIKE``.

Logic is SQL's three-valued logic: comparisons with NULL are NULL, ``NULL AND FALSE`` is FALSE,
``NULL OR TRUE`` is TRUE, ``NOT NULL`` is NULL, ``x IN (1, NULL)`` is NULL when ``x`` is not 1.
``x BETWEEN lo AND hi`` means exactly ``x >= lo AND x <= hi``, as in the SQL standard, so a NULL
operand gives NULL unless the other bound already makes it FALSE (``5 BETWEEN NULL AND 3`` is
FALSE, as in PostgreSQL and SQLite).

Type semantics are our choice, since Orb does not document them and event properties are untyped
JSON. Every value is a number (``int``/``float``; ``bool`` is *not* a number here), a string or a
boolean. Values of the same kind compare naturally (numbers numerically, strings by code point,
``FALSE < TRUE``). Values of different kinds are never coerced, and never raise: ``=`` is FALSE,
``!=``/``<>`` is TRUE and ordering comparisons (``< <= > >=``, hence ``BETWEEN``) are NULL. So
``amount = '100'`` does not match ``amount: 100``, ``IN`` behaves like a chain of ``=``, and
``LIKE`` on a non-string is FALSE (``NOT LIKE`` TRUE). A bare identifier or boolean literal in
boolean position (``is_test AND region = 'eu'``) is its boolean value; any non-boolean value there
is NULL. ``LIKE`` knows only ``%`` and ``_``, is case-sensitive and has no escape character: every
other character, backslash included, is literal.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

__all__ = ["CompiledFilter", "FilterSyntaxError", "Scalar", "compile_filter"]

Scalar = str | int | float | bool

_Props = Mapping[str, Scalar]
_Pred = Callable[[_Props], bool | None]
_Op = Callable[[Any, Any], bool]


class FilterSyntaxError(ValueError):
    """A ``deprecation_filter`` that does not parse or uses syntax outside the supported grammar."""


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    """A parsed ``deprecation_filter``; call it on an event's properties to test for a match."""

    source: str
    """The filter text exactly as given."""
    property_names: frozenset[str]
    """Every property the filter references, so callers can validate or index on them."""
    _predicate: _Pred = field(repr=False, compare=False)

    def __deepcopy__(self, memo: dict[int, Any]) -> CompiledFilter:
        return self  # immutable (and its compiled closures cannot be copied)

    def __call__(self, properties: Mapping[str, Scalar]) -> bool:
        """Whether the filter is TRUE for ``properties``; NULL (unknown) counts as no match."""
        return self._predicate(properties) is True

    def evaluate(self, properties: Mapping[str, Scalar]) -> bool | None:
        """The three-valued result: ``True``, ``False`` or ``None`` for SQL NULL."""
        return self._predicate(properties)


def compile_filter(text: str) -> CompiledFilter:
    """Parse and compile ``text``; raises :class:`FilterSyntaxError` for anything unsupported."""
    if not isinstance(text, str):
        raise TypeError(f"deprecation_filter must be a string, not {type(text).__name__}")
    if not text.strip():
        raise FilterSyntaxError("invalid deprecation_filter: the expression is empty")
    try:
        tree = sqlglot.parse_one(text)
    except (ParseError, TokenError) as error:
        raise _invalid(text, _describe_parse_error(error)) from error
    except RecursionError as error:
        raise _invalid(text, "nested too deeply") from error
    if isinstance(tree, exp.Block):
        raise _invalid(text, "multiple statements; give a single expression")
    alias = tree.find(exp.Alias)
    if alias is not None:
        # sqlglot reads ``a = 1 b`` (and ``0x1F`` as ``0 x1F``) as an alias: really stray text.
        raise _invalid(text, f"unexpected text {alias.alias!r} after an operand")
    try:
        predicate = _predicate(tree, text)
    except RecursionError as error:
        raise _invalid(text, "nested too deeply") from error
    names = frozenset(column.name for column in tree.find_all(exp.Column))
    return CompiledFilter(source=text, property_names=names, _predicate=predicate)


# --- errors -------------------------------------------------------------------------------------

_ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")


def _invalid(text: str, reason: str, limit: int = 120) -> FilterSyntaxError:
    """A parse-level error; the text is shortened so a huge filter cannot flood a log."""
    shown = text if len(text) <= limit else text[: limit - 3] + "..."
    return FilterSyntaxError(f"invalid deprecation_filter {shown!r}: {reason}")


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
}


def _construct(node: Any, source: str) -> str:
    """A human name for an unsupported sqlglot node, as the user would recognise it."""
    if isinstance(node, exp.Any | exp.All):
        return f"{node.key.upper()} quantifier"
    if isinstance(node, exp.Query | exp.Subquery | exp.SubqueryPredicate):
        return "subquery"
    if isinstance(node, exp.Case):
        return "CASE expression"
    if isinstance(node, exp.Cast):
        return "type cast"
    for cls, name in _NAMED.items():
        if isinstance(node, cls):
            return name
    for cls, symbol in _ARITHMETIC.items():
        if isinstance(node, cls):
            return f"arithmetic operator {symbol}"
    if isinstance(node, exp.Neg):
        return "arithmetic negation"
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


def _unsupported(node: Any, source: str, what: str | None = None) -> FilterSyntaxError:
    """Name the construct and show the offending fragment (as sqlglot re-renders it)."""
    fragment = node.sql()
    if len(fragment) > 120:
        fragment = fragment[:117] + "..."
    return FilterSyntaxError(
        f"unsupported syntax in deprecation_filter: {what or _construct(node, source)}"
        f" in `{fragment}`"
    )


# --- values -------------------------------------------------------------------------------------

_NUM: Final = 1
_STR: Final = 2
_BOOL: Final = 3
_KINDS: Final[dict[type[object], int]] = {bool: _BOOL, int: _NUM, float: _NUM, str: _STR}


def _kind(value: object) -> int | None:
    """The comparison kind of a value; ``None`` means SQL NULL (missing, ``None`` or non-scalar)."""
    kind = _KINDS.get(type(value))
    if kind is not None:
        return kind
    # Subclasses (IntEnum, StrEnum, ...) are rare, so they take the slow path.
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int | float):
        return _NUM
    if isinstance(value, str):
        return _STR
    return None


@dataclass(frozen=True, slots=True)
class _Const:
    value: Scalar | None


@dataclass(frozen=True, slots=True)
class _Prop:
    name: str


_Operand = _Const | _Prop

_PREDICATES: Final = (exp.Predicate, exp.And, exp.Or, exp.Not)


def _operand(node: Any, source: str) -> _Operand:
    """Compile a node in value position: a property or a literal."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Column):
        if not isinstance(node.this, exp.Identifier):
            raise _unsupported(node, source, "*")
        if node.args.get("table") is not None:
            raise _unsupported(node, source, f"qualified column {node.sql()}")
        return _Prop(str(node.this.this))
    if isinstance(node, exp.Literal):
        return _Const(str(node.this) if node.is_string else _number(node, source))
    if isinstance(node, exp.Neg):
        inner = node.this
        while isinstance(inner, exp.Paren):
            inner = inner.this
        if isinstance(inner, exp.Literal) and not inner.is_string:
            return _Const(-_number(inner, source))
        raise _unsupported(node, source)
    if isinstance(node, exp.Boolean):
        return _Const(bool(node.this))
    if isinstance(node, exp.Null):
        return _Const(None)
    if isinstance(node, _PREDICATES) and not isinstance(node, exp.SubqueryPredicate):
        raise _unsupported(node, source, "predicate used as a value")
    raise _unsupported(node, source)


def _number(node: Any, source: str) -> int | float:
    text = str(node.this)
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise _unsupported(node, source, f"numeric literal {text}") from None


def _get(operand: _Operand) -> Callable[[_Props], object]:
    """A reader for an operand, for the general (non-specialised) paths."""
    if isinstance(operand, _Const):
        value = operand.value
        return lambda _props: value
    name = operand.name
    return lambda props: props.get(name)


def _constant(result: bool | None) -> _Pred:
    return lambda _props: result


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
    return op(left, right)


def _comparison(left: _Operand, right: _Operand, node_type: type[Any]) -> _Pred:
    op, mismatch, swapped = _COMPARISONS[node_type]
    if isinstance(left, _Const) and isinstance(right, _Prop):
        left, right, op = right, left, swapped
    if isinstance(right, _Const):
        if isinstance(left, _Const):
            return _constant(_compare(left.value, right.value, op, mismatch))
        return _prop_vs_const(left.name, op, right.value, mismatch)
    get_left, get_right = _get(left), _get(right)
    return lambda props: _compare(get_left(props), get_right(props), op, mismatch)


def _prop_vs_const(name: str, op: _Op, value: Scalar | None, mismatch: bool | None) -> _Pred:
    """The hot path (``amount > 100``): the literal's kind is settled at compile time."""
    const_kind = _kind(value)
    if const_kind is None:
        return _constant(None)
    kinds = _KINDS

    def compare(props: _Props) -> bool | None:
        found = props.get(name)
        if found is None:
            return None
        kind = kinds.get(type(found)) or _kind(found)
        if kind == const_kind:
            return op(found, value)
        return None if kind is None else mismatch

    return compare


def _in(needle: _Operand, haystack: Sequence[_Operand]) -> _Pred:
    """``x IN (...)``: TRUE on an equal value, else NULL if x or any item is NULL, else FALSE."""
    constants = [item.value for item in haystack if isinstance(item, _Const)]
    if isinstance(needle, _Prop) and len(constants) == len(haystack):
        return _prop_in_constants(needle.name, constants)
    get_needle = _get(needle)
    getters = tuple(_get(item) for item in haystack)

    def contains(props: _Props) -> bool | None:
        value = get_needle(props)
        if _kind(value) is None:
            return None
        unknown = False
        for get_item in getters:
            equal = _compare(value, get_item(props), operator.eq, False)
            if equal:
                return True
            if equal is None:
                unknown = True
        return None if unknown else False

    return contains


def _prop_in_constants(name: str, values: Sequence[Scalar | None]) -> _Pred:
    """A literal list becomes one set per kind, so ``1`` never matches ``TRUE`` (``1 == True``)."""
    by_kind: dict[int, set[Scalar]] = {}
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

    def contains(props: _Props) -> bool | None:
        found = props.get(name)
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
    name = operand.name
    return lambda props: _kind(props.get(name)) is None


# --- LIKE ---------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _like_matcher(pattern: str) -> Callable[[str], bool]:
    """Match a LIKE pattern without regex backtracking.

    The pattern splits on ``%`` into fixed-length segments; the first must sit at the start, the
    last at the end, and each middle one is taken at its leftmost position (always optimal, since
    ``%`` absorbs whatever lies between). A pattern such as ``%a%a%a%b`` therefore costs linear
    scans, where the equivalent ``.*a.*a.*a.*b`` regex can backtrack polynomially.
    """
    segments = [
        re.compile("".join("." if char == "_" else re.escape(char) for char in part), re.DOTALL)
        for part in pattern.split("%")
    ]
    if len(segments) == 1:
        only = segments[0]
        return lambda text: only.fullmatch(text) is not None
    first, *middle, last = segments
    middle = [segment for segment in middle if segment.pattern]
    last_length = len(pattern.split("%")[-1])

    def match(text: str) -> bool:
        head = first.match(text)
        if head is None:
            return False
        position = head.end()
        for segment in middle:
            found = segment.search(text, position)
            if found is None:
                return False
            position = found.end()
        tail_start = len(text) - last_length
        return tail_start >= position and last.fullmatch(text, tail_start) is not None

    return match


def _like_value(text: object, pattern: object) -> bool | None:
    """LIKE on runtime values: NULL in, NULL out; a non-string on either side never matches."""
    if _kind(text) is None or _kind(pattern) is None:
        return None
    if not isinstance(text, str) or not isinstance(pattern, str):
        return False
    return _like_matcher(pattern)(text)


def _like(node: Any, text: _Operand, pattern: _Operand, source: str) -> _Pred:
    if isinstance(pattern, _Const) and not (
        pattern.value is None or isinstance(pattern.value, str)
    ):
        raise _unsupported(node, source, "LIKE with a non-string pattern")
    if isinstance(pattern, _Const) and isinstance(pattern.value, str) and isinstance(text, _Prop):
        name, pattern_text = text.name, pattern.value
        match = _like_matcher(pattern_text)

        def like(props: _Props) -> bool | None:
            found = props.get(name)
            if type(found) is str:
                return match(found)
            return _like_value(found, pattern_text)

        return like
    get_text, get_pattern = _get(text), _get(pattern)
    if isinstance(text, _Const) and isinstance(pattern, _Const):
        return _constant(_like_value(text.value, pattern.value))
    return lambda props: _like_value(get_text(props), get_pattern(props))


# --- boolean structure --------------------------------------------------------------------------


def _flatten(node: Any, cls: type[Any]) -> list[Any]:
    """``a AND (b AND c)`` as ``[a, b, c]``: one loop instead of nested calls per event.

    Iterative, because sqlglot nests long chains one level per clause.
    """
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
    def conjunction(props: _Props) -> bool | None:
        unknown = False
        for part in parts:
            result = part(props)
            if result is False:
                return False
            if result is None:
                unknown = True
        return None if unknown else True

    return conjunction


def _or(parts: Sequence[_Pred]) -> _Pred:
    def disjunction(props: _Props) -> bool | None:
        unknown = False
        for part in parts:
            result = part(props)
            if result is True:
                return True
            if result is None:
                unknown = True
        return None if unknown else False

    return disjunction


def _not(inner: _Pred) -> _Pred:
    def negation(props: _Props) -> bool | None:
        result = inner(props)
        return None if result is None else not result

    return negation


def _bare(operand: _Operand) -> _Pred:
    """A property or literal in boolean position: its value if boolean, else NULL."""
    if isinstance(operand, _Const):
        value = operand.value
        return _constant(value if isinstance(value, bool) else None)
    name = operand.name

    def truth(props: _Props) -> bool | None:
        found = props.get(name)
        return found if found is True or found is False else None

    return truth


def _predicate(node: Any, source: str) -> _Pred:
    """Compile a node in boolean position."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return _and(tuple(_predicate(part, source) for part in _flatten(node, exp.And)))
    if isinstance(node, exp.Or):
        return _or(tuple(_predicate(part, source) for part in _flatten(node, exp.Or)))
    if isinstance(node, exp.Not):
        return _not(_predicate(node.this, source))
    node_type = type(node)
    if node_type in _COMPARISONS:
        left = _operand(node.this, source)
        return _comparison(left, _operand(node.expression, source), node_type)
    if node_type is exp.In:
        return _compile_in(node, source)
    if node_type is exp.Between:
        if node.args.get("symmetric"):
            raise _unsupported(node, source, "BETWEEN SYMMETRIC")
        value = _operand(node.this, source)
        low = _operand(node.args["low"], source)
        high = _operand(node.args["high"], source)
        return _and((_comparison(value, low, exp.GTE), _comparison(value, high, exp.LTE)))
    if node_type is exp.Is:
        if not isinstance(node.expression, exp.Null):
            raise _unsupported(node, source, f"IS {node.expression.sql()} (only IS [NOT] NULL)")
        return _is_null(_operand(node.this, source))
    if node_type is exp.Like:
        like = _like(node, _operand(node.this, source), _operand(node.expression, source), source)
        return _not(like) if node.args.get("negate") else like
    if isinstance(node, exp.Column | exp.Boolean | exp.Null):
        return _bare(_operand(node, source))
    if isinstance(node, exp.Literal) or (
        isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal)
    ):
        raise _unsupported(node, source, f"literal {node.sql()} is not a predicate")
    raise _unsupported(node, source)


def _compile_in(node: Any, source: str) -> _Pred:
    for key, what in (("query", "subquery"), ("unnest", "IN UNNEST"), ("field", "IN field")):
        if node.args.get(key) is not None:
            raise _unsupported(node, source, what)
    items = node.expressions
    if not items:
        raise _unsupported(node, source, "empty IN list")
    return _in(_operand(node.this, source), [_operand(item, source) for item in items])
