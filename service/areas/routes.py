"""``/api/v1/areas``: the district → township → community → compound hierarchy (public)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from service.areas.models import AreaLevel
from service.areas.schemas import AreaFeature, AreaNode
from service.areas.service import area_feature, area_tree
from service.common.params import IdPath
from service.deps import ReadSession

router = APIRouter(prefix="/api/v1/areas", tags=["areas"])


@router.get(
    "",
    summary="The administrative hierarchy as a tree",
    response_model=list[AreaNode],
    response_model_exclude_unset=True,
)
def list_areas(
    session: ReadSession,
    include_geometry: bool = Query(False, description="add each area's GeoJSON geometry"),
    max_level: AreaLevel | None = Query(None, description="stop at this level (e.g. community)"),
) -> list[dict[str, Any]]:
    return area_tree(session, include_geometry=include_geometry, max_level=max_level)


@router.get("/{area_id}", summary="One area as a GeoJSON Feature", response_model=AreaFeature)
def get_area(area_id: IdPath, session: ReadSession) -> dict[str, Any]:
    return area_feature(session, area_id=area_id)
