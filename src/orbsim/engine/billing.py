"""Plans, subscriptions and their billing periods; which periods are invoiced.

A period ``[start, end)`` is invoiced once ``now >= end + grace_period``. Amend and deprecate may
touch events in the current period of an active subscription, or in the previous one while it is
still inside its grace period.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from orbsim.engine.edges import (
    Inert,
    created_at_filter,
    exactly_one,
    is_empty,
    is_null,
    merge_metadata,
    null_or,
    parse_params,
    refuse_unsimulated,
)
from orbsim.engine.pagination import paginate
from orbsim.engine.periods import BillingSchedule, Cadence, Period
from orbsim.engine.reporting import raises_no_orb_error, reports_errors
from orbsim.engine.timeparse import iso, optional_timestamp
from orbsim.engine.usage import check_scope
from orbsim.errors import (
    ConstraintViolation,
    DuplicateResourceCreation,
    RequestValidationError,
    ResourceNotFound,
)
from orbsim.models import MutatedSubscription, Page, PaginationMetadata, Plan, Subscription
from orbsim.models_billing import Costs, GroupedUsage, UngroupedUsage
from orbsim.params import (
    EditPlanParams,
    EditSubscriptionParams,
    NewPlanParams,
    NewSubscriptionParams,
)

if TYPE_CHECKING:
    from orbsim.engine.core import Engine
    from orbsim.engine.customers import CustomerRecord

MAX_SUBSCRIPTIONS_PER_CUSTOMER = 100
_CADENCE_ORDER = ("monthly", "quarterly", "semi_annual", "annual")
# Subscription settings echoed on the subscription (auto_collection only as false,
# invoicing_threshold only as null: other values are refused as not simulated).
_PASSED_THROUGH = ("net_terms", "auto_collection", "default_invoice_memo", "invoicing_threshold")
_EDITABLE = (*_PASSED_THROUGH, "auto_issuance")
"""What ``subscriptions.update`` may change besides metadata."""
SubscriptionStatus = Literal["active", "ended", "upcoming"]


@dataclass(slots=True)
class PlanRecord:
    model: Plan
    seq: int

    def sort_key(self) -> tuple[int, int]:
        return int(self.model.created_at.timestamp() * 1_000_000), self.seq


@dataclass(slots=True)
class SubscriptionRecord:
    id: str
    customer_id: str
    plan_id: str
    name: str
    created_at: datetime
    schedule: BillingSchedule
    metadata: dict[str, str]
    seq: int
    extra: dict[str, Any] = field(default_factory=dict)
    usage_filter: str | None = None
    """The subscription's ``filter``: a boolean computed property every counted event meets."""
    usage_customer_ids: list[str] | None = None
    """Whose events the subscription bills (default: its own customer's)."""

    def status(self, now: datetime) -> SubscriptionStatus:
        if self.schedule.start > now:
            return "upcoming"
        if self.schedule.end is not None and self.schedule.end <= now:
            return "ended"
        return "active"

    def sort_key(self) -> tuple[int, int]:
        return int(self.created_at.timestamp() * 1_000_000), self.seq


_OMIT: Any = object()
"""Default of the create methods' keyword parameters: not given (unlike an explicit None)."""


_AMOUNTS = "they would change what invoices charge"
_ADJUSTMENTS = f"discounts, minimums and maximums are not simulated: {_AMOUNTS}"
_CHARGES: dict[str, tuple[Inert, str]] = {
    "add_adjustments": (is_empty, _ADJUSTMENTS),
    "remove_adjustments": (is_empty, _ADJUSTMENTS),
    "replace_adjustments": (is_empty, _ADJUSTMENTS),
    "add_prices": (is_empty, f"price changes are not simulated: {_AMOUNTS}"),
    "remove_prices": (is_empty, f"price changes are not simulated: {_AMOUNTS}"),
    "replace_prices": (is_empty, f"price changes are not simulated: {_AMOUNTS}"),
    "price_overrides": (is_empty, f"price overrides are not simulated: {_AMOUNTS}"),
    "coupon_redemption_code": (is_empty, f"coupons are not simulated: {_AMOUNTS}"),
    "per_credit_overage_amount": (is_empty, f"credits are not simulated: {_AMOUNTS}"),
    "credits_overage_rate": (is_empty, f"credits are not simulated: {_AMOUNTS}"),
}
"""Subscription fields that would change what invoices charge (discounts, minimums, maximums,
price changes, coupons, credits): orbsim does not simulate them, so a non-empty value is refused."""


_MARKETPLACE = "billing through a cloud marketplace is not simulated"
_SUBSCRIPTION_SETTINGS: dict[str, tuple[Inert, str]] = {
    "auto_collection": (
        null_or(False),
        "orbsim charges no payment method: invoices are never collected automatically",
    ),
    "invoicing_threshold": (
        is_null,
        "threshold invoicing is not simulated: invoices are issued at the end of each period",
    ),
}
"""Fields ``subscriptions.create`` and ``update`` share that orbsim does not simulate."""
_SUBSCRIPTION_INERT: dict[str, tuple[Inert, str]] = {
    **_CHARGES,
    **_SUBSCRIPTION_SETTINGS,
    "plan_version_number": (null_or(1), "plans have one version, 1"),
    "trial_duration_days": (null_or(0), "trials are not simulated"),
    "initial_phase_order": (is_null, "plan phases are not simulated"),
    "external_marketplace": (is_null, _MARKETPLACE),
    "external_marketplace_reporting_id": (is_null, _MARKETPLACE),
    "aws_region": (is_null, _MARKETPLACE),
}
_PLAN_INERT: dict[str, tuple[Inert, str]] = {
    "adjustments": (is_empty, _ADJUSTMENTS),
    "plan_phases": (is_empty, "plan phases are not simulated"),
    "status": (null_or("active"), "draft plans are not simulated: a plan is active at creation"),
}


def _given(fields: dict[str, Any], **named: Any) -> dict[str, Any]:
    """The request body of a create call: the named parameters given, and every other field."""
    given = {key: value for key, value in named.items() if value is not _OMIT}
    given.update(fields)
    return given


def _as_list(value: str | list[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


@reports_errors
class Plans:
    """``sim.plans``: plans carry the billing cadence of their subscriptions."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def require(self, plan_id: str) -> PlanRecord:
        record = self._engine.state.plans.get(plan_id)
        if record is None:
            raise ResourceNotFound.of("Plan", plan_id)
        return record

    def require_external(self, external_plan_id: str) -> PlanRecord:
        record = self._engine.state.plans_by_external.get(external_plan_id)
        if record is None:
            raise ResourceNotFound.of("Plan", f"external_plan_id={external_plan_id}")
        return record

    def create(
        self,
        *,
        name: str = _OMIT,
        currency: str = _OMIT,
        external_plan_id: str | None = _OMIT,
        billing_cadence: Cadence = _OMIT,
        description: str | None = _OMIT,
        metadata: Mapping[str, str | None] | None = _OMIT,
        net_terms: int | None = _OMIT,
        default_invoice_memo: str | None = _OMIT,
        status: Literal["active", "draft"] = _OMIT,
        prices: builtins.list[Mapping[str, Any]] = _OMIT,
        **fields: Any,
    ) -> Plan:
        """Create a plan: ``name`` required; ``currency`` (USD) and ``billing_cadence``
        (monthly: ``monthly``, ``quarterly``, ``semi_annual``, ``annual``) set its periods; the
        other fields of Orb's ``NewPlan`` are accepted too (``prices`` are not interpreted)."""
        given = _given(
            fields,
            name=name,
            currency=currency,
            external_plan_id=external_plan_id,
            billing_cadence=billing_cadence,
            description=description,
            metadata=metadata,
            net_terms=net_terms,
            default_invoice_memo=default_invoice_memo,
            status=status,
            prices=prices,
        )
        params = parse_params(NewPlanParams, given, "plan")
        refuse_unsimulated("plan", given, _PLAN_INERT)
        with self._engine.transaction() as now:
            state = self._engine.state
            external = params.external_plan_id
            if external is not None and external in state.plans_by_external:
                raise DuplicateResourceCreation(
                    f"external_plan_id {external!r} already belongs to plan "
                    f"{state.plans_by_external[external].model.id}"
                )
            data: dict[str, Any] = {
                "id": self._engine.state.new_id(),
                "created_at": now,
                "name": params.name,
                "currency": params.currency,
                "invoicing_currency": params.currency,
                "external_plan_id": external,
                "billing_cadence": params.billing_cadence,
                "metadata": {k: v for k, v in (params.metadata or {}).items() if v is not None},
            }
            for key in ("description", "net_terms", "default_invoice_memo"):
                value = getattr(params, key)
                if value is not None:
                    data[key] = value
            catalog = self._engine.prices
            records = catalog.build_plan_prices(params.prices, params.currency, now)
            recurring = [r for r in records if r.data["cadence"] != "one_time"]
            if "billing_cadence" not in given and recurring:
                # Orb bills a plan on the shortest cadence among its prices.
                data["billing_cadence"] = min(
                    (r.data["cadence"] for r in recurring), key=_CADENCE_ORDER.index
                )
            mixed = [
                f"prices[{i}]: cadence {r.data['cadence']!r} differs from the plan's billing"
                f" cadence {data['billing_cadence']!r}; plans mixing cadences are not simulated"
                for i, r in enumerate(records)
                if r.data["cadence"] not in ("one_time", data["billing_cadence"])
            ]
            if mixed:
                raise RequestValidationError(
                    "invalid plan: " + "; ".join(mixed), validation_errors=mixed
                )
            for price in records:
                catalog.store(price)
            data["prices"] = [catalog.model(r).model_dump(mode="json") for r in records]
            record = PlanRecord(Plan.model_validate(data), state.take_seq())
            state.plans[record.model.id] = record
            if external is not None:
                state.plans_by_external[external] = record
            return record.model.model_copy(deep=True)

    def fetch(self, plan_id: str) -> Plan:
        with self._engine.transaction():
            return self.require(plan_id).model.model_copy(deep=True)

    def fetch_by_external_id(self, external_plan_id: str) -> Plan:
        with self._engine.transaction():
            return self.require_external(external_plan_id).model.model_copy(deep=True)

    def list(
        self,
        *,
        limit: int = 20,
        cursor: str | None = None,
        status: str | None = None,
        created_at_gte: datetime | str | None = None,
        created_at_gt: datetime | str | None = None,
        created_at_lt: datetime | str | None = None,
        created_at_lte: datetime | str | None = None,
    ) -> Page[Plan]:
        """Plans, newest first, filtered by creation time and ``status`` (every plan is
        active: draft plans are refused and plans are never archived here)."""
        if status not in (None, "active", "archived", "draft"):
            raise RequestValidationError(
                f"status: expected active, archived or draft, got {status!r}"
            )
        created = created_at_filter(
            gte=created_at_gte, gt=created_at_gt, lt=created_at_lt, lte=created_at_lte
        )
        with self._engine.transaction():
            plans = [] if status in ("archived", "draft") else self._engine.state.plans.values()
            page, next_cursor = paginate(
                [r for r in plans if created(r.model.created_at)],
                PlanRecord.sort_key,
                limit,
                cursor,
            )
            return Page[Plan](
                data=[r.model.model_copy(deep=True) for r in page],
                pagination_metadata=PaginationMetadata(
                    has_more=next_cursor is not None, next_cursor=next_cursor
                ),
            )

    def update(self, plan_id: str, /, **fields: Any) -> Plan:
        """Change ``name``, ``external_plan_id``, ``description`` or ``metadata`` (Orb's
        ``plans.update``; a null metadata value removes that key, a null map clears it)."""
        params = parse_params(EditPlanParams, fields, "plan update")
        with self._engine.transaction():
            return self._apply_update(self.require(plan_id), params)

    def update_by_external_id(self, external_plan_id: str, /, **fields: Any) -> Plan:
        params = parse_params(EditPlanParams, fields, "plan update")
        with self._engine.transaction():
            return self._apply_update(self.require_external(external_plan_id), params)

    def _apply_update(self, record: PlanRecord, params: EditPlanParams) -> Plan:
        current = record.model
        given = params.model_fields_set
        changes: dict[str, Any] = {}
        if "name" in given:
            if params.name is None:
                raise RequestValidationError("name: a plan's name cannot be null or empty")
            changes["name"] = params.name
        if "description" in given:
            changes["description"] = params.description or ""
        if "metadata" in given:
            changes["metadata"] = merge_metadata(current.metadata, params.metadata)
        alias = params.external_plan_id
        if "external_plan_id" in given and alias != current.external_plan_id:
            holder = self._engine.state.plans_by_external.get(alias) if alias is not None else None
            if holder is not None:
                raise DuplicateResourceCreation(
                    f"external_plan_id {alias!r} already belongs to plan {holder.model.id}"
                )
            changes["external_plan_id"] = alias
        if changes:
            old_alias = current.external_plan_id
            record.model = current.model_copy(update=changes)
            if "external_plan_id" in changes:
                if old_alias is not None:
                    del self._engine.state.plans_by_external[old_alias]
                if alias is not None:
                    self._engine.state.plans_by_external[alias] = record
        return record.model.model_copy(deep=True)


@reports_errors
class Subscriptions:
    """``sim.subscriptions``: a customer on a plan, with billing periods."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- rules used by the rest of the engine ------------------------------------------------

    @raises_no_orb_error
    def of_customer(self, customer_id: str) -> list[SubscriptionRecord]:
        return self._engine.state.subscriptions_by_customer.get(customer_id, [])

    def first_invoice_time(self, customer_id: str, now: datetime) -> datetime | None:
        """When the customer's first billing period was invoiced, if that happened by ``now``."""
        grace = self._engine.settings.grace_period
        earliest: datetime | None = None
        for sub in self.of_customer(customer_id):
            first = sub.schedule.period_at(sub.schedule.start)
            if first is None:
                continue
            invoiced_at = first.end + grace
            if invoiced_at <= now and (earliest is None or invoiced_at < earliest):
                earliest = invoiced_at
        return earliest

    def check_editable(
        self, customer: CustomerRecord, timestamp: datetime, now: datetime, action: str
    ) -> None:
        """Raise ConstraintViolation unless an event at ``timestamp`` may be amended/deprecated."""
        grace = self._engine.settings.grace_period
        active = [s for s in self.of_customer(customer.id) if s.status(now) == "active"]
        if not active:
            raise ConstraintViolation(
                f"cannot {action} event: customer {customer.id} has no active subscription, so "
                f"the event's billing period cannot be determined"
            )
        reasons: list[str] = []
        for sub in active:
            current = sub.schedule.period_at(now)
            if current is None:  # pragma: no cover - active implies a current period
                continue
            if timestamp in current:
                return
            previous = sub.schedule.previous_period(current)
            if previous is not None and timestamp in previous:
                if now < previous.end + grace:
                    return
                reasons.append(
                    f"it lies in billing period {_interval(previous)} of subscription {sub.id}, "
                    f"which was invoiced at {iso(previous.end + grace)} (end + grace period)"
                )
                continue
            if timestamp < current.start:
                reasons.append(
                    f"it is before the current billing period {_interval(current)} of subscription "
                    f"{sub.id} and not in a previous period still within its grace period"
                )
            else:
                reasons.append(
                    f"it is after the current billing period {_interval(current)} of subscription "
                    f"{sub.id}"
                )
        raise ConstraintViolation(
            f"cannot {action} event at {iso(timestamp)}: the timestamp must lie in the customer's "
            f"current billing period, or in the previous one while within the grace period; "
            + "; ".join(reasons)
        )

    # -- public API ------------------------------------------------------------------------

    def create(
        self,
        *,
        customer_id: str | None = _OMIT,
        external_customer_id: str | None = _OMIT,
        plan_id: str | None = _OMIT,
        external_plan_id: str | None = _OMIT,
        start_date: datetime | str | None = _OMIT,
        end_date: datetime | str | None = _OMIT,
        align_billing_with_subscription_start_date: bool = _OMIT,
        billing_cycle_anchor_configuration: Mapping[str, int | None] | None = _OMIT,
        name: str | None = _OMIT,
        metadata: Mapping[str, str | None] | None = _OMIT,
        net_terms: int | None = _OMIT,
        auto_collection: bool | None = _OMIT,
        default_invoice_memo: str | None = _OMIT,
        invoicing_threshold: str | None = _OMIT,
        **fields: Any,
    ) -> MutatedSubscription:
        """Subscribe a customer (``customer_id`` or ``external_customer_id``) to a plan
        (``plan_id`` or ``external_plan_id``). ``start_date`` defaults to today's midnight in
        the customer's timezone; periods align to the 1st of the month unless
        ``align_billing_with_subscription_start_date`` or
        ``billing_cycle_anchor_configuration={"day": d}`` says otherwise. The other fields of
        Orb's ``NewSubscription`` are accepted too."""
        given = _given(
            fields,
            customer_id=customer_id,
            external_customer_id=external_customer_id,
            plan_id=plan_id,
            external_plan_id=external_plan_id,
            start_date=start_date,
            end_date=end_date,
            align_billing_with_subscription_start_date=align_billing_with_subscription_start_date,
            billing_cycle_anchor_configuration=billing_cycle_anchor_configuration,
            name=name,
            metadata=metadata,
            net_terms=net_terms,
            auto_collection=auto_collection,
            default_invoice_memo=default_invoice_memo,
            invoicing_threshold=invoicing_threshold,
        )
        params = parse_params(NewSubscriptionParams, given, "subscription")
        refuse_unsimulated("subscription", given, _SUBSCRIPTION_INERT)
        with self._engine.transaction() as now:
            customers = self._engine.customers
            which, value = exactly_one(
                "subscription",
                customer_id=params.customer_id,
                external_customer_id=params.external_customer_id,
            )
            customer = (
                customers.require(value)
                if which == "customer_id"
                else customers.require_alias(value)
            )
            pwhich, pvalue = exactly_one(
                "subscription", plan_id=params.plan_id, external_plan_id=params.external_plan_id
            )
            plans = self._engine.plans
            plan = plans.require(pvalue) if pwhich == "plan_id" else plans.require_external(pvalue)
            existing = self.of_customer(customer.id)
            if len(existing) >= MAX_SUBSCRIPTIONS_PER_CUSTOMER:
                raise ConstraintViolation(
                    f"customer {customer.id} already has {len(existing)} subscriptions "
                    f"(limit {MAX_SUBSCRIPTIONS_PER_CUSTOMER})"
                )
            asked = params.currency
            if asked is not None and asked != plan.model.invoicing_currency:
                raise RequestValidationError(
                    f"subscription: currency {asked!r} is not simulated by orbsim (plan "
                    f"{plan.model.id} is priced in {plan.model.invoicing_currency} only; plans "
                    "priced in several currencies are not simulated); omit it or send null",
                    validation_errors=[f"currency: {asked!r} is not simulated by orbsim"],
                )
            currency = customer.model.currency
            if currency is not None and currency != plan.model.invoicing_currency:
                raise ConstraintViolation(
                    f"plan {plan.model.id} invoices in {plan.model.invoicing_currency} but "
                    f"customer {customer.id} is billed in {currency}"
                )
            tz = customer.model.timezone
            start = params.start_date or _local_midnight(now, tz)
            anchor = params.billing_cycle_anchor_configuration
            try:
                schedule = BillingSchedule.for_subscription(
                    start=start,
                    timezone=tz,
                    cadence=plan.model.billing_cadence,
                    end=params.end_date,
                    align_to_start=params.align_billing_with_subscription_start_date,
                    anchor_day=anchor.day if anchor else None,
                    anchor_month=anchor.month if anchor else None,
                )
            except ValueError as exc:
                raise RequestValidationError(f"invalid subscription: {exc}") from None
            usage_filter, usage_customer_ids = check_scope(
                self._engine, customer.id, params.filter, params.usage_customer_ids
            )
            if currency is None:
                customers.set_currency(customer, plan.model.invoicing_currency)
            record = SubscriptionRecord(
                id=self._engine.state.new_id(),
                customer_id=customer.id,
                plan_id=plan.model.id,
                name=params.name or plan.model.name,
                created_at=now,
                schedule=schedule,
                metadata={k: v for k, v in (params.metadata or {}).items() if v is not None},
                seq=self._engine.state.take_seq(),
                extra={
                    key: getattr(params, key)
                    for key in _EDITABLE
                    if getattr(params, key) is not None
                },
                usage_filter=usage_filter,
                usage_customer_ids=usage_customer_ids,
            )
            state = self._engine.state
            state.subscriptions[record.id] = record
            state.subscriptions_by_customer.setdefault(customer.id, []).append(record)
            self._announce(record, now)
            return MutatedSubscription.model_validate(self._model_data(record, now))

    def fetch(self, subscription_id: str) -> Subscription:
        with self._engine.transaction() as now:
            return self._model(self._require(subscription_id), now)

    def fetch_usage(self, subscription_id: str, **query: Any) -> UngroupedUsage | GroupedUsage:
        """Usage per billable metric of the plan (``orbsim.engine.usage``); SDK parameters."""
        return self._engine.usage.fetch_usage(subscription_id, **query)

    def fetch_costs(self, subscription_id: str, **query: Any) -> Costs:
        """Per-price costs by day (``orbsim.engine.usage``); SDK parameters."""
        return self._engine.usage.fetch_costs(subscription_id, **query)

    def list(
        self,
        *,
        limit: int = 20,
        cursor: str | None = None,
        customer_id: str | list[str] | None = None,
        external_customer_id: str | list[str] | None = None,
        plan_id: str | None = None,
        external_plan_id: str | None = None,
        status: str | list[str] | None = None,
        created_at_gte: datetime | str | None = None,
        created_at_gt: datetime | str | None = None,
        created_at_lt: datetime | str | None = None,
        created_at_lte: datetime | str | None = None,
    ) -> Page[Subscription]:
        """Subscriptions of live customers, newest first, with Orb's filters."""
        created = created_at_filter(
            gte=created_at_gte, gt=created_at_gt, lt=created_at_lt, lte=created_at_lte
        )
        customer_ids = _as_list(customer_id)
        aliases = _as_list(external_customer_id)
        statuses = _as_list(status)
        for value in statuses or []:
            if value not in ("active", "ended", "upcoming"):
                raise RequestValidationError(
                    f"status: must be one of active, ended, upcoming; got {value!r}"
                )
        with self._engine.transaction() as now:
            customers = self._engine.customers
            wanted_ids: set[str] | None = None
            if customer_ids is not None or aliases is not None:
                wanted_ids = set(customer_ids or [])
                for alias in aliases or []:
                    holder = customers.holder_of(alias)
                    if holder is not None:
                        wanted_ids.add(holder.id)
            plan_filter = plan_id
            if external_plan_id is not None:
                ext = self._engine.state.plans_by_external.get(external_plan_id)
                plan_filter = ext.model.id if ext is not None else "\0none"

            def keep(sub: SubscriptionRecord) -> bool:
                return (
                    customers.get_live(sub.customer_id) is not None
                    and (wanted_ids is None or sub.customer_id in wanted_ids)
                    and (plan_filter is None or sub.plan_id == plan_filter)
                    and (statuses is None or sub.status(now) in statuses)
                    and created(sub.created_at)
                )

            items = [s for s in self._engine.state.subscriptions.values() if keep(s)]
            page, next_cursor = paginate(items, SubscriptionRecord.sort_key, limit, cursor)
            return Page[Subscription](
                data=[self._model(s, now) for s in page],
                pagination_metadata=PaginationMetadata(
                    has_more=next_cursor is not None, next_cursor=next_cursor
                ),
            )

    # -- webhooks ---------------------------------------------------------------------------

    def _announce(self, record: SubscriptionRecord, now: datetime) -> None:
        """``subscription.created`` now; ``.started`` and ``.ended`` now or when they happen."""
        engine = self._engine
        engine.invoices.track(record)
        engine.emit_webhook("subscription.created", now, partial(self._model, record, now))
        start, end = record.schedule.start, record.schedule.end
        for event_type, at in (("subscription.started", start), ("subscription.ended", end)):
            if at is None:
                continue
            if at <= now:
                engine.emit_webhook(event_type, now, partial(self._model, record, now))
            else:
                engine.state.webhooks.schedule(at, event_type, record.id)

    def settle_webhooks(self, now: datetime) -> None:
        """Emit the subscription starts and ends due by ``now``, each at its own moment."""
        engine = self._engine
        for at, event_type, subscription_id in engine.state.webhooks.due(now):
            record = engine.state.subscriptions.get(subscription_id)
            if record is None or engine.customers.get_live(record.customer_id) is None:
                continue  # deleted with its customer: nothing starts or ends any more
            engine.emit_webhook(event_type, at, partial(self._model, record, at))

    # -- helpers ----------------------------------------------------------------------------

    def _require(self, subscription_id: str) -> SubscriptionRecord:
        record = self._engine.state.subscriptions.get(subscription_id)
        if record is None or self._engine.customers.get_live(record.customer_id) is None:
            raise ResourceNotFound.of("Subscription", subscription_id)
        return record

    def _model_data(self, record: SubscriptionRecord, now: datetime) -> dict[str, Any]:
        state = self._engine.state
        customer = state.customers[record.customer_id].model
        plan = state.plans[record.plan_id].model
        status = record.status(now)
        current = record.schedule.period_at(now) if status == "active" else None
        schedule = record.schedule
        return {
            "id": record.id,
            "customer": customer.model_copy(deep=True),
            "plan": plan.model_copy(deep=True),
            "name": record.name,
            "status": status,
            "start_date": schedule.start,
            "end_date": schedule.end,
            "created_at": record.created_at,
            "current_billing_period_start_date": current.start if current else None,
            "current_billing_period_end_date": current.end if current else None,
            "billing_cycle_day": schedule.cycle_day,
            "billing_cycle_anchor_configuration": {
                "day": schedule.cycle_day,
                "month": schedule.anchor_month,
                "year": None,
            },
            "metadata": dict(record.metadata),
            **record.extra,
        }

    def _model(self, record: SubscriptionRecord, now: datetime) -> Subscription:
        return Subscription.model_validate(self._model_data(record, now))

    def billing_periods(
        self, subscription_id: str, until: datetime | str | None = None
    ) -> builtins.list[Period]:
        """Every billing period of a subscription that starts before ``until``; by default every
        period that has started by now, the current one included."""
        try:
            limit = optional_timestamp(until, "until")
        except ValueError as exc:
            raise RequestValidationError(str(exc)) from None
        with self._engine.transaction() as now:
            record = self._require(subscription_id)
            if limit is None:
                limit = now + timedelta(microseconds=1)
            return list(record.schedule.periods(limit))

    def update(self, subscription_id: str, /, **fields: Any) -> Subscription:
        """Change ``metadata``, ``net_terms``, ``auto_collection``, ``auto_issuance``,
        ``default_invoice_memo`` or ``invoicing_threshold`` (Orb's ``subscriptions.update``;
        metadata merges: a null value removes that key, a null map clears it)."""
        params = parse_params(EditSubscriptionParams, fields, "subscription update")
        refuse_unsimulated("subscription update", fields, _SUBSCRIPTION_SETTINGS)
        with self._engine.transaction() as now:
            record = self._require(subscription_id)
            given = params.model_fields_set
            if "metadata" in given:
                record.metadata = merge_metadata(record.metadata, params.metadata)
            for key in _EDITABLE:
                if key in given:
                    value = getattr(params, key)
                    if value is None:
                        record.extra.pop(key, None)  # back to the default
                    else:
                        record.extra[key] = value
            return self._model(record, now)


def _local_midnight(now: datetime, timezone: str) -> datetime:
    local = now.astimezone(ZoneInfo(timezone))
    return datetime.combine(local.date(), time(0), tzinfo=ZoneInfo(timezone))


def _interval(period: Period) -> str:
    return f"[{iso(period.start)}, {iso(period.end)})"
