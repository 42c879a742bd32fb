"""What a restart of ``orbsim serve --state`` costs with a large state: the time until it answers,
and until a read that needs the event indexes answers.

For each tree (this one, and ``--against TREE``'s ``src``) and each shape of data, a state file
of N events (default 1,000,000) is written by that tree (so each reads its own format), then, per
run, copied to a fresh directory and served by ``orbsim serve --state`` in a child process
(loopback, free port, stopped by pid):

* ``dense``: 50 customers, timestamps repeating every 39,000 s (``bench_state_file.filled``);
* ``spread``: 1,000 customers, every timestamp distinct (microseconds), as real traffic is.

Figures per run: seconds from the start of the process until it prints that it listens (its state
loaded, the journal replayed), its CPU seconds by then, then the wall time of the first
``GET /events/volume`` over the whole day (it needs the hour indexes a start builds in the
background, or builds them itself) and of the same request again. Medians over ``--runs``, with the
range.

    python benchmarks/bench_restart.py [--events 1000000] [--shape both] [--runs 3] [--against TREE]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench_server import child_process, cpu_seconds

BUILD = r"""
import sys
from datetime import datetime, timedelta, timezone
from orbsim import ManualClock, OrbSim

size, shape, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
now = datetime(2024, 5, 20, 12, tzinfo=timezone.utc)
sim = OrbSim(clock=ManualClock(now), seed=0)
count = 50 if shape == "dense" else 1000
customers = [sim.customers.create(name=f"c{i}", email=f"c{i}@bench.test").id for i in range(count)]
for start in range(0, size, 500):
    events = []
    for n in range(start, min(size, start + 500)):
        if shape == "dense":
            owner, back = customers[n % count], timedelta(seconds=n % 39_000)
        else:
            owner, back = customers[(n * 7919) % count], timedelta(microseconds=n * 39_001)
        events.append({
            "idempotency_key": f"fill-{n}", "event_name": "api_call", "customer_id": owner,
            "timestamp": (now - back).isoformat(), "properties": {"region": "eu", "n": n},
        })
    sim.events.ingest(events=events)
sim.dump(path)
"""
VOLUME = "/v1/events/volume?timeframe_start=2024-05-19T12:00:00Z&timeframe_end=2024-05-20T12:00:00Z"


def environment(tree: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(Path(tree).resolve() / "src")
    return env


def build(tree: str | None, size: int, shape: str, path: Path) -> None:
    subprocess.run(
        [sys.executable, "-c", BUILD, str(size), shape, str(path)],
        check=True,
        env=environment(tree),
    )


def served(tree: str | None, state: Path) -> contextlib.AbstractContextManager[tuple[int, str]]:
    """``orbsim serve --state state`` in a child process; its pid and URL once it listens."""
    command = [sys.executable, "-m", "orbsim.cli", "serve", "--host", "127.0.0.1", "--port", "0"]
    return child_process([*command, "--state", str(state)], environment(tree), startup=120.0)


def one_run(tree: str | None, source: Path) -> tuple[float, float, float, float]:
    with tempfile.TemporaryDirectory(prefix="orbsim-restart-") as directory:
        state = Path(directory) / "state.json"
        shutil.copyfile(source, state)
        started = time.perf_counter()
        with served(tree, state) as (pid, url):
            ready = time.perf_counter() - started
            cpu = cpu_seconds(pid)
            headers = {"Authorization": "Bearer k"}
            with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
                first_started = time.perf_counter()
                answer = client.get(VOLUME.removeprefix("/v1"))
                first = time.perf_counter() - first_started
                answer.raise_for_status()
                again_started = time.perf_counter()
                client.get(VOLUME.removeprefix("/v1")).raise_for_status()
                again = time.perf_counter() - again_started
    return ready, cpu, first, again


def figure(values: list[float]) -> str:
    return f"{statistics.median(values):.3g} ({min(values):.3g}-{max(values):.3g})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--shape", choices=("dense", "spread", "both"), default="both")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--against", metavar="TREE", help="also another checkout's src")
    args = parser.parse_args(argv)
    shapes = ("dense", "spread") if args.shape == "both" else (args.shape,)
    trees: list[tuple[str, str | None]] = [("this tree", None)]
    if args.against:
        trees.append((f"--against {args.against}", args.against))
    rows = []
    with tempfile.TemporaryDirectory(prefix="orbsim-restart-files-") as files:
        for shape in shapes:
            sources = {}
            for label, tree in trees:
                sources[label] = Path(files) / f"{shape}-{len(sources)}.json"
                build(tree, args.events, shape, sources[label])
            results: dict[str, list[tuple[float, float, float, float]]] = {t: [] for t, _ in trees}
            for _ in range(args.runs):  # trees interleaved, run by run
                for label, tree in trees:
                    results[label].append(one_run(tree, sources[label]))
            for label, _ in trees:
                runs = results[label]
                size = sources[label].stat().st_size / 1e6
                rows.append(
                    f"| {label} | {shape} | {size:.0f} MB | {figure([r[0] for r in runs])} | "
                    f"{figure([r[1] for r in runs])} | {figure([r[2] for r in runs])} | "
                    f"{figure([r[3] for r in runs])} |"
                )
    print(f"{args.events:,} events, {args.runs} runs, load average {os.getloadavg()[0]:.1f}")
    print(
        "| tree | data | file | listening after (s) | its CPU (s) | first volume (s) | again (s) |"
    )
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
