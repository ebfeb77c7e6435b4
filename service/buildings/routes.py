"""``/api/v1/buildings``: footprints with households; the building chair only for staff."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from service.auth.deps import OptionalUser
from service.auth.models import STAFF_ROLES
from service.buildings.models import Building
from service.buildings.service import building_features, list_buildings
from service.common.params import MAX_DB_ID, BBoxParam, IdPath, OffsetParam
from service.common.problems import Problem
from service.deps import ReadSession

router = APIRouter(prefix="/api/v1/buildings", tags=["buildings"])


@router.get("", summary="Buildings as a GeoJSON FeatureCollection")
def buildings(
    session: ReadSession,
    user: OptionalUser,
    bbox: BBoxParam,
    grid_id: int | None = Query(None, ge=1, le=MAX_DB_ID),
    limit: int = Query(5000, ge=1, le=20000),
    offset: OffsetParam = 0,
) -> dict[str, Any]:
    rows = list_buildings(session, bbox=bbox, grid_id=grid_id, limit=limit, offset=offset)
    staff = user is not None and user.role in STAFF_ROLES
    features = building_features(rows, with_people=staff)
    return {"type": "FeatureCollection", "features": features, "numberReturned": len(features)}


@router.get("/{building_id}", summary="One building as a GeoJSON Feature")
def building(building_id: IdPath, session: ReadSession, user: OptionalUser) -> dict[str, Any]:
    found = session.get(Building, building_id)
    if found is None:
        raise Problem(404, f"no building with id {building_id}", field="building_id")
    return building_features([found], with_people=user is not None and user.role in STAFF_ROLES)[0]
