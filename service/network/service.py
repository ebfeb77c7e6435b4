"""Reading the street network as GeoJSON (the walking graph itself is in ``graph``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.bbox import BBox
from service.common.geojson import feature
from service.common.spatial import intersects
from service.network.models import StreetEdge


def street_features(session: Session, *, bbox: BBox | None, limit: int) -> list[dict[str, Any]]:
    """Street edges in id order (those crossing ``bbox``, where given), at most ``limit``."""
    query = select(StreetEdge).order_by(StreetEdge.id).limit(limit)
    if bbox is not None:
        query = query.where(intersects(session, StreetEdge.geom, bbox.polygon()))
    return [
        feature(
            e.id,
            e.geom,
            {"u": e.u, "v": e.v, "length_m": e.length_m, "kind": e.kind, "name_zh": e.name_zh, "name_en": e.name_en},
        )
        for e in session.scalars(query)
    ]
