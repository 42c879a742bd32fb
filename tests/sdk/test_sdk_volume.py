"""``client.events.volume.list``: what ``count`` counts, through the SDK (strict validation).

Orb's volume page: "The number of events ingested with a timestamp between the timeframe".
Each accepted idempotency key is one event in its timestamp's hour, deprecated or amended alike;
a duplicate key is not ingested; an event sent by an alias no customer holds yet is ingested; a
backfill's events show once its effects do (reflected, and while reverting), not before or after.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from helpers.sdk import START, event

HOUR = START - timedelta(hours=2)


def counts(client: Any) -> list[int]:
    page = client.events.volume.list(
        timeframe_start=HOUR - timedelta(days=3), timeframe_end=START + timedelta(hours=1)
    )
    return [v.count for v in page.data if v.timeframe_start == HOUR]


def test_deprecated_amended_and_unclaimed_events_are_counted(client: Any, subscribed: Any) -> None:
    cid = subscribed.id
    unclaimed = {**event("c", cid, HOUR), "customer_id": None, "external_customer_id": "later"}
    client.events.ingest(events=[event("a", cid, HOUR), event("b", cid, HOUR), unclaimed])
    client.events.deprecate("a")
    client.events.update("b", event_name="renamed", timestamp=HOUR, properties={}, customer_id=cid)

    assert counts(client) == [3]


def test_a_duplicate_key_is_not_ingested_again(client: Any, subscribed: Any) -> None:
    cid = subscribed.id
    client.events.ingest(events=[event("a", cid, HOUR)])
    answer = client.events.ingest(
        events=[event("a", cid, HOUR, n=2), event("b", cid, HOUR)], extra_query={"debug": "true"}
    )

    assert answer.to_dict()["debug"] == {"duplicate": ["a"], "ingested": ["b"]}
    assert counts(client) == [2]


def test_backfill_events_count_while_the_backfill_is_in_effect(
    client: Any, subscribed: Any
) -> None:
    """With the default progression, reflection (and reversion) happens on the first read.
    (A ``deprecation_filter`` lets the backfill cover the last hours.)"""
    cid = subscribed.id
    client.events.ingest(events=[event("live", cid, HOUR)])
    backfill = client.events.backfills.create(
        timeframe_start=HOUR, timeframe_end=HOUR + timedelta(hours=1), deprecation_filter="n = 1"
    )
    client.events.ingest(events=[event("fixed", cid, HOUR, n=2)], backfill_id=backfill.id)

    assert counts(client) == [1]  # open
    assert client.events.backfills.close(backfill.id).status == "pending"
    assert counts(client) == [1]  # closed, not yet reflected
    assert client.events.backfills.fetch(backfill.id).status == "reflected"
    assert counts(client) == [2]  # the replaced original was ingested too
    assert client.events.backfills.revert(backfill.id).status == "pending_revert"
    assert counts(client) == [2]
    assert client.events.backfills.fetch(backfill.id).status == "reverted"
    assert counts(client) == [1]
