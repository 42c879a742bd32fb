"""The OpenAPI 3.1 document of the admin API (``/_orbsim/``), served at
``GET /_orbsim/openapi.json`` so suites in other languages can generate a client for it.

The document is data written by hand next to the handlers (``admin.py``); the tests check that it
is a valid OpenAPI document, that it lists exactly the admin routes, and that the server's real
answers validate against its schemas.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from orbsim.settings import Settings

if TYPE_CHECKING:
    from orbsim.sim import OrbSim
    from orbsim.wire.codec import Query

_JSON = "application/json"
_PROBLEM = "application/problem+json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


_ERRORS: dict[str, Any] = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
}

_ANY: dict[str, Any] = {}
"""A JSON value of any type (JSON Schema's empty schema)."""


def _settings_schemas() -> dict[str, Any]:
    """``Settings`` (the answer: every field, in the state file's form) and ``SettingsChange``
    (a PUT or PATCH body: any of the fields), from the ``Settings`` model itself, so the two
    cannot drift apart."""
    model = Settings.model_json_schema(mode="serialization")
    assert "$defs" not in model, "Settings grew a nested model: give it a schema here"
    fields = {
        name: {key: value for key, value in field.items() if key not in ("title", "default")}
        for name, field in model["properties"].items()
    }
    return {
        "Settings": {
            "type": "object",
            "description": "The settings in force. Durations are ISO 8601 (PT12H).",
            "required": list(fields),
            "additionalProperties": False,
            "properties": fields,
        },
        "SettingsChange": {
            "type": "object",
            "description": (
                "Fields of Settings. PUT: those left out take their defaults; PATCH: those "
                "left out keep their values. Durations may also be a number with a unit "
                "(500ms, 30s, 10m, 12h, 1d); a bare number is refused."
            ),
            "additionalProperties": False,
            "properties": {
                name: {key: value for key, value in field.items() if key != "format"}
                for name, field in fields.items()
            },
        },
    }


_SCHEMAS: dict[str, Any] = {
    **_settings_schemas(),
    "Clock": {
        "type": "object",
        "required": ["now", "manual"],
        "additionalProperties": False,
        "properties": {
            "now": {"type": "string", "format": "date-time", "description": "simulated now"},
            "manual": {
                "type": "boolean",
                "description": "true when the server runs on a ManualClock (--clock manual)",
            },
        },
    },
    "ClockAdvance": {
        "description": "Exactly one of `seconds` and `to`.",
        "oneOf": [
            {
                "type": "object",
                "required": ["seconds"],
                "additionalProperties": False,
                "properties": {"seconds": {"type": "number", "minimum": 0}},
            },
            {
                "type": "object",
                "required": ["to"],
                "additionalProperties": False,
                "properties": {
                    "to": {
                        "type": "string",
                        "format": "date-time",
                        "description": "ISO 8601, not before now; naive means UTC",
                    }
                },
            },
        ],
    },
    "FaultKind": {
        "description": "An HTTP status (401, 409, 413, 429, 500-599) or a transport failure.",
        "oneOf": [
            {"type": "integer"},
            {"type": "string", "enum": ["connect_error", "read_timeout", "lost_response"]},
            {"type": "string", "pattern": "^[0-9]{3}$"},
        ],
    },
    "FaultCreate": {
        "type": "object",
        "required": ["kind"],
        "additionalProperties": False,
        "properties": {
            "kind": _ref("FaultKind"),
            "method": {"type": "string", "default": "*"},
            "path": {
                "type": "string",
                "default": "*",
                "description": "fnmatch pattern on the path without /v1",
            },
            "times": {"type": ["integer", "null"], "minimum": 1},
            "probability": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "seed": {"type": ["integer", "null"]},
            "retry_after_ms": {"type": ["integer", "null"], "minimum": 0},
        },
    },
    "Fault": {
        "type": "object",
        "required": [
            "id",
            "kind",
            "method",
            "path",
            "times",
            "probability",
            "seed",
            "retry_after_ms",
            "fired",
            "active",
        ],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string"},
            "kind": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
            "method": {"type": "string"},
            "path": {"type": "string"},
            "times": {"type": ["integer", "null"]},
            "probability": {"type": ["number", "null"]},
            "seed": {"type": ["integer", "null"]},
            "retry_after_ms": {"type": ["integer", "null"]},
            "fired": {"type": "integer"},
            "active": {"type": "boolean"},
        },
    },
    "FaultList": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": _ref("Fault")}},
    },
    "RecordedRequest": {
        "type": "object",
        "required": [
            "index",
            "at",
            "method",
            "path",
            "query",
            "body",
            "body_size",
            "body_truncated",
            "headers",
            "status",
            "response",
            "response_headers",
            "replayed",
            "fault",
            "rate_limited",
            "delivered",
        ],
        "additionalProperties": False,
        "properties": {
            "index": {"type": "integer", "minimum": 1},
            "at": {"type": "string", "format": "date-time"},
            "method": {"type": "string"},
            "path": {"type": "string", "description": "without /v1"},
            "query": {
                "type": "object",
                "additionalProperties": {
                    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
                },
            },
            "body": {**_ANY, "description": "the JSON body (text if it was not JSON)"},
            "body_size": {"type": "integer", "minimum": 0, "description": "bytes received"},
            "body_truncated": {
                "type": "boolean",
                "description": "true when the log kept only the start of a large body",
            },
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "status": {"type": ["integer", "null"], "description": "null: no answer was sent"},
            "response": _ANY,
            "response_headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "replayed": {"type": "boolean"},
            "fault": {"type": ["string", "integer", "null"]},
            "rate_limited": {"type": "boolean"},
            "delivered": {"type": "boolean"},
        },
    },
    "RequestList": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": _ref("RecordedRequest")}},
    },
    "Delivery": {
        "type": "object",
        "required": [
            "id",
            "event_id",
            "type",
            "endpoint_id",
            "url",
            "payload_style",
            "status",
            "via",
            "occurred_at",
            "created_at",
            "redelivery_of",
            "headers",
            "body",
            "attempts",
        ],
        "properties": {
            "id": {"type": "string"},
            "event_id": {"type": "string"},
            "type": {"type": "string", "description": "the webhook event type"},
            "endpoint_id": {"type": "string"},
            "url": {"type": "string"},
            "payload_style": {"type": "string", "enum": ["expanded", "standard"]},
            "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
            "via": {"type": "string", "enum": ["receiver", "http"]},
            "occurred_at": {"type": "string", "format": "date-time"},
            "created_at": {"type": "string", "format": "date-time"},
            "redelivery_of": {"type": ["string", "null"]},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {"type": "string", "description": "the signed JSON body, as sent"},
            "attempts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["number", "at", "signed_at", "status", "error"],
                    "properties": {
                        "number": {"type": "integer", "minimum": 1},
                        "at": {"type": "string", "format": "date-time"},
                        "signed_at": {"type": "string"},
                        "status": {"type": ["integer", "null"]},
                        "error": {"type": ["string", "null"]},
                    },
                },
            },
        },
    },
    "DeliveryList": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": _ref("Delivery")}},
    },
    "Redeliver": {
        "type": "object",
        "required": ["delivery_id"],
        "additionalProperties": False,
        "properties": {"delivery_id": {"type": "string"}},
    },
    "WebhookTest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "endpoint_id": {"type": "string", "description": "default: every enabled endpoint"},
            "message": {"type": "string"},
        },
    },
    "Flush": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"timeout": {"type": "number", "minimum": 0, "default": 10}},
    },
    "FlushResult": {
        "type": "object",
        "required": ["done"],
        "properties": {"done": {"type": "boolean"}},
    },
    "State": {
        "type": "object",
        "description": "The whole state, in the format of sim.dump (loadable with OrbSim.load; "
        "documented in orbsim.statefile): version 4, one field of the account state per key "
        "of state, the events last, in blocks of columns (orbsim.statefile.events).",
        "required": ["format", "version", "clock", "extensions", "state"],
        "properties": {
            "format": {"type": "string", "const": "orbsim-state"},
            "version": {"type": "integer", "const": 4},
            "clock": {"$ref": "#/components/schemas/Clock"},
            "extensions": {"type": "object"},
            "state": {
                "type": "object",
                "required": ["settings", "events"],
                "properties": {
                    "events": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/EventBlock"},
                    }
                },
                "additionalProperties": True,
            },
        },
        "additionalProperties": False,
    },
    "EventBlock": {
        "type": "object",
        "description": "Up to 4,096 events in ingestion order, one list per column; owner, "
        "event_name, ingested_at and backfill are codes (indexes) into owners, event_names, "
        "times and backfills; later lists [position, [[kind, event_name, properties, "
        "recorded_at], ...]] for each amended or deprecated event.",
        "required": [
            "id",
            "timestamp",
            "properties",
            "owner",
            "owners",
            "event_name",
            "event_names",
            "ingested_at",
            "times",
        ],
        "properties": {
            "id": {"type": "array", "items": {"type": "string"}},
            "timestamp": {"type": "array", "items": {"type": "string", "format": "date-time"}},
            "properties": {"type": "array", "items": {"type": "object"}},
            "owner": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "owners": {
                "type": "array",
                "description": "[customer_id, external_customer_id]: exactly one is set",
                "items": {
                    "type": "array",
                    "prefixItems": [{"type": ["string", "null"]}, {"type": ["string", "null"]}],
                    "minItems": 2,
                    "maxItems": 2,
                },
            },
            "event_name": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "event_names": {"type": "array", "items": {"type": "string"}},
            "ingested_at": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "times": {"type": "array", "items": {"type": "string", "format": "date-time"}},
            "backfill": {"type": "array", "items": {"type": ["integer", "null"], "minimum": 0}},
            "backfills": {"type": "array", "items": {"type": "string"}},
            "later": {
                "type": "array",
                "items": {
                    "type": "array",
                    "prefixItems": [{"type": "integer", "minimum": 0}, {"type": "array"}],
                    "minItems": 2,
                    "maxItems": 2,
                },
            },
        },
        "additionalProperties": False,
    },
    "Problem": {
        "type": "object",
        "required": ["type", "status", "title", "detail"],
        "properties": {
            "type": {"type": "string"},
            "status": {"type": "integer"},
            "title": {"type": "string"},
            "detail": {"type": "string"},
            "validation_errors": {"type": "array", "items": {"type": "string"}},
        },
    },
}

_PATHS: dict[str, Any] = {
    "/_orbsim/openapi.json": {
        "get": {
            "operationId": "getOpenapi",
            "summary": "This document",
            "responses": {"200": _json({"type": "object"}, "the OpenAPI document"), **_ERRORS},
        }
    },
    "/_orbsim/state": {
        "get": {
            "operationId": "getState",
            "summary": "The whole state, in the sim.dump format",
            "description": "Streamed: the state of the moment the request arrived, encoded as "
            "it is sent (Transfer-Encoding: chunked; no Content-Length), so memory stays "
            "bounded and no other request waits for it. API keys read null.",
            "responses": {
                "200": {
                    **_json(_ref("State"), "the state"),
                    "headers": {
                        "Transfer-Encoding": {
                            "description": "chunked (an HTTP/1.0 client gets the body "
                            "unframed, ending with the connection)",
                            "schema": {"type": "string", "const": "chunked"},
                        }
                    },
                },
                **_ERRORS,
            },
        }
    },
    "/_orbsim/reset": {
        "post": {
            "operationId": "reset",
            "summary": "Empty account: same settings, seed and clock; clears idempotency keys, "
            "faults, the request log and rate-limit buckets",
            "responses": {"200": _json(_ref("Clock"), "the clock after the reset"), **_ERRORS},
        }
    },
    "/_orbsim/settings": {
        "get": {
            "operationId": "getSettings",
            "summary": "The settings in force",
            "responses": {"200": _json(_ref("Settings"), "the settings"), **_ERRORS},
        },
        "put": {
            "operationId": "replaceSettings",
            "summary": "Replace the settings (fields left out take their defaults)",
            "requestBody": {
                "required": True,
                "content": {_JSON: {"schema": _ref("SettingsChange")}},
            },
            "responses": {"200": _json(_ref("Settings"), "the new settings"), **_ERRORS},
        },
        "patch": {
            "operationId": "updateSettings",
            "summary": "Change the fields given",
            "requestBody": {
                "required": True,
                "content": {_JSON: {"schema": _ref("SettingsChange")}},
            },
            "responses": {"200": _json(_ref("Settings"), "the new settings"), **_ERRORS},
        },
    },
    "/_orbsim/clock": {
        "get": {
            "operationId": "getClock",
            "summary": "The simulated time",
            "responses": {"200": _json(_ref("Clock"), "the clock"), **_ERRORS},
        }
    },
    "/_orbsim/clock/advance": {
        "post": {
            "operationId": "advanceClock",
            "summary": "Move a ManualClock forward (refused on the system clock or backwards)",
            "requestBody": {
                "required": True,
                "content": {_JSON: {"schema": _ref("ClockAdvance")}},
            },
            "responses": {"200": _json(_ref("Clock"), "the new time"), **_ERRORS},
        }
    },
    "/_orbsim/faults": {
        "get": {
            "operationId": "listFaults",
            "summary": "The armed faults",
            "responses": {"200": _json(_ref("FaultList"), "armed faults"), **_ERRORS},
        },
        "post": {
            "operationId": "addFault",
            "summary": "Arm a fault (as sim.faults.add)",
            "requestBody": {
                "required": True,
                "content": {_JSON: {"schema": _ref("FaultCreate")}},
            },
            "responses": {"201": _json(_ref("Fault"), "the fault"), **_ERRORS},
        },
        "delete": {
            "operationId": "clearFaults",
            "summary": "Remove every fault",
            "responses": {"204": {"description": "removed"}, **_ERRORS},
        },
    },
    "/_orbsim/requests": {
        "get": {
            "operationId": "listRequests",
            "summary": "The request log, oldest first",
            "parameters": [
                {
                    "name": "method",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "case-insensitive",
                },
                {
                    "name": "path",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "fnmatch pattern on the path without /v1",
                },
                {
                    "name": "status",
                    "in": "query",
                    "schema": {"type": "string", "pattern": "^([1-5][0-9]{2}|[1-5][xX]{2})$"},
                    "description": "a status (201) or a class (4xx)",
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1},
                    "description": "keep the most recent matches",
                },
            ],
            "responses": {"200": _json(_ref("RequestList"), "recorded requests"), **_ERRORS},
        },
        "delete": {
            "operationId": "clearRequests",
            "summary": "Empty the request log",
            "responses": {"204": {"description": "emptied"}, **_ERRORS},
        },
    },
    "/_orbsim/webhooks/deliveries": {
        "get": {
            "operationId": "listDeliveries",
            "summary": "The webhook delivery log, oldest first (settles first)",
            "parameters": [
                {
                    "name": "type",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "fnmatch pattern on the event type",
                },
                {"name": "endpoint_id", "in": "query", "schema": {"type": "string"}},
                {
                    "name": "status",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                },
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
            ],
            "responses": {"200": _json(_ref("DeliveryList"), "deliveries"), **_ERRORS},
        },
        "delete": {
            "operationId": "clearDeliveries",
            "summary": "Empty the delivery log",
            "responses": {"204": {"description": "emptied"}, **_ERRORS},
        },
    },
    "/_orbsim/webhooks/redeliver": {
        "post": {
            "operationId": "redeliver",
            "summary": "Send a delivery's body again, signed anew",
            "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("Redeliver")}}},
            "responses": {
                "201": _json(_ref("Delivery"), "the new delivery"),
                "404": {"$ref": "#/components/responses/NotFound"},
                **_ERRORS,
            },
        }
    },
    "/_orbsim/webhooks/test": {
        "post": {
            "operationId": "sendTestWebhook",
            "summary": "Send resource_event.test to one endpoint or all enabled ones",
            "requestBody": {"content": {_JSON: {"schema": _ref("WebhookTest")}}},
            "responses": {"201": _json(_ref("DeliveryList"), "its deliveries"), **_ERRORS},
        }
    },
    "/_orbsim/webhooks/flush": {
        "post": {
            "operationId": "flushWebhooks",
            "summary": "Wait for HTTP deliveries in flight",
            "requestBody": {"content": {_JSON: {"schema": _ref("Flush")}}},
            "responses": {"200": _json(_ref("FlushResult"), "whether all finished"), **_ERRORS},
        }
    },
}

_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "orbsim admin API",
        "version": "1",
        "description": (
            "The simulator's own control API, next to the simulated Orb API (under /v1). Every "
            "path is also served under /v1. Same Authorization: Bearer key as the API. Admin "
            "requests are never recorded in the request log, faulted or rate limited. Bodies "
            "are parsed as JSON whatever their Content-Type."
        ),
    },
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "paths": _PATHS,
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": _SCHEMAS,
        "responses": {
            "BadRequest": {
                "description": "refused (problem+json naming the rule and the value)",
                "content": {_PROBLEM: {"schema": _ref("Problem")}},
            },
            "NotFound": {
                "description": "no such resource",
                "content": {_PROBLEM: {"schema": _ref("Problem")}},
            },
            "Unauthorized": {
                "description": "missing or unknown API key",
                "content": {_PROBLEM: {"schema": _ref("Problem")}},
            },
        },
    },
}


def admin_openapi() -> dict[str, Any]:
    """A fresh copy of the admin API's OpenAPI 3.1 document."""
    return copy.deepcopy(_DOCUMENT)


def get_openapi(sim: OrbSim, query: Query, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """``GET /_orbsim/openapi.json``."""
    return 200, admin_openapi()
