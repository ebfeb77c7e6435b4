"""Reading the administrative hierarchy: the tree, lists of areas as GeoJSON, one area.

Retired areas (``retired_at`` set by an import with ``retire_missing``) appear in none of these."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, null, select
from sqlalchemy.orm import Session, aliased

from service.areas.models import Area, AreaLevel
from service.common.errors import Invalid, NotFound
from service.common.geojson import feature, geometry_dict

#: The properties of an area in a FeatureCollection, in the order they are answered.
AREA_PROPERTIES = ("id", "code", "name_zh", "name_en", "level", "parent_code", "parent_id", "version")
#: What ``fields=`` may name: the properties, and ``geometry``.
AREA_FIELDS = (*AREA_PROPERTIES, "geometry")


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


def live() -> ColumnElement[bool]:
    """The condition an area must meet to be read at all: not retired."""
    return Area.retired_at.is_(None)


def area_tree(session: Session, *, include_geometry: bool = False, max_level: AreaLevel | None = None) -> list[dict]:
    """The hierarchy as nested dicts, roots first, children ordered by code (retired areas left out;
    the children of a retired area become roots)."""
    query = select(Area).where(live()).order_by(Area.code)
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


def parse_fields(fields: str | None) -> tuple[str, ...] | None:
    """``fields=code,name_zh,geometry`` as a tuple of names (None: everything). Unknown names are
    a 422 naming ``fields``."""
    if fields is None:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in fields.split(",") if n.strip()))
    unknown = [n for n in names if n not in AREA_FIELDS]
    if unknown:
        raise Invalid(
            f"fields: unknown field(s) {', '.join(unknown)}; choose among {', '.join(AREA_FIELDS)}", field="fields"
        )
    return names


def area_collection(
    session: Session, *, level: AreaLevel | None = None, parent: str | None = None, fields: str | None = None
) -> dict[str, Any]:
    """The current areas as a GeoJSON FeatureCollection, ordered by code.

    ``level``: only this level. ``parent``: only the areas directly under the area with this code
    (an unknown or retired code is a 422 naming ``parent``). ``fields``: the properties to keep
    (comma-separated); the geometry only if ``geometry`` is among them. Each ``Feature.id`` is the
    area id either way."""
    keep = parse_fields(fields)
    with_geometry = keep is None or "geometry" in keep
    up = aliased(Area)
    geom = Area.geom if with_geometry else null()
    query = (
        select(Area.id, Area.code, Area.name_zh, Area.name_en, Area.level, Area.parent_id, Area.version, up.code, geom)
        .outerjoin(up, up.id == Area.parent_id)
        .where(live())
        .order_by(Area.code)
    )
    if level is not None:
        query = query.where(Area.level == level)
    if parent is not None:
        parent_id = session.scalar(select(Area.id).where(Area.code == parent, live()))
        if parent_id is None:
            raise Invalid(f"parent: no current area has the code {parent!r}", field="parent")
        query = query.where(Area.parent_id == parent_id)
    features = []
    for area_id, code, name_zh, name_en, area_level, parent_id, version, parent_code, shape in session.execute(query):
        props = {
            "id": area_id,
            "code": code,
            "name_zh": name_zh,
            "name_en": name_en,
            "level": area_level.value,
            "parent_code": parent_code,
            "parent_id": parent_id,
            "version": version,
        }
        if keep is not None:
            props = {k: v for k, v in props.items() if k in keep}
        features.append(feature(area_id, shape, props))
    return {"type": "FeatureCollection", "features": features}


def area_feature(session: Session, *, area_id: int) -> dict[str, Any]:
    """One current area as a GeoJSON Feature with its parent's id and code; NotFound names ``area_id``."""
    area = session.get(Area, area_id)
    if area is None or area.retired_at is not None:
        raise NotFound(f"no current area with id {area_id}", field="area_id")
    parent_code = area.parent.code if area.parent is not None else None
    props = _summary(area) | {"parent_code": parent_code, "parent_id": area.parent_id, "version": area.version}
    return feature(area.id, area.geom, props)
