"""The error taxonomy mirrors Orb's error types, statuses and problem+json bodies."""

from __future__ import annotations

import pytest

from orbsim import errors

TABLE = [
    (errors.ConstraintViolation, 400, "400-constraint-violation"),
    (errors.DuplicateResourceCreation, 400, "400-duplicate-resource-creation"),
    (errors.RequestValidationError, 400, "400-request-validation-errors"),
    (errors.OrbAuthenticationError, 401, "401-authentication-error"),
    (errors.ResourceNotFound, 404, "404-resource-not-found"),
    (errors.URLNotFound, 404, "404-url-not-found"),
    (errors.ResourceConflict, 409, "409-resource-conflict"),
    (errors.RequestTooLarge, 413, "413-request-too-large"),
    (errors.TooManyRequests, 429, "429-too-many-requests"),
    (errors.OrbInternalServerError, 500, "500-internal-server-error"),
]


@pytest.mark.parametrize(("cls", "status", "suffix"), TABLE)
def test_problem_body_matches_orb(cls: type[errors.OrbError], status: int, suffix: str) -> None:
    body = cls("the detail").to_problem()
    assert body["status"] == status
    assert body["type"] == "https://docs.withorb.com/reference/error-responses#" + suffix
    assert body["detail"] == "the detail"
    assert body["title"]
    assert errors.ERRORS_BY_TYPE[suffix] is cls


def test_request_validation_error_carries_its_lists() -> None:
    exc = errors.RequestValidationError(
        "bad",
        validation_errors=["k: bad"],
        validation_failed=[{"idempotency_key": "k", "validation_errors": ["bad"]}],
    )
    body = exc.to_problem()
    assert body["validation_errors"] == ["k: bad"]
    assert body["validation_failed"][0]["idempotency_key"] == "k"
    assert errors.RequestValidationError("alone").to_problem()["validation_errors"] == ["alone"]


def test_deterministic_conflicts_and_quotas_are_not_retried() -> None:
    assert errors.ResourceConflict.should_retry is False
    assert errors.TooManyRequests.should_retry is False
    assert errors.ConstraintViolation.should_retry is None


def test_resource_not_found_names_kind_and_identifier() -> None:
    exc = errors.ResourceNotFound.of("Customer", "abc")
    assert "Customer" in exc.detail and "abc" in exc.detail
    assert exc.title == "A specified resource was not found."
