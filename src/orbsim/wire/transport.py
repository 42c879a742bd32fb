"""httpx transports that answer from an ``OrbSim`` in-process, through ``routes.dispatch``.

No sockets, no threads, no event-loop hops: the request is turned into a ``WireRequest`` and the
``WireResponse`` into an ``httpx.Response``. The path is taken raw (still percent-encoded) so an id
containing ``/`` (``a%2Fb``) stays one path parameter.

The async transport calls the same synchronous dispatch: the engine is CPU-bound and answers in
microseconds, so a thread hop would cost more than it saves.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from orbsim.wire.messages import WireRequest, WireResponse
from orbsim.wire.routes import dispatch

if TYPE_CHECKING:
    from orbsim.engine.sim import OrbSim


class HeaderView(Mapping[str, str]):
    """Read-only view of httpx request headers keyed by lower-case name.

    ``httpx.Headers.get`` re-derives the header encoding on every call, which made header lookups
    the largest cost of an in-process request; this view indexes the raw bytes once and decodes
    only what ``dispatch`` reads. A repeated header keeps its last value.
    """

    __slots__ = ("_raw",)

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


def _httpx_response(reply: WireResponse) -> httpx.Response:
    """The reply as an ``httpx.Response`` whose body is already read.

    ``httpx.Response(content=...)`` reads a bytes body eagerly through its streaming machinery,
    which cost more than everything else on this path; the body is in memory, so it is handed
    over as the response's content directly. (Should httpx stop honouring ``_content``, the body
    is still read from the stream: correct, only slower.)
    """
    body = reply.body
    response = httpx.Response(
        reply.status,
        headers=[*reply.headers, ("content-length", str(len(body)))],
        stream=httpx.ByteStream(body),
    )
    response._content = body
    return response


def _wire_request(request: httpx.Request, body: bytes) -> WireRequest:
    path, _, query = request.url.raw_path.partition(b"?")
    return WireRequest(
        request.method,
        path.decode("latin-1"),
        query.decode("latin-1"),
        HeaderView(request.headers),
        body,
    )


class OrbSimTransport(httpx.BaseTransport):
    """Sync transport: ``httpx.Client(transport=sim.transport())``."""

    def __init__(self, sim: OrbSim) -> None:
        self.sim = sim

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = request.read()
        return _httpx_response(dispatch(self.sim, _wire_request(request, body)))


class AsyncOrbSimTransport(httpx.AsyncBaseTransport):
    """Async transport: ``httpx.AsyncClient(transport=sim.async_transport())``."""

    def __init__(self, sim: OrbSim) -> None:
        self.sim = sim

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        return _httpx_response(dispatch(self.sim, _wire_request(request, body)))
