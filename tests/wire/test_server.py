"""The real HTTP server: SDK fidelity, byte-identity with the in-process transport, keep-alive,
concurrency, HTTP framing and graceful shutdown."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import httpx
import orb
import pytest
from hypothesis import given
from hypothesis import strategies as st
from orb.types.event_ingest_params import Event

from helpers.sdk import sdk
from orbsim import ManualClock, OrbSim, Settings
from orbsim.wire.messages import WireRequest, WireResponse
from orbsim.wire.server import OrbSimServer
from orbsim.wire.server.heads import Head as _Head
from orbsim.wire.server.heads import _fields, _fields_line_by_line
from orbsim.wire.server.refusals import BadRequest as _BadRequest

START = "2024-05-20T12:00:00+00:00"
NOW = datetime.fromisoformat(START)
AUTH = {"Authorization": "Bearer k"}


def make_sim(seed: int = 7) -> OrbSim:
    return OrbSim(clock=ManualClock(START), seed=seed)


def event(key: str, customer_id: str, minutes_ago: float = 5) -> Event:
    return {
        "idempotency_key": key,
        "event_name": "api_call",
        "customer_id": customer_id,
        "timestamp": (NOW - timedelta(minutes=minutes_ago)).isoformat(),
        "properties": {"region": "eu"},
    }


@pytest.fixture
def clock_start() -> datetime:
    return NOW


@pytest.fixture
def sim_seed() -> int:
    return 7


@pytest.fixture
def client(server: OrbSimServer) -> Iterator[orb.Orb]:
    with sdk(server) as sdk_client:
        yield sdk_client


# -- the official SDK over a real socket ----------------------------------------------------------


def test_base_url_is_loopback_v1(server: OrbSimServer) -> None:
    assert server.host == "127.0.0.1"
    assert server.port > 0
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    assert server.running


def test_sdk_customer_ingest_search(sim: OrbSim, client: orb.Orb) -> None:
    assert client.top_level.ping().response == "pong"
    customer = client.customers.create(name="Acme", email="billing@acme.test")
    result = client.events.ingest(
        events=[event("e-1", customer.id), event("e-2", customer.id, minutes_ago=1)]
    )
    assert result.validation_failed == []
    found = client.events.search(event_ids=["e-1", "e-2"])
    assert sorted(e.id for e in found.data) == ["e-1", "e-2"]
    assert [e.id for e in sim.billable_events(customer_id=customer.id)] == ["e-1", "e-2"]


def test_sdk_backfill_lifecycle(sim: OrbSim, client: orb.Orb) -> None:
    customer = client.customers.create(name="Acme", email="billing@acme.test")
    backfill = client.events.backfills.create(
        timeframe_start="2024-05-10T00:00:00Z",
        timeframe_end="2024-05-11T00:00:00Z",
        customer_id=customer.id,
    )
    assert backfill.status == "pending"
    client.events.ingest(
        backfill_id=backfill.id,
        events=[
            {
                "idempotency_key": f"bf-{i}",
                "event_name": "api_call",
                "customer_id": customer.id,
                "timestamp": f"2024-05-10T{i:02d}:00:00Z",
                "properties": {},
            }
            for i in range(3)
        ],
    )
    assert client.events.backfills.fetch(backfill.id).status == "pending"
    closed = client.events.backfills.close(backfill.id)
    assert closed.status == "pending"  # reflection is asynchronous, as in Orb
    assert closed.events_ingested == 3
    listed = client.events.backfills.list()  # the first poll
    assert [(b.id, b.status) for b in listed.data] == [(backfill.id, "reflected")]
    window = {"timeframe_start": "2024-05-10T00:00:00Z", "timeframe_end": "2024-05-11T00:00:00Z"}
    assert len(sim.billable_events(customer_id=customer.id, **window)) == 3
    assert client.events.backfills.revert(backfill.id).status == "pending_revert"
    reverted = client.events.backfills.fetch(backfill.id)
    assert reverted.status == "reverted"
    assert sim.billable_events(customer_id=customer.id, **window) == []


def test_sdk_errors_are_typed(client: orb.Orb, server: OrbSimServer) -> None:
    with pytest.raises(orb.ResourceNotFound):
        client.events.backfills.fetch("nope")
    with pytest.raises(orb.RequestValidationError):
        client.events.ingest(events=[{"idempotency_key": "x", "event_name": "e"}])  # type: ignore[typeddict-item]  # deliberately incomplete
    assert httpx.get(f"{server.base_url}/ping").status_code == 401


def test_sdk_wrong_api_key_is_rejected() -> None:
    sim = OrbSim(settings=Settings(api_keys=frozenset({"right"})))
    with sim.serve() as server:
        with sdk(server) as wrong, pytest.raises(orb.AuthenticationError):
            wrong.top_level.ping()
        with orb.Orb(api_key="right", base_url=server.base_url, max_retries=0) as right:
            assert right.top_level.ping().response == "pong"


# -- byte-identity with the in-process transport --------------------------------------------------


def _script(http: httpx.Client) -> list[tuple[int, bytes]]:
    """A fixed request sequence covering successes and errors; returns (status, body) pairs."""
    answers: list[tuple[int, bytes]] = []

    def call(
        method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        content = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        response = http.request(method, path, content=content, headers=headers)
        answers.append((response.status_code, response.content))
        return response

    call("GET", "/ping", headers=AUTH)
    call("GET", "/ping")  # no credentials
    customer = call("POST", "/customers", {"name": "Acme", "email": "a@acme.test"}, headers=AUTH)
    customer_id = customer.json()["id"]
    call("POST", "/customers", {"name": "Acme"}, headers=AUTH)  # missing email
    call("GET", f"/customers/{customer_id}", headers=AUTH)
    call("GET", "/customers?limit=1", headers=AUTH)
    call("POST", "/ingest", {"events": [event("e-1", customer_id)]}, headers=AUTH)
    call("POST", "/ingest", {"events": [event("e-2", customer_id, minutes_ago=24 * 60)]},
         headers=AUTH)  # fmt: skip
    call("POST", "/ingest", None, headers=AUTH | {"content-type": "application/json"})
    call("POST", "/ingest", b"{not json", headers=AUTH)
    call("POST", "/events/search", {"event_ids": ["e-1", "missing"]}, headers=AUTH)
    call("GET", "/events/volume?timeframe_start=2024-05-20T00:00:00Z", headers=AUTH)
    backfill = call(
        "POST",
        "/events/backfills",
        {"timeframe_start": "2024-05-10T00:00:00Z", "timeframe_end": "2024-05-11T00:00:00Z"},
        headers=AUTH | {"Idempotency-Key": "bf-1"},
    )
    backfill_id = backfill.json()["id"]
    call(
        "POST",
        "/events/backfills",
        {"timeframe_start": "2024-05-10T00:00:00Z", "timeframe_end": "2024-05-11T00:00:00Z"},
        headers=AUTH | {"Idempotency-Key": "bf-1"},
    )  # replayed
    call("POST", f"/events/backfills/{backfill_id}/close", headers=AUTH)
    call("GET", f"/events/backfills/{backfill_id}", headers=AUTH)
    call("GET", "/events/backfills", headers=AUTH)
    call("POST", f"/events/backfills/{backfill_id}/revert", headers=AUTH)
    call("GET", "/events/backfills/missing", headers=AUTH)
    call("GET", "/no/such/route", headers=AUTH)
    call("DELETE", "/ping", headers=AUTH)
    return answers


def test_server_and_in_process_transport_answer_byte_identically() -> None:
    local_sim, remote_sim = make_sim(), make_sim()
    with httpx.Client(transport=local_sim.transport(), base_url="http://orbsim.local/v1") as http:
        local = _script(http)
    with remote_sim.serve() as server, httpx.Client(base_url=server.base_url) as http:
        remote = _script(http)
    assert [status for status, _ in remote] == [status for status, _ in local]
    for index, (mine, theirs) in enumerate(zip(remote, local, strict=True)):
        assert mine == theirs, f"request #{index} differs"
    assert {status for status, _ in local} >= {200, 400, 401, 404}


# -- connections ---------------------------------------------------------------------------------


def test_sdk_reuses_one_keep_alive_connection(client: orb.Orb, server: OrbSimServer) -> None:
    customer = client.customers.create(name="Acme", email="billing@acme.test")
    for i in range(5):
        client.events.ingest(events=[event(f"k-{i}", customer.id)])
    client.events.search(event_ids=[f"k-{i}" for i in range(5)])
    assert server.connections_accepted == 1


def test_concurrent_ingest_stores_each_event_once(sim: OrbSim, server: OrbSimServer) -> None:
    customer = sim.customers.create(name="Acme", email="billing@acme.test")
    threads, per_thread = 8, 50
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def worker(n: int) -> None:
        try:
            with sdk(server) as worker_client:
                barrier.wait(timeout=10)
                for i in range(per_thread):
                    worker_client.events.ingest(
                        events=[event(f"t{n}-{i}", customer.id, minutes_ago=(n + i) % 600)]
                    )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    assert not errors
    stored = [e.id for e in sim.billable_events(customer_id=customer.id)]
    expected = {f"t{n}-{i}" for n in range(threads) for i in range(per_thread)}
    assert len(stored) == threads * per_thread
    assert set(stored) == expected
    assert server.connections_accepted == threads


# -- HTTP framing, against a recording stub dispatch ---------------------------------------------


class Recorder:
    """A stand-in for ``routes.dispatch`` that records requests and answers with their body."""

    def __init__(self) -> None:
        self.requests: list[WireRequest] = []
        self.delay = 0.0
        self.slow_arrived = threading.Event()

    def __call__(self, sim: OrbSim, request: WireRequest) -> WireResponse:
        self.requests.append(request)
        if request.path.endswith("/boom"):
            raise RuntimeError("kaboom")
        if request.path.endswith("/slow"):
            self.slow_arrived.set()
            time.sleep(self.delay)
        return WireResponse(
            201, [("content-type", "application/json"), ("x-echo", request.method)], request.body
        )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def stub_server(recorder: Recorder) -> Iterator[OrbSimServer]:
    with OrbSimServer(OrbSim(), dispatch=recorder) as running:
        yield running


def raw_exchange(server: OrbSimServer, payload: bytes, half_close: bool = False) -> bytes:
    """Send raw bytes (then maybe end the sending side), read until the server closes."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(payload)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_wire_request_carries_method_path_query_headers_body(
    stub_server: OrbSimServer, recorder: Recorder
) -> None:
    response = httpx.post(
        f"{stub_server.base_url}/customers/a%2Fb?customer_id[]=a&x=1",
        content=b'{"a": 1}',
        headers={"X-Custom": "Yes"},
    )
    assert response.status_code == 201
    assert response.content == b'{"a": 1}'
    assert response.headers["x-echo"] == "POST"
    (request,) = recorder.requests
    assert request.method == "POST"
    assert request.path == "/v1/customers/a%2Fb"
    assert request.query == "customer_id[]=a&x=1"
    assert request.headers["x-custom"] == "Yes"
    assert all(name == name.lower() for name in request.headers)
    assert request.body == b'{"a": 1}'


def test_chunked_body_is_decoded(stub_server: OrbSimServer, recorder: Recorder) -> None:
    def parts() -> Iterator[bytes]:
        yield b'{"events":'
        yield b" []}"

    response = httpx.post(f"{stub_server.base_url}/ingest", content=parts())
    assert response.content == b'{"events": []}'
    assert recorder.requests[0].body == b'{"events": []}'


def test_any_method_reaches_dispatch_and_head_has_no_body(
    stub_server: OrbSimServer, recorder: Recorder
) -> None:
    with httpx.Client(base_url=stub_server.base_url) as http:
        assert http.request("PATCH", "/x", content=b"p").headers["x-echo"] == "PATCH"
        assert http.request("PROPFIND", "/x").headers["x-echo"] == "PROPFIND"
        head = http.head("/x")
        assert head.content == b""
        assert http.get("/x").status_code == 201  # the connection survived the HEAD
    assert [r.method for r in recorder.requests] == ["PATCH", "PROPFIND", "HEAD", "GET"]
    assert recorder.requests[-1].body == b""
    assert stub_server.connections_accepted == 1


def test_malformed_content_length_is_a_400_problem(stub_server: OrbSimServer) -> None:
    raw = raw_exchange(
        stub_server, b"POST /v1/ingest HTTP/1.1\r\nHost: ::1\r\nContent-Length: -3\r\n\r\nabc"
    )
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in head
    problem = json.loads(body)
    assert problem["type"].endswith("400-request-validation-errors")
    assert "Content-Length" in problem["detail"]


@pytest.mark.parametrize("length", [b"5", "\N{SUPERSCRIPT TWO}".encode("latin-1"), b"2, 2", b"0x3"])
def test_short_or_odd_content_length_is_a_400_problem(
    stub_server: OrbSimServer, length: bytes
) -> None:
    raw = raw_exchange(
        stub_server,
        b"POST /v1/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
        + length
        + b"\r\n\r\nabc",
        half_close=True,
    )
    assert raw.startswith(b"HTTP/1.1 400 ")
    assert b"malformed request body" in raw


def test_a_chunk_past_the_size_limit_is_a_413_before_its_data(stub_server: OrbSimServer) -> None:
    raw = raw_exchange(
        stub_server,
        b"POST /v1/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"FFFFFFFFFFFF\r\nabc",
        half_close=True,
    )
    assert raw.startswith(b"HTTP/1.1 413 ")
    assert b"more than 10485760 bytes" in raw


def test_a_content_length_past_the_size_limit_is_a_413_before_the_body(
    stub_server: OrbSimServer, recorder: Recorder
) -> None:
    raw = raw_exchange(
        stub_server,
        b"POST /v1/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000000000\r\n\r\nabc",
        half_close=True,
    )
    assert raw.startswith(b"HTTP/1.1 413 ")
    assert b"request body is 1000000000000 bytes" in raw
    assert not recorder.requests  # refused on the head: dispatch never saw it


def test_no_content_responses_have_no_length() -> None:
    def no_content(sim: OrbSim, request: WireRequest) -> WireResponse:
        return WireResponse(204, [("content-length", "99")], b"ignored")

    with OrbSimServer(OrbSim(), dispatch=no_content) as server:
        with httpx.Client(base_url=server.base_url, timeout=5) as http:
            for _ in range(2):  # the connection stays usable
                response = http.delete("/customers/c")
                assert response.status_code == 204
                assert response.content == b""
                assert "content-length" not in response.headers
        assert server.connections_accepted == 1


def test_bad_chunk_framing_is_a_400_problem(stub_server: OrbSimServer) -> None:
    raw = raw_exchange(
        stub_server,
        b"POST /v1/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    )
    assert raw.startswith(b"HTTP/1.1 400 ")
    assert b"invalid chunk size" in raw


def test_http_1_0_and_connection_close_end_the_connection(stub_server: OrbSimServer) -> None:
    raw = raw_exchange(stub_server, b"GET /v1/ping HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 201 ")
    assert b"Content-Length: 0\r\n" in raw
    raw = raw_exchange(
        stub_server, b"GET /v1/ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    assert raw.startswith(b"HTTP/1.1 201 ")
    assert b"Connection: close\r\n" in raw


def read_answer(sock: socket.socket, pending: bytearray) -> bytes:
    """One answer (head and ``Content-Length`` body) from ``sock``; what follows stays in
    ``pending``."""
    while b"\r\n\r\n" not in pending:
        pending += sock.recv(65536)
    end = pending.index(b"\r\n\r\n") + 4
    length = int(pending[:end].split(b"Content-Length: ")[1].split(b"\r\n")[0])
    while len(pending) < end + length:
        pending += sock.recv(65536)
    answer = bytes(pending[: end + length])
    del pending[: end + length]
    return answer


def test_keep_alive_requests_arriving_in_pieces_or_together_are_each_read_whole(
    stub_server: OrbSimServer, recorder: Recorder
) -> None:
    # After an answer, the worker waits a few ms for the connection's next request itself; a
    # head and body arriving apart (as the SDK sends them), or a head cut anywhere, must come
    # out whole either way, and so must two requests sent in one write.
    pending = bytearray()
    with socket.create_connection((stub_server.host, stub_server.port), timeout=5) as sock:
        sock.sendall(b"POST /v1/a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi")
        assert read_answer(sock, pending).endswith(b"\r\n\r\nhi")
        for pause in (0.0, 0.001, 0.003, 0.02):  # within the worker's wait, and past it
            for piece in (b"POST /v1/b HTTP/1.1\r\nHost: loc", b"alhost\r\nContent-Len", b"gth: 5"):
                sock.sendall(piece)
                time.sleep(pause)
            for piece in (b"\r\n\r", b"\nhe", b"llo"):
                sock.sendall(piece)
                time.sleep(pause)
            assert read_answer(sock, pending).endswith(b"\r\n\r\nhello")
        sock.sendall(
            b"POST /v1/c HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\none"
            b"GET /v1/d HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )
        assert read_answer(sock, pending).endswith(b"\r\n\r\none")
        assert b"Content-Length: 0\r\n" in read_answer(sock, pending)
        assert not pending
    assert [(r.path, r.body) for r in recorder.requests] == [
        ("/v1/a", b"hi"),
        *[("/v1/b", b"hello")] * 4,
        ("/v1/c", b"one"),
        ("/v1/d", b""),
    ]
    assert stub_server.connections_accepted == 1


_NAMES = st.sampled_from(["Host", "host", "Content-Length", "Accept", "X-Stainless-OS", "a"])
_SPACE = st.sampled_from(["", " ", "\t", " \t "])
_GOOD_LINE = st.builds(
    lambda name, before, value, after: f"{name}:{before}{value}{after}",
    _NAMES,
    _SPACE,
    st.text(st.sampled_from(list("ab1 \t,;=\xa0\xff")), max_size=6),
    _SPACE,
)
_ODD_LINE = st.sampled_from(
    ["", " folded: x", "\tfolded", "no colon", "bad name: x", "X: a\rb", "X: \x01", ": x"]
)
_HEADER_LINES = st.one_of(
    st.lists(_GOOD_LINE, max_size=6, unique_by=lambda line: line.split(":")[0].lower()),
    st.lists(st.one_of(_GOOD_LINE, _GOOD_LINE, _ODD_LINE), max_size=8),
)


@given(_HEADER_LINES)
def test_header_fields_read_in_one_pass_equal_the_line_by_line_reading(lines: list[str]) -> None:
    # The server reads a head's fields with one regex split in the common case; the
    # line-by-line reading (which also words every refusal) is the reference.
    block = "".join(f"{line}\n" for line in lines)

    def outcome(read: Callable[[str], dict[str, str]]) -> dict[str, str] | str:
        try:
            return read(block)
        except _BadRequest as refusal:
            return f"refused: {refusal}"

    assert outcome(_fields) == outcome(_fields_line_by_line)


_REQUEST_LINES = st.sampled_from(
    ["GET /v1/a?b=c HTTP/1.1", "POST /v1/ingest HTTP/1.0", "GET /v1/a HTTP/2", "bad line"]
)


@given(_REQUEST_LINES, _HEADER_LINES, st.lists(st.booleans(), min_size=9, max_size=9))
def test_a_head_read_on_its_crlfs_equals_the_head_read_line_by_line(
    first: str, lines: list[str], crlf: list[bool]
) -> None:
    # A head whose lines all end in CRLF is split once, as sent; any other (bare LFs, a line
    # to refuse, a repeated name) is read by replacing its CRLFs with LFs. The all-LF head,
    # read that way only, is the reference: every attribute, or the refusal, is the same.
    ends = ["\r\n" if sent else "\n" for sent in crlf]
    mixed = first + "".join(f"{end}{line}" for end, line in zip(ends, lines, strict=False))
    bare = "\n".join([first, *lines])

    def outcome(text: str) -> dict[str, object] | str:
        try:
            head = _Head(text.encode("latin-1"))
        except _BadRequest as refusal:
            return f"refused: {refusal}"
        return {name: getattr(head, name) for name in _Head.__slots__}

    assert outcome(mixed) == outcome(bare)
    assert outcome(first + "".join(f"\r\n{line}" for line in lines)) == outcome(bare)


def test_dispatch_exception_becomes_500_problem(stub_server: OrbSimServer) -> None:
    response = httpx.get(f"{stub_server.base_url}/boom")
    assert response.status_code == 500
    assert response.json()["type"].endswith("500-internal-server-error")
    assert "kaboom" in response.json()["detail"]


def test_stop_finishes_in_flight_requests_and_closes_idle_connections(
    recorder: Recorder,
) -> None:
    recorder.delay = 0.3
    server = OrbSimServer(OrbSim(), dispatch=recorder).start()
    idle = httpx.Client(base_url=server.base_url)
    idle.get("/x")  # leaves an idle keep-alive connection open
    results: list[httpx.Response] = []
    slow = threading.Thread(target=lambda: results.append(httpx.get(f"{server.base_url}/slow")))
    slow.start()
    assert recorder.slow_arrived.wait(timeout=10)
    started = time.perf_counter()
    server.stop()
    assert time.perf_counter() - started < 3
    slow.join(timeout=5)
    assert results[0].status_code == 201
    assert results[0].headers["connection"] == "close"
    assert not server.running
    with pytest.raises(httpx.TransportError):
        idle.get("/x")
    idle.close()
    server.stop()  # idempotent
    with pytest.raises(RuntimeError):
        server.start()


def test_server_binds_at_construction_and_serves_after_start(recorder: Recorder) -> None:
    server = OrbSimServer(OrbSim(), port=0, dispatch=recorder)
    try:
        assert server.port > 0
        assert not server.running
        with socket.create_connection(("127.0.0.1", server.port), timeout=5):
            pass  # the kernel accepts into the backlog before start()
        server.start()
        assert server.start() is server
        assert httpx.get(f"{server.base_url}/x", timeout=5).status_code == 201
    finally:
        server.stop()


def test_sim_serve_passes_settings_through(recorder: Recorder) -> None:
    sim = OrbSim(settings=Settings(api_keys=frozenset({"right"})))
    with sim.serve(dispatch=recorder) as server:
        assert server.sim is sim
        assert server.running
    assert not server.running


def test_ipv6_loopback_base_url_is_bracketed(recorder: Recorder) -> None:
    try:
        server = OrbSimServer(OrbSim(), host="::1", dispatch=recorder)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with server:
        assert server.base_url == f"http://[::1]:{server.port}/v1"
        assert httpx.get(f"{server.base_url}/x", timeout=5).status_code == 201
