"""The plugin costs nothing until used; its options (manual clock, retries, a factory for
hypothesis) and the clear errors and warnings it gives for mistakes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest_plugins = ["pytester"]

Run = Callable[..., pytest.RunResult]


def test_a_run_without_orbsim_fixtures_imports_nothing_of_orbsim(
    pytester: pytest.Pytester, run_inner: Run
) -> None:
    pytester.makepyfile(
        """
        import sys

        import pytest_orbsim  # the plugin is loaded, by the entry point

        def test_plain():
            heavy = [name for name in sys.modules
                     if name.split(".")[0] in {"orbsim", "orb", "sqlglot", "pydantic", "freezegun"}]
            assert heavy == []
        """
    )
    run_inner(subprocess=True, passed=1)


def test_orb_time_preloads_the_sdk_only_for_tests_that_may_use_it(
    pytester: pytest.Pytester, run_inner: Run
) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_engine_only(orb_sim, orb_time):
            orb_sim.customers.create(name="A", email="a@example.com")
            assert "orb" not in sys.modules

        def test_with_the_sdk(orb_client, orb_time):
            assert "orb.resources.events.backfills" in sys.modules
            assert orb_client.customers.create(name="A", email="a@example.com").created_at
        """
    )
    run_inner("-p", "no:randomly", subprocess=True, passed=2)


def test_orb_sim_factory_gives_a_fresh_sim_per_hypothesis_example(
    pytester: pytest.Pytester, run_inner: Run
) -> None:
    pytester.makepyfile(
        """
        from datetime import timedelta

        import pytest
        from hypothesis import given, settings, strategies as st

        from orbsim import ManualClock

        SEEN = []

        @pytest.mark.orbsim(amend_limit=3, clock="manual", now="2024-05-20T12:00:00Z")
        @settings(max_examples=10, deadline=None)
        @given(names=st.lists(st.text(min_size=1, max_size=5), max_size=3))
        def test_fresh_per_example(orb_sim_factory, names):
            sim = orb_sim_factory()
            assert sim.customers.list().data == []  # nothing left by another example
            assert sim.settings.amend_limit == 3  # the marker applies
            assert isinstance(sim.clock, ManualClock)
            for name in names:
                sim.customers.create(name=name, email="x@example.com")
            SEEN.append(sim)

        def test_overrides_and_defaults(orb_sim_factory):
            assert orb_sim_factory(grace_period=timedelta(hours=1)).settings.grace_period == (
                timedelta(hours=1)
            )
            assert orb_sim_factory().settings.amend_limit == 100
            assert len({id(sim) for sim in SEEN}) == len(SEEN) > 1
        """
    )
    run_inner(passed=2)


def test_a_failing_factory_test_reports_its_last_simulator(
    pytester: pytest.Pytester, run_inner: Run
) -> None:
    pytester.makepyfile(
        """
        def test_fails(orb_sim_factory):
            orb_sim_factory()
            sim = orb_sim_factory()
            sim.customers.create(name="only in the second", email="x@example.com")
            try:
                sim.customers.fetch("nope")
            except Exception:
                pass
            assert False
        """
    )
    result = run_inner(failed=1)
    result.stdout.fnmatch_lines(
        ["*- orbsim -*", "simulator: OrbSim(customers=1, *", "  ResourceNotFound (404): *nope*"]
    )


def test_clock_manual_runs_orb_sim_on_a_manual_clock(
    pytester: pytest.Pytester, run_inner: Run
) -> None:
    pytester.makepyfile(
        """
        from datetime import UTC, datetime

        import pytest

        from orbsim import ManualClock

        @pytest.mark.orbsim(clock="manual", now="2024-05-31T23:00:00Z")
        def test_manual(orb_sim, orb_client):
            assert isinstance(orb_sim.clock, ManualClock)
            assert orb_sim.now() == datetime(2024, 5, 31, 23, tzinfo=UTC)
            orb_sim.clock.advance(hours=2)
            assert orb_client.customers.create(name="A", email="a@example.com").created_at == (
                datetime(2024, 6, 1, 1, tzinfo=UTC)
            )
            assert datetime.now(UTC).year >= 2025  # the test's own time is not frozen

        @pytest.mark.orbsim(clock="manual")
        def test_default_start(orb_sim):
            assert orb_sim.now() == datetime(2024, 5, 20, 12, tzinfo=UTC)
        """
    )
    run_inner(passed=2)


def test_max_retries_option_for_the_clients(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(
        """
        import orb
        import pytest

        @pytest.mark.orbsim(max_retries=0)
        def test_no_retries(orb_sim, orb_client):
            orb_sim.faults.add(503, path="/customers")
            with pytest.raises(orb.InternalServerError):
                orb_client.customers.list()
            assert [r.status for r in orb_sim.requests] == [503]

        @pytest.mark.orbsim(max_retries=0)
        @pytest.mark.asyncio
        async def test_no_retries_async(orb_sim, orb_async_client):
            orb_sim.faults.add(503, path="/customers")
            with pytest.raises(orb.InternalServerError):
                await orb_async_client.customers.list()

        def test_default_retries(orb_sim, orb_client):
            orb_sim.faults.add(503, path="/customers")
            orb_client.customers.list()
            assert [r.status for r in orb_sim.requests] == [503, 200]
        """
    )
    run_inner("-p", "asyncio", passed=3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('now="yesterday"', "*now='yesterday' is not a time; give a datetime or an ISO 8601*"),
        ("now=12", "*now=12 is not a time*"),
        ('clock="frozen"', "*clock='frozen' is not one of 'system', 'manual'*"),
        ("max_retries=-1", "*max_retries=-1 must be an integer >= 0*"),
    ],
)
def test_invalid_fixture_options_fail_clearly(
    pytester: pytest.Pytester, run_inner: Run, options: str, message: str
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.orbsim({options})
        def test_it(orb_sim, orb_time):
            pass
        """
    )
    result = run_inner(errors=1)
    result.stdout.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str()
    assert "_marker.py" not in result.stdout.str()


def test_a_marker_on_a_test_without_orbsim_fixtures_warns(
    pytester: pytest.Pytester, run_inner: Run
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def service(orb_sim):
            return orb_sim

        @pytest.mark.orbsim(amend_limit=1)
        def test_forgot_the_fixture():
            pass

        @pytest.mark.orbsim(amend_limit=1)
        def test_through_another_fixture(service):
            assert service.settings.amend_limit == 1

        @pytest.mark.orbsim(amend_limit=1)
        class TestCovered:
            def test_not_every_test_needs_the_sim(self):
                pass
        """
    )
    result = run_inner("-W", "always", passed=3)
    result.stdout.fnmatch_lines(
        ["*OrbsimWarning: @pytest.mark.orbsim on test_forgot_the_fixture has no effect*"]
    )
    assert result.stdout.str().count("OrbsimWarning") == 1


def test_a_manual_clock_with_orb_time_warns_of_two_clocks(
    pytester: pytest.Pytester, run_inner: Run
) -> None:
    pytester.makepyfile(
        """
        import pytest

        from orbsim import ManualClock, OrbSim

        @pytest.mark.orbsim(clock="manual")
        def test_both(orb_sim, orb_time):
            pass

        def test_made_inside_orb_time(orb_time):
            OrbSim(clock=ManualClock("2024-05-20T12:00:00Z"))
        """
    )
    result = run_inner("-W", "always", passed=2)
    result.stdout.fnmatch_lines(
        [
            "*OrbsimWarning: test_both: clock='manual' and orb_time together*disagree*",
            "*ClockConflictWarning: ManualClock made while freezegun freezes time*",
        ]
    )
