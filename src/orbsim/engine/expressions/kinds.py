"""What a value is and how values convert, compare and compute, with no sqlglot in sight.

Kinds never coerce implicitly (a string is not a number); numbers are exact decimals (a float
enters by its shortest repr); ``CAST`` of text that does not parse is NULL; division or modulo by
zero is NULL. The rules are listed in :mod:`orbsim.engine.expressions`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

Comparator = Callable[[Any, Any], bool]


# --- kinds --------------------------------------------------------------------------------------

NUM: Final = 1
STR: Final = 2
BOOL: Final = 3
TIME: Final = 4
KINDS: Final[dict[type[object], int]] = {
    bool: BOOL,
    int: NUM,
    float: NUM,
    Decimal: NUM,
    str: STR,
    datetime: TIME,
}


def kind_of(value: object) -> int | None:
    """The comparison kind of a value; ``None`` means SQL NULL (missing, ``None`` or non-scalar)."""
    kind = KINDS.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float | Decimal):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return NUM
    if isinstance(value, str):
        return STR
    if isinstance(value, datetime):
        return TIME
    return None


def as_number(value: object) -> int | Decimal | None:
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
    return as_number(int(value) if isinstance(value, int) else float(value))


def _same_kind_pair(left: object, right: object) -> tuple[object, object]:
    """Make a float and a Decimal comparable exactly (a float by its shortest repr)."""
    if type(left) is float and type(right) is Decimal:
        return Decimal(repr(left)), right
    if type(left) is Decimal and type(right) is float:
        return left, Decimal(repr(right))
    return left, right


def divide(a: int | Decimal, b: int | Decimal) -> Decimal | None:
    if b == 0:
        return None
    return Decimal(a) / Decimal(b)


def modulo(a: int | Decimal, b: int | Decimal) -> int | Decimal | None:
    if b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return int(math.fmod(a, b)) if abs(a) < 2**53 and abs(b) < 2**53 else a - b * int(a / b)
    return Decimal(a) % Decimal(b)


def to_decimal(value: object) -> Decimal | int | None:
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            return None
        return parsed if parsed.is_finite() else None
    return as_number(value)


def to_integer(value: object) -> int | None:
    number = to_decimal(value)
    return None if number is None else int(number)


def to_boolean(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        return True if lowered == "true" else False if lowered == "false" else None
    number = as_number(value)
    return None if number is None else number != 0


def to_time(value: object) -> datetime | None:
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


def to_text(value: object) -> str | None:
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


def truncate_time(moment: datetime, unit: str) -> datetime:
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


def compare_values(
    left: object, right: object, op: Comparator, mismatch: bool | None
) -> bool | None:
    left_kind = kind_of(left)
    right_kind = kind_of(right)
    if left_kind is None or right_kind is None:
        return None
    if left_kind != right_kind:
        return mismatch
    left, right = _same_kind_pair(left, right)
    return op(left, right)
