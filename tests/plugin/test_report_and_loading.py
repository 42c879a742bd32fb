"""The failure report section, and the ways the plugin gets loaded."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest_plugins = ["pytester"]

Run = Callable[..., pytest.RunResult]

FAILING = """
import orb
from orbsim import ConstraintViolation

def test_fails_over_http(orb_client):
    orb_client.customers.create(name="A", email="a@example.com", external_customer_id="acme")
    try:
        orb_client.customers.create(name="B", email="b@example.com", external_customer_id="acme")
    except orb.DuplicateResourceCreation:
        pass
    orb_client.customers.fetch("nope")

def test_fails_in_the_engine(orb_sim):
    orb_sim.customers.create(name="A", email="a@example.com")
    try:
        orb_sim.events.ingest(events=[{"idempotency_key": "k", "event_name": "x",
                                       "timestamp": "soon", "properties": {}}])
    except Exception:
        pass
    assert False, "the test's own failure"

def test_passes(orb_client):
    orb_client.customers.create(name="A", email="a@example.com")

def test_fails_without_the_sim():
    assert False
"""


def test_failing_tests_show_requests_and_errors(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(FAILING)
    result = run_inner("-rA", passed=1, failed=3)
    output = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*_ test_fails_over_http _*",
            "*- orbsim -*",
            "simulator: OrbSim(customers=1, *",
            "HTTP requests (last 3 of 3):",
            "  #1 POST /customers -> 201",
            "  #2 POST /customers -> 400",
            "      Duplicate resource creation: external_customer_id 'acme' already belongs*",
            "  #3 GET /customers/nope -> 404",
            "      A specified resource was not found.: Could not find a resource*nope*",
            "errors raised (last 2):",
            "  DuplicateResourceCreation (400): *acme*",
            "  ResourceNotFound (404): *nope*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_fails_in_the_engine _*",
            "*- orbsim -*",
            "HTTP requests: none",
            "errors raised (last 1):",
            "  RequestValidationError (400): *timestamp*soon*",
        ]
    )
    # Only tests that used the simulator, and only failing ones, get the section.
    assert output.count("- orbsim -") == 2


def test_report_keeps_the_last_requests(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(
        """
        def test_many(orb_client):
            for n in range(25):
                try:
                    orb_client.customers.fetch(f"missing-{n}")
                except Exception:
                    pass
            assert False
        """
    )
    result = run_inner(failed=1)
    result.stdout.fnmatch_lines(
        [
            "HTTP requests (last 20 of 25):",
            "  #6 GET /customers/missing-5 -> 404",
            "errors raised (last 10):",
            "  ResourceNotFound (404): *missing-15*",
        ]
    )
    assert "missing-4 ->" not in result.stdout.str()


def test_errors_are_only_recorded_during_the_test(
    pytester: pytest.Pytester, run_inner: Run
) -> None:
    pytester.makepyfile(
        """
        from orbsim import OrbError, ResourceNotFound

        def test_inside(orb_sim):
            assert OrbError.__init__ is ORIGINAL[0]  # nothing is patched
            assert len(orb_sim.engine.error_listeners) == 1

        def test_after():
            assert OrbError.__init__ is ORIGINAL[0]
            ResourceNotFound("still works")

        ORIGINAL = [OrbError.__init__]
        """
    )
    run_inner(passed=2)


USES_FIXTURE = """
def test_uses(orb_sim, orb_time):
    assert orb_sim.now() == orb_time.now()
"""


def test_loaded_by_the_entry_point(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(USES_FIXTURE)
    run_inner(passed=1)


def test_pytest_plugins_alongside_the_entry_point(
    pytester: pytest.Pytester, run_inner: Run
) -> None:
    pytester.makeconftest('pytest_plugins = ["pytest_orbsim"]')
    pytester.makepyfile(USES_FIXTURE)
    run_inner(passed=1)


def test_pytest_plugins_without_the_entry_point(
    pytester: pytest.Pytester, run_inner: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeconftest('pytest_plugins = ["pytest_orbsim"]')
    pytester.makepyfile(USES_FIXTURE)
    run_inner(passed=1)


def test_dash_p_alongside_the_entry_point(pytester: pytest.Pytester, run_inner: Run) -> None:
    pytester.makepyfile(USES_FIXTURE)
    run_inner("-p", "pytest_orbsim", passed=1)


def test_disabled_means_no_fixtures(pytester: pytest.Pytester, run_inner: Run) -> None:
    """``-p no:orbsim`` blocks ``pytest_orbsim`` too (pytest blocks both spellings)."""
    pytester.makeconftest('pytest_plugins = ["pytest_orbsim"]')
    pytester.makepyfile(USES_FIXTURE)
    run_inner("-p", "no:orbsim", errors=1).stdout.fnmatch_lines(["*fixture 'orb_sim' not found*"])
