"""The rule group for backfills; join it by subclassing ``BackfillRules``.

Backfills are created (from ``strategies.backfill_payloads``, sometimes correcting an earlier
correction), filled, closed, reverted, polled (``fetch``) and listed, and left to reflect under
the run's reflection progression (``BaseOrbMachine.reflection_progressions``); the reference's
own status machine predicts every outcome, each read's answer included, and an invariant compares
each backfill's status and counters (reading them without counting as a read).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from orbsim import strategies as ost
from orbsim.models import Backfill
from orbsim.testing.base import BaseOrbMachine
from orbsim.testing.records import RefBackfill

__all__ = ["BackfillRules"]

STATUSES = ("pending", "reflected", "pending_revert", "reverted")


class BackfillRules(BaseOrbMachine):
    """Backfills created, filled, closed, reverted and corrected again."""

    # -- operations (usable from subclasses' rules) ---------------------------------------------

    def create_backfill(self, payload: dict[str, Any]) -> RefBackfill | None:
        """Create a backfill from a valid payload (``strategies.backfill_payloads``)."""
        self._settle()
        model = self._run(
            "create backfill",
            self.reference.predict_create_backfill(payload),
            lambda: self.sim.events.backfills.create(**payload),
        )
        if model is None:
            return None
        return self.reference.add_backfill(model.id, payload)

    def close_backfill(self, backfill_id: str) -> bool:
        self._settle()
        result = self._run(
            "close backfill",
            self.reference.predict_close(backfill_id),
            lambda: self.sim.events.backfills.close(backfill_id),
        )
        if result is None:
            return False
        self.reference.apply_close(backfill_id)
        return True

    def revert_backfill(self, backfill_id: str) -> bool:
        self._settle()
        self._run("revert backfill", None, lambda: self.sim.events.backfills.revert(backfill_id))
        self.reference.apply_revert(backfill_id)
        return True

    def poll_backfill(self, backfill_id: str) -> Backfill | None:
        """``fetch`` a backfill, as a polling user does: a read, which moves a closed or
        reverting backfill on under the ``"observations"`` progression; the answer must show
        the status the reference predicts after that read."""
        self._settle()
        model = self._run(
            "fetch backfill", None, lambda: self.sim.events.backfills.fetch(backfill_id)
        )
        ref = self.reference.backfill(backfill_id)
        assert ref is not None and model is not None
        self.reference.observe([ref])
        assert model.status == ref.status, (
            f"fetch of backfill {backfill_id} ({self.settings.reflection_progression} "
            f"progression, read {ref.observed}): status {model.status}, expected {ref.status}"
        )
        return model

    def list_backfills(
        self, limit: int, status: str | None = None, customer_id: str | None = None
    ) -> list[Backfill]:
        """One ``list`` page: the reference predicts which backfills it holds (newest first) and,
        since the page is a read of each, the status each shows."""
        self._settle()
        expected = self.reference.expected_list(limit, status, customer_id)
        page = self._run(
            "list backfills",
            None,
            lambda: self.sim.events.backfills.list(
                limit=limit, status=status, customer_id=customer_id
            ),
        )
        assert page is not None
        self.reference.observe(expected)
        got = [(b.id, b.status) for b in page.data]
        want = [(b.id, b.status) for b in expected]
        assert got == want, (
            f"backfills.list(limit={limit}, status={status}, customer_id={customer_id}) "
            f"({self.settings.reflection_progression} progression): {got}, expected {want}"
        )
        return page.data

    def await_reflection(self, backfill_id: str) -> None:
        """What a user does after ``close`` (or ``revert``): wait until the backfill is no longer
        reflecting: the clock moves the reflection delay (``"time"``), or the backfill is
        polled (``"observations"``, at most ``reflection_observations`` reads)."""
        ref = self.reference.backfill(backfill_id)
        assert ref is not None
        progression = self.settings.reflection_progression
        if progression == "time":
            self.advance(self.settings.reflection_delay)
        elif progression == "observations":
            for _ in range(self.settings.reflection_observations):
                if not ref.reflecting():
                    break
                self.poll_backfill(backfill_id)
        self._settle()
        assert not ref.reflecting(), (
            f"backfill {backfill_id} is still {ref.status} after waiting ({progression})"
        )

    # -- drawing payloads -----------------------------------------------------------------------

    def _times_in(self, backfill: RefBackfill) -> st.SearchStrategy[datetime]:
        span = max(1, (backfill.end - backfill.start) // timedelta(microseconds=1))
        start = backfill.start
        return st.builds(lambda us: start + timedelta(microseconds=us), st.integers(0, span - 1))

    def _refs_in(self, backfill: RefBackfill) -> st.SearchStrategy[dict[str, str]]:
        if backfill.scope is None:
            return self._refs()
        refs = [{"customer_id": backfill.scope}]  # refused if that customer was deleted
        scope = self.reference.customer(backfill.scope)
        if scope is not None and scope.alias is not None:
            refs.append({"external_customer_id": scope.alias})
        return st.sampled_from(refs)

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

    # -- rules --------------------------------------------------------------------------------

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
        self.await_reflection(backfill.id)

    @rule(data=st.data())
    def add_backfill(self, data: st.DataObject) -> None:
        self._draw_backfill(data)

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
        backfill = data.draw(st.sampled_from(self.backfills), label="backfill")
        if self.close_backfill(backfill.id) and data.draw(st.booleans(), label="wait"):
            self.await_reflection(backfill.id)

    @precondition(lambda self: self.backfills)
    @rule(data=st.data())
    def revert_a_backfill(self, data: st.DataObject) -> None:
        backfill = data.draw(st.sampled_from(self.backfills), label="backfill")
        self.revert_backfill(backfill.id)
        if data.draw(st.booleans(), label="wait"):
            self.await_reflection(backfill.id)

    @precondition(lambda self: self.backfills)
    @rule(data=st.data())
    def poll_a_backfill(self, data: st.DataObject) -> None:
        """Mostly a backfill that is reflecting, so every read count is exercised."""
        reflecting = [b for b in self.backfills if b.reflecting()]
        mostly = bool(reflecting) and data.draw(st.integers(0, 3), label="reflecting one") > 0
        pool = reflecting if mostly else self.backfills
        self.poll_backfill(data.draw(st.sampled_from(pool), label="backfill").id)

    @precondition(lambda self: self.backfills)
    @rule(data=st.data())
    def list_some_backfills(self, data: st.DataObject) -> None:
        scopes = sorted({b.scope for b in self.backfills if b.scope is not None})
        status = data.draw(
            st.one_of(st.none(), st.sampled_from(list(STATUSES))), label="status filter"
        )
        customer = data.draw(
            st.one_of(st.none(), *([st.sampled_from(scopes)] if scopes else [])),
            label="customer filter",
        )
        self.list_backfills(data.draw(st.integers(1, 3), label="limit"), status, customer)

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def backfills_follow_the_reference(self) -> None:
        self._settle()
        for ref in self.backfills:
            model = self.peek_backfill(ref.id)  # not a read: the check must not move it on
            got = (model.status, model.events_ingested, model.close_time, model.reverted_at)
            want = (ref.status, ref.events_ingested, ref.close_time, ref.reverted_at)
            assert got == want, (
                f"backfill {ref.id}: (status, ingested, close, reverted) {got} != {want}"
            )
