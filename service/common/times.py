"""ISO 8601 times given by clients: one parser, so every endpoint reads them alike."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from service.common.errors import Invalid

#: Times a query may name: outside these no stored data lies, and the databases' limits are far.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def parse_iso(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 date or datetime (``Z`` or an offset; none means UTC; a date is its
    midnight UTC) as an aware datetime. Raises ValueError: each caller words its own refusal."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def time_param(value: str | None, field: str, default: datetime) -> datetime:
    """A date or datetime query parameter, bounded to 2000-2200 (Invalid naming ``field``)."""
    if value is None:
        return default
    try:
        parsed = parse_iso(value)
    except ValueError:
        raise Invalid(f"{field} must be an ISO 8601 date or datetime", field=field) from None
    if not EARLIEST <= parsed <= LATEST:
        raise Invalid(f"{field} must lie between 2000 and 2200", field=field)
    return parsed


class Period(BaseModel):
    """The period a report covers, as the ISO 8601 times it was asked for."""

    start: str
    end: str

    @classmethod
    def of(cls, start: datetime, end: datetime) -> Period:
        return cls(start=start.isoformat(), end=end.isoformat())
