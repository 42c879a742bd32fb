"""Shutdown and restart of ``orbsim serve --state`` with a large state: what ``StateFile.close``
(shutdown) and load + replay + ``begin`` (restart) cost, with a state file over the rewrite limit
(the journal is continued and left fsynced) and with it forced under (the state file is
rewritten at both ends, as before). Seconds, N stored events plus 100 journalled writes.

    python benchmarks/bench_state_stop.py [--events 200000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_state_file import filled, ingest_requests
from orbsim import OrbSim
from orbsim.wire import statefile
from orbsim.wire.routes import dispatch
from orbsim.wire.statefile import PinnableManualClock, StateFile


def cycle(events: int, directory: Path, rewrite_limit: int) -> tuple[float, float, int]:
    statefile._REWRITE_LIMIT = rewrite_limit
    sim, customers = filled(events)
    path = directory / f"state-{rewrite_limit}.json"
    state = StateFile(sim, path, dispatch)
    state.compact()
    request = ingest_requests(customers, "w")
    for _ in range(100):
        state.dispatch(sim, request())
    started = time.perf_counter()
    state.close()
    shutdown = time.perf_counter() - started
    started = time.perf_counter()
    loaded = OrbSim.load(path)
    loaded.clock = PinnableManualClock(loaded.clock.now())
    again = StateFile(loaded, path, dispatch)
    again.replay()
    again.begin()
    restart = time.perf_counter() - started
    again.close()
    return shutdown, restart, path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        limit = statefile._REWRITE_LIMIT
        kept = cycle(args.events, directory, limit)
        rewritten = cycle(args.events, directory, 1 << 62)
        statefile._REWRITE_LIMIT = limit
    print(f"{args.events} stored events, state file {kept[2] / 1e6:.0f} MB; seconds")
    print("| state file handling                  | shutdown | restart |")
    print("|--------------------------------------|---------:|--------:|")
    label = (
        "journal continued (over the limit)"
        if kept[2] > statefile._REWRITE_LIMIT
        else ("default (under the limit: rewritten)")
    )
    print(f"| {label:<36} | {kept[0]:8.2f} | {kept[1]:7.2f} |")
    print(f"| rewritten at start and shutdown      | {rewritten[0]:8.2f} | {rewritten[1]:7.2f} |")


if __name__ == "__main__":
    main()
