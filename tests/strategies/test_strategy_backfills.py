"""``orbsim.strategies.backfills``: generated backfills are accepted at their time, and generated
``deprecation_filter`` expressions parse and are kept as given."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from hypothesis import given
from hypothesis import strategies as st

from helpers.strategy_sim import NOW, fresh_sim
from orbsim import strategies as ost

if TYPE_CHECKING:
    pass


@given(data=st.data())
def test_backfill_payloads_are_accepted(data: st.DataObject) -> None:
    sim, customer_id = fresh_sim()
    payload = data.draw(
        ost.backfill_payloads(now=NOW, customer_ids=[customer_id], external_customer_ids=["acme"])
    )
    backfill = sim.events.backfills.create(**payload)
    assert backfill.status == "pending"
    assert backfill.timeframe_end - backfill.timeframe_start <= timedelta(days=31)
    if "customer_id" in payload or "external_customer_id" in payload:
        assert backfill.customer_id == customer_id


@given(text=ost.deprecation_filters(("region", "tier", "count")))
def test_deprecation_filters_are_valid(text: str) -> None:
    sim, _ = fresh_sim()
    backfill = sim.events.backfills.create(
        timeframe_start=NOW - timedelta(hours=2),
        timeframe_end=NOW - timedelta(hours=1),
        deprecation_filter=text,
    )
    assert backfill.deprecation_filter == text
