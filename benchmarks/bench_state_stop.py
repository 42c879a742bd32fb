"""``orbsim serve --state`` with a large state: what persistence makes requests wait for, and what
stopping, starting and ``GET /_orbsim/state`` cost.

With N stored events (default 200,000) in a state file over the rewrite limit:

* compaction: the snapshot taken under the lock, then the background compaction, while the main
  thread keeps sending single-event ``POST /ingest`` requests through ``StateFile.dispatch`` (what
  the server's workers call): the longest and the 99th-percentile wait of those requests, against
  the same requests with no compaction running (the state file is kept as ``orbsim serve`` keeps
  it: ``gc.freeze`` after each compaction);
* shutdown: ``StateFile.close`` after 100 journalled writes (the journal is fsynced and left);
* restart: ``OrbSim.load`` + ``replay`` + ``begin``, as ``orbsim serve`` does, with those 100
  writes in the journal (and, with ``--full-journal``, with a journal at its compaction limit);
* ``GET /_orbsim/state`` through a real server: time to stream the document, its size, and the
  resident memory it added at its peak (sampled every 5 ms).

Wall-clock seconds and the process's CPU seconds (the machine is shared: CPU is the steadier).

    python benchmarks/bench_state_stop.py [--events 200000] [--full-journal]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench_state_file import filled, ingest_requests
from orbsim import OrbSim
from orbsim.wire import statefile
from orbsim.wire.routes import dispatch
from orbsim.wire.statefile import PinnableManualClock, StateFile

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


@contextmanager
def peak_rss() -> Iterator[list[int]]:
    """``[peak - start]`` of the resident set while the block runs (sampled every 5 ms)."""
    start = rss()
    found = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            found[0] = max(found[0], rss() - start)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield found
    finally:
        done.set()
        sampler.join()
        found[0] = max(found[0], rss() - start)


class Timed:
    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    @contextmanager
    def run(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall = time.perf_counter() - wall
            self.cpu = time.process_time() - cpu


def waits(send: Callable[[], object], until: Callable[[], bool], least: int) -> list[float]:
    """Seconds per call of ``send``, called until ``until()`` (and at least ``least`` times)."""
    samples: list[float] = []
    while len(samples) < least or not until():
        started = time.perf_counter()
        send()
        samples.append(time.perf_counter() - started)
        time.sleep(0.001)  # a client's think time: leave the GIL to the compaction
    return samples


def p99(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--full-journal", action="store_true")
    args = parser.parse_args()
    statefile._REWRITE_LIMIT = 0  # every state is "large": no rewrite at start or stop
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as name:
        path = Path(name) / "state.json"
        sim, customers = filled(args.events)
        state = StateFile(sim, path, dispatch, on_compacted=gc.freeze)  # as orbsim serve does
        state.compact()
        size = path.stat().st_size
        request = ingest_requests(customers, "w")

        def send() -> None:
            state.dispatch(sim, request())

        quiet = waits(send, lambda: True, 300)
        snapshot = Timed()
        with snapshot.run(), sim.lock:
            taken = sim.state_snapshot()
        taken.release()
        compaction = Timed()
        with compaction.run():
            assert state.compact_later()
            busy = waits(send, lambda: state.wait(0), 50)
        assert state.failed is None, state.failed
        rows.append(("snapshot under the lock", f"{snapshot.wall * 1e3:.1f} ms", ""))
        rows.append(
            (
                "compaction, off the lock",
                f"{compaction.wall:.2f} s",
                f"{compaction.cpu:.2f} s (with the requests)",
            )
        )
        rows.append(
            (
                f"request wait during it: max / p99 ({len(busy)} ingests)",
                f"{max(busy) * 1e3:.1f} / {p99(busy) * 1e3:.1f} ms",
                "",
            )
        )
        rows.append(
            (
                f"request wait, no compaction: max / p99 ({len(quiet)})",
                f"{max(quiet) * 1e3:.1f} / {p99(quiet) * 1e3:.1f} ms",
                "",
            )
        )

        for _ in range(100):
            send()
        shutdown = Timed()
        with shutdown.run():
            state.close()
        rows.append(
            ("shutdown (100 writes journalled)", f"{shutdown.wall:.2f} s", f"{shutdown.cpu:.2f} s")
        )

        def restart() -> tuple[OrbSim, StateFile, int]:
            loaded = OrbSim.load(path)
            loaded.clock = PinnableManualClock(loaded.clock.now())
            again = StateFile(loaded, path, dispatch)
            replayed = again.replay()
            again.begin()
            return loaded, again, replayed

        started = Timed()
        with started.run():
            loaded, again, replayed = restart()
        rows.append(
            (
                f"restart ({replayed} writes replayed)",
                f"{started.wall:.2f} s",
                f"{started.cpu:.2f} s",
            )
        )

        if args.full_journal:
            more = ingest_requests(customers, "full")
            limit, statefile._JOURNAL_LIMIT = statefile._JOURNAL_LIMIT, 1 << 62
            floor, statefile._COMPACT_AT_LEAST = statefile._COMPACT_AT_LEAST, 1 << 62
            journal = path.with_name(path.name + ".journal")
            while journal.stat().st_size < limit - 4096:  # no compaction meanwhile
                again.dispatch(loaded, more())
            statefile._JOURNAL_LIMIT, statefile._COMPACT_AT_LEAST = limit, floor
            again.close()
            full = Timed()
            with full.run():
                loaded, again, replayed = restart()
            rows.append(
                (
                    f"restart, journal at its limit ({replayed} writes replayed)",
                    f"{full.wall:.2f} s",
                    f"{full.cpu:.2f} s",
                )
            )

        with loaded.serve() as server, peak_rss() as memory:
            fetched = Timed()
            received = 0
            with (
                fetched.run(),
                httpx.stream(
                    "GET", f"{server.url}/_orbsim/state", headers={"Authorization": "Bearer k"}
                ) as response,
            ):
                for chunk in response.iter_raw():
                    received += len(chunk)
        rows.append(
            (
                f"GET /_orbsim/state, streamed ({received / 1e6:.0f} MB)",
                f"{fetched.wall:.2f} s",
                f"{fetched.cpu:.2f} s; +{memory[0] / 1e6:.0f} MB RSS at peak",
            )
        )
        again.close()
    print(f"{args.events:,} stored events, state file {size / 1e6:.0f} MB")
    print("| what | wall | CPU / memory |")
    print("|---|---:|---:|")
    for what, wall, cpu in rows:
        print(f"| {what} | {wall} | {cpu} |")


if __name__ == "__main__":
    main()
