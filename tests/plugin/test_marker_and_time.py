"""``@pytest.mark.orbsim`` and ``orb_time``: settings per test, frozen time shared with the sim."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest_plugins = ["pytester"]

Run = Callable[..., pytest.RunResult]


def test_marker_overrides_settings(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(
        """
        from datetime import timedelta
        import pytest

        @pytest.mark.orbsim(grace_period=timedelta(hours=1), amend_limit=2, reflection_delay="1m")
        def test_overrides(orb_sim):
            assert orb_sim.settings.grace_period == timedelta(hours=1)
            assert orb_sim.settings.amend_limit == 2
            assert orb_sim.settings.reflection_delay == timedelta(seconds=60)
            assert orb_sim.settings.deprecate_limit == 100  # untouched

        @pytest.mark.orbsim(amend_limit=5, deprecate_limit=7)
        class TestClassLevel:
            def test_inherits(self, orb_sim):
                assert (orb_sim.settings.amend_limit, orb_sim.settings.deprecate_limit) == (5, 7)

            @pytest.mark.orbsim(amend_limit=1)
            def test_closest_wins(self, orb_sim):
                assert (orb_sim.settings.amend_limit, orb_sim.settings.deprecate_limit) == (1, 7)

        def test_defaults(orb_sim):
            assert orb_sim.settings.amend_limit == 100
        """
    )
    run_inner("--strict-markers", passed=4)


def test_marker_is_registered(pytester: pytest.Pytester, run_inner: Run) -> None:
    result = run_inner("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.orbsim(**settings)*"])


def test_unknown_setting_fails_with_the_valid_names(
    pytester: pytest.Pytester, run_inner: Run
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.orbsim(grace=3600, amend_limt=1)
        def test_typo(orb_sim):
            pass
        """
    )
    result = run_inner(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.orbsim got unknown setting(s) amend_limt, grace; valid names: "
            "amend_limit, *grace_period, *now, *reflection_delay*"
        ]
    )


def test_unknown_setting_fails_for_orb_time_alone(
    pytester: pytest.Pytester, run_inner: Run
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.orbsim(nowww="2024-01-01T00:00:00Z")
        def test_typo(orb_time):
            pass
        """
    )
    run_inner(errors=1).stdout.fnmatch_lines(["*unknown setting(s) nowww; valid names:*"])


def test_invalid_values_and_positional_arguments(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.orbsim(amend_limit=-1)
        def test_negative(orb_sim):
            pass

        @pytest.mark.orbsim({"amend_limit": 1})
        def test_positional(orb_sim):
            pass

        @pytest.mark.orbsim(grace_period=12)
        def test_bare_number_duration(orb_sim):
            pass
        """
    )
    result = run_inner(errors=3)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.orbsim: invalid setting value:*amend_limit*",
            "*@pytest.mark.orbsim takes keyword arguments only*",
            "*@pytest.mark.orbsim: invalid setting value:*grace_period*12 is not a duration*PT12H*",
        ]
    )


def test_orb_time_moves_the_sim_and_the_test_together(
    pytester: pytest.Pytester, run_inner: Run
) -> None:
    pytester.makepyfile(
        """
        import time
        from datetime import UTC, date, datetime, timedelta

        def test_default_now(orb_time, orb_sim):
            start = datetime(2024, 5, 20, 12, tzinfo=UTC)
            assert orb_time.now() == start
            assert datetime.now(UTC) == start
            assert datetime.now() == start.replace(tzinfo=None)  # naive: UTC
            assert date.today() == date(2024, 5, 20)
            assert time.time() == start.timestamp()
            assert orb_sim.now() == start

        def test_tick_and_move(orb_time, orb_sim):
            assert orb_time.tick(90) == datetime(2024, 5, 20, 12, 1, 30, tzinfo=UTC)
            assert orb_sim.now() == datetime.now(UTC) == orb_time.now()
            orb_time.tick(timedelta(days=1))
            assert orb_sim.now() == datetime(2024, 5, 21, 12, 1, 30, tzinfo=UTC)
            assert orb_time.move_to("2024-06-01T00:00:00Z") == datetime(2024, 6, 1, tzinfo=UTC)
            assert orb_sim.now() == datetime(2024, 6, 1, tzinfo=UTC)
            orb_time.move_to(datetime(2024, 6, 2, 1, 0))  # naive: UTC
            assert datetime.now(UTC) == datetime(2024, 6, 2, 1, tzinfo=UTC)
            orb_time.move_to("2024-06-02T03:00:00+02:00")
            assert orb_sim.now() == datetime(2024, 6, 2, 1, tzinfo=UTC)

        def test_time_does_not_tick(orb_time):
            first = datetime.now(UTC)
            time.sleep(0.01)
            assert datetime.now(UTC) == first

        def test_sim_rules_follow_the_frozen_clock(orb_time, orb_sim):
            customer = orb_sim.customers.create(name="A", email="a@example.com")
            assert customer.created_at == orb_time.now()
            event = {"idempotency_key": "e", "event_name": "x", "customer_id": customer.id,
                     "timestamp": "2024-05-20T00:00:00Z", "properties": {}}
            orb_time.tick(timedelta(hours=12, microseconds=1))   # just past the grace period
            try:
                orb_sim.events.ingest(events=[event])
            except Exception as exc:
                assert "grace period" in str(exc)
            else:
                raise AssertionError("expected a refusal")
        """
    )
    run_inner(passed=4)


def test_orb_time_start_comes_from_the_marker(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(
        """
        from datetime import UTC, datetime
        import pytest

        @pytest.mark.orbsim(now="2023-12-31T23:59:59Z")
        def test_marker_now(orb_time):
            assert orb_time.now() == datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC)

        @pytest.mark.orbsim(now=datetime(2024, 2, 29, 8, 0, tzinfo=UTC), amend_limit=1)
        def test_now_freezes_even_without_orb_time(orb_sim):
            assert orb_sim.now() == datetime.now(UTC) == datetime(2024, 2, 29, 8, tzinfo=UTC)
            assert orb_sim.settings.amend_limit == 1

        def test_frozen_before_the_sim_whatever_the_order(orb_customer, orb_sim, orb_time):
            made = orb_customer()
            assert made.customer.created_at == datetime(2024, 5, 20, 12, tzinfo=UTC)
            assert made.subscription.status == "active"

        def test_real_time_without_orb_time(orb_sim):
            assert orb_sim.now().year >= 2025
        """
    )
    run_inner(passed=4)


def test_sdk_models_parse_under_frozen_time(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(
        """
        from datetime import UTC, datetime
        import httpx
        import orb

        NOW = datetime(2024, 5, 20, 12, tzinfo=UTC)

        def check(client):
            customer = client.customers.create(name="A", email="a@example.com")
            assert isinstance(customer.created_at, datetime)
            assert customer.created_at == NOW
            fetched = client.customers.fetch(customer.id)
            assert fetched.created_at == NOW
            plan = client.plans.create(currency="USD", name="p", prices=[])
            assert plan.created_at == NOW
            backfill = client.events.backfills.create(
                timeframe_start=datetime(2024, 5, 1, tzinfo=UTC),
                timeframe_end=datetime(2024, 5, 2, tzinfo=UTC))
            assert backfill.created_at == NOW
            assert isinstance(backfill.timeframe_start, datetime)

        def test_strict_in_process(orb_client, orb_time):
            check(orb_client)

        def test_lenient_in_process(orb_sim, orb_time):
            client = orb.Orb(api_key="k", base_url="http://orbsim.test/v1",
                             http_client=httpx.Client(transport=orb_sim.transport()))
            check(client)

        def test_over_http(orb_server, orb_time):
            client = orb.Orb(api_key="k", base_url=orb_server.base_url, max_retries=0)
            check(client)
            client.close()

        def test_strict_over_http_after_a_jump(orb_server, orb_time):
            orb_time.move_to("2030-01-01T00:00:00Z")
            client = orb.Orb(api_key="k", base_url=orb_server.base_url,
                             _strict_response_validation=True, max_retries=0)
            customer = client.customers.create(name="A", email="a@example.com")
            assert customer.created_at == datetime(2030, 1, 1, tzinfo=UTC)
            client.close()
        """
    )
    run_inner(passed=4)


def test_pytest_durations_stay_real(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(
        """
        import time

        def test_far_jump(orb_time):
            orb_time.move_to("1999-01-01T00:00:00Z")
            time.sleep(0.2)
        """
    )
    result = run_inner("--durations=0", "-vv", passed=1)
    result.stdout.fnmatch_lines(["0.[1-9]*s call *test_far_jump*"])
