"""Upgrades of older state documents to the current version, one step per version.

Version 1 (orbsim 0.1, ``orbsim.engine.persistence``) kept each holder of engine state in its own
top-level key; version 2 keeps the fields of ``AccountState`` under ``"state"`` and the facade's
extensions under names of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


MIGRATIONS: dict[int, Callable[[Document], Document]] = {1: _v1_to_v2}
"""``MIGRATIONS[n]`` turns a version ``n`` document into a version ``n + 1`` one."""


def upgrade(doc: Document, version: int, current: int) -> Document:
    while version < current:
        doc = MIGRATIONS[version](doc)
        version += 1
    return doc
