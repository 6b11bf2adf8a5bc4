"""Clinic calendar arithmetic: business days and site-local wall-clock slots emitted in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SATURDAY = 5


def is_business_day(day: date) -> bool:
    """Clinics book treatment days Monday to Friday (holidays are not modelled yet)."""
    return day.weekday() < SATURDAY


def roll_to_business_day(day: date) -> date:
    """`day` itself if it is a business day, else the following Monday."""
    while not is_business_day(day):
        day += timedelta(days=1)
    return day


def add_business_days(day: date, count: int) -> date:
    """The `count`-th business day after `day` (`day` itself is not counted)."""
    for _ in range(count):
        day = roll_to_business_day(day + timedelta(days=1))
    return day


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    """The calendar date of `instant` on the site's wall clock."""
    return instant.astimezone(zone).date()


def local_slot(day: date, hour: int, minutes: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """A slot starting at `hour`:00 site-local on `day`, as aware UTC (start, end).

    The length is added in UTC, so a slot keeps its real duration even on a DST-change day.
    """
    starts = datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)
    return starts, starts + timedelta(minutes=minutes)
