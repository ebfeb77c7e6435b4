"""FastAPI dependencies for settings, the clock and database sessions (``Annotated`` style)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from service.config import Settings
from service.db import Database


def app_settings(request: Request) -> Settings:
    """The settings the app was made with (``create_app``), not freshly read from the environment."""
    return request.app.state.settings


def get_database(request: Request) -> Database:
    return request.app.state.db


def get_clock(request: Request) -> Callable[[], datetime]:
    """The app's clock: ``datetime.now(UTC)`` in production, injectable in tests."""
    return request.app.state.clock


def read_session(db: Annotated[Database, Depends(get_database)]) -> Iterator[Session]:
    with db.reader() as session:
        yield session


def write_session(db: Annotated[Database, Depends(get_database)]) -> Iterator[Session]:
    """A session for a route that writes; the route commits, an exception rolls back."""
    with db.writer() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(app_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ClockDep = Annotated[Callable[[], datetime], Depends(get_clock)]
ReadSession = Annotated[Session, Depends(read_session)]
WriteSession = Annotated[Session, Depends(write_session)]
