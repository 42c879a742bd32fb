"""httpx transports that answer from an ``OrbSim`` in-process, through ``routes.dispatch``.

No sockets, no threads, no event-loop hops: the request is turned into a ``WireRequest`` and the
``WireResponse`` into an ``httpx.Response``. The path is taken raw (still percent-encoded) so an id
containing ``/`` (``a%2Fb``) stays one path parameter.

The async transport calls the same synchronous dispatch: the engine is CPU-bound and answers in
microseconds, so a thread hop would cost more than it saves.

Injected transport faults (``sim.faults``) are realised here: an answer whose ``transport_fault``
is set is not delivered; ``connect_error`` raises ``httpx.ConnectError``, ``read_timeout`` and
``lost_response`` raise ``httpx.ReadTimeout`` (for ``lost_response`` after the simulator
committed). Without faults this costs one attribute check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, NoReturn

import httpx

from orbsim._internals import set_read_content
from orbsim.wire.messages import HeaderView, WireRequest, WireResponse
from orbsim.wire.routes import dispatch

if TYPE_CHECKING:
    from orbsim.sim import OrbSim

__all__ = ["AsyncOrbSimTransport", "HeaderView", "OrbSimTransport"]


class _Stream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A streamed reply's body, for ``httpx`` (sync or async: the chunks are computed)."""

    def __init__(self, reply: WireResponse) -> None:
        self._reply = reply

    def __iter__(self) -> Iterator[bytes]:
        assert self._reply.stream is not None
        yield from self._reply.stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert self._reply.stream is not None
        for chunk in self._reply.stream:
            yield chunk

    def close(self) -> None:
        self._reply.close_stream()

    async def aclose(self) -> None:
        self._reply.close_stream()


def _httpx_response(reply: WireResponse) -> httpx.Response:
    """The reply as an ``httpx.Response`` whose body is already read (a streamed reply's is
    read as the client reads it).

    ``httpx.Response(content=...)`` reads a bytes body eagerly through its streaming machinery,
    which cost more than everything else on this path; the body is in memory, so it is handed
    over as the response's content directly (``orbsim._internals.set_read_content``).
    """
    if reply.stream is not None:
        return httpx.Response(reply.status, headers=reply.headers, stream=_Stream(reply))
    body = reply.body
    response = httpx.Response(
        reply.status,
        headers=[*reply.headers, ("content-length", str(len(body)))],
        stream=httpx.ByteStream(body),
    )
    set_read_content(response, body)
    return response


def _raise_transport_fault(kind: str, request: httpx.Request) -> NoReturn:
    """The httpx exception a real network failure of this kind produces."""
    if kind == "connect_error":
        raise httpx.ConnectError(
            "orbsim injected connect_error: connection refused", request=request
        )
    if kind == "lost_response":
        raise httpx.ReadTimeout(
            "orbsim injected lost_response: the request was processed, the answer never came",
            request=request,
        )
    raise httpx.ReadTimeout("orbsim injected read_timeout: no answer in time", request=request)


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
        reply = dispatch(self.sim, _wire_request(request, body))
        if reply.transport_fault is not None:
            _raise_transport_fault(reply.transport_fault, request)
        return _httpx_response(reply)


class AsyncOrbSimTransport(httpx.AsyncBaseTransport):
    """Async transport: ``httpx.AsyncClient(transport=sim.async_transport())``."""

    def __init__(self, sim: OrbSim) -> None:
        self.sim = sim

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        reply = dispatch(self.sim, _wire_request(request, body))
        if reply.transport_fault is not None:
            _raise_transport_fault(reply.transport_fault, request)
        return _httpx_response(reply)
