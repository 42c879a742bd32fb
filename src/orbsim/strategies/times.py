"""Timestamp strategies: instants placed against ingestion's time window or near billing-period
edges, and the ways clients write them (``Z``, ``+00:00``, other offsets, naive, datetime).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Literal

from hypothesis import strategies as st

from orbsim.settings import Settings
from orbsim.times import to_utc

if TYPE_CHECKING:
    from orbsim.sim import OrbSim


Window = Literal["ingestible", "too_old", "too_far_in_future", "any"]
TimestampFormat = Literal["Z", "+00:00", "offset", "naive", "datetime"]
Timestamp = datetime | str


_US = timedelta(microseconds=1)


def as_utc(value: datetime | str) -> datetime:
    """``value`` (a datetime or ISO 8601 text) as an aware UTC datetime."""
    return to_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def micros(delta: timedelta) -> int:
    """``delta`` in whole microseconds (strategies draw integer offsets: they shrink well)."""
    return delta // _US


def shifted(base: datetime, offset_us: int) -> datetime:
    """``base`` moved by ``offset_us`` microseconds."""
    return base + timedelta(microseconds=offset_us)


def timestamps(
    now: datetime | str,
    *,
    window: Window = "ingestible",
    settings: Settings | None = None,
    spread: timedelta = timedelta(days=30),
) -> st.SearchStrategy[datetime]:
    """Aware UTC datetimes placed relative to ingestion's time window at ``now``.

    ``window``: ``"ingestible"`` — in ``[now - grace_period, now + future_tolerance]``, both edges
    included and generated often; ``"too_old"`` — before ``now - grace_period`` (by 1 µs up to
    ``spread``); ``"too_far_in_future"`` — after ``now + future_tolerance`` (by 1 µs up to
    ``spread``); ``"any"`` — one of the three. The numbers come from ``settings`` (defaults:
    ``Settings()``). Shrinks towards ``now``, or towards the violated edge.
    """
    rules = settings or Settings()
    moment = as_utc(now)
    grace = micros(rules.grace_period)
    tolerance = micros(rules.future_tolerance)
    far = max(1, micros(spread))
    if window == "ingestible":
        edges = st.sampled_from([0, -grace, tolerance])
        return st.builds(shifted, st.just(moment), st.one_of(edges, st.integers(-grace, tolerance)))
    if window == "too_old":
        edge = moment - rules.grace_period
        return st.builds(shifted, st.just(edge), st.integers(-far, -1))
    if window == "too_far_in_future":
        edge = moment + rules.future_tolerance
        return st.builds(shifted, st.just(edge), st.integers(1, far))
    if window == "any":
        return st.one_of(
            timestamps(moment, window="ingestible", settings=rules, spread=spread),
            timestamps(moment, window="too_old", settings=rules, spread=spread),
            timestamps(moment, window="too_far_in_future", settings=rules, spread=spread),
        )
    raise ValueError(
        f"window must be one of ingestible, too_old, too_far_in_future, any; got {window!r}"
    )


def timestamps_near(
    *edges: datetime | str, spread: timedelta = timedelta(minutes=10)
) -> st.SearchStrategy[datetime]:
    """Datetimes within ``spread`` of one of ``edges``; the edge itself and ±1 µs come often.

    Off-by-one bugs live at billing-period boundaries: feed this ``billing_period_edges(...)``.
    """
    if not edges:
        raise ValueError("timestamps_near needs at least one edge")
    points = [as_utc(e) for e in edges]
    width = max(1, micros(spread))
    offsets = st.one_of(st.sampled_from([0, -1, 1]), st.integers(-width, width))
    return st.builds(shifted, st.sampled_from(points), offsets)


def billing_period_edges(sim: OrbSim, customer_id: str) -> list[datetime]:
    """The instants where a customer's billing rules change, sorted: every period start and end of
    its subscriptions up to now, and every ``end + grace_period`` (when a period is invoiced).

    A plain function (it reads the simulator), meant for ``timestamps_near(*edges)``.
    """
    grace = sim.settings.grace_period
    found: set[datetime] = set()
    page = sim.subscriptions.list(customer_id=customer_id, limit=100)
    horizon = sim.now() + timedelta(days=400)
    for subscription in page.data:
        for period in sim.subscriptions.billing_periods(subscription.id, until=horizon):
            found.update((period.start, period.end, period.end + grace))
    return sorted(found)


def _render(value: datetime, fmt: TimestampFormat, offset_minutes: int) -> Timestamp:
    value = value.astimezone(UTC)
    if fmt == "datetime":
        return value
    if fmt == "naive":
        return value.replace(tzinfo=None).isoformat()
    if fmt == "offset":
        return value.astimezone(timezone(timedelta(minutes=offset_minutes))).isoformat()
    text = value.isoformat()
    return text[:-6] + "Z" if fmt == "Z" else text


def render_timestamps(
    datetimes: st.SearchStrategy[datetime],
    formats: Sequence[TimestampFormat] = ("Z",),
) -> st.SearchStrategy[Timestamp]:
    """The same instants written the ways clients send them, all meaning the same UTC time.

    Formats: ``"Z"`` (``2024-05-20T12:00:00Z``), ``"+00:00"``, ``"offset"`` (a random whole
    quarter-hour offset such as ``+05:45``), ``"naive"`` (no offset: UTC), ``"datetime"`` (the
    object itself, for the engine and the SDK). Fractional seconds appear whenever the instant has
    microseconds.
    """
    if not formats:
        raise ValueError("render_timestamps needs at least one format")
    quarter_hours = st.integers(-14 * 4, 14 * 4).map(lambda q: q * 15)
    return st.builds(_render, datetimes, st.sampled_from(list(formats)), quarter_hours)
