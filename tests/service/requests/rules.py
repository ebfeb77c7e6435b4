"""Helpers of the rule tests below HTTP (test_rules_*.py): a session on the shared test database
that is rolled back after the test, the demo's accounts, and a fresh case raised by intake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth.models import User
from service.config import Settings
from service.requests.intake import NewRequest, create_request
from service.requests.models import Channel, ServiceRequest

#: A point inside the demo's first grid (as the HTTP tests' BODY).
LON, LAT = 117.7552, 24.6221


def rolled_back(backend) -> Iterator[Session]:
    """A writer session whose work is never committed: each test leaves the database as it was
    (each test module's ``session`` fixture yields from it)."""
    with backend.db.writer() as s:
        try:
            yield s
        finally:
            s.rollback()


def account(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None, username
    return user


def raise_case(
    session: Session, settings: Settings, now: datetime, *, category: str = "noise", **fields
) -> ServiceRequest:
    data = NewRequest(
        category=category,
        description=fields.pop("description", "楼上装修噪音"),
        channel=fields.pop("channel", Channel.WECHAT),
        lon=fields.pop("lon", LON),
        lat=fields.pop("lat", LAT),
        **fields,
    )
    return create_request(session, data=data, settings=settings, now=now)
