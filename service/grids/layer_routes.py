"""``/api/v1/grid-layers``: department layers (import, compare, merged proposal) and grid export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile

from geo.coords import CoordType
from service.auth.deps import require_roles
from service.auth.models import Role, User
from service.common.params import MAX_DB_ID
from service.common.problems import Problem
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession
from service.grids import layers
from service.grids.models import GridLayer
from service.grids.schemas import LayerComparison, LayerImport, LayerProposal

router = APIRouter(prefix="/api/v1", tags=["grids"])

Planner = Annotated[User, Depends(require_roles(Role.PLANNER, Role.ADMIN))]
Staff = Annotated[User, Depends(require_roles(Role.PLANNER, Role.ADMIN, Role.DISPATCHER))]

#: The GeoJSON export, for the OpenAPI document (the answer is a file, built by ``layers.export_bytes``).
EXPORT_GEOJSON = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {
            "type": "array",
            "items": {
                "type": "object",
                "description": "a grid: id, geometry, and code, name_zh, name_en, layer, community_id, version",
            },
        },
    },
}


@router.post(
    "/grid-layers/import",
    summary="Import a department's grid layer (GeoJSON, GeoPackage, zipped Shapefile)",
    response_model=LayerImport,
)
def import_grid_layer(
    session: WriteSession,
    settings: SettingsDep,
    clock: ClockDep,
    user: Planner,
    file: Annotated[UploadFile, File(description="GeoJSON, GeoPackage, or a .zip with a Shapefile")],
    layer: Annotated[GridLayer, Form(description="the department layer the file holds")],
    comment: Annotated[str, Form(min_length=1, max_length=1000)],
    coord_type: Annotated[CoordType, Form(description="the file's coordinate system")] = CoordType.WGS84,
    code_field: Annotated[str, Form(max_length=60)] = "code",
    name_field: Annotated[str | None, Form(max_length=60)] = "name",
) -> dict[str, Any]:
    """Grids whose code is already in the layer get a new version, new codes become new grids and
    missing codes are retired; every shape is checked first and nothing is saved if one is bad.

    A plain ``def``: FastAPI runs it in the thread pool, so reading the file (GDAL) and checking
    every shape never holds up the event loop (``/healthz`` and every other request keep answering).
    The session is first used after the file is read, so no transaction is open meanwhile."""
    data = file.file.read(settings.layer_upload_max_bytes + 1)  # the upload's own cap (413 below)
    result = layers.import_upload(
        session,
        data=data,
        filename=file.filename or "",
        coord_type=coord_type,
        layer=layer,
        code_field=code_field,
        name_field=name_field,
        actor=user,
        comment=comment,
        now=clock(),
        settings=settings,
    )
    session.commit()
    return result


@router.get(
    "/grid-layers/compare",
    summary="Where a department layer and the merged layer disagree",
    response_model=LayerComparison,
)
def compare_layers(
    session: ReadSession,
    _user: Staff,
    layer: GridLayer = Query(..., description="the department layer"),
    against: GridLayer = Query(GridLayer.ONE_NETWORK),
    sliver_m2: float = Query(2000.0, gt=0, le=1e6),
) -> dict[str, Any]:
    return layers.compare(session, layer=layer, against=against, sliver_m2=sliver_m2)


@router.get(
    "/grid-layers/proposal",
    summary="A merged one-network layer built from department layers",
    response_model=LayerProposal,
)
def merged_proposal(
    session: ReadSession,
    settings: SettingsDep,
    _user: Planner,
    community_id: int = Query(..., ge=1, le=MAX_DB_ID),
    layers_: Annotated[list[GridLayer] | None, Query(alias="layers", description="department layers to merge")] = None,
    sliver_m2: float = Query(2000.0, gt=0, le=1e6),
) -> dict[str, Any]:
    """Preview the result with ``POST /api/v1/grids/preview`` and apply it with ``POST
    /api/v1/grids/apply`` (new grids without ``id``, the old ones with a null geometry)."""
    if not layers_:
        raise Problem(422, "give at least one department layer", field="layers")
    return layers.proposal(
        session,
        layers=list(layers_),
        community_id=community_id,
        sliver_m2=sliver_m2,
        households_min=settings.grid_households_min,
    )


@router.get(
    "/grids/export",
    summary="Export a grid layer for QGIS (GeoPackage or GeoJSON)",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/geopackage+sqlite3": {"schema": {"type": "string", "format": "binary"}},
                "application/geo+json": {"schema": EXPORT_GEOJSON},
            }
        }
    },
)
def export_grids(
    session: ReadSession,
    _user: Staff,
    format: Annotated[str, Query(pattern="^(gpkg|geojson)$")] = "gpkg",
    layer: GridLayer = Query(GridLayer.ONE_NETWORK),
) -> Response:
    content, media_type, name = layers.export_bytes(session, layer=layer, fmt=format)
    return Response(content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})
