"""``BaseOrbMachine``: the state machine's core, which the rule groups and subclasses build on.

It owns the simulator (on a ``ManualClock``) and the ``ReferenceModel``, runs every operation
through ``_run`` (predicted outcome, documented refusals, a refusal changes nothing), and has the
rules every history needs: customers come and go, batches are ingested (with re-sent keys and the
odd invalid event), the clock moves across billing-period and grace edges. Its invariants compare
versions, the billable view, the hourly volume and event search with the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from orbsim import ManualClock, OrbError, OrbSim, Settings
from orbsim import strategies as ost
from orbsim.models import Backfill
from orbsim.settings import ReflectionProgression
from orbsim.testing.records import (
    DOCUMENTED_REFUSALS,
    Predicate,
    Properties,
    RefBackfill,
    RefCustomer,
    RefEvent,
    month_start,
    typed,
)
from orbsim.testing.reference import ReferenceModel

__all__ = ["BaseOrbMachine"]

T = TypeVar("T")

_SHAPE_RULES = tuple(r for r in ost.INVALID_EVENT_RULES if r != "non_finite_property")
_KEYLESS_RULES = ("missing_idempotency_key", "empty_idempotency_key")


def _region_is(value: str) -> Predicate:
    return lambda props: type(props.get("region")) is str and props["region"] == value


class BaseOrbMachine(RuleBasedStateMachine):
    """Random histories of customers, ingestion and time against a fresh simulator, checked
    against an independent ``ReferenceModel`` (``self.reference``)."""

    start: ClassVar[datetime] = datetime(2024, 5, 30, 12, 0, tzinfo=UTC)
    """Where the ManualClock starts: near a month end, so billing-period edges come quickly."""
    sim_settings: ClassVar[Settings] = Settings(
        amend_limit=2,
        deprecate_limit=2,
        quota_window=timedelta(days=3),
        reflection_delay=timedelta(hours=1),
    )
    """Small quotas and a reflection delay, so refusals and pending states are reachable (the
    delay is the one the ``"time"`` progression uses)."""
    reflection_progressions: ClassVar[Sequence[ReflectionProgression] | None] = (
        "observations",
        "time",
        "immediate",
    )
    """The backfill reflection progressions a run draws from (``Settings.reflection_progression``;
    with ``"observations"``, 1 to 3 reads): set one to pin it, or ``None`` to run
    ``sim_settings`` exactly as given."""
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
        self.reference = ReferenceModel(self.sim_settings, now=self.clock.now, filters=self.filters)
        self.step = 0
        self._seen_versions: dict[str, int] = {}
        self._plan_id = self.sim.plans.create(name="usage", billing_cadence="monthly").id

    def make_sim(self) -> OrbSim:
        """The simulator under test (override to change it; it must use ``self.clock``)."""
        return OrbSim(settings=self.sim_settings, clock=self.clock, seed=0)

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def settings(self) -> Settings:
        """The settings of this run: ``sim_settings`` with the drawn reflection progression."""
        return self.reference.settings

    def use_settings(self, settings: Settings) -> None:
        """Run the simulator and the reference under ``settings`` from now on."""
        self.sim.settings = settings
        self.reference.settings = settings

    def progression_settings(
        self, progression: ReflectionProgression, observations: int = 1
    ) -> Settings:
        """``sim_settings`` with ``progression`` (and, for ``"observations"``, the reads it takes;
        for ``"time"``, ``sim_settings``' delay, or 1 hour if it has none)."""
        merged = self.sim_settings.model_dump()
        merged["reflection_progression"] = progression
        merged["reflection_delay"] = (
            (self.sim_settings.reflection_delay or timedelta(hours=1))
            if progression == "time"
            else timedelta(0)
        )
        if progression == "observations":
            merged["reflection_observations"] = observations
        return Settings.model_validate(merged)

    def peek_backfill(self, backfill_id: str) -> Backfill:
        """A backfill as it stands, without reading it through the API: ``fetch`` and ``list``
        are observations that move a reflecting backfill on, the machine's checks must not be."""
        return self.sim.events.backfills.peek(backfill_id)

    # -- the reference's state, as subclasses read it --------------------------------------------

    @property
    def customers(self) -> list[RefCustomer]:
        """The live customers (in creation order)."""
        return self.reference.customers

    @property
    def live(self) -> dict[str, RefEvent]:
        """Events ingested outside backfills, by idempotency key."""
        return self.reference.live

    @property
    def backfills(self) -> list[RefBackfill]:
        """Every backfill created (in creation order)."""
        return self.reference.backfills

    def expected_billable(self, customer_id: str | None = None) -> list[RefEvent]:
        """The reference's billable view: every event that should count now, oldest first."""
        return self.reference.expected_billable(customer_id)

    def _settle(self) -> None:
        self.reference.settle()

    # -- running one operation -----------------------------------------------------------------

    def _fingerprint(self) -> tuple[Any, ...]:
        view = tuple(
            (e.id, e.backfill_id, e.event_name, typed(e.properties), e.timestamp)
            for e in self.sim.billable_events()
        )
        versions = tuple(len(self.sim.event_versions(key)) for key in sorted(self.live))
        statuses = tuple(self.peek_backfill(b.id).model_dump_json() for b in self.backfills)
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
        count = len(self.customers) + 1
        model = self._run(
            "create customer",
            self.reference.predict_create_customer(alias),
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
        return self.reference.add_customer(model.id, alias, start)

    def delete_customer(self, customer_id: str) -> bool:
        """Delete a customer: refused once its first billing period was invoiced. Its alias is
        then free, and events sent with that alias count for whoever takes it next."""
        self._settle()

        def delete() -> bool:
            self.sim.customers.delete(customer_id)
            return True

        expected = self.reference.predict_delete_customer(customer_id)
        if self._run("delete customer", expected, delete) is None:
            return False
        self.reference.remove_customer(customer_id)
        return True

    def ingest(
        self,
        events: list[dict[str, Any]],
        backfill_id: str | None = None,
        invalid: frozenset[int] = frozenset(),
    ) -> bool:
        """Ingest through the simulator, checking the predicted outcome; True if accepted."""
        self._settle()
        backfill = self.reference.backfill(backfill_id)
        expected, stored = self.reference.predict_ingest(events, backfill, invalid)
        result = self._run(
            "ingest",
            expected,
            lambda: self.sim.events.ingest(events=events, backfill_id=backfill_id),
        )
        if result is None:
            return False
        self.reference.apply_ingest(stored, backfill)
        return True

    def record_ingested(self, events: list[dict[str, Any]], backfill_id: str | None = None) -> None:
        """Tell the reference about events your own code already ingested successfully."""
        self.step += 1
        self._settle()
        backfill = self.reference.backfill(backfill_id)
        expected, stored = self.reference.predict_ingest(events, backfill)
        assert expected is None, f"the reference says this ingest fails with {_name(expected)}"
        self.reference.apply_ingest(stored, backfill)

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward; due backfill transitions happen in the reference too."""
        self.step += 1
        self.clock.advance(delta)
        self._settle()

    # -- drawing payloads -----------------------------------------------------------------------

    def _refs(self) -> st.SearchStrategy[dict[str, str]]:
        ids = [c.id for c in self.customers]
        choices = [st.fixed_dictionaries({"external_customer_id": st.sampled_from(self.aliases)})]
        if ids:
            choices.insert(0, st.fixed_dictionaries({"customer_id": st.sampled_from(ids)}))
        return st.one_of(choices)

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

    def _pick_key(self, data: st.DataObject) -> str:
        """A live key; mostly one the rules let us change, so quotas and versions get exercised."""
        changeable = [
            key
            for key, event in sorted(self.live.items())
            if not event.deprecated
            and (owner := self.reference.owner(event)) is not None
            and self.reference.may_change(owner, event)
        ]
        mostly = bool(changeable) and data.draw(st.integers(0, 3), label="changeable") > 0
        pool = changeable if mostly else sorted(self.live)
        return data.draw(st.sampled_from(pool), label="key")

    # -- rules --------------------------------------------------------------------------------

    @initialize(data=st.data())
    def choose_reflection_progression(self, data: st.DataObject) -> None:
        """Each run draws one of ``reflection_progressions`` (see there)."""
        if not self.reflection_progressions:
            return
        progression = data.draw(
            st.sampled_from(list(self.reflection_progressions)), label="reflection progression"
        )
        reads = 1
        if progression == "observations":
            reads = data.draw(st.integers(1, 3), label="reads until reflected")
        self.use_settings(self.progression_settings(progression, reads))

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

    @rule(data=st.data())
    def move_clock(self, data: st.DataObject) -> None:
        now = self.now()
        grace = self.sim_settings.grace_period
        edges = [month_start(now, 1), month_start(now, 1) + grace]
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
            (e.id, e.backfill_id or "", e.event_name, typed(e.properties), e.timestamp)
            for e in self.sim.billable_events()
        )
        expected = sorted(
            (
                e.key,
                e.backfill.id if e.backfill else "",
                e.event_name,
                typed(e.properties),
                e.timestamp,
            )
            for e in self.expected_billable()
        )
        assert actual == expected, diff("account-wide billable events", actual, expected)
        for customer in self.customers:
            mine = sorted(
                (e.id, e.backfill_id or "")
                for e in self.sim.billable_events(customer_id=customer.id)
            )
            want = sorted(
                (e.key, e.backfill.id if e.backfill else "")
                for e in self.expected_billable(customer.id)
            )
            assert mine == want, diff(f"billable events of {customer.id}", mine, want)

    @invariant()
    def volume_and_search_match_reference(self) -> None:
        """The hourly volume (events ingested) and event search agree with the reference."""
        self._settle()
        everything = self.reference.everything()
        if not everything:
            return
        start = min(e.timestamp for e in everything) - timedelta(hours=1)
        end = max(max(e.timestamp for e in everything), self.now()) + timedelta(hours=1)
        hours = self.reference.expected_volume()
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
        assert volume == hours, diff("hourly volume", sorted(volume.items()), sorted(hours.items()))
        ids = sorted({e.key for e in everything})
        found = sorted(
            (e.id, e.deprecated, e.event_name)
            for e in self.sim.events.search(
                event_ids=ids, timeframe_start=start, timeframe_end=end
            ).data
        )
        want = self.reference.expected_search()
        assert found == want, diff("event search", found, want)


def _name(error: type[OrbError] | None) -> str:
    return "success" if error is None else error.__name__


def diff(what: str, actual: list[Any], expected: list[Any]) -> str:
    """An assertion message naming what differs from the reference."""
    extra = [item for item in actual if item not in expected]
    missing = [item for item in expected if item not in actual]
    return f"{what} differ from the reference: unexpected {extra}, missing {missing}"
