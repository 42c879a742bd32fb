"""The server under hostile clients: bodies nobody may send are never read, slow and idle clients
cannot starve it, framing tricks are refused, and every refusal is Orb's JSON error body.

Timing figures (RSS for ten 50 MB unauthenticated POSTs, latency with 1,100 idle connections under
``ulimit -n 1024``) are in ``benchmarks/bench_server_limits.py``; these tests assert behaviour, with
bounded waits only."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from orbsim import ManualClock, OrbSim, Settings
from orbsim.wire.messages import WireRequest, WireResponse
from orbsim.wire.server import OrbSimServer, is_loopback, warn_if_exposed

START = "2024-05-20T12:00:00+00:00"


@pytest.fixture
def sim() -> OrbSim:
    return OrbSim(settings=Settings(api_keys=frozenset({"right"})), clock=ManualClock(START))


@pytest.fixture
def server(sim: OrbSim) -> Iterator[OrbSimServer]:
    with OrbSimServer(sim) as running:
        yield running


def connect(server: OrbSimServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def read_answer(sock: socket.socket) -> tuple[bytes, dict[str, object]]:
    """Read one response (head and Content-Length body); returns the head and the JSON body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk
        rest += chunk
    return head, json.loads(rest[:length])


def exchange(server: OrbSimServer, payload: bytes) -> tuple[bytes, dict[str, object]]:
    with connect(server) as sock:
        sock.sendall(payload)
        return read_answer(sock)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True if the server closes ``sock`` (EOF or reset) within ``seconds``."""
    sock.settimeout(0.1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True
    return False


# -- bodies nobody may send ----------------------------------------------------------------------


def test_an_unauthenticated_body_is_refused_on_its_head_and_never_held(
    sim: OrbSim, server: OrbSimServer
) -> None:
    with connect(server) as sock:
        sock.sendall(
            b"POST /v1/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 52428800\r\n\r\n" + b"x" * 1024
        )
        head, body = read_answer(sock)  # 50 MB announced, 1 KB sent: answered at once
    assert head.startswith(b"HTTP/1.1 401 ")
    assert b"Connection: close" in head
    assert (
        body["type"]
        == "https://docs.withorb.com/reference/error-responses#401-authentication-error"
    )
    record = sim.requests.last()
    assert record.status == 401
    assert record.body is None and record.body_size == 0  # nothing of the body was kept


def test_a_body_on_a_kept_alive_connection_is_checked_on_its_head_too(sim: OrbSim) -> None:
    # After an answered request the worker reads the connection's next request itself (here
    # for up to 60 s): one with a body and credentials it has not seen accepted goes through
    # the head check as on a new connection (401, then closed), not read and then refused.
    ping = b"GET /v1/ping HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer right\r\n\r\n"
    body = b"{}".ljust(100_000)
    with OrbSimServer(sim, linger=60.0) as server, connect(server) as sock:
        sock.sendall(ping)
        assert read_answer(sock)[1] == {"response": "pong"}
        sock.sendall(
            b"POST /v1/customers HTTP/1.1\r\nHost: localhost\r\n"
            b"Authorization: Bearer wrong\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
        )
        head, _ = read_answer(sock)
        assert head.startswith(b"HTTP/1.1 401 ") and b"Connection: close" in head, head
        assert closed_within(sock, 5)


def test_a_client_that_sends_a_refused_body_anyway_sees_the_answer(server: OrbSimServer) -> None:
    response = httpx.post(f"{server.base_url}/ingest", content=b"x" * (5 * 1024 * 1024))
    assert response.status_code == 401  # the server drained the body, so no connection reset
    assert response.json()["type"].endswith("401-authentication-error")


def test_a_declared_length_over_the_limit_is_a_413_before_the_body(
    sim: OrbSim, server: OrbSimServer
) -> None:
    limit = sim.settings.max_request_bytes
    with connect(server) as sock:
        sock.sendall(
            b"POST /v1/ingest HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer right\r\n"
            + f"Content-Length: {limit + 1}\r\n\r\n".encode()
        )
        head, body = read_answer(sock)
    assert head.startswith(b"HTTP/1.1 413 ")
    assert body["detail"] == f"request body is {limit + 1} bytes; at most {limit} are accepted"
    assert sim.requests.last().status == 413


def test_expect_100_continue_is_answered_only_for_an_acceptable_head(
    server: OrbSimServer,
) -> None:
    content = b'{"name": "A", "email": "a@example.com"}'
    head_bytes = (
        "POST /v1/customers HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json"
        f"\r\nExpect: 100-continue\r\nContent-Length: {len(content)}\r\n\r\n"
    )
    with connect(server) as sock:
        sock.sendall(head_bytes.replace("{auth}", "Authorization: Bearer right\r\n").encode())
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(content)
        head, body = read_answer(sock)
    assert head.startswith(b"HTTP/1.1 201 "), body
    with connect(server) as sock:  # unauthenticated: the final answer, no 100 Continue
        sock.sendall(head_bytes.replace("{auth}", "").encode())
        head, body = read_answer(sock)
    assert head.startswith(b"HTTP/1.1 401 ")


# -- framing and headers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "words"),
    [
        (
            b"POST /v1/ingest HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "both Content-Length and Transfer-Encoding",
        ),
        (
            b"POST /v1/ingest HTTP/1.1\r\nHost: localhost\r\nIdempotency-Key: abc\r\n"
            b" def\r\nContent-Length: 0\r\n\r\n",
            "obs-fold",
        ),
        (b"GET /v1/ping HTTP/1.1\r\nHost: localhost\r\nX\x01Bad: 1\r\n\r\n", "malformed header"),
        (b"GET /v1/ping HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "more than once"),
        (b"GET /v1/ping HTTP/2.0\r\nHost: localhost\r\n\r\n", "HTTP version"),
        (b"GET /v1/ping\r\nHost: localhost\r\n\r\n", "malformed request line"),
        (b"GET /v1/ping HTTP/1.1\r\n\r\n", "needs a Host header"),
        (b"GET /v1/ping HTTP/1.1\r\nHost: localhost\r\nX: " + b"a" * 70000 + b"\r\n\r\n", "head"),
    ],
    ids=[
        "cl-and-chunked",
        "folded",
        "bad-name",
        "two-hosts",
        "http2",
        "no-version",
        "no-host",
        "huge-head",
    ],
)
def test_malformed_requests_get_an_orb_json_400(
    sim: OrbSim, server: OrbSimServer, request_bytes: bytes, words: str
) -> None:
    head, body = exchange(server, request_bytes)
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/json" in head
    assert (
        body["type"]
        == "https://docs.withorb.com/reference/error-responses#400-request-validation-errors"
    )
    assert words in str(body["detail"])
    assert b"\r\n " not in head and b"def" not in head  # nothing folded came back
    assert len(sim.requests) == 0  # never reached the simulator


def test_a_host_that_is_not_this_server_is_refused(server: OrbSimServer) -> None:
    # After accepted ones (the server remembers the Host values it accepted), on one connection.
    with connect(server) as sock:
        for _ in range(2):
            sock.sendall(
                b"GET /v1/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer right\r\n\r\n"
            )
            assert read_answer(sock)[0].startswith(b"HTTP/1.1 200 ")
    head, body = exchange(
        server,
        b"GET /v1/ping HTTP/1.1\r\nHost: rebind.attacker.example:8080\r\n"
        b"Authorization: Bearer right\r\n\r\n",
    )
    assert head.startswith(b"HTTP/1.1 400 ")
    assert "rebind.attacker.example" in str(body["detail"])
    assert "--allow-host" in str(body["detail"])


@pytest.mark.parametrize("host", ["127.0.0.1:1", "localhost", "LOCALHOST.", "[::1]:80", "10.0.0.7"])
def test_ip_literals_and_localhost_are_accepted_as_host(server: OrbSimServer, host: str) -> None:
    head, body = exchange(
        server,
        f"GET /v1/ping HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer right\r\n\r\n".encode(),
    )
    assert head.startswith(b"HTTP/1.1 200 "), body
    assert body == {"response": "pong"}


def test_allowed_hosts_extend_or_lift_the_host_check(sim: OrbSim) -> None:
    for allowed, host, status in [
        (["orbsim.test"], "orbsim.test:9", b"200"),
        (["orbsim.test"], "other.test", b"400"),
        (["*"], "anything.example", b"200"),
    ]:
        with OrbSimServer(sim, allowed_hosts=allowed) as server:
            head, _ = exchange(
                server,
                f"GET /v1/ping HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer right\r\n\r\n"
                "".encode(),
            )
        assert head.startswith(b"HTTP/1.1 " + status), (allowed, host, head)


def test_binding_beyond_loopback_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")
    sim = OrbSim()
    with caplog.at_level(logging.WARNING, logger="orbsim.server"):
        OrbSimServer(sim).stop()
        assert not caplog.records
        OrbSimServer(sim, host="127.0.0.2").stop()  # still loopback
        assert not caplog.records
        assert warn_if_exposed("0.0.0.0", 8080)  # what OrbSimServer calls for every host
    (record,) = caplog.records
    assert "0.0.0.0:8080, beyond loopback" in record.getMessage()


# -- slow and idle clients -----------------------------------------------------------------------


def test_a_head_that_never_completes_is_dropped_after_the_header_timeout(sim: OrbSim) -> None:
    with OrbSimServer(sim, header_timeout=0.3) as server, connect(server) as sock:
        sock.sendall(b"GET /v1/ping HTTP/1.1\r\nHost: local")
        assert closed_within(sock, 5)
        assert server.open_connections == 0


def test_an_idle_connection_is_closed_after_the_idle_timeout(sim: OrbSim) -> None:
    with OrbSimServer(sim, idle_timeout=0.3) as server, connect(server) as sock:
        assert closed_within(sock, 5)


def test_a_body_that_never_completes_is_dropped_after_the_body_timeout(sim: OrbSim) -> None:
    with OrbSimServer(sim, body_timeout=0.3) as server, connect(server) as sock:
        sock.sendall(
            b"POST /v1/customers HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer right\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        assert closed_within(sock, 5)


def test_a_client_that_never_reads_its_answer_is_dropped_after_the_write_timeout() -> None:
    # The only worker writes a 32 MiB answer to a client that reads nothing: the write gives up
    # after write_timeout, the connection is closed, and the worker serves the next request.
    def big(sim: OrbSim, request: WireRequest) -> WireResponse:
        size = 32 << 20 if request.path == "/v1/big" else 2
        return WireResponse(200, [("content-type", "application/json")], b"{}".ljust(size))

    server = OrbSimServer(OrbSim(), dispatch=big, workers=1, write_timeout=0.3)
    with server, connect(server) as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(b"GET /v1/big HTTP/1.1\r\nHost: localhost\r\n\r\n")
        started = time.monotonic()
        head, body = exchange(server, b"GET /v1/small HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and body == {}
        assert 0.25 < time.monotonic() - started < 5
        deadline = time.monotonic() + 5
        while server.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.open_connections == 0


def test_a_worker_waiting_for_its_connections_next_request_gives_way_to_a_waiting_one(
    sim: OrbSim,
) -> None:
    # The only worker, having answered A, would wait up to 60 s for A's next request; B's
    # request, waiting for a worker, ends that wait: B is answered, A stays open and is
    # answered again afterwards.
    ping = b"GET /v1/ping HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer right\r\n\r\n"
    server = OrbSimServer(sim, workers=1, linger=60.0)
    with server, connect(server) as first, connect(server) as second:
        first.sendall(ping)
        assert read_answer(first)[1] == {"response": "pong"}
        second.sendall(ping)
        assert read_answer(second)[1] == {"response": "pong"}  # 5 s socket timeout, not 60 s
        first.sendall(ping)
        assert read_answer(first)[1] == {"response": "pong"}
        assert server.connections_accepted == 2
        started = time.monotonic()
        server.stop()  # the worker waiting on A is called off too, not left for 60 s
        assert time.monotonic() - started < 3
        assert closed_within(first, 1)


def test_idle_connections_past_the_limit_make_room_for_real_requests(sim: OrbSim) -> None:
    with OrbSimServer(sim, max_connections=20) as server:
        idle = []
        try:
            for _ in range(60):  # three times the limit, each with a half-sent head
                sock = connect(server)
                sock.sendall(b"GET /v1/ping HTTP/1.1\r\nHost: loc")
                idle.append(sock)
            for _ in range(5):
                response = httpx.get(
                    f"{server.base_url}/ping", headers={"Authorization": "Bearer right"}, timeout=5
                )
                assert response.json() == {"response": "pong"}
            assert server.open_connections <= 21
        finally:
            for sock in idle:
                sock.close()


def test_at_the_limit_a_new_connection_is_served_by_closing_an_idle_one(sim: OrbSim) -> None:
    with OrbSimServer(sim, max_connections=2) as server:
        keep = [connect(server) for _ in range(2)]
        try:
            with connect(server) as sock:
                sock.sendall(
                    b"GET /v1/ping HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer right"
                    b"\r\n\r\n"
                )
                _, body = read_answer(sock)
                assert body == {"response": "pong"}
        finally:
            for sock in keep:
                sock.close()


def test_bodies_being_received_are_bounded_across_connections(sim: OrbSim) -> None:
    """Each connection's body is capped, and so is their sum: a request whose declared body would
    pass ``max_buffered_bytes`` is answered 503 with Orb's JSON and ``retry-after`` before any of
    it is read; once the others are answered, the same request goes through."""
    sim.settings = sim.settings.model_copy(update={"max_request_bytes": 1000})
    body = json.dumps({"events": []}).encode().ljust(1000)

    def head(length: int) -> bytes:
        return (
            f"POST /v1/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer right\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        ).encode()

    with OrbSimServer(sim, max_buffered_bytes=2500) as server:
        slow = [connect(server), connect(server)]
        try:
            for sock in slow:  # two bodies of 1,000 bytes arriving: 2,000 of 2,500 reserved
                sock.sendall(head(1000) + body[:10])
            deadline = time.monotonic() + 5
            while server.buffered_bytes < 2000 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert server.buffered_bytes == 2000
            answer, problem = exchange(server, head(1000) + body)
            assert answer.startswith(b"HTTP/1.1 503 ")
            assert b"\r\nretry-after: 1\r\n" in answer.lower()
            assert problem["status"] == 503
            assert "2000 bytes of request bodies" in str(problem["detail"])
            assert "limit of 2500 bytes" in str(problem["detail"])
            small = json.dumps({"events": []}).encode().ljust(400)  # 400 more fit: 2,400 bytes
            assert exchange(server, head(400) + small)[0].startswith(b"HTTP/1.1 200 ")
            for sock in slow:
                sock.sendall(body[10:])
                assert read_answer(sock)[0].startswith(b"HTTP/1.1 200 ")  # JSON padded with spaces
        finally:
            for sock in slow:
                sock.close()
        deadline = time.monotonic() + 5
        while server.buffered_bytes and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.buffered_bytes == 0
        assert exchange(server, head(1000) + body)[0].startswith(b"HTTP/1.1 200 ")
