"""Writing an answer: a ``WireResponse``'s bytes on the wire, unchanged.

Every answer is the ``WireResponse`` that ``dispatch`` returns, written as it is (hop-by-hop
headers replaced by the server's own framing), so the server and the in-process transports
answer byte-identically. Writes go to non-blocking sockets, each bounded by a timeout, and a
streamed body is sent chunk by chunk as it is produced, never whole in memory.
"""

from __future__ import annotations

import select
import socket
import time
from http import HTTPStatus

from orbsim.wire.messages import WireResponse

_NO_CONTENT = frozenset({204, 304})
_HOP_BY_HOP = frozenset({"connection", "content-length", "keep-alive", "transfer-encoding"})

_STATUS_LINES: dict[int, str] = {}
"""``HTTP/1.1 200 OK`` and the like, by status, as ``encode_response`` first writes them."""


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def send_all(sock: socket.socket, data: bytes, timeout: float) -> None:
    """Write all of ``data`` to the non-blocking ``sock``, waiting for room at most ``timeout``
    seconds in all (``TimeoutError``, an ``OSError``, past it). The common case is one ``send``
    that takes everything: no poll before it, as ``sendall`` on a socket with a timeout does."""
    try:
        sent = sock.send(data)
    except (BlockingIOError, InterruptedError):
        sent = 0
    if sent == len(data):
        return
    view = memoryview(data)[sent:]
    deadline = time.monotonic() + timeout
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    while view:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"the client did not take the answer within {timeout} s")
        if not poller.poll(remaining * 1000):
            continue
        try:
            sent = sock.send(view)
        except (BlockingIOError, InterruptedError):
            continue
        view = view[sent:]


def send_stream(
    sock: socket.socket,
    response: WireResponse,
    head_only: bool,
    close: bool,
    v10: bool,
    timeout: float,
) -> None:
    """Send a streamed response: chunked (HTTP/1.0: raw, then the connection closes), each
    chunk as it is produced, so the body is never whole in memory; each write bounded by
    ``timeout`` as in ``send_all``."""
    assert response.stream is not None
    send_all(sock, encode_response(response, True, close, v10, chunked=not v10), timeout)
    if head_only:
        return
    for chunk in response.stream:
        if chunk:
            send_all(sock, chunk if v10 else b"%x\r\n%b\r\n" % (len(chunk), chunk), timeout)
    if not v10:
        send_all(sock, b"0\r\n\r\n", timeout)


def encode_response(
    response: WireResponse, head_only: bool, close: bool, v10: bool, *, chunked: bool = False
) -> bytes:
    """The response's bytes: its own headers (hop-by-hop ones replaced), length (or chunked
    encoding), connection."""
    status = response.status
    status_line = _STATUS_LINES.get(status)
    if status_line is None:
        status_line = f"HTTP/1.1 {status} {_phrase(status)}"
        if 100 <= status <= 599:
            _STATUS_LINES[status] = status_line
    lines = [status_line]
    for name, value in response.headers:
        if name.lower() in _HOP_BY_HOP or "\r" in value or "\n" in value:
            continue  # a header value can never split the response
        lines.append(f"{name}: {value}")
    if status in _NO_CONTENT or status < 200:  # no body, and no Content-Length (RFC 9110)
        body = b""
    elif response.stream is not None:
        body = b""
        if chunked:
            lines.append("Transfer-Encoding: chunked")
    else:
        body = response.body
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    elif v10:
        lines.append("Connection: keep-alive")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    return head if head_only else head + body
