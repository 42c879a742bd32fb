"""Hypothesis strategies for Orb payloads, so tests fuzz with data the simulator's rules care about.

Every strategy is built from ``st.builds`` / ``st.fixed_dictionaries`` / integer offsets rather than
filters, so generation is cheap and failures shrink to the simplest payload: a timestamp shrinks
towards ``now`` (or towards the rule's edge), a batch towards one event, properties towards ``{}``.
All of them compose: pass a strategy where a parameter takes one.

Valid payloads (accepted by ``sim.events.ingest`` and ``client.events.ingest``)::

    from hypothesis import given
    from orbsim import strategies as ost

    @given(batch=ost.event_batches(now=NOW, external_customer_ids=["acme"]))
    def test_ingest(batch): ...

Invalid payloads, each breaking exactly one named ingestion rule, for fuzzing your own error
handling::

    @given(case=ost.invalid_events(customer_ids=[customer.id], now=NOW))
    def test_refused(case):
        rule, payload = case          # also case.field: the field the error names

The package's modules, one job each (every name is re-exported here):

* ``times``: timestamps against ingestion's window, near billing-period edges, and their formats;
* ``ingestion``: valid events, batches, properties, names, idempotency keys and aliases;
* ``customers``: ``customers.create`` payloads;
* ``backfills``: ``deprecation_filter`` expressions and ``backfills.create`` payloads;
* ``invalid``: events breaking exactly one named ingestion rule.

The constants and type aliases imported ``as`` themselves are re-exported too, outside ``__all__``
(which names the strategies), as they were reachable before the package existed.
"""

from orbsim.strategies.backfills import backfill_payloads, deprecation_filters
from orbsim.strategies.customers import TIMEZONES as TIMEZONES
from orbsim.strategies.customers import customer_payloads
from orbsim.strategies.ingestion import (
    KEY_ALPHABET as KEY_ALPHABET,
)
from orbsim.strategies.ingestion import (
    NAMESPACE_SEPARATOR as NAMESPACE_SEPARATOR,
)
from orbsim.strategies.ingestion import (
    event_batches,
    event_names,
    events,
    external_customer_ids,
    idempotency_keys,
    properties,
    property_keys,
    property_values,
)
from orbsim.strategies.invalid import (
    INVALID_EVENT_RULES,
    InvalidEvent,
    invalid_events,
)
from orbsim.strategies.invalid import (
    INVALID_KEY_NAMESPACE as INVALID_KEY_NAMESPACE,
)
from orbsim.strategies.times import (
    Timestamp as Timestamp,
)
from orbsim.strategies.times import (
    TimestampFormat as TimestampFormat,
)
from orbsim.strategies.times import (
    Window as Window,
)
from orbsim.strategies.times import (
    billing_period_edges,
    render_timestamps,
    timestamps,
    timestamps_near,
)

__all__ = [
    "INVALID_EVENT_RULES",
    "InvalidEvent",
    "backfill_payloads",
    "billing_period_edges",
    "customer_payloads",
    "deprecation_filters",
    "event_batches",
    "event_names",
    "events",
    "external_customer_ids",
    "idempotency_keys",
    "invalid_events",
    "properties",
    "property_keys",
    "property_values",
    "render_timestamps",
    "timestamps",
    "timestamps_near",
]
