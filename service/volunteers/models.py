"""Volunteers (志愿者)."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.orm import Base, NamedMixin, RefMixin, UtcDateTime, VersionedMixin


class Skill:
    """The skill vocabulary shared by volunteers and request categories."""

    ALL = (
        "plumbing",
        "electrical",
        "lift",
        "elder_care",
        "mediation",
        "legal",
        "sanitation",
        "first_aid",
        "epidemic_control",
        "tutoring",
        "childcare",
        "traffic",
        "general",
    )


class Volunteer(Base, NamedMixin, RefMixin, VersionedMixin):
    __tablename__ = "volunteers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    team_zh: Mapped[str | None] = mapped_column(String(200))
    team_en: Mapped[str | None] = mapped_column(String(200))
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    position: Mapped[WKBElement | None] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    position_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    #: The building the volunteer lives in (for the building's duty rotation). No foreign key: SQLite
    #: cannot add one to this table without rebuilding it, which SpatiaLite's geometry registration forbids.
    home_building_id: Mapped[int | None] = mapped_column(Integer)
