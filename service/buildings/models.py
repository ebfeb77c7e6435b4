"""Building footprints."""

from __future__ import annotations

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.orm import Base, RefMixin, VersionedMixin


class Building(Base, RefMixin, VersionedMixin):
    __tablename__ = "buildings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(40))
    name_zh: Mapped[str | None] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    compound_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    #: The grid the building belongs to, kept so edits can report which households change grid.
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id", ondelete="SET NULL"), index=True)
    floors: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer, default=0)
    residents: Mapped[int] = mapped_column(Integer, default=0)
    #: The building chair (楼栋长/楼栋主席): personal data, shown to staff only.
    chair_name: Mapped[str | None] = mapped_column(String(100))
    chair_phone: Mapped[str | None] = mapped_column(String(32))
    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True))
    entrance: Mapped[WKBElement | None] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
