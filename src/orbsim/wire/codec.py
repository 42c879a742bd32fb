"""Bytes <-> values at the HTTP edge: query strings, JSON bodies, JSON and problem+json replies.

Kept apart from the route table so that ``routes.py`` reads as a list of endpoints. Everything
here fails with ``RequestValidationError`` (never a bare ``ValueError``), so a malformed request
always gets Orb's 400 answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

import pydantic_core
from pydantic import BaseModel

from orbsim.errors import OrbError, RequestValidationError
from orbsim.wire.messages import WireResponse

JSON = "application/json"


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class DuplicateKey(ValueError):
    """A JSON object names the same key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build each JSON object, refusing a repeated key (the standard decoder keeps the last).

    Which of two values a client meant is unknowable; RFC 8259 leaves it to the receiver, and a
    silent "last one wins" hides bugs in the code under test, so orbsim refuses the body.
    """
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return obj


_decoder = json.JSONDecoder(parse_constant=_no_constants, object_pairs_hook=_unique_keys)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def percent_decode(text: str) -> str:
    """``urllib.parse.unquote(text)``: an ASCII text (what clients send) is decoded in one step,
    as ``unquote`` decodes each ASCII run, without its splitting into runs."""
    if text.isascii():
        return unquote_to_bytes(text).decode("utf-8", "replace")
    return unquote(text)


class Query:
    """A parsed query string: repeated names keep every value, in order."""

    __slots__ = ("_values",)

    def __init__(self, raw: str) -> None:
        values: dict[str, list[str]] = {}
        if raw:
            # What parse_qsl(raw, keep_blank_values=True) gives (property-tested against it),
            # decoding only the names and values that contain an escape or a '+'.
            for field in raw.split("&"):
                if not field:
                    continue
                name, _, value = field.partition("=")
                if "+" in name:
                    name = name.replace("+", " ")
                if "%" in name:
                    name = percent_decode(name)
                if "+" in value:
                    value = value.replace("+", " ")
                if "%" in value:
                    value = percent_decode(value)
                values.setdefault(name, []).append(value)
        self._values = values

    def names(self) -> Iterable[str]:
        return self._values.keys()

    def one(self, name: str) -> str | None:
        """A scalar parameter; given twice is an error (which one would the caller mean?)."""
        values = self._values.get(name)
        if values is None:
            return None
        if len(values) > 1:
            raise RequestValidationError(
                f"query parameter {name!r} was given {len(values)} times; it takes one value"
            )
        return values[0]

    def many(self, *names: str) -> list[str] | None:
        """An array parameter sent as ``name[]=a&name[]=b`` (the SDK's format) or ``name=a``."""
        found: list[str] | None = None
        for name in names:
            values = self._values.get(name)
            if values is not None:
                found = (found or []) + values
        return found

    def integer(self, name: str) -> int | None:
        """An integer parameter such as ``limit``; anything but ASCII digits is refused."""
        value = self.one(name)
        if value is None:
            return None
        if not (value.isascii() and value.isdigit()):
            raise RequestValidationError(
                f"query parameter {name!r}: expected an integer, got {value!r}"
            )
        if len(value) > 9:
            raise RequestValidationError(f"query parameter {name!r}: {value} is too large")
        return int(value)

    def check_known(self, allowed: frozenset[str]) -> None:
        """Refuse names the endpoint does not take, so a typo never silently widens a filter."""
        unknown = self._values.keys() - allowed
        if unknown:
            accepted = ", ".join(sorted(allowed)) or "none"
            messages = [f"unknown query parameter {name!r}" for name in sorted(unknown)]
            raise RequestValidationError(
                f"{'; '.join(messages)} (this endpoint accepts: {accepted})",
                validation_errors=messages,
            )


NO_QUERY = Query("")
"""The query of a request without one (shared: a ``Query`` is never modified)."""


def parse_object(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is ``{}``."""
    if not body:
        return {}
    if content_type is not None and content_type != JSON:
        media = content_type.split(";", 1)[0].strip().lower()
        if media != JSON and not (media.startswith("application/") and media.endswith("+json")):
            raise RequestValidationError(
                f"Content-Type {content_type!r} is not supported; send {JSON}"
            )
    try:
        text = body.decode("utf-8")
        value = _decoder.decode(text)
    except UnicodeDecodeError:
        raise RequestValidationError("request body is not valid UTF-8") from None
    except RecursionError:
        raise RequestValidationError("request body is nested too deeply") from None
    except DuplicateKey as exc:
        raise RequestValidationError(
            f"request body names the key {exc.key!r} more than once in one object; "
            "send each key once",
            validation_errors=[f"duplicate key {exc.key!r}"],
        ) from None
    except ValueError as exc:
        raise RequestValidationError(f"request body is not valid JSON: {exc}") from None
    if type(value) is not dict:
        kind = "null" if value is None else type(value).__name__
        raise RequestValidationError(f"request body must be a JSON object, got {kind}")
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None:
        _refuse_lone_surrogates(value)
    return value


def _refuse_lone_surrogates(value: Any) -> None:
    """A ``\\ud800`` escape decodes to a string no UTF-8 response could carry: refuse it now."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise RequestValidationError(
            "request body contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)"
        ) from None


@dataclass(frozen=True, slots=True)
class Document:
    """A response given as plain data in a response model's shape (datetimes as ``datetime``):
    pydantic-core serialises it exactly as the model would (``orbsim.engine.usage.Document``),
    without building a model per entry."""

    data: dict[str, Any]


def json_response(status: int, payload: BaseModel | Document | dict[str, Any]) -> WireResponse:
    """A JSON reply; models serialise with their own (compact) pydantic serializer."""
    if isinstance(payload, BaseModel):
        body = payload.__pydantic_serializer__.to_json(payload)
    elif isinstance(payload, Document):
        body = pydantic_core.to_json(payload.data)
    else:
        body = json.dumps(payload, separators=(",", ":")).encode()
    return WireResponse(status, [("content-type", JSON)], body)


def empty_response(status: int = 204) -> WireResponse:
    return WireResponse(status, [], b"")


def problem_response(error: OrbError) -> WireResponse:
    """Orb's RFC 7807 body; ``x-should-retry: false`` stops the SDK retrying 409s and 429s."""
    body = json.dumps(error.to_problem(), separators=(",", ":"), default=str).encode()
    headers = [("content-type", JSON), *error.response_headers()]
    if error.should_retry is False:
        headers.append(("x-should-retry", "false"))
    return WireResponse(error.status, headers, body)
