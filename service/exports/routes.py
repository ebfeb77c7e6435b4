"""``GET /api/v1/export``: layers for QGIS and spreadsheets (staff only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from service.auth.deps import require_roles
from service.auth.models import Role, User
from service.common.problems import Problem
from service.deps import ReadSession, SettingsDep
from service.exports.service import FORMATS, LAYERS, export

router = APIRouter(prefix="/api/v1", tags=["exports"])
Staff = Annotated[User, Depends(require_roles(Role.PLANNER, Role.DISPATCHER, Role.ADMIN, Role.GRID_WORKER))]


@router.get(
    "/export",
    summary="Export layers as a GeoPackage (one layer each), GeoJSON or CSV with WKT",
    responses={
        200: {
            "content": {
                t: {} for t in ("application/geopackage+sqlite3", "application/geo+json", "text/csv", "application/zip")
            }
        }
    },
)
def export_layers(
    session: ReadSession,
    settings: SettingsDep,
    _user: Staff,
    layers: Annotated[str, Query(max_length=200, description=f"comma-separated: {', '.join(LAYERS)}")] = "grids",
    format: Annotated[str, Query(description="gpkg, geojson or csv")] = "gpkg",
) -> Response:
    wanted = [name.strip() for name in layers.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in LAYERS]
    if not wanted or unknown:
        raise Problem(
            422,
            f"layers must be some of {', '.join(LAYERS)}" + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
            field="layers",
        )
    if format not in FORMATS:
        raise Problem(422, f"format must be one of {', '.join(FORMATS)}", field="format")
    content, media_type, name = export(session, layers=list(dict.fromkeys(wanted)), fmt=format, settings=settings)
    return Response(content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})
