"""Working-time arithmetic on the Chinese calendar: add working time to an instant, measure it between two.

Two rules share one interface (`TimeRule`): `WorkingTime` counts only the configured office hours (default
08:30–12:00 and 13:00–17:30, wall-clock in the configured timezone) on working days, where weekends, public
holidays and the make-up working days (调休) come from the `chinese-calendar` package; `NaturalTime` counts
every minute (24/7) for urgent categories. Both skip pauses (approved extensions, 挂账).

Beyond the years the package knows (it ships one year ahead at best, updated each November after the State
Council publishes the next year's schedule), `WorkingTime` by default approximates: Monday–Friday work, less
the statutory holidays fixed by solar date (元旦 1 Jan, 劳动节 1–2 May, 国庆 1–3 Oct); the lunar holidays and
调休 cannot be known in advance. It logs that once per year. `beyond_library="error"` raises `CalendarUnknown`
instead, for cities that prefer a refusal to a guess. A city can add its own dates
(`extra_holidays`, `extra_workdays`), which win over the package; a year with any configured date counts as
known (the list is taken as that year's published schedule, Monday–Friday otherwise), which covers the gap
until the package is upgraded.
Instants must be timezone-aware; durations are `timedelta`, exact to the microsecond.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

import chinese_calendar

from dispatch.errors import CalendarUnknown

log = logging.getLogger(__name__)

DEFAULT_HOURS = "08:30-12:00,13:00-17:30"
# A search for working time that finds none in ten years is a configuration error, not a long weekend.
_MAX_DAYS = 3660


class Beyond(StrEnum):
    """What to do for a day outside the holiday package's years."""

    APPROXIMATE = "approximate"  # Monday–Friday less the fixed-date statutory holidays; logged once per year
    ERROR = "error"  # raise CalendarUnknown


# Statutory holidays with a fixed solar date (全国年节及纪念日放假办法, as amended for 2025): the only ones a
# year without published data can be sure of.
FIXED_HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})


@dataclass(frozen=True)
class Span:
    """A closed-open interval of instants [start, end); used for pauses."""

    start: datetime
    end: datetime


class TimeRule(Protocol):
    def add(self, start: datetime, amount: timedelta, pauses: Sequence[Span] = ()) -> datetime:
        """The instant at which `amount` of counted time has passed since `start`."""

    def between(self, start: datetime, end: datetime, pauses: Sequence[Span] = ()) -> timedelta:
        """Counted time in [start, end); zero when end <= start."""


def parse_hours(text: str) -> tuple[tuple[time, time | None], ...]:
    """'08:30-12:00,13:00-17:30' → ((08:30, 12:00), (13:00, 17:30)). '24:00' as an end means midnight
    (stored as None). Intervals must be ordered and must not overlap."""
    intervals: list[tuple[time, time | None]] = []
    for part in (p.strip() for p in text.split(",")):
        m = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", part)
        if not m:
            raise ValueError(f"working hours {text!r}: {part!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
            raise ValueError(f"working hours {text!r}: {part!r} is not a time of day")
        start, end = time(h1, m1), (None if h2 == 24 else time(h2, m2))
        if end is not None and end <= start:
            raise ValueError(f"working hours {text!r}: {part!r} ends before it starts")
        if intervals and (intervals[-1][1] is None or intervals[-1][1] > start):
            raise ValueError(f"working hours {text!r}: intervals must be in order and must not overlap")
        intervals.append((start, end))
    return tuple(intervals)


def parse_dates(text: str) -> frozenset[date]:
    """'2027-01-01,2027-02-06' → dates; blank → none."""
    out = set()
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                out.add(date.fromisoformat(part))
            except ValueError:
                raise ValueError(f"{part!r} is not a date (YYYY-MM-DD)") from None
    return frozenset(out)


def library_years() -> tuple[int, int]:
    """First and last year the installed chinese-calendar knows."""
    years = [d.year for d in chinese_calendar.holidays]
    return min(years), max(years)


@lru_cache(maxsize=4096)
def _library_workday(day: date) -> bool | None:
    """The package's answer, or None for a year it does not know."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return None


@lru_cache(maxsize=64)
def _note_fallback(year: int) -> None:
    low, high = library_years()
    log.warning(
        "chinese-calendar knows %d-%d only: working days of %d are approximated (Monday-Friday less fixed-date "
        "holidays) until the package is upgraded or the year's holidays are configured", low, high, year,
    )


def _utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError(f"instant {dt!r} has no timezone")
    return dt.astimezone(UTC)


def _merged(pauses: Iterable[Span]) -> list[tuple[datetime, datetime]]:
    spans = sorted((_utc(p.start), _utc(p.end)) for p in pauses if p.end > p.start)
    out: list[tuple[datetime, datetime]] = []
    for s, e in spans:
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _minus(segments: Iterable[tuple[datetime, datetime | None]], pauses: list[tuple[datetime, datetime]]):
    """Cut the (sorted, merged) pauses out of ordered segments (end None: unbounded), in order."""
    for s, e in segments:
        for ps, pe in pauses:
            if pe <= s or (e is not None and ps >= e):
                continue
            if ps > s:
                yield s, ps
            s = pe
            if e is not None and s >= e:
                break
        else:
            yield s, e


def _add(segments, amount: timedelta, start: datetime, pauses: Sequence[Span]) -> datetime:
    if amount < timedelta(0):
        raise ValueError("cannot add a negative duration")
    if amount == timedelta(0):
        return start
    left = amount
    for s, e in _minus(segments, _merged(pauses)):
        if e is None or e - s >= left:
            return (s + left).astimezone(start.tzinfo)
        left -= e - s
    raise AssertionError("segments ended before the amount was used")


def _between(segments, end: datetime, pauses: Sequence[Span]) -> timedelta:
    end = _utc(end)
    total = timedelta(0)
    for s, e in _minus(segments, _merged(pauses)):
        if s >= end:
            break
        total += min(end, e if e is not None else end) - s
    return total


@dataclass(frozen=True)
class NaturalTime:
    """24/7: every minute counts (urgent categories, 加急 tickets)."""

    def add(self, start: datetime, amount: timedelta, pauses: Sequence[Span] = ()) -> datetime:
        return _add([(_utc(start), None)], amount, start, pauses)

    def between(self, start: datetime, end: datetime, pauses: Sequence[Span] = ()) -> timedelta:
        if end <= start:
            return timedelta(0)
        return _between([(_utc(start), None)], end, pauses)


@dataclass(frozen=True)
class WorkingTime:
    """Office hours on Chinese working days. See the module docstring for the calendar's limits."""

    timezone: str = "Asia/Shanghai"
    hours: tuple[tuple[time, time | None], ...] = field(default_factory=lambda: parse_hours(DEFAULT_HOURS))
    beyond_library: Beyond = Beyond.APPROXIMATE
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not self.hours:
            raise ValueError("working hours must have at least one interval")
        overlap = self.extra_holidays & self.extra_workdays
        if overlap:
            raise ValueError(f"dates both extra holidays and extra workdays: {sorted(overlap)}")
        object.__setattr__(self, "beyond_library", Beyond(self.beyond_library))
        ZoneInfo(self.timezone)  # fail now on a bad name, not at the first deadline

    @classmethod
    def from_settings(cls, settings) -> WorkingTime:
        """From the `working_hours`, `calendar_*` and `timezone` settings; a bad value names its key."""
        values = {}
        for key, parse in (("working_hours", parse_hours), ("calendar_extra_holidays", parse_dates),
                           ("calendar_extra_workdays", parse_dates)):
            try:
                values[key] = parse(getattr(settings, key))
            except ValueError as exc:
                raise ValueError(f"setting {key!r}: {exc}") from None
        return cls(
            timezone=settings.timezone, hours=values["working_hours"],
            beyond_library=Beyond(settings.calendar_beyond_library),
            extra_holidays=values["calendar_extra_holidays"], extra_workdays=values["calendar_extra_workdays"],
        )

    @property
    def configured_years(self) -> frozenset[int]:
        return frozenset(d.year for d in self.extra_holidays | self.extra_workdays)

    def covers(self, day: date) -> bool:
        """Whether this day's status is known (package or configured year) rather than approximated:
        deadlines that cross an uncovered day may move when the package is upgraded."""
        return day.year in self.configured_years or _library_workday(day) is not None

    def is_workday(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        known = _library_workday(day)
        if known is not None:
            return known
        if day.year in self.configured_years:
            return day.weekday() < 5
        if self.beyond_library is Beyond.ERROR:
            low, high = library_years()
            raise CalendarUnknown(
                f"no holiday data for {day.isoformat()}: chinese-calendar knows {low}-{high}; upgrade it or "
                "configure calendar_extra_holidays / calendar_extra_workdays"
            )
        _note_fallback(day.year)
        return day.weekday() < 5 and (day.month, day.day) not in FIXED_HOLIDAYS

    def _day_segments(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        return _day_segments(self, day)

    def _segments(self, start: datetime, until: datetime | None = None) -> Iterator[tuple[datetime, datetime]]:
        """Working segments from `start` on, in UTC; up to the local day of `until` when given, so that a
        measurement never asks the calendar about a day it does not need."""
        tz = ZoneInfo(self.timezone)
        begin = _utc(start)
        day = begin.astimezone(tz).date()
        last = None if until is None else _utc(until).astimezone(tz).date()
        for offset in range(_MAX_DAYS):
            current = day + timedelta(days=offset)
            if last is not None and current > last:
                return
            for s, e in self._day_segments(current):
                if e > begin:
                    yield max(s, begin), e
        raise ValueError(f"no working time within {_MAX_DAYS} days of {start.isoformat()}: check the calendar")

    def add(self, start: datetime, amount: timedelta, pauses: Sequence[Span] = ()) -> datetime:
        return _add(self._segments(start), amount, start, pauses)

    def between(self, start: datetime, end: datetime, pauses: Sequence[Span] = ()) -> timedelta:
        if end <= start:
            return timedelta(0)
        return _between(self._segments(start, end), end, pauses)


@lru_cache(maxsize=16384)
def _day_segments(rule: WorkingTime, day: date) -> tuple[tuple[datetime, datetime], ...]:
    """A day's working segments in UTC, remembered: every clock reading walks the days since its start, and
    the deadline pass reads every open ticket's clocks (a year of days for a few rules is a small table)."""
    if not rule.is_workday(day):
        return ()
    tz = ZoneInfo(rule.timezone)
    out = []
    for start, end in rule.hours:
        s = datetime.combine(day, start, tz)
        e = datetime.combine(day + timedelta(days=1), time(0), tz) if end is None else datetime.combine(day, end, tz)
        out.append((_utc(s), _utc(e)))
    return tuple(out)
