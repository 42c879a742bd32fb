"""Every tunable rule and limit of the simulator, in one frozen object.

Defaults are Orb's documented defaults (design.md section 4). A test that needs a different account
setting (a longer grace period, a lower amendment quota) builds its own ``Settings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orbsim.times import zone


class Settings(BaseModel):
    """Account-level settings of the simulated Orb account (immutable)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    grace_period: timedelta = timedelta(hours=12)
    """Events older than ``now - grace_period`` are refused (unless ingested into a backfill);
    a billing period is invoiced once ``now >= period end + grace_period``."""
    future_tolerance: timedelta = timedelta(minutes=5)
    """Events later than ``now + future_tolerance`` are refused."""
    amend_limit: int = Field(default=100, ge=0)
    """Amendments (``PUT /events/{id}``) allowed per customer within ``quota_window``; one more is
    ``TooManyRequests``."""
    deprecate_limit: int = Field(default=100, ge=0)
    """Deprecations allowed per customer within ``quota_window`` (counted apart from amendments)."""
    quota_window: timedelta = timedelta(days=100)
    """Rolling window of the amend and deprecate quotas (counted per customer, by request time)."""
    backfill_max_timeframe: timedelta = timedelta(days=31)
    """Longest backfill timeframe (``timeframe_end - timeframe_start``)."""
    backfill_default_close_delay: timedelta = timedelta(days=1)
    """A backfill created without ``close_time`` closes itself this long after its creation."""
    reflection_delay: timedelta = timedelta(0)
    """Time from closing (or reverting) a backfill until it is ``reflected`` (or ``reverted``)."""
    max_events_per_request: int | None = Field(default=None, ge=1)
    """Most events one ingest request may carry (more: ``RequestTooLarge``); ``None``: no limit."""
    max_request_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    """Largest HTTP request body accepted; a larger one is ``RequestTooLarge`` (413)."""
    search_max_event_ids: int = Field(default=500, ge=1)
    """Most ``event_ids`` one event search may list."""
    search_default_lookback: timedelta = timedelta(days=7)
    """Event search without ``timeframe_start`` looks back this far from now."""
    default_timezone: str = "Etc/UTC"
    """The account timezone: customers created without a timezone get this one."""
    api_keys: frozenset[str] | None = None
    """Accepted API keys over HTTP; ``None`` accepts any non-empty key."""
    idempotency_ttl: timedelta = timedelta(hours=48)
    """How long an answer stored under an ``Idempotency-Key`` is replayed (simulator's clock)."""
    idempotency_key_max_length: int = Field(default=64, ge=1)
    """Longest accepted ``Idempotency-Key``; a longer one is ``RequestValidationError``."""
    idempotency_max_keys: int = Field(default=10_000, ge=1)
    """Idempotency-Key answers kept at most (about 1 KB each); past it the oldest are forgotten
    before their ``idempotency_ttl``, so a suite that holds the clock still stays bounded."""
    fault_retry_after_ms: int = Field(default=1, ge=0)
    """The ``retry-after-ms`` hint sent with injected status faults; 0 sends none."""
    requests_per_second: float | None = Field(default=None, gt=0)
    """Requests per second per API key (token bucket, a burst of one second's worth, at least one);
    ``None``: no limit."""
    events_per_minute: int | None = Field(default=None, ge=1)
    """Ingested events per minute per API key (token bucket, a burst of one minute's worth);
    ``None``: no limit."""
    auto_issue_invoices: bool = True
    """Drafts issue themselves once eligible (invoice date + grace period); ``False``: they wait
    for ``invoices.issue`` (manual issuance). A customer's ``auto_issuance`` overrides it."""
    max_webhook_endpoints: int = Field(default=20, ge=0)
    """At most this many webhook endpoints per account (the SDK documents 20 by default)."""
    webhook_payload_style: Literal["expanded", "standard"] = "expanded"
    """The account's payload style, for endpoints created without one."""
    webhook_allowed_hosts: frozenset[str] = frozenset()
    """Hosts besides loopback (localhost, 127.0.0.0/8, ::1) that webhook endpoint URLs may name;
    ``"*"`` allows any host. Empty by default: a simulator never sends webhooks off the machine
    unless told to."""

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if zone(value) is None:
            raise ValueError(f"unknown IANA timezone {value!r}")
        return value

    @field_validator("webhook_allowed_hosts")
    @classmethod
    def _lowercase_hosts(cls, value: frozenset[str]) -> frozenset[str]:
        return frozenset(host.lower().rstrip(".") for host in value)


def coerce_settings(value: Settings | Mapping[str, Any] | None) -> Settings:
    """``OrbSim(settings=...)``'s argument as ``Settings``: a ``Settings``, a mapping of its fields
    (validated: an unknown field or a bad value is pydantic's ``ValidationError`` naming it), or
    ``None`` for the defaults; anything else is a ``TypeError`` naming the expected type."""
    if value is None:
        return Settings()
    if isinstance(value, Settings):
        return value
    if isinstance(value, Mapping):
        return Settings.model_validate(dict(value))
    raise TypeError(
        "settings must be an orbsim.Settings or a mapping of its fields "
        f"(e.g. {{'grace_period': timedelta(hours=1)}}), got {type(value).__name__}: {value!r}"
    )
