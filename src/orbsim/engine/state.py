"""``AccountState``: every piece of engine state of one simulated Orb account, in one object.

The resource services (``customers``, ``plans``, ``subscriptions``, ``events``, ``backfills``) hold
no state of their own: they read and change the ``AccountState`` of their ``Engine``. So a snapshot
is a copy of this object (``copy()``), a restore is a swap, and a reset is a fresh one
(``AccountState.fresh``), as in moto's ``BaseBackend.reset()`` or fakeredis's ``FakeServer``.

Adding state (a new resource) means adding a field here, with a default. ``copy()`` is
``copy.deepcopy``, so it covers the new field as long as its values deep-copy (plain dataclasses,
dicts, lists, datetimes, Decimals, pydantic models do); state files (``orbsim.statefile``) encode a
field of plain data generically from its type annotation. Indexes that can be rebuilt from other
fields are declared with ``metadata=INDEX``: they are copied with the rest, never written to a state
file, and rebuilt by ``reindex()`` after a load.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from orbsim.engine.backfills import BackfillRecord
from orbsim.engine.billing import PlanRecord, SubscriptionRecord
from orbsim.engine.catalog import ItemRecord, MetricRecord, PriceRecord
from orbsim.engine.customers import CustomerRecord
from orbsim.engine.ids import IdGenerator
from orbsim.engine.invoices import InvoiceRecord, InvoiceTimer, start_schedule
from orbsim.engine.quotas import RollingQuota
from orbsim.engine.store import EventStore
from orbsim.engine.webhooks import WebhookState
from orbsim.settings import Settings

DERIVED = "derived"
"""Key of ``dataclasses.field`` metadata marking an index rebuilt by ``AccountState.reindex``."""
INDEX: Mapping[str, Any] = MappingProxyType({DERIVED: True})
"""``field(default_factory=dict, metadata=INDEX)``: an index over other fields, copied with
them but never persisted (``reindex`` rebuilds it)."""


@dataclass(eq=False)
class AccountState:
    """All the data of one account. Field order is the order state files decode them in (a
    field may refer to the records of the fields above it)."""

    settings: Settings
    seed: int | str | None
    ids: IdGenerator
    next_seq: int = 1
    """The sequence number the next created record gets (orders records created at one time)."""
    customers: dict[str, CustomerRecord] = field(default_factory=dict)
    plans: dict[str, PlanRecord] = field(default_factory=dict)
    subscriptions: dict[str, SubscriptionRecord] = field(default_factory=dict)
    backfills: dict[str, BackfillRecord] = field(default_factory=dict)
    backfill_queue: list[BackfillRecord] = field(default_factory=list)
    """Backfills with a clock-driven transition still to come (``Backfills.settle``)."""
    backfills_in_effect: list[BackfillRecord] = field(default_factory=list)
    """Reflected or ``pending_revert`` backfills, in reflection order."""
    reflections: int = 0
    """How many backfills were reflected so far (the next one's ``reflect_seq`` is this + 1)."""
    events: EventStore = field(default_factory=EventStore)
    amend_quota: RollingQuota = field(default_factory=lambda: RollingQuota("amendment"))
    deprecate_quota: RollingQuota = field(default_factory=lambda: RollingQuota("deprecation"))
    items: dict[str, ItemRecord] = field(default_factory=dict)
    metrics: dict[str, MetricRecord] = field(default_factory=dict)
    prices: dict[str, PriceRecord] = field(default_factory=dict)
    """Every price: add-ons (``prices.create``) and plan prices (``plans.create(prices=...)``)."""
    webhooks: WebhookState = field(default_factory=WebhookState)
    """Webhook endpoints, events due later (subscription starts and ends) and the event count;
    ``pending`` holds the current transaction's events and is empty between operations."""
    invoices: dict[str, InvoiceRecord] = field(default_factory=dict)
    invoice_timers: list[InvoiceTimer] = field(default_factory=list)
    """A heap (``heapq``) of the invoice steps still to come (``Invoices.settle``)."""

    customers_by_alias: dict[str, CustomerRecord] = field(default_factory=dict, metadata=INDEX)
    """Live customers by ``external_customer_id``."""
    plans_by_external: dict[str, PlanRecord] = field(default_factory=dict, metadata=INDEX)
    subscriptions_by_customer: dict[str, list[SubscriptionRecord]] = field(
        default_factory=dict, metadata=INDEX
    )
    prices_by_external: dict[str, PriceRecord] = field(default_factory=dict, metadata=INDEX)
    invoices_by_subscription: dict[str, list[InvoiceRecord]] = field(
        default_factory=dict, metadata=INDEX
    )

    @classmethod
    def fresh(cls, settings: Settings, seed: int | str | None = 0) -> AccountState:
        """An empty account (what ``reset`` installs)."""
        return cls(
            settings=settings,
            seed=seed,
            ids=IdGenerator(seed),
            amend_quota=RollingQuota("amendment", settings.amend_limit, settings.quota_window),
            deprecate_quota=RollingQuota(
                "deprecation", settings.deprecate_limit, settings.quota_window
            ),
            webhooks=WebhookState(salt=str(seed)),
        )

    def take_seq(self) -> int:
        seq = self.next_seq
        self.next_seq = seq + 1
        return seq

    def new_id(self, prefix: str = "") -> str:
        return self.ids.new(prefix)

    def copy(self) -> AccountState:
        """A deep copy sharing nothing mutable (immutable values such as compiled filters,
        billing schedules and datetimes may be shared)."""
        return copy.deepcopy(self)

    def reindex(self) -> None:
        """Rebuild the ``derived`` indexes from the records (after a load)."""
        self.customers_by_alias = {}
        for record in self.customers.values():
            if not record.deleted and record.alias is not None:
                if record.alias in self.customers_by_alias:
                    raise ValueError(f"customers: two live customers have alias {record.alias!r}")
                self.customers_by_alias[record.alias] = record
        self.plans_by_external = {
            r.model.external_plan_id: r for r in self.plans.values() if r.model.external_plan_id
        }
        self.subscriptions_by_customer = {}
        for sub in self.subscriptions.values():
            self.subscriptions_by_customer.setdefault(sub.customer_id, []).append(sub)
        self.prices_by_external = {
            str(r.data["external_price_id"]): r
            for r in self.prices.values()
            if r.data.get("external_price_id") is not None
        }
        self.invoices_by_subscription = {}
        for invoice in sorted(self.invoices.values(), key=lambda r: r.seq):
            self.invoices_by_subscription.setdefault(invoice.subscription_id, []).append(invoice)
        # A file written before invoices existed: start the schedules it does not have (the
        # next operation settles them up to the file's clock, each at its moment).
        scheduled = {t.subscription_id for t in self.invoice_timers}
        for sub in sorted(self.subscriptions.values(), key=lambda s: s.seq):
            if sub.id not in scheduled and sub.id not in self.invoices_by_subscription:
                start_schedule(self, sub)

    def __repr__(self) -> str:
        return (
            f"AccountState(customers={len(self.customers)}, events={self.events.count}, "
            f"backfills={len(self.backfills)})"
        )
