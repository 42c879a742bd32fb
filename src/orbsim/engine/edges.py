"""Validating request parameters at the engine's edge with the models of ``orbsim.params``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from orbsim.engine.timeparse import optional_timestamp
from orbsim.errors import RequestValidationError
from orbsim.params import validation_messages

M = TypeVar("M", bound=BaseModel)


def parse_params(model: type[M], fields: Mapping[str, Any], what: str) -> M:
    """Validate ``fields`` with ``model``; any problem becomes one RequestValidationError."""
    try:
        return model.model_validate(dict(fields))
    except ValidationError as exc:
        messages = validation_messages(exc)
        raise RequestValidationError(
            f"invalid {what}: " + "; ".join(messages), validation_errors=messages
        ) from None


def exactly_one(what: str, **candidates: object) -> tuple[str, Any]:
    """The single non-null (name, value) of ``candidates``, else RequestValidationError."""
    given = [(name, value) for name, value in candidates.items() if value is not None]
    names = " / ".join(candidates)
    if len(given) != 1:
        state = "both were given" if given else "neither was given"
        raise RequestValidationError(f"{what}: exactly one of {names} is required; {state}")
    name, value = given[0]
    if not isinstance(value, str) or not value:
        raise RequestValidationError(f"{what}: {name} must be a non-empty string, got {value!r}")
    return name, value


def created_at_filter(
    *, gte: object = None, gt: object = None, lt: object = None, lte: object = None
) -> Callable[[datetime], bool]:
    """Orb's ``created_at[gte|gt|lt|lte]`` list filters as one predicate on a creation time
    (ISO 8601 strings or datetimes; a bad one is a RequestValidationError naming it)."""
    try:
        low = optional_timestamp(gte, "created_at[gte]")
        above = optional_timestamp(gt, "created_at[gt]")
        below = optional_timestamp(lt, "created_at[lt]")
        high = optional_timestamp(lte, "created_at[lte]")
    except ValueError as exc:
        raise RequestValidationError(str(exc)) from None
    return lambda created: (
        (low is None or created >= low)
        and (above is None or created > above)
        and (below is None or created < below)
        and (high is None or created <= high)
    )


def merge_metadata(
    current: Mapping[str, str], update: Mapping[str, str | None] | None
) -> dict[str, str]:
    """Orb's metadata semantics: a null value removes a key, a null map clears everything."""
    if update is None:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


Inert = Callable[[Any], bool]
"""Whether a value of an unsimulated field asks for nothing orbsim would have to simulate."""


def is_null(value: Any) -> bool:
    return value is None


def null_or(*accepted: Any) -> Inert:
    """Null, or one of ``accepted`` (compared with their type: ``0`` is not ``False``)."""
    return lambda value: (
        value is None or any(type(value) is type(ok) and value == ok for ok in accepted)
    )


def null_or_one(value: Any) -> bool:
    """Null, or the number 1 (a factor or rate that changes nothing)."""
    return value is None or (
        isinstance(value, int | float) and not isinstance(value, bool) and value == 1
    )


def is_empty(value: Any) -> bool:
    """Null, or a list or object holding nothing but empty values."""
    if value is None or value == [] or value == {}:
        return True
    if isinstance(value, Mapping):
        return all(is_empty(item) for item in value.values())
    return False


def unsimulated_problems(
    given: Mapping[str, Any], rules: Mapping[str, tuple[Inert, str]], prefix: str = ""
) -> list[str]:
    """One message per field of ``rules`` given with a value its predicate does not call inert,
    naming the field (after ``prefix``), the value and why orbsim does not simulate it."""
    return [
        f"{prefix}{name}: {given[name]!r} is not simulated by orbsim ({why})"
        for name, (inert, why) in rules.items()
        if name in given and not inert(given[name])
    ]


def refuse_unsimulated(
    what: str, given: Mapping[str, Any], rules: Mapping[str, tuple[Inert, str]]
) -> None:
    """Refuse, with a 400 naming each field and value, what orbsim does not simulate: a field of
    ``rules`` given with a value its predicate does not call inert (null and the value orbsim
    behaves as are accepted, as the SDK sends them when the user sets nothing)."""
    problems = unsimulated_problems(given, rules)
    if problems:
        raise RequestValidationError(
            f"{what}: " + "; ".join(problems) + "; omit them or send null",
            validation_errors=problems,
        )
