"""Parsing an expression with sqlglot, the size limits, and the grammar's error messages.

Every expression is parsed here once (never ``eval``); anything outside the supported grammar
raises :class:`ExpressionSyntaxError` naming the construct and showing the offending fragment.
"""

from __future__ import annotations

import re
from typing import Any, Final

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

MAX_EXPRESSION_CHARS: Final = 50_000
"""Longest expression text accepted; longer ones are refused at creation."""
MAX_EXPRESSION_NODES: Final = 20_000
"""Most syntax-tree nodes accepted in one expression."""


class ExpressionSyntaxError(ValueError):
    """An expression that does not parse or uses syntax outside the supported grammar."""


def parse_expression(text: str, what: str) -> Any:
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
        raise invalid(text, what, _describe_parse_error(error)) from error
    except RecursionError as error:
        raise invalid(text, what, "nested too deeply") from error
    if isinstance(tree, exp.Block):
        raise invalid(text, what, "multiple statements; give a single expression")
    for count, _node in enumerate(tree.walk(), start=1):
        if count > MAX_EXPRESSION_NODES:
            raise ExpressionSyntaxError(
                f"invalid {what}: the expression has more than {MAX_EXPRESSION_NODES} terms"
            )
    for alias in tree.find_all(exp.Alias):
        if alias.find_ancestor(exp.Select) is None or not _is_select_item(alias):
            # sqlglot reads ``a = 1 b`` (and ``0x1F`` as ``0 x1F``) as an alias: stray text.
            raise invalid(text, what, f"unexpected text {alias.alias!r} after an operand")
    return tree


def _is_select_item(alias: Any) -> bool:
    parent = alias.parent
    return isinstance(parent, exp.Select) and alias.arg_key == "expressions"


# --- errors -------------------------------------------------------------------------------------

_ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")


def shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def invalid(text: str, what: str, reason: str) -> ExpressionSyntaxError:
    """A parse-level error; the text is shortened so a huge expression cannot flood a log."""
    return ExpressionSyntaxError(f"invalid {what} {shorten(text)!r}: {reason}")


def _describe_parse_error(error: ParseError | TokenError) -> str:
    """sqlglot's first error without its terminal underlining, which is noise in an API message."""
    details = getattr(error, "errors", None)
    if details:
        first = details[0]
        return f"{first.get('description')} at line {first.get('line')}, column {first.get('col')}"
    lines = _ANSI.sub("", str(error)).splitlines()
    return lines[0] if lines else type(error).__name__


ARITHMETIC_OPERATORS: Final[dict[type[Any], str]] = {
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
    for cls, symbol in ARITHMETIC_OPERATORS.items():
        if isinstance(node, cls):
            return f"arithmetic operator {symbol}"
    if isinstance(node, exp.Func):
        return f"function call {function_name(node, source)}"
    return f"expression {type(node).__name__}"


def function_name(node: Any, source: str) -> str:
    """The function name as written (``SUBSTR``), not sqlglot's normalised one (``SUBSTRING``)."""
    meta = node.meta
    start, end = meta.get("start"), meta.get("end")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start <= end < len(source):
        return source[start : end + 1].upper()
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    return str(node.sql_name())


def unsupported(
    node: Any, source: str, what: str, construct: str | None = None
) -> ExpressionSyntaxError:
    """Name the construct and show the offending fragment (as sqlglot re-renders it)."""
    fragment = shorten(node.sql())
    return ExpressionSyntaxError(
        f"unsupported syntax in {what}: {construct or _construct(node, source)} in `{fragment}`"
    )
