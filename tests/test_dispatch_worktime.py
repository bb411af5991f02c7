"""Working-time arithmetic across the 2026 holidays, their make-up Saturdays, the lunch break and pauses."""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.errors import CalendarUnknown
from dispatch.worktime import (
    Beyond,
    NaturalTime,
    Span,
    WorkingTime,
    library_years,
    parse_dates,
    parse_hours,
)

TZ = ZoneInfo("Asia/Shanghai")
W = WorkingTime()
H = timedelta(hours=1)


def at(y, mo, d, h=0, mi=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


def test_the_installed_calendar_knows_2026():
    assert library_years()[1] >= 2026


def test_national_day_2026_is_skipped():
    # 30 Sep 16:00: 1.5 h that day, 1-7 Oct off, then 6.5 h on Thursday 8 Oct.
    assert W.add(at(2026, 9, 30, 16), 8 * H) == at(2026, 10, 8, 16)
    assert W.between(at(2026, 9, 30, 16), at(2026, 10, 8, 16)) == 8 * H
    for day in range(1, 8):
        assert not W.is_workday(date(2026, 10, day))


def test_make_up_saturday_after_national_day_counts_and_its_sunday_does_not():
    assert W.is_workday(date(2026, 10, 10)) and not W.is_workday(date(2026, 10, 11))
    # Fri 17:00-17:30, all of Saturday 10 Oct (调休), nothing on Sunday, Mon 08:30-09:00.
    assert W.between(at(2026, 10, 9, 17), at(2026, 10, 12, 9)) == 9 * H
    assert W.add(at(2026, 10, 9, 17), 4 * H) == at(2026, 10, 10, 12)


def test_spring_festival_2026_with_its_make_up_saturday():
    assert W.is_workday(date(2026, 2, 14))  # Saturday before the festival is a working day
    assert not W.is_workday(date(2026, 2, 17))  # 初一
    # Fri 13 Feb 16:00 + 4 h: 1.5 h on Friday, 2.5 h on the make-up Saturday.
    assert W.add(at(2026, 2, 13, 16), 4 * H) == at(2026, 2, 14, 11)
    # + 12 h: 1.5 + 8 by Saturday night, then 15-23 Feb off, then 2.5 h on Tuesday 24 Feb.
    assert W.add(at(2026, 2, 13, 16), 12 * H) == at(2026, 2, 24, 11)
    assert W.between(at(2026, 2, 14, 17), at(2026, 2, 24, 9)) == 1 * H


def test_lunch_break_is_not_working_time():
    assert W.add(at(2026, 11, 23, 11), 2 * H) == at(2026, 11, 23, 14)
    assert W.between(at(2026, 11, 23, 11, 30), at(2026, 11, 23, 13, 30)) == 1 * H
    assert W.between(at(2026, 11, 23, 12, 10), at(2026, 11, 23, 12, 50)) == timedelta(0)
    # A deadline that falls exactly at the end of the morning is 12:00, not 13:00.
    assert W.add(at(2026, 11, 23, 11), 1 * H) == at(2026, 11, 23, 12)


def test_a_clock_started_outside_working_hours_waits_for_the_next_working_minute():
    assert W.add(at(2026, 11, 21, 10), 1 * H) == at(2026, 11, 23, 9, 30)  # Saturday → Monday
    assert W.add(at(2026, 11, 23, 19), 1 * H) == at(2026, 11, 24, 9, 30)  # evening → next morning
    assert W.add(at(2026, 11, 23, 19), timedelta(0)) == at(2026, 11, 23, 19)


def test_pauses_stop_the_clock():
    pause = [Span(at(2026, 11, 23, 9), at(2026, 11, 23, 11))]
    assert W.add(at(2026, 11, 23, 8, 30), 2 * H, pause) == at(2026, 11, 23, 13, 30)
    assert W.between(at(2026, 11, 23, 8, 30), at(2026, 11, 23, 17, 30), pause) == 6 * H
    # Overlapping and unordered pauses are merged, not subtracted twice.
    pauses = [Span(at(2026, 11, 23, 10), at(2026, 11, 23, 11)), Span(at(2026, 11, 23, 9), at(2026, 11, 23, 10, 30))]
    assert W.between(at(2026, 11, 23, 8, 30), at(2026, 11, 23, 12), pauses) == timedelta(hours=1, minutes=30)


def test_natural_time_runs_through_nights_and_holidays_but_not_pauses():
    n = NaturalTime()
    assert n.add(at(2026, 9, 30, 23), 4 * H) == at(2026, 10, 1, 3)
    assert n.between(at(2026, 9, 30, 23), at(2026, 10, 1, 3)) == 4 * H
    pause = [Span(at(2026, 10, 1, 0), at(2026, 10, 1, 6))]
    assert n.add(at(2026, 9, 30, 23), 4 * H, pause) == at(2026, 10, 1, 9)
    assert n.between(at(2026, 9, 30, 23), at(2026, 10, 1, 9), pause) == 4 * H


def test_results_keep_the_starts_timezone_and_accept_other_offsets():
    start_utc = at(2026, 11, 23, 11).astimezone(ZoneInfo("UTC"))
    result = W.add(start_utc, 2 * H)
    assert result == at(2026, 11, 23, 14) and result.utcoffset() == timedelta(0)
    with pytest.raises(ValueError):
        W.add(datetime(2026, 11, 23, 9), H)


def test_daylight_saving_days_are_measured_in_real_time():
    berlin = ZoneInfo("Europe/Berlin")
    sunday = date(2026, 3, 29)  # clocks go forward at 02:00: the day has 23 hours
    w = WorkingTime(timezone="Europe/Berlin", hours=parse_hours("00:00-24:00"), extra_workdays=frozenset({sunday}))
    start = datetime(2026, 3, 29, 0, 0, tzinfo=berlin)
    assert w.between(start, datetime(2026, 3, 30, 0, 0, tzinfo=berlin)) == 23 * H
    assert w.add(start, 23 * H) == datetime(2026, 3, 30, 0, 0, tzinfo=berlin)


def test_beyond_the_librarys_years_approximates_by_default(caplog):
    first_unknown = library_years()[1] + 1
    if first_unknown != 2027:
        pytest.skip("the installed chinese-calendar already knows 2027")
    with caplog.at_level(logging.WARNING, logger="dispatch.worktime"):
        assert not W.is_workday(date(2027, 1, 1))  # 元旦, fixed by solar date
        assert W.is_workday(date(2027, 1, 4))  # a Monday
        assert not W.is_workday(date(2027, 1, 9))  # a Saturday
        assert not W.is_workday(date(2027, 10, 1))  # 国庆, fixed
        assert W.is_workday(date(2027, 5, 3))  # a Monday; whether it is 调休 cannot be known yet
    assert "2027" in caplog.text
    assert not W.covers(date(2027, 1, 4)) and W.covers(date(2026, 12, 31))
    # Thu 31 Dec 2026 16:00 + 4 h: 1.5 h, then Friday 1 Jan 2027 is skipped, then Monday 4 Jan.
    assert W.add(at(2026, 12, 31, 16), 4 * H) == at(2027, 1, 4, 11)


def test_beyond_the_librarys_years_can_refuse_or_be_configured():
    if library_years()[1] >= 2027:
        pytest.skip("the installed chinese-calendar already knows 2027")
    strict = WorkingTime(beyond_library=Beyond.ERROR)
    with pytest.raises(CalendarUnknown):
        strict.add(at(2026, 12, 31, 16), 4 * H)
    # A measurement that ends in 2026 never asks about 2027.
    assert strict.between(at(2026, 12, 31, 8, 30), at(2026, 12, 31, 23)) == 8 * H
    # A city enters next year's published schedule: the year is then known, Monday-Friday otherwise.
    configured = WorkingTime(
        beyond_library=Beyond.ERROR, extra_holidays=parse_dates("2027-01-01,2027-01-04"),
        extra_workdays=parse_dates("2027-01-09"),
    )
    assert configured.covers(date(2027, 6, 1)) and not configured.covers(date(2028, 1, 3))
    assert configured.add(at(2026, 12, 31, 16), 4 * H) == at(2027, 1, 5, 11)
    assert configured.is_workday(date(2027, 1, 9)) and not configured.is_workday(date(2027, 1, 10))
    with pytest.raises(CalendarUnknown):
        configured.is_workday(date(2028, 1, 3))


def test_configured_dates_override_the_library():
    local = WorkingTime(extra_holidays=parse_dates("2026-11-23"), extra_workdays=parse_dates("2026-11-22"))
    assert not local.is_workday(date(2026, 11, 23)) and local.is_workday(date(2026, 11, 22))
    with pytest.raises(ValueError):
        WorkingTime(extra_holidays=parse_dates("2026-11-23"), extra_workdays=parse_dates("2026-11-23"))


def test_parse_hours():
    assert parse_hours("08:30-12:00, 13:00-17:30") == ((time(8, 30), time(12)), (time(13), time(17, 30)))
    assert parse_hours("22:00-24:00") == ((time(22), None),)
    for bad in ("8-12", "12:00-08:00", "08:00-12:00,11:00-13:00", "25:00-26:00", "13:00-17:00,08:00-12:00", ""):
        with pytest.raises(ValueError):
            parse_hours(bad)
    with pytest.raises(ValueError):
        parse_dates("2026-13-01")


def test_from_settings_reads_the_configured_keys():
    from config import load_settings

    settings = load_settings({}, working_hours="09:00-12:00,14:00-18:00", calendar_beyond_library="error",
                             calendar_extra_holidays="2026-11-24")
    w = WorkingTime.from_settings(settings)
    assert w.hours == ((time(9), time(12)), (time(14), time(18)))
    assert w.beyond_library is Beyond.ERROR and not w.is_workday(date(2026, 11, 24))


# --- invariants --------------------------------------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 10, 31)).map(
    lambda d: d.replace(tzinfo=TZ, microsecond=0)
)
amounts = st.integers(min_value=0, max_value=60 * 80).map(lambda m: timedelta(minutes=m))


@settings(max_examples=200, deadline=None, database=None)
@given(instants, amounts)
def test_between_inverts_add(start, amount):
    end = W.add(start, amount)
    assert end >= start
    assert W.between(start, end) == amount


@settings(max_examples=100, deadline=None, database=None)
@given(instants, amounts, st.integers(min_value=0, max_value=72 * 60), st.integers(min_value=1, max_value=48 * 60))
def test_between_inverts_add_with_a_pause(start, amount, pause_offset, pause_length):
    pause = [Span(start + timedelta(minutes=pause_offset), start + timedelta(minutes=pause_offset + pause_length))]
    for rule in (W, NaturalTime()):
        end = rule.add(start, amount, pause)
        assert rule.between(start, end, pause) == amount
        assert end >= rule.add(start, amount)


@settings(max_examples=100, deadline=None, database=None)
@given(instants, amounts, amounts)
def test_between_is_additive(start, first, second):
    middle = start + first
    end = middle + second
    assert W.between(start, middle) + W.between(middle, end) == W.between(start, end)
    assert W.between(start, end) <= end - start
