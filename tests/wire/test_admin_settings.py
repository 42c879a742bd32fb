"""``/_orbsim/settings``: read the settings in force, replace them (PUT) or change some (PATCH),
so suites in any language can test quotas, reflection or rate limits without a state file."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from helpers.wire import START, assert_problem, call, make_sim, payload
from orbsim import Settings


def test_get_returns_every_field_as_json() -> None:
    sim = make_sim(amend_limit=3, api_keys=frozenset({"b", "a"}))
    response = call(sim, "GET", "/_orbsim/settings", headers={"authorization": "Bearer a"})
    assert response.status == 200
    body = payload(response)
    assert list(body) == list(Settings.model_fields)
    assert body["grace_period"] == "PT12H"
    assert body["amend_limit"] == 3
    assert body["api_keys"] == ["a", "b"]  # sorted: a stable document
    assert Settings.model_validate(body) == sim.settings  # what GET says, PUT accepts


def test_patch_changes_only_the_fields_given_and_takes_effect_at_once() -> None:
    sim = make_sim(amend_limit=3)
    response = call(sim, "PATCH", "/_orbsim/settings", {"grace_period": "48h"})
    assert response.status == 200
    assert payload(response)["grace_period"] == "P2D"
    assert (sim.settings.grace_period, sim.settings.amend_limit) == (timedelta(hours=48), 3)
    late = (START - timedelta(hours=20)).isoformat()
    event = {
        "idempotency_key": "late",
        "event_name": "api_call",
        "timestamp": late,
        "external_customer_id": "acme",
        "properties": {},
    }
    assert call(sim, "POST", "/v1/ingest", {"events": [event]}).status == 200


def test_put_replaces_the_settings_and_unset_fields_take_their_defaults() -> None:
    sim = make_sim(amend_limit=3, deprecate_limit=4)
    response = call(sim, "PUT", "/_orbsim/settings", {"deprecate_limit": 9})
    assert response.status == 200
    assert (sim.settings.amend_limit, sim.settings.deprecate_limit) == (100, 9)


def test_a_bad_value_is_refused_naming_the_field_and_changes_nothing() -> None:
    sim = make_sim(amend_limit=3)
    before = sim.settings
    for body, needle in (
        ({"grace_period": 12}, "grace_period"),
        ({"amend_limit": -1}, "amend_limit"),
        ({"grace": "1h"}, "grace"),
        ({"default_timezone": "Mars/Olympus"}, "default_timezone"),
    ):
        response = call(sim, "PATCH", "/_orbsim/settings", body)
        problem: dict[str, Any] = assert_problem(response, 400, "400-request-validation-errors")
        assert needle in problem["detail"]
        assert any(needle in error for error in problem["validation_errors"])
        assert sim.settings is before
    response = call(sim, "PATCH", "/_orbsim/settings", {"grace_period": 12})
    assert "PT12H" in assert_problem(response, 400)["detail"]  # the accepted forms are shown


def test_the_settings_endpoint_needs_the_api_key() -> None:
    sim = make_sim(api_keys=frozenset({"right"}))
    assert call(sim, "GET", "/_orbsim/settings").status == 401
    wrong = call(sim, "PATCH", "/_orbsim/settings", {"api_keys": None})
    assert wrong.status == 401 and sim.settings.api_keys == frozenset({"right"})
