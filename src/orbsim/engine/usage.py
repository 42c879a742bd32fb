"""Subscription usage and costs: the billable view, through the plan's metrics and prices.

What counts for a subscription is the billable view (newest amendments; deprecated, replaced and
not-yet-reflected backfill events out; reflected backfill events in) restricted to

* the subscription's active span ``[start_date, end_date)``;
* its customer (events sent by the customer's alias count once the alias is claimed), or, when
  ``usage_customer_ids`` is set, exactly those customers;
* its ``filter``, a boolean computed property every counted event must satisfy.

A metric's quantity over a window is its SQL evaluated over the counted events of that window
(half-open, ``[start, end)``). Days are the customer's local days. Costs apply each price of the
plan to its metric's quantity and round the result to the currency's minor unit (see
:mod:`orbsim.engine.prices`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from orbsim.engine.catalog import MetricRecord, PriceRecord, Prices
from orbsim.engine.edges import Inert, is_null, refuse_unsimulated
from orbsim.engine.expressions import (
    CompiledFilter,
    ExpressionSyntaxError,
    Running,
    compile_filter,
    quantity_of,
)
from orbsim.engine.periods import Period
from orbsim.engine.prices import PriceModel, price_amount, round_money
from orbsim.engine.reporting import raises_no_orb_error, reports_errors
from orbsim.engine.store import StoredEvent
from orbsim.engine.timeparse import optional_timestamp
from orbsim.errors import ConstraintViolation, RequestValidationError, ResourceNotFound
from orbsim.models_billing import Costs, GroupedUsage, UngroupedUsage

if TYPE_CHECKING:
    from orbsim.engine.billing import SubscriptionRecord
    from orbsim.engine.core import Engine

_DIMENSION_FILTERS: dict[str, tuple[Inert, str]] = {
    name: (is_null, "matrix dimension filters are not simulated; use group_by")
    for name in (
        "first_dimension_key",
        "first_dimension_value",
        "second_dimension_key",
        "second_dimension_value",
    )
}
"""``fetch_usage``'s dimension filters, refused unless null."""

__all__ = ["Document", "UsageReader", "check_scope"]

Document = dict[str, Any]
"""A response as plain data in the SDK's shape (``SubscriptionUsage``, costs' ``{data: [...]}``):
the keys of the response model in its field order, datetimes as aware UTC ``datetime`` and
quantities as ``float``, so that validating it into the model changes nothing and serialising it
gives the model's bytes (pinned by ``tests/engine/test_usage_documents.py``). Responses with
hundreds of entries are built this way because constructing a model per entry cost more than the
arithmetic; ``fetch_usage`` / ``fetch_costs`` validate the document into the response model."""

ViewMode = Literal["periodic", "cumulative"]
_TIMESTAMP = attrgetter("timestamp")


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class _Priced:
    """A plan price as one costs request uses it, derived once per request."""

    record: PriceRecord
    id: str
    arithmetic: PriceModel
    metric: MetricRecord | None
    body: Document
    """The ``Price`` response object (``shared.Price``), shared by every entry of the answer."""


def _local_days(start: datetime, end: datetime, timezone: str) -> list[Window]:
    """``[start, end)`` cut at the customer's local midnights (first and last may be partial)."""
    zone = ZoneInfo(timezone)
    windows: list[Window] = []
    cursor = start
    local_day = start.astimezone(zone).date()
    while cursor < end:
        local_day += timedelta(days=1)
        midnight = datetime.combine(local_day, time(0), tzinfo=zone).astimezone(UTC)
        upper = min(midnight, end)
        if upper > cursor:
            windows.append(Window(cursor, upper))
        cursor = upper
    return windows


def check_scope(
    engine: Engine, customer_id: str, filter_text: object, usage_customer_ids: object
) -> tuple[str | None, list[str] | None]:
    """Validate a new subscription's ``filter`` and ``usage_customer_ids`` (400 on any problem).

    The filter must compile as a boolean computed property. ``usage_customer_ids`` must name live
    customers; Orb also requires them to be the subscription's customer or its children, but
    orbsim has no customer hierarchy, so any live customer is accepted.
    """
    errors: list[str] = []
    if filter_text is not None:
        if not isinstance(filter_text, str):
            errors.append(f"filter: expected a string, got {filter_text!r}")
        else:
            try:
                _subscription_filter(filter_text)
            except ExpressionSyntaxError as exc:
                errors.append(f"filter: {exc}")
    ids: list[str] | None = None
    if usage_customer_ids is not None:
        if not isinstance(usage_customer_ids, list | tuple) or not all(
            isinstance(i, str) for i in usage_customer_ids
        ):
            errors.append(f"usage_customer_ids: expected a list of ids, got {usage_customer_ids!r}")
        else:
            missing = [i for i in usage_customer_ids if engine.customers.get_live(i) is None]
            if missing:
                errors.append(f"usage_customer_ids: no customer with id(s) {', '.join(missing)}")
            ids = list(dict.fromkeys(usage_customer_ids)) or None
    if errors:
        raise RequestValidationError(
            "invalid subscription: " + "; ".join(errors), validation_errors=errors
        )
    del customer_id
    return (filter_text if isinstance(filter_text, str) else None), ids


def _scope(sub: SubscriptionRecord) -> tuple[Sequence[str], str | None]:
    """Whose events a subscription bills, and its ``filter``."""
    return sub.usage_customer_ids or (sub.customer_id,), sub.usage_filter


@lru_cache(maxsize=256)
def _subscription_filter(text: str) -> CompiledFilter:
    return compile_filter(text, "filter")


def _quantity(metric: MetricRecord, events: Iterable[StoredEvent]) -> Decimal:
    try:
        return metric.compiled.quantity(events)
    except ValueError as exc:
        raise ConstraintViolation(f"billable metric {metric.id} ({metric.name}): {exc}") from None


@reports_errors
class UsageReader:
    """Reads quantities and costs for subscriptions and customers (``engine.usage``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # --- what counts ----------------------------------------------------------------------------

    @raises_no_orb_error
    def counted_events(
        self, sub: SubscriptionRecord, start: datetime, end: datetime
    ) -> list[StoredEvent]:
        """The subscription's counted events in ``[start, end)``, in time order."""
        schedule = sub.schedule
        start = max(start, schedule.start)
        if schedule.end is not None:
            end = min(end, schedule.end)
        if start >= end:
            return []
        engine = self._engine
        store = engine.state.events
        ledger = engine.ledger
        customers = engine.customers
        owners, text = _scope(sub)
        matcher = None if text is None else _subscription_filter(text)
        first = int(start.timestamp() // 3600)
        last = int(end.timestamp() // 3600) + 1
        found: list[StoredEvent] = []
        for owner in owners:
            record = customers.get_live(owner)
            if record is None:
                continue
            sources = [store.by_customer_id.get(owner, {})]
            if record.alias is not None:
                sources.append(store.by_alias.get(record.alias, {}))
            replacing = ledger.replacing(start, end, owner)
            for index in sources:
                for event in store.scan(index, first, last):
                    timestamp = event.timestamp
                    if timestamp < start or timestamp >= end:
                        continue
                    if matcher is not None and not matcher.matches(event):
                        continue
                    if ledger.counts(event, replacing, owner, owner_known=True):
                        found.append(event)
        found.sort(key=_TIMESTAMP)  # stable: ties keep scan (ingestion) order
        return found

    # --- shared parameter handling ------------------------------------------------------------

    def _subscription(self, subscription_id: str) -> SubscriptionRecord:
        record = self._engine.state.subscriptions.get(subscription_id)
        if record is None or self._engine.customers.get_live(record.customer_id) is None:
            raise ResourceNotFound.of("Subscription", subscription_id)
        return record

    def _default_period(self, sub: SubscriptionRecord, now: datetime) -> Period:
        """The current billing period; the last one of an ended subscription, the first of an
        upcoming one."""
        schedule = sub.schedule
        current = schedule.period_at(now)
        if current is not None:
            return current
        if schedule.start > now:
            first = schedule.period_at(schedule.start)
            assert first is not None
            return first
        assert schedule.end is not None
        last = schedule.period_at(schedule.end - timedelta(microseconds=1))
        assert last is not None
        return last

    def _timeframe(
        self, sub: SubscriptionRecord, now: datetime, start: object, end: object
    ) -> tuple[datetime, datetime]:
        try:
            first = optional_timestamp(start, "timeframe_start")
            last = optional_timestamp(end, "timeframe_end")
        except ValueError as exc:
            raise RequestValidationError(str(exc)) from None
        if first is None and last is None:
            period = self._default_period(sub, now)
            return period.start, period.end
        if first is None or last is None:
            raise RequestValidationError(
                "timeframe_start and timeframe_end must be given together"
                f" (got timeframe_start={start!r}, timeframe_end={end!r})"
            )
        if first >= last:
            raise RequestValidationError(
                f"timeframe_start {first.isoformat()} must be before timeframe_end"
                f" {last.isoformat()}"
            )
        if last - first > timedelta(days=400):
            raise RequestValidationError(
                f"timeframe: {first.isoformat()} .. {last.isoformat()} spans more than 400 days"
            )
        return first, last

    @staticmethod
    def _view_mode(value: object, default: ViewMode) -> ViewMode:
        if value is None:
            return default
        if value == "periodic" or value == "cumulative":
            return value
        raise RequestValidationError(f"view_mode: expected periodic or cumulative, got {value!r}")

    def _plan_prices(self, sub: SubscriptionRecord) -> list[PriceRecord]:
        ids = self._engine.state.plans[sub.plan_id].model.prices
        return [
            self._engine.state.prices[p["id"]] for p in ids if p["id"] in self._engine.state.prices
        ]

    def _plan_metrics(self, sub: SubscriptionRecord) -> list[MetricRecord]:
        seen: dict[str, MetricRecord] = {}
        for price in self._plan_prices(sub):
            metric_id = price.metric_id
            if metric_id is not None and metric_id not in seen:
                seen[metric_id] = self._engine.state.metrics[metric_id]
        return list(seen.values())

    # --- usage ----------------------------------------------------------------------------------

    def fetch_usage(
        self,
        subscription_id: str,
        *,
        timeframe_start: datetime | str | None = None,
        timeframe_end: datetime | str | None = None,
        granularity: str | None = None,
        view_mode: str | None = None,
        billable_metric_id: str | None = None,
        group_by: str | None = None,
        **dimensions: Any,
    ) -> UngroupedUsage | GroupedUsage:
        document = self.usage_document(
            subscription_id,
            timeframe_start=timeframe_start,
            timeframe_end=timeframe_end,
            granularity=granularity,
            view_mode=view_mode,
            billable_metric_id=billable_metric_id,
            group_by=group_by,
            **dimensions,
        )
        if group_by is None:
            return UngroupedUsage.model_validate(document)
        return GroupedUsage.model_validate(document)

    def usage_document(
        self,
        subscription_id: str,
        *,
        timeframe_start: datetime | str | None = None,
        timeframe_end: datetime | str | None = None,
        granularity: str | None = None,
        view_mode: str | None = None,
        billable_metric_id: str | None = None,
        group_by: str | None = None,
        **dimensions: Any,
    ) -> Document:
        """``fetch_usage``'s answer as a :data:`Document` (what the HTTP layer serialises)."""
        unknown = sorted(set(dimensions) - set(_DIMENSION_FILTERS))
        if unknown:
            raise RequestValidationError(
                f"fetch_usage: unknown parameter(s) {', '.join(unknown)}",
                validation_errors=[f"unknown parameter {name!r}" for name in unknown],
            )
        refuse_unsimulated("fetch_usage", dimensions, _DIMENSION_FILTERS)
        with self._engine.transaction() as now:
            sub = self._subscription(subscription_id)
            start, end = self._timeframe(sub, now, timeframe_start, timeframe_end)
            mode = self._view_mode(view_mode, "periodic")
            if granularity not in (None, "day"):
                raise RequestValidationError(f"granularity: expected day, got {granularity!r}")
            if (group_by is None) != (billable_metric_id is None) and group_by is not None:
                raise RequestValidationError(
                    "group_by needs billable_metric_id: grouped usage is for one metric"
                )
            if group_by is not None and (not isinstance(group_by, str) or not group_by):
                raise RequestValidationError(
                    f"group_by: expected a property name, got {group_by!r}"
                )
            metrics = self._plan_metrics(sub)
            if billable_metric_id is not None:
                chosen = self._engine.state.metrics.get(billable_metric_id)
                if chosen is None:
                    raise ResourceNotFound.of("Billable metric", billable_metric_id)
                if chosen not in metrics:
                    raise RequestValidationError(
                        f"billable_metric_id: metric {billable_metric_id} is not billed by"
                        f" subscription {sub.id}'s plan"
                    )
                metrics = [chosen]
            customer = self._engine.customers.get_live(sub.customer_id)
            assert customer is not None  # ``_subscription`` found it live
            windows = (
                _local_days(start, end, customer.model.timezone)
                if granularity == "day"
                else [Window(start, end)]
            )
            events = self.counted_events(sub, start, end)
            times = [event.timestamp for event in events]
            if group_by is None:
                return {
                    "data": [
                        {
                            "billable_metric": {"id": m.id, "name": m.name},
                            "usage": _series(m, events, times, windows, start, mode),
                            "view_mode": mode,
                        }
                        for m in metrics
                    ]
                }
            (metric,) = metrics
            groups: dict[str, list[StoredEvent]] = {}
            for event in events:
                value = event.properties.get(group_by)
                if value is None or isinstance(value, dict | list):
                    continue
                key = _group_text(value)
                groups.setdefault(key, []).append(event)
            entries = []
            for key in sorted(groups):
                members = groups[key]
                member_times = [e.timestamp for e in members]
                entries.append(
                    {
                        "billable_metric": {"id": metric.id, "name": metric.name},
                        "usage": _series(metric, members, member_times, windows, start, mode),
                        "view_mode": mode,
                        "metric_group": {"property_key": group_by, "property_value": key},
                    }
                )
            return {"data": entries, "pagination_metadata": None}

    # --- costs ----------------------------------------------------------------------------------

    def fetch_costs(
        self,
        subscription_id: str,
        *,
        currency: str | None = None,
        timeframe_start: datetime | str | None = None,
        timeframe_end: datetime | str | None = None,
        view_mode: str | None = None,
    ) -> Costs:
        return Costs.model_validate(
            self.costs_document(
                subscription_id,
                currency=currency,
                timeframe_start=timeframe_start,
                timeframe_end=timeframe_end,
                view_mode=view_mode,
            )
        )

    def costs_document(
        self,
        subscription_id: str,
        *,
        currency: str | None = None,
        timeframe_start: datetime | str | None = None,
        timeframe_end: datetime | str | None = None,
        view_mode: str | None = None,
    ) -> Document:
        """``fetch_costs``'s answer as a :data:`Document` (what the HTTP layer serialises)."""
        with self._engine.transaction() as now:
            sub = self._subscription(subscription_id)
            return {
                "data": self._costs(sub, now, currency, timeframe_start, timeframe_end, view_mode)
            }

    def customer_costs(
        self,
        customer_id: str | None = None,
        *,
        external_customer_id: str | None = None,
        currency: str | None = None,
        timeframe_start: datetime | str | None = None,
        timeframe_end: datetime | str | None = None,
        view_mode: str | None = None,
    ) -> Costs:
        """``customers.costs.list`` / ``list_by_external_id``: every subscription's costs merged."""
        return Costs.model_validate(
            self.customer_costs_document(
                customer_id,
                external_customer_id=external_customer_id,
                currency=currency,
                timeframe_start=timeframe_start,
                timeframe_end=timeframe_end,
                view_mode=view_mode,
            )
        )

    def customer_costs_document(
        self,
        customer_id: str | None = None,
        *,
        external_customer_id: str | None = None,
        currency: str | None = None,
        timeframe_start: datetime | str | None = None,
        timeframe_end: datetime | str | None = None,
        view_mode: str | None = None,
    ) -> Document:
        """``customer_costs``'s answer as a :data:`Document`."""
        with self._engine.transaction() as now:
            customers = self._engine.customers
            record = (
                customers.require(customer_id)
                if customer_id is not None
                else customers.require_alias(external_customer_id or "")
            )
            subs = self._engine.subscriptions.of_customer(record.id)
            custom = timeframe_start is not None or timeframe_end is not None
            if not custom:
                active = [s for s in subs if s.status(now) == "active"]
                if not active:
                    started = [s for s in subs if s.schedule.start <= now]
                    active = sorted(started, key=lambda s: s.schedule.start)[-1:]
                subs = active
            merged: dict[tuple[datetime, datetime], Document] = {}
            for sub in subs:
                if custom:
                    first, last = self._timeframe(sub, now, timeframe_start, timeframe_end)
                    if sub.schedule.end is not None and sub.schedule.end <= first:
                        continue
                    if sub.schedule.start >= last:
                        continue
                for entry in self._costs(
                    sub, now, currency, timeframe_start, timeframe_end, view_mode
                ):
                    key = (entry["timeframe_start"], entry["timeframe_end"])
                    existing = merged.get(key)
                    if existing is None:
                        merged[key] = entry
                        continue
                    subtotal = Decimal(existing["subtotal"]) + Decimal(entry["subtotal"])
                    total = Decimal(existing["total"]) + Decimal(entry["total"])
                    merged[key] = {
                        "per_price_costs": [
                            *existing["per_price_costs"],
                            *entry["per_price_costs"],
                        ],
                        "subtotal": str(subtotal),
                        "total": str(total),
                        "timeframe_start": key[0],
                        "timeframe_end": key[1],
                    }
            ordered = sorted(
                merged.values(), key=lambda c: (c["timeframe_end"], c["timeframe_start"])
            )
            return {"data": ordered}

    def _costs(
        self,
        sub: SubscriptionRecord,
        now: datetime,
        currency: object,
        timeframe_start: object,
        timeframe_end: object,
        view_mode: object,
    ) -> list[Document]:
        plan = self._engine.state.plans[sub.plan_id].model
        if currency is not None and currency != plan.currency:
            raise RequestValidationError(
                f"currency: {currency!r} is not the currency of subscription {sub.id}'s plan"
                f" ({plan.currency}); custom pricing units are not simulated"
            )
        start, end = self._timeframe(sub, now, timeframe_start, timeframe_end)
        mode = self._view_mode(view_mode, "cumulative")
        schedule = sub.schedule
        active_start = max(start, schedule.start)
        active_end = end if schedule.end is None else min(end, schedule.end)
        if active_start >= active_end:
            return []
        timezone = self._engine.customers.require(sub.customer_id).model.timezone
        days = _local_days(active_start, active_end, timezone)
        metrics = self._engine.state.metrics
        # per request, once per price: the arithmetic, the metric and the response body
        prices = [
            _Priced(
                record,
                record.id,
                record.model,
                None if record.metric_id is None else metrics[record.metric_id],
                Prices.model(record).model_dump(),
            )
            for record in self._plan_prices(sub)
        ]
        period_of: dict[datetime, Period] = {}
        for day in days:
            period = schedule.period_at(day.start)
            assert period is not None
            period_of[day.start] = period
        first_period = min(p.start for p in period_of.values())
        events = self.counted_events(sub, first_period, active_end)
        times = [event.timestamp for event in events]
        first_ever = schedule.period_at(schedule.start)
        results: list[Document] = []
        previous: dict[str, tuple[Decimal, Decimal]] = {}
        previous_period: datetime | None = None
        running: dict[str, Decimal] = {}
        cells: dict[str, dict[tuple[str, ...], Decimal]] = {}
        folds: dict[str, Running] = {}
        fed: dict[str, int] = {}
        zero = (Decimal(0), Decimal(0))
        periodic = mode == "periodic"
        money = plan.currency
        for day in days:
            period = period_of[day.start]
            if period.start != previous_period:
                previous.clear()
                running.clear()
                cells.clear()
                folds.clear()
                fed.clear()
                previous_period = period.start
            lower = max(period.start, schedule.start)
            costs: list[Document] = []
            subtotal_sum = Decimal(0)
            for price in prices:
                quantity, amount = self._price_cost(
                    price, events, times, lower, day, running, first_ever, period, folds, fed, cells
                )
                subtotal = round_money(amount, money)
                shown_quantity, shown_amount = quantity, subtotal
                if periodic:
                    before = previous.get(price.id, zero)
                    shown_quantity, shown_amount = quantity - before[0], subtotal - before[1]
                previous[price.id] = (quantity, subtotal)
                subtotal_sum += shown_amount
                shown = str(shown_amount)
                costs.append(
                    {
                        "price": price.body,
                        "price_id": price.id,
                        "subtotal": shown,
                        "total": shown,
                        "quantity": float(shown_quantity),
                    }
                )
            text = str(round_money(subtotal_sum, money))
            results.append(
                {
                    "per_price_costs": costs,
                    "subtotal": text,
                    "total": text,
                    "timeframe_start": day.start if periodic else period.start,
                    "timeframe_end": day.end,
                }
            )
        return results

    def _price_cost(
        self,
        price: _Priced,
        events: Sequence[StoredEvent],
        times: Sequence[datetime],
        lower: datetime,
        day: Window,
        running: dict[str, Decimal],
        first_ever: Period | None,
        period: Period,
        folds: dict[str, Running],
        fed: dict[str, int],
        cells: dict[str, dict[tuple[str, ...], Decimal]],
    ) -> tuple[Decimal, Decimal]:
        """The cumulative (quantity, exact amount) of one price from ``lower`` to ``day.end``."""
        arithmetic = price.arithmetic
        metric = price.metric
        if metric is None:
            data = price.record.data
            if data["cadence"] == "one_time" and (
                first_ever is None or period.start != first_ever.start
            ):
                return Decimal(0), Decimal(0)
            quantity = Decimal(repr(data["fixed_price_quantity"]))
            return quantity, price_amount(arithmetic, quantity)
        compiled = metric.compiled
        if arithmetic.model_type == "matrix":
            assert arithmetic.matrix is not None
            dimensions = arithmetic.matrix.dimensions
            if compiled.additive:
                # each cell's running total plus this day's events (cells keep first-seen order)
                first = bisect_left(times, max(lower, day.start))
                chunk = events[first : bisect_left(times, day.end)]
                totals = cells.setdefault(price.id, {})
                for key, members in _cells(chunk, dimensions).items():
                    totals[key] = totals.get(key, Decimal(0)) + _quantity(metric, members)
                groups = dict(totals)
            else:
                chunk = events[bisect_left(times, lower) : bisect_left(times, day.end)]
                grouped = _cells(chunk, dimensions)
                groups = {k: _quantity(metric, v) for k, v in grouped.items()}
            quantity = sum(groups.values(), Decimal(0))
            return quantity, price_amount(arithmetic, quantity, groups)
        if compiled.additive:
            chunk = events[bisect_left(times, max(lower, day.start)) : bisect_left(times, day.end)]
            quantity = running.get(price.id, Decimal(0)) + _quantity(metric, chunk)
            running[price.id] = quantity
        elif (fold := folds.get(price.id)) is not None or (fold := compiled.running()) is not None:
            # COUNT DISTINCT / MAX / MIN: extend the period's running value by this day's events
            if price.id not in folds:
                folds[price.id] = fold
                fed[price.id] = bisect_left(times, lower)
            last = bisect_left(times, day.end)
            fold.add(events[fed[price.id] : last])
            fed[price.id] = last
            quantity = _folded(metric, fold)
        else:
            first, last = bisect_left(times, lower), bisect_left(times, day.end)
            cached = running.get(f"{price.id}\x00span")
            if cached is not None and (first, last) == cached:
                quantity = running[price.id]  # no new events since the previous window
            else:
                quantity = _quantity(metric, events[first:last])
                running[price.id] = quantity
                running[f"{price.id}\x00span"] = (first, last)  # type: ignore[assignment]
        return quantity, price_amount(arithmetic, quantity)


def _series(
    metric: MetricRecord,
    events: Sequence[StoredEvent],
    times: Sequence[datetime],
    windows: Sequence[Window],
    origin: datetime,
    mode: ViewMode,
) -> list[Document]:
    """A metric's usage windows (``UsageWindow`` documents) over time-ordered ``events``.

    ``windows`` are consecutive from ``origin``. Cumulative windows are not re-evaluated from
    ``origin`` each time where the metric allows: an additive one (COUNT / SUM straight over
    events) adds each window's value to the previous total, and a running one (COUNT DISTINCT /
    MAX / MIN) is extended by each window's events, as ``fetch_costs`` does; any other metric is
    evaluated over the whole prefix."""
    series = []
    cumulative = mode == "cumulative"
    compiled = metric.compiled
    additive = cumulative and compiled.additive
    fold = compiled.running() if cumulative and not additive else None
    total = Decimal(0)
    fed = bisect_left(times, origin)
    for window in windows:
        lower = origin if cumulative else window.start
        last = bisect_left(times, window.end)
        if additive:
            total += _quantity(metric, events[fed:last])
            quantity = total
            fed = last
        elif fold is not None:
            fold.add(events[fed:last])
            fed = last
            quantity = _folded(metric, fold)
        else:
            quantity = _quantity(metric, events[bisect_left(times, lower) : last])
        series.append(
            {
                "quantity": float(quantity),
                "timeframe_start": lower,
                "timeframe_end": window.end,
            }
        )
    return series


def _folded(metric: MetricRecord, fold: Running) -> Decimal:
    try:
        return quantity_of(fold.value(), metric.compiled.source)
    except ValueError as exc:
        raise ConstraintViolation(f"billable metric {metric.id} ({metric.name}): {exc}") from None


def _cells(
    events: Sequence[StoredEvent], dimensions: Sequence[str]
) -> dict[tuple[str, ...], list[StoredEvent]]:
    """A matrix price's events by cell (their dimension values), in first-seen order."""
    grouped: dict[tuple[str, ...], list[StoredEvent]] = {}
    for event in events:
        key = tuple(_group_text(event.properties.get(d)) for d in dimensions)
        grouped.setdefault(key, []).append(event)
    return grouped


def _group_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
