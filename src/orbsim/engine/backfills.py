"""Backfills: create, list, fetch, close, revert, and the clock-driven status machine.

``pending`` (open) --close / close_time--> ``pending`` (closed, reflecting) --progression-->
``reflected`` --revert--> ``pending_revert`` --progression--> ``reverted``;
an open backfill reverts straight to ``reverted``. The progression is
``Settings.reflection_progression`` (moto's state-transition manager): after
``reflection_observations`` reads of the backfill (default: the first read after the close), after
``reflection_delay`` on the clock, or immediately. Clock-driven transitions that come due are
applied lazily, in time order, at the moment they were due, before every operation (``settle``);
observation-driven ones when the backfill is read (``fetch``, ``list``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from orbsim.engine.filters import CompiledFilter, FilterSyntaxError, compile_filter
from orbsim.engine.pagination import paginate
from orbsim.engine.reporting import raises_no_orb_error, reports_errors
from orbsim.engine.timeparse import iso, optional_timestamp
from orbsim.errors import (
    ConstraintViolation,
    RequestValidationError,
    ResourceConflict,
    ResourceNotFound,
)
from orbsim.models import Backfill, Page, PaginationMetadata

if TYPE_CHECKING:
    from orbsim.engine.core import Engine
    from orbsim.engine.store import StoredEvent
    from orbsim.settings import Settings

BackfillStatus = Literal["pending", "reflected", "pending_revert", "reverted"]
STATUSES: tuple[BackfillStatus, ...] = ("pending", "reflected", "pending_revert", "reverted")


@dataclass(slots=True, eq=False)
class BackfillRecord:
    """A backfill and its events; the lifecycle timestamps record when each step happened."""

    id: str
    customer_id: str | None
    timeframe_start: datetime
    timeframe_end: datetime
    replace_existing_events: bool
    deprecation_filter: str | None
    matcher: CompiledFilter | None
    created_at: datetime
    close_time: datetime | None
    seq: int
    status: BackfillStatus = "pending"
    closed_at: datetime | None = None
    reflected_at: datetime | None = None
    reflect_seq: int = -1
    revert_requested_at: datetime | None = None
    reverted_at: datetime | None = None
    observed: int = 0
    """Reads since the current reflection (or revert) started (``"observations"`` progression)."""
    events_ingested: int = 0
    events: dict[str, StoredEvent] = field(default_factory=dict)

    def accepting(self, now: datetime) -> bool:
        return (
            self.status == "pending"
            and self.closed_at is None
            and (self.close_time is None or now < self.close_time)
        )

    def next_due(self, delay: timedelta | None) -> datetime | None:
        """When this backfill's next clock-driven transition happens (None: none is), given the
        reflection delay (None: reflection is driven by reads, not by the clock)."""
        if self.status == "pending":
            if self.closed_at is None:
                return self.close_time
            return None if delay is None else self.closed_at + delay
        if self.status == "pending_revert":
            assert self.revert_requested_at is not None
            return None if delay is None else self.revert_requested_at + delay
        return None

    def reflecting(self) -> bool:
        """Closed and not yet reflected, or reverting: waiting for the progression."""
        return (self.status == "pending" and self.closed_at is not None) or (
            self.status == "pending_revert"
        )

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.timeframe_start < end and start < self.timeframe_end

    def sort_key(self) -> tuple[int, int]:
        return int(self.created_at.timestamp() * 1_000_000), self.seq

    def to_model(self) -> Backfill:
        return Backfill(
            id=self.id,
            status=self.status,
            created_at=self.created_at,
            timeframe_start=self.timeframe_start,
            timeframe_end=self.timeframe_end,
            events_ingested=self.events_ingested,
            close_time=self.close_time,
            reverted_at=self.reverted_at,
            customer_id=self.customer_id,
            replace_existing_events=self.replace_existing_events,
            deprecation_filter=self.deprecation_filter,
        )


@reports_errors
class Backfills:
    """``sim.events.backfills``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- engine-internal ------------------------------------------------------------------------

    def in_effect(self) -> list[BackfillRecord]:
        return self._engine.state.backfills_in_effect

    def require(self, backfill_id: str) -> BackfillRecord:
        return self._require(backfill_id)

    def _require(self, backfill_id: str) -> BackfillRecord:
        """``require`` for this class's own operations (already reporting their errors)."""
        record = self._engine.state.backfills.get(backfill_id)
        if record is None:
            raise ResourceNotFound.of("Backfill", backfill_id)
        return record

    def check_accepting(self, backfill: BackfillRecord, now: datetime) -> None:
        if backfill.accepting(now):
            return
        if backfill.status == "pending" and backfill.closed_at is not None:
            why = f"it was closed at {iso(backfill.closed_at)}"
        else:
            why = f"its status is {backfill.status}"
        raise ConstraintViolation(f"backfill {backfill.id} no longer accepts events: {why}")

    @raises_no_orb_error
    def settle(self, now: datetime) -> None:
        """Apply every transition due by ``now``, in time order, each at its due time."""
        state = self._engine.state
        queue = state.backfill_queue
        if not queue:
            return
        delay = _clock_delay(state.settings)
        while queue:
            due = [(at, b) for b in queue if (at := b.next_due(delay)) is not None]
            if not due:
                return
            due_at, backfill = min(due, key=lambda pair: (pair[0], pair[1].seq))
            if due_at > now:
                return
            self._transition(backfill, due_at)

    def _observe(self, backfills: Iterable[BackfillRecord], now: datetime) -> None:
        """A read of these backfills: with the ``"observations"`` progression, each reflecting
        one counts it, and advances on its ``reflection_observations``-th read."""
        settings = self._engine.state.settings
        if settings.reflection_progression != "observations":
            return
        for backfill in backfills:
            if backfill.reflecting():
                backfill.observed += 1
                if backfill.observed >= settings.reflection_observations:
                    self._transition(backfill, now)

    def _transition(self, backfill: BackfillRecord, at: datetime) -> None:
        state = self._engine.state
        if backfill.status == "pending" and backfill.closed_at is None:
            backfill.closed_at = at
            backfill.close_time = at
            backfill.observed = 0
        elif backfill.status == "pending":
            backfill.status = "reflected"
            backfill.reflected_at = at
            state.reflections += 1
            backfill.reflect_seq = state.reflections
            state.backfills_in_effect.append(backfill)
            state.backfill_queue.remove(backfill)
            self._engine.emit_webhook("backfill.reflected", at, backfill.to_model)
        elif backfill.status == "pending_revert":
            backfill.status = "reverted"
            backfill.reverted_at = at
            state.backfills_in_effect.remove(backfill)
            state.backfill_queue.remove(backfill)
            self._engine.emit_webhook("backfill.reverted", at, backfill.to_model)

    # -- public API -----------------------------------------------------------------------------

    def create(
        self,
        *,
        timeframe_start: datetime | str | None = None,
        timeframe_end: datetime | str | None = None,
        close_time: datetime | str | None = None,
        customer_id: str | None = None,
        external_customer_id: str | None = None,
        replace_existing_events: bool = True,
        deprecation_filter: str | None = None,
        **unknown: Any,
    ) -> Backfill:
        """Create a backfill (``pending``) for a timeframe, optionally scoped to one customer."""
        errors: list[str] = [f"unknown field {name!r}" for name in sorted(unknown)]
        start = end = close = None
        for name, value in (("timeframe_start", timeframe_start), ("timeframe_end", timeframe_end)):
            if value is None:
                errors.append(f"{name}: field required")
        try:
            start = optional_timestamp(timeframe_start, "timeframe_start")
        except ValueError as exc:
            errors.append(str(exc))
        try:
            end = optional_timestamp(timeframe_end, "timeframe_end")
        except ValueError as exc:
            errors.append(str(exc))
        try:
            close = optional_timestamp(close_time, "close_time")
        except ValueError as exc:
            errors.append(str(exc))
        if type(replace_existing_events) is not bool:
            errors.append(
                f"replace_existing_events: expected a boolean, got {replace_existing_events!r}"
            )
        settings = self._engine.settings
        if start is not None and end is not None:
            if start >= end:
                errors.append(
                    f"timeframe_start ({iso(start)}) must be before timeframe_end ({iso(end)})"
                )
            elif end - start > settings.backfill_max_timeframe:
                errors.append(
                    f"timeframe of {end - start} is longer than the maximum backfill timeframe of "
                    f"{settings.backfill_max_timeframe}"
                )
        matcher = None
        if deprecation_filter is not None:
            if type(deprecation_filter) is not str:
                errors.append(f"deprecation_filter: expected a string, got {deprecation_filter!r}")
            elif replace_existing_events is not True:
                errors.append(
                    "deprecation_filter is only allowed with replace_existing_events=true "
                    "(it selects which existing events are replaced)"
                )
            else:
                try:
                    matcher = compile_filter(deprecation_filter)
                except FilterSyntaxError as exc:
                    errors.append(f"deprecation_filter: {exc}")
        if customer_id is not None and external_customer_id is not None:
            errors.append(
                "customer_id and external_customer_id cannot both be given; scope a backfill by one"
            )
        for name, value in (
            ("customer_id", customer_id),
            ("external_customer_id", external_customer_id),
        ):
            if value is not None and (type(value) is not str or not value):
                errors.append(f"{name}: expected a non-empty string, got {value!r}")
        if errors:
            raise RequestValidationError(
                "invalid backfill: " + "; ".join(errors), validation_errors=errors
            )
        assert start is not None and end is not None
        engine = self._engine
        with engine.transaction() as now:
            state = engine.state
            scope: str | None = None
            if customer_id is not None:
                scope = engine.customers.require(customer_id).id
            elif external_customer_id is not None:
                scope = engine.customers.require_alias(external_customer_id).id
            if matcher is None:
                boundary = now - settings.grace_period
                if end > boundary:
                    raise RequestValidationError(
                        f"timeframe_end {iso(end)} is inside the ingestion grace period: without a "
                        f"deprecation_filter a backfill must end by now - grace period "
                        f"({iso(boundary)}); send recent events with regular ingestion"
                    )
            elif end > now:
                raise RequestValidationError(
                    f"timeframe_end {iso(end)} is in the future (now {iso(now)})"
                )
            close = close or now + settings.backfill_default_close_delay
            if close <= now:
                raise RequestValidationError(
                    f"close_time {iso(close)} must be in the future (now {iso(now)})"
                )
            for other in state.backfill_queue:
                if other.status not in ("pending", "pending_revert"):
                    continue
                same_scope = (
                    other.customer_id is None or scope is None or other.customer_id == scope
                )
                if same_scope and other.overlaps(start, end):
                    whose = (
                        "an account-wide backfill"
                        if other.customer_id is None
                        else f"a backfill of customer {other.customer_id}"
                    )
                    raise ResourceConflict(
                        f"backfill timeframe [{iso(start)}, {iso(end)}) overlaps {whose} "
                        f"{other.id} [{iso(other.timeframe_start)}, {iso(other.timeframe_end)}) "
                        f"that is {other.status}; close or revert it first"
                    )
            record = BackfillRecord(
                id=state.new_id(),
                customer_id=scope,
                timeframe_start=start,
                timeframe_end=end,
                replace_existing_events=replace_existing_events,
                deprecation_filter=deprecation_filter,
                matcher=matcher,
                created_at=now,
                close_time=close,
                seq=state.take_seq(),
            )
            state.backfills[record.id] = record
            state.backfill_queue.append(record)
            return record.to_model()

    def fetch(self, backfill_id: str) -> Backfill:
        """The backfill (a read: see ``Settings.reflection_progression``)."""
        with self._engine.transaction() as now:
            backfill = self._require(backfill_id)
            self._observe([backfill], now)
            return backfill.to_model()

    def peek(self, backfill_id: str) -> Backfill:
        """The backfill as it stands, without it counting as a read: for tools that watch the
        account (the dashboard, a state machine's checks) and must not move a backfill on
        under ``reflection_progression="observations"``. Due clock work still settles."""
        with self._engine.transaction():
            return self.require(backfill_id).to_model()

    def peek_all(self) -> list[Backfill]:
        """Every backfill, newest first, without counting as a read (see ``peek``)."""
        with self._engine.transaction():
            records = sorted(
                self._engine.state.backfills.values(), key=BackfillRecord.sort_key, reverse=True
            )
            return [b.to_model() for b in records]

    def list(
        self,
        *,
        limit: int = 20,
        cursor: str | None = None,
        customer_id: str | None = None,
        status: str | None = None,
    ) -> Page[Backfill]:
        """Backfills newest first, optionally only one customer's or one status."""
        if status is not None and status not in STATUSES:
            raise RequestValidationError(
                f"status: must be one of {', '.join(STATUSES)}; got {status!r}"
            )
        with self._engine.transaction() as now:
            items = [
                b
                for b in self._engine.state.backfills.values()
                if (customer_id is None or b.customer_id == customer_id)
                and (status is None or b.status == status)
            ]
            page, next_cursor = paginate(items, BackfillRecord.sort_key, limit, cursor)
            self._observe(page, now)
            return Page[Backfill](
                data=[b.to_model() for b in page],
                pagination_metadata=PaginationMetadata(
                    has_more=next_cursor is not None, next_cursor=next_cursor
                ),
            )

    def close(self, backfill_id: str) -> Backfill:
        """Stop accepting events and start reflecting; closing again returns it unchanged."""
        with self._engine.transaction() as now:
            backfill = self._require(backfill_id)
            if backfill.status in ("pending_revert", "reverted"):
                raise ConstraintViolation(
                    f"backfill {backfill.id} cannot be closed: its status is {backfill.status}"
                )
            if backfill.status == "pending" and backfill.closed_at is None:
                self._transition(backfill, now)
                self.settle(now)
            return backfill.to_model()

    def revert(self, backfill_id: str) -> Backfill:
        """Undo a backfill: open or reflecting -> reverted now; reflected -> pending_revert."""
        with self._engine.transaction() as now:
            backfill = self._require(backfill_id)
            queue = self._engine.state.backfill_queue
            if backfill.status == "pending":
                if backfill.closed_at is None:
                    backfill.close_time = None  # it never closed, and now never will
                backfill.status = "reverted"
                backfill.reverted_at = now
                queue.remove(backfill)
                self._engine.emit_webhook("backfill.reverted", now, backfill.to_model)
            elif backfill.status == "reflected":
                backfill.status = "pending_revert"
                backfill.revert_requested_at = now
                backfill.observed = 0
                queue.append(backfill)
                self.settle(now)
            return backfill.to_model()


def _clock_delay(settings: Settings) -> timedelta | None:
    """The clock delay of reflection: 0 (immediate), ``reflection_delay`` (time), or None
    (observations: reads drive it, not the clock)."""
    if settings.reflection_progression == "immediate":
        return timedelta(0)
    if settings.reflection_progression == "time":
        return settings.reflection_delay
    return None
