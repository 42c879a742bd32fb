"""The delivery log (``sim.webhooks.deliveries``): every delivery and attempt, with filters and
assertion helpers like the request log's.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, Literal

from orbsim.engine.webhooks import PayloadStyle
from orbsim.wire.recorder import body_diff, is_subset, listing

DeliveryStatus = Literal["pending", "delivered", "failed"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try: when (wall clock), the timestamp it was signed with, and how it went."""

    number: int
    at: datetime
    signed_at: str
    status: int | None
    """The HTTP status answered (a receiver's return value; 200 for None); None on an error."""
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(eq=False)
class Delivery:
    """One event sent to one endpoint, with every attempt."""

    id: str
    event_id: str
    type: str
    endpoint_id: str
    url: str
    payload_style: PayloadStyle
    occurred_at: datetime
    """The simulated moment of the cause."""
    created_at: datetime
    """The payload's ``created_at`` (``occurred_at`` to the second)."""
    via: Literal["receiver", "http"]
    body: bytes
    secret: str = field(repr=False)
    sim_time: datetime
    """The simulator's time when the delivery was made (the signing time when ``simulated``)."""
    redelivery_of: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    """The headers of the latest attempt (empty until the first)."""
    attempts: list[Attempt] = field(default_factory=list)
    status: DeliveryStatus = "pending"

    @property
    def payload(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (the admin API's shape)."""
        return {
            "id": self.id,
            "event_id": self.event_id,
            "type": self.type,
            "endpoint_id": self.endpoint_id,
            "url": self.url,
            "payload_style": self.payload_style,
            "status": self.status,
            "via": self.via,
            "occurred_at": _iso(self.occurred_at),
            "created_at": _iso(self.created_at),
            "redelivery_of": self.redelivery_of,
            "headers": dict(self.headers),
            "body": self.text,
            "attempts": [
                {
                    "number": a.number,
                    "at": _iso(a.at),
                    "signed_at": a.signed_at,
                    "status": a.status,
                    "error": a.error,
                }
                for a in self.attempts
            ],
        }

    def summary(self) -> str:
        """One line: ``dlv_3 customer.created -> wh_x (http://...) delivered after 2 attempts``."""
        tries = len(self.attempts)
        after = f" after {tries} attempts" if tries > 1 else ""
        last = self.attempts[-1] if self.attempts else None
        why = ""
        if self.status == "failed" and last is not None:
            why = f" ({last.error or last.status})"
        return f"{self.id} {self.type} -> {self.endpoint_id} ({self.url}) {self.status}{after}{why}"

    def __repr__(self) -> str:
        return f"<Delivery {self.summary()}>"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class DeliveryLog:
    """Every webhook delivery of one simulator, oldest first (``sim.webhooks.deliveries``).

    ``type`` filters are fnmatch patterns (``"backfill.*"``); ``status`` is ``"delivered"``,
    ``"failed"`` or ``"pending"``. Thread-safe; keeps the last ``limit`` deliveries.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[Delivery] = deque(maxlen=limit)
        self._counter = itertools.count(1)
        self._by_id: dict[str, Delivery] = {}

    def new_id(self) -> str:
        """The id of the next delivery (``dlv_1``, ``dlv_2``, ...; kept across ``clear``)."""
        return f"dlv_{next(self._counter)}"

    def record(
        self,
        delivery: Delivery,
        attempt: Attempt,
        headers: dict[str, str],
        status: DeliveryStatus | None = None,
    ) -> None:
        """Add ``attempt`` to ``delivery`` (under the log's lock, so readers see it whole);
        ``status`` if given, else delivered on a 2xx."""
        with self._lock:
            delivery.attempts.append(attempt)
            delivery.headers = headers
            if status is not None:
                delivery.status = status
            elif attempt.ok:
                delivery.status = "delivered"

    def add(self, delivery: Delivery) -> None:
        with self._lock:
            if len(self._entries) == self._entries.maxlen and self._entries:
                self._by_id.pop(self._entries[0].id, None)
            self._entries.append(delivery)
            self._by_id[delivery.id] = delivery

    # -- reading ----------------------------------------------------------------------------------

    def all(self) -> list[Delivery]:
        with self._lock:
            return list(self._entries)

    def __iter__(self) -> Iterator[Delivery]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> Delivery:
        return self.all()[index]

    def get(self, delivery_id: str) -> Delivery | None:
        with self._lock:
            return self._by_id.get(delivery_id)

    def clear(self) -> None:
        """Forget every delivery (ids keep counting)."""
        with self._lock:
            self._entries.clear()
            self._by_id.clear()

    def filter(
        self,
        type: str | None = None,
        *,
        endpoint_id: str | None = None,
        url: str | None = None,
        status: DeliveryStatus | None = None,
    ) -> list[Delivery]:
        """Deliveries matching every given criterion, oldest first."""
        return [
            d
            for d in self.all()
            if (type is None or fnmatchcase(d.type, type))
            and (endpoint_id is None or d.endpoint_id == endpoint_id)
            and (url is None or fnmatchcase(d.url, url))
            and (status is None or d.status == status)
        ]

    def types(self, **criteria: Any) -> list[str]:
        """The event types delivered (matching ``criteria``, as ``filter``), in order."""
        return [d.type for d in self.filter(**criteria)]

    def payloads(self, type: str | None = None, **criteria: Any) -> list[Any]:
        """The parsed bodies of the matching deliveries, in order."""
        return [d.payload for d in self.filter(type, **criteria)]

    def last(self, type: str | None = None, **criteria: Any) -> Delivery:
        """The latest matching delivery; ``LookupError`` (listing the log) if there is none."""
        found = self.filter(type, **criteria)
        if not found:
            raise LookupError(
                f"no webhook delivery matches {_what(type, criteria)}\n{self._listing()}"
            )
        return found[-1]

    # -- assertions -------------------------------------------------------------------------------

    def assert_delivered(
        self,
        type: str,
        *,
        times: int | None = None,
        payload: Any = None,
        endpoint_id: str | None = None,
        status: DeliveryStatus | None = "delivered",
    ) -> list[Delivery]:
        """Assert that matching deliveries happened (``times``: exactly that many, else at least
        one); ``payload`` matches as a subset of the parsed body. Returns them."""
        candidates = self.filter(type, endpoint_id=endpoint_id, status=status)
        matched = (
            candidates
            if payload is None
            else [d for d in candidates if is_subset(payload, d.payload)]
        )
        if (times is None and matched) or (times is not None and len(matched) == times):
            return matched
        criteria = {"endpoint_id": endpoint_id, "status": status}
        want = "at least once" if times is None else _times(times)
        lines = [f"expected {_what(type, criteria)} to be delivered {want}"]
        if payload is not None:
            lines[0] += f" with a payload containing {json.dumps(payload, default=str)}"
            lines.append(f"{len(candidates)} matched the type but {len(matched)} had that payload.")
            for delivery in candidates[-3:]:
                lines.append(f"\n{delivery.summary()}:\n{body_diff(payload, delivery.payload)}")
        else:
            lines.append(f"it was delivered {_times(len(matched))}.")
        lines.append(self._listing())
        raise AssertionError("\n".join(lines))

    def assert_not_delivered(self, type: str, *, endpoint_id: str | None = None) -> None:
        """Assert that no delivery of ``type`` (any status) was made."""
        found = self.filter(type, endpoint_id=endpoint_id)
        if not found:
            return
        lines = [f"expected no {_what(type, {'endpoint_id': endpoint_id})} delivery; found:"]
        lines.extend(f"  {d.summary()}" for d in found[-20:])
        raise AssertionError("\n".join(lines))

    def _listing(self) -> str:
        return listing("Webhook deliveries", self.all())

    def __repr__(self) -> str:
        return f"DeliveryLog({len(self)} deliveries)"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _what(type: str | None, criteria: dict[str, Any]) -> str:
    text = type or "*"
    extra = ", ".join(f"{k}={v!r}" for k, v in criteria.items() if v is not None)
    return f"{text} ({extra})" if extra else text
