"""``OrbStateMachine``: a hypothesis state machine that drives a simulator through random histories.

Each run starts a fresh ``OrbSim`` on a ``ManualClock`` and performs random steps — create and
delete customers (aliases pass to new holders), ingest batches (with duplicates, re-sent keys and
the odd invalid event), amend and deprecate events, create / fill / close / revert backfills
(including corrections of earlier corrections), move the clock across billing-period and
grace-period edges. Alongside, the machine keeps a *reference model*: plain dicts of what should
count, updated by the few rules of design.md and computed without ``orbsim.engine``. After every
step it checks that

* nothing was ever deleted: every ingested key still has its versions, and counts never shrink;
* ``sim.billable_events()`` (account-wide and per customer), the hourly volume and event search
  (which events show, and which show ``deprecated``) agree with the reference's view;
* every backfill's status, ``events_ingested``, ``close_time`` and ``reverted_at`` follow the
  reference's own status machine.

Every step predicts its outcome first. A refusal must be the predicted, documented error (e.g.
``ConstraintViolation`` for an amendment outside the billing window, ``TooManyRequests`` over the
quota, ``ResourceConflict`` for overlapping backfills), and the simulator must be unchanged by it.

Run it in your suite::

    from hypothesis import settings
    from orbsim.testing import OrbStateMachine

    TestOrb = OrbStateMachine.TestCase
    TestOrb.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)

Subclass it to put your own integration code into the random histories: add ``@rule`` methods that
call your code against ``self.sim`` (or ``self.sim.client()``), tell the reference what your code
sent with ``record_ingested`` (or send through ``self.ingest``), and add ``@invariant`` methods
comparing what your code reports with ``self.expected_billable()``::

    from hypothesis import strategies as st
    from hypothesis.stateful import invariant, precondition, rule

    def usage_report(sim, customer_id):          # the code under test
        return len(sim.billable_events(customer_id=customer_id))

    class ReportMachine(OrbStateMachine):
        @precondition(lambda self: self.customers)
        @rule(data=st.data())
        def our_exporter_sends_a_call(self, data):
            customer = data.draw(st.sampled_from(self.customers))
            event = {"idempotency_key": f"call-{self.step}", "event_name": "api_call",
                     "customer_id": customer.id, "timestamp": self.now().isoformat(),
                     "properties": {}}
            self.sim.events.ingest(events=[event])     # what the exporter does
            self.record_ingested([event])

        @invariant()
        def report_matches(self):
            for customer in self.customers:
                expected = len(self.expected_billable(customer.id))
                assert usage_report(self.sim, customer.id) == expected

    TestReport = ReportMachine.TestCase

Class attributes ``start``, ``sim_settings``, ``aliases``, ``event_keys`` and ``filters`` tune the
histories; override ``make_sim`` to build the simulator differently.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from orbsim import strategies as ost
from orbsim.clock import ManualClock
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
from orbsim.sim import OrbSim

__all__ = ["DOCUMENTED_REFUSALS", "OrbStateMachine", "RefBackfill", "RefCustomer", "RefEvent"]

T = TypeVar("T")
Properties = dict[str, Any]
Predicate = Callable[[Properties], bool]

DOCUMENTED_REFUSALS: dict[str, tuple[type[OrbError], ...]] = {
    "create customer": (DuplicateResourceCreation, RequestValidationError),
    "ingest": (RequestValidationError, ConstraintViolation, ResourceNotFound),
    "amend": (RequestValidationError, ConstraintViolation, ResourceNotFound, TooManyRequests),
    "deprecate": (ConstraintViolation, ResourceNotFound, TooManyRequests),
    "create backfill": (RequestValidationError, ResourceNotFound, ResourceConflict),
    "close backfill": (ConstraintViolation, ResourceNotFound),
    "revert backfill": (ResourceNotFound,),
    "delete customer": (ConstraintViolation, ResourceNotFound),
}
"""The errors design.md documents for each operation; anything else fails the machine."""

_EFFECTIVE = ("reflected", "pending_revert")
_SHAPE_RULES = tuple(r for r in ost.INVALID_EVENT_RULES if r != "non_finite_property")
_KEYLESS_RULES = ("missing_idempotency_key", "empty_idempotency_key")


def _region_is(value: str) -> Predicate:
    return lambda props: type(props.get("region")) is str and props["region"] == value


@dataclass(eq=False)
class RefCustomer:
    """A customer as the reference sees it."""

    id: str
    alias: str | None
    subscription_start: datetime | None
    """Start of its monthly subscription (None: not subscribed)."""

    @property
    def subscribed(self) -> bool:
        return self.subscription_start is not None


@dataclass(eq=False)
class RefBackfill:
    """A backfill and its own status machine, kept by the reference."""

    id: str
    start: datetime
    end: datetime
    scope: str | None
    replace: bool
    matches: Predicate | None
    filter_text: str | None
    seq: int
    close_time: datetime | None
    status: str = "pending"
    closed_at: datetime | None = None
    revert_requested_at: datetime | None = None
    reverted_at: datetime | None = None
    reflect_order: int = -1
    events: dict[str, RefEvent] = field(default_factory=dict)
    events_ingested: int = 0

    def accepting(self) -> bool:
        return self.status == "pending" and self.closed_at is None

    def due(self, delay: timedelta) -> datetime | None:
        if self.status == "pending":
            return self.close_time if self.closed_at is None else self.closed_at + delay
        if self.status == "pending_revert":
            assert self.revert_requested_at is not None
            return self.revert_requested_at + delay
        return None


@dataclass(eq=False)
class RefEvent:
    """An ingested event: its newest name and properties, its version count, what it counts for."""

    key: str
    timestamp: datetime
    event_name: str
    properties: Properties
    customer_id: str | None
    alias: str | None
    backfill: RefBackfill | None = None
    versions: int = 1
    deprecated: bool = False
    amended: bool = False


def _parse(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _typed(props: Properties) -> tuple[tuple[str, str, Any], ...]:
    """Properties comparable by JSON type too (Python calls ``1 == 1.0 == True``)."""
    return tuple(sorted((k, type(v).__name__, v) for k, v in props.items()))


def _month_start(moment: datetime, months_ahead: int = 0) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months_ahead
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


class OrbStateMachine(RuleBasedStateMachine):
    """Random histories against a fresh simulator, checked against an independent reference."""

    start: ClassVar[datetime] = datetime(2024, 5, 30, 12, 0, tzinfo=UTC)
    """Where the ManualClock starts: near a month end, so billing-period edges come quickly."""
    sim_settings: ClassVar[Settings] = Settings(
        amend_limit=2,
        deprecate_limit=2,
        quota_window=timedelta(days=3),
        reflection_delay=timedelta(hours=1),
    )
    """Small quotas and a reflection delay, so refusals and pending states are reachable."""
    aliases: ClassVar[Sequence[str]] = ("acme", "globex", "initech")
    """Aliases customers may take; events may also use one that no customer holds (yet)."""
    event_keys: ClassVar[Sequence[str]] = tuple(f"evt-{i}" for i in range(16))
    """A small key pool, so batches re-send keys already ingested (or deprecated)."""
    filters: ClassVar[dict[str, Predicate]] = {
        "region = 'eu'": _region_is("eu"),
        "region = 'us'": _region_is("us"),
    }
    """``deprecation_filter`` texts the machine uses, with the reference's own reading of each."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(self.start)
        self.sim = self.make_sim()
        self.customers: list[RefCustomer] = []
        self.live: dict[str, RefEvent] = {}
        self.backfills: list[RefBackfill] = []
        self.step = 0
        self._amends: dict[str, list[datetime]] = {}
        self._deprecations: dict[str, list[datetime]] = {}
        self._reflections = 0
        self._seen_versions: dict[str, int] = {}
        self._plan_id = self.sim.plans.create(name="usage", billing_cadence="monthly").id

    def make_sim(self) -> OrbSim:
        """The simulator under test (override to change it; it must use ``self.clock``)."""
        return OrbSim(settings=self.sim_settings, clock=self.clock, seed=0)

    def now(self) -> datetime:
        return self.clock.now()

    # -- reference model ------------------------------------------------------------------------

    def holder(self, alias: str) -> RefCustomer | None:
        return next((c for c in self.customers if c.alias == alias), None)

    def owner(self, event: RefEvent) -> str | None:
        if event.customer_id is not None:
            return event.customer_id
        assert event.alias is not None
        holder = self.holder(event.alias)
        return holder.id if holder is not None else None

    def _settle(self) -> None:
        """Apply the backfill transitions due by now, in time order (creation order on ties)."""
        now = self.now()
        delay = self.sim_settings.reflection_delay
        while True:
            due = [(b.due(delay), b.seq, b) for b in self.backfills]
            pending = [(at, seq, b) for at, seq, b in due if at is not None and at <= now]
            if not pending:
                return
            at, _, backfill = min(pending, key=lambda item: (item[0], item[1]))
            self._advance_backfill(backfill, at)

    def _advance_backfill(self, backfill: RefBackfill, at: datetime) -> None:
        if backfill.status == "pending" and backfill.closed_at is None:
            backfill.closed_at = backfill.close_time = at
        elif backfill.status == "pending":
            backfill.status = "reflected"
            self._reflections += 1
            backfill.reflect_order = self._reflections
        elif backfill.status == "pending_revert":
            backfill.status = "reverted"
            backfill.reverted_at = at

    def _hidden(self, event: RefEvent, owner: str | None) -> bool:
        own = event.backfill
        after = own.reflect_order if own is not None else -1
        return any(
            b.replace
            and b.status in _EFFECTIVE
            and b is not own
            and b.reflect_order > after
            and b.start <= event.timestamp < b.end
            and (b.scope is None or b.scope == owner)
            and (b.matches is None or b.matches(event.properties))
            for b in self.backfills
        )

    def expected_billable(self, customer_id: str | None = None) -> list[RefEvent]:
        """The reference's billable view: every event that should count now, oldest first."""
        everything = list(self.live.values())
        for backfill in self.backfills:
            everything.extend(backfill.events.values())
        found = []
        for event in everything:
            if event.deprecated:
                continue
            if event.backfill is not None and event.backfill.status not in _EFFECTIVE:
                continue
            owner = self.owner(event)
            if customer_id is not None and owner != customer_id:
                continue
            if not self._hidden(event, owner):
                found.append(event)
        return sorted(found, key=lambda e: (e.timestamp, e.key))

    def _editable(self, timestamp: datetime) -> bool:
        """Monthly UTC periods aligned to the 1st: the current one, or the previous in its grace."""
        now = self.now()
        current, following = _month_start(now), _month_start(now, 1)
        if current <= timestamp < following:
            return True
        previous = _month_start(now, -1)
        grace = self.sim_settings.grace_period
        return previous <= timestamp < current and now < current + grace

    def _quota_left(self, uses: dict[str, list[datetime]], customer: str, limit: int) -> bool:
        horizon = self.now() - self.sim_settings.quota_window
        return sum(1 for t in uses.get(customer, []) if t > horizon) < limit

    def _predict_ingest(
        self,
        events: Sequence[dict[str, Any]],
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
        rules = self.sim_settings
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
            body = _canonical(payload)
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
            when = _parse(payload["timestamp"])
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

    def _apply_ingest(self, stored: list[RefEvent], backfill: RefBackfill | None) -> None:
        for event in stored:
            if backfill is None:
                self.live[event.key] = event
            else:
                backfill.events[event.key] = event
        if backfill is not None:
            backfill.events_ingested += len(stored)

    # -- running one operation -----------------------------------------------------------------

    def _fingerprint(self) -> tuple[Any, ...]:
        view = tuple(
            (e.id, e.backfill_id, e.event_name, _typed(e.properties), e.timestamp)
            for e in self.sim.billable_events()
        )
        versions = tuple(len(self.sim.event_versions(key)) for key in sorted(self.live))
        statuses = tuple(
            self.sim.events.backfills.fetch(b.id).model_dump_json() for b in self.backfills
        )
        return view, versions, statuses

    def _run(self, what: str, expected: type[OrbError] | None, call: Callable[[], T]) -> T | None:
        """Call the simulator; check the outcome is ``expected`` and a refusal changes nothing."""
        self.step += 1
        before = self._fingerprint()
        try:
            result = call()
        except OrbError as exc:
            allowed = DOCUMENTED_REFUSALS[what]
            assert isinstance(exc, allowed), f"{what}: undocumented {exc!r}"
            assert type(exc) is expected, f"{what}: expected {_name(expected)}, got {exc!r}"
            assert self._fingerprint() == before, f"{what} was refused ({exc!r}) but changed state"
            return None
        assert expected is None, f"{what}: expected {_name(expected)}, but it succeeded"
        return result

    # -- operations (usable from subclasses' rules) ---------------------------------------------

    def create_customer(self, alias: str | None, subscribed: bool) -> RefCustomer | None:
        """Create a customer (UTC, monthly plan from 45 days ago if ``subscribed``)."""
        self._settle()
        taken = alias is not None and self.holder(alias) is not None
        expected = DuplicateResourceCreation if taken else None
        count = len(self.customers) + 1
        model = self._run(
            "create customer",
            expected,
            lambda: self.sim.customers.create(
                name=f"Customer {count}",
                email=f"billing{count}@example.com",
                external_customer_id=alias,
                timezone="Etc/UTC",
            ),
        )
        if model is None:
            return None
        start = self.now() - timedelta(days=45) if subscribed else None
        if start is not None:
            self.sim.subscriptions.create(
                customer_id=model.id, plan_id=self._plan_id, start_date=start
            )
        customer = RefCustomer(model.id, alias, start)
        self.customers.append(customer)
        return customer

    def delete_customer(self, customer_id: str) -> bool:
        """Delete a customer: refused once its first billing period was invoiced. Its alias is
        then free, and events sent with that alias count for whoever takes it next."""
        self._settle()
        customer = next(c for c in self.customers if c.id == customer_id)
        start = customer.subscription_start
        grace = self.sim_settings.grace_period
        invoiced = start is not None and _month_start(start, 1) + grace <= self.now()

        def delete() -> bool:
            self.sim.customers.delete(customer_id)
            return True

        deleted = self._run("delete customer", ConstraintViolation if invoiced else None, delete)
        if deleted is None:
            return False
        self.customers.remove(customer)
        return True

    def ingest(
        self,
        events: list[dict[str, Any]],
        backfill_id: str | None = None,
        invalid: frozenset[int] = frozenset(),
    ) -> bool:
        """Ingest through the simulator, checking the predicted outcome; True if accepted."""
        self._settle()
        backfill = self._backfill(backfill_id)
        expected, stored = self._predict_ingest(events, backfill, invalid)
        result = self._run(
            "ingest",
            expected,
            lambda: self.sim.events.ingest(events=events, backfill_id=backfill_id),
        )
        if result is None:
            return False
        self._apply_ingest(stored, backfill)
        return True

    def record_ingested(self, events: list[dict[str, Any]], backfill_id: str | None = None) -> None:
        """Tell the reference about events your own code already ingested successfully."""
        self.step += 1
        self._settle()
        backfill = self._backfill(backfill_id)
        expected, stored = self._predict_ingest(events, backfill)
        assert expected is None, f"the reference says this ingest fails with {_name(expected)}"
        self._apply_ingest(stored, backfill)

    def amend(
        self,
        key: str,
        event_name: str,
        properties: Properties,
        ref: dict[str, str] | None = None,
        timestamp: datetime | None = None,
    ) -> bool:
        """Amend live event ``key`` (by default sent with its own customer identifier)."""
        self._settle()
        event = self.live[key]
        ref = ref if ref is not None else self._own_ref(event)
        when = timestamp if timestamp is not None else event.timestamp
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
        expected: type[OrbError] | None = None
        if when != event.timestamp or not same:
            expected = RequestValidationError
        elif owner is None or event.deprecated or not self._may_change(owner, event):
            expected = ConstraintViolation
        elif not self._quota_left(self._amends, owner, self.sim_settings.amend_limit):
            expected = TooManyRequests
        result = self._run(
            "amend",
            expected,
            lambda: self.sim.events.update(
                key,
                event_name=event_name,
                properties=properties,
                timestamp=when.isoformat(),
                **ref,
            ),
        )
        if result is None:
            return False
        assert owner is not None
        event.event_name, event.properties = event_name, dict(properties)
        event.versions += 1
        event.amended = True
        self._amends.setdefault(owner, []).append(self.now())
        return True

    def deprecate(self, key: str) -> bool:
        """Deprecate live event ``key``; deprecating it again succeeds without using quota."""
        self._settle()
        event = self.live[key]
        owner = self.owner(event)
        expected: type[OrbError] | None = None
        if event.deprecated:
            expected = None
        elif owner is None or not self._may_change(owner, event):
            expected = ConstraintViolation
        elif not self._quota_left(self._deprecations, owner, self.sim_settings.deprecate_limit):
            expected = TooManyRequests
        result = self._run("deprecate", expected, lambda: self.sim.events.deprecate(key))
        if result is None:
            return False
        if not event.deprecated:
            assert owner is not None
            event.deprecated = True
            event.versions += 1
            self._deprecations.setdefault(owner, []).append(self.now())
        return True

    def create_backfill(self, payload: dict[str, Any]) -> RefBackfill | None:
        """Create a backfill from a valid payload (``strategies.backfill_payloads``)."""
        self._settle()
        now = self.now()
        start, end = _parse(payload["timeframe_start"]), _parse(payload["timeframe_end"])
        scope = payload.get("customer_id")
        if "external_customer_id" in payload:
            holder = self.holder(payload["external_customer_id"])
            scope = holder.id if holder is not None else "<unknown alias>"
        expected: type[OrbError] | None = None
        if scope is not None and all(c.id != scope for c in self.customers):
            expected = ResourceNotFound  # deleted (or never existed)
        elif any(
            other.status in ("pending", "pending_revert")
            and (other.scope is None or scope is None or other.scope == scope)
            and other.start < end
            and start < other.end
            for other in self.backfills
        ):
            expected = ResourceConflict
        model = self._run(
            "create backfill", expected, lambda: self.sim.events.backfills.create(**payload)
        )
        if model is None:
            return None
        text = payload.get("deprecation_filter")
        close_time = payload.get("close_time")
        backfill = RefBackfill(
            id=model.id,
            start=start,
            end=end,
            scope=scope,
            replace=bool(payload.get("replace_existing_events", True)),
            matches=self.filters[text] if text is not None else None,
            filter_text=text,
            seq=len(self.backfills),
            close_time=(
                _parse(close_time)
                if close_time is not None
                else now + self.sim_settings.backfill_default_close_delay
            ),
        )
        self.backfills.append(backfill)
        return backfill

    def close_backfill(self, backfill_id: str) -> bool:
        self._settle()
        backfill = self._backfill(backfill_id)
        assert backfill is not None
        refused = backfill.status in ("pending_revert", "reverted")
        result = self._run(
            "close backfill",
            ConstraintViolation if refused else None,
            lambda: self.sim.events.backfills.close(backfill_id),
        )
        if result is None:
            return False
        if backfill.accepting():
            self._advance_backfill(backfill, self.now())
            self._settle()
        return True

    def revert_backfill(self, backfill_id: str) -> bool:
        self._settle()
        backfill = self._backfill(backfill_id)
        assert backfill is not None
        self._run("revert backfill", None, lambda: self.sim.events.backfills.revert(backfill_id))
        now = self.now()
        if backfill.status == "pending":
            if backfill.closed_at is None:
                backfill.close_time = None
            backfill.status = "reverted"
            backfill.reverted_at = now
        elif backfill.status == "reflected":
            backfill.status = "pending_revert"
            backfill.revert_requested_at = now
            self._settle()
        return True

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward; due backfill transitions happen in the reference too."""
        self.step += 1
        self.clock.advance(delta)
        self._settle()

    # -- helpers ------------------------------------------------------------------------------

    def _backfill(self, backfill_id: str | None) -> RefBackfill | None:
        if backfill_id is None:
            return None
        return next(b for b in self.backfills if b.id == backfill_id)

    def _may_change(self, owner: str, event: RefEvent) -> bool:
        """Amend/deprecate window: an active subscription and an editable billing period."""
        return self._subscribed(owner) and self._editable(event.timestamp)

    def _subscribed(self, customer_id: str) -> bool:
        return any(c.id == customer_id and c.subscribed for c in self.customers)

    def _own_ref(self, event: RefEvent) -> dict[str, str]:
        if event.customer_id is not None:
            return {"customer_id": event.customer_id}
        assert event.alias is not None
        return {"external_customer_id": event.alias}

    def _refs(self) -> st.SearchStrategy[dict[str, str]]:
        ids = [c.id for c in self.customers]
        choices = [st.fixed_dictionaries({"external_customer_id": st.sampled_from(self.aliases)})]
        if ids:
            choices.insert(0, st.fixed_dictionaries({"customer_id": st.sampled_from(ids)}))
        return st.one_of(choices)

    def _times_in(self, backfill: RefBackfill) -> st.SearchStrategy[datetime]:
        span = max(1, (backfill.end - backfill.start) // timedelta(microseconds=1))
        start = backfill.start
        return st.builds(lambda us: start + timedelta(microseconds=us), st.integers(0, span - 1))

    def _refs_in(self, backfill: RefBackfill) -> st.SearchStrategy[dict[str, str]]:
        if backfill.scope is None:
            return self._refs()
        refs = [{"customer_id": backfill.scope}]  # refused if that customer was deleted
        scope = next((c for c in self.customers if c.id == backfill.scope), None)
        if scope is not None and scope.alias is not None:
            refs.append({"external_customer_id": scope.alias})
        return st.sampled_from(refs)

    def _properties(self) -> st.SearchStrategy[Properties]:
        return ost.properties(
            st.sampled_from(["region", "tier"]),
            st.sampled_from(["eu", "us", "pro", 1, True]),
            max_size=2,
        )

    def _batch(
        self, data: st.DataObject, times: st.SearchStrategy[datetime], refs: Any = None
    ) -> list[dict[str, Any]]:
        refs = refs if refs is not None else self._refs()
        event = st.builds(
            lambda key, name, when, props, ref: {
                "idempotency_key": key,
                "event_name": name,
                "timestamp": when,
                "properties": props,
                **ref,
            },
            st.sampled_from(self.event_keys),
            st.sampled_from(["api_call", "tokens"]),
            ost.render_timestamps(times, ("Z", "+00:00", "offset")),
            self._properties(),
            refs,
        )
        batch = data.draw(
            st.lists(event, min_size=1, max_size=4, unique_by=lambda e: e["idempotency_key"]),
            label="batch",
        )
        if data.draw(st.booleans(), label="repeat an event"):
            batch.append(dict(batch[0]))
        return batch

    # -- rules --------------------------------------------------------------------------------

    @initialize()
    def first_customer(self) -> None:
        """Every history starts with one subscribed customer holding the first alias."""
        self.create_customer(self.aliases[0] if self.aliases else None, subscribed=True)

    @rule(data=st.data())
    def add_customer(self, data: st.DataObject) -> None:
        alias = data.draw(st.one_of(st.none(), st.sampled_from(self.aliases)), label="alias")
        subscribed = data.draw(st.sampled_from([True, True, False]), label="subscribed")
        self.create_customer(alias, subscribed)

    @precondition(lambda self: self.customers)
    @rule(data=st.data())
    def remove_customer(self, data: st.DataObject) -> None:
        self.delete_customer(data.draw(st.sampled_from(self.customers), label="customer").id)

    @rule(data=st.data())
    def ingest_batch(self, data: st.DataObject) -> None:
        batch = self._batch(data, ost.timestamps(self.now(), settings=self.sim_settings))
        invalid: frozenset[int] = frozenset()
        if data.draw(st.integers(0, 3), label="add an invalid event") == 0:
            ids = [c.id for c in self.customers]
            rule_name, payload = data.draw(
                ost.invalid_events(
                    now=self.now(),
                    customer_ids=ids,
                    external_customer_ids=self.aliases,
                    settings=self.sim_settings,
                    rules=_SHAPE_RULES,
                )
            )
            if rule_name not in _KEYLESS_RULES:
                payload["idempotency_key"] = data.draw(st.sampled_from(self.event_keys))
            batch.insert(data.draw(st.integers(0, len(batch))), payload)
            index = batch.index(payload)
            invalid = frozenset({index})
        self.ingest(batch, invalid=invalid)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def amend_event(self, data: st.DataObject) -> None:
        key = self._pick_key(data)
        event = self.live[key]
        ref: dict[str, str] | None = None
        choice = data.draw(st.integers(0, 5), label="how to name the customer")
        if choice == 1:
            owner = self.owner(event)
            other = next((c for c in self.customers if c.id == owner), None)
            if other is not None and other.alias is not None:
                ref = (
                    {"external_customer_id": other.alias}
                    if event.customer_id is not None
                    else {"customer_id": other.id}
                )
        elif choice == 2:
            ref = data.draw(self._refs(), label="some customer")
        timestamp = None
        if data.draw(st.integers(0, 9), label="change the timestamp") == 0:
            timestamp = event.timestamp + timedelta(seconds=1)
        self.amend(
            key,
            data.draw(st.sampled_from(["api_call", "tokens"])),
            data.draw(self._properties(), label="properties"),
            ref=ref,
            timestamp=timestamp,
        )

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def deprecate_event(self, data: st.DataObject) -> None:
        self.deprecate(self._pick_key(data))

    def _pick_key(self, data: st.DataObject) -> str:
        """A live key; mostly one the rules let us change, so quotas and versions get exercised."""
        changeable = [
            key
            for key, event in sorted(self.live.items())
            if not event.deprecated
            and (owner := self.owner(event)) is not None
            and self._may_change(owner, event)
        ]
        mostly = bool(changeable) and data.draw(st.integers(0, 3), label="changeable") > 0
        pool = changeable if mostly else sorted(self.live)
        return data.draw(st.sampled_from(pool), label="key")

    @rule(data=st.data())
    def correct_history(self, data: st.DataObject) -> None:
        """The usual repair: finish open backfills, create one, send corrected events, close it
        and let it reflect (so later repairs stack on earlier ones)."""
        for other in [b for b in self.backfills if b.accepting()]:
            self.close_backfill(other.id)
        reflected = [b for b in self.backfills if b.status == "reflected"]
        again = False
        if reflected:
            again = data.draw(st.booleans(), label="correct an earlier correction")
        if again:
            earlier = data.draw(st.sampled_from(reflected), label="earlier")
            payload: dict[str, Any] = {
                "timeframe_start": earlier.start,
                "timeframe_end": earlier.end,
                "replace_existing_events": True,
            }
            if earlier.scope is not None:
                payload["customer_id"] = earlier.scope
            if earlier.filter_text is not None:  # also keeps a recent timeframe valid
                payload["deprecation_filter"] = earlier.filter_text
            backfill = self.create_backfill(payload)
        else:
            backfill = self._draw_backfill(data)
        if backfill is None:
            return
        self.ingest(
            self._batch(data, self._times_in(backfill), self._refs_in(backfill)), backfill.id
        )
        self.close_backfill(backfill.id)
        self.advance(self.sim_settings.reflection_delay)

    @rule(data=st.data())
    def add_backfill(self, data: st.DataObject) -> None:
        self._draw_backfill(data)

    def _draw_backfill(self, data: st.DataObject) -> RefBackfill | None:
        self._settle()
        held = [c.alias for c in self.customers if c.alias is not None]
        payload = data.draw(
            ost.backfill_payloads(
                now=self.now(),
                settings=self.sim_settings,
                customer_ids=[c.id for c in self.customers],
                external_customer_ids=held,
                filters=st.one_of(st.none(), st.sampled_from(sorted(self.filters))),
                max_age=timedelta(days=3),
            ),
            label="backfill",
        )
        return self.create_backfill(payload)

    @precondition(lambda self: self.backfills)
    @rule(data=st.data())
    def ingest_into_backfill(self, data: st.DataObject) -> None:
        self._settle()
        open_ones = [b for b in self.backfills if b.accepting()]
        mostly = bool(open_ones) and data.draw(st.integers(0, 4), label="open one") > 0
        choices = open_ones if mostly else self.backfills
        backfill = data.draw(st.sampled_from(choices), label="backfill")
        times = self._times_in(backfill)
        if data.draw(st.integers(0, 9), label="stray") == 0:
            times = st.just(backfill.end)  # the end is outside the half-open timeframe
        refs = self._refs_in(backfill)
        self.ingest(self._batch(data, times, refs), backfill_id=backfill.id)

    @precondition(lambda self: self.backfills)
    @rule(data=st.data())
    def close_a_backfill(self, data: st.DataObject) -> None:
        self.close_backfill(data.draw(st.sampled_from(self.backfills), label="backfill").id)
        if data.draw(st.booleans(), label="wait for reflection"):
            self.advance(self.sim_settings.reflection_delay)

    @precondition(lambda self: self.backfills)
    @rule(data=st.data())
    def revert_a_backfill(self, data: st.DataObject) -> None:
        self.revert_backfill(data.draw(st.sampled_from(self.backfills), label="backfill").id)

    @rule(data=st.data())
    def move_clock(self, data: st.DataObject) -> None:
        now = self.now()
        grace = self.sim_settings.grace_period
        edges = [_month_start(now, 1), _month_start(now, 1) + grace]
        steps = st.one_of(
            st.sampled_from(
                [
                    timedelta(minutes=5),
                    timedelta(hours=1),
                    grace,
                    timedelta(days=1),
                    timedelta(days=4),
                    timedelta(days=31),
                ]
            ),
            st.builds(lambda when: max(when - now, timedelta(0)), ost.timestamps_near(*edges)),
        )
        self.advance(data.draw(steps, label="advance"))

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def nothing_is_ever_deleted(self) -> None:
        for key, event in self.live.items():
            count = len(self.sim.event_versions(key))
            assert count == event.versions, f"{key}: {count} versions, expected {event.versions}"
            assert count >= self._seen_versions.get(key, 0), f"{key}: versions shrank"
            self._seen_versions[key] = count
        assert set(self._seen_versions) <= set(self.live), "an ingested key disappeared"

    @invariant()
    def billable_view_matches_reference(self) -> None:
        self._settle()
        actual = sorted(
            (e.id, e.backfill_id or "", e.event_name, _typed(e.properties), e.timestamp)
            for e in self.sim.billable_events()
        )
        expected = sorted(
            (
                e.key,
                e.backfill.id if e.backfill else "",
                e.event_name,
                _typed(e.properties),
                e.timestamp,
            )
            for e in self.expected_billable()
        )
        assert actual == expected, _diff("account-wide billable events", actual, expected)
        for customer in self.customers:
            mine = sorted(
                (e.id, e.backfill_id or "")
                for e in self.sim.billable_events(customer_id=customer.id)
            )
            want = sorted(
                (e.key, e.backfill.id if e.backfill else "")
                for e in self.expected_billable(customer.id)
            )
            assert mine == want, _diff(f"billable events of {customer.id}", mine, want)

    @invariant()
    def volume_and_search_match_reference(self) -> None:
        """The hourly volume and event search agree with the reference's billable view."""
        self._settle()
        everything = list(self.live.values())
        for backfill in self.backfills:
            everything.extend(backfill.events.values())
        if not everything:
            return
        start = min(e.timestamp for e in everything) - timedelta(hours=1)
        end = max(max(e.timestamp for e in everything), self.now()) + timedelta(hours=1)
        counted = self.expected_billable()
        hours: dict[datetime, int] = {}
        for event in counted:
            hour = event.timestamp.replace(minute=0, second=0, microsecond=0)
            hours[hour] = hours.get(hour, 0) + 1
        volume: dict[datetime, int] = {}
        cursor = None
        while True:
            page = self.sim.events.volume.list(
                timeframe_start=start, timeframe_end=end, limit=100, cursor=cursor
            )
            volume.update((bucket.timeframe_start, bucket.count) for bucket in page.data)
            cursor = page.pagination_metadata.next_cursor
            if cursor is None:
                break
        assert volume == hours, _diff(
            "hourly volume", sorted(volume.items()), sorted(hours.items())
        )
        ids = sorted({e.key for e in everything})
        found = sorted(
            (e.id, e.deprecated, e.event_name)
            for e in self.sim.events.search(
                event_ids=ids, timeframe_start=start, timeframe_end=end
            ).data
        )
        counted_ids = {id(e) for e in counted}
        shown = [
            e
            for e in everything
            if (e.backfill is None and not e.amended)
            or (e.backfill is not None and e.backfill.status in _EFFECTIVE)
        ]
        want = sorted((e.key, id(e) not in counted_ids, e.event_name) for e in shown)
        assert found == want, _diff("event search", found, want)

    @invariant()
    def backfills_follow_the_reference(self) -> None:
        self._settle()
        for ref in self.backfills:
            model = self.sim.events.backfills.fetch(ref.id)
            got = (model.status, model.events_ingested, model.close_time, model.reverted_at)
            want = (ref.status, ref.events_ingested, ref.close_time, ref.reverted_at)
            assert got == want, (
                f"backfill {ref.id}: (status, ingested, close, reverted) {got} != {want}"
            )


def _canonical(payload: dict[str, Any]) -> str:
    """An event body as JSON sees it: null keys are absent, ``1``, ``1.0`` and ``true`` differ."""
    present = {k: v for k, v in payload.items() if v is not None}
    return json.dumps(present, sort_keys=True, default=repr)


def _name(error: type[OrbError] | None) -> str:
    return "success" if error is None else error.__name__


def _diff(what: str, actual: list[Any], expected: list[Any]) -> str:
    extra = [item for item in actual if item not in expected]
    missing = [item for item in expected if item not in actual]
    return f"{what} differ from the reference: unexpected {extra}, missing {missing}"
