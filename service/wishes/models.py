"""Micro-wishes and mutual-aid projects.

A **wish** is a need (tutoring, shopping for an elder, a small repair) posted by a resident or by a
grid worker for them; a **project** is a standing mutual-aid offer the community lists (an
after-school class, a free haircut day) that a volunteer takes on. Both run the same lifecycle:
open → claimed → fulfilled → confirmed (by the poster), with release, cancel and claim expiry.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.orm import Base, RefMixin, UtcDateTime, enum_type, utcnow


class WishKind(StrEnum):
    WISH = "wish"  # 微心愿: a need
    PROJECT = "project"  # 互助项目: an offer of mutual aid


class WishStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    FULFILLED = "fulfilled"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


#: category -> (name_zh, name_en, service kind for points)
WISH_CATEGORIES: dict[str, tuple[str, str, str]] = {
    "tutoring": ("课业辅导", "Tutoring", "tutoring"),
    "shopping": ("代购跑腿", "Shopping and errands", "elder_care"),
    "repair": ("维修帮忙", "Small repairs", "repair"),
    "elder_care": ("助老陪伴", "Elder company and care", "elder_care"),
    "childcare": ("托育看护", "Childcare", "childcare"),
    "health": ("健康服务", "Health care", "health"),
    "legal": ("法律咨询", "Legal advice", "legal"),
    "culture": ("文体活动", "Culture and sport", "general"),
    "cleaning": ("清洁整理", "Cleaning and tidying", "sanitation"),
    "other": ("其他", "Other", "general"),
}


class Wish(Base, RefMixin):
    __tablename__ = "wishes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[WishKind] = mapped_column(enum_type(WishKind), default=WishKind.WISH)
    category: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[WishStatus] = mapped_column(enum_type(WishStatus), default=WishStatus.OPEN, index=True)
    #: Building level: the building's entrance when the point falls in a building, never a flat.
    location: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id", ondelete="SET NULL"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    #: The account that posted it and confirms it; None for wishes entered from paper lists,
    #: which a grid worker of the grid (or a dispatcher) confirms for the wisher.
    poster_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    #: The resident a staff member posted it for (staff see it; others never do).
    on_behalf_of: Mapped[str | None] = mapped_column(String(100))
    #: Expected effort, for the points the claimant earns on confirmation.
    hours: Mapped[float] = mapped_column(Float, default=1.0)
    claimant_volunteer_id: Mapped[int | None] = mapped_column(
        ForeignKey("volunteers.id", ondelete="SET NULL"), index=True
    )
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claim_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    claim_count: Mapped[int] = mapped_column(Integer, default=0)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    fulfil_note: Mapped[str | None] = mapped_column(Text)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    points_awarded: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative hook
