"""The simulator against the independent reference model of ``orbsim.testing.OrbStateMachine``."""

from __future__ import annotations

import re
import textwrap

from hypothesis import HealthCheck, settings
from hypothesis.stateful import invariant, run_state_machine_as_test

import orbsim.testing
from orbsim.testing import (
    AmendmentRules,
    BackfillRules,
    BaseOrbMachine,
    DeprecationRules,
    OrbStateMachine,
)

TestOrbStateMachine = OrbStateMachine.TestCase
TestOrbStateMachine.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _doc_blocks(doc: str) -> list[str]:
    """The ``::`` literal blocks of a docstring, dedented."""
    blocks = []
    for match in re.finditer(r"::\n\n((?:    .*\n|\n)+)", doc):
        blocks.append(textwrap.dedent(match.group(1)))
    return blocks


def test_the_documented_subclass_runs() -> None:
    """The module docstring's subclassing example works as written."""
    assert orbsim.testing.__doc__ is not None
    example = next(b for b in _doc_blocks(orbsim.testing.__doc__) if "class ReportMachine" in b)
    namespace: dict[str, object] = {"OrbStateMachine": OrbStateMachine}
    exec(compile(example, "orbsim.testing docstring", "exec"), namespace)
    machine = namespace["ReportMachine"]
    assert isinstance(machine, type) and issubclass(machine, OrbStateMachine)
    run_state_machine_as_test(
        machine, settings=settings(max_examples=5, stateful_step_count=15, deadline=None)
    )


class OnlyDeprecations(DeprecationRules):
    """A machine that joins one rule group: customers, ingestion, time and deprecations."""

    @invariant()
    def no_backfill_or_amendment_happens(self) -> None:
        assert self.backfills == []
        assert not any(event.amended for event in self.live.values())


def test_a_rule_group_runs_on_its_own() -> None:
    assert not hasattr(OnlyDeprecations, "amend")
    assert not hasattr(OnlyDeprecations, "create_backfill")
    run_state_machine_as_test(
        OnlyDeprecations, settings=settings(max_examples=5, stateful_step_count=15, deadline=None)
    )


def test_the_full_machine_joins_every_rule_group() -> None:
    assert issubclass(OrbStateMachine, BaseOrbMachine)
    for group in (AmendmentRules, BackfillRules, DeprecationRules):
        assert issubclass(OrbStateMachine, group)
