"""GeoJSON (RFC 7946) output: features from stored geometries, and schemas for the OpenAPI docs."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from geoalchemy2 import WKBElement
from geoalchemy2.shape import to_shape
from pydantic import BaseModel, Field
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

#: Coordinates are rounded to 7 decimals (about 1 cm), as RFC 7946 §11.2 recommends.
PRECISION = 7

P = TypeVar("P", bound=BaseModel)


class Geometry(BaseModel):
    """A GeoJSON geometry in WGS84 lon/lat."""

    type: Literal["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"]
    coordinates: Any = Field(description="Nested lon/lat arrays, per RFC 7946")


class Feature(BaseModel, Generic[P]):
    type: Literal["Feature"] = "Feature"
    id: int | str | None = None
    geometry: Geometry | None
    properties: P


class FeatureCollection(BaseModel, Generic[P]):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature[P]]


def shape_of(value: WKBElement | BaseGeometry | None) -> BaseGeometry | None:
    if value is None:
        return None
    return value if isinstance(value, BaseGeometry) else to_shape(value)


def _round(coords: Any) -> Any:
    if isinstance(coords, (int, float)):
        return round(float(coords), PRECISION)
    return [_round(c) for c in coords]


def geometry_dict(value: WKBElement | BaseGeometry | None) -> dict[str, Any] | None:
    """A stored geometry as a GeoJSON geometry dict with rounded coordinates."""
    geom = shape_of(value)
    if geom is None:
        return None
    m = mapping(geom)
    return {"type": m["type"], "coordinates": _round(m["coordinates"])}


def feature(id_: int | str | None, geom: WKBElement | BaseGeometry | None, properties: dict[str, Any]) -> dict:
    return {"type": "Feature", "id": id_, "geometry": geometry_dict(geom), "properties": properties}
