"""``/api/v1/volunteers`` and ``/api/v1/grid-workers``: people, for staff only; ``/api/v1/volunteers/me``:
a volunteer's own record, duty switch and position reports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from service.auth.deps import StaffUser, require_roles
from service.auth.models import Role, User
from service.common.geojson import feature
from service.common.params import BBoxParam, make_point
from service.common.ratelimit import too_many, window
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession
from service.volunteers import service
from service.volunteers.schemas import DutyIn, GridWorkerOut, MyVolunteer, PositionIn, VolunteerCollection

router = APIRouter(prefix="/api/v1", tags=["people"])

Dispatching = Annotated[User, Depends(require_roles(Role.DISPATCHER, Role.GRID_WORKER, Role.ADMIN))]
VolunteerUser = Annotated[User, Depends(require_roles(Role.VOLUNTEER))]


@router.get(
    "/volunteers",
    response_model=VolunteerCollection,
    summary="Volunteers with skills, duty and last position (dispatchers)",
)
def volunteers(
    session: ReadSession,
    settings: SettingsDep,
    clock: ClockDep,
    _user: Dispatching,
    bbox: BBoxParam,
    on_duty: bool | None = Query(None),
    skill: str | None = Query(None, max_length=40),
) -> dict[str, Any]:
    """``position_age_minutes`` is how old the last reported position is; ``position_fresh`` whether it
    still counts for the nearest-volunteer choice (``NEIGHBORGRID_VOLUNTEER_POSITION_MAX_AGE_MINUTES``)."""
    rows = service.list_volunteers(
        session, on_duty=on_duty, skill=skill, within=bbox.polygon() if bbox is not None else None
    )
    now, max_age = clock(), settings.volunteer_position_max_age_minutes
    features = [feature(v.id, v.position, service.volunteer_properties(v, now, max_age)) for v in rows]
    return {"type": "FeatureCollection", "features": features}


@router.get("/grid-workers", response_model=list[GridWorkerOut], summary="Grid workers and their grids (staff)")
def grid_workers(session: ReadSession, _user: StaffUser) -> list[dict[str, Any]]:
    return [service.grid_worker_dict(w) for w in service.list_grid_workers(session)]


# -- the volunteer's own record: duty and position ----------------------------------------------------


@router.get(
    "/volunteers/me",
    response_model=MyVolunteer,
    summary="My volunteer record: duty, last position and its age (volunteers)",
)
def me(session: ReadSession, settings: SettingsDep, clock: ClockDep, user: VolunteerUser) -> dict[str, Any]:
    volunteer = service.require_volunteer(session, user)
    return service.my_record(volunteer, clock(), settings.volunteer_position_max_age_minutes)


@router.post("/volunteers/me/duty", response_model=MyVolunteer, summary="Go on or off duty (volunteers)")
def set_duty(
    body: DutyIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: VolunteerUser
) -> dict[str, Any]:
    """Off duty, a volunteer is not chosen for new requests; on duty, they are once their position is
    fresh (report one with ``POST /api/v1/volunteers/me/position``)."""
    volunteer = service.set_duty(session, user=user, on_duty=body.on_duty)
    session.commit()
    return service.my_record(volunteer, clock(), settings.volunteer_position_max_age_minutes)


@router.post(
    "/volunteers/me/position",
    response_model=MyVolunteer,
    summary="Report my position (volunteers; rate-limited per account)",
)
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
    limiter = window(request, "volunteer_position", settings.volunteer_position_rate_per_minute, 60.0)
    wait = limiter.hit(f"user:{user.id}")
    if wait:
        raise too_many(wait, "too many position reports")
    point = make_point(body.lon, body.lat, body.coord_type)
    now = clock()
    volunteer = service.report_position(
        session,
        user=user,
        lon=point.lon,
        lat=point.lat,
        on_duty=body.on_duty,
        now=now,
        max_outside_m=settings.volunteer_position_max_outside_m,
    )
    session.commit()
    return service.my_record(volunteer, now, settings.volunteer_position_max_age_minutes)
