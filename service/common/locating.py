"""Point location against a polygon table: the database narrows, ``geo.locate`` decides.

The index-assisted query fetches only the polygons near the point; the rules for boundaries and
outside coverage live in one pure place (``geo.locate.PolygonIndex``), so the HTTP endpoint, request
intake and the bulk benchmark all give the same answer on both backends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar, cast

from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from geo.crs import metres_to_degrees
from geo.locate import Located, PolygonIndex
from service.common.spatial import box_overlaps

T = TypeVar("T")


def locate_row(
    session: Session,
    model: type[T],
    column: InstrumentedAttribute,
    *,
    lon: float,
    lat: float,
    max_distance_m: float = 0.0,
    where: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[ColumnElement] = (),
) -> tuple[T | None, Located]:
    """The row of ``model`` whose polygon holds (lon, lat), by the rules of ``geo.locate``."""
    reach = metres_to_degrees(max(max_distance_m, 1.0), lat) * 1.5
    frame = Point(lon, lat).buffer(reach, quad_segs=2).envelope
    rows = session.scalars(select(model).where(box_overlaps(session, column, frame), *where).order_by(*order_by)).all()
    if not rows:
        return None, Located(None, True, None)
    index = PolygonIndex(list(range(len(rows))), [to_shape(getattr(r, column.key)) for r in rows])
    found = index.locate(lon, lat, max_distance_m=max_distance_m)
    return (rows[cast(int, found.key)] if found.key is not None else None), found
