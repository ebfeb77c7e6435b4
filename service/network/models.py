"""Street network tables. Edges are undirected for walking."""

from __future__ import annotations

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.orm import Base, RefMixin


class StreetNode(Base, RefMixin):
    __tablename__ = "street_nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))


class StreetEdge(Base, RefMixin):
    __tablename__ = "street_edges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    u: Mapped[int] = mapped_column(ForeignKey("street_nodes.id", ondelete="CASCADE"), index=True)
    v: Mapped[int] = mapped_column(ForeignKey("street_nodes.id", ondelete="CASCADE"), index=True)
    length_m: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(32), default="street")
    name_zh: Mapped[str | None] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    geom: Mapped[WKBElement] = mapped_column(Geometry("LINESTRING", srid=4326, spatial_index=True))
