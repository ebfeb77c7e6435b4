"""Named revision counters for data that derived caches depend on (the street network, grids…).

Caches (the in-memory walking graph, service circles) compare the stored revision with the one
they were built from; a writer bumps the counter in the same transaction as its change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.orm import Base, UtcDateTime, utcnow


class DataRevision(Base):
    __tablename__ = "data_revisions"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


def get_revision(session: Session, name: str) -> int:
    return session.scalar(select(DataRevision.revision).where(DataRevision.name == name)) or 0


def bump_revision(session: Session, name: str) -> int:
    """Increment (creating at 1) the counter ``name``; returns the new revision."""
    updated = cast(
        CursorResult[Any],
        session.execute(
            update(DataRevision)
            .where(DataRevision.name == name)
            .values(revision=DataRevision.revision + 1, changed_at=utcnow())
        ),
    )
    if updated.rowcount == 0:
        session.add(DataRevision(name=name, revision=1))
        session.flush()
        return 1
    return get_revision(session, name)
