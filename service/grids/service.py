"""Grid queries: listing with household totals, one grid, point location, the caller's grid worker."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from geo.bbox import BBox
from geo.locate import Located, PolygonIndex
from service.areas.models import Area, AreaLevel
from service.areas.service import area_summary
from service.buildings.models import Building
from service.buildings.service import building_summary
from service.common.errors import Invalid, NotFound
from service.common.geojson import feature
from service.common.layer_cache import AREAS, BUILDINGS, GRIDS, Revisions, cached, revisions
from service.common.spatial import intersects
from service.grids.history import features_at, location_at
from service.grids.models import Grid, GridLayer, GridWorker


class GridCodeError(Invalid):
    """A grid code that does not match the configured national unit-grid pattern."""

    def __init__(self, message: str, *, field: str = "code") -> None:
        super().__init__(message, field=field)


def check_grid_code(code: str, pattern: str) -> str:
    """Raise GridCodeError unless ``code`` matches the configured national unit-grid pattern."""
    if not re.fullmatch(pattern, code):
        raise GridCodeError(f"grid code {code!r} does not match the configured pattern {pattern}")
    return code


def households_by_grid(session: Session, grid_ids: list[int] | None = None) -> dict[int, tuple[int, int]]:
    """``grid_id -> (households, buildings)`` summed over the buildings assigned to each grid."""
    query = select(Building.grid_id, func.sum(Building.households), func.count(Building.id)).group_by(Building.grid_id)
    query = query.where(Building.retired_at.is_(None))
    if grid_ids is not None:
        query = query.where(Building.grid_id.in_(grid_ids))
    return {gid: (int(h or 0), int(n)) for gid, h, n in session.execute(query) if gid is not None}


def grid_properties(grid: Grid, totals: tuple[int, int], *, with_people: bool) -> dict[str, Any]:
    """Public grid properties; ``with_people`` adds grid workers' names and phones (staff only)."""
    props: dict[str, Any] = {
        "code": grid.code,
        "name": grid.name_zh,
        "name_zh": grid.name_zh,
        "name_en": grid.name_en,
        "layer": grid.layer.value,
        "community": grid.community.name_zh,
        "community_en": grid.community.name_en,
        "community_id": grid.community_id,
        "community_code": grid.community.code,
        "party_org": grid.party_org.name_zh if grid.party_org else None,
        "party_org_en": grid.party_org.name_en if grid.party_org else None,
        "households": totals[0],
        "buildings": totals[1],
        "workers_count": len(grid.workers),
        "version": grid.version,
    }
    if with_people:
        props["workers"] = [
            {"id": w.id, "name_zh": w.name_zh, "name_en": w.name_en, "phone": w.phone, "role": w.role.value}
            for w in sorted(grid.workers, key=lambda w: (w.role.value != "lead", w.id))
        ]
    return props


def _grid_query():
    return select(Grid).options(selectinload(Grid.community), selectinload(Grid.party_org), selectinload(Grid.workers))


def list_grids(
    session: Session,
    *,
    layer: GridLayer | None = GridLayer.ONE_NETWORK,
    community_id: int | None = None,
    bbox: BBox | None = None,
) -> list[Grid]:
    query = _grid_query().where(Grid.retired_at.is_(None)).order_by(Grid.code)
    if layer is not None:
        query = query.where(Grid.layer == layer)
    if community_id is not None:
        query = query.where(Grid.community_id == community_id)
    if bbox is not None:
        query = query.where(intersects(session, Grid.geom, bbox.polygon()))
    return list(session.scalars(query).all())


def get_grid(session: Session, *, grid_id: int) -> Grid | None:
    return session.scalars(_grid_query().where(Grid.id == grid_id)).first()


def current_grid(session: Session, *, grid_id: int) -> Grid:
    """A grid that is not retired; NotFound names ``grid_id``."""
    found = get_grid(session, grid_id=grid_id)
    if found is None or found.retired_at is not None:
        raise NotFound(f"no current grid with id {grid_id}", field="grid_id")
    return found


def worker_of(session: Session, *, user_id: int) -> GridWorker | None:
    """The grid worker record of a user account (None: the user is no grid worker)."""
    return session.scalar(select(GridWorker).where(GridWorker.user_id == user_id))


def grid_features(session: Session, grids: list[Grid], *, with_people: bool) -> list[dict]:
    totals = households_by_grid(session, [g.id for g in grids])
    return [feature(g.id, g.geom, grid_properties(g, totals.get(g.id, (0, 0)), with_people=with_people)) for g in grids]


@dataclass
class Location:
    grid: Grid | None
    located: Located
    community: Area | None
    compound: Area | None
    building: Building | None
    #: Every current area holding the point, top level first (city, district, ... compound).
    areas: list[Area] = field(default_factory=list)


def _grid_index(layer: GridLayer):
    def build(session: Session) -> PolygonIndex:
        rows = session.execute(
            select(Grid.id, Grid.geom).where(Grid.layer == layer, Grid.retired_at.is_(None)).order_by(Grid.code)
        ).all()
        return PolygonIndex([r.id for r in rows], [to_shape(r.geom) for r in rows])

    return build


def _area_index(level: AreaLevel):
    def build(session: Session) -> PolygonIndex:
        rows = session.execute(
            select(Area.id, Area.geom).where(Area.level == level, Area.retired_at.is_(None)).order_by(Area.code)
        ).all()
        return PolygonIndex([r.id for r in rows], [to_shape(r.geom) for r in rows])

    return build


def _area_indexes(session: Session, known: Revisions) -> list[tuple[AreaLevel, PolygonIndex]]:
    """The cached index of each level's current areas, top level first."""
    return [
        (level, cached(session, f"area-index:{level.value}", (AREAS,), _area_index(level), known=known))
        for level in AreaLevel
    ]


def _building_index(session: Session) -> PolygonIndex:
    rows = session.execute(
        select(Building.id, Building.geom).where(Building.retired_at.is_(None)).order_by(Building.id)
    ).all()
    return PolygonIndex([r.id for r in rows], [to_shape(r.geom) for r in rows])


def locate_point(
    session: Session, *, lon: float, lat: float, layer: GridLayer = GridLayer.ONE_NETWORK, max_distance_m: float
) -> Location:
    """Grid, community, compound and building at a WGS84 point (see ``geo.locate`` for the rules).

    The layers come from per-process indexes kept fresh by data revisions (``service.common.layer_cache``)."""
    known = revisions(session, (GRIDS, AREAS, BUILDINGS))  # one query for every cache below
    grids = cached(session, f"grid-index:{layer.value}", (GRIDS,), _grid_index(layer), known=known)
    located = grids.locate(lon, lat, max_distance_m=max_distance_m)
    grid = get_grid(session, grid_id=located.key) if located.key is not None else None
    held = {  # the indexes are keyed by area id
        level: cast(int | None, index.locate(lon, lat, max_distance_m=0).key)
        for level, index in _area_indexes(session, known)
    }
    ids = [key for key in held.values() if key is not None]
    by_id = {a.id: a for a in session.scalars(select(Area).where(Area.id.in_(ids)))} if ids else {}
    chain = [by_id[key] for key in held.values() if key is not None]
    community_id, compound_id = held[AreaLevel.COMMUNITY], held[AreaLevel.COMPOUND]
    community = by_id[community_id] if community_id is not None else (grid.community if grid else None)
    compound = by_id[compound_id] if compound_id is not None else None
    buildings = cached(session, "building-index", (BUILDINGS,), _building_index, known=known)
    found = buildings.locate(lon, lat, max_distance_m=0).key
    building = session.get(Building, found) if found is not None else None
    return Location(grid, located, community, compound, building, chain)


#: What ``fields=`` of the locate answer may name (``outside_coverage``, ``distance_m``, ``point``
#: and ``at`` are always answered); ``geometry`` is the grid's geometry and brings ``grid`` along.
LOCATE_FIELDS = ("grid", "geometry", "areas", "community", "compound", "building")


def locate_fields(fields: str | None) -> frozenset[str] | None:
    """``fields=grid,areas`` as a set of answer members (None: everything); unknown names are a 422
    naming ``fields``."""
    if fields is None:
        return None
    names = {n.strip() for n in fields.split(",") if n.strip()}
    unknown = sorted(names - set(LOCATE_FIELDS))
    if unknown:
        raise Invalid(
            f"fields: unknown field(s) {', '.join(unknown)}; choose among {', '.join(LOCATE_FIELDS)}", field="fields"
        )
    return frozenset(names | ({"grid"} if "geometry" in names else set()))


def _keep(answer: dict[str, Any], fields: frozenset[str] | None) -> dict[str, Any]:
    """The answer with only the members ``fields`` asks for (the grid without its geometry unless
    ``geometry`` is asked for)."""
    if fields is None:
        return answer
    out = {k: v for k, v in answer.items() if k not in LOCATE_FIELDS or k in fields}
    if out.get("grid") is not None and "geometry" not in fields:
        out["grid"] = out["grid"] | {"geometry": None}
    return out


def area_chain(areas: list[Area]) -> list[dict[str, Any]]:
    """The areas holding a point as the API names them, top level first."""
    return [summary for a in areas if (summary := area_summary(a)) is not None]


def location_dict(session: Session, loc: Location, *, with_people: bool) -> dict[str, Any]:
    """The location as the API answers it (grid as a Feature, areas and building as summaries)."""
    return {
        "grid": grid_features(session, [loc.grid], with_people=with_people)[0] if loc.grid else None,
        "areas": area_chain(loc.areas),
        "community": area_summary(loc.community),
        "compound": area_summary(loc.compound),
        "building": building_summary(loc.building),
        "outside_coverage": loc.located.outside_coverage,
        "distance_m": loc.located.distance_m if loc.grid is not None else None,
    }


def locate(
    session: Session,
    *,
    lon: float,
    lat: float,
    layer: GridLayer,
    at: datetime | None,
    max_distance_m: float,
    with_people: bool,
    fields: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The locate answer for a WGS84 point: today's grid, the chain of areas holding it, community,
    compound and building, or with ``at`` the grid that held the point then; the point itself is
    repeated (8 decimals). ``fields`` (see ``locate_fields``) keeps only some members."""
    if at is not None:
        out = location_at(session, lon=lon, lat=lat, at=at, layer=layer, max_distance_m=max_distance_m)
    else:
        loc = locate_point(session, lon=lon, lat=lat, layer=layer, max_distance_m=max_distance_m)
        out = location_dict(session, loc, with_people=with_people)
    out = _keep(out, fields)
    out["point"] = {"lon": round(lon, 8), "lat": round(lat, 8), "coord_type": "wgs84"}
    return out


def locate_many(
    session: Session, *, lons: np.ndarray, lats: np.ndarray, layer: GridLayer, max_distance_m: float
) -> dict[str, Any]:
    """Locate many WGS84 points at once, by the rules of ``locate`` (``PolygonIndex.locate_many`` on
    the same cached indexes; no query per point): per point the grid's index, id and code, whether
    it is outside coverage and how far, and the code of the area of each level that holds it.

    Answers ``{"grid_id", "grid_code", "outside_coverage", "distance_m"}`` as lists in the points'
    order and ``"areas"``: one dict ``{level: code}`` per point (only the levels that hold it)."""
    known = revisions(session, (GRIDS, AREAS))
    grids = cached(session, f"grid-index:{layer.value}", (GRIDS,), _grid_index(layer), known=known)
    points = shapely.points(lons, lats)  # made once for every index below
    found, outside, distance = grids.locate_many_located(lons, lats, max_distance_m=max_distance_m, points=points)
    grid_ids = [grids.keys[i] if i >= 0 else None for i in found.tolist()]
    wanted = sorted({g for g in grid_ids if g is not None})
    codes = dict(session.execute(select(Grid.id, Grid.code).where(Grid.id.in_(wanted))).all()) if wanted else {}
    areas: list[dict[str, str]] = [{} for _ in range(len(grid_ids))]
    for level, index in _area_indexes(session, known):
        if not len(index):
            continue
        held = index.locate_many_located(lons, lats, max_distance_m=0, points=points)[0]
        hits = np.flatnonzero(held >= 0)
        if not len(hits):
            continue
        ids = sorted({index.keys[i] for i in held[hits].tolist()})
        area_codes = dict(session.execute(select(Area.id, Area.code).where(Area.id.in_(ids))).all())
        for p, i in zip(hits.tolist(), held[hits].tolist(), strict=True):
            areas[p][level.value] = area_codes[index.keys[i]]
    return {
        "grid_id": grid_ids,
        "grid_code": [codes[g] if g is not None else None for g in grid_ids],
        "outside_coverage": outside.tolist(),
        "distance_m": [None if g is None else d for g, d in zip(grid_ids, distance.tolist(), strict=True)],
        "areas": areas,
    }


def grids_answer(
    session: Session,
    *,
    layer: GridLayer,
    community_id: int | None,
    bbox: BBox | None,
    at: datetime | None,
    with_people: bool,
) -> dict[str, Any]:
    """The layer's current grids as a FeatureCollection, or with ``at`` each as it stood then."""
    if at is not None:
        features = features_at(session, at=at, layer=layer, community_id=community_id)
        return {"type": "FeatureCollection", "features": features, "at": at.isoformat()}
    rows = list_grids(session, layer=layer, community_id=community_id, bbox=bbox)
    return {"type": "FeatureCollection", "features": grid_features(session, rows, with_people=with_people)}
