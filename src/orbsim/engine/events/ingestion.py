"""Ingestion, and the validation of what is ingested.

Ingestion is atomic per request and at-most-once per idempotency key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orbsim.engine import validation as v
from orbsim.engine.backfills import BackfillRecord, Backfills
from orbsim.engine.events.arguments import MISSING, refuse_unknown
from orbsim.engine.reporting import reports_errors
from orbsim.engine.store import StoredEvent
from orbsim.engine.timeparse import iso
from orbsim.errors import RequestTooLarge, RequestValidationError
from orbsim.models import IngestDebug, IngestResponse
from orbsim.times import span

if TYPE_CHECKING:
    from orbsim.engine.core import Engine

# (id, event_name, properties, timestamp, hour, customer_id, external_customer_id)
Accepted = tuple[str, str, dict[str, Any], datetime, int, str | None, str | None]
_STR_ONLY: frozenset[type] = frozenset((str,))


@reports_errors
class Ingestion:
    """``sim.events.ingest`` (a part of ``Events``)."""

    _engine: Engine
    backfills: Backfills

    def ingest(
        self,
        events: Any = MISSING,
        backfill_id: str | None = None,
        debug: bool = False,
        **unknown: Any,
    ) -> IngestResponse:
        """Ingest a batch atomically: every event is valid and stored, or nothing is.

        ``debug=True`` adds Orb's debug object: which keys this request ingested and which it
        skipped as already ingested (in a backfill: already ingested into that backfill)."""
        refuse_unknown("ingest", unknown)
        if type(debug) is not bool:
            raise RequestValidationError(f"debug: expected a boolean, got {v.short(debug)}")
        if events is MISSING:
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
