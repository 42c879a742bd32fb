"""CPU A/B of the write paths against another orbsim tree: ingest, amend, deprecate, close, revert.

    python benchmarks/bench_ab.py --against /tmp/old        # 6 interleaved pairs
    python benchmarks/bench_ab.py --against /tmp/old --pairs 10

``/tmp/old`` is another checkout's root (``mkdir -p /tmp/old && git archive 1cf53b3 | tar -x -C
/tmp/old``): each pair runs one process on that tree's ``src`` (``PYTHONPATH``) and one on this
tree's, alternately, so the load of a shared machine falls on both alike; the table shows the
median of each side's figures and their ratio. Figures are CPU time (``time.process_time`` of the
calls only; wall clock is noise on a shared machine), never asserted:

* ingest: 100,000 pre-built events in batches of 500 into a fresh simulator (ms);
* fill: 100,000 events in batches of 500, the clock moving 90 minutes after each (ms);
* amend / deprecate: median per call, 300 calls each on events of the current period, 100,000
  stored (µs);
* close / revert: a replacing backfill of 300 events closed (reflecting at once) and reverted,
  median of 15 (µs).

Without ``--against`` it measures this tree once and prints the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import FILL_START, batches, fill, fresh, make_account, make_payloads, month_bounds

EVENTS = 100_000
FIGURES = (
    ("ingest", "ingest 100k events, batches of 500 (ms CPU)", 1e3),
    ("fill", "fill to 100k, clock advancing (ms CPU)", 1e3),
    ("amend", "amend, 100k stored (µs CPU, median)", 1e6),
    ("deprecate", "deprecate, 100k stored (µs CPU, median)", 1e6),
    ("close", "close a replacing backfill of 300 events (µs CPU, median)", 1e6),
    ("revert", "revert it (µs CPU, median)", 1e6),
)


def _settings(**wanted: Any) -> Any:
    """``Settings`` with the options this tree knows (an older tree lacks some)."""
    from orbsim import Settings

    if dataclasses.is_dataclass(Settings):
        known = {f.name for f in dataclasses.fields(Settings)}
    else:  # pragma: no cover - a pydantic Settings
        known = set(getattr(Settings, "model_fields", {}))
    return Settings(**{k: v for k, v in wanted.items() if k in known})


def measure() -> dict[str, float]:
    cpu = time.process_time
    ids = make_account().customer_ids
    probe = make_account()
    chunks = batches(make_payloads(0, EVENTS, probe.clock.now(), ids), 500)
    account = make_account()
    ingest = account.sim.events.ingest
    fresh()
    started = cpu()
    for chunk in chunks:
        ingest(events=chunk)
    figures = {"ingest": cpu() - started}
    del account, ingest, chunks
    fresh()

    settings = _settings(
        amend_limit=10**9, deprecate_limit=10**9, reflection_progression="immediate"
    )
    account = make_account(FILL_START, settings=settings, subscribe=True)
    fill(account, EVENTS)
    figures["fill"] = account.ingest_cpu_seconds
    sim = account.sim
    now = sim.now()
    first_ok = month_bounds(now)[0].strftime("%Y-%m-%dT%H:%M:%SZ")
    eligible = [p for p in account.recent if p["timestamp"] >= first_ok]
    picked = eligible[:: max(1, len(eligible) // 600)][:600]
    amend, deprecate = [], []
    for p in picked[0::2]:
        started = cpu()
        sim.events.update(
            p["idempotency_key"],
            event_name=p["event_name"],
            timestamp=p["timestamp"],
            properties={"region": "amended", "n": 1},
            customer_id=p["customer_id"],
        )
        amend.append(cpu() - started)
    for p in picked[1::2]:
        started = cpu()
        sim.events.deprecate(p["idempotency_key"])
        deprecate.append(cpu() - started)
    figures["amend"] = statistics.median(amend)
    figures["deprecate"] = statistics.median(deprecate)

    customer = account.customer_ids[0]
    end = now - timedelta(days=2)
    start = end - timedelta(days=1)
    span = int((end - start).total_seconds())
    base = int(start.timestamp())
    close, revert = [], []
    for round_ in range(15):
        backfill = sim.events.backfills.create(
            timeframe_start=start,
            timeframe_end=end,
            customer_id=customer,
            replace_existing_events=True,
        )
        events = make_payloads(0, 300, end, [customer], prefix=f"ab{round_:03d}-")
        for i, event in enumerate(events):
            moment = datetime.fromtimestamp(base + (i * 7919) % span, start.tzinfo)
            event["timestamp"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        sim.events.ingest(events=events, backfill_id=backfill.id)
        fresh()
        started = cpu()
        closed = sim.events.backfills.close(backfill.id)
        close.append(cpu() - started)
        if closed.status != "reflected":
            raise RuntimeError(f"closed backfill is {closed.status}, expected reflected")
        started = cpu()
        sim.events.backfills.revert(backfill.id)
        revert.append(cpu() - started)
    figures["close"] = statistics.median(close)
    figures["revert"] = statistics.median(revert)
    return figures


def _child(src: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, __file__, "--child"], env=env, check=True, capture_output=True, text=True
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    if Path(figures.pop("tree")) != src.parent:
        raise RuntimeError(f"PYTHONPATH={src} did not import that tree's orbsim")
    return {key: float(value) for key, value in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--against", type=Path, help="another tree's root (with src/orbsim)")
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import orbsim

        print(json.dumps({**measure(), "tree": str(Path(orbsim.__file__).parents[2])}))
        return
    here = Path(__file__).resolve().parents[1] / "src"
    if args.against is None:
        figures = _child(here)
        for key, what, scale in FIGURES:
            print(f"| {what} | {figures[key] * scale:,.1f} |")
        return
    other = args.against.resolve() / "src"
    if not (other / "orbsim").is_dir():
        parser.error(f"{other} has no orbsim package")
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    for pair in range(args.pairs):
        theirs.append(_child(other))
        ours.append(_child(here))
        print(f"pair {pair + 1}/{args.pairs} done", file=sys.stderr)
    print(f"| CPU, median of {args.pairs} interleaved runs | this tree | {args.against} | ratio |")
    print("|---|---:|---:|---:|")
    for key, what, scale in FIGURES:
        mine = statistics.median(run[key] for run in ours) * scale
        other_value = statistics.median(run[key] for run in theirs) * scale
        print(f"| {what} | {mine:,.1f} | {other_value:,.1f} | {mine / other_value:.2f}x |")


if __name__ == "__main__":
    main()
