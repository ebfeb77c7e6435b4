"""Grid history: every accepted boundary with ``valid_from``/``valid_to``, and as-of queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from geo.crs import metres_to_degrees
from geo.locate import Located, PolygonIndex
from service.common.errors import NotFound
from service.common.geojson import feature
from service.common.spatial import box_overlaps
from service.grids.models import Grid, GridChange, GridLayer, GridVersion


def record_version(
    session: Session, grid: Grid, *, change: GridChange, by: str, comment: str | None, now: datetime
) -> GridVersion:
    """Close the grid's open history row and open a new one for its current geometry and version."""
    current = session.scalar(select(GridVersion).where(GridVersion.grid_id == grid.id, GridVersion.valid_to.is_(None)))
    if current is not None:
        current.valid_to = now
    row = GridVersion(
        grid_id=grid.id,
        version=grid.version,
        geom=grid.geom,
        valid_from=now,
        valid_to=None,
        change=change,
        changed_by=by,
        comment=comment,
    )
    session.add(row)
    session.flush()
    return row


def close_history(session: Session, grid: Grid, *, now: datetime) -> None:
    current = session.scalar(select(GridVersion).where(GridVersion.grid_id == grid.id, GridVersion.valid_to.is_(None)))
    if current is not None:
        current.valid_to = now


def _valid_at(at: datetime):
    return [GridVersion.valid_from <= at, or_(GridVersion.valid_to.is_(None), GridVersion.valid_to > at)]


def versions_at(session: Session, *, at: datetime, layer: GridLayer, community_id: int | None = None):
    """(version row, grid) pairs of the layer as it stood at ``at``."""
    query = (
        select(GridVersion, Grid)
        .join(Grid, Grid.id == GridVersion.grid_id)
        .options(selectinload(Grid.community))
        .where(Grid.layer == layer, *_valid_at(at))
        .order_by(Grid.code)
    )
    if community_id is not None:
        query = query.where(Grid.community_id == community_id)
    return list(session.execute(query).all())


def features_at(session: Session, *, at: datetime, layer: GridLayer, community_id: int | None = None) -> list[dict]:
    return [
        feature(
            grid.id,
            version.geom,
            {
                "code": grid.code,
                "name": grid.name_zh,
                "name_zh": grid.name_zh,
                "name_en": grid.name_en,
                "layer": grid.layer.value,
                "community": grid.community.name_zh,
                "community_id": grid.community_id,
                "version": version.version,
                "valid_from": version.valid_from.isoformat(),
                "valid_to": version.valid_to.isoformat() if version.valid_to else None,
            },
        )
        for version, grid in versions_at(session, at=at, layer=layer, community_id=community_id)
    ]


def location_at(
    session: Session, *, lon: float, lat: float, at: datetime, layer: GridLayer, max_distance_m: float
) -> dict[str, Any]:
    """The grid that held the point at ``at`` as the locate answer gives it (its version's boundary)."""
    grid, version, found = locate_at(session, lon=lon, lat=lat, at=at, layer=layer, max_distance_m=max_distance_m)
    shown = None
    if grid is not None and version is not None:
        props = {"code": grid.code, "name_zh": grid.name_zh, "version": version.version, "layer": grid.layer.value}
        shown = feature(grid.id, version.geom, props)
    return {
        "grid": shown,
        "outside_coverage": found.outside_coverage,
        "distance_m": found.distance_m if grid else None,
        "at": at.isoformat(),
    }


def locate_at(
    session: Session, *, lon: float, lat: float, at: datetime, layer: GridLayer, max_distance_m: float
) -> tuple[Grid | None, GridVersion | None, Located]:
    """The grid that held the point at ``at``, by the same rules as today's ``locate``."""
    reach = metres_to_degrees(max(max_distance_m, 1.0), lat) * 1.5
    frame = Point(lon, lat).buffer(reach, quad_segs=2).envelope
    rows = list(
        session.execute(
            select(GridVersion, Grid)
            .join(Grid, Grid.id == GridVersion.grid_id)
            .where(Grid.layer == layer, *_valid_at(at), box_overlaps(session, GridVersion.geom, frame))
            .order_by(Grid.code)
        ).all()
    )
    if not rows:
        return None, None, Located(None, True, None)
    index = PolygonIndex(list(range(len(rows))), [to_shape(v.geom) for v, _ in rows])
    found = index.locate(lon, lat, max_distance_m=max_distance_m)
    if found.key is None:
        return None, None, found
    version, grid = rows[cast(int, found.key)]  # the index is keyed by row number
    return grid, version, found


def history(session: Session, *, grid_id: int) -> list[dict[str, Any]]:
    """Every accepted boundary of a grid as Features (id: the history row), oldest first; NotFound
    names ``grid_id``."""
    if session.get(Grid, grid_id) is None:
        raise NotFound(f"no grid with id {grid_id}", field="grid_id")
    rows = session.scalars(select(GridVersion).where(GridVersion.grid_id == grid_id).order_by(GridVersion.version))
    return [
        feature(
            v.id,
            v.geom,
            {
                "grid_id": v.grid_id,
                "version": v.version,
                "change": v.change.value,
                "changed_by": v.changed_by,
                "comment": v.comment,
                "valid_from": v.valid_from.isoformat(),
                "valid_to": v.valid_to.isoformat() if v.valid_to else None,
            },
        )
        for v in rows
    ]
