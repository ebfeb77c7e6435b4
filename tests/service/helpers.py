"""Small helpers for API tests: shapes from GeoJSON, metric areas, problem+json checks."""

from __future__ import annotations

import httpx
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo.crs import LocalProjection

PROJ = LocalProjection.for_lonlat(117.755, 24.622)


def shapes(fc: dict) -> dict[int, BaseGeometry]:
    return {f["id"]: shape(f["geometry"]) for f in fc["features"]}


def area_m2(geom: BaseGeometry) -> float:
    return PROJ.to_metric(geom).area


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> dict:
    """The response is RFC 9457 problem+json with ``status``, naming ``field`` when given."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if field is not None:
        fields = [e.get("field") for e in body.get("errors", [])]
        assert field in fields, body
        assert field in body["detail"], body
    return body
