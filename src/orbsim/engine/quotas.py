"""Rolling per-customer quotas for amendments and deprecations (100 per 100 days by default).

Each request that succeeds is recorded at request time; a request is refused while ``limit`` earlier
ones fall inside the window ``(now - window, now]``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from orbsim.engine.timeparse import iso
from orbsim.errors import TooManyRequests
from orbsim.times import span


@dataclass(eq=False)
class RollingQuota:
    """Counts uses per customer over a sliding window, counted by the simulator's clock."""

    name: str
    limit: int = 100
    window: timedelta = timedelta(days=100)
    uses: dict[str, deque[datetime]] = field(default_factory=dict)
    """The times of each customer's counted uses, oldest first."""

    def _live(self, customer_id: str, now: datetime) -> deque[datetime]:
        uses = self.uses.setdefault(customer_id, deque())
        horizon = now - self.window
        while uses and uses[0] <= horizon:
            uses.popleft()
        return uses

    def used(self, customer_id: str, now: datetime) -> int:
        return len(self._live(customer_id, now))

    def check(self, customer_id: str, now: datetime) -> None:
        """Raise TooManyRequests if one more use would exceed the quota."""
        uses = self._live(customer_id, now)
        if len(uses) >= self.limit:
            frees_at = uses[0] + self.window if uses else now
            raise TooManyRequests(
                f"{self.name} limit reached: customer {customer_id} already has {len(uses)} "
                f"{self.name}s in the last {span(self.window)} (limit {self.limit}); the next one "
                f"is allowed at {iso(frees_at)}. Use a backfill for larger corrections."
            )

    def record(self, customer_id: str, now: datetime) -> None:
        self._live(customer_id, now).append(now)
