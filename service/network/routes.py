"""``/api/v1/streets``: the walkable network, for drawing a base map without tiles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from service.common.geojson import feature
from service.common.params import BBoxParam
from service.common.spatial import intersects
from service.deps import ReadSession
from service.network.models import StreetEdge

router = APIRouter(prefix="/api/v1/streets", tags=["network"])


@router.get("", summary="Street edges as a GeoJSON FeatureCollection")
def streets(
    session: ReadSession,
    bbox: BBoxParam,
    limit: int = Query(20000, ge=1, le=100000),
) -> dict[str, Any]:
    query = select(StreetEdge).order_by(StreetEdge.id).limit(limit)
    if bbox is not None:
        query = query.where(intersects(session, StreetEdge.geom, bbox.polygon()))
    features = [
        feature(
            e.id,
            e.geom,
            {
                "u": e.u,
                "v": e.v,
                "length_m": e.length_m,
                "kind": e.kind,
                "name_zh": e.name_zh,
                "name_en": e.name_en,
            },
        )
        for e in session.scalars(query)
    ]
    return {"type": "FeatureCollection", "features": features}
