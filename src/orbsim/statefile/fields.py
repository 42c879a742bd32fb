"""How each field of ``AccountState`` is written to, and read from, a state file.

``CODECS`` is the one registry: field name -> ``FieldCodec``. A field without an entry is encoded
generically from its type annotation (``pydantic.TypeAdapter``: plain dataclasses, dicts, lists,
``datetime``, ``Decimal``, ``timedelta``, pydantic models), so a new resource of plain records
needs no code here. The entries below exist for what a type annotation cannot say: record order
and object references (events point at their backfill, lists of backfills are kept as ids), the
RNG state, and checks with precise messages on the hot path of a large file (events).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import TypeAdapter

from orbsim.engine.backfills import STATUSES, BackfillRecord
from orbsim.engine.billing import PlanRecord, SubscriptionRecord
from orbsim.engine.customers import CustomerRecord
from orbsim.engine.filters import compile_filter
from orbsim.engine.ids import IdGenerator
from orbsim.engine.periods import BillingSchedule
from orbsim.engine.quotas import RollingQuota
from orbsim.engine.state import AccountState
from orbsim.engine.store import EventStore, StoredEvent, Version, hour_of
from orbsim.engine.webhooks import WebhookState
from orbsim.models import Customer, Plan
from orbsim.settings import Settings
from orbsim.statefile._reader import (
    Reader,
    Times,
    field,
    model_data,
    optional_text,
    parse_time,
)

Decoded = Mapping[str, Any]
"""The fields decoded so far (those above the one being decoded in ``AccountState``)."""

_DURATION: TypeAdapter[timedelta] = TypeAdapter(timedelta)
_VERSION_KINDS = ("ingested", "amended", "deprecated")


@dataclass(frozen=True, slots=True)
class FieldCodec:
    """``encode(value, state)`` -> JSON data; ``decode(reader, key, decoded)`` -> the value."""

    encode: Callable[[Any, AccountState], Any]
    decode: Callable[[Reader, str, Decoded], Any]


def _iso(value: datetime) -> str:
    return value.isoformat()


def _opt_iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _duration(value: timedelta) -> Any:
    return _DURATION.dump_python(value, mode="json")


# -- settings, ids ---------------------------------------------------------------------------------


def _encode_settings(settings: Settings, state: AccountState) -> Any:
    return settings.json_document()


def _decode_settings(doc: Reader, key: str, decoded: Decoded) -> Settings:
    return Settings.model_validate(doc.mapping(key))


def _encode_ids(ids: IdGenerator, state: AccountState) -> Any:
    version, internal, gauss_next = cast("tuple[int, tuple[int, ...], float | None]", ids.state())
    return {"rng_state": [version, list(internal), gauss_next], "issued": sorted(ids.issued)}


def _decode_ids(doc: Reader, key: str, decoded: Decoded) -> IdGenerator:
    reader = doc.reader(key)
    try:
        version, internal, gauss_next = reader.items("rng_state")
        state = (version, tuple(internal), gauss_next)
        return IdGenerator.restored(state, reader.items("issued"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{reader.where}.rng_state: not a random.Random state ({exc})") from None


def _decode_seed(doc: Reader, key: str, decoded: Decoded) -> int | str | None:
    seed = doc.get(key)
    if seed is not None and not isinstance(seed, int | str):
        raise ValueError(f"{doc.where}.{key}: expected an integer, string or null")
    return seed


# -- customers, plans, subscriptions ---------------------------------------------------------------


def _by_id(records: Iterable[Any], key: Callable[[Any], str], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for record in records:
        ident = key(record)
        if ident in out:
            raise ValueError(f"{what}: duplicate id {ident!r}")
        out[ident] = record
    return out


def _encode_customers(records: dict[str, CustomerRecord], state: AccountState) -> Any:
    return [
        {"seq": r.seq, "deleted": r.deleted, "customer": r.model.model_dump(mode="json")}
        for r in records.values()
    ]


def _decode_customers(doc: Reader, key: str, decoded: Decoded) -> dict[str, CustomerRecord]:
    return _by_id(
        (
            CustomerRecord(
                Customer.model_validate(model_data(r.mapping("customer"), ("created_at",))),
                seq=r.integer("seq"),
                deleted=r.flag("deleted"),
            )
            for r in doc.readers(key)
        ),
        lambda r: r.id,
        key,
    )


def _encode_plans(records: dict[str, PlanRecord], state: AccountState) -> Any:
    return [{"seq": r.seq, "plan": r.model.model_dump(mode="json")} for r in records.values()]


def _decode_plans(doc: Reader, key: str, decoded: Decoded) -> dict[str, PlanRecord]:
    return _by_id(
        (
            PlanRecord(
                Plan.model_validate(
                    model_data(r.mapping("plan"), ("created_at",), ("product", "created_at"))
                ),
                r.integer("seq"),
            )
            for r in doc.readers(key)
        ),
        lambda r: r.model.id,
        key,
    )


def _encode_subscriptions(records: dict[str, SubscriptionRecord], state: AccountState) -> Any:
    return [_encode_subscription(r) for r in records.values()]


def _decode_subscriptions(doc: Reader, key: str, decoded: Decoded) -> dict[str, SubscriptionRecord]:
    subscriptions: dict[str, SubscriptionRecord] = _by_id(
        (_decode_subscription(r) for r in doc.readers(key)), lambda r: r.id, key
    )
    customers, plans = decoded["customers"], decoded["plans"]
    for sub in subscriptions.values():
        if sub.customer_id not in customers or sub.plan_id not in plans:
            raise ValueError(f"subscriptions: {sub.id} refers to an unknown customer or plan")
    return subscriptions


def _encode_subscription(record: SubscriptionRecord) -> dict[str, Any]:
    schedule = record.schedule
    return {
        "id": record.id,
        "customer_id": record.customer_id,
        "plan_id": record.plan_id,
        "name": record.name,
        "created_at": _iso(record.created_at),
        "seq": record.seq,
        "metadata": record.metadata,
        "extra": record.extra,
        "usage_filter": record.usage_filter,
        "usage_customer_ids": record.usage_customer_ids,
        "schedule": {
            "start": _iso(schedule.start),
            "end": _opt_iso(schedule.end),
            "timezone": schedule.timezone,
            "cadence": schedule.cadence,
            "cycle_day": schedule.cycle_day,
            "anchor_month": schedule.anchor_month,
        },
    }


def _decode_subscription(reader: Reader) -> SubscriptionRecord:
    plan = reader.reader("schedule")
    schedule = BillingSchedule(
        start=plan.time("start"),
        end=plan.opt_time("end"),
        timezone=plan.text("timezone"),
        cadence=cast(Any, plan.text("cadence")),
        cycle_day=plan.integer("cycle_day"),
        anchor_month=plan.integer("anchor_month"),
    )
    return SubscriptionRecord(
        id=reader.text("id"),
        customer_id=reader.text("customer_id"),
        plan_id=reader.text("plan_id"),
        name=reader.text("name"),
        created_at=reader.time("created_at"),
        schedule=schedule,
        metadata=reader.mapping("metadata"),
        seq=reader.integer("seq"),
        extra=reader.mapping("extra"),
        usage_filter=reader.data.get("usage_filter"),
        usage_customer_ids=reader.data.get("usage_customer_ids"),
    )


# -- backfills -------------------------------------------------------------------------------------


def _encode_backfill(record: BackfillRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "customer_id": record.customer_id,
        "timeframe_start": _iso(record.timeframe_start),
        "timeframe_end": _iso(record.timeframe_end),
        "replace_existing_events": record.replace_existing_events,
        "deprecation_filter": record.deprecation_filter,
        "created_at": _iso(record.created_at),
        "close_time": _opt_iso(record.close_time),
        "seq": record.seq,
        "status": record.status,
        "closed_at": _opt_iso(record.closed_at),
        "reflected_at": _opt_iso(record.reflected_at),
        "reflect_seq": record.reflect_seq,
        "revert_requested_at": _opt_iso(record.revert_requested_at),
        "reverted_at": _opt_iso(record.reverted_at),
        "events_ingested": record.events_ingested,
        "observed": record.observed,
    }


def _decode_backfill(reader: Reader) -> BackfillRecord:
    text = reader.opt_text("deprecation_filter")
    status = reader.text("status")
    if status not in STATUSES:
        raise ValueError(f"{reader.where}.status: unknown backfill status {status!r}")
    return BackfillRecord(
        id=reader.text("id"),
        customer_id=reader.opt_text("customer_id"),
        timeframe_start=reader.time("timeframe_start"),
        timeframe_end=reader.time("timeframe_end"),
        replace_existing_events=reader.flag("replace_existing_events"),
        deprecation_filter=text,
        matcher=None if text is None else compile_filter(text),
        created_at=reader.time("created_at"),
        close_time=reader.opt_time("close_time"),
        seq=reader.integer("seq"),
        status=status,
        closed_at=reader.opt_time("closed_at"),
        reflected_at=reader.opt_time("reflected_at"),
        reflect_seq=reader.integer("reflect_seq"),
        revert_requested_at=reader.opt_time("revert_requested_at"),
        reverted_at=reader.opt_time("reverted_at"),
        events_ingested=reader.integer("events_ingested"),
        observed=reader.integer("observed") if "observed" in reader.data else 0,
    )


def _encode_backfills(records: dict[str, BackfillRecord], state: AccountState) -> Any:
    return [_encode_backfill(r) for r in records.values()]


def _decode_backfills(doc: Reader, key: str, decoded: Decoded) -> dict[str, BackfillRecord]:
    return _by_id((_decode_backfill(r) for r in doc.readers(key)), lambda r: r.id, key)


def _encode_backfill_ids(records: list[BackfillRecord], state: AccountState) -> Any:
    return [b.id for b in records]


def _decode_backfill_ids(doc: Reader, key: str, decoded: Decoded) -> list[BackfillRecord]:
    backfills = decoded["backfills"]
    try:
        return [backfills[i] for i in doc.items(key)]
    except (KeyError, TypeError):
        raise ValueError(f"{doc.where}.{key}: unknown backfill id") from None


# -- events ----------------------------------------------------------------------------------------


def ingestion_order(store: EventStore, backfills: Iterable[BackfillRecord]) -> list[StoredEvent]:
    """Every stored event, in an order consistent with every list the store keeps.

    Each index (``live``, each hour of ``by_hour``, each id of ``backfill_events``, each
    backfill's ``events``) lists its events in ingestion order, so adding the events again in an
    order that respects all of them rebuilds every index identically. The order by
    ``ingested_at`` is that order whenever the clock never went back; otherwise the indexes are
    merged topologically (ties still by ``ingested_at``).
    """
    events = [event for hour in sorted(store.by_hour) for event in store.by_hour[hour]]
    index = {id(event): i for i, event in enumerate(events)}
    by_rank = sorted(range(len(events)), key=lambda i: (events[i].ingested_at, i))
    rank = [0] * len(events)
    for position, i in enumerate(by_rank):
        rank[i] = position
    chains: list[Iterable[StoredEvent]] = [store.live.values()]
    chains.extend(store.backfill_events.values())
    chains.extend(backfill.events.values() for backfill in backfills)
    chains.extend(store.by_hour.values())
    edges: list[tuple[int, int]] = []
    consistent = True
    for chain in chains:
        previous = -1
        for event in chain:
            found = index.get(id(event))
            if found is None:
                raise RuntimeError(f"event {event.id!r} is indexed but not in the hour index")
            i = found
            if previous >= 0:
                edges.append((previous, i))
                consistent = consistent and rank[previous] < rank[i]
            previous = i
    if consistent:
        return [events[i] for i in by_rank]
    following: list[list[int]] = [[] for _ in events]
    waiting = [0] * len(events)
    for before, after in edges:
        following[before].append(after)
        waiting[after] += 1
    ready = [rank[i] for i in range(len(events)) if waiting[i] == 0]
    heapq.heapify(ready)
    ordered: list[StoredEvent] = []
    while ready:
        i = by_rank[heapq.heappop(ready)]
        ordered.append(events[i])
        for after in following[i]:
            waiting[after] -= 1
            if waiting[after] == 0:
                heapq.heappush(ready, rank[after])
    if len(ordered) != len(events):  # pragma: no cover - the indexes come from one real order
        raise RuntimeError("the event store's indexes disagree on the ingestion order")
    return ordered


def _encode_event(event: StoredEvent, iso: Callable[[datetime], str]) -> dict[str, Any]:
    return {
        "id": event.id,
        "timestamp": iso(event.timestamp),
        "customer_id": event.customer_id,
        "external_customer_id": event.external_customer_id,
        "backfill_id": None if event.backfill is None else event.backfill.id,
        "versions": [
            {
                "kind": kind,
                "event_name": name,
                "properties": properties,
                "recorded_at": iso(recorded_at),
            }
            for kind, name, properties, recorded_at in event.versions()
        ],
    }


def _iso_cache() -> Callable[[datetime], str]:
    """``isoformat`` remembering its answers (events of one request share their times)."""
    cache: dict[tuple[datetime, int], str] = {}

    def iso(value: datetime) -> str:
        key = (value, id(value.tzinfo))  # equal instants in other zones print differently
        text = cache.get(key)
        if text is None:
            text = cache[key] = value.isoformat()
        return text

    return iso


def _decode_event(raw: Any, backfills: Mapping[str, BackfillRecord], times: Times) -> StoredEvent:
    """One entry of ``events`` (hand-written checks: this runs once per stored event)."""
    if type(raw) is not dict:
        raise ValueError(f"expected an object, got {type(raw).__name__}")
    versions: list[Version] = []
    for item in field(raw, "versions", list):
        if type(item) is not dict:
            raise ValueError(f"versions: expected objects, got {item!r}")
        kind = item.get("kind")
        if kind not in _VERSION_KINDS or (kind == "ingested") == bool(versions):
            raise ValueError(
                f"versions: the first version is 'ingested', later ones 'amended' or "
                f"'deprecated'; got {kind!r} as version {len(versions) + 1}"
            )
        versions.append(
            (
                kind,
                field(item, "event_name", str),
                field(item, "properties", dict),
                times(item.get("recorded_at"), "versions.recorded_at"),
            )
        )
    if not versions:
        raise ValueError("versions: the first version must be 'ingested'")
    backfill_id = optional_text(raw, "backfill_id")
    backfill = None
    if backfill_id is not None:
        backfill = backfills.get(backfill_id)
        if backfill is None:
            raise ValueError(f"backfill_id: unknown backfill {backfill_id!r}")
    customer_id = optional_text(raw, "customer_id")
    alias = optional_text(raw, "external_customer_id")
    if (customer_id is None) == (alias is None):
        raise ValueError("exactly one of customer_id and external_customer_id must be set")
    timestamp = times(raw.get("timestamp"), "timestamp")
    _, name, properties, _ = versions[-1]
    event = StoredEvent(
        field(raw, "id", str),
        name,
        properties,
        timestamp,
        hour_of(timestamp),
        customer_id,
        alias,
        versions[0][3],
        backfill,
    )
    if len(versions) > 1:
        event.history = versions
        event.deprecated = any(kind == "deprecated" for kind, *_ in versions)
    return event


def _encode_events(store: EventStore, state: AccountState) -> Any:
    iso = _iso_cache()
    return [_encode_event(e, iso) for e in ingestion_order(store, state.backfills.values())]


def _decode_events(doc: Reader, key: str, decoded: Decoded) -> EventStore:
    backfills: dict[str, BackfillRecord] = decoded["backfills"]
    for backfill in backfills.values():
        backfill.events = {}
    store = EventStore()
    times = Times()
    for number, raw in enumerate(doc.items(key)):
        try:
            event = _decode_event(raw, backfills, times)
            owner = event.backfill
            if event.id in (store.live if owner is None else owner.events):
                raise ValueError(f"duplicate event id {event.id!r}")
        except ValueError as exc:
            raise ValueError(f"{doc.where}.{key}[{number}]: {exc}") from None
        if owner is not None:
            owner.events[event.id] = event
        store.add(event)
    return store


# -- quotas ----------------------------------------------------------------------------------------


def _encode_quota(quota: RollingQuota, state: AccountState) -> Any:
    return {
        "name": quota.name,
        "limit": quota.limit,
        "window": _duration(quota.window),
        "uses": {customer: [_iso(t) for t in uses] for customer, uses in quota.uses.items()},
    }


def _decode_quota(doc: Reader, key: str, decoded: Decoded) -> RollingQuota:
    reader = doc.reader(key)
    window = _DURATION.validate_python(reader.get("window"))
    uses = reader.reader("uses")
    return RollingQuota(
        reader.text("name"),
        reader.integer("limit"),
        window,
        {
            customer: deque(parse_time(t, f"{uses.where}.{customer}") for t in uses.items(customer))
            for customer in uses.data
        },
    )


# -- webhooks --------------------------------------------------------------------------------------


def _encode_webhooks(webhooks: WebhookState, state: AccountState) -> Any:
    return webhooks.dump_state()


def _decode_webhooks(doc: Reader, key: str, decoded: Decoded) -> WebhookState:
    webhooks = WebhookState(salt=str(decoded.get("seed")))
    if key not in doc.data:  # written before webhooks existed: no endpoints
        return webhooks
    data = doc.get(key)
    try:
        webhooks.load_state(data)
    except ValueError as exc:
        raise ValueError(f"{doc.where}.{key}: {exc}") from None
    return webhooks


CODECS: dict[str, FieldCodec] = {
    "settings": FieldCodec(_encode_settings, _decode_settings),
    "seed": FieldCodec(lambda seed, state: seed, _decode_seed),
    "ids": FieldCodec(_encode_ids, _decode_ids),
    "customers": FieldCodec(_encode_customers, _decode_customers),
    "plans": FieldCodec(_encode_plans, _decode_plans),
    "subscriptions": FieldCodec(_encode_subscriptions, _decode_subscriptions),
    "backfills": FieldCodec(_encode_backfills, _decode_backfills),
    "backfill_queue": FieldCodec(_encode_backfill_ids, _decode_backfill_ids),
    "backfills_in_effect": FieldCodec(_encode_backfill_ids, _decode_backfill_ids),
    "events": FieldCodec(_encode_events, _decode_events),
    "amend_quota": FieldCodec(_encode_quota, _decode_quota),
    "deprecate_quota": FieldCodec(_encode_quota, _decode_quota),
    "webhooks": FieldCodec(_encode_webhooks, _decode_webhooks),
}
"""The fields that need more than their type annotation; every other field of ``AccountState``
(except ``derived`` ones, which are rebuilt) is encoded by ``generic_codec``."""
