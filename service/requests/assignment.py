"""Automatic assignment of a new request: grid, building, grid worker, nearest volunteer, duplicates.

The nearest volunteer is chosen by **walking distance on the street network** (``geo.network``):
the request point and every candidate's position are snapped onto their nearest street edges.
Straight-line distance is used only where there is no network: an empty network, or a point
farther from any street than ``max_snap_distance_m``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.crs import LocalProjection, metres_to_degrees
from geo.network import WalkGraph
from service.common.spatial import box_overlaps
from service.grids.models import Grid, GridWorker, WorkerRole
from service.network.graph import walk_graph
from service.requests.models import OPEN_STATUSES, ServiceRequest, Status
from service.volunteers.models import Volunteer

GENERAL_SKILL = "general"


@dataclass(frozen=True)
class RankedVolunteer:
    volunteer: Volunteer
    walk_m: float
    method: str  # "network" or "straight_line"

    def minutes(self, speed_mps: float) -> float:
        return self.walk_m / speed_mps / 60.0


def on_duty_worker(grid: Grid | None) -> GridWorker | None:
    """The grid's worker on duty: the lead first, then members by id."""
    if grid is None:
        return None
    on_duty = [w for w in grid.workers if w.on_duty]
    on_duty.sort(key=lambda w: (w.role != WorkerRole.LEAD, w.id))
    return on_duty[0] if on_duty else None


def open_loads(session: Session) -> dict[int, int]:
    """Open cases per volunteer."""
    rows = session.execute(
        select(ServiceRequest.volunteer_id, func.count())
        .where(ServiceRequest.volunteer_id.is_not(None), ServiceRequest.status.in_(OPEN_STATUSES))
        .group_by(ServiceRequest.volunteer_id)
    )
    return {vid: n for vid, n in rows if vid is not None}


def available_volunteers(
    session: Session, *, skill: str, now: datetime, max_open_cases: int, max_age_minutes: float | None
) -> list[Volunteer]:
    """On-duty volunteers with the skill (any skill for general work), a known position that is
    fresh enough, and fewer than ``max_open_cases`` open cases."""
    query = select(Volunteer).where(
        Volunteer.on_duty.is_(True), Volunteer.position.is_not(None), Volunteer.retired_at.is_(None)
    )
    if max_age_minutes is not None:
        query = query.where(Volunteer.position_at >= now - timedelta(minutes=max_age_minutes))
    loads = open_loads(session)
    out = []
    for v in session.scalars(query.order_by(Volunteer.id)):
        if skill != GENERAL_SKILL and skill not in (v.skills or []):
            continue
        if loads.get(v.id, 0) >= max_open_cases:
            continue
        out.append(v)
    return out


def rank_volunteers(
    graph: WalkGraph | None,
    *,
    lon: float,
    lat: float,
    volunteers: list[Volunteer],
    max_snap_m: float,
) -> list[RankedVolunteer]:
    """Volunteers sorted by how far they must walk to (lon, lat); ties by id."""
    volunteers = [v for v in volunteers if v.position is not None]  # only those with a known position
    if not volunteers:
        return []
    positions = [to_shape(v.position) for v in volunteers if v.position is not None]
    if graph is None:
        return _straight_line(lon, lat, volunteers, positions)
    source = graph.snap(lon, lat)
    if source.offset_m > max_snap_m:
        return _straight_line(lon, lat, volunteers, positions, projection=graph.projection)
    snaps = graph.snap_many(np.array([p.x for p in positions]), np.array([p.y for p in positions]))
    walk = graph.distances_to(source, snaps)
    ranked = []
    for v, p, snap, metres in zip(volunteers, positions, snaps, walk, strict=True):
        if snap.offset_m <= max_snap_m and metres != float("inf"):
            ranked.append(RankedVolunteer(v, float(metres), "network"))
        else:
            x1, y1 = graph.to_metric_xy(lon, lat)
            x2, y2 = graph.to_metric_xy(p.x, p.y)
            ranked.append(RankedVolunteer(v, float(Point(x1, y1).distance(Point(x2, y2))), "straight_line"))
    ranked.sort(key=lambda r: (r.method != "network", r.walk_m, r.volunteer.id))
    return ranked


def _straight_line(lon, lat, volunteers, positions, projection: LocalProjection | None = None):
    projection = projection or LocalProjection.for_lonlat(lon, lat)
    x, y = projection.forward(lon, lat)
    here = Point(float(x), float(y))
    ranked = []
    for v, p in zip(volunteers, positions, strict=True):
        px, py = projection.forward(p.x, p.y)
        ranked.append(RankedVolunteer(v, float(here.distance(Point(float(px), float(py)))), "straight_line"))
    ranked.sort(key=lambda r: (r.walk_m, r.volunteer.id))
    return ranked


def nearest_volunteers(
    session: Session,
    *,
    lon: float,
    lat: float,
    skill: str,
    now: datetime,
    max_open_cases: int,
    max_age_minutes: float | None,
    max_snap_m: float,
) -> list[RankedVolunteer]:
    candidates = available_volunteers(
        session, skill=skill, now=now, max_open_cases=max_open_cases, max_age_minutes=max_age_minutes
    )
    return rank_volunteers(walk_graph(session), lon=lon, lat=lat, volunteers=candidates, max_snap_m=max_snap_m)


def find_duplicates(
    session: Session,
    *,
    category_id: int,
    lon: float,
    lat: float,
    now: datetime,
    radius_m: float,
    window_hours: float,
    exclude_id: int | None = None,
) -> list[tuple[ServiceRequest, float, float]]:
    """Earlier live requests of the same category within ``radius_m`` and ``window_hours``:
    (request, metres apart, hours apart), nearest first."""
    reach = metres_to_degrees(radius_m, lat) * 1.2 + 1e-9
    frame = Point(lon, lat).buffer(reach, quad_segs=2).envelope
    query = select(ServiceRequest).where(
        ServiceRequest.category_id == category_id,
        ServiceRequest.reported_at >= now - timedelta(hours=window_hours),
        ServiceRequest.status.not_in([Status.MERGED, Status.REJECTED]),
        box_overlaps(session, ServiceRequest.location, frame),
    )
    if exclude_id is not None:
        query = query.where(ServiceRequest.id != exclude_id)
    projection = LocalProjection.for_lonlat(lon, lat)
    here = Point(*map(float, projection.forward(lon, lat)))
    found = []
    for other in session.scalars(query):
        p = to_shape(other.location)
        metres = here.distance(Point(*map(float, projection.forward(p.x, p.y))))
        if metres <= radius_m:
            hours = abs((now - other.reported_at).total_seconds()) / 3600.0
            found.append((other, round(metres, 2), round(hours, 3)))
    found.sort(key=lambda t: (t[1], t[0].id))
    return found
