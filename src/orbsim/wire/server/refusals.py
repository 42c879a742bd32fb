"""Why the server refuses a request itself, before ``dispatch`` sees it.

Every refusal is Orb's problem+json body, never an HTML page: ``BadRequest`` carries the
``orbsim.errors`` error to answer with (``orbsim.wire.codec.problem_response`` encodes it).
``Saturated`` is the 503 for the body budget: the bodies being received, across connections,
would pass ``max_buffered_bytes``; its ``retry-after: 1`` makes the SDK retry.
"""

from __future__ import annotations

from orbsim.errors import OrbInternalServerError, RequestTooLarge, RequestValidationError


class Saturated(OrbInternalServerError):
    """503: the bodies being received would pass ``max_buffered_bytes``; retry shortly."""

    status = 503
    default_title = "Service unavailable"

    def response_headers(self) -> list[tuple[str, str]]:
        return [("retry-after", "1"), ("retry-after-ms", str(_SATURATED_RETRY_MS))]


_SATURATED_RETRY_MS = 1000


class BadRequest(Exception):
    """The request cannot be served as sent; ``error`` is the answer."""

    def __init__(self, error: RequestValidationError | RequestTooLarge | Saturated) -> None:
        super().__init__(str(error))
        self.error = error


def bad_request(message: str) -> BadRequest:
    return BadRequest(RequestValidationError(message))
