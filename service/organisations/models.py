"""Party organisations (党支部/党小组) and departments (结对共建 county units)."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import JSON, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.areas.models import Area
from service.orm import Base, NamedMixin, RefMixin, enum_type


class PartyOrgKind(StrEnum):
    BRANCH = "branch"  # 党支部
    GROUP = "group"  # 党小组


class PartyOrg(Base, NamedMixin, RefMixin):
    __tablename__ = "party_orgs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[PartyOrgKind] = mapped_column(enum_type(PartyOrgKind))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("party_orgs.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)

    parent: Mapped[PartyOrg | None] = relationship(remote_side=[id])
    community: Mapped[Area | None] = relationship()


department_pairings = Table(
    "department_pairings",
    Base.metadata,
    Column("department_id", ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True),
    Column("community_id", ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True),
)


class Department(Base, NamedMixin, RefMixin):
    """A county unit that accepts dispatched cases and is paired with communities."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    handles: Mapped[list[str]] = mapped_column(JSON, default=list)

    communities: Mapped[list[Area]] = relationship(secondary=department_pairings)
