"""Service teams (专业服务队) with members, and double registrations (双报到) with their yearly duties."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.orm import Base, NamedMixin, RefMixin, UtcDateTime, enum_type, utcnow


class TeamRole(StrEnum):
    LEADER = "leader"
    MEMBER = "member"


class Team(Base, NamedMixin, RefMixin):
    """A professional service team (elder mediation, legal service, poverty relief, tutoring…)."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: What the team does, e.g. ``mediation``, ``legal``, ``poverty_relief`` (free vocabulary).
    kind: Mapped[str] = mapped_column(String(40), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    #: Set when the team serves one grid rather than the whole community.
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    members: Mapped[list[TeamMember]] = relationship(
        back_populates="team", cascade="all, delete-orphan", order_by="TeamMember.volunteer_id"
    )


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[TeamRole] = mapped_column(enum_type(TeamRole), default=TeamRole.MEMBER)
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    team: Mapped[Team] = relationship(back_populates="members")


class DutyKind(StrEnum):
    """The yearly duties of a registered in-service party member ("4+1": at least one of each)."""

    PARTY_MEETING = "party_meeting"  # 参加一次社区党组织活动
    CADRE_TALK = "cadre_talk"  # 与社区干部谈一次心
    SURVEY = "survey"  # 参与一次调研走访
    VOLUNTEER_DAY = "volunteer_day"  # 参加一次志愿服务日


class PartyRegistration(Base, NamedMixin, RefMixin):
    """An in-service party member registered with the community where they live (双报到)."""

    __tablename__ = "party_registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Where they work (their own party organisation reports to the county, not to the community).
    work_unit_zh: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    community_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    party_org_id: Mapped[int | None] = mapped_column(ForeignKey("party_orgs.id", ondelete="SET NULL"))
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("volunteers.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    registered_on: Mapped[date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    duties: Mapped[list[RegistrationDuty]] = relationship(
        back_populates="registration", cascade="all, delete-orphan", order_by="RegistrationDuty.done_on"
    )


class RegistrationDuty(Base):
    """One duty done by a registered party member, recorded by community staff."""

    __tablename__ = "registration_duties"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("party_registrations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[DutyKind] = mapped_column(enum_type(DutyKind))
    done_on: Mapped[date] = mapped_column(Date, index=True)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    registration: Mapped[PartyRegistration] = relationship(back_populates="duties")
