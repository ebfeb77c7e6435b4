"""``/api/v1/streets``: the walkable network, for drawing a base map without tiles."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from service.common.params import BBoxParam
from service.deps import ReadSession
from service.network.schemas import StreetCollection
from service.network.service import street_features

router = APIRouter(prefix="/api/v1/streets", tags=["network"])


@router.get("", summary="Street edges as a GeoJSON FeatureCollection", response_model=StreetCollection)
def streets(
    session: ReadSession,
    bbox: BBoxParam,
    limit: int = Query(20000, ge=1, le=100000),
) -> JSONResponse:
    """Up to 100,000 edges: answered as built, without a second pass through the model."""
    return JSONResponse({"type": "FeatureCollection", "features": street_features(session, bbox=bbox, limit=limit)})
