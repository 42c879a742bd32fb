"""Billing-period calendar arithmetic for Orb subscriptions (pure, no I/O).

A subscription's periods are cut at *grid boundaries*: local midnight, in the customer's IANA
timezone, on the billing cycle day ``D`` of every grid month. ``D`` is clamped to the length of each
month on its own (``D=31`` gives Jan 31, Feb 28/29, Mar 31, Apr 30, ...). The month with index
``m = year * 12 + month - 1`` is a grid month when ``(m - anchor_month + 1) % cadence_months == 0``.

The first period runs from the subscription start (any instant) to the first boundary strictly
after it, so it may be short; later periods run boundary to boundary; an ``end`` cuts the period
holding it and nothing follows. Periods are half-open ``[start, end)``; every datetime returned is
in UTC.

Local midnights are converted with ``datetime(y, m, d, tzinfo=zone).astimezone(UTC)``, i.e. with
``fold=0``: an ambiguous midnight means its first occurrence, and a midnight that falls in a DST gap
(or a skipped day, e.g. Pacific/Apia on 2011-12-30) means the first instant after the gap.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from orbsim.times import zone

__all__ = ["CADENCE_MONTHS", "BillingSchedule", "Cadence", "Period"]

Cadence = Literal["monthly", "quarterly", "semi_annual", "annual"]

CADENCE_MONTHS: dict[str, int] = {"monthly": 1, "quarterly": 3, "semi_annual": 6, "annual": 12}
assert set(CADENCE_MONTHS) == set(get_args(Cadence))

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_ONE_MICROSECOND = timedelta(microseconds=1)


def _load_zone(name: str) -> ZoneInfo:
    """Return the (cached) ``ZoneInfo`` for ``name``, or raise ``ValueError`` if it is unknown."""
    found = zone(name)
    if found is not None:
        return found
    raise ValueError(f"unknown timezone {name!r}: expected an IANA name like 'America/New_York'")


def _as_utc(value: datetime, what: str) -> datetime:
    """Return ``value`` converted to UTC; raise ``ValueError`` if it is naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got naive {value!r}")
    return value.astimezone(UTC)


@lru_cache(maxsize=1 << 16)
def _boundary(zone: ZoneInfo, month_index: int, cycle_day: int) -> datetime:
    """Local midnight on ``cycle_day`` (clamped) of month ``month_index``, as a UTC instant."""
    year, month0 = divmod(month_index, 12)
    last = _DAYS_IN_MONTH[month0]
    if month0 == 1 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        last = 29
    day = cycle_day if cycle_day < last else last
    return datetime(year, month0 + 1, day, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open billing period ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __contains__(self, instant: datetime) -> bool:
        """Whether ``start <= instant < end`` (``instant`` must be timezone-aware)."""
        return self.start <= instant < self.end


@dataclass(frozen=True, slots=True)
class BillingSchedule:
    """The billing periods of one subscription; see the module docstring for the rules."""

    start: datetime
    end: datetime | None
    timezone: str
    cadence: Cadence
    cycle_day: int
    anchor_month: int
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _months: int = field(init=False, repr=False, compare=False)

    def __deepcopy__(self, memo: dict[int, Any]) -> BillingSchedule:
        return self  # frozen

    def __post_init__(self) -> None:
        if self.cadence not in CADENCE_MONTHS:
            raise ValueError(
                f"unknown cadence {self.cadence!r}: expected one of {sorted(CADENCE_MONTHS)}"
            )
        if not 1 <= self.cycle_day <= 31:
            raise ValueError(f"cycle_day must be between 1 and 31, got {self.cycle_day!r}")
        if not 1 <= self.anchor_month <= 12:
            raise ValueError(f"anchor_month must be between 1 and 12, got {self.anchor_month!r}")
        start = _as_utc(self.start, "start")
        end = None if self.end is None else _as_utc(self.end, "end")
        if end is not None and end <= start:
            raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "_zone", _load_zone(self.timezone))
        object.__setattr__(self, "_months", CADENCE_MONTHS[self.cadence])

    @classmethod
    def for_subscription(
        cls,
        *,
        start: datetime,
        timezone: str,
        cadence: Cadence,
        end: datetime | None = None,
        align_to_start: bool = False,
        anchor_day: int | None = None,
        anchor_month: int | None = None,
    ) -> BillingSchedule:
        """Build a schedule from subscription settings.

        * default: ``D = 1`` and the anchor month is the start's local month;
        * ``align_to_start`` (``align_billing_with_subscription_start_date``): ``D`` is the start's
          local day, the anchor month its local month;
        * ``anchor_day``/``anchor_month`` (``billing_cycle_anchor_configuration``): ``D =
          anchor_day``, anchor month ``anchor_month`` or else the start's local month. An explicit
          anchor configuration wins over ``align_to_start``.
        """
        local_start = _as_utc(start, "start").astimezone(_load_zone(timezone))
        if anchor_day is not None:
            day, month = anchor_day, local_start.month if anchor_month is None else anchor_month
        elif anchor_month is not None:
            raise ValueError("anchor_month needs anchor_day (billing_cycle_anchor_configuration)")
        elif align_to_start:
            day, month = local_start.day, local_start.month
        else:
            day, month = 1, local_start.month
        return cls(
            start=start,
            end=end,
            timezone=timezone,
            cadence=cadence,
            cycle_day=day,
            anchor_month=month,
        )

    def period_at(self, instant: datetime) -> Period | None:
        """The period containing ``instant``, or ``None`` before the start or at/after the end."""
        instant = _as_utc(instant, "instant")
        start, end = self.start, self.end
        if instant < start or (end is not None and instant >= end):
            return None
        zone, day, step = self._zone, self.cycle_day, self._months
        local = instant.astimezone(zone)
        month_index = local.year * 12 + local.month - 1
        grid = month_index - (month_index - self.anchor_month + 1) % step
        lower = _boundary(zone, grid, day)
        # The grid month's boundary may still lie ahead (later in the month); the previous grid
        # month's boundary is then behind us. The loops run at most once; they guard odd zones.
        while lower > instant:
            grid -= step
            lower = _boundary(zone, grid, day)
        upper = _boundary(zone, grid + step, day)
        while upper <= instant:
            grid += step
            lower, upper = upper, _boundary(zone, grid + step, day)
        return Period(
            start=lower if lower > start else start,
            end=upper if end is None or upper < end else end,
        )

    def next_period(self, period: Period) -> Period | None:
        """The period after ``period``; ``None`` if ``period`` ends at the subscription's end."""
        return self.period_at(period.end)

    def previous_period(self, period: Period) -> Period | None:
        """The period before ``period``; ``None`` for the first period."""
        if _as_utc(period.start, "period.start") <= self.start:
            return None
        return self.period_at(period.start - _ONE_MICROSECOND)

    def periods(self, until: datetime) -> Iterator[Period]:
        """Every period, from the first, whose start is before ``until``."""
        until = _as_utc(until, "until")
        period = self.period_at(self.start)
        while period is not None and period.start < until:
            yield period
            period = self.next_period(period)
