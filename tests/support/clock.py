"""A clock tests can move: real time plus an offset, or frozen at an instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class TestClock:
    __test__ = False  # not a test class

    def __init__(self) -> None:
        self.offset = timedelta()
        self.frozen: datetime | None = None

    def __call__(self) -> datetime:
        return (self.frozen or datetime.now(UTC)) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta

    def reset(self) -> None:
        self.offset = timedelta()
        self.frozen = None
