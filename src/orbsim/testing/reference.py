"""The reference model: what should count, kept in plain Python from the few rules of design.md.

``ReferenceModel`` knows nothing of the simulator (it imports neither ``orbsim.engine`` nor
hypothesis): it holds customers, live events and backfills as small dataclasses, predicts the
outcome of each operation (``predict_*``: the documented error, or ``None`` for success) and, once
the simulator accepted it, records its effect (``add_*``, ``apply_*``, ``remove_*``). Its views
(``expected_billable``, ``expected_volume``, ``expected_search``) are what ``OrbStateMachine``
compares the simulator with after every step; it can be driven directly in plain unit tests::

    model = ReferenceModel(Settings(), now=clock.now)
    model.add_customer("cus_1", "acme", subscription_start=None)
    error, stored = model.predict_ingest([event], backfill=None)
    if error is None:
        model.apply_ingest(stored, backfill=None)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from orbsim.errors import (
    ConstraintViolation,
    DuplicateResourceCreation,
    OrbError,
    RequestValidationError,
    ResourceConflict,
    ResourceNotFound,
    TooManyRequests,
)
from orbsim.settings import Settings
from orbsim.testing.records import (
    EFFECTIVE,
    Predicate,
    Properties,
    RefBackfill,
    RefCustomer,
    RefEvent,
    canonical,
    month_start,
    parse_time,
)

__all__ = ["ReferenceModel"]


class ReferenceModel:
    """An independent account: customers on monthly UTC plans, events, backfills and quotas.

    ``now`` is read at every call (pass ``clock.now``); ``filters`` maps each
    ``deprecation_filter`` text the caller uses to the reference's own reading of it.
    """

    def __init__(
        self,
        settings: Settings,
        now: Callable[[], datetime],
        filters: Mapping[str, Predicate] | None = None,
    ) -> None:
        self.settings = settings
        self.now = now
        self.filters: Mapping[str, Predicate] = filters or {}
        self.customers: list[RefCustomer] = []
        self.live: dict[str, RefEvent] = {}
        self.backfills: list[RefBackfill] = []
        self.amends: dict[str, list[datetime]] = {}
        self.deprecations: dict[str, list[datetime]] = {}
        self.reflections = 0

    # -- lookups --------------------------------------------------------------------------------

    def holder(self, alias: str) -> RefCustomer | None:
        """The live customer holding ``alias``, if any."""
        return next((c for c in self.customers if c.alias == alias), None)

    def customer(self, customer_id: str) -> RefCustomer | None:
        return next((c for c in self.customers if c.id == customer_id), None)

    def owner(self, event: RefEvent) -> str | None:
        """Whom ``event`` counts for now: its customer id, or whoever holds its alias."""
        if event.customer_id is not None:
            return event.customer_id
        assert event.alias is not None
        holder = self.holder(event.alias)
        return holder.id if holder is not None else None

    def backfill(self, backfill_id: str | None) -> RefBackfill | None:
        if backfill_id is None:
            return None
        return next(b for b in self.backfills if b.id == backfill_id)

    def own_ref(self, event: RefEvent) -> dict[str, str]:
        """The customer identifier ``event`` was sent with."""
        if event.customer_id is not None:
            return {"customer_id": event.customer_id}
        assert event.alias is not None
        return {"external_customer_id": event.alias}

    def everything(self) -> list[RefEvent]:
        """Every event ever stored: live ones, then each backfill's."""
        found = list(self.live.values())
        for backfill in self.backfills:
            found.extend(backfill.events.values())
        return found

    # -- time -----------------------------------------------------------------------------------

    def clock_delay(self) -> timedelta | None:
        """How long after a close (or revert) the clock completes it: the reflection delay
        (``"time"``), zero (``"immediate"``), or None: reads complete it (``"observations"``)."""
        progression = self.settings.reflection_progression
        if progression == "immediate":
            return timedelta(0)
        if progression == "time":
            return self.settings.reflection_delay
        return None

    def settle(self) -> None:
        """Apply the backfill transitions due by now, in time order (creation order on ties)."""
        now = self.now()
        delay = self.clock_delay()
        while True:
            due = [(b.due(delay), b.seq, b) for b in self.backfills]
            pending = [(at, seq, b) for at, seq, b in due if at is not None and at <= now]
            if not pending:
                return
            at, _, backfill = min(pending, key=lambda item: (item[0], item[1]))
            self.advance_backfill(backfill, at)

    def observe(self, backfills: Sequence[RefBackfill]) -> None:
        """A read of ``backfills`` (a fetch, or one list page): with the ``"observations"``
        progression each closed or reverting one counts it, and moves on at the
        ``reflection_observations``-th read since its close (revert)."""
        if self.settings.reflection_progression != "observations":
            return
        for backfill in backfills:
            if backfill.reflecting():
                backfill.observed += 1
                if backfill.observed >= self.settings.reflection_observations:
                    self.advance_backfill(backfill, self.now())

    def advance_backfill(self, backfill: RefBackfill, at: datetime) -> None:
        """One step of ``backfill``'s status machine, happening at ``at``."""
        if backfill.status == "pending" and backfill.closed_at is None:
            backfill.closed_at = backfill.close_time = at
            backfill.observed = 0
        elif backfill.status == "pending":
            backfill.status = "reflected"
            self.reflections += 1
            backfill.reflect_order = self.reflections
        elif backfill.status == "pending_revert":
            backfill.status = "reverted"
            backfill.reverted_at = at

    # -- views ----------------------------------------------------------------------------------

    def hidden(self, event: RefEvent, owner: str | None) -> bool:
        """Whether a later-reflected replacing backfill hides ``event``."""
        own = event.backfill
        after = own.reflect_order if own is not None else -1
        return any(
            b.replace
            and b.status in EFFECTIVE
            and b is not own
            and b.reflect_order > after
            and b.start <= event.timestamp < b.end
            and (b.scope is None or b.scope == owner)
            and (b.matches is None or b.matches(event.properties))
            for b in self.backfills
        )

    def expected_billable(self, customer_id: str | None = None) -> list[RefEvent]:
        """The reference's billable view: every event that should count now, oldest first."""
        found = []
        for event in self.everything():
            if event.deprecated:
                continue
            if event.backfill is not None and event.backfill.status not in EFFECTIVE:
                continue
            owner = self.owner(event)
            if customer_id is not None and owner != customer_id:
                continue
            if not self.hidden(event, owner):
                found.append(event)
        return sorted(found, key=lambda e: (e.timestamp, e.key))

    def expected_volume(self) -> dict[datetime, int]:
        """Events ingested per UTC hour of their timestamp (non-empty hours only).

        Orb's volume counts "events ingested", not billable ones: every live key once (an
        amendment or a deprecation is not another ingestion, nor does it undo one), whoever its
        alias belongs to, and a backfill's events while its effects show (reflected or reverting).
        """
        counted = list(self.live.values())
        for backfill in self.backfills:
            if backfill.status in EFFECTIVE:
                counted.extend(backfill.events.values())
        hours: dict[datetime, int] = {}
        for event in counted:
            hour = event.timestamp.replace(minute=0, second=0, microsecond=0)
            hours[hour] = hours.get(hour, 0) + 1
        return hours

    def expected_search(self) -> list[tuple[str, bool, str]]:
        """What searching every key shows, sorted: ``(key, deprecated, event_name)``.

        Amended live events are not returned (as Orb documents), nor events of backfills that do
        not count; an event shows ``deprecated`` when it does not count.
        """
        counted = {id(e) for e in self.expected_billable()}
        shown = [
            e
            for e in self.everything()
            if (e.backfill is None and not e.amended)
            or (e.backfill is not None and e.backfill.status in EFFECTIVE)
        ]
        return sorted((e.key, id(e) not in counted, e.event_name) for e in shown)

    # -- rules ----------------------------------------------------------------------------------

    def editable(self, timestamp: datetime) -> bool:
        """Monthly UTC periods aligned to the 1st: the current one, or the previous in its grace."""
        now = self.now()
        current, following = month_start(now), month_start(now, 1)
        if current <= timestamp < following:
            return True
        previous = month_start(now, -1)
        return previous <= timestamp < current and now < current + self.settings.grace_period

    def subscribed(self, customer_id: str) -> bool:
        return any(c.id == customer_id and c.subscribed for c in self.customers)

    def may_change(self, owner: str, event: RefEvent) -> bool:
        """Amend/deprecate window: an active subscription and an editable billing period."""
        return self.subscribed(owner) and self.editable(event.timestamp)

    def quota_left(self, uses: dict[str, list[datetime]], customer: str, limit: int) -> bool:
        horizon = self.now() - self.settings.quota_window
        return sum(1 for t in uses.get(customer, []) if t > horizon) < limit

    # -- customers ------------------------------------------------------------------------------

    def predict_create_customer(self, alias: str | None) -> type[OrbError] | None:
        taken = alias is not None and self.holder(alias) is not None
        return DuplicateResourceCreation if taken else None

    def add_customer(
        self, customer_id: str, alias: str | None, subscription_start: datetime | None
    ) -> RefCustomer:
        customer = RefCustomer(customer_id, alias, subscription_start)
        self.customers.append(customer)
        return customer

    def predict_delete_customer(self, customer_id: str) -> type[OrbError] | None:
        """Refused once the customer's first billing period was invoiced."""
        customer = self.customer(customer_id)
        if customer is None:
            return ResourceNotFound
        start = customer.subscription_start
        grace = self.settings.grace_period
        invoiced = start is not None and month_start(start, 1) + grace <= self.now()
        return ConstraintViolation if invoiced else None

    def remove_customer(self, customer_id: str) -> None:
        """Forget the customer: its alias is free, and events sent with it count for whoever
        takes it next."""
        customer = self.customer(customer_id)
        assert customer is not None
        self.customers.remove(customer)

    # -- ingestion ------------------------------------------------------------------------------

    def predict_ingest(
        self,
        events: Sequence[Mapping[str, Any]],
        backfill: RefBackfill | None,
        invalid: frozenset[int] = frozenset(),
    ) -> tuple[type[OrbError] | None, list[RefEvent]]:
        """What ingesting ``events`` should do: the error, or the events that get stored.

        ``invalid`` marks events known to break a shape rule; every other event is judged here on
        the stateful rules (keys, time window, customer, backfill scope).
        """
        if backfill is not None and not backfill.accepting():
            return ConstraintViolation, []
        now = self.now()
        rules = self.settings
        existing = self.live if backfill is None else backfill.events
        seen: dict[str, str] = {}
        stored: list[RefEvent] = []
        failed = False
        for index, payload in enumerate(events):
            key = payload.get("idempotency_key")
            if index in invalid and (type(key) is not str or not key):
                failed = True
                continue
            assert isinstance(key, str)
            body = canonical(payload)
            if key in seen:
                failed = failed or seen[key] != body  # an exact copy is ingested once
                continue
            seen[key] = body
            if key in existing:
                failed = failed or existing[key].deprecated
                continue
            if index in invalid:
                failed = True
                continue
            when = parse_time(payload["timestamp"])
            customer_id = payload.get("customer_id")
            ok = when <= now + rules.future_tolerance
            if backfill is None:
                ok = ok and when >= now - rules.grace_period
            else:
                ok = ok and backfill.start <= when < backfill.end
            if customer_id is not None:
                ok = ok and any(c.id == customer_id for c in self.customers)
            event = RefEvent(
                key=key,
                timestamp=when,
                event_name=payload["event_name"],
                properties=dict(payload["properties"]),
                customer_id=customer_id,
                alias=payload.get("external_customer_id"),
                backfill=backfill,
            )
            if ok and backfill is not None and backfill.scope is not None:
                ok = self.owner(event) == backfill.scope
            failed = failed or not ok
            stored.append(event)
        return (RequestValidationError, []) if failed else (None, stored)

    def apply_ingest(self, stored: list[RefEvent], backfill: RefBackfill | None) -> None:
        for event in stored:
            if backfill is None:
                self.live[event.key] = event
            else:
                backfill.events[event.key] = event
        if backfill is not None:
            backfill.events_ingested += len(stored)

    # -- amendments and deprecations ------------------------------------------------------------

    def predict_amend(
        self, key: str, ref: Mapping[str, str], timestamp: datetime
    ) -> type[OrbError] | None:
        """Amending live event ``key`` with customer identifier ``ref`` and ``timestamp``."""
        event = self.live[key]
        owner = self.owner(event)
        given = ref.get("customer_id")
        if "external_customer_id" in ref:
            holder = self.holder(ref["external_customer_id"])
            given = holder.id if holder is not None else None
        same = (
            ref.get("customer_id", object()) == event.customer_id
            or ref.get("external_customer_id", object()) == event.alias
            or (owner is not None and given == owner)
        )
        if timestamp != event.timestamp or not same:
            return RequestValidationError
        if owner is None or event.deprecated or not self.may_change(owner, event):
            return ConstraintViolation
        if not self.quota_left(self.amends, owner, self.settings.amend_limit):
            return TooManyRequests
        return None

    def apply_amend(self, key: str, event_name: str, properties: Properties) -> None:
        event = self.live[key]
        owner = self.owner(event)
        assert owner is not None
        event.event_name, event.properties = event_name, dict(properties)
        event.versions += 1
        event.amended = True
        self.amends.setdefault(owner, []).append(self.now())

    def predict_deprecate(self, key: str) -> type[OrbError] | None:
        """Deprecating live event ``key``; deprecating it again succeeds without using quota."""
        event = self.live[key]
        owner = self.owner(event)
        if event.deprecated:
            return None
        if owner is None or not self.may_change(owner, event):
            return ConstraintViolation
        if not self.quota_left(self.deprecations, owner, self.settings.deprecate_limit):
            return TooManyRequests
        return None

    def apply_deprecate(self, key: str) -> None:
        event = self.live[key]
        if event.deprecated:
            return
        owner = self.owner(event)
        assert owner is not None
        event.deprecated = True
        event.versions += 1
        self.deprecations.setdefault(owner, []).append(self.now())

    # -- backfills ------------------------------------------------------------------------------

    def backfill_scope(self, payload: Mapping[str, Any]) -> str | None:
        """The customer id a backfill payload is scoped to (an unheld alias names no one)."""
        scope: str | None = payload.get("customer_id")
        if "external_customer_id" in payload:
            holder = self.holder(payload["external_customer_id"])
            scope = holder.id if holder is not None else "<unknown alias>"
        return scope

    def predict_create_backfill(self, payload: Mapping[str, Any]) -> type[OrbError] | None:
        """Creating a backfill from a valid payload: unknown customer, or an overlap."""
        start = parse_time(payload["timeframe_start"])
        end = parse_time(payload["timeframe_end"])
        scope = self.backfill_scope(payload)
        if scope is not None and all(c.id != scope for c in self.customers):
            return ResourceNotFound  # deleted (or never existed)
        if any(
            other.status in ("pending", "pending_revert")
            and (other.scope is None or scope is None or other.scope == scope)
            and other.start < end
            and start < other.end
            for other in self.backfills
        ):
            return ResourceConflict
        return None

    def add_backfill(self, backfill_id: str, payload: Mapping[str, Any]) -> RefBackfill:
        """Record a backfill the simulator created (at the current time) from ``payload``."""
        text = payload.get("deprecation_filter")
        close_time = payload.get("close_time")
        backfill = RefBackfill(
            id=backfill_id,
            start=parse_time(payload["timeframe_start"]),
            end=parse_time(payload["timeframe_end"]),
            scope=self.backfill_scope(payload),
            replace=bool(payload.get("replace_existing_events", True)),
            matches=self.filters[text] if text is not None else None,
            filter_text=text,
            seq=len(self.backfills),
            close_time=(
                parse_time(close_time)
                if close_time is not None
                else self.now() + self.settings.backfill_default_close_delay
            ),
        )
        self.backfills.append(backfill)
        return backfill

    def predict_close(self, backfill_id: str) -> type[OrbError] | None:
        backfill = self.backfill(backfill_id)
        assert backfill is not None
        refused = backfill.status in ("pending_revert", "reverted")
        return ConstraintViolation if refused else None

    def apply_close(self, backfill_id: str) -> None:
        backfill = self.backfill(backfill_id)
        assert backfill is not None
        if backfill.accepting():
            self.advance_backfill(backfill, self.now())
            self.settle()

    def apply_revert(self, backfill_id: str) -> None:
        """Revert: an open backfill is reverted at once, a reflected one starts reverting."""
        backfill = self.backfill(backfill_id)
        assert backfill is not None
        now = self.now()
        if backfill.status == "pending":
            if backfill.closed_at is None:
                backfill.close_time = None
            backfill.status = "reverted"
            backfill.reverted_at = now
        elif backfill.status == "reflected":
            backfill.status = "pending_revert"
            backfill.revert_requested_at = now
            backfill.observed = 0
            self.settle()

    def expected_list(
        self, limit: int, status: str | None = None, customer_id: str | None = None
    ) -> list[RefBackfill]:
        """The first page of ``backfills.list``: newest first (creation order, as the clock
        never goes back), only ``customer_id``'s (account-wide ones are not) and ``status``'s."""
        return [
            b
            for b in reversed(self.backfills)
            if (customer_id is None or b.scope == customer_id)
            and (status is None or b.status == status)
        ][:limit]
