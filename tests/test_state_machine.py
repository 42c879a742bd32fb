"""The simulator against the independent reference model of ``orbsim.testing.OrbStateMachine``."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

from orbsim.testing import OrbStateMachine

TestOrbStateMachine = OrbStateMachine.TestCase
TestOrbStateMachine.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
