"""On-disk forms for the bulk of a state file (the events), by what a restart pays to load them.

For a simulator holding N stored events (default 200,000), writes and then loads the state as

* version 3 (today): JSON, one array per event (``statefile.fields.EVENT_COLUMNS``), loaded by
  ``statefile.read`` with the garbage collector paused, and with it running (the difference the
  pause makes);
* version 2: JSON, one object per event (``key: value`` for every field and version), loaded by
  today's ``statefile.read`` (which migrates it to rows first);
* sqlite3 in WAL mode: the standard library's embedded database, one row per event in a table
  (properties and later versions as JSON text), the other fields as the version-3 document; loaded
  with one ``SELECT`` into the same rows, then the same decoder.

Each load ends with the same ``EventStore`` (every index built). Seconds (wall, then CPU) and
file sizes; the best of ``--runs``.

    python benchmarks/bench_state_formats.py [--events 200000] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_state_file import filled
from orbsim import statefile
from orbsim.statefile._reader import Reader
from orbsim.statefile.fields import CODECS

V2_KEYS = ("id", "timestamp", "customer_id", "external_customer_id", "backfill_id")


def best(runs: int, call: Callable[[], object]) -> tuple[float, float]:
    found = (float("inf"), float("inf"))
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        found = min(found, (time.perf_counter() - wall, time.process_time() - cpu))
    return found


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
        state = document["state"]
        state["events"] = rows
        decoded: dict[str, Any] = {
            "backfills": CODECS["backfills"].decode(Reader(state, "state"), "backfills", {})
        }
        return CODECS["events"].decode(Reader(state, "state"), "events", decoded)
    finally:
        if paused:
            gc.enable()


def read_with_gc(path: Path) -> object:
    return statefile.decode(json.loads(path.read_bytes()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sim, _ = filled(args.events)
    rows: list[tuple[str, int, tuple[float, float], tuple[float, float]]] = []
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        v3 = directory / "v3.json"
        write = best(1, lambda: sim.dump(v3))
        document = json.loads(v3.read_bytes())
        rows.append(
            (
                "version 3: JSON rows (today)",
                v3.stat().st_size,
                write,
                best(args.runs, lambda: statefile.read(v3)),
            )
        )
        rows.append(
            (
                "version 3, garbage collector running",
                v3.stat().st_size,
                write,
                best(args.runs, lambda: read_with_gc(v3)),
            )
        )
        v2 = directory / "v2.json"
        v2_document = as_v2(document)
        write2 = best(1, lambda: v2.write_text(json.dumps(v2_document)))
        rows.append(
            (
                "version 2: JSON objects (migrated on load)",
                v2.stat().st_size,
                write2,
                best(args.runs, lambda: statefile.read(v2)),
            )
        )
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
