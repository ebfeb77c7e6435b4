"""Administrative areas, one table with a level, because every level is a named polygon with a parent."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.orm import Base, NamedMixin, RefMixin, UtcDateTime, VersionedMixin, enum_type


class AreaLevel(StrEnum):
    """The levels, top first: a city (市) is the top a deployment may load, a compound (小区) the bottom."""

    CITY = "city"  # 市
    DISTRICT = "district"  # 区/县
    TOWNSHIP = "township"  # 乡镇/街道
    COMMUNITY = "community"  # 社区
    COMPOUND = "compound"  # 小区

    @property
    def child(self) -> AreaLevel | None:
        order = list(AreaLevel)
        i = order.index(self)
        return order[i + 1] if i + 1 < len(order) else None


class Area(Base, NamedMixin, RefMixin, VersionedMixin):
    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[AreaLevel] = mapped_column(enum_type(AreaLevel), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True))
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    parent: Mapped[Area | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Area]] = relationship(back_populates="parent")
