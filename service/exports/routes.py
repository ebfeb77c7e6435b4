"""``GET /api/v1/export``: layers for QGIS and spreadsheets (staff only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from service.auth.deps import require_roles
from service.auth.models import Role, User
from service.deps import ReadSession, SettingsDep
from service.exports.service import LAYERS, export, requested_layers

router = APIRouter(prefix="/api/v1", tags=["exports"])
#: The file types of an export; one GeoJSON layer is answered as a FeatureCollection, more as a zip.
_FILES = ("application/geopackage+sqlite3", "text/csv", "application/zip")
_GEOJSON = {
    "type": "object",
    "properties": {"type": {"const": "FeatureCollection"}, "features": {"type": "array", "items": {"type": "object"}}},
}
Staff = Annotated[User, Depends(require_roles(Role.PLANNER, Role.DISPATCHER, Role.ADMIN, Role.GRID_WORKER))]


@router.get(
    "/export",
    summary="Export layers as a GeoPackage (one layer each), GeoJSON or CSV with WKT",
    response_class=Response,
    responses={200: {"content": {**{t: {} for t in _FILES}, "application/geo+json": {"schema": _GEOJSON}}}},
)
def export_layers(
    session: ReadSession,
    settings: SettingsDep,
    _user: Staff,
    layers: Annotated[str, Query(max_length=200, description=f"comma-separated: {', '.join(LAYERS)}")] = "grids",
    format: Annotated[str, Query(description="gpkg, geojson or csv")] = "gpkg",
) -> Response:
    content, media_type, name = export(session, layers=requested_layers(layers), fmt=format, settings=settings)
    return Response(content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})
