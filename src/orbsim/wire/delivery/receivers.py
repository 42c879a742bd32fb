"""In-process webhook receivers: what a receiver gets (``WebhookRequest``) and where it is
mounted (``Mount``), for tests that run no HTTP server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What a receiver gets: the POST Orb would send (``body`` bytes, signed ``headers``)."""

    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


Receiver = Callable[[WebhookRequest], "int | None"]
"""An in-process receiver: returns None (taken as 200) or an HTTP status; raising is a failure."""


class Mount:
    """An in-process receiver at ``url``: every delivery to an endpoint with exactly this URL is
    handed to ``receiver`` (if any) instead of being POSTed; ``requests`` keeps what arrived."""

    def __init__(self, url: str, receiver: Receiver | None) -> None:
        self.url = url
        self.receiver = receiver
        self.requests: list[WebhookRequest] = []

    def __call__(self, request: WebhookRequest) -> int | None:
        self.requests.append(request)
        if self.receiver is None:
            return None
        return self.receiver(request)

    def answer(self, request: WebhookRequest) -> tuple[int | None, str | None]:
        """Hand ``request`` over: the HTTP status the receiver's answer stands for (None is
        200), or why it failed (it raised, or returned something else than a status)."""
        try:
            answer = self(request)
        except Exception as exc:  # a receiver's bug must never reach the caller
            return None, f"receiver raised {type(exc).__name__}: {exc}"
        if answer is None:
            return 200, None
        if isinstance(answer, int) and not isinstance(answer, bool):
            return answer, None
        return None, f"receiver returned {answer!r}; return None or an HTTP status"

    def __repr__(self) -> str:
        return f"Mount({self.url!r}, {len(self.requests)} received)"
