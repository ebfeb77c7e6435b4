"""``/api/v1/volunteers`` and ``/api/v1/grid-workers``: people, for staff only; ``/api/v1/volunteers/me``:
a volunteer's own record, duty switch and position reports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from geoalchemy2.shape import from_shape, to_shape
from pydantic import BaseModel, ConfigDict, Field, Strict
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from geo.coords import CoordType
from geo.crs import LocalProjection
from service.areas.models import Area, AreaLevel
from service.audit.service import audit
from service.auth.deps import StaffUser, require_roles
from service.auth.models import Role, User
from service.common.fields import Number
from service.common.geojson import feature
from service.common.params import BBoxParam, make_point
from service.common.problems import Problem
from service.common.ratelimit import SlidingWindow
from service.common.spatial import intersects
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession
from service.grids.models import GridWorker
from service.volunteers.models import Volunteer

router = APIRouter(prefix="/api/v1", tags=["people"])

Dispatching = Annotated[User, Depends(require_roles(Role.DISPATCHER, Role.GRID_WORKER, Role.ADMIN))]


@router.get("/volunteers", summary="Volunteers with skills, duty and last position (dispatchers)")
def volunteers(
    session: ReadSession,
    settings: SettingsDep,
    clock: ClockDep,
    _user: Dispatching,
    bbox: BBoxParam,
    on_duty: bool | None = Query(None),
    skill: str | None = Query(None, max_length=40),
) -> dict[str, Any]:
    query = select(Volunteer).order_by(Volunteer.id)
    if on_duty is not None:
        query = query.where(Volunteer.on_duty == on_duty)
    if bbox is not None:
        query = query.where(intersects(session, Volunteer.position, bbox.polygon()))
    """``position_age_minutes`` is how old the last reported position is; ``position_fresh`` whether it
    still counts for the nearest-volunteer choice (``NEIGHBORGRID_VOLUNTEER_POSITION_MAX_AGE_MINUTES``)."""
    rows = [v for v in session.scalars(query) if skill is None or skill in (v.skills or [])]
    now = clock()
    features = [
        feature(
            v.id,
            v.position,
            {
                "name_zh": v.name_zh,
                "name_en": v.name_en,
                "phone": v.phone,
                "skills": v.skills,
                "team_zh": v.team_zh,
                "team_en": v.team_en,
                "on_duty": v.on_duty,
                "position_at": v.position_at.isoformat() if v.position_at else None,
                **position_age(v, now, settings.volunteer_position_max_age_minutes),
                "community_id": v.community_id,
                "home_building_id": v.home_building_id,
            },
        )
        for v in rows
    ]
    return {"type": "FeatureCollection", "features": features}


@router.get("/grid-workers", summary="Grid workers and their grids (staff)")
def grid_workers(session: ReadSession, _user: StaffUser) -> list[dict[str, Any]]:
    rows = session.scalars(select(GridWorker).options(selectinload(GridWorker.grids)).order_by(GridWorker.id))
    return [
        {
            "id": w.id,
            "name_zh": w.name_zh,
            "name_en": w.name_en,
            "phone": w.phone,
            "role": w.role.value,
            "party_member": w.party_member,
            "on_duty": w.on_duty,
            "grid_ids": sorted(g.id for g in w.grids),
        }
        for w in rows
    ]


def position_age(v: Volunteer, now, max_age_minutes: float | None) -> dict[str, Any]:
    if v.position_at is None or v.position is None:
        return {"position_age_minutes": None, "position_fresh": False}
    age = (now - v.position_at).total_seconds() / 60
    return {
        "position_age_minutes": round(age, 1),
        "position_fresh": max_age_minutes is None or age <= max_age_minutes,
    }


# -- the volunteer's own record: duty and position ----------------------------------------------------

VolunteerUser = Annotated[User, Depends(require_roles(Role.VOLUNTEER))]


def _me(session, user: User) -> Volunteer:
    volunteer = session.scalar(select(Volunteer).where(Volunteer.user_id == user.id))
    if volunteer is None:
        raise Problem(403, "this account is not linked to a volunteer record")
    return volunteer


def _me_dict(v: Volunteer, now, settings) -> dict[str, Any]:
    p = to_shape(v.position) if v.position is not None else None
    return {
        "id": v.id,
        "name_zh": v.name_zh,
        "name_en": v.name_en,
        "skills": v.skills,
        "team_zh": v.team_zh,
        "community_id": v.community_id,
        "home_building_id": v.home_building_id,
        "on_duty": v.on_duty,
        "lon": round(p.x, 7) if p else None,
        "lat": round(p.y, 7) if p else None,
        "position_at": v.position_at.isoformat() if v.position_at else None,
        **position_age(v, now, settings.volunteer_position_max_age_minutes),
    }


@router.get("/volunteers/me", summary="My volunteer record: duty, last position and its age (volunteers)")
def me(session: ReadSession, settings: SettingsDep, clock: ClockDep, user: VolunteerUser) -> dict[str, Any]:
    return _me_dict(_me(session, user), clock(), settings)


class DutyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on_duty: bool


@router.post("/volunteers/me/duty", summary="Go on or off duty (volunteers)")
def set_duty(
    body: DutyIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: VolunteerUser
) -> dict[str, Any]:
    """Off duty, a volunteer is not chosen for new requests; on duty, they are once their position is
    fresh (report one with ``POST /api/v1/volunteers/me/position``)."""
    volunteer = _me(session, user)
    volunteer.on_duty = body.on_duty
    audit(
        session,
        actor=user,
        action="volunteer:duty",
        entity="volunteer",
        entity_id=volunteer.id,
        after={"on_duty": body.on_duty},
    )
    session.commit()
    return _me_dict(volunteer, clock(), settings)


class PositionIn(BaseModel):
    """Where the volunteer is, from the phone: ``wgs84`` (GPS, ``wx.getLocation``), ``gcj02`` (Amap,
    Tencent, WeChat maps) or ``bd09`` (Baidu)."""

    model_config = ConfigDict(extra="forbid")

    lon: Number
    lat: Number
    coord_type: CoordType = CoordType.WGS84
    on_duty: bool | None = Field(default=None, description="also go on or off duty")
    accuracy_m: Annotated[float, Strict(), Field(ge=0, le=100_000, allow_inf_nan=False)] | None = None


@router.post("/volunteers/me/position", summary="Report my position (volunteers; rate-limited per account)")
def report_position(
    request: Request,
    body: PositionIn,
    session: WriteSession,
    settings: SettingsDep,
    clock: ClockDep,
    user: VolunteerUser,
) -> dict[str, Any]:
    """Converted to WGS84 at the edge. A position farther than ``VOLUNTEER_POSITION_MAX_OUTSIDE_M``
    (1 km) outside every township gets 422 naming ``lon``; more than
    ``VOLUNTEER_POSITION_RATE_PER_MINUTE`` reports a minute get 429 with Retry-After. The position
    counts for the nearest-volunteer choice for ``VOLUNTEER_POSITION_MAX_AGE_MINUTES`` (12 h)."""
    limiter = request.app.state.limiters.setdefault(
        "volunteer_position", SlidingWindow(settings.volunteer_position_rate_per_minute, 60.0)
    )
    wait = limiter.hit(f"user:{user.id}")
    if wait:
        seconds = max(int(wait + 0.999), 1)
        raise Problem(
            429, f"too many position reports; try again in {seconds} s", headers={"Retry-After": str(seconds)}
        )
    point = make_point(body.lon, body.lat, body.coord_type)
    outside = metres_outside_townships(session, point.lon, point.lat)
    if outside is not None and outside > settings.volunteer_position_max_outside_m:
        raise Problem(
            422,
            f"lon/lat lie {outside:.0f} m outside the served townships (limit "
            f"{settings.volunteer_position_max_outside_m:.0f} m); is coord_type right?",
            field="lon",
        )
    volunteer = _me(session, user)
    now = clock()
    volunteer.position = from_shape(Point(point.lon, point.lat), srid=4326)
    volunteer.position_at = now
    if body.on_duty is not None:
        volunteer.on_duty = body.on_duty
    session.commit()
    return _me_dict(volunteer, now, settings)


def metres_outside_townships(session, lon: float, lat: float) -> float | None:
    """How far (lon, lat) lies outside the nearest township; 0 inside one; None when none is stored."""
    geoms = [to_shape(g) for g in session.scalars(select(Area.geom).where(Area.level == AreaLevel.TOWNSHIP))]
    if not geoms:
        return None
    projection = LocalProjection.for_lonlat(lon, lat)
    here = projection.to_metric(Point(lon, lat))
    return min(float(projection.to_metric(g).distance(here)) for g in geoms)
