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


def _shape(store: EventStore) -> tuple[object, ...]:
    def ids(index: dict[int, list[StoredEvent]]) -> dict[int, list[str]]:
        return {hour: [e.id for e in bucket] for hour, bucket in index.items()}

    return (
        ids(store.by_hour),
        {key: ids(index) for key, index in store.by_customer_id.items()},
        {key: ids(index) for key, index in store.by_alias.items()},
        list(store.live),
        store.count,
    )


def _events(count: int) -> list[StoredEvent]:
    out = []
    for n in range(count):
        at = AT + timedelta(minutes=37 * n)
        customer, alias = ("cus", None) if n % 3 else (None, f"alias-{n % 2}")
        out.append(
            StoredEvent(f"e{n}", "call", {"n": n}, at, hour_of(at), customer, alias, AT, None)
        )
    return out


def test_adopted_events_are_indexed_by_hour_on_first_use_as_extend_would() -> None:
    eager, lazy = EventStore(), EventStore()
    events = _events(40)
    eager.extend(events[:25])
    eager.extend(events[25:])
    lazy.adopt(events[:25])
    assert list(lazy.live) == [e.id for e in events[:25]]  # ids at once: dedup and amend work
    lazy.extend(events[25:])  # while the hour indexes wait, a batch joins them
    assert not lazy.settle(limit=0)
    assert _shape(lazy) == _shape(eager)  # the first read built them, in ingestion order
    assert lazy.settle(limit=0)


def test_settle_builds_the_hour_indexes_in_slices() -> None:
    eager, lazy = EventStore(), EventStore()
    events = _events(10)
    eager.extend(events)
    lazy.adopt(events)
    done = [lazy.settle(limit=4) for _ in range(3)]
    assert done == [False, False, True]
    assert _shape(lazy) == _shape(eager)


def test_the_engine_indexes_a_loaded_state_in_slices() -> None:
    from orbsim import ManualClock, OrbSim

    sim = OrbSim(clock=ManualClock(AT + timedelta(hours=1)))
    customer = sim.customers.create(name="A", email="a@a.test")
    sim.events.ingest(
        events=[
            {
                "idempotency_key": f"k{n}",
                "event_name": "call",
                "customer_id": customer.id,
                "timestamp": (AT - timedelta(minutes=n)).isoformat(),
                "properties": {},
            }
            for n in range(5)
        ]
    )
    adopted = EventStore()
    adopted.adopt(list(sim.engine.state.events.order))
    sim.engine.state.events = adopted
    assert [sim.engine.index_events(2) for _ in range(3)] == [False, False, True]
    assert sum(len(b) for b in adopted.by_hour.values()) == 5
