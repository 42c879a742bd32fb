"""Amend (``update``) and deprecate.

Amend and deprecate keep every version (audit-safe) and are bounded by the billing-period rules
and per-customer quotas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orbsim.engine import validation as v
from orbsim.engine.events.arguments import MISSING, refuse_unknown
from orbsim.engine.reporting import reports_errors
from orbsim.engine.store import StoredEvent
from orbsim.engine.timeparse import iso
from orbsim.errors import ConstraintViolation, RequestValidationError, ResourceNotFound
from orbsim.models import AmendResult, DeprecateResult, EventVersion

if TYPE_CHECKING:
    from orbsim.engine.core import Engine
    from orbsim.engine.customers import CustomerRecord


@reports_errors
class Amendments:
    """``sim.events.update``, ``deprecate`` and ``versions`` (a part of ``Events``)."""

    _engine: Engine

    def update(
        self,
        event_id: str,
        /,
        *,
        event_name: Any = MISSING,
        timestamp: Any = MISSING,
        properties: Any = MISSING,
        customer_id: Any = None,
        external_customer_id: Any = None,
        **unknown: Any,
    ) -> AmendResult:
        """Amend an event: a new version of ``event_name``/``properties``; the original is kept."""
        refuse_unknown(
            "amend event",
            unknown,
            hint=" (amend is idempotent by design; no idempotency_key is accepted in the body)",
        )
        errors: list[str] = []
        name = None
        if event_name is MISSING:
            errors.append("event_name: field required")
        else:
            name = v.check_event_name(event_name, errors)
        props = None
        if properties is MISSING:
            errors.append("properties: field required (may be {})")
        else:
            props = v.check_properties(properties, errors)
        when = None
        if timestamp is MISSING:
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
        refuse_unknown(
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
