"""Orb's HTTP API over the engine: a (method, path) -> handler table and ``dispatch``.

``dispatch`` is the single entry point of every transport (in-process httpx transports, the
threaded server), so all of them answer byte-identically. Handlers are thin: they read path and
query parameters, pass the JSON body to the engine method as keyword arguments (the engine refuses
unknown keys itself) and return ``(status, model)``. Every ``OrbError`` becomes Orb's problem+json
answer here, in one place; anything else is a bug and becomes a 500 without a traceback.

Order of checks: authentication (401), injected faults (``faults.py``: an armed fault never
fires for, nor is used up by, an unauthenticated request), route (404 url-not-found, or 405),
body size (413), rate limits (429, ``ratelimit.py``), then the ``Idempotency-Key`` (every method
but GET, see ``idempotency.py``), query parameters, body, engine. Every request and answer is
recorded in ``sim.requests`` (``recorder.py``); admin requests (``/_orbsim/``) bypass faults,
limits and the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from orbsim.errors import (
    MethodNotAllowed,
    OrbAuthenticationError,
    OrbError,
    OrbInternalServerError,
    RequestTooLarge,
    RequestValidationError,
    URLNotFound,
)
from orbsim.models import IngestResponse
from orbsim.wire import billing, invoices
from orbsim.wire.codec import (
    NO_QUERY,
    Document,
    Query,
    empty_response,
    json_response,
    parse_object,
    percent_decode,
    problem_response,
)
from orbsim.wire.faults import BEFORE_DISPATCH, Faults, dropped_response, status_response
from orbsim.wire.idempotency import run as run_idempotent
from orbsim.wire.messages import WireRequest, WireResponse, api_path, is_admin
from orbsim.wire.orb_endpoints import ORB_ENDPOINTS
from orbsim.wire.ratelimit import count_events, limited
from orbsim.wire.recorder import RequestLog

if TYPE_CHECKING:
    from datetime import datetime

    from orbsim.sim import OrbSim

log = logging.getLogger("orbsim.wire")

Payload = BaseModel | Document | dict[str, Any] | None
"""What a handler returns besides the status: a model, a plain dict, a ``Document`` (plain data
in a model's shape), or None (empty body)."""


@dataclass(slots=True)
class Call:
    """One matched request as handlers see it."""

    sim: OrbSim
    params: tuple[str, ...]
    """Percent-decoded path parameters, in path order."""
    query: Query
    request: WireRequest

    def body(self) -> dict[str, Any]:
        """The JSON object body; ``self`` is refused (it would collide with the bound method)."""
        request = self.request
        body = parse_object(request.body, request.headers.get("content-type"))
        if "self" in body:
            raise RequestValidationError("unknown field 'self'")
        return body

    def no_body(self) -> None:
        """For endpoints without a body: empty or ``{}`` only."""
        request = self.request
        body = parse_object(request.body, request.headers.get("content-type"))
        if body:
            names = sorted(body)
            raise RequestValidationError(
                f"this endpoint takes no body; unknown field(s) {', '.join(map(repr, names))}",
                validation_errors=[f"unknown field {name!r}" for name in names],
            )


Handler = Callable[[Call], tuple[int, Payload]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    segments: tuple[str | None, ...]
    """Literal segments, or ``None`` where a path parameter goes."""
    handler: Handler
    query: frozenset[str]
    """The query parameters this endpoint accepts (others are refused)."""


# --------------------------------------------------------------------------------------------------
# Handlers: events


def ingest(call: Call) -> tuple[int, Payload]:
    query = call.query
    backfill_id = query.one("backfill_id")
    debug = _boolean(query, "debug")  # Orb's debug object (Node, Go, Ruby SDKs; Python < 4.58)
    body = call.body()
    if len(body) > 1 or (body and "events" not in body):
        names = sorted(body.keys() - {"events"})
        raise RequestValidationError(
            f"ingest: unknown field(s) {', '.join(names)}",
            validation_errors=[f"unknown field {name!r}" for name in names],
        )
    answer = call.sim.events.ingest(**body, backfill_id=backfill_id, debug=debug)
    if answer.debug is None:
        return 200, _without_debug(answer)
    return 200, answer.model_dump(mode="json")


def _without_debug(answer: IngestResponse) -> dict[str, Any]:
    """The answer without a ``debug`` key (Orb sends one only when asked)."""
    return {"validation_failed": [f.model_dump(mode="json") for f in answer.validation_failed]}


def _boolean(query: Query, name: str) -> bool:
    """A boolean query parameter: ``true`` or ``false`` (any case), as the SDKs send them."""
    value = query.one(name)
    if value is None:
        return False
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise RequestValidationError(
            f"query parameter {name!r}: expected true or false, got {value!r}"
        )
    return lowered == "true"


def amend_event(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.events.update(call.params[0], **call.body())


def deprecate_event(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.events.deprecate(call.params[0], **call.body())


def search_events(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.events.search(**call.body())


def event_volume(call: Call) -> tuple[int, Payload]:
    q = call.query
    return 200, call.sim.events.volume.list(
        timeframe_start=q.one("timeframe_start"),
        timeframe_end=q.one("timeframe_end"),
        limit=_limit(q),
        cursor=q.one("cursor"),
    )


# --------------------------------------------------------------------------------------------------
# Handlers: backfills


def create_backfill(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.events.backfills.create(**call.body())


def list_backfills(call: Call) -> tuple[int, Payload]:
    q = call.query
    return 200, call.sim.events.backfills.list(
        limit=_limit(q),
        cursor=q.one("cursor"),
        customer_id=q.one("customer_id"),
        status=q.one("status"),
    )


def fetch_backfill(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.events.backfills.fetch(call.params[0])


def close_backfill(call: Call) -> tuple[int, Payload]:
    call.no_body()
    return 200, call.sim.events.backfills.close(call.params[0])


def revert_backfill(call: Call) -> tuple[int, Payload]:
    call.no_body()
    return 200, call.sim.events.backfills.revert(call.params[0])


# --------------------------------------------------------------------------------------------------
# Handlers: customers

_CREATED_AT = frozenset(f"created_at[{op}]" for op in ("gte", "gt", "lt", "lte"))


def create_customer(call: Call) -> tuple[int, Payload]:
    return 201, call.sim.customers.create(**call.body())


def list_customers(call: Call) -> tuple[int, Payload]:
    q = call.query
    return 200, call.sim.customers.list(
        limit=_limit(q), cursor=q.one("cursor"), **billing.created_at(q)
    )


def fetch_customer(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.customers.fetch(call.params[0])


def update_customer(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.customers.update(call.params[0], **call.body())


def delete_customer(call: Call) -> tuple[int, Payload]:
    call.sim.customers.delete(call.params[0])
    return 204, None


def fetch_customer_by_alias(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.customers.fetch_by_external_id(call.params[0])


def update_customer_by_alias(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.customers.update_by_external_id(call.params[0], **call.body())


# --------------------------------------------------------------------------------------------------
# Handlers: plans and subscriptions


def create_plan(call: Call) -> tuple[int, Payload]:
    # The billing cadence follows the prices when not given (the engine derives it).
    return 201, call.sim.plans.create(**call.body())


def list_plans(call: Call) -> tuple[int, Payload]:
    q = call.query
    return 200, call.sim.plans.list(
        limit=_limit(q), cursor=q.one("cursor"), status=q.one("status"), **billing.created_at(q)
    )


def fetch_plan(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.plans.fetch(call.params[0])


def fetch_plan_by_external_id(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.plans.fetch_by_external_id(call.params[0])


def update_plan(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.plans.update(call.params[0], **call.body())


def update_plan_by_external_id(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.plans.update_by_external_id(call.params[0], **call.body())


def create_subscription(call: Call) -> tuple[int, Payload]:
    return 201, call.sim.subscriptions.create(**call.body())


def list_subscriptions(call: Call) -> tuple[int, Payload]:
    q = call.query
    return 200, call.sim.subscriptions.list(
        limit=_limit(q),
        cursor=q.one("cursor"),
        customer_id=q.many("customer_id[]", "customer_id"),
        external_customer_id=q.many("external_customer_id[]", "external_customer_id"),
        plan_id=q.one("plan_id"),
        external_plan_id=q.one("external_plan_id"),
        status=q.many("status[]", "status"),
        **billing.created_at(q),
    )


def fetch_subscription(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.subscriptions.fetch(call.params[0])


def update_subscription(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.subscriptions.update(call.params[0], **call.body())


# --------------------------------------------------------------------------------------------------
# Handlers: webhook endpoints


def create_webhook_endpoint(call: Call) -> tuple[int, Payload]:
    return 201, call.sim.webhook_endpoints.create(**call.body())


def list_webhook_endpoints(call: Call) -> tuple[int, Payload]:
    q = call.query
    return 200, call.sim.webhook_endpoints.list(limit=_limit(q), cursor=q.one("cursor"))


def retrieve_webhook_endpoint(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.webhook_endpoints.retrieve(call.params[0])


def update_webhook_endpoint(call: Call) -> tuple[int, Payload]:
    return 200, call.sim.webhook_endpoints.update(call.params[0], **call.body())


def delete_webhook_endpoint(call: Call) -> tuple[int, Payload]:
    call.no_body()
    call.sim.webhook_endpoints.delete(call.params[0])
    return 204, None


def enable_webhook_endpoint(call: Call) -> tuple[int, Payload]:
    call.no_body()
    return 200, call.sim.webhook_endpoints.enable(call.params[0])


def disable_webhook_endpoint(call: Call) -> tuple[int, Payload]:
    call.no_body()
    return 200, call.sim.webhook_endpoints.disable(call.params[0])


def ping(call: Call) -> tuple[int, Payload]:
    return 200, {"response": "pong"}


def _limit(query: Query) -> int:
    limit = query.integer("limit")
    return 20 if limit is None else limit


# --------------------------------------------------------------------------------------------------
# The table

_PAGE = frozenset({"limit", "cursor"})


def _route(
    method: str, pattern: str, handler: Handler, query: frozenset[str] = frozenset()
) -> Route:
    segments = tuple(
        None if part.startswith("{") else part for part in pattern.strip("/").split("/")
    )
    return Route(method, segments, handler, query)


ROUTES: tuple[Route, ...] = (
    _route("POST", "/ingest", ingest, frozenset({"backfill_id", "debug"})),
    _route("POST", "/events/search", search_events),
    _route("GET", "/events/volume", event_volume, _PAGE | {"timeframe_start", "timeframe_end"}),
    _route("POST", "/events/backfills", create_backfill),
    _route("GET", "/events/backfills", list_backfills, _PAGE | {"customer_id", "status"}),
    _route("GET", "/events/backfills/{backfill_id}", fetch_backfill),
    _route("POST", "/events/backfills/{backfill_id}/close", close_backfill),
    _route("POST", "/events/backfills/{backfill_id}/revert", revert_backfill),
    _route("PUT", "/events/{event_id}", amend_event),
    _route("PUT", "/events/{event_id}/deprecate", deprecate_event),
    _route("POST", "/customers", create_customer),
    _route("GET", "/customers", list_customers, _PAGE | _CREATED_AT),
    _route("GET", "/customers/external_customer_id/{id}", fetch_customer_by_alias),
    _route("PUT", "/customers/external_customer_id/{id}", update_customer_by_alias),
    _route("GET", "/customers/{customer_id}", fetch_customer),
    _route("PUT", "/customers/{customer_id}", update_customer),
    _route("DELETE", "/customers/{customer_id}", delete_customer),
    _route("POST", "/plans", create_plan),
    _route("GET", "/plans", list_plans, _PAGE | _CREATED_AT | {"status"}),
    _route("GET", "/plans/external_plan_id/{external_plan_id}", fetch_plan_by_external_id),
    _route("PUT", "/plans/external_plan_id/{external_plan_id}", update_plan_by_external_id),
    _route("GET", "/plans/{plan_id}", fetch_plan),
    _route("PUT", "/plans/{plan_id}", update_plan),
    _route("POST", "/subscriptions", create_subscription),
    _route(
        "GET",
        "/subscriptions",
        list_subscriptions,
        _PAGE
        | _CREATED_AT
        | {
            "customer_id",
            "customer_id[]",
            "external_customer_id",
            "external_customer_id[]",
            "plan_id",
            "external_plan_id",
            "status",
            "status[]",
        },
    ),
    _route("GET", "/subscriptions/{subscription_id}", fetch_subscription),
    _route("PUT", "/subscriptions/{subscription_id}", update_subscription),
    _route("POST", "/webhook_endpoints", create_webhook_endpoint),
    _route("GET", "/webhook_endpoints", list_webhook_endpoints, _PAGE),
    _route("GET", "/webhook_endpoints/{webhook_endpoint_id}", retrieve_webhook_endpoint),
    _route("PUT", "/webhook_endpoints/{webhook_endpoint_id}", update_webhook_endpoint),
    _route("DELETE", "/webhook_endpoints/{webhook_endpoint_id}", delete_webhook_endpoint),
    _route("POST", "/webhook_endpoints/{webhook_endpoint_id}/enable", enable_webhook_endpoint),
    _route("POST", "/webhook_endpoints/{webhook_endpoint_id}/disable", disable_webhook_endpoint),
    _route("GET", "/ping", ping),
    *(_route(*endpoint) for endpoint in billing.ENDPOINTS),
    *(_route(*endpoint) for endpoint in invoices.ENDPOINTS),
)


@dataclass(frozen=True, slots=True)
class _Path:
    """One path of Orb's API (or of orbsim's), with the methods orbsim serves on it."""

    segments: tuple[str | None, ...]
    routes: dict[str, Route]
    orb_methods: frozenset[str]
    """The methods Orb's API has on this path (``orb_endpoints``), served or not."""


def _shape(template: str) -> tuple[str | None, ...]:
    return tuple(None if part.startswith("{") else part for part in template.strip("/").split("/"))


def _paths() -> tuple[dict[str, _Path], dict[tuple[int, str], list[_Path]]]:
    """Orb's paths (plus orbsim's own routes), keyed for ``match``: literal paths by their text;
    parameterised ones by segment count and first segment, most specific first (at the first
    position where two differ, a literal segment beats a parameter, as in Orb's router)."""
    methods: dict[tuple[str | None, ...], set[str]] = {}
    for method, template in ORB_ENDPOINTS:
        methods.setdefault(_shape(template), set()).add(method)
    served: dict[tuple[str | None, ...], dict[str, Route]] = {}
    for route in ROUTES:
        served.setdefault(route.segments, {})[route.method] = route
        methods.setdefault(route.segments, set())
    literal: dict[str, _Path] = {}
    patterns: dict[tuple[int, str], list[_Path]] = {}
    for segments, orb_methods in methods.items():
        entry = _Path(segments, served.get(segments, {}), frozenset(orb_methods))
        if None in segments:
            head = segments[0]
            assert head is not None, f"a path starting with a parameter: {segments}"
            patterns.setdefault((len(segments), head), []).append(entry)
        else:
            literal["/" + "/".join(segments)] = entry  # type: ignore[arg-type]
    for group in patterns.values():
        group.sort(key=lambda entry: tuple(part is None for part in entry.segments))
    return literal, patterns


def _by_last(
    patterns: dict[tuple[int, str], list[_Path]],
) -> dict[tuple[int, str], tuple[dict[str, list[_Path]], list[_Path]]]:
    """Each group of ``patterns`` split by its last segment, keeping the group's order: for a
    literal last segment, the paths that can match a path ending in it (that literal, or a
    parameter); for any other ending, the paths ending in a parameter. A candidate whose last
    segment is another literal can never match, so ``match`` does not try it."""
    split: dict[tuple[int, str], tuple[dict[str, list[_Path]], list[_Path]]] = {}
    for key, group in patterns.items():
        lasts = {entry.segments[-1] for entry in group} - {None}
        by_last = {
            last: [entry for entry in group if entry.segments[-1] in (None, last)]
            for last in lasts
            if last is not None
        }
        split[key] = (by_last, [entry for entry in group if entry.segments[-1] is None])
    return split


_LITERAL, _PATTERNS = _paths()
_PATTERNS_BY_LAST = _by_last(_PATTERNS)
_NO_PATHS: tuple[dict[str, list[_Path]], list[_Path]] = ({}, [])


def match(method: str, path: str) -> tuple[Route, tuple[str, ...]]:
    """The route for ``method`` and a raw path (``/v1`` prefix optional), and its parameters.

    The path is first matched to the most specific of Orb's paths (so ``/subscriptions/summary``
    is never read as a subscription id); then the method. ``MethodNotAllowed`` (405 with
    ``Allow``) if orbsim serves that path with other methods, else ``URLNotFound``.
    """
    path = api_path(path)
    found = _LITERAL.get(path)
    params: tuple[str, ...] = ()
    if found is None:
        parts = path.split("/")
        if parts[0] == "" and len(parts) > 2:
            parts = parts[1:]
            by_last, open_ended = _PATTERNS_BY_LAST.get((len(parts), parts[0]), _NO_PATHS)
            for candidate in by_last.get(parts[-1], open_ended):
                for expected, part in zip(candidate.segments, parts, strict=True):
                    if expected is None:
                        if not part:
                            break
                    elif expected != part:
                        break
                else:  # parameters are decoded only for the path that matched
                    found = candidate
                    params = tuple(
                        percent_decode(part) if "%" in part else part
                        for expected, part in zip(candidate.segments, parts, strict=True)
                        if expected is None
                    )
                    break
    if found is not None:
        route = found.routes.get(method)
        if route is not None:
            return route, params
        if found.routes:
            allowed = tuple(sorted(found.routes))
            raise MethodNotAllowed(
                f"{method} {path}: orbsim serves this path only with {', '.join(allowed)}",
                allow=allowed,
            )
        if method in found.orb_methods:
            raise URLNotFound(
                f"{method} {path} is an Orb API endpoint that orbsim does not simulate"
            )
    raise URLNotFound(f"{method} {path} is not an Orb API endpoint served by orbsim")


# --------------------------------------------------------------------------------------------------
# Dispatch


def dispatch(sim: OrbSim, request: WireRequest) -> WireResponse:
    """Answer one request. Never raises: errors become Orb's problem+json responses.

    Layers, outermost first: admin requests (``/_orbsim/``, also under ``/v1``) go straight to
    ``admin.py`` after authentication, bypassing everything below; injected faults
    (``faults.py``, checked only when one is armed); the answer itself (``_serve``: auth, route,
    size, rate limits, idempotency, handler); recording in the request log (``recorder.py``).
    Without faults or rate limits configured, the extra cost is two dictionary lookups, a clock
    read and a deque append.
    """
    try:
        if is_admin(request.path):
            return _admin(sim, request)
        wire = sim.wire
        log = wire.requests
        at = sim.clock.now()
        try:
            api_key = _authenticate(sim, request.headers.get("authorization"))
        except OrbAuthenticationError as exc:
            response = problem_response(exc)
            log.record(at, request, response)
            return response
        faults = wire.faults
        if faults.armed:
            return _dispatch_faulty(sim, request, api_key, faults, log, at)
        response, limited = _serve(sim, request, api_key, at)
        log.record(at, request, response, None, limited)
        return response
    except Exception:
        return _internal_error(request)


def refuse_before_body(sim: OrbSim, request: WireRequest, length: int) -> WireResponse | None:
    """For a server that has read a request's head only: the answer ``dispatch`` would give
    whatever the body, if it is a refusal (401, or 413 for a declared ``length`` over
    ``Settings.max_request_bytes``), recorded as ``dispatch`` records it; else None.

    A refused body is then never read, so requests nobody may make cost no memory. An unknown
    URL answers 404 before the size is looked at, as in ``dispatch``.
    """
    admin = is_admin(request.path)
    if admin:
        from orbsim.wire.dashboard import is_dashboard

        if is_dashboard(request):  # a GET without a body; it authenticates browsers itself
            return None
    try:
        _authenticate(sim, request.headers.get("authorization"))
        limit = sim.settings.max_request_bytes
        if length <= limit:
            return None
        if not admin:
            match(request.method.upper(), request.path)
        raise too_large(length, limit)
    except OrbError as exc:
        response = problem_response(exc)
    if not admin:
        sim.wire.requests.record(sim.clock.now(), request, response)
    return response


def too_large(size: int, limit: int) -> RequestTooLarge:
    """The 413 for a body of ``size`` bytes (``size > limit``)."""
    return RequestTooLarge(f"request body is {size} bytes; at most {limit} are accepted")


def _admin(sim: OrbSim, request: WireRequest) -> WireResponse:
    """The simulator's own control API: authenticated, never faulted, limited or recorded."""
    try:
        from orbsim.wire.dashboard import is_dashboard, serve_dashboard

        if is_dashboard(request):  # for browsers: its own authentication (Basic or Bearer)
            return serve_dashboard(sim, request)
        _authenticate(sim, request.headers.get("authorization"))
        limit = sim.settings.max_request_bytes
        if len(request.body) > limit:
            raise too_large(len(request.body), limit)
        from orbsim.wire.admin import dispatch_admin

        return dispatch_admin(sim, request)
    except OrbError as exc:
        return problem_response(exc)


def _dispatch_faulty(
    sim: OrbSim,
    request: WireRequest,
    api_key: str,
    faults: Faults,
    log: RequestLog,
    at: datetime,
) -> WireResponse:
    """``dispatch`` while faults are armed: the first one that fires shapes the answer."""
    method = request.method.upper()
    path = api_path(request.path)
    fault = faults.take(method, path)
    if fault is None:
        response, limited = _serve(sim, request, api_key, at)
        log.record(at, request, response, None, limited)
        return response
    kind = fault.kind
    limited = False
    if isinstance(kind, int):
        response = status_response(fault, method, path)
    elif kind in BEFORE_DISPATCH:
        response = dropped_response(fault, method, path)
    else:  # lost_response: the simulator answers (and commits), the answer never arrives
        answered, limited = _serve(sim, request, api_key, at)
        response = WireResponse(answered.status, answered.headers, answered.body, kind)
    log.record(at, request, response, kind, limited)
    return response


def _serve(
    sim: OrbSim, request: WireRequest, api_key: str, at: datetime
) -> tuple[WireResponse, bool]:
    """The answer of an authenticated request, and whether a rate limit gave it."""
    try:
        headers = request.headers
        method = request.method
        if not method.isupper():
            method = method.upper()
        route, params = match(method, request.path)
        settings = sim.settings
        limit = settings.max_request_bytes
        if len(request.body) > limit:
            raise too_large(len(request.body), limit)
        if limited(settings):
            events = count_events(request.body) if route.handler is ingest else 0
            refusal = sim.wire.limiter.admit(settings, api_key, at, events, method, request.path)
            if refusal is not None:
                return refusal, True
        key = headers.get("idempotency-key") if method != "GET" else None
        if key is not None:
            answer = run_idempotent(
                sim, key, request, lambda: _execute(sim, route, params, request)
            )
            return answer, False
        return _execute(sim, route, params, request), False
    except OrbError as exc:
        sim.report_error(exc)
        return problem_response(exc), False
    except Exception:
        return _internal_error(request), False


def _execute(
    sim: OrbSim, route: Route, params: tuple[str, ...], request: WireRequest
) -> WireResponse:
    """Run the handler; its errors are answered here (so idempotency can store the answer)."""
    try:
        if request.query:
            query = Query(request.query)
            query.check_known(route.query)
        else:
            query = NO_QUERY
        status, payload = route.handler(Call(sim, params, query, request))
        if payload is None:
            return empty_response(status)
        return json_response(status, payload)
    except OrbError as exc:
        sim.report_error(exc)
        return problem_response(exc)
    except Exception:
        return _internal_error(request)


def _authenticate(sim: OrbSim, value: str | None) -> str:
    """The API key of a valid ``Authorization: Bearer`` header (401 otherwise)."""
    if value is None:
        raise OrbAuthenticationError("missing Authorization header; send 'Bearer <api key>'")
    scheme, _, key = value.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise OrbAuthenticationError("malformed Authorization header; send 'Bearer <api key>'")
    allowed = sim.settings.api_keys
    if allowed is not None and key not in allowed:
        raise OrbAuthenticationError("the API key is not valid for this account")
    return key


def _internal_error(request: WireRequest) -> WireResponse:
    log.exception("orbsim: unexpected error answering %s %s", request.method, request.path)
    return problem_response(
        OrbInternalServerError(
            f"orbsim hit an unexpected error answering {request.method} {request.path}; "
            "this is a bug in orbsim (the traceback is logged on the 'orbsim.wire' logger)"
        )
    )
