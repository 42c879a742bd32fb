"""Every tunable rule and limit of the simulator, in one frozen object.

Defaults are Orb's documented defaults (design.md section 4). A test that needs a different account
setting (a longer grace period, a lower amendment quota) builds its own ``Settings``.

Durations are ``timedelta`` objects, ISO 8601 durations (``PT12H``, ``P1D``, ``PT0.5S``) or a
number with a unit (``500ms``, ``30s``, ``10m``, ``12h``, ``1d``, ``1w``, combinable as ``1h30m``).
A bare number is refused: ``grace_period=12`` could mean seconds or hours, so it means neither.
``apply_assignments`` reads ``NAME=VALUE`` strings (``orbsim serve --setting``) into a ``Settings``.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from orbsim.times import zone

DURATION_FORMS = (
    "ISO 8601 (PT12H, P1D, PT0.5S, P1DT2H30M) or a number with a unit "
    "(500ms, 30s, 10m, 12h, 1d, 1w; combinable, e.g. 1h30m)"
)
"""The accepted ways of writing a duration, as error messages show them."""

_ISO = re.compile(
    r"P(?:(?P<years>[\d.,]+)Y)?(?:(?P<months>[\d.,]+)M)?(?:(?P<weeks>[\d.,]+)W)?"
    r"(?:(?P<days>[\d.,]+)D)?"
    r"(?:T(?:(?P<hours>[\d.,]+)H)?(?:(?P<minutes>[\d.,]+)M)?(?:(?P<seconds>[\d.,]+)S)?)?"
)
_SHORT = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|us|s|m|h|d|w))+")
_SHORT_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|s|m|h|d|w)")
_MICROSECONDS = {
    "us": Decimal(1),
    "ms": Decimal(1_000),
    "s": Decimal(1_000_000),
    "m": Decimal(60_000_000),
    "h": Decimal(3_600_000_000),
    "d": Decimal(86_400_000_000),
    "w": Decimal(604_800_000_000),
}
_ISO_UNITS = {
    "weeks": "w",
    "days": "d",
    "hours": "h",
    "minutes": "m",
    "seconds": "s",
}


def _refuse(value: object, why: str = "") -> ValueError:
    shown = repr(value) if isinstance(value, str) else str(value)
    reason = f" ({why})" if why else ""
    return ValueError(f"{shown} is not a duration{reason}; accepted forms: {DURATION_FORMS}")


def _number(text: str, value: object) -> Decimal:
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise _refuse(value) from None


def parse_duration(value: object) -> timedelta:
    """A ``timedelta`` from a ``timedelta``, an ISO 8601 duration or a number with a unit.

    Raises ``ValueError`` (whose message lists the accepted forms) for anything else: bare
    numbers, negative durations, and ISO years or months (a calendar unit has no fixed length).
    """
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise _refuse(value, "it is negative")
        return value
    if isinstance(value, bool | int | float | Decimal):
        raise _refuse(value, "a bare number has no unit")
    if not isinstance(value, str):
        raise _refuse(value, f"got {type(value).__name__}")
    text = value.strip()
    micros = Decimal(0)
    if text.startswith("P"):
        match = _ISO.fullmatch(text)
        if match is None or text in ("P", "PT") or text.endswith("T"):
            raise _refuse(value)
        parts = match.groupdict()
        if parts["years"] is not None or parts["months"] is not None:
            raise ValueError(
                f"{value!r}: years and months are calendar units with no fixed length; "
                f"write days or weeks instead (accepted forms: {DURATION_FORMS})"
            )
        for name, unit in _ISO_UNITS.items():
            if parts[name] is not None:
                micros += _number(parts[name], value) * _MICROSECONDS[unit]
    elif _SHORT.fullmatch(text):
        for amount, unit in _SHORT_PART.findall(text):
            micros += Decimal(amount) * _MICROSECONDS[unit]
    else:
        why = "a bare number has no unit" if _is_number(text) else ""
        raise _refuse(value, why)
    return timedelta(microseconds=int(micros))


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
"""A ``timedelta`` field that accepts only the forms of ``parse_duration``."""

ReflectionProgression = Literal["observations", "time", "immediate"]
"""How backfills become reflected: moto's progressions (after N reads, after a time, at once)."""

RateLimitPreset = Literal["orb_test_mode", "orb_live_mode", "orb_trial"]
"""The rate-limit tables Orb publishes (docs.withorb.com/api-reference/rate-limits)."""


class Settings(BaseModel):
    """Account-level settings of the simulated Orb account (immutable)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    grace_period: Duration = timedelta(hours=12)
    """Events older than ``now - grace_period`` are refused (unless ingested into a backfill);
    a billing period is invoiced once ``now >= period end + grace_period``."""
    future_tolerance: Duration = timedelta(minutes=5)
    """Events later than ``now + future_tolerance`` are refused."""
    amend_limit: int = Field(default=100, ge=0)
    """Amendments (``PUT /events/{id}``) allowed per customer within ``quota_window``; one more is
    ``TooManyRequests``."""
    deprecate_limit: int = Field(default=100, ge=0)
    """Deprecations allowed per customer within ``quota_window`` (counted apart from amendments)."""
    quota_window: Duration = timedelta(days=100)
    """Rolling window of the amend and deprecate quotas (counted per customer, by request time)."""
    backfill_max_timeframe: Duration = timedelta(days=31)
    """Longest backfill timeframe (``timeframe_end - timeframe_start``)."""
    backfill_default_close_delay: Duration = timedelta(days=1)
    """A backfill created without ``close_time`` closes itself this long after its creation."""
    reflection_progression: ReflectionProgression = "observations"
    """How a closed (or reverted) backfill becomes ``reflected`` (``reverted``), after moto's
    state-transition manager: ``"observations"`` — on the ``reflection_observations``-th read of
    the backfill (``fetch``, or a ``list`` page holding it) after the close; ``"time"`` —
    ``reflection_delay`` after the close, on the simulator's clock; ``"immediate"`` — in the close
    (revert) itself. A ``reflection_delay`` given alone means ``"time"``."""
    reflection_observations: int = Field(default=1, ge=1)
    """Reads of a reflecting backfill until it is ``reflected`` (``"observations"`` progression);
    1: the close answers ``pending`` and the first poll sees ``reflected``."""
    reflection_delay: Duration = timedelta(0)
    """Time from closing (or reverting) a backfill until it is ``reflected`` (or ``reverted``),
    with the ``"time"`` progression."""
    max_events_per_request: int | None = Field(default=None, ge=1)
    """Most events one ingest request may carry (more: ``RequestTooLarge``); ``None``: no limit."""
    max_request_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    """Largest HTTP request body accepted; a larger one is ``RequestTooLarge`` (413)."""
    search_max_event_ids: int = Field(default=500, ge=1)
    """Most ``event_ids`` one event search may list."""
    search_default_lookback: Duration = timedelta(days=7)
    """Event search without ``timeframe_start`` looks back this far from now."""
    default_timezone: str = "Etc/UTC"
    """The account timezone: customers created without a timezone get this one."""
    api_keys: frozenset[str] | None = None
    """Accepted API keys over HTTP; ``None`` accepts any non-empty key."""
    idempotency_ttl: Duration = timedelta(hours=48)
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
    rate_limit_preset: RateLimitPreset | None = None
    """Orb's published limits by category (reads, writes, analytics, ingest requests, ingested
    events) for its test mode, live mode or trial accounts; ``None``: off. Applies on top of
    ``requests_per_second`` and ``events_per_minute``."""

    def json_document(self) -> dict[str, Any]:
        """These settings as JSON: durations ISO 8601, ``api_keys`` sorted (a stable document).
        The state file and ``/_orbsim/settings`` write settings this way."""
        data = self.model_dump(mode="json")
        if data.get("api_keys") is not None:
            data["api_keys"] = sorted(data["api_keys"])
        return data

    @model_validator(mode="before")
    @classmethod
    def _delay_means_time(cls, data: Any) -> Any:
        """``reflection_delay`` given without a progression selects the ``"time"`` one."""
        if isinstance(data, dict) and "reflection_progression" not in data:
            delay = data.get("reflection_delay")
            if delay is not None:
                try:
                    nonzero = parse_duration(delay) > timedelta(0)
                except ValueError:
                    return data  # the field's own validation reports it
                if nonzero:
                    return {**data, "reflection_progression": "time"}
        return data

    @model_validator(mode="after")
    def _delay_needs_time(self) -> Settings:
        if self.reflection_delay and self.reflection_progression != "time":
            raise ValueError(
                f"reflection_delay ({self.reflection_delay}) applies only to "
                f"reflection_progression='time', not {self.reflection_progression!r}"
            )
        return self

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


# -- NAME=VALUE assignments (``orbsim serve --setting``) -----------------------------------------

_NONE = frozenset({"none", "null"})


def _optional(annotation: Any) -> bool:
    """Whether a field's annotation admits ``None``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return type(None) in typing.get_args(annotation)
    return False


def _collection(annotation: Any) -> bool:
    """Whether a field holds a set or list (written as comma-separated values)."""
    candidates = typing.get_args(annotation) if _optional(annotation) else (annotation,)
    return any(
        typing.get_origin(candidate) in (frozenset, set, list, tuple) for candidate in candidates
    )


def _field_value(name: str, text: str) -> object:
    annotation = Settings.model_fields[name].annotation
    if text.strip().lower() in _NONE and _optional(annotation):
        return None
    if _collection(annotation):
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def apply_assignments(base: Settings, assignments: Iterable[str]) -> Settings:
    """``base`` with each ``NAME=VALUE`` assignment applied (the last one for a name wins).

    Values are read as the field's type: durations as ``parse_duration`` reads them, numbers,
    timezone names, ``none``/``null`` for optional fields, comma-separated lists for sets
    (``api_keys=one,two``). Raises ``ValueError`` naming the assignment and the rule it breaks; an
    unknown name lists the valid ones.
    """
    updates: dict[str, object] = {}
    for assignment in assignments:
        name, sep, text = assignment.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"a setting is written NAME=VALUE, got {assignment!r}")
        if name not in Settings.model_fields:
            raise ValueError(
                f"unknown setting {name!r}; valid settings: {', '.join(Settings.model_fields)}"
            )
        updates[name] = _field_value(name, text)
    if not updates:
        return base
    merged = {**base.model_dump(), **updates}
    if "reflection_delay" in updates and "reflection_progression" not in updates:
        merged.pop("reflection_progression")  # a delay alone means the "time" progression
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"][:1]) or "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            given = updates.get(field, merged.get(field))
            problems.append(f"{field}={_shown(given)}: {message}")
        raise ValueError("; ".join(problems)) from None


def _shown(value: object) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return "none" if value is None else str(value)


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
