"""Bounding boxes as clients send them: ``minlon,minlat,maxlon,maxlat`` in WGS84 (RFC 7946 order)."""

from __future__ import annotations

import math
from typing import NamedTuple

from shapely.geometry import Polygon, box

from geo.errors import GeoInputError


class BBox(NamedTuple):
    """A lon/lat box; ``min`` corners never exceed ``max`` corners (no antimeridian wrap)."""

    minlon: float
    minlat: float
    maxlon: float
    maxlat: float

    def polygon(self) -> Polygon:
        return box(self.minlon, self.minlat, self.maxlon, self.maxlat)

    def wkt(self) -> str:
        return self.polygon().wkt


def parse_bbox(text: str, *, field: str = "bbox") -> BBox:
    """Parse and validate a bbox string; raise GeoInputError naming ``field`` on any problem."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise GeoInputError(field, f"{field} must be four comma-separated numbers minlon,minlat,maxlon,maxlat")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise GeoInputError(field, f"{field} must contain only numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise GeoInputError(field, f"{field} must contain finite numbers (no NaN or Infinity)")
    minlon, minlat, maxlon, maxlat = values
    if not (-180 <= minlon <= 180 and -180 <= maxlon <= 180):
        raise GeoInputError(field, f"{field} longitudes must lie between -180 and 180")
    if not (-90 <= minlat <= 90 and -90 <= maxlat <= 90):
        raise GeoInputError(field, f"{field} latitudes must lie between -90 and 90")
    if minlon > maxlon or minlat > maxlat:
        raise GeoInputError(field, f"{field} minimum corner must not exceed the maximum corner")
    return BBox(minlon, minlat, maxlon, maxlat)
