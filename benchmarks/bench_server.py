"""Server mode vs in-process: the same official-SDK call through ``sim.client()`` (httpx transport,
no socket), through ``sim.serve()`` (orbsim's server in a thread of this process, loopback
HTTP/1.1, keep-alive) and through a real ``orbsim serve`` child process on 127.0.0.1 (free port,
keep-alive). The modes run interleaved, round by round; per call it prints best and median round
of wall time and of this process's CPU (``time.process_time``: with the in-thread server that
includes the server's work, with the child process the server's CPU is read from ``/proc`` and
added), with the ratios to in-process and the load average. Target: server <= 2x in-process.

With ``--uvicorn`` (needs ``pip install uvicorn``, not a dependency of orbsim), the same
``dispatch`` also runs under uvicorn (h11, asyncio) through a minimal ASGI adapter: the
measurement behind keeping orbsim's own server (see the benchmarks page).

The floor, measured: a fourth mode sends the same SDK calls to a do-nothing server in a child
process (``--canned``, below) that answers each request with the bytes orbsim's server sent
for that request line (status line, headers and body, captured once by forwarding the first
such request to the ``orbsim serve`` child), doing nothing but read the request's head and its
``Content-Length`` body. Its wall time is the best any server could give this client: the
SDK's own HTTP stack (httpx, httpcore, h11, sockets) plus a loopback round trip. The client's
CPU against a server process, over the in-process CPU, is printed as the CPU floor too.

With ``--framing``, one more child process runs orbsim's own server with ``dispatch`` replaced
by its first answer to each request line (kept, then given again): the server's reading,
parsing and writing without the simulator's work, which splits orbsim's server cost into its
HTTP handling and ``dispatch``.

    python benchmarks/bench_server.py [--repeat 9] [--number 200] [--uvicorn] [--against DIR]
                                      [--framing]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orb

from orbsim import ManualClock, OrbSim

NOW = "2024-05-20T12:00:00+00:00"


@dataclass
class Timing:
    """Per-call figures of one mode over the rounds: wall and client-process CPU (µs), and the
    CPU of a separate server process when there is one."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)


def measure(
    calls: list[Callable[[], object]],
    repeat: int,
    number: int,
    server_pids: list[int | None],
) -> list[Timing]:
    """``repeat`` rounds of ``number`` calls of each of ``calls``, the modes interleaved round by
    round so that load hits all alike; per round, the mean µs per call."""
    for call in calls:
        for _ in range(min(number, 50)):  # warm up connection pools and caches
            call()
    timings = [Timing() for _ in calls]
    for _ in range(repeat):
        for call, timing, pid in zip(calls, timings, server_pids, strict=True):
            server_started = cpu_seconds(pid) if pid is not None else 0.0
            cpu_started = time.process_time()
            started = time.perf_counter()
            for _ in range(number):
                call()
            timing.wall.append((time.perf_counter() - started) / number * 1e6)
            timing.cpu.append((time.process_time() - cpu_started) / number * 1e6)
            if pid is not None:
                timing.server_cpu.append((cpu_seconds(pid) - server_started) / number * 1e6)
    return timings


def cpu_seconds(pid: int) -> float:
    """CPU time of process ``pid`` so far, all its threads (Linux ``/proc/PID/task/*/schedstat``:
    nanoseconds on a CPU; ``/proc/PID/stat`` counts 10 ms ticks, too coarse for 200 calls)."""
    total = 0
    tasks = Path(f"/proc/{pid}/task")
    for task in tasks.iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def cases(client: orb.Orb, tag: str) -> dict[str, Callable[[], object]]:
    """The measured SDK calls, bound to ``client`` (set up through it; keys never repeat)."""
    customer = client.customers.create(name="Bench", email=f"{tag}@bench.test")
    backfill = client.events.backfills.create(
        timeframe_start=datetime(2024, 5, 10, tzinfo=UTC),
        timeframe_end=datetime(2024, 5, 11, tzinfo=UTC),
        customer_id=customer.id,
    )
    keys = itertools.count()

    def ingest_one() -> object:
        event = {
            "idempotency_key": f"{tag}-{next(keys)}",
            "event_name": "api_call",
            "customer_id": customer.id,
            "timestamp": NOW,
            "properties": {"region": "eu", "units": 3},
        }
        return client.events.ingest(events=[event])

    return {
        "events.ingest (1 event)": ingest_one,
        "events.backfills.fetch": lambda: client.events.backfills.fetch(backfill.id),
    }


@contextlib.contextmanager
def orbsim_process(tree: str | None = None) -> Iterator[tuple[int, str]]:
    """``orbsim serve`` in a child process on a free loopback port (manual clock at ``NOW``,
    seed 1), from this tree or from ``tree``'s ``src``; yields its pid and base URL once it
    listens, and stops it by pid afterwards."""
    command = [sys.executable, "-m", "orbsim.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", "0", "--clock", "manual", "--now", NOW, "--seed", "1"]
    environment = dict(os.environ)
    if tree is not None:
        environment["PYTHONPATH"] = str(Path(tree).resolve() / "src")
    with child_process(command, environment) as child:
        yield child


@contextlib.contextmanager
def canned_process(upstream: str) -> Iterator[tuple[int, str]]:
    """The do-nothing server (``--canned``) in a child process, capturing from ``upstream``."""
    command = [sys.executable, str(Path(__file__).resolve()), "--canned", upstream]
    with child_process(command, dict(os.environ)) as child:
        yield child


@contextlib.contextmanager
def framing_process() -> Iterator[tuple[int, str]]:
    """orbsim's server without the simulator's work (``--framing-child``) in a child process."""
    command = [sys.executable, str(Path(__file__).resolve()), "--framing-child"]
    with child_process(command, dict(os.environ)) as child:
        yield child


def serve_framing() -> None:
    """``OrbSimServer`` on 127.0.0.1, a free port, whose dispatch answers each request line
    (method and target) with what ``dispatch`` answered it the first time. Runs until SIGTERM."""
    from orbsim.wire.messages import WireRequest, WireResponse
    from orbsim.wire.routes import dispatch
    from orbsim.wire.server import OrbSimServer

    answers: dict[tuple[str, str, str], WireResponse] = {}

    def answer_once(sim: OrbSim, request: WireRequest) -> WireResponse:
        line = (request.method, request.path, request.query)
        answer = answers.get(line)
        if answer is None:
            answer = answers[line] = dispatch(sim, request)
        return answer

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    sim = OrbSim(clock=ManualClock(NOW), seed=1)
    with OrbSimServer(sim, dispatch=answer_once) as server:
        print(f"listening on {server.base_url}", flush=True)
        stopped.wait()


@contextlib.contextmanager
def child_process(
    command: list[str], environment: dict[str, str], startup: float = 20.0
) -> Iterator[tuple[int, str]]:
    """Run ``command``, wait (bounded) for its ``listening on URL`` line, yield its pid and
    URL; stop it by pid afterwards (SIGTERM, then SIGKILL)."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + startup
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                raise RuntimeError(f"{command[1:3]} did not start within {startup} s: {line!r}")
            readable, _, _ = select.select([process.stdout], [], [], min(remaining, 0.5))
            if readable:
                data = os.read(process.stdout.fileno(), 4096)  # unbuffered: select stays true
                if not data:
                    raise RuntimeError(f"{command[1:3]} exited before listening: {line!r}")
                line += data
        if b"listening on " not in line:
            raise RuntimeError(f"{command[1:3]} said {line!r}")
        yield process.pid, line.decode().rsplit(" ", 1)[1].strip()
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]+)", re.IGNORECASE)


def serve_canned(upstream: str) -> None:
    """The do-nothing server: on 127.0.0.1, a free port, one thread per connection. Each
    request is read (head to its blank line, then ``Content-Length`` bytes of body) and answered
    with the bytes orbsim's server at ``upstream`` sent for the same request line: the first
    time, the request is forwarded there and the answer (head and body, byte for byte) kept;
    afterwards it is answered from what was kept, with no other work. Runs until killed."""
    host, _, port = upstream.split("//", 1)[1].split("/", 1)[0].rpartition(":")
    upstream_address = (host, int(port))
    canned: dict[bytes, bytes] = {}
    lock = threading.Lock()
    forward: list[socket.socket] = []

    def capture(request: bytes) -> bytes:
        with lock:
            if not forward:
                forward.append(socket.create_connection(upstream_address, timeout=10))
            sock = forward[0]
            sock.sendall(request)
            data = b""
            while (end := data.find(b"\r\n\r\n")) == -1:
                data += sock.recv(65536) or _eof()
            found = _CONTENT_LENGTH.search(data, 0, end + 2)
            size = end + 4 + (int(found[1]) if found else 0)
            while len(data) < size:
                data += sock.recv(65536) or _eof()
            return data[:size]

    def connection(sock: socket.socket) -> None:
        buffer = b""
        with sock:
            while True:
                while (end := buffer.find(b"\r\n\r\n")) == -1:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                found = _CONTENT_LENGTH.search(buffer, 0, end + 2)
                size = end + 4 + (int(found[1]) if found else 0)
                while len(buffer) < size:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                request, buffer = buffer[:size], buffer[size:]
                line = request[: request.find(b"\r\n")]
                answer = canned.get(line)
                if answer is None:
                    answer = canned[line] = capture(request)
                sock.sendall(answer)

    listener = socket.create_server(("127.0.0.1", 0))
    print(f"listening on http://127.0.0.1:{listener.getsockname()[1]}/v1", flush=True)
    while True:
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=connection, args=(sock,), daemon=True).start()


def _eof() -> bytes:
    raise ConnectionError("orbsim's server closed the connection while answering")


@contextlib.contextmanager
def uvicorn_server(sim: OrbSim) -> Iterator[str]:
    """``dispatch`` behind uvicorn (h11 protocol, asyncio loop, no extra headers)."""
    import uvicorn

    from orbsim.wire.messages import WireRequest
    from orbsim.wire.routes import dispatch

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request = WireRequest(
            scope["method"],
            scope["raw_path"].decode("latin-1"),
            scope["query_string"].decode("latin-1"),
            headers,
            body,
        )
        reply = dispatch(sim, request)
        fields = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
        fields.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": fields})
        await send({"type": "http.response.body", "body": reply.body})

    sock = socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        http="h11",
        loop="asyncio",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        date_header=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(5)


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--number", type=int, default=200)
    parser.add_argument("--uvicorn", action="store_true", help="also measure uvicorn (h11)")
    parser.add_argument(
        "--against", metavar="TREE", help="also a child process on another checkout's src"
    )
    parser.add_argument(
        "--framing", action="store_true", help="also orbsim's server without dispatch's work"
    )
    parser.add_argument("--canned", metavar="URL", help=argparse.SUPPRESS)  # the children's
    parser.add_argument("--framing-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.canned:
        serve_canned(args.canned)
        return
    if args.framing_child:
        serve_framing()
        return

    options = {"_strict_response_validation": True, "max_retries": 0}
    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        local_sim = OrbSim(clock=ManualClock(NOW), seed=1)
        thread_sim = OrbSim(clock=ManualClock(NOW), seed=1)
        local = stack.enter_context(local_sim.client(**options))
        server = stack.enter_context(thread_sim.serve())
        in_thread = stack.enter_context(orb.Orb(api_key="b", base_url=server.base_url, **options))
        pid, url = stack.enter_context(orbsim_process())
        separate = stack.enter_context(orb.Orb(api_key="b", base_url=url, **options))
        canned_pid, canned_url = stack.enter_context(canned_process(url))
        canned = stack.enter_context(orb.Orb(api_key="b", base_url=canned_url, **options))
        modes = [
            "in-process",
            "server, in a thread",
            "server, own process",
            "floor: canned answers",
        ]
        clients = [cases(local, "local"), cases(in_thread, "thread"), cases(separate, "process")]
        clients.append(cases(canned, "canned"))
        pids: list[int | None] = [None, None, pid, canned_pid]
        if args.against:
            other_pid, other_url = stack.enter_context(orbsim_process(args.against))
            against = stack.enter_context(orb.Orb(api_key="b", base_url=other_url, **options))
            modes.append("own process, --against")
            clients.append(cases(against, "against"))
            pids.append(other_pid)
        if args.framing:
            framing_pid, framing_url = stack.enter_context(framing_process())
            framing = stack.enter_context(orb.Orb(api_key="b", base_url=framing_url, **options))
            modes.append("own process, no dispatch")
            clients.append(cases(framing, "framing"))
            pids.append(framing_pid)
        if args.uvicorn:
            uvicorn_sim = OrbSim(clock=ManualClock(NOW), seed=1)
            uvicorn_url = stack.enter_context(uvicorn_server(uvicorn_sim))
            other = stack.enter_context(orb.Orb(api_key="b", base_url=uvicorn_url, **options))
            modes.append("uvicorn+h11, in a thread")
            clients.append(cases(other, "uvicorn"))
            pids.append(None)
        rows = []
        for name in clients[0]:
            calls = [mode[name] for mode in clients]
            rows.append((name, measure(calls, args.repeat, args.number, pids)))
        connections = server.connections_accepted
    load_after = os.getloadavg()[0]

    print(
        f"{args.repeat} rounds x {args.number} calls, modes interleaved; µs per call; load "
        f"average (1 min) {load_before:.2f} -> {load_after:.2f} on {os.cpu_count()} cores"
    )
    print(
        "wall: best / median round; CPU: of this (client) process, best / median round (with "
        "the server in a thread it includes the server's); server: the child process's CPU, "
        "median round; CPU ratio: client + server CPU against in-process"
    )
    print(
        f"| {'SDK call':<24} | {'mode':<24} | {'wall':>11} | {'wall ratio':>10} "
        f"| {'CPU':>11} | {'server':>6} | {'CPU ratio':>9} |"
    )
    print(f"|{'-' * 26}|{'-' * 26}|{'-' * 12}:|{'-' * 11}:|{'-' * 12}:|{'-' * 7}:|{'-' * 10}:|")
    for name, timings in rows:
        base = timings[0]
        for mode, timing in zip(modes, timings, strict=True):
            wall = f"{min(timing.wall):.0f} / {median(timing.wall):.0f}"
            cpu = f"{min(timing.cpu):.0f} / {median(timing.cpu):.0f}"
            wall_ratio = median(timing.wall) / median(base.wall)
            cpu_total = median(timing.cpu)
            server_cpu = "-"
            if timing.server_cpu:
                cpu_total += median(timing.server_cpu)
                server_cpu = f"{median(timing.server_cpu):.0f}"
            cpu_ratio = cpu_total / median(base.cpu)
            print(
                f"| {name:<24} | {mode:<24} | {wall:>11} | {wall_ratio:>9.2f}x "
                f"| {cpu:>11} | {server_cpu:>6} | {cpu_ratio:>8.2f}x |"
            )
    print(f"in-thread server connections accepted: {connections} (keep-alive)")
    for name, timings in rows:
        cpu_floor = median(timings[2].cpu) / median(timings[0].cpu)
        wall_floor = median(timings[3].wall) / median(timings[0].wall)
        print(
            f"floor for {name}: a do-nothing server's wall is {wall_floor:.2f}x in-process; "
            f"the client's own CPU over HTTP is {cpu_floor:.2f}x"
        )


if __name__ == "__main__":
    main()
