"""What every events operation does with its arguments: ``MISSING`` marks one not given,
``refuse_unknown`` refuses any it does not know."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orbsim.errors import RequestValidationError

MISSING: Any = object()


def refuse_unknown(what: str, unknown: Mapping[str, Any], hint: str = "") -> None:
    if unknown:
        names = ", ".join(sorted(unknown))
        messages = [
            f"unknown field {name!r}{hint if name == 'idempotency_key' else ''}"
            for name in sorted(unknown)
        ]
        raise RequestValidationError(
            f"{what}: unknown field(s) {names}{hint if 'idempotency_key' in unknown else ''}",
            validation_errors=messages,
        )
