"""``orb_webhooks``: an endpoint whose deliveries collect in-process, verified by the SDK, on the
system clock, under ``orb_time`` and through the SDK client."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest_plugins = ["pytester"]

Run = Callable[..., pytest.RunResult]


def test_orb_webhooks_collects_verified_events(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(
        """
        from pytest_orbsim import OrbWebhooks

        def test_events(orb_webhooks, orb_client):
            assert isinstance(orb_webhooks, OrbWebhooks)
            assert orb_webhooks.secret.startswith("whsec_")
            customer = orb_client.customers.create(name="Acme", email="a@acme.test")
            orb_client.customers.update(customer.id, name="Acme Inc")
            assert orb_webhooks.types() == ["customer.created", "customer.edited"]
            created, edited = orb_webhooks.events()
            assert created.customer.id == customer.id
            assert edited.properties.previous_attributes.name == "Acme"
            assert orb_webhooks.events("customer.edited") == [edited]
            assert orb_webhooks.payloads("customer.created")[0]["customer"]["name"] == "Acme"
            orb_webhooks.deliveries.assert_delivered("customer.created", times=1)
            orb_webhooks.clear()
            assert orb_webhooks.requests == []
        """
    )
    run_inner(passed=1)


def test_orb_webhooks_under_orb_time(pytester: pytest.Pytester, run_inner: Run) -> None:
    """Frozen at 2024 with the SDK on real time: signed with the real time, the events verify;
    their ``created_at`` is the frozen moment."""
    pytester.makepyfile(
        """
        from datetime import UTC, datetime, timedelta

        def test_frozen(orb_time, orb_webhooks, orb_sim, orb_customer):
            orb_customer()
            orb_sim.events.backfills.create(
                timeframe_start=orb_time.now() - timedelta(days=3),
                timeframe_end=orb_time.now() - timedelta(days=2),
            )
            backfill = orb_sim.events.backfills.list().data[0]
            orb_sim.events.backfills.close(backfill.id)
            orb_sim.events.backfills.fetch(backfill.id)  # the first poll: reflected
            orb_time.tick(timedelta(hours=1))
            (reflected,) = orb_webhooks.events("backfill.reflected")
            assert reflected.created_at == datetime(2024, 5, 20, 12, tzinfo=UTC)
            # orb_customer's subscription started last month: that month's invoice issues
            # when the subscription is created (settled by the next operation)
            assert orb_webhooks.types() == [
                "customer.created", "subscription.created", "subscription.started",
                "invoice.issued", "backfill.reflected",
            ]
        """
    )
    run_inner(passed=1)
