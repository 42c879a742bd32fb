"""Signing a webhook delivery as the SDK's ``client.webhooks.verify_signature`` checks it.

``X-Orb-Timestamp: <ISO 8601>`` and ``X-Orb-Signature: v1=<hex HMAC-SHA256(secret,
"v1:{timestamp}:{body}")>``, over the body rendered as compact JSON (``render``). ``wall_clock``
reads the real time even under freezegun, which is what deliveries are signed with by default
(``SignatureClock``; see the package's docstring).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Literal

import pydantic_core

from orbsim.engine.webhooks import PayloadStyle, WebhookEvent

SignatureClock = Literal["wall", "simulated"]
"""Which clock signs deliveries: the real time (default) or the simulator's."""

USER_AGENT = "orbsim-webhooks/1"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``v1:{timestamp}:{body}`` keyed with ``secret`` (the SDK's check)."""
    message = b"v1:" + timestamp.encode() + b":" + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def format_timestamp(moment: datetime) -> str:
    """``X-Orb-Timestamp``: ISO 8601, UTC, microseconds, ``+00:00`` (``fromisoformat`` reads it)."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.isoformat(timespec="microseconds")


def signed_headers(secret: str, body: bytes, moment: datetime) -> dict[str, str]:
    """The headers of one delivery attempt of ``body`` signed at ``moment``."""
    timestamp = format_timestamp(moment)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Orb-Timestamp": timestamp,
        "X-Orb-Signature": "v1=" + signature(secret, timestamp, body),
    }


def wall_clock() -> datetime:
    """The real time, even under freezegun (it patches ``time.time``, not ``clock_gettime``)."""
    return datetime.fromtimestamp(time.clock_gettime(time.CLOCK_REALTIME), UTC)


def render(event: WebhookEvent, style: PayloadStyle) -> bytes:
    """The body of ``event`` in ``style``: compact JSON, as the HTTP API writes its answers."""
    return pydantic_core.to_json(event.payload(style))
