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
  verified by the SDK, ``.payloads()``, ``.types()``, ``.secret``);
* ``orb_sim_factory`` — session-scoped factory of fresh simulators (one per hypothesis example:
  ``@given`` refuses function-scoped fixtures), honouring the current test's marker.

Marker: ``@pytest.mark.orbsim(**settings)`` overrides ``orbsim.Settings`` fields, plus ``now=``,
``clock="manual"`` and ``max_retries=``. A failing test that used a simulator gets an ``orbsim``
report section with its recent HTTP requests and the errors it raised.

The plugin is lazy: importing it imports neither orbsim nor the SDK (only pytest and a few
standard modules), so a pytest run that uses no orbsim fixture pays almost nothing for it.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

from pytest_orbsim._marker import MARKER, MARKER_HELP, marker_options, marker_settings
from pytest_orbsim._report import SECTION, SIM_KEY, SimRecord, describe, recording_errors
from pytest_orbsim._time import DEFAULT_NOW, OrbTime, frozen
from pytest_orbsim._webhooks import OrbWebhooks, orb_webhooks

if TYPE_CHECKING:
    from orbsim import Clock, OrbSim
    from orbsim.models import BillingCadence

__all__ = [
    "DEFAULT_NOW",
    "OrbCustomer",
    "OrbEnv",
    "OrbSimFactory",
    "OrbTime",
    "OrbWebhooks",
    "OrbsimWarning",
    "orb_async_client",
    "orb_client",
    "orb_customer",
    "orb_env",
    "orb_server",
    "orb_sim",
    "orb_sim_factory",
    "orb_time",
    "orb_webhooks",
]

API_KEY = "orbsim-test-key"

FIXTURES = frozenset(
    {
        "orb_sim",
        "orb_client",
        "orb_async_client",
        "orb_server",
        "orb_env",
        "orb_time",
        "orb_customer",
        "orb_sim_factory",
        "orb_webhooks",
    }
)
SDK_FIXTURES = frozenset({"orb_client", "orb_async_client", "orb_server", "orb_env"})


class OrbsimWarning(UserWarning):
    """A test set orbsim up in a way that probably does not do what it means."""


# -- hooks ---------------------------------------------------------------------------------------

_running: list[pytest.Item] = []
"""The test being run (``orb_sim_factory`` reads its marker)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Warn about ``@pytest.mark.orbsim`` on a test that uses no orbsim fixture (it does nothing).

    Only markers written on the test function itself count: a class or module marker is
    expected to cover tests that do not all use the simulator.
    """
    for item in items:
        own = [mark for mark in getattr(item, "own_markers", ()) if mark.name == MARKER]
        if own and not FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.warn(
                OrbsimWarning(
                    f"@pytest.mark.orbsim on {item.name} has no effect: the test uses no orbsim "
                    f"fixture ({', '.join(sorted(FIXTURES))})"
                )
            )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    _running.append(item)
    try:
        return (yield)
    finally:
        _running.pop()


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

    Starts at ``@pytest.mark.orbsim(now=...)`` or ``DEFAULT_NOW`` (2024-05-20T12:00:00Z). The
    SDK's modules are imported before freezing (about 0.5 s, once per process) only if the test
    may use the SDK: it is imported already, or the test uses an SDK fixture.
    """
    options = marker_options(request.node)
    if options.get("clock") == "manual":
        _warn_two_clocks(request)
    preload = "orb" in sys.modules or bool(SDK_FIXTURES.intersection(request.fixturenames))
    with frozen(options.get("now", DEFAULT_NOW), preload_sdk=preload) as clock:
        yield clock


def _warn_two_clocks(request: pytest.FixtureRequest) -> None:
    warnings.warn(
        OrbsimWarning(
            f"{request.node.name}: clock='manual' and orb_time together: orb_sim reads its "
            "ManualClock, the code under test reads the frozen time, and the two disagree as soon "
            "as one moves; use one of them"
        ),
        stacklevel=2,
    )


def _make_sim(item: pytest.Item, **settings_overrides: Any) -> OrbSim:
    from orbsim import ManualClock, OrbSim

    options = marker_options(item)
    clock: Clock | None = None
    if options.get("clock") == "manual":
        clock = ManualClock(options.get("now", DEFAULT_NOW))
    return OrbSim(settings=marker_settings(item, **settings_overrides), clock=clock, seed=0)


@pytest.fixture
def orb_sim(request: pytest.FixtureRequest) -> Iterator[OrbSim]:
    """A fresh simulator for this test (``seed=0``, marker settings, following ``orb_time``).

    With ``@pytest.mark.orbsim(clock="manual")`` it runs on a ``ManualClock`` starting at the
    marker's ``now=`` (or ``DEFAULT_NOW``) instead: ``orb_sim.clock.advance(hours=1)``.
    """
    options = marker_options(request.node)
    if options.get("clock") != "manual" and (
        "now" in options or "orb_time" in request.fixturenames
    ):
        # Freeze first, whatever the argument order, so nothing is created at the real time;
        # now= on the marker means frozen time even for tests that do not ask for orb_time.
        request.getfixturevalue("orb_time")
    sim = _make_sim(request.node)
    record = SimRecord(sim)
    request.node.stash[SIM_KEY] = record
    with recording_errors(record):
        yield sim


class OrbSimFactory:
    """``orb_sim_factory(**settings)``: a fresh simulator on every call.

    For tests that cannot take the function-scoped ``orb_sim``, such as hypothesis ``@given``
    tests (one simulator per example). Each simulator has the current test's marker settings
    (plus the keyword overrides given), its ``clock=`` and ``seed=0``; the last one made is the
    one a failing test's report describes.
    """

    def __call__(self, **settings: Any) -> OrbSim:
        if not _running:
            raise RuntimeError("orb_sim_factory() is for use inside a running test")
        item = _running[-1]
        sim = _make_sim(item, **settings)
        record = item.stash.get(SIM_KEY, None)
        if record is None:
            record = SimRecord(sim)
            item.stash[SIM_KEY] = record
        record.sim = sim
        item.addfinalizer(sim.on_error(record.errors.append))
        return sim

    def __repr__(self) -> str:
        return "OrbSimFactory()"


@pytest.fixture(scope="session")
def orb_sim_factory() -> OrbSimFactory:
    """Factory of fresh simulators, usable in hypothesis ``@given`` tests (session-scoped)."""
    return OrbSimFactory()


def _api_key(sim: OrbSim) -> str:
    """A key the simulator accepts: ``API_KEY``, or the first of ``Settings.api_keys``."""
    keys = sim.settings.api_keys
    return sorted(keys)[0] if keys else API_KEY


def _client_options(request: pytest.FixtureRequest, sim: OrbSim) -> dict[str, Any]:
    options: dict[str, Any] = {"api_key": _api_key(sim), "_strict_response_validation": True}
    retries = marker_options(request.node).get("max_retries")
    if retries is not None:
        options["max_retries"] = retries
    return options


@pytest.fixture
def orb_client(request: pytest.FixtureRequest, orb_sim: OrbSim) -> Iterator[Any]:
    """``orb.Orb`` wired to ``orb_sim`` in-process, validating every response strictly.

    ``@pytest.mark.orbsim(max_retries=0)`` sets the client's retries (the SDK's default is 2).
    """
    client = orb_sim.client(**_client_options(request, orb_sim))
    yield client
    client.close()


@pytest.fixture
def orb_async_client(request: pytest.FixtureRequest, orb_sim: OrbSim) -> Iterator[Any]:
    """``orb.AsyncOrb`` wired to ``orb_sim`` in-process, validating every response strictly."""
    # Not closed at teardown: the in-process transport holds no connections, and closing needs
    # an event loop whose lifetime belongs to pytest-asyncio / anyio, not to this fixture.
    yield orb_sim.async_client(**_client_options(request, orb_sim))


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
    from zoneinfo import ZoneInfo

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
