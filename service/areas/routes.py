"""``/api/v1/areas``: the city → district → township → community → compound hierarchy (public)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from service.areas.models import AreaLevel
from service.areas.schemas import AreaCollection, AreaFeature, AreaNode
from service.areas.service import AREA_FIELDS, area_collection, area_feature, area_tree
from service.common.params import IdPath
from service.deps import ReadSession

router = APIRouter(prefix="/api/v1/areas", tags=["areas"])


@router.get("", summary="Areas as a GeoJSON FeatureCollection (by level, by parent)", response_model=AreaCollection)
def list_areas(
    session: ReadSession,
    level: AreaLevel | None = Query(None, description="only this level"),
    parent: str | None = Query(
        None, max_length=32, description="only the areas directly under the area with this code", examples=["350625"]
    ),
    fields: str | None = Query(
        None,
        max_length=200,
        description="comma-separated properties to keep, among " + ", ".join(AREA_FIELDS) + "; the geometry only "
        "when `geometry` is listed (without `fields`: every property and the geometry)",
        examples=["code,name_zh,parent_code"],
    ),
) -> JSONResponse:
    """Each ``Feature.id`` is the area id; properties: ``id``, ``code``, ``name_zh``, ``name_en``,
    ``level``, ``parent_code``, ``parent_id``, ``version``. Ordered by code; retired areas are left
    out. A whole level can be large: answered as built."""
    return JSONResponse(area_collection(session, level=level, parent=parent, fields=fields))


@router.get(
    "/tree",
    summary="The administrative hierarchy as a tree",
    response_model=list[AreaNode],
    response_model_exclude_unset=True,
)
def tree(
    session: ReadSession,
    include_geometry: bool = Query(False, description="add each area's GeoJSON geometry"),
    max_level: AreaLevel | None = Query(None, description="stop at this level (e.g. community)"),
) -> list[dict[str, Any]]:
    """Roots first (the top level loaded: a city, or districts), children ordered by code; retired
    areas are left out."""
    return area_tree(session, include_geometry=include_geometry, max_level=max_level)


@router.get("/{area_id}", summary="One area as a GeoJSON Feature", response_model=AreaFeature)
def get_area(area_id: IdPath, session: ReadSession) -> dict[str, Any]:
    return area_feature(session, area_id=area_id)
