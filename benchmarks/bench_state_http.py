"""A compaction of ``orbsim serve --state`` at scale, seen by clients over HTTP.

Writes a state file of N stored events (default 200,000; the issue's figure is at 1,000,000),
starts a real ``orbsim serve --state`` process on loopback, and sends single-event
``POST /ingest`` requests from ``--clients`` threads (keep-alive connections) until the journal
has passed its 2 MiB cap and the compaction it starts has replaced the state file (watched every
5 ms). Reports the longest and 99th-percentile request during the compaction (from the journal
crossing the cap to the state file being replaced) and outside it; then stops the server by its
pid (SIGTERM) and reports how long it took to exit.

    python benchmarks/bench_state_http.py [--events 200000] [--clients 4]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench_state_file import NOW, filled

_CAP = 2 << 20  # orbsim.wire.statefile._JOURNAL_LIMIT


def p99(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0] if samples else 0.0
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        path = Path(name) / "state.json"
        journal = path.with_name(path.name + ".journal")
        sim, customers = filled(args.events)
        sim.dump(path)
        del sim
        size = path.stat().st_size
        started = time.perf_counter()
        command = [sys.executable, "-m", "orbsim.cli", "serve", "--port", "0", "--api-key", "k"]
        process = subprocess.Popen(
            [*command, "--state", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if "listening on" not in line:
                raise RuntimeError(f"orbsim serve did not start: {line!r}")
            start_seconds = time.perf_counter() - started
            base_url = line.rsplit(" ", 1)[1].strip()
            inode = path.stat().st_ino
            marks: dict[str, float] = {}
            done = threading.Event()
            deadline = time.monotonic() + args.timeout

            def watch() -> None:
                while not done.is_set() and time.monotonic() < deadline:
                    now = time.perf_counter()
                    try:
                        if "cap" not in marks and journal.stat().st_size >= _CAP:
                            marks["cap"] = now
                        if path.stat().st_ino != inode:
                            marks["replaced"] = now
                            done.set()
                            return
                    except FileNotFoundError:
                        pass
                    time.sleep(0.005)
                done.set()

            keys = itertools.count()
            samples: list[tuple[float, float]] = []
            failures: list[int] = []

            def client() -> None:
                headers = {"Authorization": "Bearer k"}
                with httpx.Client(base_url=base_url, timeout=60, headers=headers) as http:
                    while not done.is_set():
                        n = next(keys)
                        event = {
                            "idempotency_key": f"http-{n}",
                            "event_name": "api_call",
                            "customer_id": customers[n % len(customers)],
                            "timestamp": NOW,
                            "properties": {"region": "eu", "units": 3},
                        }
                        begun = time.perf_counter()
                        response = http.post("/ingest", content=json.dumps({"events": [event]}))
                        samples.append((begun, time.perf_counter() - begun))
                        if response.status_code != 200:
                            failures.append(response.status_code)

            threads = [threading.Thread(target=watch)]
            threads += [threading.Thread(target=client) for _ in range(args.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            stopping = time.perf_counter()
            os.kill(process.pid, signal.SIGTERM)
            code = process.wait(30)
            stop_seconds = time.perf_counter() - stopping
            if process.stdout is not None:
                process.stdout.close()
            if process.stderr is not None:
                process.stderr.close()
    if "cap" not in marks or "replaced" not in marks:
        raise SystemExit(f"no compaction seen within {args.timeout} s: {marks}")
    during = [w for at, w in samples if marks["cap"] <= at + w and at <= marks["replaced"]]
    outside = [w for at, w in samples if at + w < marks["cap"] or at > marks["replaced"]]
    print(
        f"{args.events:,} stored events (state file {size / 1e6:.0f} MB), {args.clients} clients, "
        f"{len(samples):,} ingests, {len(failures)} not 200; server started in "
        f"{start_seconds:.1f} s, stopped by pid in {stop_seconds:.2f} s (exit {code})"
    )
    print("| requests | count | longest | p99 |")
    print("|---|---:|---:|---:|")
    span = marks["replaced"] - marks["cap"]
    print(
        f"| during the compaction ({span:.1f} s) | {len(during)} | {max(during) * 1e3:.1f} ms "
        f"| {p99(during) * 1e3:.1f} ms |"
    )
    print(
        f"| outside it | {len(outside)} | {max(outside, default=0) * 1e3:.1f} ms "
        f"| {p99(outside) * 1e3:.1f} ms |"
    )


if __name__ == "__main__":
    main()
