"""The admin API's OpenAPI document: valid, complete, served, and true to the server's answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from orbsim import ManualClock, OrbSim, Settings
from orbsim.wire.admin import _ROUTES
from orbsim.wire.admin_openapi import admin_openapi

AUTH = {"Authorization": "Bearer k"}
DOC = admin_openapi()


def _conforms(value: Any, schema_name: str) -> None:
    """``value`` validates against ``#/components/schemas/<schema_name>`` of the document."""
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": DOC["components"]}
    errors = sorted(Draft202012Validator(root).iter_errors(value), key=str)
    assert not errors, f"{schema_name}: {errors[0].message} at {list(errors[0].absolute_path)}"


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOC["openapi"] == "3.1.0"
    validate(DOC)


def test_the_document_lists_exactly_the_admin_routes() -> None:
    documented = {(method.upper(), path) for path, item in DOC["paths"].items() for method in item}
    assert documented == set(_ROUTES)


def test_every_operation_has_an_id_and_documents_errors() -> None:
    ids = [op["operationId"] for item in DOC["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) == len(_ROUTES)
    for item in DOC["paths"].values():
        for operation in item.values():
            assert {"400", "401"} <= set(operation["responses"])


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    sim = OrbSim(clock=ManualClock("2024-05-20T12:00:00Z"), settings=Settings(api_keys={"k"}))
    with sim.serve(host="127.0.0.1", port=0) as server:
        root = server.base_url.removesuffix("/v1")
        with httpx.Client(base_url=root, headers=AUTH, timeout=10) as http:
            yield http


def test_the_server_serves_the_document(http: httpx.Client) -> None:
    for path in ("/_orbsim/openapi.json", "/v1/_orbsim/openapi.json"):
        response = http.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == DOC
    assert http.get("/_orbsim/openapi.json", headers={"Authorization": "Bearer x"}).status_code == (
        401
    )


def test_the_answers_conform_to_the_document(http: httpx.Client) -> None:
    http.post("/v1/customers", json={"name": "Acme", "email": "a@acme.test"})
    http.get("/v1/customers/nope")
    event = {"event_name": "call", "timestamp": "2024-05-20T11:00:00Z", "properties": {"n": 1}}
    events = [{**event, "idempotency_key": "e1", "external_customer_id": "acme"}]
    assert http.post("/v1/ingest", json={"events": events}).status_code == 200

    _conforms(http.get("/_orbsim/clock").json(), "Clock")
    _conforms(http.post("/_orbsim/clock/advance", json={"seconds": 60}).json(), "Clock")
    _conforms(
        http.post("/_orbsim/clock/advance", json={"to": "2024-05-21T00:00:00Z"}).json(), "Clock"
    )
    for body in ({"seconds": 1}, {"to": "2024-05-22T00:00:00Z"}):
        _conforms(body, "ClockAdvance")
    added = http.post("/_orbsim/faults", json={"kind": 503, "path": "/ingest", "times": 2})
    assert added.status_code == 201
    _conforms(added.json(), "Fault")
    http.post("/_orbsim/faults", json={"kind": "lost_response", "probability": 0.5, "seed": 3})
    _conforms({"kind": "connect_error", "method": "POST"}, "FaultCreate")
    _conforms(http.get("/_orbsim/faults").json(), "FaultList")
    requests = http.get("/_orbsim/requests").json()
    assert [r["status"] for r in requests["data"]] == [201, 404, 200]
    _conforms(requests, "RequestList")
    state = http.get("/_orbsim/state")
    assert state.headers["transfer-encoding"] == "chunked"
    assert state.json()["state"]["events"][0]["id"][0] == "e1"
    _conforms(state.json(), "State")
    _conforms(http.get("/_orbsim/settings").json(), "Settings")
    change = {"grace_period": "1h", "rate_limit_preset": "orb_test_mode", "api_keys": ["k"]}
    _conforms(change, "SettingsChange")
    _conforms(http.patch("/_orbsim/settings", json=change).json(), "Settings")
    _conforms(http.put("/_orbsim/settings", json={"api_keys": ["k"]}).json(), "Settings")
    refused = http.post("/_orbsim/clock/advance", json={"seconds": -1})
    assert refused.status_code == 400
    _conforms(refused.json(), "Problem")
    _conforms(http.get("/_orbsim/state", headers={"Authorization": "Bearer x"}).json(), "Problem")
    _conforms(http.get("/_orbsim/webhooks/deliveries").json(), "DeliveryList")
    _conforms(http.post("/_orbsim/webhooks/flush", json={"timeout": 1}).json(), "FlushResult")
    _conforms({"delivery_id": "dlv_1"}, "Redeliver")
    _conforms(http.post("/_orbsim/reset").json(), "Clock")
    assert http.delete("/_orbsim/faults").status_code == 204
    assert http.delete("/_orbsim/requests").status_code == 204


def test_a_wrong_answer_would_not_conform() -> None:
    with pytest.raises(AssertionError, match="Clock"):
        _conforms({"now": "2024-05-20T12:00:00Z"}, "Clock")
    with pytest.raises(AssertionError, match="Fault"):
        _conforms({"id": "fault_1", "kind": 503}, "Fault")
    with pytest.raises(AssertionError, match="Settings"):
        _conforms({"grace_period": "PT12H"}, "Settings")
    with pytest.raises(AssertionError, match="SettingsChange"):
        _conforms({"grace_priod": "PT12H"}, "SettingsChange")
