"""Usage events: ingest, amend (``update``), deprecate, search, and hourly volume.

Ingestion is atomic per request and at-most-once per idempotency key; amend and deprecate keep
every version (audit-safe) and are bounded by the billing-period rules and per-customer quotas.

The package's modules, one job each; ``Events`` is made of the first three:

* ``ingestion``: ``ingest`` and the validation of what is ingested;
* ``amendments``: ``update`` (amend), ``deprecate`` and ``versions``;
* ``search``: ``search``;
* ``volume``: ``Volume``, ``sim.events.volume``;
* ``arguments``: what every operation does with its arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbsim.engine.backfills import Backfills
from orbsim.engine.events.amendments import Amendments
from orbsim.engine.events.ingestion import Accepted, Ingestion
from orbsim.engine.events.search import Search
from orbsim.engine.events.volume import Volume, ingested
from orbsim.engine.reporting import reports_errors

if TYPE_CHECKING:
    from orbsim.engine.core import Engine

__all__ = ["Accepted", "Events", "Volume", "ingested"]


@reports_errors
class Events(Ingestion, Amendments, Search):
    """``sim.events``: ingest, update (amend), deprecate, search; ``volume`` and ``backfills``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.volume = Volume(engine)
        self.backfills = Backfills(engine)
