"""The request and response values that cross the wire layer, independent of any transport.

Every transport (the in-process httpx transports, the threaded HTTP server) turns its own request
into a ``WireRequest``, calls ``orbsim.wire.routes.dispatch`` and writes the ``WireResponse`` back,
so all of them answer byte-identically. ``HeaderView`` is the in-process transport's cheap view
of httpx headers (here so the request log can use its raw index without importing httpx).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True, slots=True)
class WireRequest:
    method: str
    """Upper-case HTTP method."""
    path: str
    """Percent-encoded path as sent, e.g. ``/v1/customers/abc``; a leading ``/v1`` is optional."""
    query: str = ""
    """Raw query string without ``?`` (``customer_id[]=a&customer_id[]=b``)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Header names lower-cased."""
    body: bytes = b""


@dataclass(slots=True)
class WireResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    transport_fault: str | None = None
    """Set by an injected fault (``connect_error``, ``read_timeout``, ``lost_response``): the
    transport must not deliver this answer but raise (in-process) or drop the connection
    (server). ``None`` for every ordinary answer."""
    stream: Iterator[bytes] | None = None
    """A body produced as it is sent (``GET /_orbsim/state``), instead of ``body``: the server
    sends it chunked, the in-process transports as a streamed ``httpx.Response``. A transport
    that stops early closes it (a generator's ``close``)."""

    def close_stream(self) -> None:
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


class HeaderView(Mapping[str, str]):
    """Read-only view of httpx request headers keyed by lower-case name.

    ``httpx.Headers.get`` re-derives the header encoding on every call, which made header lookups
    the largest cost of an in-process request; this view indexes the raw bytes once and decodes
    only what ``dispatch`` reads. A repeated header keeps its last value. It lives here, not in
    ``transport.py``, so that the request log can keep the raw index (``raw``) instead of the view.
    """

    __slots__ = ("_raw",)

    @property
    def raw(self) -> dict[bytes, bytes]:
        """Lower-case raw name -> raw value (latin-1 bytes)."""
        return self._raw

    def __init__(self, headers: httpx.Headers) -> None:
        indexed = getattr(headers, "_list", None)  # (raw name, lower-case name, value) in httpx
        if isinstance(indexed, list):
            self._raw: dict[bytes, bytes] = {lower: value for _, lower, value in indexed}
        else:  # pragma: no cover - other httpx versions
            self._raw = {name.lower(): value for name, value in headers.raw}

    def get(self, key: str, default: Any = None) -> Any:
        value = self._raw.get(key.lower().encode("latin-1"))
        return default if value is None else value.decode("latin-1")

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return str(value)

    def __iter__(self) -> Iterator[str]:
        return (name.decode("latin-1") for name in self._raw)

    def __len__(self) -> int:
        return len(self._raw)


ADMIN_PREFIX = "/_orbsim/"
"""Paths of the simulator's own control API (``admin.py``), also reachable under ``/v1``."""
ADMIN_PREFIXES = (ADMIN_PREFIX, "/v1" + ADMIN_PREFIX)


def api_path(path: str) -> str:
    """``path`` without the SDK's ``/v1`` prefix (the one place that strips it)."""
    return path[3:] if path.startswith("/v1/") else path


def is_admin(path: str) -> bool:
    return path.startswith(ADMIN_PREFIXES)


def encode_body(body: bytes) -> dict[str, str]:
    """A body as JSON data: ``{"body": text}`` if it is UTF-8, else ``{"body_base64": ...}``."""
    try:
        return {"body": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"body_base64": base64.b64encode(body).decode("ascii")}


def decode_body(data: Mapping[str, Any]) -> bytes:
    """The bytes of an ``encode_body`` mapping; raises ValueError, KeyError or TypeError."""
    if "body_base64" in data:
        return base64.b64decode(data["body_base64"], validate=True)
    text = data["body"]
    if type(text) is not str:
        raise ValueError(f"body: expected a string, got {text!r}")
    return text.encode("utf-8")
