"""``routes.dispatch`` unit tests: auth, routing, bodies, query parameters, status codes."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qsl, unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers.wire import assert_problem, call, make_sim, payload, populate, request
from orbsim import OrbSim
from orbsim.wire import routes
from orbsim.wire.codec import Query, percent_decode
from orbsim.wire.routes import dispatch, match

# -- authentication --------------------------------------------------------------------------


def test_missing_authorization_is_401(sim: OrbSim) -> None:
    assert_problem(call(sim, "GET", "/v1/ping", auth=False), 401, "401-authentication-error")


@pytest.mark.parametrize("value", ["", "Bearer", "Bearer   ", "Basic abc", "abc", "Token x"])
def test_malformed_authorization_is_401(sim: OrbSim, value: str) -> None:
    response = call(sim, "GET", "/v1/ping", headers={"authorization": value})
    assert_problem(response, 401, "401-authentication-error")


def test_any_key_is_accepted_by_default_and_scheme_is_case_insensitive(sim: OrbSim) -> None:
    response = call(sim, "GET", "/v1/ping", headers={"authorization": "bearer whatever"})
    assert response.status == 200


def test_configured_api_keys_are_enforced() -> None:
    sim = make_sim(api_keys=frozenset({"good"}))
    assert call(sim, "GET", "/ping", headers={"authorization": "Bearer good"}).status == 200
    bad = call(sim, "GET", "/ping", headers={"authorization": "Bearer bad"})
    assert_problem(bad, 401, "401-authentication-error")


def test_authentication_comes_before_routing(sim: OrbSim) -> None:
    assert_problem(call(sim, "GET", "/v1/nope", auth=False), 401)


# -- routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/ping", "/ping"])
def test_ping_with_and_without_v1(sim: OrbSim, path: str) -> None:
    response = call(sim, "GET", path)
    assert response.status == 200
    assert response.header("content-type") == "application/json"
    assert response.body == b'{"response":"pong"}'


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/nope"),
        ("GET", "/v1"),
        ("GET", "/"),
        ("GET", ""),
        ("GET", "ping"),
        ("GET", "/v1/v1/ping"),
        ("GET", "/v2/ping"),
        ("GET", "/v1/ping/"),
        ("GET", "/v1/customers/"),
        ("GET", "/v1//customers"),
        ("PUT", "/v1/subscriptions/summary"),
    ],
)
def test_unknown_path_is_url_not_found(sim: OrbSim, method: str, path: str) -> None:
    response = call(sim, method, path)
    assert_problem(response, 404, "404-url-not-found")
    assert response.header("allow") is None


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/v1/ping", "GET"),
        ("PATCH", "/v1/customers", "GET, POST"),
        ("POST", "/v1/customers/abc", "DELETE, GET, PUT"),
        ("GET", "/v1/ingest", "POST"),
        ("HEAD", "/v1/ping", "GET"),
        ("OPTIONS", "/v1/customers", "GET, POST"),
        ("DELETE", "/v1/events/backfills/x", "GET"),
    ],
)
def test_a_served_path_with_another_method_is_405_with_allow(
    sim: OrbSim, method: str, path: str, allow: str
) -> None:
    response = call(sim, method, path)
    body = assert_problem(response, 405, "404-url-not-found")
    assert response.header("allow") == allow
    assert allow in body["detail"]


def test_lower_case_method_is_accepted(sim: OrbSim) -> None:
    assert call(sim, "get", "/v1/ping").status == 200


def test_every_route_is_reachable() -> None:
    for route in routes.ROUTES:
        path = "/v1/" + "/".join(s if s is not None else "some-id" for s in route.segments)
        matched, params = match(route.method, path)
        assert matched is route
        assert params == tuple("some-id" for s in route.segments if s is None)


def test_path_parameters_are_percent_decoded(sim: OrbSim) -> None:
    ids = populate(sim)
    response = call(sim, "GET", "/v1/customers/external_customer_id/a%2Fb%20c")
    assert response.status == 200
    assert payload(response)["id"] == ids["alice"]
    # A '+' in a path is a plus, not a space (only query strings use '+' for space).
    assert_problem(call(sim, "GET", "/v1/customers/external_customer_id/a%2Fb+c"), 404)


def _match_by_trying_every_path(method: str, path: str) -> tuple[routes.Route, tuple[str, ...]]:
    """The plain reading of the route table ``match`` must agree with: the first path of the
    group (same length, same first segment, most specific first) whose literals all match."""
    parts = path.removeprefix("/v1/").split("/")
    for candidate in routes._PATTERNS[(len(parts), parts[0])]:
        if all(e is None or e == p for e, p in zip(candidate.segments, parts, strict=True)):
            params = tuple(p for e, p in zip(candidate.segments, parts, strict=True) if e is None)
            return candidate.routes[method], params
    raise AssertionError(f"no path for {path}")


def test_match_agrees_with_trying_every_path_in_order() -> None:
    """``match`` only tries the paths whose last segment can match; ids equal to any literal
    segment (``/subscriptions/usage/costs``) must still find what trying every path finds."""
    literals = sorted({s for r in routes.ROUTES for s in r.segments if s is not None})
    checked = 0
    for route in routes.ROUTES:
        if None not in route.segments:
            continue
        for word in [*literals, "some-id"]:
            path = "/v1/" + "/".join(s if s is not None else word for s in route.segments)
            if path.removeprefix("/v1") in routes._LITERAL:
                continue  # a literal path (``/events/backfills``) is looked up first
            try:
                expected = _match_by_trying_every_path(route.method, path)
            except KeyError:  # a more specific path with other methods took it: 405 either way
                continue
            assert match(route.method, path) == expected, path
            checked += 1
    assert checked > 1000


def test_literal_segment_wins_over_parameter() -> None:
    route, params = match("GET", "/v1/customers/external_customer_id/x")
    assert route.handler is routes.fetch_customer_by_alias
    assert params == ("x",)
    route, params = match("GET", "/v1/customers/external_customer_id")
    assert route.handler is routes.fetch_customer
    assert params == ("external_customer_id",)


# -- bodies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"not json",
        b'{"name": "a",}',
        b"\xff\xfe",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_malformed_json_is_request_validation_error(sim: OrbSim, raw: bytes) -> None:
    response = call(sim, "POST", "/v1/customers", raw=raw)
    assert_problem(response, 400, "400-request-validation-errors")


@pytest.mark.parametrize("raw", [b"[]", b"1", b'"x"', b"null", b"true"])
def test_non_object_body_is_request_validation_error(sim: OrbSim, raw: bytes) -> None:
    body = assert_problem(call(sim, "POST", "/v1/ingest", raw=raw), 400)
    assert "JSON object" in body["detail"]


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b'{"name": "A", "email": "a@b.c", "name": "B"}', "name"),
        (b'{"name": "A", "email": "a@b.c", "metadata": {"k": "1", "k": "2"}}', "k"),
    ],
)
def test_a_key_repeated_in_a_json_object_is_refused_by_name(
    sim: OrbSim, raw: bytes, key: str
) -> None:
    body = assert_problem(call(sim, "POST", "/v1/customers", raw=raw), 400)
    assert body["validation_errors"] == [f"duplicate key {key!r}"]
    assert not sim.customers.list().data  # nothing was created with either value


def test_lone_surrogate_escape_is_refused(sim: OrbSim) -> None:
    raw = b'{"name": "\\ud800", "email": "a@b.c"}'
    assert_problem(call(sim, "POST", "/v1/customers", raw=raw), 400)
    # A proper surrogate pair is an ordinary astral character.
    ok = call(sim, "POST", "/v1/customers", raw=b'{"name": "\\ud83d\\ude00", "email": "a@b.c"}')
    assert ok.status == 201
    assert payload(ok)["name"] == "\U0001f600"


def test_wrong_content_type_is_request_validation_error(sim: OrbSim) -> None:
    response = call(
        sim,
        "POST",
        "/v1/customers",
        raw=b'{"name": "a", "email": "a@b.c"}',
        headers={"content-type": "text/plain"},
    )
    body = assert_problem(response, 400, "400-request-validation-errors")
    assert "text/plain" in body["detail"]
    assert sim.customers.list().data == []


@pytest.mark.parametrize("kind", ["application/json; charset=utf-8", "application/merge+json"])
def test_json_content_types_are_accepted(sim: OrbSim, kind: str) -> None:
    response = call(
        sim,
        "POST",
        "/v1/customers",
        raw=b'{"name": "a", "email": "a@b.c"}',
        headers={"content-type": kind},
    )
    assert response.status == 201


def test_oversize_body_is_request_too_large() -> None:
    sim = make_sim(max_request_bytes=64)
    big = {"name": "x" * 100, "email": "a@b.c"}
    assert_problem(call(sim, "POST", "/v1/customers", big), 413, "413-request-too-large")
    assert sim.customers.list().data == []
    assert call(sim, "POST", "/v1/customers", {"name": "x", "email": "a@b.c"}).status == 201


def test_unknown_body_keys_are_refused(sim: OrbSim) -> None:
    body = assert_problem(
        call(sim, "POST", "/v1/customers", {"name": "a", "email": "a@b.c", "nmae": "x"}), 400
    )
    assert any("nmae" in str(e) for e in body["validation_errors"])
    body = assert_problem(call(sim, "POST", "/v1/ingest", {"events": [], "backfill_id": "x"}), 400)
    assert body["validation_errors"] == ["unknown field 'backfill_id'"]
    assert_problem(
        call(sim, "POST", "/v1/customers", {"self": 1, "name": "a", "email": "a@b"}), 400
    )


def test_bodyless_endpoints_accept_empty_body_or_empty_object(sim: OrbSim) -> None:
    ids = populate(sim)
    path = f"/v1/events/backfills/{ids['backfill']}/close"
    assert_problem(call(sim, "POST", path, {"force": True}), 400, "400-request-validation-errors")
    assert call(sim, "POST", path, {}).status == 200
    assert call(sim, "POST", path).status == 200


def test_body_on_get_is_ignored(sim: OrbSim) -> None:
    assert call(sim, "GET", "/v1/ping", raw=b"garbage").status == 200


# -- query parameters ----------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["abc", "0", "101", "-1", "1.5", "", " 5", "1e2", "٣", "9" * 30])
def test_bad_limit_is_request_validation_error(sim: OrbSim, limit: str) -> None:
    response = call(sim, "GET", "/v1/customers", query=f"limit={limit}")
    assert_problem(response, 400, "400-request-validation-errors")


@pytest.mark.parametrize("path", ["/v1/customers", "/v1/plans", "/v1/subscriptions"])
def test_limit_bounds(sim: OrbSim, path: str) -> None:
    assert call(sim, "GET", path, query="limit=1").status == 200
    assert call(sim, "GET", path, query="limit=100").status == 200


def test_unknown_query_parameter_is_refused(sim: OrbSim) -> None:
    body = assert_problem(call(sim, "GET", "/v1/customers", query="limt=5"), 400)
    assert "limt" in body["detail"]
    assert_problem(call(sim, "POST", "/v1/ingest", {"events": []}, query="backfil_id=x"), 400)


def test_repeated_scalar_query_parameter_is_refused(sim: OrbSim) -> None:
    assert_problem(call(sim, "GET", "/v1/customers", query="limit=1&limit=2"), 400)


def test_ingest_debug_answers_orbs_debug_object(sim: OrbSim) -> None:
    response = call(sim, "POST", "/v1/ingest", {"events": []}, query="debug=true")
    assert response.status == 200
    assert payload(response) == {
        "validation_failed": [],
        "debug": {"duplicate": [], "ingested": []},
    }
    off = call(sim, "POST", "/v1/ingest", {"events": []}, query="debug=FALSE")
    assert payload(off) == {"validation_failed": []}
    for bad in ("debug=", "debug=banana", "debug=1"):
        refused = call(sim, "POST", "/v1/ingest", {"events": []}, query=bad)
        assert "'debug'" in assert_problem(refused, 400, "400-request-validation-errors")["detail"]


def test_subscription_filters_accept_bracketed_and_plain_arrays(sim: OrbSim) -> None:
    ids = populate(sim)
    for query in (f"customer_id[]={ids['alice']}", f"customer_id={ids['alice']}"):
        data = payload(call(sim, "GET", "/v1/subscriptions", query=query))["data"]
        assert [s["id"] for s in data] == [ids["subscription"]]
    data = payload(call(sim, "GET", "/v1/subscriptions", query=f"customer_id[]={ids['bob']}"))
    assert data["data"] == []


def test_filters_orbsim_does_not_simulate_are_refused_loudly(sim: OrbSim) -> None:
    body = assert_problem(call(sim, "GET", "/v1/invoices", query="date_type=due_date"), 400)
    assert "date_type: 'due_date' is not simulated" in body["detail"]


def test_customer_created_at_filters(sim: OrbSim) -> None:
    populate(sim)
    query = "created_at%5Bgte%5D=2024-05-15T12%3A00%3A00%2B00%3A00"
    assert len(payload(call(sim, "GET", "/v1/customers", query=query))["data"]) == 2
    query = "created_at%5Blt%5D=2024-05-15T12%3A00%3A00Z"
    assert payload(call(sim, "GET", "/v1/customers", query=query))["data"] == []


# -- statuses and headers ------------------------------------------------------------------


def test_create_statuses(sim: OrbSim) -> None:
    customer = call(sim, "POST", "/v1/customers", {"name": "a", "email": "a@b.c"})
    assert customer.status == 201
    plan = call(sim, "POST", "/v1/plans", {"name": "p", "currency": "USD", "prices": []})
    assert plan.status == 201
    body = {"customer_id": payload(customer)["id"], "plan_id": payload(plan)["id"]}
    assert call(sim, "POST", "/v1/subscriptions", body).status == 201
    backfill = {"timeframe_start": "2024-05-01T00:00:00Z", "timeframe_end": "2024-05-02T00:00:00Z"}
    assert call(sim, "POST", "/v1/events/backfills", backfill).status == 200


def test_delete_is_204_with_empty_body(sim: OrbSim) -> None:
    ids = populate(sim)
    response = call(sim, "DELETE", f"/v1/customers/{ids['bob']}")
    assert response.status == 204
    assert response.body == b""
    assert_problem(call(sim, "GET", f"/v1/customers/{ids['bob']}"), 404, "404-resource-not-found")


def test_conflict_and_quota_say_do_not_retry() -> None:
    sim = make_sim(amend_limit=0)
    ids = populate(sim)
    backfill = {
        "timeframe_start": "2024-05-01T12:00:00Z",
        "timeframe_end": "2024-05-03T00:00:00Z",
        "customer_id": ids["bob"],
    }
    conflict = call(sim, "POST", "/v1/events/backfills", backfill)
    assert_problem(conflict, 409, "409-resource-conflict")
    assert conflict.header("x-should-retry") == "false"
    amend = {
        "event_name": "api_call",
        "timestamp": "2024-05-15T12:00:00+00:00",
        "properties": {},
        "customer_id": ids["alice"],
    }
    quota = call(sim, "PUT", "/v1/events/evt-0", amend)
    assert_problem(quota, 429, "429-too-many-requests")
    assert quota.header("x-should-retry") == "false"
    not_found = call(sim, "GET", "/v1/customers/nope")
    assert not_found.header("x-should-retry") is None


def test_plan_cadence_comes_from_the_prices(sim: OrbSim) -> None:
    item = sim.items.create(name="seats")

    def price(cadence: str) -> dict[str, object]:
        return {
            "price": {
                "cadence": cadence,
                "name": cadence,
                "item_id": item.id,
                "model_type": "unit",
                "unit_config": {"unit_amount": "1"},
            }
        }

    body = {"name": "p", "currency": "USD", "prices": [price("quarterly"), price("one_time")]}
    assert payload(call(sim, "POST", "/v1/plans", body))["billing_cadence"] == "quarterly"
    body = {
        "name": "q",
        "currency": "USD",
        "prices": [price("annual")],
        "billing_cadence": "annual",
    }
    assert payload(call(sim, "POST", "/v1/plans", body))["billing_cadence"] == "annual"
    mixed = {"name": "r", "currency": "USD", "prices": [price("annual"), price("monthly")]}
    refused = call(sim, "POST", "/v1/plans", mixed)
    assert_problem(refused, 400, "400-request-validation-errors")
    assert "plans mixing cadences are not simulated" in payload(refused)["detail"]


def test_unexpected_exception_is_500_without_traceback(
    sim: OrbSim,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom(self: object, **kw: object) -> None:
        raise KeyError("secret internals")

    monkeypatch.setattr(type(sim.customers), "list", boom)
    with caplog.at_level(logging.ERROR, logger="orbsim.wire"):
        response = call(sim, "GET", "/v1/customers")
    body = assert_problem(response, 500, "500-internal-server-error")
    assert "secret internals" not in response.body.decode()
    assert "bug in orbsim" in body["detail"]
    assert "secret internals" in caplog.text  # the traceback goes to the log instead


def test_responses_are_compact_json(sim: OrbSim) -> None:
    response = call(sim, "POST", "/v1/customers", {"name": "a", "email": "a@b.c"})
    assert b": " not in response.body and b", " not in response.body
    assert json.loads(response.body)["name"] == "a"


def test_dispatch_accepts_any_header_mapping(sim: OrbSim) -> None:
    import httpx

    wire = request("GET", "/v1/ping", headers={})
    headers = httpx.Headers({"Authorization": "Bearer k"})
    response = dispatch(sim, type(wire)(wire.method, wire.path, "", headers, b""))
    assert response.status == 200


@given(st.text(alphabet="ab=&[]é%+;20 3AcF8", max_size=20))
def test_query_strings_read_as_parse_qsl_reads_them(raw: str) -> None:
    """``Query`` skips ``parse_qsl``'s unquoting when there is nothing to decode; either way the
    names and values are what ``parse_qsl(raw, keep_blank_values=True)`` gives."""
    expected: dict[str, list[str]] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        expected.setdefault(name, []).append(value)
    query = Query(raw)
    assert list(query.names()) == list(expected)
    for name, values in expected.items():
        assert query.many(name) == values


_ESCAPED = st.lists(
    st.one_of(
        st.integers(0, 255).map(lambda byte: f"%{byte:02X}"),  # any byte, UTF-8 or not
        st.sampled_from(["%", "%2", "%zz", "+", " ", "a", "é", "\u00ff", "\u4e2d"]),
    ),
    max_size=8,
).map("".join)


@given(_ESCAPED | st.text())
def test_percent_decoding_is_unquote(text: str) -> None:
    assert percent_decode(text) == unquote(text)
