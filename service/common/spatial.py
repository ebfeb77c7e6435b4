"""Spatial query helpers that read the same on SpatiaLite and PostGIS.

PostGIS uses its GiST index on its own when a query has ``ST_Intersects``. SpatiaLite never uses its
R*Tree unless the query asks the ``SpatialIndex`` virtual table for candidate rowids, so for SQLite
we add that prefilter. Both then apply the exact ``ST_Intersects`` test.
"""

from __future__ import annotations

from typing import Any

from geoalchemy2 import Geometry
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, Select, and_, func, literal, literal_column, select, table
from sqlalchemy.orm import InstrumentedAttribute, Session

from service.db import is_sqlite

_SPATIAL_INDEX = table("SpatialIndex")


def geom_literal(geom: BaseGeometry, srid: int = 4326) -> ColumnElement:
    """A geometry value for a query, from shapely (WKT, which both dialects parse)."""
    return func.ST_GeomFromText(literal(geom.wkt), srid, type_=Geometry(srid=srid))


def _spatialite_candidates(column: InstrumentedAttribute, frame: BaseGeometry) -> ColumnElement[bool]:
    """Primary keys whose index box meets ``frame``'s box, from SpatiaLite's ``SpatialIndex``."""
    minx, miny, maxx, maxy = frame.bounds
    tbl = column.class_.__table__
    rowids: Select[tuple[Any]] = (
        select(literal_column("rowid"))
        .select_from(_SPATIAL_INDEX)
        .where(
            literal_column("f_table_name") == tbl.name,
            literal_column("f_geometry_column") == column.key,
            literal_column("search_frame") == func.BuildMbr(minx, miny, maxx, maxy, 4326),
        )
    )
    pk = next(iter(tbl.primary_key.columns))
    return pk.in_(rowids)


def box_overlaps(session: Session, column: InstrumentedAttribute, frame: BaseGeometry) -> ColumnElement[bool]:
    """Index-only prefilter: rows whose bounding box meets ``frame``'s bounding box."""
    if is_sqlite(session):
        return _spatialite_candidates(column, frame)
    minx, miny, maxx, maxy = frame.bounds
    return column.op("&&")(func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326))


def intersects(session: Session, column: InstrumentedAttribute, geom: BaseGeometry) -> ColumnElement[bool]:
    """``column`` intersects ``geom``, index-assisted on both backends."""
    exact = func.ST_Intersects(column, geom_literal(geom))
    if is_sqlite(session):
        return and_(_spatialite_candidates(column, geom), exact == 1)
    return exact
