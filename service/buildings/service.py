"""Building queries, and the point that stands for a building."""

from __future__ import annotations

from typing import Any

from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.bbox import BBox
from service.buildings.models import Building
from service.common.errors import NotFound
from service.common.geojson import feature
from service.common.spatial import intersects


def anchor_point(building: Building) -> Point:
    """Where a building is, as one point: its entrance where one is recorded, else a point surely
    inside its footprint (never the centroid, which an L- or U-shaped block can lie outside)."""
    if building.entrance is not None:
        return to_shape(building.entrance)
    return to_shape(building.geom).representative_point()


def building_summary(b: Building | None) -> dict[str, Any] | None:
    """A building's id, number, names and households (None for no building)."""
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
    query = select(Building).where(Building.retired_at.is_(None)).order_by(Building.id).limit(limit).offset(offset)
    if bbox is not None:
        query = query.where(intersects(session, Building.geom, bbox.polygon()))
    if grid_id is not None:
        query = query.where(Building.grid_id == grid_id)
    return list(session.scalars(query).all())


def building_features(buildings: list[Building], *, with_people: bool) -> list[dict]:
    return [feature(b.id, b.geom, building_properties(b, with_people=with_people)) for b in buildings]


def building_feature(session: Session, *, building_id: int, with_people: bool) -> dict[str, Any]:
    """One building as a GeoJSON Feature; NotFound names ``building_id``."""
    found = session.get(Building, building_id)
    if found is None or found.retired_at is not None:
        raise NotFound(f"no building with id {building_id}", field="building_id")
    return building_features([found], with_people=with_people)[0]
