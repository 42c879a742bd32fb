"""Tests for billing-period calendar arithmetic (``orbsim.engine.periods``)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, time, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.time import US, local, utc
from orbsim.engine.periods import CADENCE_MONTHS, BillingSchedule, Cadence, Period

FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)


def spans(schedule: BillingSchedule, count: int) -> list[tuple[datetime, datetime]]:
    """The first ``count`` periods as ``(start, end)`` pairs."""
    return [(p.start, p.end) for p in islice(schedule.periods(FAR_FUTURE), count)]


def monthly(start: datetime, tz: str = "UTC", **kwargs: object) -> BillingSchedule:
    return BillingSchedule.for_subscription(
        start=start,
        timezone=tz,
        cadence="monthly",
        **kwargs,  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------------------------------
# Cadences with default alignment (D = 1, anchored on the start's month)
# --------------------------------------------------------------------------------------------------


def test_cadence_months() -> None:
    assert CADENCE_MONTHS == {"monthly": 1, "quarterly": 3, "semi_annual": 6, "annual": 12}


def test_monthly_default_short_first_period_then_calendar_months() -> None:
    schedule = monthly(utc(2024, 1, 15, 10))
    assert (schedule.cycle_day, schedule.anchor_month) == (1, 1)
    assert spans(schedule, 3) == [
        (utc(2024, 1, 15, 10), utc(2024, 2, 1)),
        (utc(2024, 2, 1), utc(2024, 3, 1)),
        (utc(2024, 3, 1), utc(2024, 4, 1)),
    ]


def test_quarterly_default() -> None:
    schedule = BillingSchedule.for_subscription(
        start=utc(2024, 1, 15), timezone="UTC", cadence="quarterly"
    )
    assert spans(schedule, 3) == [
        (utc(2024, 1, 15), utc(2024, 4, 1)),
        (utc(2024, 4, 1), utc(2024, 7, 1)),
        (utc(2024, 7, 1), utc(2024, 10, 1)),
    ]


def test_quarterly_default_grid_follows_start_month() -> None:
    schedule = BillingSchedule.for_subscription(
        start=utc(2024, 2, 10), timezone="UTC", cadence="quarterly"
    )
    assert spans(schedule, 2) == [
        (utc(2024, 2, 10), utc(2024, 5, 1)),
        (utc(2024, 5, 1), utc(2024, 8, 1)),
    ]


def test_semi_annual_default() -> None:
    schedule = BillingSchedule.for_subscription(
        start=utc(2024, 3, 10), timezone="UTC", cadence="semi_annual"
    )
    assert spans(schedule, 3) == [
        (utc(2024, 3, 10), utc(2024, 9, 1)),
        (utc(2024, 9, 1), utc(2025, 3, 1)),
        (utc(2025, 3, 1), utc(2025, 9, 1)),
    ]


def test_annual_default() -> None:
    schedule = BillingSchedule.for_subscription(
        start=utc(2024, 6, 20), timezone="UTC", cadence="annual"
    )
    assert spans(schedule, 2) == [
        (utc(2024, 6, 20), utc(2025, 6, 1)),
        (utc(2025, 6, 1), utc(2026, 6, 1)),
    ]


def test_start_exactly_on_a_boundary_gives_a_full_first_period() -> None:
    schedule = monthly(utc(2024, 3, 1))
    assert spans(schedule, 2) == [
        (utc(2024, 3, 1), utc(2024, 4, 1)),
        (utc(2024, 4, 1), utc(2024, 5, 1)),
    ]


# --------------------------------------------------------------------------------------------------
# Alignment to the start date and anchor configuration; clamping
# --------------------------------------------------------------------------------------------------


def test_aligned_to_start_uses_start_day() -> None:
    schedule = monthly(utc(2024, 1, 15, 10), align_to_start=True)
    assert (schedule.cycle_day, schedule.anchor_month) == (15, 1)
    assert spans(schedule, 3) == [
        (utc(2024, 1, 15, 10), utc(2024, 2, 15)),
        (utc(2024, 2, 15), utc(2024, 3, 15)),
        (utc(2024, 3, 15), utc(2024, 4, 15)),
    ]


def test_aligned_31st_clamps_per_month_in_leap_year() -> None:
    schedule = monthly(utc(2024, 1, 31), align_to_start=True)
    assert spans(schedule, 5) == [
        (utc(2024, 1, 31), utc(2024, 2, 29)),
        (utc(2024, 2, 29), utc(2024, 3, 31)),  # back to the 31st: clamping is per month
        (utc(2024, 3, 31), utc(2024, 4, 30)),
        (utc(2024, 4, 30), utc(2024, 5, 31)),
        (utc(2024, 5, 31), utc(2024, 6, 30)),
    ]


def test_aligned_31st_clamps_to_feb_28_in_common_year() -> None:
    schedule = monthly(utc(2023, 1, 31), align_to_start=True)
    assert spans(schedule, 2) == [
        (utc(2023, 1, 31), utc(2023, 2, 28)),
        (utc(2023, 2, 28), utc(2023, 3, 31)),
    ]


@pytest.mark.parametrize(
    ("day", "year", "feb_end"), [(30, 2024, 29), (30, 2023, 28), (29, 2023, 28)]
)
def test_anchor_day_clamps_in_february(day: int, year: int, feb_end: int) -> None:
    schedule = monthly(utc(year, 1, 5), anchor_day=day)
    assert spans(schedule, 3) == [
        (utc(year, 1, 5), utc(year, 1, day)),
        (utc(year, 1, day), utc(year, 2, feb_end)),
        (utc(year, 2, feb_end), utc(year, 3, day)),
    ]


def test_anchor_day_without_month_uses_start_month() -> None:
    schedule = monthly(utc(2024, 1, 15), anchor_day=10)
    assert (schedule.cycle_day, schedule.anchor_month) == (10, 1)
    assert spans(schedule, 2) == [
        (utc(2024, 1, 15), utc(2024, 2, 10)),
        (utc(2024, 2, 10), utc(2024, 3, 10)),
    ]


def test_quarterly_anchor_day_before_start_day_gives_long_first_period() -> None:
    schedule = BillingSchedule.for_subscription(
        start=utc(2024, 1, 20), timezone="UTC", cadence="quarterly", anchor_day=15
    )
    assert spans(schedule, 2) == [
        (utc(2024, 1, 20), utc(2024, 4, 15)),
        (utc(2024, 4, 15), utc(2024, 7, 15)),
    ]


def test_quarterly_anchor_month_sets_the_grid() -> None:
    schedule = BillingSchedule.for_subscription(
        start=utc(2024, 1, 15), timezone="UTC", cadence="quarterly", anchor_day=1, anchor_month=3
    )
    assert spans(schedule, 3) == [
        (utc(2024, 1, 15), utc(2024, 3, 1)),
        (utc(2024, 3, 1), utc(2024, 6, 1)),
        (utc(2024, 6, 1), utc(2024, 9, 1)),
    ]


def test_quarterly_anchor_31st_of_february_grid() -> None:
    schedule = BillingSchedule.for_subscription(
        start=utc(2024, 1, 10), timezone="UTC", cadence="quarterly", anchor_day=31, anchor_month=2
    )
    assert spans(schedule, 4) == [
        (utc(2024, 1, 10), utc(2024, 2, 29)),
        (utc(2024, 2, 29), utc(2024, 5, 31)),
        (utc(2024, 5, 31), utc(2024, 8, 31)),
        (utc(2024, 8, 31), utc(2024, 11, 30)),
    ]


def test_annual_anchor_feb_29() -> None:
    schedule = BillingSchedule.for_subscription(
        start=utc(2023, 3, 1), timezone="UTC", cadence="annual", anchor_day=29, anchor_month=2
    )
    assert spans(schedule, 3) == [
        (utc(2023, 3, 1), utc(2024, 2, 29)),
        (utc(2024, 2, 29), utc(2025, 2, 28)),
        (utc(2025, 2, 28), utc(2026, 2, 28)),
    ]


def test_anchor_configuration_wins_over_align_to_start() -> None:
    schedule = monthly(utc(2024, 1, 15), align_to_start=True, anchor_day=3)
    assert schedule.cycle_day == 3


def test_anchor_month_without_anchor_day_is_rejected() -> None:
    with pytest.raises(ValueError, match="anchor_day"):
        monthly(utc(2024, 1, 15), anchor_month=3)


def test_alignment_uses_the_start_local_date_not_utc() -> None:
    # 2024-01-31 20:00 in Los Angeles is already 2024-02-01 04:00 UTC.
    start = local("America/Los_Angeles", 2024, 1, 31, 20)
    assert start.month == 2
    aligned = monthly(start, "America/Los_Angeles", align_to_start=True)
    assert (aligned.cycle_day, aligned.anchor_month) == (31, 1)
    quarterly = BillingSchedule.for_subscription(
        start=start, timezone="America/Los_Angeles", cadence="quarterly"
    )
    assert quarterly.anchor_month == 1
    assert next(quarterly.periods(FAR_FUTURE)).end == local("America/Los_Angeles", 2024, 4, 1)


# --------------------------------------------------------------------------------------------------
# Timezones and DST
# --------------------------------------------------------------------------------------------------


def test_los_angeles_boundaries_at_0800_utc_in_winter_0700_in_summer() -> None:
    schedule = monthly(local("America/Los_Angeles", 2024, 1, 15, 12), "America/Los_Angeles")
    ends = [p.end for p in islice(schedule.periods(FAR_FUTURE), 12)]
    assert ends[:3] == [utc(2024, 2, 1, 8), utc(2024, 3, 1, 8), utc(2024, 4, 1, 7)]
    assert ends[9:12] == [utc(2024, 11, 1, 7), utc(2024, 12, 1, 8), utc(2025, 1, 1, 8)]
    assert all(end.tzinfo is UTC for end in ends)


def test_dst_transition_months_are_an_hour_short_or_long() -> None:
    la = monthly(utc(2024, 1, 1), "America/Los_Angeles")
    march = la.period_at(utc(2024, 3, 15))
    november = la.period_at(utc(2024, 11, 15))
    assert march == Period(utc(2024, 3, 1, 8), utc(2024, 4, 1, 7))
    assert march.end - march.start == timedelta(days=31, hours=-1)
    assert november == Period(utc(2024, 11, 1, 7), utc(2024, 12, 1, 8))
    assert november.end - november.start == timedelta(days=30, hours=1)

    london = monthly(utc(2024, 1, 1), "Europe/London")
    assert london.period_at(utc(2024, 3, 15)) == Period(utc(2024, 3, 1), utc(2024, 3, 31, 23))


def test_cycle_day_on_a_dst_change_day() -> None:
    # 2024-03-10 and 2024-11-03 are the US DST change days; the change happens at 02:00, so
    # midnight is still well defined and uses that day's pre-change offset.
    la = monthly(utc(2024, 1, 1), "America/Los_Angeles", anchor_day=10)
    assert la.period_at(utc(2024, 3, 20)) == Period(utc(2024, 3, 10, 8), utc(2024, 4, 10, 7))
    la3 = monthly(utc(2024, 1, 1), "America/Los_Angeles", anchor_day=3)
    assert la3.period_at(utc(2024, 11, 20)) == Period(utc(2024, 11, 3, 7), utc(2024, 12, 3, 8))


def test_midnight_in_a_dst_gap_means_first_instant_after_the_gap() -> None:
    # America/Santiago springs forward at 2024-09-08 00:00 -> 01:00 local.
    schedule = monthly(utc(2024, 1, 1), "America/Santiago", anchor_day=8)
    period = schedule.period_at(utc(2024, 9, 20))
    assert period is not None
    assert period.start == utc(2024, 9, 8, 4)
    assert period.start.astimezone(ZoneInfo("America/Santiago")).time() == time(1, 0)
    assert schedule.previous_period(period) == Period(utc(2024, 8, 8, 4), utc(2024, 9, 8, 4))


def test_skipped_calendar_day() -> None:
    # Pacific/Apia skipped 2011-12-30 entirely (UTC-10 -> UTC+14 at the end of Dec 29).
    schedule = monthly(utc(2011, 6, 1), "Pacific/Apia", anchor_day=30)
    period = schedule.period_at(utc(2012, 1, 1))
    assert period is not None
    assert period.start == utc(2011, 12, 30, 10)  # 2011-12-31 00:00 local, first instant after
    assert period.start.astimezone(ZoneInfo("Pacific/Apia")).date().day == 31
    assert schedule.previous_period(period) is not None


@pytest.mark.parametrize(
    ("tz", "instant", "expected"),
    [
        # 23:30 on Jan 31 in New York is already February in UTC.
        (
            "America/New_York",
            local("America/New_York", 2024, 1, 31, 23, 30),
            Period(utc(2024, 1, 1, 5), utc(2024, 2, 1, 5)),
        ),
        (
            "America/New_York",
            local("America/New_York", 2024, 2, 1),
            Period(utc(2024, 2, 1, 5), utc(2024, 3, 1, 5)),
        ),
        # UTC+14: Mar 1 00:30 local is Feb 29 10:30 UTC.
        (
            "Pacific/Kiritimati",
            local("Pacific/Kiritimati", 2024, 3, 1, 0, 30),
            Period(utc(2024, 2, 29, 10), utc(2024, 3, 31, 10)),
        ),
        (
            "Pacific/Kiritimati",
            local("Pacific/Kiritimati", 2024, 2, 29, 23, 59),
            Period(utc(2024, 1, 31, 10), utc(2024, 2, 29, 10)),
        ),
        # UTC-11: Feb 29 23:30 local is Mar 1 10:30 UTC.
        (
            "Pacific/Pago_Pago",
            local("Pacific/Pago_Pago", 2024, 2, 29, 23, 30),
            Period(utc(2024, 2, 1, 11), utc(2024, 3, 1, 11)),
        ),
        (
            "Pacific/Pago_Pago",
            local("Pacific/Pago_Pago", 2024, 3, 1),
            Period(utc(2024, 3, 1, 11), utc(2024, 4, 1, 11)),
        ),
    ],
)
def test_period_at_near_local_month_edges(tz: str, instant: datetime, expected: Period) -> None:
    schedule = monthly(utc(2023, 6, 1), tz)
    assert schedule.period_at(instant) == expected
    # The same instant expressed in the customer's zone gives the same (UTC) answer.
    local = schedule.period_at(instant.astimezone(ZoneInfo(tz)))
    assert local == expected
    assert local.start.tzinfo is UTC and local.end.tzinfo is UTC


def test_aligned_31st_near_month_edges_in_new_york() -> None:
    schedule = monthly(
        local("America/New_York", 2024, 1, 31, 9), "America/New_York", align_to_start=True
    )
    # 23:30 local on Apr 30 is after the clamped Apr 30 boundary; 23:30 on Mar 30 is before Mar 31.
    assert schedule.period_at(local("America/New_York", 2024, 4, 30, 23, 30)) == Period(
        local("America/New_York", 2024, 4, 30), local("America/New_York", 2024, 5, 31)
    )
    assert schedule.period_at(local("America/New_York", 2024, 3, 30, 23, 30)) == Period(
        local("America/New_York", 2024, 2, 29), local("America/New_York", 2024, 3, 31)
    )


# --------------------------------------------------------------------------------------------------
# Boundaries, end dates, navigation
# --------------------------------------------------------------------------------------------------


def test_instants_on_boundaries_start_inclusive_end_exclusive() -> None:
    schedule = monthly(utc(2024, 1, 15, 10))
    first = Period(utc(2024, 1, 15, 10), utc(2024, 2, 1))
    second = Period(utc(2024, 2, 1), utc(2024, 3, 1))
    assert schedule.period_at(utc(2024, 1, 15, 10)) == first
    assert schedule.period_at(utc(2024, 2, 1) - US) == first
    assert schedule.period_at(utc(2024, 2, 1)) == second
    assert utc(2024, 2, 1) in second
    assert utc(2024, 2, 1) not in first
    assert utc(2024, 1, 15, 10) in first
    assert utc(2024, 1, 15, 10) - US not in first


def test_before_start_is_none() -> None:
    schedule = monthly(utc(2024, 1, 15, 10))
    assert schedule.period_at(utc(2024, 1, 15, 10) - US) is None
    assert schedule.period_at(utc(2000, 1, 1)) is None


def test_end_date_cuts_the_period_containing_it() -> None:
    end = utc(2024, 3, 10, 12)
    schedule = monthly(utc(2024, 1, 15), end=end)
    assert list(schedule.periods(FAR_FUTURE)) == [
        Period(utc(2024, 1, 15), utc(2024, 2, 1)),
        Period(utc(2024, 2, 1), utc(2024, 3, 1)),
        Period(utc(2024, 3, 1), end),
    ]
    last = Period(utc(2024, 3, 1), end)
    assert schedule.period_at(end - US) == last
    assert schedule.period_at(end) is None
    assert schedule.period_at(utc(2025, 1, 1)) is None
    assert schedule.next_period(last) is None


def test_end_date_on_a_boundary() -> None:
    schedule = monthly(utc(2024, 1, 15), end=utc(2024, 3, 1))
    assert list(schedule.periods(FAR_FUTURE)) == [
        Period(utc(2024, 1, 15), utc(2024, 2, 1)),
        Period(utc(2024, 2, 1), utc(2024, 3, 1)),
    ]
    assert schedule.period_at(utc(2024, 3, 1)) is None


def test_end_date_before_first_boundary_gives_single_period() -> None:
    schedule = monthly(utc(2024, 1, 15), end=utc(2024, 1, 20))
    assert list(schedule.periods(FAR_FUTURE)) == [Period(utc(2024, 1, 15), utc(2024, 1, 20))]


def test_next_and_previous_period() -> None:
    schedule = monthly(utc(2024, 1, 15))
    first = schedule.period_at(utc(2024, 1, 15))
    assert first is not None
    assert schedule.previous_period(first) is None
    second = schedule.next_period(first)
    assert second == Period(utc(2024, 2, 1), utc(2024, 3, 1))
    assert schedule.previous_period(second) == first


def test_periods_until_is_exclusive_on_start() -> None:
    schedule = monthly(utc(2024, 1, 15))
    assert [p.start for p in schedule.periods(utc(2024, 3, 1))] == [
        utc(2024, 1, 15),
        utc(2024, 2, 1),
    ]
    assert len(list(schedule.periods(utc(2024, 3, 1) + US))) == 3
    assert list(schedule.periods(utc(2024, 1, 15))) == []
    assert list(schedule.periods(utc(2023, 1, 1))) == []


def test_start_and_end_are_normalised_to_utc() -> None:
    schedule = BillingSchedule.for_subscription(
        start=datetime(2024, 1, 15, 9, tzinfo=ZoneInfo("Asia/Tokyo")),
        end=datetime(2024, 6, 1, tzinfo=ZoneInfo("Asia/Tokyo")),
        timezone="Asia/Tokyo",
        cadence="monthly",
    )
    assert schedule.start == utc(2024, 1, 15) and schedule.start.tzinfo is UTC
    assert schedule.end == utc(2024, 5, 31, 15) and schedule.end.tzinfo is UTC


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


def _direct(**overrides: object) -> BillingSchedule:
    kwargs: dict[str, object] = {
        "start": utc(2024, 1, 1),
        "end": None,
        "timezone": "UTC",
        "cadence": "monthly",
        "cycle_day": 1,
        "anchor_month": 1,
    }
    kwargs.update(overrides)
    return BillingSchedule(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cycle_day": 0}, "cycle_day"),
        ({"cycle_day": 32}, "cycle_day"),
        ({"anchor_month": 0}, "anchor_month"),
        ({"anchor_month": 13}, "anchor_month"),
        ({"cadence": "weekly"}, "cadence"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"timezone": "America"}, "timezone"),
        ({"timezone": "../etc/passwd"}, "timezone"),
        ({"end": utc(2024, 1, 1)}, "end"),
        ({"end": utc(2023, 12, 31)}, "end"),
        ({"start": datetime(2024, 1, 1)}, "timezone-aware"),
        ({"end": datetime(2024, 2, 1)}, "timezone-aware"),
    ],
)
def test_validation_errors(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _direct(**overrides)


def test_for_subscription_validates() -> None:
    with pytest.raises(ValueError, match="cycle_day"):
        monthly(utc(2024, 1, 1), anchor_day=32)
    with pytest.raises(ValueError, match="anchor_month"):
        monthly(utc(2024, 1, 1), anchor_day=1, anchor_month=13)
    with pytest.raises(ValueError, match="timezone"):
        monthly(utc(2024, 1, 1), "Nowhere/Special")


def test_naive_instant_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _direct().period_at(datetime(2024, 3, 1))


# --------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "America/Santiago",  # DST changes at midnight
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kathmandu",  # +05:45
    "Pacific/Kiritimati",  # +14
    "Pacific/Pago_Pago",  # -11
]
CADENCES: list[Cadence] = ["monthly", "quarterly", "semi_annual", "annual"]
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


@st.composite
def schedules(draw: st.DrawFn, *, with_end: bool = True) -> BillingSchedule:
    start = draw(
        st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)
        )
    )
    tz = draw(st.sampled_from(ZONES))
    cadence = draw(st.sampled_from(CADENCES))
    alignment = draw(st.sampled_from(["default", "aligned", "anchor"]))
    kwargs: dict[str, object] = {}
    if alignment == "aligned":
        kwargs["align_to_start"] = True
    elif alignment == "anchor":
        kwargs["anchor_day"] = draw(st.integers(1, 31))
        kwargs["anchor_month"] = draw(st.none() | st.integers(1, 12))
    end = None
    if with_end and draw(st.booleans()):
        end = start + draw(st.timedeltas(min_value=US, max_value=timedelta(days=3000)))
    return BillingSchedule.for_subscription(
        start=start,
        timezone=tz,
        cadence=cadence,
        end=end,
        **kwargs,  # type: ignore[arg-type]
    )


def reference_periods(schedule: BillingSchedule, count: int) -> list[Period]:
    """A deliberately naive walk: every month from the start, keeping grid boundaries after it."""
    zone = ZoneInfo(schedule.timezone)
    local = schedule.start.astimezone(zone)
    step = CADENCE_MONTHS[schedule.cadence]
    month_index = local.year * 12 + local.month - 2
    edges = [schedule.start]
    while len(edges) <= count:
        year, month = divmod(month_index, 12)
        month += 1
        if (month - schedule.anchor_month) % step == 0:
            day = min(schedule.cycle_day, calendar.monthrange(year, month)[1])
            boundary = datetime(year, month, day, tzinfo=zone).astimezone(UTC)
            if boundary > edges[-1]:
                edges.append(boundary)
        month_index += 1
    result = []
    for start, end in pairwise(edges):
        if schedule.end is not None and end >= schedule.end:
            result.append(Period(start, schedule.end))
            break
        result.append(Period(start, end))
    return result


@PROPERTY_SETTINGS
@given(schedules(with_end=False))
def test_property_periods_tile_time(schedule: BillingSchedule) -> None:
    periods = list(islice(schedule.periods(FAR_FUTURE), 40))
    assert len(periods) == 40
    assert periods[0].start == schedule.start
    for prev, nxt in pairwise(periods):
        assert prev.start < prev.end == nxt.start
    assert periods == reference_periods(schedule, 40)


@PROPERTY_SETTINGS
@given(schedules())
def test_property_periods_match_reference_and_end_cut(schedule: BillingSchedule) -> None:
    periods = list(islice(schedule.periods(FAR_FUTURE), 40))
    assert periods == reference_periods(schedule, 40)
    if schedule.end is not None and len(periods) < 40:
        assert periods[-1].end == schedule.end
        assert schedule.next_period(periods[-1]) is None


@PROPERTY_SETTINGS
@given(
    schedules(),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=4000)),
    st.booleans(),
)
def test_property_period_at_contains_instant(
    schedule: BillingSchedule, offset: timedelta, as_local: bool
) -> None:
    instant = schedule.start + offset
    query = instant.astimezone(ZoneInfo(schedule.timezone)) if as_local else instant
    period = schedule.period_at(query)
    if schedule.end is not None and instant >= schedule.end:
        assert period is None
        return
    assert period is not None
    assert instant in period
    walked = list(schedule.periods(instant + US))
    assert walked[-1] == period


@PROPERTY_SETTINGS
@given(
    schedules(with_end=False),
    st.integers(0, 30),
    st.sampled_from(
        [-timedelta(days=1), -timedelta(hours=1), -US, timedelta(0), US, timedelta(hours=1)]
    ),
)
def test_property_period_at_near_boundaries(
    schedule: BillingSchedule, index: int, jitter: timedelta
) -> None:
    periods = list(islice(schedule.periods(FAR_FUTURE), index + 2))
    instant = periods[index + 1].start + jitter
    expected = periods[index] if jitter < timedelta(0) else periods[index + 1]
    if instant not in expected:  # jitter reached past a short first period
        assert instant < schedule.start
        assert schedule.period_at(instant) is None
    else:
        assert schedule.period_at(instant) == expected


@PROPERTY_SETTINGS
@given(schedules())
def test_property_later_periods_start_at_local_midnight_on_cycle_day(
    schedule: BillingSchedule,
) -> None:
    zone = ZoneInfo(schedule.timezone)
    step = CADENCE_MONTHS[schedule.cadence]
    for period in islice(schedule.periods(FAR_FUTURE), 1, 30):
        local = period.start.astimezone(zone)
        day = local.date()
        assert period.start == datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        # Local midnight, unless midnight fell into a DST gap (then the first instant after it).
        skipped = (period.start - US).astimezone(zone).date() < day
        assert local.time() == time(0) or skipped
        assert day.day == min(schedule.cycle_day, calendar.monthrange(day.year, day.month)[1])
        assert (day.month - schedule.anchor_month) % step == 0
        assert period.start.tzinfo is UTC and period.end.tzinfo is UTC


@PROPERTY_SETTINGS
@given(schedules())
def test_property_next_and_previous_are_inverse(schedule: BillingSchedule) -> None:
    periods = list(islice(schedule.periods(FAR_FUTURE), 30))
    assert schedule.previous_period(periods[0]) is None
    for period in periods:
        nxt = schedule.next_period(period)
        if nxt is None:
            assert period is periods[-1]
            assert period.end == schedule.end
            continue
        assert schedule.previous_period(nxt) == period
        assert schedule.next_period(schedule.previous_period(nxt)) == nxt  # type: ignore[arg-type]
