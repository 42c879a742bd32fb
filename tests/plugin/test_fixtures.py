"""Every fixture of ``pytest_orbsim``, run in inner pytest sessions, plus isolation and xdist."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest_plugins = ["pytester"]

Run = Callable[..., pytest.RunResult]


def test_orb_sim_is_fresh_seeded_and_on_the_system_clock(
    pytester: pytest.Pytester, run_inner: Run
) -> None:
    pytester.makepyfile(
        """
        from orbsim import OrbSim, Settings, SystemClock

        def test_sim(orb_sim):
            assert isinstance(orb_sim, OrbSim)
            assert isinstance(orb_sim.clock, SystemClock)
            assert orb_sim.settings == Settings()
            assert orb_sim.customers.list().data == []
            first = orb_sim.customers.create(name="A", email="a@example.com")
            again = OrbSim(seed=0).customers.create(name="A", email="a@example.com")
            assert first.id == again.id  # seed=0: reproducible ids
        """
    )
    run_inner(passed=1)


def test_orb_client_is_a_strict_in_process_sdk_client(
    pytester: pytest.Pytester, run_inner: Run
) -> None:
    pytester.makepyfile(
        """
        import orb

        def test_client(orb_client, orb_sim):
            assert isinstance(orb_client, orb.Orb)
            assert orb_client._strict_response_validation is True
            customer = orb_client.customers.create(name="Acme", email="billing@acme.test")
            assert orb_sim.customers.fetch(customer.id).name == "Acme"
            assert [r.path for r in orb_sim.requests] == ["/customers"]
        """
    )
    run_inner(passed=1)


def test_orb_async_client_under_pytest_asyncio(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import orb
        import pytest

        @pytest.mark.asyncio
        async def test_async(orb_async_client, orb_sim):
            assert isinstance(orb_async_client, orb.AsyncOrb)
            assert orb_async_client._strict_response_validation is True
            customer = await orb_async_client.customers.create(name="A", email="a@example.com")
            await asyncio.sleep(0)
            assert orb_sim.customers.fetch(customer.id).email == "a@example.com"

        @pytest.mark.asyncio
        async def test_async_with_frozen_time(orb_async_client, orb_time):
            await asyncio.sleep(0.01)  # real_asyncio: the event loop keeps real time
            customer = await orb_async_client.customers.create(name="A", email="a@example.com")
            assert customer.created_at == orb_time.now()
        """
    )
    run_inner("-p", "asyncio", passed=2)


def test_orb_server_serves_the_sim_and_stops(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(
        """
        import orb

        SEEN = []

        def test_server(orb_server, orb_sim):
            SEEN.append(orb_server)
            assert orb_server.base_url.startswith("http://127.0.0.1:")
            assert orb_server.base_url.endswith("/v1")
            client = orb.Orb(api_key="k", base_url=orb_server.base_url, max_retries=0)
            customer = client.customers.create(name="A", email="a@example.com")
            assert orb_sim.customers.fetch(customer.id).id == customer.id
            client.close()

        def test_stopped_after_the_test():
            assert SEEN and not SEEN[0].running
        """
    )
    run_inner(passed=2)


def test_orb_env_lets_unconfigured_clients_reach_the_sim(
    pytester: pytest.Pytester, run_inner: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        """
        import os
        import orb

        def build_and_call():
            client = orb.Orb()              # code under test: no arguments at all
            try:
                return client.customers.create(name="A", email="a@example.com")
            finally:
                client.close()

        def test_env(orb_env, orb_sim):
            assert os.environ["ORB_BASE_URL"] == orb_env.base_url == orb_env.server.base_url
            assert os.environ["ORB_API_KEY"] == orb_env.api_key
            assert orb_env.sim is orb_sim
            customer = build_and_call()
            assert orb_sim.customers.fetch(customer.id).name == "A"

        def test_env_is_restored():
            assert "ORB_BASE_URL" not in os.environ
            assert "ORB_API_KEY" not in os.environ
        """
    )
    monkeypatch.delenv("ORB_BASE_URL", raising=False)
    monkeypatch.delenv("ORB_API_KEY", raising=False)
    run_inner(passed=2)


def test_orb_customer_factory(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(
        """
        from datetime import datetime, UTC

        def test_defaults(orb_customer, orb_sim, orb_time):
            made = orb_customer()
            assert made.id == made.customer.id
            assert made.external_customer_id is None
            assert made.subscription.status == "active"
            assert made.subscription.customer.id == made.id
            assert made.plan.billing_cadence == "monthly"
            assert made.customer.currency == "USD"
            # starts on the 1st of the previous month: recent events can be amended
            assert made.subscription.start_date == datetime(2024, 4, 1, tzinfo=UTC)
            orb_sim.events.ingest(events=[{
                "idempotency_key": "e1", "event_name": "x", "customer_id": made.id,
                "timestamp": "2024-05-20T00:30:00Z", "properties": {}}])
            orb_sim.events.update("e1", event_name="x", customer_id=made.id,
                                  timestamp="2024-05-20T00:30:00Z", properties={"n": 1})

        def test_options(orb_customer):
            made = orb_customer(alias="acme", cadence="quarterly", timezone="America/New_York",
                                start_date="2024-01-15T00:00:00Z", name="Acme",
                                metadata={"tier": "gold"})
            assert made.external_customer_id == "acme"
            assert made.customer.name == "Acme"
            assert made.customer.metadata == {"tier": "gold"}
            assert made.customer.timezone == "America/New_York"
            assert made.plan.billing_cadence == "quarterly"
            assert made.subscription.start_date == datetime(2024, 1, 15, tzinfo=UTC)

        def test_several(orb_customer, orb_sim):
            first, second = orb_customer(alias="a"), orb_customer(alias="b")
            assert first.id != second.id
            assert len(orb_sim.customers.list().data) == 2
            assert first.metric is None and first.price is None and first.plan.prices == []

        def test_with_a_metric_and_a_price(orb_customer, orb_sim, orb_time):
            made = orb_customer(
                metric_sql="SELECT SUM(n) FROM events WHERE event_name = 'x'",
                price={"model_type": "package",
                       "package_config": {"package_amount": "5", "package_size": 10}},
            )
            assert made.price["model_type"] == "package"
            assert made.price["billable_metric"] == {"id": made.metric.id}
            orb_sim.events.ingest(events=[{
                "idempotency_key": "e1", "event_name": "x", "customer_id": made.id,
                "timestamp": "2024-05-20T00:30:00Z", "properties": {"n": 11}}])
            usage = orb_sim.subscriptions.fetch_usage(made.subscription.id).data
            assert [u.usage[0].quantity for u in usage] == [11]
            costs = orb_sim.subscriptions.fetch_costs(made.subscription.id).data
            assert costs[-1].total == "10.00"  # two packages of ten
        """
    )
    run_inner(passed=4)


def test_tests_do_not_share_state(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("round", [1, 2, 3])
        def test_alone(round, orb_sim, orb_client):
            assert orb_sim.customers.list().data == []
            assert len(orb_sim.requests) == 0
            orb_client.customers.create(name="A", email="a@example.com",
                                        external_customer_id="acme")  # no duplicate alias
            orb_sim.events.ingest(events=[{
                "idempotency_key": "same-key", "event_name": "x",
                "external_customer_id": "acme", "timestamp": orb_sim.now().isoformat(),
                "properties": {}}])
            assert len(orb_sim.billable_events()) == 1  # not skipped as a duplicate
        """
    )
    run_inner(passed=3)


def test_safe_under_xdist(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(
        """
        import os
        import orb
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_parallel(n, orb_env, orb_customer, orb_time):
            orb_customer(alias=f"acme-{n}")
            client = orb.Orb(max_retries=0)
            client.events.ingest(events=[{
                "idempotency_key": "k", "event_name": "x", "external_customer_id": f"acme-{n}",
                "timestamp": "2024-05-20T11:00:00Z", "properties": {}}])
            client.close()
            assert len(orb_env.sim.billable_events()) == 1
            assert os.environ["PYTEST_XDIST_WORKER"].startswith("gw")
        """
    )
    run_inner("-p", "xdist", "-n", "2", subprocess=True, passed=6)


def test_clients_use_an_accepted_key(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(
        """
        import orb
        import pytest

        @pytest.mark.orbsim(api_keys=frozenset({"secret-b", "secret-a"}))
        def test_restricted_keys(orb_client, orb_env):
            orb_client.customers.create(name="A", email="a@example.com")
            assert orb_env.api_key == "secret-a"
            client = orb.Orb(max_retries=0)
            assert len(client.customers.list().data) == 1
            client.close()
            with pytest.raises(orb.AuthenticationError):
                orb.Orb(api_key="wrong", max_retries=0).customers.list()
        """
    )
    run_inner(passed=1)
