"""Rule groups for amending and deprecating events; join them by subclassing.

``AmendmentRules`` and ``DeprecationRules`` each add one operation (``amend``, ``deprecate``),
checked against the reference's prediction, and the rule that draws it. ``OrbStateMachine`` has
both; a machine that should only ingest and deprecate subclasses ``DeprecationRules`` alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from orbsim.testing.base import BaseOrbMachine
from orbsim.testing.records import Properties

__all__ = ["AmendmentRules", "DeprecationRules"]


class AmendmentRules(BaseOrbMachine):
    """Amendments: new name and properties for live events, within the billing window and the
    amendment quota; a different timestamp or customer is refused."""

    def amend(
        self,
        key: str,
        event_name: str,
        properties: Properties,
        ref: dict[str, str] | None = None,
        timestamp: datetime | None = None,
    ) -> bool:
        """Amend live event ``key`` (by default sent with its own customer identifier)."""
        self._settle()
        event = self.live[key]
        ref = ref if ref is not None else self.reference.own_ref(event)
        when = timestamp if timestamp is not None else event.timestamp
        result = self._run(
            "amend",
            self.reference.predict_amend(key, ref, when),
            lambda: self.sim.events.update(
                key,
                event_name=event_name,
                properties=properties,
                timestamp=when.isoformat(),
                **ref,
            ),
        )
        if result is None:
            return False
        self.reference.apply_amend(key, event_name, properties)
        return True

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def amend_event(self, data: st.DataObject) -> None:
        key = self._pick_key(data)
        event = self.live[key]
        ref: dict[str, str] | None = None
        choice = data.draw(st.integers(0, 5), label="how to name the customer")
        if choice == 1:
            owner = self.reference.owner(event)
            other = self.reference.customer(owner) if owner is not None else None
            if other is not None and other.alias is not None:
                ref = (
                    {"external_customer_id": other.alias}
                    if event.customer_id is not None
                    else {"customer_id": other.id}
                )
        elif choice == 2:
            ref = data.draw(self._refs(), label="some customer")
        timestamp = None
        if data.draw(st.integers(0, 9), label="change the timestamp") == 0:
            timestamp = event.timestamp + timedelta(seconds=1)
        self.amend(
            key,
            data.draw(st.sampled_from(["api_call", "tokens"])),
            data.draw(self._properties(), label="properties"),
            ref=ref,
            timestamp=timestamp,
        )


class DeprecationRules(BaseOrbMachine):
    """Deprecations: live events stop counting, within the billing window and the deprecation
    quota; deprecating again succeeds and uses no quota."""

    def deprecate(self, key: str) -> bool:
        """Deprecate live event ``key``; deprecating it again succeeds without using quota."""
        self._settle()
        expected = self.reference.predict_deprecate(key)
        if self._run("deprecate", expected, lambda: self.sim.events.deprecate(key)) is None:
            return False
        self.reference.apply_deprecate(key)
        return True

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def deprecate_event(self, data: st.DataObject) -> None:
        self.deprecate(self._pick_key(data))
