"""Webhook delivery: signing, in-process receivers, HTTP targets with retries, and the delivery log.

The engine records ``WebhookEvent``s (``orbsim.engine.webhooks``) at the simulated moment of their
cause; at the end of the operation that settled them, the simulator hands them here, in order
(``WebhookDispatcher.enqueue`` under the simulator's lock, ``pump`` after releasing it). For each
(event, endpoint) this module

* renders the body in the endpoint's payload style (compact JSON) and signs it as the SDK's
  ``client.webhooks.verify_signature`` checks: ``X-Orb-Timestamp: <ISO 8601>`` and
  ``X-Orb-Signature: v1=<hex HMAC-SHA256(secret, "v1:{timestamp}:{body}")>``;
* hands it to an in-process receiver if one is mounted at the endpoint's URL (``mount``), in the
  calling thread, before the SDK call that caused it returns; or POSTs it to the URL from a
  background thread (one per simulator, started on demand, gone when idle), in order;
* retries a failed attempt (non-2xx answer, connection error, timeout, a receiver that raises) up
  to ``max_attempts`` in all; HTTP attempts wait ``retry_delays`` (wall-clock seconds) in between,
  receivers are retried at once;
* records every delivery and attempt in ``deliveries`` (``DeliveryLog``), with filters and
  assertion helpers like the request log's.

Nothing here ever raises into the operation that caused the event: a receiver that raises, a URL
that answers 500 or refuses the connection, is a failed attempt in the log and a warning in the
``orbsim.webhooks`` logger.

Signing time. The SDK refuses an ``X-Orb-Timestamp`` more than 5 minutes from *its* clock. By
default (``signature_clock="wall"``) deliveries are signed with the process's real time, read
with ``time.clock_gettime(CLOCK_REALTIME)``, which freezegun leaves alone: a receiver verifies with
``client.webhooks.unwrap`` unchanged under a ``ManualClock`` set anywhere, and under the pytest
plugin's ``orb_time`` (which keeps the SDK on real time). The simulated moment stays in the payload
(``created_at``). With ``signature_clock="simulated"`` the timestamp is the simulator's time when
the delivery is made, for receivers whose clock follows the simulator's (a plain ``freezegun`` that
also freezes the SDK, with the default ``SystemClock``). Non-loopback URLs are never contacted
unless ``Settings.webhook_allowed_hosts`` allows them (checked again before every HTTP attempt).

The package's modules, one job each (every name is re-exported here):

* ``signing``: the signature, the signed headers, the wall clock and the rendered body;
* ``receivers``: ``WebhookRequest`` and ``Mount``, in-process receivers;
* ``delivery_log``: ``Attempt``, ``Delivery`` and ``DeliveryLog`` (``sim.webhooks.deliveries``);
* ``dispatcher``: ``WebhookDispatcher`` (``sim.webhooks``): queues, delivers, retries.
"""

from orbsim.wire.delivery.delivery_log import Attempt, Delivery, DeliveryLog, DeliveryStatus
from orbsim.wire.delivery.dispatcher import WebhookDispatcher
from orbsim.wire.delivery.receivers import Mount, Receiver, WebhookRequest
from orbsim.wire.delivery.signing import (
    USER_AGENT,
    SignatureClock,
    format_timestamp,
    render,
    signature,
    signed_headers,
    wall_clock,
)

__all__ = [
    "USER_AGENT",
    "Attempt",
    "Delivery",
    "DeliveryLog",
    "DeliveryStatus",
    "Mount",
    "Receiver",
    "SignatureClock",
    "WebhookDispatcher",
    "WebhookRequest",
    "format_timestamp",
    "render",
    "signature",
    "signed_headers",
    "wall_clock",
]
