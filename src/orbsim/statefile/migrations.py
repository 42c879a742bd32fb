"""Upgrades of older state documents to the current version, one step per version.

Version 1 (orbsim 0.1, ``orbsim.engine.persistence``) kept each holder of engine state in its own
top-level key; version 2 keeps the fields of ``AccountState`` under ``"state"`` and the facade's
extensions under names of their own; version 3 writes each event as a row (a JSON array,
``orbsim.statefile.events.ROW``) instead of an object, and times as the API does
(``Z``; both forms are read, so times need no migration); version 4 writes the events as blocks
of columns (``orbsim.statefile.events``), which load several times faster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orbsim.statefile.events import BLOCK, ROW, block

Document = dict[str, Any]


def _v1_to_v2(doc: Document) -> Document:
    """``ids``/``ledger``/``quotas`` become fields; ``_wire_idempotency`` becomes
    ``idempotency``. Values keep their shapes, so errors still name the same keys."""

    def take(key: str) -> Any:
        if key not in doc:
            raise ValueError(f"state: missing key {key!r}")
        return doc[key]

    ids = dict(take("ids"))
    ledger = dict(take("ledger"))
    quotas = dict(take("quotas"))
    state: dict[str, Any] = {
        "settings": take("settings"),
        "seed": ids.pop("seed", None),
        "next_seq": ids.pop("next_seq", None),
        "ids": ids,
        "customers": take("customers"),
        "plans": take("plans"),
        "subscriptions": take("subscriptions"),
        "backfills": take("backfills"),
        "backfill_queue": ledger.get("active"),
        "backfills_in_effect": ledger.get("effective"),
        "reflections": ledger.get("reflections"),
        "events": take("events"),
    }
    for field, key, name in (
        ("amend_quota", "amendment", "amendment"),
        ("deprecate_quota", "deprecation", "deprecation"),
    ):
        quota = quotas.get(key)
        state[field] = {**quota, "name": name} if isinstance(quota, dict) else quota
    extensions = dict(take("extensions"))
    if "_wire_idempotency" in extensions:
        extensions["idempotency"] = extensions.pop("_wire_idempotency")
    return {
        "format": doc["format"],
        "version": 2,
        "clock": take("clock"),
        "state": state,
        "extensions": extensions,
    }


def _v2_event_row(event: Any) -> Any:
    """A version-2 event object as a version-3 row (anything unexpected is left for the row
    checks to name)."""
    if type(event) is not dict:
        return event
    versions = event.get("versions")
    if type(versions) is not list or not versions or type(versions[0]) is not dict:
        raise ValueError(f"the first version must be 'ingested', got {versions!r}")
    first = versions[0]
    if first.get("kind") != "ingested":
        raise ValueError(f"the first version must be 'ingested', got {first.get('kind')!r}")
    later = [
        [v.get("kind"), v.get("event_name"), v.get("properties"), v.get("recorded_at")]
        if type(v) is dict
        else v
        for v in versions[1:]
    ]
    return [
        event.get("id"),
        event.get("timestamp"),
        event.get("customer_id"),
        event.get("external_customer_id"),
        event.get("backfill_id"),
        first.get("event_name"),
        first.get("properties"),
        first.get("recorded_at"),
        later or None,
    ]


def _v2_to_v3(doc: Document) -> Document:
    """Events become rows; everything else keeps its shape."""
    state = doc.get("state")
    if not isinstance(state, dict) or type(state.get("events")) is not list:
        return {**doc, "version": 3}  # the checks of the current version name what is missing
    rows = []
    for number, event in enumerate(state["events"]):
        try:
            rows.append(_v2_event_row(event))
        except ValueError as exc:
            raise ValueError(f"state.events[{number}]: {exc}") from None
    return {**doc, "version": 3, "state": {**state, "events": rows}}


_ROW_TEXT = ("id", "timestamp", "customer_id", "external_customer_id", "backfill_id", "event_name")


def _v3_row(row: Any) -> list[Any]:
    """A version-3 row, checked as far as a block needs (the rest is the blocks' checks)."""
    if type(row) is not list or len(row) != len(ROW):
        raise ValueError(f"expected a row of {len(ROW)} values, got {row!r}")
    for name, value in zip(_ROW_TEXT, row, strict=False):
        if value is not None and type(value) is not str:
            raise ValueError(f"{name}: expected a string or null, got {value!r}")
    if row[0] is None or row[1] is None or row[5] is None:
        raise ValueError(f"expected a string id, timestamp and event_name in {row!r}")
    if type(row[7]) is not str:
        raise ValueError(f"ingested_at: expected an ISO 8601 time, got {row[7]!r}")
    return row


def _v3_to_v4(doc: Document) -> Document:
    """Event rows become blocks of columns; everything else keeps its shape."""
    state = doc.get("state")
    if not isinstance(state, dict) or type(state.get("events")) is not list:
        return {**doc, "version": 4}  # the checks of the current version name what is missing
    rows = state["events"]
    blocks = []
    for start in range(0, len(rows), BLOCK):
        checked = []
        for number in range(start, min(len(rows), start + BLOCK)):
            try:
                checked.append(_v3_row(rows[number]))
            except ValueError as exc:
                raise ValueError(f"state.events[{number}]: {exc}") from None
        blocks.append(block(checked))
    return {**doc, "version": 4, "state": {**state, "events": blocks}}


MIGRATIONS: dict[int, Callable[[Document], Document]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
}
"""``MIGRATIONS[n]`` turns a version ``n`` document into a version ``n + 1`` one."""


def upgrade(doc: Document, version: int, current: int) -> Document:
    while version < current:
        doc = MIGRATIONS[version](doc)
        version += 1
    return doc
