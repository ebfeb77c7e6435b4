"""``/api/v1/buildings``: footprints with households; the building chair only for staff."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from service.auth.deps import OptionalUser
from service.auth.models import STAFF_ROLES, User
from service.buildings.schemas import BuildingCollection, BuildingFeature
from service.buildings.service import building_feature, building_features, list_buildings
from service.common.params import MAX_DB_ID, BBoxParam, IdPath, OffsetParam
from service.deps import ReadSession

router = APIRouter(prefix="/api/v1/buildings", tags=["buildings"])


def _is_staff(user: User | None) -> bool:
    return user is not None and user.role in STAFF_ROLES


@router.get("", summary="Buildings as a GeoJSON FeatureCollection", response_model=BuildingCollection)
def buildings(
    session: ReadSession,
    user: OptionalUser,
    bbox: BBoxParam,
    grid_id: int | None = Query(None, ge=1, le=MAX_DB_ID),
    limit: int = Query(5000, ge=1, le=20000),
    offset: OffsetParam = 0,
) -> JSONResponse:
    """Up to 20,000 footprints: answered as built, without a second pass through the model."""
    rows = list_buildings(session, bbox=bbox, grid_id=grid_id, limit=limit, offset=offset)
    features = building_features(rows, with_people=_is_staff(user))
    return JSONResponse({"type": "FeatureCollection", "features": features, "numberReturned": len(features)})


@router.get(
    "/{building_id}",
    summary="One building as a GeoJSON Feature",
    response_model=BuildingFeature,
    response_model_exclude_unset=True,
)
def building(building_id: IdPath, session: ReadSession, user: OptionalUser) -> dict[str, Any]:
    return building_feature(session, building_id=building_id, with_people=_is_staff(user))
