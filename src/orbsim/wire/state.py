"""``WireState``: everything the HTTP layer keeps for one simulator, in one object.

The faults armed, the request log, the rate-limit buckets, the ``Idempotency-Key`` store and the
webhook dispatcher (mounted receivers, HTTP delivery, the delivery log). The
``OrbSim`` facade owns one and hands it to the wire layer; the engine never sees it. Of these only
the key store is part of the simulator's state (``snapshot``/``restore``, ``dump``/``load``
carry it, so a retried POST replays after a restart and never replays what a restore took away);
the others describe traffic, not the account.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orbsim.wire.delivery import WebhookDispatcher
from orbsim.wire.faults import Faults
from orbsim.wire.idempotency import IdempotencyStore
from orbsim.wire.ratelimit import RateLimiter
from orbsim.wire.recorder import RequestLog


@dataclass(eq=False)
class WireState:
    faults: Faults
    requests: RequestLog = field(default_factory=RequestLog)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    idempotency: IdempotencyStore = field(default_factory=IdempotencyStore)
    webhooks: WebhookDispatcher = field(default_factory=WebhookDispatcher)
    """Webhook delivery and its log (traffic: never saved)."""

    @classmethod
    def fresh(cls, seed: int | str | None, fault_retry_after_ms: int) -> WireState:
        return cls(faults=Faults(seed, fault_retry_after_ms))

    def clear_traffic(self) -> None:
        """Forget the faults, the request log, the rate-limit buckets and the webhook delivery
        log (not the keys)."""
        self.faults.clear()
        self.requests.clear()
        self.limiter.reset()
        self.webhooks.clear()
