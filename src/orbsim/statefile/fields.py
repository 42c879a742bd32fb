"""How each field of ``AccountState`` is written to, and read from, a state file.

``CODECS`` is the one registry: field name -> ``FieldCodec``. A field without an entry is encoded
generically from its type annotation (``pydantic.TypeAdapter``: plain dataclasses, dicts, lists,
``datetime``, ``Decimal``, ``timedelta``, pydantic models), so a new resource of plain records
needs no code here. The entries below exist for what a type annotation cannot say: record order
and object references (events point at their backfill, lists of backfills are kept as ids), the
RNG state, and checks with precise messages on the hot path of a large file (events).
"""

from __future__ import annotations

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
from orbsim.engine.store import EventStore
from orbsim.engine.webhooks import WebhookState
from orbsim.models import Customer, Plan
from orbsim.settings import Settings
from orbsim.statefile import events
from orbsim.statefile._reader import Reader, model_data, parse_time
from orbsim.statefile.times import state_time

Decoded = Mapping[str, Any]
"""The fields decoded so far (those above the one being decoded in ``AccountState``)."""

_DURATION: TypeAdapter[timedelta] = TypeAdapter(timedelta)


@dataclass(frozen=True, slots=True)
class FieldCodec:
    """``encode(value, state)`` -> JSON data; ``decode(reader, key, decoded)`` -> the value."""

    encode: Callable[[Any, AccountState], Any]
    decode: Callable[[Reader, str, Decoded], Any]


_iso = state_time


def _opt_iso(value: datetime | None) -> str | None:
    return None if value is None else state_time(value)


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


def _encode_events(store: EventStore, state: AccountState) -> Any:
    return events.encode(store)


def _decode_events(doc: Reader, key: str, decoded: Decoded) -> EventStore:
    return events.decode(doc, key, decoded["backfills"])


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
