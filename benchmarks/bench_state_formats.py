"""On-disk forms for the bulk of a state file (the events), by what a restart pays to load them.

For a simulator holding N stored events (default 200,000; ``--shape spread`` for 1,000 customers
and every timestamp distinct, as real traffic is, instead of ``bench_state_file.filled``'s 50
customers and repeating times), writes and then loads the state as

* version 4 (today): JSON, the events in blocks of columns (``orbsim.statefile.events``), loaded
  by ``statefile.read`` with the garbage collector paused, and with it running (the difference the
  pause makes);
* version 3: JSON, one array per event (``statefile.events.ROW``), migrated to blocks on load;
* version 2: JSON, one object per event (``key: value`` for every field and version), migrated;
* sqlite3 in WAL mode: the standard library's embedded database, one row per event in a table
  (properties and later versions as JSON text), the other fields as a JSON document; loaded with
  one ``SELECT`` into version-3 rows, then the same migration and decoder.

Each load ends with the same ``EventStore``. Seconds (wall, then CPU) and file sizes; the best of
``--runs``.

    python benchmarks/bench_state_formats.py [--events 200000] [--runs 3] [--shape dense]
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench_state_file import filled
from orbsim import statefile

V2_KEYS = ("id", "timestamp", "customer_id", "external_customer_id", "backfill_id")


def best(runs: int, call: Callable[[], object]) -> tuple[float, float]:
    found = (float("inf"), float("inf"))
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        found = min(found, (time.perf_counter() - wall, time.process_time() - cpu))
    return found


def as_v3(document: dict[str, Any]) -> dict[str, Any]:
    """A version-4 document in version 3's shape (one row per event)."""
    rows: list[list[Any]] = []
    for block in document["state"]["events"]:
        later = dict(block.get("later", []))
        codes = block.get("backfill", [None] * len(block["id"]))
        for i, event_id in enumerate(block["id"]):
            customer_id, alias = block["owners"][block["owner"][i]]
            code = codes[i]
            rows.append(
                [
                    event_id,
                    block["timestamp"][i],
                    customer_id,
                    alias,
                    None if code is None else block["backfills"][code],
                    block["event_names"][block["event_name"][i]],
                    block["properties"][i],
                    block["times"][block["ingested_at"][i]],
                    later.get(i),
                ]
            )
    return {**document, "version": 3, "state": {**document["state"], "events": rows}}


def as_v2(document: dict[str, Any]) -> dict[str, Any]:
    """A version-3 document in version 2's shape (events as objects)."""
    events = []
    for row in document["state"]["events"]:
        event = dict(zip(V2_KEYS, row[:5], strict=True))
        versions = [
            {"kind": "ingested", "event_name": row[5], "properties": row[6], "recorded_at": row[7]}
        ]
        for kind, name, properties, at in row[8] or ():
            versions.append(
                {"kind": kind, "event_name": name, "properties": properties, "recorded_at": at}
            )
        events.append({**event, "versions": versions})
    return {**document, "version": 2, "state": {**document["state"], "events": events}}


def write_sqlite(path: Path, document: dict[str, Any]) -> None:
    rows = document["state"]["events"]
    rest = {**document, "state": {k: v for k, v in document["state"].items() if k != "events"}}
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    with db:
        db.execute("CREATE TABLE document (body TEXT)")
        db.execute(
            "CREATE TABLE events (n INTEGER PRIMARY KEY, id TEXT, timestamp TEXT, customer_id "
            "TEXT, alias TEXT, backfill_id TEXT, event_name TEXT, properties TEXT, "
            "ingested_at TEXT, later TEXT)"
        )
        db.execute("INSERT INTO document VALUES (?)", (json.dumps(rest),))
        db.executemany(
            "INSERT INTO events VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (*r[:6], json.dumps(r[6]), r[7], None if r[8] is None else json.dumps(r[8]))
                for r in rows
            ),
        )
    db.close()


def read_sqlite(path: Path) -> object:
    paused = gc.isenabled()
    gc.disable()
    try:
        db = sqlite3.connect(path)
        (body,) = db.execute("SELECT body FROM document").fetchone()
        document = json.loads(body)
        loads = json.loads
        rows = [
            [i, t, c, a, b, name, loads(p), at, None if later is None else loads(later)]
            for i, t, c, a, b, name, p, at, later in db.execute(
                "SELECT id, timestamp, customer_id, alias, backfill_id, event_name, properties, "
                "ingested_at, later FROM events ORDER BY n"
            )
        ]
        db.close()
        document["state"]["events"] = rows
        return statefile.decode(document)
    finally:
        if paused:
            gc.enable()


def read_with_gc(path: Path) -> object:
    return statefile.decode(json.loads(path.read_bytes()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shape", choices=("dense", "spread"), default="dense")
    args = parser.parse_args()
    sim, _ = filled(args.events, args.shape)
    rows: list[tuple[str, int, tuple[float, float], tuple[float, float]]] = []
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        v4 = directory / "v4.json"
        write = best(1, lambda: sim.dump(v4))
        for label, load in (
            ("version 4: JSON blocks of columns (today)", statefile.read),
            ("version 4, garbage collector running", read_with_gc),
        ):
            rows.append((label, v4.stat().st_size, write, best(args.runs, partial(load, v4))))
        document = as_v3(json.loads(v4.read_bytes()))
        for label, path, data in (
            ("version 3: JSON rows (migrated on load)", directory / "v3.json", document),
            ("version 2: JSON objects (migrated on load)", directory / "v2.json", as_v2(document)),
        ):
            written = best(1, partial(path.write_text, json.dumps(data)))
            loaded = best(args.runs, partial(statefile.read, path))
            rows.append((label, path.stat().st_size, written, loaded))
        db = directory / "state.sqlite"
        write3 = best(1, lambda: write_sqlite(db, document))
        rows.append(
            (
                "sqlite3, WAL mode: one row per event",
                db.stat().st_size,
                write3,
                best(args.runs, lambda: read_sqlite(db)),
            )
        )
    print(f"{args.events:,} stored events; seconds, wall / CPU (best of {args.runs})")
    print("| form | size | write | load |")
    print("|---|---:|---:|---:|")
    for label, size, (ww, wc), (lw, lc) in rows:
        print(f"| {label} | {size / 1e6:.0f} MB | {ww:.2f} / {wc:.2f} | {lw:.2f} / {lc:.2f} |")


if __name__ == "__main__":
    main()
