"""Invoices: one per invoice date of a subscription, ``draft`` until it issues on the clock.

A subscription's invoice dates are its billing period boundaries. The invoice dated ``d`` closes
the period that ends at ``d`` (its in-arrears charges: usage and fixed fees billed in arrears) and
opens the period that starts at ``d`` (fixed fees billed in advance), as Orb documents; the first
one, dated at the subscription's start, exists only if the plan bills something in advance, and
the last one, dated at the subscription's end, opens nothing.

Lifecycle, settled lazily by every transaction (like backfill transitions), each step at the
simulated moment it was due:

* the draft of the period ``[start, end)`` appears when the period starts (it is the upcoming
  invoice); while a draft, its lines are recomputed from the billable view at every read, so a
  backfill or an amendment changes it;
* it becomes eligible for issuance at its invoice date plus the grace period, or at its invoice
  date if every line is a fixed fee ("fixed-only invoices are not delayed");
* then it is ``issued`` and frozen (lines, amounts, dates), unless manual issuance is in force
  (``Settings.auto_issue_invoices`` or the customer's ``auto_issuance``): then it waits for
  ``invoices.issue``; ``invoice.issued`` is emitted at the moment it issues;
* ``void`` (issued only) and ``mark_paid`` (issued only) follow; paid and void are final.
"""

from __future__ import annotations

import builtins
import calendar
import hashlib
import heapq
import re
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from orbsim.engine.edges import Inert, null_or, refuse_unsimulated
from orbsim.engine.invoice_lines import Line, billed_prices, compute_lines, has_advance
from orbsim.engine.pagination import paginate
from orbsim.engine.periods import Period
from orbsim.engine.prices import PriceModel, round_money
from orbsim.engine.reporting import reports_errors
from orbsim.engine.timeparse import iso, optional_timestamp
from orbsim.engine.webhooks import ResourceFields
from orbsim.errors import ConstraintViolation, RequestValidationError, ResourceNotFound
from orbsim.models import CustomerMinified, Page, PaginationMetadata
from orbsim.models_invoices import (
    Invoice,
    InvoiceStatus,
    SubscriptionMinified,
    UpcomingInvoice,
)

if TYPE_CHECKING:
    from orbsim.engine.billing import SubscriptionRecord
    from orbsim.engine.core import Engine
    from orbsim.engine.state import AccountState

_UNSIMULATED_LIST_FILTERS: dict[str, tuple[Inert, str]] = {
    "date_type": (
        null_or("invoice_date"),
        "the date filters apply to invoice_date, Orb's default; what due_date changes is"
        " not documented",
    ),
}
"""``invoices.list`` filters orbsim refuses unless null."""

__all__ = ["InvoiceRecord", "InvoiceTimer", "Invoices", "start_schedule"]

TimerKind = Literal["open", "eligible"]
_STATUSES: frozenset[str] = frozenset({"draft", "issued", "paid", "synced", "void"})
_DEFAULT_STATUSES = ("issued", "paid", "synced")
"""What ``invoices.list`` returns without a ``status`` filter (the SDK's docstring)."""


@dataclass(order=True, slots=True)
class InvoiceTimer:
    """A clock-driven step of a subscription's invoices: ``open`` creates the draft of the period
    starting at ``at``; ``eligible`` issues (or marks eligible) the draft ``invoice_id``."""

    at: datetime
    seq: int
    kind: TimerKind = field(compare=False)
    subscription_id: str = field(compare=False)
    invoice_id: str | None = field(default=None, compare=False)


@dataclass(slots=True)
class InvoiceRecord:
    id: str
    number: str
    subscription_id: str
    customer_id: str
    currency: str
    invoice_date: datetime
    created_at: datetime
    seq: int
    arrears_start: datetime | None
    """The period this invoice closes (in-arrears charges), if any."""
    advance_start: datetime | None
    """The period this invoice opens (in-advance fixed fees), if any."""
    advance_end: datetime | None
    eligible_at: datetime | None = None
    """When the draft is (or became) eligible for issuance: its invoice date, plus the grace
    period if it bills usage (or nothing at all)."""
    status: InvoiceStatus = "draft"
    issued_at: datetime | None = None
    voided_at: datetime | None = None
    paid_at: datetime | None = None
    payment_received_at: datetime | None = None
    payment_external_id: str | None = None
    payment_notes: str | None = None
    due_date: datetime | None = None
    """Set at issuance: the invoice date + the subscription's ``net_terms`` days."""
    memo: str | None = None
    """Set at issuance: the subscription's ``default_invoice_memo``."""
    frozen: list[dict[str, Any]] | None = None
    """The line items as issued (JSON data); ``None`` while a draft (computed at read)."""

    def sort_key(self) -> tuple[int, int]:
        return int(self.invoice_date.timestamp() * 1_000_000), self.seq


_WINDOW = re.compile(r"([1-9][0-9]{0,3})([dm])")


def _due_date_window(value: object) -> Callable[[date], date] | None:
    """``due_date_window`` (``7d``, ``2m``): today -> the first due date it admits (the last is
    today). Months go back by calendar month, the day clamped to the month's length."""
    if value is None:
        return None
    found = _WINDOW.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise RequestValidationError(
            f"due_date_window: expected a number of days or months such as '7d' or '2m',"
            f" got {value!r}"
        )
    count, unit = int(found.group(1)), found.group(2)
    if unit == "d":
        return lambda today: today - timedelta(days=count)

    def months_back(today: date) -> date:
        index = today.year * 12 + today.month - 1 - count
        year, month = divmod(index, 12)
        day = min(today.day, calendar.monthrange(year, month + 1)[1])
        return date(year, month + 1, day)

    return months_back


def _day(value: object, field_name: str) -> datetime | None:
    """A date filter or ``payment_received_date`` (``YYYY-MM-DD`` or a timestamp), as UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    if isinstance(value, str):
        try:
            return datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
        except ValueError:
            pass
    try:
        return optional_timestamp(value, field_name)
    except ValueError:
        raise RequestValidationError(
            f"{field_name}: expected a date (YYYY-MM-DD), got {value!r}"
        ) from None


def _decimal(value: object, field_name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise RequestValidationError(
            f"{field_name}: expected a decimal amount, got {value!r}"
        ) from None


_ALPHABET = string.ascii_letters + string.digits


def _invoice_id(state: AccountState, sub: SubscriptionRecord, invoice_date: datetime) -> str:
    """A deterministic id from the seed, the subscription and the invoice date: invoices take
    nothing from the account's id generator, so ids of other resources do not depend on how
    far the clock has settled invoices (and a state file written before invoices existed
    gets the same invoices)."""
    digest = hashlib.sha256(f"{state.seed}:{sub.id}:{invoice_date.isoformat()}".encode()).digest()
    return "inv_" + "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:16])


def _timer(
    at: datetime, kind: TimerKind, sub: SubscriptionRecord, invoice_id: str | None = None
) -> InvoiceTimer:
    return InvoiceTimer(at, sub.seq * 2 + (kind == "open"), kind, sub.id, invoice_id)


def new_record(
    state: AccountState,
    sub: SubscriptionRecord,
    invoice_date: datetime,
    closes: Period | None,
    opens: Period | None,
    at: datetime,
) -> InvoiceRecord:
    """Add the draft dated ``invoice_date`` (created at ``at``) to the state."""
    count = len(state.invoices) + 1
    record = InvoiceRecord(
        id=_invoice_id(state, sub, invoice_date),
        number=f"ORBSIM-{count:05d}",
        subscription_id=sub.id,
        customer_id=sub.customer_id,
        currency=state.plans[sub.plan_id].model.currency,
        invoice_date=invoice_date,
        created_at=max(at, sub.created_at),
        seq=count,
        arrears_start=None if closes is None else closes.start,
        advance_start=None if opens is None else opens.start,
        advance_end=None if opens is None else opens.end,
    )
    state.invoices[record.id] = record
    state.invoices_by_subscription.setdefault(sub.id, []).append(record)
    return record


def start_schedule(state: AccountState, sub: SubscriptionRecord) -> None:
    """Start a subscription's invoices: the in-advance invoice at its start (if the plan bills
    in advance) and the opening of its first period. Called when it is created, and after
    loading a state file written before invoices existed."""
    schedule = sub.schedule
    first = schedule.period_at(schedule.start)
    if first is None:  # pragma: no cover - a schedule always has a first period
        return
    timers = state.invoice_timers
    if has_advance(state, sub):
        record = new_record(state, sub, schedule.start, None, first, schedule.start)
        record.eligible_at = schedule.start  # in-advance fixed fees only: no grace
        heapq.heappush(timers, _timer(schedule.start, "eligible", sub, record.id))
    heapq.heappush(timers, _timer(first.start, "open", sub))


@reports_errors
class Invoices:
    """``sim.invoices``: the invoices of every subscription, on the simulator's clock."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._price_cache: dict[str, tuple[PriceModel, dict[str, Any]]] | None = None

    # -- used by the rest of the engine (inside a transaction) -------------------------------

    def track(self, sub: SubscriptionRecord) -> None:
        """Start the invoice schedule of a new subscription (``subscriptions.create``)."""
        start_schedule(self._engine.state, sub)

    def settle(self, now: datetime) -> None:
        """Apply every invoice step due by ``now``, in time order, each at its due moment
        (backfill transitions due by then are applied first, so an issued invoice sees the
        billable view of its moment)."""
        engine = self._engine
        timers = engine.state.invoice_timers
        backfills = engine.events.backfills
        self._price_cache = {}
        try:
            self._settle(now, timers, backfills)
        finally:
            self._price_cache = None

    def _settle(self, now: datetime, timers: builtins.list[InvoiceTimer], backfills: Any) -> None:
        engine = self._engine
        while timers and timers[0].at <= now:
            timer = heapq.heappop(timers)
            sub = engine.state.subscriptions.get(timer.subscription_id)
            if sub is None or engine.customers.get_live(sub.customer_id) is None:
                continue  # deleted with its customer: nothing more happens
            # A backdated subscription's past steps happen when it is created, not before.
            moment = max(timer.at, sub.created_at)
            backfills.settle(moment)
            if timer.kind == "open":
                self._open(sub, timer.at)
            elif timer.invoice_id is not None:
                record = engine.state.invoices.get(timer.invoice_id)
                if record is not None and record.status == "draft":
                    self._eligible(sub, record, moment)

    def issued_for_customer(self, customer_id: str) -> InvoiceRecord | None:
        """The customer's first invoice that was issued (whatever its status now), if any."""
        found = [
            r
            for r in self._engine.state.invoices.values()
            if r.customer_id == customer_id and r.issued_at is not None
        ]
        return min(found, key=lambda r: (r.issued_at, r.seq)) if found else None

    # -- public API --------------------------------------------------------------------------

    def fetch_upcoming(
        self, *, subscription_id: str, include_zero_quantity_line_items: bool | None = None
    ) -> UpcomingInvoice:
        """The draft of the current billing period, computed from the billable view now."""
        with self._engine.transaction() as now:
            sub = self._subscription(subscription_id)
            status = sub.status(now)
            if status != "active":
                raise ConstraintViolation(
                    f"subscription {sub.id} is {status}: only an active subscription has an "
                    f"upcoming invoice"
                )
            period = sub.schedule.period_at(now)
            assert period is not None
            record = self._draft_closing(sub, period.end)
            data = self._data(record, sub, now, include_zero_quantity_line_items)
            data["target_date"] = data.pop("invoice_date")
            return UpcomingInvoice.model_validate(data)

    def fetch(
        self, invoice_id: str, *, include_zero_quantity_line_items: bool | None = None
    ) -> Invoice:
        with self._engine.transaction() as now:
            record = self._require(invoice_id)
            return self._model(record, now, include_zero_quantity_line_items)

    def list(
        self,
        *,
        limit: int = 20,
        cursor: str | None = None,
        customer_id: str | None = None,
        external_customer_id: str | None = None,
        subscription_id: str | None = None,
        status: str | builtins.list[str] | None = None,
        invoice_date_gt: datetime | str | None = None,
        invoice_date_gte: datetime | str | None = None,
        invoice_date_lt: datetime | str | None = None,
        invoice_date_lte: datetime | str | None = None,
        due_date: date | str | None = None,
        due_date_gt: date | str | None = None,
        due_date_lt: date | str | None = None,
        amount: str | None = None,
        amount_gt: str | None = None,
        amount_lt: str | None = None,
        is_recurring: bool | None = None,
        include_zero_quantity_line_items: bool | None = None,
        date_type: str | None = None,
        due_date_window: str | None = None,
    ) -> Page[Invoice]:
        """Invoices, newest invoice date first; by default only issued, paid and synced ones."""
        refuse_unsimulated("invoices.list", {"date_type": date_type}, _UNSIMULATED_LIST_FILTERS)
        window = _due_date_window(due_date_window)
        statuses = [status] if isinstance(status, str) else list(status or _DEFAULT_STATUSES)
        unknown = [s for s in statuses if s not in _STATUSES]
        if unknown:
            raise RequestValidationError(
                f"status: expected draft, issued, paid, synced or void, got {unknown!r}"
            )
        try:
            bounds = [
                (name, optional_timestamp(value, name))
                for name, value in (
                    ("invoice_date_gt", invoice_date_gt),
                    ("invoice_date_gte", invoice_date_gte),
                    ("invoice_date_lt", invoice_date_lt),
                    ("invoice_date_lte", invoice_date_lte),
                )
            ]
        except ValueError as exc:
            raise RequestValidationError(str(exc)) from None
        due = _day(due_date, "due_date")
        due_gt = _day(due_date_gt, "due_date_gt")
        due_lt = _day(due_date_lt, "due_date_lt")
        amounts = (
            _decimal(amount, "amount"),
            _decimal(amount_gt, "amount_gt"),
            _decimal(amount_lt, "amount_lt"),
        )
        with self._engine.transaction() as now:
            customers = self._engine.customers
            owner: str | None = None
            if customer_id is not None:
                owner = customers.require(customer_id).id
            if external_customer_id is not None:
                alias_owner = customers.require_alias(external_customer_id).id
                if owner is not None and owner != alias_owner:
                    return self._page([], None, now, include_zero_quantity_line_items)
                owner = alias_owner
            if subscription_id is not None:
                self._subscription(subscription_id)
            wanted = set(statuses)

            def keep(record: InvoiceRecord) -> bool:
                if record.status not in wanted:
                    return False
                if owner is not None and record.customer_id != owner:
                    return False
                if subscription_id is not None and record.subscription_id != subscription_id:
                    return False
                if customers.get_live(record.customer_id) is None:
                    return False
                day = record.invoice_date
                for name, bound in bounds:
                    if bound is None:
                        continue
                    if name.endswith("_gt") and not day > bound:
                        return False
                    if name.endswith("_gte") and not day >= bound:
                        return False
                    if name.endswith("_lt") and not day < bound:
                        return False
                    if name.endswith("_lte") and not day <= bound:
                        return False
                # every simulated invoice comes from a subscription: it is recurring
                return is_recurring is not False

            records = [r for r in self._engine.state.invoices.values() if keep(r)]
            due_since = None if window is None else window(now.date())
            if (
                due is not None
                or due_gt is not None
                or due_lt is not None
                or due_since is not None
                or any(a is not None for a in amounts)
            ):
                records = [
                    r
                    for r in records
                    if self._matches_values(r, now, due, due_gt, due_lt, amounts, due_since)
                ]
            page, next_cursor = paginate(records, InvoiceRecord.sort_key, limit, cursor)
            return self._page(list(page), next_cursor, now, include_zero_quantity_line_items)

    def issue(self, invoice_id: str, *, synchronous: bool | None = None) -> Invoice:
        """Issue a draft awaiting manual issuance (``will_auto_issue`` false) once eligible."""
        if synchronous is not None and not isinstance(synchronous, bool):
            raise RequestValidationError(f"synchronous: expected a boolean, got {synchronous!r}")
        with self._engine.transaction() as now:
            record = self._require(invoice_id)
            if record.status != "draft":
                raise ConstraintViolation(
                    f"invoice {record.id} cannot be issued: its status is {record.status}; "
                    f"only a draft invoice can be issued"
                )
            sub = self._engine.state.subscriptions[record.subscription_id]
            when = record.eligible_at
            if when is None or when > now:
                when = when or record.invoice_date
                raise ConstraintViolation(
                    f"invoice {record.id} cannot be issued yet: it is a draft that becomes "
                    f"eligible for issuance at {iso(when)} (invoice date + grace period)"
                )
            self._issue(sub, record, now)
            return self._model(record, now, None)

    def void(self, invoice_id: str) -> Invoice:
        """Void an issued invoice (paid and draft invoices cannot be voided)."""
        with self._engine.transaction() as now:
            record = self._require_issued(invoice_id, "voided")
            record.status = "void"
            record.voided_at = now
            return self._model(record, now, None)

    def mark_paid(
        self,
        invoice_id: str,
        *,
        payment_received_date: date | str,
        external_id: str | None = None,
        notes: str | None = None,
    ) -> Invoice:
        """Mark an issued invoice as paid (a draft or void one cannot be)."""
        received = _day(payment_received_date, "payment_received_date")
        if received is None:
            raise RequestValidationError("payment_received_date is required")
        for name, value in (("external_id", external_id), ("notes", notes)):
            if value is not None and not isinstance(value, str):
                raise RequestValidationError(f"{name}: expected a string, got {value!r}")
        with self._engine.transaction() as now:
            record = self._require_issued(invoice_id, "marked as paid")
            record.status = "paid"
            record.paid_at = now
            record.payment_received_at = received
            record.payment_external_id = external_id
            record.payment_notes = notes
            return self._model(record, now, None)

    # -- lifecycle ---------------------------------------------------------------------------

    def _open(self, sub: SubscriptionRecord, at: datetime) -> None:
        """The period starting at ``at`` began: its draft (dated at its end) appears."""
        schedule = sub.schedule
        period = schedule.period_at(at)
        if period is None:  # pragma: no cover - timers are only set for periods that exist
            return
        state = self._engine.state
        following = schedule.next_period(period)
        opens = following if following is not None and has_advance(state, sub) else None
        record = new_record(state, sub, period.end, period, opens, at)
        record.eligible_at = self._eligible_time(sub, record)
        timers = state.invoice_timers
        heapq.heappush(timers, _timer(record.eligible_at, "eligible", sub, record.id))
        if following is not None:
            heapq.heappush(timers, _timer(following.start, "open", sub))

    def _draft_closing(self, sub: SubscriptionRecord, end: datetime) -> InvoiceRecord:
        for record in reversed(self._engine.state.invoices_by_subscription.get(sub.id, [])):
            if (
                record.subscription_id == sub.id
                and record.invoice_date == end
                and (record.arrears_start is not None)
            ):
                return record
        raise AssertionError(f"no invoice closes {iso(end)} for {sub.id}")  # pragma: no cover

    def _eligible_time(self, sub: SubscriptionRecord, record: InvoiceRecord) -> datetime:
        closes, opens = self._windows(record)
        billed = billed_prices(self._engine.state, sub, closes, opens)
        if billed and all(price.metric_id is None for price, _ in billed):
            return record.invoice_date  # fixed fees only: no grace
        if record.arrears_start is None:
            return record.invoice_date  # opens a period only: in-advance fixed fees
        return record.invoice_date + self._engine.settings.grace_period

    def _auto_issue(self, sub: SubscriptionRecord) -> bool:
        """The subscription's ``auto_issuance``, else the customer's, else the account's."""
        own = sub.extra.get("auto_issuance")
        if isinstance(own, bool):
            return own
        customer = self._engine.state.customers[sub.customer_id].model
        if customer.auto_issuance is not None:
            return customer.auto_issuance
        return self._engine.settings.auto_issue_invoices

    def _eligible(self, sub: SubscriptionRecord, record: InvoiceRecord, at: datetime) -> None:
        record.eligible_at = at
        if self._auto_issue(sub):
            self._issue(sub, record, at)

    def _terms(self, sub: SubscriptionRecord, key: str) -> Any:
        """The subscription's ``net_terms`` or ``default_invoice_memo``, else its plan's (the SDK:
        "If not provided, this defaults to the value specified in the plan")."""
        own = sub.extra.get(key)
        if own is not None:
            return own
        return getattr(self._engine.state.plans[sub.plan_id].model, key, None)

    def _issue(self, sub: SubscriptionRecord, record: InvoiceRecord, at: datetime) -> None:
        record.frozen = self._rendered(sub, record)
        net_terms = self._terms(sub, "net_terms")
        record.due_date = record.invoice_date + timedelta(days=int(net_terms or 0))
        memo = self._terms(sub, "default_invoice_memo")
        record.memo = memo if isinstance(memo, str) else None
        record.status = "issued"
        record.issued_at = at
        self._engine.emit_webhook(
            "invoice.issued",
            at,
            partial(self._webhook_fields, record, at),
            properties={"automatically_marked_as_paid": False},
        )

    # -- lines -------------------------------------------------------------------------------

    @staticmethod
    def _windows(
        record: InvoiceRecord,
    ) -> tuple[tuple[datetime, datetime] | None, tuple[datetime, datetime] | None]:
        closes = (
            None if record.arrears_start is None else (record.arrears_start, record.invoice_date)
        )
        opens = (
            None
            if record.advance_start is None or record.advance_end is None
            else (record.advance_start, record.advance_end)
        )
        return closes, opens

    def _lines(self, sub: SubscriptionRecord, record: InvoiceRecord) -> builtins.list[Line]:
        """The charges of an invoice from the plan's prices and the billable view, now."""
        closes, opens = self._windows(record)
        return compute_lines(self._engine, sub, closes, opens, self._price_cache)

    def _rendered(
        self, sub: SubscriptionRecord, record: InvoiceRecord
    ) -> builtins.list[dict[str, Any]]:
        """The line items as the SDK's ``LineItem`` data (what an issued invoice keeps)."""
        out: builtins.list[dict[str, Any]] = []
        for index, line in enumerate(self._lines(sub, record)):
            amount = str(round_money(line.amount, record.currency))
            out.append(
                {
                    "id": f"{record.id}_li{index + 1}",
                    "adjusted_subtotal": amount,
                    "amount": amount,
                    "end_date": line.end.isoformat(),
                    "name": line.name,
                    "price": line.price,
                    "quantity": float(line.quantity),
                    "start_date": line.start.isoformat(),
                    "sub_line_items": line.sub_line_items,
                    "subtotal": amount,
                    "usage_customer_ids": sub.usage_customer_ids if line.usage else None,
                }
            )
        return out

    # -- rendering ---------------------------------------------------------------------------

    def _data(
        self,
        record: InvoiceRecord,
        sub: SubscriptionRecord,
        now: datetime,
        include_zero: bool | None,
    ) -> dict[str, Any]:
        state = self._engine.state
        items = record.frozen if record.frozen is not None else self._rendered(sub, record)
        subtotal = sum((Decimal(i["subtotal"]) for i in items), Decimal(0))
        shown = items
        if include_zero is False:
            shown = [i for i in items if i["quantity"] != 0]
        customer = state.customers[record.customer_id].model
        text = str(round_money(subtotal, record.currency))
        draft = record.status == "draft"
        memo = (
            record.memo if record.frozen is not None else self._terms(sub, "default_invoice_memo")
        )
        return {
            "id": record.id,
            "amount_due": text,
            "created_at": record.created_at,
            "currency": record.currency,
            "customer": CustomerMinified(
                id=customer.id, external_customer_id=customer.external_customer_id
            ),
            "due_date": record.due_date,
            "eligible_to_issue_at": record.eligible_at if draft else None,
            "hidden_line_item_count": len(items) - len(shown),
            "invoice_date": record.invoice_date,
            "invoice_number": record.number,
            "issued_at": record.issued_at,
            "line_items": shown,
            "memo": memo,
            "paid_at": record.paid_at,
            "payment_received_at": record.payment_received_at,
            "status": record.status,
            "subscription": SubscriptionMinified(id=sub.id),
            "subtotal": text,
            "total": text,
            "voided_at": record.voided_at,
            "will_auto_issue": draft and self._auto_issue(sub),
        }

    def _model(self, record: InvoiceRecord, now: datetime, include_zero: bool | None) -> Invoice:
        sub = self._engine.state.subscriptions[record.subscription_id]
        return Invoice.model_validate(self._data(record, sub, now, include_zero))

    def _webhook_fields(self, record: InvoiceRecord, now: datetime) -> ResourceFields:
        """The invoice for a webhook: its fields now, validated when the payload is rendered (an
        issued invoice's lines are frozen, and ``_data`` builds a fresh dict around them)."""
        sub = self._engine.state.subscriptions[record.subscription_id]
        return ResourceFields(Invoice, self._data(record, sub, now, None))

    def _page(
        self,
        records: Sequence[InvoiceRecord],
        next_cursor: str | None,
        now: datetime,
        include_zero: bool | None,
    ) -> Page[Invoice]:
        return Page[Invoice](
            data=[self._model(r, now, include_zero) for r in records],
            pagination_metadata=PaginationMetadata(
                has_more=next_cursor is not None, next_cursor=next_cursor
            ),
        )

    def _matches_values(
        self,
        record: InvoiceRecord,
        now: datetime,
        due: datetime | None,
        due_gt: datetime | None,
        due_lt: datetime | None,
        amounts: Iterable[Decimal | None],
        due_since: date | None = None,
    ) -> bool:
        model = self._model(record, now, None)
        if due is not None or due_gt is not None or due_lt is not None or due_since is not None:
            if model.due_date is None:
                return False
            if due_since is not None and not due_since <= model.due_date.date() <= now.date():
                return False
            day = datetime.combine(model.due_date.date(), time(0), tzinfo=UTC)
            if due is not None and day != due:
                return False
            if due_gt is not None and not day > due_gt:
                return False
            if due_lt is not None and not day < due_lt:
                return False
        exact, above, below = amounts
        total = Decimal(model.amount_due)
        if exact is not None and total != exact:
            return False
        if above is not None and not total > above:
            return False
        return below is None or total < below

    # -- lookups -----------------------------------------------------------------------------

    def _require(self, invoice_id: str) -> InvoiceRecord:
        record = self._engine.state.invoices.get(invoice_id)
        if record is None or self._engine.customers.get_live(record.customer_id) is None:
            raise ResourceNotFound.of("Invoice", invoice_id)
        return record

    def _require_issued(self, invoice_id: str, action: str) -> InvoiceRecord:
        """The invoice, if it is issued (or synced); else ConstraintViolation naming its status."""
        record = self._require(invoice_id)
        if record.status not in ("issued", "synced"):
            raise ConstraintViolation(
                f"invoice {record.id} cannot be {action}: its status is {record.status}; "
                f"only an issued invoice can be {action}"
            )
        return record

    def _subscription(self, subscription_id: str) -> SubscriptionRecord:
        record = self._engine.state.subscriptions.get(subscription_id)
        if record is None or self._engine.customers.get_live(record.customer_id) is None:
            raise ResourceNotFound.of("Subscription", subscription_id)
        return record
