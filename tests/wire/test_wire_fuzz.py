"""Fuzzing ``dispatch`` with invalid requests: every answer is a well-formed Orb 4xx, never a
500, and a rejected request leaves the simulator's state exactly as it was.

Requests are invalid by construction (malformed or non-object bodies, wrong Content-Type, a field
of the wrong type, an unknown key, a bad query parameter, an odd path or method), so a 2xx would
itself be a finding: orbsim accepted something Orb refuses.
"""

from __future__ import annotations

import functools
import json
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from helpers.wire import assert_problem, fingerprint, make_sim, populate, request
from orbsim import OrbSim
from orbsim.errors import URLNotFound
from orbsim.wire.messages import WireRequest, WireResponse
from orbsim.wire.routes import dispatch, match

FUZZ = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@functools.cache
def world() -> tuple[OrbSim, dict[str, str]]:
    """One populated simulator shared by every example (rejections must not change it)."""
    sim = make_sim()
    return sim, populate(sim)


def send(sim: OrbSim, wire: WireRequest) -> tuple[WireResponse, bool]:
    """Dispatch and report whether the state fingerprint changed."""
    before = fingerprint(sim)
    response = dispatch(sim, wire)
    return response, fingerprint(sim) != before


def assert_rejected(sim: OrbSim, wire: WireRequest) -> dict[str, Any]:
    response, changed = send(sim, wire)
    assert 400 <= response.status < 500, (wire, response.status, response.body[:300])
    body = assert_problem(response, response.status)
    assert not changed, (wire, response.status)
    return body


# -- the endpoints and their fields ---------------------------------------------------------

NOW = "2024-05-15T12:00:00+00:00"
STR, TIME, DICT, LIST, BOOL, INT = "str", "time", "dict", "list", "bool", "int"


def endpoints(ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any], dict[str, str]]]:
    """(method, path, a valid body, the kind of each field) for every endpoint with a body."""
    alice = ids["alice"]
    event = {
        "event_name": "api_call",
        "timestamp": NOW,
        "properties": {"n": 1},
        "idempotency_key": "fuzz-new",
        "customer_id": alice,
    }
    event_kinds = {
        "event_name": STR,
        "timestamp": TIME,
        "properties": DICT,
        "idempotency_key": STR,
        "customer_id": STR,
    }
    amend = {k: v for k, v in event.items() if k != "idempotency_key"}
    amend_kinds = {k: v for k, v in event_kinds.items() if k != "idempotency_key"}
    customer = {"name": "Zed", "email": "zed@example.com", "metadata": {"a": "b"}}
    customer_kinds = {"name": STR, "email": STR, "metadata": DICT}
    return [
        ("POST", "/v1/ingest", {"events": [event]}, {"events": LIST}),
        ("PUT", "/v1/events/evt-0", amend, amend_kinds),
        ("PUT", "/v1/events/evt-1/deprecate", {}, {}),
        (
            "POST",
            "/v1/events/search",
            {"event_ids": ["evt-0"], "timeframe_start": "2024-05-14T00:00:00Z"},
            {"event_ids": LIST, "timeframe_start": TIME},
        ),
        (
            "POST",
            "/v1/events/backfills",
            {
                "timeframe_start": "2024-04-01T00:00:00Z",
                "timeframe_end": "2024-04-02T00:00:00Z",
                "customer_id": alice,
                "replace_existing_events": False,
                "close_time": "2024-05-20T00:00:00Z",
            },
            {
                "timeframe_start": TIME,
                "timeframe_end": TIME,
                "customer_id": STR,
                "replace_existing_events": BOOL,
                "close_time": TIME,
            },
        ),
        ("POST", f"/v1/events/backfills/{ids['backfill']}/close", {}, {}),
        ("POST", f"/v1/events/backfills/{ids['backfill']}/revert", {}, {}),
        ("POST", "/v1/customers", customer, customer_kinds),
        ("PUT", f"/v1/customers/{alice}", customer, customer_kinds),
        ("PUT", "/v1/customers/external_customer_id/a%2Fb%20c", customer, customer_kinds),
        (
            "POST",
            "/v1/plans",
            {"name": "P", "currency": "EUR", "prices": [], "net_terms": 30},
            {"name": STR, "currency": STR, "prices": LIST, "net_terms": INT},
        ),
        (
            "POST",
            "/v1/subscriptions",
            {
                "customer_id": ids["bob"],
                "plan_id": ids["plan"],
                "start_date": "2024-05-01T00:00:00Z",
                "align_billing_with_subscription_start_date": True,
            },
            {
                "customer_id": STR,
                "plan_id": STR,
                "start_date": TIME,
                "align_billing_with_subscription_start_date": BOOL,
            },
        ),
        (
            "POST",
            "/v1/items",
            {"name": "Item", "metadata": {"a": "b"}},
            {"name": STR, "metadata": DICT},
        ),
        ("PUT", f"/v1/items/{ids['item']}", {"name": "Item 2"}, {"name": STR}),
        (
            "POST",
            "/v1/metrics",
            {
                "name": "m",
                "description": "d",
                "item_id": ids["item"],
                "sql": "SELECT SUM(n) FROM events",
            },
            {"name": STR, "description": STR, "item_id": STR, "sql": STR},
        ),
        ("PUT", f"/v1/metrics/{ids['metric']}", {"metadata": {"a": "b"}}, {"metadata": DICT}),
        (
            "POST",
            "/v1/prices",
            {
                "name": "p",
                "item_id": ids["item"],
                "billable_metric_id": ids["metric"],
                "cadence": "monthly",
                "currency": "USD",
                "model_type": "unit",
                "unit_config": {"unit_amount": "1"},
            },
            {
                "name": STR,
                "item_id": STR,
                "billable_metric_id": STR,
                "cadence": STR,
                "currency": STR,
                "unit_config": DICT,
            },
        ),
        ("PUT", f"/v1/prices/{ids['price']}", {"metadata": {"a": "b"}}, {"metadata": DICT}),
        (
            "PUT",
            f"/v1/plans/{ids['plan']}",
            {"name": "Basic 2", "description": "d", "metadata": {"a": "b"}},
            {"name": STR, "description": STR, "metadata": DICT},
        ),
        ("PUT", "/v1/plans/external_plan_id/basic", {"name": "Basic 3"}, {"name": STR}),
        (
            "PUT",
            f"/v1/subscriptions/{ids['subscription']}",
            {"net_terms": 30, "auto_collection": True, "metadata": {"a": "b"}},
            {"net_terms": INT, "auto_collection": BOOL, "metadata": DICT},
        ),
    ]


ENDPOINT_INDEX = st.integers(min_value=0, max_value=20)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
letters = st.text(alphabet="abcdefghijklmnopqrstuvwxyz _-:", max_size=12)
small_lists = st.lists(json_scalars, max_size=2)
small_dicts = st.dictionaries(st.text(max_size=4), json_scalars, max_size=2)
fraction = st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f))
WRONG: dict[str, st.SearchStrategy[Any]] = {
    STR: st.integers() | st.floats() | st.booleans() | small_lists | small_dicts,
    TIME: st.integers() | st.floats() | st.booleans() | small_lists | small_dicts | letters,
    DICT: st.integers() | st.text(max_size=5) | st.booleans() | small_lists,
    LIST: st.integers() | st.text(max_size=5) | st.booleans() | small_dicts,
    BOOL: st.integers() | st.text(max_size=5) | small_lists | small_dicts,
    INT: st.text(max_size=5) | fraction | small_lists | small_dicts,
}
EVENT_WRONG = {
    "event_name": WRONG[STR] | st.just(""),
    "timestamp": WRONG[TIME],
    "properties": WRONG[DICT] | st.just({"nested": {"a": 1}}) | st.just({"n": None}),
    "idempotency_key": WRONG[STR] | st.just(""),
    "customer_id": WRONG[STR] | st.just("cus_missing"),
}


def _is_json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False


# -- properties ----------------------------------------------------------------------------


@FUZZ
@given(index=ENDPOINT_INDEX, data=st.data())
def test_malformed_bodies_are_refused(index: int, data: st.DataObject) -> None:
    sim, ids = world()
    method, path, body, _ = endpoints(ids)[index]
    encoded = json.dumps(body).encode()
    raw = data.draw(
        st.binary(min_size=1, max_size=40)
        | json_values.filter(lambda v: not isinstance(v, dict)).map(
            lambda v: json.dumps(v).encode()
        )
        | st.integers(min_value=1, max_value=max(1, len(encoded) - 1)).map(lambda n: encoded[:n]),
        label="raw body",
    )
    assume(not _is_json_object(raw))
    wire = request(method, path, raw=raw, headers={"content-type": "application/json"})
    assert_problem_type(assert_rejected(sim, wire), "400-request-validation-errors")


@FUZZ
@given(index=ENDPOINT_INDEX, kind=st.sampled_from(["text/plain", "application/xml", "form"]))
def test_wrong_content_type_is_refused(index: int, kind: str) -> None:
    sim, ids = world()
    method, path, body, _ = endpoints(ids)[index]
    content_type = "application/x-www-form-urlencoded" if kind == "form" else kind
    wire = request(
        method, path, raw=json.dumps(body).encode(), headers={"content-type": content_type}
    )
    assert_problem_type(assert_rejected(sim, wire), "400-request-validation-errors")


@FUZZ
@given(index=ENDPOINT_INDEX, data=st.data())
def test_fields_of_the_wrong_type_are_refused(index: int, data: st.DataObject) -> None:
    sim, ids = world()
    method, path, body, kinds = endpoints(ids)[index]
    if path == "/v1/ingest":
        event = dict(body["events"][0])
        field = data.draw(st.sampled_from(sorted(EVENT_WRONG)), label="event field")
        event[field] = data.draw(EVENT_WRONG[field], label="value")
        events = data.draw(st.sampled_from(["alone", "with a valid one"]), label="batch")
        good = {**body["events"][0], "idempotency_key": "fuzz-good"}
        body = {"events": [event] if events == "alone" else [good, event]}
        if data.draw(st.booleans(), label="replace the whole list"):
            body = {"events": data.draw(WRONG[LIST], label="events")}
    else:
        assume(kinds)
        field = data.draw(st.sampled_from(sorted(kinds)), label="field")
        body = {**body, field: data.draw(WRONG[kinds[field]], label="value")}
    response_body = assert_rejected(sim, request(method, path, body))
    if path == "/v1/ingest" and "validation_failed" in response_body:
        assert response_body["validation_failed"]


@FUZZ
@given(index=ENDPOINT_INDEX, key=letters, value=json_values, nested=st.booleans())
def test_unknown_keys_are_refused(index: int, key: str, value: Any, nested: bool) -> None:
    sim, ids = world()
    method, path, body, _ = endpoints(ids)[index]
    name = "x_" + key
    if path == "/v1/ingest" and nested:
        body = {"events": [{**body["events"][0], name: value}]}
    else:
        body = {**body, name: value}
    assert_problem_type(
        assert_rejected(sim, request(method, path, body)), "400-request-validation-errors"
    )


LIST_PATHS = [
    "/v1/items",
    "/v1/metrics",
    "/v1/prices",
    "/v1/customers",
    "/v1/plans",
    "/v1/subscriptions",
    "/v1/events/backfills",
    "/v1/events/volume",
]
bad_limits = st.text(max_size=6).filter(
    lambda s: not (s.isascii() and s.isdigit())
) | st.sampled_from(["0", "101", "1000", "99999999999"])


@FUZZ
@given(
    path=st.sampled_from(LIST_PATHS),
    limit=bad_limits,
    unknown=st.none() | letters.map(lambda s: "x_" + s),
)
def test_bad_query_parameters_are_refused(path: str, limit: str, unknown: str | None) -> None:
    sim, _ = world()
    if path == "/v1/events/volume" and limit in ("101", "1000"):
        limit = "1001"  # volume pages take 1..1000, as Orb's volume page documents
    query = f"limit={quote(limit)}"
    if path == "/v1/events/volume":
        query += "&timeframe_start=2024-05-14T00%3A00%3A00Z"
    if unknown is not None:
        query += f"&{quote(unknown)}=1"
    assert_problem_type(
        assert_rejected(sim, request("GET", path, query=query)), "400-request-validation-errors"
    )


@FUZZ
@given(path=st.sampled_from([*LIST_PATHS, "/v1/ping"]), query=st.text(max_size=40))
def test_arbitrary_query_strings_never_fail_the_server(path: str, query: str) -> None:
    sim, _ = world()
    response, changed = send(sim, request("GET", path, query=query))
    assert response.status < 500, response.body
    assert not changed
    if response.status >= 400:
        assert_problem(response, response.status)


SEGMENTS = st.sampled_from(
    [
        "v1",
        "customers",
        "events",
        "backfills",
        "external_customer_id",
        "plans",
        "subscriptions",
        "ingest",
        "close",
        "revert",
        "deprecate",
        "search",
        "volume",
        "ping",
        "",
        "..",
        "%2F",
        "%",
        "%zz",
        "\u00e9",
        "\U0001f600",
        "evt-0",
    ]
) | st.text(max_size=6).map(lambda s: quote(s, safe=""))


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW"]),
    segments=st.lists(SEGMENTS, max_size=5),
    idempotency_key=st.none() | st.text(max_size=80),
)
def test_odd_paths_and_methods(
    method: str, segments: list[str], idempotency_key: str | None
) -> None:
    sim, _ = world()
    path = "/" + "/".join(segments)
    headers = {} if idempotency_key is None else {"idempotency-key": idempotency_key}
    wire = request(method, path, headers=headers)
    try:
        match(method, path)
    except URLNotFound:
        body = assert_rejected(sim, wire)
        assert_problem_type(body, "404-url-not-found")
        return
    # The path names a real endpoint with a made-up id (or none): reads may succeed, writes
    # with an empty body or an unknown id must not.
    if method == "GET":
        response, changed = send(sim, wire)
        assert response.status < 500 and not changed
    else:
        assert_rejected(sim, wire)


def assert_problem_type(body: dict[str, Any], suffix: str) -> None:
    assert body["type"].endswith("#" + suffix), body


USAGE_PARAMS = st.sampled_from(
    [
        "timeframe_start",
        "timeframe_end",
        "granularity",
        "view_mode",
        "billable_metric_id",
        "group_by",
        "currency",
        "first_dimension_key",
    ]
)


@FUZZ
@given(
    which=st.sampled_from(["usage", "costs", "customer costs"]),
    params=st.dictionaries(USAGE_PARAMS, st.text(max_size=12), max_size=3),
)
def test_usage_and_cost_queries_never_fail_the_server(which: str, params: dict[str, str]) -> None:
    sim, ids = world()
    path = {
        "usage": f"/v1/subscriptions/{ids['subscription']}/usage",
        "costs": f"/v1/subscriptions/{ids['subscription']}/costs",
        "customer costs": f"/v1/customers/{ids['alice']}/costs",
    }[which]
    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in params.items())
    response, changed = send(sim, request("GET", path, query=query))
    assert response.status < 500, response.body
    assert not changed
    if response.status >= 400:
        assert_problem(response, response.status)


# -- the edges of the datetime range and huge integers ---------------------------------------


def _offset(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# A time whose UTC value leaves datetime's range (year 0 or 10000) or sits on its last day:
# ``0001-01-01T00:00:00+01:00`` is in year 0 in UTC. Every one is a 400 naming the field.
extreme_times = st.sampled_from(
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59.999999+00:00",
        "0001-01-01T23:59:59+23:59",
    ]
) | st.builds(
    lambda low, clock, minutes: (
        f"{'0001-01-01' if low else '9999-12-31'}T{clock}{_offset(minutes if low else -minutes)}"
    ),
    st.booleans(),
    st.sampled_from(["00:00:00", "12:30:00", "23:59:59.5"]),
    st.integers(min_value=1, max_value=23 * 60 + 59),
)


def assert_refused_naming(sim: OrbSim, wire: WireRequest, field: str) -> None:
    body = assert_rejected(sim, wire)
    assert_problem_type(body, "400-request-validation-errors")
    assert field in json.dumps(body), (field, body)


@FUZZ
@given(index=ENDPOINT_INDEX, value=extreme_times, data=st.data())
def test_times_at_the_edge_of_the_range_are_a_400_naming_the_field(
    index: int, value: str, data: st.DataObject
) -> None:
    sim, ids = world()
    method, path, body, kinds = endpoints(ids)[index]
    if path == "/v1/ingest":
        field = "timestamp"
        body = {"events": [{**body["events"][0], field: value}]}
    else:
        times = sorted(name for name, kind in kinds.items() if kind == TIME)
        assume(times)
        field = data.draw(st.sampled_from(times), label="field")
        body = {**body, field: value}
    assert_refused_naming(sim, request(method, path, body), field)


QUERY_TIMES = [
    ("/v1/events/volume", "timeframe_start", ""),
    ("/v1/events/volume", "timeframe_end", "timeframe_start=2024-05-14T00%3A00%3A00Z&"),
    *(("/v1/customers", f"created_at[{op}]", "") for op in ("gte", "gt", "lt", "lte")),
]


@FUZZ
@given(shape=st.sampled_from(QUERY_TIMES), value=extreme_times)
def test_query_times_at_the_edge_of_the_range_are_a_400_naming_the_field(
    shape: tuple[str, str, str], value: str
) -> None:
    sim, _ = world()
    path, field, prefix = shape
    wire = request("GET", path, query=f"{prefix}{quote(field)}={quote(value)}")
    assert_refused_naming(sim, wire, field)


@FUZZ
@given(value=extreme_times)
def test_admin_clock_to_at_the_edge_of_the_range_is_a_400(value: str) -> None:
    sim, _ = world()
    wire = request("POST", "/_orbsim/clock/advance", {"to": value})
    assert_refused_naming(sim, wire, "clock/advance: to:")


huge_integers = st.integers(min_value=20, max_value=400).map(lambda digits: 10**digits - 1)


@FUZZ
@given(value=huge_integers | huge_integers.map(lambda n: -n))
def test_admin_clock_advance_by_a_huge_number_of_seconds_is_refused(value: int) -> None:
    sim, _ = world()
    raw = json.dumps({"seconds": value}).encode()
    wire = request("POST", "/_orbsim/clock/advance", raw=raw)
    body = assert_rejected(sim, wire)
    assert "'seconds'" in body["detail"] and len(body["detail"]) < 200, body


@FUZZ
@given(field=st.sampled_from(["times", "retry_after_ms"]), value=huge_integers)
def test_faults_with_huge_integers_are_refused(field: str, value: int) -> None:
    sim, _ = world()
    raw = json.dumps({"kind": 500, field: value}).encode()
    body = assert_rejected(sim, request("POST", "/_orbsim/faults", raw=raw))
    assert field in body["detail"] and len(body["detail"]) < 200, body
    assert not sim.faults.list()
