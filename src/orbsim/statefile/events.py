"""The bulk of a state file: every stored event, as blocks of columns (version 4).

``state.events`` is a list of blocks, each holding up to ``BLOCK`` events in ingestion order::

    {"id": [str], "timestamp": [str], "properties": [object],
     "owner": [int], "owners": [[customer_id, external_customer_id], ...],
     "event_name": [int], "event_names": [str],
     "ingested_at": [int], "times": [str],
     "backfill": [int | null], "backfills": [str],       (only in a block with backfill events)
     "later": [[position, [[kind, event_name, properties, recorded_at], ...]], ...]}  (if any)

``owner``, ``event_name`` and ``ingested_at`` are codes into the block's tables (an event's owner
is exactly one of its pair; ``ingested_at`` is the time the ingested version was recorded);
``backfill`` codes into ``backfills``' ids (null: a live event); ``later`` lists, by position in
the block, each amended or deprecated event's later versions, oldest first.

Why columns: a restart is mostly this decoding, and columns are decoded by the interpreter's C
loops (``map``, list comprehensions, one type check per column rather than per value; times by
``datetime.fromisoformat`` without a per-event Python call), where rows took a Python loop
over every event: at a million events, 1.3 s instead of 2.4-6 s
(``benchmarks/bench_state_formats.py``). Repeated values (owners, names, request times) are
written once per block. The file is written block by block from a frozen view
(``orbsim.statefile.Snapshot``), so it streams in bounded memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from itertools import repeat
from operator import attrgetter
from typing import Any, Final

from orbsim.engine.backfills import BackfillRecord
from orbsim.engine.store import EventStore, FrozenSlice, StoredEvent, Version, hour_of
from orbsim.statefile._reader import Reader, Times
from orbsim.statefile.times import state_time

BLOCK: Final = 4096
"""Events per block: large enough that a block's fixed costs vanish, small enough to stream."""

ROW: Final = (
    "id",
    "timestamp",
    "customer_id",
    "external_customer_id",
    "backfill_id",
    "event_name",
    "properties",
    "ingested_at",
    "later_versions",
)
"""What a version-3 file held per event, as a row (``block`` turns rows into a block: the
migration from version 3)."""

_LATER_KINDS = frozenset({"amended", "deprecated"})
_TZINFO = attrgetter("tzinfo")
_ID = attrgetter("id")
_TIMESTAMP = attrgetter("timestamp")
_CUSTOMER_ID = attrgetter("customer_id")
_ALIAS = attrgetter("external_customer_id")
_BACKFILL = attrgetter("backfill")
_HOUR_ZERO = datetime(1970, 1, 1, tzinfo=UTC).toordinal() * 24
_fromiso = datetime.fromisoformat


def _coded(keys: list[Any]) -> tuple[list[int], list[Any]]:
    """``keys`` as codes into a table of its distinct values (first seen first), in C loops."""
    table = list(dict.fromkeys(keys))
    index = {key: code for code, key in enumerate(table)}
    return list(map(index.__getitem__, keys)), table


def utc_texts(values: list[datetime]) -> list[str]:
    """``state_time`` of each value (``Z``, a fraction only as far as needed), in C loops when
    every value is a UTC time: ``isoformat`` gives ``...:SS+00:00`` or ``...:SS.ffffff+00:00``,
    and a fraction of whole milliseconds is cut to three digits with the ``+00:00``."""
    if not set(map(_TZINFO, values)) <= {UTC}:
        return list(map(state_time, values))
    texts = map(datetime.isoformat, values)
    millis = map(str.replace, texts, repeat("000+00:00"), repeat("Z"))
    return list(map(str.replace, millis, repeat("+00:00"), repeat("Z")))


def _texts_by_object(values: list[datetime]) -> tuple[list[int], list[str]]:
    """Times as codes into a table of their texts: a request's events share one ``now``
    object, so each distinct object is written once, then equal texts are merged (the table is
    what ``block`` makes of the same times written out)."""
    codes, objects = _coded(list(map(id, values)))
    by_id = {id(v): v for v in values}
    texts = utc_texts([by_id[key] for key in objects])
    table = list(dict.fromkeys(texts))
    if len(table) == len(texts):
        return codes, texts
    index = {text: code for code, text in enumerate(table)}
    merged = [index[text] for text in texts]
    return [merged[code] for code in codes], table


def _owners_coded(events: list[StoredEvent]) -> tuple[list[int], list[list[str | None]]]:
    """Each event's owner as a code into ``[customer_id, external_customer_id]`` pairs, coded by
    strings (no tuple per event: temporaries the cyclic collector would have to track)."""
    customer_ids = list(map(_CUSTOMER_ID, events))
    if None not in customer_ids:
        codes, table = _coded(customer_ids)
        return codes, [[customer_id, None] for customer_id in table]
    aliases = list(map(_ALIAS, events))
    keys = [
        "c" + c if c is not None else "a" + a for c, a in zip(customer_ids, aliases, strict=True)
    ]
    codes, table = _coded(keys)
    return codes, [[key[1:], None] if key[0] == "c" else [None, key[1:]] for key in table]


def event_block(frozen: FrozenSlice) -> dict[str, Any]:
    """A frozen view's slice of events (``FrozenEvents.slices``) as one block of columns, in C
    loops over the events and the slice's lists."""
    events = frozen.events
    later = [
        [position, [[kind, n, props, state_time(at)] for kind, n, props, at in versions]]
        for position, versions in frozen.later.items()
    ]
    owner, owners = _owners_coded(events)
    name, name_table = _coded(frozen.names)
    ingested, times = _texts_by_object(frozen.recorded)
    out: dict[str, Any] = {
        "id": list(map(_ID, events)),
        "timestamp": utc_texts(list(map(_TIMESTAMP, events))),
        "properties": frozen.properties,
        "owner": owner,
        "owners": owners,
        "event_name": name,
        "event_names": name_table,
        "ingested_at": ingested,
        "times": times,
    }
    backfills = list(map(_BACKFILL, events))
    if any(backfills):
        records = list({id(b): b for b in backfills if b is not None}.values())
        codes = {id(record): code for code, record in enumerate(records)}
        out["backfill"] = [None if b is None else codes[id(b)] for b in backfills]
        out["backfills"] = [record.id for record in records]
    if later:
        out["later"] = later
    return out


def block(rows: list[list[Any]]) -> dict[str, Any]:
    """Rows (``ROW``: a version-3 file's events, times as text) as one block of columns."""
    owner, owners = _coded([(row[2], row[3]) for row in rows])
    name, names = _coded([row[5] for row in rows])
    ingested, times = _coded([row[7] for row in rows])
    out: dict[str, Any] = {
        "id": [row[0] for row in rows],
        "timestamp": [row[1] for row in rows],
        "properties": [row[6] for row in rows],
        "owner": owner,
        "owners": [list(pair) for pair in owners],
        "event_name": name,
        "event_names": names,
        "ingested_at": ingested,
        "times": times,
    }
    backfill_ids = [row[4] for row in rows]
    listed = list(dict.fromkeys(b for b in backfill_ids if b is not None))
    if listed:
        index = {backfill_id: code for code, backfill_id in enumerate(listed)}
        out["backfill"] = [None if b is None else index[b] for b in backfill_ids]
        out["backfills"] = listed
    later = [[position, row[8]] for position, row in enumerate(rows) if row[8] is not None]
    if later:
        out["later"] = later
    return out


def encode(store: EventStore) -> list[dict[str, Any]]:
    """Every event of ``store`` as blocks (the whole list at once: ``dump(indent=...)``)."""
    frozen = store.freeze()
    try:
        return [event_block(part) for part in frozen.slices(BLOCK)]
    finally:
        frozen.release()


# -- decoding --------------------------------------------------------------------------------------


def _column(doc: Reader, key: str, kind: type, what: str, count: int | None) -> list[Any]:
    values = doc.items(key)
    if count is not None and len(values) != count:
        raise ValueError(f"{doc.where}.{key}: expected {count} values, got {len(values)}")
    if not set(map(type, values)) <= {kind}:  # one C loop; the slow one only to name the value
        for index, value in enumerate(values):
            if type(value) is not kind:
                raise ValueError(f"{doc.where}.{key}[{index}]: expected {what}, got {value!r}")
    return values


def _codes(doc: Reader, key: str, table: str, size: int, count: int) -> list[int]:
    codes = _column(doc, key, int, f"a code into {table}", count)
    if codes and (min(codes) < 0 or max(codes) >= size):
        bad = next(c for c in codes if not 0 <= c < size)
        raise ValueError(
            f"{doc.where}.{key}: code {bad} is outside {table} (0 to {size - 1}, {size} entries)"
        )
    return codes


def _timestamps(doc: Reader, stamps: list[str]) -> tuple[list[datetime], list[int]]:
    """The timestamps and their hours: at C speed when every one is a UTC time."""
    try:
        parsed = list(map(_fromiso, stamps))
    except ValueError:
        for index, text in enumerate(stamps):
            try:
                _fromiso(text)
            except ValueError:
                raise ValueError(
                    f"{doc.where}.timestamp[{index}]: {text!r} is not an ISO 8601 time"
                ) from None
        raise  # pragma: no cover - every text parsed on its own
    if set(map(_TZINFO, parsed)) <= {UTC}:
        return parsed, [t.toordinal() * 24 + t.hour - _HOUR_ZERO for t in parsed]
    for index, value in enumerate(parsed):
        if value.utcoffset() is None:
            raise ValueError(f"{doc.where}.timestamp[{index}]: {stamps[index]!r} has no UTC offset")
    return parsed, [hour_of(t) for t in parsed]


def _owners(doc: Reader) -> tuple[list[str | None], list[str | None]]:
    customer_ids: list[str | None] = []
    aliases: list[str | None] = []
    for index, pair in enumerate(doc.items("owners")):
        if type(pair) is not list or len(pair) != 2:
            raise ValueError(
                f"{doc.where}.owners[{index}]: expected [customer_id, external_customer_id], "
                f"got {pair!r}"
            )
        customer_id, alias = pair
        if (customer_id is None) == (alias is None) or not (
            type(customer_id) is str or type(alias) is str
        ):
            raise ValueError(
                f"{doc.where}.owners[{index}]: exactly one of customer_id and "
                f"external_customer_id must be set, got {pair!r}"
            )
        customer_ids.append(customer_id)
        aliases.append(alias)
    return customer_ids, aliases


def _later_versions(raw: Any, times: Times, where: str) -> list[Version]:
    if type(raw) is not list or not raw:
        raise ValueError(f"{where}: expected a non-empty list of later versions, got {raw!r}")
    versions: list[Version] = []
    for item in raw:
        if type(item) is not list or len(item) != 4:
            raise ValueError(f"{where}: expected [kind, event_name, properties, at], got {item!r}")
        kind, name, properties, at = item
        if kind not in _LATER_KINDS:
            raise ValueError(f"{where}: a later version is 'amended' or 'deprecated', got {kind!r}")
        if type(name) is not str or type(properties) is not dict:
            raise ValueError(f"{where}: expected a name and a properties object in {item!r}")
        versions.append((kind, name, properties, times(at, f"{where}.recorded_at")))
    return versions


def _block_events(
    doc: Reader, backfills: Mapping[str, BackfillRecord], times: Times
) -> list[StoredEvent]:
    ids = _column(doc, "id", str, "a string id", None)
    count = len(ids)
    stamps = _column(doc, "timestamp", str, "an ISO 8601 time", count)
    properties = _column(doc, "properties", dict, "a properties object", count)
    customer_ids, aliases = _owners(doc)
    owner = _codes(doc, "owner", "owners", len(customer_ids), count)
    names = _column(doc, "event_names", str, "an event name", None)
    name = _codes(doc, "event_name", "event_names", len(names), count)
    recorded = [times(text, f"{doc.where}.times") for text in doc.items("times")]
    ingested = _codes(doc, "ingested_at", "times", len(recorded), count)
    timestamps, hours = _timestamps(doc, stamps)
    owners: list[BackfillRecord | None] | repeat[None] = repeat(None, count)
    if "backfill" in doc.data:
        table: list[BackfillRecord] = []
        for backfill_id in _column(doc, "backfills", str, "a backfill id", None):
            found = backfills.get(backfill_id)
            if found is None:
                raise ValueError(f"{doc.where}.backfills: unknown backfill {backfill_id!r}")
            table.append(found)
        codes = doc.items("backfill")
        if len(codes) != count or not set(map(type, codes)) <= {int, type(None)}:
            raise ValueError(
                f"{doc.where}.backfill: expected {count} codes into backfills or nulls"
            )
        listed = [c for c in codes if c is not None]
        if listed and (min(listed) < 0 or max(listed) >= len(table)):
            raise ValueError(f"{doc.where}.backfill: a code is outside backfills")
        owners = [None if c is None else table[c] for c in codes]
    events = list(
        map(
            StoredEvent,
            ids,
            [names[i] for i in name],
            properties,
            timestamps,
            hours,
            [customer_ids[i] for i in owner],
            [aliases[i] for i in owner],
            [recorded[i] for i in ingested],
            owners,
        )
    )
    if type(owners) is list:
        for event in events:
            backfill = event.backfill
            if backfill is not None:
                if event.id in backfill.events:
                    raise ValueError(f"{doc.where}: duplicate event id {event.id!r} in a backfill")
                backfill.events[event.id] = event
    for entry in doc.items("later") if "later" in doc.data else ():
        if type(entry) is not list or len(entry) != 2 or type(entry[0]) is not int:
            raise ValueError(f"{doc.where}.later: expected [position, versions], got {entry!r}")
        position, raw = entry
        if not 0 <= position < count:
            raise ValueError(f"{doc.where}.later: position {position} is outside the block")
        event = events[position]
        history = _later_versions(raw, times, f"{doc.where}.later[{position}]")
        event.history = [("ingested", event.event_name, event.properties, event.ingested_at)]
        event.history += history
        _, event.event_name, event.properties, _ = history[-1]
        event.deprecated = any(kind == "deprecated" for kind, *_ in history)
    return events


def decode(doc: Reader, key: str, backfills: Mapping[str, BackfillRecord]) -> EventStore:
    """The blocks at ``doc[key]`` into a store, hour indexes left to first use
    (``EventStore.adopt``). The file is orbsim's own output (and a journal continuing it checks
    its digest), so the checks are of shape and type, made per column, not ingest's rules."""
    for backfill in backfills.values():
        backfill.events = {}
    times = Times()
    store = EventStore()
    live = 0
    for number, raw in enumerate(doc.items(key)):
        events = _block_events(Reader(raw, f"{doc.where}.{key}[{number}]"), backfills, times)
        live += sum(1 for e in events if e.backfill is None) if "backfill" in raw else len(events)
        store.adopt(events)
    if len(store.live) != live:
        ids: set[str] = set()
        for event in store.order:
            if event.backfill is None:
                if event.id in ids:
                    raise ValueError(f"{doc.where}.{key}: duplicate event id {event.id!r}")
                ids.add(event.id)
    return store
