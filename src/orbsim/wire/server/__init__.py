"""A real HTTP/1.1 server in front of ``orbsim.wire.routes.dispatch`` (stdlib only).

Why not a mature server: measured with ``benchmarks/bench_server.py --uvicorn``, the same
``dispatch`` behind uvicorn 0.54 (h11, asyncio) took 8.9 ms per SDK call from a separate process
(47 ms in-process) where this server took 1.4 ms on the same loaded machine; uvicorn answers
malformed requests and its concurrency limit with plain-text pages (Orb's clients expect JSON),
and would be a new dependency. ``http.server`` (the previous base) holds a thread per
connection with no timeout, reads bodies before any check and answers errors in HTML. So the
framing, limits and timeouts below are orbsim's own, in this package, tested against hostile
clients. Its modules, one job each:

* ``heads``: reading a request head strictly (``Head``), the reference reading and the fast one;
* ``refusals``: the errors the server answers itself (``BadRequest``, the 503 ``Saturated``);
* ``responses``: writing an answer (``encode_response``, ``send_all``, ``send_stream``);
* here: ``OrbSimServer``, its event loop, body budget and worker pool.

``OrbSimServer`` binds at construction (so ``port`` and ``base_url`` are known at once) and
serves after ``start()``. Every request becomes a ``WireRequest`` and every answer is the
``WireResponse`` that ``dispatch`` returns, written unchanged, so the server and the in-process
transports answer byte-identically.

Shape: one event-loop thread (``selectors``) owns every connection while a request arrives: it
accepts, reads heads and bodies without blocking, and enforces the limits; a fixed pool of
worker threads runs ``dispatch`` and writes the answers. A connection costs a few hundred bytes
until its request is complete, never a thread, so slow or idle clients cannot starve the server:

* a head must arrive within ``header_timeout`` (10 s) of its first byte, a body within
  ``body_timeout`` (30 s) of its head; an idle keep-alive connection is closed after
  ``idle_timeout`` (60 s, longer than the SDK's 5 s pool expiry, so the SDK never races it);
* at most ``max_connections`` are open (default: the file-descriptor limit less a reserve).
  When a new one would exceed it, the connection idle for longest (or still sending a head)
  is closed to make room; if every connection is busy, accepting pauses (the kernel's backlog
  holds new ones) until one finishes. Running out of descriptors pauses accepting too, instead
  of spinning on ``accept``;
* heads are limited to 64 KiB, bodies to ``Settings.max_request_bytes``: a declared
  ``Content-Length`` over it is refused before any body byte is read, a chunked body is
  counted as it streams in;
* the bodies being received, across connections, are bounded by ``max_buffered_bytes``
  (64 MiB, never less than one ``max_request_bytes`` body): a declared ``Content-Length``, or a
  chunk, that would pass it is answered 503 with ``retry-after: 1`` (the SDK retries it) before
  any of its bytes is read. A body handed to a worker no longer counts: the workers hold at most
  ``workers`` bodies more;
* with the default dispatch, authentication is checked on the head (``routes.refuse_before_body``):
  an unauthenticated request is answered 401 without its body ever being held in memory (the
  bytes are read and discarded so that the client sees the answer, not a reset).

Strictness (RFC 9112): a malformed head is refused (``heads`` says which), and so is an
HTTP/1.1 request without ``Host``. ``Host`` must name this server: an IP literal,
``localhost``, or a name given in ``allowed_hosts`` (``["*"]`` allows any), which stops
DNS-rebinding pages from reaching a loopback server. Every refusal is Orb's problem+json body,
never an HTML page.

An answer carrying an injected transport fault (``WireResponse.transport_fault``) is not
written: the connection is closed without a response, which the client sees as a dropped
connection. ``stop()`` stops accepting, lets in-flight requests finish (answered with
``Connection: close``), closes idle connections and joins every thread.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import select
import selectors
import socket
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Self

from orbsim.errors import OrbInternalServerError, RequestTooLarge
from orbsim.wire.codec import problem_response
from orbsim.wire.messages import WireRequest, WireResponse
from orbsim.wire.server.heads import Head as _Head
from orbsim.wire.server.refusals import BadRequest as _BadRequest
from orbsim.wire.server.refusals import Saturated as _Saturated
from orbsim.wire.server.refusals import bad_request as _bad
from orbsim.wire.server.responses import encode_response as _encode
from orbsim.wire.server.responses import send_all as _send_all
from orbsim.wire.server.responses import send_stream as _send_stream

try:
    import resource
except ImportError:  # pragma: no cover - not POSIX
    resource = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from orbsim.sim import OrbSim

Dispatch = Callable[["OrbSim", WireRequest], WireResponse]
"""The signature of ``orbsim.wire.routes.dispatch``."""
Precheck = Callable[["OrbSim", WireRequest, int], "WireResponse | None"]
"""The signature of ``orbsim.wire.routes.refuse_before_body``."""

log = logging.getLogger("orbsim.server")

MAX_HEAD = 65536
_RECV = 262144
_DRAIN_IDLE = 1.0
_DRAIN_TOTAL = 10.0
_FD_RESERVE = 32
_LINGER = 0.005
"""How long a worker that just answered waits for the connection's next request itself."""

# connection states
_HEAD, _BODY, _BUSY, _DRAIN = 0, 1, 2, 3
_WAKE = object()
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_exposed(host: str, port: int) -> bool:
    """Log a warning (``orbsim.server`` logger) when ``host`` is not loopback; True if it did."""
    if is_loopback(host):
        return False
    log.warning(
        "orbsim is listening on %s:%d, beyond loopback: anyone who can reach this port can "
        "read and change the simulator's state (use --host 127.0.0.1 to stay local)",
        host,
        port,
    )
    return True


class _Conn:
    """One client connection and what has arrived of its current request."""

    __slots__ = (
        "address",
        "authorized",
        "body",
        "buffer",
        "chunk_left",
        "deadline",
        "drain_left",
        "head",
        "reserved",
        "sock",
        "started",
        "state",
    )

    def __init__(self, sock: socket.socket, address: object, now: float, idle: float) -> None:
        self.sock = sock
        self.address = address
        self.buffer = bytearray()
        self.state = _HEAD
        self.started = now
        self.deadline = now + idle
        self.head: _Head | None = None
        self.body: list[bytes] = []
        self.chunk_left = -1
        self.drain_left: int | None = None
        self.reserved = 0
        """Bytes of ``max_buffered_bytes`` this connection's body holds (or will)."""
        self.authorized: str | None = None
        """The ``Authorization`` of this connection's last request not answered 401."""


class OrbSimServer:
    """An HTTP/1.1 server for one ``OrbSim``; the SDK reaches it at ``base_url``.

    ``port=0`` picks a free port. Usable as a context manager (starts on enter if needed, stops
    on exit). ``log_requests=True`` writes one stderr line per request. ``allowed_hosts``: extra
    ``Host`` names to accept (``["*"]``: any). Binding beyond loopback logs a warning on the
    ``orbsim.server`` logger: anyone who can reach the port can use the simulator.
    """

    def __init__(
        self,
        sim: OrbSim,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_requests: bool = False,
        dispatch: Dispatch | None = None,
        allowed_hosts: Iterable[str] = (),
        workers: int = 8,
        max_connections: int | None = None,
        header_timeout: float = 10.0,
        body_timeout: float = 30.0,
        idle_timeout: float = 60.0,
        write_timeout: float = 30.0,
        max_buffered_bytes: int = 64 << 20,
        linger: float = _LINGER,
    ) -> None:
        self.sim = sim
        self.host = host
        self.log_requests = log_requests
        self.allowed_hosts = frozenset(name.lower().rstrip(".") for name in allowed_hosts)
        self._hosts_accepted: set[str] = set()
        """``Host`` values ``_check_host`` accepted (it depends on nothing else); at most 64."""
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.idle_timeout = idle_timeout
        self.write_timeout = write_timeout
        self.max_buffered_bytes = max_buffered_bytes
        self.linger = linger
        """How long a worker that just answered waits for the connection's next request itself
        (a request waiting for a worker ends the wait at once)."""
        self.buffered_bytes = 0
        """Body bytes reserved by the connections the loop is receiving a request on."""
        self._precheck: Precheck | None = None
        if dispatch is None:
            from orbsim.wire.routes import dispatch as routes_dispatch
            from orbsim.wire.routes import refuse_before_body

            dispatch = routes_dispatch
            self._precheck = refuse_before_body
        self._dispatch = dispatch
        if max_connections is None:
            limit = 1024
            if resource is not None:
                soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
                limit = soft if soft != resource.RLIM_INFINITY else 65536
            max_connections = max(8, min(limit, 65536) - _FD_RESERVE - workers)
        self.max_connections = max_connections
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, port), family=family, backlog=1024)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        warn_if_exposed(host, self.port)
        self.connections_accepted = 0
        self._conns: dict[int, _Conn] = {}
        self._waiting: OrderedDict[int, _Conn] = OrderedDict()
        """Connections that may be closed to make room: idle, sending a head, or draining."""
        self._returned: deque[tuple[_Conn, bool]] = deque()
        self._jobs: deque[tuple[_Conn, WireRequest] | None] = deque()
        self._jobs_ready = threading.Condition(threading.Lock())
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._call_r, self._call_w = socket.socketpair()
        """Readable when a request waits for a worker (or the server stops): lingering workers
        poll it beside their connection, so they give theirs back at once."""
        self._call_r.setblocking(False)
        self._call_w.setblocking(False)
        self._idle_workers = 0
        """Workers waiting for a job (read and changed under ``_jobs_ready``)."""
        self._selector = selectors.DefaultSelector()
        self._listening = False
        self._resume_at = 0.0
        self._closing = False
        self._busy = 0
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._state = threading.Lock()
        self._started = False
        self._stopped = False

    # -- public ------------------------------------------------------------------------------

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
    def running(self) -> bool:
        return self._started and not self._stopped

    @property
    def open_connections(self) -> int:
        """Connections open now."""
        return len(self._conns)

    def start(self) -> Self:
        """Serve from background threads; calling it again is a no-op."""
        with self._state:
            if self._stopped:
                raise RuntimeError("this OrbSimServer was stopped; create a new one")
            if not self._started:
                self._started = True
                self._selector.register(self._wake_r, selectors.EVENT_READ, _WAKE)
                self._listen(True)
                loop = threading.Thread(
                    target=self._loop, name=f"orbsim-server-{self.port}", daemon=True
                )
                self._threads.append(loop)
                for number in range(self._workers):
                    self._threads.append(
                        threading.Thread(
                            target=self._work,
                            name=f"orbsim-worker-{self.port}-{number}",
                            daemon=True,
                        )
                    )
                for thread in self._threads:
                    thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, finish in-flight requests, close connections, join; idempotent."""
        with self._state:
            if self._stopped:
                return
            self._stopped = True
            started = self._started
        if not started:
            self._listener.close()
            self._wake_r.close()
            self._wake_w.close()
            self._call_r.close()
            self._call_w.close()
            self._selector.close()
            return
        self._closing = True
        self._wake()
        self._call_workers()
        deadline = time.monotonic() + timeout
        self._threads[0].join(timeout)
        with self._jobs_ready:
            self._jobs.extend([None] * self._workers)
            self._jobs_ready.notify_all()
        for thread in self._threads[1:]:
            thread.join(max(0.0, deadline - time.monotonic()))
        if not any(thread.is_alive() for thread in self._threads):
            self._call_r.close()
            self._call_w.close()

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

    # -- the event loop ----------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # a wake-up is already pending, or the server is gone
            self._wake_w.send(b"x")

    def _call_workers(self) -> None:
        with contextlib.suppress(OSError):  # a call is already pending, or the server is gone
            self._call_w.send(b"x")

    def _listen(self, on: bool) -> None:
        if on and not self._listening:
            self._selector.register(self._listener, selectors.EVENT_READ, None)
        elif not on and self._listening:
            self._selector.unregister(self._listener)
        self._listening = on

    def _loop(self) -> None:
        selector = self._selector
        next_sweep = 0.0
        try:
            while True:
                for key, _ in selector.select(0.1):
                    data = key.data
                    if data is None:
                        self._accept()
                    elif data is _WAKE:
                        try:
                            while self._wake_r.recv(4096):
                                pass
                        except BlockingIOError:
                            pass
                    else:
                        self._readable(data)
                self._take_back()
                now = time.monotonic()
                if self._closing:
                    if self._shut_down_step():
                        return
                    continue
                if (
                    not self._listening
                    and now >= self._resume_at
                    and (len(self._conns) < self.max_connections or self._evict())
                ):
                    self._listen(True)
                if now >= next_sweep:
                    next_sweep = now + 0.1
                    self._sweep(now)
        except Exception:  # pragma: no cover - a bug in this loop; never leave clients hanging
            log.exception("orbsim server loop failed")
            self._closing = True
            for conn in list(self._conns.values()):
                self._close(conn)

    def _shut_down_step(self) -> bool:
        """Close the listener and every connection not being answered; True once all are."""
        if self._listener.fileno() != -1:
            self._listen(False)
            self._listener.close()
        for conn in list(self._conns.values()):
            if conn.state != _BUSY:
                self._close(conn)
        if self._conns:
            return False
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
        return True

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, address = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    if not self._evict():  # out of descriptors and nothing to shed: pause
                        self._listen(False)
                        self._resume_at = time.monotonic() + 0.05
                    return
                return  # ECONNABORTED and friends: the client gave up
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(sock, address, time.monotonic(), self.idle_timeout)
            fd = sock.fileno()
            self._conns[fd] = conn
            self._waiting[fd] = conn
            self._selector.register(sock, selectors.EVENT_READ, conn)
            self.connections_accepted += 1
            if len(self._conns) > self.max_connections and not self._evict():
                self._listen(False)  # every connection is busy: let the backlog hold new ones
                self._resume_at = time.monotonic() + 0.01
                return

    def _evict(self) -> bool:
        """Make room: close the connection idle (or sending its head) for longest, else the
        one whose body has been arriving for longest; False if every one is being answered."""
        for conn in self._waiting.values():
            self._close(conn)
            return True
        arriving = [conn for conn in self._conns.values() if conn.state == _BODY]
        if arriving:
            self._close(min(arriving, key=lambda conn: conn.started))
            return True
        return False

    def _sweep(self, now: float) -> None:
        expired = [
            conn for conn in self._conns.values() if conn.state != _BUSY and conn.deadline <= now
        ]
        for conn in expired:
            self._close(conn)

    def _take_back(self) -> None:
        """Connections the workers answered and kept alive: wait for their next request."""
        returned = self._returned
        while returned:
            conn, keep = returned.popleft()
            self._busy -= 1
            if self._closing or not keep:
                self._close(conn)
                continue
            fd = conn.sock.fileno()
            conn.state = _HEAD
            conn.head = None
            conn.body = []
            now = time.monotonic()
            conn.started = now
            conn.deadline = now + (self.header_timeout if conn.buffer else self.idle_timeout)
            self._waiting[fd] = conn
            self._selector.register(conn.sock, selectors.EVENT_READ, conn)
            if conn.buffer:  # a pipelined request is already here
                self._progress(conn)

    def _reserve(self, conn: _Conn, size: int) -> None:
        """Count ``size`` more body bytes of ``conn`` against ``max_buffered_bytes`` (never
        below one body of ``max_request_bytes``); ``_Saturated`` if they do not fit."""
        budget = max(self.max_buffered_bytes, self.sim.settings.max_request_bytes)
        if self.buffered_bytes + size > budget:
            raise _BadRequest(
                _Saturated(
                    f"the server is receiving {self.buffered_bytes} bytes of request bodies; "
                    f"this one's {size} more would pass its limit of {budget} bytes; retry "
                    "shortly (retry-after)"
                )
            )
        conn.reserved += size
        self.buffered_bytes += size

    def _unreserve(self, conn: _Conn) -> None:
        self.buffered_bytes -= conn.reserved
        conn.reserved = 0

    def _close(self, conn: _Conn) -> None:
        self._unreserve(conn)
        fd = conn.sock.fileno()
        if fd == -1:
            return
        self._conns.pop(fd, None)
        self._waiting.pop(fd, None)
        if conn.state != _BUSY:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(conn.sock)
        with contextlib.suppress(OSError):
            conn.sock.close()
        if not self._listening and not self._closing and self._resume_at <= time.monotonic():
            self._listen(True)

    def _readable(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            if conn.state == _BODY and conn.head is not None:
                # The client ended its side mid-body: say why, then close.
                got = len(conn.buffer) + sum(map(len, conn.body))
                wanted = "chunked body" if conn.head.chunked else f"{conn.head.length} bytes"
                self._refuse(
                    conn,
                    _bad(f"malformed request body: body ended after {got} of {wanted}"),
                    drain=False,
                )
            self._close(conn)
            return
        now = time.monotonic()
        if conn.state == _DRAIN:
            if conn.drain_left is not None:
                conn.drain_left -= len(data)
                if conn.drain_left <= 0:
                    self._close(conn)
                    return
            conn.deadline = min(now + _DRAIN_IDLE, conn.started + _DRAIN_TOTAL)
            return
        fd = conn.sock.fileno()
        if conn.state == _HEAD:
            if not conn.buffer:
                conn.started = now
                conn.deadline = now + self.header_timeout
            self._waiting.move_to_end(fd)
        conn.buffer += data
        self._progress(conn)

    def _progress(self, conn: _Conn) -> None:
        """Parse as far as the buffer allows; hand a complete request to the workers."""
        try:
            if conn.state == _HEAD and not self._read_head(conn):
                return
            if conn.state == _BODY and not self._read_body(conn):
                return
        except _BadRequest as refusal:
            self._refuse(conn, refusal)
            return
        head = conn.head
        assert head is not None
        body = b"".join(conn.body)
        self._hand_over(conn, WireRequest(head.method, head.path, head.query, head.fields, body))

    def _hand_over(self, conn: _Conn, request: WireRequest) -> None:
        self._unreserve(conn)  # a worker holds it now: at most ``workers`` bodies at a time
        fd = conn.sock.fileno()
        self._waiting.pop(fd, None)
        self._selector.unregister(conn.sock)
        conn.state = _BUSY
        self._busy += 1
        with self._jobs_ready:
            self._jobs.append((conn, request))
            self._jobs_ready.notify()
            if not self._idle_workers:
                self._call_workers()  # every worker is busy: a lingering one gives way

    def _read_head(self, conn: _Conn) -> bool:
        buffer = conn.buffer
        while buffer[:2] == b"\r\n" or buffer[:1] == b"\n":  # RFC 9112 2.2: ignore empty lines
            del buffer[: 2 if buffer[:1] == b"\r" else 1]
        if not buffer:
            conn.deadline = time.monotonic() + self.idle_timeout
            return False
        end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
        size = end + 4
        if end == -1:
            end = buffer.find(b"\n\n", 0, MAX_HEAD + 2)
            size = end + 2
        if end == -1:
            if len(buffer) > MAX_HEAD:
                raise _bad(f"request head is longer than {MAX_HEAD} bytes")
            return False
        head = _Head(bytes(buffer[:end]))
        del buffer[:size]
        conn.head = head
        self._check_host(head)
        settings_limit = self.sim.settings.max_request_bytes
        if self._precheck is not None:
            request = WireRequest(head.method, head.path, head.query, head.fields)
            refusal = self._precheck(self.sim, request, head.length)
            if refusal is not None:
                self._answer_early(conn, refusal)
                return False
        if head.length > settings_limit:
            raise _BadRequest(
                RequestTooLarge(
                    f"request body is {head.length} bytes; at most {settings_limit} are accepted"
                )
            )
        if head.length:
            self._reserve(conn, head.length)  # refused before a byte of it is read
        if head.expect and (head.chunked or head.length):
            self._send_now(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
        conn.state = _BODY
        conn.started = time.monotonic()
        conn.deadline = conn.started + self.body_timeout
        self._waiting.pop(conn.sock.fileno(), None)
        return True

    def _check_host(self, head: _Head) -> None:
        host = head.fields.get("host")
        if host is None:
            if head.v10:
                return
            raise _bad("an HTTP/1.1 request needs a Host header (RFC 9112 3.2)")
        if host in self._hosts_accepted:
            return
        self._check_host_name(host)
        if len(self._hosts_accepted) < 64:  # a client sends the same Host on every request
            self._hosts_accepted.add(host)

    def _check_host_name(self, host: str) -> None:
        if "*" in self.allowed_hosts:
            return
        name = host.strip()
        if name.startswith("["):
            name = name[1 : name.find("]")] if "]" in name else name
        else:
            bare, colon, port = name.rpartition(":")
            if colon and port.isdigit():
                name = bare
        name = name.lower().rstrip(".")
        if name in _LOOPBACK_NAMES or name in self.allowed_hosts or name == self.host.lower():
            return
        try:
            ipaddress.ip_address(name)
        except ValueError:
            raise _bad(
                f"Host {host[:100]!r} is not this server's address; orbsim answers requests "
                "for IP addresses and localhost (start it with --allow-host NAME to accept "
                "another name)"
            ) from None

    def _read_body(self, conn: _Conn) -> bool:
        head = conn.head
        assert head is not None
        buffer = conn.buffer
        limit = self.sim.settings.max_request_bytes
        if not head.chunked:
            if len(buffer) < head.length:
                return False
            conn.body = [bytes(buffer[: head.length])]
            del buffer[: head.length]
            return True
        received = sum(map(len, conn.body))
        while True:
            if conn.chunk_left >= 0:  # inside a chunk's data (then its CRLF)
                if conn.chunk_left > 0:
                    take = min(conn.chunk_left, len(buffer))
                    if not take:
                        return False
                    conn.body.append(bytes(buffer[:take]))
                    del buffer[:take]
                    conn.chunk_left -= take
                    if conn.chunk_left:
                        return False
                if buffer[:2] == b"\r\n":
                    del buffer[:2]
                elif buffer[:1] == b"\n":
                    del buffer[:1]
                elif len(buffer) < 2 and bytes(buffer[:1]) in (b"", b"\r"):
                    return False
                else:
                    raise _bad("malformed request body: chunk not followed by CRLF")
                conn.chunk_left = -1
                continue
            line_end = buffer.find(b"\n", 0, 1025)
            if line_end == -1:
                if len(buffer) > 1024:
                    raise _bad("malformed request body: overlong chunk size line")
                return False
            line = bytes(buffer[:line_end]).rstrip(b"\r")
            del buffer[: line_end + 1]
            if conn.chunk_left == -2:  # trailer section, ended by an empty line
                if not line:
                    return True
                continue
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 16 or size_text.strip(b"0123456789abcdefABCDEF"):
                raise _bad(f"malformed request body: invalid chunk size {size_text[:20]!r}")
            size = int(size_text, 16)
            if size == 0:
                conn.chunk_left = -2
                continue
            received += size
            if received > limit:
                raise _BadRequest(
                    RequestTooLarge(
                        f"request body is more than {limit} bytes; at most {limit} are accepted"
                    )
                )
            self._reserve(conn, size)
            conn.chunk_left = size

    def _refuse(self, conn: _Conn, refusal: _BadRequest, drain: bool = True) -> None:
        """Answer a request the server itself cannot serve, then close the connection."""
        self._answer_early(conn, problem_response(refusal.error), drain)

    def _answer_early(self, conn: _Conn, response: WireResponse, drain: bool = True) -> None:
        """Answer from the loop without reading the rest; discard what the client still sends,
        so it sees the answer instead of a reset; then close."""
        self._unreserve(conn)
        head = conn.head
        self._send_now(conn, _encode(response, head_only=False, close=True, v10=False))
        if conn.sock.fileno() == -1:
            return
        if self.log_requests:
            self._log_line(
                conn, head.method if head else "?", head.target if head else "?", response
            )
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_WR)
        if not drain:
            return
        conn.state = _DRAIN
        conn.buffer = bytearray()
        now = time.monotonic()
        conn.started = now
        conn.deadline = now + _DRAIN_IDLE
        if head is not None and not head.chunked:
            conn.drain_left = head.length
            if head.length <= 0:
                self._close(conn)
                return
        fd = conn.sock.fileno()
        self._waiting[fd] = conn
        self._waiting.move_to_end(fd)

    def _send_now(self, conn: _Conn, data: bytes) -> None:
        """A small write from the loop thread; a client that cannot take it is dropped."""
        try:
            sent = conn.sock.send(data)
        except OSError:
            sent = -1
        if sent != len(data):
            self._close(conn)

    # -- the workers -------------------------------------------------------------------------

    def _work(self) -> None:
        jobs = self._jobs
        ready = self._jobs_ready
        while True:
            with ready:
                while not jobs:
                    self._idle_workers += 1
                    ready.wait()
                    self._idle_workers -= 1
                job = jobs.popleft()
            if job is None:
                return
            self._answer(*job)

    def _answer(self, conn: _Conn, request: WireRequest) -> None:
        """Answer ``request``, then any next request that arrives complete on the connection
        within ``linger`` (no hand-off to the loop and back between an SDK's calls); then give
        the connection back to the loop (or close it)."""
        keep = False
        poller = select.poll()
        poller.register(conn.sock, select.POLLIN)
        poller.register(self._call_r, select.POLLIN)
        try:
            while True:
                keep = self._answer_one(conn, request)
                if not keep:
                    break
                following = self._linger(conn, poller)
                if following is None:
                    break
                request = following
        except Exception:  # pragma: no cover - a bug here must not leak the connection
            log.exception("orbsim server: cannot answer %s", request.path[:200])
            keep = False
        finally:
            if not keep:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_WR)
            self._returned.append((conn, keep))  # the loop closes it or awaits its next one
            self._wake()

    def _answer_one(self, conn: _Conn, request: WireRequest) -> bool:
        """Dispatch and write one answer; True if the connection stays open."""
        head = conn.head
        assert head is not None
        try:
            response = self._dispatch(self.sim, request)
        except Exception as exc:  # dispatch should never raise; answer like Orb would
            response = problem_response(
                OrbInternalServerError(f"orbsim: unhandled {type(exc).__name__}: {exc}")
            )
        if response.transport_fault is not None:
            return False  # an injected dropped connection: no answer at all
        if response.status != 401:
            conn.authorized = request.headers.get("authorization")
        keep = head.keep_alive and not self._closing
        sock = conn.sock
        if response.stream is not None:
            keep = keep and not head.v10  # an HTTP/1.0 client reads a stream to the close
            try:
                _send_stream(
                    sock, response, head.method == "HEAD", not keep, head.v10, self.write_timeout
                )
            except OSError:
                return False
            finally:
                response.close_stream()
        else:
            try:
                data = _encode(response, head.method == "HEAD", not keep, head.v10)
                _send_all(sock, data, self.write_timeout)
            except OSError:
                return False
        if self.log_requests:
            self._log_line(conn, head.method, head.target, response)
        return keep

    def _linger(self, conn: _Conn, poller: select.poll) -> WireRequest | None:
        """The connection's next request if it arrives, complete and unremarkable, within
        ``linger`` while no other request waits for a worker; else None (the loop takes over,
        with whatever arrived, so every check and timeout still applies). The head is read
        once, when it is complete, even if the body follows later (the SDK sends them apart)."""
        deadline = time.monotonic() + self.linger
        buffer = conn.buffer
        call = self._call_r.fileno()
        head: _Head | None = None
        end = -1
        while True:
            if head is None:
                end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
                if end != -1:
                    head = self._plain_head(conn, buffer, end)
                    if head is None:
                        return None
                elif len(buffer) > MAX_HEAD or b"\n\n" in buffer:
                    return None
            if head is not None:
                size = end + 4 + head.length
                if len(buffer) >= size:
                    body = bytes(buffer[end + 4 : size])
                    del buffer[:size]
                    conn.head = head
                    return WireRequest(head.method, head.path, head.query, head.fields, body)
            if self._jobs or self._closing:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready = poller.poll(remaining * 1000)  # the next bytes, or a call to give way
            if not ready:
                return None
            if len(ready) > 1 or ready[0][0] == call:
                with contextlib.suppress(OSError):  # taken by another worker: look at the jobs
                    self._call_r.recv(4096)
                if self._jobs or self._closing or len(ready) == 1:
                    continue
            try:
                data = conn.sock.recv(_RECV)  # readable: returns at once
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return None
            if not data:
                return None  # the loop sees the end of the stream too, and closes
            buffer += data  # in place: this is conn.buffer

    def _plain_head(self, conn: _Conn, buffer: bytearray, end: int) -> _Head | None:
        """The head ending at ``end`` if its request needs none of the loop's handling (no
        refusal, no chunked body, no 100-continue, within the size limit, and a body only
        with the credentials the connection's last answer accepted: any other goes through
        the loop's check before a byte of it is read); else None."""
        if end == 0:
            return None
        try:
            head = _Head(bytes(buffer[:end]))
            self._check_host(head)
        except _BadRequest:
            return None
        if head.chunked or head.expect or head.length > self.sim.settings.max_request_bytes:
            return None
        if head.length and self._precheck is not None:
            authorization = head.fields.get("authorization")
            if authorization is None or authorization != conn.authorized:
                return None
        return head

    def _log_line(self, conn: _Conn, method: str, target: str, response: WireResponse) -> None:
        sys.stderr.write(
            f"{conn.address} {time.strftime('%d/%b/%Y %H:%M:%S')} "
            f'"{method} {target[:200]}" {response.status} {len(response.body)}\n'
        )
