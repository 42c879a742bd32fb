"""Unserved paths answer as Orb's router would: every SDK endpoint orbsim does not serve is
``URLNotFound`` (never a misrouted resource error), and a path orbsim serves with other methods
answers 405 with an ``Allow`` header (keeping Orb's ``URLNotFound`` body, so the SDK raises
``orb.URLNotFound`` as it would against Orb)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from helpers.wire import call, make_sim
from orbsim.errors import TYPE_PREFIX
from orbsim.wire.orb_endpoints import ORB_ENDPOINTS
from orbsim.wire.routes import ROUTES

orb = pytest.importorskip("orb")

_VERBS = {
    "_get": "GET",
    "_get_api_list": "GET",
    "_post": "POST",
    "_put": "PUT",
    "_patch": "PATCH",
    "_delete": "DELETE",
}


def sdk_endpoints() -> set[tuple[str, str]]:
    """(method, path template) of every method of the installed SDK's sync resources, read from
    their source: each calls ``self._get("/path")`` or ``self._post(path_template("/a/{id}"))``."""
    found: set[tuple[str, str]] = set()
    for file in sorted((Path(orb.__file__).parent / "resources").rglob("*.py")):
        for cls in ast.parse(file.read_text()).body:
            if not isinstance(cls, ast.ClassDef) or cls.name.startswith("Async"):
                continue
            for node in ast.walk(cls):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                target = node.func
                if not (isinstance(target.value, ast.Name) and target.value.id == "self"):
                    continue
                verb = _VERBS.get(target.attr)
                if verb is None or not node.args:
                    continue
                path = node.args[0]
                if isinstance(path, ast.Call) and path.args:  # path_template("/a/{id}", id=...)
                    path = path.args[0]
                assert isinstance(path, ast.Constant), f"{file.name}: {ast.unparse(node)[:80]}"
                found.add((verb, str(path.value)))
    return found


def shape(template: str) -> tuple[str | None, ...]:
    return tuple(None if part.startswith("{") else part for part in template.strip("/").split("/"))


SERVED = {(route.method, route.segments) for route in ROUTES}
UNSERVED = sorted(
    (method, template)
    for method, template in sdk_endpoints()
    if (method, shape(template)) not in SERVED
)


def concrete(template: str) -> str:
    return "/v1/" + "/".join("x1" if part is None else part for part in shape(template))


def test_the_endpoint_table_is_the_sdks() -> None:
    assert set(ORB_ENDPOINTS) == sdk_endpoints()


def test_every_served_route_is_an_orb_endpoint() -> None:
    known = {(method, shape(template)) for method, template in ORB_ENDPOINTS}
    assert known >= SERVED, sorted(SERVED - known)


def test_most_sdk_endpoints_are_not_served() -> None:
    assert len(UNSERVED) > 50  # the walk found the SDK's resources


@pytest.mark.parametrize(("method", "template"), UNSERVED)
def test_every_unserved_sdk_endpoint_answers_url_not_found(method: str, template: str) -> None:
    sim = make_sim()
    response = call(sim, method, concrete(template), {} if method != "GET" else None)
    body = json.loads(response.body)
    assert body["type"] == TYPE_PREFIX + "404-url-not-found", (method, template, body)
    assert method in body["detail"] and template.split("{")[0] in body["detail"]
    # "x1" is never a literal segment, so the path's most specific Orb template is this one:
    # served with other methods -> 405 listing them; not served at all -> 404.
    allowed = sorted(route.method for route in ROUTES if route.segments == shape(template))
    if allowed:
        assert response.status == 405, (method, template, response.status)
        assert response.header("allow") == ", ".join(allowed)
        assert body["status"] == 405
    else:
        assert response.status == 404, (method, template, response.status)
        assert response.header("allow") is None


def test_a_literal_segment_is_never_read_as_an_id() -> None:
    sim = make_sim()
    response = call(sim, "GET", "/v1/subscriptions/summary")
    body = json.loads(response.body)
    assert (response.status, body["type"]) == (404, TYPE_PREFIX + "404-url-not-found")
    assert "Subscription with identifier" not in body["detail"]


def test_a_known_path_with_another_method_is_405_with_allow() -> None:
    sim = make_sim()
    response = call(sim, "PATCH", "/v1/customers/cus_1", {"name": "x"})
    assert response.status == 405
    assert response.header("allow") == "DELETE, GET, PUT"
    body = json.loads(response.body)
    assert body["type"] == TYPE_PREFIX + "404-url-not-found"
    assert "PATCH" in body["detail"] and "DELETE, GET, PUT" in body["detail"]


def test_a_path_orb_does_not_have_is_404() -> None:
    sim = make_sim()
    response = call(sim, "GET", "/v1/no/such/thing")
    assert response.status == 404 and response.header("allow") is None


def test_the_sdk_raises_url_not_found_for_unserved_methods() -> None:
    sim = make_sim()
    client = sim.client(_strict_response_validation=True, max_retries=0)
    with pytest.raises(orb.URLNotFound) as summary:
        client.subscriptions.list_summary()
    assert summary.value.status_code == 404
    with pytest.raises(orb.URLNotFound) as update:  # served with GET only
        client.prices.external_price_id.update("price-1", metadata={"a": "b"})
    assert update.value.status_code == 405
    assert update.value.response.headers["allow"] == "GET"
