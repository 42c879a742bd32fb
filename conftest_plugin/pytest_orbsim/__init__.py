"""pytest plugin for orbsim: an isolated simulator per test, SDK clients, a server, frozen time.

Loaded automatically through the ``pytest11`` entry point when orbsim is installed; also usable
explicitly with ``pytest_plugins = ["pytest_orbsim"]``; either way, or both, it loads once,
because the entry point carries the module's name.

Fixtures (all function-scoped, nothing shared between tests, safe under pytest-xdist):

* ``orb_sim`` — a fresh ``OrbSim(settings=<marker overrides>, seed=0)`` on the ``SystemClock``, so
  it follows ``orb_time`` / freezegun / time-machine;
* ``orb_client`` / ``orb_async_client`` — the official ``orb.Orb`` / ``orb.AsyncOrb`` wired to it
  in-process, with ``_strict_response_validation=True``;
* ``orb_server`` — ``orb_sim.serve()`` running on a free port (``.base_url`` ends in ``/v1``);
* ``orb_env`` — the server plus ``ORB_BASE_URL`` / ``ORB_API_KEY`` set, so code that builds
  ``orb.Orb()`` itself reaches the simulator;
* ``orb_time`` — time frozen (freezegun, ``tick=False``) at ``DEFAULT_NOW`` or the marker's
  ``now=``; ``.now()``, ``.tick(seconds | timedelta)``, ``.move_to(when)``;
* ``orb_customer`` — factory: customer + plan + active subscription;
* ``orb_webhooks`` — a webhook endpoint whose deliveries collect in-process (``.events()``
  verified by the SDK, ``.payloads()``, ``.types()``, ``.secret``).

Marker: ``@pytest.mark.orbsim(**settings)`` overrides ``orbsim.Settings`` fields, plus ``now=``.
A failing test that used ``orb_sim`` gets an ``orbsim`` report section with the simulator's recent
HTTP requests and the errors it raised.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from orbsim import OrbSim
from orbsim.models import BillingCadence
from pytest_orbsim._marker import MARKER_HELP, marker_options, marker_settings
from pytest_orbsim._report import SECTION, SIM_KEY, SimRecord, describe, recording_errors
from pytest_orbsim._time import DEFAULT_NOW, OrbTime, frozen
from pytest_orbsim._webhooks import OrbWebhooks, orb_webhooks

__all__ = [
    "DEFAULT_NOW",
    "OrbCustomer",
    "OrbEnv",
    "OrbTime",
    "OrbWebhooks",
    "orb_async_client",
    "orb_client",
    "orb_customer",
    "orb_env",
    "orb_server",
    "orb_sim",
    "orb_time",
    "orb_webhooks",
]

API_KEY = "orbsim-test-key"


# -- hooks ---------------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Add the ``orbsim`` section (recent requests, errors) to a failing test's report."""
    report = yield
    record = item.stash.get(SIM_KEY, None)
    if record is not None and report.failed:
        report.sections.append((SECTION, describe(record)))
    return report


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def orb_time(request: pytest.FixtureRequest) -> Iterator[OrbTime]:
    """Freeze time for the test and the simulator: ``.now()``, ``.tick(...)``, ``.move_to(...)``.

    Starts at ``@pytest.mark.orbsim(now=...)`` or ``DEFAULT_NOW`` (2024-05-20T12:00:00Z).
    """
    now = marker_options(request.node).get("now", DEFAULT_NOW)
    with frozen(now) as clock:
        yield clock


@pytest.fixture
def orb_sim(request: pytest.FixtureRequest) -> Iterator[OrbSim]:
    """A fresh simulator for this test (``seed=0``, marker settings, following ``orb_time``)."""
    settings = marker_settings(request.node)
    if "now" in marker_options(request.node) or "orb_time" in request.fixturenames:
        # Freeze first, whatever the argument order, so nothing is created at the real time;
        # now= on the marker means frozen time even for tests that do not ask for orb_time.
        request.getfixturevalue("orb_time")
    sim = OrbSim(settings=settings, seed=0)
    record = SimRecord(sim)
    request.node.stash[SIM_KEY] = record
    with recording_errors(record):
        yield sim


def _api_key(sim: OrbSim) -> str:
    """A key the simulator accepts: ``API_KEY``, or the first of ``Settings.api_keys``."""
    keys = sim.settings.api_keys
    return sorted(keys)[0] if keys else API_KEY


@pytest.fixture
def orb_client(orb_sim: OrbSim) -> Iterator[Any]:
    """``orb.Orb`` wired to ``orb_sim`` in-process, validating every response strictly."""
    client = orb_sim.client(api_key=_api_key(orb_sim), _strict_response_validation=True)
    yield client
    client.close()


@pytest.fixture
def orb_async_client(orb_sim: OrbSim) -> Iterator[Any]:
    """``orb.AsyncOrb`` wired to ``orb_sim`` in-process, validating every response strictly."""
    # Not closed at teardown: the in-process transport holds no connections, and closing needs
    # an event loop whose lifetime belongs to pytest-asyncio / anyio, not to this fixture.
    yield orb_sim.async_client(api_key=_api_key(orb_sim), _strict_response_validation=True)


@pytest.fixture
def orb_server(orb_sim: OrbSim) -> Iterator[Any]:
    """``orb_sim`` served over HTTP on a free local port (``.base_url`` ends in ``/v1``)."""
    with orb_sim.serve(host="127.0.0.1", port=0) as server:
        yield server


@dataclass(frozen=True)
class OrbEnv:
    """What ``orb_env`` set up: ``ORB_BASE_URL`` and ``ORB_API_KEY`` point at ``server``."""

    sim: OrbSim
    server: Any
    base_url: str
    api_key: str


@pytest.fixture
def orb_env(orb_sim: OrbSim, orb_server: Any, monkeypatch: pytest.MonkeyPatch) -> OrbEnv:
    """Point ``orb.Orb()`` built without arguments (by the code under test) at the simulator."""
    api_key = _api_key(orb_sim)
    monkeypatch.setenv("ORB_BASE_URL", orb_server.base_url)
    monkeypatch.setenv("ORB_API_KEY", api_key)
    monkeypatch.delenv("ORB_CUSTOM_HEADERS", raising=False)
    return OrbEnv(sim=orb_sim, server=orb_server, base_url=orb_server.base_url, api_key=api_key)


@dataclass(frozen=True)
class OrbCustomer:
    """What ``orb_customer(...)`` made: the customer, its plan and its active subscription."""

    customer: Any
    plan: Any
    subscription: Any
    metric: Any = None
    """The billable metric, when ``orb_customer(metric_sql=...)`` made one."""
    price: Any = None
    """The plan's price for that metric."""

    @property
    def id(self) -> str:
        return str(self.customer.id)

    @property
    def external_customer_id(self) -> str | None:
        alias: str | None = self.customer.external_customer_id
        return alias


def _previous_month_start(now: datetime, timezone: str) -> datetime:
    local = now.astimezone(ZoneInfo(timezone))
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return datetime(year, month, 1, tzinfo=ZoneInfo(timezone))


@pytest.fixture
def orb_customer(orb_sim: OrbSim) -> Callable[..., OrbCustomer]:
    """Factory: ``orb_customer(alias=None, cadence="monthly", start_date=None, timezone=None,
    metric_sql=None, price=None, **customer_fields)`` creates a customer, a plan and an active
    subscription on ``orb_sim``.

    ``start_date`` defaults to local midnight on the 1st of the previous month, so every event
    the grace period admits lies in a billing period (amendable while the rules allow). With
    ``metric_sql`` the plan charges for that billable metric: ``price`` (a price body such as
    ``{"model_type": "unit", "unit_config": {"unit_amount": "0.01"}}``, default $1 per unit)
    is merged over an item, the metric, the plan's cadence and currency.
    """
    count = 0

    def make(
        alias: str | None = None,
        cadence: BillingCadence = "monthly",
        start_date: datetime | str | None = None,
        timezone: str | None = None,
        metric_sql: str | None = None,
        price: dict[str, Any] | None = None,
        **customer_fields: Any,
    ) -> OrbCustomer:
        nonlocal count
        count += 1
        zone = timezone or orb_sim.settings.default_timezone
        fields: dict[str, Any] = {
            "name": f"Customer {count}",
            "email": f"customer{count}@example.com",
            **customer_fields,
        }
        if alias is not None:
            fields["external_customer_id"] = alias
        customer = orb_sim.customers.create(timezone=zone, **fields)
        metric = None
        prices: list[Mapping[str, Any]] = []
        if metric_sql is not None or price is not None:
            item = orb_sim.items.create(name=f"Item {count}")
            metric = orb_sim.metrics.create(
                name=f"Metric {count}",
                description=None,
                item_id=item.id,
                sql=metric_sql or "SELECT COUNT(*) FROM events",
            )
            body: dict[str, Any] = {
                "name": f"Price {count}",
                "item_id": item.id,
                "billable_metric_id": metric.id,
                "cadence": cadence,
                "model_type": "unit",
                "unit_config": {"unit_amount": "1.00"},
            }
            overrides = dict(price or {})
            if overrides.get("model_type", "unit") != "unit":
                del body["unit_config"]  # another model brings its own configuration
            prices = [{"price": {**body, **overrides}}]
        plan = orb_sim.plans.create(name=f"{cadence} usage", billing_cadence=cadence, prices=prices)
        start = start_date if start_date is not None else _previous_month_start(orb_sim.now(), zone)
        subscription = orb_sim.subscriptions.create(
            customer_id=customer.id, plan_id=plan.id, start_date=start
        )
        return OrbCustomer(
            customer=orb_sim.customers.fetch(customer.id),
            plan=plan,
            subscription=subscription,
            metric=metric,
            price=plan.prices[0] if plan.prices else None,
        )

    return make
