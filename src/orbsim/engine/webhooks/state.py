"""The account's webhook state: endpoints, events not yet handed to delivery, and timers.

``WebhookState`` is the part of ``AccountState`` about webhooks. ``emit`` records an event for
the endpoints subscribed now, ``drain`` hands the operation's events over in the order they
happened, and the timers hold events due later (a subscription that starts or ends in the
future). ``dump_state``/``load_state`` are its state-file form.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orbsim.engine.timeparse import format_timestamp
from orbsim.engine.webhooks.endpoint_rules import WebhookEndpointRecord
from orbsim.engine.webhooks.events import Resource, Target, WebhookEvent, event_id
from orbsim.engine.webhooks.kinds import EVENT_KINDS, PAYLOAD_STYLES


@dataclass(slots=True)
class WebhookState:
    """The account's webhook endpoints, and the events not yet handed to delivery.

    ``pending`` is filled while an operation runs and emptied (``drain``) when it ends; it is
    never part of a snapshot taken between operations.
    """

    endpoints: dict[str, WebhookEndpointRecord] = field(default_factory=dict)
    pending: list[WebhookEvent] = field(default_factory=list)
    emitted: int = 0
    """How many events were emitted so far (the ``seq`` of the next one)."""
    salt: str = "0"
    """Makes event ids (``event_id``); the simulator's seed."""
    timers: list[tuple[datetime, int, str, str]] = field(default_factory=list)
    """A heap of events due later: (when, order, event type, resource id), e.g. a subscription
    that starts or ends in the future."""
    scheduled: int = 0

    def schedule(self, at: datetime, event_type: str, resource_id: str) -> None:
        """Emit ``event_type`` for ``resource_id`` when the clock reaches ``at`` (see ``due``)."""
        self.scheduled += 1
        heapq.heappush(self.timers, (at, self.scheduled, event_type, resource_id))

    def due(self, now: datetime) -> list[tuple[datetime, str, str]]:
        """The scheduled (when, event type, resource id) due by ``now``, in time order; removed."""
        timers = self.timers
        found: list[tuple[datetime, str, str]] = []
        while timers and timers[0][0] <= now:
            at, _, event_type, resource_id = heapq.heappop(timers)
            found.append((at, event_type, resource_id))
        return found

    # -- state files ------------------------------------------------------------------------------

    def dump_state(self) -> dict[str, Any]:
        """The endpoints and counters as JSON data (``pending`` is empty between operations)."""
        return {
            "endpoints": [
                {
                    **record.fields(),
                    "created_at": _time(record.created_at),
                    "secret": record.secret,
                    "seq": record.seq,
                }
                for record in sorted(self.endpoints.values(), key=WebhookEndpointRecord.sort_key)
            ],
            "emitted": self.emitted,
            "salt": self.salt,
            "timers": [
                [_time(at), order, event_type, resource_id]
                for at, order, event_type, resource_id in sorted(self.timers)
            ],
            "scheduled": self.scheduled,
        }

    def load_state(self, data: Any) -> None:
        """Replace the contents with ``dump_state`` data; malformed data raises ValueError."""
        try:
            endpoints = {}
            for raw in data["endpoints"]:
                types = raw["enabled_event_types"]
                style = raw["payload_style"]
                if style not in PAYLOAD_STYLES:
                    raise ValueError(f"unknown payload_style {style!r}")
                record = WebhookEndpointRecord(
                    id=str(raw["id"]),
                    url=str(raw["url"]),
                    secret=str(raw["secret"]),
                    created_at=datetime.fromisoformat(raw["created_at"]),
                    seq=int(raw["seq"]),
                    enabled=bool(raw["enabled"]),
                    enabled_event_types=None if types is None else tuple(map(str, types)),
                    payload_style=style,
                )
                endpoints[record.id] = record
            timers = [
                (datetime.fromisoformat(at), int(order), str(event_type), str(resource_id))
                for at, order, event_type, resource_id in data["timers"]
            ]
            emitted, scheduled, salt = int(data["emitted"]), int(data["scheduled"]), data["salt"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"webhooks: malformed state ({exc!r})") from None
        heapq.heapify(timers)
        self.endpoints = endpoints
        self.pending = []
        self.timers = timers
        self.emitted = emitted
        self.scheduled = scheduled
        self.salt = str(salt)

    def targets_for(self, event_type: str) -> tuple[Target, ...]:
        """The endpoints subscribed to ``event_type`` now, oldest first."""
        if not self.endpoints:
            return ()
        return tuple(
            record.target()
            for record in sorted(self.endpoints.values(), key=WebhookEndpointRecord.sort_key)
            if record.wants(event_type)
        )

    def emit(
        self,
        event_type: str,
        *,
        at: datetime,
        new_id: Callable[[], str] | None = None,
        resource: Resource | None = None,
        properties: Mapping[str, Any] | None = None,
        targets: tuple[Target, ...] | None = None,
    ) -> WebhookEvent | None:
        """Record that ``event_type`` happened at ``at``; None if no endpoint wants it.

        ``resource`` must be a snapshot (a model no later change reaches), or a function making
        one; ``targets`` defaults to the subscribed endpoints (``resource_event.test`` may name
        its endpoint instead); ``new_id`` defaults to ``event_id(salt, seq)``.
        """
        kind = EVENT_KINDS.get(event_type)
        if kind is None:
            raise ValueError(f"orbsim does not emit webhook event type {event_type!r}")
        if (kind.resource is None) != (resource is None):
            need = f"a {kind.resource} resource" if kind.resource else "no resource"
            raise ValueError(f"webhook event {event_type!r} takes {need}")
        chosen = self.targets_for(event_type) if targets is None else targets
        if not chosen:
            return None
        self.emitted += 1
        snapshot = resource() if callable(resource) else resource
        event = WebhookEvent(
            id=new_id() if new_id is not None else event_id(self.salt, self.emitted),
            type=event_type,
            occurred_at=at,
            resource=snapshot,
            properties=dict(properties or {}),
            targets=chosen,
            seq=self.emitted,
        )
        self.pending.append(event)
        return event

    def drain(self) -> list[WebhookEvent]:
        """The events emitted since the last drain, in the order they happened."""
        events = self.pending
        if not events:
            return events
        self.pending = []
        events.sort(key=lambda e: (e.occurred_at, e.seq))
        return events


def _time(value: datetime) -> str:
    """As state files write times: a UTC one as the API does (``Z``), another with its offset."""
    return format_timestamp(value) if value.tzinfo is UTC else value.isoformat()
