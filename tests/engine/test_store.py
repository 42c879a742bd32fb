"""The event store's frozen views: what a state file is written from while the engine goes on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orbsim.engine.store import EventStore, StoredEvent, hour_of

AT = datetime(2024, 3, 1, 12, tzinfo=UTC)


def event(key: str, n: int) -> StoredEvent:
    return StoredEvent(key, "call", {"n": n}, AT, hour_of(AT), "cus", None, AT, None)


def test_the_store_keeps_its_ingestion_order() -> None:
    store = EventStore()
    store.add(event("b", 1))
    store.extend([event("a", 2), event("c", 3)])
    assert [e.id for e in store.order] == ["b", "a", "c"]
    assert [e.id for e in store.by_hour[hour_of(AT)]] == ["b", "a", "c"]
    assert store.count == 3 and list(store.live) == ["b", "a", "c"]


def test_a_frozen_view_keeps_the_versions_of_its_moment() -> None:
    store = EventStore()
    store.extend([event("a", 1), event("b", 2)])
    frozen = store.freeze()
    later = AT + timedelta(minutes=5)
    store.amend(store.live["a"], "renamed", {"n": 9}, later)
    store.deprecate(store.live["b"], later)
    store.add(event("c", 3))  # after the view: not in it
    seen = {e.id: versions for e, versions in frozen}
    assert seen == {
        "a": [("ingested", "call", {"n": 1}, AT)],
        "b": [("ingested", "call", {"n": 2}, AT)],
    }
    assert [v[0] for v in store.live["a"].versions()] == ["ingested", "amended"]
    assert store.live["b"].deprecated

    frozen.release()  # released: later changes keep nothing for it
    store.amend(store.live["a"], "again", {}, later)
    assert [len(versions) for _, versions in store.freeze()] == [3, 2, 1]
