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
histories; override ``make_sim`` to build the simulator differently. Each run draws a backfill
reflection progression from ``reflection_progressions`` (``"observations"``, ``"time"``,
``"immediate"``; one to pin it, ``None`` for ``sim_settings`` as given); backfills are polled and
listed as a user would, and the reference predicts what each read answers.

The package's parts:

* ``orbsim.testing.reference``: ``ReferenceModel``, the reference as a plain class (no hypothesis
  import), usable and tested on its own; the machine keeps one as ``self.reference``.
* ``orbsim.testing.base``: ``BaseOrbMachine``, the core (customers, ingestion, time, the
  invariants on versions, billable view, volume and search).
* rule groups to join by subclassing: ``BackfillRules`` (``orbsim.testing.backfills``),
  ``AmendmentRules`` and ``DeprecationRules`` (``orbsim.testing.amendments``).
  ``OrbStateMachine`` is all three; ``class Mine(DeprecationRules)`` runs histories of customers,
  ingestion, time and deprecations only.

Importing ``orbsim.testing`` (or ``orbsim.testing.reference``) does not import hypothesis; the
machine classes are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from orbsim.testing.records import (
    DOCUMENTED_REFUSALS,
    RefBackfill,
    RefCustomer,
    RefEvent,
)
from orbsim.testing.reference import ReferenceModel

if TYPE_CHECKING:
    from orbsim.testing.amendments import AmendmentRules, DeprecationRules
    from orbsim.testing.backfills import BackfillRules
    from orbsim.testing.base import BaseOrbMachine
    from orbsim.testing.machine import OrbStateMachine

__all__ = [
    "DOCUMENTED_REFUSALS",
    "AmendmentRules",
    "BackfillRules",
    "BaseOrbMachine",
    "DeprecationRules",
    "OrbStateMachine",
    "RefBackfill",
    "RefCustomer",
    "RefEvent",
    "ReferenceModel",
]

_MACHINES = {
    "AmendmentRules": "orbsim.testing.amendments",
    "BackfillRules": "orbsim.testing.backfills",
    "BaseOrbMachine": "orbsim.testing.base",
    "DeprecationRules": "orbsim.testing.amendments",
    "OrbStateMachine": "orbsim.testing.machine",
}


def __getattr__(name: str) -> Any:
    """The hypothesis machines, imported on first use (the reference needs no hypothesis)."""
    if name in _MACHINES:
        return getattr(importlib.import_module(_MACHINES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
