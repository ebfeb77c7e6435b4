"""Dates and periods shared by the community-life endpoints."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from service.common.errors import Invalid
from service.common.times import time_param as parse_time

#: Weeks, months and years are counted on the community's calendar: China Standard Time, UTC+8
#: all year (no daylight saving), so a fixed offset is exact and needs no time-zone database.
LOCAL_TZ = timezone(timedelta(hours=8), "CST")


def local_date(at: datetime) -> date:
    return at.astimezone(LOCAL_TZ).date()


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def month_key(at: datetime) -> str:
    """``2026-11`` on the local calendar."""
    return at.astimezone(LOCAL_TZ).strftime("%Y-%m")


def period(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    """The ``start``/``end`` query parameters as a half-open period: ``end`` defaults to now, ``start``
    to a year before ``end``; Invalid naming ``start`` unless start comes first."""
    end_at = parse_time(end, "end", now + timedelta(seconds=1))
    start_at = parse_time(start, "start", end_at - timedelta(days=365))
    if start_at >= end_at:
        raise Invalid("start must be before end", field="start")
    return start_at, end_at


def iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None
