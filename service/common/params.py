"""Query parameters shared by several endpoints, validated with errors that name the field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query

from geo.bbox import BBox, parse_bbox
from geo.coords import CoordType, checked_to_wgs84

#: Ids are 32-bit integers on both backends; larger numbers can name nothing and get a 422.
MAX_DB_ID = 2**31 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="an id")]
#: List offsets: beyond this no table reaches, and the databases' integer limits are never hit (422).
MAX_OFFSET = 10**9
OffsetParam = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")]


def bbox_param(
    bbox: Annotated[
        str | None,
        Query(
            description="minlon,minlat,maxlon,maxlat in WGS84 (RFC 7946 order)",
            examples=["117.74,24.61,117.77,24.63"],
            max_length=200,
        ),
    ] = None,
) -> BBox | None:
    return None if bbox is None else parse_bbox(bbox)


BBoxParam = Annotated[BBox | None, Depends(bbox_param)]


@dataclass(frozen=True)
class PointInput:
    """A point as the client sent it, and the same point in WGS84."""

    raw_lon: float
    raw_lat: float
    coord_type: CoordType
    lon: float
    lat: float


def point_param(
    lon: Annotated[float, Query(description="longitude in the declared coord_type", allow_inf_nan=False)],
    lat: Annotated[float, Query(description="latitude in the declared coord_type", allow_inf_nan=False)],
    coord_type: Annotated[
        CoordType, Query(description="wgs84 (GPS), gcj02 (Amap, Tencent, WeChat maps) or bd09 (Baidu)")
    ] = CoordType.WGS84,
) -> PointInput:
    return make_point(lon, lat, coord_type)


def make_point(lon: float, lat: float, coord_type: CoordType) -> PointInput:
    """Validate a declared point and convert it to WGS84 (raises GeoInputError naming the field)."""
    wlon, wlat = checked_to_wgs84(lon, lat, coord_type)
    return PointInput(lon, lat, CoordType(coord_type), wlon, wlat)


PointParam = Annotated[PointInput, Depends(point_param)]
