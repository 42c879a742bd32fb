"""The events' blocks of columns (``orbsim.statefile.events``): what the writer makes, and what
a version-3 file's rows become."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from orbsim import ManualClock, OrbSim, statefile
from orbsim.statefile.events import block, event_block, utc_texts
from orbsim.statefile.times import state_time

DATA = Path(__file__).parent / "data"
MARCH = datetime(2024, 3, 1, 2, 30, tzinfo=UTC)

zones = st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(minutes=-330))])
instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones
) | st.builds(
    lambda ms, base: base + timedelta(milliseconds=ms),
    st.integers(0, 10**6),
    st.just(MARCH),
)


@given(st.lists(instants, max_size=30))
def test_times_are_written_as_state_time_writes_them(values: list[datetime]) -> None:
    assert utc_texts(values) == [state_time(v) for v in values]


def test_the_writer_makes_of_events_what_the_migration_makes_of_their_version_3_rows() -> None:
    """The version-3 fixture's rows were written by the row writer of 4d0db74; the block writer
    on the events they load into makes the same blocks as the migration makes of the rows."""
    rows = json.loads((DATA / "state-v3.json").read_text())["state"]["events"]
    loaded = OrbSim.load(DATA / "state-v3.json")
    store = loaded.engine.state.events
    assert store.count == len(rows) > 100
    for size in (7, 64, len(rows)):
        frozen = store.freeze()
        written = [event_block(part) for part in frozen.slices(size)]
        frozen.release()
        assert written == [block(rows[start : start + size]) for start in range(0, len(rows), size)]
    kinds = block(rows)
    assert "backfill" in kinds and "later" in kinds  # the fixture has both to compare


def test_events_in_many_blocks_load_back_in_order_with_their_versions_and_backfills() -> None:
    sim = OrbSim(clock=ManualClock(MARCH))
    customer = sim.customers.create(name="A", email="a@a.test", external_customer_id="a")
    sim.subscriptions.create(customer_id=customer.id, plan_id=sim.plans.create(name="P").id)
    for batch in range(4):
        sim.events.ingest(
            events=[
                {
                    "idempotency_key": f"k{batch}-{n}",
                    "event_name": "call",
                    "external_customer_id": "a" if n % 2 else "ghost",
                    "timestamp": (MARCH - timedelta(minutes=n + 7 * batch)).isoformat(),
                    "properties": {"n": n},
                }
                for n in range(5)
            ]
        )
    sim.events.update(
        "k2-3",
        event_name="renamed",
        properties={"n": 9},
        timestamp=MARCH - timedelta(minutes=17),
        external_customer_id="a",
    )
    sim.events.deprecate("k3-1")
    backfill = sim.events.backfills.create(
        timeframe_start=MARCH - timedelta(days=2),
        timeframe_end=MARCH - timedelta(days=1),
        customer_id=customer.id,
    )
    sim.events.ingest(
        backfill_id=backfill.id,
        events=[
            {
                "idempotency_key": "k0-1",
                "event_name": "call",
                "customer_id": customer.id,
                "timestamp": (MARCH - timedelta(hours=40)).isoformat(),
                "properties": {"n": 1},
            }
        ],
    )
    with sim.engine.transaction() as now:
        snapshot = statefile.snapshot(sim.engine.state, taken_at=now, manual_clock=True)
    chunks = list(snapshot.chunks(size=3))  # blocks of 3 events: 21 events in 7 blocks
    document = json.loads(b"".join(chunks))
    assert [len(b["id"]) for b in document["state"]["events"]] == [3] * 7
    loaded = statefile.decode(document).state.events
    original = sim.engine.state.events
    assert [e.id for e in loaded.order] == [e.id for e in original.order]
    assert [e.versions() for e in loaded.order] == [e.versions() for e in original.order]
    assert [e.deprecated for e in loaded.order] == [e.deprecated for e in original.order]
    assert [e.backfill and e.backfill.id for e in loaded.order] == [
        e.backfill and e.backfill.id for e in original.order
    ]
    assert {h: [e.id for e in b] for h, b in loaded.by_hour.items()} == {
        h: [e.id for e in b] for h, b in original.by_hour.items()
    }


def test_a_timestamp_in_another_zone_keeps_its_zone_and_its_utc_hour(tmp_path: Path) -> None:
    sim = OrbSim(clock=ManualClock(MARCH))
    customer = sim.customers.create(name="A", email="a@a.test")
    sim.events.ingest(
        events=[
            {
                "idempotency_key": "k",
                "event_name": "call",
                "customer_id": customer.id,
                "timestamp": "2024-03-01T01:15:00Z",
                "properties": {},
            }
        ]
    )
    sim.dump(tmp_path / "state.json")
    document = json.loads((tmp_path / "state.json").read_text())
    document["state"]["events"][0]["timestamp"] = ["2024-03-01T02:15:00+01:00"]
    (tmp_path / "zoned.json").write_text(json.dumps(document))
    [event] = OrbSim.load(tmp_path / "zoned.json").engine.state.events.order
    assert event.timestamp.utcoffset() == timedelta(hours=1)
    assert event.timestamp == datetime(2024, 3, 1, 1, 15, tzinfo=UTC)
    assert event.hour == sim.engine.state.events.order[0].hour
