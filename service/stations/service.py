"""Station queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.bbox import BBox
from service.common.geojson import feature
from service.common.spatial import intersects
from service.stations.models import STATION_TYPE_LABELS, Station, StationType


def station_properties(s: Station) -> dict[str, Any]:
    """Stations are public facilities: every field here may be shown to anyone."""
    label_zh, label_en = STATION_TYPE_LABELS[s.type]
    return {
        "name": s.name_zh,
        "name_zh": s.name_zh,
        "name_en": s.name_en,
        "type": s.type.value,
        "type_zh": label_zh,
        "type_en": label_en,
        "opening_hours": s.opening_hours,
        "contact_phone": s.contact_phone,
        "capacity": s.capacity,
        "address_zh": s.address_zh,
        "community_id": s.community_id,
    }


def list_stations(session: Session, *, type_: StationType | None = None, bbox: BBox | None = None) -> list[Station]:
    query = select(Station).order_by(Station.id)
    if type_ is not None:
        query = query.where(Station.type == type_)
    if bbox is not None:
        query = query.where(intersects(session, Station.geom, bbox.polygon()))
    return list(session.scalars(query).all())


def station_features(stations: list[Station]) -> list[dict]:
    return [feature(s.id, s.geom, station_properties(s)) for s in stations]
