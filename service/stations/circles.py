"""Storing service circles: recomputed when a station is added, moved or removed, or the network changes."""

from __future__ import annotations

from datetime import UTC, datetime

from geoalchemy2.shape import from_shape, to_shape
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from geo.circles import CircleStyle, as_multipolygon, minutes_to_metres, service_areas
from service.common.progress import NoProgress, Progress
from service.common.revisions import get_revision
from service.config import Settings
from service.network.graph import NETWORK_REVISION, walk_graph
from service.stations.models import Station, StationCircle


def style_of(settings: Settings) -> CircleStyle:
    return CircleStyle(corridor_m=settings.circle_corridor_m, fill_holes_m2=settings.circle_fill_holes_m2)


def rebuild_station_circles(session: Session, station: Station, *, settings: Settings) -> list[StationCircle]:
    """Replace one station's circles (in the caller's transaction)."""
    session.execute(delete(StationCircle).where(StationCircle.station_id == station.id))
    graph = walk_graph(session)
    if graph is None:
        return []
    revision = get_revision(session, NETWORK_REVISION)
    p = to_shape(station.geom)
    snap = graph.snap(p.x, p.y)
    minutes = sorted(settings.circle_minutes)
    limits = [minutes_to_metres(m, settings.walking_speed_mps) for m in minutes]
    areas = service_areas(graph, snap, limits, style_of(settings))
    now = datetime.now(UTC)
    circles = []
    for m, limit, area in zip(minutes, limits, areas, strict=True):
        budget = max(limit - snap.offset_m, 0.0)
        reached = graph.reached_length(graph.reach(snap, budget)) if budget > 0 else 0.0
        circle = StationCircle(
            station_id=station.id,
            minutes=m,
            walk_m=limit,
            reached_m=round(reached, 1),
            area_m2=round(area.area, 1),
            network_revision=revision,
            computed_at=now,
            geom=from_shape(as_multipolygon(graph.to_wgs84(area)), 4326),
        )
        session.add(circle)
        circles.append(circle)
    session.flush()
    return circles


def rebuild_all_circles(session: Session, *, settings: Settings, progress: Progress | None = None) -> int:
    """Rebuild every station's circles; returns how many stations were done."""
    progress = progress or NoProgress()
    stations = list(session.scalars(select(Station).where(Station.retired_at.is_(None)).order_by(Station.id)))
    advance = progress.task("service circles", len(stations))
    for station in stations:
        rebuild_station_circles(session, station, settings=settings)
        advance(1)
    return len(stations)


def stale_station_ids(session: Session) -> list[int]:
    """Stations whose circles are missing or built on an older network."""
    revision = get_revision(session, NETWORK_REVISION)
    fresh = (
        select(StationCircle.station_id)
        .where(StationCircle.network_revision == revision)
        .group_by(StationCircle.station_id)
        .having(func.count() >= 1)
    )
    live = Station.retired_at.is_(None)  # a retired station has no circles
    return list(session.scalars(select(Station.id).where(live, Station.id.not_in(fresh)).order_by(Station.id)))


def refresh_stale_circles(db, *, settings: Settings) -> int:
    """Rebuild circles that are missing or older than the network; safe to run on every worker."""
    from sqlalchemy.exc import IntegrityError

    with db.reader() as session:
        if walk_graph(session) is None:
            return 0
        stale = stale_station_ids(session)
    done = 0
    for station_id in stale:
        try:
            with db.transaction() as session:
                station = session.get(Station, station_id)
                if station is not None and station_id in stale_station_ids(session):
                    rebuild_station_circles(session, station, settings=settings)
                    done += 1
        except IntegrityError:
            continue  # another worker rebuilt it at the same moment
    return done
