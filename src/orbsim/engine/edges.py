"""Validating request parameters at the engine's edge with the models of ``orbsim.params``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

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
