"""One error taxonomy, mirroring Orb's error ``type`` URLs (design.md section 5).

Engine methods raise these; the HTTP layer turns them into problem+json bodies whose ``type`` makes
the official SDK raise its own exception of the same name.
"""

from __future__ import annotations

from typing import Any, ClassVar

TYPE_PREFIX = "https://docs.withorb.com/reference/error-responses#"


class OrbError(Exception):
    """Base class: an Orb API error with status, type, title and detail."""

    status: ClassVar[int] = 500
    type_suffix: ClassVar[str] = "500-internal-server-error"
    default_title: ClassVar[str] = "Internal server error"
    should_retry: ClassVar[bool | None] = None
    """``False`` for deterministic errors the SDK would otherwise retry (409, 429)."""

    def __init__(self, detail: str, *, title: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.title = title or self.default_title

    @property
    def type(self) -> str:
        return TYPE_PREFIX + self.type_suffix

    def to_problem(self) -> dict[str, Any]:
        """The RFC 7807 body Orb sends for this error."""
        return {
            "type": self.type,
            "status": self.status,
            "title": self.title,
            "detail": self.detail,
        }

    def response_headers(self) -> list[tuple[str, str]]:
        """HTTP headers this error adds to its answer (besides the content type)."""
        return []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.detail!r})"


class ConstraintViolation(OrbError):
    status = 400
    type_suffix = "400-constraint-violation"
    default_title = "Constraint violation"


class DuplicateResourceCreation(OrbError):
    status = 400
    type_suffix = "400-duplicate-resource-creation"
    default_title = "Duplicate resource creation"


class RequestValidationError(OrbError):
    """A request that fails validation; ``validation_errors`` lists every problem found.

    For ``/ingest`` the error also carries ``validation_failed``: one entry per failing event,
    ``{"idempotency_key": ..., "validation_errors": [...]}``, the shape of the 200 response.
    """

    status = 400
    type_suffix = "400-request-validation-errors"
    default_title = "Request validation failed"

    def __init__(
        self,
        detail: str,
        *,
        validation_errors: list[Any] | None = None,
        validation_failed: list[dict[str, Any]] | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail, title=title)
        self.validation_errors: list[Any] = (
            list(validation_errors) if validation_errors is not None else [detail]
        )
        self.validation_failed = validation_failed

    def to_problem(self) -> dict[str, Any]:
        body = super().to_problem()
        body["validation_errors"] = self.validation_errors
        if self.validation_failed is not None:
            body["validation_failed"] = self.validation_failed
        return body


class OrbAuthenticationError(OrbError):
    status = 401
    type_suffix = "401-authentication-error"
    default_title = "Authentication error"


class ResourceNotFound(OrbError):
    status = 404
    type_suffix = "404-resource-not-found"
    default_title = "A specified resource was not found."

    @classmethod
    def of(cls, kind: str, identifier: object) -> ResourceNotFound:
        return cls(f"Could not find a resource of type {kind} with identifier: {identifier}.")


class URLNotFound(OrbError):
    status = 404
    type_suffix = "404-url-not-found"
    default_title = "URL not found"


class MethodNotAllowed(URLNotFound):
    """A path orbsim serves, asked with another method: HTTP 405 with an ``Allow`` header, but
    Orb's ``url-not-found`` body, so the SDK raises ``orb.URLNotFound`` as it would against Orb
    (whose routes answer an unknown method that way)."""

    status = 405

    def __init__(self, detail: str, *, allow: tuple[str, ...], title: str | None = None) -> None:
        super().__init__(detail, title=title)
        self.allow = allow

    def response_headers(self) -> list[tuple[str, str]]:
        return [("allow", ", ".join(self.allow))]


class ResourceConflict(OrbError):
    status = 409
    type_suffix = "409-resource-conflict"
    default_title = "Resource conflict"
    should_retry = False


class RequestTooLarge(OrbError):
    status = 413
    type_suffix = "413-request-too-large"
    default_title = "Request too large"


class TooManyRequests(OrbError):
    status = 429
    type_suffix = "429-too-many-requests"
    default_title = "Too many requests"
    should_retry = False


class OrbInternalServerError(OrbError):
    status = 500
    type_suffix = "500-internal-server-error"
    default_title = "Internal server error"


ERRORS_BY_TYPE: dict[str, type[OrbError]] = {
    cls.type_suffix: cls
    for cls in (
        ConstraintViolation,
        DuplicateResourceCreation,
        RequestValidationError,
        OrbAuthenticationError,
        ResourceNotFound,
        URLNotFound,
        ResourceConflict,
        RequestTooLarge,
        TooManyRequests,
        OrbInternalServerError,
    )
}
