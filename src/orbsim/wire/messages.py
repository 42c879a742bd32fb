"""The request and response values that cross the wire layer, independent of any transport.

Every transport (the in-process httpx transports, the threaded HTTP server) turns its own request
into a ``WireRequest``, calls ``orbsim.wire.routes.dispatch`` and writes the ``WireResponse`` back,
so all of them answer byte-identically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None
