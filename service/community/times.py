"""Dates and periods shared by the community-life endpoints."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from service.common.problems import Problem

#: Weeks, months and years are counted on the community's calendar: China Standard Time, UTC+8
#: all year (no daylight saving), so a fixed offset is exact and needs no time-zone database.
LOCAL_TZ = timezone(timedelta(hours=8), "CST")
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def local_date(at: datetime) -> date:
    return at.astimezone(LOCAL_TZ).date()


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def month_key(at: datetime) -> str:
    """``2026-11`` on the local calendar."""
    return at.astimezone(LOCAL_TZ).strftime("%Y-%m")


def parse_time(value: str | None, field: str, default: datetime) -> datetime:
    """An ISO 8601 date or datetime query parameter (naive: UTC), bounded to 2000-2200."""
    if value is None:
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Problem(422, f"{field} must be an ISO 8601 date or datetime", field=field) from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if not _EARLIEST <= parsed <= _LATEST:
        raise Problem(422, f"{field} must lie between 2000 and 2200", field=field)
    return parsed


def iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None
