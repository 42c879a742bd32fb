"""``OrbStateMachine``: every rule group together, the machine users run or subclass."""

from __future__ import annotations

from orbsim.testing.amendments import AmendmentRules, DeprecationRules
from orbsim.testing.backfills import BackfillRules

__all__ = ["OrbStateMachine"]


class OrbStateMachine(BackfillRules, AmendmentRules, DeprecationRules):
    """Random histories against a fresh simulator, checked against an independent reference:
    customers, ingestion and time (``BaseOrbMachine``), amendments, deprecations and backfills."""
