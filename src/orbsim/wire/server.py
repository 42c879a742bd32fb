"""A real HTTP/1.1 server in front of ``orbsim.wire.routes.dispatch`` (stdlib only).

``OrbSimServer`` binds at construction (so ``port`` and ``base_url`` are known at once), serves
from a daemon thread after ``start()``, and stops gracefully: in-flight requests finish, idle
keep-alive connections are closed, every handler thread is waited for. Each connection gets its
own daemon thread and stays open across requests (HTTP/1.1 keep-alive), with ``TCP_NODELAY`` so
small responses leave at once. Every request becomes a ``WireRequest`` and every answer is the
``WireResponse`` that ``dispatch`` returns, written unchanged, so the server and the in-process
transports answer byte-identically.

An answer carrying an injected transport fault (``WireResponse.transport_fault``: connect_error,
read_timeout, lost_response) is not written: the connection is closed without a response, which
the client sees as a dropped connection (httpx: ``RemoteProtocolError``; the SDK retries it on a
new connection). For ``lost_response`` the simulator has committed the request first.

Request bodies are framed by ``Content-Length`` or by ``Transfer-Encoding: chunked``; a request
with neither has an empty body (RFC 9112). A malformed length or chunk framing gets a 400
problem+json answer and the connection is closed.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from orbsim.errors import OrbInternalServerError, RequestValidationError
from orbsim.wire.codec import problem_response
from orbsim.wire.messages import WireRequest, WireResponse

if TYPE_CHECKING:
    from orbsim.sim import OrbSim

Dispatch = Callable[["OrbSim", WireRequest], WireResponse]
"""The signature of ``orbsim.wire.routes.dispatch``."""

_MAX_LINE = 65536
_READ_PIECE = 1 << 20
_NO_CONTENT = frozenset({204, 304})
_HOP_BY_HOP = frozenset({"connection", "content-length", "keep-alive", "transfer-encoding"})


class _FramingError(ValueError):
    """The request body's framing (length or chunks) cannot be read."""


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _read_exact(rfile: BufferedIOBase, size: int) -> bytes:
    """Read ``size`` bytes; memory grows with the bytes that arrive, not with the size claimed."""
    if size <= _READ_PIECE:
        data = rfile.read(size) if size else b""
    else:
        pieces: list[bytes] = []
        left = size
        while left:
            piece = rfile.read(min(left, _READ_PIECE))
            if not piece:
                break
            pieces.append(piece)
            left -= len(piece)
        data = b"".join(pieces)
    if len(data) != size:
        raise _FramingError(f"body ended after {len(data)} of {size} bytes")
    return data


def _read_chunked(rfile: BufferedIOBase) -> bytes:
    """Decode a ``Transfer-Encoding: chunked`` body; trailers are read and dropped."""
    parts: list[bytes] = []
    while True:
        line = rfile.readline(_MAX_LINE + 1)
        if not line.endswith(b"\n"):
            raise _FramingError("truncated or overlong chunk size line")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _FramingError(f"invalid chunk size {size_text!r}") from None
        if size < 0:
            raise _FramingError(f"invalid chunk size {size_text!r}")
        if size == 0:
            break
        parts.append(_read_exact(rfile, size))
        if rfile.readline(3) not in (b"\r\n", b"\n"):
            raise _FramingError("chunk not followed by CRLF")
    while True:  # trailer section, ended by an empty line
        line = rfile.readline(_MAX_LINE + 1)
        if line in (b"\r\n", b"\n", b""):
            return b"".join(parts)
        if not line.endswith(b"\n"):
            raise _FramingError("overlong trailer line")


class _Handler(BaseHTTPRequestHandler):
    """Turns each HTTP request on a connection into one ``dispatch`` call."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def handle_one_request(self) -> None:
        """Read one request (any method) and answer it; the stdlib's loop handles keep-alive."""
        try:
            self.raw_requestline = self.rfile.readline(_MAX_LINE + 1)
            if len(self.raw_requestline) > _MAX_LINE:
                self.requestline = self.request_version = self.command = ""
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return  # the stdlib has answered 400/505 and closes the connection
            self._answer()
        except TimeoutError:
            self.close_connection = True

    def _answer(self) -> None:
        server = self.server
        fields: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            fields[key] = f"{fields[key]}, {value}" if key in fields else value
        try:
            body = self._read_body(fields)
        except _FramingError as exc:
            self.close_connection = True  # the rest of the stream cannot be trusted
            response = problem_response(RequestValidationError(f"malformed request body: {exc}"))
        else:
            target = self.path
            if not target.startswith("/"):  # absolute-form request target
                parts = urlsplit(target)
                target = parts.path + (f"?{parts.query}" if parts.query else "")
            path, _, query = target.partition("?")
            request = WireRequest(self.command.upper(), path, query, fields, body)
            try:
                response = server.dispatch(server.sim, request)
            except Exception as exc:  # dispatch should never raise; answer like Orb would
                response = problem_response(
                    OrbInternalServerError(f"orbsim: unhandled {type(exc).__name__}: {exc}")
                )
        if response.transport_fault is not None:
            self.close_connection = True  # drop the connection without answering
            return
        if server.closing:
            self.close_connection = True
        self._write(response)

    def _read_body(self, fields: dict[str, str]) -> bytes:
        encoding = fields.get("transfer-encoding")
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise _FramingError(f"unsupported Transfer-Encoding {encoding!r}")
            return _read_chunked(self.rfile)
        length_text = fields.get("content-length")
        if length_text is None:
            return b""
        digits = length_text.strip()
        if not (digits.isascii() and digits.isdigit()):
            raise _FramingError(f"invalid Content-Length {length_text!r}")
        return _read_exact(self.rfile, int(digits))

    def _write(self, response: WireResponse) -> None:
        status = response.status
        lines = [f"{self.protocol_version} {status} {_phrase(status)}"]
        lines.extend(
            f"{name}: {value}"
            for name, value in response.headers
            if name.lower() not in _HOP_BY_HOP
        )
        if status in _NO_CONTENT or status < 200:  # no body, and no Content-Length (RFC 9110)
            body = b""
        else:
            body = response.body
            lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self.wfile.write(head if self.command == "HEAD" else head + body)
        if self.server.log_requests:
            self.log_request(status, len(body))

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet unless the server was created with ``log_requests=True``."""
        if self.server.log_requests:
            super().log_message(format, *args)


class _HTTPServer(ThreadingHTTPServer):
    """The stdlib threaded server plus TCP_NODELAY, a connection count and a graceful close."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        sim: OrbSim,
        dispatch: Dispatch,
        log_requests: bool,
    ) -> None:
        self.sim = sim
        self.dispatch = dispatch
        self.log_requests = log_requests
        self.closing = False
        self.connections_accepted = 0
        self._open: set[socket.socket] = set()
        self._open_changed = threading.Condition()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = self.socket.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, address

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_changed:
            self.connections_accepted += 1
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self._open_changed:
            self._open.discard(request)
            self._open_changed.notify_all()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that hang up; report anything else (a bug) on stderr."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def close_connections(self, timeout: float) -> bool:
        """Let in-flight requests finish, close idle connections; True if all closed in time."""
        with self._open_changed:
            self.closing = True
            idle = list(self._open)
        for how in (socket.SHUT_RD, socket.SHUT_RDWR):
            for conn in idle:  # wakes handlers waiting for a next request; they then exit
                with contextlib.suppress(OSError):
                    conn.shutdown(how)
            with self._open_changed:
                if self._open_changed.wait_for(lambda: not self._open, timeout / 2):
                    return True
                idle = list(self._open)
        return False


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class OrbSimServer:
    """A threaded HTTP/1.1 server for one ``OrbSim``; the SDK reaches it at ``base_url``.

    ``port=0`` picks a free port. Usable as a context manager (starts on enter if needed, stops
    on exit). Set ``log_requests=True`` for one stderr line per request.
    """

    def __init__(
        self,
        sim: OrbSim,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_requests: bool = False,
        dispatch: Dispatch | None = None,
    ) -> None:
        self.sim = sim
        self.host = host
        self.port = port
        self._thread: threading.Thread | None = None
        self._state = threading.Lock()
        self._stopped = False
        if dispatch is None:
            from orbsim.wire.routes import dispatch as routes_dispatch

            dispatch = routes_dispatch
        server_class = _HTTPServer6 if ":" in host else _HTTPServer
        self._httpd = server_class((host, port), sim, dispatch, log_requests)
        self.port = self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """``http://host:port`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL to give the SDK: ``http://host:port/v1``."""
        return f"{self.url}/v1"

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (keep-alive reuse keeps this low)."""
        return self._httpd.connections_accepted

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._stopped

    def start(self) -> Self:
        """Serve from a daemon thread; calling it again is a no-op."""
        with self._state:
            if self._stopped:
                raise RuntimeError("this OrbSimServer was stopped; create a new one")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._httpd.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name=f"orbsim-server-{self.port}",
                    daemon=True,
                )
                self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, finish in-flight requests, close connections, join; idempotent."""
        with self._state:
            if self._stopped:
                return
            self._stopped = True
            thread = self._thread
        if thread is not None:
            self._httpd.shutdown()
            thread.join(timeout)
        self._httpd.server_close()
        self._httpd.close_connections(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else ("stopped" if self._stopped else "not started")
        return f"OrbSimServer({self.base_url!r}, {state})"
