"""``/api/v1/areas``: the district → township → community → compound hierarchy (public)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from service.areas.models import Area, AreaLevel
from service.areas.service import area_summary, area_tree
from service.common.geojson import feature
from service.common.params import IdPath
from service.common.problems import Problem
from service.deps import ReadSession

router = APIRouter(prefix="/api/v1/areas", tags=["areas"])


@router.get("", summary="The administrative hierarchy as a tree")
def list_areas(
    session: ReadSession,
    include_geometry: bool = Query(False, description="add each area's GeoJSON geometry"),
    max_level: AreaLevel | None = Query(None, description="stop at this level (e.g. community)"),
) -> list[dict[str, Any]]:
    return area_tree(session, include_geometry=include_geometry, max_level=max_level)


@router.get("/{area_id}", summary="One area as a GeoJSON Feature")
def get_area(area_id: IdPath, session: ReadSession) -> dict[str, Any]:
    area = session.get(Area, area_id)
    if area is None:
        raise Problem(404, f"no area with id {area_id}", field="area_id")
    props = area_summary(area) | {"parent_id": area.parent_id}
    return feature(area.id, area.geom, props)
