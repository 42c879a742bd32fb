"""A webhook endpoint as the engine keeps it, and the rules for its fields.

The URL policy (http(s), loopback unless ``Settings.webhook_allowed_hosts`` names the host), the
event types an endpoint may subscribe to, its payload style and the endpoint limit: each check
returns the accepted value or raises the Orb-style error naming the field and the value.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from orbsim.engine.webhooks.events import Target
from orbsim.engine.webhooks.kinds import WEBHOOK_EVENT_TYPES, PayloadStyle
from orbsim.errors import ConstraintViolation, RequestValidationError


def _loopback(host: str) -> bool:
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always loopback
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_webhook_url(url: object, allowed_hosts: frozenset[str] = frozenset()) -> str:
    """``url`` if it is an http(s) URL to a loopback host (or to a host in ``allowed_hosts``;
    ``"*"`` allows every host); RequestValidationError naming the problem otherwise."""
    if not isinstance(url, str) or not url:
        raise RequestValidationError(f"url: expected a non-empty string, got {url!r}")
    if len(url) > 2048:
        raise RequestValidationError(f"url: at most 2048 characters, got {len(url)}")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise RequestValidationError(f"url: {url!r} is not a valid URL ({exc})") from None
    del port
    if parts.scheme not in ("http", "https"):
        raise RequestValidationError(
            f"url: {url!r} has scheme {parts.scheme!r}; webhook endpoints take http or https URLs"
        )
    host = parts.hostname
    if not host:
        raise RequestValidationError(f"url: {url!r} has no host")
    if "*" in allowed_hosts or host.lower() in allowed_hosts or _loopback(host):
        return url
    raise RequestValidationError(
        f"url: host {host!r} of {url!r} is not a loopback address; orbsim delivers webhooks only "
        "to loopback hosts (localhost, 127.0.0.0/8, ::1) unless Settings.webhook_allowed_hosts "
        "names the host (or '*')"
    )


def check_event_types(value: object) -> tuple[str, ...] | None:
    """``enabled_event_types``: None (every type) or a list of the SDK's event types."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise RequestValidationError(
            f"enabled_event_types: expected a list of event types or null, got {value!r}"
        )
    types: list[str] = []
    for item in value:
        if not isinstance(item, str) or item not in WEBHOOK_EVENT_TYPES:
            raise RequestValidationError(
                f"enabled_event_types: {item!r} is not a webhook event type "
                "(see orbsim.engine.webhooks.WEBHOOK_EVENT_TYPES)"
            )
        if item not in types:
            types.append(item)
    return tuple(types)


def check_payload_style(value: object, default: PayloadStyle) -> PayloadStyle:
    """``payload_style``: ``expanded``, ``standard``, or None for the account's default."""
    if value is None:
        return default
    if value == "expanded" or value == "standard":
        return value
    raise RequestValidationError(
        f"payload_style: expected 'expanded', 'standard' or null, got {value!r}"
    )


def check_endpoint_count(existing: int, limit: int) -> None:
    if existing >= limit:
        raise ConstraintViolation(
            f"this account already has {existing} webhook endpoints; at most {limit} are allowed "
            "(Settings.max_webhook_endpoints; delete one first)"
        )


@dataclass(slots=True, eq=False)
class WebhookEndpointRecord:
    """A webhook endpoint: where to send which events, in which style, signed with ``secret``."""

    id: str
    url: str
    secret: str
    created_at: datetime
    seq: int
    enabled: bool = True
    enabled_event_types: tuple[str, ...] | None = None
    payload_style: PayloadStyle = "expanded"

    def wants(self, event_type: str) -> bool:
        """Subscribed to ``event_type`` and enabled."""
        return self.enabled and (
            self.enabled_event_types is None or event_type in self.enabled_event_types
        )

    def target(self) -> Target:
        return Target(self.id, self.url, self.secret, self.payload_style)

    def sort_key(self) -> tuple[int, int]:
        return int(self.created_at.timestamp() * 1_000_000), self.seq

    def fields(self) -> dict[str, Any]:
        """The response fields of ``WebhookEndpoint`` (no secret)."""
        return {
            "id": self.id,
            "created_at": self.created_at,
            "enabled": self.enabled,
            "enabled_event_types": (
                None if self.enabled_event_types is None else list(self.enabled_event_types)
            ),
            "payload_style": self.payload_style,
            "url": self.url,
        }
