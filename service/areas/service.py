"""Reading the administrative hierarchy."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.areas.models import Area, AreaLevel
from service.common.errors import NotFound
from service.common.geojson import feature, geometry_dict


def area_summary(area: Area | None) -> dict[str, Any] | None:
    """An area's id, level, code and names (None for no area)."""
    return None if area is None else _summary(area)


def _summary(area: Area) -> dict[str, Any]:
    return {
        "id": area.id,
        "level": area.level.value,
        "code": area.code,
        "name_zh": area.name_zh,
        "name_en": area.name_en,
    }


def area_tree(session: Session, *, include_geometry: bool = False, max_level: AreaLevel | None = None) -> list[dict]:
    """The hierarchy as nested dicts, roots first, children ordered by code."""
    query = select(Area).order_by(Area.code)
    if max_level is not None:
        levels = list(AreaLevel)[: list(AreaLevel).index(max_level) + 1]
        query = query.where(Area.level.in_(levels))
    areas = session.scalars(query).all()
    nodes: dict[int, dict[str, Any]] = {}
    for a in areas:
        node = _summary(a) | {"parent_id": a.parent_id, "children": []}
        if include_geometry:
            node["geometry"] = geometry_dict(a.geom)
        nodes[a.id] = node
    roots: list[dict[str, Any]] = []
    for a in areas:
        parent = nodes.get(a.parent_id) if a.parent_id is not None else None
        (parent["children"] if parent else roots).append(nodes[a.id])
    return roots


def area_feature(session: Session, *, area_id: int) -> dict[str, Any]:
    """One area as a GeoJSON Feature with its parent's id; NotFound names ``area_id``."""
    area = session.get(Area, area_id)
    if area is None:
        raise NotFound(f"no area with id {area_id}", field="area_id")
    return feature(area.id, area.geom, _summary(area) | {"parent_id": area.parent_id})
