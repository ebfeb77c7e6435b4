"""GeoJSON geometries sent by clients: checked, converted from GCJ-02/BD-09, as shapely objects."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo.coords import CoordType, to_wgs84
from service.common.problems import Problem

_TYPES = {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"}


def parse_geometry(
    value: Any, *, field: str, coord_type: CoordType = CoordType.WGS84, allowed: set[str] | None = None
) -> BaseGeometry:
    """A GeoJSON geometry dict as shapely, in WGS84; 422 naming ``field`` when it is not one."""
    if not isinstance(value, dict) or value.get("type") not in _TYPES or "coordinates" not in value:
        raise Problem(422, f"{field} must be a GeoJSON geometry with 'type' and 'coordinates'", field=field)
    if allowed and value["type"] not in allowed:
        raise Problem(422, f"{field} must be a {' or '.join(sorted(allowed))}, not a {value['type']}", field=field)
    try:
        geom = shape(value)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, shapely.errors.GEOSException) as exc:
        raise Problem(422, f"{field} has malformed coordinates ({exc})", field=field) from None
    xy = shapely.get_coordinates(geom)
    if not np.isfinite(xy).all():
        raise Problem(422, f"{field} has coordinates that are not finite numbers", field=field)
    if CoordType(coord_type) is not CoordType.WGS84:
        geom = shapely.transform(geom, lambda c: np.column_stack(to_wgs84(c[:, 0], c[:, 1], coord_type)))
    return geom
