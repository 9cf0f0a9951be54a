"""Business time with hand-computed answers, then hypothesis properties.

Default calendar: 09:00–17:00 America/New_York, Monday–Friday. Calendar facts used below:
2026-01-12 is a Monday; 2026-03-08 (spring forward) and 2026-11-01 (fall back) are Sundays in
New York; 2026-03-29 is the Sunday the UK moves to BST.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatwoot_health.metrics.business_hours import BusinessCalendar

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
CAL = BusinessCalendar(tz=NY)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[arg-type, misc]


def minutes(cal: BusinessCalendar, start: datetime, end: datetime) -> float:
    return cal.business_seconds(start, end) / 60


# -- arrivals outside hours ----------------------------------------------------------------------


def test_arrival_before_opening_counts_from_nine() -> None:
    # Tuesday 07:00 → 09:10: only 09:00–09:10 is open = 10 min.
    assert minutes(CAL, ny(2026, 1, 13, 7, 0), ny(2026, 1, 13, 9, 10)) == 10.0


def test_arrival_after_closing_counts_from_next_morning() -> None:
    # Tuesday 18:00 → Wednesday 09:05: Tuesday is closed after 17:00, Wednesday 09:00–09:05 = 5.
    assert minutes(CAL, ny(2026, 1, 13, 18, 0), ny(2026, 1, 14, 9, 5)) == 5.0


def test_friday_afternoon_to_monday_morning() -> None:
    # Friday 16:55–17:00 = 5 min, weekend 0, Monday 09:00–09:05 = 5 min → 10 min.
    assert minutes(CAL, ny(2026, 1, 16, 16, 55), ny(2026, 1, 19, 9, 5)) == 10.0


def test_saturday_arrival_decided_monday() -> None:
    # Saturday 11:00 → Monday 09:10: only Monday 09:00–09:10 = 10 min.
    assert minutes(CAL, ny(2026, 1, 17, 11, 0), ny(2026, 1, 19, 9, 10)) == 10.0


def test_inside_a_weekend_is_zero() -> None:
    assert CAL.business_seconds(ny(2026, 1, 17, 0, 0), ny(2026, 1, 19, 0, 0)) == 0.0


def test_holiday_is_closed() -> None:
    cal = BusinessCalendar(tz=NY, holidays=frozenset({date(2026, 1, 19)}))
    # Monday 2026-01-19 is a holiday: all day = 0, and Saturday → Tuesday 09:10 = 10 min.
    assert cal.business_seconds(ny(2026, 1, 19, 0, 0), ny(2026, 1, 20, 0, 0)) == 0.0
    assert minutes(cal, ny(2026, 1, 17, 11, 0), ny(2026, 1, 20, 9, 10)) == 10.0
    assert not cal.is_open(ny(2026, 1, 19, 12, 0))


def test_spanning_several_nights() -> None:
    # Monday 16:00 → Thursday 10:00: Mon 1 h + Tue 8 h + Wed 8 h + Thu 1 h = 18 h = 64 800 s.
    assert CAL.business_seconds(ny(2026, 1, 12, 16, 0), ny(2026, 1, 15, 10, 0)) == 64800.0


def test_end_before_start_is_zero() -> None:
    assert CAL.business_seconds(ny(2026, 1, 13, 12, 0), ny(2026, 1, 13, 10, 0)) == 0.0


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        CAL.business_seconds(datetime(2026, 1, 13, 9), ny(2026, 1, 13, 10))


def test_other_time_zones_of_the_same_instants() -> None:
    # Tuesday 09:00–10:00 New York is 14:00–15:00 UTC in January: 3600 s, whatever the offsets.
    start = datetime(2026, 1, 13, 14, 0, tzinfo=UTC)
    end = datetime(2026, 1, 13, 15, 0, tzinfo=UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    assert CAL.business_seconds(start, end) == 3600.0


# -- exact boundaries (half-open: 09:00:00 open, 17:00:00 closed) -------------------------------


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (ny(2026, 1, 13, 8, 59, 59), False),
        (ny(2026, 1, 13, 9, 0, 0), True),
        (ny(2026, 1, 13, 16, 59, 59), True),
        (ny(2026, 1, 13, 17, 0, 0), False),
        (ny(2026, 1, 17, 12, 0, 0), False),  # Saturday
    ],
)
def test_is_open_at_boundaries(moment: datetime, open_: bool) -> None:
    assert CAL.is_open(moment) is open_


def test_business_seconds_at_boundaries() -> None:
    # 08:59:59 → 09:00:01: only 09:00:00–09:00:01 is open = 1 s.
    assert CAL.business_seconds(ny(2026, 1, 13, 8, 59, 59), ny(2026, 1, 13, 9, 0, 1)) == 1.0
    # 16:59:59 → 17:00:01: only 16:59:59–17:00:00 = 1 s.
    assert CAL.business_seconds(ny(2026, 1, 13, 16, 59, 59), ny(2026, 1, 13, 17, 0, 1)) == 1.0
    # 08:00:00 → 09:00:00 and 17:00:00 → 17:30:00 are entirely closed.
    assert CAL.business_seconds(ny(2026, 1, 13, 8, 0), ny(2026, 1, 13, 9, 0)) == 0.0
    assert CAL.business_seconds(ny(2026, 1, 13, 17, 0), ny(2026, 1, 13, 17, 30)) == 0.0
    # 09:00:00 → 17:00:00 is the whole day: 8 h = 28 800 s.
    assert CAL.business_seconds(ny(2026, 1, 13, 9, 0), ny(2026, 1, 13, 17, 0)) == 28800.0


# -- DST ----------------------------------------------------------------------------------------


def test_spring_forward_weekend_new_york() -> None:
    # Friday 2026-03-06 16:50 EST → Monday 2026-03-09 09:20 EDT: 10 + 20 = 30 min (the wall clock
    # says 2 days 15 h 30 min, one hour less than the local times suggest).
    assert minutes(CAL, ny(2026, 3, 6, 16, 50), ny(2026, 3, 9, 9, 20)) == 30.0


def test_fall_back_weekend_new_york() -> None:
    # Friday 2026-10-30 16:50 EDT → Monday 2026-11-02 09:20 EST: 10 + 20 = 30 min.
    assert minutes(CAL, ny(2026, 10, 30, 16, 50), ny(2026, 11, 2, 9, 20)) == 30.0


def test_open_intervals_move_in_utc_across_dst() -> None:
    # 09:00–17:00 New York: EST (UTC−5) → 14:00–22:00 UTC; EDT (UTC−4) → 13:00–21:00 UTC.
    got = list(CAL.open_intervals(ny(2026, 3, 6, 0, 0), ny(2026, 3, 10, 0, 0)))
    assert got == [
        (datetime(2026, 3, 6, 14, tzinfo=UTC), datetime(2026, 3, 6, 22, tzinfo=UTC)),
        (datetime(2026, 3, 9, 13, tzinfo=UTC), datetime(2026, 3, 9, 21, tzinfo=UTC)),
    ]


def test_open_intervals_are_clipped_to_the_span() -> None:
    got = list(CAL.open_intervals(ny(2026, 1, 13, 16, 0), ny(2026, 1, 14, 10, 0)))
    # Tuesday 16:00–17:00 EST and Wednesday 09:00–10:00 EST, in UTC (+5 h).
    assert got == [
        (datetime(2026, 1, 13, 21, tzinfo=UTC), datetime(2026, 1, 13, 22, tzinfo=UTC)),
        (datetime(2026, 1, 14, 14, tzinfo=UTC), datetime(2026, 1, 14, 15, tzinfo=UTC)),
    ]
    assert list(CAL.open_intervals(ny(2026, 1, 14), ny(2026, 1, 13))) == []


def test_dst_spanning_week_of_business_days() -> None:
    # Friday 2026-03-06 12:00 EST → Tuesday 2026-03-10 12:00 EDT: Fri 5 h + Mon 8 h + Tue 3 h.
    assert CAL.business_seconds(ny(2026, 3, 6, 12, 0), ny(2026, 3, 10, 12, 0)) == 16 * 3600.0


def test_round_the_clock_calendar_follows_the_dst_day_length() -> None:
    always = BusinessCalendar(tz=NY, opens=0, closes=1440, days=frozenset(range(7)))
    # The local day 2026-03-08 lasts 23 h (82 800 s) and 2026-11-01 lasts 25 h (90 000 s).
    assert always.business_seconds(ny(2026, 3, 8), ny(2026, 3, 9)) == 82800.0
    assert always.business_seconds(ny(2026, 11, 1), ny(2026, 11, 2)) == 90000.0


def test_opening_hours_that_contain_the_change_itself() -> None:
    night = BusinessCalendar(tz=NY, opens=60, closes=240, days=frozenset(range(7)))
    # 01:00–04:00 on 2026-03-08: 01:00 EST = 06:00 UTC, 04:00 EDT = 08:00 UTC → 2 h.
    assert night.business_seconds(ny(2026, 3, 8), ny(2026, 3, 9)) == 7200.0
    # On 2026-11-01 01:00 happens twice; the first (EDT, 05:00 UTC) counts, 04:00 EST = 09:00 UTC
    # → 4 h.
    assert night.business_seconds(ny(2026, 11, 1), ny(2026, 11, 2)) == 14400.0


def test_closing_at_midnight() -> None:
    late = BusinessCalendar(tz=NY, opens=540, closes=1440)
    # Friday 2026-01-16 23:30 → Monday 09:10: Friday 23:30–24:00 = 30 + Monday 09:00–09:10 = 10.
    assert minutes(late, ny(2026, 1, 16, 23, 30), ny(2026, 1, 19, 9, 10)) == 40.0
    assert late.is_open(ny(2026, 1, 16, 23, 59, 59))
    assert not late.is_open(ny(2026, 1, 17, 0, 0))
    # A weekday is 09:00–24:00 = 15 h.
    assert late.business_seconds(ny(2026, 1, 13), ny(2026, 1, 14)) == 15 * 3600.0


def test_europe_london_across_bst() -> None:
    uk = BusinessCalendar(tz=LONDON)
    # Friday 2026-03-27 16:30 GMT → Monday 2026-03-30 09:15 BST: 30 + 15 = 45 min.
    start = datetime(2026, 3, 27, 16, 30, tzinfo=LONDON)
    end = datetime(2026, 3, 30, 9, 15, tzinfo=LONDON)
    assert minutes(uk, start, end) == 45.0
    # 09:00–17:00 London is 09:00–17:00 UTC in GMT and 08:00–16:00 UTC in BST.
    assert list(uk.open_intervals(start, end)) == [
        (datetime(2026, 3, 27, 16, 30, tzinfo=UTC), datetime(2026, 3, 27, 17, tzinfo=UTC)),
        (datetime(2026, 3, 30, 8, tzinfo=UTC), datetime(2026, 3, 30, 8, 15, tzinfo=UTC)),
    ]


# -- add_business_seconds ------------------------------------------------------------------------


def test_add_business_seconds_crosses_the_weekend() -> None:
    # Friday 16:55 + 15 min: 5 min on Friday, 10 on Monday → Monday 09:10 EST = 14:10 UTC.
    got = CAL.add_business_seconds(ny(2026, 1, 16, 16, 55), 900)
    assert got == datetime(2026, 1, 19, 14, 10, tzinfo=UTC)


def test_add_business_seconds_edges() -> None:
    # Zero seconds is the start itself, even when closed.
    assert CAL.add_business_seconds(ny(2026, 1, 17, 12), 0) == ny(2026, 1, 17, 12)
    # A full day from the opening reaches exactly the closing instant (earliest such instant).
    assert CAL.add_business_seconds(ny(2026, 1, 13, 9), 28800) == ny(2026, 1, 13, 17)
    # One more second rolls to Wednesday 09:00:01.
    assert CAL.add_business_seconds(ny(2026, 1, 13, 9), 28801) == ny(2026, 1, 14, 9, 0, 1)
    # Across DST: Friday 2026-03-06 16:50 EST + 30 min → Monday 09:20 EDT.
    assert CAL.add_business_seconds(ny(2026, 3, 6, 16, 50), 1800) == ny(2026, 3, 9, 9, 20)
    with pytest.raises(ValueError):
        CAL.add_business_seconds(ny(2026, 1, 13, 9), -1)


def test_add_business_seconds_far_ahead() -> None:
    # 300 business days of 8 h from Monday 2026-01-12 09:00 are exactly 60 working weeks; the
    # earliest instant with that much is the close of the 300th day, Friday 2027-03-05 17:00 EST
    # (2027's spring forward is 03-14) = 22:00 UTC.
    got = CAL.add_business_seconds(ny(2026, 1, 12, 9), 300 * 8 * 3600)
    assert got == datetime(2027, 3, 5, 22, 0, tzinfo=UTC)


def test_long_spans_are_exact() -> None:
    # 2026 has 261 weekdays (52 weeks + Thursday 2026-01-01): 261 × 8 h.
    assert CAL.business_seconds(ny(2026, 1, 1), ny(2027, 1, 1)) == 261 * 8 * 3600.0


def test_calendar_validation() -> None:
    with pytest.raises(ValueError):
        BusinessCalendar(tz=NY, opens=1020, closes=540)
    with pytest.raises(ValueError):
        BusinessCalendar(tz=NY, days=frozenset())
    with pytest.raises(ValueError):
        BusinessCalendar(tz=NY, days=frozenset({7}))


def test_calendar_is_a_value() -> None:
    a = BusinessCalendar(tz=NY)
    b = BusinessCalendar(tz=NY)
    a.business_seconds(ny(2026, 1, 13), ny(2026, 1, 14))  # fills a's cache only
    assert a == b
    assert hash(a) == hash(b)


def test_the_config_layer_builds_the_calendar() -> None:
    from chatwoot_health.config import business_calendar

    cal = business_calendar(
        {
            "timezone": LONDON,
            "business_hours": (480, 1200),
            "business_days": frozenset({0, 1, 2}),
            "holidays": frozenset({date(2026, 1, 1)}),
        }
    )
    assert cal == BusinessCalendar(
        tz=LONDON,
        opens=480,
        closes=1200,
        days=frozenset({0, 1, 2}),
        holidays=frozenset({date(2026, 1, 1)}),
    )
    assert business_calendar({}) == CAL


# -- properties -----------------------------------------------------------------------------------

ZONES = st.sampled_from(
    [UTC, NY, LONDON, ZoneInfo("Asia/Kolkata"), ZoneInfo("Australia/Lord_Howe")]
)
INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2027, 12, 31, 23, 59, 59),
    timezones=ZONES,
    allow_imaginary=False,
)
TOLERANCE = 1e-6


def _calendar(data: st.DataObject) -> BusinessCalendar:
    if data.draw(st.booleans(), label="default hours"):
        opens, closes = 540, 1020
    else:
        opens = data.draw(st.integers(0, 1439), label="opens")
        closes = data.draw(st.integers(opens + 1, 1440), label="closes")
    return BusinessCalendar(
        tz=data.draw(st.sampled_from([NY, LONDON, ZoneInfo("Australia/Lord_Howe")]), label="tz"),
        opens=opens,
        closes=closes,
        days=data.draw(st.frozensets(st.integers(0, 6), min_size=1), label="days"),
        holidays=data.draw(
            st.frozensets(st.dates(date(2025, 1, 1), date(2027, 12, 31)), max_size=20),
            label="holidays",
        ),
    )


@given(st.data(), INSTANTS, INSTANTS)
def test_business_time_never_exceeds_wall_time(
    data: st.DataObject, a: datetime, b: datetime
) -> None:
    cal = _calendar(data)
    wall = (b - a).total_seconds()
    got = cal.business_seconds(a, b)
    assert 0 <= got <= max(0.0, wall) + TOLERANCE


@given(st.data(), st.lists(INSTANTS, min_size=3, max_size=3))
def test_additive_over_a_split_point(data: st.DataObject, instants: list[datetime]) -> None:
    cal = _calendar(data)
    a, m, c = sorted(instants)
    whole = cal.business_seconds(a, c)
    assert abs(whole - (cal.business_seconds(a, m) + cal.business_seconds(m, c))) <= TOLERANCE


@given(
    st.dates(date(2025, 1, 4), date(2027, 12, 25)).map(
        lambda d: d + timedelta(days=(5 - d.weekday()) % 7)  # the next Saturday
    ),
    st.integers(0, 48 * 3600 - 1),
    st.integers(0, 48 * 3600 - 1),
)
def test_zero_inside_a_weekend(saturday: date, x: int, y: int) -> None:
    midnight = datetime(saturday.year, saturday.month, saturday.day, tzinfo=NY)
    # Elapsed seconds from Saturday 00:00, clamped to Monday 00:00 (a DST weekend lasts 47 h).
    monday = datetime.combine(saturday + timedelta(days=2), datetime.min.time(), tzinfo=NY)
    a = min(midnight + timedelta(seconds=min(x, y)), monday)
    b = min(midnight + timedelta(seconds=max(x, y)), monday)
    assert CAL.business_seconds(a, b) == 0.0


@given(st.data(), INSTANTS, st.floats(0, 1))
def test_add_business_seconds_inverts_business_seconds(
    data: st.DataObject, start: datetime, fraction: float
) -> None:
    cal = _calendar(data)
    # Up to a year's worth of this calendar's business time, however sparse the calendar is.
    seconds = fraction * cal.business_seconds(start, start + timedelta(days=366))
    reached = cal.add_business_seconds(start, seconds)
    assert reached >= start
    assert abs(cal.business_seconds(start, reached) - seconds) <= TOLERANCE


@given(st.data(), INSTANTS, INSTANTS)
def test_add_business_seconds_reaches_the_end_of_a_span(
    data: st.DataObject, a: datetime, b: datetime
) -> None:
    cal = _calendar(data)
    a, b = min(a, b), max(a, b)
    reached = cal.add_business_seconds(a, cal.business_seconds(a, b))
    # The earliest instant with that much business time: never after b, and no business time
    # left between it and b.
    assert reached <= b
    assert cal.business_seconds(reached, b) == 0.0
