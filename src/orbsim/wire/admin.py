"""The simulator's own control API under ``/_orbsim/`` (also reachable as ``/v1/_orbsim/``).

It lets suites written in any language do over HTTP what Python tests do on the ``OrbSim``
object: read the whole state, start afresh, drive a ``ManualClock``, inject faults and inspect the
requests the server saw. Same ``Authorization: Bearer`` check as the API (``dispatch`` checks it
before calling here). Bodies are read as JSON whatever their ``Content-Type``, so a plain
``curl -d '{...}'`` works; answers are JSON, errors Orb's problem+json. Admin requests bypass the
request log, faults and rate limits, so controlling the simulator never perturbs what a test
asserts about its own traffic.

=======  ===========================  ==========================================================
GET      /_orbsim/state               the state as ``sim.dump`` writes it (format documented in
                                      ``orbsim.statefile``), streamed (chunked)
POST     /_orbsim/reset               empty state, same settings, seed and clock; faults, the
                                      request log and rate-limit buckets are cleared too
GET      /_orbsim/settings            the ``Settings`` in force, as JSON (durations ISO 8601)
PUT      /_orbsim/settings            replace them: fields not given take their defaults
PATCH    /_orbsim/settings            change the fields given, keep the others
GET      /_orbsim/clock               ``{"now": iso, "manual": bool}``
POST     /_orbsim/clock/advance       ``{"seconds": n}`` or ``{"to": iso}`` (ManualClock only)
GET      /_orbsim/faults              ``{"data": [fault, ...]}``
POST     /_orbsim/faults              add one; the body holds ``sim.faults.add``'s parameters
DELETE   /_orbsim/faults              remove all
GET      /_orbsim/requests            ``{"data": [request, ...]}``, oldest first; query
                                      ``method``, ``path``, ``status``, ``limit`` filter it
DELETE   /_orbsim/requests            empty the log
GET      /_orbsim/webhooks/deliveries ``{"data": [delivery, ...]}``, oldest first (settles first);
                                      query ``type`` (fnmatch), ``endpoint_id``, ``status``,
                                      ``limit`` filter it
DELETE   /_orbsim/webhooks/deliveries empty the delivery log
POST     /_orbsim/webhooks/redeliver  ``{"delivery_id": id}``: send that body again, signed anew
POST     /_orbsim/webhooks/test       ``{"endpoint_id"?: id, "message"?: text}``: send
                                      ``resource_event.test``; answers its deliveries
POST     /_orbsim/webhooks/flush      ``{"timeout"?: seconds}``: wait for HTTP deliveries;
                                      ``{"done": bool}``
=======  ===========================  ==========================================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from orbsim.clock import ManualClock
from orbsim.engine.timeparse import iso, parse_timestamp
from orbsim.errors import (
    ConstraintViolation,
    MethodNotAllowed,
    OrbError,
    RequestValidationError,
    ResourceNotFound,
    URLNotFound,
)
from orbsim.settings import Settings
from orbsim.wire.admin_openapi import get_openapi
from orbsim.wire.codec import (
    JSON,
    NO_QUERY,
    Query,
    empty_response,
    json_response,
    parse_object,
    problem_response,
)
from orbsim.wire.messages import WireRequest, WireResponse, api_path

if TYPE_CHECKING:
    from orbsim.sim import OrbSim

PREFIX = "/_orbsim"
_MAX_ADVANCE = timedelta(days=365 * 1000)
"""Far beyond any test's needs, and well inside ``datetime``'s range."""

_STATUS_CLASS = re.compile(r"[1-5][xX][xX]")

Payload = dict[str, Any] | None
AdminHandler = Callable[["OrbSim", Query, dict[str, Any]], "tuple[int, Payload] | WireResponse"]


def dispatch_admin(sim: OrbSim, request: WireRequest) -> WireResponse:
    """Answer an admin request; unknown admin paths and methods are URLNotFound like any other."""
    try:
        path = api_path(request.path)
        method = request.method.upper()
        if path == f"{PREFIX}/":  # the dashboard's path: GET is answered before this point
            raise MethodNotAllowed(
                f"{method} {request.path}: the dashboard takes GET", allow=("GET",)
            )
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        found = _ROUTES.get((method, path))
        if found is None:
            allowed = _METHODS.get(path)
            if allowed:
                raise MethodNotAllowed(
                    f"{method} {request.path}: this admin endpoint takes {', '.join(allowed)}",
                    allow=allowed,
                )
            raise URLNotFound(f"{method} {request.path} is not an orbsim admin endpoint")
        handler, accepted, takes_body = found
        query = Query(request.query) if request.query else NO_QUERY
        query.check_known(accepted)
        body = parse_object(request.body, None)  # JSON whatever the Content-Type: curl -d works
        if body and not takes_body:
            names = sorted(body)
            raise RequestValidationError(
                f"{method} {path} takes no body; unknown field(s) {', '.join(map(repr, names))}",
                validation_errors=[f"unknown field {name!r}" for name in names],
            )
        answer = handler(sim, query, body)
        if isinstance(answer, WireResponse):
            return answer
        status, payload = answer
    except OrbError as exc:
        return problem_response(exc)
    if payload is None:
        return empty_response(status)
    return json_response(status, payload)


# -- state and clock -------------------------------------------------------------------------------


def get_state(sim: OrbSim, query: Query, body: dict[str, Any]) -> WireResponse:
    """The state document of ``sim.dump``, streamed: a snapshot is taken under the lock (the
    events frozen, not copied) and encoded a few thousand events at a time as the client
    reads, so memory stays bounded and the lock is not held (``statefile.Snapshot``).

    The API keys are left out (``settings.api_keys`` reads null): they are the server's
    credentials, configuration rather than state, and anyone with one key must not learn the
    others from this endpoint."""
    snapshot = sim.state_snapshot(hide_api_keys=True)
    return WireResponse(200, [("content-type", JSON)], stream=snapshot.chunks())


def reset(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, Payload]:
    """Back to an empty account: what a freshly started server with these settings would hold."""
    with sim.lock:
        sim.reset()  # faults, the request log, rate limits and Idempotency-Keys too
        return 200, _clock_view(sim)


def get_clock(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, Payload]:
    return 200, _clock_view(sim)


def advance_clock(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, Payload]:
    """Move a ManualClock forward by ``seconds`` or to ``to``; refused on the system clock."""
    clock = sim.clock
    if not isinstance(clock, ManualClock):
        raise ConstraintViolation(
            "the simulator runs on the system clock, which cannot be moved; start the server "
            "with '--clock manual' (and optionally '--now ISO') to control time over HTTP"
        )
    unknown = sorted(body.keys() - {"seconds", "to"})
    if unknown:
        raise RequestValidationError(
            f"clock/advance: unknown field(s) {', '.join(map(repr, unknown))}; "
            "send {'seconds': n} or {'to': iso}",
            validation_errors=[f"unknown field {name!r}" for name in unknown],
        )
    if ("seconds" in body) == ("to" in body):
        raise RequestValidationError(
            "clock/advance: send exactly one of 'seconds' (a number >= 0) and 'to' (an ISO 8601 "
            "time)"
        )
    with sim.lock:
        now = sim.now()
        if "seconds" in body:
            target = now + _seconds(body["seconds"])
        else:
            target = _target(body["to"])
            if target < now:
                raise ConstraintViolation(
                    f"clock/advance: the clock only moves forward; 'to' {iso(target)} is "
                    f"before now ({iso(now)})"
                )
            if target - now > _MAX_ADVANCE:
                raise RequestValidationError(
                    f"clock/advance: 'to' {iso(target)} is more than 1000 years ahead"
                )
        clock.set(target)
        return 200, _clock_view(sim)


def _seconds(value: object) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestValidationError(
            f"clock/advance: 'seconds' must be a finite number, got {value!r}"
        )
    shown = str(value) if len(str(value)) <= 24 else f"an integer of {len(str(value))} digits"
    if value < 0:
        raise ConstraintViolation(
            f"clock/advance: the clock only moves forward; 'seconds' is {shown}"
        )
    # compared before any float conversion: int(10**400) has no float
    if value > _MAX_ADVANCE.total_seconds():
        raise RequestValidationError(f"clock/advance: 'seconds' {shown} is more than 1000 years")
    if not math.isfinite(value):
        raise RequestValidationError(
            f"clock/advance: 'seconds' must be a finite number, got {value!r}"
        )
    return timedelta(seconds=value)


def _target(value: object) -> datetime:
    if type(value) is not str:
        raise RequestValidationError(
            f"clock/advance: 'to' must be an ISO 8601 time string, got {value!r}"
        )
    try:
        return parse_timestamp(value, "to")
    except ValueError as exc:
        raise RequestValidationError(f"clock/advance: {exc}") from None


def _clock_view(sim: OrbSim) -> dict[str, Any]:
    return {"now": iso(sim.now()), "manual": isinstance(sim.clock, ManualClock)}


# -- settings --------------------------------------------------------------------------------------


def get_settings(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, Payload]:
    return 200, sim.settings.json_document()


def replace_settings(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, Payload]:
    """PUT: the body is the new settings; a field it leaves out takes its default."""
    new = _validated_settings(body)
    with sim.lock:
        sim.settings = new
    return 200, new.json_document()


def update_settings(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, Payload]:
    """PATCH: the fields given change, the others keep their values."""
    with sim.lock:
        merged = {**sim.settings.model_dump(), **body}
        if "reflection_delay" in body and "reflection_progression" not in body:
            merged.pop("reflection_progression")  # a delay alone means the "time" progression
        new = _validated_settings(merged)
        sim.settings = new
    return 200, new.json_document()


def _validated_settings(values: dict[str, Any]) -> Settings:
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            problems.append(f"{field}: {str(error['msg']).removeprefix('Value error, ')}")
        raise RequestValidationError(
            f"settings: {'; '.join(problems)}", validation_errors=problems
        ) from None


# -- faults and the request log --------------------------------------------------------------------

_FAULT_FIELDS = ("kind", "method", "path", "times", "probability", "seed", "retry_after_ms")


def list_faults(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, Payload]:
    return 200, {"data": [fault.to_dict() for fault in sim.faults.list()]}


def add_fault(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, Payload]:
    """Arm a fault; the body holds ``sim.faults.add``'s parameters (``kind`` required)."""
    unknown = sorted(body.keys() - set(_FAULT_FIELDS))
    if unknown:
        raise RequestValidationError(
            f"faults: unknown field(s) {', '.join(map(repr, unknown))} (accepted: "
            f"{', '.join(_FAULT_FIELDS)})",
            validation_errors=[f"unknown field {name!r}" for name in unknown],
        )
    if "kind" not in body:
        raise RequestValidationError(
            "faults: 'kind' is required: an HTTP status (e.g. 500, 429) or one of "
            "connect_error, read_timeout, lost_response",
            validation_errors=["kind: field required"],
        )
    options = dict(body)
    kind = options.pop("kind")
    try:
        fault = sim.faults.add(kind, **options)
    except (TypeError, ValueError) as exc:
        raise RequestValidationError(f"faults: {exc}", validation_errors=[str(exc)]) from None
    return 201, fault.to_dict()


def clear_faults(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, Payload]:
    sim.faults.clear()
    return 204, None


def list_requests(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, Payload]:
    """The request log, oldest first; ``limit`` keeps the most recent matches."""
    status_text = query.one("status")
    status: int | str | None = status_text
    if status_text is not None:
        if status_text.isascii() and status_text.isdigit() and len(status_text) == 3:
            status = int(status_text)
        elif not _STATUS_CLASS.fullmatch(status_text):
            raise RequestValidationError(
                f"query parameter 'status': expected a status such as 201 or a class such as "
                f"4xx, got {status_text!r}"
            )
    limit = query.integer("limit")
    if limit is not None and limit < 1:
        raise RequestValidationError("query parameter 'limit' must be at least 1")
    found = sim.requests.filter(query.one("method"), query.one("path"), status)
    if limit is not None:
        found = found[-limit:]
    return 200, {"data": [record.to_dict() for record in found]}


def clear_requests(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, Payload]:
    sim.requests.clear()
    return 204, None


# -- webhooks --------------------------------------------------------------------------------------

_DELIVERY_STATUSES = ("pending", "delivered", "failed")


def _fields(body: dict[str, Any], allowed: tuple[str, ...], what: str) -> None:
    unknown = sorted(body.keys() - set(allowed))
    if unknown:
        raise RequestValidationError(
            f"{what}: unknown field(s) {', '.join(map(repr, unknown))} (accepted: "
            f"{', '.join(allowed) or 'none'})",
            validation_errors=[f"unknown field {name!r}" for name in unknown],
        )


def list_deliveries(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, Payload]:
    """The delivery log, oldest first; ``limit`` keeps the most recent matches."""
    status = query.one("status")
    if status is not None and status not in _DELIVERY_STATUSES:
        raise RequestValidationError(
            f"query parameter 'status': expected one of {', '.join(_DELIVERY_STATUSES)}, "
            f"got {status!r}"
        )
    limit = query.integer("limit")
    if limit is not None and limit < 1:
        raise RequestValidationError("query parameter 'limit' must be at least 1")
    found = sim.webhooks.deliveries.filter(
        query.one("type"),
        endpoint_id=query.one("endpoint_id"),
        status=status,  # type: ignore[arg-type]
    )
    if limit is not None:
        found = found[-limit:]
    return 200, {"data": [delivery.to_dict() for delivery in found]}


def clear_deliveries(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, Payload]:
    sim.webhooks.clear()
    return 204, None


def redeliver(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, Payload]:
    _fields(body, ("delivery_id",), "webhooks/redeliver")
    delivery_id = body.get("delivery_id")
    if type(delivery_id) is not str or not delivery_id:
        raise RequestValidationError(
            f"webhooks/redeliver: 'delivery_id' must be a non-empty string, got {delivery_id!r}"
        )
    try:
        delivery = sim.webhooks.redeliver(delivery_id)
    except LookupError:
        raise ResourceNotFound.of("WebhookDelivery", delivery_id) from None
    return 201, delivery.to_dict()


def send_test(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, Payload]:
    _fields(body, ("endpoint_id", "message"), "webhooks/test")
    endpoint_id = body.get("endpoint_id")
    if endpoint_id is not None and (type(endpoint_id) is not str or not endpoint_id):
        raise RequestValidationError(
            f"webhooks/test: 'endpoint_id' must be a non-empty string, got {endpoint_id!r}"
        )
    deliveries = sim.webhooks.send_test(endpoint_id, message=body.get("message"))
    return 201, {"data": [delivery.to_dict() for delivery in deliveries]}


def flush_deliveries(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, Payload]:
    _fields(body, ("timeout",), "webhooks/flush")
    timeout = body.get("timeout", 10)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or not 0 <= timeout <= 300
    ):
        raise RequestValidationError(
            f"webhooks/flush: 'timeout' must be a number of seconds from 0 to 300, got {timeout!r}"
        )
    return 200, {"done": sim.webhooks.flush(timeout=float(timeout))}


# -- the table -------------------------------------------------------------------------------------

_NONE: frozenset[str] = frozenset()
_REQUEST_FILTERS = frozenset({"method", "path", "status", "limit"})
_DELIVERY_FILTERS = frozenset({"type", "endpoint_id", "status", "limit"})

_ROUTES: dict[tuple[str, str], tuple[AdminHandler, frozenset[str], bool]] = {
    ("GET", f"{PREFIX}/openapi.json"): (get_openapi, _NONE, False),
    ("GET", f"{PREFIX}/state"): (get_state, _NONE, False),
    ("POST", f"{PREFIX}/reset"): (reset, _NONE, False),
    ("GET", f"{PREFIX}/settings"): (get_settings, _NONE, False),
    ("PUT", f"{PREFIX}/settings"): (replace_settings, _NONE, True),
    ("PATCH", f"{PREFIX}/settings"): (update_settings, _NONE, True),
    ("GET", f"{PREFIX}/clock"): (get_clock, _NONE, False),
    ("POST", f"{PREFIX}/clock/advance"): (advance_clock, _NONE, True),
    ("GET", f"{PREFIX}/faults"): (list_faults, _NONE, False),
    ("POST", f"{PREFIX}/faults"): (add_fault, _NONE, True),
    ("DELETE", f"{PREFIX}/faults"): (clear_faults, _NONE, False),
    ("GET", f"{PREFIX}/requests"): (list_requests, _REQUEST_FILTERS, False),
    ("DELETE", f"{PREFIX}/requests"): (clear_requests, _NONE, False),
    ("GET", f"{PREFIX}/webhooks/deliveries"): (list_deliveries, _DELIVERY_FILTERS, False),
    ("DELETE", f"{PREFIX}/webhooks/deliveries"): (clear_deliveries, _NONE, False),
    ("POST", f"{PREFIX}/webhooks/redeliver"): (redeliver, _NONE, True),
    ("POST", f"{PREFIX}/webhooks/test"): (send_test, _NONE, True),
    ("POST", f"{PREFIX}/webhooks/flush"): (flush_deliveries, _NONE, True),
}
_METHODS: dict[str, tuple[str, ...]] = {}
for _method, _path in sorted(_ROUTES):
    _METHODS[_path] = (*_METHODS.get(_path, ()), _method)
