"""``orbsim.__all__`` is the public API: every name in it exists, is defined where it says, and
nothing is added or removed without this list changing (httpx's test of the same name)."""

from __future__ import annotations

import subprocess
import sys

import orbsim

PUBLIC = [
    "AmendResult",
    "AsyncOrbSimTransport",
    "Backfill",
    "BillableEvent",
    "BillableMetric",
    "BulkPrice",
    "Clock",
    "ConstraintViolation",
    "Costs",
    "Customer",
    "Delivery",
    "DeliveryLog",
    "DeprecateResult",
    "DuplicateResourceCreation",
    "Event",
    "EventSearchResponse",
    "EventVersion",
    "EventVolume",
    "EventVolumes",
    "Fault",
    "Faults",
    "GroupedUsage",
    "IngestResponse",
    "Invoice",
    "Item",
    "ManualClock",
    "MatrixPrice",
    "Mount",
    "MutatedSubscription",
    "OrbAuthenticationError",
    "OrbError",
    "OrbInternalServerError",
    "OrbSim",
    "OrbSimServer",
    "OrbSimTransport",
    "PackagePrice",
    "Page",
    "PaginationMetadata",
    "Period",
    "Plan",
    "RecordedRequest",
    "RequestLog",
    "RequestTooLarge",
    "RequestValidationError",
    "ResourceConflict",
    "ResourceNotFound",
    "Settings",
    "Snapshot",
    "Subscription",
    "SystemClock",
    "TieredPrice",
    "TooManyRequests",
    "URLNotFound",
    "UngroupedUsage",
    "UnitPrice",
    "UpcomingInvoice",
    "WebhookDispatcher",
    "WebhookEndpoint",
    "WebhookEndpointWithSecret",
    "WebhookRequest",
]


STRATEGIES = [
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


def test_all_is_pinned() -> None:
    assert orbsim.__all__ == PUBLIC


def test_the_strategies_all_is_pinned_and_each_is_a_strategy_maker() -> None:
    from orbsim import strategies

    assert strategies.__all__ == STRATEGIES
    for name in STRATEGIES:
        member = getattr(strategies, name)
        if callable(member):
            assert member.__module__.startswith("orbsim.strategies."), name


def test_every_exported_name_exists_and_is_orbsims_own() -> None:
    for name in orbsim.__all__:
        member = getattr(orbsim, name)
        assert member.__name__ == name
        assert member.__module__.startswith("orbsim."), name


def test_public_methods_return_exported_types() -> None:
    sim = orbsim.OrbSim(clock=orbsim.ManualClock("2024-05-15T12:00:00Z"))
    assert isinstance(sim.snapshot(), orbsim.Snapshot)
    assert isinstance(sim.faults, orbsim.Faults)
    assert isinstance(sim.faults.add(503), orbsim.Fault)
    assert isinstance(sim.requests, orbsim.RequestLog)
    assert isinstance(sim.transport(), orbsim.OrbSimTransport)
    assert isinstance(sim.async_transport(), orbsim.AsyncOrbSimTransport)
    customer = sim.customers.create(name="A", email="a@a.test")
    assert isinstance(customer, orbsim.Customer)
    assert isinstance(sim.customers.list(), orbsim.Page)
    plan = sim.plans.create(name="P")
    assert isinstance(plan, orbsim.Plan)
    subscription = sim.subscriptions.create(customer_id=customer.id, plan_id=plan.id)
    item = sim.items.create(name="I")
    assert isinstance(item, orbsim.Item)
    metric = sim.metrics.create(
        name="M", description=None, item_id=item.id, sql="SELECT COUNT(*) FROM events"
    )
    assert isinstance(metric, orbsim.BillableMetric)
    price = sim.prices.create(
        name="P",
        item_id=item.id,
        billable_metric_id=metric.id,
        cadence="monthly",
        currency="USD",
        model_type="unit",
        unit_config={"unit_amount": "1"},
    )
    assert isinstance(price, orbsim.UnitPrice)
    assert isinstance(sim.subscriptions.fetch_usage(subscription.id), orbsim.UngroupedUsage)
    assert isinstance(sim.subscriptions.fetch_costs(subscription.id), orbsim.Costs)
    assert isinstance(subscription, orbsim.MutatedSubscription)
    assert isinstance(sim.subscriptions.fetch(subscription.id), orbsim.Subscription)
    upcoming = sim.invoices.fetch_upcoming(subscription_id=subscription.id)
    assert isinstance(upcoming, orbsim.UpcomingInvoice)
    assert isinstance(sim.invoices.fetch(upcoming.id), orbsim.Invoice)
    [period] = sim.subscriptions.billing_periods(subscription.id)
    assert isinstance(period, orbsim.Period)
    with sim.serve() as server:
        assert isinstance(server, orbsim.OrbSimServer)
    mount = sim.webhooks.mount("http://localhost/hooks")
    assert isinstance(sim.webhooks, orbsim.WebhookDispatcher)
    assert isinstance(mount, orbsim.Mount)
    endpoint = sim.webhook_endpoints.create(url="http://localhost/hooks")
    assert isinstance(endpoint, orbsim.WebhookEndpointWithSecret)
    assert isinstance(sim.webhook_endpoints.retrieve(endpoint.id), orbsim.WebhookEndpoint)
    sim.customers.update(customer.id, name="B")
    assert isinstance(sim.webhooks.deliveries, orbsim.DeliveryLog)
    assert isinstance(sim.webhooks.deliveries[0], orbsim.Delivery)
    assert isinstance(mount.requests[0], orbsim.WebhookRequest)


def test_importing_orbsim_does_not_load_httpx() -> None:
    code = "import sys, orbsim; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        orbsim.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("orbsim.NoSuchThing exists")
