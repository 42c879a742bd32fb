"""The server under hostile clients, against a real ``orbsim serve`` process on loopback.

1. Memory: the server's RSS before and after ten 50 MB POSTs without credentials (each body sent
   in full; the server answers 401 on the head and discards the bytes). Target: under +20 MB.
2. Many bodies at once: ``--concurrent`` (50) connections each send an authenticated 10 MB body
   but its last byte, so every body is in flight at once; the server's RSS then, and how many
   were refused 503 (the budget of bodies being received, 64 MiB, ``max_buffered_bytes``).
   Target: RSS growth bounded by the budget (without it: 50 x 10 MB held).
3. Slow clients: under ``ulimit -n 1024`` (set for the server process), 1,100 connections each
   holding a half-sent request head, then 10 real requests on new connections. Target: each
   answered within 1 s. Also the server's CPU use while the idle connections sit there.

    python benchmarks/bench_server_limits.py [--bodies 10] [--mb 50] [--concurrent 50] [--idle 1100]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import httpx


def _limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


@contextmanager
def served(*args: str, limit_files: bool = False) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``orbsim serve --port 0`` in a child process; yields it and its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "orbsim.cli", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_limit_files if limit_files else None,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"orbsim serve did not start: {line!r} {process.stderr}")
        yield process, line.rsplit(" ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(10)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise LookupError(field)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def port_of(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1].split("/", 1)[0])


def memory(bodies: int, megabytes: int) -> list[tuple[str, str]]:
    body = b"x" * (megabytes * 1024 * 1024)
    with served("--api-key", "secret") as (process, base_url):
        port = port_of(base_url)
        httpx.get(f"{base_url}/ping", headers={"Authorization": "Bearer secret"})
        before = rss_mb(process.pid)
        statuses = []
        started = time.perf_counter()
        for _ in range(bodies):
            with httpx.Client(timeout=30) as http:
                response = http.post(
                    f"http://127.0.0.1:{port}/v1/ingest",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                statuses.append(response.status_code)
        elapsed = time.perf_counter() - started
        after = rss_mb(process.pid)
        peak = rss_mb(process.pid, "VmHWM")
    return [
        (f"{bodies} x {megabytes} MB POST, no credentials", f"answers {sorted(set(statuses))}"),
        ("server RSS before", f"{before:.1f} MB"),
        ("server RSS after", f"{after:.1f} MB (+{after - before:.1f} MB)"),
        ("server peak RSS (VmHWM)", f"{peak:.1f} MB"),
        ("time for all uploads", f"{elapsed:.2f} s"),
    ]


def concurrent_bodies(connections: int, size: int = 10_000_000) -> list[tuple[str, str]]:
    body = b"x" * size
    head = (
        f"POST /v1/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer secret\r\n"
        f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    with served("--api-key", "secret") as (process, base_url):
        port = port_of(base_url)
        httpx.get(f"{base_url}/ping", headers={"Authorization": "Bearer secret"})
        before = rss_mb(process.pid)
        sockets = []
        statuses: list[str] = []
        try:
            for _ in range(connections):
                sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                sock.sendall(head + body[:-1])
                sockets.append(sock)
            time.sleep(0.5)
            held = rss_mb(process.pid)
            peak = rss_mb(process.pid, "VmHWM")
            for sock in sockets:
                with suppress(OSError):
                    sock.sendall(body[-1:])
                try:
                    statuses.append(sock.recv(64).split(b" ", 2)[1].decode())
                except (OSError, IndexError):
                    statuses.append("closed")
        finally:
            for sock in sockets:
                sock.close()
    counts = ", ".join(f"{statuses.count(s)} x {s}" for s in sorted(set(statuses)))
    return [
        (f"{connections} x {size / 1e6:.0f} MB bodies in flight at once", counts),
        ("server RSS with all of them in flight", f"{held:.1f} MB (+{held - before:.1f} MB)"),
        ("server peak RSS (VmHWM)", f"{peak:.1f} MB"),
    ]


def slow_clients(idle: int, real: int) -> list[tuple[str, str]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, idle + 256)), hard))
    with served(limit_files=True) as (process, base_url):
        port = port_of(base_url)
        sockets = []
        try:
            for _ in range(idle):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.sendall(b"POST /v1/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
                sockets.append(sock)
            time.sleep(0.5)
            cpu_before = cpu_seconds(process.pid)
            time.sleep(2.0)
            cpu_share = (cpu_seconds(process.pid) - cpu_before) / 2.0
            latencies = []
            failures = 0
            fresh = httpx.Limits(max_keepalive_connections=0)  # a new connection each time
            with httpx.Client(timeout=5, limits=fresh) as http:
                for _ in range(real):
                    started = time.perf_counter()
                    try:
                        response = http.get(
                            f"{base_url}/ping", headers={"Authorization": "Bearer k"}
                        )
                        ok = response.json() == {"response": "pong"}
                    except httpx.HTTPError:
                        ok = False
                    latencies.append(time.perf_counter() - started)
                    failures += not ok
        finally:
            for sock in sockets:
                sock.close()
    return [
        (f"{idle} half-sent connections, server ulimit -n 1024", f"{len(sockets)} opened"),
        ("server CPU while they sit idle", f"{cpu_share * 100:.1f} %"),
        (f"{real} real requests answered", f"{real - failures} of {real}"),
        ("slowest real request", f"{max(latencies) * 1000:.0f} ms"),
        ("median real request", f"{sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=10)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--idle", type=int, default=1100)
    parser.add_argument("--real", type=int, default=10)
    args = parser.parse_args()
    rows = memory(args.bodies, args.mb) + concurrent_bodies(args.concurrent)
    rows += slow_clients(args.idle, args.real)
    print(f"| {'scenario':<50} | {'result':<28} |")
    print(f"|{'-' * 52}|{'-' * 30}|")
    for name, value in rows:
        print(f"| {name:<50} | {value:<28} |")


if __name__ == "__main__":
    main()
