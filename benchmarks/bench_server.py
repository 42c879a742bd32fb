"""Server mode vs in-process: the same official-SDK call through ``sim.client()`` (httpx transport,
no socket) and through ``sim.serve()`` (loopback HTTP/1.1, keep-alive). Prints best-of-N µs per
call (the modes interleaved) and the ratio; the target is server <= 2x in-process.

With ``--uvicorn`` (needs ``pip install uvicorn``, not a dependency of orbsim), the same
``dispatch`` also runs under uvicorn (h11, asyncio) through a minimal ASGI adapter: the
measurement behind keeping orbsim's own server (see the benchmarks page).

    python benchmarks/bench_server.py [--repeat 7] [--number 300] [--uvicorn]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orb

from orbsim import ManualClock, OrbSim

NOW = "2024-05-20T12:00:00+00:00"


def best_of(calls: list[Callable[[], object]], repeat: int, number: int) -> list[float]:
    """Best mean µs per call for each of ``calls``, runs interleaved so load hits all alike."""
    for call in calls:
        for _ in range(min(number, 50)):  # warm up connection pools and caches
            call()
    best = [float("inf")] * len(calls)
    for _ in range(repeat):
        for index, call in enumerate(calls):
            started = time.perf_counter()
            for _ in range(number):
                call()
            best[index] = min(best[index], (time.perf_counter() - started) / number)
    return [seconds * 1e6 for seconds in best]


def cases(client: orb.Orb, sim: OrbSim, tag: str) -> dict[str, Callable[[], object]]:
    """The measured SDK calls, bound to ``client`` (keys never repeat across calls)."""
    customer = sim.customers.create(name="Bench", email=f"{tag}@bench.test")
    backfill = sim.events.backfills.create(
        timeframe_start="2024-05-10T00:00:00Z",
        timeframe_end="2024-05-11T00:00:00Z",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=300)
    parser.add_argument("--uvicorn", action="store_true", help="also measure uvicorn (h11)")
    args = parser.parse_args()

    local_sim = OrbSim(clock=ManualClock(NOW), seed=1)
    remote_sim = OrbSim(clock=ManualClock(NOW), seed=1)
    uvicorn_sim = OrbSim(clock=ManualClock(NOW), seed=1)
    options = {"_strict_response_validation": True, "max_retries": 0}
    with contextlib.ExitStack() as stack:
        local = stack.enter_context(local_sim.client(**options))
        server = stack.enter_context(remote_sim.serve())
        remote = stack.enter_context(orb.Orb(api_key="b", base_url=server.base_url, **options))
        modes = [cases(local, local_sim, "local"), cases(remote, remote_sim, "remote")]
        if args.uvicorn:
            url = stack.enter_context(uvicorn_server(uvicorn_sim))
            other = stack.enter_context(orb.Orb(api_key="b", base_url=url, **options))
            modes.append(cases(other, uvicorn_sim, "uvicorn"))
        rows = []
        for name in modes[0]:
            rows.append((name, best_of([mode[name] for mode in modes], args.repeat, args.number)))
        connections = server.connections_accepted

    print(f"best of {args.repeat} x {args.number} calls; µs per call")
    extra = " uvicorn+h11 | ratio |" if args.uvicorn else ""
    print(f"| {'SDK call':<26} | {'in-process':>10} | {'server':>8} | ratio |{extra}")
    rule = f"|{'-' * 28}|{'-' * 11}:|{'-' * 9}:|{'-' * 6}:|"
    print(rule + ("-------------:|------:|" if args.uvicorn else ""))
    for name, timings in rows:
        in_process, served = timings[:2]
        ratio = served / in_process
        line = f"| {name:<26} | {in_process:>10.0f} | {served:>8.0f} | {ratio:>4.2f}x |"
        if args.uvicorn:
            line += f" {timings[2]:>12.0f} | {timings[2] / in_process:>4.2f}x |"
        print(line)
    print(f"orbsim server connections accepted: {connections} (keep-alive)")


if __name__ == "__main__":
    main()
