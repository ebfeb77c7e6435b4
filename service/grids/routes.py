"""``/api/v1/grids``: the grid layer, one grid, and locate (public, no personal data)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response

from service.auth.deps import OptionalUser
from service.auth.models import STAFF_ROLES
from service.common.params import MAX_DB_ID, BBoxParam, IdPath, PointParam
from service.common.problems import Problem
from service.deps import ReadSession, SettingsDep
from service.grids.models import GridLayer
from service.grids.service import get_grid, grid_features, list_grids, locate_point, location_dict

router = APIRouter(prefix="/api/v1/grids", tags=["grids"])


def _is_staff(user) -> bool:
    return user is not None and user.role in STAFF_ROLES


@router.get("", summary="Grids as a GeoJSON FeatureCollection")
def grids(
    session: ReadSession,
    user: OptionalUser,
    bbox: BBoxParam,
    layer: GridLayer = Query(GridLayer.ONE_NETWORK, description="department layer; one_network is the merged one"),
    community_id: int | None = Query(None, ge=1, le=MAX_DB_ID),
) -> dict[str, Any]:
    """Each ``Feature.id`` is the grid id; properties carry code, name, community, layer,
    households and version. Staff tokens add the grid workers."""
    rows = list_grids(session, layer=layer, community_id=community_id, bbox=bbox)
    return {
        "type": "FeatureCollection",
        "features": grid_features(session, rows, with_people=_is_staff(user)),
    }


@router.get("/locate", summary="Which grid, community, compound and building hold a point")
def locate(
    session: ReadSession,
    settings: SettingsDep,
    user: OptionalUser,
    point: PointParam,
    layer: GridLayer = Query(GridLayer.ONE_NETWORK),
) -> dict[str, Any]:
    """A point on a shared boundary goes to one grid, chosen deterministically; a point outside
    every grid gets the nearest grid within the configured distance, flagged ``outside_coverage``.
    GCJ-02 and BD-09 input is converted to WGS84 first."""
    loc = locate_point(
        session, lon=point.lon, lat=point.lat, layer=layer, max_distance_m=settings.locate_max_distance_m
    )
    out = location_dict(session, loc, with_people=_is_staff(user))
    out["point"] = {"lon": round(point.lon, 8), "lat": round(point.lat, 8), "coord_type": "wgs84"}
    return out


@router.get("/{grid_id}", summary="One grid as a GeoJSON Feature (ETag: its version)")
def grid(grid_id: IdPath, session: ReadSession, user: OptionalUser, response: Response) -> dict[str, Any]:
    found = get_grid(session, grid_id=grid_id)
    if found is None:
        raise Problem(404, f"no grid with id {grid_id}", field="grid_id")
    response.headers["ETag"] = f'"{found.version}"'
    return grid_features(session, [found], with_people=_is_staff(user))[0]
