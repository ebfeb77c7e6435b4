"""Key households and their visits.

Only the caretaker, the workers of the building's grid, dispatchers and admins may see a household
(``service.households.access``); every read is written to the audit log; maps get buildings, never
flats. The grid is always the building's current grid (no copy that a grid edit could leave stale).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.orm import Base, RefMixin, UtcDateTime, utcnow


class HouseholdKind(StrEnum):
    LONE_ELDERLY = "lone_elderly"  # 独居老人
    DISABLED = "disabled"  # 残疾户
    SERIOUSLY_ILL = "seriously_ill"  # 大病户
    LOW_INCOME = "low_income"  # 低保/困难户
    LEFT_BEHIND_CHILD = "left_behind_child"  # 留守儿童
    OTHER = "other"


class KeyHousehold(Base, RefMixin):
    __tablename__ = "key_households"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"), index=True)
    #: The flat, e.g. "2单元301": shown only to those who may see the household, never on a map.
    unit_label: Mapped[str | None] = mapped_column(String(40))
    head_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    members: Mapped[int] = mapped_column(Integer, default=1)
    notes: Mapped[str | None] = mapped_column(Text)
    #: The caretaker (包挂人): a grid worker or a volunteer (party member); their account, when they
    #: have one, sees and visits the household.
    caretaker_worker_id: Mapped[int | None] = mapped_column(ForeignKey("grid_workers.id", ondelete="SET NULL"))
    caretaker_volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("volunteers.id", ondelete="SET NULL"))
    #: Required visit frequency (每周至少上门1次: 7).
    visit_every_days: Mapped[int] = mapped_column(Integer, default=7)
    last_visit_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: The due instant an overdue event was published for, so each overdue spell is announced once.
    overdue_notified_due: Mapped[datetime | None] = mapped_column(UtcDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    visits: Mapped[list[HouseholdVisit]] = relationship(
        back_populates="household", order_by="HouseholdVisit.at.desc()", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative hook


class HouseholdVisit(Base):
    __tablename__ = "household_visits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("key_households.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    visitor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    visitor: Mapped[str] = mapped_column(String(100))
    notes: Mapped[str] = mapped_column(Text)
    #: Needs found: ``[{"description": ..., "category": ..., "request_id": ...}]``.
    needs: Mapped[list[dict]] = mapped_column(JSON, default=list)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    household: Mapped[KeyHousehold] = relationship(back_populates="visits")
