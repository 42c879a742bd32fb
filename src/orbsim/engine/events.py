"""Usage events: ingest, amend (``update``), deprecate, search, and hourly volume.

Ingestion is atomic per request and at-most-once per idempotency key; amend and deprecate keep
every version (audit-safe) and are bounded by the billing-period rules and per-customer quotas.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from orbsim.engine import validation as v
from orbsim.engine.backfills import BackfillRecord, Backfills
from orbsim.engine.ledger import EFFECTIVE
from orbsim.engine.pagination import VOLUME_MAX_LIMIT, check_limit, decode_cursor, encode_cursor
from orbsim.engine.reporting import reports_errors
from orbsim.engine.store import StoredEvent
from orbsim.engine.timeparse import iso, optional_timestamp, parse_timestamp
from orbsim.errors import (
    ConstraintViolation,
    RequestTooLarge,
    RequestValidationError,
    ResourceNotFound,
)
from orbsim.models import (
    AmendResult,
    DeprecateResult,
    Event,
    EventSearchResponse,
    EventVersion,
    EventVolume,
    EventVolumes,
    IngestDebug,
    IngestResponse,
    PaginationMetadata,
)
from orbsim.times import span

if TYPE_CHECKING:
    from orbsim.engine.core import Engine
    from orbsim.engine.customers import CustomerRecord

_MISSING: Any = object()
# (id, event_name, properties, timestamp, hour, customer_id, external_customer_id)
Accepted = tuple[str, str, dict[str, Any], datetime, int, str | None, str | None]
_HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STR_ONLY: frozenset[type] = frozenset((str,))


def _refuse_unknown(what: str, unknown: Mapping[str, Any], hint: str = "") -> None:
    if unknown:
        names = ", ".join(sorted(unknown))
        messages = [
            f"unknown field {name!r}{hint if name == 'idempotency_key' else ''}"
            for name in sorted(unknown)
        ]
        raise RequestValidationError(
            f"{what}: unknown field(s) {names}{hint if 'idempotency_key' in unknown else ''}",
            validation_errors=messages,
        )


def ingested(bucket: list[StoredEvent]) -> int:
    """How many events of one hour's bucket the volume counts: live ones, and those of
    backfills in effect (an open, closing or reverted backfill's events do not show)."""
    count = 0
    for event in bucket:
        backfill = event.backfill
        if backfill is None or backfill.status in EFFECTIVE:
            count += 1
    return count


@reports_errors
class Volume:
    """``sim.events.volume``: events ingested per UTC hour of their timestamp.

    "Ingested" follows Orb's volume page ("the number of events ingested with a timestamp
    between the timeframe"): each accepted idempotency key once, amended or deprecated alike
    (neither is a new ingestion, and Orb never deletes ingested data), whoever holds its alias;
    events of a backfill once its effects show (``reflected``, ``pending_revert``). Keys refused
    as duplicates were never ingested.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(
        self,
        *,
        timeframe_start: datetime | str | None = None,
        timeframe_end: datetime | str | None = None,
        limit: int = 20,
        cursor: str | None = None,
        **unknown: Any,
    ) -> EventVolumes:
        """Non-empty hours in ``[timeframe_start, timeframe_end)``, oldest first (hours widened)."""
        _refuse_unknown("event volume", unknown)
        if timeframe_start is None:
            raise RequestValidationError("timeframe_start: field required")
        try:
            start = parse_timestamp(timeframe_start, "timeframe_start")
            end_given = optional_timestamp(timeframe_end, "timeframe_end")
        except ValueError as exc:
            raise RequestValidationError(str(exc)) from None
        size = check_limit(limit, VOLUME_MAX_LIMIT)
        engine = self._engine
        with engine.transaction() as now:
            end = end_given or now
            if end <= start:
                raise RequestValidationError(
                    f"timeframe_end ({iso(end)}) must be after timeframe_start ({iso(start)})"
                )
            first = int((start - _EPOCH) // _HOUR)
            last = -int(-((end - _EPOCH) / _HOUR) // 1)  # ceil: the hour containing end is included
            if cursor:
                first = max(first, decode_cursor(cursor)[0] + 1)
            store = engine.state.events
            hours = sorted(h for h in store.by_hour if first <= h < last)
            buckets: list[tuple[int, int]] = []
            has_more = False
            for hour in hours:
                count = ingested(store.by_hour[hour])
                if not count:
                    continue
                if len(buckets) == size:
                    has_more = True
                    break
                buckets.append((hour, count))
            next_cursor = encode_cursor((buckets[-1][0], 0)) if has_more else None
            data = [
                EventVolume(
                    timeframe_start=_EPOCH + hour * _HOUR,
                    timeframe_end=_EPOCH + (hour + 1) * _HOUR,
                    count=count,
                )
                for hour, count in buckets
            ]
            return EventVolumes(
                data=data,
                pagination_metadata=PaginationMetadata(
                    has_more=next_cursor is not None, next_cursor=next_cursor
                ),
            )


@reports_errors
class Events:
    """``sim.events``: ingest, update (amend), deprecate, search; ``volume`` and ``backfills``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.volume = Volume(engine)
        self.backfills = Backfills(engine)

    # -- ingest -----------------------------------------------------------------------------

    def ingest(
        self,
        events: Any = _MISSING,
        backfill_id: str | None = None,
        debug: bool = False,
        **unknown: Any,
    ) -> IngestResponse:
        """Ingest a batch atomically: every event is valid and stored, or nothing is.

        ``debug=True`` adds Orb's debug object: which keys this request ingested and which it
        skipped as already ingested (in a backfill: already ingested into that backfill)."""
        _refuse_unknown("ingest", unknown)
        if type(debug) is not bool:
            raise RequestValidationError(f"debug: expected a boolean, got {v.short(debug)}")
        if events is _MISSING:
            raise RequestValidationError("events: field required")
        if type(events) is not list:
            raise RequestValidationError(
                f"events: expected a list of events, got {v.short(events)}"
            )
        engine = self._engine
        settings = engine.settings
        limit = settings.max_events_per_request
        if limit is not None and len(events) > limit:
            raise RequestTooLarge(
                f"ingest request has {len(events)} events; at most {limit} are accepted per request"
            )
        if backfill_id is not None and (type(backfill_id) is not str or not backfill_id):
            raise RequestValidationError(
                f"backfill_id: expected a non-empty string, got {v.short(backfill_id)}"
            )
        with engine.transaction() as now:
            backfill = None
            if backfill_id is not None:
                backfill = self.backfills.require(backfill_id)
                self.backfills.check_accepting(backfill, now)
            accepted = self._validate_batch(events, now, backfill)
            store = engine.state.events
            stored = [StoredEvent(*item, now, backfill) for item in accepted]
            if backfill is not None:
                for event in stored:
                    backfill.events[event.id] = event
                backfill.events_ingested += len(accepted)
            store.extend(stored)
            if engine.state.webhooks.endpoints:
                self._announce_unmatched(accepted, now)
            if not debug:
                return IngestResponse()
            ingested = [item[0] for item in accepted]
            fresh = set(ingested)
            keys = dict.fromkeys(event["idempotency_key"] for event in events)
            return IngestResponse(
                debug=IngestDebug(
                    duplicate=[key for key in keys if key not in fresh], ingested=ingested
                )
            )

    def _announce_unmatched(self, accepted: list[Accepted], now: datetime) -> None:
        """``ingestion.unmatched_customer_ids``: the aliases of this batch no customer holds."""
        holder_of = self._engine.customers.holder_of
        unmatched: dict[str, None] = {}
        for item in accepted:
            alias = item[6]
            if alias is not None and alias not in unmatched and holder_of(alias) is None:
                unmatched[alias] = None
        if unmatched:
            self._engine.emit_webhook(
                "ingestion.unmatched_customer_ids",
                now,
                properties={"external_customer_ids": list(unmatched)},
            )

    def _validate_batch(
        self, events: list[Any], now: datetime, backfill: BackfillRecord | None
    ) -> list[Accepted]:
        """Check every event; return what to store, or raise one error naming every failure.

        The loop has a fast path for the common, valid event; anything unusual goes through
        ``_check_event``, the complete validator, which also writes the error messages.
        """
        state = self._engine.state
        settings = state.settings
        latest = now + settings.future_tolerance
        earliest = now - settings.grace_period if backfill is None else backfill.timeframe_start
        end = backfill.timeframe_end if backfill is not None else None
        fast_scope = backfill is None or backfill.customer_id is None
        records = state.customers
        existing = state.events.live if backfill is None else backfill.events
        allowed = v.EVENT_KEYS
        scalars = v.SCALARS
        str_keys = _STR_ONLY.issuperset
        fromiso = v.fromisoformat
        utc = UTC
        accepted: list[Accepted] = []
        seen: dict[str, dict[str, Any]] = {}
        failed: dict[str, list[str]] = {}
        for index, event in enumerate(events):
            if type(event) is not dict:
                failed.setdefault(f"events[{index}]", []).append(
                    f"each event must be an object, got {v.short(event)}"
                )
                continue
            key = event.get("idempotency_key")
            if type(key) is not str or not key:
                failed.setdefault(f"events[{index}]", []).append(
                    f"idempotency_key: expected a non-empty string, got {v.short(key)}"
                )
                continue
            if key in seen:
                if not _same_body(seen[key], event):
                    failed.setdefault(key, []).append(
                        f"idempotency_key {key!r} appears more than once in this request with "
                        "different bodies; the whole batch is rejected"
                    )
                continue
            seen[key] = event
            stored = existing.get(key)
            if stored is not None:
                if stored.deprecated:
                    failed.setdefault(key, []).append(
                        f"event {key!r} was deprecated and cannot be ingested again"
                    )
                continue  # at most once: an ingested key is skipped, whatever its body
            # Fast path: the shape almost every valid event has.
            name = event.get("event_name")
            raw = event.get("timestamp")
            props = event.get("properties")
            customer_id = event.get("customer_id")
            alias = event.get("external_customer_id")
            if (
                fast_scope
                and type(name) is str
                and name
                and type(raw) is str
                and len(raw) > 10
                and type(props) is dict
                and event.keys() <= allowed
            ):
                try:
                    timestamp = fromiso(raw)
                except ValueError:
                    timestamp = None
                if (
                    timestamp is not None
                    and timestamp.tzinfo is utc
                    and earliest <= timestamp <= latest
                    and (end is None or timestamp < end)
                    and scalars.issuperset(map(type, props.values()))
                    and str_keys(map(type, props))
                    and float not in map(type, props.values())
                ):
                    if alias is None:
                        record = records.get(customer_id) if type(customer_id) is str else None
                        known = record is not None and not record.deleted
                    else:
                        known = customer_id is None and type(alias) is str and alias != ""
                    if known:
                        hour = int(timestamp.timestamp() // 3600)
                        accepted.append(
                            (key, name, dict(props), timestamp, hour, customer_id, alias)
                        )
                        continue
            result = self._check_event(key, event, now, backfill)
            if isinstance(result, list):
                failed[key] = result
            else:
                accepted.append(result)
        if failed:
            raise _batch_error(failed, len(events))
        return accepted

    def _check_event(
        self, key: str, event: dict[str, Any], now: datetime, backfill: BackfillRecord | None
    ) -> Accepted | list[str]:
        """The complete validation of one event: what to store, or every problem found."""
        settings = self._engine.settings
        customers = self._engine.customers
        errors: list[str] = []
        if not event.keys() <= v.EVENT_KEYS:
            errors.append(
                "unknown field(s): "
                + ", ".join(repr(k) for k in v.unknown_keys(event, v.EVENT_KEYS))
            )
        name = v.check_event_name(event.get("event_name"), errors)
        properties = None
        if "properties" not in event:
            errors.append("properties: field required (may be {})")
        else:
            properties = v.check_properties(event["properties"], errors)
        timestamp = None
        if "timestamp" not in event:
            errors.append("timestamp: field required")
        else:
            timestamp = v.check_timestamp(event["timestamp"], errors)
        customer_id = event.get("customer_id")
        alias = event.get("external_customer_id")
        if (
            v.check_customer_ids(customer_id, alias, errors)
            and customer_id is not None
            and customers.get_live(customer_id) is None
        ):
            errors.append(
                f"customer_id {customer_id!r} does not match any customer; send "
                "external_customer_id to report usage before the customer exists"
            )
        if timestamp is not None:
            latest = now + settings.future_tolerance
            earliest = now - settings.grace_period
            if timestamp > latest:
                errors.append(
                    f"timestamp {iso(timestamp)} is more than "
                    f"{span(settings.future_tolerance)} in the future (now {iso(now)})"
                )
            elif backfill is None:
                if timestamp < earliest:
                    errors.append(
                        f"timestamp {iso(timestamp)} is older than the grace period of "
                        f"{span(settings.grace_period)} (earliest accepted {iso(earliest)}); "
                        "use a backfill for older events"
                    )
            elif not backfill.timeframe_start <= timestamp < backfill.timeframe_end:
                errors.append(
                    f"timestamp {iso(timestamp)} is outside backfill {backfill.id}'s timeframe "
                    f"[{iso(backfill.timeframe_start)}, {iso(backfill.timeframe_end)})"
                )
        if backfill is not None and backfill.customer_id is not None and not errors:
            holder = customers.holder_of(alias) if alias is not None else None
            in_scope = customer_id == backfill.customer_id or (
                holder is not None and holder.id == backfill.customer_id
            )
            if not in_scope:
                errors.append(
                    f"event customer {customer_id or alias!r} is outside backfill "
                    f"{backfill.id}'s scope (customer {backfill.customer_id})"
                )
        if errors:
            return errors
        assert timestamp is not None and properties is not None and name is not None
        return (
            key,
            name,
            properties,
            timestamp,
            int(timestamp.timestamp() // 3600),
            customer_id,
            alias,
        )

    # -- amend and deprecate ------------------------------------------------------------------

    def update(
        self,
        event_id: str,
        /,
        *,
        event_name: Any = _MISSING,
        timestamp: Any = _MISSING,
        properties: Any = _MISSING,
        customer_id: Any = None,
        external_customer_id: Any = None,
        **unknown: Any,
    ) -> AmendResult:
        """Amend an event: a new version of ``event_name``/``properties``; the original is kept."""
        _refuse_unknown(
            "amend event",
            unknown,
            hint=" (amend is idempotent by design; no idempotency_key is accepted in the body)",
        )
        errors: list[str] = []
        name = None
        if event_name is _MISSING:
            errors.append("event_name: field required")
        else:
            name = v.check_event_name(event_name, errors)
        props = None
        if properties is _MISSING:
            errors.append("properties: field required (may be {})")
        else:
            props = v.check_properties(properties, errors)
        when = None
        if timestamp is _MISSING:
            errors.append("timestamp: field required")
        else:
            when = v.check_timestamp(timestamp, errors)
        v.check_customer_ids(customer_id, external_customer_id, errors)
        if errors:
            raise RequestValidationError(
                f"invalid amendment of event {event_id!r}: " + "; ".join(errors),
                validation_errors=errors,
            )
        assert name is not None and props is not None and when is not None
        engine = self._engine
        with engine.transaction() as now:
            event = self._require(event_id)
            if when != event.timestamp:
                raise RequestValidationError(
                    f"timestamp {iso(when)} does not match the stored timestamp "
                    f"{iso(event.timestamp)} of event {event_id!r}; the timestamp cannot be amended"
                )
            self._check_same_customer(event, customer_id, external_customer_id)
            customer = self._customer_of(event, "amend")
            if event.deprecated:
                raise ConstraintViolation(
                    f"event {event_id!r} was deprecated; a deprecated event cannot be amended"
                )
            engine.subscriptions.check_editable(customer, event.timestamp, now, "amend")
            quota = engine.state.amend_quota
            quota.check(customer.id, now)
            engine.state.events.amend(event, name, props, now)
            quota.record(customer.id, now)
            return AmendResult(amended=event_id)

    def deprecate(self, event_id: str, /, **unknown: Any) -> DeprecateResult:
        """Stop counting an event (kept for audit); deprecating twice is a no-op success."""
        _refuse_unknown(
            "deprecate event",
            unknown,
            hint=" (deprecate is idempotent by design; it takes no body)",
        )
        engine = self._engine
        with engine.transaction() as now:
            event = self._require(event_id)
            if event.deprecated:
                return DeprecateResult(deprecated=event_id)
            customer = self._customer_of(event, "deprecate")
            engine.subscriptions.check_editable(customer, event.timestamp, now, "deprecate")
            quota = engine.state.deprecate_quota
            quota.check(customer.id, now)
            engine.state.events.deprecate(event, now)
            quota.record(customer.id, now)
            return DeprecateResult(deprecated=event_id)

    def versions(self, event_id: str) -> list[EventVersion]:
        """The audit trail of an event: every version ever accepted, oldest first."""
        with self._engine.transaction():
            event = self._require(event_id)
            return [
                EventVersion(
                    id=event.id,
                    version=number,
                    kind=kind,
                    event_name=name,
                    properties=dict(properties),
                    timestamp=event.timestamp,
                    customer_id=event.customer_id,
                    external_customer_id=event.external_customer_id,
                    recorded_at=recorded_at,
                    backfill_id=None,
                )
                for number, (kind, name, properties, recorded_at) in enumerate(
                    event.versions(), start=1
                )
            ]

    def _require(self, event_id: str) -> StoredEvent:
        event = self._engine.state.events.live.get(event_id)
        if event is None:
            raise ResourceNotFound.of("Event", event_id)
        return event

    def _check_same_customer(self, event: StoredEvent, customer_id: Any, alias: Any) -> None:
        if customer_id is not None and customer_id == event.customer_id:
            return
        if alias is not None and alias == event.external_customer_id:
            return
        # The other identifier of the same customer is accepted too.
        owner = self._engine.ledger.owner(event)
        given_owner = customer_id
        if alias is not None:
            holder = self._engine.customers.holder_of(alias)
            given_owner = holder.id if holder is not None else None
        if owner is not None and given_owner == owner:
            return
        stored = (
            f"customer_id {event.customer_id!r}"
            if event.customer_id is not None
            else f"external_customer_id {event.external_customer_id!r}"
        )
        given = (
            f"customer_id {customer_id!r}"
            if customer_id is not None
            else (f"external_customer_id {alias!r}")
        )
        raise RequestValidationError(
            f"{given} does not match event {event.id!r}'s {stored}; an event's customer cannot be "
            "changed"
        )

    def _customer_of(self, event: StoredEvent, action: str) -> CustomerRecord:
        customers = self._engine.customers
        if event.customer_id is not None:
            record = customers.get_live(event.customer_id)
            ident = f"customer_id {event.customer_id!r}"
        else:
            assert event.external_customer_id is not None
            record = customers.holder_of(event.external_customer_id)
            ident = f"external_customer_id {event.external_customer_id!r}"
        if record is None:
            raise ConstraintViolation(
                f"cannot {action} event {event.id!r}: its {ident} does not identify a customer "
                "in Orb (events reported before their customer existed cannot be changed until "
                "it does)"
            )
        return record

    # -- search -----------------------------------------------------------------------------

    def search(
        self,
        *,
        event_ids: Any = _MISSING,
        timeframe_start: datetime | str | None = None,
        timeframe_end: datetime | str | None = None,
        **unknown: Any,
    ) -> EventSearchResponse:
        """Events by id (1..500) with timestamps in ``[start, end)``; amended ones are left out."""
        _refuse_unknown("event search", unknown)
        limit = self._engine.settings.search_max_event_ids
        if event_ids is _MISSING:
            raise RequestValidationError("event_ids: field required")
        if type(event_ids) is not list or not all(type(i) is str for i in event_ids):
            raise RequestValidationError(
                f"event_ids: expected a list of strings, got {v.short(event_ids)}"
            )
        if not 1 <= len(event_ids) <= limit:
            raise RequestValidationError(
                f"event_ids: between 1 and {limit} ids are required, got {len(event_ids)}"
            )
        try:
            start_given = optional_timestamp(timeframe_start, "timeframe_start")
            end_given = optional_timestamp(timeframe_end, "timeframe_end")
        except ValueError as exc:
            raise RequestValidationError(str(exc)) from None
        engine = self._engine
        with engine.transaction() as now:
            start = start_given or now - engine.settings.search_default_lookback
            end = end_given or now
            if end <= start:
                raise RequestValidationError(
                    f"timeframe_end ({iso(end)}) must be after timeframe_start ({iso(start)})"
                )
            ledger = engine.ledger
            replacing = ledger.replacing(start, end)
            store = engine.state.events
            data: list[Event] = []
            for event_id in dict.fromkeys(event_ids):
                candidates: list[StoredEvent] = []
                live = store.live.get(event_id)
                if live is not None and not live.amended:
                    candidates.append(live)
                candidates.extend(
                    e
                    for e in store.backfill_events.get(event_id, ())
                    if e.backfill is not None and e.backfill.status in EFFECTIVE
                )
                for event in candidates:
                    if start <= event.timestamp < end:
                        data.append(self._search_item(event, ledger.counts(event, replacing)))
            return EventSearchResponse(data=data)

    def _search_item(self, event: StoredEvent, counts: bool) -> Event:
        customer_id = event.customer_id
        alias = event.external_customer_id
        customers = self._engine.customers
        if customer_id is None and alias is not None:
            holder = customers.holder_of(alias)
            customer_id = holder.id if holder is not None else None
        elif customer_id is not None and alias is None:
            record = self._engine.state.customers.get(customer_id)
            alias = record.alias if record is not None else None
        return Event(
            id=event.id,
            customer_id=customer_id,
            external_customer_id=alias,
            event_name=event.event_name,
            properties=dict(event.properties),
            timestamp=event.timestamp,
            deprecated=not counts,
        )


def _same_body(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Whether two events sent with one key in one request carry the same body.

    Compared as JSON values: a null key is the same as an absent one, and values must match in
    type as well as value (``1``, ``1.0`` and ``true`` are different bodies, though Python calls
    them equal).
    """
    a = {k: val for k, val in first.items() if val is not None}
    b = {k: val for k, val in second.items() if val is not None}
    if a.keys() != b.keys():
        return False
    for name, left in a.items():
        right = b[name]
        if type(left) is not type(right):
            return False
        if type(left) is dict:
            if left.keys() != right.keys() or any(
                type(item) is not type(right[k]) or item != right[k] for k, item in left.items()
            ):
                return False
        elif left != right:
            return False
    return True


def _batch_error(failed: dict[str, list[str]], total: int) -> RequestValidationError:
    failures = [{"idempotency_key": key, "validation_errors": msgs} for key, msgs in failed.items()]
    flat = [f"{key}: {msg}" for key, msgs in failed.items() for msg in msgs]
    return RequestValidationError(
        f"{len(failed)} of {total} events failed validation and nothing was ingested; "
        f"first problem: {flat[0]}",
        validation_errors=flat,
        validation_failed=failures,
    )
