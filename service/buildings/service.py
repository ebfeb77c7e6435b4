"""Building queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.bbox import BBox
from service.buildings.models import Building
from service.common.geojson import feature
from service.common.spatial import intersects


def building_summary(b: Building | None) -> dict[str, Any] | None:
    if b is None:
        return None
    return {
        "id": b.id,
        "number": b.number,
        "name_zh": b.name_zh,
        "name_en": b.name_en,
        "households": b.households,
    }


def building_properties(b: Building, *, with_people: bool) -> dict[str, Any]:
    props = {
        "number": b.number,
        "name_zh": b.name_zh,
        "name_en": b.name_en,
        "compound_id": b.compound_id,
        "grid_id": b.grid_id,
        "floors": b.floors,
        "households": b.households,
        "residents": b.residents,
    }
    if with_people:
        props |= {"chair_name": b.chair_name, "chair_phone": b.chair_phone}
    return props


def list_buildings(
    session: Session, *, bbox: BBox | None, grid_id: int | None, limit: int, offset: int
) -> list[Building]:
    query = select(Building).order_by(Building.id).limit(limit).offset(offset)
    if bbox is not None:
        query = query.where(intersects(session, Building.geom, bbox.polygon()))
    if grid_id is not None:
        query = query.where(Building.grid_id == grid_id)
    return list(session.scalars(query).all())


def building_features(buildings: list[Building], *, with_people: bool) -> list[dict]:
    return [feature(b.id, b.geom, building_properties(b, with_people=with_people)) for b in buildings]
