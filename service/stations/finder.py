"""The resident's station finder: stations sorted by the whole walk from where they stand."""

from __future__ import annotations

from dataclasses import dataclass

from geoalchemy2.shape import to_shape
from shapely.geometry import LineString, Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.circles import minutes_to_metres
from geo.crs import metres_to_degrees
from geo.network import Snap, WalkGraph
from service.common.errors import Invalid
from service.common.spatial import box_overlaps
from service.config import Settings
from service.stations.coverage import network, snap_points
from service.stations.models import Station, StationType


@dataclass
class Found:
    station: Station
    walk_m: float
    walk_minutes: float
    route: LineString | None


def snap_origin(graph: WalkGraph, *, lon: float, lat: float, settings: Settings) -> Snap:
    """Where a walk from (lon, lat) joins the streets; a point too far from any street (outside
    the served area) is a 422 naming ``lon``."""
    source = graph.snap(lon, lat)
    if source.offset_m > settings.max_snap_distance_m:
        raise Invalid(
            f"the point is {source.offset_m:.0f} m from the nearest street (limit "
            f"{settings.max_snap_distance_m:.0f} m); is it inside the served area?",
            field="lon",
        )
    return source


def nearby_stations(
    session: Session,
    *,
    lon: float,
    lat: float,
    type_: StationType | None,
    minutes: int,
    limit: int,
    with_route: bool,
    settings: Settings,
) -> list[Found]:
    """Stations of ``type_`` within ``minutes`` walk, nearest first. ``walk_m`` is the whole walk:
    from the point to its street, along the streets, and from the street to the station."""
    graph = network(session)
    source = snap_origin(graph, lon=lon, lat=lat, settings=settings)
    budget = minutes_to_metres(minutes, settings.walking_speed_mps)
    frame = Point(lon, lat).buffer(metres_to_degrees(budget, lat) * 1.2).envelope
    query = (
        select(Station)
        .where(Station.retired_at.is_(None), box_overlaps(session, Station.geom, frame))
        .order_by(Station.id)
    )
    if type_ is not None:
        query = query.where(Station.type == type_)
    stations = list(session.scalars(query))
    if not stations:
        return []
    snaps = snap_points(graph, [to_shape(s.geom) for s in stations])
    walks = graph.distances_to(source, snaps, limit_m=budget)
    ranked = sorted((w, s.id, s, snap) for w, s, snap in zip(walks, stations, snaps, strict=True) if w <= budget)
    out = []
    for walk, _sid, station, snap in ranked[:limit]:
        route = graph.to_wgs84(graph.route(source, snap)) if with_route else None
        out.append(
            Found(station, round(float(walk), 1), round(float(walk) / settings.walking_speed_mps / 60, 2), route)
        )
    return out
