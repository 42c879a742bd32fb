"""Per-event validation for ingestion and amendment: the hot path, so plain code, no pydantic.

Each check appends a message naming the field, the rule and the offending value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orbsim.times import to_utc

EVENT_KEYS = frozenset(
    (
        "event_name",
        "timestamp",
        "properties",
        "idempotency_key",
        "customer_id",
        "external_customer_id",
    )
)
AMEND_KEYS = EVENT_KEYS - {"idempotency_key"}
SCALARS: frozenset[type] = frozenset((str, int, float, bool))
_SCALARS = SCALARS
fromisoformat = datetime.fromisoformat
_fromisoformat = fromisoformat


def short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_timestamp(value: object, errors: list[str]) -> datetime | None:
    """Parse an event timestamp to aware UTC, or record why it is not one."""
    if type(value) is str:
        try:
            parsed = _fromisoformat(value)
        except ValueError:
            errors.append(
                f"timestamp: {short(value)} is not an ISO 8601 timestamp "
                "(e.g. 2024-05-01T12:00:00Z)"
            )
            return None
        if len(value) <= 10:  # "2024-05-20" or "20240520": a date without a time
            errors.append(
                f"timestamp: {short(value)} is a date, not a date-time (e.g. 2024-05-01T12:00:00Z)"
            )
            return None
    elif isinstance(value, datetime):
        parsed = value
    else:
        errors.append(f"timestamp: expected an ISO 8601 string, got {short(value)}")
        return None
    try:
        return to_utc(parsed, "timestamp")
    except ValueError as exc:
        errors.append(str(exc))
        return None


def check_properties(value: object, errors: list[str]) -> dict[str, Any] | None:
    """Properties must be a flat object of string, number or boolean values; returns a copy."""
    if type(value) is not dict:
        errors.append(f"properties: expected an object, got {short(value)}")
        return None
    scalars = _SCALARS
    for key, item in value.items():
        kind = type(item)
        if kind not in scalars:
            if type(key) is not str:
                errors.append(f"properties: keys must be strings, got {short(key)}")
            elif item is None:
                errors.append(
                    f"properties.{key}: null is not allowed (use string, number or boolean)"
                )
            elif isinstance(item, dict | list | tuple):
                errors.append(
                    f"properties.{key}: nested {type(item).__name__} values are not allowed; "
                    "values must be string, number or boolean"
                )
            else:
                errors.append(f"properties.{key}: {short(item)} is not a string, number or boolean")
        elif kind is float and item - item != 0:
            errors.append(f"properties.{key}: {item!r} is not a finite number")
        elif type(key) is not str:
            errors.append(f"properties: keys must be strings, got {short(key)}")
    return dict(value)


def check_event_name(value: object, errors: list[str]) -> str | None:
    if type(value) is str and value:
        return value
    errors.append(f"event_name: expected a non-empty string, got {short(value)}")
    return None


def check_customer_ids(
    customer_id: object, external_customer_id: object, errors: list[str]
) -> bool:
    """Exactly one of the two ids, as a non-empty string (null counts as absent)."""
    if customer_id is None:
        if external_customer_id is None:
            errors.append(
                "exactly one of customer_id / external_customer_id is required; neither was given"
            )
            return False
        if type(external_customer_id) is not str or not external_customer_id:
            errors.append(
                "external_customer_id: expected a non-empty string, got "
                + short(external_customer_id)
            )
            return False
        return True
    if external_customer_id is not None:
        errors.append(
            "exactly one of customer_id / external_customer_id is required; both were given "
            f"({short(customer_id)} and {short(external_customer_id)})"
        )
        return False
    if type(customer_id) is not str or not customer_id:
        errors.append(f"customer_id: expected a non-empty string, got {short(customer_id)}")
        return False
    return True


def unknown_keys(event: dict[str, Any], allowed: frozenset[str]) -> list[str]:
    return sorted(str(k) for k in event if k not in allowed)
