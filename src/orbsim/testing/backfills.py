"""The rule group for backfills; join it by subclassing ``BackfillRules``.

Backfills are created (from ``strategies.backfill_payloads``, sometimes correcting an earlier
correction), filled, closed, reverted and left to reflect; the reference's own status machine
predicts every outcome, and an invariant compares each backfill's status and counters.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from orbsim import strategies as ost
from orbsim.testing.base import BaseOrbMachine
from orbsim.testing.records import RefBackfill

__all__ = ["BackfillRules"]


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
        self.advance(self.sim_settings.reflection_delay)

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
        self.close_backfill(data.draw(st.sampled_from(self.backfills), label="backfill").id)
        if data.draw(st.booleans(), label="wait for reflection"):
            self.advance(self.sim_settings.reflection_delay)

    @precondition(lambda self: self.backfills)
    @rule(data=st.data())
    def revert_a_backfill(self, data: st.DataObject) -> None:
        self.revert_backfill(data.draw(st.sampled_from(self.backfills), label="backfill").id)

    # -- invariants ---------------------------------------------------------------------------

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
