"""The one exception geo/ raises for bad input, so callers can name the offending field."""

from __future__ import annotations


class GeoInputError(ValueError):
    """Input that cannot be used: ``field`` names the parameter, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
