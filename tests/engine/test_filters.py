"""Examples of how a backfill ``deprecation_filter`` evaluates against event properties.

Each table row reads as ``filter text, event properties -> SQL result``, where ``None`` is SQL NULL
(unknown). ``evaluate`` gives the three-valued result; calling the filter collapses NULL to "no
match", which is what deciding whether to deprecate an event needs.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from orbsim.engine.filters import CompiledFilter, FilterSyntaxError, Scalar, compile_filter

T, F, N = True, False, None  # short names keep the truth tables aligned


def evaluate(text: str, properties: Mapping[str, Scalar] | None = None) -> bool | None:
    return compile_filter(text).evaluate(properties or {})


# --- the public surface -------------------------------------------------------------------------


def test_compiled_filter_keeps_source_and_referenced_property_names() -> None:
    compiled = compile_filter("""region = 'eu' AND (amount > 100 OR "plan id" IN ('a', 'b'))""")

    assert isinstance(compiled, CompiledFilter)
    assert compiled.source == """region = 'eu' AND (amount > 100 OR "plan id" IN ('a', 'b'))"""
    assert compiled.property_names == frozenset({"region", "amount", "plan id"})
    assert compile_filter("TRUE").property_names == frozenset()


@pytest.mark.parametrize(
    ("properties", "three_valued", "matches"),
    [
        ({"amount": 150}, T, True),
        ({"amount": 50}, F, False),
        ({}, N, False),  # unknown is not a match: the event is not deprecated
    ],
)
def test_calling_collapses_null_to_no_match(
    properties: dict[str, Scalar], three_valued: bool | None, matches: bool
) -> None:
    compiled = compile_filter("amount > 100")

    assert compiled.evaluate(properties) is three_valued
    assert compiled(properties) is matches


def test_filter_is_reusable_across_events() -> None:
    compiled = compile_filter("region = 'eu' AND amount > 100 AND NOT is_test")
    events: list[dict[str, Scalar]] = [
        {"region": "eu", "amount": 150, "is_test": False},
        {"region": "eu", "amount": 150, "is_test": True},
        {"region": "us", "amount": 150, "is_test": False},
        {"region": "eu", "amount": 150},
    ]

    assert [compiled(event) for event in events] == [True, False, False, False]
    assert [compiled.evaluate(event) for event in events] == [T, F, F, N]


def _sqlglot_objects(value: Any, seen: set[int]) -> Iterator[Any]:
    """Every sqlglot node reachable from a compiled predicate's closures."""
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, exp.Expression):
        yield value
    elif callable(value) and getattr(value, "__closure__", None):
        for cell in value.__closure__:
            yield from _sqlglot_objects(cell.cell_contents, seen)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _sqlglot_objects(item, seen)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _sqlglot_objects(item, seen)


def test_compiled_predicate_holds_no_sqlglot_tree() -> None:
    """Compiled once: evaluation runs plain closures, never re-walking the parsed expression."""
    compiled = compile_filter(
        "region = 'eu' AND amount BETWEEN 1 AND 9 AND tier IN ('a', NULL) AND name LIKE 'x%' "
        "AND NOT (is_test OR note IS NULL)"
    )

    assert list(_sqlglot_objects(compiled._predicate, set())) == []


# --- comparisons --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "properties", "expected"),
    [
        # = and its negations
        ("amount = 100", {"amount": 100}, T),
        ("amount = 100", {"amount": 99}, F),
        ("amount = 100", {}, N),
        ("amount = 100", {"amount": 100.0}, T),  # numbers compare numerically
        ("amount == 100", {"amount": 100}, T),  # sqlglot accepts == as =
        ("amount != 100", {"amount": 99}, T),
        ("amount != 100", {"amount": 100}, F),
        ("amount != 100", {}, N),
        ("amount <> 100", {"amount": 99}, T),
        ("amount <> 100", {"amount": 100}, F),
        ("amount <> 100", {}, N),
        # ordering
        ("amount < 100", {"amount": 99}, T),
        ("amount < 100", {"amount": 100}, F),
        ("amount < 100", {}, N),
        ("amount <= 100", {"amount": 100}, T),
        ("amount <= 100", {"amount": 101}, F),
        ("amount <= 100", {}, N),
        ("amount > 100", {"amount": 101}, T),
        ("amount > 100", {"amount": 100}, F),
        ("amount > 100", {}, N),
        ("amount >= 100", {"amount": 100}, T),
        ("amount >= 100", {"amount": 99.5}, F),
        ("amount >= 100", {}, N),
        # literal on the left flips the comparison correctly
        ("100 > amount", {"amount": 99}, T),
        ("100 > amount", {"amount": 100}, F),
        ("100 <= amount", {"amount": 100}, T),
        # literals: decimals, negatives, exponents, escaped quotes
        ("amount = 1.5", {"amount": 1.5}, T),
        ("amount = 0.1", {"amount": 0.1}, T),
        ("amount = .5", {"amount": 0.5}, T),
        ("amount = -3", {"amount": -3}, T),
        ("amount > -3.5", {"amount": -3}, T),
        ("amount < -(3)", {"amount": -4}, T),
        ("amount = 1e3", {"amount": 1000}, T),
        ("name = 'it''s'", {"name": "it's"}, T),
        ("name = ''", {"name": ""}, T),
        # strings compare by code point, case-sensitively
        ("region = 'eu'", {"region": "eu"}, T),
        ("region = 'eu'", {"region": "EU"}, F),
        ("region < 'f'", {"region": "eu"}, T),
        ("region > 'eu'", {"region": "eu-west"}, T),
        ("region < 'a'", {"region": "Z"}, T),
        # booleans compare with booleans, FALSE < TRUE
        ("is_test = TRUE", {"is_test": True}, T),
        ("is_test = false", {"is_test": True}, F),
        ("is_test < TRUE", {"is_test": False}, T),
        # two properties
        ("used > quota", {"used": 11, "quota": 10}, T),
        ("used > quota", {"used": 9, "quota": 10}, F),
        ("used > quota", {"used": 11}, N),
        # literals only
        ("1 = 1", {}, T),
        ("'a' <> 'a'", {}, F),
        # anything compared with NULL is NULL, even NULL itself
        ("amount = NULL", {"amount": 1}, N),
        ("amount <> NULL", {"amount": 1}, N),
        ("NULL = NULL", {}, N),
        ("amount > NULL", {}, N),
    ],
)
def test_comparison(text: str, properties: dict[str, Scalar], expected: bool | None) -> None:
    assert evaluate(text, properties) is expected


# --- three-valued logic -------------------------------------------------------------------------

_SQL = {T: "TRUE", F: "FALSE", N: "NULL"}


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (T, T, T),
        (T, F, F),
        (T, N, N),
        (F, T, F),
        (F, F, F),
        (F, N, F),
        (N, T, N),
        (N, F, F),
        (N, N, N),
    ],
)
def test_and_truth_table(left: bool | None, right: bool | None, expected: bool | None) -> None:
    assert evaluate(f"{_SQL[left]} AND {_SQL[right]}") is expected
    # the same through properties, where a missing property is NULL
    properties = {name: value for name, value in (("p", left), ("q", right)) if value is not None}
    assert evaluate("p AND q", properties) is expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (T, T, T),
        (T, F, T),
        (T, N, T),
        (F, T, T),
        (F, F, F),
        (F, N, N),
        (N, T, T),
        (N, F, N),
        (N, N, N),
    ],
)
def test_or_truth_table(left: bool | None, right: bool | None, expected: bool | None) -> None:
    assert evaluate(f"{_SQL[left]} OR {_SQL[right]}") is expected
    properties = {name: value for name, value in (("p", left), ("q", right)) if value is not None}
    assert evaluate("p OR q", properties) is expected


@pytest.mark.parametrize(("operand", "expected"), [(T, F), (F, T), (N, N)])
def test_not_truth_table(operand: bool | None, expected: bool | None) -> None:
    assert evaluate(f"NOT {_SQL[operand]}") is expected
    assert evaluate("NOT p", {} if operand is None else {"p": operand}) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a = 1 OR b = 2 AND c = 3", T),  # AND binds tighter: a = 1 OR (b = 2 AND c = 3)
        ("(a = 1 OR b = 2) AND c = 3", F),
        ("NOT a = 1 OR c = 4", T),  # NOT binds tighter than OR: (NOT a = 1) OR c = 4
        ("NOT (a = 1 OR c = 4)", F),
        ("NOT NOT a = 1", T),
        ("a = 1 AND (b = 9 AND (c = 3 OR missing IS NULL))", T),
    ],
)
def test_precedence_and_parentheses(text: str, expected: bool | None) -> None:
    assert evaluate(text, {"a": 1, "b": 9, "c": 4}) is expected


def test_long_conjunctions_do_not_recurse_per_clause() -> None:
    text = " AND ".join(f"p{i} = {i}" for i in range(2000))

    assert evaluate(text, {f"p{i}": i for i in range(2000)}) is T
    assert evaluate(text, {f"p{i}": i for i in range(1999)}) is N


# --- IN -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "properties", "expected"),
    [
        ("region IN ('eu', 'us')", {"region": "eu"}, T),
        ("region IN ('eu', 'us')", {"region": "apac"}, F),
        ("region IN ('eu', 'us')", {}, N),
        ("region IN ('eu')", {"region": "eu"}, T),
        ("region NOT IN ('eu', 'us')", {"region": "apac"}, T),
        ("region NOT IN ('eu', 'us')", {"region": "eu"}, F),
        ("region NOT IN ('eu', 'us')", {}, N),
        ("NOT region IN ('eu', 'us')", {"region": "apac"}, T),
        # a NULL in the list makes a miss unknown, but a hit is still a hit
        ("amount IN (1, NULL)", {"amount": 1}, T),
        ("amount IN (1, NULL)", {"amount": 2}, N),
        ("amount NOT IN (1, NULL)", {"amount": 2}, N),
        ("amount NOT IN (1, NULL)", {"amount": 1}, F),
        ("amount IN (NULL)", {"amount": 1}, N),
        # numbers match numerically, never booleans or numeric strings
        ("amount IN (1, 2.5)", {"amount": 2.5}, T),
        ("amount IN (1, 2)", {"amount": 1.0}, T),
        ("amount IN (1, 2)", {"amount": True}, F),
        ("flag IN (TRUE)", {"flag": True}, T),
        ("flag IN (1)", {"flag": True}, F),
        ("amount IN ('1')", {"amount": 1}, F),
        ("amount IN (-1, 0)", {"amount": -1}, T),
        ("amount IN ((1), 2)", {"amount": 1}, T),
        # list items may be properties too
        ("region IN (home, 'eu')", {"region": "us", "home": "us"}, T),
        ("region IN (home, 'eu')", {"region": "us"}, N),
        ("region IN (home, 'eu')", {"region": "eu"}, T),
        ("'eu' IN (region, home)", {"home": "eu"}, T),
        ("NULL IN (1, 2)", {}, N),
    ],
)
def test_in(text: str, properties: dict[str, Scalar], expected: bool | None) -> None:
    assert evaluate(text, properties) is expected


# --- BETWEEN ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "properties", "expected"),
    [
        ("amount BETWEEN 10 AND 20", {"amount": 10}, T),  # bounds are inclusive
        ("amount BETWEEN 10 AND 20", {"amount": 20}, T),
        ("amount BETWEEN 10 AND 20", {"amount": 15.5}, T),
        ("amount BETWEEN 10 AND 20", {"amount": 9.99}, F),
        ("amount BETWEEN 10 AND 20", {"amount": 21}, F),
        ("amount BETWEEN 10 AND 20", {}, N),
        ("amount BETWEEN 20 AND 10", {"amount": 15}, F),  # not symmetric
        ("amount BETWEEN -5 AND -1", {"amount": -3}, T),
        ("amount NOT BETWEEN 10 AND 20", {"amount": 21}, T),
        ("amount NOT BETWEEN 10 AND 20", {"amount": 10}, F),
        ("amount NOT BETWEEN 10 AND 20", {}, N),
        ("region BETWEEN 'a' AND 'f'", {"region": "eu"}, T),
        ("amount BETWEEN low AND high", {"amount": 5, "low": 1, "high": 5}, T),
        # a NULL bound: NULL unless the other bound already fails (it is x >= lo AND x <= hi)
        ("amount BETWEEN NULL AND 20", {"amount": 15}, N),
        ("amount BETWEEN 10 AND NULL", {"amount": 15}, N),
        ("amount BETWEEN low AND 20", {"amount": 15}, N),
        ("amount BETWEEN NULL AND 20", {"amount": 25}, F),
        ("amount NOT BETWEEN NULL AND 20", {"amount": 25}, T),
    ],
)
def test_between(text: str, properties: dict[str, Scalar], expected: bool | None) -> None:
    assert evaluate(text, properties) is expected


# --- IS NULL ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "properties", "expected"),
    [
        ("note IS NULL", {}, T),
        ("note IS NULL", {"note": ""}, F),
        ("note IS NULL", {"note": 0}, F),
        ("note IS NULL", {"note": False}, F),
        ("note IS NULL", {"note": None}, T),  # a JSON null counts as NULL too
        ("note IS NOT NULL", {"note": "x"}, T),
        ("note IS NOT NULL", {}, F),
        ("NOT note IS NULL", {}, F),
        ("NULL IS NULL", {}, T),
        ("1 IS NOT NULL", {}, T),
    ],
)
def test_is_null(text: str, properties: dict[str, Any], expected: bool | None) -> None:
    assert evaluate(text, properties) is expected


# --- LIKE ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("abc", "abc", T),
        ("abc", "abcd", F),  # the whole value must match
        ("a%", "abc", T),
        ("a%", "a", T),
        ("a%", "ba", F),
        ("%c", "abc", T),
        ("%b%", "abc", T),
        ("%b%", "ac", F),
        ("%", "", T),
        ("a_c", "abc", T),
        ("a_c", "ac", F),
        ("a_c", "abbc", F),
        ("___", "abc", T),
        ("a%b%c", "a-b-c", T),
        ("a%b%c", "a-c-b", F),
        ("%ab%ab", "abab", T),
        ("%ab%ab", "aab", F),
        ("a%%c", "ac", T),
        ("%\n%", "line\nbreak", T),  # % spans newlines
        ("ABC", "abc", F),  # case-sensitive
        # everything except % and _ is literal, including regex specials
        ("a.c", "abc", F),
        ("a.c", "a.c", T),
        ("a*", "aaa", F),
        ("a*", "a*", T),
        ("(a|b)", "a", F),
        ("(a|b)", "(a|b)", T),
        ("[ab]", "[ab]", T),
        ("x+?^$", "x+?^$", T),
        ("a\\%", "a\\bc", T),  # no escape character: backslash is literal and % still a wildcard
        ("a\\_", "a\\x", T),
        ("{1}", "{1}", T),
    ],
)
def test_like(pattern: str, value: str, expected: bool) -> None:
    text = "name LIKE '" + pattern.replace("'", "''") + "'"
    assert evaluate(text, {"name": value}) is expected
    assert evaluate(text.replace(" LIKE ", " NOT LIKE "), {"name": value}) is (not expected)


@pytest.mark.parametrize(
    ("text", "properties", "expected"),
    [
        ("name LIKE 'a%'", {}, N),
        ("name NOT LIKE 'a%'", {}, N),
        ("name LIKE NULL", {"name": "a"}, N),
        ("name LIKE pattern", {"name": "abc", "pattern": "a_c"}, T),
        ("name LIKE pattern", {"name": "abc"}, N),
        ("'abc' LIKE 'a%'", {}, T),
        ("NOT name LIKE 'a%'", {"name": "b"}, T),
        ("NOT (name NOT LIKE 'a%')", {"name": "abc"}, T),
        # a non-string never matches, like = across kinds
        ("amount LIKE '1%'", {"amount": 10}, F),
        ("amount NOT LIKE '1%'", {"amount": 10}, T),
        ("name LIKE pattern", {"name": "1", "pattern": 1}, F),
    ],
)
def test_like_nulls_and_kinds(
    text: str, properties: dict[str, Scalar], expected: bool | None
) -> None:
    assert evaluate(text, properties) is expected


def test_like_has_no_catastrophic_backtracking() -> None:
    compiled = compile_filter("name LIKE '" + "%a" * 30 + "%b'")

    assert compiled.evaluate({"name": "a" * 5000}) is F
    assert compiled.evaluate({"name": "a" * 5000 + "b"}) is T


# --- identifiers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "properties", "expected"),
    [
        ('"my prop" = 1', {"my prop": 1}, T),
        ('"my prop" = 1', {"my_prop": 1}, N),
        ("\"Region\" = 'eu'", {"Region": "eu", "region": "us"}, T),
        ("Region = 'eu'", {"Region": "eu", "region": "us"}, T),  # names are case-sensitive
        ('"a""b" = 1', {'a"b': 1}, T),  # doubled quote inside a quoted name
        ('"select" = 1', {"select": 1}, T),  # keywords work when quoted
        ('"current_date" = 1', {"current_date": 1}, T),
        ('"x" = "y"', {"x": "same", "y": "same"}, T),  # double quotes are names, not strings
        ("type = 'a' AND status = 'b' AND value = 1", {"type": "a", "status": "b", "value": 1}, T),
    ],
)
def test_identifiers(text: str, properties: dict[str, Scalar], expected: bool | None) -> None:
    assert evaluate(text, properties) is expected


# --- type semantics -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "properties", "expected"),
    [
        # a string is not a number: = is FALSE, != TRUE, ordering unknown
        ("amount = 100", {"amount": "100"}, F),
        ("amount != 100", {"amount": "100"}, T),
        ("amount <> 100", {"amount": "100"}, T),
        ("amount < 100", {"amount": "100"}, N),
        ("amount <= 100", {"amount": "100"}, N),
        ("amount > 100", {"amount": "100"}, N),
        ("amount >= 100", {"amount": "100"}, N),
        ("amount BETWEEN 1 AND 200", {"amount": "100"}, N),
        ("region = 'eu'", {"region": 1}, F),
        # a bool is not a number either (even though True == 1 in Python)
        ("is_test = 1", {"is_test": True}, F),
        ("is_test = 0", {"is_test": False}, F),
        ("is_test <> 1", {"is_test": True}, T),
        ("is_test > 0", {"is_test": True}, N),
        ("count = TRUE", {"count": 1}, F),
        ("is_test = 'true'", {"is_test": True}, F),
        # int and float are one kind
        ("amount = 2", {"amount": 2.0}, T),
        ("amount < 2.5", {"amount": 2}, T),
        # between two properties the same rules apply
        ("a = b", {"a": 1, "b": "1"}, F),
        ("a <> b", {"a": 1, "b": "1"}, T),
        ("a < b", {"a": 1, "b": "1"}, N),
        # NOT of a mismatch follows the same rule
        ("NOT amount = 100", {"amount": "100"}, T),
        ("NOT amount < 100", {"amount": "100"}, N),
    ],
)
def test_type_mismatch(text: str, properties: dict[str, Scalar], expected: bool | None) -> None:
    assert evaluate(text, properties) is expected


@pytest.mark.parametrize(
    ("text", "properties", "expected"),
    [
        ("is_test", {"is_test": True}, T),
        ("is_test", {"is_test": False}, F),
        ("is_test", {}, N),
        ("is_test", {"is_test": 1}, N),  # only a real boolean is a truth value
        ("is_test", {"is_test": "true"}, N),
        ("NOT is_test", {"is_test": False}, T),
        ("(is_test)", {"is_test": True}, T),
        ("is_test AND region = 'eu'", {"is_test": True, "region": "eu"}, T),
        ("is_test AND region = 'eu'", {"is_test": "yes", "region": "eu"}, N),
        ("is_test OR region = 'eu'", {"is_test": "yes", "region": "eu"}, T),
        ("TRUE", {}, T),
        ("FALSE", {}, F),
        ("NULL", {}, N),
        ('"is test"', {"is test": True}, T),
    ],
)
def test_bare_boolean(text: str, properties: dict[str, Scalar], expected: bool | None) -> None:
    assert evaluate(text, properties) is expected


def test_non_scalar_property_values_are_null() -> None:
    odd: dict[str, Any] = {"tags": ["a"], "meta": {"k": 1}, "note": None}

    assert evaluate("tags = 'a'", odd) is N
    assert evaluate("meta IS NULL", odd) is T
    assert evaluate("note IN (1)", odd) is N
    assert evaluate("note LIKE '%'", odd) is N


# --- refused constructs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SUBSTR(name, 1, 2) = 'ab'", r"function call SUBSTR in `SUBSTRING\(name, 1, 2\)`"),
        ("my_udf(name)", r"function call MY_UDF"),
        ("current_date = 1", r"function call CURRENT_DATE"),  # quote it to use it as a name
        ("a IN (SELECT id FROM t)", r"subquery in `a IN \(SELECT id FROM t\)`"),
        ("a = (SELECT 1)", r"subquery"),
        ("EXISTS (SELECT 1)", r"subquery"),
        ("a = ANY (1)", r"ANY quantifier"),
        ("SELECT a", r"subquery"),
        ("t.a = 1", r"qualified column t\.a"),
        ("s.t.a = 1", r"qualified column s\.t\.a"),
        ("*", r"unsupported syntax in deprecation_filter: \* in `\*`"),
        ("t.* = 1", r": \* in"),
        ("a + 1", r"arithmetic operator \+ is not a predicate"),
        ("a || 'x'", r"arithmetic operator \|\| is not a predicate"),
        ("POWER(a, 2) > 1", r"arithmetic operator POWER"),
        ("a & 1 = 1", r"arithmetic operator &"),
        ("1", r"literal 1 is not a predicate"),
        ("-1", r"literal -1 is not a predicate"),
        ("'x'", r"literal 'x' is not a predicate"),
        ("is_test AND 1", r"literal 1 is not a predicate"),
        ("NOT 'x'", r"literal 'x' is not a predicate"),
        ("(a = 1) = TRUE", r"predicate used as a value in `a = 1`"),
        ("a IN (1, 2) = TRUE", r"predicate used as a value"),
        ("a IS TRUE", r"IS TRUE \(only IS \[NOT\] NULL\)"),
        ("a IS NOT FALSE", r"IS FALSE"),
        ("a IS NOT DISTINCT FROM b", r"null-safe comparison"),
        ("a <=> b", r"null-safe comparison"),
        ("a ILIKE 'x%'", r"ILIKE"),
        ("a NOT ILIKE 'x%'", r"ILIKE"),
        ("a LIKE 'x!%' ESCAPE '!'", r"LIKE \.\.\. ESCAPE"),
        ("a LIKE 1", r"LIKE with a non-string pattern"),
        ("a LIKE ANY ('x%')", r"ANY quantifier"),
        ("a SIMILAR TO 'x'", r"SIMILAR TO"),
        ("a RLIKE 'x'", r"regular-expression match"),
        ("a GLOB 'x*'", r"GLOB"),
        ("a BETWEEN SYMMETRIC 1 AND 2", r"BETWEEN SYMMETRIC"),
        ("a IN ()", r"empty IN list"),
        ("a IN UNNEST(xs)", r"IN UNNEST"),
        ("(a, b) IN ((1, 2))", r"row value"),
        ("a = ?", r"query parameter"),
        ("a = :p", r"query parameter"),
        ("a = @p", r"query parameter"),
        ("a[1] = 1", r"subscript"),
        ("a = [1]", r"array"),
        ("a = 'x' COLLATE c", r"COLLATE"),
        ("a = ~1", r"arithmetic operator ~"),
    ],
)
def test_refused_construct_is_named(text: str, message: str) -> None:
    with pytest.raises(
        FilterSyntaxError, match=r"^unsupported syntax in deprecation_filter: "
    ) as info:
        compile_filter(text)

    assert re.search(message, str(info.value)), str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"the expression is empty"),
        ("   \n\t", r"the expression is empty"),
        ("a = 1; b = 2", r"multiple statements"),
        ("a = 1;;", r"multiple statements"),
        ("a =", r"line 1, column 3"),
        ("a = 1 AND", r"line 1"),
        ("a = 'unterminated", r"Error tokenizing"),
        ('"unterminated = 1', r"Error tokenizing"),
        ("(a = 1", r"invalid deprecation_filter"),
        ("a = 1 x y", r"invalid deprecation_filter"),
        ("a == = 1", r"invalid deprecation_filter"),
        ("-- only a comment", r"invalid deprecation_filter"),
        # sqlglot would read the stray token as an alias; it is a typo, not a name
        ("a = 1 b", r"unexpected text 'b' after an operand"),
        ("a = 1 AS b", r"unexpected text 'b'"),
        ("a = 0x1F", r"unexpected text 'x1F'"),
        ("a = 1_000", r"unexpected text '_000'"),
    ],
)
def test_invalid_text(text: str, message: str) -> None:
    with pytest.raises(FilterSyntaxError, match=r"^invalid deprecation_filter") as info:
        compile_filter(text)

    assert re.search(message, str(info.value)), str(info.value)
    assert "\x1b" not in str(info.value)  # sqlglot's terminal underlining is stripped


def test_filter_syntax_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        compile_filter("f(x)")


@pytest.mark.parametrize(
    "text",
    [
        "a = 1;",  # one statement with a trailing semicolon
        "a = 1 -- trailing comment",
        "/* leading */ a = 1",
        "a = +1",
        "a IN (1,)",  # sqlglot tolerates a trailing comma
    ],
)
def test_tolerated_spellings(text: str) -> None:
    assert evaluate(text, {"a": 1}) is T


# --- properties ---------------------------------------------------------------------------------


def _kleene_not(value: bool | None) -> bool | None:
    return None if value is None else not value


def _kleene_and(left: bool | None, right: bool | None) -> bool | None:
    if left is False or right is False:
        return False
    return None if left is None or right is None else True


def _kleene_or(left: bool | None, right: bool | None) -> bool | None:
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


_NAMES = ("a", "b", "c")


def _expressions(literal: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Random filters over properties a, b, c using every supported predicate form."""
    value = st.one_of(st.sampled_from(_NAMES), literal, st.just("NULL"))
    comparison = st.builds(
        "{} {} {}".format, value, st.sampled_from(["=", "!=", "<>", "<", "<=", ">", ">="]), value
    )
    membership = st.builds(
        lambda needle, negated, items: f"{needle} {negated}IN ({', '.join(items)})",
        value,
        st.sampled_from(["", "NOT "]),
        st.lists(value, min_size=1, max_size=4),
    )
    between = st.builds(
        "{} {}BETWEEN {} AND {}".format, value, st.sampled_from(["", "NOT "]), value, value
    )
    null_test = st.builds("{} IS {}NULL".format, value, st.sampled_from(["", "NOT "]))
    constant = st.sampled_from(["TRUE", "FALSE", "NULL"])
    leaf = st.one_of(comparison, membership, between, null_test, constant)
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds("NOT ({})".format, inner),
            st.builds("({}) AND ({})".format, inner, inner),
            st.builds("({}) OR ({})".format, inner, inner),
        ),
        max_leaves=6,
    )


_INT_LITERALS = st.integers(-3, 3).map(str)
_STR_LITERALS = st.sampled_from(["''", "'a'", "'b'", "'ab'", "'B'"])
_MIXED_LITERALS = st.one_of(_INT_LITERALS, _STR_LITERALS, st.sampled_from(["TRUE", "FALSE", "1.5"]))
_MIXED_VALUES: st.SearchStrategy[Scalar] = st.one_of(
    st.integers(-3, 3), st.sampled_from(["", "a", "b", "ab", "B"]), st.booleans(), st.just(1.5)
)


@settings(max_examples=300, deadline=None)
@given(
    left=_expressions(_MIXED_LITERALS),
    right=_expressions(_MIXED_LITERALS),
    properties=st.dictionaries(st.sampled_from(_NAMES), _MIXED_VALUES),
)
def test_connectives_follow_kleene_logic(
    left: str, right: str, properties: dict[str, Scalar]
) -> None:
    """NOT, AND and OR of any two filters combine their separate results by Kleene's tables."""
    left_value = evaluate(left, properties)
    right_value = evaluate(right, properties)

    assert evaluate(f"NOT ({left})", properties) is _kleene_not(left_value)
    assert evaluate(f"({left}) AND ({right})", properties) is _kleene_and(left_value, right_value)
    assert evaluate(f"({left}) OR ({right})", properties) is _kleene_or(left_value, right_value)
    assert compile_filter(left)(properties) is (left_value is True)


def _sqlite(text: str, properties: Mapping[str, Scalar]) -> bool | None:
    with sqlite3.connect(":memory:") as connection:
        row = connection.execute(
            f"SELECT ({text}) FROM (SELECT ? AS a, ? AS b, ? AS c)",
            [properties.get(name) for name in _NAMES],
        ).fetchone()
    connection.close()
    return None if row[0] is None else bool(row[0])


@settings(max_examples=300, deadline=None)
@given(
    text=_expressions(_INT_LITERALS),
    properties=st.dictionaries(st.sampled_from(_NAMES), st.integers(-3, 3)),
)
def test_matches_sqlite_on_integers(text: str, properties: dict[str, Scalar]) -> None:
    """Where types cannot clash, the result is exactly what a real SQL engine computes."""
    assert evaluate(text, properties) is _sqlite(text, properties)


@settings(max_examples=300, deadline=None)
@given(
    text=_expressions(_STR_LITERALS),
    properties=st.dictionaries(st.sampled_from(_NAMES), st.sampled_from(["", "a", "b", "ab", "B"])),
)
def test_matches_sqlite_on_strings(text: str, properties: dict[str, Scalar]) -> None:
    assert evaluate(text, properties) is _sqlite(text, properties)


@settings(max_examples=500, deadline=None)
@given(
    pattern=st.text(alphabet="ab%_.*\\", max_size=8),
    value=st.text(alphabet="ab%_.*\\", max_size=8),
)
def test_like_agrees_with_a_regex_translation(pattern: str, value: str) -> None:
    translated = "".join(
        ".*" if char == "%" else "." if char == "_" else re.escape(char) for char in pattern
    )
    expected = re.fullmatch(translated, value, re.DOTALL) is not None

    assert evaluate(f"v LIKE '{pattern}'", {"v": value}) is expected
