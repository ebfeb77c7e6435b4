"""Building rotations, the duty-holder's dispute log and property-management ratings."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.orm import Base, UtcDateTime, enum_type


class BuildingRotation(Base):
    """A building's chair (楼栋主席) and the volunteers who take the duty week by week."""

    __tablename__ = "building_rotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"), unique=True)
    chair_volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("volunteers.id", ondelete="SET NULL"))
    #: The Monday of the week the first member holds the duty; then one week each, in order.
    starts_on: Mapped[date] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(100))

    members: Mapped[list[RotationMember]] = relationship(
        back_populates="rotation", cascade="all, delete-orphan", order_by="RotationMember.position"
    )


class RotationMember(Base):
    __tablename__ = "rotation_members"

    rotation_id: Mapped[int] = mapped_column(ForeignKey("building_rotations.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"), index=True)

    rotation: Mapped[BuildingRotation] = relationship(back_populates="members")


class DisputeOutcome(StrEnum):
    SETTLED = "settled"  # 调解成功
    REFERRED = "referred"  # 上报/转办
    PENDING = "pending"  # 跟进中


class DisputeLog(Base):
    """A neighbour dispute the week's duty-holder handled (邻里纠纷)."""

    __tablename__ = "building_disputes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"))
    week_start: Mapped[date] = mapped_column(Date, index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    summary: Mapped[str] = mapped_column(Text)
    outcome: Mapped[DisputeOutcome] = mapped_column(enum_type(DisputeOutcome))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"))


class PropertyRating(Base):
    """The week's duty-holder's rating of the property-management service (物业服务质量评价), 1-5."""

    __tablename__ = "property_ratings"
    __table_args__ = (UniqueConstraint("building_id", "week_start", name="uq_property_ratings_building_week"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"), index=True)
    compound_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"))
    week_start: Mapped[date] = mapped_column(Date, index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
