"""The billable view: which stored event versions count for billing right now.

Nothing is ever deleted; the view is computed. An event counts unless it was deprecated, or it
belongs to a backfill that is not in effect, or a later-reflected replacing backfill covers it
(same timeframe, scope and ``deprecation_filter``). Backfills compose in reflection order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from orbsim.engine.store import StoredEvent

if TYPE_CHECKING:
    from orbsim.engine.backfills import BackfillRecord
    from orbsim.engine.sim import OrbSim

EFFECTIVE = frozenset(("reflected", "pending_revert"))


class Ledger:
    """Answers "does this event count?" against the backfills in effect."""

    def __init__(self, sim: OrbSim) -> None:
        self._sim = sim

    def owner(self, event: StoredEvent) -> str | None:
        """The customer an event counts for: its customer_id, or the live holder of its alias."""
        if event.customer_id is not None:
            return event.customer_id
        assert event.external_customer_id is not None
        holder = self._sim.customers.holder_of(event.external_customer_id)
        return None if holder is None else holder.id

    def replacing(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        customer_id: str | bool | None = True,
    ) -> list[BackfillRecord]:
        """Replacing backfills in effect that overlap ``[start, end)``.

        ``customer_id=True`` keeps every scope; a customer id (or None for unattributed events)
        keeps account-wide backfills and those scoped to that customer.
        """
        found = []
        for backfill in self._sim.events.backfills.in_effect():
            if not backfill.replace_existing_events:
                continue
            if start is not None and backfill.timeframe_end <= start:
                continue
            if end is not None and backfill.timeframe_start >= end:
                continue
            if (
                customer_id is not True
                and backfill.customer_id is not None
                and backfill.customer_id != customer_id
            ):
                continue
            found.append(backfill)
        return found

    def counts(
        self,
        event: StoredEvent,
        replacing: Iterable[BackfillRecord],
        owner: str | None = None,
        owner_known: bool = False,
    ) -> bool:
        """Whether ``event`` counts, given the replacing backfills that may hide it.

        Pass ``owner_known=True`` with ``owner`` when the caller already knows the customer.
        """
        if event.deprecated:
            return False
        own = event.backfill
        if own is None:
            after = -1
        elif own.status in EFFECTIVE:
            after = own.reflect_seq
        else:
            return False
        timestamp = event.timestamp
        for backfill in replacing:
            if backfill is own or backfill.reflect_seq <= after:
                continue
            if not backfill.timeframe_start <= timestamp < backfill.timeframe_end:
                continue
            if backfill.customer_id is not None:
                if not owner_known:
                    owner = self.owner(event)
                    owner_known = True
                if backfill.customer_id != owner:
                    continue
            matcher = backfill.matcher
            if matcher is not None and not matcher(event.properties):
                continue
            return False
        return True
