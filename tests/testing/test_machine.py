"""The simulator against the independent reference model of ``orbsim.testing.OrbStateMachine``."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import invariant, run_state_machine_as_test

import orbsim.testing
from orbsim import Settings
from orbsim.settings import ReflectionProgression
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


# -- reflection progressions ------------------------------------------------------------------

RUNS = settings(
    max_examples=15,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
FIND = settings(RUNS, max_examples=60, phases=[Phase.generate], database=None, derandomize=True)
"""For machines that must fail: no shrinking (the failure is the point, not its smallest form)."""


def pinned(progression: ReflectionProgression) -> type[OrbStateMachine]:
    attributes = {"reflection_progressions": (progression,)}
    return type(f"Only{progression.title()}", (OrbStateMachine,), attributes)


@pytest.mark.parametrize("progression", ["observations", "time", "immediate"])
def test_the_machine_runs_each_progression(progression: ReflectionProgression) -> None:
    run_state_machine_as_test(pinned(progression), settings=RUNS)


def test_a_run_uses_the_progression_it_drew() -> None:
    seen: set[tuple[str, int]] = set()

    class Recording(OrbStateMachine):
        @invariant()
        def record(self) -> None:
            assert self.sim.settings == self.reference.settings
            s = self.sim.settings
            seen.add((s.reflection_progression, s.reflection_observations))

    run_state_machine_as_test(Recording, settings=settings(RUNS, max_examples=30, derandomize=True))
    assert {p for p, _ in seen} == {"observations", "time", "immediate"}
    assert {n for p, n in seen if p == "observations"} == {1, 2, 3}


def test_sim_settings_are_used_as_given_without_progressions() -> None:
    class AsGiven(OrbStateMachine):
        reflection_progressions = None

        @invariant()
        def time_with_an_hour(self) -> None:
            assert self.sim.settings.reflection_progression == "time"
            assert self.sim.settings.reflection_delay == timedelta(hours=1)

    run_state_machine_as_test(AsGiven, settings=settings(RUNS, max_examples=3))


Mutation = Callable[[Settings], dict[str, Any]]


def _mutant(progression: ReflectionProgression, wrong: Mutation) -> type[OrbStateMachine]:
    """A machine whose simulator progresses otherwise than the reference believes."""

    def use_settings(self: OrbStateMachine, chosen: Settings) -> None:
        OrbStateMachine.use_settings(self, chosen)
        self.sim.settings = Settings.model_validate({**chosen.model_dump(), **wrong(chosen)})

    attributes = {"reflection_progressions": (progression,), "use_settings": use_settings}
    return type("Mutant", (OrbStateMachine,), attributes)


HOUR, NO_DELAY = timedelta(hours=1), timedelta(0)
MUTATIONS: list[tuple[ReflectionProgression, Mutation]] = [
    # reflects one read later than the reference expects
    ("observations", lambda s: {"reflection_observations": s.reflection_observations + 1}),
    # one read earlier (the drawn count is 1..3; at 1 there is no earlier, so 2 -> 1 etc.)
    ("observations", lambda s: {"reflection_observations": max(1, s.reflection_observations - 1)}),
    # the clock, not reads, moves it on
    ("observations", lambda s: {"reflection_progression": "time", "reflection_delay": HOUR}),
    # reflected in the close itself
    ("observations", lambda s: {"reflection_progression": "immediate"}),
    # twice the delay
    ("time", lambda s: {"reflection_delay": 2 * s.reflection_delay}),
    # reads, not the clock, move it on
    ("time", lambda s: {"reflection_progression": "observations", "reflection_delay": NO_DELAY}),
    ("immediate", lambda s: {"reflection_progression": "observations"}),
]


@pytest.mark.parametrize(("progression", "wrong"), MUTATIONS)
def test_the_machine_catches_a_wrong_progression(
    progression: ReflectionProgression, wrong: Mutation
) -> None:
    with pytest.raises(AssertionError):
        run_state_machine_as_test(_mutant(progression, wrong), settings=FIND)
