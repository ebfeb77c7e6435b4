"""Grids and grid workers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.areas.models import Area
from service.organisations.models import PartyOrg
from service.orm import Base, NamedMixin, RefMixin, TimestampMixin, UtcDateTime, VersionedMixin, enum_type


class GridLayer(StrEnum):
    """Whose grid this is. Departments keep their own grids; the merged 一张网 is the default."""

    ONE_NETWORK = "one_network"  # 一张网 (多网融合)
    PARTY_BUILDING = "party_building"  # 党建网格
    COMPREHENSIVE_GOVERNANCE = "comprehensive_governance"  # 综治网格
    HEALTH = "health"  # 卫健网格
    URBAN_MANAGEMENT = "urban_management"  # 城管网格


grid_assignments = Table(
    "grid_assignments",
    Base.metadata,
    Column("grid_id", ForeignKey("grids.id", ondelete="CASCADE"), primary_key=True),
    Column("worker_id", ForeignKey("grid_workers.id", ondelete="CASCADE"), primary_key=True),
)


class Grid(Base, NamedMixin, RefMixin, TimestampMixin):
    __tablename__ = "grids"
    __table_args__ = (UniqueConstraint("layer", "code", name="uq_grids_layer_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), index=True)
    layer: Mapped[GridLayer] = mapped_column(enum_type(GridLayer), default=GridLayer.ONE_NETWORK, index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    party_org_id: Mapped[int | None] = mapped_column(ForeignKey("party_orgs.id"), index=True)
    #: Incremented by every boundary change; sent as the ETag for optimistic locking.
    version: Mapped[int] = mapped_column(Integer, default=1)
    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True))
    #: Set when the grid is merged away or replaced; its history stays for as-of queries.
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)

    community: Mapped[Area] = relationship()
    party_org: Mapped[PartyOrg | None] = relationship()
    workers: Mapped[list[GridWorker]] = relationship(secondary=grid_assignments, back_populates="grids")


class GridChange(StrEnum):
    CREATE = "create"
    EDIT = "edit"
    SPLIT = "split"
    MERGE = "merge"
    REVERT = "revert"
    RETIRE = "retire"


class GridVersion(Base):
    """One accepted boundary of a grid, valid from ``valid_from`` until ``valid_to`` (None: current)."""

    __tablename__ = "grid_versions"
    __table_args__ = (UniqueConstraint("grid_id", "version", name="uq_grid_versions_grid_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True))
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    valid_to: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    change: Mapped[GridChange] = mapped_column(enum_type(GridChange))
    changed_by: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)


class WorkerRole(StrEnum):
    LEAD = "lead"
    MEMBER = "member"


class GridWorker(Base, NamedMixin, RefMixin, VersionedMixin):
    """A grid worker (网格员); in our practice a party member, often a branch secretary."""

    __tablename__ = "grid_workers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    role: Mapped[WorkerRole] = mapped_column(enum_type(WorkerRole), default=WorkerRole.MEMBER)
    party_member: Mapped[bool] = mapped_column(Boolean, default=True)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    party_org_id: Mapped[int | None] = mapped_column(ForeignKey("party_orgs.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)

    grids: Mapped[list[Grid]] = relationship(secondary=grid_assignments, back_populates="workers")
    party_org: Mapped[PartyOrg | None] = relationship()
